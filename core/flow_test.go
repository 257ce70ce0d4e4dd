package core

import (
	"bytes"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hostileFlowClient connects to a server and then makes the client ignore
// the server's WebTransport limits, as a misbehaving peer would.
func hostileFlowClient(t *testing.T, port int, path string, ignore func(f *flowControl)) (*Session, *recorder) {
	cli := newClient(t, testConfig())
	rec := newRecorder()
	sess := connect(t, cli, port, path, rec, ConnectOptions{})
	rec.wait(t, EvConnectAccepted)
	if sess.fc == nil {
		t.Fatal("flow control not negotiated")
	}
	sess.fc.mu.Lock()
	ignore(sess.fc)
	sess.fc.mu.Unlock()
	return sess, rec
}

// TestFlowControlDataEnforced: a peer that sends more than WT_MAX_DATA
// allows has its session closed with WT_FLOW_CONTROL_ERROR (before, the
// limit was only advertised, so one session could fill a shared
// connection's window).
func TestFlowControlDataEnforced(t *testing.T) {
	scfg := testConfig()
	scfg.MaxIncomingData = 64 << 10
	release := make(chan struct{})
	var paused atomic.Bool
	srec := newRecorder()
	_, port := newServer(t, scfg, "/fc", srec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvPostData && paused.CompareAndSwap(false, true) {
			<-release // the application takes its time: no credit comes back
		}
		return 0
	}))
	sess, crec := hostileFlowClient(t, port, "/fc", func(f *flowControl) { f.maxData = 1 << 40 })
	st, err := sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(bytes.Repeat([]byte{7}, 512<<10), true); err != nil {
		t.Fatal(err)
	}
	cl := crec.wait(t, EvClose)
	close(release)
	if cl.Flags&FlagCloseError == 0 {
		t.Fatalf("client close flags %x (%q), want an error close", cl.Flags, cl.Data)
	}
	scl := srec.wait(t, EvClose)
	if scl.Flags&FlagCloseError == 0 || !strings.Contains(string(scl.Data), "WT_MAX_DATA") {
		t.Fatalf("server close %x %q", scl.Flags, scl.Data)
	}
}

// TestFlowControlStreamsEnforced: a peer that opens more streams than
// WT_MAX_STREAMS allows has its session closed with WT_FLOW_CONTROL_ERROR.
func TestFlowControlStreamsEnforced(t *testing.T) {
	scfg := testConfig()
	scfg.MaxIncomingUni = 5
	srec := newRecorder()
	_, port := newServer(t, scfg, "/fc", srec.cb(nil))
	sess, crec := hostileFlowClient(t, port, "/fc", func(f *flowControl) { f.maxUni = 1000 })
	for i := 0; i < 10; i++ {
		st, err := sess.OpenStream(false, 0)
		if err != nil {
			break // the session may already be gone
		}
		_ = st.Send([]byte("open"), false) // stays open: no credit returns
	}
	scl := srec.wait(t, EvClose)
	if scl.Flags&FlagCloseError == 0 || !strings.Contains(string(scl.Data), "WT_MAX_STREAMS") {
		t.Fatalf("server close %x %q", scl.Flags, scl.Data)
	}
	if cl := crec.wait(t, EvClose); cl.Flags&FlagCloseError == 0 {
		t.Fatalf("client close flags %x", cl.Flags)
	}
}

// TestFlowControlWithinLimits: a peer that keeps to the limits moves far
// more than one window through a session (credit returns as the
// application takes data), and nothing is closed.
func TestFlowControlWithinLimits(t *testing.T) {
	scfg := testConfig()
	scfg.MaxIncomingData = 64 << 10
	scfg.MaxIncomingUni = 2
	var got atomic.Int64
	_, port := newServer(t, scfg, "/fc", func(c *Context, ev *Event) int {
		if ev.Type == EvPostData || ev.Type == EvPostFin {
			got.Add(int64(len(ev.Data)))
		}
		return 0
	})
	cli := newClient(t, testConfig())
	crec := newRecorder()
	sess := connect(t, cli, port, "/fc", crec, ConnectOptions{})
	crec.wait(t, EvConnectAccepted)
	const streams, size = 20, 200 << 10
	for i := 0; i < streams; i++ {
		var st *Stream
		var err error
		for {
			if st, err = sess.OpenStream(false, 0); CodeOf(err) != ErrLimit {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(bytes.Repeat([]byte{byte(i)}, size), true); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for got.Load() < streams*size && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got.Load() != streams*size {
		t.Fatalf("server got %d of %d bytes", got.Load(), streams*size)
	}
	crec.mu.Lock()
	defer crec.mu.Unlock()
	for _, e := range crec.evs {
		if e.Type == EvClose {
			t.Fatalf("session closed: %q", e.Data)
		}
	}
}

// TestPullEmptyAnswerDoesNotSpin: an application that answers PROVIDE_DATA
// with nothing but keeps the stream active is asked at most 10 times a
// second (before: about 32 000 events a second), and asked at once when it
// marks the stream active again.
func TestPullEmptyAnswerDoesNotSpin(t *testing.T) {
	pc := newPullClient(t, EvProvideData, func(ev *Event, ready bool) {
		if ready {
			buf, _ := ev.Provide.Answer(5, true, false)
			copy(buf, "hello")
		} else {
			_, _ = ev.Provide.Answer(0, false, true)
		}
	})
	st, err := pc.sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MarkActive(true); err != nil {
		t.Fatal(err)
	}
	pc.checkNoSpin(t)
	start := time.Now()
	if err := st.MarkActive(true); err != nil {
		t.Fatal(err)
	}
	fin := pc.srec.wait(t, EvPostFin)
	if string(fin.Data) != "hello" {
		t.Fatalf("server got %q", fin.Data)
	}
	if d := time.Since(start); d > 90*time.Millisecond {
		t.Logf("data after mark_active took %v", d)
	}
}

// pullClient is a client session whose callback counts PROVIDE events of
// one type and answers them with answer (ready is set by checkNoSpin).
type pullClient struct {
	typ   EventType
	srec  *recorder
	sess  *Session
	asked atomic.Int64
	ready atomic.Bool
}

func newPullClient(t *testing.T, typ EventType, answer func(ev *Event, ready bool)) *pullClient {
	pc := &pullClient{typ: typ, srec: newRecorder()}
	_, port := newServer(t, testConfig(), "/pull", pc.srec.cb(nil))
	cli := newClient(t, testConfig())
	crec := newRecorder()
	sess, err := cli.Connect("https://127.0.0.1:"+itoa(port)+"/pull", ConnectOptions{}, crec.cb(func(c *Context, ev *Event) int {
		if ev.Type == typ {
			pc.asked.Add(1)
			answer(ev, pc.ready.Load())
		}
		return 0
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvConnectAccepted)
	pc.sess = sess
	return pc
}

// checkNoSpin lets a second of empty answers pass, requires at most 10
// questions in it, then makes the answers carry data.
func (pc *pullClient) checkNoSpin(t *testing.T) {
	t.Helper()
	time.Sleep(time.Second)
	n := pc.asked.Load()
	t.Logf("%v events in 1 s of empty answers: %d", pc.typ, n)
	if n > 10 {
		t.Fatalf("%d %v events in one second of empty answers", n, pc.typ)
	}
	pc.ready.Store(true)
}

// TestReceivePausedStreamDoesNotStallOthers: pausing one stream's receive
// side stops only that stream; resuming it delivers everything.
func TestReceivePausedStreamDoesNotStallOthers(t *testing.T) {
	scfg := testConfig()
	scfg.StreamRecvWindow, scfg.MaxStreamRecvWindow = 64<<10, 64<<10
	// A stream is read from the moment it opens, before the callback
	// pauses it: the budget keeps that under the 1 MiB sent on it.
	scfg.RecvBufferBytes = 256 << 10
	var first atomic.Pointer[Stream]
	got := map[uint64]int{}
	fins := make(chan uint64, 4)
	_, port := newServer(t, scfg, "/pause", func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvStreamOpened:
			if first.CompareAndSwap(nil, ev.Stream) {
				time.Sleep(20 * time.Millisecond) // a loaded callback thread
				_ = ev.Stream.SetReceiveEnabled(false)
			}
		case EvPostData, EvPostFin:
			got[ev.StreamID] += len(ev.Data)
			if ev.Type == EvPostFin {
				fins <- ev.StreamID
			}
		}
		return 0
	})
	cli := newClient(t, testConfig())
	crec := newRecorder()
	sess := connect(t, cli, port, "/pause", crec, ConnectOptions{})
	crec.wait(t, EvConnectAccepted)
	payload := bytes.Repeat([]byte{1}, 1<<20)
	a, _ := sess.OpenStream(false, 0)
	if err := a.Send(payload, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	b, _ := sess.OpenStream(false, 0)
	if err := b.Send(payload, true); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-fins:
		if id != b.ID {
			t.Fatalf("stream %d finished first; the paused one is %d", id, a.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream that was not paused did not finish")
	}
	if err := first.Load().SetReceiveEnabled(true); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-fins:
		if id != a.ID {
			t.Fatalf("unexpected FIN on %d", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the resumed stream did not finish")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSessionsIsolatedOnSharedConnection: two sessions share one QUIC
// connection; the application stops reading session B while B's peer keeps
// sending on 50 streams. Session A keeps at least 40 % of the throughput it
// had alone: B's WebTransport window, not the connection's, holds B back.
func TestSessionsIsolatedOnSharedConnection(t *testing.T) {
	var gotA atomic.Int64
	var sessA atomic.Pointer[Session]
	_, port := newServer(t, testConfig(), "*", func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvConnect:
			if ev.Request.Path == "/a" {
				sessA.Store(ev.Sess)
			}
		case EvStreamOpened:
			if ev.Sess != sessA.Load() {
				_ = ev.Stream.SetReceiveEnabled(false) // B's application is stuck
			}
		case EvPostData, EvPostFin:
			if ev.Sess == sessA.Load() {
				gotA.Add(int64(len(ev.Data)))
			}
		}
		return 0
	})
	cli := newClient(t, testConfig())
	recA, recB := newRecorder(), newRecorder()
	a := connect(t, cli, port, "/a", recA, ConnectOptions{})
	recA.wait(t, EvConnectAccepted)
	b := connect(t, cli, port, "/b", recB, ConnectOptions{})
	recB.wait(t, EvConnectAccepted)
	if a.conn != b.conn || a.fc == nil {
		t.Fatal("the sessions do not share a connection with flow control")
	}
	chunk := bytes.Repeat([]byte{'a'}, 64<<10)
	stop := make(chan struct{})
	// pump keeps a stream's push buffer full until stop.
	pump := func(st *Stream) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := st.Send(chunk, false); err != nil {
				if CodeOf(err) != ErrWouldBlock {
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
	}
	rate := func(d time.Duration) float64 {
		start := gotA.Load()
		time.Sleep(d)
		return float64(gotA.Load()-start) / d.Seconds()
	}
	sa, err := a.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	go pump(sa)
	defer close(stop)
	time.Sleep(200 * time.Millisecond)
	alone := rate(time.Second)
	// B's streams get full push buffers once: their senders then hold
	// what flow control does not let through (retrying sends would only
	// measure CPU contention, which a loaded CI box has plenty of).
	for i := 0; i < 50; i++ {
		st, err := b.OpenStream(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		for st.Send(chunk, false) == nil {
		}
	}
	time.Sleep(500 * time.Millisecond) // B fills what it may
	shared := rate(time.Second)
	t.Logf("session A alone %.0f MB/s, beside a stalled session B %.0f MB/s (%.0f %%); B sent %d MB",
		alone/1e6, shared/1e6, 100*shared/alone, b.BytesSent.Load()>>20)
	if shared < 0.4*alone {
		if raceOn {
			// Throughput under the race detector on a loaded box measures
			// CPU, not flow control; scripts/test.sh runs this test in a
			// normal build too, where it must hold.
			t.Skipf("race detector: A at %.0f %% (checked in the normal build)", 100*shared/alone)
		}
		t.Fatalf("session A fell to %.0f %% of its throughput while B was stalled", 100*shared/alone)
	}
}

// TestPullEmptyDatagramDoesNotSpin: the same back-off for PROVIDE_DATAGRAM
// answered with nothing while the session stays datagram-ready.
func TestPullEmptyDatagramDoesNotSpin(t *testing.T) {
	pc := newPullClient(t, EvProvideDatagram, func(ev *Event, ready bool) {
		if ready {
			buf, _ := ev.Provide.Answer(4, false, false)
			copy(buf, "ping")
		} else {
			_, _ = ev.Provide.Answer(0, false, true)
		}
	})
	if err := pc.sess.SetDatagramReady(true); err != nil {
		t.Fatal(err)
	}
	pc.checkNoSpin(t)
	if err := pc.sess.SetDatagramReady(true); err != nil {
		t.Fatal(err)
	}
	if dg := pc.srec.wait(t, EvPostDatagram); string(dg.Data) != "ping" {
		t.Fatalf("server got %q", dg.Data)
	}
}
