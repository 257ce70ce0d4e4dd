/* Dispatch cases: poll_mode, threads. */
#include "common.h"
#include "cases.h"

#include <poll.h>

/* ======================================================================= */
/* poll_mode                                                                */
/* ======================================================================= */

/* poll() for POLLIN; retries on EINTR (the Go runtime signals threads). */
static int fd_readable(int fd, int timeout_ms) {
    long long end = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR) {
            timeout_ms = (int)(end - now_ms());
            if (timeout_ms < 0) timeout_ms = 0;
            continue;
        }
        CHECK(n >= 0);
        return n > 0 && (p.revents & POLLIN);
    }
}

/* Deliver the events of a POLL context until cond holds. */
#define PUMP_UNTIL(ctx, fd, cond, ms)                                                 \
    do {                                                                              \
        long long pu_end_ = now_ms() + (ms);                                          \
        while (!(cond)) {                                                             \
            if (now_ms() > pu_end_) {                                                 \
                fprintf(stderr, "%s:%d: timed out pumping for %s\n", __FILE__, __LINE__, \
                        #cond);                                                       \
                exit(1);                                                              \
            }                                                                         \
            if (fd_readable((fd), 20)) CHECK(gowt_ctx_process_events((ctx), 0) >= 0); \
        }                                                                             \
    } while (0)

typedef struct pm_cli {
    evlog log;
    pthread_t owner;    /* the thread that must run the callbacks */
    int wrong_thread;
    int rc_process, rc_destroy, rc_other_thread, checked;
    gowt_ctx *ctx;
} pm_cli;

static void *pm_other(void *p) {
    pm_cli *c = p;
    c->rc_other_thread = gowt_ctx_process_events(c->ctx, 0);
    return NULL;
}

static int pm_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    pm_cli *c = app;
    if (!pthread_equal(pthread_self(), c->owner)) c->wrong_thread++;
    evlog_add(&c->log, ev);
    if (ev->type == GOWT_EV_CONNECT_ACCEPTED && !c->checked) {
        c->checked = 1;
        c->rc_process = gowt_ctx_process_events(ctx, 0);
        c->rc_destroy = gowt_ctx_destroy(ctx);
        /* another thread cannot deliver while this thread is delivering */
        pthread_t t;
        CHECK(pthread_create(&t, NULL, pm_other, c) == 0);
        CHECK(pthread_join(t, NULL) == 0);
    }
    return 0;
}

typedef struct pm_srv {
    pthread_t owner;
    int wrong_thread, rc_process;
} pm_srv;

static int pm_srv_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    pm_srv *p = srv->user;
    if (!pthread_equal(pthread_self(), p->owner)) p->wrong_thread++;
    if (ev->type == GOWT_EV_CONNECT) p->rc_process = gowt_ctx_process_events(ctx, 1);
    return HOOK_CONTINUE;
}

void test_poll_mode(void) {
    /* ---- client in POLL mode, server in THREAD mode ---- */
    tsrv srv;
    tsrv_start(&srv, NULL, 1, NULL, NULL);
    static pm_cli c;
    memset(&c, 0, sizeof c);
    evlog_init(&c.log);
    c.owner = pthread_self();
    gowt_ctx *cli = new_ctx(1);
    c.ctx = cli;
    int fd = -1;
    CHECK_RC(gowt_ctx_get_fd(cli, NULL), GOWT_ERR_INVALID_ARG);
    CHECK_OK(gowt_ctx_get_fd(cli, &fd));
    CHECK(fd >= 0);
    CHECK(!fd_readable(fd, 0));
    CHECK(gowt_ctx_process_events(cli, 0) == 0); /* nothing pending */

    char url[128];
    url_for(url, sizeof url, srv.port, "/poll");
    gowt_session_t s;
    CHECK_OK(gowt_connect(cli, url, NULL, pm_cb, &c, &s));
    /* events wait for us: the fd is readable, no callback has run */
    CHECK(fd_readable(fd, 5000));
    evlog_wait_any(&srv.log, GOWT_EV_CONNECT, 0, ANY_ID, 5000);
    sleep_ms(200);
    CHECK(evlog_len(&c.log) == 0);
    CHECK(fd_readable(fd, 0));
    PUMP_UNTIL(cli, fd, evlog_count_for(&c.log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID) == 1, 5000);
    CHECK(evlog_pos(&c.log, GOWT_EV_CONNECTING, s, ANY_ID) == 0);
    CHECK_RC(c.rc_process, GOWT_ERR_BUSY);
    CHECK_RC(c.rc_destroy, GOWT_ERR_BUSY);
    CHECK_RC(c.rc_other_thread, GOWT_ERR_BUSY);
    /* quiet session: once everything is delivered, the fd is not readable */
    while (gowt_ctx_process_events(cli, 0) > 0) {
    }
    CHECK(!fd_readable(fd, 0));
    sleep_ms(100);
    CHECK(!fd_readable(fd, 0));

    /* three datagrams echoed: readable while any is pending */
    size_t n0 = evlog_len(&c.log);
    size_t sd0 = evlog_count(&srv.log, GOWT_EV_POST_DATAGRAM);
    for (int i = 0; i < 3; i++) CHECK_OK(gowt_send_datagram(cli, s, "tick", 4));
    CHECK(fd_readable(fd, 5000));
    WAIT_UNTIL(evlog_count(&srv.log, GOWT_EV_POST_DATAGRAM) == sd0 + 3, 5000);
    sleep_ms(300); /* let the echoes arrive */
    CHECK(evlog_len(&c.log) == n0);
    CHECK(fd_readable(fd, 0));
    CHECK(gowt_ctx_process_events(cli, 1) == 1);
    CHECK(evlog_len(&c.log) == n0 + 1);
    int readable = fd_readable(fd, 0);
    int more = gowt_ctx_process_events(cli, 0);
    CHECK(more >= 0 && readable == (more > 0));
    CHECK(!fd_readable(fd, 0));
    if (more < 2) fprintf(stderr, "poll_mode: only %d of 3 echoed datagrams arrived in time\n", more + 1);
    PUMP_UNTIL(cli, fd, evlog_count_for(&c.log, GOWT_EV_POST_DATAGRAM, s, ANY_ID) == 3, 5000);

    /* a stream echo driven by the poll loop */
    uint64_t id;
    uint8_t *buf = malloc(100000), *back = malloc(100000);
    CHECK(buf && back);
    pat_fill(buf, 42, 0, 100000);
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
    CHECK_OK(gowt_stream_send(cli, s, id, buf, 100000, 1));
    int fin = 0;
    PUMP_UNTIL(cli, fd, evlog_stream_bytes(&c.log, id, NULL, 0, &fin) == 100000 && fin, 5000);
    CHECK(evlog_stream_bytes(&c.log, id, back, 100000, &fin) == 100000);
    CHECK(memcmp(buf, back, 100000) == 0);

    /* a second session, still open when the POLL context is destroyed: its
     * end events are delivered on this thread inside gowt_ctx_destroy */
    gowt_session_t s2;
    CHECK_OK(gowt_connect(cli, url, NULL, pm_cb, &c, &s2));
    PUMP_UNTIL(cli, fd, evlog_count_for(&c.log, GOWT_EV_CONNECT_ACCEPTED, s2, ANY_ID) == 1, 5000);
    CHECK_OK(gowt_session_close(cli, s, 5, "poll bye", 8));
    PUMP_UNTIL(cli, fd, evlog_count_for(&c.log, GOWT_EV_DEREGISTER, s, ANY_ID) == 1, 5000);
    check_session_end(&c.log, s);
    rec_event sc = evlog_wait_any(&srv.log, GOWT_EV_CLOSE, 0, ANY_ID, 5000);
    CHECK(sc.code == 5);
    CHECK_OK(gowt_ctx_destroy(cli));
    CHECK(evlog_count_for(&c.log, GOWT_EV_CLOSE, s2, ANY_ID) == 1);
    CHECK(evlog_count_for(&c.log, GOWT_EV_DEREGISTER, s2, ANY_ID) == 1);
    check_session_end(&c.log, s2);
    CHECK(c.wrong_thread == 0);
    tsrv_stop(&srv);

    /* ---- server in POLL mode, client in THREAD mode ---- */
    static pm_srv ps;
    memset(&ps, 0, sizeof ps);
    ps.owner = pthread_self();
    gowt_config cfg;
    gowt_config_init(&cfg);
    cfg.dispatch_mode = GOWT_DISPATCH_POLL;
    tsrv psrv;
    tsrv_start(&psrv, &cfg, 1, pm_srv_hook, &ps);
    int sfd = -1;
    CHECK_OK(gowt_ctx_get_fd(psrv.ctx, &sfd));
    gowt_ctx *tcli = new_ctx(0);
    evlog log;
    evlog_init(&log);
    gowt_session_t t = cli_connect(tcli, psrv.port, "/poll-server", NULL, &log);
    /* nothing is accepted until the server's thread delivers CONNECT */
    CHECK(fd_readable(sfd, 5000));
    sleep_ms(100);
    CHECK(evlog_count_for(&log, GOWT_EV_CONNECT_ACCEPTED, t, ANY_ID) == 0);
    CHECK(evlog_len(&psrv.log) == 0);
    PUMP_UNTIL(psrv.ctx, sfd, evlog_count_for(&log, GOWT_EV_CONNECT_ACCEPTED, t, ANY_ID) == 1, 5000);
    CHECK_RC(ps.rc_process, GOWT_ERR_BUSY);
    CHECK_OK(gowt_create_local_stream(tcli, t, 1, NULL, &id));
    CHECK_OK(gowt_stream_send(tcli, t, id, buf, 100000, 1));
    PUMP_UNTIL(psrv.ctx, sfd, evlog_stream_bytes(&log, id, NULL, 0, &fin) == 100000 && fin, 5000);
    CHECK(evlog_stream_bytes(&log, id, back, 100000, &fin) == 100000);
    CHECK(memcmp(buf, back, 100000) == 0);
    CHECK_OK(gowt_send_datagram(tcli, t, "pdg", 3));
    PUMP_UNTIL(psrv.ctx, sfd, evlog_count_for(&log, GOWT_EV_POST_DATAGRAM, t, ANY_ID) == 1, 5000);
    CHECK_OK(gowt_session_close(tcli, t, 6, "bye", 3));
    PUMP_UNTIL(psrv.ctx, sfd, evlog_count(&psrv.log, GOWT_EV_DEREGISTER) == 1, 5000);
    rec_event cl = evlog_wait_any(&psrv.log, GOWT_EV_CLOSE, 0, ANY_ID, 100);
    CHECK(cl.code == 6 && (cl.flags & GOWT_CLOSE_REMOTE));
    while (gowt_ctx_process_events(psrv.ctx, 0) > 0) {
    }
    CHECK(!fd_readable(sfd, 0));
    CHECK(ps.wrong_thread == 0);
    CHECK(AT_LOAD(&psrv.unexpected) == 0);
    CHECK_OK(gowt_ctx_destroy(tcli));
    tsrv_stop(&psrv);
    free(buf);
    free(back);
}

/* ======================================================================= */
/* threads                                                                  */
/* ======================================================================= */

#define TH_N 8
#define TH_SESS 4

typedef struct th_sess {
    evlog log;
    gowt_session_t s;
    int closed_in_cb;
} th_sess;

typedef struct th_state {
    gowt_ctx *cli;
    th_sess sess[TH_SESS];
    int in_cb, max_in_cb, cb_calls, cb_api_bad, stop;
    int bad_rc, bad_op, bad_val;
    long long ops;
} th_state;

static th_state th;

static void th_bad(int op, int rc) {
    if (AT_INC(&th.bad_rc) == 1) {
        th.bad_op = op;
        th.bad_val = rc;
    }
}

static int th_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    th_sess *ts = app;
    AT_MAX(&th.max_in_cb, AT_INC(&th.in_cb));
    AT_INC(&th.cb_calls);
    evlog_add(&ts->log, ev);
    int rc;
    switch (ev->type) {
    case GOWT_EV_CONNECT_ACCEPTED: { /* API calls from inside a callback */
        uint64_t id;
        rc = gowt_create_local_stream(ctx, ev->session, 1, NULL, &id);
        if (rc == GOWT_OK) rc = gowt_stream_send(ctx, ev->session, id, "from-callback", 13, 1);
        if (rc != GOWT_OK) AT_INC(&th.cb_api_bad);
        break;
    }
    case GOWT_EV_POST_DATAGRAM:
        if (ev->length == 5 && memcmp(ev->data, "CLOSE", 5) == 0) {
            rc = gowt_session_close(ctx, ev->session, 42, "closed in callback", 18);
            if (rc == GOWT_OK) ts->closed_in_cb++;
            else if (rc != GOWT_ERR_CLOSED) AT_INC(&th.cb_api_bad);
        } else if (ev->length != 2) { /* not the echo of our own answer */
            rc = gowt_send_datagram(ctx, ev->session, "cb", 2);
            if (rc != GOWT_OK && rc != GOWT_ERR_WOULD_BLOCK && rc != GOWT_ERR_CLOSED)
                AT_INC(&th.cb_api_bad);
        }
        break;
    case GOWT_EV_POST_FIN: {
        gowt_session_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (gowt_session_get_info(ctx, ev->session, &info) != GOWT_OK) AT_INC(&th.cb_api_bad);
        break;
    }
    default:
        break;
    }
    /* widen the window in which a second callback would overlap */
    if ((AT_LOAD(&th.cb_calls) & 15) == 0) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    AT_DEC(&th.in_cb);
    return 0;
}

static unsigned th_rand(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static int one_of(int rc, int a, int b, int c, int d) {
    return rc == a || rc == b || rc == c || rc == d;
}

static void *th_worker(void *p) {
    unsigned seed = (unsigned)(uintptr_t)p * 7919u + 1;
    uint8_t data[1000];
    memset(data, (int)(uintptr_t)p, sizeof data);
    long long end = now_ms() + 1500;
    while (now_ms() < end && !AT_LOAD(&th.stop)) {
        th_sess *ts = &th.sess[th_rand(&seed) % TH_SESS];
        gowt_session_t s = ts->s;
        int op = (int)(th_rand(&seed) % 10), rc = 0;
        switch (op) {
        case 0:
            rc = gowt_send_datagram(th.cli, s, data, 100);
            if (!one_of(rc, GOWT_OK, GOWT_ERR_WOULD_BLOCK, GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND)) th_bad(op, rc);
            break;
        case 1: {
            uint64_t id;
            rc = gowt_create_local_stream(th.cli, s, (int)(th_rand(&seed) & 1), NULL, &id);
            if (rc == GOWT_OK) {
                rc = gowt_stream_send(th.cli, s, id, data, sizeof data, 1);
                if (!one_of(rc, GOWT_OK, GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND, GOWT_OK)) th_bad(10 + op, rc);
            } else if (!one_of(rc, GOWT_ERR_LIMIT, GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND, GOWT_OK)) {
                th_bad(op, rc);
            }
            break;
        }
        case 2: {
            gowt_session_info info;
            memset(&info, 0, sizeof info);
            info.struct_size = sizeof info;
            rc = gowt_session_get_info(th.cli, s, &info);
            if (!one_of(rc, GOWT_OK, GOWT_ERR_NOT_FOUND, GOWT_OK, GOWT_OK)) th_bad(op, rc);
            break;
        }
        case 3:
            rc = gowt_session_set_app_ctx(th.cli, s, ts); /* same value: stays valid */
            if (!one_of(rc, GOWT_OK, GOWT_ERR_NOT_FOUND, GOWT_OK, GOWT_OK)) th_bad(op, rc);
            break;
        case 4:
            rc = gowt_send_datagram(th.cli, (gowt_session_t)0x7fff0000u + th_rand(&seed), data, 10);
            if (rc != GOWT_ERR_NOT_FOUND) th_bad(op, rc);
            rc = gowt_stream_send(th.cli, s, 1000000 + th_rand(&seed) * 4, data, 10, 0);
            if (!one_of(rc, GOWT_ERR_NOT_FOUND, GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND, GOWT_ERR_NOT_FOUND))
                th_bad(10 + op, rc);
            rc = gowt_stream_reset(th.cli, s, 1000001, 1);
            if (!one_of(rc, GOWT_ERR_NOT_FOUND, GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND, GOWT_ERR_NOT_FOUND))
                th_bad(20 + op, rc);
            break;
        case 5: {
            size_t m = 0;
            rc = gowt_max_datagram_size(th.cli, s, &m);
            if (!one_of(rc, GOWT_OK, GOWT_ERR_NOT_FOUND, GOWT_OK, GOWT_OK)) th_bad(op, rc);
            if (rc == GOWT_OK && m < 1000) th_bad(30 + op, (int)m);
            break;
        }
        case 6: {
            uint64_t id;
            rc = gowt_session_get_id(th.cli, s, &id);
            if (!one_of(rc, GOWT_OK, GOWT_ERR_NOT_FOUND, GOWT_OK, GOWT_OK)) th_bad(op, rc);
            break;
        }
        case 7: {
            char msg[512];
            rc = gowt_ctx_last_error(th.cli, msg, sizeof msg);
            if (rc < 0 && rc != GOWT_ERR_RANGE) th_bad(op, rc);
            break;
        }
        case 8:
            rc = gowt_session_drain(th.cli, s);
            if (!one_of(rc, GOWT_OK, GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND, GOWT_OK)) th_bad(op, rc);
            break;
        default:
            rc = gowt_set_datagram_ready(th.cli, s, 0);
            if (!one_of(rc, GOWT_OK, GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND, GOWT_OK)) th_bad(op, rc);
            break;
        }
        __atomic_add_fetch(&th.ops, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

void test_threads(void) {
    tsrv srv;
    tsrv_start(&srv, NULL, 1, NULL, NULL);
    srv.log.no_data = 1;
    memset(&th, 0, sizeof th);
    th.cli = new_ctx(0);
    char url[128];
    url_for(url, sizeof url, srv.port, "/threads");
    for (int i = 0; i < TH_SESS; i++) {
        evlog_init(&th.sess[i].log);
        th.sess[i].log.no_data = 1;
        CHECK_OK(gowt_connect(th.cli, url, NULL, th_cb, &th.sess[i], &th.sess[i].s));
    }
    for (int i = 0; i < TH_SESS; i++)
        evlog_wait_any(&th.sess[i].log, GOWT_EV_CONNECT_ACCEPTED, th.sess[i].s, ANY_ID, 5000);

    long long t0 = now_ms();
    pthread_t t[TH_N];
    for (int i = 0; i < TH_N; i++) CHECK(pthread_create(&t[i], NULL, th_worker, (void *)(uintptr_t)(i + 1)) == 0);
    sleep_ms(1000);
    /* while the workers still run: close every session from inside its
     * callback (a datagram "CLOSE" echoed by the server) */
    for (int i = 0; i < TH_SESS; i++) {
        long long end = now_ms() + 8000;
        while (evlog_count_for(&th.sess[i].log, GOWT_EV_CLOSE, th.sess[i].s, ANY_ID) == 0) {
            int rc = gowt_send_datagram(th.cli, th.sess[i].s, "CLOSE", 5);
            CHECK(rc == GOWT_OK || rc == GOWT_ERR_WOULD_BLOCK || rc == GOWT_ERR_CLOSED ||
                  rc == GOWT_ERR_NOT_FOUND);
            CHECK(now_ms() < end);
            sleep_ms(20);
        }
    }
    fprintf(stderr, "threads: closed all sessions after %lld ms\n", now_ms() - t0);
    for (int i = 0; i < TH_N; i++) CHECK(pthread_join(t[i], NULL) == 0);
    fprintf(stderr, "threads: workers done after %lld ms\n", now_ms() - t0);
    CHECK(now_ms() - t0 < 15000);
    for (int i = 0; i < TH_SESS; i++) {
        rec_event cl = evlog_wait_any(&th.sess[i].log, GOWT_EV_CLOSE, th.sess[i].s, ANY_ID, 5000);
        CHECK(cl.code == 42 && (cl.flags & GOWT_CLOSE_LOCAL));
        CHECK(th.sess[i].closed_in_cb == 1);
        evlog_wait_any(&th.sess[i].log, GOWT_EV_DEREGISTER, th.sess[i].s, ANY_ID, 5000);
        check_session_end(&th.sess[i].log, th.sess[i].s);
    }
    WAIT_UNTIL(evlog_count(&srv.log, GOWT_EV_CLOSE) == TH_SESS, 5000);
    WAIT_UNTIL(evlog_count(&srv.log, GOWT_EV_DEREGISTER) == TH_SESS, 5000);
    fprintf(stderr, "threads: %lld API calls, %d callbacks, max concurrent callbacks %d/%d\n",
            th.ops, AT_LOAD(&th.cb_calls), AT_LOAD(&th.max_in_cb), AT_LOAD(&srv.max_in_cb));
    if (th.bad_rc) fprintf(stderr, "first bad result: op %d returned %d\n", th.bad_op, th.bad_val);
    CHECK(th.bad_rc == 0);
    CHECK(th.cb_api_bad == 0);
    CHECK(th.ops > 1000);
    CHECK(AT_LOAD(&th.max_in_cb) == 1);
    CHECK(AT_LOAD(&srv.max_in_cb) == 1);
    if (AT_LOAD(&srv.unexpected))
        fprintf(stderr, "echo server: %d unexpected results, last %d\n", AT_LOAD(&srv.unexpected),
                AT_LOAD(&srv.last_unexpected));
    CHECK(AT_LOAD(&srv.unexpected) == 0);
    for (int i = 0; i < TH_SESS; i++)
        CHECK(evlog_count_for(&th.sess[i].log, GOWT_EV_POST_FIN, th.sess[i].s, ANY_ID) >= 1);
    CHECK_OK(gowt_ctx_destroy(th.cli));
    tsrv_stop(&srv);
}
