package core

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

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
	q             sendQueue // push data not yet written
	finQueued     bool
	writing       bool   // the sender is writing q.front() outside mu
	refFlight     bool   // ... and q.front() is an application buffer (SendRef)
	hdrWriting    bool   // the sender writes the header alone outside mu
	pullWriting   bool   // the sender writes a pull answer outside mu
	freeOnRef     bool   // the session ended during that write: the sender queues FREE
	unconfirmed   int    // bytes quic-go may still hold in its next frame
	hdr           []byte // the WebTransport stream header, until written
	pendingReset  int64  // wire code of a reset waiting for the header write, or -1
	sendDone      bool   // FIN written, reset, or STOP_SENDING received
	recvDone      bool   // FIN or reset received, or STOP_SENDING sent
	wantWritable  bool
	pullActive    bool
	senderRunning bool
	freed         bool
	stopSeen      bool          // the peer's STOP_SENDING was reported
	recvGate      chan struct{} // non-nil while receiving is paused
	wake          chan struct{}

	freeSeen bool    // delivery thread only: FREE delivered
	prio     prioKey // sendOrder / sendGroup (s.mu; priority.go)
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
	WriteWithLimit([]byte, func(int) int) (int, error)
	TryWriteAll([]byte) error
	Close() error
	CancelWrite(quic.StreamErrorCode)
	Context() context.Context
	SetReliableBoundary()
	SetPriority(int8, bool)
} {
	if st.bidi != nil {
		return st.bidi
	}
	return st.send
}

func (st *Stream) reader() interface {
	Read([]byte) (int, error)
	Peek([]byte) (int, error)
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
	st := &Stream{sess: s, ID: id, Bidi: bidi, Local: local, wake: make(chan struct{}, 1), pendingReset: -1}
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
		s.credit.wantWT[idx(bidi)] = true
		return nil, errf(ErrLimit, "peer's WebTransport stream limit reached")
	}
	hdr := quicvarint.Append(nil, uniStreamWebTransport)
	if bidi {
		hdr = quicvarint.Append(nil, frameWebTransportStream)
	}
	hdr = quicvarint.Append(hdr, s.wireID.Load())
	var st *Stream
	spareBidi, spareUni := s.takeSpare(bidi)
	if bidi {
		qs := spareBidi
		if qs == nil {
			var err error
			if qs, err = s.conn.qc.OpenStream(); err != nil {
				return nil, s.openErr(err, bidi)
			}
		}
		st = s.newStream(uint64(qs.StreamID()), true, true)
		st.bidi = qs
	} else {
		qs := spareUni
		if qs == nil {
			var err error
			if qs, err = s.conn.qc.OpenUniStream(); err != nil {
				return nil, s.openErr(err, bidi)
			}
		}
		st = s.newStream(uint64(qs.StreamID()), false, true)
		st.send = qs
	}
	// The sender goroutine writes the header at once (see Sending), with
	// the first data if that is already queued.
	st.hdr = hdr
	st.mu.Lock()
	st.startSenderLocked()
	st.mu.Unlock()
	if s.fc != nil {
		s.fc.opened(bidi)
	}
	st.appCtx.Store(appCtx)
	s.streams[st.ID] = st
	s.rankLocked()
	st.watch()
	return st, nil
}

// openErr maps quic-go's open error (s.mu held); at the QUIC stream limit
// it arranges the STREAMS_AVAILABLE event.
func (s *Session) openErr(err error, bidi bool) error {
	// quic-go (v0.64.1, v0.65.0) returns *StreamLimitReachedError (its doc
	// says the value type): match both.
	var lim quic.StreamLimitReachedError
	var limp *quic.StreamLimitReachedError
	if errors.As(err, &lim) || errors.As(err, &limp) {
		s.waitQUICCredit(bidi)
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
	if s.fc != nil && !s.fc.accepted(st.Bidi) {
		s.mu.Unlock()
		st.abort(wtFlowControlError)
		s.creditFreed(st)
		s.flowControlViolated("peer exceeded WT_MAX_STREAMS")
		return
	}
	s.streams[st.ID] = st
	if st.Bidi {
		s.rankLocked()
	}
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
	st.completeRefsLocked(st.q.clear(st.writing), FlagSendCanceled)
	if first {
		code, raw := wireCode(uint64(se.ErrorCode))
		st.push(Event{Type: EvStopSending, Code: code, Flags: raw})
	}
	st.mu.Unlock()
	st.signal()
	st.maybeFree()
}

// ---------------------------------------------------------------------------
// Receiving
//
// The reader waits for data with a one-byte Peek, so a stream with nothing
// to read holds no buffer. Then it reserves room in the context's receive
// byte budget (Config.RecvBufferBytes) and reads: a large read keeps its
// pooled 64 KiB buffer, a smaller one is copied into a pooled 4 or 16 KiB
// buffer and a tiny one into a buffer of its own size (Context.readBuf), so
// 10 000 one-byte streams pin 10 000 bytes, not 10 000 buffers.

func (st *Stream) readLoop() {
	r := st.reader()
	s := st.sess
	q := s.ctx.q
	alive := func() bool { return !s.ended() }
	var probe [1]byte
	for {
		if !st.waitReceiveEnabled() {
			return
		}
		_, err := r.Peek(probe[:])
		if err != nil {
			// quic-go's Peek reports the FIN or the peer's reset without
			// completing the stream; only a Read that returns the error
			// does. Until then the stream keeps its slot in the peer's QUIC
			// stream limit: no MAX_STREAMS credit comes back for it.
			_, err = r.Read(probe[:0:0])
		}
		n := 0
		var data []byte
		pooled := false
		if err == nil {
			res := q.reserve(readBufSize, alive)
			if res == 0 {
				return
			}
			buf := s.ctx.getBuf()[:res]
			n, err = r.Read(buf)
			if n > 0 {
				data, pooled = s.ctx.readBuf(n)
				if data == nil { // a large read keeps its buffer
					data, pooled = buf[:n], true
				} else {
					copy(data, buf[:n])
					s.ctx.putBuf(buf)
				}
			} else {
				s.ctx.putBuf(buf)
			}
			q.unreserve(res - cap(data))
		}
		if n > 0 || err != nil {
			s.lastRecv.Store(monoNow())
		}
		if n > 0 {
			s.BytesReceived.Add(uint64(n))
			if s.fc != nil && !s.fcReceived(n) {
				q.unreserve(cap(data))
				s.flowControlViolated("peer exceeded WT_MAX_DATA")
				return
			}
			typ := EvPostData
			if errors.Is(err, io.EOF) {
				typ = EvPostFin
			}
			ev := Event{Type: typ, Data: data, pooled: pooled, Stream: st, StreamID: st.ID, Flags: st.flags(), Sess: s}
			if !q.pushReserved(ev, alive) {
				return
			}
			if typ == EvPostFin {
				st.recvFinished()
				return
			}
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
				code, raw := wireCode(uint64(se.ErrorCode))
				st.push(Event{Type: EvReset, Code: code, Flags: raw})
			}
			st.recvFinished()
			return
		}
	}
}

// waitReceiveEnabled blocks while the application paused this stream's
// receive side; false when the session ended meanwhile.
func (st *Stream) waitReceiveEnabled() bool {
	st.mu.Lock()
	gate := st.recvGate
	st.mu.Unlock()
	if gate == nil {
		return true
	}
	select {
	case <-gate:
		return true
	case <-st.sess.done:
		return false
	}
}

// SetReceiveEnabled pauses or resumes reading this stream (msquic's
// StreamReceiveSetEnabled). While paused nothing is read, so QUIC's stream
// flow control stops the peer on this stream only.
func (st *Stream) SetReceiveEnabled(on bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case !st.hasRecv:
		return errf(ErrState, "stream %d is send-only", st.ID)
	case st.recvDone || st.freed:
		return errf(ErrClosed, "stream %d receive side already finished", st.ID)
	}
	switch {
	case !on && st.recvGate == nil:
		st.recvGate = make(chan struct{})
	case on && st.recvGate != nil:
		close(st.recvGate)
		st.recvGate = nil
	}
	return nil
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
//
// Push: Send copies small data straight into quic-go when the stream is idle
// (TryWriteAll), else into the stream's byte queue, which the sender
// goroutine writes. Pull: the sender asks PROVIDE_DATA and asks for the next
// chunk while it writes the current one.
//
// FIN travels on the frame of the last byte: quic-go sets FIN on a frame only
// if Close() was called before the frame was packed (quic-go v0.64.1 and
// v0.65.0, SendStream.popNewStreamFrameForPacket). So a stream's last bytes are
// written in two steps: everything but a short tail with a write that
// returns only once quic-go has packed it (WriteWithLimit with a limiter
// never copies a tail into its next frame), which leaves the stream with
// nothing queued; then the tail with TryWriteAll and Close at once, before
// the packer can take the tail.

// finTail is the most that is written together with Close.
const finTail = 1024

// directMax is the largest Send that goes straight into quic-go, and
// directWindow bounds what such sends may leave queued in quic-go's
// next-frame buffer before the sender confirms it was packed: quic-go
// v0.64.1 copied larger TryWriteAll frames again on every packet (v0.65.0
// slices them; the bounds were kept, measured on v0.64.1).
const (
	directMax    = 1024
	directWindow = 2 * 1452
)

// noLimit is the limiter of writes that must return only once packed.
func noLimit(n int) int { return n }

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

// admitLocking takes st.mu for a push send of n bytes and returns with it
// held, or returns the error (without the lock) when the send cannot be
// taken: larger than the whole buffer, stream finished, pull mode, or no
// room now (then STREAM_WRITABLE is owed).
func (st *Stream) admitLocking(n int) error {
	limit := st.sess.ctx.cfg.StreamSendBuffer
	if n > limit {
		return errf(ErrTooLarge, "%d bytes exceed stream_send_buffer (%d)", n, limit)
	}
	st.mu.Lock()
	if err := st.sendCheck(); err != nil {
		st.mu.Unlock()
		return err
	}
	if st.pullActive {
		st.mu.Unlock()
		return errf(ErrState, "stream %d is in pull mode (gowt_stream_mark_active)", st.ID)
	}
	if st.q.n+n > limit {
		st.wantWritable = true
		st.mu.Unlock()
		return errf(ErrWouldBlock, "stream %d send buffer full", st.ID)
	}
	return nil
}

// Send queues data (and FIN); all or nothing. The stream holds at most
// StreamSendBuffer bytes plus one partly filled chunk (readBufSize).
func (st *Stream) Send(data []byte, fin bool) error {
	if err := st.admitLocking(len(data)); err != nil {
		return err
	}
	if done, err := st.sendDirectLocked(data, fin); done || err != nil {
		st.mu.Unlock()
		if fin && err == nil {
			st.maybeFree()
		}
		return err
	}
	st.q.push(data, st.sess.ctx)
	st.finQueued = fin
	st.startSenderLocked()
	st.mu.Unlock()
	return nil
}

// SendRef queues the application's buffer data itself, not a copy
// (gowt_stream_send_nocopy): all or nothing, charged to the send buffer like
// Send. The stream reads data until it queues SEND_COMPLETE for ref, once,
// before the stream's FREE: when all of it is handed to quic-go (which
// copies it into its frames), when a reset or STOP_SENDING drops it
// (FlagSendCanceled), or when the session ends (the rest is copied and
// still sent, like Send's data). On an error nothing is kept and no
// SEND_COMPLETE follows.
func (st *Stream) SendRef(data []byte, fin bool, ref *SendRef) error {
	if err := st.admitLocking(len(data)); err != nil {
		return err
	}
	if done, err := st.sendDirectLocked(data, fin); done || err != nil {
		if err == nil { // quic-go copied it: released at once
			st.completeRefsLocked([]*SendRef{ref}, 0)
		}
		st.mu.Unlock()
		if fin && err == nil {
			st.maybeFree()
		}
		return err
	}
	if len(data) > 0 {
		st.q.pushRef(data, ref)
	} else {
		st.completeRefsLocked([]*SendRef{ref}, 0)
	}
	st.finQueued = fin
	st.startSenderLocked()
	st.mu.Unlock()
	return nil
}

// sendDirectLocked writes a small send straight into quic-go when nothing
// is queued or being written before it: one copy less, and FIN goes with
// the data. done is false when the data must be queued instead.
func (st *Stream) sendDirectLocked(data []byte, fin bool) (done bool, err error) {
	switch {
	case st.q.n != 0 || st.writing || st.pullWriting || st.hdr != nil || len(data) > directMax:
		return false, nil
	case fin && st.unconfirmed > 0: // FIN must not race a queued frame
		return false, nil
	case st.unconfirmed+len(data) > directWindow:
		return false, nil
	}
	if len(data) == 0 && !fin {
		return true, nil
	}
	s := st.sess
	if s.fc != nil && !s.fc.tryTake(len(data)) {
		return false, nil
	}
	w := st.writer()
	if werr := w.TryWriteAll(data); werr != nil {
		if s.fc != nil {
			s.fc.giveBack(len(data))
		}
		if errors.Is(werr, quic.ErrWouldBlock) {
			return false, nil
		}
		return false, errf(ErrClosed, "stream %d: %v", st.ID, werr)
	}
	s.BytesSent.Add(uint64(len(data)))
	st.unconfirmed += len(data)
	if fin {
		_ = w.Close()
		st.sendDone = true
		st.signal() // a parked sender goroutine sees sendDone and exits
	}
	return true, nil
}

// MarkActive switches pull mode on or off. Switching it on again while it
// is on wakes a sender that backs off after an empty answer.
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
	limit := s.ctx.cfg.StreamSendBuffer
	for {
		st.mu.Lock()
		for st.hdr == nil && st.q.n == 0 && !st.finQueued && !st.pullActive && !st.sendDone && !s.ended() {
			st.mu.Unlock()
			select {
			case <-st.wake:
			case <-s.done:
			}
			st.mu.Lock()
		}
		// Data and FIN handed over before a local close still go out: the
		// close resets streams only after the peer answered the capsule,
		// and a stream that finished by then is not reset at all.
		flush := st.q.n > 0 || st.finQueued
		if (st.sendDone && st.hdr == nil) || (s.ended() && !flush) {
			st.senderRunning = false
			st.mu.Unlock()
			return
		}
		switch {
		case st.hdr != nil || st.q.n > 0 || st.finQueued:
			hdr := st.hdr
			data := st.q.front()
			last := st.finQueued && len(data) == st.q.n
			if hdr != nil && !(last && len(data) <= finTail) {
				// The header goes alone, in a section of its own: a reset
				// waits for it (see Reset), so it must not wait behind data
				// blocked on flow control.
				if !st.writeHeaderSection(hdr) {
					return
				}
				continue
			}
			gen := st.q.gen
			st.writing = true
			ref := st.q.frontRef()
			if ref != nil {
				st.refFlight = true
				s.ctx.refWriters.Add(1)
			}
			st.mu.Unlock()
			var err error
			if last {
				err = st.writeFinal(hdr, data)
			} else {
				err = st.writeSome(data)
			}
			st.mu.Lock()
			st.writing = false
			if hdr != nil && st.hdr != nil {
				st.headerWrittenLocked()
			}
			// dropped: a reset or STOP_SENDING cleared the queue during the
			// write and left the front buffer (being read) to us.
			dropped := st.q.gen != gen
			switch {
			case dropped:
			case err == nil:
				if done := st.q.pop(len(data), s.ctx); done != nil {
					st.completeRefsLocked([]*SendRef{done}, 0)
				}
			default: // not all written: the buffers are released as canceled
				st.completeRefsLocked(st.q.clear(false), FlagSendCanceled)
			}
			freeNow := false
			if ref != nil {
				freeNow = st.refWrittenLocked(ref, dropped)
			}
			if reset := st.pendingReset; reset >= 0 {
				st.senderRunning = false
				st.mu.Unlock()
				st.resetAfterHeader(quic.StreamErrorCode(reset))
				st.maybeFree()
				return
			}
			notify := st.wantWritable && st.q.n <= limit/2 && err == nil
			if notify {
				st.wantWritable = false
			}
			if last && err == nil {
				st.sendDone = true
				st.senderRunning = false
				st.mu.Unlock()
				st.maybeFree()
				return
			}
			st.mu.Unlock()
			if err != nil {
				st.sendFailed(err)
				return
			}
			if freeNow && dropped {
				st.maybeFree() // a reset during the write waited for the buffer
			}
			if notify {
				st.push(Event{Type: EvStreamWritable})
			}
		default: // pull mode
			st.mu.Unlock()
			if !st.pull() {
				return
			}
		}
	}
}

// writeHeaderSection writes the stream's header alone (st.mu held on entry,
// released on return). The write returns once quic-go has packed it, so the
// stream has nothing queued in quic-go when its last bytes come. It runs
// the reset that waited for the header; false when the sender is done.
func (st *Stream) writeHeaderSection(hdr []byte) bool {
	st.hdrWriting = true
	st.mu.Unlock()
	_, err := st.writer().WriteWithLimit(hdr, noLimit)
	st.mu.Lock()
	st.hdrWriting = false
	st.headerWrittenLocked()
	if reset := st.pendingReset; reset >= 0 {
		st.senderRunning = false
		st.mu.Unlock()
		st.resetAfterHeader(quic.StreamErrorCode(reset))
		st.maybeFree()
		return false
	}
	st.mu.Unlock()
	if err != nil {
		st.sendFailed(err)
		return false
	}
	return true
}

// writeHeader writes the header alone from inside a data section and marks
// it written at once, so that a reset from now on need not wait for the
// section (which may wait for flow control credit).
func (st *Stream) writeHeader(hdr []byte) error {
	if _, err := st.writer().WriteWithLimit(hdr, noLimit); err != nil {
		return err
	}
	st.mu.Lock()
	st.headerWrittenLocked()
	st.mu.Unlock()
	return nil
}

// fcStopped is the error of a write whose wait for session credit ended:
// the stream's cause (a reset, or the peer's STOP_SENDING, which sendFailed
// reports) or the session's end.
func (st *Stream) fcStopped() error {
	if c := context.Cause(st.writer().Context()); c != nil {
		return c
	}
	return errf(ErrClosed, "session ended")
}

// resetAfterHeader resets a stream whose header was just packed. Without
// RESET_STREAM_AT on the peer, a reset makes quic-go drop unacknowledged
// data and lets the peer discard what it has not read, so the reset waits
// about two round trips for the header's acknowledgement (quic-go says
// nothing about acknowledgements of stream data).
func (st *Stream) resetAfterHeader(code quic.StreamErrorCode) {
	qc := st.sess.conn.qc
	if !qc.ConnectionState().SupportsStreamResetPartialDelivery.Remote {
		wait := min(2*qc.ConnectionStats().SmoothedRTT+2*time.Millisecond, time.Second)
		select {
		case <-time.After(wait):
		case <-st.sess.done:
		}
	}
	st.writer().CancelWrite(code)
}

// headerWrittenLocked marks the header as handed to quic-go. The reliable
// boundary keeps it delivered even if the stream is reset right away
// (RESET_STREAM_AT), so the peer always learns which session the stream
// belongs to.
func (st *Stream) headerWrittenLocked() {
	st.hdr = nil
	st.writer().SetReliableBoundary()
}

// writeSome writes data that is not the stream's last. Without
// WebTransport flow control it is a plain Write, whose last packet's worth
// quic-go keeps in its next frame (so the stream keeps sending while the
// next chunk is fetched).
func (st *Stream) writeSome(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if st.sess.fc != nil {
		return st.writePacked(data)
	}
	n, err := st.writer().Write(data)
	st.sess.BytesSent.Add(uint64(n))
	st.mu.Lock()
	st.unconfirmed = directWindow // a tail may still wait in quic-go
	st.mu.Unlock()
	return err
}

// writePacked writes data and returns once quic-go has packed all of it.
// With WebTransport flow control the session's credit is taken by the
// limiter as frames are packed, so a write blocked on QUIC flow control
// holds no session credit that other streams could use.
func (st *Stream) writePacked(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	s := st.sess
	lim := noLimit
	if s.fc != nil {
		lim = s.fc.take
	}
	w := st.writer()
	for len(data) > 0 {
		n, err := w.WriteWithLimit(data, lim)
		s.BytesSent.Add(uint64(n))
		data = data[n:]
		switch {
		case err == nil:
		case errors.Is(err, quic.ErrWriteLimitReached):
			if !s.fcWait(w.Context().Done()) {
				return st.fcStopped()
			}
		default:
			return err
		}
	}
	st.mu.Lock()
	st.unconfirmed = 0
	st.mu.Unlock()
	return nil
}

// writeFinal writes the stream's last bytes and its FIN on the same frame
// (see the section comment), after the header if that is still unwritten.
// Only when quic-go's flow control has no room even for the last byte, or
// when the stream's last small direct send may still wait in quic-go and
// the final data is one byte, can FIN follow in a frame of its own.
func (st *Stream) writeFinal(hdr, data []byte) error {
	s := st.sess
	w := st.writer()
	tail := data[max(0, len(data)-finTail):]
	head := data[:len(data)-len(tail)]
	st.mu.Lock()
	unconfirmed := st.unconfirmed
	st.mu.Unlock()
	if len(head) == 0 && hdr == nil && unconfirmed > 0 && len(tail) > 1 {
		head, tail = tail[:len(tail)-1], tail[len(tail)-1:] // confirm what is queued
	}
	if hdr != nil && len(head) > 0 {
		if err := st.writeHeader(hdr); err != nil {
			return err
		}
		hdr = nil
	}
	if err := st.writePacked(head); err != nil {
		return err
	}
	for len(tail) > 0 || hdr != nil {
		if s.fc != nil && !s.fc.tryTake(len(tail)) {
			switch {
			case hdr != nil: // header first: a reset need not wait for credit
				if err := st.writeHeader(hdr); err != nil {
					return err
				}
				hdr = nil
			case len(tail) > 1 && s.fc.available() > 0:
				// Some credit, less than the tail (fcWait would return at
				// once): all but the last byte goes as credit comes.
				if err := st.writePacked(tail[:len(tail)-1]); err != nil {
					return err
				}
				tail = tail[len(tail)-1:]
			default:
				if !s.fcWait(w.Context().Done()) {
					return st.fcStopped()
				}
			}
			continue
		}
		var err error
		if hdr != nil {
			err = w.TryWriteAll(append(hdr[:len(hdr):len(hdr)], tail...))
		} else {
			err = w.TryWriteAll(tail)
		}
		if err == nil {
			s.BytesSent.Add(uint64(len(tail)))
			break
		}
		if s.fc != nil {
			s.fc.giveBack(len(tail))
		}
		if !errors.Is(err, quic.ErrWouldBlock) {
			return err
		}
		if hdr != nil { // no room now: header first, then the tail alone
			if err := st.writeHeader(hdr); err != nil {
				return err
			}
			hdr = nil
			continue
		}
		if len(tail) == 1 { // no QUIC credit for one byte: FIN must go alone
			if err := st.writePacked(tail); err != nil {
				return err
			}
			break
		}
		if err := st.writePacked(tail[:len(tail)-1]); err != nil {
			return err
		}
		tail = tail[len(tail)-1:]
	}
	return w.Close()
}

// pull runs pull mode until the application stops it; false when the
// stream or session ended. Each chunk is written while the application is
// already asked for the next; an empty answer that keeps the stream active
// backs off (pullBackoff, or until gowt_stream_mark_active is called again)
// instead of asking again at once.
func (st *Stream) pull() bool {
	s := st.sess
	req := st.askProvide()
	for req != nil {
		select {
		case <-req.done:
		case <-s.done:
			return false
		}
		more := req.answered && req.more && !req.fin
		st.mu.Lock()
		if !more {
			// Push sends from now on queue behind this last answer (not
			// straight into quic-go ahead of it), and after a FIN answer
			// none are taken.
			st.pullActive = false
			st.pullWriting = true
			if req.answered && req.fin {
				st.finQueued = true
			}
		}
		st.mu.Unlock()
		var next *ProvideReq
		if more && len(req.buf) > 0 {
			next = st.askProvide()
		}
		var err error
		switch {
		case req.answered && req.fin:
			err = st.writeFinal(nil, req.buf)
		case len(req.buf) > 0:
			err = st.writeSome(req.buf)
		}
		s.ctx.putBuf(req.buf)
		if !more {
			st.mu.Lock()
			st.pullWriting = false
			st.mu.Unlock()
		}
		if err != nil {
			st.sendFailed(err)
			return false
		}
		if req.answered && req.fin {
			st.mu.Lock()
			st.sendDone = true
			st.senderRunning = false
			st.mu.Unlock()
			st.maybeFree()
			return false
		}
		if more && next == nil { // empty answer: wait before asking again
			select {
			case <-st.wake:
			case <-time.After(pullBackoff):
			case <-s.done:
				return false
			}
			st.mu.Lock()
			active := st.pullActive && !st.sendDone
			st.mu.Unlock()
			if active {
				next = st.askProvide()
			}
		}
		req = next
	}
	return true
}

// pullBackoff is the wait after an empty PROVIDE_DATA answer that kept the
// stream active: at most 10 such questions a second, the first included.
const pullBackoff = 125 * time.Millisecond

// askProvide queues a PROVIDE_DATA event offering what the stream may send
// now (with WebTransport flow control, no more than the session's credit);
// nil when the session ended while waiting for credit.
func (st *Stream) askProvide() *ProvideReq {
	s := st.sess
	offer := provideChunk
	for s.fc != nil {
		if avail := s.fc.available(); avail > 0 {
			offer = min(offer, avail)
			break
		}
		if !s.fcWait(st.writer().Context().Done()) {
			return nil
		}
	}
	req := &ProvideReq{Max: offer, Seq: s.ctx.provideSeq.Add(1), ctx: s.ctx, done: make(chan struct{})}
	st.push(Event{Type: EvProvideData, Provide: req})
	return req
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
	st.completeRefsLocked(st.q.clear(st.writing), FlagSendCanceled)
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
	wire := appErrorToWire(code)
	st.sendDone = true
	st.completeRefsLocked(st.q.clear(st.writing), FlagSendCanceled)
	st.finQueued = false
	if st.hdr != nil {
		// The peer must still learn the stream's session. With RESET_STREAM_AT
		// the reliable boundary keeps the header delivered; without it (aioquic
		// has none) quic-go drops unsent data on reset, so the sender resets
		// only once the header is packed (a lost header packet is then not
		// retransmitted: the one case the peer cannot place the stream).
		wait := st.writing || st.hdrWriting || !st.sess.conn.qc.ConnectionState().SupportsStreamResetPartialDelivery.Remote
		if !wait {
			if st.writer().TryWriteAll(st.hdr) == nil {
				st.headerWrittenLocked()
			} else {
				wait = true // no room for the header now: the sender writes it
			}
		}
		if wait {
			st.pendingReset = int64(wire)
			st.startSenderLocked()
			st.mu.Unlock()
			st.maybeFree()
			return nil
		}
	}
	st.mu.Unlock()
	st.signal()
	st.writer().CancelWrite(quic.StreamErrorCode(wire))
	st.maybeFree()
	return nil
}

// ---------------------------------------------------------------------------
// End of life

// maybeFree queues FREE once both directions are finished. The stream stays
// addressable (gowt_stream_set_ctx...) until its FREE has been delivered.
func (st *Stream) maybeFree() {
	st.mu.Lock()
	done := !st.freed && (!st.hasSend || st.sendDone) && (!st.hasRecv || st.recvDone) && !st.refFlight
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
		if st.hasSend && st.prio != (prioKey{}) {
			s.rankLocked()
		}
	}
	s.mu.Unlock()
	s.creditFreed(st)
}

// markFreed queues FREE for a stream the session's end takes down. The
// application buffers still queued are copied and released first, so
// their SEND_COMPLETE comes before FREE; one the sender is writing now is
// released by the sender when the write returns, and then the sender
// queues FREE: markFreed returns false for such a stream.
func (st *Stream) markFreed() bool {
	st.mu.Lock()
	already := st.freed
	st.freed = true
	switch {
	case !st.q.hasRefs():
	case st.sess.flushOnEnd.Load():
		// A local close: what was handed over still goes out.
		skip := 0
		if st.refFlight {
			skip = 1
		}
		st.completeRefsLocked(st.q.detachRefs(skip), 0)
	default:
		// The peer, an error or the connection ended it: the streams are
		// aborted, so the buffers are released as not sent.
		st.completeRefsLocked(st.q.clear(st.writing), FlagSendCanceled)
	}
	deferred := !already && st.refFlight
	st.freeOnRef = deferred
	st.mu.Unlock()
	st.signal()
	if !already && !deferred {
		st.push(Event{Type: EvFree})
	}
	return !deferred
}

// completeRefsLocked queues SEND_COMPLETE for released application
// buffers (st.mu held; the event queue's lock is a leaf).
func (st *Stream) completeRefsLocked(refs []*SendRef, flags int) {
	for _, r := range refs {
		st.push(Event{Type: EvSendComplete, Ref: r, Flags: flags})
	}
}

// refWrittenLocked ends the sender's write of an application buffer (st.mu
// held): released at once when a reset or STOP_SENDING dropped it during
// the write (canceled), and FREE queued when the session ended meanwhile.
// It reports whether maybeFree should run.
func (st *Stream) refWrittenLocked(ref *SendRef, dropped bool) (free bool) {
	st.refFlight = false
	st.sess.ctx.refWriters.Add(-1)
	if dropped {
		st.completeRefsLocked([]*SendRef{ref}, FlagSendCanceled)
	}
	if st.freeOnRef {
		st.freeOnRef = false
		if !dropped {
			// Released or not, the buffer must not be read after FREE:
			// the rest of it is copied (the session's end keeps sending).
			st.completeRefsLocked(st.q.detachRefs(0), 0)
		}
		st.push(Event{Type: EvFree})
		st.sess.freeDeferredDone()
		return false
	}
	return true
}

// abort resets the directions that are still open with code (raw HTTP/3
// code, not mapped). A send side that finished (FIN written, reset, or the
// peer's STOP_SENDING) is left alone: resetting a stream whose FIN is out
// makes Chromium report the session's close as "Connection lost".
// finishing reports whether the application handed over the stream's FIN
// and the sender is still writing up to it.
func (st *Stream) finishing() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.hasSend && st.finQueued && !st.sendDone && st.pendingReset < 0
}

// waitFinishing waits, until deadline, for streams whose FIN the
// application queued before the close to have it written: a reset must not
// overtake data the application finished (found under the race detector,
// where the sender goroutine can lag behind a close of the session).
func waitFinishing(streams []*Stream, deadline time.Time) {
	for _, st := range streams {
		for st.finishing() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
}

func (st *Stream) abort(code quic.StreamErrorCode) {
	st.mu.Lock()
	send := st.hasSend && (!st.sendDone || st.pendingReset >= 0)
	recv := st.hasRecv && !st.recvDone
	st.mu.Unlock()
	if send {
		st.writer().CancelWrite(code)
	}
	if recv {
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
	Seq        uint32   // unique in its context (wraps): tells requests apart
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
