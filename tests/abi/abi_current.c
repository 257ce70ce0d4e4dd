/* The sized-struct rule of gowt.h ("ABI: SONAME AND GROWING STRUCTS"),
 * tested exactly as documented, with the current header:
 *  - sizes: below the 0.1.0 layout, above GOWT_STRUCT_SIZE_MAX, or NULL are
 *    GOWT_ERR_INVALID_ARG with a message in gowt_last_error(), and nothing
 *    is written; every size in between is accepted, and init writes exactly
 *    struct_size bytes (defaults, then zeros);
 *  - the reverse direction: a "future" program whose structs have fields
 *    appended beyond what this library knows (future_* below) is accepted
 *    while those fields (and reserved* ones) are zero and refused when one
 *    is not; padding inside the library's struct is not looked at;
 *  - output: gowt_session_info of a future, larger size gets this library's
 *    fields, zeros beyond, struct_size = bytes filled, nothing past its end;
 *  - all of it over a real loopback session (POLL mode, one process).
 * Canary bytes after every struct catch writes beyond the caller's size. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gowt.h"

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)
#define CHECK_RC(expr, want)                                                     \
    do {                                                                         \
        int rc_ = (expr);                                                        \
        if (rc_ != (want)) {                                                     \
            char m_[512];                                                        \
            gowt_last_error(m_, sizeof m_);                                      \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %d; last error: %s\n", \
                    __FILE__, __LINE__, #expr, rc_, gowt_strerror(rc_), (int)(want), m_); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The 0.1.0 layouts end here (frozen facts of the first release). */
#define MIN_CONFIG END_OF(gowt_config, www_dir)
#define MIN_PATH END_OF(gowt_path_options, protocols)
#define MIN_CONN END_OF(gowt_connect_options, new_connection)
#define MIN_INFO END_OF(gowt_session_info, shared_connection)

/* The end of the last field of gowt_connect_options: tail padding follows
 * (frozen with the 0.1.0 layout). */
#define END_CONN END_OF(gowt_connect_options, new_connection)

enum { GARBAGE = 0x5A, BUF = GOWT_STRUCT_SIZE_MAX + 64 };

/* "Future" structs: today's layout plus fields a later header appends. */
typedef struct future_config {
    gowt_config cur;
    uint64_t next_a;
    uint32_t next_b;
} future_config;
typedef struct future_path {
    gowt_path_options cur;
    const char *next;
} future_path;
typedef struct future_conn {
    gowt_connect_options cur;
    uint64_t next;
} future_conn;
typedef struct future_info {
    gowt_session_info cur;
    uint64_t next[3];
} future_info;

static unsigned char buf[BUF];

static int all(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static void check_last_error(const char *needle) {
    char msg[512];
    int n = gowt_last_error(msg, sizeof msg);
    CHECK(n > 0);
    if (!strstr(msg, needle)) {
        fprintf(stderr, "last error \"%s\" lacks \"%s\"\n", msg, needle);
        exit(1);
    }
}

typedef int (*init_fn)(void *p, size_t size);
static int init_config(void *p, size_t n) { return gowt_config_init_sized(p, n); }
static int init_path(void *p, size_t n) { return gowt_path_options_init_sized(p, n); }
static int init_conn(void *p, size_t n) { return gowt_connect_options_init_sized(p, n); }

/* The size rule of one init function. */
static void check_init_sizes(init_fn init, size_t min, size_t lib) {
    size_t bad[] = {0, 1, 4, min - 1, GOWT_STRUCT_SIZE_MAX + 1, (size_t)1 << 40};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(buf, GARBAGE, sizeof buf);
        CHECK_RC(init(buf, bad[i]), GOWT_ERR_INVALID_ARG);
        CHECK(all(buf, sizeof buf, GARBAGE)); /* nothing written */
        check_last_error("struct_size");
    }
    CHECK_RC(init(NULL, lib), GOWT_ERR_INVALID_ARG);
    check_last_error("NULL");
    size_t good[] = {min, (min + lib) / 2, lib, lib + 4, lib + 200, GOWT_STRUCT_SIZE_MAX};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n = good[i];
        memset(buf, GARBAGE, sizeof buf);
        CHECK_RC(init(buf, n), GOWT_OK);
        uint32_t ss;
        memcpy(&ss, buf, sizeof ss);
        CHECK(ss == n);
        CHECK(all(buf + n, sizeof buf - n, GARBAGE)); /* nothing beyond n */
        if (n > lib) CHECK(all(buf + lib, n - lib, 0)); /* unknown: zeros */
    }
}

/* ---- the loopback session ---- */

typedef struct side {
    gowt_ctx *ctx;
    gowt_session_t session;
    int connect, accepted, refused, fin, dereg;
    char got[64];
    size_t got_len;
} side;

static int srv_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    side *s = app;
    switch (ev->type) {
    case GOWT_EV_CONNECT:
        s->session = ev->session;
        s->connect++;
        return GOWT_CONNECT_DEFER;
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        CHECK_RC(gowt_stream_send(ctx, ev->session, ev->stream_id, ev->data, ev->length,
                                  ev->type == GOWT_EV_POST_FIN),
                 GOWT_OK);
        break;
    case GOWT_EV_DEREGISTER:
        s->dereg++;
        break;
    default:
        break;
    }
    return 0;
}

static int cli_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    side *s = app;
    (void)ctx;
    switch (ev->type) {
    case GOWT_EV_CONNECT_ACCEPTED:
        s->accepted++;
        break;
    case GOWT_EV_CONNECT_REFUSED:
        s->refused++;
        break;
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        CHECK(s->got_len + ev->length < sizeof s->got);
        if (ev->length) /* a bare FIN's data is NULL: memcpy must not see it */
            memcpy(s->got + s->got_len, ev->data, ev->length);
        s->got_len += ev->length;
        if (ev->type == GOWT_EV_POST_FIN) s->fin = 1;
        break;
    case GOWT_EV_DEREGISTER:
        s->dereg++;
        break;
    default:
        break;
    }
    return 0;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pump(side *a, side *b, const int *flag, int ms) {
    struct pollfd fds[2];
    CHECK_RC(gowt_ctx_get_fd(a->ctx, &fds[0].fd), GOWT_OK);
    CHECK_RC(gowt_ctx_get_fd(b->ctx, &fds[1].fd), GOWT_OK);
    long long end = now_ms() + ms;
    while (!*flag && now_ms() < end) {
        fds[0].events = fds[1].events = POLLIN;
        (void)poll(fds, 2, 10);
        CHECK(gowt_ctx_process_events(a->ctx, 0) >= 0);
        CHECK(gowt_ctx_process_events(b->ctx, 0) >= 0);
    }
    return *flag;
}

typedef struct { future_config s; unsigned char canary[64]; } w_config;
typedef struct { future_info s; unsigned char canary[64]; } w_info;

static void future_config_init(w_config *w, int insecure) {
    memset(w, GARBAGE, sizeof *w);
    CHECK_RC(gowt_config_init_sized(&w->s.cur, sizeof w->s), GOWT_OK);
    CHECK(all(w->canary, sizeof w->canary, GARBAGE));
    CHECK(w->s.cur.struct_size == sizeof w->s);
    CHECK(w->s.cur.connect_decision_timeout_ms == 10000); /* a 0.2.0 default */
    CHECK(w->s.cur.connect_response_timeout_ms == 30000); /* a 0.4.0 default */
    CHECK(w->s.cur.idle_timeout_ms == 30000);
    CHECK(w->s.next_a == 0 && w->s.next_b == 0);
    w->s.cur.dispatch_mode = GOWT_DISPATCH_POLL;
    w->s.cur.insecure_skip_verify = insecure;
}

static void check_info(side *sd, gowt_session_t s) {
    w_info w;
    memset(&w, GARBAGE, sizeof w);
    w.s.cur.struct_size = (uint32_t)MIN_INFO - 1;
    CHECK_RC(gowt_session_get_info(sd->ctx, s, &w.s.cur), GOWT_ERR_INVALID_ARG);
    check_last_error("struct_size");
    CHECK(all((unsigned char *)&w + 4, sizeof w - 4, GARBAGE));
    w.s.cur.struct_size = GOWT_STRUCT_SIZE_MAX + 1;
    CHECK_RC(gowt_session_get_info(sd->ctx, s, &w.s.cur), GOWT_ERR_INVALID_ARG);
    CHECK(all((unsigned char *)&w + 4, sizeof w - 4, GARBAGE));
    CHECK_RC(gowt_session_get_info(sd->ctx, s, NULL), GOWT_ERR_INVALID_ARG);

    /* a future caller: larger than the library's struct */
    w.s.cur.struct_size = sizeof w.s;
    CHECK_RC(gowt_session_get_info(sd->ctx, s, &w.s.cur), GOWT_OK);
    CHECK(all(w.canary, sizeof w.canary, GARBAGE));
    CHECK(w.s.cur.struct_size == sizeof(gowt_session_info)); /* bytes filled */
    CHECK(w.s.next[0] == 0 && w.s.next[1] == 0 && w.s.next[2] == 0);
    CHECK(GOWT_HAS_FIELD(&w.s.cur, gowt_session_info, shared_connection));
    CHECK(w.s.cur.session_id == 0 && w.s.cur.bytes_sent == 5 && w.s.cur.bytes_received == 5);

    /* the 0.1.0 size: exactly that is written */
    memset(&w, GARBAGE, sizeof w);
    w.s.cur.struct_size = (uint32_t)MIN_INFO;
    CHECK_RC(gowt_session_get_info(sd->ctx, s, &w.s.cur), GOWT_OK);
    CHECK(w.s.cur.struct_size == MIN_INFO);
    CHECK(all((unsigned char *)&w + MIN_INFO, sizeof w - MIN_INFO, GARBAGE));
    CHECK(w.s.cur.bytes_sent == 5);
}

int main(void) {
    CHECK(gowt_version_number() == GOWT_VERSION_NUMBER);

    /* Library-owned structs grow only at the end: 0.3.0's send_ctx comes
     * after every 0.2.0 field of gowt_event; event numbers are frozen. */
    CHECK(offsetof(gowt_event, send_ctx) >= END_OF(gowt_event, peer_cert_sha256));
    CHECK(offsetof(gowt_event, peer_cert_sha256) >= END_OF(gowt_event, token));
    CHECK(GOWT_EV_STREAMS_AVAILABLE == 19 && GOWT_EV_SEND_COMPLETE == 20);

    /* ---- sizes ---- */
    check_init_sizes(init_config, MIN_CONFIG, sizeof(gowt_config));
    check_init_sizes(init_path, MIN_PATH, sizeof(gowt_path_options));
    check_init_sizes(init_conn, MIN_CONN, sizeof(gowt_connect_options));
    CHECK(MIN_CONFIG < sizeof(gowt_config)); /* gowt_config grew in 0.2.0 */

    /* gowt_ctx_create reads only struct_size bytes: garbage after a 0.1.0
     * sized config is never looked at */
    gowt_ctx *ctx = NULL;
    memset(buf, GARBAGE, sizeof buf);
    CHECK_RC(gowt_config_init_sized((gowt_config *)buf, MIN_CONFIG), GOWT_OK);
    CHECK_RC(gowt_ctx_create((gowt_config *)buf, &ctx), GOWT_OK);
    CHECK_RC(gowt_ctx_destroy(ctx), GOWT_OK);
    /* struct_size out of range at create: refused with a thread message */
    gowt_config cfg;
    gowt_config_init(&cfg);
    cfg.struct_size = (uint32_t)MIN_CONFIG - 8;
    CHECK_RC(gowt_ctx_create(&cfg, &ctx), GOWT_ERR_INVALID_ARG);
    CHECK(ctx == NULL);
    check_last_error("gowt_config.struct_size");
    cfg.struct_size = GOWT_STRUCT_SIZE_MAX + 8;
    CHECK_RC(gowt_ctx_create(&cfg, &ctx), GOWT_ERR_INVALID_ARG);

    /* ---- the reverse direction: a future program ---- */
    w_config fc;
    future_config_init(&fc, 0);
    CHECK_RC(gowt_ctx_create(&fc.s.cur, &ctx), GOWT_OK); /* unknown fields 0 */
    CHECK_RC(gowt_ctx_destroy(ctx), GOWT_OK);
    fc.s.next_b = 7;
    CHECK_RC(gowt_ctx_create(&fc.s.cur, &ctx), GOWT_ERR_INVALID_ARG);
    CHECK(ctx == NULL);
    check_last_error("is not zero");
    fc.s.next_b = 0;
    ((unsigned char *)&fc.s)[sizeof(gowt_config)] = 1; /* first byte past the library's */
    CHECK_RC(gowt_ctx_create(&fc.s.cur, &ctx), GOWT_ERR_INVALID_ARG);
    ((unsigned char *)&fc.s)[sizeof(gowt_config)] = 0;
    ((unsigned char *)&fc.s)[sizeof fc.s - 1] = 1; /* last byte (padding of future_config) */
    CHECK_RC(gowt_ctx_create(&fc.s.cur, &ctx), GOWT_ERR_INVALID_ARG);
    ((unsigned char *)&fc.s)[sizeof fc.s - 1] = 0;
    /* 0.4.0's connect_response_timeout_ms took reserved0's place (same
     * offset): set, it is taken (a 0.3.0 library refused it as reserved). */
    CHECK(offsetof(gowt_config, connect_response_timeout_ms) ==
          offsetof(gowt_config, connect_decision_timeout_ms) + 4);
    fc.s.cur.connect_response_timeout_ms = 1;
    CHECK_RC(gowt_ctx_create(&fc.s.cur, &ctx), GOWT_OK);
    CHECK_RC(gowt_ctx_destroy(ctx), GOWT_OK);
    fc.s.cur.connect_response_timeout_ms = 0;

    /* ---- loopback session with future structs ---- */
    side srv, cli;
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    w_config cc;
    future_config_init(&cc, 1);
    CHECK_RC(gowt_ctx_create(&fc.s.cur, &srv.ctx), GOWT_OK);
    CHECK_RC(gowt_ctx_create(&cc.s.cur, &cli.ctx), GOWT_OK);

    future_path fp;
    memset(&fp, GARBAGE, sizeof fp);
    CHECK_RC(gowt_path_options_init_sized(&fp.cur, sizeof fp), GOWT_OK);
    CHECK(fp.next == NULL && fp.cur.protocols == NULL);
    fp.next = "set";
    CHECK_RC(gowt_server_register(srv.ctx, "/abi", srv_cb, &srv, &fp.cur), GOWT_ERR_INVALID_ARG);
    check_last_error("gowt_path_options");
    fp.next = NULL;
    CHECK_RC(gowt_server_register(srv.ctx, "/abi", srv_cb, &srv, &fp.cur), GOWT_OK);
    uint16_t port = 0;
    CHECK_RC(gowt_server_listen(srv.ctx, "127.0.0.1", 0, &port), GOWT_OK);

    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/abi", port);
    future_conn fo;
    memset(&fo, GARBAGE, sizeof fo);
    CHECK_RC(gowt_connect_options_init_sized(&fo.cur, sizeof fo), GOWT_OK);
    CHECK(fo.next == 0);
    fo.next = 1;
    CHECK_RC(gowt_connect(cli.ctx, url, &fo.cur, cli_cb, &cli, &cli.session), GOWT_ERR_INVALID_ARG);
    check_last_error("gowt_connect_options");
    fo.next = 0;
    /* padding inside the library's struct (here: after new_connection, on
     * LP64) is never looked at, so a struct copy that left garbage there
     * still works */
    if (sizeof(gowt_connect_options) > END_CONN) ((unsigned char *)&fo.cur)[END_CONN] = 1;
    CHECK_RC(gowt_connect(cli.ctx, url, &fo.cur, cli_cb, &cli, &cli.session), GOWT_OK);

    CHECK(pump(&srv, &cli, &srv.connect, 10000));
    pump(&srv, &cli, &cli.refused, 300); /* deferred: no answer yet */
    CHECK(cli.accepted == 0 && cli.refused == 0);
    CHECK_RC(gowt_session_accept(srv.ctx, srv.session, NULL), GOWT_OK);
    CHECK(pump(&srv, &cli, &cli.accepted, 10000));

    uint64_t sid;
    CHECK_RC(gowt_create_local_stream(cli.ctx, cli.session, 1, NULL, &sid), GOWT_OK);
    CHECK_RC(gowt_stream_send(cli.ctx, cli.session, sid, "hello", 5, 1), GOWT_OK);
    CHECK(pump(&srv, &cli, &cli.fin, 10000));
    CHECK(cli.got_len == 5 && memcmp(cli.got, "hello", 5) == 0);

    check_info(&cli, cli.session);
    check_info(&srv, srv.session);

    CHECK_RC(gowt_session_close(cli.ctx, cli.session, 0, NULL, 0), GOWT_OK);
    CHECK(pump(&srv, &cli, &cli.dereg, 10000));
    CHECK(pump(&srv, &cli, &srv.dereg, 10000));
    CHECK_RC(gowt_ctx_destroy(cli.ctx), GOWT_OK);
    CHECK_RC(gowt_ctx_destroy(srv.ctx), GOWT_OK);
    printf("abi_current: ok\n");
    return 0;
}
