/*
 * gowt_bench.c - the workloads of cmd/wtbench-go, run through gowt's public
 * C API only (include/gowt.h), with server and client contexts in this one
 * process on 127.0.0.1 (port 0), so scripts/bench.sh can put the numbers side
 * by side with pure webtransport-go.
 *
 *   gowt_bench [-w upload,download,...] [-short] [-send auto|push|pull] [-evsize N]
 *              [-sendbuf BYTES]
 *
 * Output: one JSON line per result on stdout, the same fields as
 * wtbench-go with "impl":"gowt":
 *
 *   {"impl":"gowt","workload":"upload","metric":"MB/s","value":221.3}
 *   {"impl":"gowt","workload":"datagrams","metric":"delivered_fraction","value":0.99,"rate":20000,"sent":40000,"delivered":39600}
 *   {"impl":"gowt","workload":"idle_mem","metric":"KB/session","value":94.1,"sessions":1000,"both_sides":true}
 *   {"impl":"gowt","workload":"events_cb","metric":"events/s","value":5100000,"events":61234}
 *
 * and a human-readable line per result on stderr. Exit status 1 when a
 * workload failed, 2 on a command-line error.
 *
 * Method (kept identical to cmd/wtbench-go; see its workloads.go):
 * - Each workload (each datagram rate) gets a fresh server context and a
 *   fresh client context, so a fresh QUIC connection; both in THREAD mode
 *   unless stated. Stream limits 1000; idle timeout 60 s.
 * - WebTransport flow control is OFF (max_incoming_data = 0), like
 *   webtransport-go with a nil Config, except for setup_shared where it is on
 *   both sides (that is what lets sessions share one QUIC connection).
 * - upload / download: one bidi stream, 200 MB (20 MB with -short) in 64 KB
 *   pieces; timed from the first write to the receiver's FIN.
 * - streams100: 100 concurrent bidi streams x 1 MB (100 KB), the server
 *   answers each FIN with its FIN; timed to the server's last FIN.
 * - datagrams: 1000-byte datagrams client->server for 2 s (0.5 s), unpaced
 *   and paced at 10k/20k/40k per second on the same monotonic schedule as
 *   the Go side, then 200 ms grace; delivered = POST_DATAGRAM events counted
 *   in the server's C callback. "Unpaced" retries a GOWT_ERR_WOULD_BLOCK
 *   after GOWT_EV_DATAGRAM_WRITABLE (the equivalent of a blocking
 *   SendDatagram), so `sent` only counts datagrams the library accepted.
 * - setup_seq / setup_conc8: 1 / 8 dialers, a new QUIC connection per
 *   session, for 3 s (1 s); a session counts once CONNECT_ACCEPTED arrived;
 *   it is then closed and the dialer waits for its DEREGISTER (closing is
 *   part of the timing, as CloseWithError waits in webtransport-go).
 * - setup_shared: flow control on, 8 dialers, all sessions on one QUIC
 *   connection. The Go side dials that connection before the clock starts;
 *   here an anchor session opened before the clock keeps the connection
 *   (gowt closes a client connection when its last session ends).
 * - idle_mem: 1000 (100) idle sessions, one connection each, 8 dialers; RSS
 *   growth (VmRSS of /proc/self/status) per session, both sides in this
 *   process, measured after a 500 ms settle. The Go side also forces a GC
 *   before each reading; the C API has no way to do that, so this figure can
 *   include garbage the Go runtime inside libgowt has not collected yet.
 *
 * Extra workloads (no Go counterpart; absolute targets):
 * - events_cb: the event path in THREAD mode. The client sends N = 200000
 *   (20000) 1-byte datagrams (-evsize to change the size) while the server's dispatch thread is held inside its first
 *   POST_DATAGRAM callback, so the rest pile up in the server context's
 *   event queue (datagram_recv_queue is raised so none are dropped there).
 *   Once the library has queued all that arrived (session info
 *   datagrams_received stops growing), the callback is released and the
 *   time to deliver the K-1 queued events to the C callback is measured:
 *   events/s = (K-1) / time. The callback only counts.
 * - events_poll: the same with the server context in GOWT_DISPATCH_POLL:
 *   nothing is processed while the burst queues up, then the main thread
 *   times gowt_ctx_process_events(ctx, 0) calls until all K are delivered.
 *
 * Bulk sending (both APIs are implemented; -send push|pull forces one):
 * - push: gowt_stream_send in 64 KB pieces; after GOWT_ERR_WOULD_BLOCK wait
 *   for GOWT_EV_STREAM_WRITABLE (the library's buffer, 1 MiB by default,
 *   reports writable again at half empty);
 * - pull: gowt_stream_mark_active, then each GOWT_EV_PROVIDE_DATA is answered
 *   with gowt_provide_stream_data and a memcpy into the library's buffer.
 * The default (-send auto) keeps the faster one per workload, measured on
 * the 2-core dev box (3 alternating runs each, MB/s):
 *   upload     push 224 / pull 164  -> push
 *   download   push 216 / pull 200  -> push
 *   streams100 push 136 / pull 150  -> pull
 * Pull loses on one stream because every 64 KB piece is a round trip: the
 * stream's sender goroutine queues PROVIDE_DATA and waits for the callback
 * before it writes, so producing and writing never overlap. Push probably
 * loses on 100 streams because each stream's whole 1 MB fits the send
 * buffer, so all 100 MB are copied into fresh Go allocations up front (GC
 * work), while pull produces data only as the streams can send it.
 * -sendbuf BYTES sets stream_send_buffer (default: the library's 1 MiB; 4 and
 * 16 MiB made no difference to upload).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gowt.h"

/* ------------------------------------------------------------------------ */
/* Parameters (the Go side's constants)                                     */
/* ------------------------------------------------------------------------ */

#define CHUNK (64 * 1024)
#define BULK_TIMEOUT 120.0
#define DATAGRAM_SIZE 1000
#define DATAGRAM_GRACE 0.2
#define MEM_SETTLE 0.5
#define SETUP_WORKERS 8
#define IDLE_MEM_WORKERS 8
#define CONNECT_TIMEOUT 10.0
#define BENCH_PATH "/bench"
#define N_STREAMS 100

static int g_short;
static int g_send = -1; /* -send: 0 push, 1 pull, -1 auto (per workload) */
static int g_pull;       /* the API of the running workload */
static size_t g_evsize = 1; /* -evsize: payload of the events_* datagrams */
static size_t g_sendbuf;    /* -sendbuf: stream_send_buffer (0: library default) */
static uint8_t g_pattern[CHUNK];

static long scale(long full) {
    if (g_short) return full / 10 > 0 ? full / 10 : 1;
    return full;
}

static double dur(double full, double short_) { return g_short ? short_ : full; }

/* ------------------------------------------------------------------------ */
/* Time, errors, output                                                     */
/* ------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static const char *g_workload = "";
static char g_err[512];

/* Records the first failure message of the running workload; returns -1. */
static int fail(const char *fmt, ...) {
    if (g_err[0] == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_err, sizeof g_err, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* fail() with the library's code name and the context's last message. */
static int fail_rc(gowt_ctx *ctx, const char *what, int rc) {
    char msg[256] = "";
    if (ctx) gowt_ctx_last_error(ctx, msg, sizeof msg);
    return fail("%s: %s (%s)", what, gowt_strerror(rc), msg);
}

static void emit(const char *metric, double value, int decimals, const char *extra,
                 const char *human_fmt, ...) {
    printf("{\"impl\":\"gowt\",\"workload\":\"%s\",\"metric\":\"%s\",\"value\":%.*f%s}\n",
           g_workload, metric, decimals, value, extra ? extra : "");
    fflush(stdout);
    char human[512];
    va_list ap;
    va_start(ap, human_fmt);
    vsnprintf(human, sizeof human, human_fmt, ap);
    va_end(ap);
    fprintf(stderr, "gowt %-12s %s\n", g_workload, human);
}

/* ------------------------------------------------------------------------ */
/* One lock for the workload state                                          */
/* ------------------------------------------------------------------------ */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;

static void cond_init_mono(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec deadline_in(double secs) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)((secs - (double)(long)secs) * 1e9);
    ts.tv_sec += (time_t)secs + ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    return ts;
}

/* Waits (mutex mu, condition cv) until cond holds; rc = -1 on timeout. */
#define WAIT_UNTIL(mu, cv, cond, secs, rc)                                      \
    do {                                                                        \
        struct timespec dl_ = deadline_in(secs);                                \
        (rc) = 0;                                                               \
        pthread_mutex_lock(mu);                                                 \
        while (!(cond)) {                                                       \
            if (pthread_cond_timedwait((cv), (mu), &dl_) == ETIMEDOUT) {        \
                if (!(cond)) (rc) = -1;                                         \
                break;                                                          \
            }                                                                   \
        }                                                                       \
        pthread_mutex_unlock(mu);                                               \
    } while (0)

#define WAIT(cond, secs, rc) WAIT_UNTIL(&g_mu, &g_cv, cond, secs, rc)

static void bump(unsigned *counter) {
    pthread_mutex_lock(&g_mu);
    (*counter)++;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                 */
/* ------------------------------------------------------------------------ */

static void base_config(gowt_config *c) {
    gowt_config_init(c);
    c->insecure_skip_verify = 1;
    c->idle_timeout_ms = 60000;
    c->max_incoming_streams_bidi = 1000;
    c->max_incoming_streams_uni = 1000;
    c->max_incoming_data = 0; /* no WebTransport flow control (webtransport-go default) */
    c->cert_hostnames = "localhost,127.0.0.1";
    if (g_sendbuf) c->stream_send_buffer = g_sendbuf;
}

typedef struct env {
    gowt_ctx *srv, *cli;
    uint16_t port;
    char url[96];
} env;

static int env_open(env *e, const gowt_config *scfg, const gowt_config *ccfg,
                    gowt_session_cb srv_cb, void *srv_app) {
    int rc;
    memset(e, 0, sizeof *e);
    if ((rc = gowt_ctx_create(scfg, &e->srv)) != 0) return fail_rc(NULL, "server ctx", rc);
    if ((rc = gowt_server_listen(e->srv, "127.0.0.1", 0, &e->port)) != 0)
        return fail_rc(e->srv, "listen", rc);
    if ((rc = gowt_server_register(e->srv, BENCH_PATH, srv_cb, srv_app, NULL)) != 0)
        return fail_rc(e->srv, "register", rc);
    if ((rc = gowt_ctx_create(ccfg, &e->cli)) != 0) return fail_rc(NULL, "client ctx", rc);
    snprintf(e->url, sizeof e->url, "https://127.0.0.1:%u%s", (unsigned)e->port, BENCH_PATH);
    return 0;
}

static void env_close(env *e) {
    if (e->cli) gowt_ctx_destroy(e->cli);
    if (e->srv) gowt_ctx_destroy(e->srv);
    e->cli = e->srv = NULL;
}

/* ------------------------------------------------------------------------ */
/* A side of a session: what its callback saw                               */
/* ------------------------------------------------------------------------ */

typedef struct pull_src {
    uint64_t left; /* bytes still to provide */
} pull_src;

typedef struct side {
    gowt_session_t sess;
    unsigned accepted, refused, closed, dereg;
    /* stream data received; rx_bytes is written by the dispatch thread only
     * and read by others after fins reached fins_want (under g_mu). */
    uint64_t rx_bytes, rx_events;
    unsigned fins, fins_want;
    double fin_at;
    int echo_fin; /* answer a peer's FIN on its bidi stream with our FIN */
    /* send readiness */
    unsigned writable, dg_writable;
    /* datagrams received (atomic) */
    uint64_t dgrams;
} side;

static int side_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    side *sd = app;
    switch (ev->type) {
    case GOWT_EV_CONNECT:
        /* Accept now (not after the callback returns) so that the main
         * thread may open streams as soon as it learns of the session. */
        gowt_session_accept(ctx, ev->session, NULL);
        pthread_mutex_lock(&g_mu);
        sd->sess = ev->session;
        sd->accepted++;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
        return 0;
    case GOWT_EV_CONNECT_ACCEPTED:
        pthread_mutex_lock(&g_mu);
        sd->sess = ev->session;
        sd->accepted++;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
        return 0;
    case GOWT_EV_CONNECT_REFUSED:
        bump(&sd->refused);
        return 0;
    case GOWT_EV_POST_DATA:
        sd->rx_bytes += ev->length;
        sd->rx_events++;
        return 0;
    case GOWT_EV_POST_FIN: {
        sd->rx_bytes += ev->length;
        sd->rx_events++;
        double t = now_s();
        if (sd->echo_fin && (ev->flags & GOWT_STREAM_BIDI) && !(ev->flags & GOWT_STREAM_LOCAL))
            gowt_stream_send(ctx, ev->session, ev->stream_id, NULL, 0, 1);
        pthread_mutex_lock(&g_mu);
        if (++sd->fins == sd->fins_want) sd->fin_at = t;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
        return 0;
    }
    case GOWT_EV_POST_DATAGRAM:
        __atomic_add_fetch(&sd->dgrams, 1, __ATOMIC_RELAXED);
        return 0;
    case GOWT_EV_STREAM_WRITABLE:
        bump(&sd->writable);
        return 0;
    case GOWT_EV_DATAGRAM_WRITABLE:
        bump(&sd->dg_writable);
        return 0;
    case GOWT_EV_PROVIDE_DATA: {
        pull_src *ps = ev->stream_ctx;
        if (!ps) return 0;
        size_t n = ev->length < ps->left ? ev->length : (size_t)ps->left;
        int fin = n == ps->left;
        uint8_t *buf = NULL;
        if (gowt_provide_stream_data(ctx, ev, n, fin, !fin, &buf) == 0) {
            for (size_t off = 0; off < n; off += CHUNK) {
                size_t k = n - off < CHUNK ? n - off : CHUNK;
                memcpy(buf + off, g_pattern, k);
            }
            ps->left -= n;
        }
        return 0;
    }
    case GOWT_EV_CLOSE:
        bump(&sd->closed);
        return 0;
    case GOWT_EV_DEREGISTER:
        bump(&sd->dereg);
        return 0;
    default:
        return 0;
    }
}

/* Connects e->cli to the server and waits for both ends to be established. */
static int connect_pair(env *e, side *cli, side *srv, const gowt_connect_options *opts) {
    gowt_session_t h = 0;
    int rc = gowt_connect(e->cli, e->url, opts, side_cb, cli, &h);
    if (rc != 0) return fail_rc(e->cli, "connect", rc);
    WAIT((cli->accepted > 0 && srv->accepted > 0) || cli->refused > 0, CONNECT_TIMEOUT, rc);
    if (rc != 0) return fail("session not established within %.0f s", CONNECT_TIMEOUT);
    if (cli->refused) return fail("session refused");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Bulk sending                                                             */
/* ------------------------------------------------------------------------ */

static unsigned load_u(unsigned *p) {
    pthread_mutex_lock(&g_mu);
    unsigned v = *p;
    pthread_mutex_unlock(&g_mu);
    return v;
}

/* Push: total bytes in CHUNK pieces, then FIN; waits for STREAM_WRITABLE
 * after WOULD_BLOCK. */
static int push_bulk(gowt_ctx *ctx, gowt_session_t s, uint64_t sid, side *sd, uint64_t total) {
    uint64_t left = total;
    while (left > 0) {
        size_t k = left < CHUNK ? (size_t)left : CHUNK;
        unsigned gen = load_u(&sd->writable);
        int rc = gowt_stream_send(ctx, s, sid, g_pattern, k, k == left);
        if (rc == 0) {
            left -= k;
            continue;
        }
        if (rc != GOWT_ERR_WOULD_BLOCK) return fail_rc(ctx, "stream_send", rc);
        WAIT(sd->writable != gen, BULK_TIMEOUT, rc);
        if (rc != 0) return fail("no STREAM_WRITABLE within %.0f s", BULK_TIMEOUT);
    }
    return 0;
}

/* Sends total bytes + FIN on a new bidi stream with the selected API. */
static int open_and_send(gowt_ctx *ctx, gowt_session_t s, side *sd, uint64_t total,
                         pull_src *ps, double *t0) {
    uint64_t sid;
    ps->left = total;
    int rc = gowt_create_local_stream(ctx, s, 1, g_pull ? ps : NULL, &sid);
    if (rc != 0) return fail_rc(ctx, "create_local_stream", rc);
    *t0 = now_s();
    if (g_pull) {
        rc = gowt_stream_mark_active(ctx, s, sid, 1);
        return rc == 0 ? 0 : fail_rc(ctx, "mark_active", rc);
    }
    return push_bulk(ctx, s, sid, sd, total);
}

/* ------------------------------------------------------------------------ */
/* upload / download                                                        */
/* ------------------------------------------------------------------------ */

static int run_bulk(int upload) {
    uint64_t total = (uint64_t)scale(200) * 1000000u;
    side srv, cli;
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    srv.echo_fin = 1;
    side *rx = upload ? &srv : &cli;
    rx->fins_want = 1;
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    env e;
    pull_src ps;
    double t0 = 0;
    int rc = env_open(&e, &scfg, &ccfg, side_cb, &srv);
    if (rc == 0) rc = connect_pair(&e, &cli, &srv, NULL);
    if (rc == 0) {
        if (upload)
            rc = open_and_send(e.cli, cli.sess, &cli, total, &ps, &t0);
        else
            rc = open_and_send(e.srv, srv.sess, &srv, total, &ps, &t0);
    }
    if (rc == 0) {
        WAIT(rx->fins >= 1, BULK_TIMEOUT, rc);
        if (rc != 0) rc = fail("receiver saw no FIN within %.0f s", BULK_TIMEOUT);
    }
    if (rc == 0 && rx->rx_bytes != total)
        rc = fail("received %" PRIu64 " bytes, want %" PRIu64, rx->rx_bytes, total);
    if (rc == 0) {
        double el = rx->fin_at - t0;
        double v = (double)total / 1e6 / el;
        emit("MB/s", v, 1, NULL,
             "%.1f MB/s (%" PRIu64 " MB in %.2fs, %s API; %" PRIu64 " data events, %.1f KB each)", v,
             total / 1000000u, el, g_pull ? "pull" : "push", rx->rx_events,
             (double)total / 1024.0 / (double)(rx->rx_events ? rx->rx_events : 1));
    }
    env_close(&e);
    return rc;
}

static int run_upload(void) {
    g_pull = g_send == 1; /* auto: push */
    return run_bulk(1);
}

static int run_download(void) {
    g_pull = g_send == 1; /* auto: push */
    return run_bulk(0);
}

/* ------------------------------------------------------------------------ */
/* streams100                                                               */
/* ------------------------------------------------------------------------ */

static int run_streams100(void) {
    g_pull = g_send != 0; /* auto: pull */
    uint64_t per = (uint64_t)scale(1000000);
    uint64_t total = per * N_STREAMS;
    side srv, cli;
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    srv.echo_fin = 1;
    srv.fins_want = N_STREAMS;
    cli.fins_want = N_STREAMS;
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    env e;
    static pull_src ps[N_STREAMS];
    uint64_t sid[N_STREAMS], left[N_STREAMS];
    double t0 = 0;
    int rc = env_open(&e, &scfg, &ccfg, side_cb, &srv);
    if (rc == 0) rc = connect_pair(&e, &cli, &srv, NULL);
    if (rc == 0) {
        t0 = now_s();
        for (int i = 0; i < N_STREAMS && rc == 0; i++) {
            ps[i].left = per;
            left[i] = per;
            int r = gowt_create_local_stream(e.cli, cli.sess, 1, g_pull ? &ps[i] : NULL, &sid[i]);
            if (r != 0) rc = fail_rc(e.cli, "create_local_stream", r);
            else if (g_pull && (r = gowt_stream_mark_active(e.cli, cli.sess, sid[i], 1)) != 0)
                rc = fail_rc(e.cli, "mark_active", r);
        }
    }
    /* Push: round robin, one piece per stream per pass, so that the streams
     * progress together like the Go side's 100 goroutines. */
    while (rc == 0 && !g_pull) {
        int active = 0, progressed = 0;
        unsigned gen = load_u(&cli.writable);
        for (int i = 0; i < N_STREAMS; i++) {
            if (left[i] == 0) continue;
            active++;
            size_t k = left[i] < CHUNK ? (size_t)left[i] : CHUNK;
            int r = gowt_stream_send(e.cli, cli.sess, sid[i], g_pattern, k, k == left[i]);
            if (r == 0) {
                left[i] -= k;
                progressed = 1;
            } else if (r != GOWT_ERR_WOULD_BLOCK) {
                rc = fail_rc(e.cli, "stream_send", r);
                break;
            }
        }
        if (rc != 0 || active == 0) break;
        if (!progressed) {
            WAIT(cli.writable != gen, BULK_TIMEOUT, rc);
            if (rc != 0) rc = fail("no STREAM_WRITABLE within %.0f s", BULK_TIMEOUT);
        }
    }
    if (rc == 0) {
        WAIT(srv.fins >= N_STREAMS, BULK_TIMEOUT, rc);
        if (rc != 0) rc = fail("server saw %u of %d FINs", srv.fins, N_STREAMS);
    }
    if (rc == 0) { /* the client also gets the server's FINs back */
        WAIT(cli.fins >= N_STREAMS, BULK_TIMEOUT, rc);
        if (rc != 0) rc = fail("client saw %u of %d FINs", cli.fins, N_STREAMS);
    }
    if (rc == 0 && srv.rx_bytes != total)
        rc = fail("server received %" PRIu64 " bytes, want %" PRIu64, srv.rx_bytes, total);
    if (rc == 0) {
        double el = srv.fin_at - t0;
        double v = (double)total / 1e6 / el;
        emit("MB/s", v, 1, NULL,
             "%.1f MB/s aggregate (%d x %" PRIu64 " KB in %.2fs, %s API; %" PRIu64
             " data events, %.1f KB each)",
             v, N_STREAMS, per / 1000u, el, g_pull ? "pull" : "push", srv.rx_events,
             (double)total / 1024.0 / (double)(srv.rx_events ? srv.rx_events : 1));
    }
    env_close(&e);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* datagrams                                                                */
/* ------------------------------------------------------------------------ */

static uint64_t srv_dgrams_received(gowt_ctx *srv, gowt_session_t s, uint64_t *dropped);

/* Sends one datagram, waiting for DATAGRAM_WRITABLE while the queue is full. */
static int send_dgram(gowt_ctx *ctx, side *sd, const void *p, size_t n) {
    for (;;) {
        unsigned gen = load_u(&sd->dg_writable);
        int rc = gowt_send_datagram(ctx, sd->sess, p, n);
        if (rc == 0) return 0;
        if (rc != GOWT_ERR_WOULD_BLOCK) return fail_rc(ctx, "send_datagram", rc);
        WAIT(sd->dg_writable != gen, 10.0, rc);
        if (rc != 0) return fail("no DATAGRAM_WRITABLE within 10 s");
    }
}

static int datagram_phase(int rate, double d) {
    side srv, cli;
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    env e;
    int64_t sent = 0;
    double start = 0, send_time = 0;
    int rc = env_open(&e, &scfg, &ccfg, side_cb, &srv);
    if (rc == 0) rc = connect_pair(&e, &cli, &srv, NULL);
    if (rc == 0) {
        start = now_s();
        if (rate == 0) {
            while (now_s() - start < d) {
                if ((rc = send_dgram(e.cli, &cli, g_pattern, DATAGRAM_SIZE)) != 0) break;
                sent++;
            }
        } else {
            /* Datagram i is due at start + i/rate: send what is due, then
             * sleep until the next one (as the Go side). */
            int64_t target = (int64_t)((double)rate * d);
            while (sent < target && rc == 0) {
                int64_t due = (int64_t)((now_s() - start) * rate) + 1;
                if (due > target) due = target;
                while (sent < due) {
                    if ((rc = send_dgram(e.cli, &cli, g_pattern, DATAGRAM_SIZE)) != 0) break;
                    sent++;
                }
                if (rc != 0 || sent >= target) break;
                sleep_s(start + (double)sent / rate - now_s());
            }
        }
        send_time = now_s() - start;
    }
    if (rc == 0) {
        sleep_s(DATAGRAM_GRACE);
        int64_t got = (int64_t)__atomic_load_n(&srv.dgrams, __ATOMIC_RELAXED);
        /* What reached gowt's own receive queue (the rest was lost before:
         * on the wire or in quic-go's / http3's datagram queues). */
        uint64_t lib_dropped = 0;
        uint64_t lib_rx = srv_dgrams_received(e.srv, srv.sess, &lib_dropped);
        if (sent == 0) rc = fail("nothing sent");
        if (rc == 0) {
            double frac = (double)got / (double)sent;
            char extra[128], label[32];
            snprintf(extra, sizeof extra, ",\"rate\":%d,\"sent\":%" PRId64 ",\"delivered\":%" PRId64,
                     rate, sent, got);
            if (rate > 0) snprintf(label, sizeof label, "%d/s", rate);
            else snprintf(label, sizeof label, "unpaced");
            emit("delivered_fraction", frac, 4, extra,
                 "%-8s sent %" PRId64 " in %.2fs (%.0f/s), delivered %" PRId64 " (%.1f%%); "
                 "reached gowt's queue %" PRIu64 ", dropped there %" PRIu64,
                 label, sent, send_time, (double)sent / send_time, got, 100 * frac, lib_rx,
                 lib_dropped);
        }
    }
    env_close(&e);
    return rc;
}

static int run_datagrams(void) {
    static const int rates[] = {0, 10000, 20000, 40000};
    double d = dur(2.0, 0.5);
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        int rc = datagram_phase(rates[i], d);
        if (rc != 0) {
            char pre[32];
            size_t pl = (size_t)snprintf(pre, sizeof pre, "rate %d: ", rates[i]);
            size_t ml = strlen(g_err);
            if (pl + ml >= sizeof g_err) ml = sizeof g_err - pl - 1;
            memmove(g_err + pl, g_err, ml);
            memcpy(g_err, pre, pl);
            g_err[pl + ml] = 0;
            return rc;
        }
        sleep_s(0.1);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Session setup and idle memory: many client sessions                      */
/* ------------------------------------------------------------------------ */

/* The server accepts every session and ignores everything else. */
static int accept_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)ctx;
    (void)ev;
    (void)app;
    return 0;
}

/* One client session's state, with its own lock so that 8 dialers do not
 * wake each other. */
typedef struct dial {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int accepted, refused, dereg;
    gowt_session_t h;
} dial;

static void dial_init(dial *d) {
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    cond_init_mono(&d->cv);
}

static void dial_free(dial *d) {
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
}

static int dial_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    (void)ctx;
    dial *d = app;
    int *f = NULL;
    switch (ev->type) {
    case GOWT_EV_CONNECT_ACCEPTED: f = &d->accepted; break;
    case GOWT_EV_CONNECT_REFUSED: f = &d->refused; break;
    case GOWT_EV_DEREGISTER: f = &d->dereg; break;
    default: return 0;
    }
    pthread_mutex_lock(&d->mu);
    (*f)++;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

/* Opens a session and waits for CONNECT_ACCEPTED. */
static int dial_open(gowt_ctx *cli, const char *url, const gowt_connect_options *opts, dial *d) {
    d->accepted = d->refused = d->dereg = 0;
    int rc = gowt_connect(cli, url, opts, dial_cb, d, &d->h);
    if (rc != 0) return fail_rc(cli, "connect", rc);
    WAIT_UNTIL(&d->mu, &d->cv, d->accepted || d->refused, CONNECT_TIMEOUT, rc);
    if (rc != 0) return fail("session not established within %.0f s", CONNECT_TIMEOUT);
    if (d->refused) return fail("session refused");
    return 0;
}

/* Closes the session and waits for its DEREGISTER. */
static int dial_close(gowt_ctx *cli, dial *d) {
    int rc = gowt_session_close(cli, d->h, 0, NULL, 0);
    if (rc != 0) return fail_rc(cli, "session_close", rc);
    WAIT_UNTIL(&d->mu, &d->cv, d->dereg, CONNECT_TIMEOUT, rc);
    return rc == 0 ? 0 : fail("no DEREGISTER within %.0f s after close", CONNECT_TIMEOUT);
}

typedef struct setup_job {
    gowt_ctx *cli;
    const char *url;
    const gowt_connect_options *opts;
    double deadline;
    long count;  /* sessions (under g_mu) */
    double open_time, close_time; /* summed over sessions (under g_mu) */
    int failed;  /* under g_mu */
    long next, n; /* idle_mem: next index to open, how many */
    dial *dials;  /* idle_mem: one per session */
} setup_job;

static int job_failed(setup_job *j) {
    pthread_mutex_lock(&g_mu);
    int f = j->failed;
    pthread_mutex_unlock(&g_mu);
    return f;
}

static void job_fail(setup_job *j) {
    pthread_mutex_lock(&g_mu);
    j->failed = 1;
    pthread_mutex_unlock(&g_mu);
}

static void *setup_worker(void *arg) {
    setup_job *j = arg;
    dial d;
    dial_init(&d);
    while (now_s() < j->deadline && !job_failed(j)) {
        double t0 = now_s();
        if (dial_open(j->cli, j->url, j->opts, &d) != 0) {
            job_fail(j);
            break;
        }
        double t1 = now_s();
        if (dial_close(j->cli, &d) != 0) {
            job_fail(j);
            break;
        }
        double t2 = now_s();
        pthread_mutex_lock(&g_mu);
        j->count++;
        j->open_time += t1 - t0;
        j->close_time += t2 - t1;
        pthread_mutex_unlock(&g_mu);
    }
    dial_free(&d);
    return NULL;
}

static int run_setup(int workers, int shared) {
    double d = dur(3.0, 1.0);
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    if (shared) { /* WebTransport flow control on both sides (16 MiB) */
        scfg.max_incoming_data = 16u << 20;
        ccfg.max_incoming_data = 16u << 20;
    }
    gowt_connect_options opts;
    gowt_connect_options_init(&opts);
    opts.new_connection = shared ? 0 : 1;
    env e;
    dial anchor;
    dial_init(&anchor);
    int anchored = 0;
    setup_job j;
    memset(&j, 0, sizeof j);
    int rc = env_open(&e, &scfg, &ccfg, accept_cb, NULL);
    if (rc == 0 && shared) {
        /* The shared connection exists before the clock starts (the Go side
         * dials it first); this idle session keeps it open throughout. */
        rc = dial_open(e.cli, e.url, &opts, &anchor);
        anchored = rc == 0;
        sleep_s(0.05); /* let the connection be offered for sharing */
    }
    double start = 0, el = 0;
    if (rc == 0) {
        pthread_t th[SETUP_WORKERS];
        j.cli = e.cli;
        j.url = e.url;
        j.opts = &opts;
        start = now_s();
        j.deadline = start + d;
        int started = 0;
        for (; started < workers; started++)
            if (pthread_create(&th[started], NULL, setup_worker, &j) != 0) break;
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        el = now_s() - start;
        if (started < workers) rc = fail("pthread_create failed");
        else if (j.failed) rc = -1;
    }
    if (anchored) dial_close(e.cli, &anchor);
    if (rc == 0) {
        double v = (double)j.count / el;
        double n = j.count > 0 ? (double)j.count : 1;
        emit("sessions/s", v, 1, NULL,
             "%.1f sessions/s (%ld sessions, %d dialer(s), %s, %.2fs; per session: "
             "connect->CONNECT_ACCEPTED %.2f ms, close->DEREGISTER %.2f ms)",
             v, j.count, workers, shared ? "one shared connection" : "new connection each", el,
             j.open_time * 1e3 / n, j.close_time * 1e3 / n);
    }
    env_close(&e);
    dial_free(&anchor);
    return rc;
}

static int run_setup_seq(void) { return run_setup(1, 0); }
static int run_setup_conc8(void) { return run_setup(SETUP_WORKERS, 0); }
static int run_setup_shared(void) { return run_setup(SETUP_WORKERS, 1); }

/* VmRSS in KB, or -1. */
static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static long measure_rss(void) {
    sleep_s(MEM_SETTLE);
    return rss_kb();
}

static void *idle_worker(void *arg) {
    setup_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&g_mu);
        long i = j->failed ? j->n : j->next++;
        pthread_mutex_unlock(&g_mu);
        if (i >= j->n) break;
        if (dial_open(j->cli, j->url, j->opts, &j->dials[i]) != 0) {
            job_fail(j);
            break;
        }
    }
    return NULL;
}

static int run_idle_mem(void) {
    long n = scale(1000);
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    gowt_connect_options opts;
    gowt_connect_options_init(&opts);
    opts.new_connection = 1;
    env e;
    setup_job j;
    memset(&j, 0, sizeof j);
    j.dials = calloc((size_t)n, sizeof *j.dials);
    if (!j.dials) return fail("out of memory");
    for (long i = 0; i < n; i++) dial_init(&j.dials[i]);
    long before = -1, after = -1;
    int rc = env_open(&e, &scfg, &ccfg, accept_cb, NULL);
    if (rc == 0) {
        before = measure_rss();
        if (before < 0) rc = fail("cannot read VmRSS");
    }
    if (rc == 0) {
        pthread_t th[IDLE_MEM_WORKERS];
        j.cli = e.cli;
        j.url = e.url;
        j.opts = &opts;
        j.n = n;
        int started = 0;
        for (; started < IDLE_MEM_WORKERS; started++)
            if (pthread_create(&th[started], NULL, idle_worker, &j) != 0) break;
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        if (started < IDLE_MEM_WORKERS) rc = fail("pthread_create failed");
        else if (j.failed) rc = -1;
    }
    if (rc == 0) {
        after = measure_rss();
        if (after < 0) rc = fail("cannot read VmRSS");
    }
    if (rc == 0) {
        double v = (double)(after - before) / (double)n;
        char extra[64];
        snprintf(extra, sizeof extra, ",\"sessions\":%ld,\"both_sides\":true", n);
        emit("KB/session", v, 1, extra,
             "%.1f KB/session (client+server in one process; RSS %ld -> %ld KB for %ld "
             "sessions, one connection each; no forced GC)",
             v, before, after, n);
    }
    env_close(&e); /* closes every session */
    for (long i = 0; i < n; i++) dial_free(&j.dials[i]);
    free(j.dials);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* events_cb / events_poll: the event path                                  */
/* ------------------------------------------------------------------------ */

static struct {
    uint64_t count;  /* POST_DATAGRAM events delivered (atomic) */
    int hold;        /* THREAD mode: the first datagram callback waits */
    int held;        /* it is waiting */
    uint64_t target; /* record done_at when count reaches it (0: none) */
    double done_at;
    int done;
} E;

static int events_srv_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    if (ev->type != GOWT_EV_POST_DATAGRAM) return side_cb(ctx, ev, app);
    uint64_t c = __atomic_add_fetch(&E.count, 1, __ATOMIC_RELAXED);
    if (c == 1 && __atomic_load_n(&E.hold, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&g_mu);
        E.held = 1;
        pthread_cond_broadcast(&g_cv);
        while (E.hold) pthread_cond_wait(&g_cv, &g_mu);
        pthread_mutex_unlock(&g_mu);
    }
    if (c == E.target) { /* E.target is set under g_mu before the release */
        double t = now_s();
        pthread_mutex_lock(&g_mu);
        E.done_at = t;
        E.done = 1;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
    return 0;
}

static uint64_t srv_dgrams_received(gowt_ctx *srv, gowt_session_t s, uint64_t *dropped) {
    gowt_session_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (gowt_session_get_info(srv, s, &info) != 0) return 0;
    if (dropped) *dropped = info.datagrams_dropped_recv;
    return info.datagrams_received;
}

/* Processes a POLL context's events until cond holds (setup phase). */
#define PUMP_UNTIL(ctx, cond, secs, rc)                                         \
    do {                                                                        \
        double dl_ = now_s() + (secs);                                          \
        (rc) = 0;                                                               \
        for (;;) {                                                              \
            gowt_ctx_process_events((ctx), 0);                                  \
            pthread_mutex_lock(&g_mu);                                          \
            int ok_ = (cond);                                                   \
            pthread_mutex_unlock(&g_mu);                                        \
            if (ok_) break;                                                     \
            if (now_s() > dl_) {                                                \
                (rc) = -1;                                                      \
                break;                                                          \
            }                                                                   \
            sleep_s(0.0005);                                                    \
        }                                                                       \
    } while (0)

static int run_events(int poll) {
    uint64_t n = (uint64_t)scale(200000);
    side srv, cli;
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    memset(&E, 0, sizeof E);
    E.hold = !poll;
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    scfg.dispatch_mode = poll ? GOWT_DISPATCH_POLL : GOWT_DISPATCH_THREAD;
    scfg.datagram_recv_queue = (uint32_t)(n + 1024); /* queue the whole burst */
    ccfg.datagram_send_queue = 4096;
    env e;
    uint64_t k = 0, dropped = 0;
    double el = 0, win0 = 0;
    int rc = env_open(&e, &scfg, &ccfg, events_srv_cb, &srv);
    if (rc == 0) {
        gowt_session_t h;
        int r = gowt_connect(e.cli, e.url, NULL, side_cb, &cli, &h);
        if (r != 0) rc = fail_rc(e.cli, "connect", r);
    }
    if (rc == 0) {
        if (poll) PUMP_UNTIL(e.srv, (cli.accepted && srv.accepted) || cli.refused, CONNECT_TIMEOUT, rc);
        else WAIT((cli.accepted && srv.accepted) || cli.refused, CONNECT_TIMEOUT, rc);
        if (rc != 0 || cli.refused) rc = fail("session not established");
    }
    /* The burst: n 1-byte datagrams. Nothing is delivered meanwhile (POLL:
     * nobody processes; THREAD: the first callback holds the dispatcher). */
    for (uint64_t i = 0; rc == 0 && i < n; i++) rc = send_dgram(e.cli, &cli, g_pattern, g_evsize);
    if (rc == 0 && !poll) {
        WAIT(E.held, 10.0, rc);
        if (rc != 0) rc = fail("no datagram arrived");
    }
    if (rc == 0) { /* wait until everything that arrived is queued */
        uint64_t last = 0;
        double stable_since = now_s(), dl = now_s() + 30;
        for (;;) {
            uint64_t v = srv_dgrams_received(e.srv, srv.sess, &dropped);
            if (v != last) {
                last = v;
                stable_since = now_s();
            }
            if (v >= n || now_s() - stable_since > 0.3 || now_s() > dl) break;
            sleep_s(0.01);
        }
        k = last;
        if (k < 2) rc = fail("only %" PRIu64 " datagrams arrived", k);
    }
    if (rc == 0 && poll) {
        E.target = k;
        double t0 = now_s();
        win0 = t0;
        while (__atomic_load_n(&E.count, __ATOMIC_RELAXED) < k) {
            int r = gowt_ctx_process_events(e.srv, 0);
            if (r < 0) {
                rc = fail_rc(e.srv, "process_events", r);
                break;
            }
            if (now_s() - t0 > 30) {
                rc = fail("delivered %" PRIu64 " of %" PRIu64 " events in 30 s", E.count, k);
                break;
            }
        }
        el = now_s() - t0;
    } else if (rc == 0) {
        pthread_mutex_lock(&g_mu);
        E.target = k;
        E.hold = 0;
        double t0 = now_s();
        win0 = t0;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
        WAIT(E.done, 30.0, rc);
        if (rc != 0) rc = fail("delivered %" PRIu64 " of %" PRIu64 " events in 30 s", E.count, k);
        el = E.done_at - t0;
        k -= 1; /* the held event was delivered before the clock started */
    }
    if (rc == 0 && getenv("GOWT_BENCH_WINDOW")) /* for perf record -k CLOCK_MONOTONIC --time */
        fprintf(stderr, "gowt %-12s window %.6f,%.6f\n", g_workload, win0, win0 + el);
    if (rc == 0) {
        double v = (double)k / el;
        char extra[64];
        snprintf(extra, sizeof extra, ",\"events\":%" PRIu64, k);
        emit("events/s", v, 0, extra,
             "%.0f events/s (%" PRIu64 " queued POST_DATAGRAM events of %zu B delivered in "
             "%.2f ms, %.0f ns/event, %s; %" PRIu64 " sent, %" PRIu64 " dropped on receive)",
             v, k, g_evsize, el * 1e3, el * 1e9 / (double)k,
             poll ? "POLL, gowt_ctx_process_events" : "THREAD dispatch", n, dropped);
    }
    if (!poll) { /* never leave the dispatcher held */
        pthread_mutex_lock(&g_mu);
        E.hold = 0;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
    env_close(&e);
    return rc;
}

static int run_events_cb(void) { return run_events(0); }
static int run_events_poll(void) { return run_events(1); }

/* ------------------------------------------------------------------------ */
/* main                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct workload {
    const char *name;
    int (*run)(void);
} workload;

static const workload workloads[] = {
    {"upload", run_upload},           {"download", run_download},
    {"streams100", run_streams100},   {"datagrams", run_datagrams},
    {"setup_seq", run_setup_seq},     {"setup_conc8", run_setup_conc8},
    {"setup_shared", run_setup_shared}, {"idle_mem", run_idle_mem},
    {"events_cb", run_events_cb},     {"events_poll", run_events_poll},
};
#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

static void usage(FILE *f) {
    fprintf(f, "usage: gowt_bench [-w name,name,...] [-short] [-send auto|push|pull] [-evsize 1..1000]\n"
               "                  [-sendbuf BYTES]\nworkloads:");
    for (size_t i = 0; i < N_WORKLOADS; i++) fprintf(f, "%s%s", i ? "," : " ", workloads[i].name);
    fprintf(f, "\n");
}

int main(int argc, char **argv) {
    const char *wspec = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') a++; /* accept --flag too */
        if (strcmp(a, "-short") == 0) {
            g_short = 1;
        } else if (strcmp(a, "-w") == 0 && i + 1 < argc) {
            wspec = argv[++i];
        } else if (strncmp(a, "-w=", 3) == 0) {
            wspec = a + 3;
        } else if (strcmp(a, "-send") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "pull") == 0) g_send = 1;
            else if (strcmp(m, "push") == 0) g_send = 0;
            else if (strcmp(m, "auto") == 0) g_send = -1;
            else {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(a, "-sendbuf") == 0 && i + 1 < argc) {
            g_sendbuf = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "-evsize") == 0 && i + 1 < argc) {
            g_evsize = (size_t)strtoul(argv[++i], NULL, 10);
            if (g_evsize < 1 || g_evsize > 1000) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "unexpected argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    int selected[N_WORKLOADS];
    memset(selected, 0, sizeof selected);
    if (wspec[0] == 0 || strcmp(wspec, "all") == 0) {
        for (size_t i = 0; i < N_WORKLOADS; i++) selected[i] = 1;
    } else {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", wspec);
        int any = 0;
        for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
            size_t i = 0;
            while (i < N_WORKLOADS && strcmp(workloads[i].name, tok) != 0) i++;
            if (i == N_WORKLOADS) {
                fprintf(stderr, "unknown workload \"%s\"\n", tok);
                usage(stderr);
                return 2;
            }
            selected[i] = any = 1;
        }
        if (!any) {
            fprintf(stderr, "no workload selected\n");
            return 2;
        }
    }
    if (gowt_version_number() != GOWT_VERSION_NUMBER) {
        fprintf(stderr, "gowt_bench: header %d but library %d\n", GOWT_VERSION_NUMBER,
                gowt_version_number());
        return 1;
    }
    cond_init_mono(&g_cv);
    for (size_t i = 0; i < sizeof g_pattern; i++) g_pattern[i] = (uint8_t)(i * 7);

    int failed = 0;
    for (size_t i = 0; i < N_WORKLOADS; i++) {
        if (!selected[i]) continue;
        g_workload = workloads[i].name;
        g_err[0] = 0;
        if (workloads[i].run() != 0) {
            fprintf(stderr, "gowt %-12s FAILED: %s\n", g_workload, g_err[0] ? g_err : "unknown error");
            failed = 1;
        }
        sleep_s(0.1); /* settle, as the Go side */
    }
    return failed ? 1 : 0;
}
