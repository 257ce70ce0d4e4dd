package core

import (
	"fmt"
	"testing"

	"github.com/quic-go/quic-go"
)

// TestRawCodeFlag: codes that came as application codes (mapped into
// WebTransport's range) carry no flag; codes a peer sent raw (as picoquic
// does), and the HTTP/3 or QUIC code that ended a session, carry
// FlagCodeRaw. The server below plays such a peer through quic-go directly.
func TestRawCodeFlag(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "/raw", srec.cb(func(c *Context, ev *Event) int {
		if ev.Type != EvPostData || ev.Stream == nil {
			return 0
		}
		switch string(ev.Data) {
		case "mapped":
			_ = ev.Stream.Reset(5)
			_ = ev.Stream.StopSending(6)
		case "raw":
			ev.Stream.writer().CancelWrite(quic.StreamErrorCode(7))
			ev.Stream.reader().CancelRead(quic.StreamErrorCode(8))
		case "close":
			ev.Sess.conn.qc.CloseWithError(0x123, "raw close")
		}
		return 0
	}))
	cli, err := NewContext(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Destroy()
	crec := newRecorder()
	sess, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/raw", port), ConnectOptions{}, crec.cb(nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvConnectAccepted)
	for _, c := range []struct {
		what        string
		reset, stop uint64
		flags       int
	}{{"mapped", 5, 6, 0}, {"raw", 7, 8, FlagCodeRaw}} {
		st, err := sess.OpenStream(true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send([]byte(c.what), false); err != nil {
			t.Fatal(err)
		}
		crec.wait(t, EvFree) // after both (in either order)
		var r, s Event
		crec.mu.Lock()
		for _, e := range crec.evs {
			if e.StreamID == st.ID && e.Type == EvReset {
				r = e
			}
			if e.StreamID == st.ID && e.Type == EvStopSending {
				s = e
			}
		}
		crec.mu.Unlock()
		if r.Code != c.reset || r.Flags&FlagCodeRaw != c.flags || s.Code != c.stop || s.Flags&FlagCodeRaw != c.flags {
			t.Fatalf("%s: RESET code %d flags %#x, STOP_SENDING code %d flags %#x; want %d, %d, raw flag %#x",
				c.what, r.Code, r.Flags, s.Code, s.Flags, c.reset, c.stop, c.flags)
		}
	}
	st, err := sess.OpenStream(true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send([]byte("close"), false); err != nil {
		t.Fatal(err)
	}
	cl := crec.wait(t, EvClose)
	if cl.Flags&FlagCloseError == 0 || cl.Flags&FlagCodeRaw == 0 || cl.Code != 0x123 {
		t.Fatalf("CLOSE after the peer closed the connection: code %#x flags %#x %q", cl.Code, cl.Flags, cl.Data)
	}
}
