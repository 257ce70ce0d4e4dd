package core

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/quic-go/quic-go"
)

// WebTransport stream headers (draft-ietf-webtrans-http3 section 4.2 and
// 4.3): a bidi stream starts with the signal value 0x41, a uni stream with
// the stream type 0x54, then the session ID; read by readStreamHeader
// (conn.go) on a new QUIC stream, through its Peek/Read seam.

// checkStreamHeader runs readStreamHeader over raw and compares it with the
// reference decoding. endReset: the stream ends with a reset instead of a
// FIN; resetWithByte: quic-go's RESET_STREAM_AT delivery, where the last
// reliable byte comes together with the reset error.
func checkStreamHeader(t *testing.T, raw []byte, wtType uint64, chunk int, endReset, resetWithByte bool) {
	var end error
	if endReset {
		end = &quic.StreamError{ErrorCode: 0x52e4a40fa8db, Remote: true}
	}
	str := &chunkReader{data: raw, chunk: chunk, eofWithData: resetWithByte, end: end}
	id, wt, err := readStreamHeader(str, wtType)

	typ, n1, ok := refVarint(raw)
	consumed := 0
	switch {
	case !ok: // not even the first varint: the stream is dropped
		if err == nil {
			t.Fatalf("%x: no error for a truncated first varint (id %d, wt %v)", raw, id, wt)
		}
		if wt {
			t.Fatalf("%x: wt=true with an error", raw)
		}
	case typ != wtType: // HTTP/3's: nothing consumed
		if err != nil || wt {
			t.Fatalf("%x: type %#x: got wt=%v err=%v, want an HTTP/3 stream", raw, typ, wt, err)
		}
	default:
		if err != nil || !wt {
			t.Fatalf("%x: WebTransport stream: got wt=%v err=%v", raw, wt, err)
		}
		sid, n2, ok := refVarint(raw[n1:])
		if ok {
			consumed = n1 + n2
			if id != sid {
				t.Fatalf("%x: session ID %d, want %d", raw, id, sid)
			}
		} else {
			consumed = len(raw) // what there was of the session ID is gone
			if id != 1 || id%4 == 0 {
				t.Fatalf("%x: truncated session ID gave id %d, want 1 (never routable)", raw, id)
			}
		}
	}
	if !ok {
		return
	}
	// The stream data after the header is untouched: the application (or
	// HTTP/3) reads it from the first byte after the header.
	rest, rerr := io.ReadAll(str)
	if rerr != nil && !endReset {
		t.Fatalf("%x: reading the rest: %v", raw, rerr)
	}
	if !bytes.Equal(rest, raw[consumed:]) {
		t.Fatalf("%x: after the header the stream holds %x, want %x", raw, rest, raw[consumed:])
	}
	if endReset && rerr != nil && !errors.As(rerr, new(*quic.StreamError)) {
		t.Fatalf("%x: reset stream ended with %v", raw, rerr)
	}
}

// FuzzStreamHeader: any bytes as the start of a new stream, taken as a uni
// and as a bidi stream, read whole or in chunks, ending with a FIN or a
// reset (with the last byte delivered together with the reset).
func FuzzStreamHeader(f *testing.F) {
	addSeeds(f, "FuzzStreamHeader")
	f.Fuzz(func(t *testing.T, raw []byte, chunk uint8, endReset, resetWithByte bool) {
		for _, wtType := range []uint64{frameWebTransportStream, uniStreamWebTransport} {
			checkStreamHeader(t, raw, wtType, int(chunk%9), endReset, resetWithByte)
		}
	})
}

// FuzzStreamHeaderRoundTrip: the header our stream.go writes (quicvarint of
// the type, then of the session ID), in the shortest or any longer varint
// encoding a peer may use, followed by data, reads back as that session ID.
func FuzzStreamHeaderRoundTrip(f *testing.F) {
	addSeeds(f, "FuzzStreamHeaderRoundTrip")
	f.Fuzz(func(t *testing.T, sessionID uint64, bidi bool, typeLen, idLen uint8, data []byte) {
		sessionID &= maxVarint
		wtType := uint64(uniStreamWebTransport)
		if bidi {
			wtType = frameWebTransportStream
		}
		lens := []int{1, 2, 4, 8}
		tl := max(refVarintLen(wtType), lens[typeLen%4])
		il := max(refVarintLen(sessionID), lens[idLen%4])
		raw := refAppendVarintLen(nil, wtType, tl)
		raw = refAppendVarintLen(raw, sessionID, il)
		raw = append(raw, data...)
		str := &chunkReader{data: raw}
		id, wt, err := readStreamHeader(str, wtType)
		if err != nil || !wt || id != sessionID {
			t.Fatalf("%x: got id=%d wt=%v err=%v, want id=%d", raw, id, wt, err, sessionID)
		}
		rest, _ := io.ReadAll(str)
		if !bytes.Equal(rest, data) {
			t.Fatalf("%x: data after the header %x, want %x", raw, rest, data)
		}
		// The other stream kind's type is not ours: nothing is consumed.
		other := uint64(frameWebTransportStream + uniStreamWebTransport - wtType)
		str = &chunkReader{data: raw}
		if _, wt, err := readStreamHeader(str, other); err != nil || wt || str.pos != 0 {
			t.Fatalf("%x as type %#x: wt=%v err=%v consumed %d", raw, other, wt, err, str.pos)
		}
	})
}

func init() {
	v := refAppendVarint
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	fuzzSeeds["FuzzStreamHeader"] = []fuzzSeed{
		{"empty", []any{[]byte{}, uint8(0), false, false}},
		{"bidi-session-0", []any{cat(v(nil, 0x41), v(nil, 0), []byte("hello")), uint8(0), false, false}},
		{"uni-session-4", []any{cat(v(nil, 0x54), v(nil, 4), []byte("x")), uint8(1), false, false}},
		{"bidi-session-big", []any{cat(v(nil, 0x41), v(nil, 1<<40)), uint8(3), false, false}},
		{"bidi-session-max", []any{cat(v(nil, 0x41), v(nil, maxVarint)), uint8(0), true, true}},
		{"bidi-session-odd", []any{cat(v(nil, 0x41), v(nil, 5)), uint8(0), false, false}},
		{"bidi-no-session", []any{v(nil, 0x41), uint8(0), false, false}},
		{"bidi-truncated-session", []any{cat(v(nil, 0x41), []byte{0x80, 0x00}), uint8(1), false, false}},
		{"reset-with-last-byte", []any{cat(v(nil, 0x41), v(nil, 0)), uint8(1), true, true}},
		{"reset-before-session", []any{cat(v(nil, 0x54), []byte{0xc0}), uint8(0), true, false}},
		{"type-truncated", []any{[]byte{0x40}, uint8(0), false, false}},
		{"type-8-byte", []any{cat(refAppendVarintLen(nil, 0x41, 8), v(nil, 8)), uint8(2), false, false}},
		{"http3-headers-frame", []any{[]byte{0x01, 0x05, 0, 0, 0xd1, 0xd7, 0xc1}, uint8(0), false, false}},
		{"http3-control-stream", []any{[]byte{0x00, 0x04, 0x00}, uint8(0), false, false}},
		{"qpack-encoder-stream", []any{[]byte{0x02}, uint8(0), false, false}},
		{"grease-stream-type", []any{cat(v(nil, 0x1f*7+0x21), []byte("junk")), uint8(0), false, false}},
	}
	fuzzSeeds["FuzzStreamHeaderRoundTrip"] = []fuzzSeed{
		{"bidi-0", []any{uint64(0), true, uint8(0), uint8(0), []byte{}}},
		{"uni-4-long", []any{uint64(4), false, uint8(3), uint8(3), []byte("data")}},
		{"bidi-max", []any{uint64(maxVarint), true, uint8(1), uint8(0), []byte{0x41}}},
		{"uni-boundary", []any{uint64(1<<30 - 4), false, uint8(2), uint8(2), []byte{}}},
	}
}
