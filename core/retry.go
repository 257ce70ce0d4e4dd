package core

import (
	"net"
	"sync"
	"time"
)

// retryGuard decides when quic-go answers a new connection attempt with a
// Retry (QUIC address validation, quic.Transport.VerifySourceAddress): when
// unvalidated attempts come faster than retryRate per second beyond a burst
// of retryBurst. A Retry costs the server no state, so clients that never
// complete their handshake (a half-open flood: about 70 KB each until the
// handshake timeout otherwise, found by cmd/hostile half-open) no longer
// pile up; well-behaved clients pay one round trip more while it lasts.
type retryGuard struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

const (
	retryBurst = 256
	retryRate  = 64.0 // attempts per second without Retry, sustained
)

func (g *retryGuard) verify(net.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.last.IsZero() {
		g.tokens = retryBurst
	} else {
		g.tokens = min(retryBurst, g.tokens+now.Sub(g.last).Seconds()*retryRate)
	}
	g.last = now
	if g.tokens >= 1 {
		g.tokens--
		return false
	}
	return true
}
