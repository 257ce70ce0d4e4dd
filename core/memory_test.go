package core

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// heapInUse is the Go memory in use after a collection: heap and stacks.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// pausedServer is a server whose streams' receive sides are paused as they
// open, so a client's sends stall on QUIC flow control. A stream is read
// from the moment it opens, before the callback pauses it; the small
// receive budget bounds what a late callback lets in meanwhile.
func pausedServer(t *testing.T, cfg Config) int {
	cfg.RecvBufferBytes = 16 << 10
	_, port := newServer(t, cfg, "/stall", func(c *Context, ev *Event) int {
		if ev.Type == EvStreamOpened {
			if err := ev.Stream.SetReceiveEnabled(false); err != nil {
				panic(err)
			}
		}
		return 0
	})
	return port
}

// TestSendMemoryChargedByBytes: 100 000 one-byte sends to a stalled peer
// hold about 100 KB, not a 64 KiB chunk each (125 MiB per 2000 sends before).
func TestSendMemoryChargedByBytes(t *testing.T) {
	scfg := testConfig()
	scfg.StreamRecvWindow, scfg.MaxStreamRecvWindow = 16<<10, 16<<10
	port := pausedServer(t, scfg)
	cli := newClient(t, testConfig())
	rec := newRecorder()
	sess := connect(t, cli, port, "/stall", rec, ConnectOptions{})
	rec.wait(t, EvConnectAccepted)
	st, err := sess.OpenStream(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	before := heapInUse()
	one := []byte{1}
	const sends = 100000
	for i := 0; i < sends; i++ {
		if err := st.Send(one, false); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	growth := heapInUse() - before
	st.mu.Lock()
	queued := st.q.n
	st.mu.Unlock()
	t.Logf("%d one-byte sends: %d bytes still queued in gowt, memory growth %d KB", sends, queued, growth>>10)
	if queued < sends/2 {
		t.Fatalf("only %d bytes queued: the peer did not stall the stream", queued)
	}
	if growth > 2<<20 {
		t.Fatalf("memory grew by %d bytes for %d one-byte sends (bound 2 MiB)", growth, sends)
	}
}

// perStreamOverhead is what a received stream costs besides its queued
// bytes (stream state in gowt and quic-go, and its reader's stack); the
// header states it beside recv_buffer_bytes.
const perStreamOverhead = 12 << 10

// TestReceiveMemoryBoundedByBytes: a peer opens 10 000 one-byte streams
// into an application that is not taking events. Memory grows by at most
// the receive budget plus a per-stream overhead; before, every stream's
// reader pinned a 64 KiB buffer (640 MB here).
func TestReceiveMemoryBoundedByBytes(t *testing.T) {
	n := 10000
	if raceOn {
		n = 2000
	}
	scfg := testConfig()
	scfg.RecvBufferBytes = 1 << 20
	scfg.MaxIncomingUni = int64(n)
	release := make(chan struct{})
	var srvSess atomic.Pointer[Session]
	_, port := newServer(t, scfg, "/paused", func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvConnect:
			srvSess.Store(ev.Sess)
		case EvPostData, EvPostFin:
			<-release // the application is busy
		}
		return 0
	})
	defer close(release)
	cli := newClient(t, testConfig())
	rec := newRecorder()
	sess := connect(t, cli, port, "/paused", rec, ConnectOptions{})
	rec.wait(t, EvConnectAccepted)
	time.Sleep(50 * time.Millisecond)
	before := heapInUse()
	for i := 0; i < n; i++ {
		st, err := sess.OpenStream(false, 0)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if err := st.Send([]byte{byte(i)}, true); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	open := 0
	for time.Now().Before(deadline) {
		s := srvSess.Load()
		s.mu.Lock()
		open = len(s.streams)
		s.mu.Unlock()
		if open >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if open < n {
		t.Fatalf("server has %d of %d streams", open, n)
	}
	time.Sleep(200 * time.Millisecond)
	growth := heapInUse() - before
	bound := int64(scfg.RecvBufferBytes) + int64(n)*perStreamOverhead
	t.Logf("%d one-byte streams into a paused application: memory growth %d KB (%d B per stream), bound %d KB",
		n, growth>>10, growth/int64(n), bound>>10)
	if growth > bound {
		t.Fatal(fmt.Sprintf("memory grew by %d bytes, more than the receive budget plus %d per stream", growth, perStreamOverhead))
	}
}
