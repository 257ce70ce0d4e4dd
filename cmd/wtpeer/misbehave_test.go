package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// misbehaveWant is how wtpeer's own baton peer reacts to each misbehaviour.
// It closes with the code the draft asks for, and it answers a reset of a
// bidi stream with WHATEVER. It cannot answer STOP_SENDING with WHATEVER:
// quic-go resets the stream itself, echoing the STOP_SENDING code (IDC); the
// verdict accepts that documented deviation.
var misbehaveWant = map[string]struct {
	close int
	ok    bool
	why   string // with !ok: in the verdict
}{
	"wrong-value":    {close: 2, ok: true},
	"trailing-bytes": {close: 2, ok: true},
	"early-fin":      {close: 2, ok: true},
	"reset":          {close: 3, ok: true},
	"stop-sending":   {close: 3, ok: true},
}

func verdictEvent(t *testing.T, out string) map[string]any {
	t.Helper()
	for _, ev := range events(out) {
		if ev["ev"] == "misbehave_verdict" {
			return ev
		}
	}
	t.Fatalf("no misbehave_verdict in:\n%s", out)
	return nil
}

func checkVerdict(t *testing.T, mode string, err error, out string) {
	t.Helper()
	want := misbehaveWant[mode]
	ev := verdictEvent(t, out)
	if ev["mode"] != mode || ev["close_code"] != float64(want.close) || ev["close_remote"] != true {
		t.Errorf("%s: verdict %v, want close code %d from the other side", mode, ev, want.close)
	}
	if ev["ok"] != want.ok || (err == nil) != want.ok {
		t.Errorf("%s: verdict ok=%v err=%v, want ok=%v\n%s", mode, ev["ok"], err, want.ok, out)
	}
	if !want.ok && (err == nil || !strings.Contains(err.Error(), want.why)) {
		t.Errorf("%s: error %v, want it to say %q", mode, err, want.why)
	}
	if !containsEvent(out, map[string]any{"ev": "misbehaved", "mode": mode}) {
		t.Errorf("%s: no misbehaved event", mode)
	}
	if mode == "stop-sending" {
		// The reset answering our STOP_SENDING was seen, with the echoed code.
		if r, _ := ev["target_resets"].([]any); len(r) == 0 || r[0] != "0x01" {
			t.Errorf("stop-sending: target resets %v, want [0x01]", ev["target_resets"])
		}
	}
	if mode == "reset" && ev["target_kind"] == "own_bidi" {
		if r, _ := ev["target_resets"].([]any); len(r) == 0 || r[0] != "0x02" {
			t.Errorf("reset: target resets %v, want [0x02] (WHATEVER)", ev["target_resets"])
		}
	}
}

// A misbehaving client against wtpeer's own baton server.
func TestBatonMisbehavingClient(t *testing.T) {
	srv, _ := newTestServer(t, serverOptions{Baton: true})
	for _, mode := range misbehaveModes {
		t.Run(mode, func(t *testing.T) {
			var out *lockedBuffer
			var err error
			for try := 1; try <= 3; try++ {
				out = &lockedBuffer{} // goroutines may still log after the return
				start := time.Now()
				err = runBatonClient(batonClientOptions{
					URL:       srv.url("/baton?version=0&baton=10&count=1"),
					Timeout:   5 * time.Second,
					Misbehave: mode,
				}, newJSONLog(out))
				t.Logf("%s (try %d): %v in %v\n%s", mode, try, err, time.Since(start).Round(time.Millisecond), out.String())
				// webtransport-go's server CloseWithError can reset the
				// CONNECT stream (WT_SESSION_GONE, 0x170d7b68) before its
				// close capsule is read (upstream ordering, see
				// shared/reference go-stack-notes gap 5): the close code is
				// then lost to any client. Seen once in CI; that game is
				// played again rather than judged.
				if !strings.Contains(out.String(), `"error":"H3 error (0x170d7b68)"`) {
					break
				}
			}
			checkVerdict(t, mode, err, out.String())
		})
	}
}

// wtpeer's own baton client against a misbehaving server.
func TestBatonMisbehavingServer(t *testing.T) {
	for _, mode := range misbehaveModes {
		t.Run(mode, func(t *testing.T) {
			srv, buf := newTestServer(t, serverOptions{Baton: true, Misbehave: mode, MisWait: 5 * time.Second})
			out := &lockedBuffer{}
			cerr := runBatonClient(batonClientOptions{
				URL:     srv.url("/baton?version=0&baton=10&count=1"),
				Timeout: 5 * time.Second,
			}, newJSONLog(out))
			if cerr == nil {
				t.Errorf("the client won against a misbehaving server:\n%s", out.String())
			}
			var err error
			select {
			case err = <-srv.Verdicts:
			case <-time.After(8 * time.Second):
				t.Fatalf("no verdict:\n%s", buf.String())
			}
			t.Logf("%s: %v\n%s", mode, err, buf.String())
			checkVerdict(t, mode, err, buf.String())
		})
	}
}

// A client that never reacts: the misbehaving server gives up after
// MisWait with a failing verdict instead of hanging.
func TestBatonMisbehaveTimeout(t *testing.T) {
	srv, buf := newTestServer(t, serverOptions{Baton: true, Misbehave: "stop-sending", MisWait: 300 * time.Millisecond})
	out := &lockedBuffer{}
	// This client opens a session and plays nothing: it waits for the
	// server to close it.
	done := make(chan error, 1)
	go func() {
		done <- runClient(clientOptions{URL: srv.url("/baton"), Scenario: "closed-by-server", Timeout: 3 * time.Second, Code: -1}, newJSONLog(out))
	}()
	select {
	case err := <-srv.Verdicts:
		if err == nil || !strings.Contains(err.Error(), "game ended before we could misbehave") {
			t.Fatalf("verdict %v, want a failure:\n%s", err, buf.String())
		}
		waitEvent(t, buf, map[string]any{"ev": "timeout", "after": "300ms"})
		t.Logf("verdict: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatalf("no verdict:\n%s", buf.String())
	}
	<-done
}

func TestBatonMisbehaveCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	if rc := run([]string{"baton-client", "-misbehave", "bogus", "-url", "https://127.0.0.1:1/baton"}, &out, &errOut); rc != 2 {
		t.Errorf("bogus client mode: rc %d", rc)
	}
	if rc := run([]string{"baton-server", "-misbehave", "bogus"}, &out, &errOut); rc != 2 {
		t.Errorf("bogus server mode: rc %d", rc)
	}
	if rc := run([]string{"server", "-misbehave", "reset"}, &out, &errOut); rc != 2 {
		t.Errorf("-misbehave on the plain server: rc %d", rc)
	}

	// A misbehaving server judges one game and exits with the verdict.
	for _, c := range []struct {
		mode string
		rc   int
	}{{"early-fin", 0}, {"stop-sending", 0}} {
		buf := &lockedBuffer{}
		rcCh := make(chan int, 1)
		go func() {
			rcCh <- run([]string{"baton-server", "-addr", "127.0.0.1:0", "-misbehave", c.mode, "-wait", "5s", "-timeout", "10s"}, buf, &lockedBuffer{})
		}()
		port := ""
		re := regexp.MustCompile(`(?m)^LISTENING (\d+) `)
		for deadline := time.Now().Add(5 * time.Second); port == "" && time.Now().Before(deadline); {
			if m := re.FindStringSubmatch(buf.String()); m != nil {
				port = m[1]
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if port == "" {
			t.Fatalf("%s: no LISTENING line:\n%s", c.mode, buf.String())
		}
		_ = runBatonClient(batonClientOptions{URL: fmt.Sprintf("https://127.0.0.1:%s/baton?baton=3", port), Timeout: 5 * time.Second}, newJSONLog(&lockedBuffer{}))
		select {
		case rc := <-rcCh:
			if rc != c.rc {
				t.Errorf("%s: rc %d, want %d\n%s", c.mode, rc, c.rc, buf.String())
			}
			want := `{"result":"pass"}`
			if c.rc != 0 {
				want = `{"result":"fail"`
			}
			if !strings.Contains(buf.String(), want) {
				t.Errorf("%s: no %s line:\n%s", c.mode, want, buf.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the misbehaving server did not exit:\n%s", c.mode, buf.String())
		}
	}
}
