package core

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// GenerateCertificate makes an ECDSA P-256 self-signed certificate valid for
// 10 days: browsers accept serverCertificateHashes only for ECDSA
// certificates valid at most 14 days.
func GenerateCertificate(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gowt"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// CertificatePEM encodes a certificate and its key as PEM (for tools).
func CertificatePEM(c tls.Certificate) (certPEM, keyPEM []byte, err error) {
	var cb bytes.Buffer
	for _, der := range c.Certificate {
		_ = pem.Encode(&cb, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return cb.Bytes(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

func (c *Config) serverCertificate() (tls.Certificate, error) {
	switch {
	case c.CertFile != "":
		return tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	case len(c.CertPEM) != 0:
		return tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	default:
		return GenerateCertificate(c.CertHostnames)
	}
}

func (c *Config) keyLog() (*os.File, error) {
	if c.KeylogFile == "" {
		return nil, nil
	}
	return os.OpenFile(c.KeylogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

func (c *Config) serverTLS(cert tls.Certificate, keylog *os.File) (*tls.Config, error) {
	t := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{http3.NextProtoH3},
		MinVersion:   tls.VersionTLS13,
	}
	if keylog != nil {
		t.KeyLogWriter = keylog
	}
	var pool *x509.CertPool
	if c.ClientCAFile != "" {
		var err error
		if pool, err = loadPool(c.ClientCAFile, "client_ca_file"); err != nil {
			return nil, err
		}
		t.ClientCAs = pool
	}
	switch {
	case c.ClientAuth == ClientAuthRequest && pool != nil:
		t.ClientAuth = tls.VerifyClientCertIfGiven
	case c.ClientAuth == ClientAuthRequest:
		t.ClientAuth = tls.RequestClientCert
	case c.ClientAuth == ClientAuthRequire && pool != nil:
		t.ClientAuth = tls.RequireAndVerifyClientCert
	case c.ClientAuth == ClientAuthRequire:
		t.ClientAuth = tls.RequireAnyClientCert
	}
	return t, nil
}

func loadPool(file, what string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(file)
	if err != nil {
		return nil, errf(ErrTLS, "reading %s: %v", what, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errf(ErrTLS, "%s %s holds no PEM certificate", what, file)
	}
	return pool, nil
}

// clientCertificate is the certificate a client presents, if configured.
func (c *Config) clientCertificate() (*tls.Certificate, error) {
	var cert tls.Certificate
	var err error
	switch {
	case c.ClientCertFile != "":
		cert, err = tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
	case len(c.ClientCertPEM) != 0:
		cert, err = tls.X509KeyPair(c.ClientCertPEM, c.ClientKeyPEM)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, errf(ErrTLS, "client certificate: %v", err)
	}
	return &cert, nil
}

// clientTLS builds the client trust: system roots by default, a CA file,
// pinned certificate hashes (checked instead of the chain, as browsers do with
// serverCertificateHashes), or no verification at all when asked.
func (c *Config) clientTLS(keylog *os.File) (*tls.Config, error) {
	t := &tls.Config{NextProtos: []string{http3.NextProtoH3}, MinVersion: tls.VersionTLS13}
	if keylog != nil {
		t.KeyLogWriter = keylog
	}
	if !c.DisableResumption {
		// Keyed by server name; one cache per context, so a resumed
		// session was verified under this context's trust settings.
		t.ClientSessionCache = tls.NewLRUClientSessionCache(clientSessionCacheSize)
	}
	if cert, err := c.clientCertificate(); err != nil {
		return nil, err
	} else if cert != nil {
		// Presented whenever a server asks, even when it names CAs that did
		// not sign it (crypto/tls would then send none): the server decides.
		t.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert, nil
		}
	}
	if c.CAFile != "" {
		pool, err := loadPool(c.CAFile, "ca_file")
		if err != nil {
			return nil, err
		}
		t.RootCAs = pool
	}
	switch {
	case len(c.PinnedHashes) > 0:
		pins := append([][32]byte(nil), c.PinnedHashes...)
		t.InsecureSkipVerify = true // replaced by the pin check below
		t.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no server certificate")
			}
			h := sha256.Sum256(raw[0])
			for _, p := range pins {
				if p == h {
					return nil
				}
			}
			return errors.New("server certificate hash matches no pinned hash")
		}
	case c.Insecure:
		t.InsecureSkipVerify = true
	}
	return t, nil
}
