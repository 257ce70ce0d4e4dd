package core

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// ConnectOptions are the Go form of gowt_connect_options.
type ConnectOptions struct {
	Protocols     []string
	HeaderNames   []string
	HeaderValues  []string
	SNI           string
	Authority     string
	Origin        string
	NewConnection bool
}

// Connect starts a client session; events follow on cb.
func (c *Context) Connect(rawURL string, opts ConnectOptions, cb any, appCtx uintptr) (*Session, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errf(ErrInvalidArg, "URL %q is not https://host[:port]/path", rawURL)
	}
	if len(opts.HeaderNames) != len(opts.HeaderValues) {
		return nil, errf(ErrInvalidArg, "header names and values differ in number")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, errf(ErrInvalidArg, "bad port in %q", rawURL)
	}
	s := newSession(c, true, cb, appCtx)
	s.ownsConn = true
	if err := c.addSession(s); err != nil {
		return nil, err
	}
	s.push(Event{Type: EvConnecting})
	addr := net.JoinHostPort(host, port)
	c.goSafe(func() { s.runClient(u, addr, opts) })
	return s, nil
}

func (s *Session) runClient(u *url.URL, addr string, opts ConnectOptions) {
	growStack()
	c := s.ctx
	ctx, cancel := context.WithTimeout(s.doneCtx, c.cfg.HandshakeTimeout)
	defer cancel()
	wc, err := c.clientConn(ctx, addr, u.Hostname(), opts)
	if err != nil {
		s.finishRefused(0, err.Error())
		return
	}
	s.mu.Lock()
	s.conn = wc
	closed := s.state == stClosed
	s.mu.Unlock()
	if closed { // closed by the app while dialling: let go of the connection
		s.closeOwnedConn(0)
		return
	}
	if err := wc.checkServerSettings(ctx); err != nil {
		s.finishRefused(0, err.Error())
		return
	}
	rs, err := wc.h3cli.OpenRequestStream(ctx)
	if err != nil {
		s.finishRefused(0, "opening the CONNECT stream: "+err.Error())
		return
	}
	s.wireID.Store(uint64(rs.StreamID()))
	s.setCtrl(rs)
	s.initFlowControl(wc.h3cli.Settings())
	wc.addSession(s)
	if s.ended() { // closed by the app meanwhile
		rs.CancelWrite(h3RequestCanceled)
		rs.CancelRead(h3RequestCanceled)
		s.closeOwnedConn(0)
		return
	}

	hdr := http.Header{}
	for i, n := range opts.HeaderNames {
		hdr.Add(n, opts.HeaderValues[i])
	}
	if len(opts.Protocols) > 0 {
		list := httpsfv.List{}
		for _, p := range opts.Protocols {
			list = append(list, httpsfv.NewItem(p))
		}
		if v, err := httpsfv.Marshal(list); err == nil {
			hdr.Set("Wt-Available-Protocols", v)
		}
	}
	if opts.Origin != "" {
		hdr.Set("Origin", opts.Origin)
	}
	authority := opts.Authority
	if authority == "" {
		authority = u.Host
	}
	req := &http.Request{Method: http.MethodConnect, Proto: connectProtocol(wc.h3cli.Settings()),
		Host: authority, URL: u, Header: hdr}
	req = req.WithContext(s.doneCtx)
	if err := rs.SendRequestHeader(req); err != nil {
		s.finishError("sending CONNECT: " + err.Error())
		return
	}
	// The response wait is bounded by a timer that cancels the request
	// itself, not by a read deadline: quic-go's http3 ReadResponse resets
	// the stream with H3_FRAME_ERROR on any read error, a local deadline
	// included, which would tell the server its peer sent a bad frame.
	// Cancelled first, the stream carries H3_REQUEST_CANCELLED (quic-go
	// ignores the later cancels of an already cancelled stream): the write
	// side before the read side, whose cancel wakes ReadResponse (the other
	// order let its H3_FRAME_ERROR reset win on a loaded host).
	var timer *time.Timer
	if d := c.cfg.ConnectResponseTimeout; d > 0 {
		timer = time.AfterFunc(d, func() {
			rs.CancelWrite(h3RequestCanceled)
			rs.CancelRead(h3RequestCanceled)
		})
	}
	rsp, err := rs.ReadResponse()
	if timer != nil && !timer.Stop() {
		// Fired, even if a response came just before: the stream is gone.
		// The reset is queued; a connection closed at once would take it
		// along (aioquic then saw only the close, once in CI), so it
		// gets a moment to leave, as the resets of a closing session do.
		s.finishRefusedThen(0, "no CONNECT response within "+c.cfg.ConnectResponseTimeout.String(),
			func() { time.Sleep(s.resetGrace(1)) })
		return
	}
	if err != nil {
		s.finishError("reading the CONNECT response: " + err.Error())
		return
	}
	if rsp.StatusCode < 200 || rsp.StatusCode > 299 {
		_ = rs.Close()
		s.finishRefused(rsp.StatusCode, rsp.Status)
		return
	}
	proto, ok := parseWTProtocol(rsp.Header.Values("Wt-Protocol"))
	if !ok || (proto != "" && !slices.Contains(opts.Protocols, proto)) {
		// A sub-protocol we did not offer (or no readable one) cannot be
		// spoken: close the session with WT_ALPN_ERROR, as the draft asks,
		// and report a refusal (the application never saw it established).
		msg := "server chose a sub-protocol that was not offered: " + strconv.Quote(proto)
		if !ok {
			msg = "unreadable WT-Protocol in the CONNECT response"
		}
		_ = s.writeCtrl(closeCapsule(wtALPNError, msg))
		_ = rs.Close()
		s.finishRefusedThen(0, msg, func() {
			// The peer answers the capsule with its FIN (or a reset): wait
			// for that, bounded, so that closing the connection does not
			// overtake the capsule.
			_ = rs.SetReadDeadline(time.Now().Add(closeAnswerTimeout))
			_, _ = io.Copy(io.Discard, io.LimitReader(rs, 1<<16))
		})
		return
	}
	s.mu.Lock()
	if s.state == stClosed {
		s.mu.Unlock()
		return
	}
	s.protocol = proto
	// Established before the event is queued: the application may open
	// streams as soon as it sees CONNECT_ACCEPTED, from any thread.
	s.state = stEstablished
	s.mu.Unlock()
	ev := Event{Type: EvConnectAccepted, Protocol: proto}
	if _, h, ok := wc.tlsFacts(); ok {
		ev.PeerCertHash = &h
	}
	s.push(ev)
	s.run()
}

// parseWTProtocol reads the server's WT-Protocol response header: a
// structured-field string item ("", true when absent; false when present but
// not a string or token: older drafts' servers sent tokens).
func parseWTProtocol(vals []string) (string, bool) {
	if len(vals) == 0 {
		return "", true
	}
	it, err := httpsfv.UnmarshalItem(vals)
	if err != nil {
		return "", false
	}
	switch v := it.Value.(type) {
	case string:
		return v, true
	case httpsfv.Token:
		return string(v), true
	}
	return "", false
}

// dialing is a connection being dialled that later connects to the same
// server may join once its SETTINGS show it can be shared.
type dialing struct {
	done chan struct{}
	wc   *wtConn // set when shareable
}

// clientConn finds a connection to share or dials a new one. Concurrent
// connects to one server wait for the connection being dialled and join it
// when the server allows several sessions (WebTransport flow control).
func (c *Context) clientConn(ctx context.Context, addr, host string, opts ConnectOptions) (*wtConn, error) {
	sni := opts.SNI
	if sni == "" {
		sni = host
		if net.ParseIP(host) != nil {
			sni = "localhost"
		}
	}
	key := addr + "|" + sni
	share := !opts.NewConnection && c.cfg.MaxIncomingData > 0
	var mine *dialing
	for share && mine == nil {
		c.mu.Lock()
		for _, wc := range c.shared[key] {
			if !wc.closing && wc.qc.Context().Err() == nil {
				wc.users++
				c.mu.Unlock()
				return wc, nil
			}
		}
		d := c.dialing[key]
		if d == nil {
			mine = &dialing{done: make(chan struct{})}
			c.dialing[key] = mine
			c.mu.Unlock()
			break
		}
		c.mu.Unlock()
		select {
		case <-d.done:
		case <-ctx.Done():
			return nil, errf(ErrNetwork, "connecting to %s: %v", addr, ctx.Err())
		}
		if d.wc == nil { // not shareable: dial our own
			share = false
		}
	}
	wc, err := c.dial(ctx, addr, sni)
	if mine != nil {
		if err == nil && wc.waitShareable(ctx) {
			c.mu.Lock()
			if !wc.closing {
				wc.shareKey = key
				c.shared[key] = append(c.shared[key], wc)
				mine.wc = wc
			}
			c.mu.Unlock()
		}
		c.mu.Lock()
		delete(c.dialing, key)
		c.mu.Unlock()
		close(mine.done)
	}
	return wc, err
}

func (c *Context) dial(ctx context.Context, addr, sni string) (*wtConn, error) {
	tr, err := c.clientTransport()
	if err != nil {
		return nil, err
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, errf(ErrNetwork, "resolving %s: %v", addr, err)
	}
	tlsConf := c.clientTLS.Clone()
	tlsConf.ServerName = sni
	qc, err := tr.Dial(ctx, raddr, tlsConf, c.quicConfig())
	if err != nil {
		c.logf(LogInfo, compQUIC, "QUIC handshake with %s failed: %v", addr, err)
		return nil, errf(ErrNetwork, "QUIC handshake with %s: %v", addr, err)
	}
	wc := newWTConn(c, qc, true)
	c.logf(LogDebug, compQUIC, "connected to %s (TLS session resumed: %v)", addr, qc.ConnectionState().TLS.DidResume)
	h3t := &http3.Transport{EnableDatagrams: true, AdditionalSettings: c.h3Settings(false), Logger: c.slogger()}
	raw := h3t.NewRawClientConn(qc)
	wc.h3cli = raw
	wc.handleBidi = raw.HandleBidirectionalStream
	wc.handleUni = raw.HandleUnidirectionalStream
	wc.users = 1
	if !c.trackConn(wc) {
		qc.CloseWithError(0, "")
		return nil, errf(ErrClosed, "context destroyed")
	}
	wc.start()
	return wc, nil
}

// waitShareable waits for the server's SETTINGS: several sessions may share
// the connection when it does WebTransport flow control and allows more
// than one session.
func (wc *wtConn) waitShareable(ctx context.Context) bool {
	select {
	case <-wc.h3cli.ReceivedSettings():
	case <-ctx.Done():
		return false
	case <-wc.qc.Context().Done():
		return false
	}
	return shareableSettings(wc.h3cli.Settings())
}

// shareableSettings: the server's SETTINGS allow several sessions on one
// connection (WebTransport flow control and WT_MAX_SESSIONS > 1).
func shareableSettings(st *http3.Settings) bool {
	return peerFlowControl(st) && st.Other[settingWTMaxSessions] > 1
}

func (c *Context) clientTransport() (*quic.Transport, error) {
	c.clientTrOnce.Do(func() {
		udp, err := udpListen("", 0)
		if err != nil {
			c.clientTrErr = errf(ErrNetwork, "client UDP socket: %v", err)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.clientTr = &quic.Transport{Conn: udp}
	})
	if c.clientTrErr != nil {
		return nil, c.clientTrErr
	}
	return c.clientTr, nil
}

// checkServerSettings waits for the server's SETTINGS and checks that it can
// do WebTransport in a dialect we speak (picoquic: ENABLE_WEBTRANSPORT or
// WT_MAX_SESSIONS; webtransport-go: WT_ENABLED).
func (wc *wtConn) checkServerSettings(ctx context.Context) error {
	// Once per connection: ConnectionState copies the TLS state, which is
	// measurable when many sessions share the connection.
	if wc.settingsOK.Load() {
		return nil
	}
	select {
	case <-wc.h3cli.ReceivedSettings():
	case <-ctx.Done():
		return errf(ErrNetwork, "no HTTP/3 SETTINGS from the server")
	case <-wc.qc.Context().Done():
		return errf(ErrNetwork, "connection closed: %v", context.Cause(wc.qc.Context()))
	}
	missing := missingSettings(wc.h3cli.Settings())
	if !wc.qc.ConnectionState().SupportsDatagrams.Remote {
		missing = append(missing, "QUIC DATAGRAM")
	}
	if len(missing) > 0 {
		return errf(ErrProtocol, "server lacks %s", strings.Join(missing, ", "))
	}
	wc.settingsOK.Store(true)
	return nil
}

// connectProtocol is the :protocol of our CONNECT to a server with these
// SETTINGS: draft-02's "webtransport" when the server announced only
// draft-02's ENABLE_WEBTRANSPORT (wtransport 0.7 refuses "webtransport-h3"
// by closing the request stream unanswered; Chromium sends "webtransport"
// to such servers too), else "webtransport-h3".
func connectProtocol(st *http3.Settings) string {
	if st.Other[settingEnableWebTransportDraft02] != 0 && st.Other[settingWTEnabled] == 0 &&
		st.Other[settingWTMaxSessions] == 0 {
		return protocolWTLegacyDraft
	}
	return protocolWebTransport
}

// missingSettings names what the server's SETTINGS lack for WebTransport
// in a dialect we speak (picoquic: ENABLE_WEBTRANSPORT or WT_MAX_SESSIONS;
// webtransport-go: WT_ENABLED).
func missingSettings(st *http3.Settings) []string {
	var missing []string
	if !st.EnableDatagrams {
		missing = append(missing, "H3_DATAGRAM")
	}
	if !st.EnableExtendedConnect {
		missing = append(missing, "ENABLE_CONNECT_PROTOCOL")
	}
	if st.Other[settingWTEnabled] == 0 && st.Other[settingEnableWebTransportDraft02] == 0 && st.Other[settingWTMaxSessions] == 0 {
		missing = append(missing, "WebTransport")
	}
	return missing
}
