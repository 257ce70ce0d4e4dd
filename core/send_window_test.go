package core

// Regression tests of the send path's windows between its modes: the direct
// path, the sender's sections, pull answers and flow control waits.

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A local stream whose header is out and which is finished by a small
// direct Send(fin) lets its sender goroutine end (it once stayed parked
// until the session ended: a goroutine per finished stream).
func TestSenderExitsAfterDirectFin(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "*", srec.cb(nil))
	cli := newClient(t, testConfig())
	sess, l := connectRefLog(t, cli, port, "/x")
	time.Sleep(100 * time.Millisecond)
	g0 := runtime.NumGoroutine()
	const n = 200
	var sts []*Stream
	for i := 0; i < n; i++ {
		st, err := sess.OpenStream(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		// wait for the header to be written by the sender
		for {
			st.mu.Lock()
			h := st.hdr
			st.mu.Unlock()
			if h == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := st.Send([]byte("hello"), true); err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		nf := len(l.freed)
		l.mu.Unlock()
		if nf == n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	running := 0
	for _, st := range sts {
		st.mu.Lock()
		if st.senderRunning {
			running++
		}
		st.mu.Unlock()
	}
	g1 := runtime.NumGoroutine()
	sess.mu.Lock()
	live := len(sess.streams)
	sess.mu.Unlock()
	t.Logf("streams freed; session map %d, senders still running %d, goroutines %d -> %d", live, running, g0, g1)
	if running > 0 {
		t.Fatalf("%d of %d freed streams still have a parked sender goroutine (goroutines %d -> %d)", running, n, g0, g1)
	}
}

// A Reset while the stream's first data waits for the peer's flow control
// goes out at once (SEND_COMPLETE and FREE follow): the header is written in
// a section of its own, so the reset that waits for it does not also wait
// for the data behind it (it once waited as long as the peer did not read).
func TestResetNotDeferredBehindBlockedData(t *testing.T) {
	scfg := testConfig()
	scfg.StreamRecvWindow, scfg.MaxStreamRecvWindow = 64<<10, 64<<10
	scfg.RecvBufferBytes = 64 << 10
	srec := newRecorder()
	_, port := newServer(t, scfg, "/stall", srec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvStreamOpened {
			_ = ev.Stream.SetReceiveEnabled(false)
		}
		return 0
	}))
	cli := newClient(t, testConfig())
	sess, l := connectRefLog(t, cli, port, "/stall")
	buf := make([]byte, 768<<10)
	const n = 8
	var sts []*Stream
	for i := 0; i < n; i++ {
		// Data queued at once, before the sender has written the header.
		st, err := sess.OpenStream(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SendRef(buf, false, &SendRef{Len: len(buf), Ctx: uintptr(i + 1)}); err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	time.Sleep(300 * time.Millisecond) // all of them blocked on QUIC flow control
	for _, st := range sts {
		if err := st.Reset(7); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	bad := n
	for time.Now().Before(deadline) && bad > 0 {
		time.Sleep(20 * time.Millisecond)
		bad = 0
		l.mu.Lock()
		for i, st := range sts {
			if l.completes[uintptr(i+1)] != 1 || !l.freed[st.ID] {
				bad++
			}
		}
		l.mu.Unlock()
	}
	if bad > 0 {
		t.Fatalf("2 s after Reset, %d of %d streams (peer not reading) still lack SEND_COMPLETE or FREE", bad, n)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A final write with some WebTransport credit left, but less than its tail,
// waits without burning CPU (it once spun: fcWait returned at once because
// maxData > sent, and taking credit for the whole tail kept failing).
func TestFinalWriteWaitsWithoutSpinning(t *testing.T) {
	scfg := testConfig()
	scfg.MaxIncomingData = 64 << 10
	release := make(chan struct{})
	var paused atomic.Bool
	_, port := newServer(t, scfg, "/fc", func(c *Context, ev *Event) int {
		if ev.Type == EvPostData && paused.CompareAndSwap(false, true) {
			<-release // no credit comes back meanwhile
		}
		return 0
	})
	defer close(release)
	cli := newClient(t, testConfig())
	crec := newRecorder()
	sess := connect(t, cli, port, "/fc", crec, ConnectOptions{})
	crec.wait(t, EvConnectAccepted)
	if sess.fc == nil {
		t.Fatal("no flow control")
	}
	a, err := sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send(bytes.Repeat([]byte{1}, 64<<10-500), false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sess.fc.available() != 500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if av := sess.fc.available(); av != 500 {
		t.Fatalf("credit left %d, want 500", av)
	}
	time.Sleep(200 * time.Millisecond)
	c0 := cpuTime()
	time.Sleep(time.Second)
	idle := cpuTime() - c0

	b, err := sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Send(bytes.Repeat([]byte{2}, 1000), true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	c1 := cpuTime()
	time.Sleep(time.Second)
	busy := cpuTime() - c1
	t.Logf("CPU in 1 s: idle %v, with the stream waiting for credit %v (credit left %d)", idle, busy, sess.fc.available())
	if busy > 500*time.Millisecond {
		t.Fatalf("a stream waiting for WebTransport credit burns %v CPU per second", busy)
	}
}

// A push Send right after the last pull answer (still_active=0) goes out
// after that answer: it once went straight into quic-go ahead of it (and
// with fin, closed the stream under the answer's pending write).
func TestPullThenPushKeepsOrder(t *testing.T)      { pullThenPush(t, false) }
func TestPullThenPushKeepsOrderNoFin(t *testing.T) { pullThenPush(t, true) }

func pullThenPush(t *testing.T, reorderOnly bool) {
	var mu sync.Mutex
	got := map[uint64][]byte{}
	fins := make(chan uint64, 1000)
	_, port := newServer(t, testConfig(), "/pull", func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvPostData, EvPostFin:
			mu.Lock()
			got[ev.StreamID] = append(got[ev.StreamID], ev.Data...)
			mu.Unlock()
			if ev.Type == EvPostFin {
				fins <- ev.StreamID
			}
		}
		return 0
	})
	cli := newClient(t, testConfig())
	crec := newRecorder()
	want := append(bytes.Repeat([]byte("A"), 100), 'B')
	sess, err := cli.Connect("https://127.0.0.1:"+itoa(port)+"/pull", ConnectOptions{}, crec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvProvideData {
			buf, _ := ev.Provide.Answer(100, false, false)
			copy(buf, want[:100])
		}
		return 0
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvConnectAccepted)
	const n = 400
	bad, sendErrs := 0, 0
	for i := 0; i < n; i++ {
		st, err := sess.OpenStream(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		for { // header out first
			st.mu.Lock()
			h := st.hdr
			st.mu.Unlock()
			if h == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := st.MarkActive(true); err != nil {
			t.Fatal(err)
		}
		// Another thread switches to push as soon as pull mode ends.
		for {
			err := st.Send([]byte("B"), !reorderOnly)
			if err == nil {
				if reorderOnly {
					time.Sleep(5 * time.Millisecond)
					for st.Send(nil, true) != nil {
						time.Sleep(time.Millisecond)
					}
				}
				break
			}
			if CodeOf(err) != ErrState {
				sendErrs++
				t.Logf("stream %d: Send: %v", st.ID, err)
				break
			}
		}
		select {
		case id := <-fins:
			mu.Lock()
			d := got[id]
			mu.Unlock()
			if !bytes.Equal(d, want) {
				bad++
				t.Logf("stream %d received %q", id, d)
			}
		case <-time.After(3 * time.Second):
			bad++
			t.Logf("stream %d: no FIN", st.ID)
		}
	}
	if bad > 0 || sendErrs > 0 {
		t.Fatalf("%d of %d streams received reordered/lost data, %d Send errors", bad, n, sendErrs)
	}
}

// After a PROVIDE_DATA answer with fin=1, push sends are refused with
// ErrClosed: they were once accepted until the FIN was written, and a
// SendRef taken then was freed with the stream without its SEND_COMPLETE.
func TestSendAfterPullFinRefused(t *testing.T) {
	_, port := newServer(t, testConfig(), "/pull", func(c *Context, ev *Event) int { return 0 })
	cli := newClient(t, testConfig())
	l := newRefLog()
	acc := make(chan *Session, 1)
	inner := l.cb(acc)
	if _, err := cli.Connect("https://127.0.0.1:"+itoa(port)+"/pull", ConnectOptions{}, func(c *Context, ev *Event) int {
		if ev.Type == EvProvideData {
			buf, _ := ev.Provide.Answer(100, true, false)
			for i := range buf {
				buf[i] = 'A'
			}
		}
		return inner(c, ev)
	}, 0); err != nil {
		t.Fatal(err)
	}
	sess := <-acc
	buf := make([]byte, 4096)
	accepted := map[uint64]uintptr{}
	ctx := uintptr(0)
	var sts []*Stream
	for i := 0; i < 100; i++ {
		st, err := sess.OpenStream(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
		if err := st.MarkActive(true); err != nil {
			t.Fatal(err)
		}
		for {
			ctx++
			err := st.SendRef(buf, false, &SendRef{Len: len(buf), Ctx: ctx})
			if err == nil {
				accepted[st.ID] = ctx
				break
			}
			if CodeOf(err) != ErrState {
				break // ErrClosed: the FIN is out, as it should be
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	missing := 0
	for id, c := range accepted {
		if l.completes[c] != 1 {
			missing++
			t.Logf("stream %d: SendRef accepted after the pull FIN; SEND_COMPLETE count %d, FREE seen %v", id, l.completes[c], l.freed[id])
		}
	}
	t.Logf("%d of %d SendRefs accepted after a pull answer with fin=1", len(accepted), len(sts))
	if len(accepted) > 0 {
		t.Errorf("%d sends accepted after a pull answer with fin=1", len(accepted))
	}
	if missing > 0 || len(l.late) > 0 {
		t.Fatalf("%d accepted SendRefs never got SEND_COMPLETE; late: %v", missing, l.late)
	}
}
