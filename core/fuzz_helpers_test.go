package core

// Shared pieces of the fuzz targets (*_fuzz_test.go): a reference QUIC
// varint codec written from RFC 9000 section 16 (independent of quicvarint,
// which the code under test uses), readers that behave like QUIC streams,
// and the seed tables that are both added with f.Add and checked in under
// testdata/fuzz/<FuzzName>/ (TestWriteFuzzSeeds regenerates those files).

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const maxVarint = 1<<62 - 1

// refVarint decodes one varint at the start of b: ok=false when b is too
// short for the length its first byte announces.
func refVarint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, false
	}
	v = uint64(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n, true
}

// refVarintLen is the length of the shortest encoding of v (v <= maxVarint).
func refVarintLen(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	}
	return 8
}

// refAppendVarint appends the shortest encoding of v (v <= maxVarint).
func refAppendVarint(b []byte, v uint64) []byte {
	n := refVarintLen(v)
	prefix := map[int]byte{1: 0x00, 2: 0x40, 4: 0x80, 8: 0xc0}[n]
	for i := n - 1; i >= 0; i-- {
		c := byte(v >> (8 * i))
		if i == n-1 {
			c |= prefix
		}
		b = append(b, c)
	}
	return b
}

// refAppendVarintLen appends v in exactly n bytes (a non-minimal encoding
// when n is larger than needed, which receivers must accept).
func refAppendVarintLen(b []byte, v uint64, n int) []byte {
	prefix := map[int]byte{1: 0x00, 2: 0x40, 4: 0x80, 8: 0xc0}[n]
	for i := n - 1; i >= 0; i-- {
		c := byte(v >> (8 * i))
		if i == n-1 {
			c |= prefix
		}
		b = append(b, c)
	}
	return b
}

// refCapsule encodes one capsule (RFC 9297 section 3.2).
func refCapsule(typ uint64, payload []byte) []byte {
	b := refAppendVarint(nil, typ)
	b = refAppendVarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// chunkReader is a stream as the CONNECT stream's body delivers it: reads of
// at most chunk bytes (0: all that is left), no io.ByteReader, and, when
// eofWithData is set, the last bytes come together with io.EOF (allowed by
// io.Reader, and what some stream implementations do).
type chunkReader struct {
	data        []byte
	pos         int
	chunk       int
	eofWithData bool
	end         error // error at the end of data; io.EOF when nil
}

func (r *chunkReader) endErr() error {
	if r.end != nil {
		return r.end
	}
	return io.EOF
}

func (r *chunkReader) Read(b []byte) (int, error) {
	if r.pos >= len(r.data) {
		return 0, r.endErr()
	}
	n := len(b)
	if r.chunk > 0 && n > r.chunk {
		n = r.chunk
	}
	n = copy(b[:n], r.data[r.pos:])
	r.pos += n
	if r.eofWithData && r.pos >= len(r.data) {
		return n, r.endErr()
	}
	return n, nil
}

// Peek is quic-go's ReceiveStream.Peek: all of b, or what is left with the
// stream's end error.
func (r *chunkReader) Peek(b []byte) (int, error) {
	n := copy(b, r.data[r.pos:])
	if n < len(b) {
		return n, r.endErr()
	}
	return n, nil
}

// ---------------------------------------------------------------------------
// Seeds

type fuzzSeed struct {
	name string
	args []any
}

// fuzzSeeds lists the seed tables by fuzz target; each target's file adds
// its table in an init function.
var fuzzSeeds = map[string][]fuzzSeed{}

func addSeeds(f *testing.F, target string) {
	for _, s := range fuzzSeeds[target] {
		f.Add(s.args...)
	}
}

// encodeCorpusFile writes a seed in the format of go test's corpus files.
func encodeCorpusFile(args []any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%d)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		default:
			panic(fmt.Sprintf("seed type %T", a))
		}
	}
	return b.String()
}

// TestWriteFuzzSeeds writes testdata/fuzz/<target>/seed-<name> from the seed
// tables when GOWT_WRITE_FUZZ_SEEDS=1, and otherwise checks that the files
// checked in match the tables (so the two cannot drift apart).
func TestWriteFuzzSeeds(t *testing.T) {
	write := os.Getenv("GOWT_WRITE_FUZZ_SEEDS") == "1"
	for target, seeds := range fuzzSeeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range seeds {
			p := filepath.Join(dir, "seed-"+s.name)
			want := encodeCorpusFile(s.args)
			if write {
				if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, []byte(want)) {
				t.Errorf("%s is missing or stale: run GOWT_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./core/", p)
			}
		}
	}
}
