package core

import (
	"crypto/sha256"
	"time"
)

// ConnInfo is what a session can tell about the QUIC connection under it:
// quic-go's ConnectionStats, the addresses and the TLS facts. Sessions that
// share a connection see the same values.
type ConnInfo struct {
	Known bool // false while a client session is still dialling

	SmoothedRTT, MinRTT, LatestRTT, RTTVariance time.Duration
	CongestionWindow                            uint64
	BytesSent, PacketsSent                      uint64
	BytesReceived, PacketsReceived              uint64
	BytesLost, PacketsLost                      uint64
	Sessions                                    int // sessions on the connection now

	PeerAddr, LocalAddr string
	TLSResumed          bool
	PeerCertHash        [32]byte // SHA-256 of the peer's leaf certificate (DER)
	HasPeerCert         bool
}

// ConnInfo returns the session's connection facts (Known false before the
// client's connection exists).
func (s *Session) ConnInfo() ConnInfo {
	s.mu.Lock()
	wc := s.conn
	s.mu.Unlock()
	if wc == nil {
		return ConnInfo{}
	}
	st := wc.qc.ConnectionStats()
	info := ConnInfo{
		Known:       true,
		SmoothedRTT: st.SmoothedRTT, MinRTT: st.MinRTT, LatestRTT: st.LatestRTT,
		RTTVariance: st.MeanDeviation, CongestionWindow: st.CongestionWindow,
		BytesSent: st.BytesSent, PacketsSent: st.PacketsSent,
		BytesReceived: st.BytesReceived, PacketsReceived: st.PacketsReceived,
		BytesLost: st.BytesLost, PacketsLost: st.PacketsLost,
		PeerAddr: wc.qc.RemoteAddr().String(), LocalAddr: wc.qc.LocalAddr().String(),
	}
	wc.mu.Lock()
	info.Sessions = len(wc.sessions)
	wc.mu.Unlock()
	info.TLSResumed, info.PeerCertHash, info.HasPeerCert = wc.tlsFacts()
	return info
}

// tlsFacts: whether the handshake resumed a TLS session, and the hash of
// the peer's leaf certificate (a client presents one only when asked to).
// Only meaningful once the handshake is complete; before that (the server's
// early connections) nothing is reported.
func (wc *wtConn) tlsFacts() (resumed bool, hash [32]byte, ok bool) {
	select {
	case <-wc.qc.HandshakeComplete():
	default:
		return false, hash, false
	}
	cs := wc.qc.ConnectionState().TLS
	if len(cs.PeerCertificates) > 0 {
		hash, ok = sha256.Sum256(cs.PeerCertificates[0].Raw), true
	}
	return cs.DidResume, hash, ok
}
