package core

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// How long and how many WebTransport streams are held for a session ID we
// do not know yet (its CONNECT may be reordered behind them).
const (
	earlyStreamTimeout = 5 * time.Second
	earlyStreamMax     = 256
)

// wtConn is one QUIC connection carrying HTTP/3 and WebTransport sessions.
// It owns the stream accept loops: WebTransport streams go to their session,
// everything else to quic-go's HTTP/3 layer.
type wtConn struct {
	ctx    *Context
	qc     *quic.Conn
	client bool

	h3cli      *http3.RawClientConn
	handleBidi func(*quic.Stream)
	handleUni  func(*quic.ReceiveStream)
	settings   http3.Settingser
	settingsOK atomic.Bool // client: the server's SETTINGS were checked once

	shareKey string // client: key in Context.shared when open to sharing
	users    int    // client: sessions using or about to use it (Context.mu)
	closing  bool   // client: last user gone, no longer shared (Context.mu)

	mu       sync.Mutex
	sessions map[uint64]*Session
	early    map[uint64][]earlyStream
	nEarly   int
	// earlyTimer expires held streams; one per connection, stopped when the
	// connection closes: a timer per stream kept the closed connection (all
	// its quic-go stream state) alive for earlyStreamTimeout, which a peer
	// flooding streams for unknown sessions turned into hundreds of MB.
	earlyTimer *time.Timer
	gone       bool // connection closed: nothing more is held
	everUsed   bool
}

type earlyStream struct {
	bidi *quic.Stream
	uni  *quic.ReceiveStream
	at   time.Time
}

func newWTConn(c *Context, qc *quic.Conn, client bool) *wtConn {
	return &wtConn{ctx: c, qc: qc, client: client,
		sessions: make(map[uint64]*Session), early: make(map[uint64][]earlyStream)}
}

func (wc *wtConn) start() {
	c := wc.ctx
	c.goSafe(wc.acceptBidi)
	c.goSafe(wc.acceptUni)
	c.goSafe(func() {
		<-wc.qc.Context().Done()
		wc.connClosed()
	})
}

func (wc *wtConn) acceptBidi() {
	for {
		str, err := wc.qc.AcceptStream(context.Background())
		if err != nil {
			return
		}
		wc.ctx.goSafe(func() {
			id, wt, err := readStreamHeader(str, frameWebTransportStream)
			if err != nil || !wt || id%4 != 0 {
				str.ReleaseStreamCredit() // not a session's: credit at completion
			}
			switch {
			case err != nil:
			case !wt && wc.handleBidi != nil:
				growStack()
				wc.handleBidi(str) // an HTTP/3 request stream
			case !wt:
				str.CancelRead(h3RequestRejected)
				str.CancelWrite(h3RequestRejected)
			case id%4 != 0:
				str.CancelRead(h3GeneralProtocolErr)
				str.CancelWrite(h3GeneralProtocolErr)
			default:
				wc.route(id, earlyStream{bidi: str})
			}
		})
	}
}

func (wc *wtConn) acceptUni() {
	for {
		str, err := wc.qc.AcceptUniStream(context.Background())
		if err != nil {
			return
		}
		wc.ctx.goSafe(func() {
			id, wt, err := readStreamHeader(str, uniStreamWebTransport)
			if err != nil || !wt || id%4 != 0 {
				str.ReleaseStreamCredit() // not a session's: credit at completion
			}
			switch {
			case err != nil:
			case !wt && wc.handleUni != nil:
				wc.handleUni(str) // control, QPACK and other HTTP/3 streams
			case !wt:
			case id%4 != 0:
				str.CancelRead(h3GeneralProtocolErr)
			default:
				wc.route(id, earlyStream{uni: str})
			}
		})
	}
}

// readStreamHeader peeks at a new stream's first varint: when it is wtType,
// it consumes it and the session ID that follows (wt=true); otherwise it
// consumes nothing, leaving the stream to HTTP/3. A WebTransport stream
// whose session ID cannot be read gets id 1 (invalid, rejected by callers).
func readStreamHeader(str interface {
	io.Reader
	Peek([]byte) (int, error)
}, wtType uint64) (id uint64, wt bool, err error) {
	typ, err := quicvarint.Peek(str)
	if err != nil {
		return 0, false, err
	}
	if typ != wtType {
		return 0, false, nil
	}
	r := &headerReader{r: str}
	_, _ = quicvarint.Read(r)
	if id, err = quicvarint.Read(r); err != nil {
		return 1, true, nil
	}
	return id, true, nil
}

// headerReader reads a stream header byte by byte. quic-go returns the last
// reliable byte of a stream reset with RESET_STREAM_AT together with the
// reset error (n=1, err!=nil), and quicvarint.NewReader's byte reader drops
// such a byte; a stream reset right after it was opened would then lose its
// session ID. The error is kept for the next call (and quic-go repeats it).
type headerReader struct {
	r   io.Reader
	err error
}

func (h *headerReader) ReadByte() (byte, error) {
	var b [1]byte
	for h.err == nil {
		n, err := h.r.Read(b[:])
		h.err = err
		if n == 1 {
			return b[0], nil
		}
	}
	return 0, h.err
}

// route hands an incoming WebTransport stream to its session, or holds it
// until the session is known (bounded in number and time).
func (wc *wtConn) route(id uint64, es earlyStream) {
	wc.mu.Lock()
	s := wc.sessions[id]
	if s == nil {
		if wc.nEarly >= earlyStreamMax || wc.gone {
			wc.mu.Unlock()
			rejectStream(es)
			return
		}
		es.at = time.Now()
		wc.early[id] = append(wc.early[id], es)
		wc.nEarly++
		if wc.earlyTimer == nil {
			wc.earlyTimer = time.AfterFunc(earlyStreamTimeout, func() { wc.ctx.recovered(wc.expireEarly) })
		}
		wc.mu.Unlock()
		return
	}
	wc.mu.Unlock()
	s.incoming(es)
}

func (wc *wtConn) expireEarly() {
	var drop []earlyStream
	wc.mu.Lock()
	wc.earlyTimer = nil
	var oldest time.Time
	for id, list := range wc.early {
		keep := list[:0]
		for _, es := range list {
			if time.Since(es.at) >= earlyStreamTimeout {
				drop = append(drop, es)
				wc.nEarly--
			} else {
				keep = append(keep, es)
				if oldest.IsZero() || es.at.Before(oldest) {
					oldest = es.at
				}
			}
		}
		if len(keep) == 0 {
			delete(wc.early, id)
		} else {
			wc.early[id] = keep
		}
	}
	if !oldest.IsZero() && !wc.gone {
		wc.earlyTimer = time.AfterFunc(earlyStreamTimeout-time.Since(oldest),
			func() { wc.ctx.recovered(wc.expireEarly) })
	}
	wc.mu.Unlock()
	for _, es := range drop {
		rejectStream(es)
	}
}

func rejectStream(es earlyStream) {
	if es.bidi != nil {
		es.bidi.CancelRead(wtBufferedStreamRej)
		es.bidi.CancelWrite(wtBufferedStreamRej)
		es.bidi.ReleaseStreamCredit()
	} else if es.uni != nil {
		es.uni.CancelRead(wtBufferedStreamRej)
		es.uni.ReleaseStreamCredit()
	}
}

// addSession makes a session reachable by its wire ID and hands it the
// streams that arrived before it.
func (wc *wtConn) addSession(s *Session) {
	id := s.wireID.Load()
	wc.mu.Lock()
	wc.sessions[id] = s
	wc.everUsed = true
	early := wc.early[id]
	delete(wc.early, id)
	wc.nEarly -= len(early)
	wc.mu.Unlock()
	for _, es := range early {
		s.incoming(es)
	}
}

// removeSession forgets a session.
func (wc *wtConn) removeSession(s *Session) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if wc.sessions[s.wireID.Load()] == s {
		delete(wc.sessions, s.wireID.Load())
	}
}

// release drops one client user; true means it was the last one and the
// connection must close (it is withdrawn from sharing first, so no new
// session can pick it meanwhile).
func (wc *wtConn) release() bool {
	c := wc.ctx
	c.mu.Lock()
	defer c.mu.Unlock()
	wc.users--
	if wc.users > 0 || wc.closing {
		return false
	}
	wc.closing = true
	c.unshareLocked(wc)
	return true
}

func (wc *wtConn) connClosed() {
	err := context.Cause(wc.qc.Context())
	wc.mu.Lock()
	var list []*Session
	for _, s := range wc.sessions {
		list = append(list, s)
	}
	for _, l := range wc.early {
		for _, es := range l {
			rejectStream(es)
		}
	}
	wc.early = map[uint64][]earlyStream{}
	wc.nEarly = 0
	wc.gone = true
	if wc.earlyTimer != nil {
		wc.earlyTimer.Stop()
		wc.earlyTimer = nil
	}
	wc.mu.Unlock()
	msg := "connection closed"
	if err != nil && err != io.EOF {
		msg = err.Error()
	}
	wc.ctx.logf(LogDebug, compQUIC, "connection with %s closed: %s (%d sessions on it)", wc.qc.RemoteAddr(), msg, len(list))
	for _, s := range list {
		s.finishErrorFrom(msg, err)
	}
	wc.ctx.untrackConn(wc)
}
