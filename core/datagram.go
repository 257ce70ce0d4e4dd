package core

import (
	"errors"
	"runtime"
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
	var pacing *dgPacing
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
			req := &ProvideReq{Max: s.MaxDatagram(), Seq: s.ctx.provideSeq.Add(1), ctx: s.ctx, done: make(chan struct{})}
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
				if pacing == nil {
					pacing = s.newDgPacing()
				}
				if pacing != nil {
					pacing.pending++
					if !s.waitDatagramRoom(pacing) {
						return
					}
				}
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

// dgPackedWindow is how many pulled datagrams may wait in quic-go's
// datagram queue at once: 2 lets the next PROVIDE_DATAGRAM overlap the
// packing of the last datagram on an idle path, and keeps what waits
// when the path is congestion-limited to two packets.
const dgPackedWindow = 2

// dgPacing tracks the pulled datagrams that may still wait in quic-go's
// datagram queue. quic-go has no signal for a datagram leaving that queue
// (it holds 32); its packer puts a queued DATAGRAM frame first into the
// next ack-eliciting packet, and ConnectionStats().PacketsSent, an atomic
// counter bumped when a packet is packed, tells when that happened. Other
// packets (ACKs, stream data) move the counter too, so a wait can end
// early; it never ends late.
type dgPacing struct {
	qc      *quic.Conn
	seen    uint64 // PacketsSent at the last look
	pending int    // datagrams handed over and not yet seen packed
}

func (p *dgPacing) update() {
	n := p.qc.ConnectionStats().PacketsSent
	p.pending = max(0, p.pending-int(n-p.seen))
	p.seen = n
}

// waitDatagramRoom returns once fewer than dgPackedWindow pulled datagrams
// may wait in quic-go's queue, so that PROVIDE_DATAGRAM is asked when a
// datagram can go into the next packet (on a congestion-limited path the
// 32-deep queue made every provided datagram 32 packets old). Without
// congestion the counter has moved before we look; otherwise it is polled,
// backing off to 2 ms. It returns false when the session ends.
func (s *Session) waitDatagramRoom(p *dgPacing) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for i := 0; ; i++ {
		p.update()
		if p.pending < dgPackedWindow {
			return true
		}
		if i < 64 {
			runtime.Gosched()
			continue
		}
		d := min(time.Duration(i-63)*50*time.Microsecond, 2*time.Millisecond)
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
		case <-s.done:
			return false
		}
	}
}

func (s *Session) newDgPacing() *dgPacing {
	s.mu.Lock()
	wc := s.conn
	s.mu.Unlock()
	if wc == nil {
		return nil
	}
	return &dgPacing{qc: wc.qc, seen: wc.qc.ConnectionStats().PacketsSent}
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
