// Command hostile attacks a gowt server with misbehaving peers written on
// quic-go's public API (quic-go and its http3 package, never gowt's core),
// while a well-behaved client (examples_c/gowt_baton) plays baton games
// against the same server. For every attack it reports whether the games
// still succeeded, the games' session setup latency beside the undisturbed
// one, and the server's RSS (/proc/PID/status) before, during and after.
//
// The server is a gowt_baton server process (-baton PATH) started here on
// 127.0.0.1 with port 0; it also serves a 256 MiB file to plain HTTP/3 GET
// (-w), which the never-reading peer asks for.
//
//	hostile -baton build/gowt_baton [-attack all|NAME,...] [-duration 3s]
//
// Attacks (-attack):
//
//	stream-flood    WebTransport streams opened as fast as the server's
//	                limits allow and then beyond (OpenStream until quic-go
//	                reports the peer's limit, again as soon as credit
//	                comes), half kept open, half reset or finished, some
//	                for unknown sessions
//	capsule-1gib    capsules declaring 1 GiB on the CONNECT stream (an
//	                unknown type and CLOSE_WEBTRANSPORT_SESSION), their
//	                payload streamed as fast as flow control lets it
//	dgram-unknown   HTTP/3 datagrams for session IDs that are no session
//	bad-connect     extended CONNECTs with missing or duplicated
//	                pseudo-headers (each must be refused, never 200)
//	half-open       QUIC handshakes never completed (a client socket that
//	                drops every packet from the server)
//	never-read      GETs of the 256 MiB file whose responses are never read
//	                (the server's sends must block on flow control, not
//	                buffer the file)
//	no-max-streams  a client that allows the server 2 uni streams and never
//	                raises the limit, asking for baton games of 8 lanes
//
// Exit status 0 when every game succeeded, the server survived every attack
// and its RSS grew by less than -max-rss-growth during each attack.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type attack struct {
	name string
	run  func(ctx context.Context, t *target, st *stats)
}

// stats are an attack's own counters, printed after it.
type stats struct {
	mu sync.Mutex
	m  map[string]int64
	// findings are violations the attack saw (a malformed CONNECT
	// accepted, ...): each fails the run.
	findings []string
}

func (s *stats) add(k string, n int64) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]int64{}
	}
	s.m[k] += n
	s.mu.Unlock()
}

func (s *stats) finding(f string, a ...any) {
	s.mu.Lock()
	if len(s.findings) < 20 {
		s.findings = append(s.findings, fmt.Sprintf(f, a...))
	}
	s.mu.Unlock()
}

func (s *stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, s.m[k])
	}
	return strings.TrimSpace(b.String())
}

type target struct {
	port  int
	proc  *exec.Cmd
	baton string
	dead  atomic.Bool
}

func (t *target) addr() *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: t.port} }

func (t *target) rssKiB() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.proc.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return -1
}

func startServer(baton, wwwDir, logFile string) (*target, error) {
	args := []string{"-p", "0", "-w", wwwDir, "-d", "10000"}
	if logFile != "" {
		args = append(args, "-L", "-l", logFile)
	}
	cmd := exec.Command(baton, append(args, "/baton")...)
	// The server goes with us, also when we are killed (CTest timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if f := os.Getenv("HOSTILE_SERVER_STDERR"); f != "" {
		if w, err := os.Create(f); err == nil {
			cmd.Stderr = w
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{proc: cmd, baton: baton}
	sc := bufio.NewScanner(out)
	deadline := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "Listening on port "); ok {
			t.port, _ = strconv.Atoi(strings.TrimSpace(p))
			break
		}
	}
	deadline.Stop()
	if t.port == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("gowt_baton server printed no port")
	}
	go func() {
		for sc.Scan() {
		}
		_ = cmd.Wait()
		t.dead.Store(true)
	}()
	return t, nil
}

// game plays one baton game with the gowt_baton client; it returns the
// session setup latency (CONNECT_ACCEPTED in the client's event log) and
// whether the game succeeded.
func (t *target) game(count int) (time.Duration, bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	url := fmt.Sprintf("/baton?version=0&baton=7&count=%d", count)
	cmd := exec.CommandContext(ctx, t.baton, "-L", "-l", "-", "-T", "30", "127.0.0.1",
		strconv.Itoa(t.port), url)
	out, err := cmd.CombinedOutput()
	setup := time.Duration(-1)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "event CONNECT_ACCEPTED") {
			f := strings.Fields(l)
			if v, perr := strconv.ParseFloat(f[0], 64); perr == nil {
				setup = time.Duration(v * float64(time.Second))
			}
			break
		}
	}
	if err != nil {
		tail := string(out)
		if len(tail) > 600 {
			tail = tail[len(tail)-600:]
		}
		return setup, false, fmt.Sprintf("%v: %s", err, tail)
	}
	return setup, setup >= 0, ""
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return -1
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

var allAttacks = []attack{
	{"stream-flood", attackStreamFlood},
	{"capsule-1gib", attackCapsule},
	{"dgram-unknown", attackDatagrams},
	{"bad-connect", attackBadConnect},
	{"half-open", attackHalfOpen},
	{"never-read", attackNeverRead},
	{"no-max-streams", attackNoMaxStreams},
}

func main() {
	baton := flag.String("baton", "", "path of the gowt_baton program (server and well-behaved client)")
	which := flag.String("attack", "all", "attacks to run, comma-separated, or all")
	dur := flag.Duration("duration", 3*time.Second, "how long each attack lasts (games run inside it)")
	games := flag.Int("games", 3, "baton games per attack (and undisturbed)")
	count := flag.Int("count", 4, "baton lanes per game")
	serverLog := flag.String("server-log", "", "the server logs every event to this file")
	settle := flag.Duration("settle", time.Second, "wait this long after an attack before rss-after")
	maxGrowth := flag.Int64("max-rss-growth", 192*1024, "KiB the server's RSS may grow during one attack")
	flag.Parse()
	if *baton == "" {
		fmt.Fprintln(os.Stderr, "hostile: -baton PATH is required")
		os.Exit(2)
	}
	var run []attack
	for _, a := range allAttacks {
		if *which == "all" || strings.Contains(","+*which+",", ","+a.name+",") {
			run = append(run, a)
		}
	}
	if len(run) == 0 {
		fmt.Fprintln(os.Stderr, "hostile: no such attack:", *which)
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "hostile")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		fail(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		fail(err)
	}
	f.Close()

	t, err := startServer(*baton, dir, *serverLog)
	if err != nil {
		fail(err)
	}
	defer func() { _ = t.proc.Process.Kill() }()
	fmt.Printf("gowt_baton server on 127.0.0.1:%d (pid %d)\n", t.port, t.proc.Process.Pid)

	ok := true
	var base []time.Duration
	for i := 0; i < *games; i++ {
		d, good, why := t.game(*count)
		if !good {
			fmt.Printf("undisturbed game failed: %s\n", why)
			ok = false
		}
		base = append(base, d)
	}
	baseRSS := t.rssKiB()
	fmt.Printf("%-15s %-6s %-9s %-12s %-10s %-10s %-10s %s\n", "attack", "games", "setup", "undisturbed",
		"rss-before", "rss-max", "rss-after", "attack counters")
	fmt.Printf("%-15s %d/%-4d %-9s %-12s %-10d %-10s %-10s\n", "(none)", *games, *games, ms(median(base)),
		ms(median(base)), baseRSS, "-", "-")
	for _, a := range run {
		st := &stats{}
		before := t.rssKiB()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); a.run(ctx, t, st) }()
		var rssMax atomic.Int64
		sampDone := make(chan struct{})
		go func() {
			defer close(sampDone)
			tk := time.NewTicker(50 * time.Millisecond)
			defer tk.Stop()
			for {
				if r := t.rssKiB(); r > rssMax.Load() {
					rssMax.Store(r)
				}
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
			}
		}()
		start := time.Now()
		time.Sleep(*dur / 4) // let the attack get going
		var lat []time.Duration
		won := 0
		var why []string
		for i := 0; i < *games; i++ {
			d, good, w := t.game(*count)
			if good {
				won++
				lat = append(lat, d)
			} else {
				why = append(why, w)
			}
		}
		if rest := *dur - time.Since(start); rest > 0 {
			time.Sleep(rest)
		}
		cancel()
		<-sampDone
		waitTimeout(&wg, 10*time.Second)
		time.Sleep(*settle)
		after := t.rssKiB()
		fmt.Printf("%-15s %d/%-4d %-9s %-12s %-10d %-10d %-10d %s\n", a.name, won, *games, ms(median(lat)),
			ms(median(base)), before, rssMax.Load(), after, st)
		for _, w := range why {
			fmt.Printf("  game failed: %s\n", w)
		}
		for _, f := range st.findings {
			fmt.Printf("  FINDING: %s\n", f)
		}
		if won != *games || len(st.findings) > 0 {
			ok = false
		}
		// Growth during this attack (the Go runtime returns freed memory
		// to the OS slowly: an earlier attack's pages may still count).
		if rssMax.Load() > before+*maxGrowth {
			fmt.Printf("  FAIL: server RSS %d KiB, more than %d KiB above %d before the attack\n",
				rssMax.Load(), *maxGrowth, before)
			ok = false
		}
		if t.dead.Load() {
			fmt.Printf("  FAIL: the server exited\n")
			ok = false
			break
		}
	}
	_ = t.proc.Process.Kill() // os.Exit skips deferred calls
	os.RemoveAll(dir)
	if !ok {
		fmt.Println("hostile: FAILED")
		os.Exit(1)
	}
	fmt.Println("hostile: all games succeeded, server alive, RSS bounded")
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		fmt.Println("  (attack goroutines still running after 10 s)")
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hostile:", err)
	os.Exit(1)
}

var insecureTLS = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h3"}, ServerName: "localhost"}
