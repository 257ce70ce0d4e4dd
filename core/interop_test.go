package core

// Interop with an independent implementation: webtransport-go v0.13.0, used
// directly, in both roles.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

func wtQUICConfig() *quic.Config {
	return &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true,
		MaxIncomingStreams: 1000, MaxIncomingUniStreams: 1000}
}

// wtClient dials a QUIC connection of its own and makes a webtransport-go
// ClientConn on it (Transport.Dial closes the connection as soon as the
// session ends, racing the close capsule: gap 4 of go-stack-notes.md).
func wtClient(t *testing.T, url string, fc bool) *webtransport.ClientConn {
	t.Helper()
	tr := &webtransport.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}},
		QUICConfig: wtQUICConfig()}
	if fc {
		tr.Config = &webtransport.Config{MaxIncomingStreams: 100, MaxIncomingUniStreams: 100, MaxIncomingData: 1 << 20}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, url, tr.TLSClientConfig, tr.QUICConfig)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := tr.NewClientConn(qc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		time.Sleep(100 * time.Millisecond) // let close capsules leave first
		_ = qc.CloseWithError(0, "")
	})
	return cc
}

func wtDial(t *testing.T, base, path string) *webtransport.Session {
	t.Helper()
	cc := wtClient(t, base, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rsp, s, err := cc.Dial(ctx, "https://"+base+path, nil)
	if err != nil {
		t.Fatalf("webtransport-go dial %s: %v (rsp %v)", path, err, rsp)
	}
	return s
}

// A core server, a webtransport-go client.
func TestInteropGoClientToCoreServer(t *testing.T) {
	srec := newRecorder()
	var mu sync.Mutex
	acc := map[uint64][]byte{}
	backlog := map[*Stream][][]byte{} // echo data waiting for buffer room
	fins := map[*Stream]bool{}
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
			if ev.Request.Path == "/open" {
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
			}
		case EvPostData, EvPostFin:
			mu.Lock()
			acc[ev.StreamID] = append(acc[ev.StreamID], ev.Data...)
			data := acc[ev.StreamID]
			mu.Unlock()
			if ev.Sess.req.Path == "/reset" && string(ev.Data) == "x" {
				_ = ev.Stream.Reset(77)
				_ = ev.Stream.StopSending(78)
				return 0
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
			if string(ev.Data) == "close please" {
				_ = ev.Sess.Close(31337, "gowt server says bye")
			}
			if string(ev.Data) == "drain please" {
				_ = ev.Sess.Drain()
			}
		}
		return 0
	}))
	base := fmt.Sprintf("127.0.0.1:%d", port)

	t.Run("streams_datagrams_close", func(t *testing.T) {
		s := wtDial(t, base, "/echo")
		// bidi echo
		str, err := s.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		payload := bytes.Repeat([]byte("interop"), 50000)
		go func() { _, _ = str.Write(payload); _ = str.Close() }()
		got, err := io.ReadAll(str)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("bidi echo: %d bytes, err %v", len(got), err)
		}
		// uni: echoed on a server uni stream
		u, err := s.OpenUniStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = u.Write([]byte("hello-uni"))
		_ = u.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ru, err := s.AcceptUniStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(ru); string(b) != "hello-uni" {
			t.Fatalf("uni echo %q", b)
		}
		// datagrams
		if err := s.SendDatagram([]byte("dg")); err != nil {
			t.Fatal(err)
		}
		d, err := s.ReceiveDatagram(ctx)
		if err != nil || string(d) != "dg" {
			t.Fatalf("datagram %q %v", d, err)
		}
		// client closes: the gowt server sees code and reason
		if err := s.CloseWithError(4242, "webtransport-go says bye"); err != nil {
			t.Fatal(err)
		}
		var ev Event
		for ev = srec.wait(t, EvClose); ev.Code != 4242; ev = srec.wait(t, EvClose) {
		}
		if string(ev.Data) != "webtransport-go says bye" || ev.Flags&FlagCloseRemote == 0 {
			t.Fatalf("gowt server saw %d %q %x", ev.Code, ev.Data, ev.Flags)
		}
	})

	t.Run("server_opens_streams", func(t *testing.T) {
		s := wtDial(t, base, "/open")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u, err := s.AcceptUniStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(u); string(b) != "uni-from-gowt" {
			t.Fatalf("uni %q", b)
		}
		b, err := s.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := io.ReadAll(b); string(d) != "bidi-from-gowt" {
			t.Fatalf("bidi %q", d)
		}
		_, _ = b.Write([]byte("reply"))
		_ = b.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			got := string(acc[uint64(b.StreamID())])
			mu.Unlock()
			if got == "reply" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gowt did not get the reply on its own bidi stream (%q)", got)
			}
			time.Sleep(5 * time.Millisecond)
		}
		_ = s.CloseWithError(0, "")
	})

	t.Run("reset_stop_sending", func(t *testing.T) {
		s := wtDial(t, base, "/reset")
		str, err := s.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = str.Write([]byte("x"))
		_, rerr := io.ReadAll(str)
		var se *webtransport.StreamError
		if !errors.As(rerr, &se) || se.ErrorCode != 77 || !se.Remote {
			t.Fatalf("read error %v, want reset 77", rerr)
		}
		<-str.Context().Done()
		// webtransport-go leaves the raw wire code in the context's cause.
		var qse *quic.StreamError
		if !errors.As(context.Cause(str.Context()), &qse) || appErrorFromWire(uint64(qse.ErrorCode)) != 78 {
			t.Fatalf("write side ended with %v, want STOP_SENDING 78", context.Cause(str.Context()))
		}
		// and the other way: webtransport-go resets and stops, gowt sees codes
		str2, err := s.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// webtransport-go writes a stream's header lazily: a stream reset
		// before any write never reaches the peer (gap 8), so write first.
		_, _ = str2.Write([]byte("y"))
		time.Sleep(50 * time.Millisecond)
		str2.CancelWrite(55)
		str2.CancelRead(66)
		r := srec.find(t, EvReset)
		st := srec.find(t, EvStopSending)
		if r.Code != 55 || st.Code != 66 {
			t.Fatalf("gowt saw reset %d stop %d, want 55 66", r.Code, st.Code)
		}
		_ = s.CloseWithError(0, "")
	})

	t.Run("server_close_and_drain", func(t *testing.T) {
		s := wtDial(t, base, "/echo")
		// webtransport-go cannot report a drain (it skips the capsule); the
		// session must keep working after it.
		if err := s.SendDatagram([]byte("drain please")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.ReceiveDatagram(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if s.Context().Err() != nil {
			t.Fatal("session ended after a drain capsule")
		}
		_ = s.SendDatagram([]byte("close please"))
		select {
		case <-s.Context().Done():
		case <-ctx.Done():
			t.Fatal("session not closed by the server")
		}
		// webtransport-go reports the close code only through AcceptStream.
		_, aerr := s.AcceptStream(context.Background())
		var se *webtransport.SessionError
		if !errors.As(aerr, &se) || se.ErrorCode != 31337 || se.Message != "gowt server says bye" {
			t.Fatalf("webtransport-go saw %v", aerr)
		}
	})

	t.Run("multi_session_flow_control", func(t *testing.T) {
		cc := wtClient(t, base, true)
		var sessions []*webtransport.Session
		for i := 0; i < 3; i++ {
			_, s, err := cc.Dial(context.Background(), "https://"+base+"/echo", nil)
			if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
			sessions = append(sessions, s)
		}
		// 4 MiB through a 1 MiB WebTransport data window: needs WT_MAX_DATA.
		for i, s := range sessions {
			str, err := s.OpenStreamSync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.Repeat([]byte{byte(i)}, 4<<20)
			go func() { _, _ = str.Write(payload); _ = str.Close() }()
			got, err := io.ReadAll(str)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("session %d echo: %d bytes, %v", i, len(got), err)
			}
		}
		for _, s := range sessions {
			_ = s.CloseWithError(0, "")
		}
	})
}

// A webtransport-go server, a core client.
func TestInteropCoreClientToGoServer(t *testing.T) {
	cert, err := GenerateCertificate([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &webtransport.Server{
		H3: &http3.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{http3.NextProtoH3}},
			QUICConfig: wtQUICConfig()},
		CheckOrigin: func(*http.Request) bool { return true },
		Config:      &webtransport.Config{MaxIncomingStreams: 100, MaxIncomingUniStreams: 100, MaxIncomingData: 1 << 20},
	}
	closed := make(chan *webtransport.SessionError, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("/refuse", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s, err := srv.Upgrade(w, r)
		if err != nil {
			w.WriteHeader(500)
			return
		}
		go func() { // echo bidi streams; reset/stop on /reset
			for {
				str, err := s.AcceptStream(context.Background())
				if err != nil {
					var se *webtransport.SessionError
					if errors.As(err, &se) {
						closed <- se
					}
					return
				}
				go func() {
					if r.URL.Path == "/reset" {
						buf := make([]byte, 1)
						_, _ = str.Read(buf)
						str.CancelWrite(77)
						str.CancelRead(78)
						return
					}
					b, _ := io.ReadAll(str)
					_, _ = str.Write(b)
					_ = str.Close()
				}()
			}
		}()
		go func() { // uni -> uni echo
			for {
				u, err := s.AcceptUniStream(s.Context())
				if err != nil {
					return
				}
				go func() {
					b, _ := io.ReadAll(u)
					o, err := s.OpenUniStream()
					if err == nil {
						_, _ = o.Write(b)
						_ = o.Close()
					}
				}()
			}
		}()
		go func() { // datagram echo
			for {
				d, err := s.ReceiveDatagram(s.Context())
				if err != nil {
					return
				}
				if string(d) == "close please" {
					_ = s.CloseWithError(777, "webtransport-go server says bye")
				}
				_ = s.SendDatagram(d)
			}
		}()
		if r.URL.Path == "/open" {
			if b, err := s.OpenStream(); err == nil {
				_, _ = b.Write([]byte("bidi-from-go"))
				_ = b.Close()
			}
		}
	})
	srv.H3.Handler = mux
	go func() { _ = srv.Serve(udp) }()
	t.Cleanup(func() { _ = srv.Close(); _ = udp.Close() })
	port := udp.LocalAddr().(*net.UDPAddr).Port
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
		payload := bytes.Repeat([]byte("abc"), 300000) // > the 1 MiB WT window
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
		select {
		case se := <-closed:
			if se.ErrorCode != 4711 || se.Message != "gowt client says bye" {
				t.Fatalf("webtransport-go saw %d %q", se.ErrorCode, se.Message)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("webtransport-go server saw no close")
		}
	})

	t.Run("server_streams_reset_stop_server_close", func(t *testing.T) {
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
		_ = s.SendDatagram([]byte("close please"))
		cl := rec.wait(t, EvClose)
		if cl.Code != 777 || string(cl.Data) != "webtransport-go server says bye" || cl.Flags&FlagCloseRemote == 0 {
			t.Fatalf("close %d %q %x", cl.Code, cl.Data, cl.Flags)
		}
	})

	t.Run("server_opens_bidi", func(t *testing.T) {
		rec := newRecorder()
		_, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/open", port), ConnectOptions{}, rec.cb(nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		op := rec.wait(t, EvStreamOpened)
		if op.Flags&FlagStreamBidi == 0 || op.Flags&FlagStreamLocal != 0 {
			t.Fatalf("flags %x", op.Flags)
		}
		rec.find(t, EvPostFin)
		var got []byte
		rec.mu.Lock()
		for _, e := range rec.evs {
			if e.StreamID == op.StreamID && (e.Type == EvPostData || e.Type == EvPostFin) {
				got = append(got, e.Data...)
			}
		}
		rec.mu.Unlock()
		if string(got) != "bidi-from-go" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("refused", func(t *testing.T) {
		rec := newRecorder()
		_, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/refuse", port), ConnectOptions{}, rec.cb(nil), 0)
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
