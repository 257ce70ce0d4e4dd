// Package callbacks is the cgo bridge between core and C: it turns batches
// of core events into gowt_event arrays, runs the C callbacks for a whole
// batch in one crossing, and keeps the table of context handles.
package callbacks

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include <string.h>
#include "gowt.h"

// A batch lives in C memory: the cgo runtime then has no Go pointers to
// check or pin per event, and payloads are copied into one arena.
enum { GOWT_BATCH = 64 };
typedef struct gowt_batch_mem {
    gowt_event evs[GOWT_BATCH];
    uintptr_t cbs[GOWT_BATCH];
    int32_t results[GOWT_BATCH];
    int32_t cur; // the event whose callback runs now, or -1
    uint8_t *arena;
    size_t arena_cap;
} gowt_batch_mem;

static gowt_batch_mem *gowt_batch_new(void) { return calloc(1, sizeof(gowt_batch_mem)); }

static void gowt_batch_free(gowt_batch_mem *m) {
    if (m) free(m->arena);
    free(m);
}

// Makes the arena hold at least need bytes; NULL when out of memory.
static uint8_t *gowt_batch_arena(gowt_batch_mem *m, size_t need) {
    if (need > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 65536;
        while (cap < need) cap *= 2;
        uint8_t *a = realloc(m->arena, cap);
        if (!a) return NULL;
        m->arena = a;
        m->arena_cap = cap;
    }
    return m->arena;
}

// Runs every callback of a batch: one Go->C crossing for up to 64 events.
static void gowt_run_batch(gowt_ctx *ctx, gowt_batch_mem *m, int n) {
    for (int i = 0; i < n; i++) {
        gowt_session_cb cb = (gowt_session_cb)m->cbs[i];
        m->cur = i;
        m->results[i] = cb ? cb(ctx, &m->evs[i], m->evs[i].app_ctx) : 0;
    }
    m->cur = -1;
}

// Runs the log callback for n messages: one Go->C crossing.
static void gowt_run_logs(gowt_ctx *ctx, uintptr_t cb, uintptr_t app, int n, const int *levels,
                          char **comps, char **msgs) {
    gowt_log_cb f = (gowt_log_cb)cb;
    for (int i = 0; i < n; i++) f(ctx, levels[i], comps[i], msgs[i], (void *)app);
}

static gowt_connect_request *gowt_new_request(size_t nproto, size_t nhdr) {
    gowt_connect_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->protocols = calloc(nproto + 1, sizeof(char *));
    r->header_names = calloc(nhdr + 1, sizeof(char *));
    r->header_values = calloc(nhdr + 1, sizeof(char *));
    return r;
}

static void gowt_set_str(const char *const *arr, size_t i, char *s) { ((char **)arr)[i] = s; }

static void gowt_free_request(gowt_connect_request *r) {
    if (!r) return;
    free((void *)r->path); free((void *)r->query); free((void *)r->authority);
    free((void *)r->origin); free((void *)r->protocol);
    free((void *)r->peer_addr); free((void *)r->local_addr); free((void *)r->peer_cert_sha256);
    for (size_t i = 0; i < r->protocol_count; i++) free((void *)r->protocols[i]);
    for (size_t i = 0; i < r->header_count; i++) {
        free((void *)r->header_names[i]); free((void *)r->header_values[i]);
    }
    free((void *)r->protocols); free((void *)r->header_names); free((void *)r->header_values);
    free(r);
}
*/
import "C"

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gowt/gowt/core"
	pointer "github.com/mattn/go-pointer"
)

// Handle binds a core context to its C handle (gowt_ctx *).
type Handle struct {
	Ctx *core.Context
	Ptr unsafe.Pointer // the gowt_ctx * given to C

	mem      *C.gowt_batch_mem // C memory, reused for every batch
	cur      []C.gowt_event    // the batch being delivered (delivering thread only)
	requests []*C.gowt_connect_request
	protos   map[string]*C.char // interned sub-protocol names
	opts     Options
	log      atomic.Pointer[logTarget]
}

// logTarget is the C log callback of a context and its app pointer.
type logTarget struct{ cb, app uintptr }

// SetLog sets the C log callback (0: none).
func (h *Handle) SetLog(cb, app uintptr) {
	if cb == 0 {
		h.log.Store(nil)
		return
	}
	h.log.Store(&logTarget{cb, app})
}

// DeliverLogs implements core.Deliverer: the messages are copied into C
// memory for the call and freed after it.
func (h *Handle) DeliverLogs(c *core.Context, logs []core.LogEntry) {
	t := h.log.Load()
	if t == nil || len(logs) == 0 {
		return
	}
	n := len(logs)
	levels := (*C.int)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.int(0)))))
	comps := (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(uintptr(0)))))
	msgs := (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(levels))
	defer C.free(unsafe.Pointer(comps))
	defer C.free(unsafe.Pointer(msgs))
	if levels == nil || comps == nil || msgs == nil {
		return
	}
	ls, cs, ms := unsafe.Slice(levels, n), unsafe.Slice(comps, n), unsafe.Slice(msgs, n)
	for i, e := range logs {
		ls[i] = C.int(e.Level)
		cs[i] = h.proto(e.Component) // interned: a few fixed names
		ms[i] = C.CString(e.Message)
	}
	defer func() {
		for i := range ms {
			C.free(unsafe.Pointer(ms[i]))
		}
	}()
	C.gowt_run_logs((*C.gowt_ctx)(h.Ptr), C.uintptr_t(t.cb), C.uintptr_t(t.app), C.int(n), levels, comps, msgs)
}

// Options are the C-API-level settings of a context that core does not see.
type Options struct {
	// DecisionTimeout: a CONNECT deferred by its callback and still
	// undecided after this long is refused with 503.
	DecisionTimeout time.Duration
	// LegacyDefer: a CONNECT callback result of 1 also defers (the value of
	// GOWT_CONNECT_DEFER in the 0.1.0 header), for programs built against it.
	LegacyDefer bool
}

// coreDefer is core's internal "decide later" CONNECT result
// (core.Session.connectResult); C's GOWT_CONNECT_DEFER maps to it.
const coreDefer = 1

var handles sync.Map // uintptr(gowt_ctx *) -> *Handle (keys are integers: see capi guard)

// NewHandle creates a context whose callbacks are C functions.
func NewHandle(cfg core.Config, opts Options) (*Handle, error) {
	h := &Handle{protos: map[string]*C.char{}, mem: C.gowt_batch_new(), opts: opts}
	if h.mem == nil {
		return nil, &core.Error{Code: core.ErrInternal, Msg: "out of memory"}
	}
	h.mem.cur = -1
	ctx, err := core.NewContext(cfg, h)
	if err != nil {
		C.gowt_batch_free(h.mem)
		return nil, err
	}
	h.Ctx = ctx
	// go-pointer gives a unique C address per handle, so C never holds a Go
	// pointer to the context.
	h.Ptr = pointer.Save(h)
	handles.Store(uintptr(h.Ptr), h)
	return h, nil
}

// Lookup returns the handle behind a gowt_ctx *, or nil.
func Lookup(p uintptr) *Handle {
	if p == 0 {
		return nil
	}
	v, ok := handles.Load(p)
	if !ok {
		return nil
	}
	return v.(*Handle)
}

// Release forgets a destroyed context's handle.
func (h *Handle) Release() {
	handles.Delete(uintptr(h.Ptr))
	pointer.Unref(h.Ptr)
	for _, p := range h.protos {
		C.free(unsafe.Pointer(p))
	}
	h.protos = nil
	C.gowt_batch_free(h.mem)
	h.mem = nil
}

// CallbackValue stores a C function pointer (as an integer) in a session.
func CallbackValue(fn uintptr) any { return fn }

func setPtr(dst *unsafe.Pointer, v uintptr) { *(*uintptr)(unsafe.Pointer(dst)) = v }

// Deliver implements core.Deliverer: convert into C memory, one C
// crossing, results back.
func (h *Handle) Deliver(c *core.Context, b *core.Batch) {
	n := len(b.Events)
	m := h.mem
	// Payloads (and a NUL after each, so reasons are C strings) go into the
	// arena: copying is cheaper than pinning each buffer.
	need := 0
	for i := range b.Events {
		need += len(b.Events[i].Data) + 1
		if b.Events[i].PeerCertHash != nil {
			need += 32
		}
	}
	arenaPtr := C.gowt_batch_arena(m, C.size_t(need))
	if arenaPtr == nil {
		c.SetLastError("out of memory for an event batch")
		return
	}
	arena := unsafe.Slice((*byte)(unsafe.Pointer(arenaPtr)), need)
	off := 0
	evs := m.evs[:n]
	for i := range b.Events {
		ev := &b.Events[i]
		ce := &evs[i]
		*ce = C.gowt_event{}
		ce._type = C.int(ev.Type)
		ce.flags = C.int(ev.Flags)
		ce.session = C.gowt_session_t(ev.Sess.Handle)
		ce.session_id = C.uint64_t(ev.Sess.WireID())
		ce.stream_id = C.uint64_t(ev.StreamID)
		ce.code = C.uint64_t(ev.Code)
		setPtr(&ce.app_ctx, ev.Sess.AppCtx())
		if ev.Stream != nil {
			setPtr(&ce.stream_ctx, ev.Stream.AppCtx())
		}
		if ev.Data != nil {
			k := copy(arena[off:], ev.Data)
			arena[off+k] = 0
			ce.data = (*C.uint8_t)(unsafe.Pointer(&arena[off]))
			ce.length = C.size_t(k)
			off += k + 1
		}
		if ev.Ref != nil { // SEND_COMPLETE: the caller's own buffer back
			setPtr((*unsafe.Pointer)(unsafe.Pointer(&ce.data)), ev.Ref.Ptr)
			ce.length = C.size_t(ev.Ref.Len)
			setPtr(&ce.send_ctx, ev.Ref.Ctx)
		}
		if ev.Provide != nil {
			ce.length = C.size_t(ev.Provide.Max)
			// The request's own number beside its index: an event kept
			// from an earlier batch answers nothing in a later one.
			ce.token = C.uint64_t(uint64(ev.Provide.Seq)<<32 | uint64(i+1))
		}
		if ev.PeerCertHash != nil {
			k := copy(arena[off:], ev.PeerCertHash[:])
			ce.peer_cert_sha256 = (*C.uint8_t)(unsafe.Pointer(&arena[off]))
			off += k
		}
		if ev.Request != nil {
			ce.request = h.request(ev.Request)
		}
		if ev.Protocol != "" {
			ce.protocol = h.proto(ev.Protocol)
		}
		cb, _ := ev.Sess.Callback().(uintptr)
		m.cbs[i] = C.uintptr_t(cb)
	}
	h.cur = evs
	C.gowt_run_batch((*C.gowt_ctx)(h.Ptr), m, C.int(n))
	h.cur = nil
	for i := 0; i < n; i++ {
		r := int32(m.results[i])
		if b.Events[i].Type == core.EvConnect {
			r = h.connectResult(b.Events[i].Sess, r)
		}
		b.Results[i] = r
	}
	for _, r := range h.requests {
		C.gowt_free_request(r)
	}
	h.requests = h.requests[:0]
}

// connectResult maps a C CONNECT callback result to core's: the C value of
// "defer" to core's (and a timer that refuses with 503 when no decision
// came in time); 1, which is no HTTP status, to 500.
func (h *Handle) connectResult(s *core.Session, r int32) int32 {
	switch {
	case r == C.GOWT_CONNECT_DEFER || (r == 1 && h.opts.LegacyDefer):
		time.AfterFunc(h.opts.DecisionTimeout, func() {
			defer func() { _ = recover() }() // never crash the host
			// GOWT_ERR_STATE when the application decided (or the session
			// ended) in time: nothing to do then.
			_ = s.Refuse(http.StatusServiceUnavailable)
		})
		return coreDefer
	case r == coreDefer:
		return http.StatusInternalServerError
	}
	return r
}

func (h *Handle) proto(p string) *C.char {
	if cs, ok := h.protos[p]; ok {
		return cs
	}
	cs := C.CString(p)
	h.protos[p] = cs
	return cs
}

func (h *Handle) request(r *core.ConnectRequest) *C.gowt_connect_request {
	cr := C.gowt_new_request(C.size_t(len(r.Protocols)), C.size_t(len(r.HeaderNames)))
	if cr == nil {
		return nil
	}
	h.requests = append(h.requests, cr)
	cr.path = C.CString(r.Path)
	cr.query = C.CString(r.Query)
	cr.authority = C.CString(r.Authority)
	cr.origin = C.CString(r.Origin)
	cr.protocol = C.CString(r.Protocol)
	for i, p := range r.Protocols {
		C.gowt_set_str(cr.protocols, C.size_t(i), C.CString(p))
	}
	cr.protocol_count = C.size_t(len(r.Protocols))
	for i := range r.HeaderNames {
		C.gowt_set_str(cr.header_names, C.size_t(i), C.CString(r.HeaderNames[i]))
		C.gowt_set_str(cr.header_values, C.size_t(i), C.CString(r.HeaderValues[i]))
	}
	cr.header_count = C.size_t(len(r.HeaderNames))
	cr.peer_addr = C.CString(r.PeerAddr)
	cr.local_addr = C.CString(r.LocalAddr)
	if r.PeerCertHash != nil {
		cr.peer_cert_sha256 = (*C.uint8_t)(C.CBytes(r.PeerCertHash[:]))
	}
	return cr
}

// PatchCtx makes a context set from inside a callback reach the later
// events of the batch being delivered, which were converted before the
// callback ran. st nil: the session's app_ctx; else the stream's ctx.
func (h *Handle) PatchCtx(sess *core.Session, st *core.Stream, v uintptr) {
	b := h.Ctx.CurrentBatch() // non-nil only on the delivering thread
	if b == nil || len(h.cur) != len(b.Events) {
		return
	}
	for i := range b.Events {
		ev := &b.Events[i]
		switch {
		case st != nil && ev.Stream == st:
			setPtr(&h.cur[i].stream_ctx, v)
		case st == nil && ev.Sess == sess:
			setPtr(&h.cur[i].app_ctx, v)
		}
	}
}

// ProvideFor finds the provide request behind a PROVIDE_* event given to C,
// valid only on the delivering thread while that event's own callback runs.
func (h *Handle) ProvideFor(token uint64, want core.EventType) (*core.ProvideReq, *core.Batch) {
	b := h.Ctx.CurrentBatch()
	i := token&0xffffffff - 1
	if b == nil || h.mem == nil || token&0xffffffff == 0 || i >= uint64(len(b.Events)) || int64(h.mem.cur) != int64(i) {
		return nil, nil
	}
	ev := &b.Events[i]
	if ev.Type != want || ev.Provide == nil || uint64(ev.Provide.Seq) != token>>32 {
		return nil, nil
	}
	return ev.Provide, b
}
