package core

import (
	"fmt"
	"strings"
	"testing"
	"time"
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

// A server that takes the CONNECT and never answers: the client gives up
// after ConnectResponseTimeout (keep-alives keep the connection itself
// alive), reports CONNECT_REFUSED code 0, and cancels the request, which
// ends the server's pending session too.
func TestConnectResponseTimeout(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "/p", srec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvConnect {
			return 1 // decide later: never
		}
		return 0
	}))
	cfg := testConfig()
	cfg.KeepAlive = 100 * time.Millisecond
	cfg.ConnectResponseTimeout = 400 * time.Millisecond
	cli := newClient(t, cfg)
	crec := newRecorder()
	start := time.Now()
	if _, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/p", port), ConnectOptions{}, crec.cb(nil), 0); err != nil {
		t.Fatal(err)
	}
	srec.wait(t, EvConnect)
	ref := crec.wait(t, EvConnectRefused)
	if waited := time.Since(start); waited < cfg.ConnectResponseTimeout {
		t.Errorf("refused after %v, before the %v timeout", waited, cfg.ConnectResponseTimeout)
	}
	if ref.Code != 0 || !strings.Contains(string(ref.Data), "no CONNECT response within 400ms") {
		t.Fatalf("refused code %d %q", ref.Code, ref.Data)
	}
	crec.wait(t, EvDeregister)
	srec.wait(t, EvDeregister) // the server's undecided session ended with the request
}
