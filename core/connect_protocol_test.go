package core

import (
	"testing"

	"github.com/quic-go/quic-go/http3"
)

// The client's :protocol follows the dialect of the server's SETTINGS: a
// server that announced only draft-02's ENABLE_WEBTRANSPORT (wtransport 0.7,
// aioquic 1.7) gets draft-02's "webtransport"; wtransport 0.7.2's server
// refused "webtransport-h3" (tests/interop: interop_wtransport_*_gowt_client).
func TestConnectProtocolFollowsServerSettings(t *testing.T) {
	for _, c := range []struct {
		name  string
		other map[uint64]uint64
		want  string
	}{
		{"draft-02 only", map[uint64]uint64{settingEnableWebTransportDraft02: 1}, "webtransport"},
		{"WT_ENABLED", map[uint64]uint64{settingWTEnabled: 1}, "webtransport-h3"},
		{"both", map[uint64]uint64{settingEnableWebTransportDraft02: 1, settingWTEnabled: 1}, "webtransport-h3"},
		{"draft-02 and WT_MAX_SESSIONS", map[uint64]uint64{settingEnableWebTransportDraft02: 1,
			settingWTMaxSessions: 4}, "webtransport-h3"},
		{"WT_MAX_SESSIONS only", map[uint64]uint64{settingWTMaxSessions: 1}, "webtransport-h3"},
	} {
		st := &http3.Settings{EnableDatagrams: true, EnableExtendedConnect: true, Other: c.other}
		if got := connectProtocol(st); got != c.want {
			t.Errorf("%s: :protocol %q, want %q", c.name, got, c.want)
		}
	}
}
