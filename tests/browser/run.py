#!/usr/bin/env python3
"""Browser tests: headless Chromium against gowt servers.

Usage: tests/browser/run.py --build BUILD_DIR [--only a,b] [--bytes N]
                            [--repeat N] [--netlog FILE] [--keep-logs]
                            [--no-retry] [--baton-events] [--install] [-v]

Starts BUILD_DIR/gowt_web_demo and BUILD_DIR/gowt_baton (C programs using
libgowt), serves tests/browser/test.html on 127.0.0.1 (port 0), runs headless
Chromium (/usr/lib/chromium/chromium) on that page; the page runs every check
over WebTransport and POSTs its verdict back. Each check is then judged with
the evidence of both sides: the page's result and the C servers' output
(gowt_web_demo's EVENT lines, gowt_baton's log).

Prints one line per check ("PASS name" / "FAIL name: why") on stdout, details
on stderr, then "N passed, M failed"; exits 1 if anything failed. Python 3
standard library only. A missing Chromium is a failure, never a skip
(install it with scripts/deps.sh browser, or pass --install to let this
script run that).
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

CHROMIUM = '/usr/lib/chromium/chromium'
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
TOTAL_TIMEOUT = 180.0
BIG_DEFAULT = 50 * 1000 * 1000
HEARTBEAT_TIMEOUT = 10.0
# Browsers started in all after Chromium renderer crashes (see README.md:
# Chromium 156's renderer can crash at the end of a session the server
# closes; more likely on a loaded machine). Each crash is reported as a NOTE
# with its dump; the checks left run again in a fresh browser.
MAX_BROWSERS = 3

START = time.monotonic()


def elapsed():
    return time.monotonic() - START


def info(msg):
    sys.stderr.write('[%6.2fs] %s\n' % (elapsed(), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Child processes
# ---------------------------------------------------------------------------

class Proc:
    """A child whose stdout lines are collected by a thread."""

    def __init__(self, name, argv, logdir, new_session=False, capture_stdout=True, env=None):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.stderr_path = os.path.join(logdir, name + '.stderr')
        self.stdout_path = os.path.join(logdir, name + '.stdout')
        self._stderr = open(self.stderr_path, 'wb')
        self._stdout_file = open(self.stdout_path, 'w', encoding='utf-8', errors='replace')
        info('starting %s: %s' % (name, ' '.join(argv)))
        self.p = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else self._stderr,
            stderr=self._stderr, start_new_session=new_session, env=env)
        self.pid = self.p.pid
        if capture_stdout:
            self.t = threading.Thread(target=self._reader, daemon=True)
            self.t.start()
        else:
            self.t = None

    def _reader(self):
        for raw in self.p.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            self._stdout_file.write(line + '\n')
            self._stdout_file.flush()
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pred, timeout):
        """First stdout line matching pred (a compiled regex), or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = 0
            while True:
                while i < len(self.lines):
                    m = pred.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and i >= len(self.lines)):
                    return None
                self.cond.wait(min(left, 0.2))

    def snapshot(self):
        with self.cond:
            return list(self.lines)

    def stop(self, sig=signal.SIGTERM, grace=10.0, group=False):
        """Signal by PID; SIGKILL after grace. Returns the exit status."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                info('%s did not exit within %.0f s of %s: SIGKILL' % (self.name, grace, sig.name))
                try:
                    if group:
                        os.killpg(self.pid, signal.SIGKILL)  # our own session: its helpers
                    else:
                        os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        if self.t is not None:
            self.t.join(5)
        self._stderr.close()
        self._stdout_file.close()
        return self.p.returncode

    def stderr_tail(self, n=40, pattern=None):
        try:
            with open(self.stderr_path, 'r', encoding='utf-8', errors='replace') as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        if pattern is not None:
            lines = [l for l in lines if pattern in l]
        return lines[-n:]


def crash_dumps(logdir, seen):
    """Summaries of Chromium minidumps not in seen: 'renderer: signal 11 at 0x0'."""
    out = []
    for root, _, files in os.walk(os.path.join(logdir, 'xdg-config')):
        for f in sorted(files):
            path = os.path.join(root, f)
            if not f.endswith('.dmp') or path in seen:
                continue
            seen.add(path)
            try:
                with open(path, 'rb') as fh:
                    b = fh.read()
                ptype = re.search(rb'ptype\x00*[^a-z]{0,8}([a-z-]+)', b)
                what = ptype.group(1).decode() if ptype else '?'
                _, _, nstreams, rva = struct.unpack_from('<IIII', b, 0)
                for i in range(nstreams):
                    st, _, srva = struct.unpack_from('<III', b, rva + 12 * i)
                    if st == 6:  # exception stream
                        sig, _, _, addr = struct.unpack_from('<IIQQ', b, srva + 8)
                        what += ': signal %d at 0x%x' % (sig, addr)
                out.append('%s (%s)' % (what, path))
            except (OSError, struct.error):
                out.append(path)
    return out


# ---------------------------------------------------------------------------
# The page's HTTP server
# ---------------------------------------------------------------------------

class PageState:
    def __init__(self):
        self.cond = threading.Condition()
        self.progress = []
        self.result = None
        self.heartbeat = None  # last POST /heartbeat (the page sends one every 2 s)


def make_handler(state, verbose):
    files = {'/test.html': 'text/html; charset=utf-8', '/test.js': 'text/javascript; charset=utf-8'}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet
            pass

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path not in files:
                self.send_error(404)
                return
            with open(os.path.join(HERE, path[1:]), 'rb') as f:
                body = f.read()
            self.send_response(200)
            self.send_header('Content-Type', files[path])
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Cache-Control', 'no-store')
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get('Content-Length', '0'))
            body = self.rfile.read(n)
            try:
                doc = json.loads(body.decode('utf-8'))
            except ValueError:
                self.send_error(400)
                return
            with state.cond:
                if self.path == '/progress':
                    state.progress.append(doc)
                    info('page: %s %s (%s ms)%s' % ('PASS' if doc.get('ok') else 'FAIL', doc.get('name'),
                                                    doc.get('ms'), ': ' + doc.get('detail', '') if verbose else ''))
                elif self.path == '/heartbeat':
                    state.heartbeat = time.monotonic()
                elif self.path == '/result':
                    state.result = doc
                state.cond.notify_all()
            self.send_response(204)
            self.end_headers()

    return Handler


# ---------------------------------------------------------------------------
# Evidence from the C servers
# ---------------------------------------------------------------------------

def parse_events(lines):
    """EVENT lines of gowt_web_demo as dicts: {'ev': name, key: value...}."""
    out = []
    for line in lines:
        if not line.startswith('EVENT '):
            continue
        parts = line.split(' ')
        d = {'ev': parts[1]}
        for kv in parts[2:]:
            k, _, v = kv.partition('=')
            d[k] = v
        out.append(d)
    return out


def pct(v):
    """Decode a percent-encoded EVENT value ('-' = empty)."""
    return '' if v == '-' else urllib.parse.unquote(v, encoding='utf-8', errors='replace')


def pattern_sha256(n):
    """SHA-256 of bytes i = (i ^ i>>8 ^ i>>16 ^ i>>24) & 0xff, i < n."""
    base = bytes(((i & 0xff) ^ (i >> 8)) & 0xff for i in range(65536))
    tables = [bytes(b ^ c for b in range(256)) for c in range(256)]
    h = hashlib.sha256()
    k = 0
    while k * 65536 < n:
        block = base.translate(tables[(k & 0xff) ^ ((k >> 8) & 0xff)])
        h.update(block[:min(65536, n - k * 65536)])
        k += 1
    return h.hexdigest()


def wanted_checks(args):
    """The page's checks in the order it runs them."""
    all_names = ['session_open', 'sessions_parallel_10', 'bidi_echo', 'uni_client_to_server', 'server_streams',
                 'datagrams_both_ways', 'datagram_max_size', 'upload_50mb', 'download_50mb', 'browser_close',
                 'server_close_x%d' % args.repeat, 'refused_404', 'refused_400', 'browser_reset_stop_sending',
                 'server_reset_stop_sending', 'baton', 'baton_page_ends', 'baton_protocol',
                 'baton_protocol_datagrams', 'server_close_games', 'demo_page']
    if not args.only:
        return all_names
    only = args.only.split(',')
    return [n for n in all_names if n in only] + [n for n in only if n not in all_names]


def next_check_name(progress, wanted):
    done = {p.get('name') for p in progress}
    for n in wanted:
        if n not in done:
            return n
    return '?'


class Judge:
    def __init__(self, page, events, baton_lines, big, expected_sha):
        self.page = {r['name']: r for r in page}
        self.events = events
        self.baton_lines = baton_lines
        self.big = big
        self.sha = expected_sha

    def ev(self, name, **match):
        return [e for e in self.events if e['ev'] == name and all(e.get(k) == v for k, v in match.items())]

    # Each server-side judge returns None (fine) or a reason.
    def session_open(self, r):
        if not self.ev('accept', tag='open1'):
            return 'server saw no session tag=open1'
        c = self.ev('close', tag='open1')
        if not c or c[0]['code'] != '0' or c[0]['by'] != 'remote':
            return 'server close event for open1: %s' % c
        return None

    def sessions_parallel_10(self, r):
        tags = {'par%d' % i for i in range(10)}
        accepted = {e['tag'] for e in self.ev('accept') if e['tag'] in tags}
        if accepted != tags:
            return 'server accepted only %s' % sorted(accepted)
        live, peak = set(), 0
        for e in self.events:
            if e.get('tag') in tags:
                if e['ev'] == 'accept':
                    live.add(e['tag'])
                    peak = max(peak, len(live))
                elif e['ev'] == 'end':
                    live.discard(e['tag'])
        if peak != 10:
            return 'at most %d of the 10 sessions were open at once on the server' % peak
        return None

    def bidi_echo(self, r):
        sizes = sorted((r.get('data') or {}).get('sizes') or [])
        got = sorted(int(e['bytes']) for e in self.ev('bidi_echo', tag='bidi'))
        if got != sizes:
            return 'server echoed streams of %s bytes, page sent %s' % (got, sizes)
        return None

    def uni_client_to_server(self, r):
        text = (r.get('data') or {}).get('text')
        u = self.ev('uni', tag='uni')
        if not u:
            return 'server saw no uni stream'
        if pct(u[0]['data']) != text:
            return 'server got %r, page sent %r' % (pct(u[0]['data']), text)
        return None

    def server_streams(self, r):
        if not self.ev('opened', tag='open'):
            return 'server did not report opening its streams'
        rep = self.ev('open_reply', tag='open')
        want = (r.get('data') or {}).get('reply')
        if not rep or pct(rep[0]['data']) != want:
            return 'server got reply %s, page wrote %r' % ([pct(x['data']) for x in rep], want)
        return None

    def datagrams_both_ways(self, r):
        d = self.ev('datagram', tag='dgram')
        ok = [e for e in d if e['echo'] == 'OK']
        echoed = (r.get('data') or {}).get('echoed', 0)
        if len(d) < 18 or len(ok) < echoed:
            return 'server received %d datagrams and echoed %d; page got %d back' % (len(d), len(ok), echoed)
        return None

    def datagram_max_size(self, r):
        mx = (r.get('data') or {}).get('max')
        d = self.ev('datagram', tag='dgmax')
        sizes = ['%s:%s' % (e['len'], e['echo']) for e in d]
        if not any(e['len'] == str(mx) and e['echo'] == 'OK' for e in d):
            return 'server datagrams (len:echo result): %s; maxDatagramSize %s' % (' '.join(sizes) or 'none', mx)
        return None

    def upload_50mb(self, r):
        data = r.get('data') or {}
        if data.get('sha256') != self.sha:
            return 'page SHA-256 %s != expected %s' % (data.get('sha256'), self.sha)
        s = self.ev('sink', tag='upload')
        if not s or s[0]['bytes'] != str(self.big) or s[0]['sha256'] != self.sha:
            return 'server sink: %s (expected bytes=%d sha256=%s)' % (s, self.big, self.sha)
        return None

    def download_50mb(self, r):
        s = self.ev('source', tag='download')
        if not s or s[0]['bytes'] != str(self.big) or s[0]['sha256'] != self.sha:
            return 'server source: %s (expected bytes=%d sha256=%s)' % (s, self.big, self.sha)
        data = r.get('data') or {}
        if data.get('sha256') != self.sha:
            return 'page SHA-256 %s != expected %s' % (data.get('sha256'), self.sha)
        return None

    def browser_close(self, r):
        data = r.get('data') or {}
        c = self.ev('close', tag='bclose')
        if not c:
            return 'server saw no close'
        c = c[0]
        if c['code'] != str(data.get('code')) or pct(c['reason']) != data.get('reason') or c['by'] != 'remote':
            return 'server saw close code=%s reason=%r by=%s; page sent code=%s reason=%r' % (
                c['code'], pct(c['reason']), c['by'], data.get('code'), data.get('reason'))
        return None

    def server_close(self, r):
        cases = (r.get('data') or {}).get('cases') or []
        if not cases:
            return 'page ran no cases'
        bad = []
        for c in cases:
            sc = self.ev('server_close', tag=c['tag'])
            cl = self.ev('close', tag=c['tag'])
            if not sc or sc[0]['rc'] != 'OK' or sc[0]['code'] != str(c['code']) or pct(sc[0]['reason']) != c['reason']:
                bad.append('%s: server_close %s' % (c['tag'], sc))
            elif not cl or cl[0]['by'] != 'local' or cl[0]['code'] != str(c['code']):
                bad.append('%s: close event %s' % (c['tag'], cl))
        if bad:
            return '; '.join(bad[:5])
        return None

    def refused(self, tag, status):
        e = self.ev('refuse', tag=tag)
        if not e or e[0]['status'] != str(status):
            return 'server refuse event: %s' % e
        if self.ev('accept', tag=tag):
            return 'server accepted the session'
        return None

    def refused_404(self, r):
        return self.refused('r404', 404)

    def refused_400(self, r):
        return self.refused('r400', 400)

    def browser_reset_stop_sending(self, r):
        resets = sorted(e['code'] for e in self.ev('reset', tag='breset'))
        stops = sorted(e['code'] for e in self.ev('stop_sending', tag='breset'))
        want_r, want_s = ['33', '35'], ['34']
        if resets != want_r or stops != want_s:
            return 'server saw RESET_STREAM codes %s (want %s), STOP_SENDING codes %s (want %s)' % (
                resets, want_r, stops, want_s)
        return None

    def server_reset_stop_sending(self, r):
        a = self.ev('server_reset', tag='sreset')
        b = self.ev('server_stop_sending', tag='sreset')
        if not a or a[0]['rc'] != 'OK' or not b or b[0]['rc'] != 'OK':
            return 'server reset/stop_sending: %s %s' % (a, b)
        return None

    def baton_closes(self, by):
        # gowt_baton -l -: "session N: closed by us|the peer, code 0x00 "Have a nice day", T turns, 4/4 lanes done, 0 lost"
        pat = re.compile(r'closed by %s, code 0x00 "Have a nice day", (\d+) turns, 4/4 lanes done' % re.escape(by))
        for line in self.baton_lines:
            if pat.search(line):
                return None
        closes = [l for l in self.baton_lines if 'closed by' in l]
        return 'gowt_baton log has no "closed by %s, code 0x00 ... 4/4 lanes done" line; its closes: %s' % (by, closes)

    def baton(self, r):
        return self.baton_closes('us')

    def baton_session(self, r, proto='devious-baton-00'):
        """gowt_baton's log of the page's negotiated game: the accept line
        with the sub-protocol it chose, the clean close. Returns (session
        number, its log lines, None) or (None, None, why)."""
        data = r.get('data') or {}
        b, c = data.get('baton'), data.get('count')
        pat = re.compile(r'session (\d+): accepted \S+, baton %s, count %s, sub-protocol (\S+) \(offered: (\d+)\)'
                         % (b, c))
        accepts = [m for m in map(pat.search, self.baton_lines) if m]
        if not accepts:
            return None, None, 'gowt_baton log has no accept of a baton=%s count=%s session; its accepts: %s' % (
                b, c, [l for l in self.baton_lines if 'accepted' in l])
        m = accepts[-1]
        if m.group(2) != proto or m.group(3) != '1':
            return None, None, 'gowt_baton accepted the session with sub-protocol %s (%s offered), want %s (1 offered)' % (
                m.group(2), m.group(3), proto)
        lines = [l for l in self.baton_lines if 'session %s: ' % m.group(1) in l]
        done = re.compile(r'closed by (us|the peer), code 0x00 "Have a nice day", \d+ turns, %s/%s lanes done' % (c, c))
        if not any(done.search(l) for l in lines):
            return None, None, 'gowt_baton session %s did not end with a clean close: %s' % (
                m.group(1), [l for l in lines if 'closed' in l])
        return m.group(1), lines, None

    def baton_protocol(self, r):
        return self.baton_session(r)[2]

    def baton_protocol_datagrams(self, r):
        _, lines, why = self.baton_session(r)
        if why:
            return why
        sent = sorted((r.get('data') or {}).get('dgramSentValues') or [])
        got = sorted(int(m.group(1), 16) for m in
                     (re.search(r': datagram baton 0x([0-9a-f]{2})$', l) for l in lines) if m)
        pool = list(sent)
        stray = [v for v in got if not (v in pool and pool.remove(v) is None)]
        if not sent or stray or len(got) < (len(sent) * 9 + 9) // 10:
            return 'gowt_baton received datagram batons %s, the page sent %s' % (got, sent)
        if any('malformed datagram' in l for l in lines):
            return 'gowt_baton saw malformed datagrams: %s' % [l for l in lines if 'malformed' in l]
        return None

    def server_close_games(self, r):
        rounds = (r.get('data') or {}).get('rounds') or 0
        done = re.compile(r'closed by us, code 0x00 "Have a nice day", \d+ turns, 3/3 lanes done')
        n = sum(1 for l in self.baton_lines if done.search(l))
        if n < rounds:
            return 'gowt_baton closed %d sessions cleanly with 3/3 lanes done, the page played %d' % (n, rounds)
        return None

    def baton_page_ends(self, r):
        return self.baton_closes('the peer')

    def demo_page(self, r):
        if not self.ev('accept', tag='demo-page'):
            return 'server saw no demo-page session'
        c = self.ev('close', tag='demo-page')
        if not c or c[0]['code'] != '0' or pct(c[0]['reason']) != 'demo page done':
            return 'server close event: %s' % c
        return None

    def judge(self, name):
        r = self.page.get(name)
        if r is None:
            return 'page did not report this check'
        fn = getattr(self, name, None)
        if fn is None and name.startswith('server_close_x'):
            fn = self.server_close
        server_why = fn(r) if fn else None
        if not r.get('ok'):
            return 'page: %s%s' % (r.get('detail'), ('; server: ' + server_why) if server_why else '')
        if server_why:
            return 'server side: %s (page: %s)' % (server_why, r.get('detail'))
        return None


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', required=True, help='build directory with gowt_web_demo and gowt_baton')
    ap.add_argument('--only', help='comma-separated page checks to run')
    ap.add_argument('--bytes', type=int, default=BIG_DEFAULT, help='size of the big transfers')
    ap.add_argument('--repeat', type=int, default=20, help='server closes to verify')
    ap.add_argument('--rounds', type=int, default=100,
                    help='server-closed games of the server_close_games check')
    ap.add_argument('--netlog', help="write Chromium's net-log (every QUIC frame) to this file")
    ap.add_argument('--keep-logs', action='store_true', help='keep the log directory')
    ap.add_argument('--install', action='store_true', help='run scripts/deps.sh browser if Chromium is missing')
    ap.add_argument('--no-retry', dest='retry', action='store_false',
                    help='no further browser run after a renderer crash')
    ap.add_argument('--baton-events', action='store_true', help='gowt_baton logs every event (-L)')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    # SIGTERM (e.g. from a test driver): unwind through the finally below, so
    # Chromium (in its own session) and the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    results = []  # (name, why or None)

    def finish(code_extra=0):
        passed = sum(1 for _, why in results if why is None)
        failed = len(results) - passed
        print('%d passed, %d failed' % (passed, failed), flush=True)
        info('total time %.1f s' % elapsed())
        return 1 if failed or code_extra else 0

    def report(name, why):
        results.append((name, why))
        if why is None:
            print('PASS %s' % name, flush=True)
        else:
            print('FAIL %s: %s' % (name, why), flush=True)

    if not os.access(CHROMIUM, os.X_OK) and args.install:
        info('Chromium missing: running scripts/deps.sh browser')
        subprocess.call(['bash', os.path.join(SRC, 'scripts', 'deps.sh'), 'browser'])
    if not os.access(CHROMIUM, os.X_OK):
        ci = os.environ.get('CI', '').lower() == 'true'
        report('chromium', '%s not found%s: install it with scripts/deps.sh browser '
               '(apt-get install chromium) or run with --install; the browser tests never skip'
               % (CHROMIUM, ' on CI' if ci else ''))
        return finish()

    build = os.path.abspath(args.build)
    demo_bin = os.path.join(build, 'gowt_web_demo')
    baton_bin = os.path.join(build, 'gowt_baton')
    if not os.access(demo_bin, os.X_OK):
        report('gowt_web_demo', '%s not found: build it first (cmake --build %s)' % (demo_bin, build))
        return finish()

    logdir = tempfile.mkdtemp(prefix='gowt-browser-')
    info('logs in %s' % logdir)
    procs = []
    chromium = None
    httpd = None
    chromium_runs = []
    seen_dumps = set()
    runs = []  # (page result of a check, demo line index, baton line index) per browser run
    wanted = []
    failed_setup = False

    sha_box = {}
    sha_thread = threading.Thread(target=lambda: sha_box.update(sha=pattern_sha256(args.bytes)), daemon=True)
    sha_thread.start()

    try:
        # --- the C servers ---
        demo = Proc('gowt_web_demo', [demo_bin, '-p', '0', '-w', '0', '-d', os.path.join(SRC, 'examples_c', 'web')],
                    logdir)
        procs.append(demo)
        m = demo.wait_line(re.compile(r'^READY wt=(\d+) http=(\d+) hash=([0-9a-f]{64})$'), 30)
        if not m:
            report('gowt_web_demo', 'no READY line within 30 s; stderr: %s' % demo.stderr_tail(10))
            failed_setup = True
            return finish()
        wt_port, http_port, wt_hash = m.group(1), m.group(2), m.group(3)
        info('gowt_web_demo: wt=%s http=%s hash=%s' % (wt_port, http_port, wt_hash))

        baton = None
        baton_port = baton_hash = None
        baton_why = None
        if not os.access(baton_bin, os.X_OK):
            baton_why = '%s not found (examples_c/gowt_baton.c not built yet?)' % baton_bin
        else:
            baton = Proc('gowt_baton', [baton_bin, '-p', '0', '-l', '-'] + (['-L'] if args.baton_events else []) + ['*'],
                         logdir)
            procs.append(baton)
            mh = baton.wait_line(re.compile(r'^Certificate SHA-256: ([0-9a-fA-F]{64})$'), 30)
            mp = baton.wait_line(re.compile(r'^Listening on port (\d+)$'), 30) if mh else None
            if not mh or not mp:
                baton_why = ('gowt_baton printed no "Certificate SHA-256: <hex>" + "Listening on port N" '
                             'within 30 s (exit status %s); stderr: %s' % (baton.p.poll(), baton.stderr_tail(10)))
            else:
                baton_hash, baton_port = mh.group(1).lower(), mp.group(1)
                info('gowt_baton: port=%s hash=%s' % (baton_port, baton_hash))

        # --- the page's server ---
        state = PageState()
        httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), make_handler(state, args.verbose))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        q = {'wt': wt_port, 'hash': wt_hash, 'http': http_port, 'bytes': str(args.bytes),
             'repeat': str(args.repeat), 'rounds': str(args.rounds)}
        if baton_port:
            q.update(bport=baton_port, bhash=baton_hash)

        # --- Chromium: one run of the page; after a renderer crash, more runs
        # (MAX_BROWSERS in all) for the checks that did not report (see
        # README.md) ---
        wanted = wanted_checks(args)
        only = args.only
        attempt = 0
        while True:
            attempt += 1
            qa = dict(q)
            if only:
                qa['only'] = only
            url = 'http://127.0.0.1:%d/test.html?%s' % (httpd.server_address[1], urllib.parse.urlencode(qa))
            profile = os.path.join(logdir, 'chromium-profile-%d' % attempt)  # kept with the logs
            os.mkdir(profile)
            argv = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                    '--disable-background-networking', '--disable-component-update', '--disable-sync',
                    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
                    '--user-data-dir=' + profile, '--enable-logging=stderr', '--v=0']
            if args.netlog:
                nl = os.path.abspath(args.netlog) + ('' if attempt == 1 else '.%d' % attempt)
                argv += ['--log-net-log=' + nl, '--net-log-capture-mode=Everything']
            argv.append(url)
            with state.cond:
                state.result, state.progress, state.heartbeat = None, [], None
            demo_mark = len(demo.snapshot())
            baton_mark = len(baton.snapshot()) if baton else 0
            # Headless Chromium writes crash dumps under $XDG_CONFIG_HOME/chromium/Crash Reports,
            # not in --user-data-dir: keep them with the logs too.
            env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(logdir, 'xdg-config'))
            chromium = Proc('chromium' if attempt == 1 else 'chromium-%d' % attempt, argv, logdir,
                            new_session=True, capture_stdout=False, env=env)
            chromium_runs.append(chromium)

            deadline = START + TOTAL_TIMEOUT - 15  # leave time to tear down and judge
            launched = time.monotonic()
            silent = False
            with state.cond:
                while state.result is None and time.monotonic() < deadline and chromium.p.poll() is None:
                    state.cond.wait(0.5)
                    last = state.heartbeat if state.heartbeat is not None else launched
                    if time.monotonic() - last > HEARTBEAT_TIMEOUT:
                        silent = True
                        break
                page_result = state.result
                progress = list(state.progress)
            time.sleep(0.3)  # the servers' last EVENT lines
            for r in (page_result.get('results', []) if page_result else progress):
                runs.append((r, demo_mark, baton_mark))
            if page_result is not None:
                if page_result.get('error'):
                    report('page_verdict', page_result['error'])
                info('page ran its checks in %.1f s (%s)' % (page_result.get('ms', 0) / 1000.0,
                                                             page_result.get('userAgent', '?')))
                break
            crashed = chromium.p.poll() is not None or silent
            if chromium.p.poll() is not None:
                why = 'Chromium exited with status %s' % chromium.p.returncode
            elif silent:
                why = ('the page stopped sending heartbeats for %.0f s (renderer crashed or hung; see '
                       'chromium.stderr in the logs), during check %s' % (
                           HEARTBEAT_TIMEOUT, next_check_name(progress, only.split(',') if only else wanted)))
            else:
                why = 'no verdict from the page within the time limit (%.0f s)' % TOTAL_TIMEOUT
            time.sleep(1.0)  # crashpad writes its dump
            dumps = crash_dumps(logdir, seen_dumps)
            if dumps:
                why += '; Chromium crash dumps: ' + ', '.join(dumps)
            info('%s; last console lines: %s' % (why, chromium.stderr_tail(15, 'CONSOLE')))
            done = {r.get('name') for r, _, _ in runs}
            left = [n for n in wanted if n not in done]
            rc = chromium.stop(signal.SIGTERM, 5, group=True)
            info('chromium stopped (status %s)' % rc)
            chromium = None
            if crashed and args.retry and attempt < MAX_BROWSERS and left and time.monotonic() < deadline - 40:
                print('NOTE Chromium failed during %s (%s); running the %d checks left in a new browser'
                      % (next_check_name(progress, only.split(',') if only else wanted), why, len(left)), flush=True)
                only = ','.join(left)
                continue
            report('page_verdict', why)
            break
    finally:
        if chromium is not None:
            rc = chromium.stop(signal.SIGTERM, 5, group=True)
            info('chromium stopped (status %s)' % rc)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        statuses = {}
        for p in reversed(procs):
            statuses[p.name] = p.stop(signal.SIGTERM, 5)
        if failed_setup:
            for p in procs:
                info('%s stderr: %s' % (p.name, p.stderr_tail(20)))

    # --- judge ---
    sha_thread.join(60)
    expected_sha = sha_box.get('sha')
    demo_lines = demo.snapshot()
    baton_lines = baton.snapshot() if baton else []
    page_results = [r for r, _, _ in runs]
    names = [r['name'] for r in page_results]
    for n in names:
        if n not in wanted:
            wanted.append(n)
    for name in wanted:
        # Judge each check with the servers' lines of the browser run that
        # reported it (a re-run reuses the same tags).
        mark = [(dm, bm) for r, dm, bm in runs if r['name'] == name]
        dm, bm = mark[-1] if mark else (0, 0)
        judge = Judge([r for r, _, _ in runs if r['name'] == name],
                      parse_events(demo_lines[dm:]), baton_lines[bm:], args.bytes, expected_sha)
        why = judge.judge(name)
        if why is not None and name.startswith('baton') and baton_why:
            why = baton_why
        report(name, why)
        r = judge.page.get(name)
        if r is not None:
            info('  %s (%s ms): %s' % (name, r.get('ms'), r.get('detail')))

    # The servers themselves: no unexpected gowt failure, clean exit on SIGTERM.
    errors = [l for l in demo_lines if l.startswith('EVENT error ')]
    ds = statuses.get('gowt_web_demo')
    why = None
    if errors:
        why = 'gowt_web_demo reported gowt failures: %s' % errors[:5]
    elif ds != 0 or 'EXIT status=0' not in demo_lines:
        why = 'gowt_web_demo exit status %s after SIGTERM; stderr: %s' % (ds, demo.stderr_tail(10))
    elif baton is not None and statuses.get('gowt_baton') != 0:
        why = 'gowt_baton exit status %s after SIGTERM; stderr: %s' % (statuses.get('gowt_baton'),
                                                                      baton.stderr_tail(10))
    report('servers_clean', why)

    failed = any(w is not None for _, w in results)
    if failed:
        for c in chromium_runs:
            info('%s console (last lines): ' % c.name)
            for l in c.stderr_tail(30, 'CONSOLE'):
                info('  ' + l)
    if failed or args.keep_logs:
        info('logs kept in %s' % logdir)
    else:
        # Chromium's helpers may still write into its profile while it exits.
        for _ in range(3):
            shutil.rmtree(logdir, ignore_errors=True)
            if not os.path.exists(logdir):
                break
            time.sleep(0.5)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
