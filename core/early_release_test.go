package core

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// A connection that closes while it holds streams for a session it does not
// know yet must be released at once, not when the held streams would have
// expired (earlyStreamTimeout): a peer that floods such streams and
// reconnects otherwise makes the server keep every closed connection, with
// all its stream state, for that long (found by cmd/hostile stream-flood:
// hundreds of MB).
func TestClosedConnWithEarlyStreamsIsReleased(t *testing.T) {
	srv, port := newServer(t, testConfig(), "/x", func(c *Context, ev *Event) int { return 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, fmt.Sprintf("127.0.0.1:%d", port),
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h3"}}, &quic.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http3.Transport{EnableDatagrams: true,
		AdditionalSettings: map[uint64]uint64{settingEnableWebTransportDraft02: 1, settingWTEnabled: 1}}
	cc := tr.NewClientConn(qc)
	<-cc.ReceivedSettings()
	rs, err := cc.OpenRequestStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d/x", port))
	if err := rs.SendRequestHeader(&http.Request{Method: http.MethodConnect, Proto: protocolWebTransport,
		Host: u.Host, URL: u, Header: http.Header{}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := rs.ReadResponse(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	// Streams for a session that does not exist: held by the server.
	unknown := uint64(rs.StreamID()) + 400
	for i := 0; i < 20; i++ {
		s, err := qc.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(quicvarint.Append(quicvarint.Append(nil, frameWebTransportStream), unknown)); err != nil {
			t.Fatal(err)
		}
	}
	var wp weak.Pointer[wtConn]
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		srv.mu.Lock()
		for wc := range srv.conns {
			wc.mu.Lock()
			if wc.nEarly == 20 {
				wp = weak.Make(wc)
			}
			wc.mu.Unlock()
		}
		srv.mu.Unlock()
		if wp != (weak.Pointer[wtConn]{}) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if wp == (weak.Pointer[wtConn]{}) {
		t.Fatal("the server never held the 20 streams")
	}
	qc.CloseWithError(0, "")
	start := time.Now()
	for wp.Value() != nil {
		if time.Since(start) > earlyStreamTimeout/2 {
			t.Fatalf("closed connection still reachable %v after close (held streams keep it)", time.Since(start))
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}
