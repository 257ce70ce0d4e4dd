package core

import (
	"fmt"
	"strings"
	"testing"
)

// A server that answers with a sub-protocol the client did not offer: the
// client must not report the session established (it cannot speak that
// protocol); it closes it with WT_ALPN_ERROR and reports a refusal.
func TestUnofferedProtocolRefusedByClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offered []string
		chosen  string
		ok      bool
	}{
		{"offered", []string{"chat-v1", "chat-v2"}, "chat-v2", true},
		{"not-offered", []string{"chat-v1", "chat-v2"}, "chat-v9", false},
		{"none-offered", nil, "chat-v1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srec := newRecorder()
			_, port := newServer(t, testConfig(), "/p", srec.cb(func(c *Context, ev *Event) int {
				if ev.Type == EvConnect {
					if err := ev.Sess.Accept(tc.chosen); err != nil {
						panic(err)
					}
				}
				return 0
			}))
			cli := newClient(t, testConfig())
			crec := newRecorder()
			if _, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/p", port),
				ConnectOptions{Protocols: tc.offered}, crec.cb(nil), 0); err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				if acc := crec.wait(t, EvConnectAccepted); acc.Protocol != tc.chosen {
					t.Fatalf("protocol %q, want %q", acc.Protocol, tc.chosen)
				}
				return
			}
			ref := crec.wait(t, EvConnectRefused)
			if ref.Code != 0 || !strings.Contains(string(ref.Data), tc.chosen) {
				t.Fatalf("refused code %d %q", ref.Code, ref.Data)
			}
			crec.wait(t, EvDeregister)
			crec.mu.Lock()
			for _, e := range crec.evs {
				if e.Type == EvConnectAccepted {
					t.Errorf("CONNECT_ACCEPTED reported for protocol %q", e.Protocol)
				}
			}
			crec.mu.Unlock()
			cl := srec.wait(t, EvClose)
			if cl.Code != wtALPNError || cl.Flags&FlagCloseRemote == 0 {
				t.Fatalf("server saw close code %#x flags %#x %q, want WT_ALPN_ERROR from the client", cl.Code, cl.Flags, cl.Data)
			}
		})
	}
}
