package core

import (
	"encoding/binary"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rateProxy forwards UDP between one client and a server on loopback,
// client to server through a bottleneck of rate bytes/s with a drop-tail
// queue of at most maxQueue of delay; server to client at once. It is the
// smallest path on which a sender is congestion-limited: loopback itself
// never is.
type rateProxy struct {
	pc     *net.UDPConn
	server *net.UDPAddr
	client atomic.Pointer[net.UDPAddr]
	done   chan struct{}
	wg     sync.WaitGroup
}

func newRateProxy(t *testing.T, serverPort int, rate float64, maxQueue time.Duration) *rateProxy {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rateProxy{pc: pc, server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: serverPort}, done: make(chan struct{})}
	up, err := net.DialUDP("udp", nil, p.server)
	if err != nil {
		t.Fatal(err)
	}
	type pkt struct {
		b  []byte
		at time.Time // when it leaves the bottleneck
	}
	q := make(chan pkt, 4096)
	p.wg.Add(3)
	go func() { // client -> bottleneck queue
		defer p.wg.Done()
		var free time.Time // when the bottleneck is next idle
		buf := make([]byte, 65536)
		for {
			n, addr, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.client.Store(addr)
			now := time.Now()
			if free.Before(now) {
				free = now
			}
			if free.Sub(now) > maxQueue {
				continue // tail drop
			}
			free = free.Add(time.Duration(float64(n) / rate * float64(time.Second)))
			select {
			case q <- pkt{append([]byte(nil), buf[:n]...), free}:
			default:
			}
		}
	}()
	go func() { // bottleneck -> server
		defer p.wg.Done()
		for {
			select {
			case k := <-q:
				time.Sleep(time.Until(k.at))
				_, _ = up.Write(k.b)
			case <-p.done:
				return
			}
		}
	}()
	go func() { // server -> client
		defer p.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if a := p.client.Load(); a != nil {
				_, _ = pc.WriteToUDP(buf[:n], a)
			}
		}
	}()
	t.Cleanup(func() {
		close(p.done)
		_ = pc.Close()
		_ = up.Close()
		p.wg.Wait()
	})
	return p
}

func (p *rateProxy) port() int { return p.pc.LocalAddr().(*net.UDPAddr).Port }

// TestPullDatagramJustInTime: on a congestion-limited path, PROVIDE_DATAGRAM
// is asked when a datagram can leave, so what the application provides is
// fresh when it arrives. Each datagram carries the time it was provided;
// the receiver's median age must stay near the bottleneck's own queueing
// (at most 25 ms here), not grow by quic-go's 32-deep datagram queue
// (32 x 1000 B at 250 KB/s = 128 ms more).
func TestPullDatagramJustInTime(t *testing.T) {
	var mu sync.Mutex
	var ages []time.Duration
	_, sport := newServer(t, testConfig(), "/jit", func(c *Context, ev *Event) int {
		if ev.Type == EvPostDatagram && len(ev.Data) >= 8 {
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(ev.Data)))
			mu.Lock()
			ages = append(ages, time.Since(sent))
			mu.Unlock()
		}
		return 0
	})
	const rate = 250e3
	proxy := newRateProxy(t, sport, rate, 25*time.Millisecond)
	cli := newClient(t, testConfig())
	crec := newRecorder()
	var provided atomic.Int64
	sess, err := cli.Connect("https://127.0.0.1:"+itoa(proxy.port())+"/jit", ConnectOptions{}, crec.cb(func(c *Context, ev *Event) int {
		if ev.Type == EvProvideDatagram {
			buf, err := ev.Provide.Answer(1000, false, true)
			if err == nil {
				binary.BigEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
				provided.Add(1)
			}
		}
		return 0
	}), 0)
	if err != nil {
		t.Fatal(err)
	}
	crec.wait(t, EvConnectAccepted)
	if err := sess.SetDatagramReady(true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	_ = sess.SetDatagramReady(false)
	mu.Lock()
	defer mu.Unlock()
	if len(ages) < 200 {
		t.Fatalf("only %d datagrams arrived (%d provided)", len(ages), provided.Load())
	}
	// The first second is slow start; judge the rest.
	steady := append([]time.Duration(nil), ages[len(ages)/3:]...)
	sort.Slice(steady, func(i, j int) bool { return steady[i] < steady[j] })
	med, p90 := steady[len(steady)/2], steady[len(steady)*9/10]
	t.Logf("%d provided, %d arrived through a %.0f KB/s bottleneck; age at arrival: median %v, p90 %v",
		provided.Load(), len(ages), rate/1e3, med.Round(time.Millisecond), p90.Round(time.Millisecond))
	if med > 60*time.Millisecond {
		t.Fatalf("provided datagrams waited %v (median) before arriving: they were asked for long before they could be sent", med)
	}
}
