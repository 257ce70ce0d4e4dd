package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

// ---------------------------------------------------------------------------
// Output: one JSON object per line.

// jsonLog writes one JSON object per line. Children made with With share the
// writer and its lock, so lines from concurrent goroutines never interleave.
type jsonLog struct {
	mu   *sync.Mutex
	w    io.Writer
	base []any // key/value pairs added to every event after "ev"
}

func newJSONLog(w io.Writer) *jsonLog {
	return &jsonLog{mu: new(sync.Mutex), w: w}
}

// With returns a logger that adds the given key/value pairs to every event.
func (l *jsonLog) With(kv ...any) *jsonLog {
	base := make([]any, 0, len(l.base)+len(kv))
	base = append(append(base, l.base...), kv...)
	return &jsonLog{mu: l.mu, w: l.w, base: base}
}

func appendJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		_ = enc.Encode(fmt.Sprint(v))
	}
	// Encode appends a newline; drop it.
	b.Truncate(b.Len() - 1)
}

func (l *jsonLog) object(first string, firstVal any, kv ...any) {
	var b bytes.Buffer
	b.WriteByte('{')
	appendJSON(&b, first)
	b.WriteByte(':')
	appendJSON(&b, firstVal)
	all := append(append([]any(nil), l.base...), kv...)
	for i := 0; i+1 < len(all); i += 2 {
		b.WriteByte(',')
		appendJSON(&b, fmt.Sprint(all[i]))
		b.WriteByte(':')
		v := all[i+1]
		if e, ok := v.(error); ok {
			v = e.Error()
		}
		appendJSON(&b, v)
	}
	b.WriteString("}\n")
	l.write(b.Bytes())
}

// Event writes {"ev":name, base..., kv...}.
func (l *jsonLog) Event(name string, kv ...any) { l.object("ev", name, kv...) }

// Result writes the final {"result":"pass"} or {"result":"fail","why":...}.
func (l *jsonLog) Result(err error) {
	if err == nil {
		l.object("result", "pass")
		return
	}
	l.object("result", "fail", "why", err.Error())
}

// Text writes a raw text line (LISTENING, baton summary lines).
func (l *jsonLog) Text(format string, args ...any) {
	l.write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

func (l *jsonLog) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(p)
}

// ---------------------------------------------------------------------------
// Configuration shared by client and server.

func quicConfig() *quic.Config {
	return &quic.Config{
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		MaxIncomingStreams:               1000,
		MaxIncomingUniStreams:            1000,
		MaxIdleTimeout:                   30 * time.Second,
		KeepAlivePeriod:                  5 * time.Second,
	}
}

// wtConfig turns WebTransport flow control on (the default) or off (-nofc).
// Without it on both sides webtransport-go allows one session per QUIC
// connection. maxData is the session's receive window (-max-data; 0: 16 MiB).
func wtConfig(noFC bool, maxData int64) *webtransport.Config {
	if noFC {
		return nil
	}
	if maxData <= 0 {
		maxData = defaultMaxData
	}
	return &webtransport.Config{
		MaxIncomingStreams:    256,
		MaxIncomingUniStreams: 256,
		MaxIncomingData:       maxData,
	}
}

const defaultMaxData = 16 << 20

// ---------------------------------------------------------------------------
// Certificates.

// selfSigned makes an ECDSA P-256 certificate valid for 10 days (so browsers
// accept it via serverCertificateHashes) for localhost, 127.0.0.1 and ::1.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wtpeer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 24 * time.Hour).Add(-2 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func loadOrMakeCert(certFile, keyFile string) (tls.Certificate, string, error) {
	var cert tls.Certificate
	var err error
	switch {
	case certFile != "" && keyFile != "":
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	case certFile != "" || keyFile != "":
		err = errors.New("-cert and -key go together")
	default:
		cert, err = selfSigned()
	}
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return cert, hex.EncodeToString(sum[:]), nil
}

// ---------------------------------------------------------------------------
// Client connection: we dial the QUIC connection ourselves and make the
// WebTransport ClientConn on it. Transport.Dial would tie the QUIC connection
// to the session and close it the moment the session ends, which races the
// CLOSE_WEBTRANSPORT_SESSION capsule: the peer then often sees a connection
// close instead of our code and reason.

type clientConn struct {
	qconn *quic.Conn
	tr    *webtransport.Transport
	cc    *webtransport.ClientConn
	stop  func() bool
}

func dialClientConn(ctx context.Context, host string, noFC bool, maxData int64) (*clientConn, error) {
	return dialClientConnConfig(ctx, host, noFC, maxData, quicConfig())
}

// dialClientConnConfig is dialClientConn with a QUIC configuration of the
// caller's (a misbehaving baton client traces frames and may shrink windows).
func dialClientConnConfig(ctx context.Context, host string, noFC bool, maxData int64, qc *quic.Config) (*clientConn, error) {
	tlsConf := &tls.Config{
		InsecureSkipVerify: true, // a test peer: self-signed certificates everywhere
		NextProtos:         []string{http3.NextProtoH3},
	}
	qconn, err := quic.DialAddr(ctx, host, tlsConf, qc)
	if err != nil {
		return nil, fmt.Errorf("QUIC dial %s: %w", host, err)
	}
	tr := &webtransport.Transport{
		Config:          wtConfig(noFC, maxData),
		TLSClientConfig: tlsConf,
		QUICConfig:      qc,
	}
	cc, err := tr.NewClientConn(qconn)
	if err != nil {
		qconn.CloseWithError(0, "")
		return nil, err
	}
	// Whatever blocks on this connection unblocks when the deadline passes.
	stop := context.AfterFunc(ctx, func() {
		qconn.CloseWithError(0, "timeout")
		tr.Close()
	})
	return &clientConn{qconn: qconn, tr: tr, cc: cc, stop: stop}, nil
}

// close waits up to grace for the peer to close the connection (so that our
// last capsules and stream data are delivered), then closes it.
func (c *clientConn) close(grace time.Duration) {
	c.stop()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.qconn.Context().Done():
	case <-t.C:
	}
	c.qconn.CloseWithError(0, "")
	c.tr.Close()
}

// ---------------------------------------------------------------------------
// Errors.

// closeInfo describes how a session ended.
type closeInfo struct {
	Code   int64 // -1 when no close code applies (connection loss, reset)
	Reason string
	Remote bool
	Err    string // set when the end was not a CLOSE_WEBTRANSPORT_SESSION
}

func (c closeInfo) kv() []any {
	kv := []any{"code", c.Code, "reason", c.Reason, "remote", c.Remote}
	if c.Err != "" {
		kv = append(kv, "error", c.Err)
	}
	return kv
}

// sessionCloseInfo must be called after sess.Context() is done.
//
// webtransport-go v0.13.0 cancels the session context without a cause, so
// context.Cause(sess.Context()) is just context.Canceled. The real close
// error (a *SessionError for a close capsule) is what AcceptStream returns
// once the session is closed.
func sessionCloseInfo(sess *webtransport.Session) closeInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := sess.AcceptStream(ctx)
	if err == nil {
		return closeInfo{Code: -1, Err: "session still open"}
	}
	var se *webtransport.SessionError
	if errors.As(err, &se) {
		return closeInfo{Code: int64(se.ErrorCode), Reason: se.Message, Remote: se.Remote}
	}
	var he *http3.Error
	if errors.As(err, &he) && he.ErrorCode == http3.ErrCodeDatagramError && he.ErrorMessage == io.EOF.Error() {
		// FIN on the CONNECT stream without a close capsule. The draft says
		// that means code 0, empty reason; webtransport-go reports it as
		// H3_DATAGRAM_ERROR "EOF".
		return closeInfo{Code: 0, Remote: true, Err: "FIN without close capsule"}
	}
	info := closeInfo{Code: -1, Err: err.Error()}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		info.Remote = ae.Remote
	}
	if errors.As(err, &he) {
		info.Remote = he.Remote
	}
	var qe *quic.StreamError
	if errors.As(err, &qe) {
		info.Remote = qe.Remote
	}
	return info
}

// WebTransport application error codes n are sent as
// 0x52e4a40fa8db + n + n/0x1e (skipping the reserved 0x1f*N+0x21 values).
const (
	wtFirstCode = 0x52e4a40fa8db
	wtLastCode  = 0x52e5ac983162
)

func wtCodeFromHTTP(h uint64) (uint64, bool) {
	if h < wtFirstCode || h > wtLastCode || (h-0x21)%0x1f == 0 {
		return 0, false
	}
	d := h - wtFirstCode
	return d - d/0x1f, true
}

var rawStreamCodeRE = regexp.MustCompile(`failed to convert stream error (\d+)`)

// streamErrCode extracts the application error code of a stream reset or
// STOP_SENDING from a Read/Write error (or a stream context cause).
func streamErrCode(err error) (code uint64, remote, ok bool) {
	if err == nil {
		return 0, false, false
	}
	var se *webtransport.StreamError
	if errors.As(err, &se) {
		return uint64(se.ErrorCode), se.Remote, true
	}
	var qe *quic.StreamError
	if errors.As(err, &qe) {
		if c, ok := wtCodeFromHTTP(uint64(qe.ErrorCode)); ok {
			return c, qe.Remote, true
		}
		return uint64(qe.ErrorCode), qe.Remote, true
	}
	// A code outside WebTransport's range (picoquic sends raw codes) comes
	// back from webtransport-go v0.13.0 as a plain error with the raw code
	// in its text only.
	if m := rawStreamCodeRE.FindStringSubmatch(err.Error()); m != nil {
		if c, perr := strconv.ParseUint(m[1], 10, 64); perr == nil {
			return c, true, true
		}
	}
	return 0, false, false
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i>>8) ^ seed
	}
	return b
}

func short(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
