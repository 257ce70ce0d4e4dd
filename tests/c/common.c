/* Shared fixtures of the C tests (see common.h). */
#include "common.h"

/* Servers by context, so that tsrv_cb works whatever app_ctx a test sets. */
#define MAX_SRVS 32
static pthread_mutex_t srvs_mu = PTHREAD_MUTEX_INITIALIZER;
static tsrv *srvs[MAX_SRVS];

static tsrv *tsrv_of(gowt_ctx *ctx) {
    tsrv *found = NULL;
    pthread_mutex_lock(&srvs_mu);
    for (int i = 0; i < MAX_SRVS; i++)
        if (srvs[i] && srvs[i]->ctx == ctx) found = srvs[i];
    pthread_mutex_unlock(&srvs_mu);
    CHECK(found != NULL);
    return found;
}

static void unexpected(tsrv *srv, int rc) {
    AT_INC(&srv->unexpected);
    AT_STORE(&srv->last_unexpected, rc);
}

static int tolerated(int rc) {
    return rc == GOWT_OK || rc == GOWT_ERR_WOULD_BLOCK || rc == GOWT_ERR_CLOSED ||
           rc == GOWT_ERR_NOT_FOUND;
}

static echo_stream *es_get(tsrv *srv, gowt_session_t s, uint64_t id) {
    for (echo_stream *e = srv->streams; e; e = e->next)
        if (e->s == s && e->id == id) return e;
    echo_stream *e = calloc(1, sizeof *e);
    CHECK(e != NULL);
    e->s = s;
    e->id = id;
    e->next = srv->streams;
    srv->streams = e;
    return e;
}

static void es_drop(tsrv *srv, gowt_session_t s, uint64_t id) {
    echo_stream **pp = &srv->streams;
    while (*pp) {
        echo_stream *e = *pp;
        if (e->s == s && (id == ANY_ID || e->id == id)) {
            *pp = e->next;
            free(e->buf);
            free(e);
        } else {
            pp = &e->next;
        }
    }
}

static void es_append(echo_stream *e, const uint8_t *d, size_t n) {
    if (e->off > 0 && e->off == e->len) e->off = e->len = 0;
    if (e->len + n > e->cap) {
        if (e->off > 0) { /* compact first */
            memmove(e->buf, e->buf + e->off, e->len - e->off);
            e->len -= e->off;
            e->off = 0;
        }
        if (e->len + n > e->cap) {
            e->cap = (e->len + n) * 2;
            e->buf = realloc(e->buf, e->cap);
            CHECK(e->buf != NULL);
        }
    }
    if (n) memcpy(e->buf + e->len, d, n);
    e->len += n;
}

/* Sends what is pending on an echoed bidi stream until WOULD_BLOCK. */
static void echo_flush(tsrv *srv, gowt_ctx *ctx, echo_stream *e) {
    while (!e->fin_sent && (e->off < e->len || e->fin_pending)) {
        size_t n = e->len - e->off;
        if (n > (64u << 10)) n = 64u << 10;
        int fin = e->fin_pending && e->off + n == e->len;
        int rc = gowt_stream_send(ctx, e->s, e->id, n ? e->buf + e->off : NULL, n, fin);
        if (rc == GOWT_ERR_WOULD_BLOCK) return;
        if (rc != GOWT_OK) {
            if (!tolerated(rc)) unexpected(srv, rc);
            e->fin_sent = 1;
            e->off = e->len = 0;
            return;
        }
        e->off += n;
        if (fin) e->fin_sent = 1;
    }
}

static void echo_event(tsrv *srv, gowt_ctx *ctx, const gowt_event *ev) {
    switch (ev->type) {
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN: {
        echo_stream *e = es_get(srv, ev->session, ev->stream_id);
        es_append(e, ev->data, ev->length);
        if (ev->type == GOWT_EV_POST_FIN) e->fin_pending = 1;
        if (ev->flags & GOWT_STREAM_BIDI) {
            echo_flush(srv, ctx, e);
        } else if (ev->type == GOWT_EV_POST_FIN) { /* uni: answer on a new uni stream */
            uint64_t id;
            int rc = gowt_create_local_stream(ctx, ev->session, 0, NULL, &id);
            if (rc == GOWT_OK) rc = gowt_stream_send(ctx, ev->session, id, e->buf, e->len, 1);
            /* LIMIT: the client's uni stream limit (documented "retry later") */
            if (rc != GOWT_OK && rc != GOWT_ERR_LIMIT && !tolerated(rc)) unexpected(srv, rc);
            es_drop(srv, ev->session, ev->stream_id);
        }
        break;
    }
    case GOWT_EV_STREAM_WRITABLE: {
        echo_stream *e = es_get(srv, ev->session, ev->stream_id);
        echo_flush(srv, ctx, e);
        break;
    }
    case GOWT_EV_POST_DATAGRAM: {
        int rc = gowt_send_datagram(ctx, ev->session, ev->data, ev->length);
        if (!tolerated(rc)) unexpected(srv, rc);
        break;
    }
    default:
        break;
    }
}

int tsrv_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)app;
    tsrv *srv = tsrv_of(ctx);
    AT_MAX(&srv->max_in_cb, AT_INC(&srv->in_cb));
    evlog_add(&srv->log, ev);
    int ret = HOOK_CONTINUE;
    if (srv->hook) ret = srv->hook(srv, ctx, ev);
    if (ret == HOOK_CONTINUE) {
        ret = 0;
        if (srv->echo) echo_event(srv, ctx, ev);
    }
    /* FREE / DEREGISTER end what the echo keeps for a stream / session. */
    if (ev->type == GOWT_EV_FREE) es_drop(srv, ev->session, ev->stream_id);
    if (ev->type == GOWT_EV_DEREGISTER) es_drop(srv, ev->session, ANY_ID);
    AT_DEC(&srv->in_cb);
    return ret;
}

gowt_ctx *ctx_with(gowt_config *cfg) {
    gowt_config def;
    if (!cfg) {
        gowt_config_init(&def);
        cfg = &def;
    }
    cfg->insecure_skip_verify = 1;
    gowt_ctx *ctx = NULL;
    CHECK_OK(gowt_ctx_create(cfg, &ctx));
    CHECK(ctx != NULL);
    return ctx;
}

void tsrv_start(tsrv *srv, const gowt_config *cfg, int echo, tsrv_hook hook, void *user) {
    memset(srv, 0, sizeof *srv);
    evlog_init(&srv->log);
    srv->echo = echo;
    srv->hook = hook;
    srv->user = user;
    gowt_config c;
    if (cfg) {
        c = *cfg;
    } else {
        gowt_config_init(&c);
    }
    srv->ctx = ctx_with(&c);
    pthread_mutex_lock(&srvs_mu);
    int slot = -1;
    for (int i = 0; i < MAX_SRVS && slot < 0; i++)
        if (!srvs[i]) slot = i;
    CHECK(slot >= 0);
    srvs[slot] = srv;
    pthread_mutex_unlock(&srvs_mu);
    CHECK_OK(gowt_server_register(srv->ctx, "*", tsrv_cb, srv, NULL));
    CHECK_OK(gowt_server_listen(srv->ctx, "127.0.0.1", 0, &srv->port));
    CHECK(srv->port != 0);
}

void tsrv_stop(tsrv *srv) {
    CHECK_OK(gowt_ctx_destroy(srv->ctx));
    tsrv_forget(srv);
}

void tsrv_forget(tsrv *srv) {
    pthread_mutex_lock(&srvs_mu);
    for (int i = 0; i < MAX_SRVS; i++)
        if (srvs[i] == srv) srvs[i] = NULL;
    pthread_mutex_unlock(&srvs_mu);
}

int rec_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)ctx;
    evlog_add((evlog *)app, ev);
    return 0;
}

gowt_session_t cli_connect(gowt_ctx *ctx, uint16_t port, const char *path,
                           const gowt_connect_options *opts, evlog *log) {
    char url[256];
    url_for(url, sizeof url, port, path);
    gowt_session_t s = 0;
    CHECK_OK(gowt_connect(ctx, url, opts, rec_cb, log, &s));
    CHECK(s != 0);
    return s;
}
