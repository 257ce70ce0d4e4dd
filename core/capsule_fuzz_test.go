package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/quic-go/quic-go/http3"
)

// Capsules of the CONNECT stream, read by nextCtrlCapsule (session.go) over
// quic-go's http3.CapsuleParser, exactly as readCapsules reads them.

// refCapsuleEvent is what the reference model expects nextCtrlCapsule to
// return for one capsule.
type refCapsuleEvent struct {
	typ     uint64
	code    uint32
	reason  string
	value   uint64
	valueOK bool
}

// refCapsuleEnd is how the reference model expects the stream to end.
type refCapsuleEnd int

const (
	endEOF       refCapsuleEnd = iota // clean FIN at a capsule boundary
	endError                          // truncated capsule: an error other than EOF
	endBadClose                       // errMalformedClose
	endCloseLast                      // a CLOSE was the last thing read (the session ends there)
)

// refParseCapsules is the model of the capsule stream (RFC 9297 section 3.2,
// draft-ietf-webtrans-http3 sections 5.6 and 6): it says which capsules
// readCapsules acts on and how reading ends. A CLOSE is malformed when it
// is shorter than its 4-byte code or cut off by the end of the stream; a
// reason longer than maxCloseReason is cut to it. The session ends with the
// CLOSE: nothing after it matters.
func refParseCapsules(raw []byte) ([]refCapsuleEvent, refCapsuleEnd) {
	var evs []refCapsuleEvent
	pos := 0
	for {
		if pos == len(raw) {
			return evs, endEOF
		}
		typ, n1, ok := refVarint(raw[pos:])
		if !ok {
			return evs, endError
		}
		l, n2, ok := refVarint(raw[pos+n1:])
		if !ok {
			return evs, endError
		}
		start := pos + n1 + n2
		avail := uint64(len(raw) - start)
		ev := refCapsuleEvent{typ: typ}
		switch http3.CapsuleType(typ) {
		case capsuleCloseSession:
			need := min(l, 4+maxCloseReason)
			if avail < l || need < 4 {
				return evs, endBadClose
			}
			p := raw[start : start+int(need)]
			ev.code = binary.BigEndian.Uint32(p)
			ev.reason = string(p[4:])
		case capsuleMaxData, capsuleMaxStreamsBidi, capsuleMaxStreamsUni, capsuleStreamsBlkBidi, capsuleStreamsBlkUni:
			window := raw[start : start+int(min(l, avail))]
			ev.value, _, ev.valueOK = refVarint(window)
		}
		evs = append(evs, ev)
		if http3.CapsuleType(typ) == capsuleCloseSession {
			// readCapsules goes on reading after a CLOSE, but the session
			// has ended: only the CLOSE matters.
			return evs, endCloseLast
		}
		if avail < l {
			return evs, endError
		}
		pos = start + int(l)
	}
}

// runCapsules reads the stream with nextCtrlCapsule until the first error or
// CLOSE, the way readCapsules does.
func runCapsules(t *testing.T, r io.Reader) ([]refCapsuleEvent, error) {
	p := http3.NewCapsuleParser(r)
	var got []refCapsuleEvent
	for i := 0; ; i++ {
		if i > 1<<16 {
			t.Fatal("capsule reader does not make progress")
		}
		c, err := nextCtrlCapsule(p)
		if err != nil {
			return got, err
		}
		got = append(got, refCapsuleEvent{typ: uint64(c.typ), code: c.code, reason: c.reason, value: c.value, valueOK: c.valueOK})
		if len(c.reason) > maxCloseReason {
			t.Fatalf("close reason of %d bytes (at most %d)", len(c.reason), maxCloseReason)
		}
		if c.typ == capsuleCloseSession {
			return got, nil
		}
	}
}

func checkCapsules(t *testing.T, raw []byte, chunk uint8, eofWithData bool) {
	want, end := refParseCapsules(raw)
	got, err := runCapsules(t, &chunkReader{data: raw, chunk: int(chunk % 9), eofWithData: eofWithData})
	if len(got) != len(want) {
		t.Fatalf("got %d capsules %+v (err %v), want %d %+v (end %d)", len(got), got, err, len(want), want, end)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("capsule %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	switch end {
	case endEOF:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("clean end: got err %v, want io.EOF", err)
		}
	case endError:
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, errMalformedClose) {
			t.Fatalf("truncated capsule: got err %v, want a stream error", err)
		}
	case endBadClose:
		if !errors.Is(err, errMalformedClose) {
			t.Fatalf("malformed CLOSE: got err %v", err)
		}
	case endCloseLast:
		if err != nil {
			t.Fatalf("CLOSE: got err %v", err)
		}
	}
}

// FuzzCapsules: any byte string as the CONNECT stream's capsule data,
// compared with the reference model; read whole, in small chunks, and with
// the last bytes arriving together with io.EOF.
func FuzzCapsules(f *testing.F) {
	addSeeds(f, "FuzzCapsules")
	f.Fuzz(func(t *testing.T, raw []byte, chunk uint8, eofWithData bool) {
		checkCapsules(t, raw, chunk, eofWithData)
		checkCapsules(t, raw, 0, false)
	})
}

// FuzzCapsuleCloseAfterUnknown: capsules of unknown and GREASE types (with
// any payload, in short or long varint encodings), then DRAIN and WT_MAX_*
// capsules, then CLOSE: the CLOSE must come through with its code and
// reason intact (browsers send GREASE capsules before CLOSE).
func FuzzCapsuleCloseAfterUnknown(f *testing.F) {
	addSeeds(f, "FuzzCapsuleCloseAfterUnknown")
	f.Fuzz(func(t *testing.T, code uint32, reason []byte, greaseN uint64, unknownType uint64, payload []byte, count uint8, chunk uint8) {
		if len(reason) > maxCloseReason {
			reason = reason[:maxCloseReason]
		}
		grease := 0x29*(greaseN%(maxVarint/0x29)) + 0x17 // RFC 9297 section 5.4
		unknownType &= maxVarint
		var raw []byte
		var want []refCapsuleEvent
		for i := 0; i < int(count%8); i++ {
			typ := grease
			if i%2 == 1 {
				typ = unknownType
			}
			switch http3.CapsuleType(typ) {
			case capsuleCloseSession, capsuleMaxData, capsuleMaxStreamsBidi, capsuleMaxStreamsUni,
				capsuleStreamsBlkBidi, capsuleStreamsBlkUni:
				typ = grease
			}
			// The type in its longest (8-byte) encoding every other time.
			b := refAppendVarintLen(nil, typ, 8)
			if i%4 < 2 {
				b = refAppendVarint(nil, typ)
			}
			b = refAppendVarint(b, uint64(len(payload)))
			raw = append(append(raw, b...), payload...)
			want = append(want, refCapsuleEvent{typ: typ})
		}
		raw = append(raw, refCapsule(uint64(capsuleDrainSession), nil)...)
		want = append(want, refCapsuleEvent{typ: uint64(capsuleDrainSession)})
		v := uint64(code) << 20
		raw = append(raw, refCapsule(uint64(capsuleMaxData), refAppendVarint(nil, v))...)
		want = append(want, refCapsuleEvent{typ: uint64(capsuleMaxData), value: v, valueOK: true})
		// The capsule our own Close sends, byte for byte.
		raw = append(raw, closeCapsule(code, string(reason))...)
		want = append(want, refCapsuleEvent{typ: uint64(capsuleCloseSession), code: code, reason: string(reason)})

		for _, r := range []io.Reader{bytes.NewReader(raw), &chunkReader{data: raw, chunk: int(chunk%7) + 1, eofWithData: true}} {
			got, err := runCapsules(t, r)
			if err != nil {
				t.Fatalf("err %v after %+v", err, got)
			}
			if len(got) != len(want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("capsule %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
		}
	})
}

// TestTruncatedCloseIsMalformed: a CLOSE cut off by the end of the stream
// is malformed however the stream delivers its end (regression: a CLOSE
// declared longer than 4+maxCloseReason bytes and cut off after them was
// taken as a clean close, unless the transport returned io.EOF together
// with the last byte; FuzzCapsules found the difference).
func TestTruncatedCloseIsMalformed(t *testing.T) {
	payload := append([]byte{0, 0, 0, 7}, bytes.Repeat([]byte("r"), 2000)...)
	full := refCapsule(uint64(capsuleCloseSession), payload)
	for _, cut := range []int{len(full) - 1, 4 + 4 + maxCloseReason, 4 + 4 + maxCloseReason + 1, 100, 7} {
		for _, eofWithData := range []bool{false, true} {
			for _, chunk := range []int{0, 1, 5} {
				r := &chunkReader{data: full[:cut], chunk: chunk, eofWithData: eofWithData}
				if _, err := nextCtrlCapsule(http3.NewCapsuleParser(r)); !errors.Is(err, errMalformedClose) {
					t.Errorf("cut at %d (eofWithData %v, chunk %d): err %v, want errMalformedClose", cut, eofWithData, chunk, err)
				}
			}
		}
	}
	// Complete, with a reason over the limit: a close, the reason cut.
	c, err := nextCtrlCapsule(http3.NewCapsuleParser(&chunkReader{data: full, eofWithData: true}))
	if err != nil || c.code != 7 || len(c.reason) != maxCloseReason {
		t.Fatalf("complete CLOSE with a long reason: %v, code %d, reason of %d bytes", err, c.code, len(c.reason))
	}
}

// TestCapsuleEncodersMatchReference: our capsule writers (wire.go) against
// the reference encoding.
func TestCapsuleEncodersMatchReference(t *testing.T) {
	for _, v := range []uint64{0, 63, 64, 16383, 16384, 1<<30 - 1, 1 << 30, maxVarint} {
		if got, want := varintCapsule(capsuleMaxData, v), refCapsule(uint64(capsuleMaxData), refAppendVarint(nil, v)); !bytes.Equal(got, want) {
			t.Errorf("varintCapsule(%d) = %x, want %x", v, got, want)
		}
	}
	p := []byte{0, 0, 1, 0}
	if got, want := closeCapsule(256, "bye"), refCapsule(uint64(capsuleCloseSession), append(p, "bye"...)); !bytes.Equal(got, want) {
		t.Errorf("closeCapsule = %x, want %x", got, want)
	}
}

func init() {
	c := func(typ uint64, payload []byte) []byte { return refCapsule(typ, payload) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	closeP := func(code uint32, reason string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, code), reason...)
	}
	v := func(x uint64) []byte { return refAppendVarint(nil, x) }
	long := bytes.Repeat([]byte("r"), 2000)
	huge := cat(v(0x17), refAppendVarint(nil, maxVarint), []byte("short"))
	fuzzSeeds["FuzzCapsules"] = []fuzzSeed{
		{"empty", []any{[]byte{}, uint8(0), false}},
		{"close", []any{c(0x2843, closeP(42, "bye")), uint8(0), false}},
		{"close-empty-reason", []any{c(0x2843, closeP(0, "")), uint8(1), true}},
		{"close-short", []any{c(0x2843, []byte{1, 2, 3}), uint8(0), false}},
		{"close-zero-length", []any{c(0x2843, nil), uint8(0), false}},
		{"close-reason-1024", []any{c(0x2843, closeP(7, string(long[:1024]))), uint8(3), false}},
		{"close-reason-2000", []any{c(0x2843, closeP(7, string(long))), uint8(0), true}},
		{"close-long-reason-truncated", []any{c(0x2843, closeP(7, string(long)))[:1100], uint8(0), false}},
		{"close-truncated", []any{c(0x2843, closeP(9, "truncated"))[:8], uint8(2), false}},
		{"close-huge-length", []any{cat(v(0x2843), refAppendVarint(nil, maxVarint), closeP(5, "x")), uint8(0), false}},
		{"grease-then-close", []any{cat(c(0x17, nil), c(0x29*3+0x17, []byte("grease")), c(0x2843, closeP(3, "done"))), uint8(0), false}},
		{"unknown-types-then-close", []any{cat(c(0x3fff, []byte{1}), c(maxVarint, []byte{2, 3}), c(0x190b4d41, v(5)), c(0x190b4d45, v(1)), c(0x190b4d43, v(1)), c(0x2843, closeP(1, ""))), uint8(1), false}},
		{"drain-then-fin", []any{c(0x78ae, nil), uint8(0), false}},
		{"drain-with-payload", []any{c(0x78ae, []byte("x")), uint8(0), true}},
		{"max-data", []any{c(0x190b4d3d, v(1<<20)), uint8(0), false}},
		{"max-streams", []any{cat(c(0x190b4d3f, v(100)), c(0x190b4d40, v(maxVarint))), uint8(0), false}},
		{"max-data-empty", []any{c(0x190b4d3d, nil), uint8(0), false}},
		{"max-data-truncated-varint", []any{c(0x190b4d3d, []byte{0x80, 1}), uint8(1), false}},
		{"max-data-trailing-bytes", []any{c(0x190b4d3d, []byte{0x05, 0xff, 0xff}), uint8(0), false}},
		{"max-data-8-byte-varint", []any{c(0x190b4d3d, refAppendVarintLen(nil, 7, 8)), uint8(0), false}},
		{"type-truncated", []any{[]byte{0x40}, uint8(0), false}},
		{"length-truncated", []any{[]byte{0x17, 0x80, 0x00}, uint8(0), false}},
		{"grease-huge-length", []any{huge, uint8(0), false}},
		{"data-after-close", []any{cat(c(0x2843, closeP(1, "a")), []byte{0xff}), uint8(0), false}},
	}
	fuzzSeeds["FuzzCapsuleCloseAfterUnknown"] = []fuzzSeed{
		{"none", []any{uint32(0), []byte{}, uint64(0), uint64(0x17), []byte{}, uint8(0), uint8(0)}},
		{"grease-and-unknown", []any{uint32(0xffffffff), []byte("going away"), uint64(12345), uint64(0x1234567), []byte("payload"), uint8(7), uint8(1)}},
		{"chromium-like", []any{uint32(0), []byte{}, uint64(0x3a3a), uint64(0x2c7cf000), []byte{0, 0, 0, 0}, uint8(2), uint8(3)}},
	}
}
