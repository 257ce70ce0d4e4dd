package core

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// recorder collects events of one side, in order.
type recorder struct {
	mu  sync.Mutex
	evs []Event
	ch  chan Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan Event, 100000)} }

func (r *recorder) cb(onEvent func(c *Context, ev *Event) int) GoCallback {
	return func(c *Context, ev *Event) int {
		cp := *ev
		cp.Data = append([]byte(nil), ev.Data...)
		r.mu.Lock()
		r.evs = append(r.evs, cp)
		r.mu.Unlock()
		res := 0
		if onEvent != nil {
			res = onEvent(c, ev)
		}
		r.ch <- cp
		return res
	}
}

// wait returns the next event of type t, failing after timeout.
func (r *recorder) wait(t *testing.T, typ EventType) Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r.ch:
			if ev.Type == typ {
				return ev
			}
		case <-deadline:
			r.mu.Lock()
			var seen []string
			for _, e := range r.evs {
				seen = append(seen, fmt.Sprintf("%v(code=%d,%q)", e.Type, e.Code, e.Data))
			}
			r.mu.Unlock()
			t.Fatalf("timed out waiting for %v; saw %v", typ, seen)
		}
	}
}

// find waits until some recorded event (in any order) has type typ.
func (r *recorder) find(t *testing.T, typ EventType) Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, e := range r.evs {
			if e.Type == typ {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	for _, e := range r.evs {
		t.Logf("seen: %v stream %d code %d flags %x", e.Type, e.StreamID, e.Code, e.Flags)
	}
	r.mu.Unlock()
	t.Fatalf("no %v event", typ)
	return Event{}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Insecure = true
	return cfg
}

func newServer(t *testing.T, cfg Config, path string, cb GoCallback) (*Context, int) {
	t.Helper()
	srv, err := NewContext(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(path, cb, 0, PathOptions{}); err != nil {
		t.Fatal(err)
	}
	port, err := srv.Listen("127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Destroy() })
	return srv, port
}

// echoServer echoes bidi streams (push API) and datagrams.
func echoServer(rec *recorder) GoCallback {
	var mu sync.Mutex
	pending := map[uint64][]byte{}
	return rec.cb(func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvPostData, EvPostFin:
			if ev.Stream == nil || !ev.Stream.Bidi {
				return 0
			}
			mu.Lock()
			pending[ev.StreamID] = append(pending[ev.StreamID], ev.Data...)
			data := pending[ev.StreamID]
			mu.Unlock()
			if ev.Type == EvPostFin {
				if err := ev.Stream.Send(data, true); err != nil {
					panic(err)
				}
			}
		case EvPostDatagram:
			_ = ev.Sess.SendDatagram(ev.Data)
		}
		return 0
	})
}

func TestEchoAndClose(t *testing.T) {
	srec := newRecorder()
	srv, port := newServer(t, testConfig(), "/echo", echoServer(srec))
	_ = srv
	cli, err := NewContext(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Destroy()
	crec := newRecorder()
	var got bytes.Buffer
	sess, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/echo?x=1", port), ConnectOptions{}, crec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvPostData || ev.Type == EvPostFin {
			got.Write(ev.Data)
		}
		return 0
	}), 7)
	if err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvConnecting)
	acc := crec.wait(t, EvConnectAccepted)
	if acc.Sess.WireID() != 0 {
		t.Fatalf("client session ID = %d, want 0 (first CONNECT stream)", acc.Sess.WireID())
	}
	conn := srec.wait(t, EvConnect)
	if conn.Request.Path != "/echo" || conn.Request.Query != "x=1" {
		t.Fatalf("request %+v", conn.Request)
	}
	if conn.Sess.WireID() != 0 {
		t.Fatalf("server session ID = %d", conn.Sess.WireID())
	}
	st, err := sess.OpenStream(true, 0)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("gowt"), 100000)
	if err := st.Send(payload, true); err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvPostFin)
	if !bytes.Equal(got.Bytes(), payload) {
		t.Fatalf("echo mismatch: %d bytes vs %d", got.Len(), len(payload))
	}
	if err := sess.SendDatagram([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	dg := crec.wait(t, EvPostDatagram)
	if string(dg.Data) != "ping" {
		t.Fatalf("datagram %q", dg.Data)
	}
	if err := sess.Close(4242, "bye now"); err != nil {
		t.Fatal(err)
	}
	cl := srec.wait(t, EvClose)
	if cl.Code != 4242 || string(cl.Data) != "bye now" || cl.Flags&FlagCloseRemote == 0 {
		t.Fatalf("server saw close %d %q flags %x", cl.Code, cl.Data, cl.Flags)
	}
	srec.wait(t, EvDeregister)
	lc := crec.wait(t, EvClose)
	if lc.Flags&FlagCloseLocal == 0 {
		t.Fatalf("client close flags %x", lc.Flags)
	}
	crec.wait(t, EvDeregister)
	if err := sess.Close(1, ""); CodeOf(err) != ErrClosed {
		t.Fatalf("double close: %v", err)
	}
}
