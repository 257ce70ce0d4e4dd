package core

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/qlogwriter"
	"golang.org/x/sys/unix"
)

// batchMax is how many events cross to the application per batch.
const batchMax = 64

// readBufSize is the size of pooled stream read buffers.
const readBufSize = 64 << 10

// Batch is a group of events handed to the Deliverer in one crossing.
// Pinner pins Go memory that C code may keep pointers to until the batch
// has been delivered (event payloads, provide buffers).
type Batch struct {
	Events  []Event
	Results []int32
	Pinner  runtime.Pinner
}

// Deliverer runs the application callbacks for a batch, in order, and stores
// each callback's return value in b.Results.
type Deliverer interface {
	Deliver(c *Context, b *Batch)
	// DeliverLogs runs the log callback for each message, in order, on
	// the thread that delivers events, never during Deliver.
	DeliverLogs(c *Context, logs []LogEntry)
}

// GoCallback is a session callback written in Go (tests and Go tools).
type GoCallback func(c *Context, ev *Event) int

// goDeliverer calls GoCallback session callbacks.
type goDeliverer struct{}

func (goDeliverer) Deliver(c *Context, b *Batch) {
	for i := range b.Events {
		ev := &b.Events[i]
		if cb, ok := ev.Sess.cb.(GoCallback); ok && cb != nil {
			b.Results[i] = int32(cb(c, ev))
		}
	}
}

func (goDeliverer) DeliverLogs(c *Context, logs []LogEntry) {
	if f := c.goLog.Load(); f != nil {
		for _, e := range logs {
			(*f)(e)
		}
	}
}

// SetGoLogger sets the log function of a context with Go callbacks.
func (c *Context) SetGoLogger(level int, f func(LogEntry)) error {
	c.goLog.Store(&f)
	return c.SetLogLevel(level)
}

var nextSessionHandle atomic.Uint64

// Context owns configuration, listeners, connections and sessions.
type Context struct {
	cfg       Config
	deliverer Deliverer

	// refWriters counts senders writing an application buffer (SendRef)
	// right now; Destroy returns only once it is 0, so the library never
	// reads a buffer after gowt_ctx_destroy.
	refWriters atomic.Int64

	// provideSeq numbers PROVIDE requests, so an answer can name its own.
	provideSeq atomic.Uint32

	mu        sync.Mutex
	sessions  map[uint64]*Session
	paths     map[string]*pathEntry
	listeners []*listener
	conns     map[*wtConn]struct{}
	byQUIC    map[*quic.Conn]*wtConn
	shared    map[string][]*wtConn // client connections open to sharing, by key
	dialing   map[string]*dialing  // client connections being dialled, by key
	closed    bool
	sessGone  *sync.Cond // signalled when a session's DEREGISTER was delivered

	q           *eventQueue
	deliverMu   sync.Mutex
	destroyed   bool // under deliverMu: no delivery after Destroy
	deliverTid  atomic.Int64
	curBatch    atomic.Pointer[Batch]
	dispatchEnd chan struct{}

	serverCert   *tls.Certificate
	certHash     [32]byte
	serverTLS    *tls.Config
	clientTLS    *tls.Config
	keylog       *os.File
	h3           *http3.Server
	files        http.Handler // plain HTTP/3 GET from Config.WWWDir
	clientTr     *quic.Transport
	clientTrOnce sync.Once
	clientTrErr  error

	bufPool   sync.Pool      // readBufSize buffers
	smallBufs [2]sync.Pool   // smallBufSizes buffers for small reads
	hs        handshakeGuard // server handshakes in progress (retry.go)
	lastErr   atomic.Pointer[string]
	logLevel  atomic.Int32                   // LogOff..LogDebug
	goLog     atomic.Pointer[func(LogEntry)] // goDeliverer's log function
	wg        sync.WaitGroup                 // network goroutines
	closers   sync.WaitGroup                 // sessions still sending their close capsule
}

// NewContext creates a context. d runs callbacks; nil means GoCallback.
func NewContext(cfg Config, d Deliverer) (_ *Context, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if d == nil {
		d = goDeliverer{}
	}
	c := &Context{
		cfg:       cfg,
		deliverer: d,
		sessions:  make(map[uint64]*Session),
		paths:     make(map[string]*pathEntry),
		conns:     make(map[*wtConn]struct{}),
		byQUIC:    make(map[*quic.Conn]*wtConn),
		shared:    make(map[string][]*wtConn),
		dialing:   make(map[string]*dialing),
	}
	c.sessGone = sync.NewCond(&c.mu)
	c.bufPool.New = func() any { b := make([]byte, readBufSize); return &b }
	for i, size := range smallBufSizes {
		c.smallBufs[i].New = func() any { b := make([]byte, size); return &b }
	}
	if c.keylog, err = cfg.keyLog(); err != nil {
		return nil, errf(ErrTLS, "opening keylog_file: %v", err)
	}
	defer func() {
		if err != nil && c.keylog != nil { // a failed create keeps no file open
			_ = c.keylog.Close()
		}
	}()
	if cfg.ClientCAFile != "" { // found wrong now, not at the first listen
		if _, err := loadPool(cfg.ClientCAFile, "client_ca_file"); err != nil {
			return nil, err
		}
	}
	if cfg.CertFile != "" || len(cfg.CertPEM) != 0 {
		if err := c.loadServerCert(); err != nil {
			return nil, err
		}
	}
	if c.clientTLS, err = cfg.clientTLS(c.keylog); err != nil {
		return nil, err
	}
	if c.q, err = newEventQueue(cfg.EventQueueDepth, cfg.RecvBufferBytes, cfg.DispatchMode == DispatchPoll); err != nil {
		return nil, errf(ErrInternal, "eventfd: %v", err)
	}
	if cfg.DispatchMode == DispatchThread {
		c.dispatchEnd = make(chan struct{})
		go c.recovered(c.dispatchLoop)
	}
	return c, nil
}

func (c *Context) loadServerCert() error {
	cert, err := c.cfg.serverCertificate()
	if err != nil {
		return errf(ErrTLS, "server certificate: %v", err)
	}
	t, err := c.cfg.serverTLS(cert, c.keylog)
	if err != nil {
		return err
	}
	c.serverCert = &cert
	c.certHash = sha256.Sum256(cert.Certificate[0])
	c.serverTLS = t
	return nil
}

// SetLastError records the message returned by gowt_ctx_last_error.
func (c *Context) SetLastError(msg string) { c.lastErr.Store(&msg) }

// LastError returns the last error message ("" if none).
func (c *Context) LastError() string {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// CertHash is the SHA-256 of the server certificate DER.
func (c *Context) CertHash() ([32]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.serverCert == nil {
		if c.closed {
			return [32]byte{}, errf(ErrClosed, "context destroyed")
		}
		if err := c.loadServerCert(); err != nil {
			return [32]byte{}, err
		}
	}
	return c.certHash, nil
}

func (c *Context) quicConfig() *quic.Config {
	qc := &quic.Config{
		HandshakeIdleTimeout:             c.cfg.HandshakeTimeout,
		MaxIdleTimeout:                   c.cfg.IdleTimeout,
		KeepAlivePeriod:                  c.cfg.KeepAlive,
		MaxIncomingStreams:               c.cfg.MaxIncomingBidi + 100,
		MaxIncomingUniStreams:            c.cfg.MaxIncomingUni + 16,
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		// Credit for the peer's next stream is ours to give (credit.go):
		// HTTP/3 streams give it back as they complete, WebTransport
		// streams once the application has let go of them.
		RequireStreamCreditRelease:     true,
		InitialStreamReceiveWindow:     c.cfg.StreamRecvWindow,
		MaxStreamReceiveWindow:         max(c.cfg.StreamRecvWindow, c.cfg.MaxStreamRecvWindow),
		InitialConnectionReceiveWindow: c.cfg.ConnRecvWindow,
		MaxConnectionReceiveWindow:     max(c.cfg.ConnRecvWindow, c.cfg.MaxConnRecvWindow),
	}
	if dir := c.cfg.QlogDir; dir != "" {
		qc.Tracer = func(_ context.Context, isClient bool, id quic.ConnectionID) qlogwriter.Trace {
			return qlogTrace(dir, isClient, id)
		}
	}
	return qc
}

// qlogTrace writes one qlog file per connection into dir (quic-go's own
// default tracer only reads the QLOGDIR environment variable).
func qlogTrace(dir string, isClient bool, id quic.ConnectionID) qlogwriter.Trace {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil
	}
	role := "server"
	if isClient {
		role = "client"
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s_%s.sqlog", id, role)))
	if err != nil {
		return nil
	}
	// quic-go v0.65.0: the trace header lists the event schemas its packages
	// registered (qlogwriter.RegisterEventSchema: quic-14 and http3-14)
	// instead of taking them as an argument.
	seq := qlogwriter.NewConnectionFileSeq(f, isClient, id)
	go guardedQlog(seq.Run)
	return seq
}

// h3Settings are the HTTP/3 SETTINGS we send besides H3_DATAGRAM and
// extended CONNECT: WebTransport in both dialects (draft-02 for Chromium,
// draft-16 for webtransport-go and picoquic), and flow control if enabled.
func (c *Context) h3Settings(server bool) map[uint64]uint64 {
	s := map[uint64]uint64{
		settingEnableWebTransportDraft02: 1,
		settingWTEnabled:                 1,
	}
	if server {
		s[settingWTMaxSessions] = uint64(c.cfg.MaxSessions)
	}
	if c.cfg.MaxIncomingData > 0 {
		s[settingWTInitialMaxData] = uint64(c.cfg.MaxIncomingData)
		s[settingWTInitialMaxStreamsBidi] = uint64(c.cfg.MaxIncomingBidi)
		s[settingWTInitialMaxStreamsUni] = uint64(c.cfg.MaxIncomingUni)
	}
	return s
}

// ---------------------------------------------------------------------------
// Sessions registry

// Session returns a live session of this context.
func (c *Context) Session(h uint64) (*Session, error) {
	c.mu.Lock()
	s := c.sessions[h]
	c.mu.Unlock()
	if s == nil {
		return nil, errf(ErrNotFound, "unknown session %d", h)
	}
	return s, nil
}

func (c *Context) addSession(s *Session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errf(ErrClosed, "context destroyed")
	}
	if len(c.sessions) >= c.cfg.MaxSessions {
		return errf(ErrLimit, "max_sessions (%d) reached", c.cfg.MaxSessions)
	}
	c.sessions[s.Handle] = s
	return nil
}

// ---------------------------------------------------------------------------
// Event delivery

func (c *Context) dispatchLoop() {
	defer close(c.dispatchEnd)
	// Not locked to an OS thread while idle: waking a locked goroutine hands
	// work between threads at every event burst (measured: 3-4x more context
	// switches). deliver locks it only while callbacks run.
	b := &Batch{}
	for {
		if c.q.hasLogs() {
			c.deliverMu.Lock()
			c.deliverLogs()
			c.deliverMu.Unlock()
		}
		b.Events = c.q.pop(b.Events[:0], batchMax)
		if len(b.Events) == 0 {
			// Queue empty: yield once before parking, so that producers
			// that are already runnable (stream readers woken by the same
			// packet batch) push their events and the next batch is taken
			// without a park/wake-up pair. Costs nothing when nothing else
			// is runnable; measured on streams100 (~49 k small data
			// events): 6 % faster, 6 % less CPU (11 A/B pairs, 8 better).
			runtime.Gosched()
			b.Events = c.q.pop(b.Events[:0], batchMax)
		}
		if len(b.Events) == 0 {
			c.q.mu.Lock()
			closed := c.q.closed && len(c.q.items) == c.q.head && len(c.q.logs) == 0
			c.q.mu.Unlock()
			if closed {
				return
			}
			<-c.q.wake
			continue
		}
		c.deliverMu.Lock()
		c.recovered(func() { c.deliver(b) })
		c.deliverMu.Unlock()
	}
}

// ProcessEvents delivers up to max pending events on the calling thread
// (POLL mode). It returns the number delivered.
func (c *Context) ProcessEvents(max int) (int, error) {
	if c.cfg.DispatchMode != DispatchPoll {
		return 0, errf(ErrState, "process_events needs GOWT_DISPATCH_POLL")
	}
	if c.InCallback() || !c.deliverMu.TryLock() {
		return 0, errf(ErrBusy, "events are being delivered already")
	}
	defer c.deliverMu.Unlock()
	if c.destroyed {
		// The C bridge frees its batch memory once Destroy returns; a
		// thread that looked the context up before that must not deliver.
		return 0, errf(ErrClosed, "context destroyed")
	}
	return c.processLocked(max), nil
}

func (c *Context) processLocked(max int) int {
	if max <= 0 {
		max = int(^uint(0) >> 1)
	}
	b := &Batch{}
	n := 0
	c.deliverLogs()
	for n < max {
		b.Events = c.q.pop(b.Events[:0], min(batchMax, max-n))
		if len(b.Events) == 0 {
			break
		}
		c.recovered(func() { c.deliver(b) })
		n += len(b.Events)
	}
	return n
}

// InCallback reports whether the calling thread is running one of this
// context's callbacks.
func (c *Context) InCallback() bool {
	tid := c.deliverTid.Load()
	return tid != 0 && tid == int64(unix.Gettid())
}

func (c *Context) deliver(b *Batch) {
	b.Events = c.filter(b.Events)
	if len(b.Events) == 0 {
		return
	}
	// gowt.h: "After DEREGISTER the session handle is invalid (calls return
	// GOWT_ERR_NOT_FOUND)". The session leaves the registry before its
	// DEREGISTER callback runs, so no thread that learnt of the DEREGISTER
	// can still reach it (pop makes DEREGISTER the first event of a batch).
	if ev := &b.Events[0]; ev.Type == EvDeregister {
		c.mu.Lock()
		delete(c.sessions, ev.Sess.Handle)
		c.mu.Unlock()
	}
	if cap(b.Results) < len(b.Events) {
		b.Results = make([]int32, len(b.Events), batchMax)
	}
	b.Results = b.Results[:len(b.Events)]
	for i := range b.Events {
		b.Results[i] = 0
		if p := b.Events[i].Provide; p != nil {
			p.inCallback = true
		}
	}
	c.curBatch.Store(b)
	c.asDeliverer(func() { c.deliverer.Deliver(c, b) })
	c.curBatch.Store(nil)
	b.Pinner.Unpin()
	for i := range b.Events {
		c.afterDelivery(&b.Events[i], b.Results[i])
		b.Events[i] = Event{}
	}
}

// asDeliverer runs f (which runs callbacks) as the delivering thread:
// InCallback is true inside it, and a panic is recovered.
func (c *Context) asDeliverer(f func()) {
	// The thread must not change while callbacks run: InCallback compares it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c.deliverTid.Store(int64(unix.Gettid()))
	defer c.deliverTid.Store(0)
	defer func() {
		if r := recover(); r != nil {
			c.panicked(fmt.Sprintf("while delivering events: %v", r))
		}
	}()
	f()
}

func (c *Context) afterDelivery(ev *Event, result int32) {
	if ev.isData && ev.Stream != nil && ev.Sess.fc != nil {
		ev.Sess.fcDelivered(len(ev.Data))
	}
	if ev.pooled {
		c.putBuf(ev.Data)
	}
	switch ev.Type {
	case EvConnect:
		ev.Sess.connectResult(int(result))
	case EvProvideData, EvProvideDatagram:
		ev.Provide.inCallback = false
		close(ev.Provide.done)
	case EvPostDatagram:
		ev.Sess.dgQueued.Add(-1)
	case EvFree:
		if ev.Stream != nil {
			ev.Stream.forget()
		}
	case EvDeregister:
		c.mu.Lock()
		delete(c.sessions, ev.Sess.Handle)
		c.sessGone.Broadcast()
		c.mu.Unlock()
	}
}

// filter drops events that raced past their stream's FREE or their
// session's DEREGISTER (a reader may queue data while the session ends), so
// the application never hears of a stream or session after it let go.
func (c *Context) filter(evs []Event) []Event {
	n := 0
	for i := range evs {
		ev := &evs[i]
		if ev.Sess.deregSeen || (ev.Stream != nil && ev.Stream.freeSeen) {
			c.afterDelivery(ev, -1)
			continue
		}
		if ev.Type == EvFree && ev.Stream != nil {
			ev.Stream.freeSeen = true
		}
		if ev.Type == EvDeregister {
			ev.Sess.deregSeen = true
		}
		if n != i {
			evs[n] = *ev
		}
		n++
	}
	clear(evs[n:])
	return evs[:n]
}

// CurrentBatch is the batch being delivered on this thread, or nil.
func (c *Context) CurrentBatch() *Batch {
	if !c.InCallback() {
		return nil
	}
	return c.curBatch.Load()
}

// PollFD is the eventfd readable while events are pending (POLL mode).
func (c *Context) PollFD() (int, error) {
	if c.cfg.DispatchMode != DispatchPoll {
		return -1, errf(ErrState, "get_fd needs GOWT_DISPATCH_POLL")
	}
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	if c.q.efd < 0 {
		return -1, errf(ErrClosed, "context destroyed")
	}
	return c.q.efd, nil
}

// Pending is the number of events waiting for delivery.
func (c *Context) Pending() int { return c.q.pending() }

func (c *Context) getBuf() []byte { return *(c.bufPool.Get().(*[]byte)) }

func (c *Context) putBuf(b []byte) {
	b = b[:cap(b)]
	switch len(b) {
	case readBufSize:
		c.bufPool.Put(&b)
	case smallBufSizes[0]:
		c.smallBufs[0].Put(&b)
	case smallBufSizes[1]:
		c.smallBufs[1].Put(&b)
	}
}

// smallBufSizes are the pooled sizes a small read is copied into: a 2 KB
// read then pins 4 KiB, not 64, and makes no garbage.
var smallBufSizes = [2]int{4 << 10, 16 << 10}

// tinyRead is the largest read copied into a buffer of its own size.
const tinyRead = 512

// readBuf returns a buffer for n bytes read into a pooled read buffer: its
// own size for a tiny read, else the smallest pooled size that holds it.
func (c *Context) readBuf(n int) (b []byte, pooled bool) {
	if n <= tinyRead {
		return make([]byte, n), false
	}
	for i, size := range smallBufSizes {
		if n <= size {
			return (*(c.smallBufs[i].Get().(*[]byte)))[:n], true
		}
	}
	return nil, false
}

// ---------------------------------------------------------------------------
// Destroy

// Destroy closes every session, delivers the remaining end events, closes
// connections and listeners, and returns when all of that is done.
func (c *Context) Destroy() error {
	if c.InCallback() {
		return errf(ErrBusy, "gowt_ctx_destroy called from inside a callback")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errf(ErrNotFound, "context already destroyed")
	}
	c.closed = true
	var sessions []*Session
	for _, s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()

	for _, s := range sessions {
		s.closeFor("context destroyed")
	}
	// Deliver the end events: POLL mode here, THREAD mode on the dispatcher.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		left := len(c.sessions)
		c.mu.Unlock()
		if left == 0 || time.Now().After(deadline) {
			break
		}
		if c.cfg.DispatchMode == DispatchPoll {
			c.deliverMu.Lock()
			c.processLocked(0)
			c.deliverMu.Unlock()
		}
		time.Sleep(time.Millisecond)
	}
	// Let close capsules leave before the connections go.
	waitTimeout(&c.closers, time.Second)

	c.mu.Lock()
	lns := c.listeners
	c.listeners = nil
	var conns []*wtConn
	for wc := range c.conns {
		conns = append(conns, wc)
	}
	c.mu.Unlock()
	for _, wc := range conns {
		wc.qc.CloseWithError(0, "")
	}
	for _, l := range lns {
		l.close()
	}
	if c.h3 != nil {
		_ = c.h3.Close()
	}
	if c.clientTr != nil {
		_ = c.clientTr.Close()
	}
	waitTimeout(&c.wg, 2*time.Second)
	// The connections are closed, so writes return at once; the wait has
	// no deadline because returning sooner would let quic-go read memory
	// the application frees after gowt_ctx_destroy.
	for c.refWriters.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	c.q.close()
	if c.dispatchEnd != nil {
		<-c.dispatchEnd
	} else {
		c.deliverMu.Lock()
		c.processLocked(0)
		c.destroyed = true
		c.deliverMu.Unlock()
	}
	c.q.closeFD()
	if c.keylog != nil {
		_ = c.keylog.Close()
	}
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { defer close(done); defer func() { _ = recover() }(); wg.Wait() }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// recovered runs f, turning a panic into the context's last error: a panic
// in any goroutine would abort the host process.
func (c *Context) recovered(f func()) {
	defer func() {
		if r := recover(); r != nil {
			c.panicked(r)
		}
	}()
	f()
}

// panicked records a recovered panic: the host keeps running, and the
// application hears of it through the last error and the log.
func (c *Context) panicked(r any) {
	msg := fmt.Sprintf("internal panic: %v", r)
	c.SetLastError(msg)
	c.logf(LogError, compCore, "%s\n%s", msg, debug.Stack())
}

// guardedQlog runs quic-go's qlog writer loop; a panic there loses the
// trace, never the host process.
func guardedQlog(run func()) {
	defer func() { _ = recover() }()
	run()
}

// goSafe runs f in a tracked goroutine that can never crash the host.
func (c *Context) goSafe(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				c.panicked(r)
			}
		}()
		f()
	}()
}

func (c *Context) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func udpListen(host string, port int) (*net.UDPConn, error) {
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", addr)
}
