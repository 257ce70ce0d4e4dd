// Package callbacks is the cgo bridge between core and C: it turns batches
// of core events into gowt_event arrays, runs the C callbacks for a whole
// batch in one crossing, and keeps the table of context handles.
package callbacks

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include <string.h>
#include "gowt.h"

// Runs every callback of a batch: one Go->C crossing for up to 64 events.
static void gowt_run_batch(gowt_ctx *ctx, gowt_event *evs, uintptr_t *cbs,
                           int32_t *results, int n) {
    for (int i = 0; i < n; i++) {
        gowt_session_cb cb = (gowt_session_cb)cbs[i];
        results[i] = cb ? cb(ctx, &evs[i], evs[i].app_ctx) : 0;
    }
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
	"sync"
	"unsafe"

	"github.com/gowt/gowt/core"
	pointer "github.com/mattn/go-pointer"
)

// Handle binds a core context to its C handle (gowt_ctx *).
type Handle struct {
	Ctx *core.Context
	Ptr unsafe.Pointer // the gowt_ctx * given to C

	evs      []C.gowt_event
	cur      []C.gowt_event // the batch being delivered (delivering thread only)
	cbs      []C.uintptr_t
	requests []*C.gowt_connect_request
	protos   map[string]*C.char // interned sub-protocol names
}

var handles sync.Map // unsafe.Pointer -> *Handle

// NewHandle creates a context whose callbacks are C functions.
func NewHandle(cfg core.Config) (*Handle, error) {
	h := &Handle{protos: map[string]*C.char{}}
	ctx, err := core.NewContext(cfg, h)
	if err != nil {
		return nil, err
	}
	h.Ctx = ctx
	// go-pointer gives a unique C address per handle, so C never holds a Go
	// pointer to the context.
	h.Ptr = pointer.Save(h)
	handles.Store(h.Ptr, h)
	return h, nil
}

// Lookup returns the handle behind a gowt_ctx *, or nil.
func Lookup(p unsafe.Pointer) *Handle {
	if p == nil {
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
	handles.Delete(h.Ptr)
	pointer.Unref(h.Ptr)
	for _, p := range h.protos {
		C.free(unsafe.Pointer(p))
	}
	h.protos = nil
}

// CallbackValue stores a C function pointer in a session.
func CallbackValue(fn unsafe.Pointer) any { return uintptr(fn) }

func setPtr(dst *unsafe.Pointer, v uintptr) { *(*uintptr)(unsafe.Pointer(dst)) = v }

// Deliver implements core.Deliverer: convert, one C crossing, results back.
func (h *Handle) Deliver(c *core.Context, b *core.Batch) {
	n := len(b.Events)
	if cap(h.evs) < n {
		h.evs = make([]C.gowt_event, n, 64)
		h.cbs = make([]C.uintptr_t, n, 64)
	}
	evs, cbs := h.evs[:n], h.cbs[:n]
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
			p := unsafe.SliceData(ev.Data)
			if cap(ev.Data) > 0 {
				b.Pinner.Pin(p)
				ce.data = (*C.uint8_t)(unsafe.Pointer(p))
			}
			ce.length = C.size_t(len(ev.Data))
		}
		if ev.Provide != nil {
			ce.length = C.size_t(ev.Provide.Max)
			ce.token = C.uint64_t(i + 1)
		}
		if ev.Request != nil {
			ce.request = h.request(ev.Request)
		}
		if ev.Protocol != "" {
			ce.protocol = h.proto(ev.Protocol)
		}
		cb, _ := ev.Sess.Callback().(uintptr)
		cbs[i] = C.uintptr_t(cb)
	}
	h.cur = evs
	C.gowt_run_batch((*C.gowt_ctx)(h.Ptr), &evs[0], &cbs[0], (*C.int32_t)(unsafe.Pointer(&b.Results[0])), C.int(n))
	h.cur = nil
	for _, r := range h.requests {
		C.gowt_free_request(r)
	}
	h.requests = h.requests[:0]
	for i := range evs {
		evs[i] = C.gowt_event{} // drop pinned pointers before unpinning
	}
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
// valid only on the delivering thread while its batch runs.
func ProvideFor(c *core.Context, token uint64, want core.EventType) (*core.ProvideReq, *core.Batch) {
	b := c.CurrentBatch()
	if b == nil || token == 0 || token > uint64(len(b.Events)) {
		return nil, nil
	}
	ev := &b.Events[token-1]
	if ev.Type != want || ev.Provide == nil {
		return nil, nil
	}
	return ev.Provide, b
}
