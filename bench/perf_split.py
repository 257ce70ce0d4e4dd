#!/usr/bin/env python3
"""Splits a `perf record -g` profile of a benchmark process into where the
CPU goes: crypto, packet I/O (syscalls and the kernel's UDP path), memory
(allocation, GC, page faults), copies (ours vs quic-go's), cgo crossings,
scheduling and futexes, quic-go's protocol code, gowt's Go code, the rest.

  perf record -F 999 -g -o upload.data -- build-bench/bench/gowt_bench -w upload
  perf script -i upload.data | python3 bench/perf_split.py [-v]

-v also lists the top leaf symbols of each bucket.

Each sample is put in one bucket by its leaf frame (self time); a copy
(memmove / memcpy) is attributed to the first frame of the stack that
belongs to gowt (github.com/gowt/gowt, or the C program) or to quic-go.
"""
import re
import sys
from collections import Counter

CRYPTO = re.compile(r"crypto/|golang\.org/x/crypto|aes|gcm|sha256|sha512|p256|ecdsa|chacha|poly1305|ring_core|"
                    r"AEAD|headerProtector|HeaderProtect", re.I)
COPY = re.compile(r"runtime\.memmove|__memmove|__memcpy|memcpy|copy_user|rep_movs|copy_to_user|copy_from_user|_copy_from_iter|_copy_to_iter")
ALLOC = re.compile(r"runtime\.(mallocgc|gc|scanobject|greyobject|markroot|scanblock|heapSetType|findObject|"
                   r"bgsweep|sweep|wbBuf|memclrNoHeapPointers|\(\*mheap\)|\(\*mspan\)|\(\*mcache\)|\(\*mcentral\)|"
                   r"\(\*gcWork\)|\(\*gcControllerState\)|nextFreeFast|newobject|makeslice|growslice|"
                   r"\(\*sweepLocked\)|\(\*pageAlloc\)|typePointers|\(\*mspan\)|spanOf|bulkBarrierPreWrite|"
                   r"gcDrain|gcBgMarkWorker|markBits|scanstack|scanframeworker|deductAssistCredit|"
                   r"\(\*unwinder\)|funcInfo|pcvalue|findfunc|step|newarray|tryDeferToSpanScan|scanSpan|"
                   r"\(\*spanInlineMarkBits\)|\(\*gcBits\)|heapBitsSmallForAddr|\(\*spanSet\))")
PAGEFAULT = re.compile(r"exc_page_fault|handle_mm_fault|do_anonymous_page|clear_page|madvise|"
                       r"do_user_addr_fault|__handle_mm_fault|free_pages|zap_|unmap_|tlb_")
CGO = re.compile(r"runtime\.(cgocall|cgocallback|cgocallbackg|asmcgocall|needm|dropm|lockOSThread|"
                 r"unlockOSThread|exitsyscall|entersyscall|reentersyscall|cgoCheck|cgoIsGoPointer|"
                 r"cgoCheckPointer|cgoUse|load_g|save_g|callbackUpdateSystemStack)|crosscall2|_cgo_|"
                 r"_cgoexp_|x_cgo_")
NETK = re.compile(r"sendmsg|recvmsg|sendmmsg|recvmmsg|udp|ip_|ipv4|__ip|net_rx|netif|__netif|"
                  r"skb|sock_|__sys_send|__sys_recv|loopback|__dev_queue|dev_hard|sk_|inet_|"
                  r"do_softirq|__do_softirq|net_rx_action|process_backlog|__napi|napi_|validate_xmit|gso|gro")
SYSCALL_GO = re.compile(r"^(syscall\.|internal/poll\.|golang\.org/x/net/|golang\.org/x/sys/|net\.|"
                        r"github\.com/quic-go/quic-go\.\(\*oobConn\)|github\.com/quic-go/quic-go\.\(\*basicConn\)|"
                        r"internal/runtime/syscall)")
SCHED = re.compile(r"runtime\.(schedule|findRunnable|futex|notesleep|notewakeup|park_m|stealWork|runqgrab|"
                   r"mcall|gopark|goready|ready|wakep|usleep|osyield|nanotime|netpoll|startm|stopm|"
                   r"resetspinning|runqsteal|checkTimers|selectgo|chanrecv|chansend|lock|unlock|"
                   r"semacquire|semrelease|execute|gogo|goexit|injectglist|casgstatus|mPark|"
                   r"\(\*timers\)|procyield|runqput|newproc|systemstack|morestack|recv|send|"
                   r"notetsleep|sellock|selunlock|acquirep|releasep|handoffp|sysmon)")
SCHEDK = re.compile(r"futex|schedule|finish_task_switch|__schedule|nanosleep|epoll|do_sched|"
                    r"pick_next|hrtimer|ttwu|try_to_wake_up|select_task|enqueue|dequeue|update_curr|"
                    r"_raw_spin_unlock_irqrestore|sched_|rseq")


def frames(block):
    out = []
    for line in block[1:]:
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        sym = parts[1]
        dso = ""
        m = re.match(r"(.*) \((.*)\)$", sym)
        if m:
            sym, dso = m.group(1), m.group(2)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        out.append((sym, dso))
    return out


def owner(fr):
    for sym, dso in fr:
        if sym.startswith("github.com/gowt/") or sym.startswith("_cgoexp_") or "gowt_bench" in dso \
                or sym.startswith("main.") and "wtbench" in dso:
            return "gowt"
        if sym.startswith("github.com/quic-go/"):
            return "quic-go"
    return "other"


def bucket(fr):
    if not fr:
        return "unknown"
    leaf, dso = fr[0]
    kernel = "kernel" in dso
    syms = " ".join(s for s, _ in fr)
    if CRYPTO.search(leaf) and not kernel:
        return "crypto"
    if COPY.search(leaf):
        if kernel:
            return "packet I/O (kernel)" if NETK.search(syms) else "copies: kernel, other"
        o = owner(fr[1:])
        return {"gowt": "copies: ours (gowt / the C program)", "quic-go": "copies: quic-go's"}.get(o, "copies: other")
    if kernel:
        if SCHEDK.search(leaf) or leaf.startswith("irqentry_exit"):
            return "scheduling and futexes (kernel)"
        if PAGEFAULT.search(syms):
            return "memory: page faults"
        if NETK.search(syms):
            return "packet I/O (kernel)"
        if SCHEDK.search(syms):
            return "scheduling and futexes (kernel)"
        return "kernel, other"
    if ALLOC.search(leaf):
        return "memory: allocation and GC"
    if CGO.search(leaf):
        return "cgo crossings"
    if SYSCALL_GO.search(leaf):
        return "packet I/O (Go syscall path)"
    if SCHED.search(leaf):
        return "scheduling (Go runtime)"
    if leaf.startswith("github.com/quic-go/"):
        return "quic-go protocol code"
    if leaf.startswith("github.com/gowt/") or leaf.startswith("main."):
        return "gowt / program Go code"
    if "gowt_bench" in dso or "libc" in dso or "libpthread" in dso:
        return "C program and libc"
    if leaf.startswith(("runtime.", "sync.", "__vdso", "memeqbody", "internal/")):
        return "Go runtime, other (maps, pools, clocks)"
    return "other"


def main():
    verbose = "-v" in sys.argv[1:]
    text = sys.stdin.read()
    counts = Counter()
    leaves = {}
    for block in text.split("\n\n"):
        lines = [l for l in block.splitlines() if l.strip()]
        if not lines:
            continue
        fr = frames(lines)
        b = bucket(fr)
        counts[b] += 1
        leaves.setdefault(b, Counter())[fr[0][0] if fr else "?"] += 1
    total = sum(counts.values())
    print("| where | samples | share |")
    print("|---|---:|---:|")
    for k, v in counts.most_common():
        print("| %s | %d | %.1f %% |" % (k, v, 100.0 * v / total))
    print("| total | %d | |" % total)
    if verbose:  # -v: the top leaf symbols of each bucket
        for k, _ in counts.most_common():
            print("\n%s: %s" % (k, ", ".join("%s %d" % (sym, n) for sym, n in leaves[k].most_common(6))))


if __name__ == "__main__":
    main()
