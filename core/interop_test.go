package core

// Interop with an independent implementation: webtransport-go v0.13.0, in
// both roles, through cmd/wtpeer run as a subprocess. wtpeer is a Go module
// of its own (cmd/wtpeer/go.mod): webtransport-go v0.13.0 does not build
// against the quic-go this module uses, and one build has one quic-go, so it
// cannot run in this test binary. The first interop test builds it (go build
// -C ../cmd/wtpeer) into a temporary directory; GOWT_WTPEER names a binary
// built already instead.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	wtpeerOnce sync.Once
	wtpeerPath string
	wtpeerErr  error
	wtpeerDir  string // temporary directory of the build, removed by TestMain
)

func TestMain(m *testing.M) {
	rc := m.Run()
	if wtpeerDir != "" {
		_ = os.RemoveAll(wtpeerDir)
	}
	os.Exit(rc)
}

// wtpeerBinary returns the wtpeer binary, building it on first use.
func wtpeerBinary(t *testing.T) string {
	t.Helper()
	wtpeerOnce.Do(func() {
		if p := os.Getenv("GOWT_WTPEER"); p != "" {
			wtpeerPath = p
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			wtpeerErr = fmt.Errorf("no go command to build wtpeer: %w", err)
			return
		}
		if wtpeerDir, err = os.MkdirTemp("", "gowt-wtpeer-"); err != nil {
			wtpeerErr = err
			return
		}
		wtpeerPath = filepath.Join(wtpeerDir, "wtpeer")
		cmd := exec.Command(goBin, "build", "-C", filepath.Join("..", "cmd", "wtpeer"), "-o", wtpeerPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			wtpeerErr = fmt.Errorf("go build wtpeer: %v\n%s", err, out)
		}
	})
	if wtpeerErr != nil {
		t.Fatal(wtpeerErr)
	}
	return wtpeerPath
}

// peerOutput collects a wtpeer's stdout; tests read it while it runs.
type peerOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *peerOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *peerOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// peerEvents parses wtpeer's JSON lines (other lines are skipped).
func peerEvents(out string) []map[string]any {
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			evs = append(evs, m)
		}
	}
	return evs
}

// peerMatch reports whether ev has every field of want (numbers as float64).
func peerMatch(ev, want map[string]any) bool {
	for k, v := range want {
		got, ok := ev[k]
		if !ok {
			return false
		}
		if n, isInt := v.(int); isInt {
			v = float64(n)
		}
		if got != v {
			return false
		}
	}
	return true
}

func peerFind(out string, want map[string]any) map[string]any {
	for _, ev := range peerEvents(out) {
		if peerMatch(ev, want) {
			return ev
		}
	}
	return nil
}

// runWtpeerClient runs one wtpeer client scenario to its end and fails the
// test unless it passed; it returns wtpeer's output.
func runWtpeerClient(t *testing.T, url, scenario string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"client", "-url", url, "-scenario", scenario}, args...)
	cmd := exec.CommandContext(ctx, wtpeerBinary(t), argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	t.Logf("wtpeer %s: %v\n%s%s", strings.Join(argv, " "), err, out, stderr.String())
	if err != nil || peerFind(out, map[string]any{"result": "pass"}) == nil {
		t.Fatalf("wtpeer client %s did not pass (%v)", scenario, err)
	}
	return out
}

// wtpeerServer is a running "wtpeer server"; it stops when the test ends.
type wtpeerServer struct {
	port int
	out  *peerOutput
}

func startWtpeerServer(t *testing.T, args ...string) *wtpeerServer {
	t.Helper()
	// -timeout: the server never outlives a test binary that died.
	argv := append([]string{"server", "-addr", "127.0.0.1:0", "-timeout", "5m"}, args...)
	cmd := exec.Command(wtpeerBinary(t), argv...)
	stdin, err := cmd.StdinPipe() // the server stops when its stdin closes
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var stderr peerOutput
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &wtpeerServer{out: &peerOutput{}}
	listening := make(chan int, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var port int
			if _, err := fmt.Sscanf(line, "LISTENING %d", &port); err == nil {
				select {
				case listening <- port:
				default:
				}
			}
			_, _ = s.out.Write([]byte(line + "\n"))
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); _ = pw.Close() }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		<-copied
		if t.Failed() {
			t.Logf("wtpeer server output:\n%s%s", s.out.String(), stderr.String())
		}
	})
	select {
	case s.port = <-listening:
	case err := <-exited:
		t.Fatalf("wtpeer server exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("wtpeer server did not listen\n%s", stderr.String())
	}
	return s
}

// wait waits up to 10 s for an event of the server with the fields in want.
func (s *wtpeerServer) wait(t *testing.T, want map[string]any) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ev := peerFind(s.out.String(), want); ev != nil {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event %v in wtpeer server output:\n%s", want, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// findWhere waits up to 10 s until a recorded event satisfies ok.
func (r *recorder) findWhere(t *testing.T, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		for _, e := range r.evs {
			if ok(e) {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("gowt saw no %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A core server, a webtransport-go client (wtpeer client).
func TestInteropGoClientToCoreServer(t *testing.T) {
	srec := newRecorder()
	var mu sync.Mutex
	acc := map[*Stream][]byte{}       // stream IDs repeat across connections
	backlog := map[*Stream][][]byte{} // echo data waiting for buffer room
	fins := map[*Stream]bool{}
	seen := map[*Stream]bool{}     // /reset: streams whose first data arrived
	drained := map[*Session]bool{} // /drain: sessions drained
	flush := func(st *Stream) {
		for len(backlog[st]) > 0 {
			last := len(backlog[st]) == 1 && fins[st]
			if err := st.Send(backlog[st][0], last); err != nil {
				return // WOULD_BLOCK: STREAM_WRITABLE follows
			}
			backlog[st] = backlog[st][1:]
		}
		if fins[st] && len(backlog[st]) == 0 {
			_ = st.Send(nil, true)
		}
	}
	_, port := newServer(t, testConfig(), "*", srec.cb(func(c *Context, ev *Event) int {
		switch ev.Type {
		case EvConnect:
			switch ev.Request.Path {
			case "/open":
				if err := ev.Sess.Accept(""); err != nil {
					panic(err)
				}
				u, err := ev.Sess.OpenStream(false, 0)
				if err != nil {
					panic(err)
				}
				_ = u.Send([]byte("uni-from-gowt"), true)
				b, err := ev.Sess.OpenStream(true, 0)
				if err != nil {
					panic(err)
				}
				_ = b.Send([]byte("bidi-from-gowt"), true)
			case "/close":
				if err := ev.Sess.Accept(""); err != nil {
					panic(err)
				}
				s := ev.Sess
				time.AfterFunc(200*time.Millisecond, func() { _ = s.Close(31337, "gowt server says bye") })
			}
		case EvPostData, EvPostFin:
			mu.Lock()
			acc[ev.Stream] = append(acc[ev.Stream], ev.Data...)
			data := acc[ev.Stream]
			mu.Unlock()
			switch ev.Sess.req.Path {
			case "/reset":
				// The stream that starts with "x" gets RESET_STREAM 77 and
				// STOP_SENDING 78; the client resets the other one itself.
				if !seen[ev.Stream] && len(ev.Data) > 0 {
					seen[ev.Stream] = true
					if ev.Data[0] == 'x' {
						_ = ev.Stream.Reset(77)
						_ = ev.Stream.StopSending(78)
					}
				}
				return 0
			case "/drain":
				// Drain on the first data; everything after must still work
				// (webtransport-go ignores WT_DRAIN_SESSION).
				if !drained[ev.Sess] {
					drained[ev.Sess] = true
					if err := ev.Sess.Drain(); err != nil {
						panic(err)
					}
				}
			}
			if ev.Stream.Bidi && !ev.Stream.Local {
				if len(ev.Data) > 0 {
					backlog[ev.Stream] = append(backlog[ev.Stream], append([]byte(nil), ev.Data...))
				}
				fins[ev.Stream] = ev.Type == EvPostFin
				flush(ev.Stream)
			}
			if ev.Type == EvPostFin && !ev.Stream.Bidi {
				u, err := ev.Sess.OpenStream(false, 0)
				if err == nil {
					_ = u.Send(data, true)
				}
			}
		case EvStreamWritable:
			flush(ev.Stream)
		case EvPostDatagram:
			_ = ev.Sess.SendDatagram(ev.Data)
		}
		return 0
	}))
	url := func(path string) string { return fmt.Sprintf("https://127.0.0.1:%d%s", port, path) }
	closeSeen := func(t *testing.T, code uint64, reason string) {
		t.Helper()
		ev := srec.findWhere(t, fmt.Sprintf("CLOSE %d", code), func(e Event) bool { return e.Type == EvClose && e.Code == code })
		if string(ev.Data) != reason || ev.Flags&FlagCloseRemote == 0 {
			t.Fatalf("gowt server saw %d %q %x", ev.Code, ev.Data, ev.Flags)
		}
	}

	t.Run("streams_datagrams_close", func(t *testing.T) {
		// bidi echo of 350 000 bytes, uni echo on a server uni stream,
		// datagram echo; then the client closes: gowt sees code and reason.
		out := runWtpeerClient(t, url("/echo"), "echo", "-nofc", "-size", "350000",
			"-code", "4242", "-reason", "webtransport-go says bye")
		for _, want := range []map[string]any{
			{"ev": "bidi_echo", "ok": true, "bytes": 350000},
			{"ev": "uni_echo", "ok": true, "data": "hello-uni"},
		} {
			if peerFind(out, want) == nil {
				t.Errorf("wtpeer output lacks %v", want)
			}
		}
		closeSeen(t, 4242, "webtransport-go says bye")
	})

	t.Run("server_opens_streams", func(t *testing.T) {
		out := runWtpeerClient(t, url("/open"), "accept-streams", "-nofc")
		uni := peerFind(out, map[string]any{"ev": "uni_stream", "data": "uni-from-gowt"})
		bidi := peerFind(out, map[string]any{"ev": "bidi_stream", "data": "bidi-from-gowt"})
		if uni == nil || bidi == nil {
			t.Fatalf("webtransport-go got uni %v bidi %v", uni, bidi)
		}
		id := uint64(bidi["stream"].(float64))
		deadline := time.Now().Add(5 * time.Second)
		for {
			var got string
			mu.Lock()
			for st, b := range acc {
				if st.ID == id && st.Local && st.sess.req.Path == "/open" {
					got = string(b)
				}
			}
			mu.Unlock()
			if got == "reply" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gowt did not get the reply on its own bidi stream (%q)", got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("reset_stop_sending", func(t *testing.T) {
		// wtpeer passes only if its read ends with the peer's RESET_STREAM
		// 77 and its writes with the peer's STOP_SENDING 78; then it resets
		// (55) and stops (66) a stream of its own.
		out := runWtpeerClient(t, url("/reset"), "reset", "-nofc", "-reset-back", "55,66")
		if peerFind(out, map[string]any{"ev": "reset", "code": 77, "remote": true}) == nil ||
			peerFind(out, map[string]any{"ev": "stop_sending", "code": 78, "remote": true}) == nil {
			t.Fatal("webtransport-go did not see reset 77 and STOP_SENDING 78 from gowt")
		}
		sent := peerFind(out, map[string]any{"ev": "reset_sent"})
		if sent == nil {
			t.Fatal("wtpeer sent no reset")
		}
		id := uint64(sent["stream"].(float64))
		r := srec.findWhere(t, "RESET on the client's stream", func(e Event) bool { return e.Type == EvReset && e.StreamID == id })
		st := srec.findWhere(t, "STOP_SENDING on the client's stream", func(e Event) bool { return e.Type == EvStopSending && e.StreamID == id })
		if r.Code != 55 || st.Code != 66 {
			t.Fatalf("gowt saw reset %d stop %d, want 55 66", r.Code, st.Code)
		}
	})

	t.Run("server_close_and_drain", func(t *testing.T) {
		// A drained session keeps working with webtransport-go (it skips
		// the capsule): the whole echo scenario runs after the drain.
		runWtpeerClient(t, url("/drain"), "echo", "-nofc", "-code", "4243", "-reason", "echoed after drain")
		closeSeen(t, 4243, "echoed after drain")
		// gowt closes: webtransport-go sees code and reason.
		runWtpeerClient(t, url("/close"), "closed-by-server", "-nofc", "-code", "31337", "-reason", "gowt server says bye")
	})

	t.Run("multi_session_flow_control", func(t *testing.T) {
		// 3 sessions on one connection with flow control; 4 MiB echoed per
		// session through wtpeer's 1 MiB WebTransport data window: gowt
		// must wait for its WT_MAX_DATA.
		out := runWtpeerClient(t, url("/echo"), "multi", "-size", fmt.Sprint(4<<20), "-max-data", fmt.Sprint(1<<20), "-timeout", "40s")
		for i := 0; i < 3; i++ {
			if peerFind(out, map[string]any{"ev": "bidi_echo", "session": i, "ok": true, "bytes": 4 << 20}) == nil {
				t.Errorf("session %d: no 4 MiB echo", i)
			}
		}
		var fc []*Session
		srec.mu.Lock()
		for _, e := range srec.evs {
			if e.Type == EvConnect && e.Sess.FlowControl() && e.Request.Path == "/echo" {
				fc = append(fc, e.Sess)
			}
		}
		srec.mu.Unlock()
		if len(fc) != 3 || fc[0].conn != fc[1].conn || fc[0].conn != fc[2].conn {
			t.Fatalf("%d sessions with flow control, want 3 on one connection", len(fc))
		}
	})
}

// A webtransport-go server (wtpeer server), a core client.
func TestInteropCoreClientToGoServer(t *testing.T) {
	srv := startWtpeerServer(t, "-max-data", fmt.Sprint(1<<20))
	port := srv.port
	cli := newClient(t, testConfig())

	t.Run("echo_close", func(t *testing.T) {
		rec := newRecorder()
		var mu sync.Mutex
		got := map[uint64][]byte{}
		s, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/echo", port), ConnectOptions{}, rec.cb(func(c *Context, ev *Event) int {
			if ev.Type == EvPostData || ev.Type == EvPostFin {
				mu.Lock()
				got[ev.StreamID] = append(got[ev.StreamID], ev.Data...)
				mu.Unlock()
			}
			return 0
		}), 0)
		if err != nil {
			t.Fatal(err)
		}
		rec.wait(t, EvConnectAccepted)
		if s.WireID() != 0 {
			t.Fatalf("session id %d", s.WireID())
		}
		b, err := s.OpenStream(true, 0)
		if err != nil {
			t.Fatal(err)
		}
		payload := bytes.Repeat([]byte("abc"), 400000) // > the 1 MiB WT window
		for off := 0; off < len(payload); off += 256 << 10 {
			end := min(off+256<<10, len(payload))
			for {
				err := b.Send(payload[off:end], end == len(payload))
				if CodeOf(err) != ErrWouldBlock {
					if err != nil {
						t.Fatal(err)
					}
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		u, err := s.OpenStream(false, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = u.Send([]byte("uni-to-go"), true)
		if err := s.SendDatagram([]byte("dg")); err != nil {
			t.Fatal(err)
		}
		if d := rec.find(t, EvPostDatagram); string(d.Data) != "dg" {
			t.Fatalf("datagram %q", d.Data)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			okB := bytes.Equal(got[b.ID], payload)
			okU := false
			for id, v := range got {
				if id%4 == 3 && string(v) == "uni-to-go" {
					okU = true
				}
			}
			mu.Unlock()
			if okB && okU {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("echo incomplete: bidi %v uni %v", okB, okU)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := s.Close(4711, "gowt client says bye"); err != nil {
			t.Fatal(err)
		}
		srv.wait(t, map[string]any{"ev": "session_closed", "code": 4711, "reason": "gowt client says bye", "remote": true})
	})

	t.Run("server_streams_reset_stop", func(t *testing.T) {
		rec := newRecorder()
		s, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/reset", port), ConnectOptions{}, rec.cb(nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		rec.wait(t, EvConnectAccepted)
		b, _ := s.OpenStream(true, 0)
		_ = b.Send([]byte("x"), false)
		r := rec.find(t, EvReset)
		st := rec.find(t, EvStopSending)
		if r.Code != 77 || st.Code != 78 {
			t.Fatalf("reset %d stop %d", r.Code, st.Code)
		}
		_ = s.Close(0, "")
	})

	t.Run("server_close", func(t *testing.T) {
		// wtpeer's /close closes 200 ms after accepting.
		rec := newRecorder()
		_, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/close", port), ConnectOptions{}, rec.cb(nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		cl := rec.wait(t, EvClose)
		if cl.Code != 4242 || string(cl.Data) != "server says bye" || cl.Flags&FlagCloseRemote == 0 {
			t.Fatalf("close %d %q %x", cl.Code, cl.Data, cl.Flags)
		}
	})

	t.Run("server_opens_bidi", func(t *testing.T) {
		// wtpeer's /open opens a uni and a bidi stream, each with data + FIN.
		rec := newRecorder()
		s, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/open", port), ConnectOptions{}, rec.cb(nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		op := rec.findWhere(t, "bidi STREAM_OPENED", func(e Event) bool {
			return e.Type == EvStreamOpened && e.Flags&FlagStreamBidi != 0
		})
		if op.Flags&FlagStreamLocal != 0 {
			t.Fatalf("flags %x", op.Flags)
		}
		for id, want := range map[string]string{"bidi": "bidi-from-go", "uni": "uni-from-go"} {
			fin := rec.findWhere(t, id+" POST_FIN", func(e Event) bool {
				return e.Type == EvPostFin && (e.StreamID == op.StreamID) == (id == "bidi")
			})
			var got []byte
			rec.mu.Lock()
			for _, e := range rec.evs {
				if e.StreamID == fin.StreamID && (e.Type == EvPostData || e.Type == EvPostFin) {
					got = append(got, e.Data...)
				}
			}
			rec.mu.Unlock()
			if string(got) != want {
				t.Fatalf("%s: got %q", id, got)
			}
		}
		_ = s.Close(0, "")
	})

	t.Run("refused", func(t *testing.T) {
		rec := newRecorder()
		_, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/refuse404", port), ConnectOptions{}, rec.cb(nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		if ev := rec.wait(t, EvConnectRefused); ev.Code != 404 {
			t.Fatalf("refused with %d", ev.Code)
		}
	})

	t.Run("shared_connection", func(t *testing.T) {
		var sess []*Session
		for i := 0; i < 3; i++ {
			rec := newRecorder()
			s, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/echo", port), ConnectOptions{}, rec.cb(nil), 0)
			if err != nil {
				t.Fatal(err)
			}
			rec.wait(t, EvConnectAccepted)
			sess = append(sess, s)
		}
		for i, s := range sess {
			if !s.FlowControl() || s.conn != sess[0].conn {
				t.Fatalf("session %d: flow control %v, shared %v", i, s.FlowControl(), s.conn == sess[0].conn)
			}
		}
		for _, s := range sess {
			_ = s.Close(0, "")
		}
	})
}
