/* API misuse under threads (project issue 11).
 *
 * Real sessions run all the time (echo traffic over 127.0.0.1: a server
 * context, a THREAD-mode client context and a POLL-mode client context),
 * while 8 threads call random exports of gowt.h with valid, stale and bogus
 * handles, NULL pointers and odd sizes. Only what the header documents as
 * defined is done:
 *   - stale session handles (DEREGISTER delivered) on a live context must
 *     give exactly GOWT_ERR_NOT_FOUND ("After DEREGISTER the session handle
 *     is invalid");
 *   - unknown context pointers (never returned by gowt_ctx_create) must give
 *     GOWT_ERR_NOT_FOUND or GOWT_ERR_INVALID_ARG; destroyed contexts are not
 *     reused here (their address may be reused by malloc at once);
 *   - sized structs with struct_size out of range must give
 *     GOWT_ERR_INVALID_ARG, and in range must work; each sized struct is a
 *     malloc block of exactly struct_size bytes, so that a sanitizer build
 *     catches any access beyond it;
 *   - every other return value must be 0 or a gowt_error (counts >= 0 where
 *     the function returns a count).
 * Pass: no crash, no call that hangs (a watchdog checks that every thread
 * and the echo traffic make progress), RSS and open descriptors bounded,
 * the three contexts destroy cleanly.
 *
 * Usage: gowt_misuse [seconds] (default 15). Public header only. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gowt.h"

#define NTHREADS 8
#define INFLIGHT 4      /* echo sessions in flight per client context */
#define ECHO_LEN 4000   /* bytes echoed per session */
#define SESSION_MAX_MS 3000 /* a session disturbed by misuse is closed after */

#define AT_INC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define AT_DEC(p) __atomic_sub_fetch((p), 1, __ATOMIC_SEQ_CST)
#define AT_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define AT_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

static gowt_ctx *g_srv, *g_cli, *g_poll;
static uint16_t g_port;
static int g_stop;
static uint64_t g_echo_done, g_sessions_started, g_sessions_ended, g_refused;
static uint64_t g_failures;
static uint64_t g_ops[NTHREADS];
static const char *volatile g_curop[NTHREADS];
static char g_bogus_static[64]; /* a C address that is no context */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void failf(const char *fmt, ...) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    va_list ap;
    uint64_t n = AT_INC(&g_failures);
    if (n > 40) return;
    pthread_mutex_lock(&mu);
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    pthread_mutex_unlock(&mu);
}

/* xorshift per thread */
static uint64_t rnd(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}
#define PICK(s, n) ((int)(rnd(s) % (uint64_t)(n)))

/* ---------------------------------------------------------------------- */
/* Handle pools                                                            */

#define POOL 256
typedef struct {
    gowt_ctx *ctx;
    gowt_session_t s;
    uint64_t stream; /* a stream of s, or GOWT_NO_ID */
} hent;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static hent live_pool[POOL];
static unsigned live_w;
static gowt_session_t stale_pool[POOL];
static unsigned stale_w;

static void pool_live(gowt_ctx *ctx, gowt_session_t s, uint64_t stream) {
    pthread_mutex_lock(&pool_mu);
    live_pool[live_w++ % POOL] = (hent){ctx, s, stream};
    pthread_mutex_unlock(&pool_mu);
}
static void pool_stale(gowt_session_t s) {
    pthread_mutex_lock(&pool_mu);
    stale_pool[stale_w++ % POOL] = s;
    pthread_mutex_unlock(&pool_mu);
}
static hent pick_live(uint64_t *r) {
    hent h = {0, 0, GOWT_NO_ID};
    pthread_mutex_lock(&pool_mu);
    unsigned n = live_w < POOL ? live_w : POOL;
    if (n) h = live_pool[rnd(r) % n];
    pthread_mutex_unlock(&pool_mu);
    return h;
}
static gowt_session_t pick_stale(uint64_t *r) {
    gowt_session_t s = 0;
    pthread_mutex_lock(&pool_mu);
    unsigned n = stale_w < POOL ? stale_w : POOL;
    if (n) s = stale_pool[rnd(r) % n];
    pthread_mutex_unlock(&pool_mu);
    return s;
}

/* ---------------------------------------------------------------------- */
/* Echo traffic. Callbacks never use app_ctx / stream_ctx (misuse threads  */
/* may set them to anything): client state is found by session handle.    */

typedef struct csess {
    gowt_ctx *ctx;
    gowt_session_t s;
    uint64_t start_ms;
    size_t got;
    int closing;
    int used;
} csess;
#define MAXC 64
static pthread_mutex_t cs_mu = PTHREAD_MUTEX_INITIALIZER;
static csess cs_tab[MAXC];
static int inflight_cli, inflight_poll;
/* Sessions whose DEREGISTER came before gowt_connect returned. */
static gowt_session_t early_dereg[16];
static unsigned early_w;

static csess *cs_find(gowt_session_t s) {
    for (int i = 0; i < MAXC; i++)
        if (cs_tab[i].used && cs_tab[i].s == s) return &cs_tab[i];
    return NULL;
}

static uint8_t g_payload[ECHO_LEN];

static int srv_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)app;
    switch (ev->type) {
    case GOWT_EV_CONNECT:
        if (ev->request && strcmp(ev->request->path, "/refuse") == 0) return 404;
        pool_live(ctx, ev->session, GOWT_NO_ID);
        return 0;
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        pool_live(ctx, ev->session, ev->stream_id);
        if (ev->flags & GOWT_STREAM_BIDI)
            gowt_stream_send(ctx, ev->session, ev->stream_id, ev->data, ev->length,
                             ev->type == GOWT_EV_POST_FIN);
        return 0;
    case GOWT_EV_POST_DATAGRAM:
        gowt_send_datagram(ctx, ev->session, ev->data, ev->length);
        return 0;
    case GOWT_EV_PROVIDE_DATA: { /* a misuse thread set pull mode */
        uint8_t *b = NULL;
        gowt_provide_stream_data(ctx, ev, 0, 0, 0, &b);
        return 0;
    }
    case GOWT_EV_PROVIDE_DATAGRAM: {
        uint8_t *b = NULL;
        gowt_provide_datagram(ctx, ev, 0, 0, &b);
        return 0;
    }
    case GOWT_EV_DEREGISTER:
        pool_stale(ev->session);
        return 0;
    default:
        return 0;
    }
}

static int cli_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)app;
    pthread_mutex_lock(&cs_mu);
    csess *c = cs_find(ev->session);
    pthread_mutex_unlock(&cs_mu);
    switch (ev->type) {
    case GOWT_EV_CONNECT_ACCEPTED: {
        uint64_t id;
        pool_live(ctx, ev->session, GOWT_NO_ID);
        if (gowt_create_local_stream(ctx, ev->session, 1, NULL, &id) == GOWT_OK) {
            pool_live(ctx, ev->session, id);
            gowt_stream_send(ctx, ev->session, id, g_payload, sizeof g_payload, 1);
        }
        gowt_send_datagram(ctx, ev->session, "ping", 4);
        return 0;
    }
    case GOWT_EV_CONNECT_REFUSED:
        AT_INC(&g_refused);
        return 0;
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        if (c) {
            c->got += ev->length;
            if (ev->type == GOWT_EV_POST_FIN && c->got == ECHO_LEN && !c->closing) {
                AT_INC(&g_echo_done);
                c->closing = 1;
                gowt_session_close(ctx, ev->session, 0, "done", 4);
            }
        }
        return 0;
    case GOWT_EV_PROVIDE_DATA: {
        uint8_t *b = NULL;
        gowt_provide_stream_data(ctx, ev, 0, 0, 0, &b);
        return 0;
    }
    case GOWT_EV_PROVIDE_DATAGRAM: {
        uint8_t *b = NULL;
        gowt_provide_datagram(ctx, ev, 0, 0, &b);
        return 0;
    }
    case GOWT_EV_DEREGISTER:
        pool_stale(ev->session);
        pthread_mutex_lock(&cs_mu);
        c = cs_find(ev->session);
        if (c) {
            c->used = 0;
            AT_DEC(ctx == g_poll ? &inflight_poll : &inflight_cli);
            AT_INC(&g_sessions_ended);
        } else {
            early_dereg[early_w++ % 16] = ev->session;
        }
        pthread_mutex_unlock(&cs_mu);
        return 0;
    default:
        return 0;
    }
}

/* Start sessions up to INFLIGHT on ctx; close those older than
 * SESSION_MAX_MS (a misuse thread paused or reset their stream). No gowt
 * call is made while cs_mu is held (callbacks take it). */
static void traffic_step(gowt_ctx *ctx, int *inflight, uint64_t *seq) {
    uint64_t now = now_ms();
    gowt_session_t old[MAXC];
    int nold = 0;
    pthread_mutex_lock(&cs_mu);
    for (int i = 0; i < MAXC; i++) {
        csess *c = &cs_tab[i];
        if (c->used && c->s && c->ctx == ctx && !c->closing && now - c->start_ms > SESSION_MAX_MS) {
            c->closing = 1;
            old[nold++] = c->s;
        }
    }
    pthread_mutex_unlock(&cs_mu);
    for (int i = 0; i < nold; i++) gowt_session_close(ctx, old[i], 1, NULL, 0);
    while (AT_LOAD(inflight) < INFLIGHT && !AT_LOAD(&g_stop)) {
        int slot = -1;
        pthread_mutex_lock(&cs_mu);
        for (int i = 0; i < MAXC; i++)
            if (!cs_tab[i].used) { slot = i; break; }
        if (slot >= 0) cs_tab[slot] = (csess){ctx, 0, now, 0, 0, 1};
        pthread_mutex_unlock(&cs_mu);
        if (slot < 0) break;
        char url[96];
        (*seq)++;
        snprintf(url, sizeof url, "https://127.0.0.1:%u/%s", g_port,
                 *seq % 8 == 0 ? "refuse" : "echo");
        gowt_session_t s = 0;
        int rc = gowt_connect(ctx, url, NULL, cli_cb, NULL, &s);
        pthread_mutex_lock(&cs_mu);
        if (rc != GOWT_OK) {
            cs_tab[slot].used = 0;
            pthread_mutex_unlock(&cs_mu);
            if (rc != GOWT_ERR_LIMIT) failf("gowt_connect(echo) = %d", rc);
            break;
        }
        cs_tab[slot].s = s;
        AT_INC(inflight);
        AT_INC(&g_sessions_started);
        for (unsigned i = 0; i < 16; i++)
            if (early_dereg[i] == s) {
                early_dereg[i] = 0;
                cs_tab[slot].used = 0;
                AT_DEC(inflight);
                AT_INC(&g_sessions_ended);
            }
        pthread_mutex_unlock(&cs_mu);
    }
}

static void *traffic_thread(void *arg) {
    (void)arg;
    uint64_t seq = 0;
    while (!AT_LOAD(&g_stop)) {
        traffic_step(g_cli, &inflight_cli, &seq);
        usleep(2000);
    }
    return NULL;
}

/* POLL-mode client: this thread delivers its events; misuse threads call
 * gowt_ctx_process_events / gowt_ctx_wait on it concurrently (BUSY then). */
static void *poll_thread(void *arg) {
    (void)arg;
    uint64_t seq = 3;
    while (!AT_LOAD(&g_stop)) {
        traffic_step(g_poll, &inflight_poll, &seq);
        int w = gowt_ctx_wait(g_poll, 20);
        if (w < 0) failf("gowt_ctx_wait(poll) = %d", w);
        int n = gowt_ctx_process_events(g_poll, 0);
        if (n < 0 && n != GOWT_ERR_BUSY) failf("process_events(poll) = %d", n);
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Misuse                                                                  */

static const size_t BIG = 2u << 20;
static uint8_t *g_big; /* BIG readable bytes */

static int is_code(int rc) { return rc <= 0 && rc >= GOWT_ERR_UNSUPPORTED; }

#define EXPECT_CODE(name, rc)                                                  \
    do {                                                                       \
        int r_ = (rc);                                                         \
        if (!is_code(r_)) failf("%s returned %d (no gowt_error)", name, r_);   \
    } while (0)

static gowt_ctx *pick_ctx(uint64_t *r, int *bogus) {
    *bogus = 0;
    switch (PICK(r, 10)) {
    case 0: *bogus = 1; return NULL;
    case 1: *bogus = 1; return (gowt_ctx *)(void *)g_bogus_static;
    case 2: *bogus = 1; return (gowt_ctx *)(uintptr_t)0x10;
    case 3: return g_cli;
    case 4: return g_poll;
    default: return g_srv;
    }
}

static gowt_session_t pick_session(uint64_t *r, hent *h) {
    *h = pick_live(r);
    switch (PICK(r, 8)) {
    case 0: return 0;
    case 1: return GOWT_NO_ID;
    case 2: return rnd(r);
    case 3: return pick_stale(r);
    default: return h->s;
    }
}

static uint64_t pick_stream(uint64_t *r, const hent *h) {
    switch (PICK(r, 6)) {
    case 0: return GOWT_NO_ID;
    case 1: return rnd(r) & 0xffff;
    default: return h->stream;
    }
}

static size_t pick_len(uint64_t *r) {
    static const size_t lens[] = {0, 1, 3, 17, 1200, 1500, 65536, 1u << 20};
    return lens[PICK(r, 8)];
}

/* struct_size values: out of range low, in range, out of range high. */
static uint32_t pick_ssize(uint64_t *r, size_t own, size_t v01_end) {
    switch (PICK(r, 10)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return (uint32_t)v01_end - 1;
    case 3: return (uint32_t)v01_end;
    case 4: return (uint32_t)own;
    case 5: return (uint32_t)own + 8;
    case 6: return GOWT_STRUCT_SIZE_MAX;
    case 7: return GOWT_STRUCT_SIZE_MAX + 1;
    case 8: return UINT32_MAX;
    default: return (uint32_t)own;
    }
}
static int ssize_ok(uint32_t sz, size_t v01_end) {
    return sz >= v01_end && sz <= GOWT_STRUCT_SIZE_MAX;
}
/* A block of exactly sz bytes (4 when sz is out of range: only struct_size
 * may be read then), zeroed, struct_size = sz. */
static void *sized_block(uint32_t sz, size_t v01_end) {
    size_t n = ssize_ok(sz, v01_end) ? sz : sizeof(uint32_t);
    if (n < sizeof(uint32_t)) n = sizeof(uint32_t);
    uint8_t *p = calloc(1, n);
    if (!p) abort();
    memcpy(p, &sz, sizeof sz);
    return p;
}

#define V01_CONFIG (offsetof(gowt_config, www_dir) + sizeof(const char *))
#define V01_PATH (offsetof(gowt_path_options, protocols) + sizeof(const char *))
#define V01_CONN (offsetof(gowt_connect_options, new_connection) + sizeof(int))
#define V01_INFO (offsetof(gowt_session_info, shared_connection) + sizeof(int))

static int quick_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)app;
    if (ev->type == GOWT_EV_CONNECT_ACCEPTED)
        gowt_session_close(ctx, ev->session, 7, NULL, 0);
    if (ev->type == GOWT_EV_DEREGISTER) pool_stale(ev->session);
    return 0;
}

/* A call on a stale session with every other argument valid. */
static void stale_call(uint64_t *r, gowt_ctx *ctx, gowt_session_t s) {
    uint64_t id = 0;
    size_t sz = 0;
    gowt_session_info info;
    const char *name = "?";
    int rc;
    uint64_t st = 0;
    switch (PICK(r, 18)) {
    case 0: name = "accept"; rc = gowt_session_accept(ctx, s, NULL); break;
    case 1: name = "refuse"; rc = gowt_session_refuse(ctx, s, 404); break;
    case 2: name = "close"; rc = gowt_session_close(ctx, s, 1, "x", 1); break;
    case 3: name = "drain"; rc = gowt_session_drain(ctx, s); break;
    case 4: name = "set_app_ctx"; rc = gowt_session_set_app_ctx(ctx, s, &id); break;
    case 5: name = "get_id"; rc = gowt_session_get_id(ctx, s, &id); break;
    case 6:
        name = "get_info";
        memset(&info, 0xa5, sizeof info);
        info.struct_size = sizeof info;
        rc = gowt_session_get_info(ctx, s, &info);
        break;
    case 7: name = "create_local_stream"; rc = gowt_create_local_stream(ctx, s, 1, NULL, &id); break;
    case 8: name = "stream_send"; rc = gowt_stream_send(ctx, s, st, "x", 1, 0); break;
    case 17: name = "stream_send_nocopy"; rc = gowt_stream_send_nocopy(ctx, s, st, "x", 1, 0, (void *)(uintptr_t)7); break;
    case 9: name = "mark_active"; rc = gowt_stream_mark_active(ctx, s, st, 1); break;
    case 10: name = "reset"; rc = gowt_stream_reset(ctx, s, st, 1); break;
    case 11: name = "stop_sending"; rc = gowt_stream_stop_sending(ctx, s, st, 1); break;
    case 12: name = "set_receive_enabled"; rc = gowt_stream_set_receive_enabled(ctx, s, st, 0); break;
    case 13: name = "stream_set_ctx"; rc = gowt_stream_set_ctx(ctx, s, st, &id); break;
    case 14: name = "send_datagram"; rc = gowt_send_datagram(ctx, s, "x", 1); break;
    case 15: name = "set_datagram_ready"; rc = gowt_set_datagram_ready(ctx, s, 1); break;
    default: name = "max_datagram_size"; rc = gowt_max_datagram_size(ctx, s, &sz); break;
    }
    if (rc != GOWT_ERR_NOT_FOUND)
        failf("stale session %" PRIu64 ": gowt_%s = %d, want GOWT_ERR_NOT_FOUND", s, name, rc);
}

static void misuse_one(uint64_t *r, int t) {
    int bogus;
    gowt_ctx *ctx = pick_ctx(r, &bogus);
    hent h;
    gowt_session_t s = pick_session(r, &h);
    uint64_t st = pick_stream(r, &h);
    size_t len = pick_len(r);
    const void *data = PICK(r, 5) == 0 ? NULL : g_big;
    int destructive = PICK(r, 25) == 0; /* rarely disturb live sessions */
    int op = PICK(r, 40);
    int rc = 0;
    char buf[2048];
    const char *name = "?";
#define OP(n) name = n; g_curop[t] = n
    /* Live sessions are only disturbed (close, reset, pause...) by a small
     * fraction of calls; otherwise those calls get a stale or random one. */
    if (!destructive && s == h.s && h.s != 0 && op >= 14 && op <= 30) s = pick_stale(r);
    switch (op) {
    case 0: OP("version"); if (!gowt_version() || gowt_version_number() != GOWT_VERSION_NUMBER) failf("version"); break;
    case 1: {
        OP("strerror");
        const char *e = gowt_strerror((int)rnd(r));
        const char *n2 = gowt_event_name((int)rnd(r));
        if (!e || !n2) failf("strerror/event_name NULL");
        break;
    }
    case 2: {
        OP("last_error");
        size_t l = (size_t)PICK(r, 4) * 7;
        rc = gowt_last_error(PICK(r, 4) ? buf : NULL, l);
        if (rc < GOWT_ERR_UNSUPPORTED) failf("last_error %d", rc);
        rc = 0;
        break;
    }
    case 3: {
        OP("ctx_last_error");
        size_t l = PICK(r, 2) ? sizeof buf : (size_t)PICK(r, 4);
        rc = gowt_ctx_last_error(ctx, PICK(r, 6) ? buf : NULL, l);
        if (rc < GOWT_ERR_UNSUPPORTED) failf("ctx_last_error %d", rc);
        rc = 0;
        break;
    }
    case 4: {
        OP("config_init_sized");
        uint32_t sz = pick_ssize(r, sizeof(gowt_config), V01_CONFIG);
        void *p = sized_block(sz, V01_CONFIG);
        rc = gowt_config_init_sized(PICK(r, 8) ? p : NULL, sz);
        free(p);
        break;
    }
    case 5: {
        OP("path_options_init_sized");
        uint32_t sz = pick_ssize(r, sizeof(gowt_path_options), V01_PATH);
        void *p = sized_block(sz, V01_PATH);
        rc = gowt_path_options_init_sized(PICK(r, 8) ? p : NULL, sz);
        free(p);
        break;
    }
    case 6: {
        OP("connect_options_init_sized");
        uint32_t sz = pick_ssize(r, sizeof(gowt_connect_options), V01_CONN);
        void *p = sized_block(sz, V01_CONN);
        rc = gowt_connect_options_init_sized(PICK(r, 8) ? p : NULL, sz);
        free(p);
        break;
    }
    case 7: {
        if (PICK(r, 8)) { OP("ctx_create(bad)"); rc = gowt_ctx_create(NULL, NULL); if (rc != GOWT_ERR_INVALID_ARG) failf("ctx_create(NULL,NULL)=%d", rc); break; }
        OP("ctx_create");
        uint32_t sz = pick_ssize(r, sizeof(gowt_config), V01_CONFIG);
        gowt_config *cfg = sized_block(sz, V01_CONFIG);
        if (ssize_ok(sz, V01_CONFIG)) {
            if (gowt_config_init_sized(cfg, sz) != GOWT_OK) failf("config_init_sized(%u)", sz);
            cfg->insecure_skip_verify = 1;
        }
        int bad_extra = 0;
        if (sz > sizeof(gowt_config) && ssize_ok(sz, V01_CONFIG) && PICK(r, 2)) {
            ((uint8_t *)cfg)[sz - 1] = 1; /* a newer header's field set */
            bad_extra = 1;
        }
        gowt_ctx *c = NULL;
        rc = gowt_ctx_create(cfg, &c);
        int want_ok = ssize_ok(sz, V01_CONFIG) && !bad_extra;
        if (want_ok && rc != GOWT_OK) failf("ctx_create(struct_size %u) = %d", sz, rc);
        if (!want_ok && rc != GOWT_ERR_INVALID_ARG)
            failf("ctx_create(struct_size %u, extra %d) = %d, want INVALID_ARG", sz, bad_extra, rc);
        if (rc == GOWT_OK) {
            int d = gowt_ctx_destroy(c);
            if (d != GOWT_OK) failf("ctx_destroy(new) = %d", d);
        } else if (c != NULL) {
            failf("ctx_create failed but set *out");
        }
        free(cfg);
        break;
    }
    case 8: OP("ctx_destroy(bogus)"); rc = gowt_ctx_destroy(PICK(r, 2) ? NULL : (gowt_ctx *)(void *)g_bogus_static);
        if (rc != GOWT_ERR_NOT_FOUND) failf("ctx_destroy(bogus) = %d", rc);
        break;
    case 9: { OP("ctx_get_fd"); int fd; rc = gowt_ctx_get_fd(ctx, PICK(r, 4) ? &fd : NULL); break; }
    case 10: OP("process_events"); rc = gowt_ctx_process_events(ctx, PICK(r, 3)); if (rc > 0) rc = 0; break;
    case 11: OP("ctx_wait"); rc = gowt_ctx_wait(ctx, PICK(r, 4) - 2); if (rc == 1) rc = 0; break;
    case 12: { OP("cert_hash"); uint8_t hsh[32]; rc = gowt_ctx_cert_hash(ctx, PICK(r, 4) ? hsh : NULL); break; }
    case 13: {
        OP("server_listen");
        /* Listeners on live contexts would pile up: unknown contexts only,
         * and a live one with a port that cannot be bound twice. */
        uint16_t bp;
        if (bogus) rc = gowt_server_listen(ctx, "127.0.0.1", 0, &bp);
        else rc = gowt_server_listen(ctx, "127.0.0.1", g_port, &bp);
        if (!bogus && rc == GOWT_OK) failf("listen on an used port succeeded");
        break;
    }
    case 14: {
        OP("server_register");
        char path[16];
        snprintf(path, sizeof path, "/m%d", PICK(r, 8));
        uint32_t sz = pick_ssize(r, sizeof(gowt_path_options), V01_PATH);
        gowt_path_options *po = sized_block(sz, V01_PATH);
        int k = PICK(r, 5);
        rc = gowt_server_register(ctx, k == 0 ? NULL : k == 1 ? "nope" : path,
                                  k == 2 ? NULL : srv_cb, NULL, PICK(r, 2) ? po : NULL);
        free(po);
        break;
    }
    case 15: {
        OP("server_unregister");
        char path[16];
        snprintf(path, sizeof path, "/m%d", PICK(r, 8));
        rc = gowt_server_unregister(ctx, PICK(r, 6) ? path : NULL);
        break;
    }
    case 16: {
        OP("connect");
        static const char *urls[] = {"", "http://127.0.0.1/x", "https://[::1", "https://127.0.0.1:0/x",
                                     "https://127.0.0.1:99999/x", "not a url", "https://127.0.0.1:%u/echo",
                                     "https://127.0.0.1:%u/refuse", NULL};
        int k = PICK(r, 9);
        char url[96];
        if (urls[k]) snprintf(url, sizeof url, urls[k], g_port);
        uint32_t sz = pick_ssize(r, sizeof(gowt_connect_options), V01_CONN);
        gowt_connect_options *co = sized_block(sz, V01_CONN);
        gowt_session_t out = 0;
        int good = k >= 6 && k <= 7 && (ctx == g_cli || ctx == g_poll);
        /* Only sessions that end by themselves: quick_cb closes on accept. */
        if (!good && k >= 6 && k <= 7) k = 0;
        rc = gowt_connect(ctx, urls[k] ? url : NULL, PICK(r, 2) ? co : NULL,
                          PICK(r, 8) ? quick_cb : NULL, NULL, PICK(r, 8) ? &out : NULL);
        free(co);
        break;
    }
    case 17: OP("session_accept"); rc = gowt_session_accept(ctx, s, PICK(r, 2) ? NULL : "proto"); break;
    case 18: OP("session_refuse"); rc = gowt_session_refuse(ctx, s, PICK(r, 2) ? 404 : (int)(rnd(r) % 1000) - 100); break;
    case 19: {
        OP("session_close");
        int k = PICK(r, 4);
        rc = gowt_session_close(ctx, s, (uint32_t)rnd(r),
                                k == 0 ? NULL : k == 1 ? "\xff\xfe" : (const char *)g_big,
                                k == 0 ? (size_t)PICK(r, 3) : k == 1 ? 2 : (size_t)PICK(r, 2) * 1025);
        break;
    }
    case 20: OP("session_drain"); rc = gowt_session_drain(ctx, s); break;
    case 21: OP("stream_reset"); rc = gowt_stream_reset(ctx, s, st, (uint32_t)rnd(r)); break;
    case 22: OP("stop_sending"); rc = gowt_stream_stop_sending(ctx, s, st, (uint32_t)rnd(r)); break;
    case 23: OP("set_receive_enabled"); rc = gowt_stream_set_receive_enabled(ctx, s, st, PICK(r, 3) - 1); break;
    case 24: OP("mark_active"); rc = gowt_stream_mark_active(ctx, s, st, PICK(r, 3)); break;
    case 25:
        if (PICK(r, 2)) {
            OP("stream_send");
            rc = gowt_stream_send(ctx, s, st, data, len, PICK(r, 4) == 0);
        } else { /* g_big is static: any SEND_COMPLETE may come at any time */
            OP("stream_send_nocopy");
            rc = gowt_stream_send_nocopy(ctx, s, st, data, len, PICK(r, 4) == 0,
                                         (void *)(uintptr_t)rnd(r));
        }
        break;
    case 26: OP("set_datagram_ready"); rc = gowt_set_datagram_ready(ctx, s, PICK(r, 2)); break;
    case 27: OP("create_local_stream"); {
        uint64_t id;
        rc = gowt_create_local_stream(ctx, s, PICK(r, 3) - 1 != 0, NULL, PICK(r, 4) ? &id : NULL);
        break;
    }
    case 28: OP("session_set_app_ctx"); rc = gowt_session_set_app_ctx(ctx, s, (void *)(uintptr_t)rnd(r)); break;
    case 29: OP("stream_set_ctx"); rc = gowt_stream_set_ctx(ctx, s, st, (void *)(uintptr_t)rnd(r)); break;
    case 30: OP("send_datagram"); rc = gowt_send_datagram(ctx, s, data, len); break;
    case 31: { OP("session_get_id"); uint64_t id; rc = gowt_session_get_id(ctx, s, PICK(r, 4) ? &id : NULL); break; }
    case 32: {
        OP("session_get_info");
        uint32_t sz = pick_ssize(r, sizeof(gowt_session_info), V01_INFO);
        gowt_session_info *info = sized_block(sz, V01_INFO);
        rc = gowt_session_get_info(ctx, s, PICK(r, 8) ? info : NULL);
        if (rc == GOWT_OK && !ssize_ok(sz, V01_INFO)) failf("get_info(struct_size %u) = OK", sz);
        if (rc == GOWT_OK && info->struct_size > sz) failf("get_info filled %u > %u", info->struct_size, sz);
        free(info);
        break;
    }
    case 33: { OP("max_datagram_size"); size_t m; rc = gowt_max_datagram_size(ctx, s, PICK(r, 4) ? &m : NULL); break; }
    case 34: {
        OP("provide_stream_data(fake)");
        gowt_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = GOWT_EV_PROVIDE_DATA;
        ev.session = s;
        ev.stream_id = st;
        ev.length = 65536;
        ev.token = rnd(r) % 64;
        uint8_t *b = NULL;
        rc = gowt_provide_stream_data(ctx, PICK(r, 4) ? &ev : NULL, len, 0, 1, PICK(r, 4) ? &b : NULL);
        if (rc == GOWT_OK) failf("provide_stream_data outside its callback = OK");
        break;
    }
    case 35: {
        OP("provide_datagram(fake)");
        gowt_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = GOWT_EV_PROVIDE_DATAGRAM;
        ev.session = s;
        ev.length = 1200;
        ev.token = rnd(r) % 64;
        uint8_t *b = NULL;
        rc = gowt_provide_datagram(ctx, PICK(r, 4) ? &ev : NULL, len, 1, PICK(r, 4) ? &b : NULL);
        if (rc == GOWT_OK) failf("provide_datagram outside its callback = OK");
        break;
    }
    default: {
        /* Stale sessions on live contexts: exactly NOT_FOUND. */
        OP("stale");
        gowt_session_t ss = pick_stale(r);
        if (ss) stale_call(r, PICK(r, 3) == 0 ? g_srv : PICK(r, 2) ? g_cli : g_poll, ss);
        /* Unknown contexts: NOT_FOUND (or INVALID_ARG for a bad argument). */
        if (bogus) {
            uint64_t id;
            int b = gowt_session_get_id(ctx, h.s, &id);
            if (b != GOWT_ERR_NOT_FOUND) failf("get_id on unknown ctx %p = %d", (void *)ctx, b);
        }
        break;
    }
    }
    EXPECT_CODE(name, rc);
    if (bogus && rc == GOWT_OK && op >= 9 && op <= 35) failf("%s on unknown ctx %p = OK", name, (void *)ctx);
    g_curop[t] = "idle";
#undef OP
}

typedef struct { int t; uint64_t seed; } targ;

static void *misuse_thread(void *arg) {
    targ *a = arg;
    uint64_t r = a->seed;
    while (!AT_LOAD(&g_stop)) {
        misuse_one(&r, a->t);
        AT_INC(&g_ops[a->t]);
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n - 3; /* ., .., the DIR's own */
}

static void on_alarm(int sig) {
    (void)sig;
    static const char m[] = "FAIL: gowt_misuse did not finish in time (hang)\n";
    if (write(2, m, sizeof m - 1) < 0) {}
    _exit(1);
}

int main(int argc, char **argv) {
    int secs = argc > 1 ? atoi(argv[1]) : 15;
    if (secs < 3) secs = 3;
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)secs + 60);

    g_big = malloc(BIG);
    if (!g_big) return 1;
    for (size_t i = 0; i < BIG; i++) g_big[i] = (uint8_t)('a' + i % 26);
    memcpy(g_payload, g_big, sizeof g_payload);

    gowt_config cfg;
    gowt_config_init(&cfg);
    cfg.insecure_skip_verify = 1;
    cfg.idle_timeout_ms = 5000;
    cfg.handshake_timeout_ms = 3000;
    if (gowt_ctx_create(&cfg, &g_srv) != GOWT_OK) { fprintf(stderr, "server ctx\n"); return 1; }
    if (gowt_server_listen(g_srv, "127.0.0.1", 0, &g_port) != GOWT_OK ||
        gowt_server_register(g_srv, "*", srv_cb, NULL, NULL) != GOWT_OK) {
        fprintf(stderr, "server listen/register\n");
        return 1;
    }
    if (gowt_ctx_create(&cfg, &g_cli) != GOWT_OK) return 1;
    cfg.dispatch_mode = GOWT_DISPATCH_POLL;
    if (gowt_ctx_create(&cfg, &g_poll) != GOWT_OK) return 1;

    pthread_t tt, pt, mt[NTHREADS];
    targ args[NTHREADS];
    pthread_create(&tt, NULL, traffic_thread, NULL);
    pthread_create(&pt, NULL, poll_thread, NULL);
    uint64_t seed0 = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    if (getenv("MISUSE_SEED")) seed0 = strtoull(getenv("MISUSE_SEED"), NULL, 0);
    printf("misuse: %d s, %d threads, seed 0x%" PRIx64 " (MISUSE_SEED), port %u\n", secs, NTHREADS,
           seed0, g_port);
    for (int i = 0; i < NTHREADS; i++) {
        args[i].t = i;
        args[i].seed = seed0 * 2654435761u + (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;
        pthread_create(&mt[i], NULL, misuse_thread, &args[i]);
    }

    long rss_base = 0, rss_max = 0;
    int fd_base = 0, fd_max = 0;
    uint64_t last_ops[NTHREADS] = {0}, last_echo = 0;
    int stuck_s = 0;
    for (int sec = 1; sec <= secs; sec++) {
        sleep(1);
        long rss = rss_kib();
        int fds = fd_count();
        if (sec == (secs + 2) / 3) { rss_base = rss; fd_base = fds; }
        if (sec > (secs + 2) / 3) {
            if (rss > rss_max) rss_max = rss;
            if (fds > fd_max) fd_max = fds;
        }
        uint64_t echo = AT_LOAD(&g_echo_done), ops = 0;
        int idle_thread = -1;
        for (int i = 0; i < NTHREADS; i++) {
            uint64_t o = AT_LOAD(&g_ops[i]);
            ops += o;
            if (o == last_ops[i]) idle_thread = i;
            last_ops[i] = o;
        }
        if (echo == last_echo || idle_thread >= 0) stuck_s++;
        else stuck_s = 0;
        if (sec % 5 == 0 || sec == secs)
            printf("t=%2ds rss=%ld KiB fds=%d ops=%" PRIu64 " echo=%" PRIu64 " sessions=%" PRIu64
                   "/%" PRIu64 " refused=%" PRIu64 "\n",
                   sec, rss, fds, ops, echo, AT_LOAD(&g_sessions_ended), AT_LOAD(&g_sessions_started),
                   AT_LOAD(&g_refused));
        if (stuck_s >= 10) {
            failf("no progress for 10 s: echo %" PRIu64 ", thread %d in %s", echo, idle_thread,
                  idle_thread >= 0 ? g_curop[idle_thread] : "-");
            fflush(stderr);
            _exit(1);
        }
        last_echo = echo;
    }
    AT_STORE(&g_stop, 1);
    for (int i = 0; i < NTHREADS; i++) pthread_join(mt[i], NULL);
    pthread_join(tt, NULL);
    pthread_join(pt, NULL);

    /* Bounded: after the first third, RSS grows by at most 50% + 32 MiB,
     * descriptors by at most 32. */
    printf("rss after warm-up %ld KiB, max later %ld KiB; fds %d, max later %d\n", rss_base, rss_max,
           fd_base, fd_max);
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's quarantine holds freed blocks (256 MiB by default) and its
     * shadow grows with them: RSS says nothing here. The plain build
     * checks it. */
    printf("RSS bound not checked: AddressSanitizer build\n");
#else
    if (rss_max > rss_base + rss_base / 2 + 32 * 1024)
        failf("RSS grew from %ld to %ld KiB", rss_base, rss_max);
#endif
    if (fd_max > fd_base + 32) failf("descriptors grew from %d to %d", fd_base, fd_max);
    if (AT_LOAD(&g_echo_done) < (uint64_t)secs) failf("only %" PRIu64 " echo sessions completed", AT_LOAD(&g_echo_done));
    if (AT_LOAD(&g_refused) == 0) failf("no refused session seen");

    int rc;
    if ((rc = gowt_ctx_destroy(g_cli)) != GOWT_OK) failf("destroy cli %d", rc);
    while (gowt_ctx_process_events(g_poll, 0) > 0) {}
    if ((rc = gowt_ctx_destroy(g_poll)) != GOWT_OK) failf("destroy poll %d", rc);
    if ((rc = gowt_ctx_destroy(g_srv)) != GOWT_OK) failf("destroy srv %d", rc);
    free(g_big);
    uint64_t total = 0;
    for (int i = 0; i < NTHREADS; i++) total += g_ops[i];
    printf("misuse: %" PRIu64 " calls, %" PRIu64 " echo sessions, %" PRIu64 " failures\n", total,
           AT_LOAD(&g_echo_done), AT_LOAD(&g_failures));
    return AT_LOAD(&g_failures) ? 1 : 0;
}
