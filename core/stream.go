package core

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
)

// provideChunk is the most a PROVIDE_DATA event offers at once.
const provideChunk = 64 << 10

// Stream is one WebTransport stream of a session. A reader goroutine turns
// incoming data into events; a sender goroutine (started on first use)
// drains the push buffer or asks the application for data (pull mode).
type Stream struct {
	sess   *Session
	ID     uint64
	Bidi   bool
	Local  bool
	appCtx atomic.Uintptr

	bidi *quic.Stream
	send *quic.SendStream
	recv *quic.ReceiveStream

	mu            sync.Mutex
	hasSend       bool
	hasRecv       bool
	buf           [][]byte
	buffered      int
	finQueued     bool
	sendDone      bool // FIN written, reset, or STOP_SENDING received
	recvDone      bool // FIN or reset received, or STOP_SENDING sent
	wantWritable  bool
	pullActive    bool
	senderRunning bool
	freed         bool
	stopSeen      bool // the peer's STOP_SENDING was reported
	wake          chan struct{}

	freeSeen bool // delivery thread only: FREE delivered
}

// AppCtx is the stream's application context.
func (st *Stream) AppCtx() uintptr { return st.appCtx.Load() }

// SetAppCtx sets the stream's application context.
func (st *Stream) SetAppCtx(v uintptr) { st.appCtx.Store(v) }

func (st *Stream) flags() int {
	f := 0
	if st.Bidi {
		f |= FlagStreamBidi
	}
	if st.Local {
		f |= FlagStreamLocal
	}
	return f
}

func (st *Stream) push(ev Event) {
	ev.Stream = st
	ev.StreamID = st.ID
	ev.Flags |= st.flags()
	st.sess.push(ev)
}

func (st *Stream) writer() interface {
	Write([]byte) (int, error)
	Close() error
	CancelWrite(quic.StreamErrorCode)
	Context() context.Context
	SetReliableBoundary()
} {
	if st.bidi != nil {
		return st.bidi
	}
	return st.send
}

func (st *Stream) reader() interface {
	Read([]byte) (int, error)
	CancelRead(quic.StreamErrorCode)
} {
	if st.bidi != nil {
		return st.bidi
	}
	return st.recv
}

// ---------------------------------------------------------------------------
// Creation

func (s *Session) newStream(id uint64, bidi, local bool) *Stream {
	st := &Stream{sess: s, ID: id, Bidi: bidi, Local: local, wake: make(chan struct{}, 1)}
	st.hasSend = bidi || local
	st.hasRecv = bidi || !local
	return st
}

// OpenStream opens a local stream and writes its WebTransport header.
func (s *Session) OpenStream(bidi bool, appCtx uintptr) (*Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stClosed:
		return nil, errf(ErrClosed, "session closed")
	case stEstablished:
	default:
		return nil, errf(ErrState, "session not established")
	}
	if s.fc != nil && !s.fc.canOpen(bidi) {
		s.fcBlocked(bidi)
		return nil, errf(ErrLimit, "peer's WebTransport stream limit reached")
	}
	hdr := quicvarint.Append(nil, uniStreamWebTransport)
	if bidi {
		hdr = quicvarint.Append(nil, frameWebTransportStream)
	}
	hdr = quicvarint.Append(hdr, s.wireID.Load())
	var st *Stream
	if bidi {
		qs, err := s.conn.qc.OpenStream()
		if err != nil {
			return nil, openErr(err)
		}
		st = s.newStream(uint64(qs.StreamID()), true, true)
		st.bidi = qs
	} else {
		qs, err := s.conn.qc.OpenUniStream()
		if err != nil {
			return nil, openErr(err)
		}
		st = s.newStream(uint64(qs.StreamID()), false, true)
		st.send = qs
	}
	w := st.writer()
	// The header goes out at once; the reliable boundary keeps it delivered
	// even if the stream is reset right away (RESET_STREAM_AT), so the peer
	// always learns which session the stream belongs to.
	if _, err := w.Write(hdr); err != nil {
		return nil, errf(ErrClosed, "writing stream header: %v", err)
	}
	w.SetReliableBoundary()
	if s.fc != nil {
		s.fc.opened(bidi)
	}
	st.appCtx.Store(appCtx)
	s.streams[st.ID] = st
	st.watch()
	return st, nil
}

func openErr(err error) error {
	var lim quic.StreamLimitReachedError
	if errors.As(err, &lim) {
		return errf(ErrLimit, "peer's QUIC stream limit reached")
	}
	return errf(ErrClosed, "opening stream: %v", err)
}

// incoming binds a peer stream to this session.
func (s *Session) incoming(es earlyStream) {
	s.mu.Lock()
	switch s.state {
	case stClosed:
		s.mu.Unlock()
		s.rejectAfterClose(es)
		return
	case stConnecting, stPending:
		if len(s.early) >= earlyStreamMax {
			s.mu.Unlock()
			rejectStream(es)
			return
		}
		s.early = append(s.early, es)
		s.mu.Unlock()
		return
	}
	var st *Stream
	if es.bidi != nil {
		st = s.newStream(uint64(es.bidi.StreamID()), true, false)
		st.bidi = es.bidi
	} else {
		st = s.newStream(uint64(es.uni.StreamID()), false, false)
		st.recv = es.uni
	}
	if s.fc != nil {
		s.fc.accepted(st.Bidi)
	}
	s.streams[st.ID] = st
	s.mu.Unlock()
	st.push(Event{Type: EvStreamOpened})
	st.watch()
}

// watch starts the reader and the STOP_SENDING watcher.
func (st *Stream) watch() {
	c := st.sess.ctx
	if st.hasRecv {
		c.goSafe(st.readLoop)
	}
	if st.hasSend {
		w := st.writer()
		context.AfterFunc(w.Context(), func() { c.recovered(st.sendSideEnded) })
	}
}

// sendSideEnded reports a peer's STOP_SENDING (the send context's cause).
func (st *Stream) sendSideEnded() {
	var se *quic.StreamError
	if errors.As(context.Cause(st.writer().Context()), &se) && se.Remote {
		st.peerStopped(se)
	}
}

// peerStopped reports the peer's STOP_SENDING once, before the stream can be
// freed: both the send context's watcher and a failing Write see it, in
// either order.
//
// The event is queued under st.mu, in the same step that marks the send side
// done: otherwise the reader goroutine, finishing the receive side at the
// same moment (a peer's RESET_STREAM next to its STOP_SENDING), could see
// both sides done and queue FREE first, and STOP_SENDING after FREE is
// dropped by the delivery filter. (q.mu is a leaf lock.)
func (st *Stream) peerStopped(se *quic.StreamError) {
	st.mu.Lock()
	first := !st.stopSeen
	st.stopSeen = true
	st.sendDone = true
	st.buf, st.buffered = nil, 0
	if first {
		st.push(Event{Type: EvStopSending, Code: appErrorFromWire(uint64(se.ErrorCode))})
	}
	st.mu.Unlock()
	st.signal()
	st.maybeFree()
}

// ---------------------------------------------------------------------------
// Receiving

func (st *Stream) readLoop() {
	r := st.reader()
	s := st.sess
	alive := func() bool { return !s.ended() }
	for {
		buf := s.ctx.getBuf()
		n, err := r.Read(buf)
		if n > 0 {
			s.BytesReceived.Add(uint64(n))
			if s.fc != nil {
				s.fcConsumed(n)
			}
			typ := EvPostData
			if errors.Is(err, io.EOF) {
				typ = EvPostFin
			}
			ev := Event{Type: typ, Data: buf[:n], pooled: true, Stream: st, StreamID: st.ID, Flags: st.flags(), Sess: s}
			if !s.ctx.q.pushData(ev, alive) {
				return
			}
			if typ == EvPostFin {
				st.recvFinished()
				return
			}
		} else {
			b := buf
			s.ctx.bufPool.Put(&b)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			st.push(Event{Type: EvPostFin})
			st.recvFinished()
			return
		default:
			var se *quic.StreamError
			if errors.As(err, &se) && se.Remote && !s.ended() {
				st.push(Event{Type: EvReset, Code: appErrorFromWire(uint64(se.ErrorCode))})
			}
			st.recvFinished()
			return
		}
	}
}

func (st *Stream) recvFinished() {
	st.mu.Lock()
	st.recvDone = true
	st.mu.Unlock()
	st.maybeFree()
}

// StopSending sends STOP_SENDING with an application code.
func (st *Stream) StopSending(code uint32) error {
	st.mu.Lock()
	switch {
	case !st.hasRecv:
		st.mu.Unlock()
		return errf(ErrState, "stream %d is send-only", st.ID)
	case st.recvDone || st.freed:
		st.mu.Unlock()
		return errf(ErrClosed, "stream %d receive side already finished", st.ID)
	}
	st.recvDone = true
	st.mu.Unlock()
	st.reader().CancelRead(quic.StreamErrorCode(appErrorToWire(code)))
	st.maybeFree()
	return nil
}

// ---------------------------------------------------------------------------
// Sending

func (st *Stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *Stream) sendCheck() error {
	switch {
	case !st.hasSend:
		return errf(ErrState, "stream %d is receive-only", st.ID)
	case st.freed:
		return errf(ErrClosed, "stream %d is closed", st.ID)
	case st.sendDone || st.finQueued:
		return errf(ErrClosed, "stream %d send side is finished (FIN, reset or STOP_SENDING)", st.ID)
	}
	return nil
}

// Send copies data (and FIN) into the push buffer; all or nothing.
func (st *Stream) Send(data []byte, fin bool) error {
	limit := st.sess.ctx.cfg.StreamSendBuffer
	if len(data) > limit {
		return errf(ErrTooLarge, "%d bytes exceed stream_send_buffer (%d)", len(data), limit)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.sendCheck(); err != nil {
		return err
	}
	if st.pullActive {
		return errf(ErrState, "stream %d is in pull mode (gowt_stream_mark_active)", st.ID)
	}
	if st.buffered+len(data) > limit {
		st.wantWritable = true
		return errf(ErrWouldBlock, "stream %d send buffer full", st.ID)
	}
	// Copied into pooled read-size chunks: no garbage per call (a fresh
	// copy per call was most of the GC work of a bulk upload).
	for len(data) > 0 {
		chunk := st.sess.ctx.getBuf()
		k := copy(chunk, data)
		st.buf = append(st.buf, chunk[:k])
		st.buffered += k
		data = data[k:]
	}
	st.finQueued = fin
	st.startSenderLocked()
	return nil
}

// MarkActive switches pull mode on or off.
func (st *Stream) MarkActive(active bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.sendCheck(); err != nil {
		return err
	}
	st.pullActive = active
	if active {
		st.startSenderLocked()
	}
	return nil
}

func (st *Stream) startSenderLocked() {
	if !st.senderRunning {
		st.senderRunning = true
		st.sess.ctx.goSafe(st.sendLoop)
	}
	st.signal()
}

func (st *Stream) sendLoop() {
	s := st.sess
	w := st.writer()
	limit := s.ctx.cfg.StreamSendBuffer
	for {
		st.mu.Lock()
		for len(st.buf) == 0 && !st.finQueued && !st.pullActive && !st.sendDone && !s.ended() {
			st.mu.Unlock()
			select {
			case <-st.wake:
			case <-s.done:
			}
			st.mu.Lock()
		}
		if st.sendDone || s.ended() {
			st.senderRunning = false
			st.mu.Unlock()
			return
		}
		switch {
		case len(st.buf) > 0:
			chunk := st.buf[0]
			st.mu.Unlock()
			err := st.write(w, chunk)
			st.mu.Lock()
			if len(st.buf) > 0 {
				st.buf[0] = nil
				st.buf = st.buf[1:]
				st.buffered -= len(chunk)
				s.ctx.putBuf(chunk) // quic-go copied it into its frames
			}
			notify := st.wantWritable && st.buffered <= limit/2 && err == nil
			if notify {
				st.wantWritable = false
			}
			st.mu.Unlock()
			if err != nil {
				st.sendFailed(err)
				return
			}
			if notify {
				st.push(Event{Type: EvStreamWritable})
			}
		case st.finQueued:
			st.mu.Unlock()
			_ = w.Close()
			st.mu.Lock()
			st.sendDone = true
			st.senderRunning = false
			st.mu.Unlock()
			st.maybeFree()
			return
		default: // pull mode
			st.mu.Unlock()
			if !st.pullOnce(w) {
				return
			}
		}
	}
}

// pullOnce asks the application for data once; false when the stream ended.
func (st *Stream) pullOnce(w interface {
	Write([]byte) (int, error)
	Close() error
}) bool {
	s := st.sess
	req := &ProvideReq{Max: provideChunk, ctx: s.ctx, done: make(chan struct{})}
	st.push(Event{Type: EvProvideData, Provide: req, Data: nil})
	select {
	case <-req.done:
	case <-s.done:
		return false
	}
	st.mu.Lock()
	if !req.answered || !req.more {
		st.pullActive = false
	}
	st.mu.Unlock()
	if req.answered && len(req.buf) > 0 {
		err := st.write(w, req.buf)
		s.ctx.putBuf(req.buf)
		if err != nil {
			st.sendFailed(err)
			return false
		}
	}
	if req.answered && req.fin {
		st.mu.Lock()
		st.finQueued = true
		st.mu.Unlock()
	}
	return true
}

// write writes b, taking WebTransport flow-control credit first when it is on.
func (st *Stream) write(w interface{ Write([]byte) (int, error) }, b []byte) error {
	s := st.sess
	for len(b) > 0 {
		n := len(b)
		if s.fc != nil {
			n = s.fcAcquire(n)
			if n == 0 {
				return errf(ErrClosed, "session ended")
			}
		}
		m, err := w.Write(b[:n])
		s.BytesSent.Add(uint64(m))
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (st *Stream) sendFailed(err error) {
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		st.peerStopped(se)
		st.mu.Lock()
		st.senderRunning = false
		st.mu.Unlock()
		return
	}
	st.mu.Lock()
	st.sendDone = true
	st.senderRunning = false
	st.buf, st.buffered = nil, 0
	st.mu.Unlock()
	st.maybeFree()
}

// Reset sends RESET_STREAM with an application code.
func (st *Stream) Reset(code uint32) error {
	st.mu.Lock()
	if err := st.sendCheck(); err != nil && !(st.finQueued && !st.sendDone && !st.freed) {
		st.mu.Unlock()
		return err
	}
	st.sendDone = true
	st.buf, st.buffered = nil, 0
	st.mu.Unlock()
	st.signal()
	st.writer().CancelWrite(quic.StreamErrorCode(appErrorToWire(code)))
	st.maybeFree()
	return nil
}

// ---------------------------------------------------------------------------
// End of life

// maybeFree queues FREE once both directions are finished. The stream stays
// addressable (gowt_stream_set_ctx...) until its FREE has been delivered.
func (st *Stream) maybeFree() {
	st.mu.Lock()
	done := !st.freed && (!st.hasSend || st.sendDone) && (!st.hasRecv || st.recvDone)
	if done {
		st.freed = true
	}
	st.mu.Unlock()
	if !done {
		return
	}
	s := st.sess
	if s.fc != nil && !st.Local {
		s.fcStreamClosed(st.Bidi)
	}
	st.push(Event{Type: EvFree})
}

// forget removes the stream from its session once FREE was delivered.
func (st *Stream) forget() {
	s := st.sess
	s.mu.Lock()
	if s.streams[st.ID] == st {
		delete(s.streams, st.ID)
	}
	s.mu.Unlock()
}

// markFreed queues FREE for a stream the session's end takes down.
func (st *Stream) markFreed() {
	st.mu.Lock()
	already := st.freed
	st.freed = true
	st.mu.Unlock()
	st.signal()
	if !already {
		st.push(Event{Type: EvFree})
	}
}

// abort resets both directions with code (raw HTTP/3 code, not mapped).
func (st *Stream) abort(code quic.StreamErrorCode) {
	if st.hasSend {
		st.writer().CancelWrite(code)
	}
	if st.hasRecv {
		st.reader().CancelRead(code)
	}
}

// Stream returns a live stream of the session.
func (s *Session) Stream(id uint64) (*Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id]
	if st == nil {
		if s.state == stClosed {
			return nil, errf(ErrClosed, "session closed")
		}
		return nil, errf(ErrNotFound, "unknown stream %d", id)
	}
	return st, nil
}

// ProvideReq is a pending PROVIDE_DATA / PROVIDE_DATAGRAM question.
type ProvideReq struct {
	Max        int
	ctx        *Context // buffers come from its pool
	answered   bool
	buf        []byte
	fin, more  bool
	inCallback bool
	done       chan struct{}
}

// Answer answers a provide request from inside its callback and returns the
// buffer for the application to fill.
func (p *ProvideReq) Answer(n int, fin, more bool) ([]byte, error) {
	switch {
	case p == nil:
		return nil, errf(ErrInvalidArg, "not a PROVIDE event")
	case !p.inCallback:
		return nil, errf(ErrState, "answer a PROVIDE event inside its callback")
	case p.answered:
		return nil, errf(ErrState, "PROVIDE event already answered")
	case n < 0 || n > p.Max:
		return nil, errf(ErrTooLarge, "%d bytes exceed the %d offered", n, p.Max)
	}
	p.answered = true
	if p.ctx != nil && n <= readBufSize {
		p.buf = p.ctx.getBuf()[:n]
	} else {
		p.buf = make([]byte, n)
	}
	p.fin, p.more = fin, more
	return p.buf, nil
}
