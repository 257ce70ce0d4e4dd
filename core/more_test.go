package core

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

func connect(t *testing.T, cli *Context, port int, path string, rec *recorder, opts ConnectOptions) *Session {
	t.Helper()
	s, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d%s", port, path), opts, rec.cb(nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newClient(t *testing.T, cfg Config) *Context {
	t.Helper()
	c, err := NewContext(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy() })
	return c
}

func TestRefusedSession(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "/ok", srec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvConnect && ev.Sess.WireID() == NoID {
			// We read it from http3's request body (StreamID method).
			t.Error("session ID unknown in the CONNECT event: quic-go's http3 changed")
		}
		if ev.Type == EvConnect && ev.Request.Query == "no" {
			return 429
		}
		return 0
	}))
	cli := newClient(t, testConfig())
	for _, tc := range []struct {
		path string
		code uint64
	}{{"/missing", 404}, {"/ok?no", 429}} {
		rec := newRecorder()
		connect(t, cli, port, tc.path, rec, ConnectOptions{})
		ev := rec.wait(t, EvConnectRefused)
		if ev.Code != tc.code {
			t.Fatalf("%s: refused with %d, want %d", tc.path, ev.Code, tc.code)
		}
		rec.wait(t, EvDeregister)
		rec.mu.Lock()
		for _, e := range rec.evs {
			if e.Type == EvClose {
				t.Fatalf("refused session got CLOSE")
			}
		}
		rec.mu.Unlock()
	}
}

func TestSharedConnectionDrainResetStop(t *testing.T) {
	srec := newRecorder()
	var srvSessions = make(chan *Session, 10)
	_, port := newServer(t, testConfig(), "*", srec.cb(func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvConnectAccepted, EvConnect:
			srvSessions <- ev.Sess
		case EvPostData:
			if ev.Stream.Bidi {
				_ = ev.Stream.Reset(77)
				_ = ev.Stream.StopSending(78)
			}
		}
		return 0
	}))
	cli := newClient(t, testConfig())
	var sess []*Session
	var recs []*recorder
	for i := 0; i < 3; i++ {
		rec := newRecorder()
		s := connect(t, cli, port, "/x", rec, ConnectOptions{})
		rec.wait(t, EvConnectAccepted)
		sess = append(sess, s)
		recs = append(recs, rec)
	}
	ids := map[uint64]bool{}
	var conn *wtConn
	for i, s := range sess {
		ids[s.WireID()] = true
		if !s.FlowControl() {
			t.Fatalf("session %d: flow control not negotiated", i)
		}
		if i > 0 && s.conn != conn {
			t.Fatalf("session %d does not share the connection", i)
		}
		conn = s.conn
	}
	if len(ids) != 3 {
		t.Fatalf("session IDs not distinct: %v", ids)
	}
	// drain both ways
	var srv0 *Session
	for s := range srvSessions {
		if s.WireID() == sess[0].WireID() {
			srv0 = s
			break
		}
	}
	if err := sess[0].Drain(); err != nil {
		t.Fatal(err)
	}
	srec.wait(t, EvDrain)
	if err := srv0.Drain(); err != nil {
		t.Fatal(err)
	}
	recs[0].wait(t, EvDrain)
	// reset + stop sending with codes
	st, err := sess[1].OpenStream(true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send([]byte("x"), false); err != nil {
		t.Fatal(err)
	}
	r := recs[1].find(t, EvReset)
	ss := recs[1].find(t, EvStopSending)
	if r.Code != 77 || ss.Code != 78 {
		t.Fatalf("reset %d stop %d", r.Code, ss.Code)
	}
	if err := st.Send([]byte("y"), false); CodeOf(err) != ErrClosed {
		t.Fatalf("send after STOP_SENDING: %v", err)
	}
	recs[1].find(t, EvFree)
	// closing one session leaves the others working
	if err := sess[0].Close(9, "one"); err != nil {
		t.Fatal(err)
	}
	recs[0].wait(t, EvDeregister)
	time.Sleep(50 * time.Millisecond)
	st2, err := sess[2].OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Send(bytes.Repeat([]byte("z"), 100000), true); err != nil {
		t.Fatal(err)
	}
	if err := sess[2].Close(0, ""); err != nil {
		t.Fatal(err)
	}
	cl := srec.wait(t, EvClose)
	if cl.Code != 9 || string(cl.Data) != "one" {
		t.Fatalf("server saw %d %q", cl.Code, cl.Data)
	}
}

func TestServerCloseAndPollMode(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "*", srec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvPostDatagram {
			_ = ev.Sess.Close(31337, "server says bye")
		}
		return 0
	}))
	cfg := testConfig()
	cfg.DispatchMode = DispatchPoll
	cli := newClient(t, cfg)
	rec := newRecorder()
	s := connect(t, cli, port, "/x", rec, ConnectOptions{})
	fd, err := cli.PollFD()
	if err != nil || fd < 0 {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	sent := false
	for time.Now().Before(deadline) {
		if _, err := cli.ProcessEvents(0); err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		var closeEv *Event
		accepted := false
		for i := range rec.evs {
			switch rec.evs[i].Type {
			case EvConnectAccepted:
				accepted = true
			case EvClose:
				closeEv = &rec.evs[i]
			}
		}
		rec.mu.Unlock()
		if accepted && !sent {
			if err := s.SendDatagram([]byte("close me")); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
		if closeEv != nil {
			if closeEv.Code != 31337 || string(closeEv.Data) != "server says bye" || closeEv.Flags&FlagCloseRemote == 0 {
				t.Fatalf("client saw close %d %q %x", closeEv.Code, closeEv.Data, closeEv.Flags)
			}
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("no CLOSE in poll mode")
}

func TestPlainHTTP3Files(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello over h3"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.WWWDir = dir
	_, port := newServer(t, cfg, "/wt", newRecorder().cb(nil))
	tr := &http3.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	rsp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/hello.txt", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || string(body) != "hello over h3" {
		t.Fatalf("GET: %d %q", rsp.StatusCode, body)
	}
	rsp, err = client.Get(fmt.Sprintf("https://127.0.0.1:%d/missing.txt", port))
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != 404 {
		t.Fatalf("missing file: %d", rsp.StatusCode)
	}
}

func TestConcurrentConnectsShare(t *testing.T) {
	_, port := newServer(t, testConfig(), "*", newRecorder().cb(nil))
	cli := newClient(t, testConfig())
	var sess []*Session
	var recs []*recorder
	for i := 0; i < 10; i++ { // back to back, before any is accepted
		rec := newRecorder()
		sess = append(sess, connect(t, cli, port, "/x", rec, ConnectOptions{}))
		recs = append(recs, rec)
	}
	ids := map[uint64]bool{}
	for i, rec := range recs {
		rec.wait(t, EvConnectAccepted)
		if sess[i].conn != sess[0].conn {
			t.Fatalf("session %d has its own connection", i)
		}
		ids[sess[i].WireID()] = true
	}
	if len(ids) != 10 {
		t.Fatalf("session IDs %v", ids)
	}
}

// TestCloseWhileConnectingReleasesConnection: a client session closed while
// it is still connecting lets go of its QUIC connection (before, the
// connection stayed until the idle timeout, forever with keep-alive).
func TestCloseWhileConnectingReleasesConnection(t *testing.T) {
	_, port := newServer(t, testConfig(), "/x", newRecorder().cb(nil))
	ccfg := testConfig()
	ccfg.KeepAlive = 100 * time.Millisecond
	cli := newClient(t, ccfg)
	for i := 0; i < 300; i++ {
		rec := newRecorder()
		s := connect(t, cli, port, "/x", rec, ConnectOptions{})
		time.Sleep(time.Duration(i%60) * 50 * time.Microsecond)
		_ = s.Close(0, "")
		rec.wait(t, EvDeregister)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cli.mu.Lock()
		n := len(cli.conns)
		cli.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d client connections still open after their sessions closed", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProcessEventsAfterDestroy: a POLL-mode thread that calls
// ProcessEvents after Destroy gets ErrClosed and delivers nothing (the C
// bridge has freed its batch memory by then).
func TestProcessEventsAfterDestroy(t *testing.T) {
	cfg := testConfig()
	cfg.DispatchMode = DispatchPoll
	c, err := NewContext(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProcessEvents(0); CodeOf(err) != ErrClosed {
		t.Fatalf("ProcessEvents after Destroy: %v, want ErrClosed", err)
	}
}

// TestUnnamedGoCallback: a func literal of GoCallback's shape, not
// converted to GoCallback, still gets its session's events (it got none:
// the deliverer's type assertion missed it).
func TestUnnamedGoCallback(t *testing.T) {
	_, port := newServer(t, testConfig(), "/plain", func(c *Context, ev *Event) int { return 0 })
	cli := newClient(t, testConfig())
	accepted := make(chan struct{}, 1)
	_, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/plain", port), ConnectOptions{}, func(c *Context, ev *Event) int {
		if ev.Type == EvConnectAccepted {
			accepted <- struct{}{}
		}
		return 0
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("a plain func callback got no CONNECT_ACCEPTED")
	}
}
