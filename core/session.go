package core

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

type sessState int32

const (
	stConnecting  sessState = iota // client: CONNECT not answered yet
	stPending                      // server: CONNECT delivered, not decided
	stEstablished                  // accepted
	stClosed                       // ended: only end events remain
)

// closeStreamsDelay separates the moment our close is out from refusing
// streams that still arrive: Chromium reports "Connection lost" instead of
// the close code when resets or STOP_SENDING overtake the capsule
// (webtransport-go v0.13.0's CloseWithError sends STOP_SENDING on the
// CONNECT stream first).
const closeStreamsDelay = 30 * time.Millisecond

// closeAnswerTimeout bounds how long a local close waits for the peer's
// answer on the CONNECT stream before resetting the session's streams.
const closeAnswerTimeout = time.Second

// ctrlStream is the CONNECT stream: *http3.Stream on the server,
// *http3.RequestStream on the client. Capsules travel in its DATA frames.
type ctrlStream interface {
	io.ReadWriteCloser
	ReceiveDatagram(context.Context) ([]byte, error)
	SendDatagram([]byte) error
	CancelRead(quic.StreamErrorCode)
	CancelWrite(quic.StreamErrorCode)
	StreamID() quic.StreamID
}

// Session is one WebTransport session. It is the only owner of its CONNECT
// stream: capsules, datagrams and the session's streams all go through it.
type Session struct {
	ctx    *Context
	Handle uint64
	client bool
	cb     any
	appCtx atomic.Uintptr
	// peerBlocked counts the peer's WT_STREAMS_BLOCKED capsules: it waits
	// for our stream limit (the application still holds that many streams).
	peerBlocked atomic.Int64

	freesDeferred atomic.Int32 // end's hold + FREEs a sender still owes (end)
	flushOnEnd    atomic.Bool  // a local Close: queued data still goes out
	wireID        atomic.Uint64

	mu       sync.Mutex
	state    sessState
	conn     *wtConn
	ctrl     ctrlStream
	streams  map[uint64]*Stream
	early    []earlyStream
	req      *ConnectRequest
	path     *pathEntry
	decided  bool
	decision chan decision
	protocol string
	ownsConn bool
	dgSender bool // the datagram sending goroutine was started
	fc       *flowControl
	credit   streamCredit // STREAMS_AVAILABLE (credit.go)
	prio     *priorities  // send priorities, once one is set (priority.go)

	done      chan struct{} // closed when the session ends
	doneCtx   context.Context
	cancel    context.CancelFunc
	ctrlEOF   chan struct{} // closed when the capsule reader stops
	ctrlReady chan struct{} // closed once ctrl is set (read it freely after)
	ctrlMu    sync.Mutex    // serialises writes on the CONNECT stream
	closeOut  chan struct{} // closed once our close capsule is out (or none will be sent)
	closeOnce sync.Once
	endOnce   sync.Once
	deregSeen bool // delivery thread only: DEREGISTER delivered

	dgQueued       atomic.Int64
	dgSendQ        chan []byte // made on first send (s.mu)
	dgReady        atomic.Bool
	dgWake         chan struct{}
	dgWantWritable atomic.Bool
	maxDatagram    atomic.Int64
	dgProbedAt     atomic.Int64

	DatagramsSent, DatagramsReceived         atomic.Uint64
	DatagramsDroppedSend, DatagramsDroppedRx atomic.Uint64
	BytesSent, BytesReceived                 atomic.Uint64
	lastRecv                                 atomic.Int64 // monoNow of the last stream read (data, FIN, reset)
}

// monoBase anchors monoNow, a monotonic clock in nanoseconds.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

// closeQuiet is how long after the last bytes (or FIN) received on any of
// the session's streams our close capsule waits. Chromium 156 rejects the
// page's wt.closed with "Connection lost" instead of {closeCode, reason}
// when the close arrives while the renderer is still completing the
// page's last stream write (a server that closes as soon as the page's
// last message arrives, as a devious-baton server does): 24-30 games in
// 100 lost the close; with the capsule 20 ms later 2 in 100, 40 ms later
// 0 in 100 (tests/browser server_close_games, on a loaded 2-core box).
// A session idle for that long closes at once.
const closeQuiet = 40 * time.Millisecond

func newSession(c *Context, client bool, cb any, appCtx uintptr) *Session {
	// An unnamed func literal of GoCallback's shape is a GoCallback: without
	// this the deliverer's type assertion missed it and the session got no
	// events at all.
	if f, ok := cb.(func(*Context, *Event) int); ok {
		cb = GoCallback(f)
	}
	s := &Session{
		ctx:       c,
		Handle:    nextSessionHandle.Add(1),
		client:    client,
		cb:        cb,
		streams:   make(map[uint64]*Stream),
		decision:  make(chan decision, 1),
		done:      make(chan struct{}),
		ctrlEOF:   make(chan struct{}),
		ctrlReady: make(chan struct{}),
		closeOut:  make(chan struct{}),
		dgWake:    make(chan struct{}, 1),
	}
	s.doneCtx, s.cancel = context.WithCancel(context.Background())
	s.appCtx.Store(appCtx)
	s.wireID.Store(NoID)
	s.maxDatagram.Store(1200)
	return s
}

// Callback is the application callback given at register/connect time.
func (s *Session) Callback() any { return s.cb }

// AppCtx is the session's application context.
func (s *Session) AppCtx() uintptr { return s.appCtx.Load() }

// SetAppCtx changes the application context for later events.
func (s *Session) SetAppCtx(v uintptr) { s.appCtx.Store(v) }

// WireID is the CONNECT stream ID, or NoID before it is known.
func (s *Session) WireID() uint64 { return s.wireID.Load() }

// Protocol is the negotiated sub-protocol ("" if none).
func (s *Session) Protocol() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protocol
}

// FlowControl reports whether WebTransport flow control is active.
func (s *Session) FlowControl() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fc != nil
}

func (s *Session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Session) push(ev Event) {
	ev.Sess = s
	if ev.Stream == nil && ev.StreamID == 0 {
		ev.StreamID = NoID
	}
	s.ctx.q.push(ev)
}

// ---------------------------------------------------------------------------
// Server side: accept / refuse

// Accept accepts a pending server session, choosing protocol ("" = the
// path's automatic choice). Streams may be opened right away.
func (s *Session) Accept(protocol string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client {
		return errf(ErrState, "accept is for server sessions")
	}
	if s.decided || s.state != stPending {
		return errf(ErrState, "session already accepted, refused or closed")
	}
	if protocol == "" && s.path != nil {
		protocol = chooseProtocol(s.path.protocols, s.req.Protocols)
	}
	s.decided = true
	s.protocol = protocol
	s.state = stEstablished
	s.decision <- decision{protocol: protocol}
	return nil
}

// Refuse refuses a pending server session with an HTTP status.
func (s *Session) Refuse(status int) error {
	if status < 400 || status > 599 {
		return errf(ErrInvalidArg, "status %d is not 400..599", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client {
		return errf(ErrState, "refuse is for server sessions")
	}
	if s.decided || s.state != stPending {
		return errf(ErrState, "session already accepted, refused or closed")
	}
	s.decided = true
	s.decision <- decision{status: status}
	return nil
}

// connectResult applies the CONNECT callback's return value.
func (s *Session) connectResult(r int) {
	switch {
	case r == 0:
		_ = s.Accept("")
	case r == 1: // GOWT_CONNECT_DEFER
	case r >= 400 && r <= 599:
		_ = s.Refuse(r)
	default:
		_ = s.Refuse(http.StatusInternalServerError)
	}
}

// ---------------------------------------------------------------------------
// Running an established session

// setCtrl installs the CONNECT stream (once).
func (s *Session) setCtrl(c ctrlStream) {
	s.mu.Lock()
	s.ctrl = c
	s.mu.Unlock()
	close(s.ctrlReady)
}

// ctrlOrNil returns the CONNECT stream if it is set.
func (s *Session) ctrlOrNil() ctrlStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctrl
}

// run starts the session's readers once it is established (both sides).
func (s *Session) run() {
	s.mu.Lock()
	if s.state == stClosed { // closed by the application meanwhile
		s.mu.Unlock()
		s.ctx.goSafe(s.readCapsules) // to see the peer's answer to our close
		return
	}
	s.state = stEstablished
	early := s.early
	s.early = nil
	s.mu.Unlock()
	s.maxDatagram.Store(int64(initialMaxDatagram(s.wireID.Load())))
	s.ctx.goSafe(s.readCapsules)
	s.ctx.goSafe(s.receiveDatagrams)
	for _, es := range early {
		s.incoming(es)
	}
}

// initialMaxDatagram is the WebTransport payload that fits a QUIC DATAGRAM
// frame before path MTU discovery (1200-byte packets), after the quarter
// stream ID prefix.
func initialMaxDatagram(id uint64) int {
	return 1243 - quicvarint.Len(id/4)
}

func (s *Session) readCapsules() {
	defer close(s.ctrlEOF)
	p := http3.NewCapsuleParser(s.ctrl)
	for {
		c, err := nextCtrlCapsule(p)
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.finishRemote(0, "") // FIN without a capsule: a clean close
			} else if errors.Is(err, errMalformedClose) {
				s.finishError(err.Error())
			} else {
				s.finishErrorFrom("CONNECT stream: "+err.Error(), err)
			}
			return
		}
		switch c.typ {
		case capsuleCloseSession:
			s.finishRemote(c.code, c.reason)
		case capsuleDrainSession:
			if !s.ended() {
				s.push(Event{Type: EvDrain})
			}
		case capsuleMaxData, capsuleMaxStreamsBidi, capsuleMaxStreamsUni:
			if c.valueOK {
				s.fcUpdate(c.typ, c.value)
			}
		case capsuleStreamsBlkBidi, capsuleStreamsBlkUni:
			s.peerBlocked.Add(1)
			kind := "uni"
			if c.typ == capsuleStreamsBlkBidi {
				kind = "bidi"
			}
			s.ctx.logf(LogDebug, compSess, "session %d: the peer waits for our %s stream limit %d (WT_STREAMS_BLOCKED)",
				s.WireID(), kind, c.value)
		}
	}
}

// ctrlCapsule is one capsule of the CONNECT stream as readCapsules acts on it.
type ctrlCapsule struct {
	typ     http3.CapsuleType
	code    uint32 // CLOSE_WEBTRANSPORT_SESSION
	reason  string // CLOSE_WEBTRANSPORT_SESSION, at most maxCloseReason bytes
	value   uint64 // WT_MAX_DATA, WT_MAX_STREAMS
	valueOK bool   // value was read
}

var errMalformedClose = errors.New("malformed CLOSE_WEBTRANSPORT_SESSION capsule")

// nextCtrlCapsule reads the next capsule and consumes all of it. Capsules of
// other (unknown, GREASE) types are skipped: only their type is returned.
func nextCtrlCapsule(p *http3.CapsuleParser) (ctrlCapsule, error) {
	typ, r, err := p.Next()
	if err != nil {
		return ctrlCapsule{}, err
	}
	c := ctrlCapsule{typ: typ}
	switch typ {
	case capsuleCloseSession:
		payload, err := io.ReadAll(io.LimitReader(r, 4+maxCloseReason))
		if derr := r.Discard(); err == nil {
			err = derr // cut off by the end of the stream (RFC 9297 section 3.3)
		}
		if err != nil || len(payload) < 4 {
			return c, errMalformedClose
		}
		c.code = uint32(payload[0])<<24 | uint32(payload[1])<<16 | uint32(payload[2])<<8 | uint32(payload[3])
		c.reason = string(payload[4:])
	case capsuleMaxData, capsuleMaxStreamsBidi, capsuleMaxStreamsUni, capsuleStreamsBlkBidi, capsuleStreamsBlkUni:
		v, err := readCapsuleVarint(r)
		_ = r.Discard()
		c.value, c.valueOK = v, err == nil
	default:
		_ = r.Discard()
	}
	return c, nil
}

func (s *Session) writeCtrl(b []byte) error {
	select { // a server session accepted in its callback gets ctrl a bit later
	case <-s.ctrlReady:
	case <-time.After(5 * time.Second):
		return errf(ErrClosed, "CONNECT stream never became ready")
	}
	s.ctrlMu.Lock()
	defer s.ctrlMu.Unlock()
	_, err := s.ctrl.Write(b)
	return err
}

// Drain sends WT_DRAIN_SESSION (webtransport-go v0.13.0 cannot).
func (s *Session) Drain() error {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	switch {
	case st == stClosed:
		return errf(ErrClosed, "session closed")
	case st != stEstablished:
		return errf(ErrState, "session not established")
	}
	c := appendCapsule(nil, capsuleDrainSession, nil)
	s.ctx.goSafe(func() { _ = s.writeCtrl(c) })
	return nil
}

// ---------------------------------------------------------------------------
// Ending

// end moves the session to closed and queues its end events: ev (CLOSE or
// CONNECT_REFUSED, if any), FREE for each stream, DEREGISTER. Only the first
// call does anything; it returns the streams to abort, ok=false afterwards.
func (s *Session) end(ev *Event) (streams []*Stream, ok bool) {
	s.endOnce.Do(func() {
		ok = true
		s.mu.Lock()
		s.state = stClosed
		for _, st := range s.streams {
			streams = append(streams, st)
		}
		early := s.early
		s.early = nil
		s.mu.Unlock()
		close(s.done)
		s.cancel()
		s.dropSpares()
		for _, es := range early {
			s.rejectAfterClose(es)
		}
		if ev != nil {
			s.push(*ev)
		}
		// DEREGISTER comes after every FREE; a stream whose sender is
		// writing an application buffer queues its FREE when that write
		// returns (markFreed), and the last FREE then queues DEREGISTER.
		s.freesDeferred.Add(1)
		for _, st := range streams {
			if !st.markFreed() {
				s.freesDeferred.Add(1)
			}
		}
		s.freeDeferredDone()
		s.ctx.q.wakeWaiters()
	})
	return streams, ok
}

// freeDeferredDone counts down end's own hold and each deferred FREE; the
// last one queues DEREGISTER.
func (s *Session) freeDeferredDone() {
	if s.freesDeferred.Add(-1) == 0 {
		s.push(Event{Type: EvDeregister})
	}
}

// closeIsOut marks the close capsule as sent (or as never to be sent).
func (s *Session) closeIsOut() { s.closeOnce.Do(func() { close(s.closeOut) }) }

// rejectAfterClose refuses a stream of an ended session, but only after our
// close capsule is out: Chromium fails the session without its close code
// when a stream reset overtakes the capsule.
func (s *Session) rejectAfterClose(es earlyStream) {
	select {
	case <-s.closeOut:
		rejectStream(es)
	default:
		s.ctx.goSafe(func() {
			select {
			case <-s.closeOut:
				time.Sleep(closeStreamsDelay)
			case <-time.After(2 * time.Second):
			}
			rejectStream(es)
		})
	}
}

func reasonEvent(flags int, code uint64, reason string) *Event {
	b := append([]byte(reason), 0) // NUL-terminated for C; length excludes it
	return &Event{Type: EvClose, Flags: flags, Code: code, Data: b[:len(reason)]}
}

// errWireCode is the code on the wire that ended a session, when err
// carries one: the peer's or our reset of the CONNECT stream, or the
// QUIC connection's close (application or transport code).
func errWireCode(err error) (uint64, bool) {
	var se *quic.StreamError
	var ae *quic.ApplicationError
	var te *quic.TransportError
	switch {
	case errors.As(err, &se):
		return uint64(se.ErrorCode), true
	case errors.As(err, &ae):
		return uint64(ae.ErrorCode), true
	case errors.As(err, &te):
		return uint64(te.ErrorCode), true
	}
	return 0, false
}

// Close closes the session with code and reason (local close).
func (s *Session) Close(code uint32, reason string) error {
	if len(reason) > maxCloseReason {
		return errf(ErrTooLarge, "reason is %d bytes, at most %d", len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return errf(ErrInvalidArg, "reason is not UTF-8")
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	switch st {
	case stClosed:
		return errf(ErrClosed, "session already closed")
	case stPending:
		return errf(ErrState, "session not accepted yet: use gowt_session_refuse")
	}
	s.flushOnEnd.Store(true)
	streams, ok := s.end(reasonEvent(FlagCloseLocal, uint64(code), reason))
	if !ok {
		return errf(ErrClosed, "session already closed")
	}
	s.ctx.closers.Add(1)
	s.ctx.goSafe(func() {
		defer s.ctx.closers.Done()
		s.sendClose(st == stEstablished, code, reason, streams)
	})
	return nil
}

// closeFor ends the session from the library side (context destroyed).
func (s *Session) closeFor(reason string) {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if st == stPending {
		if s.Refuse(http.StatusServiceUnavailable) == nil {
			return // the request handler finishes it
		}
	}
	_ = s.Close(0, reason)
}

// sendClose: capsule and FIN first, stream resets only afterwards, then the
// connection if this session owns it (webtransport-go's Dial-made sessions
// close their connection at once and the peer loses the close code).
func (s *Session) sendClose(established bool, code uint32, reason string, streams []*Stream) {
	defer s.closeIsOut()
	if !established { // client still connecting: abandon the request
		if ctrl := s.ctrlOrNil(); ctrl != nil {
			ctrl.CancelWrite(h3RequestCanceled)
			ctrl.CancelRead(h3RequestCanceled)
		}
		abortStreams(streams)
		s.closeOwnedConn(0)
		return
	}
	// A server session accepted inside its CONNECT callback gets its stream
	// once the 200 is out.
	select {
	case <-s.ctrlReady:
	case <-time.After(5 * time.Second):
		abortStreams(streams)
		s.closeOwnedConn(0)
		return
	}
	if wait := closeQuiet - time.Duration(monoNow()-s.lastRecv.Load()); wait > 0 {
		time.Sleep(wait)
	}
	_ = s.writeCtrl(closeCapsule(code, reason))
	s.ctrlMu.Lock()
	_ = s.ctrl.Close()
	s.ctrlMu.Unlock()
	// Stream resets wait until the peer has answered on the CONNECT stream
	// (Chromium with its FIN, webtransport-go with a reset), so they cannot
	// overtake the capsule; a fixed delay was not enough on a loaded host.
	select {
	case <-s.ctrlEOF:
	case <-time.After(closeAnswerTimeout):
	}
	s.closeIsOut()
	waitFinishing(streams, time.Now().Add(closeAnswerTimeout))
	abortStreams(streams)
	s.ctrl.CancelRead(h3NoError)
	// A connection closed at once would take the resets just queued with
	// it (aioquic saw the close but not the reset of a stream still open,
	// 2 runs in 30): they get about two round trips first.
	s.closeOwnedConn(s.resetGrace(len(streams)))
}

// resetGrace is how long a closing client connection waits for the resets
// of n aborted streams to leave: 2 smoothed RTTs, 20 ms to 500 ms; 0 when
// nothing was aborted.
func (s *Session) resetGrace(n int) time.Duration {
	if n == 0 {
		return 0
	}
	s.mu.Lock()
	wc := s.conn
	s.mu.Unlock()
	d := 20 * time.Millisecond
	if wc != nil {
		d = max(d, 2*wc.qc.ConnectionStats().SmoothedRTT)
	}
	return min(d, 500*time.Millisecond)
}

// finishRemote handles the peer's close capsule (or FIN).
func (s *Session) finishRemote(code uint32, reason string) {
	s.closeIsOut() // the peer closed: no capsule of ours to wait for
	streams, ok := s.end(reasonEvent(FlagCloseRemote, uint64(code), reason))
	if !ok {
		return
	}
	s.ctrlMu.Lock()
	_ = s.ctrl.Close() // answer with our FIN
	s.ctrlMu.Unlock()
	abortStreams(streams)
	s.closeOwnedConn(50 * time.Millisecond)
}

// flowControlViolated ends the session with WT_FLOW_CONTROL_ERROR: the
// peer sent more data or opened more streams than we allowed (draft-16
// section 5.4), which would let one session starve the others.
func (s *Session) flowControlViolated(msg string) {
	s.ctx.logf(LogWarn, compSess, "session %d: %s: closing with WT_FLOW_CONTROL_ERROR", s.WireID(), msg)
	s.finishErrorCode(msg, wtFlowControlError)
}

// finishError ends the session after a connection or protocol failure.
func (s *Session) finishError(msg string) { s.finishErrorCode(msg, h3RequestCanceled) }

// finishErrorFrom is finishError for a failure that err explains: its wire
// code, if any, reaches the CLOSE event with FlagCodeRaw.
func (s *Session) finishErrorFrom(msg string, err error) {
	if w, ok := errWireCode(err); ok {
		s.finishErrorWire(msg, h3RequestCanceled, w, true)
		return
	}
	s.finishError(msg)
}

// finishErrorCode ends the session, resetting its CONNECT stream with code.
func (s *Session) finishErrorCode(msg string, code quic.StreamErrorCode) {
	s.finishErrorWire(msg, code, 0, false)
}

func (s *Session) finishErrorWire(msg string, code quic.StreamErrorCode, wire uint64, hasWire bool) {
	if !s.ended() {
		s.ctx.logf(LogInfo, compSess, "session %d ended by an error: %s", s.WireID(), msg)
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	var ev *Event
	switch st {
	case stConnecting:
		if s.client {
			b := append([]byte(msg), 0)
			ev = &Event{Type: EvConnectRefused, Data: b[:len(msg)]}
		}
	case stPending:
	default:
		if hasWire {
			ev = reasonEvent(FlagCloseError|FlagCodeRaw, wire, msg)
		} else {
			ev = reasonEvent(FlagCloseError, 0, msg)
		}
	}
	s.closeIsOut()
	streams, ok := s.end(ev)
	if !ok {
		return
	}
	if ctrl := s.ctrlOrNil(); ctrl != nil {
		ctrl.CancelRead(code)
		ctrl.CancelWrite(code)
	}
	abortStreams(streams)
	s.closeOwnedConn(0)
}

// finishRefused ends a session whose CONNECT was refused.
func (s *Session) finishRefused(status int, msg string) { s.finishRefusedThen(status, msg, nil) }

// finishRefusedThen is finishRefused that runs before once the event is
// queued, before the session lets go of its connection.
func (s *Session) finishRefusedThen(status int, msg string, before func()) {
	var ev *Event
	if s.client {
		b := append([]byte(msg), 0)
		ev = &Event{Type: EvConnectRefused, Code: uint64(status), Data: b[:len(msg)]}
	}
	s.closeIsOut()
	s.end(ev)
	if before != nil {
		before()
	}
	s.closeOwnedConn(0)
}

func (s *Session) closeOwnedConn(delay time.Duration) {
	s.mu.Lock()
	wc := s.conn
	if wc == nil { // still dialling: runClient releases it when it gets one
		s.mu.Unlock()
		return
	}
	owns := s.ownsConn
	s.ownsConn = false // release once
	s.mu.Unlock()
	wc.removeSession(s)
	if owns && wc.release() {
		if delay > 0 {
			time.Sleep(delay)
		}
		wc.qc.CloseWithError(0, "")
	}
}

func abortStreams(streams []*Stream) {
	for _, st := range streams {
		st.abort(wtSessionGone)
	}
}
