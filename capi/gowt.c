/* Public entry points of libgowt: the exact prototypes of include/gowt.h,
 * forwarding to the Go exports (gowtgo_*), whose cgo-generated prototypes
 * cannot carry const qualifiers.
 * Values the library must not treat as Go pointers cross as uintptr_t: the
 * context handle, app_ctx / stream_ctx / send_ctx and the log app pointer
 * (opaque: (void *)1 is allowed), callback pointers, and send buffers
 * (with length 0 anything goes: an empty Rust slice is 0x1). A small
 * non-zero value in a pointer-typed Go frame slot makes Go's runtime throw
 * "invalid pointer found on stack" (killing the host) when that stack is
 * copied, which GC stack shrinking does at any call (golang/go runtime
 * behaviour, debug.invalidptr). */
#include <string.h>

#include "gowt.h"
#include "internal.h"
#include "_cgo_export.h"

#define GOWT_STR2(x) #x
#define GOWT_STR(x) GOWT_STR2(x)

const char *gowt_version(void) {
    return GOWT_STR(GOWT_VERSION_MAJOR) "." GOWT_STR(GOWT_VERSION_MINOR) "." GOWT_STR(GOWT_VERSION_PATCH);
}
int gowt_version_number(void) { return GOWT_VERSION_NUMBER; }
const char *gowt_strerror(int err) { return gowtgo_strerror(err); }
const char *gowt_event_name(int type) { return gowtgo_event_name(type); }
int gowt_runtime_set_gc(int64_t memory_limit, int gc_percent, int64_t *prev_memory_limit,
                        int *prev_gc_percent) {
    return gowtgo_runtime_set_gc(memory_limit, gc_percent, prev_memory_limit, prev_gc_percent);
}

/* ---- the calling thread's last error message (gowt_last_error) ---- */

enum { GOWT_THREAD_ERR_CAP = 1024 };
static __thread char gowt_thread_err[GOWT_THREAD_ERR_CAP];
static __thread size_t gowt_thread_err_len;

void gowtc_set_thread_error(const char *msg, size_t len) {
    if (len > GOWT_THREAD_ERR_CAP - 1) len = GOWT_THREAD_ERR_CAP - 1;
    if (len) memcpy(gowt_thread_err, msg, len);
    gowt_thread_err[len] = 0;
    gowt_thread_err_len = len;
}

int gowt_last_error(char *buf, size_t len) {
    if (!buf || len == 0) return GOWT_ERR_INVALID_ARG;
    size_t n = gowt_thread_err_len;
    size_t k = n < len - 1 ? n : len - 1;
    memcpy(buf, gowt_thread_err, k);
    buf[k] = 0;
    return k < n ? GOWT_ERR_RANGE : (int)n;
}

/* ---- sized structs: init ---- */

int gowt_config_init_sized(gowt_config *cfg, size_t size) {
    return gowtgo_init_struct(GOWT_SIZED_CONFIG, cfg, size, 0);
}
int gowt_path_options_init_sized(gowt_path_options *o, size_t size) {
    return gowtgo_init_struct(GOWT_SIZED_PATH_OPTIONS, o, size, 0);
}
int gowt_connect_options_init_sized(gowt_connect_options *o, size_t size) {
    return gowtgo_init_struct(GOWT_SIZED_CONNECT_OPTIONS, o, size, 0);
}

/* The 0.1.0 entry points, kept for programs built against that header
 * (which called them directly; the header now maps these names to the
 * *_sized functions). Their callers' structs have the 0.1.0 layout. */
void(gowt_config_init)(gowt_config *cfg);
void(gowt_path_options_init)(gowt_path_options *o);
void(gowt_connect_options_init)(gowt_connect_options *o);
void(gowt_config_init)(gowt_config *cfg) { (void)gowtgo_init_struct(GOWT_SIZED_CONFIG, cfg, 0, 1); }
void(gowt_path_options_init)(gowt_path_options *o) {
    (void)gowtgo_init_struct(GOWT_SIZED_PATH_OPTIONS, o, 0, 1);
}
void(gowt_connect_options_init)(gowt_connect_options *o) {
    (void)gowtgo_init_struct(GOWT_SIZED_CONNECT_OPTIONS, o, 0, 1);
}

int gowt_ctx_create(const gowt_config *cfg, gowt_ctx **out) {
    return gowtgo_ctx_create((gowt_config *)cfg, out);
}
int gowt_ctx_destroy(gowt_ctx *ctx) { return gowtgo_ctx_destroy((uintptr_t)ctx); }
int gowt_ctx_last_error(gowt_ctx *ctx, char *buf, size_t len) {
    return gowtgo_ctx_last_error((uintptr_t)ctx, buf, len);
}
int gowt_ctx_get_fd(gowt_ctx *ctx, int *fd) { return gowtgo_ctx_get_fd((uintptr_t)ctx, fd); }
int gowt_ctx_process_events(gowt_ctx *ctx, int max_events) {
    return gowtgo_ctx_process_events((uintptr_t)ctx, max_events);
}
int gowt_ctx_wait(gowt_ctx *ctx, int timeout_ms) { return gowtgo_ctx_wait((uintptr_t)ctx, timeout_ms); }
int gowt_ctx_cert_hash(gowt_ctx *ctx, uint8_t out[32]) { return gowtgo_ctx_cert_hash((uintptr_t)ctx, out); }
int gowt_ctx_set_log(gowt_ctx *ctx, int level, gowt_log_cb cb, void *app) {
    return gowtgo_ctx_set_log((uintptr_t)ctx, level, (uintptr_t)cb, (uintptr_t)app);
}

int gowt_server_listen(gowt_ctx *ctx, const char *host, uint16_t port, uint16_t *bound_port) {
    return gowtgo_server_listen((uintptr_t)ctx, (char *)host, port, bound_port);
}
int gowt_server_register(gowt_ctx *ctx, const char *path, gowt_session_cb cb, void *app_ctx,
                         const gowt_path_options *opts) {
    return gowtgo_server_register((uintptr_t)ctx, (char *)path, (uintptr_t)cb, (uintptr_t)app_ctx, (gowt_path_options *)opts);
}
int gowt_server_unregister(gowt_ctx *ctx, const char *path) {
    return gowtgo_server_unregister((uintptr_t)ctx, (char *)path);
}

int gowt_connect(gowt_ctx *ctx, const char *url, const gowt_connect_options *opts,
                 gowt_session_cb cb, void *app_ctx, gowt_session_t *out) {
    return gowtgo_connect((uintptr_t)ctx, (char *)url, (gowt_connect_options *)opts, (uintptr_t)cb, (uintptr_t)app_ctx, out);
}

int gowt_session_accept(gowt_ctx *ctx, gowt_session_t s, const char *protocol) {
    return gowtgo_session_accept((uintptr_t)ctx, s, (char *)protocol);
}
int gowt_session_refuse(gowt_ctx *ctx, gowt_session_t s, int status) {
    return gowtgo_session_refuse((uintptr_t)ctx, s, status);
}
int gowt_session_close(gowt_ctx *ctx, gowt_session_t s, uint32_t code, const char *reason,
                       size_t reason_len) {
    return gowtgo_session_close((uintptr_t)ctx, s, code, (char *)reason, reason_len);
}
int gowt_session_drain(gowt_ctx *ctx, gowt_session_t s) { return gowtgo_session_drain((uintptr_t)ctx, s); }
int gowt_session_set_app_ctx(gowt_ctx *ctx, gowt_session_t s, void *app_ctx) {
    return gowtgo_session_set_app_ctx((uintptr_t)ctx, s, (uintptr_t)app_ctx);
}
int gowt_session_get_id(gowt_ctx *ctx, gowt_session_t s, uint64_t *id) {
    return gowtgo_session_get_id((uintptr_t)ctx, s, id);
}
int gowt_session_get_info(gowt_ctx *ctx, gowt_session_t s, gowt_session_info *info) {
    return gowtgo_session_get_info((uintptr_t)ctx, s, info);
}

int gowt_create_local_stream(gowt_ctx *ctx, gowt_session_t s, int bidi, void *stream_ctx,
                             uint64_t *stream_id) {
    return gowtgo_create_local_stream((uintptr_t)ctx, s, bidi, (uintptr_t)stream_ctx, stream_id);
}
int gowt_stream_send(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id, const void *data,
                     size_t len, int fin) {
    return gowtgo_stream_send((uintptr_t)ctx, s, stream_id, (uintptr_t)data, len, fin);
}
int gowt_stream_send_nocopy(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id, const void *data,
                            size_t len, int fin, void *send_ctx) {
    return gowtgo_stream_send_nocopy((uintptr_t)ctx, s, stream_id, (uintptr_t)data, len, fin,
                                     (uintptr_t)send_ctx);
}
int gowt_stream_mark_active(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id, int active) {
    return gowtgo_stream_mark_active((uintptr_t)ctx, s, stream_id, active);
}
int gowt_provide_stream_data(gowt_ctx *ctx, const gowt_event *ev, size_t n, int fin,
                             int still_active, uint8_t **buf) {
    return gowtgo_provide_stream_data((uintptr_t)ctx, (gowt_event *)ev, n, fin, still_active, buf);
}
int gowt_stream_reset(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id, uint32_t code) {
    return gowtgo_stream_reset((uintptr_t)ctx, s, stream_id, code);
}
int gowt_stream_stop_sending(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id, uint32_t code) {
    return gowtgo_stream_stop_sending((uintptr_t)ctx, s, stream_id, code);
}

int gowt_stream_set_receive_enabled(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id, int on) {
    return gowtgo_stream_set_receive_enabled((uintptr_t)ctx, s, stream_id, on);
}
int gowt_stream_set_priority(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                             int64_t send_order, uint32_t send_group) {
    return gowtgo_stream_set_priority((uintptr_t)ctx, s, stream_id, send_order, send_group);
}
int gowt_stream_set_ctx(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id, void *stream_ctx) {
    return gowtgo_stream_set_ctx((uintptr_t)ctx, s, stream_id, (uintptr_t)stream_ctx);
}

int gowt_send_datagram(gowt_ctx *ctx, gowt_session_t s, const void *data, size_t len) {
    return gowtgo_send_datagram((uintptr_t)ctx, s, (uintptr_t)data, len);
}
int gowt_set_datagram_ready(gowt_ctx *ctx, gowt_session_t s, int ready) {
    return gowtgo_set_datagram_ready((uintptr_t)ctx, s, ready);
}
int gowt_provide_datagram(gowt_ctx *ctx, const gowt_event *ev, size_t n, int more, uint8_t **buf) {
    return gowtgo_provide_datagram((uintptr_t)ctx, (gowt_event *)ev, n, more, buf);
}
int gowt_max_datagram_size(gowt_ctx *ctx, gowt_session_t s, size_t *out) {
    return gowtgo_max_datagram_size((uintptr_t)ctx, s, out);
}
