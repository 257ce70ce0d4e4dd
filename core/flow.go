package core

import (
	"sync"

	"github.com/quic-go/quic-go/http3"
)

// flowControl is WebTransport's session-level flow control (draft-16
// section 5): limits on the streams and bytes each side may send, raised by
// WT_MAX_* capsules. It is on only when both sides sent the settings; it is
// what allows several sessions to share one QUIC connection.
type flowControl struct {
	mu sync.Mutex

	// What the peer lets us do.
	maxData, sent     int64
	maxBidi, maxUni   uint64
	openBidi, openUni uint64
	credit            chan struct{} // closed when maxData grows
	blockedAt         int64
	// The limits WT_STREAMS_BLOCKED was last sent for ([bidi]), so that an
	// application retrying OpenStream at the limit sends one capsule per
	// limit, not one per call (each was a goroutine and a write).
	streamsBlockedAt [2]uint64

	// What we let the peer do.
	window, received, consumed, advData int64
	limBidi, limUni                     uint64
	closedBidi, closedUni               uint64
	acceptedBidi, acceptedUni           uint64
	advBidi, advUni                     uint64
}

func peerFlowControl(st *http3.Settings) bool {
	if st == nil {
		return false
	}
	o := st.Other
	return o[settingWTInitialMaxData] > 0 || o[settingWTInitialMaxStreamsBidi] > 0 || o[settingWTInitialMaxStreamsUni] > 0
}

func (s *Session) initFlowControl(peer *http3.Settings) {
	cfg := s.ctx.cfg
	if cfg.MaxIncomingData <= 0 || !peerFlowControl(peer) {
		return
	}
	o := peer.Other
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fc = &flowControl{
		maxData: int64(o[settingWTInitialMaxData]), maxBidi: o[settingWTInitialMaxStreamsBidi],
		maxUni: o[settingWTInitialMaxStreamsUni], credit: make(chan struct{}), blockedAt: -1,
		window: cfg.MaxIncomingData, advData: cfg.MaxIncomingData,
		limBidi: uint64(cfg.MaxIncomingBidi), limUni: uint64(cfg.MaxIncomingUni),
		advBidi: uint64(cfg.MaxIncomingBidi), advUni: uint64(cfg.MaxIncomingUni),
	}
}

func (f *flowControl) canOpen(bidi bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bidi {
		return f.openBidi < f.maxBidi
	}
	return f.openUni < f.maxUni
}

func (f *flowControl) opened(bidi bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bidi {
		f.openBidi++
	} else {
		f.openUni++
	}
}

// accepted counts a stream the peer opened; false when that exceeds the
// limit we advertised.
func (f *flowControl) accepted(bidi bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bidi {
		f.acceptedBidi++
		return f.acceptedBidi <= f.advBidi
	}
	f.acceptedUni++
	return f.acceptedUni <= f.advUni
}

func (s *Session) fcBlocked(bidi bool) {
	f := s.fc
	f.mu.Lock()
	typ, v := capsuleStreamsBlkUni, f.maxUni
	if bidi {
		typ, v = capsuleStreamsBlkBidi, f.maxBidi
	}
	// Limits only grow and start at 0 only when the peer allows no streams
	// of a kind: +1 keeps the zero value meaning "not sent yet".
	i := idx(bidi)
	send := f.streamsBlockedAt[i] != v+1
	if send {
		f.streamsBlockedAt[i] = v + 1
	}
	f.mu.Unlock()
	if send {
		s.ctx.goSafe(func() { _ = s.writeCtrl(varintCapsule(typ, v)) })
	}
}

// take is the send limiter of WebTransport flow control: quic-go calls it
// as it packs a STREAM frame of up to max bytes, and it takes what credit
// there is. It must not block (it runs under quic-go's locks; f.mu is a leaf).
func (f *flowControl) take(max int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := int(min(int64(max), f.maxData-f.sent))
	f.sent += int64(n)
	return n
}

// tryTake takes credit for n bytes, all or nothing.
func (f *flowControl) tryTake(n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxData-f.sent < int64(n) {
		return false
	}
	f.sent += int64(n)
	return true
}

// giveBack returns credit taken for bytes that were not sent after all.
func (f *flowControl) giveBack(n int) {
	f.mu.Lock()
	f.sent -= int64(n)
	f.mu.Unlock()
}

// available is the session's unused send credit.
func (f *flowControl) available() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int(min(f.maxData-f.sent, 1<<30))
}

// fcWait waits until the peer raises WT_MAX_DATA above what we have sent
// (sending WT_DATA_BLOCKED once per limit); false when the session ended
// or stop (the waiting stream's write side) closed.
func (s *Session) fcWait(stop <-chan struct{}) bool {
	f := s.fc
	f.mu.Lock()
	if f.maxData > f.sent {
		f.mu.Unlock()
		return true
	}
	ch := f.credit
	var blocked []byte
	if f.blockedAt != f.maxData {
		f.blockedAt = f.maxData
		blocked = varintCapsule(capsuleDataBlocked, uint64(f.maxData))
	}
	f.mu.Unlock()
	if blocked != nil {
		_ = s.writeCtrl(blocked)
	}
	select {
	case <-ch:
		return true
	case <-s.done:
		return false
	case <-stop:
		return false
	}
}

// fcReceived counts bytes read from the peer's streams; false when the
// peer sent more than the limit we advertised.
func (s *Session) fcReceived(n int) bool {
	f := s.fc
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received += int64(n)
	return f.received <= f.advData
}

// fcDelivered returns credit for bytes the application has taken, raising
// the peer's limit in time. Credit follows delivery, not reading: a session
// whose application falls behind stops its peer at its own window and
// leaves the shared connection's window to the other sessions.
func (s *Session) fcDelivered(n int) {
	f := s.fc
	f.mu.Lock()
	f.consumed += int64(n)
	var c []byte
	if f.advData-f.consumed < f.window/2 {
		f.advData = f.consumed + f.window
		c = varintCapsule(capsuleMaxData, uint64(f.advData))
	}
	f.mu.Unlock()
	if c != nil && !s.ended() {
		s.ctx.goSafe(func() { _ = s.writeCtrl(c) })
	}
}

// fcStreamClosed lets the peer open more streams as its streams end.
func (s *Session) fcStreamClosed(bidi bool) {
	f := s.fc
	f.mu.Lock()
	var c []byte
	if bidi {
		f.closedBidi++
		if next := f.closedBidi + f.limBidi; next >= f.advBidi+max(f.limBidi/2, 1) {
			f.advBidi = next
			c = varintCapsule(capsuleMaxStreamsBidi, next)
		}
	} else {
		f.closedUni++
		if next := f.closedUni + f.limUni; next >= f.advUni+max(f.limUni/2, 1) {
			f.advUni = next
			c = varintCapsule(capsuleMaxStreamsUni, next)
		}
	}
	f.mu.Unlock()
	if c != nil && !s.ended() {
		s.ctx.goSafe(func() { _ = s.writeCtrl(c) })
	}
}

// fcUpdate applies a WT_MAX_DATA / WT_MAX_STREAMS capsule from the peer.
func (s *Session) fcUpdate(typ http3.CapsuleType, v uint64) {
	s.mu.Lock()
	f := s.fc
	s.mu.Unlock()
	if f == nil {
		return
	}
	raised := false
	f.mu.Lock()
	switch typ {
	case capsuleMaxData:
		if int64(v) > f.maxData {
			f.maxData = int64(v)
			close(f.credit)
			f.credit = make(chan struct{})
		}
	case capsuleMaxStreamsBidi:
		raised = v > f.maxBidi
		f.maxBidi = max(f.maxBidi, v)
	case capsuleMaxStreamsUni:
		raised = v > f.maxUni
		f.maxUni = max(f.maxUni, v)
	}
	f.mu.Unlock()
	if raised {
		s.wtStreamsRaised(typ == capsuleMaxStreamsBidi)
	}
}
