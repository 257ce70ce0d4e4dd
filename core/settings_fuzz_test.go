package core

import (
	"bytes"
	"slices"
	"testing"

	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// HTTP/3 SETTINGS (RFC 9114 section 7.2.4) as core judges them. quic-go
// parses the frame into http3.Settings (H3_DATAGRAM and
// ENABLE_CONNECT_PROTOCOL as booleans, everything else in Other); core then
// checks the WebTransport settings: missingSettings and shareableSettings
// (client.go), peerFlowControl and initFlowControl (flow.go).

const (
	h3SettingExtendedConnect = 0x8
	h3SettingDatagram        = 0x33
	h3SettingMaxFieldSection = 0x6
)

// refParseSettings decodes a SETTINGS frame payload the way quic-go does
// (frames.go parseSettingsFrame): duplicates and boolean settings other than
// 0 or 1 are connection errors, so such frames never reach core (ok=false).
func refParseSettings(p []byte) (st *http3.Settings, ok bool) {
	st = &http3.Settings{}
	seen := map[uint64]bool{}
	for len(p) > 0 {
		id, n, ok := refVarint(p)
		if !ok {
			return nil, false
		}
		p = p[n:]
		val, n, ok := refVarint(p)
		if !ok {
			return nil, false
		}
		p = p[n:]
		if seen[id] {
			return nil, false
		}
		seen[id] = true
		switch id {
		case h3SettingMaxFieldSection:
		case h3SettingExtendedConnect, h3SettingDatagram:
			if val > 1 {
				return nil, false
			}
			if id == h3SettingDatagram {
				st.EnableDatagrams = val == 1
			} else {
				st.EnableExtendedConnect = val == 1
			}
		default:
			if st.Other == nil {
				st.Other = map[uint64]uint64{}
			}
			st.Other[id] = val
		}
	}
	return st, true
}

// refMissing is what a client needs from the server's SETTINGS for
// WebTransport in either dialect: H3_DATAGRAM=1, ENABLE_CONNECT_PROTOCOL=1,
// and one of SETTINGS_WT_ENABLED (draft-16), ENABLE_WEBTRANSPORT (draft-02)
// or WT_MAX_SESSIONS (draft-07..13, picoquic) non-zero.
func refMissing(st *http3.Settings) []string {
	var m []string
	if !st.EnableDatagrams {
		m = append(m, "H3_DATAGRAM")
	}
	if !st.EnableExtendedConnect {
		m = append(m, "ENABLE_CONNECT_PROTOCOL")
	}
	wt := false
	for id, v := range st.Other {
		if v != 0 && (id == 0x2c7cf000 || id == 0x2b603742 || id == 0x14e9cd29) {
			wt = true
		}
	}
	if !wt {
		m = append(m, "WebTransport")
	}
	return m
}

// checkSettings judges st with core's functions and the reference.
func checkSettings(t *testing.T, st *http3.Settings) {
	if got, want := missingSettings(st), refMissing(st); !slices.Equal(got, want) {
		t.Fatalf("%+v: missingSettings %q, want %q", st, got, want)
	}
	// Session-level flow control is on when the peer gave any initial limit
	// (draft-16 section 5: SETTINGS_WT_INITIAL_MAX_DATA 0x2b61,
	// _MAX_STREAMS_UNI 0x2b64, _MAX_STREAMS_BIDI 0x2b65).
	fc := st.Other[0x2b61] > 0 || st.Other[0x2b64] > 0 || st.Other[0x2b65] > 0
	if peerFlowControl(st) != fc {
		t.Fatalf("%+v: peerFlowControl %v, want %v", st, !fc, fc)
	}
	if got, want := shareableSettings(st), fc && st.Other[0x14e9cd29] > 1; got != want {
		t.Fatalf("%+v: shareableSettings %v, want %v", st, got, want)
	}
	// The session's view of the peer's limits: the values exactly, as
	// non-negative numbers (a varint is at most 2^62-1).
	s := newSession(&Context{cfg: DefaultConfig()}, false, nil, 0)
	defer s.cancel()
	s.initFlowControl(st)
	if (s.fc != nil) != fc {
		t.Fatalf("%+v: flow control %v, want %v", st, s.fc != nil, fc)
	}
	if s.fc != nil {
		if s.fc.maxData < 0 || uint64(s.fc.maxData) != st.Other[0x2b61] ||
			s.fc.maxBidi != st.Other[0x2b65] || s.fc.maxUni != st.Other[0x2b64] {
			t.Fatalf("%+v: flow control limits data=%d bidi=%d uni=%d", st, s.fc.maxData, s.fc.maxBidi, s.fc.maxUni)
		}
	}
}

// FuzzSettings: any SETTINGS frame payload the peer may send.
func FuzzSettings(f *testing.F) {
	addSeeds(f, "FuzzSettings")
	f.Fuzz(func(t *testing.T, payload []byte) {
		st, ok := refParseSettings(payload)
		if !ok {
			return // quic-go closes the connection: core never sees it
		}
		// The reference decoder agrees with quicvarint, which quic-go uses.
		for p := payload; len(p) > 0; {
			v, n, err := quicvarint.Parse(p)
			rv, rn, _ := refVarint(p)
			if err != nil || v != rv || n != rn {
				t.Fatalf("%x: quicvarint.Parse %d/%d/%v, reference %d/%d", p, v, n, err, rv, rn)
			}
			p = p[n:]
		}
		checkSettings(t, st)
	})
}

// FuzzOwnSettings: the SETTINGS a context sends for any configuration that
// NewContext accepts can be encoded (quic-go's encoder panics on a value
// above 2^62-1, in a goroutine of its own: the process dies), and a peer
// running our code accepts them.
func FuzzOwnSettings(f *testing.F) {
	addSeeds(f, "FuzzOwnSettings")
	f.Fuzz(func(t *testing.T, maxSessions uint64, data, bidi, uni uint64, server bool) {
		cfg := DefaultConfig()
		cfg.MaxSessions = int(maxSessions)
		cfg.MaxIncomingData, cfg.MaxIncomingBidi, cfg.MaxIncomingUni = int64(data), int64(bidi), int64(uni)
		if cfg.validate() != nil {
			return
		}
		c := &Context{cfg: cfg}
		frame := refAppendVarint(nil, h3SettingDatagram)
		frame = refAppendVarint(frame, 1)
		frame = refAppendVarint(frame, h3SettingExtendedConnect)
		frame = refAppendVarint(frame, 1)
		for id, v := range c.h3Settings(server) {
			if id > maxVarint || v > maxVarint {
				t.Fatalf("config %+v: setting %#x = %d does not fit a varint", cfg, id, v)
			}
			enc := quicvarint.Append(quicvarint.Append(nil, id), v)
			if !bytes.Equal(enc, refAppendVarint(refAppendVarint(nil, id), v)) {
				t.Fatalf("setting %#x = %d encodes as %x", id, v, enc)
			}
			frame = append(frame, enc...)
		}
		st, ok := refParseSettings(frame)
		if !ok {
			t.Fatalf("our SETTINGS %x do not parse", frame)
		}
		checkSettings(t, st)
		if server {
			if m := missingSettings(st); m != nil {
				t.Fatalf("our server's SETTINGS lack %q", m)
			}
			if got, want := shareableSettings(st), cfg.MaxIncomingData > 0 && cfg.MaxSessions > 1; got != want {
				t.Fatalf("config %+v: shareable %v, want %v", cfg, got, want)
			}
		}
	})
}

func init() {
	s := func(pairs ...uint64) []byte {
		var b []byte
		for _, x := range pairs {
			b = refAppendVarint(b, x)
		}
		return b
	}
	fuzzSeeds["FuzzSettings"] = []fuzzSeed{
		{"empty", []any{[]byte{}}},
		{"chromium-draft02", []any{s(0x33, 1, 0x8, 1, 0x2b603742, 1, 0x6, 16384)}},
		{"webtransport-go-draft16", []any{s(0x33, 1, 0x8, 1, 0x2c7cf000, 1, 0x2b61, 1<<20, 0x2b64, 100, 0x2b65, 100)}},
		{"picoquic-max-sessions", []any{s(0x33, 1, 0x8, 1, 0x14e9cd29, 8)}},
		{"no-datagram", []any{s(0x8, 1, 0x2c7cf000, 1)}},
		{"wt-zero", []any{s(0x33, 1, 0x8, 1, 0x2c7cf000, 0, 0x2b603742, 0, 0x14e9cd29, 0)}},
		{"flow-control-huge", []any{s(0x33, 1, 0x8, 1, 0x2c7cf000, 1, 0x2b61, maxVarint, 0x2b64, maxVarint, 0x2b65, maxVarint, 0x14e9cd29, maxVarint)}},
		{"flow-control-streams-only", []any{s(0x2b64, 1)}},
		{"grease-settings", []any{s(0x1f*3+0x21, 7, 0x33, 1, 0x1f*1000+0x21, 0, 0x8, 1, 0x2c7cf000, 2)}},
		{"duplicate", []any{s(0x2c7cf000, 1, 0x2c7cf000, 1)}},
		{"datagram-2", []any{s(0x33, 2)}},
		{"truncated", []any{[]byte{0x33}}},
		{"non-minimal-ids", []any{append(refAppendVarintLen(refAppendVarintLen(nil, 0x33, 8), 1, 4), s(0x8, 1, 0x2b603742, 1)...)}},
	}
	fuzzSeeds["FuzzOwnSettings"] = []fuzzSeed{
		{"defaults-server", []any{uint64(10000), uint64(16 << 20), uint64(1000), uint64(1000), true}},
		{"no-flow-control", []any{uint64(1), uint64(0), uint64(0), uint64(0), true}},
		{"client", []any{uint64(10000), uint64(16 << 20), uint64(1000), uint64(1000), false}},
		{"max-varint", []any{uint64(maxVarint), uint64(maxVarint), uint64(maxVarint), uint64(maxVarint), true}},
	}
}
