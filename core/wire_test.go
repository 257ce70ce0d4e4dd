package core

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cpuHog keeps every core busy until stop is closed: the FIN race this
// guards against showed up only when the sender's goroutines were delayed.
func cpuHog(stop chan struct{}) {
	for i := 0; i < runtime.NumCPU(); i++ {
		go func() {
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				for j := 0; j < 100000; j++ {
					x += j
				}
			}
		}()
	}
}

var qlogStreamFrame = regexp.MustCompile(`\{"frame_type":"stream","stream_id":(\d+),"offset":(\d+),"length":(\d+)(,"fin":true)?\}`)

// TestFinOnLastDataFrame sends thousands of streams whose last bytes are
// handed over together with FIN (push with fin, and pull answers with fin),
// 1-byte and 16 KiB messages, under CPU load, and reads the sender's qlog:
// every FIN must ride on the frame that carries the last byte. Before the
// fix, quic-go got Close() on a later pass of the send loop and about 0.5 %
// of FINs went out alone, which pico_baton answers with "FIN before baton".
func TestFinOnLastDataFrame(t *testing.T) {
	n := 10000
	if raceOn || testing.Short() {
		n = 2000
	}
	msgs := [][]byte{{'x'}, bytes.Repeat([]byte("0123456789abcdef"), 1024)}
	var got atomic.Int64
	var bad atomic.Int64
	var mu sync.Mutex
	bufs := map[*Stream][]byte{}
	srec := newRecorder()
	scfg := testConfig()
	scfg.MaxIncomingUni = 200
	_, port := newServer(t, scfg, "/fin", func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvPostData, EvPostFin:
			mu.Lock()
			b := append(bufs[ev.Stream], ev.Data...)
			bufs[ev.Stream] = b
			if ev.Type == EvPostFin {
				delete(bufs, ev.Stream)
			}
			mu.Unlock()
			if ev.Type == EvPostFin {
				if !bytes.Equal(b, msgs[0]) && !bytes.Equal(b, msgs[1]) {
					bad.Add(1)
				}
				got.Add(1)
			}
		}
		return 0
	})
	_ = srec
	ccfg := testConfig()
	ccfg.QlogDir = t.TempDir()
	cli := newClient(t, ccfg)
	crec := newRecorder()
	// Pull-mode streams carry their message index in the stream context.
	sess, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/fin", port), ConnectOptions{}, crec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvProvideData {
			answerFinPull(ev)
		}
		return 0
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvConnectAccepted)
	stop := make(chan struct{})
	cpuHog(stop)
	defer close(stop)

	ids := map[uint64]bool{}
	const batch = 100
	for i := 0; i < n; i += batch {
		for j := i; j < i+batch && j < n; j++ {
			msg := msgs[j%2]
			pull := (j/2)%2 == 1
			var st *Stream
			for {
				st, err = sess.OpenStream(false, uintptr(j%2))
				if CodeOf(err) != ErrLimit {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			ids[st.ID] = true
			if pull {
				err = st.MarkActive(true)
			} else {
				err = st.Send(msg, true)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for got.Load() < int64(min(i+batch, n)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if got.Load() != int64(n) || bad.Load() != 0 {
		t.Fatalf("server got %d of %d streams, %d with wrong data", got.Load(), n, bad.Load())
	}
	cli.Destroy()

	files, _ := filepath.Glob(filepath.Join(ccfg.QlogDir, "*client.sqlog"))
	if len(files) != 1 {
		t.Fatalf("qlog files: %v", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	fins, alone := 0, 0
	finned := map[uint64]bool{}
	for _, m := range qlogStreamFrame.FindAllSubmatch(raw, -1) {
		id, _ := strconv.ParseUint(string(m[1]), 10, 64)
		if !ids[id] || len(m[4]) == 0 || finned[id] {
			continue // not ours, no FIN, or a retransmission
		}
		finned[id] = true
		fins++
		if length, _ := strconv.Atoi(string(m[3])); length == 0 {
			alone++
			if alone <= 5 {
				t.Logf("stream %d: FIN alone at offset %s", id, m[2])
			}
		}
	}
	t.Logf("%d streams, %d FINs in the qlog, %d of them alone", n, fins, alone)
	// quic-go has no write-and-close call: between TryWriteAll and Close
	// (back to back) its packer can still take the tail when the sending
	// goroutine is preempted right there. The race detector slows every
	// call about tenfold and widens that window to about 1 stream in 2000.
	// The normal build (scripts/test.sh runs it) showed none in 30 000
	// streams here and 1 in 10 000 once in CI, beside the CPU hog: up to 1
	// in 2000 is that window, more is a regression (a path that closes
	// after the packer took the data sends most FINs alone).
	allowed := n / 2000
	if raceOn {
		allowed = n / 500
	}
	if fins != n || alone > allowed {
		t.Fatalf("%d streams: %d FINs seen, %d in a frame of their own", n, fins, alone)
	}
}

// answerFinPull answers PROVIDE_DATA on the client of TestFinOnLastDataFrame.
func answerFinPull(ev *Event) {
	msg := []byte{'x'}
	if ev.Stream.AppCtx() == 1 {
		msg = bytes.Repeat([]byte("0123456789abcdef"), 1024)
	}
	buf, err := ev.Provide.Answer(len(msg), true, false)
	if err != nil {
		panic(fmt.Sprint("answer: ", err))
	}
	copy(buf, msg)
}

var (
	qlogResetStream = regexp.MustCompile(`"frame_type":"reset_stream","stream_id":(\d+)`)
	qlogStopSending = regexp.MustCompile(`"frame_type":"stop_sending","stream_id":(\d+)`)
)

// TestCloseDoesNotResetFinishedStreams: a session closed right after a
// stream's data and FIN were handed over resets no stream in the sender's
// qlog (before, the close reset every stream not yet freed, FIN or not, and
// Chromium reported such closes as "Connection lost").
func TestCloseDoesNotResetFinishedStreams(t *testing.T) {
	scfg := testConfig()
	scfg.QlogDir = t.TempDir()
	var ids sync.Map
	_, port := newServer(t, scfg, "/fin", func(c *Context, ev *Event) int {
		if ev.Type == EvConnect {
			go func(s *Session) {
				time.Sleep(20 * time.Millisecond)
				for i := 0; i < 20; i++ {
					st, err := s.OpenStream(i%2 == 0, 0)
					if err != nil {
						panic(err)
					}
					ids.Store(st.ID, true)
					if err := st.Send([]byte("last words"), true); err != nil {
						panic(err)
					}
				}
				_ = s.Close(0, "bye")
			}(ev.Sess)
		}
		return 0
	})
	cli := newClient(t, testConfig())
	rec := newRecorder()
	connect(t, cli, port, "/fin", rec, ConnectOptions{})
	rec.wait(t, EvConnectAccepted)
	rec.wait(t, EvDeregister)
	time.Sleep(100 * time.Millisecond)
	files, _ := filepath.Glob(filepath.Join(scfg.QlogDir, "*server.sqlog"))
	if len(files) != 1 {
		t.Fatalf("qlog files: %v", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// quic-go answers a peer's STOP_SENDING with RESET_STREAM even after
	// FIN (RFC 9000 lets it defer that, quic-go does not): the peer's own
	// close stops reading streams it has not finished reading, so a reset
	// that follows a STOP_SENDING received on the stream is quic-go's
	// answer, not ours.
	stopped := map[uint64]bool{}
	sent := 0
	for _, rec := range bytes.Split(raw, []byte{0x1e}) {
		if bytes.Contains(rec, []byte(`"transport:packet_received"`)) {
			for _, m := range qlogStopSending.FindAllSubmatch(rec, -1) {
				id, _ := strconv.ParseUint(string(m[1]), 10, 64)
				stopped[id] = true
			}
			continue
		}
		if !bytes.Contains(rec, []byte(`"transport:packet_sent"`)) {
			continue
		}
		sent++
		for _, m := range qlogResetStream.FindAllSubmatch(rec, -1) {
			id, _ := strconv.ParseUint(string(m[1]), 10, 64)
			if _, ours := ids.Load(id); ours && !stopped[id] {
				t.Fatalf("stream %d was reset after its FIN", id)
			}
		}
	}
	if sent == 0 {
		t.Fatal("no packet_sent records in the qlog")
	}
}
