package core

import (
	"errors"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
)

// receiveDatagrams drains quic-go's per-session datagram queue as fast as
// they come: http3 keeps only 32 per session and drops silently beyond that,
// so we move them into our own bounded queue and count what we drop.
func (s *Session) receiveDatagrams() {
	limit := int64(s.ctx.cfg.DatagramRecvQueue)
	for {
		b, err := s.ctrl.ReceiveDatagram(s.doneCtx)
		if err != nil {
			return
		}
		if s.dgQueued.Load() >= limit {
			s.DatagramsDroppedRx.Add(1)
			continue
		}
		s.dgQueued.Add(1)
		s.DatagramsReceived.Add(1)
		s.push(Event{Type: EvPostDatagram, Data: b})
	}
}

func (s *Session) establishedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stEstablished:
		return nil
	case stClosed:
		return errf(ErrClosed, "session closed")
	}
	return errf(ErrState, "session not established")
}

// probeDatagram is larger than any QUIC datagram; it is never sent.
var probeDatagram = make([]byte, 1<<16)

// MaxDatagram is the largest datagram payload we can send now. quic-go has
// no getter for it, but its SendDatagram checks the size first and returns
// the current limit (which grows with path MTU discovery) in
// DatagramTooLargeError without sending anything, so we ask it with an
// oversized probe, at most every 50 ms.
func (s *Session) MaxDatagram() int {
	now := time.Now().UnixNano()
	if last := s.dgProbedAt.Load(); now-last > int64(50*time.Millisecond) && s.dgProbedAt.CompareAndSwap(last, now) {
		s.mu.Lock()
		wc := s.conn
		s.mu.Unlock()
		var tooLarge *quic.DatagramTooLargeError
		if wc != nil && errors.As(wc.qc.SendDatagram(probeDatagram), &tooLarge) {
			if max := tooLarge.MaxDatagramPayloadSize - int64(quicvarint.Len(s.wireID.Load()/4)); max > 0 {
				s.maxDatagram.Store(max)
			}
		}
	}
	return int(s.maxDatagram.Load())
}

// SendDatagram queues a copy of b.
func (s *Session) SendDatagram(b []byte) error {
	if err := s.establishedErr(); err != nil {
		return err
	}
	if max := s.MaxDatagram(); len(b) > max {
		return errf(ErrTooLarge, "datagram of %d bytes exceeds the current maximum %d", len(b), max)
	}
	q := s.startDatagramSender()
	c := append([]byte(nil), b...)
	select {
	case q <- c:
		return nil
	default:
	}
	// Full: ask for DATAGRAM_WRITABLE, then try once more. Setting the flag
	// after a failed try alone lost the event when the sender drained the
	// queue in between (it checks the flag only after a send).
	s.dgWantWritable.Store(true)
	select {
	case q <- c: // the flag stays set: a spare DATAGRAM_WRITABLE is harmless
		return nil
	default:
		return errf(ErrWouldBlock, "datagram send queue full")
	}
}

// SetDatagramReady switches pull-mode datagram sending on or off.
func (s *Session) SetDatagramReady(ready bool) error {
	if err := s.establishedErr(); err != nil {
		return err
	}
	s.dgReady.Store(ready)
	if ready {
		s.startDatagramSender()
		select {
		case s.dgWake <- struct{}{}:
		default:
		}
	}
	return nil
}

// startDatagramSender makes the send queue and starts the sending goroutine
// on first use, and returns the queue: most sessions never send a datagram,
// and an idle goroutine and queue (24 bytes a slot) cost memory and setup time.
func (s *Session) startDatagramSender() chan []byte {
	s.mu.Lock()
	if s.dgSendQ == nil {
		s.dgSendQ = make(chan []byte, s.ctx.cfg.DatagramSendQueue)
	}
	q := s.dgSendQ
	start := !s.dgSender && s.state == stEstablished
	s.dgSender = true
	s.mu.Unlock()
	if start {
		s.ctx.goSafe(func() {
			select {
			case <-s.ctrlReady:
				s.sendDatagrams(q)
			case <-s.done:
			}
		})
	}
	return q
}

func (s *Session) sendDatagrams(q chan []byte) {
	qlen := cap(q)
	for {
		var b []byte
		select {
		case b = <-q:
		case <-s.dgWake:
		case <-s.done:
			return
		}
		if b != nil {
			s.sendOneDatagram(b)
			if s.dgWantWritable.Load() && len(q) <= qlen/2 && s.dgWantWritable.CompareAndSwap(true, false) {
				s.push(Event{Type: EvDatagramWritable})
			}
			continue
		}
		for s.dgReady.Load() && !s.ended() && len(q) == 0 {
			req := &ProvideReq{Max: s.MaxDatagram(), ctx: s.ctx, done: make(chan struct{})}
			s.push(Event{Type: EvProvideDatagram, Provide: req})
			select {
			case <-req.done:
			case <-s.done:
				return
			}
			if !req.answered || !req.more {
				s.dgReady.Store(false)
			}
			if req.answered && len(req.buf) > 0 {
				s.sendOneDatagram(req.buf) // quic-go copies it
				s.ctx.putBuf(req.buf)
			} else if s.dgReady.Load() {
				// Nothing now, but still ready: ask again after the back-off
				// or when gowt_set_datagram_ready is called, not at once.
				select {
				case <-s.dgWake:
				case <-time.After(pullBackoff):
				case <-s.done:
					return
				}
			}
		}
	}
}

func (s *Session) sendOneDatagram(b []byte) {
	err := s.ctrl.SendDatagram(b)
	var tooLarge *quic.DatagramTooLargeError
	switch {
	case err == nil:
		s.DatagramsSent.Add(1)
	case errors.As(err, &tooLarge):
		s.DatagramsDroppedSend.Add(1)
		if max := tooLarge.MaxDatagramPayloadSize - int64(quicvarint.Len(s.wireID.Load()/4)); max > 0 {
			s.maxDatagram.Store(max)
		}
	default:
		s.DatagramsDroppedSend.Add(1)
	}
}
