package core

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

type connKeyType struct{}

var connKey = connKeyType{}

type listener struct {
	udp *net.UDPConn
	tr  *quic.Transport
	ln  *quic.EarlyListener
}

func (l *listener) close() {
	_ = l.ln.Close()
	_ = l.tr.Close()
	_ = l.udp.Close()
}

// pathEntry is a registered server path.
type pathEntry struct {
	path      string
	cb        any
	appCtx    uintptr
	origins   []string // nil: same-origin rule; ["*"]: any
	protocols []string
}

// PathOptions are the Go form of gowt_path_options.
type PathOptions struct {
	AllowedOrigins []string
	Protocols      []string
}

// Register adds a server path ("/exact" or "*").
func (c *Context) Register(path string, cb any, appCtx uintptr, opts PathOptions) error {
	if path == "" || (path != "*" && !strings.HasPrefix(path, "/")) {
		return errf(ErrInvalidArg, "path %q must start with '/' or be \"*\"", path)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return errf(ErrInvalidArg, "path %q must not contain a query", path)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errf(ErrClosed, "context destroyed")
	}
	if _, ok := c.paths[path]; ok {
		return errf(ErrState, "path %q is already registered", path)
	}
	c.paths[path] = &pathEntry{path: path, cb: cb, appCtx: appCtx,
		origins: opts.AllowedOrigins, protocols: opts.Protocols}
	return nil
}

// Unregister removes a server path.
func (c *Context) Unregister(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.paths[path]; !ok {
		return errf(ErrNotFound, "path %q is not registered", path)
	}
	delete(c.paths, path)
	return nil
}

func (c *Context) lookupPath(p string) *pathEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.paths[p]; e != nil {
		return e
	}
	return c.paths["*"]
}

// Listen starts serving WebTransport on host:port and returns the bound port.
func (c *Context) Listen(host string, port int) (int, error) {
	if port < 0 || port > 65535 {
		return 0, errf(ErrInvalidArg, "port %d out of range", port)
	}
	if _, err := c.CertHash(); err != nil { // generates a certificate if none was given
		return 0, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, errf(ErrClosed, "context destroyed")
	}
	if c.h3 == nil {
		if c.cfg.WWWDir != "" {
			c.files = http.FileServer(http.Dir(c.cfg.WWWDir))
		}
		c.h3 = &http3.Server{
			Handler:            http.HandlerFunc(c.serveHTTP),
			EnableDatagrams:    true,
			AdditionalSettings: c.h3Settings(true),
			Logger:             c.slogger(),
			ConnContext: func(ctx context.Context, qc *quic.Conn) context.Context {
				c.mu.Lock()
				wc := c.byQUIC[qc]
				c.mu.Unlock()
				return context.WithValue(ctx, connKey, wc)
			},
		}
	}
	c.mu.Unlock()
	udp, err := udpListen(host, port)
	if err != nil {
		return 0, errf(ErrNetwork, "listen on %s:%d: %v", host, port, err)
	}
	tr := &quic.Transport{Conn: udp, VerifySourceAddress: func(a net.Addr) bool { return c.hs.verify(a) }}
	// An early listener hands us connections before the handshake is
	// complete, so our SETTINGS leave in the server's first flight (0.5-RTT)
	// and the client does not wait an extra round trip for them.
	ln, err := tr.ListenEarly(c.serverTLS, c.quicConfig())
	if err != nil {
		_ = udp.Close()
		return 0, errf(ErrNetwork, "QUIC listen: %v", err)
	}
	l := &listener{udp: udp, tr: tr, ln: ln}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.close()
		return 0, errf(ErrClosed, "context destroyed")
	}
	c.listeners = append(c.listeners, l)
	c.mu.Unlock()
	c.goSafe(func() { c.acceptLoop(l) })
	c.logf(LogInfo, compQUIC, "listening on %s", udp.LocalAddr())
	return udp.LocalAddr().(*net.UDPAddr).Port, nil
}

func (c *Context) acceptLoop(l *listener) {
	for {
		qc, err := l.ln.Accept(context.Background())
		if err != nil {
			return
		}
		c.logf(LogDebug, compQUIC, "connection from %s", qc.RemoteAddr())
		c.trackHandshake(qc)
		wc := newWTConn(c, qc, false)
		if !c.trackConn(wc) {
			qc.CloseWithError(0, "")
			continue
		}
		raw, err := c.h3.NewRawServerConn(qc)
		if err != nil {
			c.logf(LogWarn, compHTTP3, "connection from %s: %v", qc.RemoteAddr(), err)
			qc.CloseWithError(h3GeneralProtocolErr, "")
			continue
		}
		wc.handleBidi = raw.HandleRequestStream
		wc.handleUni = raw.HandleUnidirectionalStream
		wc.start()
	}
}

func (c *Context) trackConn(wc *wtConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.conns[wc] = struct{}{}
	c.byQUIC[wc.qc] = wc
	return true
}

func (c *Context) untrackConn(wc *wtConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, wc)
	delete(c.byQUIC, wc.qc)
	wc.closing = true
	c.unshareLocked(wc)
}

func (c *Context) unshareLocked(wc *wtConn) {
	if wc.shareKey == "" {
		return
	}
	list := c.shared[wc.shareKey]
	for i, x := range list {
		if x == wc {
			c.shared[wc.shareKey] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(c.shared[wc.shareKey]) == 0 {
		delete(c.shared, wc.shareKey)
	}
	wc.shareKey = ""
}

// ConnectRequest is what the server learns from a CONNECT request.
type ConnectRequest struct {
	Path, Query, Authority, Origin, Protocol string
	Protocols                                []string
	HeaderNames, HeaderValues                []string
	PeerAddr, LocalAddr                      string
	PeerCertHash                             *[32]byte // client certificate's SHA-256, nil when none
}

// serveHTTP handles every HTTP/3 request: extended CONNECT for
// WebTransport; other methods get 404 (or a file, later).
func (c *Context) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if rec := recover(); rec != nil {
			c.SetLastError(fmt.Sprintf("internal panic in request handler: %v", rec))
		}
	}()
	wc, _ := r.Context().Value(connKey).(*wtConn)
	if r.Method != http.MethodConnect && c.files != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		c.files.ServeHTTP(w, r)
		return
	}
	if wc == nil || r.Method != http.MethodConnect {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if !webTransportProtocol(r.Proto) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	entry := c.lookupPath(r.URL.Path)
	if entry == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	origin := r.Header.Get("Origin")
	if !originAllowed(entry.origins, origin, r.Host) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	// The client's SETTINGS must have arrived: they say whether it can do
	// HTTP datagrams and WebTransport flow control.
	st := w.(http3.Settingser)
	select {
	case <-st.ReceivedSettings():
	case <-r.Context().Done():
		return
	case <-time.After(5 * time.Second):
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !st.Settings().EnableDatagrams {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	req := newConnectRequest(r, origin)
	req.PeerAddr, req.LocalAddr = wc.qc.RemoteAddr().String(), wc.qc.LocalAddr().String()
	// The handshake is complete here (RFC 9001 5.7: no 1-RTT request before it).
	if _, h, ok := wc.tlsFacts(); ok {
		req.PeerCertHash = &h
	}
	s := newSession(c, false, entry.cb, entry.appCtx)
	s.req = req
	s.path = entry
	s.conn = wc
	// The session ID is the request stream's ID. http3's request body has a
	// public StreamID method; HTTPStream() would give it too, but it sends
	// the 200 at once, before the application has decided.
	if b, ok := r.Body.(interface{ StreamID() quic.StreamID }); ok {
		s.wireID.Store(uint64(b.StreamID()))
	}
	s.state = stPending
	s.initFlowControl(st.Settings())
	if err := c.addSession(s); err != nil {
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if s.WireID() != NoID {
		wc.addSession(s)
	}
	c.q.push(Event{Type: EvConnect, Sess: s, StreamID: NoID, Request: req, PeerCertHash: req.PeerCertHash})

	var d decision
	select {
	case d = <-s.decision:
	case <-s.done:
		d = decision{status: http.StatusServiceUnavailable}
	case <-wc.qc.Context().Done():
		s.finishError("connection closed before the session was accepted")
		return
	}
	if d.status != 0 {
		w.WriteHeader(d.status)
		s.finishRefused(d.status, "")
		return
	}
	if d.protocol != "" {
		if v, err := httpsfv.Marshal(httpsfv.NewItem(d.protocol)); err == nil {
			w.Header().Set("Wt-Protocol", v)
		}
	}
	// http3's responseWriter formats a Date header for every response
	// (time.Format on a fresh goroutine stack: ~5 % of a shared-connection
	// session setup); a WebTransport 200 does not need one, and a nil value
	// is quic-go's documented way to leave it out.
	w.Header()["Date"] = nil
	w.WriteHeader(http.StatusOK)
	// Sends the 200. quic-go v0.65.0 reports a failure to send it (the
	// stream is then not taken over); v0.64.1 dropped that error.
	str, err := w.(http3.HTTPStreamer).HTTPStream()
	if err != nil {
		s.finishError("sending the 200 failed: " + err.Error())
		return
	}
	if s.WireID() == NoID {
		s.wireID.Store(uint64(str.StreamID()))
		wc.addSession(s)
	}
	s.setCtrl(str)
	s.run()
}

// webTransportProtocol: the extended CONNECT :protocol of draft-16
// ("webtransport-h3") or of draft-02 as Chromium sends it ("webtransport").
func webTransportProtocol(proto string) bool {
	return proto == protocolWebTransport || proto == protocolWTLegacyDraft
}

// newConnectRequest is what the application learns from a CONNECT request.
func newConnectRequest(r *http.Request, origin string) *ConnectRequest {
	req := &ConnectRequest{
		Path: r.URL.Path, Query: r.URL.RawQuery, Authority: r.Host,
		Origin: origin, Protocol: r.Proto,
		Protocols: parseSFStringList(r.Header.Values("Wt-Available-Protocols")),
	}
	for name, vals := range r.Header {
		for _, v := range vals {
			req.HeaderNames = append(req.HeaderNames, strings.ToLower(name))
			req.HeaderValues = append(req.HeaderValues, v)
		}
	}
	return req
}

type decision struct {
	status   int // 0: accept
	protocol string
}

func originAllowed(allowed []string, origin, host string) bool {
	if origin == "" {
		return true
	}
	if allowed == nil {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, host)
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(origin, "/")) {
			return true
		}
	}
	return false
}

func parseSFStringList(vals []string) []string {
	if len(vals) == 0 {
		return nil
	}
	list, err := httpsfv.UnmarshalList(vals)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range list {
		if it, ok := m.(httpsfv.Item); ok {
			if s, ok := it.Value.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func chooseProtocol(supported, offered []string) string {
	for _, o := range offered {
		for _, s := range supported {
			if o == s {
				return o
			}
		}
	}
	return ""
}
