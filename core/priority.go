package core

import (
	"cmp"
	"slices"
)

// Send priorities with the W3C WebTransport API's semantics: within a send
// group, a stream with a higher sendOrder is sent before one with a lower
// sendOrder (strictly); streams with equal sendOrder share the link round
// robin. quic-go's scheduler has 8 strict urgency levels (RFC 9218) and
// round robin inside a level for incremental streams, so each group's
// distinct sendOrder values are ranked and rank r gets urgency 3+r:
// rank 0 keeps quic-go's default urgency 3, shared with the CONNECT stream
// and with sessions that set no priority, so a session's priorities never
// starve its own control capsules or other sessions. Ranks from 4 on share
// urgency 7. Known deviation: groups share urgency levels, so a group's
// second rank also yields to another group's first.
type priorities struct {
	set bool // some stream of the session has a priority
}

type prioKey struct {
	order int64
	group uint32
}

const (
	prioBaseUrgency = 3
	prioMaxUrgency  = 7
)

// SetPriority sets the stream's sendOrder and sendGroup.
func (st *Stream) SetPriority(order int64, group uint32) error {
	s := st.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.hasSend {
		return errf(ErrState, "stream %d has no send side", st.ID)
	}
	if s.state == stClosed {
		return errf(ErrClosed, "session closed")
	}
	st.prio = prioKey{order, group}
	if s.prio == nil {
		s.prio = &priorities{}
	}
	s.prio.set = true
	s.rankLocked()
	return nil
}

// rankLocked gives every send stream of the session its urgency (s.mu held).
func (s *Session) rankLocked() {
	if s.prio == nil || !s.prio.set {
		return
	}
	byGroup := map[uint32][]int64{}
	for _, st := range s.streams {
		if st.hasSend {
			byGroup[st.prio.group] = append(byGroup[st.prio.group], st.prio.order)
		}
	}
	for g, orders := range byGroup {
		slices.SortFunc(orders, func(a, b int64) int { return cmp.Compare(b, a) }) // high first
		byGroup[g] = slices.Compact(orders)
	}
	for _, st := range s.streams {
		if !st.hasSend {
			continue
		}
		rank, _ := slices.BinarySearchFunc(byGroup[st.prio.group], st.prio.order,
			func(a, b int64) int { return cmp.Compare(b, a) })
		if st.bidi == nil && st.send == nil {
			continue
		}
		st.writer().SetPriority(int8(min(prioBaseUrgency+rank, prioMaxUrgency)), true)
	}
}
