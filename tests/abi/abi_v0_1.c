/* An application built against the 0.1.0 header, run against the current
 * library. gowt_v0_1.h is include/gowt.h exactly as 0.1.0 released it
 * (frozen: never edit it). The program calls the 0.1.0 entry points
 * (gowt_config_init & co. were plain functions then), passes 0.1.0-sized
 * structs, returns 0.1.0's GOWT_CONNECT_DEFER (1), and runs a real loopback
 * session (server and client in this process, POLL mode). Canary bytes
 * after every struct prove the library never writes beyond the caller's
 * struct, although its own gowt_config is larger now. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gowt_v0_1.h"

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
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %d\n", __FILE__,   \
                    __LINE__, #expr, rc_, gowt_strerror(rc_), (int)(want));      \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

enum { CANARY = 0xA5, NCANARY = 64 };

static void canary_set(unsigned char *c) { memset(c, CANARY, NCANARY); }
static int canary_ok(const unsigned char *c) {
    for (int i = 0; i < NCANARY; i++)
        if (c[i] != CANARY) return 0;
    return 1;
}

/* Each struct directly followed by canary bytes (no padding between: all
 * three sizes are multiples of 8 on the ABIs we build for). */
typedef struct { gowt_config s; unsigned char canary[NCANARY]; } w_config;
typedef struct { gowt_path_options s; unsigned char canary[NCANARY]; } w_path;
typedef struct { gowt_connect_options s; unsigned char canary[NCANARY]; } w_conn;
typedef struct { gowt_session_info s; unsigned char canary[NCANARY]; } w_info;

typedef struct side {
    gowt_ctx *ctx;
    gowt_session_t session;
    int connect, accepted, refused, fin, dereg;
    char protocol[64];
    char got[64];
    size_t got_len;
} side;

static int srv_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    side *s = app;
    switch (ev->type) {
    case GOWT_EV_CONNECT:
        CHECK(strcmp(ev->request->path, "/abi") == 0);
        s->session = ev->session;
        s->connect++;
        return GOWT_CONNECT_DEFER; /* 1 in this header */
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
        snprintf(s->protocol, sizeof s->protocol, "%s", ev->protocol ? ev->protocol : "");
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

/* Deliver the events of both contexts (POLL mode) until *flag is non-zero
 * or ms passed; returns *flag. */
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

static void make_config(w_config *w, int insecure) {
    memset(w, 0x5A, sizeof *w);
    canary_set(w->canary);
    gowt_config_init(&w->s); /* the 0.1.0 symbol */
    CHECK(canary_ok(w->canary));
    CHECK(w->s.struct_size >= 8 && w->s.struct_size <= sizeof w->s);
    /* 0.1.0's documented defaults, and NULL / 0 elsewhere */
    CHECK(w->s.dispatch_mode == GOWT_DISPATCH_THREAD);
    CHECK(w->s.cert_file == NULL && w->s.key_pem == NULL && w->s.www_dir == NULL);
    CHECK(w->s.idle_timeout_ms == 30000 && w->s.handshake_timeout_ms == 10000);
    CHECK(w->s.keep_alive_ms == 0 && w->s.insecure_skip_verify == 0);
    CHECK(w->s.max_sessions == 10000 && w->s.max_incoming_streams_bidi == 1000);
    /* max_incoming_data's default became 4 MiB in 0.2.0 (a session window
     * below the connection's receive window); a value, not a layout change */
    CHECK(w->s.max_incoming_data == 4u << 20 && w->s.stream_send_buffer == 1u << 20);
    CHECK(w->s.event_queue_depth == 4096);
    w->s.dispatch_mode = GOWT_DISPATCH_POLL;
    w->s.insecure_skip_verify = insecure;
}

static void check_info(side *sd, gowt_session_t s) {
    w_info w;
    memset(&w, 0x5A, sizeof w);
    canary_set(w.canary);
    w.s.struct_size = sizeof w.s - 1; /* below the 0.1.0 layout: refused */
    CHECK_RC(gowt_session_get_info(sd->ctx, s, &w.s), GOWT_ERR_INVALID_ARG);
    CHECK(w.s.struct_size == sizeof w.s - 1 && w.s.bytes_sent == 0x5A5A5A5A5A5A5A5AULL);
    char msg[512];
    CHECK(gowt_ctx_last_error(sd->ctx, msg, sizeof msg) > 0);
    CHECK(strstr(msg, "struct_size") != NULL);

    w.s.struct_size = sizeof w.s;
    CHECK_RC(gowt_session_get_info(sd->ctx, s, &w.s), GOWT_OK);
    CHECK(canary_ok(w.canary));
    CHECK(w.s.struct_size == sizeof w.s); /* the library filled all of it */
    CHECK(w.s.session_id == 0);
    CHECK(w.s.bytes_sent == 9 && w.s.bytes_received == 9);
    CHECK(w.s.max_datagram_size >= 1000);
    CHECK(w.s.flow_control == 0 || w.s.flow_control == 1);
}

int main(void) {
    CHECK(gowt_version_number() >= GOWT_VERSION_NUMBER); /* a newer 0.x ... */
    CHECK(gowt_version_number() < 10000);                /* ... of major 0 */

    side srv, cli;
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    w_config sc, cc;
    make_config(&sc, 0);
    make_config(&cc, 1);
    CHECK_RC(gowt_ctx_create(&sc.s, &srv.ctx), GOWT_OK);
    CHECK_RC(gowt_ctx_create(&cc.s, &cli.ctx), GOWT_OK);
    CHECK(canary_ok(sc.canary) && canary_ok(cc.canary));

    w_path po;
    memset(&po, 0x5A, sizeof po);
    canary_set(po.canary);
    gowt_path_options_init(&po.s);
    CHECK(canary_ok(po.canary));
    CHECK(po.s.allowed_origins == NULL && po.s.protocols == NULL);
    po.s.protocols = "abi-proto";
    CHECK_RC(gowt_server_register(srv.ctx, "/abi", srv_cb, &srv, &po.s), GOWT_OK);
    uint16_t port = 0;
    CHECK_RC(gowt_server_listen(srv.ctx, "127.0.0.1", 0, &port), GOWT_OK);

    w_conn co;
    memset(&co, 0x5A, sizeof co);
    canary_set(co.canary);
    gowt_connect_options_init(&co.s);
    CHECK(canary_ok(co.canary));
    CHECK(co.s.protocols == NULL && co.s.header_count == 0 && co.s.new_connection == 0);
    co.s.protocols = "abi-proto";
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/abi", port);
    CHECK_RC(gowt_connect(cli.ctx, url, &co.s, cli_cb, &cli, &cli.session), GOWT_OK);
    CHECK(canary_ok(co.canary));

    /* 1 deferred the CONNECT, as it did in 0.1.0: no answer until accepted */
    CHECK(pump(&srv, &cli, &srv.connect, 10000));
    pump(&srv, &cli, &cli.refused, 300);
    CHECK(cli.accepted == 0 && cli.refused == 0);
    CHECK_RC(gowt_session_accept(srv.ctx, srv.session, NULL), GOWT_OK);
    CHECK(pump(&srv, &cli, &cli.accepted, 10000));
    CHECK(strcmp(cli.protocol, "abi-proto") == 0);

    uint64_t sid;
    CHECK_RC(gowt_create_local_stream(cli.ctx, cli.session, 1, NULL, &sid), GOWT_OK);
    CHECK_RC(gowt_stream_send(cli.ctx, cli.session, sid, "hello abi", 9, 1), GOWT_OK);
    CHECK(pump(&srv, &cli, &cli.fin, 10000));
    CHECK(cli.got_len == 9 && memcmp(cli.got, "hello abi", 9) == 0);

    check_info(&cli, cli.session);
    check_info(&srv, srv.session);

    CHECK_RC(gowt_session_close(cli.ctx, cli.session, 7, "done", 4), GOWT_OK);
    CHECK(pump(&srv, &cli, &cli.dereg, 10000));
    CHECK(pump(&srv, &cli, &srv.dereg, 10000));
    CHECK_RC(gowt_ctx_destroy(cli.ctx), GOWT_OK);
    CHECK_RC(gowt_ctx_destroy(srv.ctx), GOWT_OK);
    printf("abi_v0_1: ok (0.1.0 program on libgowt %s)\n", gowt_version());
    return 0;
}
