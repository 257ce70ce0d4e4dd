package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// HTTP/3 SETTINGS of a WebTransport client: draft-02 and draft-16 enable.
var wtSettings = map[uint64]uint64{0x2b603742: 1, 0x2c7cf000: 1}

const (
	wtBidiSignal  = 0x41 // first varint of a WebTransport bidi stream
	wtUniType     = 0x54 // type of a WebTransport uni stream
	capsuleClose  = 0x2843
	capsuleOddity = 0x17f3a // a capsule type nobody defines
)

func baseQUIC() *quic.Config {
	return &quic.Config{EnableDatagrams: true, MaxIdleTimeout: 30 * time.Second,
		HandshakeIdleTimeout: 5 * time.Second}
}

// dialH3 opens a QUIC connection and an HTTP/3 client on it, and waits for
// the server's SETTINGS.
func dialH3(ctx context.Context, t *target, qconf *quic.Config) (*quic.Conn, *http3.ClientConn, error) {
	qc, err := quic.DialAddr(ctx, t.addr().String(), insecureTLS.Clone(), qconf)
	if err != nil {
		return nil, nil, err
	}
	tr := &http3.Transport{EnableDatagrams: true, AdditionalSettings: wtSettings}
	cc := tr.NewClientConn(qc)
	select {
	case <-cc.ReceivedSettings():
	case <-ctx.Done():
		qc.CloseWithError(0, "")
		return nil, nil, ctx.Err()
	}
	return qc, cc, nil
}

// openSession sends an extended CONNECT for path and returns its stream
// once the server answered 200.
func openSession(ctx context.Context, t *target, cc *http3.ClientConn, path string) (*http3.RequestStream, error) {
	rs, err := cc.OpenRequestStream(ctx)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d%s", t.port, path))
	req := &http.Request{Method: http.MethodConnect, Proto: "webtransport", Host: u.Host, URL: u,
		Header: http.Header{}}
	if err := rs.SendRequestHeader(req.WithContext(ctx)); err != nil {
		return nil, err
	}
	resp, err := rs.ReadResponse()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("CONNECT: status %d", resp.StatusCode)
	}
	return rs, nil
}

// quietPath is a baton path whose game the server starts (one lane) and
// this peer never plays: the session stays up until the server gets bored.
const quietPath = "/baton?version=0&baton=1&count=1"

func alive(ctx context.Context) bool { return ctx.Err() == nil }

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ---------------------------------------------------------------------------
// stream-flood

func attackStreamFlood(ctx context.Context, t *target, st *stats) {
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for alive(ctx) {
				floodOnce(ctx, t, st)
			}
		}()
	}
	wg.Wait()
}

// floodOnce: one connection and session; WebTransport streams (header
// only, kept open) as fast as the server's limit allows, OpenStream again
// and again at the limit, every 10th stream for a session that does not
// exist; then all of them reset at once, and the next connection.
func floodOnce(ctx context.Context, t *target, st *stats) {
	qc, cc, err := dialH3(ctx, t, baseQUIC())
	if err != nil {
		if alive(ctx) {
			st.add("dial-errors", 1)
		}
		return
	}
	defer qc.CloseWithError(0, "")
	rs, err := openSession(ctx, t, cc, quietPath)
	if err != nil {
		st.add("connect-errors", 1)
		return
	}
	st.add("sessions", 1)
	sid := uint64(rs.StreamID())
	var held []*quic.Stream
	var heldUni []*quic.SendStream
	limitHits := 0
	for alive(ctx) && limitHits < 2000 {
		id := sid
		n := len(held) + len(heldUni)
		if n%10 == 9 {
			id = sid + 4*uint64(1000+n) // no such session
		}
		var err error
		if n%2 == 0 {
			var s *quic.Stream
			if s, err = qc.OpenStream(); err == nil {
				_, err = s.Write(quicvarint.Append(quicvarint.Append(nil, wtBidiSignal), id))
				held = append(held, s)
				st.add("bidi-opened", 1)
			}
		} else {
			var s *quic.SendStream
			if s, err = qc.OpenUniStream(); err == nil {
				_, err = s.Write(quicvarint.Append(quicvarint.Append(nil, wtUniType), id))
				heldUni = append(heldUni, s)
				st.add("uni-opened", 1)
			}
		}
		var lim *quic.StreamLimitReachedError // quic-go returns a pointer
		if errors.As(err, &lim) {
			limitHits++
			st.add("limit-hits", 1)
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if err != nil {
			st.add("stream-error:"+readErr(err), 1)
			break
		}
	}
	for _, s := range held {
		s.CancelWrite(0x1)
		s.CancelRead(0x1)
	}
	for _, s := range heldUni {
		s.CancelWrite(0x1)
	}
	st.add("reset", int64(len(held)+len(heldUni)))
}

// ---------------------------------------------------------------------------
// capsule-1gib

func attackCapsule(ctx context.Context, t *target, st *stats) {
	var wg sync.WaitGroup
	for _, typ := range []uint64{capsuleOddity, capsuleClose} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for alive(ctx) {
				capsuleOnce(ctx, t, st, typ)
			}
		}()
	}
	wg.Wait()
}

func capsuleOnce(ctx context.Context, t *target, st *stats, typ uint64) {
	qc, cc, err := dialH3(ctx, t, baseQUIC())
	if err != nil {
		if alive(ctx) {
			st.add("dial-errors", 1)
		}
		return
	}
	defer qc.CloseWithError(0, "")
	rs, err := openSession(ctx, t, cc, quietPath)
	if err != nil {
		st.add("connect-errors", 1)
		return
	}
	hdr := quicvarint.Append(quicvarint.Append(nil, typ), 1<<30)
	if _, err := rs.Write(hdr); err != nil {
		st.add("write-errors", 1)
		return
	}
	name := "oddity"
	if typ == capsuleClose {
		name = "close"
	}
	st.add("capsules-"+name, 1)
	chunk := make([]byte, 64<<10)
	var sent int64
	_ = rs.SetWriteDeadline(time.Now().Add(time.Hour))
	go func() { <-ctx.Done(); _ = rs.SetWriteDeadline(time.Now()) }()
	for alive(ctx) && sent < 1<<30 {
		n, err := rs.Write(chunk)
		sent += int64(n)
		if err != nil {
			if alive(ctx) {
				st.add("stream-ended-"+name, 1)
			}
			break
		}
	}
	st.add("MiB-"+name, sent>>20)
}

// ---------------------------------------------------------------------------
// dgram-unknown

func attackDatagrams(ctx context.Context, t *target, st *stats) {
	for alive(ctx) {
		qc, cc, err := dialH3(ctx, t, baseQUIC())
		if err != nil {
			if alive(ctx) {
				st.add("dial-errors", 1)
				sleepCtx(ctx, 50*time.Millisecond)
			}
			continue
		}
		rs, err := openSession(ctx, t, cc, quietPath)
		if err != nil {
			st.add("connect-errors", 1)
			qc.CloseWithError(0, "")
			continue
		}
		q := uint64(rs.StreamID()) / 4
		payload := bytes.Repeat([]byte{0xab}, 1000)
		for i := 0; alive(ctx) && qc.Context().Err() == nil; i++ {
			var id uint64
			switch i % 4 {
			case 0:
				id = q + 1 + uint64(rand.Intn(1<<20)) // a later stream: no session (yet)
			case 1:
				id = 0x3fffffffffff // far beyond any stream
			case 2:
				id = q + 1000
			default:
				id = uint64(rand.Int63n(1 << 40))
			}
			if id == q {
				id++
			}
			b := append(quicvarint.Append(nil, id), payload...)
			if err := qc.SendDatagram(b); err != nil {
				st.add("send-errors", 1)
				time.Sleep(time.Millisecond)
			} else {
				st.add("sent", 1)
			}
			if i%32 == 31 {
				time.Sleep(200 * time.Microsecond)
			}
		}
		qc.CloseWithError(0, "")
	}
}

// ---------------------------------------------------------------------------
// bad-connect

type hf = qpack.HeaderField

func badConnectCases(t *target) []struct {
	name   string
	fields []hf
} {
	auth := fmt.Sprintf("127.0.0.1:%d", t.port)
	m := hf{Name: ":method", Value: "CONNECT"}
	p := hf{Name: ":protocol", Value: "webtransport"}
	s := hf{Name: ":scheme", Value: "https"}
	a := hf{Name: ":authority", Value: auth}
	pa := hf{Name: ":path", Value: quietPath}
	return []struct {
		name   string
		fields []hf
	}{
		{"valid", []hf{m, p, s, a, pa}},
		{"no-protocol", []hf{m, s, a, pa}},
		{"no-path", []hf{m, p, s, a}},
		{"no-authority", []hf{m, p, s, pa}},
		{"no-scheme", []hf{m, p, a, pa}},
		{"no-method", []hf{p, s, a, pa}},
		{"dup-path", []hf{m, p, s, a, pa, {Name: ":path", Value: "/other"}}},
		{"dup-protocol", []hf{m, p, s, a, pa, p}},
		{"dup-method", []hf{m, m, p, s, a, pa}},
		{"dup-authority", []hf{m, p, s, a, {Name: ":authority", Value: "evil:1"}, pa}},
		{"pseudo-after-regular", []hf{m, p, s, {Name: "origin", Value: "https://x"}, a, pa}},
		{"unknown-pseudo", []hf{m, p, s, a, pa, {Name: ":foo", Value: "bar"}}},
		{"uppercase-name", []hf{m, p, s, a, pa, {Name: "Origin", Value: "https://x"}}},
		{"empty-path", []hf{m, p, s, a, {Name: ":path", Value: ""}}},
	}
}

func attackBadConnect(ctx context.Context, t *target, st *stats) {
	cases := badConnectCases(t)
	seen := map[string]bool{}
	for alive(ctx) {
		qc, _, err := dialH3(ctx, t, baseQUIC())
		if err != nil {
			if alive(ctx) {
				st.add("dial-errors", 1)
			}
			continue
		}
		for _, c := range cases {
			if !alive(ctx) || qc.Context().Err() != nil {
				break
			}
			out := rawRequest(ctx, qc, c.fields)
			key := c.name + ":" + out
			st.add(key, 1)
			if !seen[key] {
				seen[key] = true
			}
			if c.name == "valid" && out != "200" {
				st.finding("the well-formed CONNECT got %s (the attack's own encoding is wrong?)", out)
			}
			if c.name != "valid" && out == "200" {
				st.finding("CONNECT %s was accepted (200)", c.name)
			}
		}
		qc.CloseWithError(0, "")
	}
}

// rawRequest sends one HEADERS frame on a new bidi stream and tells what
// came back: the status, "reset 0x..." or "timeout".
func rawRequest(ctx context.Context, qc *quic.Conn, fields []hf) string {
	str, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return "no-stream"
	}
	defer func() {
		str.CancelRead(0x10c) // H3_REQUEST_CANCELLED
		str.CancelWrite(0x10c)
	}()
	var blk bytes.Buffer
	enc := qpack.NewEncoder(&blk)
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	frame := quicvarint.Append(quicvarint.Append(nil, 0x01), uint64(blk.Len()))
	frame = append(frame, blk.Bytes()...)
	if _, err := str.Write(frame); err != nil {
		return "write-error"
	}
	_ = str.SetReadDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(str)
	for {
		typ, err := quicvarint.Read(r)
		if err != nil {
			return readErr(err)
		}
		n, err := quicvarint.Read(r)
		if err != nil || n > 1<<16 {
			return readErr(err)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return readErr(err)
		}
		if typ != 0x01 {
			continue
		}
		dec := qpack.NewDecoder().Decode(body)
		for {
			f, err := dec()
			if err != nil {
				return "undecodable"
			}
			if f.Name == ":status" {
				return f.Value
			}
		}
	}
}

func readErr(err error) string {
	var se *quic.StreamError
	if errors.As(err, &se) {
		return fmt.Sprintf("reset-0x%x", uint64(se.ErrorCode))
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return fmt.Sprintf("conn-closed-0x%x", uint64(ae.ErrorCode))
	}
	if errors.Is(err, io.EOF) {
		return "fin"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "error"
}

// ---------------------------------------------------------------------------
// half-open

// deafConn is a client socket that drops every packet it receives, so the
// handshake never completes: the server keeps resending its Initial and
// Handshake packets until its handshake timeout.
type deafConn struct{ net.PacketConn }

func (d deafConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		if _, _, err := d.PacketConn.ReadFrom(b); err != nil {
			return 0, nil, err
		}
	}
}

func attackHalfOpen(ctx context.Context, t *target, st *stats) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200) // at most 200 of ours in flight
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for alive(ctx) {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				st.add("socket-errors", 1)
				return
			}
			tr := &quic.Transport{Conn: deafConn{udp}}
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			st.add("started", 1)
			if qc, err := tr.Dial(dctx, t.addr(), insecureTLS.Clone(), &quic.Config{HandshakeIdleTimeout: time.Second}); err == nil {
				st.finding("a handshake completed without the client reading anything")
				qc.CloseWithError(0, "")
			}
			_ = tr.Close()
			_ = udp.Close()
		}()
	}
	wg.Wait()
}

// ---------------------------------------------------------------------------
// never-read

func attackNeverRead(ctx context.Context, t *target, st *stats) {
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := baseQUIC()
			q.InitialStreamReceiveWindow = 64 << 10
			q.MaxStreamReceiveWindow = 64 << 10
			q.InitialConnectionReceiveWindow = 1 << 20
			q.MaxConnectionReceiveWindow = 1 << 20
			qc, cc, err := dialH3(ctx, t, q)
			if err != nil {
				if alive(ctx) {
					st.add("dial-errors", 1)
				}
				return
			}
			defer qc.CloseWithError(0, "")
			var bodies []io.ReadCloser
			for i := 0; i < 16 && alive(ctx); i++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
					fmt.Sprintf("https://127.0.0.1:%d/big.bin", t.port), nil)
				resp, err := cc.RoundTrip(req)
				if err != nil {
					st.add("get-errors", 1)
					continue
				}
				st.add(fmt.Sprintf("status-%d", resp.StatusCode), 1)
				bodies = append(bodies, resp.Body) // never read
			}
			<-ctx.Done()
			for _, b := range bodies {
				_ = b.Close()
			}
		}()
	}
	wg.Wait()
}

// ---------------------------------------------------------------------------
// no-max-streams

func attackNoMaxStreams(ctx context.Context, t *target, st *stats) {
	for alive(ctx) {
		noMaxStreamsOnce(ctx, t, st)
	}
}

func noMaxStreamsOnce(ctx context.Context, t *target, st *stats) {
	q := baseQUIC()
	q.MaxIncomingUniStreams = 2 // the server's control stream and one more, ever
	q.MaxIncomingStreams = -1   // no bidi streams from the server at all
	qc, err := quic.DialAddr(ctx, t.addr().String(), insecureTLS.Clone(), q)
	if err != nil {
		if alive(ctx) {
			st.add("dial-errors", 1)
		}
		return
	}
	defer qc.CloseWithError(0, "")
	tr := &http3.Transport{EnableDatagrams: true, AdditionalSettings: wtSettings}
	raw := tr.NewRawClientConn(qc)
	// Only the first uni stream (the server's control stream) is taken;
	// others stay unaccepted, so quic-go never grants more (no MAX_STREAMS).
	go func() {
		str, err := qc.AcceptUniStream(ctx)
		if err == nil {
			raw.HandleUnidirectionalStream(str)
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	select {
	case <-raw.ReceivedSettings():
	case <-sctx.Done():
		st.add("no-settings", 1)
		return
	}
	rs, err := openSession(sctx, t, raw.ClientConn, "/baton?version=0&baton=1&count=8")
	if err != nil {
		st.add("connect-errors", 1)
		return
	}
	st.add("sessions", 1)
	// What the server does: wait for its close capsule, or the timeout.
	_ = rs.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	var got []byte
	for {
		n, err := rs.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			out := readErr(err)
			if len(got) > 0 {
				if typ, rest, e := parseVarint(got); e == nil && typ == capsuleClose {
					if _, body, e := parseVarint(rest); e == nil && len(body) >= 4 {
						code := uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3])
						out = fmt.Sprintf("closed-0x%x-%q", code, strings.ReplaceAll(string(body[4:]), " ", "_"))
					}
				}
			}
			st.add("server:"+out, 1)
			// gowt_baton closes a session whose lanes it cannot open
			// (GOWT_ERR_LIMIT -> DA_YAMN "Not enough streams"); a server
			// that waits instead never learnt of the limit.
			if !strings.HasPrefix(out, "closed-") {
				st.finding("the server did not close the session it cannot open streams for (%s)", out)
			}
			return
		}
	}
}

func parseVarint(b []byte) (uint64, []byte, error) {
	v, n, err := quicvarint.Parse(b)
	if err != nil {
		return 0, nil, err
	}
	return v, b[n:], nil
}
