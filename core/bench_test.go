package core

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkUpload moves 200 MB over one stream between two contexts in this
// process (push on the client, counting on the server): the core's share of
// the C API benchmark's upload workload, without cgo.
func BenchmarkUpload(b *testing.B) {
	const total = 200 << 20
	var got atomic.Int64
	done := make(chan struct{}, 1)
	srv, err := NewContext(testConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Destroy()
	_ = srv.Register("*", GoCallback(func(c *Context, ev *Event) int {
		if ev.Type == EvPostData || ev.Type == EvPostFin {
			if got.Add(int64(len(ev.Data))) >= total && ev.Type == EvPostFin {
				done <- struct{}{}
			}
		}
		return 0
	}), 0, PathOptions{})
	port, _ := srv.Listen("127.0.0.1", 0)
	cli, _ := NewContext(testConfig(), nil)
	defer cli.Destroy()
	accepted := make(chan struct{})
	var st *Stream
	writable := make(chan struct{}, 1)
	s, _ := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/x", port), ConnectOptions{}, GoCallback(func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvConnectAccepted:
			close(accepted)
		case EvStreamWritable:
			select {
			case writable <- struct{}{}:
			default:
			}
		}
		return 0
	}), 0)
	<-accepted
	chunk := make([]byte, 256<<10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got.Store(0)
		st, _ = s.OpenStream(true, 0)
		start := time.Now()
		for sent := 0; sent < total; {
			err := st.Send(chunk, sent+len(chunk) >= total)
			if CodeOf(err) == ErrWouldBlock {
				<-writable
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			sent += len(chunk)
		}
		<-done
		b.ReportMetric(float64(total)/1e6/time.Since(start).Seconds(), "MB/s")
	}
}

// acceptAllPair makes a server context that accepts every session and a
// client context, both destroyed when b ends; url points at the server.
func acceptAllPair(b *testing.B) (*Context, string) {
	srv, err := NewContext(testConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Destroy() })
	_ = srv.Register("*", GoCallback(func(c *Context, ev *Event) int { return 0 }), 0, PathOptions{})
	port, err := srv.Listen("127.0.0.1", 0)
	if err != nil {
		b.Fatal(err)
	}
	cli, err := NewContext(testConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cli.Destroy() })
	return cli, fmt.Sprintf("https://127.0.0.1:%d/x", port)
}

// BenchmarkSetupSeq opens and closes sessions one after the other, each on a
// new QUIC connection (the core's share of the setup_seq workload).
func BenchmarkSetupSeq(b *testing.B) {
	cli, url := acceptAllPair(b)
	step := make(chan EventType, 16)
	cb := GoCallback(func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvConnectAccepted, EvDeregister, EvConnectRefused:
			step <- ev.Type
		}
		return 0
	})
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := cli.Connect(url, ConnectOptions{NewConnection: true}, cb, 0)
		if err != nil {
			b.Fatal(err)
		}
		if ev := <-step; ev != EvConnectAccepted {
			b.Fatalf("got %v", ev)
		}
		_ = s.Close(0, "")
		<-step
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sessions/s")
}

// BenchmarkSetupShared keeps 8 sessions in flight on one shared QUIC
// connection (flow control on), opening the next from each DEREGISTER: the
// core's share of the setup_shared workload.
func BenchmarkSetupShared(b *testing.B) {
	cli, url := acceptAllPair(b)
	anchorUp := make(chan struct{}, 1)
	_, err := cli.Connect(url, ConnectOptions{}, GoCallback(func(c *Context, ev *Event) int {
		if ev.Type == EvConnectAccepted {
			anchorUp <- struct{}{}
		}
		return 0
	}), 0)
	if err != nil {
		b.Fatal(err)
	}
	<-anchorUp
	var started, done atomic.Int64
	finished := make(chan struct{})
	var cb GoCallback
	next := func() {
		if started.Add(1) > int64(b.N) {
			return
		}
		if _, err := cli.Connect(url, ConnectOptions{}, cb, 0); err != nil {
			b.Error(err)
		}
	}
	cb = GoCallback(func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvConnectAccepted:
			_ = ev.Sess.Close(0, "")
		case EvDeregister:
			if done.Add(1) == int64(b.N) {
				close(finished)
			}
			next()
		}
		return 0
	})
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < 8; i++ {
		next()
	}
	<-finished
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sessions/s")
}
