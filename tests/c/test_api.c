/* C API tests over real loopback sessions. Usage: test_api CASE */
#include "common.h"
#include "cases.h"

/* ---- a server that echoes, used by several cases ------------------------ */

typedef struct echo_srv {
    evlog log;
    gowt_ctx *ctx;
    uint16_t port;
    pthread_mutex_t mu;
    uint8_t *buf[64]; /* per-stream accumulation, indexed by stream_id/4 % 64 */
    size_t len[64];
} echo_srv;

static int echo_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    echo_srv *s = app;
    evlog_add(&s->log, ev);
    switch (ev->type) {
    case GOWT_EV_CONNECT:
        if (strcmp(ev->request->path, "/refuse") == 0) return 404;
        return 0;
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN: {
        size_t k = (size_t)(ev->stream_id / 4) % 64;
        pthread_mutex_lock(&s->mu);
        s->buf[k] = realloc(s->buf[k], s->len[k] + ev->length + 1);
        if (ev->length) /* a bare FIN's data is NULL */
            memcpy(s->buf[k] + s->len[k], ev->data, ev->length);
        s->len[k] += ev->length;
        if (ev->type == GOWT_EV_POST_FIN) {
            if (ev->flags & GOWT_STREAM_BIDI) {
                CHECK_OK(gowt_stream_send(ctx, ev->session, ev->stream_id, s->buf[k], s->len[k], 1));
            } else { /* uni: answer on a new uni stream */
                uint64_t id;
                CHECK_OK(gowt_create_local_stream(ctx, ev->session, 0, NULL, &id));
                CHECK_OK(gowt_stream_send(ctx, ev->session, id, s->buf[k], s->len[k], 1));
            }
            free(s->buf[k]);
            s->buf[k] = NULL;
            s->len[k] = 0;
        }
        pthread_mutex_unlock(&s->mu);
        break;
    }
    case GOWT_EV_POST_DATAGRAM:
        CHECK_OK(gowt_send_datagram(ctx, ev->session, ev->data, ev->length));
        break;
    default:
        break;
    }
    return 0;
}

static void echo_start(echo_srv *s) {
    memset(s, 0, sizeof *s);
    evlog_init(&s->log);
    pthread_mutex_init(&s->mu, NULL);
    s->ctx = new_ctx(0);
    CHECK_OK(gowt_server_register(s->ctx, "*", echo_cb, s, NULL));
    CHECK_OK(gowt_server_listen(s->ctx, "127.0.0.1", 0, &s->port));
    CHECK(s->port != 0);
}

static int record_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)ctx;
    evlog_add((evlog *)app, ev);
    return 0;
}

static gowt_session_t connect_to(gowt_ctx *ctx, uint16_t port, const char *path, evlog *log) {
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%u%s", port, path);
    gowt_session_t s = 0;
    CHECK_OK(gowt_connect(ctx, url, NULL, record_cb, log, &s));
    CHECK(s != 0);
    return s;
}

/* ---- cases --------------------------------------------------------------- */

static void test_version(void) {
    CHECK(gowt_version_number() == GOWT_VERSION_NUMBER);
    CHECK(strcmp(gowt_version(), "0.4.0") == 0);
    for (int e = 0; e >= GOWT_ERR_UNSUPPORTED; e--) {
        CHECK(strncmp(gowt_strerror(e), "GOWT_", 5) == 0);
    }
    CHECK(strcmp(gowt_strerror(-999), "unknown error") == 0);
    CHECK(strcmp(gowt_event_name(GOWT_EV_POST_FIN), "POST_FIN") == 0);
    CHECK(strcmp(gowt_event_name(999), "UNKNOWN") == 0);
}

static void test_echo_push(void) {
    echo_srv srv;
    echo_start(&srv);
    gowt_ctx *cli = new_ctx(0);
    evlog log;
    evlog_init(&log);
    size_t cur = 0, scur = 0;
    gowt_session_t s = connect_to(cli, srv.port, "/echo?x=1", &log);
    evlog_wait(&log, &cur, GOWT_EV_CONNECTING, 5000);
    rec_event acc = evlog_wait(&log, &cur, GOWT_EV_CONNECT_ACCEPTED, 5000);
    CHECK(acc.session == s);
    CHECK(acc.session_id == 0); /* first CONNECT stream of the connection */
    uint64_t id = 99;
    CHECK_OK(gowt_session_get_id(cli, s, &id));
    CHECK(id == 0);
    rec_event con = evlog_wait(&srv.log, &scur, GOWT_EV_CONNECT, 5000);
    CHECK(con.session_id == 0);

    /* bidi echo of 1 MiB (the push buffer holds exactly that) */
    size_t n = 1 << 20;
    uint8_t *payload = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < n; i++) payload[i] = (uint8_t)(i * 7 + 3);
    uint64_t sid;
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &sid));
    CHECK_OK(gowt_stream_send(cli, s, sid, payload, n, 1));
    CHECK_RC(gowt_stream_send(cli, s, sid, "x", 1, 0), GOWT_ERR_CLOSED); /* after FIN */
    for (int i = 0; i < 500; i++) {
        int fin;
        if (evlog_stream_bytes(&log, sid, NULL, 0, &fin) >= n && fin) break;
        sleep_ms(10);
    }
    int fin = 0;
    CHECK(evlog_stream_bytes(&log, sid, back, n, &fin) == n && fin);
    CHECK(memcmp(payload, back, n) == 0);

    /* uni stream: echoed on a new server uni stream */
    uint64_t uid;
    CHECK_OK(gowt_create_local_stream(cli, s, 0, NULL, &uid));
    CHECK(uid % 4 == 2); /* client-initiated uni */
    CHECK_OK(gowt_stream_send(cli, s, uid, "hello-uni", 9, 1));
    rec_event opened;
    do {
        opened = evlog_wait(&log, &cur, GOWT_EV_STREAM_OPENED, 5000);
    } while (opened.stream_id % 4 != 3);
    for (int i = 0; i < 500; i++) {
        if (evlog_stream_bytes(&log, opened.stream_id, NULL, 0, &fin) == 9 && fin) break;
        sleep_ms(10);
    }
    uint8_t ub[16];
    CHECK(evlog_stream_bytes(&log, opened.stream_id, ub, sizeof ub, &fin) == 9 && fin);
    CHECK(memcmp(ub, "hello-uni", 9) == 0);

    /* datagram round trip */
    size_t maxd = 0;
    CHECK_OK(gowt_max_datagram_size(cli, s, &maxd));
    CHECK(maxd >= 1000);
    uint8_t big[4000] = {0};
    CHECK_RC(gowt_send_datagram(cli, s, big, maxd + 1), GOWT_ERR_TOO_LARGE);
    CHECK_OK(gowt_send_datagram(cli, s, "ping", 4));
    rec_event dg = evlog_wait(&log, &cur, GOWT_EV_POST_DATAGRAM, 5000);
    CHECK(dg.length == 4 && memcmp(dg.data, "ping", 4) == 0);

    /* close with code and reason: the server sees both */
    CHECK_OK(gowt_session_close(cli, s, 0xdeadbeef, "bye now", 7));
    CHECK_CLOSED_OR_GONE(gowt_session_close(cli, s, 1, NULL, 0), &log, s);
    rec_event cl = evlog_wait(&srv.log, &scur, GOWT_EV_CLOSE, 5000);
    CHECK(cl.code == 0xdeadbeef);
    CHECK(cl.length == 7 && strcmp((char *)cl.data, "bye now") == 0);
    CHECK(cl.flags & GOWT_CLOSE_REMOTE);
    evlog_wait(&srv.log, &scur, GOWT_EV_DEREGISTER, 5000);
    rec_event lc = evlog_wait(&log, &cur, GOWT_EV_CLOSE, 5000);
    CHECK(lc.flags & GOWT_CLOSE_LOCAL);
    evlog_wait(&log, &cur, GOWT_EV_DEREGISTER, 5000);
    sleep_ms(50);
    CHECK_RC(gowt_session_close(cli, s, 1, NULL, 0), GOWT_ERR_NOT_FOUND);

    CHECK_OK(gowt_ctx_destroy(cli));
    CHECK_OK(gowt_ctx_destroy(srv.ctx));
    free(payload);
    free(back);
}

static void test_bad_inputs(void) {
    gowt_ctx *ctx = NULL;
    gowt_config cfg;
    memset(&cfg, 0, sizeof cfg);
    CHECK_RC(gowt_ctx_create(&cfg, &ctx), GOWT_ERR_INVALID_ARG); /* no init */
    CHECK(ctx == NULL);
    CHECK_RC(gowt_ctx_create(NULL, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_config_init_sized(NULL, sizeof cfg), GOWT_ERR_INVALID_ARG);
    CHECK_OK(gowt_config_init(&cfg));
    cfg.cert_file = "/nonexistent.pem";
    cfg.key_file = "/nonexistent.key";
    CHECK_RC(gowt_ctx_create(&cfg, &ctx), GOWT_ERR_TLS);
    gowt_config_init(&cfg);
    cfg.dispatch_mode = 7;
    CHECK_RC(gowt_ctx_create(&cfg, &ctx), GOWT_ERR_INVALID_ARG);

    ctx = new_ctx(0);
    char msg[256];
    gowt_session_t s = 0;
    uint64_t id;
    uint8_t *buf;
    int fd;
    CHECK_RC(gowt_ctx_destroy(NULL), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_ctx_destroy((gowt_ctx *)msg), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_server_register(ctx, NULL, record_cb, NULL, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_server_register(ctx, "/a", NULL, NULL, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_server_register(ctx, "nope", record_cb, NULL, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_OK(gowt_server_register(ctx, "/a", record_cb, NULL, NULL));
    CHECK_RC(gowt_server_register(ctx, "/a", record_cb, NULL, NULL), GOWT_ERR_STATE);
    CHECK_RC(gowt_server_unregister(ctx, "/b"), GOWT_ERR_NOT_FOUND);
    CHECK_OK(gowt_server_unregister(ctx, "/a"));
    CHECK_RC(gowt_ctx_last_error(ctx, msg, sizeof msg) > 0, 1);
    CHECK_RC(gowt_ctx_last_error(ctx, msg, 4), GOWT_ERR_RANGE);
    CHECK(strlen(msg) == 3);
    CHECK(gowt_ctx_last_error(ctx, msg, SIZE_MAX) > 0); /* any len: only the message is written */
    CHECK_RC(gowt_ctx_last_error(ctx, NULL, 0), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_connect(ctx, "http://x/", NULL, record_cb, NULL, &s), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_connect(ctx, "https://127.0.0.1:99999/", NULL, record_cb, NULL, &s), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_connect(ctx, NULL, NULL, record_cb, NULL, &s), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_connect(ctx, "https://127.0.0.1:1/", NULL, NULL, NULL, &s), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_connect(ctx, "https://127.0.0.1:1/", NULL, record_cb, NULL, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_session_close(ctx, 12345678, 0, NULL, 0), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_session_close(ctx, 12345678, 0, NULL, 3), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_create_local_stream(ctx, 12345678, 1, NULL, &id), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_create_local_stream(ctx, 12345678, 1, NULL, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_stream_send(ctx, 12345678, 0, NULL, 5, 0), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_stream_send(ctx, 12345678, 0, "x", 1, 0), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_send_datagram(ctx, 12345678, "x", 1), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_send_datagram(ctx, 12345678, NULL, 1), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_provide_stream_data(ctx, NULL, 0, 0, 0, &buf), GOWT_ERR_INVALID_ARG);
    gowt_event fake;
    memset(&fake, 0, sizeof fake);
    fake.token = 1;
    CHECK_RC(gowt_provide_stream_data(ctx, &fake, 0, 0, 0, &buf), GOWT_ERR_STATE);
    CHECK_RC(gowt_provide_datagram(ctx, &fake, 0, 0, &buf), GOWT_ERR_STATE);
    CHECK_RC(gowt_ctx_get_fd(ctx, &fd), GOWT_ERR_STATE); /* THREAD mode */
    CHECK_RC(gowt_ctx_process_events(ctx, 0), GOWT_ERR_STATE);
    CHECK_RC(gowt_ctx_cert_hash(ctx, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_server_listen(ctx, "256.1.1.1", 0, NULL), GOWT_ERR_NETWORK);

    /* a real session, then calls with bad stream IDs, sizes and states */
    echo_srv srv;
    echo_start(&srv);
    evlog log;
    evlog_init(&log);
    size_t cur = 0;
    s = connect_to(ctx, srv.port, "/x", &log);
    evlog_wait(&log, &cur, GOWT_EV_CONNECT_ACCEPTED, 5000);
    CHECK_RC(gowt_stream_send(ctx, s, 4000, "x", 1, 0), GOWT_ERR_NOT_FOUND);
    CHECK_OK(gowt_create_local_stream(ctx, s, 0, NULL, &id));
    static uint8_t huge[(1 << 20) + 1];
    CHECK_RC(gowt_stream_send(ctx, s, id, huge, sizeof huge, 0), GOWT_ERR_TOO_LARGE);
    CHECK_RC(gowt_stream_stop_sending(ctx, s, id, 1), GOWT_ERR_STATE); /* send-only */
    CHECK_RC(gowt_session_accept(ctx, s, NULL), GOWT_ERR_STATE);       /* client side */
    CHECK_RC(gowt_session_refuse(ctx, s, 404), GOWT_ERR_STATE);
    CHECK_RC(gowt_session_refuse(ctx, s, 200), GOWT_ERR_INVALID_ARG);
    char reason[1100];
    memset(reason, 'r', sizeof reason);
    CHECK_RC(gowt_session_close(ctx, s, 1, reason, 1025), GOWT_ERR_TOO_LARGE);
    CHECK_RC(gowt_session_close(ctx, s, 1, "\xff\xfe", 2), GOWT_ERR_INVALID_ARG);
    gowt_session_info info;
    memset(&info, 0, sizeof info);
    CHECK_RC(gowt_session_get_info(ctx, s, &info), GOWT_ERR_INVALID_ARG);
    info.struct_size = sizeof info;
    CHECK_OK(gowt_session_get_info(ctx, s, &info));
    CHECK(info.session_id == 0);
    CHECK_OK(gowt_session_close(ctx, s, 5, reason, 1024));
    CHECK_CLOSED_OR_GONE(gowt_create_local_stream(ctx, s, 1, NULL, &id), &log, s);
    CHECK_CLOSED_OR_GONE(gowt_send_datagram(ctx, s, "x", 1), &log, s);
    size_t scur = 0;
    rec_event cl = evlog_wait(&srv.log, &scur, GOWT_EV_CLOSE, 5000);
    CHECK(cl.code == 5 && cl.length == 1024);

    CHECK_OK(gowt_ctx_destroy(ctx));
    CHECK_RC(gowt_ctx_destroy(ctx), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_session_close(ctx, s, 0, NULL, 0), GOWT_ERR_NOT_FOUND);
    CHECK_OK(gowt_ctx_destroy(srv.ctx));
}

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

static const test_case cases[] = {
    {"version", test_version},
    {"bad_inputs", test_bad_inputs},
    {"echo_push", test_echo_push},
    {"pull", test_pull},
    {"push_backpressure", test_push_backpressure},
    {"server_streams", test_server_streams},
    {"reset_stop", test_reset_stop},
    {"refuse", test_refuse},
    {"drain", test_drain},
    {"server_close", test_server_close},
    {"poll_mode", test_poll_mode},
    {"threads", test_threads},
    {"destroy", test_destroy},
    {"many_streams", test_many_streams},
    {"multi_session", test_multi_session},
    {"two_process", test_two_process},
    {"serve_child", test_serve_child},
    {"cert", test_cert},
    {"defer_value", test_defer_value},
    {"defer_timeout", test_defer_timeout},
    {"connect_response_timeout", test_connect_response_timeout},
    {"ctx_wait", test_ctx_wait},
    {"thread_error", test_thread_error},
    {"receive_pause", test_receive_pause},
    {"log", test_log},
    {"stats", test_stats},
    {"client_cert", test_client_cert},
    {"resumption", test_resumption},
    {"priority", test_priority},
    {"priority_args", test_priority_args},
    {"streams_available", test_streams_available},
    {"nocopy", test_nocopy},
    {"nocopy_release", test_nocopy_release},
    {"runtime_gc", test_runtime_gc},
    {"opaque_values", test_opaque_values},
};

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].name, argv[1]) == 0) {
            cases[i].fn();
            printf("%s: ok\n", argv[1]);
            return 0;
        }
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
