package core

import (
	"os"
	"testing"
)

// WebTransport application error codes (draft-ietf-webtrans-http3 section
// 4.4): a 32-bit code n travels as an HTTP/3 error code in
// [wtAppErrorFirst, wtAppErrorLast], skipping the reserved (GREASE) HTTP/3
// codes 0x1f*N + 0x21 (RFC 9114 section 8.1). appErrorToWire and
// appErrorFromWire (wire.go) map between the two; appErrorFromWire reads
// every other code (outside the range, or a GREASE code inside it) as the
// number it is, so picoquic's raw application codes come through.

// refIsH3Grease is RFC 9114's reserved error code pattern.
func refIsH3Grease(w uint64) bool { return w >= 0x21 && (w-0x21)%0x1f == 0 }

// refAppErrorToWire counts: the n-th non-GREASE code at or after
// wtAppErrorFirst. Since wtAppErrorFirst = 3 (mod 31), the GREASE code of
// each block of 31 codes is its 31st: every 30 codes one is skipped.
func refAppErrorToWire(n uint32) uint64 {
	return wtAppErrorFirst + 31*(uint64(n)/30) + uint64(n)%30
}

func checkAppErrorCode(t *testing.T, n uint32) uint64 {
	w := appErrorToWire(n)
	if w != refAppErrorToWire(n) {
		t.Fatalf("appErrorToWire(%d) = %#x, want %#x", n, w, refAppErrorToWire(n))
	}
	if w < wtAppErrorFirst || w > wtAppErrorLast {
		t.Fatalf("appErrorToWire(%d) = %#x, outside [%#x, %#x]", n, w, uint64(wtAppErrorFirst), uint64(wtAppErrorLast))
	}
	if refIsH3Grease(w) {
		t.Fatalf("appErrorToWire(%d) = %#x is a reserved HTTP/3 code", n, w)
	}
	if got := appErrorFromWire(w); got != uint64(n) {
		t.Fatalf("appErrorFromWire(appErrorToWire(%d)) = %d", n, got)
	}
	if n < 0xffffffff { // order-preserving, and it skips exactly the GREASE codes
		next := appErrorToWire(n + 1)
		if want := w + 1; refIsH3Grease(want) {
			want++
			if next != want {
				t.Fatalf("after %d (%#x) the next code is %#x, want %#x (skipping GREASE %#x)", n, w, next, want, w+1)
			}
		} else if next != want {
			t.Fatalf("after %d (%#x) the next code is %#x, want %#x", n, w, next, want)
		}
	}
	return w
}

// FuzzAppErrorCode: from(to(n)) == n for every uint32 n; to(from(w)) == w
// for every wire code w in the range that is not GREASE; any other wire code
// is reported as itself.
func FuzzAppErrorCode(f *testing.F) {
	addSeeds(f, "FuzzAppErrorCode")
	f.Fuzz(func(t *testing.T, n uint32, w uint64, off uint64) {
		checkAppErrorCode(t, n)
		checkWireCode(t, w&maxVarint) // what a QUIC RESET_STREAM / STOP_SENDING can carry
		// A wire code in or just around the range, which random 62-bit
		// values hardly ever hit.
		checkWireCode(t, wtAppErrorFirst-64+off%(wtAppErrorLast-wtAppErrorFirst+129))
	})
}

// checkWireCode: a code in the range that is not GREASE maps to 32 bits
// and back to itself; any other code is reported as itself.
func checkWireCode(t *testing.T, w uint64) {
	got := appErrorFromWire(w)
	switch {
	case w < wtAppErrorFirst || w > wtAppErrorLast:
		if got != w {
			t.Fatalf("appErrorFromWire(%#x) outside the range = %#x, want it unchanged", w, got)
		}
	case refIsH3Grease(w):
		if got != w {
			t.Fatalf("appErrorFromWire(GREASE %#x) = %#x, want it unchanged", w, got)
		}
	default:
		if got > 0xffffffff {
			t.Fatalf("appErrorFromWire(%#x) = %#x, more than 32 bits", w, got)
		}
		if back := appErrorToWire(uint32(got)); back != w {
			t.Fatalf("appErrorToWire(appErrorFromWire(%#x) = %d) = %#x", w, got, back)
		}
	}
}

// TestAppErrorCodeExhaustive checks from(to(n)) == n and the GREASE gaps for
// all 2^32 codes (12 s of CPU here): GOWT_FUZZ_EXHAUSTIVE=1 to run it.
func TestAppErrorCodeExhaustive(t *testing.T) {
	if os.Getenv("GOWT_FUZZ_EXHAUSTIVE") != "1" {
		t.Skip("GOWT_FUZZ_EXHAUSTIVE=1 runs it")
	}
	prev := uint64(wtAppErrorFirst - 1)
	for n := uint64(0); n <= 0xffffffff; n++ {
		w := appErrorToWire(uint32(n))
		for g := prev + 1; g < w; g++ { // every code skipped is GREASE
			if !refIsH3Grease(g) || appErrorFromWire(g) != g {
				t.Fatalf("code %#x skipped between %d and %d is not GREASE", g, n-1, n)
			}
		}
		if w-prev > 2 || refIsH3Grease(w) || appErrorFromWire(w) != n {
			t.Fatalf("code %d: wire %#x (previous %#x), back %d", n, w, prev, appErrorFromWire(w))
		}
		prev = w
	}
	if prev != wtAppErrorLast {
		t.Fatalf("last code %#x, want %#x", prev, uint64(wtAppErrorLast))
	}
}

// TestAppErrorCodeBounds: the ends of the range and the GREASE codes in it.
func TestAppErrorCodeBounds(t *testing.T) {
	if wtAppErrorFirst%31 != 3 {
		t.Fatalf("wtAppErrorFirst mod 31 = %d: the GREASE spacing assumed by the mapping is off", wtAppErrorFirst%31)
	}
	if w := checkAppErrorCode(t, 0); w != wtAppErrorFirst {
		t.Fatalf("code 0 -> %#x", w)
	}
	if w := checkAppErrorCode(t, 0xffffffff); w != wtAppErrorLast {
		t.Fatalf("code 0xffffffff -> %#x, want %#x", w, uint64(wtAppErrorLast))
	}
	// The first GREASE code in the range and its neighbours.
	g := uint64(wtAppErrorFirst + 30)
	if !refIsH3Grease(g) || appErrorFromWire(g) != g || appErrorFromWire(g-1) != 29 || appErrorFromWire(g+1) != 30 {
		t.Fatalf("around the first GREASE code %#x: %d %d %d", g, appErrorFromWire(g-1), appErrorFromWire(g), appErrorFromWire(g+1))
	}
	// The last GREASE code in the range.
	if g := uint64(wtAppErrorLast - 16); !refIsH3Grease(g) || appErrorFromWire(g) != g || appErrorFromWire(g+1) != 0xffffffff-15 {
		t.Fatalf("last GREASE code %#x: %d %d", g, appErrorFromWire(g), appErrorFromWire(g+1))
	}
	for _, w := range []uint64{0, 0x100, 0x10c, wtAppErrorFirst - 1, wtAppErrorLast + 1, maxVarint} {
		if appErrorFromWire(w) != w {
			t.Fatalf("appErrorFromWire(%#x) = %#x", w, appErrorFromWire(w))
		}
	}
}

func init() {
	fuzzSeeds["FuzzAppErrorCode"] = []fuzzSeed{
		{"zero", []any{uint32(0), uint64(0), uint64(0)}},
		{"first", []any{uint32(1), uint64(wtAppErrorFirst), uint64(0)}},
		{"last", []any{uint32(0xffffffff), uint64(wtAppErrorLast), uint64(0)}},
		{"below-range", []any{uint32(29), uint64(wtAppErrorFirst - 1), uint64(0)}},
		{"above-range", []any{uint32(30), uint64(wtAppErrorLast + 1), uint64(0)}},
		{"first-grease", []any{uint32(59), uint64(wtAppErrorFirst + 30), uint64(64 + 30)}},
		{"after-grease", []any{uint32(60), uint64(wtAppErrorFirst + 31), uint64(0)}},
		{"last-grease", []any{uint32(0xfffffffe), uint64(wtAppErrorLast - 16), uint64(64 + wtAppErrorLast - 16 - wtAppErrorFirst)}},
		{"h3-no-error", []any{uint32(0x100), uint64(0x100), uint64(0)}},
		{"picoquic-raw", []any{uint32(78), uint64(78), uint64(0)}},
		{"max-varint", []any{uint32(0x80000000), uint64(maxVarint), uint64(0)}},
	}
}
