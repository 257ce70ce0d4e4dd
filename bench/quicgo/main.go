// Command quicgo runs the throughput workloads of cmd/wtbench-go (upload,
// download, streams100) and its idle_mem on plain quic-go: no HTTP/3, no
// WebTransport. Client and server live in this one process on 127.0.0.1;
// it prints the same JSON lines as cmd/wtbench-go (impl "quicgo"), so that
// scripts/bench.sh can show what the QUIC stack alone does on this machine.
//
//	quicgo [-w upload,download,streams100,idle_mem] [-short]
//
// idle_mem opens 1000 idle QUIC connections (100 with -short), each dialed
// from one shared client socket as cmd/wtbench-go does, and reports the RSS
// growth per connection after a GC, both ends together: the floor under
// every WebTransport stack on quic-go.
//
// Each line carries cpu_s: process CPU time (user+system, getrusage) from
// the start of the workload to its result, client and server together.
// On stderr, once per process: the negotiated TLS cipher suite, whether
// quic-go uses GSO on this connection, and the socket buffer sizes.
//
// It is part of gowt's root module (quic-go v0.65.0, as gowt's core).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sys/unix"
)

const (
	alpn        = "gowt-bench-quic"
	chunkSize   = 64 << 10
	bulkTimeout = 120 * time.Second
)

type result struct {
	Impl      string  `json:"impl"`
	Workload  string  `json:"workload"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	CPUs      float64 `json:"cpu_s"`
	Sessions  int     `json:"sessions,omitempty"`   // idle_mem only
	BothSides bool    `json:"both_sides,omitempty"` // idle_mem only
	human     string
}

func cpuNow() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

var tlsCert tls.Certificate

func makeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "gowt-bench-quicgo"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	tlsCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return nil
}

// quicConfig is cmd/wtbench-go's (without datagrams, which no workload here
// uses).
func quicConfig() *quic.Config {
	return &quic.Config{
		MaxIncomingStreams:    1000,
		MaxIncomingUniStreams: 1000,
		MaxIdleTimeout:        60 * time.Second,
	}
}

// pair is a listener and one client connection to it, plus the accepted
// server connection.
type pair struct {
	ln  *quic.Listener
	cli *quic.Conn
	srv *quic.Conn
}

var reported atomic.Bool

func newPair() (*pair, error) {
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{tlsCert},
		NextProtos:   []string{alpn},
	}, quicConfig())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *quic.Conn, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	cli, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{
		InsecureSkipVerify: true,
		NextProtos:         []string{alpn},
	}, quicConfig())
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv, ok := <-accepted
	if !ok {
		cli.CloseWithError(0, "")
		ln.Close()
		return nil, errors.New("server accept failed")
	}
	if !reported.Swap(true) {
		st := cli.ConnectionState()
		fmt.Fprintf(os.Stderr, "quicgo: cipher suite %s, GSO %v (client), %v (server)\n",
			tls.CipherSuiteName(st.TLS.CipherSuite), st.GSO, srv.ConnectionState().GSO)
		rmem, _ := os.ReadFile("/proc/sys/net/core/rmem_max")
		wmem, _ := os.ReadFile("/proc/sys/net/core/wmem_max")
		fmt.Fprintf(os.Stderr, "quicgo: net.core.rmem_max %s, wmem_max %s (quic-go wants 7 MB)\n",
			strings.TrimSpace(string(rmem)), strings.TrimSpace(string(wmem)))
		if sockBuf, ok := sockBufs(ln.Addr()); ok {
			fmt.Fprintf(os.Stderr, "quicgo: %s\n", sockBuf)
		}
	}
	return &pair{ln: ln, cli: cli, srv: srv}, nil
}

// sockBufs reports SO_RCVBUF/SO_SNDBUF of the listener's socket, found by
// its port in /proc/self/fd (quic-go does not expose the socket).
func sockBufs(addr net.Addr) (string, bool) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return "", false
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return "", false
	}
	for _, e := range ents {
		var fd int
		if _, err := fmt.Sscanf(e.Name(), "%d", &fd); err != nil {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			continue
		}
		if in4, ok := sa.(*unix.SockaddrInet4); ok && in4.Port == ua.Port {
			r, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
			w, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
			if err1 != nil || err2 != nil {
				return "", false
			}
			return fmt.Sprintf("server socket SO_RCVBUF %d, SO_SNDBUF %d (kernel doubles the value set)", r, w), true
		}
	}
	return "", false
}

func (p *pair) close() {
	p.cli.CloseWithError(0, "")
	p.srv.CloseWithError(0, "")
	p.ln.Close()
}

func writeN(w io.Writer, total int64) error {
	buf := make([]byte, chunkSize)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for total > 0 {
		k := min(total, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		total -= k
	}
	return nil
}

func drain(r io.Reader) (int64, error) {
	buf := make([]byte, chunkSize)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

type done struct {
	n   int64
	at  time.Time
	err error
}

func wait(ch <-chan done) (done, error) {
	select {
	case d := <-ch:
		return d, d.err
	case <-time.After(bulkTimeout):
		return done{}, errors.New("timed out")
	}
}

func scale(short bool, full int64) int64 {
	if short {
		return max(full/10, 1)
	}
	return full
}

func mbResult(total int64, el time.Duration, what string) result {
	v := float64(total) / 1e6 / el.Seconds()
	return result{Metric: "MB/s", Value: round(v, 1),
		human: fmt.Sprintf("%.1f MB/s (%s in %.2fs)", v, what, el.Seconds())}
}

func runUpload(short bool) (result, error) {
	total := scale(short, 200) * 1_000_000
	p, err := newPair()
	if err != nil {
		return result{}, err
	}
	defer p.close()
	ch := make(chan done, 1)
	go func() {
		str, err := p.srv.AcceptStream(context.Background())
		if err != nil {
			ch <- done{err: err}
			return
		}
		n, err := drain(str)
		ch <- done{n: n, at: time.Now(), err: err}
		str.Close()
	}()
	str, err := p.cli.OpenStreamSync(context.Background())
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := writeN(str, total); err != nil {
		return result{}, err
	}
	str.Close()
	d, err := wait(ch)
	if err != nil {
		return result{}, err
	}
	if d.n != total {
		return result{}, fmt.Errorf("server received %d bytes, want %d", d.n, total)
	}
	return mbResult(total, d.at.Sub(start), fmt.Sprintf("%d MB", total/1_000_000)), nil
}

func runDownload(short bool) (result, error) {
	total := scale(short, 200) * 1_000_000
	p, err := newPair()
	if err != nil {
		return result{}, err
	}
	defer p.close()
	ch := make(chan done, 1)
	go func() {
		str, err := p.srv.OpenStreamSync(context.Background())
		if err != nil {
			ch <- done{err: err}
			return
		}
		start := time.Now()
		err = writeN(str, total)
		if err == nil {
			err = str.Close()
		}
		ch <- done{n: total, at: start, err: err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
	defer cancel()
	// A stream opened by the server is seen once its first frame arrives.
	str, err := p.cli.AcceptStream(ctx)
	if err != nil {
		return result{}, err
	}
	n, err := drain(str)
	end := time.Now()
	if err != nil {
		return result{}, err
	}
	str.Close()
	s, err := wait(ch)
	if err != nil {
		return result{}, err
	}
	if n != total {
		return result{}, fmt.Errorf("client received %d bytes, want %d", n, total)
	}
	return mbResult(total, end.Sub(s.at), fmt.Sprintf("%d MB", total/1_000_000)), nil
}

func runStreams100(short bool) (result, error) {
	const nStreams = 100
	per := scale(short, 1_000_000)
	total := per * nStreams
	p, err := newPair()
	if err != nil {
		return result{}, err
	}
	defer p.close()
	ch := make(chan done, nStreams+1)
	go func() {
		var finished, bytes atomic.Int64
		for {
			str, err := p.srv.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go func() {
				n, err := drain(str)
				if err != nil {
					ch <- done{err: err}
					return
				}
				str.Close()
				bytes.Add(n)
				if finished.Add(1) == nStreams {
					ch <- done{n: bytes.Load(), at: time.Now()}
				}
			}()
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	setErr := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	start := time.Now()
	for range nStreams {
		wg.Go(func() {
			str, err := p.cli.OpenStreamSync(context.Background())
			if err != nil {
				setErr(err)
				return
			}
			if err := writeN(str, per); err != nil {
				setErr(err)
				return
			}
			str.Close()
			_, _ = drain(str)
		})
	}
	d, err := wait(ch)
	if err == nil {
		wg.Wait()
		mu.Lock()
		err = firstErr
		mu.Unlock()
	}
	if err != nil {
		return result{}, err
	}
	if d.n != total {
		return result{}, fmt.Errorf("server received %d bytes, want %d", d.n, total)
	}
	return mbResult(total, d.at.Sub(start), fmt.Sprintf("%d x %d KB aggregate", nStreams, per/1000)), nil
}

// rssKB reads VmRSS from /proc/self/status.
func rssKB() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb); err != nil {
				return 0, err
			}
			return kb, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// measureRSS runs a GC, lets the process settle (as cmd/wtbench-go) and
// reads VmRSS.
func measureRSS() (int64, error) {
	runtime.GC()
	time.Sleep(500 * time.Millisecond)
	return rssKB()
}

// runIdleMem: n idle connections to one listener, dialed by 8 workers
// over one client transport (one UDP socket, as cmd/wtbench-go's
// sessions), held open while RSS is read.
func runIdleMem(short bool) (result, error) {
	n := 1000
	if short {
		n = 100
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{tlsCert},
		NextProtos:   []string{alpn},
	}, quicConfig())
	if err != nil {
		return result{}, err
	}
	defer ln.Close()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return result{}, err
	}
	tr := &quic.Transport{Conn: udp}
	defer tr.Close()
	var mu sync.Mutex
	var conns []*quic.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.CloseWithError(0, "")
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
	defer cancel()
	go func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	before, err := measureRSS()
	if err != nil {
		return result{}, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				c, err := tr.Dial(ctx, ln.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}}, quicConfig())
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	// Every server side accepted too (2 n connections in all).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		k := len(conns)
		mu.Unlock()
		if k >= 2*n {
			break
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("server accepted %d of %d connections", k-n, n)
		}
	}
	after, err := measureRSS()
	if err != nil {
		return result{}, err
	}
	v := float64(after-before) / float64(n)
	return result{Metric: "KB/session", Value: round(v, 1), Sessions: n, BothSides: true,
		human: fmt.Sprintf("%.1f KB/connection (client+server in one process; RSS %d -> %d KB for %d connections, no streams)",
			v, before, after, n)}, nil
}

var workloads = map[string]func(bool) (result, error){
	"upload":     runUpload,
	"download":   runDownload,
	"streams100": runStreams100,
	"idle_mem":   runIdleMem,
}

func main() {
	w := flag.String("w", "upload,download,streams100", "comma-separated workloads: upload,download,streams100,idle_mem")
	short := flag.Bool("short", false, "shrink sizes about 10x (smoke test)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}
	var sel []string
	for _, name := range strings.Split(*w, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if workloads[name] == nil {
			fmt.Fprintf(os.Stderr, "unknown workload %q (known: upload,download,streams100,idle_mem)\n", name)
			os.Exit(2)
		}
		sel = append(sel, name)
	}
	if err := makeCert(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	failed := false
	for _, name := range sel {
		cpu0 := cpuNow()
		r, err := workloads[name](*short)
		if err != nil {
			fmt.Fprintf(os.Stderr, "quicgo %-12s FAILED: %v\n", name, err)
			failed = true
			continue
		}
		r.Impl, r.Workload, r.CPUs = "quicgo", name, round(cpuNow()-cpu0, 3)
		b, _ := json.Marshal(r)
		fmt.Printf("%s\n", b)
		fmt.Fprintf(os.Stderr, "quicgo %-12s %s (cpu %.2fs)\n", name, r.human, r.CPUs)
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}
	if failed {
		os.Exit(1)
	}
}
