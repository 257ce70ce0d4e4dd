package core

import (
	"bytes"
	"testing"

	"github.com/quic-go/quic-go/quicvarint"
)

// HTTP datagrams (RFC 9297 section 2.1): a QUIC DATAGRAM frame's payload is
// the quarter stream ID (session ID / 4) as a varint, then the WebTransport
// payload. The prefix is parsed by quic-go's http3 (rawConn.receiveDatagrams,
// unexported, with quicvarint.Parse) and written by its sendDatagram
// (quicvarint.Append); core has no datagram prefix parser of its own. What
// core does depend on is the prefix length: initialMaxDatagram (session.go)
// and MaxDatagram / sendOneDatagram (datagram.go) subtract
// quicvarint.Len(sessionID/4) from the QUIC datagram size.

// maxQuarterStreamID is quic-go's (and RFC 9297's) upper bound: a quarter
// stream ID above it cannot name a stream and closes the connection with
// H3_DATAGRAM_ERROR.
const maxQuarterStreamID = 1<<60 - 1

// FuzzDatagramPrefix: any datagram as it arrives, decoded as http3 does and
// compared with the reference; and the prefix for a session ID, written as
// http3 writes it, against core's payload-size arithmetic.
func FuzzDatagramPrefix(f *testing.F) {
	addSeeds(f, "FuzzDatagramPrefix")
	f.Fuzz(func(t *testing.T, raw []byte, sessionID uint64, payload []byte) {
		// Receiving: the parse http3 does on every incoming datagram.
		q, n, err := quicvarint.Parse(raw)
		rq, rn, ok := refVarint(raw)
		if ok != (err == nil) {
			t.Fatalf("%x: quicvarint.Parse err=%v, reference ok=%v", raw, err, ok)
		}
		if ok {
			if q != rq || n != rn {
				t.Fatalf("%x: quarter stream ID %d (%d bytes), want %d (%d bytes)", raw, q, n, rq, rn)
			}
			if q <= maxQuarterStreamID && (4*q)/4 != q {
				t.Fatalf("quarter stream ID %d does not map back from its stream ID", q)
			}
		}

		// Sending: the prefix for sessionID and core's size arithmetic.
		sessionID &= maxVarint
		quarter := sessionID / 4
		prefix := quicvarint.Append(nil, quarter)
		if want := refAppendVarint(nil, quarter); !bytes.Equal(prefix, want) {
			t.Fatalf("prefix for quarter %d: %x, want %x", quarter, prefix, want)
		}
		if quicvarint.Len(quarter) != len(prefix) {
			t.Fatalf("quicvarint.Len(%d)=%d, prefix is %d bytes", quarter, quicvarint.Len(quarter), len(prefix))
		}
		// 1243 is the QUIC DATAGRAM frame payload in a 1200-byte packet; the
		// WebTransport payload and the prefix together fill it.
		if got := initialMaxDatagram(sessionID) + len(prefix); got != 1243 {
			t.Fatalf("session %d: initialMaxDatagram %d + prefix %d = %d, want 1243", sessionID, initialMaxDatagram(sessionID), len(prefix), got)
		}
		dg := append(append([]byte(nil), prefix...), payload...)
		gq, gn, err := quicvarint.Parse(dg)
		if err != nil || gq != quarter || 4*gq != sessionID&^3 || !bytes.Equal(dg[gn:], payload) {
			t.Fatalf("session %d: datagram %x parses as quarter %d, payload %x, err %v", sessionID, dg, gq, dg[gn:], err)
		}
	})
}

func init() {
	v := refAppendVarint
	fuzzSeeds["FuzzDatagramPrefix"] = []fuzzSeed{
		{"empty", []any{[]byte{}, uint64(0), []byte{}}},
		{"session-0", []any{[]byte{0x00, 'h', 'i'}, uint64(0), []byte("hi")}},
		{"session-252", []any{append(v(nil, 63), 1), uint64(252), []byte{1}}},
		{"session-256", []any{append(v(nil, 64), 2), uint64(256), []byte{2}}},
		{"two-byte-truncated", []any{[]byte{0x40}, uint64(65532), []byte{}}},
		{"eight-byte-truncated", []any{[]byte{0xc0, 0, 0, 0}, uint64(1 << 32), []byte{}}},
		{"quarter-above-max", []any{v(nil, maxQuarterStreamID+1), uint64(maxVarint), []byte("x")}},
		{"quarter-max", []any{v(nil, maxQuarterStreamID), uint64(4 * 1 << 40), []byte{}}},
		{"non-minimal-zero", []any{[]byte{0xc0, 0, 0, 0, 0, 0, 0, 0, 'p'}, uint64(4), []byte("p")}},
		{"odd-session", []any{[]byte{0x01}, uint64(7), []byte{}}},
	}
}
