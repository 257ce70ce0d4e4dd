/* Shared fixtures of the C tests: a configurable test server (event log,
 * optional echo of streams and datagrams, per-test hook) and client helpers.
 * Every test_*.c file includes this; the cases are listed in cases.h. */
#ifndef GOWT_TEST_COMMON_H
#define GOWT_TEST_COMMON_H

#include "harness.h"

/* A hook returns HOOK_CONTINUE to let the server log/echo the event as
 * usual, or the value the callback must return (the event is logged first
 * in both cases). */
#define HOOK_CONTINUE (-1000)

typedef struct tsrv tsrv;
typedef int (*tsrv_hook)(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev);

typedef struct echo_stream {
    gowt_session_t s;
    uint64_t id;
    uint8_t *buf; /* bidi: bytes still to echo (from off); uni: accumulated */
    size_t off, len, cap;
    int fin_pending, fin_sent;
    struct echo_stream *next;
} echo_stream;

struct tsrv {
    evlog log;
    gowt_ctx *ctx;
    uint16_t port;
    int echo;         /* echo bidi streams (incrementally, with back-pressure),
                       * uni streams (on a new uni stream) and datagrams */
    tsrv_hook hook;   /* may be NULL */
    void *user;       /* for the hook */
    echo_stream *streams; /* callback thread only */
    int unexpected;   /* echo calls that returned an unexpected code */
    int last_unexpected;
    int in_cb, max_in_cb; /* callbacks running now / at most (atomics) */
};

/* Starts a server listening on 127.0.0.1:0 with path "*" registered.
 * cfg may be NULL (defaults). */
void tsrv_start(tsrv *srv, const gowt_config *cfg, int echo, tsrv_hook hook, void *user);
/* Destroys the server context. */
void tsrv_stop(tsrv *srv);
/* Forgets a server whose context the test destroyed itself. */
void tsrv_forget(tsrv *srv);
/* The server's callback (for extra gowt_server_register calls). */
int tsrv_cb(gowt_ctx *ctx, const gowt_event *ev, void *app);

/* Client callback: app_ctx is an evlog. */
int rec_cb(gowt_ctx *ctx, const gowt_event *ev, void *app);

/* Connect to https://127.0.0.1:port<path> with rec_cb and log as app_ctx. */
gowt_session_t cli_connect(gowt_ctx *ctx, uint16_t port, const char *path,
                           const gowt_connect_options *opts, evlog *log);

/* Context with insecure_skip_verify and the given dispatch mode; cfg may be
 * NULL or a prepared config (insecure_skip_verify is forced on). */
gowt_ctx *ctx_with(gowt_config *cfg);

/* Atomic helpers (the tests build as C99). */
#define AT_INC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define AT_DEC(p) __atomic_sub_fetch((p), 1, __ATOMIC_SEQ_CST)
#define AT_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define AT_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define AT_MAX(p, v)                                                           \
    do {                                                                       \
        int am_v_ = (v), am_o_ = AT_LOAD(p);                                   \
        while (am_v_ > am_o_ &&                                                \
               !__atomic_compare_exchange_n((p), &am_o_, am_v_, 0,            \
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) \
            ;                                                                  \
    } while (0)

#endif
