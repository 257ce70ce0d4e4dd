package core

import (
	"github.com/quic-go/quic-go"
)

// EvStreamsAvailable (public GOWT_EV_STREAMS_AVAILABLE) tells a session
// whose OpenStream failed with ErrLimit that it may open a stream of that
// kind (FlagStreamBidi set: bidirectional) again. It comes once per failure
// streak, like msquic's STREAMS_AVAILABLE, so applications need not poll.
// (The constant is in events.go with the others.)

// creditFreed gives the peer QUIC credit for a stream of its own once the
// application has let go of it (FREE delivered), not when quic-go has
// completed it (Config.RequireStreamCreditRelease): so a peer has at most
// max_incoming_streams_* streams the application still holds (their state,
// events and buffers), however fast it opens and finishes them. quic-go
// issues the credit once the stream has completed and been released, in
// either order.
func (s *Session) creditFreed(st *Stream) {
	if st.Local {
		return // credit for streams we opened is the peer's to give
	}
	if st.bidi != nil {
		st.bidi.ReleaseStreamCredit()
	} else if st.recv != nil {
		st.recv.ReleaseStreamCredit()
	}
}

// streamCredit is what a session remembers about its stream limits (s.mu).
type streamCredit struct {
	wantWT    [2]bool // [bidi]: OpenStream hit the peer's WT_MAX_STREAMS
	waitingQ  [2]bool // [bidi]: a goroutine waits for QUIC stream credit
	spareBidi *quic.Stream
	spareUni  *quic.SendStream
}

func idx(bidi bool) int {
	if bidi {
		return 1
	}
	return 0
}

func availableEvent(bidi bool) Event {
	ev := Event{Type: EvStreamsAvailable, StreamID: NoID}
	if bidi {
		ev.Flags = FlagStreamBidi
	}
	return ev
}

// wtStreamsRaised is called when the peer's WT_MAX_STREAMS grew.
func (s *Session) wtStreamsRaised(bidi bool) {
	s.mu.Lock()
	want := s.credit.wantWT[idx(bidi)]
	s.credit.wantWT[idx(bidi)] = false
	open := s.state == stEstablished
	s.mu.Unlock()
	if want && open {
		s.push(availableEvent(bidi))
	}
}

// waitQUICCredit starts (once per streak) a goroutine that waits for the
// connection's QUIC stream limit to grow. quic-go signals that only by
// letting a blocked OpenStreamSync return a stream, so the stream it opens
// is kept as a spare for the session's next OpenStream (nothing reaches the
// wire for it before that). Called with s.mu held.
func (s *Session) waitQUICCredit(bidi bool) {
	i := idx(bidi)
	if s.credit.waitingQ[i] {
		return
	}
	s.credit.waitingQ[i] = true
	qc := s.conn.qc
	s.ctx.goSafe(func() {
		var bs *quic.Stream
		var us *quic.SendStream
		var err error
		if bidi {
			bs, err = qc.OpenStreamSync(s.doneCtx)
		} else {
			us, err = qc.OpenUniStreamSync(s.doneCtx)
		}
		s.mu.Lock()
		s.credit.waitingQ[i] = false
		keep := err == nil && s.state == stEstablished
		if keep {
			if bidi {
				s.credit.spareBidi = bs
			} else {
				s.credit.spareUni = us
			}
		}
		s.mu.Unlock()
		switch {
		case keep:
			s.push(availableEvent(bidi))
		case err == nil: // the session ended meanwhile
			dropSpare(bs, us)
		}
	})
}

// takeSpare returns the spare stream of a kind, if any (s.mu held).
func (s *Session) takeSpare(bidi bool) (*quic.Stream, *quic.SendStream) {
	if bidi {
		b := s.credit.spareBidi
		s.credit.spareBidi = nil
		return b, nil
	}
	u := s.credit.spareUni
	s.credit.spareUni = nil
	return nil, u
}

// dropSpares releases unused spare streams of an ended session.
func (s *Session) dropSpares() {
	s.mu.Lock()
	b, u := s.credit.spareBidi, s.credit.spareUni
	s.credit.spareBidi, s.credit.spareUni = nil, nil
	s.mu.Unlock()
	dropSpare(b, u)
}

func dropSpare(b *quic.Stream, u *quic.SendStream) {
	if b != nil {
		b.CancelWrite(wtSessionGone)
		b.CancelRead(wtSessionGone)
	}
	if u != nil {
		u.CancelWrite(wtSessionGone)
	}
}
