package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

type serverOptions struct {
	Addr     string
	CertFile string
	KeyFile  string
	NoFC     bool
	MaxData  int64 // WebTransport receive window of a session (0: 16 MiB)
	Baton    bool  // serve the devious-baton game on every path
	// Misbehave (baton only): break one rule in every game (misbehave.go)
	// and judge the client's reaction; MisWait bounds each game (default
	// 10 s). Verdicts arrive on peerServer.Verdicts.
	Misbehave string
	MisWait   time.Duration
}

func (o serverOptions) misWait() time.Duration {
	if o.MisWait > 0 {
		return o.MisWait
	}
	return 10 * time.Second
}

// peerServer is a webtransport-go server. Its behaviour depends on the
// request path (see handle), or it plays devious-baton on every path.
type peerServer struct {
	opts        serverOptions
	lg          *jsonLog
	wt          *webtransport.Server
	pc          net.PacketConn
	Port        int
	Fingerprint string // SHA-256 of the certificate (DER), hex

	ctx      context.Context
	cancel   context.CancelFunc
	nextSID  atomic.Int64
	served   chan struct{}
	mu       sync.Mutex // guards closed and handlers.Add
	closed   bool
	handlers sync.WaitGroup

	tracer   *frameTracer // misbehaving: RESET_STREAM/STOP_SENDING received
	Verdicts chan error   // misbehaving: one per game (nil: as the draft says)
}

// verdict hands a misbehaving game's verdict to whoever waits for it.
func (s *peerServer) verdict(err error) {
	select {
	case s.Verdicts <- err:
	default:
	}
}

func startServer(opts serverOptions, lg *jsonLog) (*peerServer, error) {
	cert, fp, err := loadOrMakeCert(opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, err
	}
	s := &peerServer{
		opts:        opts,
		lg:          lg,
		pc:          pc,
		Port:        pc.LocalAddr().(*net.UDPAddr).Port,
		Fingerprint: fp,
		served:      make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if opts.Misbehave != "" {
		if !opts.Baton || !validMisbehave(opts.Misbehave) {
			_ = pc.Close()
			return nil, fmt.Errorf("unknown misbehaviour %q (baton-server only)", opts.Misbehave)
		}
		s.tracer = newFrameTracer(lg)
		s.Verdicts = make(chan error, 16)
	}
	s.wt = &webtransport.Server{
		H3: &http3.Server{
			TLSConfig:  http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}),
			QUICConfig: quicConfigFor(opts.Misbehave, s.tracer),
			Handler:    http.HandlerFunc(s.serveHTTP),
		},
		Config:      wtConfig(opts.NoFC, opts.MaxData),
		CheckOrigin: func(*http.Request) bool { return true },
	}
	go func() {
		defer close(s.served)
		err := s.wt.Serve(pc)
		if err != nil && s.ctx.Err() == nil {
			lg.Event("serve_error", "error", err)
		}
	}()
	return s, nil
}

// Close stops the server: open sessions end with the QUIC connection.
func (s *peerServer) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	_ = s.wt.Close()
	_ = s.pc.Close()
	<-s.served
	s.handlers.Wait()
}

func (s *peerServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()
	sid := s.nextSID.Add(1)
	lg := s.lg.With("sid", sid)
	lg.Event("request", "method", r.Method, "proto", r.Proto, "path", r.URL.Path, "query", r.URL.RawQuery)

	if s.opts.Baton {
		s.serveBaton(w, r, lg)
		return
	}
	switch r.URL.Path {
	case "/echo", "/open", "/reset", "/close", "/drain", "/wait":
	case "/refuse400":
		lg.Event("refused", "status", http.StatusBadRequest)
		w.WriteHeader(http.StatusBadRequest)
		return
	default: // "/refuse404" and any unknown path
		lg.Event("refused", "status", http.StatusNotFound)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	sess, ok := s.upgrade(w, r, lg)
	if !ok {
		return
	}
	lg.Event("accepted", "path", r.URL.Path)
	ctx := sess.Context()

	switch r.URL.Path {
	case "/echo":
		go echoBidi(sess, lg)
		go echoUni(sess, lg)
		go echoDatagrams(sess, lg)
	case "/open":
		go logIncoming(sess, lg)
		go openFromServer(sess, lg)
	case "/reset":
		go resetBidi(sess, lg)
		go readUniLogResets(sess, lg)
	case "/close":
		go logIncoming(sess, lg)
		go func() {
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			const code, reason = 4242, "server says bye"
			lg.Event("close", "code", code, "reason", reason, "remote", false)
			_ = sess.CloseWithError(code, reason)
		}()
	case "/drain", "/wait":
		// webtransport-go v0.13.0 silently skips an incoming WT_DRAIN_SESSION
		// capsule and cannot send one (upstream issue #284), so /drain can only
		// report how the session finally ends, not the drain itself.
		go logIncoming(sess, lg)
	}

	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
		_ = sess.CloseWithError(0, "server shutting down")
	}
	info := sessionCloseInfo(sess)
	if r.URL.Path == "/drain" || r.URL.Path == "/wait" {
		lg.Event("peer_close", info.kv()...)
	}
	lg.Event("session_closed", info.kv()...)
}

func (s *peerServer) upgrade(w http.ResponseWriter, r *http.Request, lg *jsonLog) (*webtransport.Session, bool) {
	sess, err := s.wt.Upgrade(w, r)
	if err != nil {
		lg.Event("upgrade_failed", "error", err)
		w.WriteHeader(http.StatusBadRequest)
		return nil, false
	}
	return sess, true
}

// logStreamErr logs a failed stream Read/Write: a reset or STOP_SENDING with
// its code, or the bare error.
func logStreamErr(lg *jsonLog, ev string, id int64, err error) {
	if code, remote, ok := streamErrCode(err); ok {
		lg.Event(ev, "stream", id, "code", code, "remote", remote)
		return
	}
	lg.Event("stream_error", "stream", id, "error", err)
}

// /echo ----------------------------------------------------------------------

func echoBidi(sess *webtransport.Session, lg *jsonLog) {
	for {
		str, err := sess.AcceptStream(sess.Context())
		if err != nil {
			return
		}
		go func() {
			id := int64(str.StreamID())
			buf := make([]byte, 32<<10)
			var total int64
			for {
				n, rerr := str.Read(buf)
				if n > 0 {
					if _, werr := str.Write(buf[:n]); werr != nil {
						logStreamErr(lg, "stop_sending", id, werr)
						str.CancelRead(0)
						return
					}
					total += int64(n)
				}
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					logStreamErr(lg, "reset", id, rerr)
					str.CancelWrite(0)
					return
				}
			}
			if err := str.Close(); err != nil {
				logStreamErr(lg, "stop_sending", id, err)
				return
			}
			lg.Event("bidi_echo", "stream", id, "bytes", total)
		}()
	}
}

func echoUni(sess *webtransport.Session, lg *jsonLog) {
	for {
		rs, err := sess.AcceptUniStream(sess.Context())
		if err != nil {
			return
		}
		go func() {
			id := int64(rs.StreamID())
			data, err := io.ReadAll(rs)
			if err != nil {
				logStreamErr(lg, "reset", id, err)
				return
			}
			out, err := sess.OpenUniStreamSync(sess.Context())
			if err != nil {
				lg.Event("stream_error", "stream", id, "error", err)
				return
			}
			if _, err := out.Write(data); err != nil {
				logStreamErr(lg, "stop_sending", int64(out.StreamID()), err)
				return
			}
			_ = out.Close()
			lg.Event("uni_echo", "stream", id, "reply_stream", int64(out.StreamID()), "bytes", len(data))
		}()
	}
}

func echoDatagrams(sess *webtransport.Session, lg *jsonLog) {
	for {
		d, err := sess.ReceiveDatagram(sess.Context())
		if err != nil {
			return
		}
		err = sess.SendDatagram(d)
		lg.Event("datagram_echo", "bytes", len(d), "ok", err == nil)
	}
}

// /open ----------------------------------------------------------------------

func openFromServer(sess *webtransport.Session, lg *jsonLog) {
	ctx := sess.Context()
	go func() {
		us, err := sess.OpenUniStreamSync(ctx)
		if err != nil {
			lg.Event("open_failed", "kind", "uni", "error", err)
			return
		}
		if _, err := us.Write([]byte("uni-from-go")); err != nil {
			logStreamErr(lg, "stop_sending", int64(us.StreamID()), err)
			return
		}
		_ = us.Close()
		lg.Event("uni_sent", "stream", int64(us.StreamID()), "data", "uni-from-go")
	}()
	go func() {
		bs, err := sess.OpenStreamSync(ctx)
		if err != nil {
			lg.Event("open_failed", "kind", "bidi", "error", err)
			return
		}
		id := int64(bs.StreamID())
		if _, err := bs.Write([]byte("bidi-from-go")); err != nil {
			logStreamErr(lg, "stop_sending", id, err)
			return
		}
		_ = bs.Close()
		lg.Event("bidi_sent", "stream", id, "data", "bidi-from-go")
		reply, err := io.ReadAll(bs)
		if err != nil {
			logStreamErr(lg, "reset", id, err)
			return
		}
		lg.Event("bidi_reply", "stream", id, "data", short(reply), "bytes", len(reply))
	}()
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for i := 1; i <= 20; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := sess.SendDatagram([]byte("dgram-from-go"))
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				lg.Event("dgram_send_failed", "n", i, "error", err)
				return
			}
			lg.Event("dgram_sent", "n", i)
		}
	}()
}

// logIncoming reads and logs whatever the peer sends: uni and bidi streams
// (a bidi stream gets a FIN back once the peer's FIN arrived) and datagrams.
func logIncoming(sess *webtransport.Session, lg *jsonLog) {
	ctx := sess.Context()
	go func() {
		for {
			rs, err := sess.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			go func() {
				data, err := io.ReadAll(rs)
				if err != nil {
					logStreamErr(lg, "reset", int64(rs.StreamID()), err)
					return
				}
				lg.Event("uni_stream", "stream", int64(rs.StreamID()), "data", short(data), "bytes", len(data))
			}()
		}
	}()
	go func() {
		for {
			bs, err := sess.AcceptStream(ctx)
			if err != nil {
				return
			}
			go func() {
				data, err := io.ReadAll(bs)
				if err != nil {
					logStreamErr(lg, "reset", int64(bs.StreamID()), err)
					return
				}
				lg.Event("bidi_stream", "stream", int64(bs.StreamID()), "data", short(data), "bytes", len(data))
				_ = bs.Close()
			}()
		}
	}()
	for {
		d, err := sess.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		lg.Event("datagram", "data", short(d), "bytes", len(d))
	}
}

// /reset ---------------------------------------------------------------------

const (
	serverResetCode = 77 // RESET_STREAM code /reset sends
	serverStopCode  = 78 // STOP_SENDING code /reset sends
)

func resetBidi(sess *webtransport.Session, lg *jsonLog) {
	for {
		str, err := sess.AcceptStream(sess.Context())
		if err != nil {
			return
		}
		go func() {
			id := int64(str.StreamID())
			var b [1]byte
			if _, err := io.ReadFull(str, b[:]); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					lg.Event("fin", "stream", id)
				} else {
					logStreamErr(lg, "reset", id, err)
				}
			}
			// A STOP_SENDING the peer sent cancels our send side's context.
			select {
			case <-str.Context().Done():
				if code, _, ok := streamErrCode(context.Cause(str.Context())); ok {
					lg.Event("stop_sending", "stream", id, "code", code, "remote", true)
				}
			default:
			}
			str.CancelWrite(serverResetCode)
			str.CancelRead(serverStopCode)
			lg.Event("reset_sent", "stream", id, "reset_code", serverResetCode, "stop_sending_code", serverStopCode)
		}()
	}
}

func readUniLogResets(sess *webtransport.Session, lg *jsonLog) {
	for {
		rs, err := sess.AcceptUniStream(sess.Context())
		if err != nil {
			return
		}
		go func() {
			data, err := io.ReadAll(rs)
			if err != nil {
				logStreamErr(lg, "reset", int64(rs.StreamID()), err)
				return
			}
			lg.Event("uni_stream", "stream", int64(rs.StreamID()), "data", short(data), "bytes", len(data))
		}()
	}
}
