package core

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// After DEREGISTER a session handle is unknown (gowt.h), already inside the
// DEREGISTER callback and for any thread told of it from there; the events
// before DEREGISTER (CLOSE) still find the session.
func TestHandleUnknownFromDeregister(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "/echo", echoServer(srec))
	cli, err := NewContext(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Destroy()
	for round := 0; round < 20; round++ {
		var inClose, inDereg atomic.Int32
		other := make(chan error, 1)
		crec := newRecorder()
		sess, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/echo", port), ConnectOptions{},
			crec.cb(func(c *Context, ev *Event) int {
				switch ev.Type {
				case EvClose:
					if _, err := c.Session(ev.Sess.Handle); err != nil {
						inClose.Store(1)
					}
				case EvDeregister:
					if _, err := c.Session(ev.Sess.Handle); CodeOf(err) != ErrNotFound {
						inDereg.Store(1)
					}
					h := ev.Sess.Handle
					go func() { _, err := c.Session(h); other <- err }()
				}
				return 0
			}), 0)
		if err != nil {
			t.Fatal(err)
		}
		crec.wait(t, EvConnectAccepted)
		if err := sess.Close(0, ""); err != nil {
			t.Fatal(err)
		}
		crec.wait(t, EvDeregister)
		if err := <-other; CodeOf(err) != ErrNotFound {
			t.Fatalf("round %d: another goroutine found the session after DEREGISTER: %v", round, err)
		}
		if inDereg.Load() != 0 {
			t.Fatalf("round %d: session still known inside its DEREGISTER callback", round)
		}
		if inClose.Load() != 0 {
			t.Fatalf("round %d: session unknown inside its CLOSE callback", round)
		}
	}
}
