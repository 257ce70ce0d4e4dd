package core

import (
	"sync"

	"golang.org/x/sys/unix"
)

// EventType values are the public gowt_event_type values (frozen).
type EventType int

const (
	EvConnecting       EventType = 1
	EvConnect          EventType = 2
	EvConnectAccepted  EventType = 3
	EvConnectRefused   EventType = 4
	EvPostData         EventType = 5
	EvPostFin          EventType = 6
	EvProvideData      EventType = 7
	EvPostDatagram     EventType = 8
	EvProvideDatagram  EventType = 9
	EvReset            EventType = 10
	EvStopSending      EventType = 11
	EvClose            EventType = 12
	EvDrain            EventType = 13
	EvDeregister       EventType = 14
	EvFree             EventType = 15
	EvStreamWritable   EventType = 16
	EvDatagramWritable EventType = 17
	EvStreamOpened     EventType = 18
	EvStreamsAvailable EventType = 19 // see credit.go
	EvSendComplete     EventType = 20 // a SendRef's buffer is released
)

var eventNames = map[EventType]string{
	EvConnecting: "CONNECTING", EvConnect: "CONNECT", EvConnectAccepted: "CONNECT_ACCEPTED",
	EvConnectRefused: "CONNECT_REFUSED", EvPostData: "POST_DATA", EvPostFin: "POST_FIN",
	EvProvideData: "PROVIDE_DATA", EvPostDatagram: "POST_DATAGRAM", EvProvideDatagram: "PROVIDE_DATAGRAM",
	EvReset: "RESET", EvStopSending: "STOP_SENDING", EvClose: "CLOSE", EvDrain: "DRAIN",
	EvDeregister: "DEREGISTER", EvFree: "FREE", EvStreamWritable: "STREAM_WRITABLE",
	EvDatagramWritable: "DATAGRAM_WRITABLE", EvStreamOpened: "STREAM_OPENED",
	EvStreamsAvailable: "STREAMS_AVAILABLE", EvSendComplete: "SEND_COMPLETE",
}

func (t EventType) String() string {
	if s, ok := eventNames[t]; ok {
		return s
	}
	return "UNKNOWN"
}

// Event flag bits (public GOWT_CLOSE_* / GOWT_STREAM_*).
const (
	FlagCloseLocal  = 0x1
	FlagCloseRemote = 0x2
	FlagCloseError  = 0x4
	FlagStreamBidi  = 0x10
	FlagStreamLocal = 0x20
	// FlagCodeRaw: Code is a wire code as received (outside WebTransport's
	// application range, or an HTTP/3 / QUIC code that ended the session),
	// not a 32-bit application code.
	FlagCodeRaw = 0x40
	// FlagSendCanceled: SEND_COMPLETE of a buffer not all of whose bytes
	// were handed to QUIC (reset, STOP_SENDING, failure).
	FlagSendCanceled = 0x80
)

// NoID marks an unknown session or stream ID.
const NoID = ^uint64(0)

// Event is one thing that happened in a session. Data belongs to the library
// and is valid until the batch holding the event has been delivered.
type Event struct {
	Type     EventType
	Flags    int
	Sess     *Session
	Stream   *Stream // nil for session events
	StreamID uint64
	Data     []byte
	Code     uint64
	Request  *ConnectRequest
	Protocol string
	Provide  *ProvideReq
	// PeerCertHash: CONNECT (the client's certificate, if it sent one) and
	// CONNECT_ACCEPTED (the server's): SHA-256 of the leaf certificate.
	PeerCertHash *[32]byte
	// Ref: SEND_COMPLETE, the buffer of a Stream.SendRef now released.
	Ref *SendRef

	pooled bool // Data is a pooled read buffer, returned after delivery
	isData bool // counts against the queue's data bound
	charge int  // bytes of the receive budget it holds (cap of Data)
}

// eventQueue is the context's FIFO of events. Stream data events are
// bounded in number (dataCap) and in bytes (byteCap, the receive budget;
// datagrams have their own per-session bound, datagram_recv_queue): stream readers reserve their buffer's size
// before reading and block while the budget is spent, which stops reading
// and lets QUIC flow control push back on the peer. Control events
// (close, reset, free...) are never refused: there is a bounded number of
// them per stream and session, and API calls made inside callbacks must never
// block on the consumer that is running them.
type eventQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	items    []Event
	head     int
	dataN    int
	dataCap  int
	bytes    int // receive budget held by queued events
	reserved int // receive budget reserved by readers that are reading
	byteCap  int
	closed   bool
	wake     chan struct{} // dispatcher wake-up (THREAD mode)
	efd      int           // eventfd, readable while events are pending (POLL mode)
	signaled bool

	logs        []LogEntry // log messages waiting (log.go), bounded by logQueueBytes
	logBytes    int
	logsDropped int
}

func newEventQueue(dataCap, byteCap int, pollMode bool) (*eventQueue, error) {
	q := &eventQueue{dataCap: dataCap, byteCap: byteCap, wake: make(chan struct{}, 1), efd: -1}
	q.cond = sync.NewCond(&q.mu)
	if pollMode {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return nil, err
		}
		q.efd = fd
	}
	return q, nil
}

func (q *eventQueue) signalLocked() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
	if q.efd >= 0 && !q.signaled {
		var one = [8]byte{1}
		_, _ = unix.Write(q.efd, one[:])
		q.signaled = true
	}
}

// push adds a control event; it never blocks.
func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.signalLocked()
	q.mu.Unlock()
}

// reserve waits for receive budget and reserves up to max bytes of it; 0
// when alive() turns false or the queue closes.
func (q *eventQueue) reserve(max int, alive func() bool) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for (q.dataN >= q.dataCap || q.bytes+q.reserved >= q.byteCap) && !q.closed && alive() {
		q.cond.Wait()
	}
	if q.closed || !alive() {
		return 0
	}
	r := min(max, q.byteCap-q.bytes-q.reserved)
	q.reserved += r
	return r
}

// unreserve returns reserved budget that a read did not use.
func (q *eventQueue) unreserve(n int) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	q.reserved -= n
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pushReserved queues a data event whose buffer (cap(ev.Data)) was
// reserved, moving that budget to the event until it is delivered. It
// waits while the count bound is reached; false (budget returned) when
// alive() turns false or the queue closes.
func (q *eventQueue) pushReserved(ev Event, alive func() bool) bool {
	ev.isData = true
	ev.charge = cap(ev.Data)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reserved -= ev.charge
	for q.dataN >= q.dataCap && !q.closed && alive() {
		q.cond.Wait()
	}
	if q.closed || !alive() {
		q.cond.Broadcast()
		return false
	}
	q.dataN++
	q.bytes += ev.charge
	q.items = append(q.items, ev)
	q.signalLocked()
	return true
}

// wakeWaiters re-checks blocked data producers (a stream or session ended).
func (q *eventQueue) wakeWaiters() {
	q.mu.Lock()
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pop moves up to max events into dst.
func (q *eventQueue) pop(dst []Event, max int) []Event {
	q.mu.Lock()
	n := len(q.items) - q.head
	if n > max {
		n = max
	}
	freed := 0
	for i := 0; i < n; i++ {
		ev := q.items[q.head+i]
		// A DEREGISTER always starts a batch: its session is forgotten
		// just before the batch is delivered (Context.deliver), and the
		// events before it in the queue still find their session.
		if i > 0 && ev.Type == EvDeregister {
			n = i
			break
		}
		if ev.isData {
			freed++
			q.bytes -= ev.charge
		}
		dst = append(dst, ev)
		q.items[q.head+i] = Event{}
	}
	q.head += n
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	} else if q.head > 1024 && q.head > len(q.items)/2 {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	if freed > 0 {
		q.dataN -= freed
		q.cond.Broadcast()
	}
	q.clearSignalLocked()
	q.mu.Unlock()
	return dst
}

// clearSignalLocked makes the eventfd unreadable once nothing is waiting.
func (q *eventQueue) clearSignalLocked() {
	if q.head == len(q.items) && len(q.logs) == 0 && q.efd >= 0 && q.signaled {
		var buf [8]byte
		_, _ = unix.Read(q.efd, buf[:])
		q.signaled = false
	}
}

// pending counts waiting events and log messages.
func (q *eventQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head + len(q.logs)
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) closeFD() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.efd >= 0 {
		_ = unix.Close(q.efd)
		q.efd = -1
	}
}
