/* Session cases: refuse, drain, server_close, multi_session, destroy. */
#include "common.h"
#include "cases.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static gowt_session_info get_info(gowt_ctx *ctx, gowt_session_t s) {
    gowt_session_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(gowt_session_get_info(ctx, s, &info));
    return info;
}

/* The client log of a refused session: CONNECTING, CONNECT_REFUSED(code),
 * DEREGISTER, and never CLOSE. Returns the REFUSED event. */
static rec_event check_refused(evlog *l, gowt_session_t s, uint64_t code) {
    rec_event r = evlog_wait_any(l, GOWT_EV_CONNECT_REFUSED, s, ANY_ID, 5000);
    if (r.code != code) {
        fprintf(stderr, "CONNECT_REFUSED code %llu, want %llu\n", (unsigned long long)r.code,
                (unsigned long long)code);
        exit(1);
    }
    evlog_wait_any(l, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    sleep_ms(20);
    CHECK(evlog_pos(l, GOWT_EV_CONNECTING, s, ANY_ID) <
          evlog_pos(l, GOWT_EV_CONNECT_REFUSED, s, ANY_ID));
    CHECK(evlog_count_for(l, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID) == 0);
    CHECK(evlog_count_for(l, GOWT_EV_CLOSE, s, ANY_ID) == 0);
    CHECK(evlog_count_for(l, GOWT_EV_CONNECT_REFUSED, s, ANY_ID) == 1);
    check_session_end(l, s);
    return r;
}

/* ======================================================================= */
/* refuse                                                                   */
/* ======================================================================= */

#define RQ_MAX 32
typedef struct req_copy {
    gowt_session_t s;
    char path[64], query[64], authority[128], origin[128], protocol[32];
    size_t nproto, nhdr;
    char protos[4][16];
    char hname[32][64], hval[32][128];
    int rc_accept;
} req_copy;

typedef struct refuse_state {
    pthread_mutex_t mu;
    req_copy reqs[RQ_MAX];
    int n;
} refuse_state;

static void copy_str(char *dst, size_t cap, const char *src) {
    CHECK(src != NULL);
    snprintf(dst, cap, "%s", src);
}

static int refuse_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    refuse_state *rs = srv->user;
    if (ev->type != GOWT_EV_CONNECT) return HOOK_CONTINUE;
    const gowt_connect_request *r = ev->request;
    CHECK(r != NULL);
    pthread_mutex_lock(&rs->mu);
    CHECK(rs->n < RQ_MAX);
    req_copy *q = &rs->reqs[rs->n];
    memset(q, 0, sizeof *q);
    q->s = ev->session;
    copy_str(q->path, sizeof q->path, r->path);
    copy_str(q->query, sizeof q->query, r->query);
    copy_str(q->authority, sizeof q->authority, r->authority);
    copy_str(q->origin, sizeof q->origin, r->origin);
    copy_str(q->protocol, sizeof q->protocol, r->protocol);
    q->nproto = r->protocol_count;
    for (size_t i = 0; i < r->protocol_count && i < 4; i++)
        copy_str(q->protos[i], sizeof q->protos[i], r->protocols[i]);
    q->nhdr = r->header_count;
    for (size_t i = 0; i < r->header_count && i < 32; i++) {
        copy_str(q->hname[i], sizeof q->hname[i], r->header_names[i]);
        copy_str(q->hval[i], sizeof q->hval[i], r->header_values[i]);
    }
    int ret = 0;
    if (strcmp(r->path, "/r400") == 0) ret = 400;
    if (strcmp(r->path, "/r429") == 0) ret = 429;
    if (strcmp(r->path, "/defer") == 0) ret = GOWT_CONNECT_DEFER;
    if (strcmp(r->path, "/explicit") == 0) q->rc_accept = gowt_session_accept(ctx, ev->session, "a");
    rs->n++;
    pthread_mutex_unlock(&rs->mu);
    return ret;
}

/* The captured request whose query is q (unique per connect). */
static req_copy find_req(refuse_state *rs, const char *query) {
    req_copy out;
    long long end = now_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&rs->mu);
        for (int i = 0; i < rs->n; i++) {
            if (strcmp(rs->reqs[i].query, query) == 0) {
                out = rs->reqs[i];
                pthread_mutex_unlock(&rs->mu);
                return out;
            }
        }
        pthread_mutex_unlock(&rs->mu);
        if (now_ms() > end) {
            fprintf(stderr, "no CONNECT with query %s\n", query);
            exit(1);
        }
        sleep_ms(2);
    }
}

static int req_seen(refuse_state *rs, const char *path) {
    int seen = 0;
    pthread_mutex_lock(&rs->mu);
    for (int i = 0; i < rs->n; i++) seen |= strcmp(rs->reqs[i].path, path) == 0;
    pthread_mutex_unlock(&rs->mu);
    return seen;
}

typedef struct decide_arg {
    gowt_ctx *ctx;
    gowt_session_t s;
    int refuse_status; /* 0: accept */
    int rc, rc_again;
} decide_arg;

static void *decide_thread(void *p) {
    decide_arg *a = p;
    if (a->refuse_status) {
        a->rc = gowt_session_refuse(a->ctx, a->s, a->refuse_status);
        a->rc_again = gowt_session_accept(a->ctx, a->s, NULL);
    } else {
        a->rc = gowt_session_accept(a->ctx, a->s, NULL);
        a->rc_again = gowt_session_refuse(a->ctx, a->s, 403);
    }
    return NULL;
}

static void decide_from_thread(decide_arg *a) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, decide_thread, a) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

static gowt_session_t connect_opts(gowt_ctx *cli, uint16_t port, const char *path,
                                   const char *protocols, const char *origin, evlog *log) {
    gowt_connect_options o;
    gowt_connect_options_init(&o);
    o.protocols = protocols;
    o.origin = origin;
    return cli_connect(cli, port, path, &o, log);
}

static void dgram_roundtrip(gowt_ctx *cli, gowt_session_t s, evlog *log, const char *msg) {
    size_t before = evlog_count_for(log, GOWT_EV_POST_DATAGRAM, s, ANY_ID);
    for (int i = 0; i < 50; i++) { /* datagrams may be lost: retry */
        CHECK_OK(gowt_send_datagram(cli, s, msg, strlen(msg)));
        long long end = now_ms() + 100;
        while (now_ms() < end && evlog_count_for(log, GOWT_EV_POST_DATAGRAM, s, ANY_ID) == before)
            sleep_ms(2);
        if (evlog_count_for(log, GOWT_EV_POST_DATAGRAM, s, ANY_ID) > before) break;
    }
    rec_event d;
    CHECK(evlog_get(log, before, GOWT_EV_POST_DATAGRAM, s, ANY_ID, &d));
    CHECK(d.length == strlen(msg) && memcmp(d.data, msg, d.length) == 0);
}

void test_refuse(void) {
    static refuse_state rs;
    memset(&rs, 0, sizeof rs);
    pthread_mutex_init(&rs.mu, NULL);
    tsrv srv;
    tsrv_start(&srv, NULL, 1, refuse_hook, &rs);
    CHECK_OK(gowt_server_unregister(srv.ctx, "*")); /* only the paths below */
    gowt_path_options po;
    gowt_path_options_init(&po);
    CHECK(po.struct_size == sizeof po);
    CHECK(po.allowed_origins == NULL && po.protocols == NULL);
    const char *plain[] = {"/r400", "/r429", "/defer", "/hdr", "/ok"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        CHECK_OK(gowt_server_register(srv.ctx, plain[i], tsrv_cb, NULL, NULL));
    po.protocols = "b";
    CHECK_OK(gowt_server_register(srv.ctx, "/proto", tsrv_cb, NULL, &po));
    CHECK_OK(gowt_server_register(srv.ctx, "/explicit", tsrv_cb, NULL, &po));
    gowt_path_options_init(&po);
    po.allowed_origins = "http://good.example";
    CHECK_OK(gowt_server_register(srv.ctx, "/origin", tsrv_cb, NULL, &po));

    gowt_ctx *cli = new_ctx(0);
    enum { N = 20 };
    static evlog logs[N];
    for (int i = 0; i < N; i++) evlog_init(&logs[i]);

    /* unknown path: 404, DEREGISTER, never CLOSE; the server hears nothing */
    gowt_session_t s404 = cli_connect(cli, srv.port, "/nope?k=404", NULL, &logs[0]);
    /* status returned by the CONNECT callback */
    gowt_session_t s400 = cli_connect(cli, srv.port, "/r400?k=400", NULL, &logs[1]);
    gowt_session_t s429 = cli_connect(cli, srv.port, "/r429?k=429", NULL, &logs[2]);
    rec_event r = check_refused(&logs[0], s404, 404);
    CHECK(!req_seen(&rs, "/nope"));
    check_refused(&logs[1], s400, 400);
    check_refused(&logs[2], s429, 429);
    /* the server side of a refused session: CONNECT, DEREGISTER, no CLOSE */
    req_copy q400 = find_req(&rs, "k=400");
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, q400.s, ANY_ID, 5000);
    CHECK(evlog_count_for(&srv.log, GOWT_EV_CLOSE, q400.s, ANY_ID) == 0);
    check_session_end(&srv.log, q400.s);
    WAIT_UNTIL(session_gone(srv.ctx, q400.s), 1000);
    CHECK_RC(gowt_session_accept(srv.ctx, q400.s, NULL), GOWT_ERR_NOT_FOUND);
    (void)r;

    /* deferred, then refused with 403 from another thread */
    gowt_session_t sdr = cli_connect(cli, srv.port, "/defer?k=dr", NULL, &logs[3]);
    req_copy qdr = find_req(&rs, "k=dr");
    sleep_ms(100); /* nothing is decided while deferred */
    CHECK(evlog_count_for(&logs[3], GOWT_EV_CONNECT_REFUSED, sdr, ANY_ID) == 0);
    CHECK(evlog_count_for(&logs[3], GOWT_EV_CONNECT_ACCEPTED, sdr, ANY_ID) == 0);
    CHECK_RC(gowt_session_refuse(srv.ctx, qdr.s, 200), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_session_refuse(srv.ctx, qdr.s, 600), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_session_drain(srv.ctx, qdr.s), GOWT_ERR_STATE);
    uint64_t tmp;
    CHECK_RC(gowt_create_local_stream(srv.ctx, qdr.s, 1, NULL, &tmp), GOWT_ERR_STATE);
    CHECK_RC(gowt_send_datagram(srv.ctx, qdr.s, "x", 1), GOWT_ERR_STATE);
    decide_arg da = {srv.ctx, qdr.s, 403, 0, 0};
    decide_from_thread(&da);
    CHECK_RC(da.rc, GOWT_OK);
    /* a second decision: STATE, or NOT_FOUND once the refused session's
     * DEREGISTER has already been delivered */
    CHECK(da.rc_again == GOWT_ERR_STATE || da.rc_again == GOWT_ERR_NOT_FOUND);
    check_refused(&logs[3], sdr, 403);
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, qdr.s, ANY_ID, 5000);
    CHECK(evlog_count_for(&srv.log, GOWT_EV_CLOSE, qdr.s, ANY_ID) == 0);

    /* deferred, then accepted from another thread: the session works */
    gowt_session_t sda = cli_connect(cli, srv.port, "/defer?k=da", NULL, &logs[4]);
    req_copy qda = find_req(&rs, "k=da");
    sleep_ms(50);
    CHECK(evlog_count_for(&logs[4], GOWT_EV_CONNECT_ACCEPTED, sda, ANY_ID) == 0);
    decide_arg dacc = {srv.ctx, qda.s, 0, 0, 0};
    decide_from_thread(&dacc);
    CHECK_RC(dacc.rc, GOWT_OK);
    CHECK_RC(dacc.rc_again, GOWT_ERR_STATE);
    rec_event acc = evlog_wait_any(&logs[4], GOWT_EV_CONNECT_ACCEPTED, sda, ANY_ID, 5000);
    CHECK(acc.protocol == NULL);
    dgram_roundtrip(cli, sda, &logs[4], "deferred-accept");

    /* sub-protocols: the path's automatic choice */
    gowt_session_t sp = connect_opts(cli, srv.port, "/proto?k=p", "a, b", NULL, &logs[5]);
    acc = evlog_wait_any(&logs[5], GOWT_EV_CONNECT_ACCEPTED, sp, ANY_ID, 5000);
    CHECK(acc.protocol != NULL && strcmp(acc.protocol, "b") == 0);
    req_copy qp = find_req(&rs, "k=p");
    CHECK(qp.nproto == 2);
    CHECK(strcmp(qp.protos[0], "a") == 0 && strcmp(qp.protos[1], "b") == 0);
    /* ... nothing in common: accepted without a protocol */
    gowt_session_t sp2 = connect_opts(cli, srv.port, "/proto?k=p2", "c", NULL, &logs[6]);
    acc = evlog_wait_any(&logs[6], GOWT_EV_CONNECT_ACCEPTED, sp2, ANY_ID, 5000);
    CHECK(acc.protocol == NULL);
    CHECK(find_req(&rs, "k=p2").nproto == 1);
    /* ... the application's explicit choice wins */
    gowt_session_t se = connect_opts(cli, srv.port, "/explicit?k=e", "a, b", NULL, &logs[7]);
    acc = evlog_wait_any(&logs[7], GOWT_EV_CONNECT_ACCEPTED, se, ANY_ID, 5000);
    CHECK(acc.protocol != NULL && strcmp(acc.protocol, "a") == 0);
    CHECK_RC(find_req(&rs, "k=e").rc_accept, GOWT_OK);
    /* no protocols offered: request has none */
    CHECK(find_req(&rs, "k=da").nproto == 0);

    /* origin checks */
    gowt_session_t sev = connect_opts(cli, srv.port, "/origin?k=evil", NULL, "http://evil.example", &logs[8]);
    check_refused(&logs[8], sev, 403);
    CHECK(!req_seen(&rs, "/origin"));
    gowt_session_t sgood = connect_opts(cli, srv.port, "/origin?k=good", NULL, "http://good.example", &logs[9]);
    evlog_wait_any(&logs[9], GOWT_EV_CONNECT_ACCEPTED, sgood, ANY_ID, 5000);
    CHECK(strcmp(find_req(&rs, "k=good").origin, "http://good.example") == 0);
    /* default rule (allowed_origins NULL): the origin's host must be :authority */
    char same[128];
    snprintf(same, sizeof same, "https://127.0.0.1:%u", srv.port);
    gowt_session_t ssame = connect_opts(cli, srv.port, "/ok?k=same", NULL, same, &logs[10]);
    evlog_wait_any(&logs[10], GOWT_EV_CONNECT_ACCEPTED, ssame, ANY_ID, 5000);
    CHECK(strcmp(find_req(&rs, "k=same").origin, same) == 0);
    gowt_session_t sother = connect_opts(cli, srv.port, "/ok?k=other", NULL, "http://other.example", &logs[11]);
    check_refused(&logs[11], sother, 403);
    gowt_session_t snone = connect_opts(cli, srv.port, "/ok?k=none", NULL, NULL, &logs[12]);
    evlog_wait_any(&logs[12], GOWT_EV_CONNECT_ACCEPTED, snone, ANY_ID, 5000);
    CHECK(strcmp(find_req(&rs, "k=none").origin, "") == 0);

    /* request fields: path, query, authority, :protocol, extra headers */
    const char *hn[2] = {"X-Test-Header", "x-second"};
    const char *hv[2] = {"hello", "two"};
    gowt_connect_options o;
    gowt_connect_options_init(&o);
    CHECK(o.struct_size == sizeof o);
    o.header_names = hn;
    o.header_values = hv;
    o.header_count = 2;
    gowt_session_t sh = cli_connect(cli, srv.port, "/hdr?a=1&b=2", &o, &logs[13]);
    evlog_wait_any(&logs[13], GOWT_EV_CONNECT_ACCEPTED, sh, ANY_ID, 5000);
    req_copy qh = find_req(&rs, "a=1&b=2");
    CHECK(strcmp(qh.path, "/hdr") == 0);
    char auth[64];
    snprintf(auth, sizeof auth, "127.0.0.1:%u", srv.port);
    CHECK(strcmp(qh.authority, auth) == 0);
    CHECK(strcmp(qh.protocol, "webtransport-h3") == 0 || strcmp(qh.protocol, "webtransport") == 0);
    int found1 = 0, found2 = 0;
    for (size_t i = 0; i < qh.nhdr && i < 32; i++) {
        found1 |= strcmp(qh.hname[i], "x-test-header") == 0 && strcmp(qh.hval[i], "hello") == 0;
        found2 |= strcmp(qh.hname[i], "x-second") == 0 && strcmp(qh.hval[i], "two") == 0;
        for (const char *c = qh.hname[i]; *c; c++) CHECK(!(*c >= 'A' && *c <= 'Z'));
    }
    CHECK(found1 && found2);
    CHECK(strcmp(find_req(&rs, "k=none").query, "k=none") == 0);
    /* no query: "" */
    gowt_session_t snq = cli_connect(cli, srv.port, "/ok", NULL, &logs[14]);
    evlog_wait_any(&logs[14], GOWT_EV_CONNECT_ACCEPTED, snq, ANY_ID, 5000);
    CHECK(find_req(&rs, "").s != 0);
    /* a chosen :authority */
    gowt_connect_options_init(&o);
    o.authority = "example.test:4433";
    gowt_session_t sa = cli_connect(cli, srv.port, "/ok?k=auth", &o, &logs[15]);
    evlog_wait_any(&logs[15], GOWT_EV_CONNECT_ACCEPTED, sa, ANY_ID, 5000);
    CHECK(strcmp(find_req(&rs, "k=auth").authority, "example.test:4433") == 0);

    /* unregister: existing sessions continue, new ones get 404 */
    CHECK_OK(gowt_server_unregister(srv.ctx, "/hdr"));
    CHECK_RC(gowt_server_unregister(srv.ctx, "/hdr"), GOWT_ERR_NOT_FOUND);
    dgram_roundtrip(cli, sh, &logs[13], "after-unregister");
    gowt_session_t sh2 = cli_connect(cli, srv.port, "/hdr?k=gone", NULL, &logs[16]);
    check_refused(&logs[16], sh2, 404);

    /* refused sessions never disturbed the shared connection */
    dgram_roundtrip(cli, sp, &logs[5], "still-here");

    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

/* ======================================================================= */
/* drain                                                                    */
/* ======================================================================= */

static int drain_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    int *rc = srv->user;
    if (ev->type == GOWT_EV_CONNECT) *rc = gowt_session_drain(ctx, ev->session);
    return HOOK_CONTINUE;
}

void test_drain(void) {
    int rc_in_connect = 0;
    tsrv srv;
    tsrv_start(&srv, NULL, 1, drain_hook, &rc_in_connect);
    gowt_ctx *cli = new_ctx(0);
    evlog log;
    evlog_init(&log);
    gowt_session_t s = cli_connect(cli, srv.port, "/drain", NULL, &log);
    CHECK_RC(gowt_session_drain(cli, s), GOWT_ERR_STATE); /* not accepted yet */
    evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    rec_event con = evlog_wait_any(&srv.log, GOWT_EV_CONNECT, 0, ANY_ID, 1000);
    gowt_session_t ss = con.session;
    CHECK_RC(rc_in_connect, GOWT_ERR_STATE); /* server: not accepted yet in CONNECT */

    /* client drains: the server gets DRAIN */
    CHECK_OK(gowt_session_drain(cli, s));
    rec_event d = evlog_wait_any(&srv.log, GOWT_EV_DRAIN, ss, ANY_ID, 5000);
    CHECK(d.stream_id == GOWT_NO_ID && d.session_id == con.session_id);
    CHECK(evlog_count_for(&log, GOWT_EV_DRAIN, s, ANY_ID) == 0);
    /* server drains: the client gets DRAIN */
    CHECK_OK(gowt_session_drain(srv.ctx, ss));
    d = evlog_wait_any(&log, GOWT_EV_DRAIN, s, ANY_ID, 5000);
    CHECK(d.app_ctx == &log);
    sleep_ms(50);
    CHECK(evlog_count_for(&srv.log, GOWT_EV_DRAIN, ss, ANY_ID) == 1);
    CHECK(evlog_count_for(&log, GOWT_EV_DRAIN, s, ANY_ID) == 1);
    CHECK(evlog_count_for(&log, GOWT_EV_CLOSE, s, ANY_ID) == 0);

    /* still fully usable both ways after draining */
    uint64_t id;
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
    CHECK_OK(gowt_stream_send(cli, s, id, "after drain", 11, 1));
    int fin;
    WAIT_UNTIL(evlog_stream_bytes(&log, id, NULL, 0, &fin) == 11 && fin, 5000);
    dgram_roundtrip(cli, s, &log, "drained-dgram");
    uint64_t sid;
    CHECK_OK(gowt_create_local_stream(srv.ctx, ss, 0, NULL, &sid));
    CHECK_OK(gowt_stream_send(srv.ctx, ss, sid, "srv after drain", 15, 1));
    WAIT_UNTIL(evlog_stream_bytes(&log, sid, NULL, 0, &fin) == 15 && fin, 5000);
    CHECK_OK(gowt_session_drain(cli, s)); /* again: allowed */
    evlog_wait_for(&srv.log, &(size_t){(size_t)evlog_pos(&srv.log, GOWT_EV_DRAIN, ss, ANY_ID) + 1},
                   GOWT_EV_DRAIN, ss, ANY_ID, 5000);

    CHECK_OK(gowt_session_close(cli, s, 9, "drained", 7));
    CHECK_CLOSED_OR_GONE(gowt_session_drain(cli, s), &log, s);
    rec_event c = evlog_wait_any(&srv.log, GOWT_EV_CLOSE, ss, ANY_ID, 5000);
    CHECK(c.code == 9 && strcmp((char *)c.data, "drained") == 0);
    evlog_wait_any(&log, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, ss, ANY_ID, 5000);
    WAIT_UNTIL(session_gone(cli, s), 1000);
    CHECK_RC(gowt_session_drain(cli, s), GOWT_ERR_NOT_FOUND);
    check_session_end(&log, s);
    check_session_end(&srv.log, ss);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

/* ======================================================================= */
/* server_close                                                             */
/* ======================================================================= */

typedef struct sc_cli {
    evlog log;
    int bad_reason; /* CLOSE reason not NUL-terminated */
} sc_cli;

static int sc_cli_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)ctx;
    sc_cli *c = app;
    evlog_add(&c->log, ev);
    if (ev->type == GOWT_EV_CLOSE) {
        if (ev->length > 0 && (ev->data == NULL || ev->data[ev->length] != 0)) c->bad_reason++;
    }
    return 0;
}

static int sc_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    int *rc = srv->user;
    if (ev->type == GOWT_EV_POST_DATAGRAM && ev->length == 8 && memcmp(ev->data, "close-me", 8) == 0)
        *rc = gowt_session_close(ctx, ev->session, 0, NULL, 0);
    return HOOK_CONTINUE;
}

void test_server_close(void) {
    int rc_cb_close = 99;
    tsrv srv;
    tsrv_start(&srv, NULL, 0, sc_hook, &rc_cb_close);
    gowt_ctx *cli = new_ctx(0);
    static sc_cli c;
    memset(&c, 0, sizeof c);
    evlog_init(&c.log);

    /* 1024-byte UTF-8 reason: 341 three-byte euro signs + "x" */
    char big[1100];
    size_t bl = 0;
    for (int i = 0; i < 341; i++) {
        memcpy(big + bl, "\xe2\x82\xac", 3);
        bl += 3;
    }
    big[bl++] = 'x';
    CHECK(bl == 1024);
    big[bl] = 0;

    struct {
        uint32_t code;
        const char *reason;
        size_t len;
        int in_callback;
    } cases[] = {
        {0x11223344u, "server says bye", 15, 0},
        {1, big, 1024, 0},
        {77, NULL, 0, 0},
        {0, "", 0, 0},
        {0xffffffffu, "max code", 8, 0},
        {0, NULL, 0, 1}, /* closed by the server inside a callback */
    };
    enum { NC = sizeof cases / sizeof cases[0] };
    gowt_session_t cs[NC], ss[NC];
    uint64_t open_stream[NC];
    char url[128];
    for (int i = 0; i < NC; i++) {
        url_for(url, sizeof url, srv.port, "/close");
        CHECK_OK(gowt_connect(cli, url, NULL, sc_cli_cb, &c, &cs[i]));
        rec_event a = evlog_wait_any(&c.log, GOWT_EV_CONNECT_ACCEPTED, cs[i], ANY_ID, 5000);
        /* the server session with the same wire ID on this connection */
        size_t k = 0;
        rec_event con;
        for (;;) {
            con = evlog_wait_for(&srv.log, &k, GOWT_EV_CONNECT, 0, ANY_ID, 5000);
            if (con.session_id == a.session_id) break;
        }
        ss[i] = con.session;
        /* a client stream still open when the server closes */
        CHECK_OK(gowt_create_local_stream(cli, cs[i], 1, &cases[i], &open_stream[i]));
        CHECK_OK(gowt_stream_send(cli, cs[i], open_stream[i], "open", 4, 0));
        evlog_wait_any(&srv.log, GOWT_EV_STREAM_OPENED, ss[i], open_stream[i], 5000);
    }
    /* argument checks on a live server session */
    char huge[1025];
    memset(huge, 'h', sizeof huge);
    CHECK_RC(gowt_session_close(srv.ctx, ss[0], 1, huge, 1025), GOWT_ERR_TOO_LARGE);
    CHECK_RC(gowt_session_close(srv.ctx, ss[0], 1, "\xc3\x28", 2), GOWT_ERR_INVALID_ARG);
    CHECK_RC(gowt_session_close(srv.ctx, ss[0], 1, NULL, 5), GOWT_ERR_INVALID_ARG);

    for (int i = 0; i < NC; i++) {
        if (cases[i].in_callback) {
            CHECK_OK(gowt_send_datagram(cli, cs[i], "close-me", 8));
            long long end = now_ms() + 5000;
            while (evlog_count_for(&c.log, GOWT_EV_CLOSE, cs[i], ANY_ID) == 0) {
                CHECK(now_ms() < end);
                sleep_ms(50);
                int rc = gowt_send_datagram(cli, cs[i], "close-me", 8); /* in case one was lost */
                CHECK(rc == GOWT_OK || rc == GOWT_ERR_CLOSED || rc == GOWT_ERR_NOT_FOUND);
            }
        } else {
            CHECK_OK(gowt_session_close(srv.ctx, ss[i], cases[i].code, cases[i].reason, cases[i].len));
            CHECK_CLOSED_OR_GONE(gowt_session_close(srv.ctx, ss[i], 0, NULL, 0), &srv.log, ss[i]);
        }
        rec_event cl = evlog_wait_any(&c.log, GOWT_EV_CLOSE, cs[i], ANY_ID, 5000);
        CHECK(cl.flags & GOWT_CLOSE_REMOTE);
        CHECK(!(cl.flags & (GOWT_CLOSE_LOCAL | GOWT_CLOSE_ERROR)));
        if (cl.code != cases[i].code || cl.length != cases[i].len) {
            fprintf(stderr, "case %d: CLOSE code %llu len %zu, want %u len %zu\n", i,
                    (unsigned long long)cl.code, cl.length, cases[i].code, cases[i].len);
            exit(1);
        }
        if (cases[i].len) CHECK(memcmp(cl.data, cases[i].reason, cases[i].len) == 0);
        rec_event fr = evlog_wait_any(&c.log, GOWT_EV_FREE, cs[i], open_stream[i], 5000);
        CHECK(fr.stream_ctx == &cases[i]);
        evlog_wait_any(&c.log, GOWT_EV_DEREGISTER, cs[i], ANY_ID, 5000);
        check_session_end(&c.log, cs[i]);
        CHECK(evlog_pos(&c.log, GOWT_EV_CLOSE, cs[i], ANY_ID) <
              evlog_pos(&c.log, GOWT_EV_FREE, cs[i], open_stream[i]));
        /* the server's own view: a local close with the same code and reason */
        rec_event sl = evlog_wait_any(&srv.log, GOWT_EV_CLOSE, ss[i], ANY_ID, 5000);
        CHECK(sl.flags & GOWT_CLOSE_LOCAL);
        CHECK(sl.code == cases[i].code && sl.length == cases[i].len);
        evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, ss[i], ANY_ID, 5000);
        check_session_end(&srv.log, ss[i]);
        /* the others are still open */
        for (int j = i + 1; j < NC; j++) CHECK(evlog_count_for(&c.log, GOWT_EV_CLOSE, cs[j], ANY_ID) == 0);
    }
    CHECK_RC(rc_cb_close, GOWT_OK);
    CHECK(c.bad_reason == 0);
    CHECK_OK(gowt_ctx_destroy(cli));
    tsrv_stop(&srv);
}

/* ======================================================================= */
/* multi_session                                                            */
/* ======================================================================= */

#define MSN 10

static void ms_echo_check(gowt_ctx *cli, gowt_session_t s, evlog *log, uint32_t seed, size_t len) {
    uint64_t id;
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
    uint8_t *buf = malloc(len), *back = malloc(len);
    CHECK(buf && back);
    pat_fill(buf, seed, 0, len);
    CHECK_OK(gowt_stream_send(cli, s, id, buf, len, 1));
    int fin = 0;
    WAIT_UNTIL(evlog_stream_bytes(log, id, NULL, 0, &fin) >= len && fin, 10000);
    CHECK(evlog_stream_bytes(log, id, back, len, &fin) == len);
    CHECK(memcmp(buf, back, len) == 0);
    free(buf);
    free(back);
}

/* concurrent: all MSN connects at once (they join the connection being
 * dialled); else the first one is established before the others start.
 * fresh: the client context has no connection to the server yet. */
static void multi_round(gowt_ctx *cli, uint16_t port, int sharing, tsrv *srv, int concurrent,
                        int fresh) {
    static evlog logs[MSN];
    size_t srv_start = evlog_len(&srv->log);
    gowt_session_t s[MSN];
    for (int i = 0; i < MSN; i++) evlog_init(&logs[i]);
    s[0] = cli_connect(cli, port, "/multi", NULL, &logs[0]);
    if (!concurrent) evlog_wait_any(&logs[0], GOWT_EV_CONNECT_ACCEPTED, s[0], ANY_ID, 5000);
    for (int i = 1; i < MSN; i++) s[i] = cli_connect(cli, port, "/multi", NULL, &logs[i]);
    uint64_t ids[MSN];
    for (int i = 0; i < MSN; i++) {
        rec_event a = evlog_wait_any(&logs[i], GOWT_EV_CONNECT_ACCEPTED, s[i], ANY_ID, 5000);
        uint64_t id;
        CHECK_OK(gowt_session_get_id(cli, s[i], &id));
        CHECK(id == a.session_id);
        gowt_session_info info = get_info(cli, s[i]);
        CHECK(info.session_id == id);
        ids[i] = id;
        if (sharing) {
            CHECK(info.flow_control == 1 && info.shared_connection == 1);
            /* CONNECT streams of one connection: client bidi IDs, all
             * different; on a fresh connection exactly 0, 4, ..., 36 */
            CHECK(id % 4 == 0);
            if (fresh && id / 4 >= MSN) {
                fprintf(stderr, "session %d: CONNECT stream %llu on a fresh connection\n", i,
                        (unsigned long long)id);
                exit(1);
            }
            for (int j = 0; j < i; j++) CHECK(ids[j] != id);
        } else {
            CHECK(info.flow_control == 0 && info.shared_connection == 0);
            CHECK(id == 0); /* each its own connection */
        }
    }
    /* the server agrees */
    size_t k = srv_start;
    for (int i = 0; i < MSN; i++) {
        rec_event con = evlog_wait_for(&srv->log, &k, GOWT_EV_CONNECT, 0, ANY_ID, 5000);
        gowt_session_info si = get_info(srv->ctx, con.session);
        CHECK(si.flow_control == sharing && si.shared_connection == sharing);
    }
    /* data stays in its session */
    for (int i = 0; i < MSN; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "dgram-of-%d", i);
        dgram_roundtrip(cli, s[i], &logs[i], msg);
        ms_echo_check(cli, s[i], &logs[i], 500 + (uint32_t)i, 64 << 10);
    }
    for (int i = 0; i < MSN; i++) {
        CHECK(evlog_count_for(&logs[i], 0, 0, ANY_ID) == evlog_count_for(&logs[i], 0, s[i], ANY_ID));
        /* at least one (dgram_roundtrip resends when the echo is slow) */
        CHECK(evlog_count_for(&logs[i], GOWT_EV_POST_DATAGRAM, s[i], ANY_ID) >= 1);
    }
    /* closing one leaves the others working */
    CHECK_OK(gowt_session_close(cli, s[3], 3, "only three", 10));
    evlog_wait_any(&logs[3], GOWT_EV_DEREGISTER, s[3], ANY_ID, 5000);
    sleep_ms(50);
    for (int i = 0; i < MSN; i++) {
        if (i == 3) continue;
        CHECK(evlog_count_for(&logs[i], GOWT_EV_CLOSE, s[i], ANY_ID) == 0);
        ms_echo_check(cli, s[i], &logs[i], 900 + (uint32_t)i, 16 << 10);
    }
    for (int i = 0; i < MSN; i++)
        if (i != 3) CHECK_OK(gowt_session_close(cli, s[i], 0, NULL, 0));
    for (int i = 0; i < MSN; i++) {
        evlog_wait_any(&logs[i], GOWT_EV_DEREGISTER, s[i], ANY_ID, 5000);
        check_session_end(&logs[i], s[i]);
    }
}

void test_multi_session(void) {
    tsrv srv;
    tsrv_start(&srv, NULL, 1, NULL, NULL);
    /* default config: WebTransport flow control on both sides, one connection */
    gowt_ctx *cli = new_ctx(0);
    multi_round(cli, srv.port, 1, &srv, 1, 1); /* 10 connects at once */
    multi_round(cli, srv.port, 1, &srv, 0, 0); /* again, one by one (may reuse) */
    /* new_connection = 1 never shares: a fresh connection, CONNECT stream 0 */
    evlog log;
    evlog_init(&log);
    gowt_session_t a = cli_connect(cli, srv.port, "/multi", NULL, &log);
    evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, a, ANY_ID, 5000);
    gowt_connect_options o;
    gowt_connect_options_init(&o);
    o.new_connection = 1;
    gowt_session_t b = cli_connect(cli, srv.port, "/multi", &o, &log);
    rec_event acc = evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, b, ANY_ID, 5000);
    CHECK(acc.session_id == 0);
    dgram_roundtrip(cli, b, &log, "fresh");
    CHECK_OK(gowt_ctx_destroy(cli));

    /* max_incoming_data = 0 on the client: no flow control, own connections */
    gowt_config cfg;
    gowt_config_init(&cfg);
    cfg.max_incoming_data = 0;
    cli = ctx_with(&cfg);
    multi_round(cli, srv.port, 0, &srv, 1, 1);
    CHECK_OK(gowt_ctx_destroy(cli));
    CHECK(AT_LOAD(&srv.unexpected) == 0);
    tsrv_stop(&srv);
}

/* ======================================================================= */
/* destroy                                                                  */
/* ======================================================================= */

typedef struct d_sess {
    evlog log;
    int tag_bidi, tag_uni, tag_remote;
    uint64_t bidi, uni, remote;
} d_sess;

typedef struct d_cli {
    int rc_destroy_in_cb;
    int calls_after; /* callbacks run after gowt_ctx_destroy returned */
    int destroyed;
} d_cli;

static d_cli dc;

static int d_cli_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    d_sess *ds = app;
    if (AT_LOAD(&dc.destroyed)) AT_INC(&dc.calls_after);
    evlog_add(&ds->log, ev);
    if (ev->type == GOWT_EV_CONNECT_ACCEPTED) dc.rc_destroy_in_cb = gowt_ctx_destroy(ctx);
    if (ev->type == GOWT_EV_STREAM_OPENED) {
        ds->remote = ev->stream_id;
        CHECK_OK(gowt_stream_set_ctx(ctx, ev->session, ev->stream_id, &ds->tag_remote));
    }
    return 0;
}

/* Server hook: opens a uni stream with data (no FIN) in every session it
 * accepts; "/defer" stays pending. */
static int d_hook(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    int *rc = srv->user;
    if (ev->type == GOWT_EV_CONNECT) {
        if (strcmp(ev->request->path, "/defer") == 0) return GOWT_CONNECT_DEFER;
        uint64_t id;
        int r = gowt_session_accept(ctx, ev->session, NULL);
        if (r == GOWT_OK) r = gowt_create_local_stream(ctx, ev->session, 0, NULL, &id);
        if (r == GOWT_OK) r = gowt_stream_send(ctx, ev->session, id, "srv", 3, 0);
        if (r != GOWT_OK) *rc = r;
        return 0;
    }
    if (ev->type == GOWT_EV_CLOSE && ev->flags & GOWT_CLOSE_LOCAL) {
        int r = gowt_ctx_destroy(ctx);
        if (r != GOWT_ERR_BUSY) *rc = 1000 + r;
    }
    return HOOK_CONTINUE;
}

/* The server session (logged from log index `from` on) with wire ID id. */
static gowt_session_t srv_session_for(tsrv *srv, size_t from, uint64_t id) {
    size_t k = from;
    for (;;) {
        rec_event con = evlog_wait_for(&srv->log, &k, GOWT_EV_CONNECT, 0, ANY_ID, 5000);
        if (con.session_id == id) return con.session;
    }
}

/* Opens the streams of one session and waits until both sides know them.
 * Returns the server's handle of the session. */
static gowt_session_t d_open(gowt_ctx *cli, gowt_session_t s, d_sess *ds, tsrv *srv, size_t from) {
    rec_event a = evlog_wait_any(&ds->log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    gowt_session_t ss = srv_session_for(srv, from, a.session_id);
    CHECK_OK(gowt_create_local_stream(cli, s, 1, &ds->tag_bidi, &ds->bidi));
    CHECK_OK(gowt_create_local_stream(cli, s, 0, &ds->tag_uni, &ds->uni));
    CHECK_OK(gowt_stream_send(cli, s, ds->bidi, "b", 1, 0));
    CHECK_OK(gowt_stream_send(cli, s, ds->uni, "u", 1, 0));
    evlog_wait_any(&ds->log, GOWT_EV_STREAM_OPENED, s, ANY_ID, 5000);
    evlog_wait_any(&srv->log, GOWT_EV_POST_DATA, ss, ds->bidi, 5000);
    evlog_wait_any(&srv->log, GOWT_EV_POST_DATA, ss, ds->uni, 5000);
    return ss;
}

/* Right after a destroy: CLOSE (local, code 0, "context destroyed"), FREE
 * for each open stream with its context, DEREGISTER last. */
static void d_check_local_end(evlog *l, gowt_session_t s, const uint64_t *streams,
                              void *const *tags, int n) {
    CHECK(evlog_count_for(l, GOWT_EV_DEREGISTER, s, ANY_ID) == 1);
    rec_event c;
    CHECK(evlog_get(l, 0, GOWT_EV_CLOSE, s, ANY_ID, &c));
    CHECK(c.flags & GOWT_CLOSE_LOCAL);
    CHECK(c.code == 0 && c.data && strcmp((char *)c.data, "context destroyed") == 0);
    for (int i = 0; i < n; i++) {
        rec_event f;
        CHECK(evlog_count_for(l, GOWT_EV_FREE, s, streams[i]) == 1);
        CHECK(evlog_get(l, 0, GOWT_EV_FREE, s, streams[i], &f));
        if (tags) CHECK(f.stream_ctx == tags[i]);
    }
    check_session_end(l, s);
}

static void d_check_remote_close(evlog *l, gowt_session_t s) {
    rec_event c = evlog_wait_any(l, GOWT_EV_CLOSE, s, ANY_ID, 5000);
    CHECK(c.flags & GOWT_CLOSE_REMOTE);
    CHECK(c.code == 0 && c.data && strcmp((char *)c.data, "context destroyed") == 0);
    evlog_wait_any(l, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);
    check_session_end(l, s);
}

void test_destroy(void) {
    int srv_rc = 0;
    tsrv srv;
    tsrv_start(&srv, NULL, 0, d_hook, &srv_rc);

    /* --- client role: destroy the client context with 3 open sessions and
     *     one that is still connecting (to a port that never answers) --- */
    memset(&dc, 0, sizeof dc);
    gowt_ctx *cli = new_ctx(0);
    enum { NS = 3 };
    static d_sess ds[NS + 1];
    memset(ds, 0, sizeof ds);
    gowt_session_t s[NS + 1];
    char url[128];
    gowt_session_t sv1[NS];
    for (int i = 0; i < NS; i++) {
        evlog_init(&ds[i].log);
        url_for(url, sizeof url, srv.port, "/d");
        CHECK_OK(gowt_connect(cli, url, NULL, d_cli_cb, &ds[i], &s[i]));
        sv1[i] = d_open(cli, s[i], &ds[i], &srv, 0);
    }
    CHECK_RC(dc.rc_destroy_in_cb, GOWT_ERR_BUSY);
    int sink = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(sink >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(sink, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t sl = sizeof sa;
    CHECK(getsockname(sink, (struct sockaddr *)&sa, &sl) == 0);
    evlog_init(&ds[NS].log);
    url_for(url, sizeof url, ntohs(sa.sin_port), "/never");
    CHECK_OK(gowt_connect(cli, url, NULL, d_cli_cb, &ds[NS], &s[NS]));
    evlog_wait_any(&ds[NS].log, GOWT_EV_CONNECTING, s[NS], ANY_ID, 5000);

    long long t0 = now_ms();
    CHECK_OK(gowt_ctx_destroy(cli));
    AT_STORE(&dc.destroyed, 1);
    CHECK(now_ms() - t0 < 8000);
    /* everything was delivered before destroy returned */
    for (int i = 0; i < NS; i++) {
        uint64_t ids[3] = {ds[i].bidi, ds[i].uni, ds[i].remote};
        void *tags[3] = {&ds[i].tag_bidi, &ds[i].tag_uni, &ds[i].tag_remote};
        d_check_local_end(&ds[i].log, s[i], ids, tags, 3);
    }
    CHECK(evlog_count_for(&ds[NS].log, GOWT_EV_DEREGISTER, s[NS], ANY_ID) == 1);
    CHECK(evlog_count_for(&ds[NS].log, GOWT_EV_CONNECT_ACCEPTED, s[NS], ANY_ID) == 0);
    check_session_end(&ds[NS].log, s[NS]);
    CHECK_RC(gowt_ctx_destroy(cli), GOWT_ERR_NOT_FOUND);
    CHECK_RC(gowt_connect(cli, url, NULL, d_cli_cb, &ds[NS], &s[NS]), GOWT_ERR_NOT_FOUND);
    /* the peer sees the close */
    for (int i = 0; i < NS; i++) d_check_remote_close(&srv.log, sv1[i]);
    sleep_ms(100);
    CHECK(AT_LOAD(&dc.calls_after) == 0);
    close(sink);
    CHECK(srv_rc == 0);

    /* --- server role: destroy the server context with 2 accepted sessions
     *     (streams both ways) and one deferred --- */
    memset(&dc, 0, sizeof dc);
    cli = new_ctx(0);
    static d_sess cs[3];
    memset(cs, 0, sizeof cs);
    gowt_session_t c[3];
    size_t from = evlog_len(&srv.log);
    size_t k0 = evlog_count(&srv.log, GOWT_EV_CONNECT);
    gowt_session_t sv[3];
    for (int i = 0; i < 3; i++) {
        evlog_init(&cs[i].log);
        url_for(url, sizeof url, srv.port, i == 2 ? "/defer" : "/d");
        CHECK_OK(gowt_connect(cli, url, NULL, d_cli_cb, &cs[i], &c[i]));
        if (i < 2) sv[i] = d_open(cli, c[i], &cs[i], &srv, from);
    }
    WAIT_UNTIL(evlog_count(&srv.log, GOWT_EV_CONNECT) == k0 + 3, 5000);
    {
        rec_event con;
        CHECK(evlog_get(&srv.log, k0 + 2, GOWT_EV_CONNECT, 0, ANY_ID, &con));
        sv[2] = con.session;
    }
    srv_rc = 0;
    t0 = now_ms();
    CHECK_OK(gowt_ctx_destroy(srv.ctx));
    CHECK(now_ms() - t0 < 8000);
    CHECK_RC(srv_rc, 0); /* destroy inside the CLOSE callback was BUSY */
    int pending_seen = 0;
    for (int i = 0; i < 3; i++) {
        gowt_session_t x = sv[i];
        CHECK(evlog_count_for(&srv.log, GOWT_EV_DEREGISTER, x, ANY_ID) == 1);
        check_session_end(&srv.log, x);
        if (evlog_count_for(&srv.log, GOWT_EV_CLOSE, x, ANY_ID) == 0) {
            pending_seen++; /* the deferred one: refused, never CLOSE */
            continue;
        }
        rec_event cl;
        CHECK(evlog_get(&srv.log, 0, GOWT_EV_CLOSE, x, ANY_ID, &cl));
        CHECK(cl.flags & GOWT_CLOSE_LOCAL);
        CHECK(cl.code == 0 && strcmp((char *)cl.data, "context destroyed") == 0);
        /* FREE for the three streams of the session (2 from the client, 1 own) */
        size_t frees = evlog_count_for(&srv.log, GOWT_EV_FREE, x, ANY_ID);
        CHECK(frees == 3);
    }
    CHECK(pending_seen == 1);
    for (int i = 0; i < 2; i++) d_check_remote_close(&cs[i].log, c[i]);
    rec_event ref = evlog_wait_any(&cs[2].log, GOWT_EV_CONNECT_REFUSED, c[2], ANY_ID, 5000);
    CHECK(ref.code >= 400 && ref.code <= 599);
    evlog_wait_any(&cs[2].log, GOWT_EV_DEREGISTER, c[2], ANY_ID, 5000);
    CHECK(evlog_count_for(&cs[2].log, GOWT_EV_CLOSE, c[2], ANY_ID) == 0);
    CHECK_OK(gowt_ctx_destroy(cli));
    CHECK_RC(gowt_ctx_destroy(srv.ctx), GOWT_ERR_NOT_FOUND);
    tsrv_forget(&srv);
}
