package core

import (
	"fmt"
	"testing"
)

// Opening a stream beyond the peer's QUIC stream limit gives ErrLimit
// (gowt.h: GOWT_ERR_LIMIT, retry later), not ErrClosed: quic-go returns a
// *StreamLimitReachedError, which a value errors.As target missed (found by
// cmd/hostile no-max-streams: gowt_baton then took the session for closed).
func TestOpenBeyondQUICStreamLimitIsLimit(t *testing.T) {
	srec := newRecorder()
	_, port := newServer(t, testConfig(), "/x", srec.cb(nil))
	ccfg := testConfig()
	ccfg.MaxIncomingBidi = 1
	ccfg.MaxIncomingData = 0 // no WebTransport flow control: QUIC's limit alone
	cli, err := NewContext(ccfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Destroy()
	crec := newRecorder()
	if _, err := cli.Connect(fmt.Sprintf("https://127.0.0.1:%d/x", port), ConnectOptions{}, crec.cb(nil), 0); err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvConnectAccepted)
	sess := srec.wait(t, EvConnect).Sess
	limit := int(ccfg.MaxIncomingBidi) + 100 // the client's QUIC MaxIncomingStreams (quicConfig)
	for i := 0; i < limit; i++ {
		if _, err := sess.OpenStream(true, 0); err != nil {
			t.Fatalf("stream %d of %d: %v", i+1, limit, err)
		}
	}
	_, err = sess.OpenStream(true, 0)
	if CodeOf(err) != ErrLimit {
		t.Fatalf("stream beyond the peer's limit: %v (code %d), want ErrLimit", err, CodeOf(err))
	}
}
