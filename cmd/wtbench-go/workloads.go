package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/webtransport-go"
)

const (
	chunkSize      = 64 << 10
	bulkTimeout    = 120 * time.Second
	datagramSize   = 1000
	datagramGrace  = 200 * time.Millisecond
	memSettle      = 500 * time.Millisecond
	setupWorkers   = 8
	idleMemWorkers = 8
)

var errTimeout = errors.New("timed out")

func patternBuf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// writeN writes total bytes in chunkSize writes.
func writeN(w io.Writer, total int64) error {
	buf := patternBuf(chunkSize)
	for total > 0 {
		k := min(total, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		total -= k
	}
	return nil
}

// drain reads r to EOF and returns the byte count.
func drain(r io.Reader) (int64, error) {
	buf := make([]byte, chunkSize)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func mbPerSec(bytes int64, d time.Duration) float64 {
	return float64(bytes) / 1e6 / d.Seconds()
}

// recvDone reports the receiver's view: bytes received and when the FIN came.
type recvDone struct {
	n   int64
	at  time.Time
	err error
}

func waitDone(ch <-chan recvDone, timeout time.Duration) (recvDone, error) {
	select {
	case d := <-ch:
		return d, d.err
	case <-time.After(timeout):
		return recvDone{}, errTimeout
	}
}

func closeSession(s *webtransport.Session) {
	_ = s.CloseWithError(0, "")
}

// ---- upload / download: one stream -------------------------------------

func runUpload(o options) ([]result, error) {
	total := int64(o.scale(200)) * 1_000_000
	done := make(chan recvDone, 1)
	srv, err := startServer(nil, func(sess *webtransport.Session) {
		go func() {
			str, err := sess.AcceptStream(sess.Context())
			if err != nil {
				done <- recvDone{err: fmt.Errorf("server accept: %w", err)}
				return
			}
			n, err := drain(str)
			done <- recvDone{n: n, at: time.Now(), err: err}
			_ = str.Close()
		}()
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	tr := newTransport(nil)
	defer tr.Close()
	sess, err := dialSession(tr, srv.url)
	if err != nil {
		return nil, err
	}
	defer closeSession(sess)

	str, err := sess.OpenStreamSync(context.Background())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := writeN(str, total); err != nil {
		return nil, fmt.Errorf("client write: %w", err)
	}
	if err := str.Close(); err != nil {
		return nil, err
	}
	d, err := waitDone(done, bulkTimeout)
	if err != nil {
		return nil, err
	}
	if d.n != total {
		return nil, fmt.Errorf("server received %d bytes, want %d", d.n, total)
	}
	el := d.at.Sub(start)
	v := mbPerSec(total, el)
	return []result{{Metric: "MB/s", Value: round(v, 1),
		human: fmt.Sprintf("%.1f MB/s (%d MB in %.2fs)", v, total/1_000_000, el.Seconds())}}, nil
}

func runDownload(o options) ([]result, error) {
	total := int64(o.scale(200)) * 1_000_000
	started := make(chan recvDone, 1) // at = time of the first write
	srv, err := startServer(nil, func(sess *webtransport.Session) {
		go func() {
			str, err := sess.OpenStreamSync(sess.Context())
			if err != nil {
				started <- recvDone{err: fmt.Errorf("server open: %w", err)}
				return
			}
			start := time.Now()
			err = writeN(str, total)
			if err == nil {
				err = str.Close()
			}
			started <- recvDone{n: total, at: start, err: err}
		}()
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	tr := newTransport(nil)
	defer tr.Close()
	sess, err := dialSession(tr, srv.url)
	if err != nil {
		return nil, err
	}
	defer closeSession(sess)

	ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
	defer cancel()
	str, err := sess.AcceptStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("client accept: %w", err)
	}
	n, err := drain(str)
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("client read: %w", err)
	}
	_ = str.Close()
	s, err := waitDone(started, bulkTimeout)
	if err != nil {
		return nil, err
	}
	if n != total {
		return nil, fmt.Errorf("client received %d bytes, want %d", n, total)
	}
	el := end.Sub(s.at)
	v := mbPerSec(total, el)
	return []result{{Metric: "MB/s", Value: round(v, 1),
		human: fmt.Sprintf("%.1f MB/s (%d MB in %.2fs)", v, total/1_000_000, el.Seconds())}}, nil
}

// ---- streams100: 100 concurrent bidi streams uploaded ---------------------

func runStreams100(o options) ([]result, error) {
	const nStreams = 100
	per := int64(o.scale(1_000_000))
	total := per * nStreams
	done := make(chan recvDone, nStreams+1)
	srv, err := startServer(nil, func(sess *webtransport.Session) {
		go func() {
			var finished, bytes atomic.Int64
			for {
				str, err := sess.AcceptStream(sess.Context())
				if err != nil {
					return
				}
				go func() {
					n, err := drain(str)
					if err != nil {
						done <- recvDone{err: fmt.Errorf("server read: %w", err)}
						return
					}
					_ = str.Close() // finish our side so the stream is released
					bytes.Add(n)
					if finished.Add(1) == nStreams {
						done <- recvDone{n: bytes.Load(), at: time.Now()}
					}
				}()
			}
		}()
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	tr := newTransport(nil)
	defer tr.Close()
	sess, err := dialSession(tr, srv.url)
	if err != nil {
		return nil, err
	}
	defer closeSession(sess)

	var errs firstErr
	var wg sync.WaitGroup
	start := time.Now()
	for range nStreams {
		wg.Go(func() {
			str, err := sess.OpenStreamSync(context.Background())
			if err != nil {
				errs.set(fmt.Errorf("client open: %w", err))
				return
			}
			if err := writeN(str, per); err != nil {
				errs.set(fmt.Errorf("client write: %w", err))
				return
			}
			if err := str.Close(); err != nil {
				errs.set(err)
				return
			}
			_, _ = drain(str) // wait for the server's FIN
		})
	}
	d, err := waitDone(done, bulkTimeout)
	if err == nil {
		wg.Wait()
		err = errs.get()
	}
	if err != nil {
		return nil, err
	}
	if d.n != total {
		return nil, fmt.Errorf("server received %d bytes, want %d", d.n, total)
	}
	el := d.at.Sub(start)
	v := mbPerSec(total, el)
	return []result{{Metric: "MB/s", Value: round(v, 1),
		human: fmt.Sprintf("%.1f MB/s aggregate (%d x %d KB in %.2fs)", v, nStreams, per/1000, el.Seconds())}}, nil
}

// ---- datagrams --------------------------------------------------------------

// datagramRates: 0 means unpaced (as fast as SendDatagram returns).
var datagramRates = []int{0, 10_000, 20_000, 40_000}

func runDatagrams(o options) ([]result, error) {
	d := o.dur(2*time.Second, 500*time.Millisecond)
	var out []result
	for _, rate := range datagramRates {
		r, err := datagramPhase(rate, d)
		if err != nil {
			return out, fmt.Errorf("rate %d: %w", rate, err)
		}
		out = append(out, r)
		settle()
	}
	return out, nil
}

// datagramPhase sends 1000-byte datagrams client->server on a fresh session
// for d, unpaced (rate 0) or paced at rate per second.
func datagramPhase(rate int, d time.Duration) (result, error) {
	var delivered atomic.Int64
	ready := make(chan struct{}, 1)
	srv, err := startServer(nil, func(sess *webtransport.Session) {
		go func() {
			ctx := sess.Context()
			ready <- struct{}{}
			for {
				if _, err := sess.ReceiveDatagram(ctx); err != nil {
					return
				}
				delivered.Add(1)
			}
		}()
	})
	if err != nil {
		return result{}, err
	}
	defer srv.Close()
	tr := newTransport(nil)
	defer tr.Close()
	sess, err := dialSession(tr, srv.url)
	if err != nil {
		return result{}, err
	}
	defer closeSession(sess)
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		return result{}, errors.New("server session did not start")
	}

	payload := patternBuf(datagramSize)
	var sent int64
	start := time.Now()
	if rate == 0 {
		for time.Since(start) < d {
			if err := sess.SendDatagram(payload); err != nil {
				return result{}, fmt.Errorf("send: %w", err)
			}
			sent++
		}
	} else {
		// Paced against a monotonic schedule: datagram i is due at
		// start + i/rate. After each wake-up, send everything that is due
		// (a small burst), then sleep until the next one is due. Sleep
		// overshoot only makes the next burst larger; it never drifts.
		target := int64(float64(rate) * d.Seconds())
		for sent < target {
			due := min(int64(time.Since(start).Seconds()*float64(rate))+1, target)
			for sent < due {
				if err := sess.SendDatagram(payload); err != nil {
					return result{}, fmt.Errorf("send: %w", err)
				}
				sent++
			}
			if sent >= target {
				break
			}
			next := start.Add(time.Duration(float64(sent) * float64(time.Second) / float64(rate)))
			if w := time.Until(next); w > 0 {
				time.Sleep(w)
			}
		}
	}
	sendTime := time.Since(start)
	time.Sleep(datagramGrace)
	got := delivered.Load()
	if sent == 0 {
		return result{}, errors.New("nothing sent")
	}
	frac := float64(got) / float64(sent)
	rateLabel := "unpaced"
	if rate > 0 {
		rateLabel = fmt.Sprintf("%d/s", rate)
	}
	r := rate
	return result{
		Metric:    "delivered_fraction",
		Value:     round(frac, 4),
		Rate:      &r,
		Sent:      &sent,
		Delivered: &got,
		human: fmt.Sprintf("%-8s sent %d in %.2fs (%.0f/s), delivered %d (%.1f%%)",
			rateLabel, sent, sendTime.Seconds(), float64(sent)/sendTime.Seconds(), got, 100*frac),
	}, nil
}

// ---- session setup ----------------------------------------------------------

func runSetupSeq(o options) ([]result, error)   { return setupNewConn(o, 1) }
func runSetupConc8(o options) ([]result, error) { return setupNewConn(o, setupWorkers) }

// setupNewConn: each session on a new QUIC connection (Transport.Dial),
// closed right after it is established; workers dial concurrently.
func setupNewConn(o options, workers int) ([]result, error) {
	d := o.dur(3*time.Second, time.Second)
	srv, err := startServer(nil, func(*webtransport.Session) {})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	tr := newTransport(nil)
	defer tr.Close()

	var count atomic.Int64
	var errs firstErr
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && errs.get() == nil {
				sess, err := dialSession(tr, srv.url)
				if err != nil {
					errs.set(err)
					return
				}
				count.Add(1)
				closeSession(sess)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err := errs.get(); err != nil {
		return nil, err
	}
	v := float64(count.Load()) / el.Seconds()
	return []result{{Metric: "sessions/s", Value: round(v, 1),
		human: fmt.Sprintf("%.1f sessions/s (%d sessions, %d dialer(s), new connection each, %.2fs)",
			v, count.Load(), workers, el.Seconds())}}, nil
}

// runSetupShared: many sessions on one QUIC connection (WebTransport flow
// control on both sides), 8 concurrent dialers.
func runSetupShared(o options) ([]result, error) {
	d := o.dur(3*time.Second, time.Second)
	cfg := flowControlConfig()
	srv, err := startServer(cfg, func(*webtransport.Session) {})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	qconn, err := dialConn(srv.addr)
	if err != nil {
		return nil, err
	}
	defer qconn.CloseWithError(0, "")
	tr := newTransport(cfg)
	defer tr.Close()
	cc, err := tr.NewClientConn(qconn)
	if err != nil {
		return nil, err
	}

	var count atomic.Int64
	var errs firstErr
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range setupWorkers {
		wg.Go(func() {
			for time.Now().Before(deadline) && errs.get() == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				rsp, sess, err := cc.Dial(ctx, srv.url, nil)
				cancel()
				if err != nil {
					errs.set(err)
					return
				}
				if rsp.StatusCode != http.StatusOK {
					closeSession(sess)
					errs.set(fmt.Errorf("unexpected status %d", rsp.StatusCode))
					return
				}
				count.Add(1)
				closeSession(sess)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err := errs.get(); err != nil {
		return nil, err
	}
	v := float64(count.Load()) / el.Seconds()
	return []result{{Metric: "sessions/s", Value: round(v, 1),
		human: fmt.Sprintf("%.1f sessions/s (%d sessions, %d dialers, one shared connection, %.2fs)",
			v, count.Load(), setupWorkers, el.Seconds())}}, nil
}

// ---- idle_mem -----------------------------------------------------------------

// measureRSS runs a GC, lets the process settle and reads VmRSS.
func measureRSS() (int64, error) {
	runtime.GC()
	time.Sleep(memSettle)
	return rssKB()
}

// runIdleMem opens n idle sessions, one QUIC connection each, and reports the
// RSS growth per session. Client and server both live in this process, so
// the figure covers both ends of each session.
func runIdleMem(o options) ([]result, error) {
	n := o.scale(1000)
	srv, err := startServer(nil, func(*webtransport.Session) {})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	tr := newTransport(nil)
	defer tr.Close()

	before, err := measureRSS()
	if err != nil {
		return nil, err
	}

	sessions := make([]*webtransport.Session, n)
	defer func() {
		// Close everything concurrently; each close waits for its session.
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for _, s := range sessions {
			if s == nil {
				continue
			}
			sem <- struct{}{}
			wg.Go(func() {
				closeSession(s)
				<-sem
			})
		}
		wg.Wait()
	}()
	var next atomic.Int64
	var errs firstErr
	var wg sync.WaitGroup
	for range idleMemWorkers {
		wg.Go(func() {
			for errs.get() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				s, err := dialSession(tr, srv.url)
				if err != nil {
					errs.set(fmt.Errorf("session %d: %w", i, err))
					return
				}
				sessions[i] = s
			}
		})
	}
	wg.Wait()
	if err := errs.get(); err != nil {
		return nil, err
	}

	after, err := measureRSS()
	if err != nil {
		return nil, err
	}
	v := float64(after-before) / float64(n)
	return []result{{Metric: "KB/session", Value: round(v, 1), Sessions: n, BothSides: true,
		human: fmt.Sprintf("%.1f KB/session (client+server in one process; RSS %d -> %d KB for %d sessions, one connection each)",
			v, before, after, n)}}, nil
}
