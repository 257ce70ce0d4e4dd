package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

const benchPath = "/bench"

var (
	certOnce sync.Once
	certVal  tls.Certificate
	certErr  error
)

// serverCert returns an in-memory ECDSA P-256 self-signed certificate for
// 127.0.0.1 / localhost, generated once per process.
func serverCert() (tls.Certificate, error) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		if err != nil {
			certErr = err
			return
		}
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber:          serial,
			Subject:               pkix.Name{CommonName: "wtbench-go"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			DNSNames:              []string{"localhost"},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		certVal = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return certVal, certErr
}

// quicConfig is used on both sides. Stream limits are raised so that 100
// concurrent WebTransport streams plus the CONNECT stream fit on one
// connection and many sessions can share one connection.
func quicConfig() *quic.Config {
	return &quic.Config{
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		MaxIncomingStreams:               1000,
		MaxIncomingUniStreams:            1000,
		MaxIdleTimeout:                   60 * time.Second,
	}
}

// flowControlConfig enables WebTransport flow control, which
// webtransport-go requires for more than one session per QUIC connection.
func flowControlConfig() *webtransport.Config {
	return &webtransport.Config{
		MaxIncomingStreams:    100,
		MaxIncomingUniStreams: 100,
		MaxIncomingData:       16 << 20,
	}
}

// benchServer is a webtransport-go server on 127.0.0.1, port 0.
type benchServer struct {
	wt     *webtransport.Server
	pc     net.PacketConn
	url    string
	addr   string
	served chan struct{}
}

// startServer starts a server whose sessions are handed to onSession, called
// on the HTTP handler goroutine right after Upgrade. onSession must not block
// for long; the session stays alive after the handler returns.
func startServer(wtCfg *webtransport.Config, onSession func(*webtransport.Session)) (*benchServer, error) {
	cert, err := serverCert()
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0})
	if err != nil {
		return nil, err
	}
	s := &benchServer{pc: pc, served: make(chan struct{})}
	mux := http.NewServeMux()
	s.wt = &webtransport.Server{
		H3: &http3.Server{
			TLSConfig: &tls.Config{
				Certificates: []tls.Certificate{cert},
				NextProtos:   []string{http3.NextProtoH3},
			},
			QUICConfig: quicConfig(),
			Handler:    mux,
		},
		Config:      wtCfg,
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux.HandleFunc(benchPath, func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.wt.Upgrade(w, r)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wtbench-go: server upgrade failed: %v\n", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		onSession(sess)
	})
	s.addr = pc.LocalAddr().String()
	s.url = "https://" + s.addr + benchPath
	go func() {
		defer close(s.served)
		_ = s.wt.Serve(pc)
	}()
	return s, nil
}

// Close shuts the server down, closing all its connections, and waits for
// the serve loop to end.
func (s *benchServer) Close() {
	_ = s.wt.Close()
	_ = s.pc.Close()
	select {
	case <-s.served:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(os.Stderr, "wtbench-go: server did not stop within 5 s")
	}
}

func clientTLS() *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		NextProtos:         []string{http3.NextProtoH3},
	}
}

// newTransport is the webtransport-go client: Dial makes a new QUIC
// connection per session, NewClientConn shares one.
func newTransport(wtCfg *webtransport.Config) *webtransport.Transport {
	return &webtransport.Transport{
		TLSClientConfig: clientTLS(),
		QUICConfig:      quicConfig(),
		Config:          wtCfg,
	}
}

// dialSession opens one session on a new QUIC connection.
func dialSession(tr *webtransport.Transport, url string) (*webtransport.Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rsp, sess, err := tr.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	if rsp.StatusCode != http.StatusOK {
		sess.CloseWithError(0, "")
		return nil, fmt.Errorf("unexpected status %d", rsp.StatusCode)
	}
	return sess, nil
}

// dialConn opens a QUIC connection we own, for sessions via NewClientConn.
func dialConn(addr string) (*quic.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return quic.DialAddr(ctx, addr, clientTLS(), quicConfig())
}

// rssKB reads VmRSS from /proc/self/status, in KB.
func rssKB() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, "VmRSS:"))
		if len(fields) < 1 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("VmRSS not found in /proc/self/status")
}

// firstErr collects the first error from concurrent workers.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstErr) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
