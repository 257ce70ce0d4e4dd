package core

import "testing"

// A stream reset right after it was opened must still reach the peer with
// its code: the header is written at open and kept deliverable by
// RESET_STREAM_AT's reliable size.
func TestResetRightAfterOpen(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "*", srec.cb(nil))
	cli := newClient(t, testConfig())
	rec := newRecorder()
	s := connect(t, cli, port, "/x", rec, ConnectOptions{})
	rec.wait(t, EvConnectAccepted)
	for _, bidi := range []bool{false, true} {
		st, err := s.OpenStream(bidi, 0)
		if err != nil {
			t.Fatal(err)
		}
		if bidi {
			_ = st.Send([]byte("abc"), false)
		}
		if err := st.Reset(7); err != nil {
			t.Fatal(err)
		}
		for {
			ev := srec.wait(t, EvReset)
			if ev.StreamID == st.ID {
				if ev.Code != 7 {
					t.Fatalf("bidi=%v: reset code %d", bidi, ev.Code)
				}
				break
			}
		}
	}
}
