package core

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
	"time"
)

// refLog records, per client stream, the SEND_COMPLETE events and whether
// any came after the stream's FREE or the session's DEREGISTER.
type refLog struct {
	mu        sync.Mutex
	completes map[uintptr]int // ref Ctx -> SEND_COMPLETE count
	canceled  map[uintptr]bool
	freed     map[uint64]bool
	late      []string
	dereg     chan struct{}
	writable  chan struct{}
}

func newRefLog() *refLog {
	return &refLog{completes: map[uintptr]int{}, canceled: map[uintptr]bool{}, freed: map[uint64]bool{},
		dereg: make(chan struct{}), writable: make(chan struct{}, 1)}
}

func (l *refLog) cb(accepted chan<- *Session) GoCallback {
	var deregistered bool
	return func(c *Context, ev *Event) int {
		l.mu.Lock()
		defer l.mu.Unlock()
		if deregistered {
			l.late = append(l.late, ev.Type.String()+" after DEREGISTER")
		}
		switch ev.Type {
		case EvConnectAccepted:
			accepted <- ev.Sess
		case EvSendComplete:
			if l.freed[ev.StreamID] {
				l.late = append(l.late, "SEND_COMPLETE after FREE")
			}
			l.completes[ev.Ref.Ctx]++
			if ev.Flags&FlagSendCanceled != 0 {
				l.canceled[ev.Ref.Ctx] = true
			}
		case EvFree:
			l.freed[ev.StreamID] = true
		case EvStreamWritable:
			select {
			case l.writable <- struct{}{}:
			default:
			}
		case EvDeregister:
			deregistered = true
			close(l.dereg)
		}
		return 0
	}
}

// check: every ref in 1..n completed exactly once, nothing after FREE or
// DEREGISTER; returns how many were canceled.
// connectRefLog opens a session from cli to the server on port at path,
// its events in a new refLog, and returns it once accepted.
func connectRefLog(t *testing.T, cli *Context, port int, path string) (*Session, *refLog) {
	t.Helper()
	l := newRefLog()
	acc := make(chan *Session, 1)
	if _, err := cli.Connect("https://127.0.0.1:"+itoa(port)+path, ConnectOptions{}, l.cb(acc), 0); err != nil {
		t.Fatal(err)
	}
	return <-acc, l
}

func (l *refLog) check(t *testing.T, n int) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 1; i <= n; i++ {
		if c := l.completes[uintptr(i)]; c != 1 {
			t.Errorf("ref %d: %d SEND_COMPLETE events", i, c)
		}
	}
	if len(l.completes) != n {
		t.Errorf("%d refs completed, %d sent", len(l.completes), n)
	}
	if len(l.late) > 0 {
		t.Errorf("events out of order: %v", l.late)
	}
	return len(l.canceled)
}

// sendRefs queues n refs of buf, waiting on STREAM_WRITABLE when the
// buffer is full; the last carries FIN if fin.
func sendRefs(t *testing.T, st *Stream, l *refLog, buf []byte, n int, fin bool) {
	t.Helper()
	for i := 1; i <= n; i++ {
		for {
			err := st.SendRef(buf, fin && i == n, &SendRef{Ptr: 0x1000, Len: len(buf), Ctx: uintptr(i)})
			if err == nil {
				break
			}
			if CodeOf(err) != ErrWouldBlock {
				t.Fatalf("SendRef %d: %v", i, err)
			}
			select {
			case <-l.writable:
			case <-time.After(10 * time.Second):
				t.Fatal("no STREAM_WRITABLE")
			}
		}
	}
}

// TestSendRefDelivers: 32 MiB sent from one application buffer without
// copies arrive intact, and each send gets exactly one SEND_COMPLETE,
// none canceled, all before the stream's FREE.
func TestSendRefDelivers(t *testing.T) {
	h := sha256.New()
	got := 0
	done := make(chan struct{})
	_, port := newServer(t, testConfig(), "/ref", func(c *Context, ev *Event) int {
		if ev.Type == EvPostData || ev.Type == EvPostFin {
			h.Write(ev.Data)
			got += len(ev.Data)
			if ev.Type == EvPostFin {
				close(done)
			}
		}
		return 0
	})
	cli := newClient(t, testConfig())
	sess, l := connectRefLog(t, cli, port, "/ref")
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	st, err := sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 512
	want := sha256.New()
	for i := 0; i < n; i++ {
		want.Write(buf)
	}
	sendRefs(t, st, l, buf, n, true)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("received %d of %d bytes", got, n*len(buf))
	}
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatal("data differs")
	}
	time.Sleep(100 * time.Millisecond)
	if c := l.check(t, n); c != 0 {
		t.Fatalf("%d refs canceled", c)
	}
	if s := st.sess.ctx.refWriters.Load(); s != 0 {
		t.Fatalf("refWriters %d after the stream finished", s)
	}
}

// stalledRefs opens a stream to a server that never reads it and queues
// refs until the send buffer is full: one is being written (blocked on
// flow control), the rest queued.
func stalledRefs(t *testing.T) (*Session, *Stream, *refLog, int, *Context) {
	t.Helper()
	scfg := testConfig()
	scfg.StreamRecvWindow, scfg.MaxStreamRecvWindow = 64<<10, 64<<10
	// Read before the callback pauses it: at most this budget, one more
	// read and the window (192 KiB), under the 512 KiB the client queues.
	scfg.RecvBufferBytes = 64 << 10
	_, port := newServer(t, scfg, "/stall", func(c *Context, ev *Event) int {
		if ev.Type == EvStreamOpened {
			time.Sleep(20 * time.Millisecond) // a loaded callback thread
			_ = ev.Stream.SetReceiveEnabled(false)
		}
		return 0
	})
	cfg := testConfig()
	cfg.StreamSendBuffer = 512 << 10
	cli, err := NewContext(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, l := connectRefLog(t, cli, port, "/stall")
	st, err := sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16<<10)
	n := 0
	for {
		err := st.SendRef(buf, false, &SendRef{Ptr: 0x1000, Len: len(buf), Ctx: uintptr(n + 1)})
		if err != nil {
			if CodeOf(err) != ErrWouldBlock {
				t.Fatal(err)
			}
			break
		}
		n++
	}
	// Let the sender block in quic-go on the 64 KiB stream window: one
	// write in flight, and the bytes sent no longer moving.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b := sess.BytesSent.Load()
		time.Sleep(50 * time.Millisecond)
		if cli.refWriters.Load() == 1 && sess.BytesSent.Load() == b {
			break
		}
	}
	if cli.refWriters.Load() != 1 {
		t.Fatalf("%d senders writing a ref; want 1 blocked", cli.refWriters.Load())
	}
	return sess, st, l, n, cli
}

// TestSendRefResetReleasesAll: a reset while a ref is blocked in quic-go
// and others are queued releases every one (canceled), each once, before
// FREE; nothing is left being read.
func TestSendRefResetReleasesAll(t *testing.T) {
	_, st, l, n, cli := stalledRefs(t)
	defer cli.Destroy()
	l.mu.Lock()
	before := len(l.completes)
	l.mu.Unlock()
	if err := st.Reset(7); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		freed := l.freed[st.ID]
		l.mu.Unlock()
		if freed || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c := l.check(t, n); c != n-before {
		t.Fatalf("%d of %d refs canceled; %d had completed before the reset", c, n, before)
	}
	if w := cli.refWriters.Load(); w != 0 {
		t.Fatalf("refWriters %d after the reset", w)
	}
	t.Logf("%d refs: %d completed before the reset, %d canceled", n, before, n-before)
}

// TestSendRefSessionCloseReleasesBeforeFree: closing the session while a
// ref is blocked releases every ref before the stream's FREE and
// DEREGISTER comes last.
func TestSendRefSessionCloseReleasesBeforeFree(t *testing.T) {
	sess, _, l, n, cli := stalledRefs(t)
	defer cli.Destroy()
	if err := sess.Close(0, "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.dereg:
	case <-time.After(10 * time.Second):
		t.Fatal("no DEREGISTER")
	}
	l.check(t, n)
	if w := cli.refWriters.Load(); w != 0 {
		t.Fatalf("refWriters %d after DEREGISTER", w)
	}
}

// TestSendRefDestroyStopsReading: Destroy with a ref blocked in quic-go
// returns only once nothing reads the application's buffers.
func TestSendRefDestroyStopsReading(t *testing.T) {
	_, _, _, _, cli := stalledRefs(t)
	if err := cli.Destroy(); err != nil {
		t.Fatal(err)
	}
	if w := cli.refWriters.Load(); w != 0 {
		t.Fatalf("Destroy returned with %d writes of application buffers in flight", w)
	}
}

// TestSendRefConnectionLossCancels: the QUIC connection dies while a ref
// is blocked in quic-go: the write fails, and every ref not yet handed
// over is released as canceled, once, before FREE and DEREGISTER.
func TestSendRefConnectionLossCancels(t *testing.T) {
	sess, _, l, n, cli := stalledRefs(t)
	defer cli.Destroy()
	l.mu.Lock()
	before := len(l.completes)
	l.mu.Unlock()
	sess.conn.qc.CloseWithError(0x77, "gone")
	select {
	case <-l.dereg:
	case <-time.After(10 * time.Second):
		t.Fatal("no DEREGISTER")
	}
	if c := l.check(t, n); c != n-before {
		t.Fatalf("%d of %d refs canceled; %d had completed before", c, n, before)
	}
	if w := cli.refWriters.Load(); w != 0 {
		t.Fatalf("refWriters %d after DEREGISTER", w)
	}
}

// TestSendRefFlushedByLocalClose: buffers queued with FIN right before a
// local close are copied at the session's end and still written (the
// receiver may see the close first and drop them: streams and the CONNECT
// stream are not ordered), and each is released once, not canceled.
func TestSendRefFlushedByLocalClose(t *testing.T) {
	_, port := newServer(t, testConfig(), "/flush", func(c *Context, ev *Event) int { return 0 })
	cli := newClient(t, testConfig())
	sess, l := connectRefLog(t, cli, port, "/flush")
	st, err := sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{9}, 64<<10)
	const n = 12 // 768 KiB: within the 1 MiB send buffer, all queued at once
	for i := 1; i <= n; i++ {
		if err := st.SendRef(buf, i == n, &SendRef{Len: len(buf), Ctx: uintptr(i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := sess.BytesSent.Load()
	if err := sess.Close(0, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.dereg:
	case <-time.After(10 * time.Second):
		t.Fatal("no DEREGISTER")
	}
	if c := l.check(t, n); c != 0 {
		t.Fatalf("%d refs canceled by a local close", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sess.BytesSent.Load() == before && before < n*64<<10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	after := sess.BytesSent.Load()
	t.Logf("written before the close %d, after %d of %d", before, after, n*len(buf))
	if after == before && before < n*64<<10 {
		t.Fatal("nothing queued was written after the close")
	}
}
