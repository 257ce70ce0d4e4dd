package core

import (
	"testing"
	"time"
)

// TestPeerStreamsBoundedByWhatTheApplicationHolds: QUIC credit for a peer's
// stream comes back once the application has let go of it (FREE
// delivered), so a peer that opens and finishes streams as fast as it can
// into an application that has stopped has at most the configured number
// of streams (plus the allowance for HTTP/3's own) alive in the library.
// Before, credit came back when quic-go completed each stream, and the
// peer could open them without end while their events piled up.
func TestPeerStreamsBoundedByWhatTheApplicationHolds(t *testing.T) {
	cfg := testConfig()
	cfg.MaxIncomingUni = 10
	cfg.MaxIncomingData = 0 // QUIC's stream limit only
	release := make(chan struct{})
	var stalled bool
	_, port := newServer(t, cfg, "/credit", func(c *Context, ev *Event) int {
		if ev.Type == EvStreamOpened && !stalled {
			stalled = true
			<-release // the application is stuck: events queue up
		}
		return 0
	})
	defer close(release)
	cli := newClient(t, testConfig())
	rec := newRecorder()
	sess := connect(t, cli, port, "/credit", rec, ConnectOptions{})
	rec.wait(t, EvConnectAccepted)
	opened := 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		st, err := sess.OpenStream(false, 0)
		if CodeOf(err) == ErrLimit {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send([]byte("x"), true); err != nil {
			t.Fatal(err)
		}
		opened++
	}
	limit := int(cfg.MaxIncomingUni) + 16 // quicConfig's allowance
	t.Logf("%d streams opened in 2 s into a stalled application (limit %d)", opened, limit)
	if opened > limit {
		t.Fatalf("the peer opened %d streams while the application held them all; at most %d may be alive", opened, limit)
	}
	if opened < int(cfg.MaxIncomingUni) {
		t.Fatalf("only %d streams opened, want at least %d", opened, cfg.MaxIncomingUni)
	}
}
