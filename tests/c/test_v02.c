/* Cases of the 0.2.0 additions, over loopback sessions:
 *   defer_value    GOWT_CONNECT_DEFER's new value defers, 1 refuses with
 *                  500, and 1 still defers for a 0.1.0-layout config
 *   defer_timeout  an undecided deferred CONNECT is refused with 503 after
 *                  connect_decision_timeout_ms; one decided in time stays
 *   connect_response_timeout  (0.4.0) a client whose CONNECT the server
 *                  leaves undecided gives up after connect_response_timeout_ms
 *                  (CONNECT_REFUSED code 0), and the server's session ends
 *   ctx_wait       gowt_ctx_wait: results, timeouts, signals, in callbacks
 *   thread_error   gowt_last_error is per thread, with or without context */
#include <signal.h>

#include "cases.h"
#include "common.h"

/* Server hook: "/defer" defers with GOWT_CONNECT_DEFER, "/one" returns 1;
 * other paths accept. */
static int defer_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    (void)srv;
    (void)ctx;
    if (ev->type != GOWT_EV_CONNECT) return HOOK_CONTINUE;
    if (strcmp(ev->request->path, "/defer") == 0) return GOWT_CONNECT_DEFER;
    if (strcmp(ev->request->path, "/one") == 0) return 1;
    return 0;
}

/* The server session of the idx-th CONNECT. */
static gowt_session_t server_session(tsrv *srv, size_t idx) {
    rec_event con;
    WAIT_UNTIL(evlog_get(&srv->log, idx, GOWT_EV_CONNECT, 0, ANY_ID, &con), 5000);
    return con.session;
}

void test_defer_value(void) {
    CHECK(GOWT_CONNECT_DEFER != 1 && (GOWT_CONNECT_DEFER < 400 || GOWT_CONNECT_DEFER > 599));
    tsrv srv;
    tsrv_start(&srv, NULL, 1, defer_hook, NULL);
    gowt_ctx *cli = ctx_with(NULL);
    evlog l1, l2;
    evlog_init(&l1);
    evlog_init(&l2);

    /* 1 is no longer "defer": refused with 500 */
    gowt_session_t one = cli_connect(cli, srv.port, "/one", NULL, &l1);
    rec_event ref = evlog_wait_any(&l1, GOWT_EV_CONNECT_REFUSED, one, ANY_ID, 5000);
    CHECK(ref.code == 500);
    evlog_wait_any(&l1, GOWT_EV_DEREGISTER, one, ANY_ID, 5000);

    /* GOWT_CONNECT_DEFER defers until the application decides */
    gowt_session_t d = cli_connect(cli, srv.port, "/defer", NULL, &l2);
    gowt_session_t sd = server_session(&srv, 1);
    sleep_ms(200);
    CHECK(evlog_count_for(&l2, GOWT_EV_CONNECT_ACCEPTED, d, ANY_ID) == 0);
    CHECK(evlog_count_for(&l2, GOWT_EV_CONNECT_REFUSED, d, ANY_ID) == 0);
    CHECK_OK(gowt_session_accept(srv.ctx, sd, NULL));
    evlog_wait_any(&l2, GOWT_EV_CONNECT_ACCEPTED, d, ANY_ID, 5000);
    CHECK_OK(gowt_session_close(cli, d, 0, NULL, 0));
    evlog_wait_any(&l2, GOWT_EV_DEREGISTER, d, ANY_ID, 5000);
    tsrv_stop(&srv);

    /* a server built against 0.1.0 (its config has the 0.1.0 layout) keeps
     * 1 as "defer" */
    gowt_config old;
    CHECK_OK(gowt_config_init_sized(&old, offsetof(gowt_config, www_dir) + sizeof old.www_dir));
    tsrv_start(&srv, &old, 1, defer_hook, NULL);
    evlog l3;
    evlog_init(&l3);
    gowt_session_t o = cli_connect(cli, srv.port, "/one", NULL, &l3);
    gowt_session_t so = server_session(&srv, 0);
    sleep_ms(200);
    CHECK(evlog_count_for(&l3, GOWT_EV_CONNECT_REFUSED, o, ANY_ID) == 0);
    CHECK_OK(gowt_session_accept(srv.ctx, so, NULL));
    evlog_wait_any(&l3, GOWT_EV_CONNECT_ACCEPTED, o, ANY_ID, 5000);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

void test_defer_timeout(void) {
    gowt_config cfg;
    CHECK_OK(gowt_config_init(&cfg));
    CHECK(cfg.connect_decision_timeout_ms == 10000); /* the default */
    cfg.connect_decision_timeout_ms = 300;
    tsrv srv;
    tsrv_start(&srv, &cfg, 1, defer_hook, NULL);
    gowt_ctx *cli = ctx_with(NULL);
    evlog l1, l2;
    evlog_init(&l1);
    evlog_init(&l2);

    /* left undecided: 503 after the timeout, and the server session ends
     * with DEREGISTER but no CLOSE */
    long long t0 = now_ms();
    gowt_session_t a = cli_connect(cli, srv.port, "/defer?k=late", NULL, &l1);
    gowt_session_t sa = server_session(&srv, 0);
    rec_event ref = evlog_wait_any(&l1, GOWT_EV_CONNECT_REFUSED, a, ANY_ID, 5000);
    long long waited = now_ms() - t0;
    CHECK(ref.code == 503);
    CHECK(waited >= 250);
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, sa, ANY_ID, 5000);
    CHECK(evlog_count_for(&srv.log, GOWT_EV_CLOSE, sa, ANY_ID) == 0);
    int rc = gowt_session_accept(srv.ctx, sa, NULL); /* too late */
    CHECK(rc == GOWT_ERR_STATE || rc == GOWT_ERR_NOT_FOUND);

    /* decided in time: the timer does nothing afterwards */
    gowt_session_t b = cli_connect(cli, srv.port, "/defer?k=intime", NULL, &l2);
    gowt_session_t sb = server_session(&srv, 1);
    sleep_ms(100);
    CHECK_OK(gowt_session_accept(srv.ctx, sb, NULL));
    evlog_wait_any(&l2, GOWT_EV_CONNECT_ACCEPTED, b, ANY_ID, 5000);
    sleep_ms(500); /* past the timeout */
    CHECK(evlog_count_for(&l2, GOWT_EV_CLOSE, b, ANY_ID) == 0);
    CHECK(evlog_count_for(&l2, GOWT_EV_CONNECT_REFUSED, b, ANY_ID) == 0);
    uint64_t sid;
    CHECK_OK(gowt_create_local_stream(cli, b, 1, NULL, &sid));
    CHECK_OK(gowt_stream_send(cli, b, sid, "still here", 10, 1));
    WAIT_UNTIL(evlog_count_for(&l2, GOWT_EV_POST_FIN, b, sid) == 1, 5000);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

void test_connect_response_timeout(void) {
    tsrv srv; /* defers "/defer" and, by default, decides within 10 s */
    tsrv_start(&srv, NULL, 1, defer_hook, NULL);
    gowt_config cfg;
    CHECK_OK(gowt_config_init(&cfg));
    CHECK(cfg.connect_response_timeout_ms == 30000); /* the default */
    cfg.connect_response_timeout_ms = 400;
    cfg.keep_alive_ms = 100; /* the connection stays up: only the timeout ends it */
    gowt_ctx *cli = ctx_with(&cfg);
    evlog l1;
    evlog_init(&l1);
    long long t0 = now_ms();
    gowt_session_t a = cli_connect(cli, srv.port, "/defer", NULL, &l1);
    gowt_session_t sa = server_session(&srv, 0);
    rec_event ref = evlog_wait_any(&l1, GOWT_EV_CONNECT_REFUSED, a, ANY_ID, 5000);
    CHECK(now_ms() - t0 >= 400);
    CHECK(ref.code == 0);
    CHECK(strstr((const char *)ref.data, "no CONNECT response within 400ms") != NULL);
    evlog_wait_any(&l1, GOWT_EV_DEREGISTER, a, ANY_ID, 5000);
    /* the request was cancelled: the undecided server session ends (long
     * before its own 10 s decision timeout), and deciding now fails */
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, sa, ANY_ID, 5000);
    CHECK(now_ms() - t0 < 9000);
    int rc = gowt_session_accept(srv.ctx, sa, NULL);
    CHECK(rc == GOWT_ERR_STATE || rc == GOWT_ERR_NOT_FOUND);
    /* an answered CONNECT is not affected */
    gowt_session_t b = cli_connect(cli, srv.port, "/echo", NULL, &l1);
    evlog_wait_any(&l1, GOWT_EV_CONNECT_ACCEPTED, b, ANY_ID, 5000);
    sleep_ms(600); /* past the timeout */
    CHECK(evlog_count_for(&l1, GOWT_EV_CLOSE, b, ANY_ID) == 0);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

/* ---- ctx_wait ---- */

typedef struct wait_cli {
    evlog log;
    int rc_in_cb; /* gowt_ctx_wait from inside a callback */
} wait_cli;

static int wait_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    wait_cli *w = app;
    if (ev->type == GOWT_EV_CONNECT_ACCEPTED) w->rc_in_cb = gowt_ctx_wait(ctx, 0);
    evlog_add(&w->log, ev);
    return 0;
}

static void on_usr1(int sig) { (void)sig; }

typedef struct kicker {
    pthread_t target;
    int n;
} kicker;

static void *kick(void *p) {
    kicker *k = p;
    for (int i = 0; i < k->n; i++) {
        sleep_ms(30);
        pthread_kill(k->target, SIGUSR1);
    }
    return NULL;
}

void test_ctx_wait(void) {
    gowt_ctx *thr = ctx_with(NULL);
    CHECK_RC(gowt_ctx_wait(thr, 0), GOWT_ERR_STATE); /* THREAD mode */
    CHECK_OK(gowt_ctx_destroy(thr));
    CHECK_RC(gowt_ctx_wait(NULL, 0), GOWT_ERR_NOT_FOUND);

    tsrv srv;
    tsrv_start(&srv, NULL, 1, NULL, NULL);
    gowt_ctx *cli = new_ctx(1);
    CHECK_RC(gowt_ctx_wait(cli, -2), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_ctx_wait(cli, 0), 0); /* nothing pending */
    long long t0 = now_ms();
    CHECK_RC(gowt_ctx_wait(cli, 100), 0);
    CHECK(now_ms() - t0 >= 95);

    /* signals do not end the wait early (a handler with SA_ONSTACK, as the
     * header asks of hosts of the Go runtime) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    kicker k = {pthread_self(), 5};
    pthread_t kt;
    CHECK(pthread_create(&kt, NULL, kick, &k) == 0);
    t0 = now_ms();
    CHECK_RC(gowt_ctx_wait(cli, 300), 0);
    CHECK(now_ms() - t0 >= 290);
    CHECK(pthread_join(kt, NULL) == 0);

    /* a session driven by wait + process_events alone */
    wait_cli w;
    memset(&w, 0, sizeof w);
    evlog_init(&w.log);
    w.rc_in_cb = 1;
    char url[128];
    url_for(url, sizeof url, srv.port, "/w");
    gowt_session_t s;
    CHECK_OK(gowt_connect(cli, url, NULL, wait_cb, &w, &s));
    long long end = now_ms() + 5000;
    while (evlog_count_for(&w.log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID) == 0) {
        CHECK(now_ms() < end);
        int r = gowt_ctx_wait(cli, -1); /* no limit: events are coming */
        CHECK(r == 1);
        CHECK(gowt_ctx_process_events(cli, 0) >= 0);
    }
    CHECK_RC(w.rc_in_cb, GOWT_ERR_BUSY); /* inside a callback of cli */
    uint64_t sid;
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &sid));
    CHECK_OK(gowt_stream_send(cli, s, sid, "waited", 6, 1));
    while (evlog_count_for(&w.log, GOWT_EV_POST_FIN, s, sid) == 0) {
        CHECK(now_ms() < end);
        if (gowt_ctx_wait(cli, 50) == 1) CHECK(gowt_ctx_process_events(cli, 0) >= 0);
    }
    int fin;
    uint8_t back[16];
    CHECK(evlog_stream_bytes(&w.log, sid, back, sizeof back, &fin) == 6 && fin);
    CHECK(memcmp(back, "waited", 6) == 0);
    CHECK_OK(gowt_ctx_destroy(cli));
    CHECK_RC(gowt_ctx_wait(cli, 0), GOWT_ERR_NOT_FOUND);
    tsrv_stop(&srv);
}

/* ---- thread_error ---- */

typedef struct other_thread {
    gowt_ctx *ctx;
    char before[256], after[256];
    int rc_before, rc_after;
} other_thread;

static void *other(void *p) {
    other_thread *o = p;
    o->rc_before = gowt_last_error(o->before, sizeof o->before); /* fresh thread */
    CHECK_RC(gowt_session_close(o->ctx, 987654321, 0, NULL, 0), GOWT_ERR_NOT_FOUND);
    o->rc_after = gowt_last_error(o->after, sizeof o->after);
    return NULL;
}

typedef struct cb_errors {
    evlog log;
    char msg[256];
    int rc;
} cb_errors;

static int err_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    cb_errors *e = app;
    if (ev->type == GOWT_EV_CONNECT_ACCEPTED) {
        /* on the dispatch thread: its own message */
        CHECK_RC(gowt_stream_send(ctx, ev->session, 4000, "x", 1, 0), GOWT_ERR_NOT_FOUND);
        e->rc = gowt_last_error(e->msg, sizeof e->msg);
    }
    evlog_add(&e->log, ev);
    return 0;
}

void test_thread_error(void) {
    char msg[256];
    CHECK_RC(gowt_last_error(NULL, 10), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_last_error(msg, 0), GOWT_ERR_INVALID_ARG);

    /* an error with no context: gowt_ctx_create */
    gowt_config cfg;
    CHECK_OK(gowt_config_init(&cfg));
    cfg.dispatch_mode = 9;
    gowt_ctx *bad = NULL;
    CHECK_RC(gowt_ctx_create(&cfg, &bad), GOWT_ERR_INVALID_ARG);
    int n = gowt_last_error(msg, sizeof msg);
    CHECK(n > 0 && (size_t)n == strlen(msg));
    CHECK(strstr(msg, "dispatch_mode") != NULL);
    /* successful calls leave it (like errno); so does reading it */
    gowt_ctx *ctx = ctx_with(NULL);
    char again[256];
    CHECK(gowt_last_error(again, sizeof again) == n && strcmp(again, msg) == 0);
    /* too small a buffer: truncated, GOWT_ERR_RANGE */
    char small[8];
    CHECK_RC(gowt_last_error(small, sizeof small), GOWT_ERR_RANGE);
    CHECK(strlen(small) == 7 && strncmp(small, msg, 7) == 0);

    /* another thread has its own message and does not change ours */
    other_thread o;
    memset(&o, 0, sizeof o);
    o.ctx = ctx;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, other, &o) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(o.rc_before == 0 && o.before[0] == 0);
    CHECK(o.rc_after > 0 && strstr(o.after, "987654321") != NULL);
    CHECK(gowt_last_error(again, sizeof again) == n && strcmp(again, msg) == 0);
    /* the context's message is the other thread's (last set on it) */
    CHECK(gowt_ctx_last_error(ctx, again, sizeof again) > 0);
    CHECK(strcmp(again, o.after) == 0);
    /* an unknown context: a message here, none anywhere else */
    CHECK_RC(gowt_ctx_process_events((gowt_ctx *)msg, 0), GOWT_ERR_NOT_FOUND);
    CHECK(gowt_last_error(again, sizeof again) > 0 && strstr(again, "unknown") != NULL);

    /* inside callbacks (the dispatch thread) over a loopback session */
    tsrv srv;
    tsrv_start(&srv, NULL, 1, NULL, NULL);
    cb_errors e;
    memset(&e, 0, sizeof e);
    evlog_init(&e.log);
    char url[128];
    url_for(url, sizeof url, srv.port, "/e");
    gowt_session_t s;
    CHECK_OK(gowt_connect(ctx, url, NULL, err_cb, &e, &s));
    evlog_wait_any(&e.log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    CHECK(e.rc > 0 && strstr(e.msg, "stream") != NULL);
    CHECK(gowt_last_error(again, sizeof again) > 0 && strstr(again, "unknown") != NULL);
    CHECK_OK(gowt_ctx_destroy(ctx));
    tsrv_stop(&srv);
}

/* receive_pause: gowt_stream_set_receive_enabled pauses one stream (the
 * other finishes), resuming delivers the rest; recv_buffer_bytes and the
 * QUIC stream windows of gowt_config are taken. */
typedef struct pause_state {
    uint64_t paused; /* stream ID, or UINT64_MAX */
    gowt_session_t s;
} pause_state;

static int pause_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    pause_state *ps = srv->user;
    if (ev->type == GOWT_EV_STREAM_OPENED && AT_LOAD(&ps->paused) == UINT64_MAX) {
        sleep_ms(20); /* a loaded callback thread: the pause comes late */
        CHECK_OK(gowt_stream_set_receive_enabled(ctx, ev->session, ev->stream_id, 0));
        CHECK_OK(gowt_stream_set_receive_enabled(ctx, ev->session, ev->stream_id, 0));
        AT_STORE(&ps->s, ev->session);
        AT_STORE(&ps->paused, ev->stream_id);
    }
    return HOOK_CONTINUE;
}

void test_receive_pause(void) {
    gowt_config cfg;
    CHECK_OK(gowt_config_init(&cfg));
    CHECK(cfg.recv_buffer_bytes == 16u << 20 && cfg.conn_recv_window == 8u << 20);
    /* a stream is read from its opening, before the hook pauses it: the
     * budget keeps that (at most 384 KiB) under the 512 KiB sent on it */
    cfg.recv_buffer_bytes = 256 << 10;
    cfg.stream_recv_window = cfg.max_stream_recv_window = 64 << 10;
    pause_state ps = {UINT64_MAX, 0};
    tsrv srv;
    tsrv_start(&srv, &cfg, 0, pause_hook, &ps);
    srv.log.no_data = 1; /* before any stream: only lengths are logged */
    gowt_ctx *cli = ctx_with(NULL);
    evlog l;
    evlog_init(&l);
    gowt_session_t s = cli_connect(cli, srv.port, "/pause", NULL, &l);
    evlog_wait_any(&l, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);

    size_t n = 512 << 10;
    uint8_t *buf = malloc(n);
    pat_fill(buf, 7, 0, n);
    uint64_t a, b;
    CHECK_OK(gowt_create_local_stream(cli, s, 0, NULL, &a));
    CHECK_OK(gowt_stream_send(cli, s, a, buf, n, 1));
    WAIT_UNTIL(AT_LOAD(&ps.paused) != UINT64_MAX, 5000);
    CHECK_OK(gowt_create_local_stream(cli, s, 0, NULL, &b));
    CHECK_OK(gowt_stream_send(cli, s, b, buf, n, 1));
    /* a client send-only stream cannot be paused; unknown streams */
    CHECK_RC(gowt_stream_set_receive_enabled(cli, s, a, 0), GOWT_ERR_STATE);
    CHECK_RC(gowt_stream_set_receive_enabled(cli, s, 999999, 0), GOWT_ERR_NOT_FOUND);

    rec_event fin = evlog_wait_any(&srv.log, GOWT_EV_POST_FIN, 0, ANY_ID, 10000);
    uint64_t paused = AT_LOAD(&ps.paused);
    CHECK(fin.stream_id != paused);
    sleep_ms(200);
    CHECK(evlog_count_for(&srv.log, GOWT_EV_POST_FIN, 0, paused) == 0);
    CHECK_OK(gowt_stream_set_receive_enabled(srv.ctx, AT_LOAD(&ps.s), paused, 1));
    evlog_wait_any(&srv.log, GOWT_EV_POST_FIN, 0, paused, 10000);
    free(buf);
    CHECK_OK(gowt_session_close(cli, s, 0, NULL, 0));
    evlog_wait_any(&l, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}
