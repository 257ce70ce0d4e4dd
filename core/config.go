package core

import (
	"os"
	"time"
)

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Dispatch modes (public gowt_dispatch_mode).
const (
	DispatchThread = 0
	DispatchPoll   = 1
)

// Config is the Go form of gowt_config.
type Config struct {
	DispatchMode int

	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
	CertHostnames     []string

	CAFile       string
	PinnedHashes [][32]byte
	Insecure     bool

	// Client certificates. Server: ClientAuth asks clients for one
	// (ClientAuthRequest) or requires one (ClientAuthRequire); with
	// ClientCAFile it must chain to that CA, without it any certificate is
	// taken and only its hash reported. Client: the certificate presented.
	ClientAuth                    int
	ClientCAFile                  string
	ClientCertFile, ClientKeyFile string
	ClientCertPEM, ClientKeyPEM   []byte

	// DisableResumption turns off the client's TLS session cache (on by
	// default: a reconnect to the same server resumes, skipping the
	// certificate exchange; 0-RTT stays off).
	DisableResumption bool

	IdleTimeout      time.Duration
	KeepAlive        time.Duration
	HandshakeTimeout time.Duration
	// ConnectResponseTimeout bounds a client's wait for the CONNECT
	// response, from sending the request: a server that takes the QUIC
	// connection but never answers (or a keep-alive that keeps an
	// unanswered connection open) must not leave the session connecting.
	// 0 or less: no bound.
	ConnectResponseTimeout time.Duration

	MaxSessions     int
	MaxIncomingBidi int64
	MaxIncomingUni  int64
	MaxIncomingData int64 // 0 disables WebTransport flow control

	StreamSendBuffer  int
	RecvBufferBytes   int // context-wide bound on received stream bytes waiting for delivery
	DatagramRecvQueue int
	DatagramSendQueue int
	EventQueueDepth   int

	// QUIC receive windows (0: quic-go's defaults): the initial window and
	// the most auto-tuning may grow it to, per stream and per connection.
	StreamRecvWindow, MaxStreamRecvWindow uint64
	ConnRecvWindow, MaxConnRecvWindow     uint64

	QlogDir    string
	KeylogFile string

	WWWDir string // serve plain GET/HEAD from here
}

// Client-certificate modes (public GOWT_CLIENT_AUTH_*).
const (
	ClientAuthNone    = 0
	ClientAuthRequest = 1
	ClientAuthRequire = 2
)

// clientSessionCacheSize is how many servers' TLS sessions a context keeps.
const clientSessionCacheSize = 64

// DefaultConfig returns the documented defaults of gowt_config_init.
func DefaultConfig() Config {
	return Config{
		DispatchMode:     DispatchThread,
		CertHostnames:    []string{"localhost", "127.0.0.1", "::1"},
		IdleTimeout:      30 * time.Second,
		HandshakeTimeout: 10 * time.Second,
		// Above a gowt server's own decision timeout (10 s, then 503), so
		// that its refusal, not our timeout, ends a deferred CONNECT.
		ConnectResponseTimeout: 30 * time.Second,
		MaxSessions:            10000,
		MaxIncomingBidi:        1000,
		MaxIncomingUni:         1000,
		MaxIncomingData:        4 << 20,
		// Above one session's window: a session whose application stops
		// reading holds at most max_incoming_data of the connection's window.
		ConnRecvWindow:    8 << 20,
		MaxConnRecvWindow: 32 << 20,
		StreamSendBuffer:  1 << 20,
		RecvBufferBytes:   16 << 20,
		DatagramRecvQueue: 1024,
		DatagramSendQueue: 256,
		EventQueueDepth:   4096,
	}
}

// maxSettingValue is the largest value an HTTP/3 SETTINGS varint carries.
const maxSettingValue = 1<<62 - 1

func (c *Config) validate() error {
	switch {
	case c.DispatchMode != DispatchThread && c.DispatchMode != DispatchPoll:
		return errf(ErrInvalidArg, "dispatch_mode %d is not THREAD (0) or POLL (1)", c.DispatchMode)
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errf(ErrInvalidArg, "cert_file and key_file must be given together")
	case (len(c.CertPEM) == 0) != (len(c.KeyPEM) == 0):
		return errf(ErrInvalidArg, "cert_pem and key_pem must be given together")
	case c.CertFile != "" && len(c.CertPEM) != 0:
		return errf(ErrInvalidArg, "give the certificate as files or as PEM, not both")
	case (c.ClientCertFile == "") != (c.ClientKeyFile == ""):
		return errf(ErrInvalidArg, "client_cert_file and client_key_file must be given together")
	case (len(c.ClientCertPEM) == 0) != (len(c.ClientKeyPEM) == 0):
		return errf(ErrInvalidArg, "client_cert_pem and client_key_pem must be given together")
	case c.ClientCertFile != "" && len(c.ClientCertPEM) != 0:
		return errf(ErrInvalidArg, "give the client certificate as files or as PEM, not both")
	case c.ClientAuth < ClientAuthNone || c.ClientAuth > ClientAuthRequire:
		return errf(ErrInvalidArg, "client_auth %d is not NONE (0), REQUEST (1) or REQUIRE (2)", c.ClientAuth)
	case c.ClientCAFile != "" && c.ClientAuth == ClientAuthNone:
		return errf(ErrInvalidArg, "client_ca_file needs client_auth REQUEST or REQUIRE")
	case c.MaxSessions <= 0 || c.MaxIncomingBidi < 0 || c.MaxIncomingUni < 0 || c.MaxIncomingData < 0:
		return errf(ErrInvalidArg, "limits must not be negative")
	case uint64(c.MaxSessions) > maxSettingValue || c.MaxIncomingBidi > maxSettingValue || c.MaxIncomingUni > maxSettingValue || c.MaxIncomingData > maxSettingValue:
		// They are sent as SETTINGS values: quic-go panics on a larger one.
		return errf(ErrInvalidArg, "limits must be below 2^62")
	case c.WWWDir != "" && !isDir(c.WWWDir):
		return errf(ErrInvalidArg, "www_dir %q is not a directory", c.WWWDir)
	case c.StreamSendBuffer <= 0 || c.RecvBufferBytes <= 0 || c.DatagramRecvQueue <= 0 || c.DatagramSendQueue <= 0 || c.EventQueueDepth <= 0:
		return errf(ErrInvalidArg, "buffer and queue sizes must be positive")
	}
	return nil
}
