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

	// What we let the peer do.
	window, consumed, advData int64
	limBidi, limUni           uint64
	closedBidi, closedUni     uint64
	advBidi, advUni           uint64
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

func (f *flowControl) accepted(bool) {}

func (s *Session) fcBlocked(bidi bool) {
	f := s.fc
	f.mu.Lock()
	typ, v := capsuleStreamsBlkUni, f.maxUni
	if bidi {
		typ, v = capsuleStreamsBlkBidi, f.maxBidi
	}
	f.mu.Unlock()
	s.ctx.goSafe(func() { _ = s.writeCtrl(varintCapsule(typ, v)) })
}

// fcAcquire waits for credit to send up to n bytes and takes it.
func (s *Session) fcAcquire(n int) int {
	f := s.fc
	for {
		f.mu.Lock()
		if avail := f.maxData - f.sent; avail > 0 {
			take := min(int64(n), avail)
			f.sent += take
			f.mu.Unlock()
			return int(take)
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
		case <-s.done:
			return 0
		}
	}
}

// fcConsumed counts received bytes and raises the peer's limit in time.
func (s *Session) fcConsumed(n int) {
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
		_ = s.writeCtrl(c)
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
	f.mu.Lock()
	defer f.mu.Unlock()
	switch typ {
	case capsuleMaxData:
		if int64(v) > f.maxData {
			f.maxData = int64(v)
			close(f.credit)
			f.credit = make(chan struct{})
		}
	case capsuleMaxStreamsBidi:
		f.maxBidi = max(f.maxBidi, v)
	case capsuleMaxStreamsUni:
		f.maxUni = max(f.maxUni, v)
	}
}
