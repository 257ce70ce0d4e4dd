// Command capi builds libgowt.so: the C API of include/gowt.h.
//
// Each Go export has an internal name (gowtgo_*); gowt.c defines the public
// gowt_* functions with the header's exact prototypes (const qualifiers that
// cgo cannot express) and forwards to them.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include <string.h>
#include "gowt.h"
#include "internal.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gowt/gowt/callbacks"
	"github.com/gowt/gowt/core"
	"golang.org/x/sys/unix"
)

func main() {}

var libVersion = fmt.Sprintf("libgowt %d.%d.%d", C.GOWT_VERSION_MAJOR, C.GOWT_VERSION_MINOR, C.GOWT_VERSION_PATCH)

// ---------------------------------------------------------------------------
// Plumbing shared by every export

// fail records err as the last error message of the calling thread and,
// when h is not nil, of h's context; it returns err's code.
func fail(h *callbacks.Handle, err error) C.int {
	msg := err.Error()
	if h != nil {
		h.Ctx.SetLastError(msg)
	}
	C.gowtc_set_thread_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
	return C.int(core.CodeOf(err))
}

func errNoCtx(ctxp C.uintptr_t) error {
	return &core.Error{Code: core.ErrNotFound, Msg: fmt.Sprintf("gowt_ctx %#x is unknown or destroyed", uintptr(ctxp))}
}

// guard runs f for a known context: it recovers panics (a panic must never
// reach the host), maps errors to codes and records the last error message.
//
// The context handle crosses as an integer (gowt.c casts it): a bogus small
// value the application passes (a stale or garbage gowt_ctx *) must never
// sit in a Go pointer slot, where the runtime's stack copying throws
// "invalid pointer found on stack" and kills the host (found by
// tests/misuse).
func guard(ctxp C.uintptr_t, f func(h *callbacks.Handle) error) (ret C.int) {
	var h *callbacks.Handle
	defer func() {
		if r := recover(); r != nil {
			ret = fail(h, errInternal(fmt.Sprintf("internal error: %v", r)))
		}
	}()
	h = callbacks.Lookup(uintptr(ctxp))
	if h == nil {
		return fail(nil, errNoCtx(ctxp))
	}
	if err := f(h); err != nil {
		return fail(h, err)
	}
	return 0
}

// protect recovers panics of exports that have no context.
func protect(ret *C.int) {
	if r := recover(); r != nil {
		*ret = fail(nil, errInternal(fmt.Sprintf("internal error: %v", r)))
	}
}

func errArg(format string, a ...any) error {
	return &core.Error{Code: core.ErrInvalidArg, Msg: fmt.Sprintf(format, a...)}
}

func errInternal(msg string) error { return &core.Error{Code: core.ErrInternal, Msg: msg} }

func session(h *callbacks.Handle, s C.gowt_session_t) (*core.Session, error) {
	return h.Ctx.Session(uint64(s))
}

func stream(h *callbacks.Handle, s C.gowt_session_t, id C.uint64_t) (*core.Stream, error) {
	sess, err := session(h, s)
	if err != nil {
		return nil, err
	}
	return sess.Stream(uint64(id))
}

// putCStr writes s into a char[n] as a NUL-terminated string (cut to fit).
func putCStr(dst unsafe.Pointer, n int, s string) {
	b := unsafe.Slice((*byte)(dst), n)
	k := copy(b[:n-1], s)
	clear(b[k:])
}

func goStr(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

func splitList(p *C.char) []string {
	var out []string
	for _, part := range strings.Split(goStr(p), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func goBytes(p unsafe.Pointer, n C.size_t) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(n))
}

// cBytes is goBytes for a buffer address that crossed as an integer: with
// n == 0 the address may be anything (Rust's empty slice has 0x1), and it
// must never sit in a pointer-typed Go variable then (see gowt.c).
func cBytes(p C.uintptr_t, n C.size_t) []byte {
	if n == 0 || p == 0 {
		return nil
	}
	var ptr unsafe.Pointer
	*(*C.uintptr_t)(unsafe.Pointer(&ptr)) = p // a real address from here on
	return unsafe.Slice((*byte)(ptr), int(n))
}

func ms(v C.uint32_t) time.Duration { return time.Duration(v) * time.Millisecond }

var (
	staticMu   sync.Mutex
	staticStrs = map[string]*C.char{}
)

// static interns a string in C memory for the life of the process.
func static(s string) *C.char {
	staticMu.Lock()
	defer staticMu.Unlock()
	if p, ok := staticStrs[s]; ok {
		return p
	}
	p := C.CString(s)
	staticStrs[s] = p
	return p
}

// staticOr runs f under recover: the name functions return a string, not an
// error code, so a failure gives the fallback (never NULL, never a crash).
func staticOr(fallback string, f func() string) (p *C.char) {
	defer func() {
		if recover() != nil {
			p = static(fallback)
		}
	}()
	return static(f())
}

//export gowtgo_strerror
func gowtgo_strerror(code C.int) *C.char {
	return staticOr("unknown error", func() string { return core.Strerror(int(code)) })
}

var runtimeMu sync.Mutex

//export gowtgo_runtime_set_gc
func gowtgo_runtime_set_gc(limit C.int64_t, percent C.int, prevLimit *C.int64_t, prevPercent *C.int) (ret C.int) {
	defer protect(&ret)
	const keep = C.GOWT_RUNTIME_KEEP
	if (limit < 0 && limit != keep) || (percent < -1 && percent != keep) {
		return fail(nil, errArg("memory_limit %d / gc_percent %d out of range", limit, percent))
	}
	// debug.SetMemoryLimit with a negative value only reads the limit, and
	// math.MaxInt64 is "no limit"; SetGCPercent has no read-only form, so
	// it is set back when the caller keeps it.
	runtimeMu.Lock() // the read-and-restore of SetGCPercent below
	defer runtimeMu.Unlock()
	old := debug.SetMemoryLimit(-1)
	if limit != keep {
		l := int64(limit)
		if l == 0 {
			l = math.MaxInt64
		}
		debug.SetMemoryLimit(l)
	}
	var oldPercent int
	if percent != keep {
		oldPercent = debug.SetGCPercent(int(percent))
	} else {
		oldPercent = debug.SetGCPercent(100)
		debug.SetGCPercent(oldPercent)
	}
	if prevLimit != nil {
		if old == math.MaxInt64 {
			old = 0
		}
		*prevLimit = C.int64_t(old)
	}
	if prevPercent != nil {
		*prevPercent = C.int(oldPercent)
	}
	return 0
}

//export gowtgo_event_name
func gowtgo_event_name(t C.int) *C.char {
	return staticOr("UNKNOWN", func() string { return core.EventType(t).String() })
}

// ---------------------------------------------------------------------------
// Configuration

// defaultDecisionTimeout is connect_decision_timeout_ms's default.
const defaultDecisionTimeout = 10 * time.Second

// gowtgo_init_struct fills a sized struct with defaults (the
// gowt_*_init_sized functions). legacy: the 0.1.0 symbols (gowt_config_init
// & co.), called only by programs built against the 0.1.0 header, whose
// structs are (at least) the 0.1.0 layout.
//
//export gowtgo_init_struct
func gowtgo_init_struct(kind C.int, p unsafe.Pointer, size C.size_t, legacy C.int) (ret C.int) {
	defer protect(&ret)
	var l *layout
	var src unsafe.Pointer
	switch kind {
	case C.GOWT_SIZED_CONFIG:
		var cfg C.gowt_config
		defaultConfig(&cfg)
		l, src = configLayout, unsafe.Pointer(&cfg)
	case C.GOWT_SIZED_PATH_OPTIONS:
		var o C.gowt_path_options
		l, src = pathOptionsLayout, unsafe.Pointer(&o)
	case C.GOWT_SIZED_CONNECT_OPTIONS:
		var o C.gowt_connect_options
		l, src = connectOptionsLayout, unsafe.Pointer(&o)
	default:
		return fail(nil, errInternal("unknown sized struct"))
	}
	n := uintptr(size)
	if legacy != 0 {
		n = l.min
	}
	if err := l.init(p, n, src); err != nil {
		return fail(nil, err)
	}
	return 0
}

// defaultConfig sets the documented defaults of gowt_config_init.
func defaultConfig(cfg *C.gowt_config) {
	d := core.DefaultConfig()
	cfg.dispatch_mode = C.int(d.DispatchMode)
	cfg.idle_timeout_ms = C.uint32_t(d.IdleTimeout / time.Millisecond)
	cfg.handshake_timeout_ms = C.uint32_t(d.HandshakeTimeout / time.Millisecond)
	cfg.connect_response_timeout_ms = C.uint32_t(d.ConnectResponseTimeout / time.Millisecond)
	cfg.max_sessions = C.uint32_t(d.MaxSessions)
	cfg.max_incoming_streams_bidi = C.uint32_t(d.MaxIncomingBidi)
	cfg.max_incoming_streams_uni = C.uint32_t(d.MaxIncomingUni)
	cfg.max_incoming_data = C.uint64_t(d.MaxIncomingData)
	cfg.stream_send_buffer = C.size_t(d.StreamSendBuffer)
	cfg.datagram_recv_queue = C.uint32_t(d.DatagramRecvQueue)
	cfg.datagram_send_queue = C.uint32_t(d.DatagramSendQueue)
	cfg.event_queue_depth = C.uint32_t(d.EventQueueDepth)
	cfg.connect_decision_timeout_ms = C.uint32_t(defaultDecisionTimeout / time.Millisecond)
	cfg.recv_buffer_bytes = C.uint64_t(d.RecvBufferBytes)
	cfg.stream_recv_window = C.uint64_t(d.StreamRecvWindow)
	cfg.max_stream_recv_window = C.uint64_t(d.MaxStreamRecvWindow)
	cfg.conn_recv_window = C.uint64_t(d.ConnRecvWindow)
	cfg.max_conn_recv_window = C.uint64_t(d.MaxConnRecvWindow)
}

// goConfig converts a library-sized copy of the caller's config (fields the
// caller does not have are zero: defaults) into core's config and the
// bridge's options.
func goConfig(cfg *C.gowt_config) (core.Config, callbacks.Options, error) {
	c := core.DefaultConfig()
	o := callbacks.Options{DecisionTimeout: defaultDecisionTimeout}
	if cfg.connect_decision_timeout_ms != 0 {
		o.DecisionTimeout = ms(cfg.connect_decision_timeout_ms)
	}
	// A config of the 0.1.0 layout comes from a program built against the
	// 0.1.0 header, where GOWT_CONNECT_DEFER was 1.
	o.LegacyDefer = !has(uint32(cfg.struct_size), unsafe.Offsetof(cfg.connect_decision_timeout_ms),
		unsafe.Sizeof(cfg.connect_decision_timeout_ms))
	c, err := goCoreConfig(cfg, c)
	return c, o, err
}

func goCoreConfig(cfg *C.gowt_config, c core.Config) (core.Config, error) {
	if cfg.pinned_cert_hash_count > 0 && cfg.pinned_cert_hashes == nil {
		return c, errArg("pinned_cert_hashes is NULL but pinned_cert_hash_count is %d", cfg.pinned_cert_hash_count)
	}
	if cfg.pinned_cert_hash_count > 1024 {
		return c, errArg("too many pinned certificate hashes")
	}
	c.DispatchMode = int(cfg.dispatch_mode)
	c.CertFile, c.KeyFile = goStr(cfg.cert_file), goStr(cfg.key_file)
	if cfg.cert_pem != nil {
		c.CertPEM = []byte(goStr(cfg.cert_pem))
	}
	if cfg.key_pem != nil {
		c.KeyPEM = []byte(goStr(cfg.key_pem))
	}
	if cfg.cert_hostnames != nil {
		c.CertHostnames = splitList(cfg.cert_hostnames)
	}
	c.CAFile = goStr(cfg.ca_file)
	pins := goBytes(unsafe.Pointer(cfg.pinned_cert_hashes), cfg.pinned_cert_hash_count*32)
	for i := 0; i+32 <= len(pins); i += 32 {
		var h [32]byte
		copy(h[:], pins[i:i+32])
		c.PinnedHashes = append(c.PinnedHashes, h)
	}
	c.Insecure = cfg.insecure_skip_verify != 0
	if cfg.idle_timeout_ms != 0 {
		c.IdleTimeout = ms(cfg.idle_timeout_ms)
	}
	c.KeepAlive = ms(cfg.keep_alive_ms)
	if cfg.handshake_timeout_ms != 0 {
		c.HandshakeTimeout = ms(cfg.handshake_timeout_ms)
	}
	if cfg.connect_response_timeout_ms != 0 {
		c.ConnectResponseTimeout = ms(cfg.connect_response_timeout_ms)
	}
	if cfg.max_sessions != 0 {
		c.MaxSessions = int(cfg.max_sessions)
	}
	if cfg.max_incoming_streams_bidi != 0 {
		c.MaxIncomingBidi = int64(cfg.max_incoming_streams_bidi)
	}
	if cfg.max_incoming_streams_uni != 0 {
		c.MaxIncomingUni = int64(cfg.max_incoming_streams_uni)
	}
	if cfg.max_incoming_data > 1<<62-1 {
		return c, errArg("max_incoming_data too large")
	}
	c.MaxIncomingData = int64(cfg.max_incoming_data)
	if cfg.stream_send_buffer != 0 {
		if cfg.stream_send_buffer > 1<<30 {
			return c, errArg("stream_send_buffer larger than 1 GiB")
		}
		c.StreamSendBuffer = int(cfg.stream_send_buffer)
	}
	if cfg.datagram_recv_queue != 0 {
		c.DatagramRecvQueue = int(cfg.datagram_recv_queue)
	}
	if cfg.datagram_send_queue != 0 {
		c.DatagramSendQueue = int(cfg.datagram_send_queue)
	}
	if cfg.event_queue_depth != 0 {
		c.EventQueueDepth = int(cfg.event_queue_depth)
	}
	if cfg.recv_buffer_bytes != 0 {
		if cfg.recv_buffer_bytes > 1<<40 {
			return c, errArg("recv_buffer_bytes larger than 1 TiB")
		}
		c.RecvBufferBytes = int(cfg.recv_buffer_bytes)
	}
	for _, w := range []struct {
		v   C.uint64_t
		dst *uint64
	}{{cfg.stream_recv_window, &c.StreamRecvWindow}, {cfg.max_stream_recv_window, &c.MaxStreamRecvWindow},
		{cfg.conn_recv_window, &c.ConnRecvWindow}, {cfg.max_conn_recv_window, &c.MaxConnRecvWindow}} {
		if w.v > 1<<40 {
			return c, errArg("QUIC receive windows must be at most 1 TiB")
		}
		if w.v != 0 {
			*w.dst = uint64(w.v)
		}
	}
	c.QlogDir = goStr(cfg.qlog_dir)
	c.KeylogFile = goStr(cfg.keylog_file)
	c.WWWDir = goStr(cfg.www_dir)
	c.ClientCertFile, c.ClientKeyFile = goStr(cfg.client_cert_file), goStr(cfg.client_key_file)
	if cfg.client_cert_pem != nil {
		c.ClientCertPEM = []byte(goStr(cfg.client_cert_pem))
	}
	if cfg.client_key_pem != nil {
		c.ClientKeyPEM = []byte(goStr(cfg.client_key_pem))
	}
	c.ClientCAFile = goStr(cfg.client_ca_file)
	c.ClientAuth = int(cfg.client_auth)
	c.DisableResumption = cfg.disable_resumption != 0
	return c, nil
}

// ---------------------------------------------------------------------------
// Context

//export gowtgo_ctx_create
func gowtgo_ctx_create(cfg *C.gowt_config, out **C.gowt_ctx) (ret C.int) {
	defer protect(&ret)
	if out == nil {
		return fail(nil, errArg("gowt_ctx_create: out is NULL"))
	}
	*out = nil
	c, o := core.DefaultConfig(), callbacks.Options{DecisionTimeout: defaultDecisionTimeout}
	if cfg != nil {
		p, err := configLayout.read(unsafe.Pointer(cfg))
		if err != nil {
			return fail(nil, err)
		}
		c, o, err = goConfig((*C.gowt_config)(p))
		C.free(p)
		if err != nil {
			return fail(nil, err)
		}
	}
	h, err := callbacks.NewHandle(c, o)
	if err != nil {
		return fail(nil, err)
	}
	*out = (*C.gowt_ctx)(h.Ptr)
	return 0
}

//export gowtgo_ctx_destroy
func gowtgo_ctx_destroy(ctxp C.uintptr_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if err := h.Ctx.Destroy(); err != nil {
			return err
		}
		h.Release()
		return nil
	})
}

//export gowtgo_ctx_last_error
func gowtgo_ctx_last_error(ctxp C.uintptr_t, buf *C.char, n C.size_t) (ret C.int) {
	defer protect(&ret)
	h := callbacks.Lookup(uintptr(ctxp))
	switch {
	case h == nil:
		return fail(nil, errNoCtx(ctxp))
	case buf == nil || n == 0:
		return fail(nil, errArg("gowt_ctx_last_error: buf is NULL or len is 0"))
	}
	msg := h.Ctx.LastError()
	// Only what is written is sliced: len may be any size_t.
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(min(n, C.size_t(len(msg)+1))))
	k := copy(dst[:len(dst)-1], msg)
	dst[k] = 0
	if k < len(msg) {
		return C.int(core.ErrRange)
	}
	return C.int(len(msg))
}

//export gowtgo_ctx_get_fd
func gowtgo_ctx_get_fd(ctxp C.uintptr_t, fd *C.int) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if fd == nil {
			return errArg("fd is NULL")
		}
		v, err := h.Ctx.PollFD()
		if err != nil {
			return err
		}
		*fd = C.int(v)
		return nil
	})
}

//export gowtgo_ctx_process_events
func gowtgo_ctx_process_events(ctxp C.uintptr_t, max C.int) C.int {
	n := 0
	ret := guard(ctxp, func(h *callbacks.Handle) (err error) {
		n, err = h.Ctx.ProcessEvents(int(max))
		return err
	})
	if ret != 0 {
		return ret
	}
	return C.int(n)
}

//export gowtgo_ctx_wait
func gowtgo_ctx_wait(ctxp C.uintptr_t, timeout C.int) C.int {
	ready := 0
	ret := guard(ctxp, func(h *callbacks.Handle) error {
		if timeout < -1 {
			return errArg("timeout_ms is %d: -1 (no limit) or >= 0", timeout)
		}
		if h.Ctx.InCallback() {
			return &core.Error{Code: core.ErrBusy, Msg: "gowt_ctx_wait called from inside a callback of the same context"}
		}
		fd, err := h.Ctx.PollFD()
		if err != nil {
			return err
		}
		var end time.Time
		if timeout >= 0 {
			end = time.Now().Add(time.Duration(timeout) * time.Millisecond)
		}
		for {
			if h.Ctx.Pending() > 0 {
				ready = 1
				return nil
			}
			wait := -1
			if timeout >= 0 {
				left := time.Until(end)
				if left < 0 {
					left = 0
				}
				wait = int((left + time.Millisecond - 1) / time.Millisecond)
			}
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, wait)
			switch {
			case errors.Is(err, unix.EINTR):
				continue // signals (the Go runtime's too) do not end the wait
			case err != nil:
				return errInternal("poll: " + err.Error())
			case n == 0:
				if timeout >= 0 && time.Until(end) <= 0 {
					return nil // timed out
				}
			case fds[0].Revents&unix.POLLNVAL != 0:
				return &core.Error{Code: core.ErrClosed, Msg: "context destroyed while waiting"}
			default:
				ready = 1
				return nil
			}
		}
	})
	if ret != 0 {
		return ret
	}
	return C.int(ready)
}

//export gowtgo_ctx_set_log
func gowtgo_ctx_set_log(ctxp C.uintptr_t, level C.int, cb, app C.uintptr_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if level < core.LogOff || level > core.LogDebug {
			return errArg("log level %d is not GOWT_LOG_OFF (0) .. GOWT_LOG_DEBUG (4)", level)
		}
		if cb == 0 {
			level = core.LogOff
		}
		h.SetLog(uintptr(cb), uintptr(app))
		return h.Ctx.SetLogLevel(int(level))
	})
}

//export gowtgo_ctx_cert_hash
func gowtgo_ctx_cert_hash(ctxp C.uintptr_t, out *C.uint8_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if out == nil {
			return errArg("out is NULL")
		}
		sum, err := h.Ctx.CertHash()
		if err != nil {
			return err
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(out)), 32), sum[:])
		return nil
	})
}

// ---------------------------------------------------------------------------
// Server

//export gowtgo_server_listen
func gowtgo_server_listen(ctxp C.uintptr_t, host *C.char, port C.uint16_t, bound *C.uint16_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		p, err := h.Ctx.Listen(goStr(host), int(port))
		if err != nil {
			return err
		}
		if bound != nil {
			*bound = C.uint16_t(p)
		}
		return nil
	})
}

//export gowtgo_server_register
func gowtgo_server_register(ctxp C.uintptr_t, path *C.char, cb, app C.uintptr_t, op *C.gowt_path_options) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if path == nil || cb == 0 {
			return errArg("path and callback must not be NULL")
		}
		var opts core.PathOptions
		if op != nil {
			p, err := pathOptionsLayout.read(unsafe.Pointer(op))
			if err != nil {
				return err
			}
			defer C.free(p)
			o := (*C.gowt_path_options)(p)
			if o.allowed_origins != nil {
				opts.AllowedOrigins = splitList(o.allowed_origins)
			}
			opts.Protocols = splitList(o.protocols)
		}
		return h.Ctx.Register(goStr(path), callbacks.CallbackValue(uintptr(cb)), uintptr(app), opts)
	})
}

//export gowtgo_server_unregister
func gowtgo_server_unregister(ctxp C.uintptr_t, path *C.char) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if path == nil {
			return errArg("path is NULL")
		}
		return h.Ctx.Unregister(goStr(path))
	})
}

// ---------------------------------------------------------------------------
// Client

func cStrings(arr **C.char, n C.size_t) ([]string, error) {
	if n == 0 {
		return nil, nil
	}
	if arr == nil || n > 1000 {
		return nil, errArg("header arrays are NULL or too long")
	}
	var out []string
	for _, p := range unsafe.Slice(arr, int(n)) {
		if p == nil {
			return nil, errArg("NULL header name or value")
		}
		out = append(out, C.GoString(p))
	}
	return out, nil
}

//export gowtgo_connect
func gowtgo_connect(ctxp C.uintptr_t, url *C.char, op *C.gowt_connect_options, cb, app C.uintptr_t, out *C.gowt_session_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if url == nil || cb == 0 || out == nil {
			return errArg("url, callback and out must not be NULL")
		}
		var opts core.ConnectOptions
		if op != nil {
			p, err := connectOptionsLayout.read(unsafe.Pointer(op))
			if err != nil {
				return err
			}
			defer C.free(p)
			o := (*C.gowt_connect_options)(p)
			opts.Protocols = splitList(o.protocols)
			if opts.HeaderNames, err = cStrings((**C.char)(unsafe.Pointer(o.header_names)), o.header_count); err != nil {
				return err
			}
			if opts.HeaderValues, err = cStrings((**C.char)(unsafe.Pointer(o.header_values)), o.header_count); err != nil {
				return err
			}
			opts.SNI, opts.Authority, opts.Origin = goStr(o.sni), goStr(o.authority), goStr(o.origin)
			opts.NewConnection = o.new_connection != 0
		}
		s, err := h.Ctx.Connect(goStr(url), opts, callbacks.CallbackValue(uintptr(cb)), uintptr(app))
		if err != nil {
			return err
		}
		*out = C.gowt_session_t(s.Handle)
		return nil
	})
}

// ---------------------------------------------------------------------------
// Sessions

//export gowtgo_session_accept
func gowtgo_session_accept(ctxp C.uintptr_t, s C.gowt_session_t, proto *C.char) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		return sess.Accept(goStr(proto))
	})
}

//export gowtgo_session_refuse
func gowtgo_session_refuse(ctxp C.uintptr_t, s C.gowt_session_t, status C.int) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		return sess.Refuse(int(status))
	})
}

//export gowtgo_session_close
func gowtgo_session_close(ctxp C.uintptr_t, s C.gowt_session_t, code C.uint32_t, reason *C.char, n C.size_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if reason == nil && n > 0 {
			return errArg("reason is NULL but reason_len is %d", n)
		}
		if n > 1024 {
			return &core.Error{Code: core.ErrTooLarge, Msg: fmt.Sprintf("reason is %d bytes, at most 1024", n)}
		}
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		return sess.Close(uint32(code), string(goBytes(unsafe.Pointer(reason), n)))
	})
}

//export gowtgo_session_drain
func gowtgo_session_drain(ctxp C.uintptr_t, s C.gowt_session_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		return sess.Drain()
	})
}

//export gowtgo_session_set_app_ctx
func gowtgo_session_set_app_ctx(ctxp C.uintptr_t, s C.gowt_session_t, app C.uintptr_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		sess.SetAppCtx(uintptr(app))
		h.PatchCtx(sess, nil, uintptr(app))
		return nil
	})
}

//export gowtgo_session_get_id
func gowtgo_session_get_id(ctxp C.uintptr_t, s C.gowt_session_t, id *C.uint64_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if id == nil {
			return errArg("id is NULL")
		}
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		w := sess.WireID()
		if w == core.NoID {
			return &core.Error{Code: core.ErrState, Msg: "CONNECT stream not opened yet"}
		}
		*id = C.uint64_t(w)
		return nil
	})
}

//export gowtgo_session_get_info
func gowtgo_session_get_info(ctxp C.uintptr_t, s C.gowt_session_t, out *C.gowt_session_info) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if out == nil {
			return errArg("info is NULL")
		}
		if err := sessionInfoLayout.checkSize(uintptr(out.struct_size)); err != nil {
			return err
		}
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		var info C.gowt_session_info
		info.session_id = C.uint64_t(sess.WireID())
		info.max_datagram_size = C.size_t(sess.MaxDatagram())
		info.datagrams_sent = C.uint64_t(sess.DatagramsSent.Load())
		info.datagrams_received = C.uint64_t(sess.DatagramsReceived.Load())
		info.datagrams_dropped_send = C.uint64_t(sess.DatagramsDroppedSend.Load())
		info.datagrams_dropped_recv = C.uint64_t(sess.DatagramsDroppedRx.Load())
		info.bytes_sent = C.uint64_t(sess.BytesSent.Load())
		info.bytes_received = C.uint64_t(sess.BytesReceived.Load())
		info.flow_control = 0
		if sess.FlowControl() {
			info.flow_control = 1
		}
		info.shared_connection = info.flow_control
		ci := sess.ConnInfo()
		us := func(d time.Duration) C.uint64_t { return C.uint64_t(d / time.Microsecond) }
		info.rtt_smoothed_us, info.rtt_min_us = us(ci.SmoothedRTT), us(ci.MinRTT)
		info.rtt_latest_us, info.rtt_variance_us = us(ci.LatestRTT), us(ci.RTTVariance)
		info.congestion_window = C.uint64_t(ci.CongestionWindow)
		info.conn_bytes_sent, info.conn_packets_sent = C.uint64_t(ci.BytesSent), C.uint64_t(ci.PacketsSent)
		info.conn_bytes_received, info.conn_packets_received = C.uint64_t(ci.BytesReceived), C.uint64_t(ci.PacketsReceived)
		info.conn_bytes_lost, info.conn_packets_lost = C.uint64_t(ci.BytesLost), C.uint64_t(ci.PacketsLost)
		info.conn_sessions = C.uint32_t(ci.Sessions)
		if ci.TLSResumed {
			info.tls_resumed = 1
		}
		putCStr(unsafe.Pointer(&info.peer_addr[0]), len(info.peer_addr), ci.PeerAddr)
		putCStr(unsafe.Pointer(&info.local_addr[0]), len(info.local_addr), ci.LocalAddr)
		if ci.HasPeerCert {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&info.peer_cert_sha256[0])), 32), ci.PeerCertHash[:])
			info.has_peer_cert = 1
		}
		sessionInfoLayout.write(unsafe.Pointer(out), unsafe.Pointer(&info))
		return nil
	})
}

// ---------------------------------------------------------------------------
// Streams

//export gowtgo_create_local_stream
func gowtgo_create_local_stream(ctxp C.uintptr_t, s C.gowt_session_t, bidi C.int, sctx C.uintptr_t, id *C.uint64_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if id == nil {
			return errArg("stream_id is NULL")
		}
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		st, err := sess.OpenStream(bidi != 0, uintptr(sctx))
		if err != nil {
			return err
		}
		*id = C.uint64_t(st.ID)
		return nil
	})
}

// sendStream checks a push send's buffer arguments and finds its stream.
func sendStream(h *callbacks.Handle, s C.gowt_session_t, id C.uint64_t, data C.uintptr_t, n C.size_t) (*core.Stream, error) {
	if data == 0 && n > 0 {
		return nil, errArg("data is NULL but len is %d", n)
	}
	if n > 1<<30 {
		return nil, &core.Error{Code: core.ErrTooLarge, Msg: "len larger than 1 GiB"}
	}
	return stream(h, s, id)
}

//export gowtgo_stream_send
func gowtgo_stream_send(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, data C.uintptr_t, n C.size_t, fin C.int) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := sendStream(h, s, id, data, n)
		if err != nil {
			return err
		}
		return st.Send(cBytes(data, n), fin != 0)
	})
}

//export gowtgo_stream_send_nocopy
func gowtgo_stream_send_nocopy(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, data C.uintptr_t, n C.size_t, fin C.int, sendCtx C.uintptr_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := sendStream(h, s, id, data, n)
		if err != nil {
			return err
		}
		// The library reads the caller's C memory until SEND_COMPLETE: a
		// slice over it is allowed (it is not Go memory; cgo's rules
		// constrain Go pointers held by C, not this).
		ref := &core.SendRef{Ptr: uintptr(data), Len: int(n), Ctx: uintptr(sendCtx)}
		return st.SendRef(cBytes(data, n), fin != 0, ref)
	})
}

//export gowtgo_stream_mark_active
func gowtgo_stream_mark_active(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, active C.int) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := stream(h, s, id)
		if err != nil {
			return err
		}
		return st.MarkActive(active != 0)
	})
}

func provide(ctxp C.uintptr_t, ev *C.gowt_event, want core.EventType, n C.size_t, fin, more bool, buf **C.uint8_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if ev == nil || buf == nil {
			return errArg("ev and buf must not be NULL")
		}
		*buf = nil
		req, b := h.ProvideFor(uint64(ev.token), want)
		if req == nil {
			return &core.Error{Code: core.ErrState, Msg: "not inside the callback of that PROVIDE event"}
		}
		if n > C.size_t(req.Max) {
			return &core.Error{Code: core.ErrTooLarge, Msg: fmt.Sprintf("%d bytes exceed the %d offered", n, req.Max)}
		}
		out, err := req.Answer(int(n), fin, more)
		if err != nil {
			return err
		}
		if len(out) > 0 {
			p := unsafe.SliceData(out)
			b.Pinner.Pin(p) // C writes into it until the callback returns
			*buf = (*C.uint8_t)(unsafe.Pointer(p))
		}
		return nil
	})
}

//export gowtgo_provide_stream_data
func gowtgo_provide_stream_data(ctxp C.uintptr_t, ev *C.gowt_event, n C.size_t, fin C.int, still C.int, buf **C.uint8_t) C.int {
	return provide(ctxp, ev, core.EvProvideData, n, fin != 0, still != 0, buf)
}

//export gowtgo_stream_reset
func gowtgo_stream_reset(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, code C.uint32_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := stream(h, s, id)
		if err != nil {
			return err
		}
		return st.Reset(uint32(code))
	})
}

//export gowtgo_stream_stop_sending
func gowtgo_stream_stop_sending(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, code C.uint32_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := stream(h, s, id)
		if err != nil {
			return err
		}
		return st.StopSending(uint32(code))
	})
}

//export gowtgo_stream_set_receive_enabled
func gowtgo_stream_set_receive_enabled(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, on C.int) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := stream(h, s, id)
		if err != nil {
			return err
		}
		return st.SetReceiveEnabled(on != 0)
	})
}

//export gowtgo_stream_set_priority
func gowtgo_stream_set_priority(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, order C.int64_t, group C.uint32_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := stream(h, s, id)
		if err != nil {
			return err
		}
		return st.SetPriority(int64(order), uint32(group))
	})
}

//export gowtgo_stream_set_ctx
func gowtgo_stream_set_ctx(ctxp C.uintptr_t, s C.gowt_session_t, id C.uint64_t, sctx C.uintptr_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		st, err := stream(h, s, id)
		if err != nil {
			if core.CodeOf(err) == core.ErrClosed { // the header promises NOT_FOUND
				return &core.Error{Code: core.ErrNotFound, Msg: err.Error()}
			}
			return err
		}
		st.SetAppCtx(uintptr(sctx))
		h.PatchCtx(nil, st, uintptr(sctx))
		return nil
	})
}

// ---------------------------------------------------------------------------
// Datagrams

//export gowtgo_send_datagram
func gowtgo_send_datagram(ctxp C.uintptr_t, s C.gowt_session_t, data C.uintptr_t, n C.size_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if data == 0 && n > 0 {
			return errArg("data is NULL but len is %d", n)
		}
		if n > 65535 {
			return &core.Error{Code: core.ErrTooLarge, Msg: "datagram larger than 65535 bytes"}
		}
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		return sess.SendDatagram(cBytes(data, n))
	})
}

//export gowtgo_set_datagram_ready
func gowtgo_set_datagram_ready(ctxp C.uintptr_t, s C.gowt_session_t, ready C.int) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		return sess.SetDatagramReady(ready != 0)
	})
}

//export gowtgo_provide_datagram
func gowtgo_provide_datagram(ctxp C.uintptr_t, ev *C.gowt_event, n C.size_t, more C.int, buf **C.uint8_t) C.int {
	return provide(ctxp, ev, core.EvProvideDatagram, n, false, more != 0, buf)
}

//export gowtgo_max_datagram_size
func gowtgo_max_datagram_size(ctxp C.uintptr_t, s C.gowt_session_t, out *C.size_t) C.int {
	return guard(ctxp, func(h *callbacks.Handle) error {
		if out == nil {
			return errArg("out is NULL")
		}
		sess, err := session(h, s)
		if err != nil {
			return err
		}
		*out = C.size_t(sess.MaxDatagram())
		return nil
	})
}
