/* Stream and datagram cases: pull, push_backpressure, server_streams,
 * reset_stop, many_streams. */
#include "common.h"
#include "cases.h"

#define MiB (1u << 20)
#define KiB (1u << 10)

/* ======================================================================= */
/* pull                                                                     */
/* ======================================================================= */

typedef struct pull_cli {
    evlog log;
    int stream_tag;
    uint64_t sid; /* set before the first mark_active */
    size_t total, sent;
    int provides;       /* PROVIDE_DATA events seen */
    int skip_first;     /* leave the first PROVIDE_DATA unanswered */
    int first_checked;
    int rc_null_buf, rc_too_large, rc_answer, rc_twice, bad_event;
    int rc_saved_later; /* the kept event, answered inside a later PROVIDE's callback */
    gowt_event saved;   /* a PROVIDE_DATA event, kept for an out-of-callback answer */
    size_t rx;          /* reply bytes received (verified) */
    int rx_bad, rx_fin;
    /* datagrams */
    int dg_provides, dg_rc_twice, dg_rc_too_large, dg_rc_answer, dg_bad_event, dg_rc_saved_later;
    gowt_event dg_saved;
} pull_cli;

typedef struct pull_srv {
    size_t total, rx, reply_total, reply_sent;
    int rx_bad, rx_fin, rc_mark, rc_provide, provides, bad_event;
    uint64_t sid;
} pull_srv;

static int pull_cli_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    pull_cli *p = app;
    evlog_add(&p->log, ev);
    uint8_t *buf = NULL, *buf2 = NULL;
    switch (ev->type) {
    case GOWT_EV_PROVIDE_DATA: {
        p->provides++;
        if (ev->stream_id != p->sid || ev->stream_ctx != &p->stream_tag || ev->length == 0 ||
            ev->token == 0 || !(ev->flags & GOWT_STREAM_BIDI))
            p->bad_event++;
        if (p->provides == 1) p->saved = *ev;
        if (p->provides == 1 && p->skip_first) return 0; /* no answer: stream goes inactive */
        /* An event kept from an earlier batch answers nothing, not even the
         * request now at the same place in this batch. */
        if (p->provides == 2) p->rc_saved_later = gowt_provide_stream_data(ctx, &p->saved, 1, 0, 1, &buf2);
        if (!p->first_checked) {
            p->rc_null_buf = gowt_provide_stream_data(ctx, ev, 1, 0, 1, NULL);
            p->rc_too_large = gowt_provide_stream_data(ctx, ev, ev->length + 1, 0, 1, &buf);
        }
        size_t n = p->total - p->sent;
        if (n > ev->length) n = ev->length;
        int fin = p->sent + n == p->total;
        int rc = gowt_provide_stream_data(ctx, ev, n, fin, !fin, &buf);
        if (rc != GOWT_OK) {
            p->rc_answer = rc;
            return 0;
        }
        if (n > 0 && buf == NULL) {
            p->rc_answer = 999;
            return 0;
        }
        pat_fill(buf, 1, p->sent, n);
        p->sent += n;
        if (!p->first_checked) {
            p->first_checked = 1;
            p->rc_twice = gowt_provide_stream_data(ctx, ev, 1, 0, 1, &buf2);
        }
        break;
    }
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        if (ev->stream_id == p->sid) {
            if (!pat_check(ev->data, 2, p->rx, ev->length)) p->rx_bad++;
            p->rx += ev->length;
            if (ev->type == GOWT_EV_POST_FIN) p->rx_fin = 1;
        }
        break;
    case GOWT_EV_PROVIDE_DATAGRAM: {
        int k = ++p->dg_provides;
        if (ev->length < 100 || ev->token == 0 || ev->stream_id != GOWT_NO_ID) p->dg_bad_event++;
        if (k == 1) {
            p->dg_saved = *ev;
            p->dg_rc_too_large = gowt_provide_datagram(ctx, ev, ev->length + 1, 1, &buf);
        }
        if (k == 3) p->dg_rc_saved_later = gowt_provide_datagram(ctx, &p->dg_saved, 10, 1, &buf2);
        /* answers: 1 data more, 2 empty more, 3..5 data more, 6 data stop,
         * 7 (after set_datagram_ready again) data stop */
        size_t n = k == 2 ? 0 : 100;
        int more = k < 6;
        int rc = gowt_provide_datagram(ctx, ev, n, more, &buf);
        if (rc != GOWT_OK) {
            p->dg_rc_answer = rc;
            return 0;
        }
        if (n) {
            memset(buf, 'a' + k, n);
            memcpy(buf, "pulldg", 6);
        }
        if (k == 1) p->dg_rc_twice = gowt_provide_datagram(ctx, ev, 10, 1, &buf2);
        break;
    }
    default:
        break;
    }
    return 0;
}

static int pull_srv_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    pull_srv *ps = srv->user;
    switch (ev->type) {
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        if (!pat_check(ev->data, 1, ps->rx, ev->length)) ps->rx_bad++;
        ps->rx += ev->length;
        if (ev->type == GOWT_EV_POST_FIN) {
            ps->sid = ev->stream_id;
            /* answer with pull on the same stream */
            ps->rc_mark = gowt_stream_mark_active(ctx, ev->session, ev->stream_id, 1);
            AT_STORE(&ps->rx_fin, 1);
        }
        break;
    case GOWT_EV_PROVIDE_DATA: {
        ps->provides++;
        if (ev->stream_id != ps->sid) ps->bad_event++;
        size_t n = ps->reply_total - ps->reply_sent;
        if (n > ev->length) n = ev->length;
        int fin = ps->reply_sent + n == ps->reply_total;
        uint8_t *buf = NULL;
        int rc = gowt_provide_stream_data(ctx, ev, n, fin, !fin, &buf);
        if (rc != GOWT_OK) {
            ps->rc_provide = rc;
            break;
        }
        pat_fill(buf, 2, ps->reply_sent, n);
        ps->reply_sent += n;
        break;
    }
    default:
        break;
    }
    return HOOK_CONTINUE;
}

void test_pull(void) {
    pull_srv ps;
    memset(&ps, 0, sizeof ps);
    ps.total = 4 * MiB;
    ps.reply_total = 2 * MiB;
    tsrv srv;
    tsrv_start(&srv, NULL, 0, pull_srv_hook, &ps);
    srv.log.no_data = 1;

    static pull_cli p;
    memset(&p, 0, sizeof p);
    evlog_init(&p.log);
    p.log.no_data = 1;
    p.total = 4 * MiB;
    p.skip_first = 1;
    gowt_ctx *cli = new_ctx(0);
    char url[128];
    url_for(url, sizeof url, srv.port, "/pull");
    gowt_session_t s = 0;
    CHECK_OK(gowt_connect(cli, url, NULL, pull_cli_cb, &p, &s));
    evlog_wait_any(&p.log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);

    uint64_t sid;
    CHECK_OK(gowt_create_local_stream(cli, s, 1, &p.stream_tag, &sid));
    p.sid = sid;
    CHECK_RC(gowt_stream_mark_active(cli, s, sid + 400, 1), GOWT_ERR_NOT_FOUND);
    CHECK_OK(gowt_stream_mark_active(cli, s, sid, 1));

    /* The first PROVIDE_DATA stays unanswered: no data, no further asks. */
    WAIT_UNTIL(p.provides >= 1, 5000);
    sleep_ms(150);
    CHECK(p.provides == 1);
    CHECK(AT_LOAD(&ps.rx) == 0);
    /* Answering outside the event's callback is a state error. */
    uint8_t *obuf = NULL;
    CHECK_RC(gowt_provide_stream_data(cli, &p.saved, 1, 0, 1, &obuf), GOWT_ERR_STATE);

    /* Reactivate: the data flows now; push on a pull stream is refused. */
    CHECK_OK(gowt_stream_mark_active(cli, s, sid, 1));
    CHECK_RC(gowt_stream_send(cli, s, sid, "x", 1, 0), GOWT_ERR_STATE);
    WAIT_UNTIL(AT_LOAD(&ps.rx_fin), 10000);
    CHECK(ps.rx == 4 * MiB);
    CHECK(ps.rx_bad == 0);
    CHECK(p.bad_event == 0);
    CHECK_RC(p.rc_null_buf, GOWT_ERR_INVALID_ARG);
    CHECK_RC(p.rc_too_large, GOWT_ERR_TOO_LARGE);
    CHECK_RC(p.rc_answer, GOWT_OK);
    CHECK_RC(p.rc_twice, GOWT_ERR_STATE);
    CHECK_RC(p.rc_saved_later, GOWT_ERR_STATE);
    CHECK(p.sent == 4 * MiB);

    /* The server answered with pull: 2 MiB back, then FIN. */
    WAIT_UNTIL(p.rx_fin, 10000);
    CHECK_RC(ps.rc_mark, GOWT_OK);
    CHECK_RC(ps.rc_provide, GOWT_OK);
    CHECK(ps.bad_event == 0);
    CHECK(p.rx == 2 * MiB);
    CHECK(p.rx_bad == 0);
    /* Both directions finished: FREE once, with the stream context. */
    rec_event fr = evlog_wait_any(&p.log, GOWT_EV_FREE, s, sid, 5000);
    CHECK(fr.stream_ctx == &p.stream_tag);
    sleep_ms(50);
    CHECK(p.provides == (int)evlog_count_for(&p.log, GOWT_EV_PROVIDE_DATA, s, sid));
    CHECK(evlog_count_for(&p.log, GOWT_EV_FREE, s, sid) == 1);

    /* Datagram pull: 6 answers (one of them empty), the last with more=0. */
    gowt_session_t ss = evlog_wait_any(&srv.log, GOWT_EV_CONNECT, 0, ANY_ID, 1000).session;
    CHECK_OK(gowt_set_datagram_ready(cli, s, 1));
    WAIT_UNTIL(p.dg_provides >= 6, 5000);
    WAIT_UNTIL(evlog_count_for(&srv.log, GOWT_EV_POST_DATAGRAM, ss, ANY_ID) >= 5, 5000);
    sleep_ms(150);
    CHECK(p.dg_provides == 6); /* more=0 cleared "ready" */
    CHECK_RC(p.dg_rc_too_large, GOWT_ERR_TOO_LARGE);
    CHECK_RC(p.dg_rc_answer, GOWT_OK);
    CHECK_RC(p.dg_rc_twice, GOWT_ERR_STATE);
    CHECK_RC(p.dg_rc_saved_later, GOWT_ERR_STATE);
    CHECK(p.dg_bad_event == 0);
    CHECK(evlog_count_for(&srv.log, GOWT_EV_POST_DATAGRAM, ss, ANY_ID) == 5); /* n=0: nothing */
    CHECK_RC(gowt_provide_datagram(cli, &p.dg_saved, 10, 0, &obuf), GOWT_ERR_STATE);
    CHECK_OK(gowt_set_datagram_ready(cli, s, 1));
    WAIT_UNTIL(evlog_count_for(&srv.log, GOWT_EV_POST_DATAGRAM, ss, ANY_ID) == 6, 5000);
    sleep_ms(100);
    CHECK(p.dg_provides == 7);
    for (size_t i = 0; i < 6; i++) {
        rec_event d;
        CHECK(evlog_get(&srv.log, i, GOWT_EV_POST_DATAGRAM, ss, ANY_ID, &d));
        CHECK(d.length == 100 && memcmp(d.data, "pulldg", 6) == 0);
    }
    gowt_session_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(gowt_session_get_info(cli, s, &info));
    CHECK(info.datagrams_sent == 6);
    CHECK(info.bytes_sent >= 4 * MiB && info.bytes_received >= 2 * MiB);

    CHECK_OK(gowt_session_close(cli, s, 0, NULL, 0));
    CHECK_CLOSED_OR_GONE(gowt_set_datagram_ready(cli, s, 1), &p.log, s);
    evlog_wait_any(&p.log, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, ss, ANY_ID, 5000);
    check_session_end(&p.log, s);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

/* ======================================================================= */
/* push_backpressure                                                        */
/* ======================================================================= */

typedef struct sink {
    size_t rx;
    int bad, fin;
} sink;

static int sink_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    (void)ctx;
    sink *k = srv->user;
    if (ev->type == GOWT_EV_POST_DATA || ev->type == GOWT_EV_POST_FIN) {
        if (!pat_check(ev->data, 3, k->rx, ev->length)) k->bad++;
        AT_STORE(&k->rx, k->rx + ev->length);
        if (ev->type == GOWT_EV_POST_FIN) AT_STORE(&k->fin, 1);
    }
    return HOOK_CONTINUE;
}

void test_push_backpressure(void) {
    sink k;
    memset(&k, 0, sizeof k);
    tsrv srv;
    tsrv_start(&srv, NULL, 0, sink_hook, &k);
    srv.log.no_data = 1;

    gowt_config cfg;
    gowt_config_init(&cfg);
    cfg.stream_send_buffer = 64 * KiB;
    cfg.datagram_send_queue = 2;
    gowt_ctx *cli = ctx_with(&cfg);
    evlog log;
    evlog_init(&log);
    int tag;
    gowt_session_t s = cli_connect(cli, srv.port, "/push", NULL, &log);
    evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    uint64_t sid;
    CHECK_OK(gowt_create_local_stream(cli, s, 1, &tag, &sid));

    const size_t total = 8 * MiB, chunk = 16 * KiB;
    uint8_t *data = malloc(total);
    CHECK(data != NULL);
    pat_fill(data, 3, 0, total);
    CHECK_RC(gowt_stream_send(cli, s, sid, data, 64 * KiB + 1, 0), GOWT_ERR_TOO_LARGE);
    size_t off = 0, wcur = 0;
    int blocks = 0;
    long long t0 = now_ms();
    while (off < total) {
        size_t n = total - off < chunk ? total - off : chunk;
        int fin = off + n == total;
        int rc = gowt_stream_send(cli, s, sid, data + off, n, fin);
        if (rc == GOWT_OK) {
            off += n;
        } else {
            CHECK_RC(rc, GOWT_ERR_WOULD_BLOCK);
            blocks++;
            /* continue only once STREAM_WRITABLE says so */
            rec_event w = evlog_wait_for(&log, &wcur, GOWT_EV_STREAM_WRITABLE, s, sid, 10000);
            CHECK(w.stream_ctx == &tag);
            CHECK((w.flags & (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL)) ==
                  (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL));
        }
        CHECK(now_ms() - t0 < 20000);
    }
    CHECK(blocks > 0);
    CHECK(blocks >= (int)(total / (64 * KiB)) / 2); /* the buffer really is 64 KiB */
    CHECK_RC(gowt_stream_send(cli, s, sid, "x", 1, 0), GOWT_ERR_CLOSED);
    WAIT_UNTIL(AT_LOAD(&k.fin), 15000);
    CHECK(k.rx == total);
    CHECK(k.bad == 0);
    CHECK(evlog_count_for(&log, GOWT_EV_STREAM_WRITABLE, s, sid) == (size_t)blocks);

    /* datagrams: a 2-entry send queue fills up, then DATAGRAM_WRITABLE */
    uint8_t dg[1000];
    memset(dg, 'd', sizeof dg);
    int rc = GOWT_OK, sent = 0;
    for (int i = 0; i < 100000 && rc == GOWT_OK; i++) {
        rc = gowt_send_datagram(cli, s, dg, sizeof dg);
        sent += rc == GOWT_OK;
    }
    CHECK_RC(rc, GOWT_ERR_WOULD_BLOCK);
    CHECK(sent >= 2);
    evlog_wait_any(&log, GOWT_EV_DATAGRAM_WRITABLE, s, ANY_ID, 5000);
    CHECK_OK(gowt_send_datagram(cli, s, dg, sizeof dg));
    gowt_session_t ss = evlog_wait_any(&srv.log, GOWT_EV_CONNECT, 0, ANY_ID, 1000).session;
    WAIT_UNTIL(evlog_count_for(&srv.log, GOWT_EV_POST_DATAGRAM, ss, ANY_ID) > 0, 5000);
    gowt_session_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    WAIT_UNTIL((gowt_session_get_info(cli, s, &info) == GOWT_OK &&
                info.datagrams_sent + info.datagrams_dropped_send >= (uint64_t)sent + 1),
               5000);
    CHECK(info.bytes_sent == total);

    CHECK_OK(gowt_session_close(cli, s, 0, NULL, 0));
    evlog_wait_any(&log, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    check_session_end(&log, s);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
    free(data);
}

/* ======================================================================= */
/* server_streams                                                           */
/* ======================================================================= */

typedef struct ss_state {
    pthread_mutex_t mu;
    int tag_u, tag_b, tag_late, sess_tag;
    uint64_t uni, bidi;
    gowt_session_t early_s, late_s;
    int rc_before_accept, rc_accept, rc_accept_again, rc_app, rc_uni, rc_bidi, rc_set, rc_send_u,
        rc_send_b, rc_fin_u, rc_fin_b;
    int bidi_fin_seen, bidi_ev_bad;
} ss_state;

static int ss_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    ss_state *st = srv->user;
    if (ev->type == GOWT_EV_CONNECT) {
        if (strcmp(ev->request->path, "/late") == 0) {
            AT_STORE(&st->late_s, ev->session);
            return 0; /* accepted when the callback returns */
        }
        uint64_t id;
        st->rc_before_accept = gowt_create_local_stream(ctx, ev->session, 0, NULL, &id);
        st->rc_accept = gowt_session_accept(ctx, ev->session, NULL);
        st->rc_accept_again = gowt_session_accept(ctx, ev->session, NULL);
        st->rc_app = gowt_session_set_app_ctx(ctx, ev->session, &st->sess_tag);
        st->rc_uni = gowt_create_local_stream(ctx, ev->session, 0, &st->tag_u, &st->uni);
        st->rc_send_u = gowt_stream_send(ctx, ev->session, st->uni, "uni-hello", 9, 0);
        st->rc_bidi = gowt_create_local_stream(ctx, ev->session, 1, NULL, &st->bidi);
        st->rc_set = gowt_stream_set_ctx(ctx, ev->session, st->bidi, &st->tag_b);
        st->rc_send_b = gowt_stream_send(ctx, ev->session, st->bidi, "bidi-hello", 10, 0);
        AT_STORE(&st->early_s, ev->session);
        return 0;
    }
    if (ev->session == st->early_s && ev->stream_id == st->bidi &&
        (ev->type == GOWT_EV_POST_DATA || ev->type == GOWT_EV_POST_FIN)) {
        if (ev->stream_ctx != &st->tag_b || ev->app_ctx != &st->sess_tag ||
            (ev->flags & (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL)) !=
                (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL))
            st->bidi_ev_bad++;
        if (ev->type == GOWT_EV_POST_FIN) {
            st->rc_fin_b = gowt_stream_send(ctx, ev->session, st->bidi, NULL, 0, 1);
            st->rc_fin_u = gowt_stream_send(ctx, ev->session, st->uni, NULL, 0, 1);
            AT_STORE(&st->bidi_fin_seen, 1);
        }
    }
    return HOOK_CONTINUE;
}

typedef struct ss_cli {
    evlog log;
    int tag_u, tag_b, tag_c, tag_d, tag_late;
    int rc_set_bad, rc_set_last, rc_recv_only_bad, opened;
    int rc_set_unknown_in_close; /* gowt_stream_set_ctx of no stream, in CLOSE */
} ss_cli;

static int ss_cli_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    ss_cli *c = app;
    evlog_add(&c->log, ev);
    if (ev->type == GOWT_EV_CLOSE)
        c->rc_set_unknown_in_close = gowt_stream_set_ctx(ctx, ev->session, 1u << 30, &c->tag_c);
    if (ev->type == GOWT_EV_STREAM_OPENED) {
        int bidi = (ev->flags & GOWT_STREAM_BIDI) != 0;
        void *tag = bidi ? (void *)&c->tag_b : (void *)&c->tag_u;
        if (ev->stream_id % 4 == 3 && c->opened >= 2) tag = &c->tag_late;
        int rc = gowt_stream_set_ctx(ctx, ev->session, ev->stream_id, tag);
        if (rc != GOWT_OK) {
            c->rc_set_bad++;
            c->rc_set_last = rc;
        }
        if (!bidi && c->opened < 2) { /* receive-only: no sending of any kind */
            uint8_t *b;
            (void)b;
            if (gowt_stream_send(ctx, ev->session, ev->stream_id, "x", 1, 0) != GOWT_ERR_STATE)
                c->rc_recv_only_bad++;
            if (gowt_stream_mark_active(ctx, ev->session, ev->stream_id, 1) != GOWT_ERR_STATE)
                c->rc_recv_only_bad++;
            if (gowt_stream_reset(ctx, ev->session, ev->stream_id, 1) != GOWT_ERR_STATE)
                c->rc_recv_only_bad++;
        }
        c->opened++;
    }
    return 0;
}

/* Every stream event of (s, id) in the log carries stream_ctx tag. */
static void check_stream_ctx(evlog *l, gowt_session_t s, uint64_t id, void *tag, int from_type) {
    pthread_mutex_lock(&l->mu);
    int seen = 0;
    for (size_t i = 0; i < l->n; i++) {
        rec_event *r = &l->evs[i];
        if (r->session != s || r->stream_id != id) continue;
        if (r->type == from_type) seen = 1;
        if (seen && r->type != from_type && r->stream_ctx != tag) {
            fprintf(stderr, "stream %llu: %s has stream_ctx %p, want %p\n",
                    (unsigned long long)id, gowt_event_name(r->type), r->stream_ctx, tag);
            exit(1);
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void test_server_streams(void) {
    static ss_state st;
    memset(&st, 0, sizeof st);
    tsrv srv;
    tsrv_start(&srv, NULL, 0, ss_hook, &st);

    static ss_cli c;
    memset(&c, 0, sizeof c);
    evlog_init(&c.log);
    gowt_ctx *cli = new_ctx(0);
    char url[128];
    url_for(url, sizeof url, srv.port, "/early");
    gowt_session_t s = 0;
    CHECK_OK(gowt_connect(cli, url, NULL, ss_cli_cb, &c, &s));
    evlog_wait_any(&c.log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    uint64_t sess_id;
    CHECK_OK(gowt_session_get_id(cli, s, &sess_id));
    /* the 200 leaves while the server's callback still runs: wait for its end */
    WAIT_UNTIL(AT_LOAD(&st.early_s) != 0, 5000);

    /* what the server could do in its CONNECT callback */
    CHECK_RC(st.rc_before_accept, GOWT_ERR_STATE);
    CHECK_RC(st.rc_accept, GOWT_OK);
    CHECK_RC(st.rc_accept_again, GOWT_ERR_STATE);
    CHECK_RC(st.rc_app, GOWT_OK);
    CHECK_RC(st.rc_uni, GOWT_OK);
    CHECK_RC(st.rc_bidi, GOWT_OK);
    CHECK_RC(st.rc_set, GOWT_OK);
    CHECK_RC(st.rc_send_u, GOWT_OK);
    CHECK_RC(st.rc_send_b, GOWT_OK);
    CHECK(st.uni % 4 == 3);  /* server-initiated uni */
    CHECK(st.bidi % 4 == 1); /* server-initiated bidi */
    gowt_session_t ss = st.early_s;

    /* the client: STREAM_OPENED (right flags, bound to its session), then data */
    rec_event ou = evlog_wait_any(&c.log, GOWT_EV_STREAM_OPENED, s, st.uni, 5000);
    rec_event ob = evlog_wait_any(&c.log, GOWT_EV_STREAM_OPENED, s, st.bidi, 5000);
    CHECK((ou.flags & (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL)) == 0);
    CHECK((ob.flags & (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL)) == GOWT_STREAM_BIDI);
    CHECK(ou.session_id == sess_id && ob.session_id == sess_id);
    CHECK(ou.app_ctx == &c && ob.app_ctx == &c);
    int fin;
    WAIT_UNTIL(evlog_stream_bytes(&c.log, st.uni, NULL, 0, &fin) == 9, 5000);
    WAIT_UNTIL(evlog_stream_bytes(&c.log, st.bidi, NULL, 0, &fin) == 10, 5000);
    uint8_t b[64];
    CHECK(evlog_stream_bytes(&c.log, st.uni, b, sizeof b, &fin) == 9 && !fin);
    CHECK(memcmp(b, "uni-hello", 9) == 0);
    CHECK(evlog_stream_bytes(&c.log, st.bidi, b, sizeof b, &fin) == 10 && !fin);
    CHECK(memcmp(b, "bidi-hello", 10) == 0);
    CHECK(evlog_pos(&c.log, GOWT_EV_STREAM_OPENED, s, st.uni) <
          evlog_pos(&c.log, GOWT_EV_POST_DATA, s, st.uni));
    CHECK(evlog_pos(&c.log, GOWT_EV_STREAM_OPENED, s, st.bidi) <
          evlog_pos(&c.log, GOWT_EV_POST_DATA, s, st.bidi));
    CHECK(c.rc_set_bad == 0);
    CHECK(c.rc_recv_only_bad == 0);
    /* the stream_ctx set in STREAM_OPENED comes back in the later events */
    check_stream_ctx(&c.log, s, st.uni, &c.tag_u, GOWT_EV_STREAM_OPENED);
    check_stream_ctx(&c.log, s, st.bidi, &c.tag_b, GOWT_EV_STREAM_OPENED);

    /* the client answers on the bidi stream; the server then finishes both */
    CHECK_OK(gowt_stream_send(cli, s, st.bidi, "bidi-reply", 10, 1));
    WAIT_UNTIL(AT_LOAD(&st.bidi_fin_seen), 5000);
    CHECK(st.bidi_ev_bad == 0);
    CHECK_RC(st.rc_fin_b, GOWT_OK);
    CHECK_RC(st.rc_fin_u, GOWT_OK);
    CHECK(evlog_stream_bytes(&srv.log, st.bidi, b, sizeof b, &fin) == 10 && fin);
    CHECK(memcmp(b, "bidi-reply", 10) == 0);
    rec_event fu = evlog_wait_any(&c.log, GOWT_EV_FREE, s, st.uni, 5000);
    rec_event fb = evlog_wait_any(&c.log, GOWT_EV_FREE, s, st.bidi, 5000);
    CHECK(fu.stream_ctx == &c.tag_u && fb.stream_ctx == &c.tag_b);
    CHECK(evlog_stream_bytes(&c.log, st.uni, NULL, 0, &fin) == 9 && fin);
    CHECK(evlog_stream_bytes(&c.log, st.bidi, NULL, 0, &fin) == 10 && fin);
    rec_event sfu = evlog_wait_any(&srv.log, GOWT_EV_FREE, ss, st.uni, 5000);
    rec_event sfb = evlog_wait_any(&srv.log, GOWT_EV_FREE, ss, st.bidi, 5000);
    CHECK(sfu.stream_ctx == &st.tag_u && sfb.stream_ctx == &st.tag_b);
    CHECK(sfu.app_ctx == &st.sess_tag);
    CHECK_RC(gowt_stream_send(cli, s, st.bidi, "x", 1, 0), GOWT_ERR_NOT_FOUND); /* forgotten */

    /* client streams that stay open until the session closes */
    uint64_t cs, ds;
    CHECK_OK(gowt_create_local_stream(cli, s, 1, &c.tag_c, &cs));
    CHECK_OK(gowt_create_local_stream(cli, s, 0, &c.tag_d, &ds));
    CHECK(cs % 4 == 0 && ds % 4 == 2);
    CHECK_OK(gowt_stream_send(cli, s, cs, "c", 1, 0));
    CHECK_OK(gowt_stream_send(cli, s, ds, "d", 1, 0));
    rec_event soc = evlog_wait_any(&srv.log, GOWT_EV_STREAM_OPENED, ss, cs, 5000);
    rec_event sod = evlog_wait_any(&srv.log, GOWT_EV_STREAM_OPENED, ss, ds, 5000);
    CHECK((soc.flags & (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL)) == GOWT_STREAM_BIDI);
    CHECK((sod.flags & (GOWT_STREAM_BIDI | GOWT_STREAM_LOCAL)) == 0);
    WAIT_UNTIL(evlog_stream_bytes(&srv.log, cs, NULL, 0, &fin) == 1, 5000);
    WAIT_UNTIL(evlog_stream_bytes(&srv.log, ds, NULL, 0, &fin) == 1, 5000);

    /* a second session (same connection): the server opens a stream after
     * its CONNECT callback returned 0; the client gets it on that session */
    gowt_session_t s2 = 0;
    url_for(url, sizeof url, srv.port, "/late");
    CHECK_OK(gowt_connect(cli, url, NULL, ss_cli_cb, &c, &s2));
    evlog_wait_any(&c.log, GOWT_EV_CONNECT_ACCEPTED, s2, ANY_ID, 5000);
    uint64_t id2;
    CHECK_OK(gowt_session_get_id(cli, s2, &id2));
    WAIT_UNTIL(AT_LOAD(&st.late_s) != 0, 5000);
    uint64_t ls;
    CHECK_OK(gowt_create_local_stream(srv.ctx, st.late_s, 0, &st.tag_late, &ls));
    CHECK_OK(gowt_stream_send(srv.ctx, st.late_s, ls, "late", 4, 1));
    rec_event ol = evlog_wait_any(&c.log, GOWT_EV_STREAM_OPENED, 0, ls, 5000);
    CHECK(ol.session == s2 && ol.session_id == id2);
    WAIT_UNTIL(evlog_stream_bytes(&c.log, ls, NULL, 0, &fin) == 4 && fin, 5000);
    CHECK(evlog_count_for(&c.log, 0, s, ls) == 0);
    rec_event lf = evlog_wait_any(&srv.log, GOWT_EV_FREE, st.late_s, ls, 5000);
    CHECK(lf.stream_ctx == &st.tag_late);
    rec_event clf = evlog_wait_any(&c.log, GOWT_EV_FREE, s2, ls, 5000);
    CHECK(clf.stream_ctx == &c.tag_late);

    /* close: FREE for the open streams (with their contexts), DEREGISTER last */
    CHECK_OK(gowt_session_close(cli, s, 3, "done", 4));
    evlog_wait_any(&c.log, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    rec_event fc = evlog_wait_any(&c.log, GOWT_EV_FREE, s, cs, 100);
    rec_event fd = evlog_wait_any(&c.log, GOWT_EV_FREE, s, ds, 100);
    CHECK(fc.stream_ctx == &c.tag_c && fd.stream_ctx == &c.tag_d);
    CHECK(evlog_pos(&c.log, GOWT_EV_CLOSE, s, ANY_ID) < evlog_pos(&c.log, GOWT_EV_FREE, s, cs));
    CHECK_RC(c.rc_set_unknown_in_close, GOWT_ERR_NOT_FOUND); /* as documented, not CLOSED */
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, ss, ANY_ID, 5000);
    rec_event scl = evlog_wait_any(&srv.log, GOWT_EV_CLOSE, ss, ANY_ID, 100);
    CHECK(scl.code == 3 && (scl.flags & GOWT_CLOSE_REMOTE));
    evlog_wait_any(&srv.log, GOWT_EV_FREE, ss, cs, 100);
    evlog_wait_any(&srv.log, GOWT_EV_FREE, ss, ds, 100);
    uint64_t all[4] = {st.uni, st.bidi, cs, ds};
    for (int i = 0; i < 4; i++) {
        CHECK(evlog_count_for(&c.log, GOWT_EV_FREE, s, all[i]) == 1);
        CHECK(evlog_count_for(&srv.log, GOWT_EV_FREE, ss, all[i]) == 1);
    }
    check_session_end(&c.log, s);
    check_session_end(&srv.log, ss);
    /* the other session is unaffected */
    CHECK(evlog_count_for(&c.log, GOWT_EV_CLOSE, s2, ANY_ID) == 0);
    CHECK_OK(gowt_session_close(cli, s2, 0, NULL, 0));
    evlog_wait_any(&c.log, GOWT_EV_DEREGISTER, s2, ANY_ID, 5000);
    check_session_end(&c.log, s2);
    CHECK_OK(gowt_ctx_destroy(cli));

    /* Deterministic variant of the stream_ctx check: a POLL client lets
     * STREAM_OPENED, POST_DATA and FREE of one stream queue up, then
     * delivers them in one go; the context set in STREAM_OPENED must be in
     * the POST_DATA / POST_FIN / FREE that follow. */
    static ss_cli pc;
    memset(&pc, 0, sizeof pc);
    evlog_init(&pc.log);
    pc.opened = 2; /* uni streams get tag_late */
    gowt_ctx *pcli = new_ctx(1);
    int pfd;
    CHECK_OK(gowt_ctx_get_fd(pcli, &pfd));
    gowt_session_t s3;
    url_for(url, sizeof url, srv.port, "/late");
    AT_STORE(&st.late_s, 0);
    CHECK_OK(gowt_connect(pcli, url, NULL, ss_cli_cb, &pc, &s3));
    long long end = now_ms() + 5000;
    while (evlog_count_for(&pc.log, GOWT_EV_CONNECT_ACCEPTED, s3, ANY_ID) == 0) {
        CHECK(now_ms() < end);
        CHECK(gowt_ctx_process_events(pcli, 0) >= 0);
        sleep_ms(2);
    }
    WAIT_UNTIL(AT_LOAD(&st.late_s) != 0, 5000);
    CHECK_OK(gowt_create_local_stream(srv.ctx, st.late_s, 0, NULL, &ls));
    CHECK_OK(gowt_stream_send(srv.ctx, st.late_s, ls, "queued", 6, 1));
    evlog_wait_any(&srv.log, GOWT_EV_FREE, st.late_s, ls, 5000);
    sleep_ms(200); /* all of the stream's events are queued on the client now */
    CHECK(gowt_ctx_process_events(pcli, 0) > 0);
    WAIT_UNTIL(evlog_stream_bytes(&pc.log, ls, NULL, 0, &fin) == 6 && fin, 100);
    evlog_wait_any(&pc.log, GOWT_EV_FREE, s3, ls, 100);
    CHECK_RC(pc.rc_set_last, GOWT_OK); /* set_ctx in STREAM_OPENED */
    check_stream_ctx(&pc.log, s3, ls, &pc.tag_late, GOWT_EV_STREAM_OPENED);
    CHECK_OK(gowt_ctx_destroy(pcli));
    tsrv_stop(&srv);
}

/* ======================================================================= */
/* reset_stop                                                               */
/* ======================================================================= */

void test_reset_stop(void) {
    tsrv srv;
    tsrv_start(&srv, NULL, 0, NULL, NULL);
    gowt_ctx *cli = new_ctx(0);
    evlog log;
    evlog_init(&log);
    gowt_session_t s = cli_connect(cli, srv.port, "/rs", NULL, &log);
    evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    gowt_session_t ss = evlog_wait_any(&srv.log, GOWT_EV_CONNECT, 0, ANY_ID, 1000).session;
    const uint32_t codes[3] = {0, 7, 0xffffffffu};
    uint64_t id;

    int rc;
    for (int i = 0; i < 3; i++) {
        /* client -> server RESET (bidi, with data before) */
        CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
        CHECK_OK(gowt_stream_send(cli, s, id, "abc", 3, 0));
        int fin = 0;
        WAIT_UNTIL(evlog_stream_bytes(&srv.log, id, NULL, 0, &fin) == 3, 5000);
        CHECK_OK(gowt_stream_reset(cli, s, id, codes[i]));
        rec_event r = evlog_wait_any(&srv.log, GOWT_EV_RESET, ss, id, 5000);
        CHECK(r.code == codes[i]);
        CHECK(r.flags & GOWT_STREAM_BIDI);
        CHECK_RC(gowt_stream_send(cli, s, id, "x", 1, 0), GOWT_ERR_CLOSED);
        CHECK_RC(gowt_stream_reset(cli, s, id, 1), GOWT_ERR_CLOSED);
        CHECK_RC(gowt_stream_mark_active(cli, s, id, 1), GOWT_ERR_CLOSED);

        /* client -> server RESET on a uni stream */
        CHECK_OK(gowt_create_local_stream(cli, s, 0, NULL, &id));
        CHECK_OK(gowt_stream_send(cli, s, id, "u", 1, 0));
        WAIT_UNTIL(evlog_stream_bytes(&srv.log, id, NULL, 0, &fin) == 1, 5000);
        CHECK_OK(gowt_stream_reset(cli, s, id, codes[i]));
        r = evlog_wait_any(&srv.log, GOWT_EV_RESET, ss, id, 5000);
        CHECK(r.code == codes[i]);
        CHECK(!(r.flags & GOWT_STREAM_BIDI));
        /* finished both ways: CLOSED until its FREE was delivered, then
         * NOT_FOUND (FREE is logged inside the callback, so it is in the
         * log before the stream can be forgotten) */
        rc = gowt_stream_send(cli, s, id, "x", 1, 1);
        if (rc != GOWT_ERR_CLOSED) {
            CHECK_RC(rc, GOWT_ERR_NOT_FOUND);
            CHECK(evlog_count_for(&log, GOWT_EV_FREE, s, id) == 1);
        }
        evlog_wait_any(&srv.log, GOWT_EV_FREE, ss, id, 5000);
        evlog_wait_any(&log, GOWT_EV_FREE, s, id, 5000);
        WAIT_UNTIL(gowt_stream_send(cli, s, id, "x", 1, 1) == GOWT_ERR_NOT_FOUND, 1000);

        /* client -> server STOP_SENDING */
        CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
        CHECK_OK(gowt_stream_send(cli, s, id, "hello", 5, 0));
        evlog_wait_any(&srv.log, GOWT_EV_STREAM_OPENED, ss, id, 5000);
        CHECK_OK(gowt_stream_stop_sending(cli, s, id, codes[i]));
        CHECK_RC(gowt_stream_stop_sending(cli, s, id, 1), GOWT_ERR_CLOSED);
        r = evlog_wait_any(&srv.log, GOWT_EV_STOP_SENDING, ss, id, 5000);
        CHECK(r.code == codes[i]);
        CHECK_RC(gowt_stream_send(srv.ctx, ss, id, "x", 1, 0), GOWT_ERR_CLOSED);

        /* server -> client RESET on a client-opened bidi stream */
        CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
        CHECK_OK(gowt_stream_send(cli, s, id, "q", 1, 0));
        evlog_wait_any(&srv.log, GOWT_EV_STREAM_OPENED, ss, id, 5000);
        CHECK_OK(gowt_stream_reset(srv.ctx, ss, id, codes[i]));
        r = evlog_wait_any(&log, GOWT_EV_RESET, s, id, 5000);
        CHECK(r.code == codes[i]);
        CHECK_RC(gowt_stream_send(srv.ctx, ss, id, "x", 1, 0), GOWT_ERR_CLOSED);
        CHECK_OK(gowt_stream_send(cli, s, id, "still open", 10, 1)); /* other direction */
        WAIT_UNTIL(evlog_stream_bytes(&srv.log, id, NULL, 0, &fin) == 11 && fin, 5000);

        /* server -> client STOP_SENDING */
        CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
        CHECK_OK(gowt_stream_send(cli, s, id, "q", 1, 0));
        evlog_wait_any(&srv.log, GOWT_EV_STREAM_OPENED, ss, id, 5000);
        CHECK_OK(gowt_stream_stop_sending(srv.ctx, ss, id, codes[i]));
        r = evlog_wait_any(&log, GOWT_EV_STOP_SENDING, s, id, 5000);
        CHECK(r.code == codes[i]);
        CHECK_RC(gowt_stream_send(cli, s, id, "x", 1, 0), GOWT_ERR_CLOSED);

        /* server-opened uni stream reset by the server */
        CHECK_OK(gowt_create_local_stream(srv.ctx, ss, 0, NULL, &id));
        CHECK_OK(gowt_stream_send(srv.ctx, ss, id, "zz", 2, 0));
        evlog_wait_any(&log, GOWT_EV_STREAM_OPENED, s, id, 5000);
        CHECK_OK(gowt_stream_reset(srv.ctx, ss, id, codes[i]));
        r = evlog_wait_any(&log, GOWT_EV_RESET, s, id, 5000);
        CHECK(r.code == codes[i]);
        /* a reset receive side ends the stream: FREE follows */
        evlog_wait_any(&log, GOWT_EV_FREE, s, id, 5000);
    }

    /* "The stream header goes out with the first data (or FIN / reset)":
     * a stream reset right after it was opened (nothing written yet, or
     * data still in the push buffer) still reaches the peer as a RESET. */
    CHECK_OK(gowt_create_local_stream(cli, s, 0, NULL, &id));
    CHECK_OK(gowt_stream_reset(cli, s, id, 7));
    rec_event r = evlog_wait_any(&srv.log, GOWT_EV_RESET, ss, id, 5000);
    CHECK(r.code == 7);
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
    CHECK_OK(gowt_stream_send(cli, s, id, "abc", 3, 0));
    CHECK_OK(gowt_stream_reset(cli, s, id, 9));
    r = evlog_wait_any(&srv.log, GOWT_EV_RESET, ss, id, 5000);
    CHECK(r.code == 9);
    CHECK(evlog_count_for(&log, GOWT_EV_RESET, s, id) == 0); /* the server did not reset it */

    /* len 0 with fin=1 just sends FIN */
    CHECK_OK(gowt_create_local_stream(cli, s, 0, NULL, &id));
    CHECK_OK(gowt_stream_send(cli, s, id, NULL, 0, 1));
    rec_event f = evlog_wait_any(&srv.log, GOWT_EV_POST_FIN, ss, id, 5000);
    CHECK(f.length == 0);
    CHECK(evlog_pos(&srv.log, GOWT_EV_STREAM_OPENED, ss, id) < evlog_pos(&srv.log, GOWT_EV_POST_FIN, ss, id));

    CHECK_OK(gowt_session_close(cli, s, 0, NULL, 0));
    evlog_wait_any(&log, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, ss, ANY_ID, 5000);
    check_session_end(&log, s);
    check_session_end(&srv.log, ss);
    CHECK(AT_LOAD(&srv.unexpected) == 0);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

/* ======================================================================= */
/* many_streams                                                             */
/* ======================================================================= */

#define MS_N 100
#define MS_LEN (256u * KiB)

typedef struct ms_stream {
    uint32_t seed;
    size_t rx;
    int bad, fin, frees;
} ms_stream;

typedef struct ms_cli {
    ms_stream st[MS_N];
    int no_ctx, done, accepted, frees;
} ms_cli;

static int ms_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)ctx;
    ms_cli *m = app;
    ms_stream *st = ev->stream_ctx;
    switch (ev->type) {
    case GOWT_EV_CONNECT_ACCEPTED:
        AT_STORE(&m->accepted, 1);
        break;
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        if (!st) {
            m->no_ctx++;
            break;
        }
        if (!pat_check(ev->data, st->seed, st->rx, ev->length)) st->bad++;
        st->rx += ev->length;
        if (ev->type == GOWT_EV_POST_FIN) {
            st->fin = 1;
            AT_INC(&m->done);
        }
        break;
    case GOWT_EV_FREE:
        if (st) st->frees++;
        AT_INC(&m->frees);
        break;
    default:
        break;
    }
    return 0;
}

void test_many_streams(void) {
    tsrv srv;
    tsrv_start(&srv, NULL, 1, NULL, NULL);
    srv.log.no_data = 1;
    static ms_cli m;
    memset(&m, 0, sizeof m);
    gowt_ctx *cli = new_ctx(0);
    char url[128];
    url_for(url, sizeof url, srv.port, "/many");
    gowt_session_t s;
    CHECK_OK(gowt_connect(cli, url, NULL, ms_cb, &m, &s));
    WAIT_UNTIL(AT_LOAD(&m.accepted), 5000);

    uint8_t *buf = malloc(MS_LEN);
    CHECK(buf != NULL);
    long long t0 = now_ms();
    for (int i = 0; i < MS_N; i++) {
        uint64_t id;
        m.st[i].seed = 100 + (uint32_t)i;
        CHECK_OK(gowt_create_local_stream(cli, s, 1, &m.st[i], &id));
        pat_fill(buf, m.st[i].seed, 0, MS_LEN);
        CHECK_OK(gowt_stream_send(cli, s, id, buf, MS_LEN, 1));
    }
    WAIT_UNTIL(AT_LOAD(&m.done) == MS_N, 30000);
    fprintf(stderr, "many_streams: %d x %u bytes echoed in %lld ms\n", MS_N, MS_LEN, now_ms() - t0);
    for (int i = 0; i < MS_N; i++) {
        CHECK(m.st[i].rx == MS_LEN);
        CHECK(m.st[i].bad == 0);
        CHECK(m.st[i].fin == 1);
    }
    CHECK(m.no_ctx == 0);
    CHECK(AT_LOAD(&srv.unexpected) == 0);
    /* every stream is finished both ways: one FREE each */
    WAIT_UNTIL(AT_LOAD(&m.frees) >= MS_N, 5000);
    sleep_ms(50);
    for (int i = 0; i < MS_N; i++) CHECK(m.st[i].frees == 1);
    gowt_session_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(gowt_session_get_info(cli, s, &info));
    CHECK(info.bytes_sent == (uint64_t)MS_N * MS_LEN);
    CHECK(info.bytes_received == (uint64_t)MS_N * MS_LEN);
    CHECK_OK(gowt_session_close(cli, s, 0, NULL, 0));
    CHECK_OK(gowt_ctx_destroy(cli));
    CHECK(AT_LOAD(&m.frees) == MS_N);
    tsrv_stop(&srv);
    free(buf);
}
