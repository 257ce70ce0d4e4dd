package core

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// Wire constants of WebTransport over HTTP/3 (draft-ietf-webtrans-http3-16,
// and draft-02 as spoken by Chromium).
const (
	frameWebTransportStream = 0x41 // first varint of a WT bidi stream
	uniStreamWebTransport   = 0x54 // type of a WT uni stream

	settingEnableWebTransportDraft02 = 0x2b603742
	settingWTEnabled                 = 0x2c7cf000
	settingWTMaxSessions             = 0x14e9cd29
	settingWTInitialMaxStreamsUni    = 0x2b64
	settingWTInitialMaxStreamsBidi   = 0x2b65
	settingWTInitialMaxData          = 0x2b61

	capsuleCloseSession   http3.CapsuleType = 0x2843
	capsuleDrainSession   http3.CapsuleType = 0x78ae
	capsuleMaxData        http3.CapsuleType = 0x190b4d3d
	capsuleMaxStreamsBidi http3.CapsuleType = 0x190b4d3f
	capsuleMaxStreamsUni  http3.CapsuleType = 0x190b4d40
	capsuleDataBlocked    http3.CapsuleType = 0x190b4d41
	capsuleStreamsBlkBidi http3.CapsuleType = 0x190b4d43
	capsuleStreamsBlkUni  http3.CapsuleType = 0x190b4d44

	maxCloseReason = 1024

	// HTTP/3 and WebTransport error codes used on the wire.
	h3NoError             = 0x100
	h3RequestRejected     = 0x10b
	h3RequestCanceled     = 0x10c
	h3MessageError        = 0x10e
	h3GeneralProtocolErr  = 0x101
	wtBufferedStreamRej   = 0x3994bd84
	wtSessionGone         = 0x170d7b68
	wtFlowControlError    = 0x045d4487
	wtALPNError           = 0x0817b3dd // the session's sub-protocol is unusable
	wtAppErrorFirst       = 0x52e4a40fa8db
	wtAppErrorLast        = 0x52e5ac983162
	protocolWebTransport  = "webtransport-h3"
	protocolWTLegacyDraft = "webtransport"
)

// appErrorToWire maps a 32-bit WebTransport application error code into the
// HTTP/3 error space reserved for it (draft-16 section 4.4).
func appErrorToWire(n uint32) uint64 {
	return wtAppErrorFirst + uint64(n) + uint64(n)/0x1e
}

// appErrorFromWire maps a wire code back. Codes outside WebTransport's range
// are passed through when they fit 32 bits: picoquic sends raw application
// codes, and we must read them too.
func appErrorFromWire(h uint64) uint64 {
	if h < wtAppErrorFirst || h > wtAppErrorLast {
		return h
	}
	if (h-0x21)%0x1f == 0 { // a reserved (GREASE) code point
		return h
	}
	shifted := h - wtAppErrorFirst
	return shifted - shifted/0x1f
}

// wireCode is appErrorFromWire plus FlagCodeRaw when the code was not in
// WebTransport's application range (or was a GREASE point there), so the
// application can tell a mapped application code from a raw one.
func wireCode(h uint64) (code uint64, flags int) {
	code = appErrorFromWire(h)
	if code == h {
		return code, FlagCodeRaw
	}
	return code, 0
}

func appendCapsule(b []byte, typ http3.CapsuleType, payload []byte) []byte {
	b = quicvarint.Append(b, uint64(typ))
	b = quicvarint.Append(b, uint64(len(payload)))
	return append(b, payload...)
}

func closeCapsule(code uint32, reason string) []byte {
	p := make([]byte, 4, 4+len(reason))
	binary.BigEndian.PutUint32(p, code)
	p = append(p, reason...)
	return appendCapsule(nil, capsuleCloseSession, p)
}

func varintCapsule(typ http3.CapsuleType, v uint64) []byte {
	return appendCapsule(nil, typ, quicvarint.Append(nil, v))
}

var errBadCapsule = errors.New("malformed capsule")

func readCapsuleVarint(r io.Reader) (uint64, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		return 0, errBadCapsule
	}
	return quicvarint.Read(br)
}
