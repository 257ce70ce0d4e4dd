// Command churn opens and closes many WebTransport sessions against one
// server context and watches the server's resources (project issue 11).
//
// Three roles, one program:
//
//	churn -sessions 100000           driver: starts the server and the clients
//	churn -role server               a gowt core server context (Go, core used
//	                                 directly so that its goroutines can be
//	                                 counted: runtime.NumGoroutine, no test hook
//	                                 in the library); answers "stats" on stdin
//	churn -role client -url U -n N   a client process running N sessions
//
// Session mix (per 10): 5 closed by the client after an echo, 2 closed by the
// server after the echo, 1 refused (404), 1 left idle until the QUIC idle
// timeout (1.5 s) ends it, 1 in a client process killed with SIGKILL in the
// middle of a transfer (the server sees nothing: idle timeout again).
//
// Every 10 000 sessions (counted by the server's DEREGISTER events) the
// driver waits until the server has no session left and samples the
// server's RSS (after debug.FreeOSMemory: retained memory, not GC timing),
// Go heap in use, goroutines and open descriptors.
// It prints the samples, the slope per 10 000 sessions (least squares over
// the samples after the first), and fails when the last sample is more than
// 10 % (plus a small absolute slack for tiny values) above the first.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gowt/gowt/core"
)

// Idle timeouts: the "idle" sessions' client context uses idleTimeout (the
// QUIC idle timeout is the smaller of both sides'); the server's
// serverIdleTimeout ends the killed clients' sessions. The other sessions
// are not idle, but a loaded CI host can stall a process for a second.
const (
	idleTimeout       = 1500 * time.Millisecond
	serverIdleTimeout = 3 * time.Second
	handshakeTimeout  = 10 * time.Second
)

func main() {
	role := flag.String("role", "driver", "driver, server or client")
	sessions := flag.Int("sessions", 100000, "driver: sessions in all")
	every := flag.Int("every", 10000, "driver: sample every this many sessions")
	par := flag.Int("parallel", 3, "driver: client processes at once")
	urlf := flag.String("url", "", "client: server base URL")
	n := flag.Int("n", 500, "client: sessions to run")
	conc := flag.Int("c", 16, "client: sessions in flight")
	victim := flag.Bool("victim", false, "client: start transfers and wait to be killed")
	flag.Parse()
	switch *role {
	case "server":
		server()
	case "client":
		os.Exit(client(*urlf, *n, *conc, *victim))
	default:
		os.Exit(driver(*sessions, *every, *par))
	}
}

// ---------------------------------------------------------------------------
// server

type srvStats struct {
	Ended      int64 `json:"ended"`
	Live       int64 `json:"live"`
	RSSKiB     int64 `json:"rss_kib"`
	HeapKiB    int64 `json:"heap_kib"`
	Goroutines int   `json:"goroutines"`
	FDs        int   `json:"fds"`
}

func rssKiB(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}

func fdCount() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read
}

func server() {
	cfg := core.DefaultConfig()
	cfg.Insecure = true
	cfg.IdleTimeout = serverIdleTimeout
	cfg.HandshakeTimeout = handshakeTimeout
	cfg.MaxSessions = 100000
	ctx, err := core.NewContext(cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	var ended, live atomic.Int64
	var mu sync.Mutex
	echo := map[*core.Stream][]byte{}
	accepted := map[*core.Session]bool{} // value: the server closes it after the echo
	cb := core.GoCallback(func(c *core.Context, ev *core.Event) int {
		switch ev.Type {
		case core.EvConnect:
			if ev.Request != nil && ev.Request.Path == "/refuse" {
				return 404
			}
			live.Add(1)
			mu.Lock()
			accepted[ev.Sess] = ev.Request != nil && strings.Contains(ev.Request.Query, "close=server")
			mu.Unlock()
		case core.EvPostData, core.EvPostFin:
			if ev.Stream == nil || !ev.Stream.Bidi {
				return 0
			}
			mu.Lock()
			buf := append(echo[ev.Stream], ev.Data...)
			echo[ev.Stream] = buf
			mu.Unlock()
			if ev.Type == core.EvPostFin {
				_ = ev.Stream.Send(buf, true)
				mu.Lock()
				delete(echo, ev.Stream)
				closeIt := accepted[ev.Sess]
				mu.Unlock()
				if closeIt {
					_ = ev.Sess.Close(0, "server closes")
				}
			}
		case core.EvFree:
			mu.Lock()
			delete(echo, ev.Stream)
			mu.Unlock()
		case core.EvDeregister:
			ended.Add(1)
			mu.Lock()
			if _, ok := accepted[ev.Sess]; ok {
				delete(accepted, ev.Sess)
				live.Add(-1)
			}
			mu.Unlock()
		}
		return 0
	})
	if err := ctx.Register("*", cb, 0, core.PathOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	port, err := ctx.Listen("127.0.0.1", 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", port)
	in := bufio.NewScanner(os.Stdin)
	self := strconv.Itoa(os.Getpid())
	for in.Scan() {
		switch in.Text() {
		case "stats":
			// Retained memory, not GC timing: collect and hand freed
			// pages back to the OS before reading RSS.
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st := srvStats{Ended: ended.Load(), Live: live.Load(), RSSKiB: rssKiB(self),
				HeapKiB: int64(ms.HeapInuse >> 10), Goroutines: runtime.NumGoroutine(), FDs: fdCount()}
			b, _ := json.Marshal(st)
			fmt.Println(string(b))
		case "quit":
			_ = ctx.Destroy()
			return
		}
	}
	_ = ctx.Destroy()
}

// ---------------------------------------------------------------------------
// client

type cliSess struct {
	kind    int // 0 client close, 1 server close, 2 refused, 3 idle
	done    chan struct{}
	got     []byte
	payload []byte
	once    sync.Once
	ok      bool
	why     string // the events seen, when it went wrong
	// connRefused: quic-go refused the QUIC connection (CONNECTION_REFUSED:
	// its accept queue of 32 handshaken connections was full).
	connRefused bool
}

func client(base string, n, conc int, victim bool) int {
	cfg := core.DefaultConfig()
	cfg.Insecure = true
	cfg.HandshakeTimeout = handshakeTimeout
	cfg.MaxSessions = 100000
	ctx, err := core.NewContext(cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	cfg.IdleTimeout = idleTimeout
	idleCtx, err := core.NewContext(cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	if victim {
		// Transfers that do not end: 64 KiB sent, no FIN, more to come; the
		// driver kills this process with SIGKILL while they are open.
		// One session at a time, so that handshakes do not come in bursts.
		chunk := make([]byte, 64<<10)
		for i := 0; i < n; i++ {
			up := make(chan struct{}, 1)
			_, err := ctx.Connect(base+"/echo", core.ConnectOptions{NewConnection: true},
				core.GoCallback(func(c *core.Context, ev *core.Event) int {
					switch ev.Type {
					case core.EvConnectAccepted:
						if st, err := ev.Sess.OpenStream(true, 0); err == nil && st.Send(chunk, false) == nil {
							fmt.Println("transferring")
						}
						up <- struct{}{}
					case core.EvConnectRefused:
						if strings.Contains(string(ev.Data), "CONNECTION_REFUSED") {
							fmt.Println("connrefused")
						} else {
							fmt.Fprintf(os.Stderr, "victim: refused: %s\n", ev.Data)
							fmt.Println("failed")
						}
						up <- struct{}{}
					}
					return 0
				}), 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, "victim:", err)
				continue
			}
			<-up
		}
		select {}
	}
	sem := make(chan struct{}, conc)
	idleSem := make(chan struct{}, 48)
	var wg sync.WaitGroup
	var bad, connRefused atomic.Int64
	for i := 0; i < n; i++ {
		kind := []int{0, 0, 0, 0, 0, 1, 1, 2, 3}[i%9]
		cs := &cliSess{kind: kind, done: make(chan struct{}), payload: []byte(strings.Repeat("x", 4096))}
		if kind == 3 {
			idleSem <- struct{}{}
		} else {
			sem <- struct{}{}
		}
		wg.Add(1)
		path := []string{"/echo", "/echo?close=server", "/refuse", "/idle"}[kind]
		cctx := ctx
		if kind == 3 {
			cctx = idleCtx
		}
		_, err := cctx.Connect(base+path, core.ConnectOptions{NewConnection: true},
			core.GoCallback(func(c *core.Context, ev *core.Event) int { return cs.event(ev) }), 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "connect:", err)
			bad.Add(1)
			close(cs.done)
		}
		go func() {
			defer wg.Done()
			select {
			case <-cs.done:
			case <-time.After(20 * time.Second):
				bad.Add(1)
				fmt.Fprintf(os.Stderr, "session kind %d: no DEREGISTER in 20 s\n", kind)
			}
			if !cs.ok && cs.connRefused {
				connRefused.Add(1)
			} else if !cs.ok {
				if bad.Add(1) <= 3 {
					fmt.Fprintf(os.Stderr, "session kind %d failed: %s\n", kind, cs.why)
				}
			}
			if kind == 3 {
				<-idleSem
			} else {
				<-sem
			}
		}()
	}
	wg.Wait()
	_ = ctx.Destroy()
	_ = idleCtx.Destroy()
	fmt.Printf("connrefused %d\n", connRefused.Load())
	if bad.Load() > 0 {
		fmt.Fprintf(os.Stderr, "client: %d sessions went wrong\n", bad.Load())
		return 1
	}
	return 0
}

func (cs *cliSess) event(ev *core.Event) int {
	if len(cs.why) < 300 {
		d := ""
		if ev.Type == core.EvClose || ev.Type == core.EvConnectRefused {
			d = string(ev.Data)
		}
		cs.why += fmt.Sprintf("%v(code %d flags %#x, %d bytes %s) ", ev.Type, ev.Code, ev.Flags, len(ev.Data), d)
	}
	switch ev.Type {
	case core.EvConnectAccepted:
		if cs.kind == 2 {
			fmt.Fprintln(os.Stderr, "refused path accepted")
			return 0
		}
		if cs.kind == 3 {
			return 0 // idle: wait for the idle timeout
		}
		st, err := ev.Sess.OpenStream(true, 0)
		if err == nil {
			err = st.Send(cs.payload, true)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "stream:", err)
		}
	case core.EvConnectRefused:
		cs.ok = cs.kind == 2 && ev.Code == 404
		cs.connRefused = ev.Code == 0 && strings.Contains(string(ev.Data), "CONNECTION_REFUSED")
	case core.EvPostData, core.EvPostFin:
		cs.got = append(cs.got, ev.Data...)
		if ev.Type == core.EvPostFin && len(cs.got) == len(cs.payload) && cs.kind == 0 {
			cs.ok = true
			_ = ev.Sess.Close(0, "client closes")
		}
	case core.EvClose:
		switch cs.kind {
		case 1:
			// The close capsule may overtake the echo (the close resets
			// the session's streams): only the close itself is checked.
			cs.ok = ev.Flags&core.FlagCloseRemote != 0 && string(ev.Data) == "server closes"
		case 3:
			cs.ok = ev.Flags&core.FlagCloseError != 0 // the idle timeout
		}
	case core.EvDeregister:
		cs.once.Do(func() { close(cs.done) })
	}
	return 0
}

// ---------------------------------------------------------------------------
// driver

func driver(total, every, par int) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := exec.Command(self, "-role", "server")
	// Children go with the driver, also when it is killed (CTest timeout).
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, _ := srv.StdinPipe()
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		fmt.Fprintln(stdin, "quit")
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
		}
	}()
	out := bufio.NewScanner(stdout)
	if !out.Scan() {
		fmt.Fprintln(os.Stderr, "server printed nothing")
		return 1
	}
	port := strings.TrimPrefix(out.Text(), "port ")
	base := "https://127.0.0.1:" + port
	stats := func() srvStats {
		fmt.Fprintln(stdin, "stats")
		var st srvStats
		if out.Scan() {
			_ = json.Unmarshal(out.Bytes(), &st)
		}
		return st
	}
	// quiet waits until the server has no session left (the killed
	// clients' sessions end with the idle timeout).
	// Then goroutines and descriptors must be steady over 300 ms (closing
	// connections finish in the background).
	quiet := func() srvStats {
		deadline := time.Now().Add(30 * time.Second)
		prev := stats()
		for {
			time.Sleep(300 * time.Millisecond)
			st := stats()
			if (st.Live == 0 && prev.Live == 0 && st.Goroutines == prev.Goroutines && st.FDs == prev.FDs) ||
				time.Now().After(deadline) {
				return st
			}
			prev = st
		}
	}

	const perClient = 500
	failures := 0
	var samples []srvStats
	start := time.Now()
	started := 0
	killed := 0
	connRefused := 0
	fmt.Printf("churn: %d sessions against one server context (127.0.0.1:%s), sample every %d\n", total, port, every)
	fmt.Printf("%9s %8s %10s %10s %10s %5s %8s\n", "sessions", "elapsed", "rss_KiB", "heap_KiB", "goroutines", "fds", "killed")
	next := every
	for started < total {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for p := 0; p < par && started < total; p++ {
			k := min(perClient, total-started)
			// One session in 10 is a killed client's: one victim process
			// per batch runs k/10 of them and is killed mid-transfer.
			nv := max(k/10, 1)
			started += k
			wg.Add(2)
			go func() {
				defer wg.Done()
				c := exec.Command(self, "-role", "client", "-url", base, "-n", strconv.Itoa(k-nv), "-c", "16")
				c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
				c.Stderr = os.Stderr
				outb, err := c.Output()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures++
					fmt.Fprintln(os.Stderr, "client process:", err)
				}
				var r int
				if _, e := fmt.Sscanf(strings.TrimSpace(string(outb)), "connrefused %d", &r); e == nil {
					connRefused += r
				}
			}()
			go func() {
				defer wg.Done()
				v := exec.Command(self, "-role", "client", "-url", base, "-n", strconv.Itoa(nv), "-victim")
				v.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
				vout, _ := v.StdoutPipe()
				v.Stderr = os.Stderr
				if err := v.Start(); err != nil {
					return
				}
				sc := bufio.NewScanner(vout)
				seen := 0
				timeout := time.AfterFunc(60*time.Second, func() { _ = v.Process.Signal(syscall.SIGKILL) })
				vrefused := 0
				for seen < nv && sc.Scan() {
					seen++
					switch sc.Text() {
					case "connrefused":
						vrefused++
					case "failed":
						seen--
					}
				}
				time.Sleep(100 * time.Millisecond) // mid-transfer
				timeout.Stop()
				_ = v.Process.Signal(syscall.SIGKILL)
				_ = v.Wait()
				mu.Lock()
				killed += nv - vrefused
				connRefused += vrefused
				if seen < nv {
					fmt.Fprintf(os.Stderr, "victim: only %d of %d transfers started\n", seen, nv)
					failures++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if started >= next || started >= total {
			st := quiet()
			samples = append(samples, st)
			fmt.Printf("%9d %7.0fs %10d %10d %10d %5d %8d\n", st.Ended, time.Since(start).Seconds(), st.RSSKiB,
				st.HeapKiB, st.Goroutines, st.FDs, killed)
			next += every
		}
	}
	if len(samples) == 0 {
		return 1
	}
	first, last := samples[0], samples[len(samples)-1]
	fmt.Printf("slope per %d sessions (after the first sample): rss %+.0f KiB, heap %+.0f KiB, goroutines %+.2f, fds %+.2f\n",
		every, slope(samples, func(s srvStats) float64 { return float64(s.RSSKiB) }),
		slope(samples, func(s srvStats) float64 { return float64(s.HeapKiB) }),
		slope(samples, func(s srvStats) float64 { return float64(s.Goroutines) }),
		slope(samples, func(s srvStats) float64 { return float64(s.FDs) }))
	check := func(name string, a, b, slack float64) {
		if b > a*1.10+slack {
			fmt.Printf("FAIL: %s grew from %.0f to %.0f (more than 10 %%)\n", name, a, b)
			failures++
		}
	}
	check("rss KiB", float64(first.RSSKiB), float64(last.RSSKiB), 0)
	check("heap KiB", float64(first.HeapKiB), float64(last.HeapKiB), 1024)
	check("goroutines", float64(first.Goroutines), float64(last.Goroutines), 2)
	check("fds", float64(first.FDs), float64(last.FDs), 1)
	// Sessions whose QUIC connection quic-go refused never reach the
	// server's context; they are counted and reported, not hidden.
	fmt.Printf("connections refused by quic-go's accept queue (CONNECTION_REFUSED): %d of %d\n", connRefused, total)
	if last.Ended != int64(total-connRefused) {
		fmt.Printf("FAIL: the server saw %d sessions end, want %d\n", last.Ended, total-connRefused)
		failures++
	}
	if failures > 0 {
		fmt.Printf("churn: FAILED (%d failures)\n", failures)
		return 1
	}
	fmt.Printf("churn: ok, %d sessions in %.0f s\n", last.Ended, time.Since(start).Seconds())
	return 0
}

// slope is the least-squares slope per sample of f over samples[1:] (the
// first sample includes warm-up).
func slope(s []srvStats, f func(srvStats) float64) float64 {
	if len(s) < 3 {
		return math.NaN()
	}
	s = s[1:]
	var sx, sy, sxx, sxy float64
	for i, v := range s {
		x, y := float64(i), f(v)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	n := float64(len(s))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
