package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/quic-go/webtransport-go"
)

type clientOptions struct {
	URL      string
	Scenario string
	Timeout  time.Duration
	NoFC     bool
	Code     int64   // -1: scenario default
	Reason   *string // nil: scenario default
	Status   int     // refused: expected HTTP status
	Size     int     // echo, multi: bytes of each bidi echo (0: 100 KiB, 16 KiB)
	MaxData  int64   // WebTransport receive window of a session (0: 16 MiB)
	// ResetBack (reset): once the server's codes are checked, open a second
	// bidi stream, write one byte and send RESET_STREAM ResetBack[0] and
	// STOP_SENDING ResetBack[1] on it (nil: don't).
	ResetBack *[2]uint32
}

var scenarios = map[string]func(context.Context, *clientConn, clientOptions, *jsonLog) error{
	"echo":             scenarioEcho,
	"accept-streams":   scenarioAcceptStreams,
	"reset":            scenarioReset,
	"closed-by-server": scenarioClosedByServer,
	"close":            scenarioClose,
	"refused":          scenarioRefused,
	"multi":            scenarioMulti,
}

// runClient runs one scenario; nil means pass. It returns within about
// o.Timeout (plus a short grace to close the connection).
func runClient(o clientOptions, lg *jsonLog) error {
	run, ok := scenarios[o.Scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q", o.Scenario)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	host, err := hostPort(o.URL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), o.Timeout,
		fmt.Errorf("timeout after %v", o.Timeout))
	defer cancel()
	c, err := dialClientConn(ctx, host, o.NoFC, o.MaxData)
	if err != nil {
		return err
	}
	defer c.close(250 * time.Millisecond)
	err = run(ctx, c, o, lg)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}

func hostPort(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("URL %q: scheme must be https", rawURL)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443"), nil
	}
	return u.Host, nil
}

// dialSession opens a WebTransport session; it fails on a non-2xx answer.
func dialSession(ctx context.Context, c *clientConn, rawURL string, lg *jsonLog) (*webtransport.Session, error) {
	rsp, sess, err := c.cc.Dial(ctx, rawURL, nil)
	if err != nil {
		if rsp != nil {
			lg.Event("refused", "status", rsp.StatusCode)
			return nil, fmt.Errorf("session refused with status %d", rsp.StatusCode)
		}
		lg.Event("dial_error", "error", err)
		return nil, fmt.Errorf("dial: %w", err)
	}
	lg.Event("accepted", "status", rsp.StatusCode)
	return sess, nil
}

// closeSession closes with code and reason and logs it.
func closeSession(sess *webtransport.Session, code uint32, reason string, lg *jsonLog) {
	lg.Event("close", "code", code, "reason", reason, "remote", false)
	_ = sess.CloseWithError(webtransport.SessionErrorCode(code), reason)
}

// waitSessionEnd waits for the session to end and logs how it ended.
func waitSessionEnd(ctx context.Context, sess *webtransport.Session, lg *jsonLog) (closeInfo, error) {
	select {
	case <-sess.Context().Done():
	case <-ctx.Done():
		return closeInfo{}, errors.New("session still open")
	}
	info := sessionCloseInfo(sess)
	lg.Event("session_closed", info.kv()...)
	return info, nil
}

// echoBidiOnce writes data + FIN on a new bidi stream and reads the echo.
func echoBidiOnce(ctx context.Context, sess *webtransport.Session, data []byte) (int64, []byte, error) {
	str, err := sess.OpenStreamSync(ctx)
	if err != nil {
		return -1, nil, fmt.Errorf("open bidi: %w", err)
	}
	id := int64(str.StreamID())
	werr := make(chan error, 1)
	go func() {
		_, err := str.Write(data)
		if err == nil {
			err = str.Close()
		}
		werr <- err
	}()
	got, err := io.ReadAll(str)
	if err != nil {
		str.CancelWrite(0)
		<-werr
		return id, got, fmt.Errorf("read echo: %w", err)
	}
	if err := <-werr; err != nil {
		return id, got, fmt.Errorf("write: %w", err)
	}
	return id, got, nil
}

// ---------------------------------------------------------------------------

func scenarioEcho(ctx context.Context, c *clientConn, o clientOptions, lg *jsonLog) error {
	sess, err := dialSession(ctx, c, o.URL, lg)
	if err != nil {
		return err
	}
	var fails []string

	// 1. bidi: 100 KB (-size) + FIN, expect the same back.
	size := 100 * 1024
	if o.Size > 0 {
		size = o.Size
	}
	data := pattern(size, 0x5a)
	id, got, err := echoBidiOnce(ctx, sess, data)
	ok := err == nil && bytes.Equal(got, data)
	lg.Event("bidi_echo", "stream", id, "ok", ok, "bytes", len(got))
	if !ok {
		fails = append(fails, fmt.Sprintf("bidi echo: %d of %d bytes, err %v", len(got), len(data), err))
	}

	// 2. uni: "hello-uni" + FIN, expect a new uni stream with the same.
	if err := func() error {
		us, err := sess.OpenUniStreamSync(ctx)
		if err != nil {
			return fmt.Errorf("open uni: %w", err)
		}
		if _, err := us.Write([]byte("hello-uni")); err != nil {
			return fmt.Errorf("write uni: %w", err)
		}
		if err := us.Close(); err != nil {
			return fmt.Errorf("close uni: %w", err)
		}
		rs, err := sess.AcceptUniStream(ctx)
		if err != nil {
			return fmt.Errorf("accept uni: %w", err)
		}
		got, err := io.ReadAll(rs)
		ok := err == nil && string(got) == "hello-uni"
		lg.Event("uni_echo", "stream", int64(rs.StreamID()), "ok", ok, "data", short(got))
		if err != nil {
			return fmt.Errorf("read uni: %w", err)
		}
		if !ok {
			return fmt.Errorf("uni echo %q", short(got))
		}
		return nil
	}(); err != nil {
		lg.Event("uni_echo", "ok", false, "error", err)
		fails = append(fails, err.Error())
	}

	// 3. datagrams: send 5, expect at least one back.
	const sent = 5
	rctx, rcancel := context.WithCancel(ctx)
	received := make(chan int, 1)
	go func() {
		n := 0
		defer func() { received <- n }()
		for n < sent {
			d, err := sess.ReceiveDatagram(rctx)
			if err != nil {
				return
			}
			n++
			lg.Event("dgram_echo", "data", short(d))
		}
	}()
	for i := range sent {
		if err := sess.SendDatagram(fmt.Appendf(nil, "dgram-%d", i)); err != nil {
			lg.Event("dgram_send_failed", "n", i, "error", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Give the echoes time to come back; stop early when all are back.
	var n int
	select {
	case n = <-received:
	case <-time.After(time.Second):
		rcancel()
		n = <-received
	}
	rcancel()
	lg.Event("dgram_summary", "sent", sent, "received", n)
	if n == 0 {
		fails = append(fails, "no datagram echoed")
	}

	code, reason := uint32(7), "client done"
	if o.Code >= 0 {
		code = uint32(o.Code)
	}
	if o.Reason != nil {
		reason = *o.Reason
	}
	closeSession(sess, code, reason, lg)
	if len(fails) > 0 {
		return errors.New(joinFails(fails))
	}
	return nil
}

func joinFails(f []string) string {
	var b bytes.Buffer
	for i, s := range f {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
	}
	return b.String()
}

func scenarioAcceptStreams(ctx context.Context, c *clientConn, o clientOptions, lg *jsonLog) error {
	sess, err := dialSession(ctx, c, o.URL, lg)
	if err != nil {
		return err
	}
	var gotUni, gotBidi sync.Once
	uniDone, bidiDone := make(chan struct{}), make(chan struct{})
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
				gotUni.Do(func() { close(uniDone) })
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
				id := int64(bs.StreamID())
				data, err := io.ReadAll(bs)
				if err != nil {
					logStreamErr(lg, "reset", id, err)
					return
				}
				lg.Event("bidi_stream", "stream", id, "data", short(data), "bytes", len(data))
				if _, err := bs.Write([]byte("reply")); err != nil {
					logStreamErr(lg, "stop_sending", id, err)
					return
				}
				if err := bs.Close(); err != nil {
					logStreamErr(lg, "stop_sending", id, err)
					return
				}
				lg.Event("bidi_reply_sent", "stream", id, "data", "reply")
				gotBidi.Do(func() { close(bidiDone) })
			}()
		}
	}()
	go func() {
		for {
			d, err := sess.ReceiveDatagram(ctx)
			if err != nil {
				return
			}
			lg.Event("datagram", "data", short(d), "bytes", len(d))
		}
	}()
	for _, ch := range []chan struct{}{uniDone, bidiDone} {
		select {
		case <-ch:
		case <-sess.Context().Done():
			info := sessionCloseInfo(sess)
			lg.Event("session_closed", info.kv()...)
			return errors.New("session ended before a uni and a bidi stream arrived")
		case <-ctx.Done():
			return errors.New("no uni and bidi stream from the server")
		}
	}
	// Let the reply reach the server before the session goes away.
	time.Sleep(200 * time.Millisecond)
	closeSession(sess, 0, "done", lg)
	return nil
}

const (
	expectResetCode = 77
	expectStopCode  = 78
)

func scenarioReset(ctx context.Context, c *clientConn, o clientOptions, lg *jsonLog) error {
	sess, err := dialSession(ctx, c, o.URL, lg)
	if err != nil {
		return err
	}
	defer closeSession(sess, 0, "", lg)
	str, err := sess.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open bidi: %w", err)
	}
	id := int64(str.StreamID())
	if _, err := str.Write([]byte("x")); err != nil {
		return fmt.Errorf("write: %w", err)
	}

	resetCode := make(chan int64, 1)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := str.Read(buf)
			if n > 0 {
				lg.Event("data", "stream", id, "bytes", n)
			}
			if err == nil {
				continue
			}
			if code, remote, ok := streamErrCode(err); ok {
				lg.Event("reset", "stream", id, "code", code, "remote", remote)
				resetCode <- int64(code)
			} else {
				lg.Event("read_error", "stream", id, "error", err)
				resetCode <- -1
			}
			return
		}
	}()
	// Keep writing until the peer's STOP_SENDING makes Write fail.
	stopCode := int64(-1)
	for ctx.Err() == nil {
		_, err := str.Write([]byte("y"))
		if err != nil {
			if code, remote, ok := streamErrCode(err); ok {
				lg.Event("stop_sending", "stream", id, "code", code, "remote", remote)
				stopCode = int64(code)
			} else {
				lg.Event("write_error", "stream", id, "error", err)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var rc int64 = -1
	select {
	case rc = <-resetCode:
	case <-ctx.Done():
	}
	if rc != expectResetCode || stopCode != expectStopCode {
		return fmt.Errorf("want RESET_STREAM %d and STOP_SENDING %d, got %d and %d",
			expectResetCode, expectStopCode, rc, stopCode)
	}
	if o.ResetBack == nil {
		return nil
	}
	// And the other way: our codes on a stream of our own.
	str2, err := sess.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open second bidi: %w", err)
	}
	id2 := int64(str2.StreamID())
	// webtransport-go v0.13.0 writes a stream's header lazily: a stream
	// reset before any write never reaches the peer, so write first.
	if _, err := str2.Write([]byte("y")); err != nil {
		return fmt.Errorf("write second bidi: %w", err)
	}
	time.Sleep(50 * time.Millisecond)
	str2.CancelWrite(webtransport.StreamErrorCode(o.ResetBack[0]))
	str2.CancelRead(webtransport.StreamErrorCode(o.ResetBack[1]))
	lg.Event("reset_sent", "stream", id2, "reset_code", o.ResetBack[0], "stop_sending_code", o.ResetBack[1])
	// Let both frames arrive before the session's close does.
	time.Sleep(200 * time.Millisecond)
	return nil
}

func scenarioClosedByServer(ctx context.Context, c *clientConn, o clientOptions, lg *jsonLog) error {
	wantCode, wantReason := int64(4242), "server says bye"
	if o.Code >= 0 {
		wantCode = o.Code
	}
	if o.Reason != nil {
		wantReason = *o.Reason
	}
	sess, err := dialSession(ctx, c, o.URL, lg)
	if err != nil {
		return err
	}
	info, err := waitSessionEnd(ctx, sess, lg)
	if err != nil {
		return err
	}
	if info.Err != "" || info.Code != wantCode || info.Reason != wantReason || !info.Remote {
		return fmt.Errorf("want remote close %d %q, got code %d reason %q remote %v %s",
			wantCode, wantReason, info.Code, info.Reason, info.Remote, info.Err)
	}
	return nil
}

func scenarioClose(ctx context.Context, c *clientConn, o clientOptions, lg *jsonLog) error {
	code, reason := uint32(0), ""
	if o.Code >= 0 {
		code = uint32(o.Code)
	}
	if o.Reason != nil {
		reason = *o.Reason
	}
	sess, err := dialSession(ctx, c, o.URL, lg)
	if err != nil {
		return err
	}
	select {
	case <-time.After(100 * time.Millisecond):
	case <-sess.Context().Done():
		info := sessionCloseInfo(sess)
		lg.Event("session_closed", info.kv()...)
		return errors.New("peer ended the session first")
	}
	closeSession(sess, code, reason, lg)
	info := sessionCloseInfo(sess)
	if info.Remote || info.Code != int64(code) {
		lg.Event("session_closed", info.kv()...)
		return errors.New("session was closed by the peer before our close")
	}
	return nil
}

func scenarioRefused(ctx context.Context, c *clientConn, o clientOptions, lg *jsonLog) error {
	rsp, sess, err := c.cc.Dial(ctx, o.URL, nil)
	if err == nil {
		lg.Event("accepted", "status", rsp.StatusCode)
		closeSession(sess, 0, "", lg)
		return fmt.Errorf("session accepted with status %d, want %d", rsp.StatusCode, o.Status)
	}
	if rsp == nil {
		lg.Event("dial_error", "error", err)
		return fmt.Errorf("no HTTP response: %w", err)
	}
	lg.Event("refused", "status", rsp.StatusCode)
	if rsp.StatusCode != o.Status {
		return fmt.Errorf("status %d, want %d", rsp.StatusCode, o.Status)
	}
	return nil
}

func scenarioMulti(ctx context.Context, c *clientConn, o clientOptions, lg *jsonLog) error {
	const n = 3
	sessions := make([]*webtransport.Session, 0, n)
	defer func() {
		for i, s := range sessions {
			closeSession(s, 0, "multi done", lg.With("session", i))
		}
	}()
	for i := range n {
		sess, err := dialSession(ctx, c, o.URL, lg.With("session", i))
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		sessions = append(sessions, sess)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, sess := range sessions {
		size := 16 * 1024
		if o.Size > 0 {
			size = o.Size
		}
		wg.Go(func() {
			data := pattern(size, byte(i+1))
			id, got, err := echoBidiOnce(ctx, sess, data)
			ok := err == nil && bytes.Equal(got, data)
			lg.Event("bidi_echo", "session", i, "stream", id, "ok", ok, "bytes", len(got))
			if !ok {
				errs[i] = fmt.Errorf("session %d: echo %d of %d bytes, err %v", i, len(got), len(data), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
