package core

import (
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// retryPending is how many handshakes may be in progress (accepted, not
// complete) before new connection attempts are answered with a Retry (QUIC
// address validation, quic.Transport.VerifySourceAddress). A Retry costs
// the server no state, so clients that never complete their handshake (a
// half-open flood: about 70 KB each until the handshake timeout otherwise,
// found by cmd/hostile half-open) cannot pile up, while a busy server whose
// clients do complete (setup benchmarks, reconnect storms) never pays the
// extra round trip.
const retryPending = 256

// handshakeGuard counts a context's server handshakes in progress.
type handshakeGuard struct{ pending atomic.Int64 }

// verify is VerifySourceAddress: true asks quic-go to send a Retry.
func (g *handshakeGuard) verify(_ any) bool { return g.pending.Load() >= retryPending }

// trackHandshake counts qc until its handshake completes or it closes
// (acceptLoop: the early listener hands connections over mid-handshake).
func (c *Context) trackHandshake(qc *quic.Conn) {
	select {
	case <-qc.HandshakeComplete():
		return // already done: nothing to count
	default:
	}
	c.hs.pending.Add(1)
	c.goSafe(func() {
		defer c.hs.pending.Add(-1)
		select {
		case <-qc.HandshakeComplete():
		case <-qc.Context().Done():
		}
	})
}
