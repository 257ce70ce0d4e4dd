package core

import (
	"testing"
	"time"
)

// TestStreamsBlockedOncePerLimit: an application that retries OpenStream at
// the peer's WebTransport stream limit sends WT_STREAMS_BLOCKED once per
// limit value, not once per call (before: a capsule and a goroutine per
// call, so a tight retry loop flooded the CONNECT stream and grew memory).
func TestStreamsBlockedOncePerLimit(t *testing.T) {
	scfg := testConfig()
	scfg.MaxIncomingUni = 2
	srec := newRecorder()
	_, port := newServer(t, scfg, "/sb", srec.cb(nil))
	cli := newClient(t, testConfig())
	crec := newRecorder()
	sess := connect(t, cli, port, "/sb", crec, ConnectOptions{})
	crec.wait(t, EvConnectAccepted)
	srvSess := srec.wait(t, EvConnect).Sess
	var open []*Stream
	for i := 0; i < 2; i++ {
		st, err := sess.OpenStream(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send([]byte("held"), false); err != nil {
			t.Fatal(err)
		}
		open = append(open, st)
	}
	const tries = 2000
	for i := 0; i < tries; i++ {
		if _, err := sess.OpenStream(false, 0); CodeOf(err) != ErrLimit {
			t.Fatalf("try %d: %v, want ErrLimit", i, err)
		}
	}
	// The server hears about it once.
	deadline := time.Now().Add(5 * time.Second)
	for srvSess.peerBlocked.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let any extra capsules arrive
	if n := srvSess.peerBlocked.Load(); n != 1 {
		t.Fatalf("server saw %d WT_STREAMS_BLOCKED for %d blocked opens, want 1", n, tries)
	}
	// A new limit that is reached again is reported again: finishing the
	// held streams lets the server raise its limit.
	for _, st := range open {
		if err := st.Send(nil, true); err != nil {
			t.Fatal(err)
		}
	}
	// Each ended stream raises the server's limit (2 -> 3 -> 4): wait for
	// both, so that the limit reached below is the last one.
	maxUni := func() uint64 {
		sess.fc.mu.Lock()
		defer sess.fc.mu.Unlock()
		return sess.fc.maxUni
	}
	for deadline = time.Now().Add(5 * time.Second); maxUni() < 4 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	if m := maxUni(); m != 4 {
		t.Fatalf("the server's uni limit is %d after the held streams ended, want 4", m)
	}
	var err error
	for {
		if _, err = sess.OpenStream(false, 0); CodeOf(err) == ErrLimit {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < tries; i++ {
		_, _ = sess.OpenStream(false, 0)
	}
	deadline = time.Now().Add(5 * time.Second)
	for srvSess.peerBlocked.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := srvSess.peerBlocked.Load(); n != 2 {
		t.Fatalf("server saw %d WT_STREAMS_BLOCKED after a second limit, want 2", n)
	}
}
