package core

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"
)

// The extended CONNECT request (RFC 9220, draft-ietf-webtrans-http3 section
// 3.2) as the server sees it after quic-go's QPACK decoding: :protocol
// (draft-16 "webtransport-h3", draft-02 "webtransport" from Chromium),
// :authority, :path with its query, Origin, WT-Available-Protocols (a
// structured-field list of strings); and the WT-Protocol response header (a
// structured-field string) on the client. Seams: webTransportProtocol,
// newConnectRequest, originAllowed, parseSFStringList, chooseProtocol
// (server.go) and parseWTProtocol (client.go).

func isTchar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// refToken: RFC 9110 token, which quic-go requires of :protocol and of
// header names.
func refToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// refFieldValue: what quic-go accepts as a field value (no CTL but HTAB).
func refFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// refSFStringOK: the characters an sf-string can carry (RFC 8941 3.3.3).
func refSFStringOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// refSFString serialises an sf-string (RFC 8941 section 4.1.6).
func refSFString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// refSFList serialises a list of sf-strings.
func refSFList(list []string) string {
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = refSFString(s)
	}
	return strings.Join(parts, ", ")
}

// refSplitList turns a fuzz string into a list ("\n" separates elements).
func refSplitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// FuzzConnectRequest builds the request quic-go would hand the server
// (headers.go requestFromHeaders: lowercase names, valid values, :protocol a
// token, :path parsed by url.ParseRequestURI) and checks what the server
// makes of it.
func FuzzConnectRequest(f *testing.F) {
	addSeeds(f, "FuzzConnectRequest")
	f.Fuzz(func(t *testing.T, protocol, authority, path, origin, avail, extraName, extraValue string) {
		if !refToken(protocol) || authority == "" || path == "" || !refFieldValue(authority) || !refFieldValue(path) ||
			!refFieldValue(origin) || !refFieldValue(avail) || !refFieldValue(extraValue) ||
			!refToken(extraName) || strings.ToLower(extraName) != extraName || extraName == "cookie" ||
			slices.Contains([]string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length", "te"}, extraName) {
			return // quic-go refuses the request before it reaches us
		}
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return
		}
		u.Scheme, u.Host = "https", authority
		type field struct{ name, value string }
		var fields []field
		hdr := http.Header{}
		add := func(name, value string) {
			hdr.Add(name, value)
			fields = append(fields, field{name, value})
		}
		if origin != "" {
			add("origin", origin)
		}
		if avail != "" {
			add("wt-available-protocols", avail)
		}
		add(extraName, extraValue)
		r := &http.Request{Method: http.MethodConnect, URL: u, Proto: protocol, Header: hdr, Host: authority}

		// :protocol: exactly the two WebTransport values, either dialect.
		if got, want := webTransportProtocol(protocol), protocol == "webtransport-h3" || protocol == "webtransport"; got != want {
			t.Fatalf(":protocol %q: webTransportProtocol %v, want %v", protocol, got, want)
		}

		req := newConnectRequest(r, r.Header.Get("Origin"))
		if req.Protocol != protocol || req.Authority != authority || req.Path != u.Path || req.Query != u.RawQuery {
			t.Fatalf("request %+v from :protocol %q :authority %q :path %q", req, protocol, authority, path)
		}
		if strings.HasPrefix(path, "/") { // origin-form: path, then ?query
			before, query, _ := strings.Cut(path, "?")
			if req.Query != query {
				t.Fatalf(":path %q: query %q, want %q", path, req.Query, query)
			}
			if dec, err := url.PathUnescape(before); err == nil && req.Path != dec {
				t.Fatalf(":path %q: path %q, want %q", path, req.Path, dec)
			}
		}
		wantOrigin := ""
		if origin != "" {
			wantOrigin = origin
		}
		if req.Origin != wantOrigin {
			t.Fatalf("origin %q, want %q", req.Origin, wantOrigin)
		}
		// Every header field reaches the application once, name in lowercase.
		if len(req.HeaderNames) != len(req.HeaderValues) || len(req.HeaderNames) != len(fields) {
			t.Fatalf("%d names, %d values for %d fields", len(req.HeaderNames), len(req.HeaderValues), len(fields))
		}
		var got []field
		for i := range req.HeaderNames {
			got = append(got, field{req.HeaderNames[i], req.HeaderValues[i]})
		}
		cmp := func(a, b field) int { return strings.Compare(a.name+"\x00"+a.value, b.name+"\x00"+b.value) }
		slices.SortFunc(got, cmp)
		slices.SortFunc(fields, cmp)
		if !slices.Equal(got, fields) {
			t.Fatalf("header fields %q, want %q", got, fields)
		}
		checkSFList(t, req.Protocols)

		// Origin: none is allowed (not a browser); a browser's origin for the
		// same host is allowed by the same-origin rule, another host not.
		if !originAllowed(nil, "", authority) || !originAllowed([]string{"*"}, origin, authority) {
			t.Fatal("an absent Origin or a \"*\" list refused")
		}
		if o, err := url.Parse("https://" + authority); err == nil && o.Host == authority && o.User == nil && o.Path == "" && o.RawQuery == "" && !o.ForceQuery && o.Fragment == "" {
			upper := strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' {
					return r - 'a' + 'A'
				}
				return r
			}, authority)
			if !originAllowed(nil, "https://"+authority, authority) || !originAllowed(nil, "https://"+upper, authority) {
				t.Fatalf("same-origin https://%s refused for :authority %q", authority, authority)
			}
			if originAllowed(nil, "https://"+authority+".evil.example", authority) || originAllowed(nil, "https://evil.example."+authority, authority) {
				t.Fatalf("another host allowed for :authority %q", authority)
			}
		}
		if originAllowed(nil, "null", authority) {
			t.Fatalf("opaque origin \"null\" allowed for :authority %q", authority)
		}
		if origin != "" && !originAllowed([]string{origin + "/"}, origin, authority) {
			t.Fatalf("origin %q refused by a list holding it", origin)
		}
		if origin != "" && originAllowed([]string{origin + "x"}, origin, authority) && !strings.HasSuffix(origin+"x", "/") {
			t.Fatalf("origin %q allowed by a list holding only %q", origin, origin+"x")
		}
	})
}

// checkSFList: what parseSFStringList returns is a list of sf-strings that
// reads back the same when serialised again.
func checkSFList(t *testing.T, list []string) {
	t.Helper()
	for _, s := range list {
		if !refSFStringOK(s) {
			t.Fatalf("protocol %q cannot be an sf-string", s)
		}
	}
	if len(list) > 0 {
		if again := parseSFStringList([]string{refSFList(list)}); !slices.Equal(again, list) {
			t.Fatalf("protocols %q read back as %q", list, again)
		}
	}
}

// FuzzSFProtocols: WT-Available-Protocols (request, sf-list of strings) and
// WT-Protocol (response, sf-string item), raw and round-tripped.
func FuzzSFProtocols(f *testing.F) {
	addSeeds(f, "FuzzSFProtocols")
	f.Fuzz(func(t *testing.T, raw1, raw2 string, offered, supported string) {
		// Raw header lines, as a peer may send them (one or two lines).
		for _, vals := range [][]string{{raw1}, {raw1, raw2}} {
			list := parseSFStringList(vals)
			checkSFList(t, list)
			if p, ok := parseWTProtocol(vals); (!ok && p != "") || p != "" && (!refSFStringOK(p) || wtProto([]string{refSFString(p)}) != p) {
				t.Fatalf("WT-Protocol %q gave %q", vals, p)
			}
		}

		// A list the client writes (the encoding client.go uses, and ours):
		// the server reads it back exactly, with parameters on items ignored.
		off := refSplitList(offered)
		valid := !slices.ContainsFunc(off, func(s string) bool { return !refSFStringOK(s) })
		if valid && len(off) > 0 {
			if got := parseSFStringList([]string{refSFList(off)}); !slices.Equal(got, off) {
				t.Fatalf("offered %q read as %q", off, got)
			}
			l := httpsfv.List{}
			for _, p := range off {
				l = append(l, httpsfv.NewItem(p))
			}
			enc, err := httpsfv.Marshal(l)
			if err != nil {
				t.Fatalf("httpsfv.Marshal(%q): %v", off, err)
			}
			if got := parseSFStringList([]string{enc}); !slices.Equal(got, off) {
				t.Fatalf("offered %q as %q read as %q", off, enc, got)
			}
			// Parameters after each item (built item by item: a protocol may
			// itself contain ", ", which a textual replacement would split).
			withItems := make([]string, len(off))
			for i, p := range off {
				withItems[i] = refSFString(p) + ";q=1"
			}
			withParams := strings.Join(withItems, ", ") + ";a"
			if got := parseSFStringList([]string{withParams}); !slices.Equal(got, off) {
				t.Fatalf("offered %q with parameters (%q) read as %q", off, withParams, got)
			}
			// Split over two header lines.
			if len(off) > 1 {
				if got := parseSFStringList([]string{refSFList(off[:1]), refSFList(off[1:])}); !slices.Equal(got, off) {
					t.Fatalf("offered %q on two lines read as %q", off, got)
				}
			}
		}

		// chooseProtocol: the first offered protocol the server supports.
		sup := refSplitList(supported)
		got := chooseProtocol(sup, off)
		want := ""
		for _, o := range off {
			if slices.Contains(sup, o) {
				want = o
				break
			}
		}
		if got != want {
			t.Fatalf("chooseProtocol(%q, %q) = %q, want %q", sup, off, got, want)
		}

		// WT-Protocol the way serveHTTP writes it, read by the client.
		if p := want; p != "" && refSFStringOK(p) {
			enc, err := httpsfv.Marshal(httpsfv.NewItem(p))
			if err != nil {
				t.Fatalf("httpsfv.Marshal(%q): %v", p, err)
			}
			if enc != refSFString(p) {
				t.Fatalf("WT-Protocol for %q is %q, want %q", p, enc, refSFString(p))
			}
			if back := wtProto([]string{enc}); back != p {
				t.Fatalf("WT-Protocol %q read as %q", enc, back)
			}
			if back := wtProto([]string{enc + ";v=2"}); back != p {
				t.Fatalf("WT-Protocol %q with a parameter read as %q", enc, back)
			}
		}
	})
}

// wtProto is parseWTProtocol's protocol, "!" when it found the header unreadable.
func wtProto(vals []string) string {
	if p, ok := parseWTProtocol(vals); ok {
		return p
	}
	return "!"
}

func init() {
	fuzzSeeds["FuzzConnectRequest"] = []fuzzSeed{
		{"chromium-draft02", []any{"webtransport", "localhost:4433", "/echo", "https://localhost:4433", `"chat-v1", "chat-v2"`, "user-agent", "Mozilla/5.0"}},
		{"draft16", []any{"webtransport-h3", "example.com", "/wt?room=1&x=%20", "", `"a"`, "authorization", "Bearer x"}},
		{"websocket", []any{"websocket", "example.com", "/ws", "https://example.com", "", "x", ""}},
		{"cross-origin", []any{"webtransport-h3", "a.example:443", "/", "https://evil.example", "", "x-y", "z"}},
		{"null-origin", []any{"webtransport-h3", "a.example", "/", "null", "", "x", "1"}},
		{"userinfo-origin", []any{"webtransport-h3", "good.example", "/", "https://evil.example@good.example", "", "x", "1"}},
		{"ipv6", []any{"webtransport-h3", "[::1]:4433", "/p%2Fq?", "https://[::1]:4433", "", "x", "1"}},
		{"absolute-path", []any{"webtransport-h3", "a.example", "https://b.example/x?y", "", "", "x", "1"}},
		{"asterisk-path", []any{"webtransport", "a.example", "*", "", "", "x", "1"}},
		{"bad-protocols", []any{"webtransport-h3", "a.example", "/", "", `chat, ("a" "b"), "c";q=0.5, 1.5, ?1`, "x", "1"}},
		{"escaped-protocols", []any{"webtransport-h3", "a.example", "/", "", `"a\"b", "c\\d"`, "x", "1"}},
		{"uppercase-host-origin", []any{"webtransport-h3", "A.Example", "/", "HTTPS://a.example", "", "x", "1"}},
		{"trailing-slash-origin", []any{"webtransport-h3", "a.example", "/", "https://a.example/", "", "x", "1"}},
	}
	fuzzSeeds["FuzzSFProtocols"] = []fuzzSeed{
		{"empty", []any{"", "", "", ""}},
		{"two-lines", []any{`"a", "b"`, `"c"`, "a\nb", "b"}},
		{"params", []any{`"a";q=1, "b";x`, `"c";y=?0`, "chat\nchat-v2", "chat-v2\nchat"}},
		{"tokens-and-inner-lists", []any{`a, ("b" "c"), "d"`, `:YmFzZTY0:, 1, 1.5, ?1, @12, %"x"`, "", ""}},
		{"escapes", []any{`"a\\b", "c\"d"`, `"unterminated`, "a\\b\nc\"d", "c\"d"}},
		{"invalid-chars", []any{"\"\x01\"", "\"\xc3\xa9\"", "caf\xc3\xa9", "x"}},
		{"no-common", []any{`"x"`, `"y"`, "a\nb", "c\nd"}},
		{"duplicates", []any{`"a", "a"`, `"a"`, "a\na\nb", "b\na"}},
		{"empty-string", []any{`""`, `"", ""`, "\n", ""}},
		{"wt-protocol-item", []any{`"chat"`, `chat`, "chat", "chat"}},
	}
}
