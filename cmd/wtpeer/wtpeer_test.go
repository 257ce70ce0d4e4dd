package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects a server's output; tests read it while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// events parses the JSON lines of out (other lines are skipped).
func events(out string) []map[string]any {
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			evs = append(evs, m)
		}
	}
	return evs
}

// match reports whether ev has every field of want (numbers as float64).
func match(ev map[string]any, want map[string]any) bool {
	for k, v := range want {
		got, ok := ev[k]
		if !ok {
			return false
		}
		if n, isInt := v.(int); isInt {
			v = float64(n)
		}
		if got != v {
			return false
		}
	}
	return true
}

// waitEvent waits up to 2 s for an event with the fields in want.
func waitEvent(t *testing.T, buf *lockedBuffer, want map[string]any) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		for _, ev := range events(buf.String()) {
			if match(ev, want) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event %v in server output:\n%s", want, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newTestServer(t *testing.T, opts serverOptions) (*peerServer, *lockedBuffer) {
	t.Helper()
	buf := &lockedBuffer{}
	opts.Addr = "127.0.0.1:0"
	srv, err := startServer(opts, newJSONLog(buf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if len(srv.Fingerprint) != 64 {
		t.Fatalf("fingerprint %q", srv.Fingerprint)
	}
	return srv, buf
}

func (s *peerServer) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", s.Port, path)
}

// client runs a scenario and returns its error and output.
func client(t *testing.T, o clientOptions) (string, error) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Code == 0 {
		o.Code = -1
	}
	out := &lockedBuffer{}
	start := time.Now()
	err := runClient(o, newJSONLog(out))
	t.Logf("%s against %s: %v in %v\n%s", o.Scenario, o.URL, err, time.Since(start).Round(time.Millisecond), out.String())
	return out.String(), err
}

func TestEcho(t *testing.T) {
	for _, noFC := range []bool{false, true} {
		t.Run(fmt.Sprintf("nofc=%v", noFC), func(t *testing.T) {
			srv, buf := newTestServer(t, serverOptions{NoFC: noFC})
			out, err := client(t, clientOptions{URL: srv.url("/echo"), Scenario: "echo", NoFC: noFC})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []map[string]any{
				{"ev": "bidi_echo", "ok": true, "bytes": 100 * 1024},
				{"ev": "uni_echo", "ok": true, "data": "hello-uni"},
			} {
				if !containsEvent(out, want) {
					t.Errorf("client output lacks %v", want)
				}
			}
			waitEvent(t, buf, map[string]any{"ev": "bidi_echo", "bytes": 100 * 1024})
			waitEvent(t, buf, map[string]any{"ev": "session_closed", "code": 7, "reason": "client done", "remote": true})
		})
	}
}

func containsEvent(out string, want map[string]any) bool {
	for _, ev := range events(out) {
		if match(ev, want) {
			return true
		}
	}
	return false
}

func TestReset(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{})
	if _, err := client(t, clientOptions{URL: srv.url("/reset"), Scenario: "reset"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, buf, map[string]any{"ev": "reset_sent", "reset_code": 77, "stop_sending_code": 78})
}

func TestClosedByServer(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{})
	if _, err := client(t, clientOptions{URL: srv.url("/close"), Scenario: "closed-by-server"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, buf, map[string]any{"ev": "session_closed", "code": 4242, "remote": false})
	// A different expectation must fail.
	other := "something else"
	if _, err := client(t, clientOptions{URL: srv.url("/close"), Scenario: "closed-by-server", Reason: &other}); err == nil {
		t.Fatal("closed-by-server passed with the wrong expected reason")
	}
}

func TestCloseSeenByServer(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{})
	reason := "see ya"
	if _, err := client(t, clientOptions{URL: srv.url("/wait"), Scenario: "close", Code: 9, Reason: &reason}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, buf, map[string]any{"ev": "peer_close", "code": 9, "reason": "see ya", "remote": true})
}

func TestRefused(t *testing.T) {
	srv, _ := newTestServer(t, serverOptions{})
	for _, c := range []struct {
		path   string
		status int
	}{{"/refuse404", 404}, {"/refuse400", 400}, {"/no-such-path", 404}} {
		if _, err := client(t, clientOptions{URL: srv.url(c.path), Scenario: "refused", Status: c.status}); err != nil {
			t.Errorf("%s: %v", c.path, err)
		}
	}
	if _, err := client(t, clientOptions{URL: srv.url("/refuse400"), Scenario: "refused", Status: 404}); err == nil {
		t.Error("refused passed with the wrong status")
	}
	if _, err := client(t, clientOptions{URL: srv.url("/echo"), Scenario: "refused", Status: 404}); err == nil {
		t.Error("refused passed on an accepted session")
	}
}

func TestMulti(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{})
	if _, err := client(t, clientOptions{URL: srv.url("/echo"), Scenario: "multi"}); err != nil {
		t.Fatal(err)
	}
	for sid := 1; sid <= 3; sid++ {
		waitEvent(t, buf, map[string]any{"ev": "session_closed", "sid": sid, "code": 0, "reason": "multi done"})
	}
}

// Without WebTransport flow control webtransport-go allows one session per
// QUIC connection: the second CONNECT is rejected.
func TestMultiNeedsFlowControl(t *testing.T) {
	srv, _ := newTestServer(t, serverOptions{NoFC: true})
	if _, err := client(t, clientOptions{URL: srv.url("/echo"), Scenario: "multi", NoFC: true}); err == nil {
		t.Fatal("multi passed without flow control")
	}
}

func TestAcceptStreams(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{})
	out, err := client(t, clientOptions{URL: srv.url("/open"), Scenario: "accept-streams"})
	if err != nil {
		t.Fatal(err)
	}
	if !containsEvent(out, map[string]any{"ev": "uni_stream", "data": "uni-from-go"}) ||
		!containsEvent(out, map[string]any{"ev": "bidi_stream", "data": "bidi-from-go"}) {
		t.Error("client did not log both streams")
	}
	waitEvent(t, buf, map[string]any{"ev": "bidi_reply", "data": "reply"})
}

func TestClientTimeout(t *testing.T) {
	srv, _ := newTestServer(t, serverOptions{})
	start := time.Now()
	_, err := client(t, clientOptions{URL: srv.url("/wait"), Scenario: "closed-by-server", Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("want a timeout, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestBaton(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{Baton: true})
	queries := []string{
		"version=0&baton=1&count=1", // 255 values on one lane
		"version=0&baton=17&count=4",
		"version=0&baton=100&count=16",
		"version=0&count=3", // server picks the baton
		"",                  // all defaults
	}
	// The 0 lands on each kind of stream (the roles cycle with period 6).
	for b := 250; b <= 255; b++ {
		queries = append(queries, fmt.Sprintf("baton=%d&count=2", b))
	}
	for i, q := range queries {
		out := &lockedBuffer{}
		start := time.Now()
		err := runBatonClient(batonClientOptions{URL: srv.url("/baton?" + q), Timeout: 5 * time.Second, Verbose: true}, newJSONLog(out))
		t.Logf("%q: %v in %v", q, err, time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Errorf("%q: %v\n%s", q, err, out.String())
			continue
		}
		text := out.String()
		if !strings.Contains(text, "Final baton state: 6\n") || !strings.Contains(text, "Nb turns: ") {
			t.Errorf("%q: summary lines missing:\n%s", q, text)
		}
		waitEvent(t, buf, map[string]any{"ev": "baton_result", "sid": i + 1, "ok": true})
	}
}

func TestBatonRefusesBadQuery(t *testing.T) {
	srv, _ := newTestServer(t, serverOptions{Baton: true})
	for _, q := range []string{"version=1", "baton=256", "count=0", "count=257"} {
		if _, err := client(t, clientOptions{URL: srv.url("/baton?" + q), Scenario: "refused", Status: 400}); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
}

func TestReadBaton(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		v    byte
		fail string
	}{
		{batonMessage(42, 0), 42, ""},
		{batonMessage(0, 0x3FFF), 0, ""},
		{batonMessage(7, 64), 7, ""},
		{nil, 0, "FIN before any byte"},
		{[]byte{0x40}, 0, "truncated"},
		{[]byte{5, 0, 0}, 0, "FIN inside padding"},
		{[]byte{0}, 0, "FIN before the baton"},
		{[]byte{0, 1, 2}, 0, "bytes after the baton"},
	} {
		v, _, err := readBaton(bytes.NewReader(c.in))
		switch {
		case c.fail == "" && (err != nil || v != c.v):
			t.Errorf("%x: got %d, %v; want %d", c.in, v, err, c.v)
		case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail)):
			t.Errorf("%x: got %v, want %q", c.in, err, c.fail)
		}
	}
	if _, _, err := readBaton(bytes.NewReader(nil)); !errors.Is(err, errEmptyStream) {
		t.Errorf("empty stream: %v", err)
	}
}

func TestWTCodeMapping(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 0x1d, 0x1e, 0x1f, 77, 78, 1000, 0xffffffff} {
		h := wtFirstCode + n + n/0x1e
		got, ok := wtCodeFromHTTP(h)
		if !ok || got != n {
			t.Errorf("%d -> %#x -> %d %v", n, h, got, ok)
		}
	}
	if _, ok := wtCodeFromHTTP(0x10c); ok {
		t.Error("H3 code mapped as WebTransport code")
	}
}

func TestCommandLine(t *testing.T) {
	srv, _ := newTestServer(t, serverOptions{})
	var out, errOut bytes.Buffer
	rc := run([]string{"client", "-url", srv.url("/close"), "-scenario", "closed-by-server", "-timeout", "5s", "-insecure"}, &out, &errOut)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if rc != 0 || lines[len(lines)-1] != `{"result":"pass"}` {
		t.Fatalf("rc %d, output:\n%s%s", rc, out.String(), errOut.String())
	}
	out.Reset()
	rc = run([]string{"client", "-url", srv.url("/close"), "-scenario", "closed-by-server", "-code", "1", "-timeout", "5s"}, &out, &errOut)
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if rc != 1 || !strings.HasPrefix(lines[len(lines)-1], `{"result":"fail","why":`) {
		t.Fatalf("rc %d, output:\n%s", rc, out.String())
	}
	if rc := run([]string{"client"}, &out, &errOut); rc != 2 {
		t.Fatalf("missing -url: rc %d", rc)
	}
	if rc := run([]string{"bogus"}, &out, &errOut); rc != 2 {
		t.Fatalf("bogus mode: rc %d", rc)
	}
}

// -size, -max-data and echo's -code/-reason: 3 MiB each way through 1 MiB
// WebTransport windows on both sides, closed with our own code and reason.
func TestEchoSizeWindowCode(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{MaxData: 1 << 20})
	reason := "big echo done"
	out, err := client(t, clientOptions{URL: srv.url("/echo"), Scenario: "echo", Size: 3 << 20,
		MaxData: 1 << 20, Code: 4321, Reason: &reason, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !containsEvent(out, map[string]any{"ev": "bidi_echo", "ok": true, "bytes": 3 << 20}) {
		t.Error("client output lacks the 3 MiB echo")
	}
	waitEvent(t, buf, map[string]any{"ev": "session_closed", "code": 4321, "reason": reason, "remote": true})
}
