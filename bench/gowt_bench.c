/*
 * gowt_bench.c - the workloads of cmd/wtbench-go, run through gowt's public
 * C API only (include/gowt.h), with server and client contexts in this one
 * process on 127.0.0.1 (port 0), so scripts/bench.sh can put the numbers side
 * by side with pure webtransport-go.
 *
 *   gowt_bench [-w upload,download,...] [-short] [-style callback|thread]
 *              [-send auto|push|pull|nocopy] [-gogc N] [-memlimit BYTES] [-piece BYTES] [-sendbuf BYTES]
 *              [-dispatch auto|thread|poll] [-evsize N]
 *
 * Output: one JSON line per result on stdout, the same fields as
 * wtbench-go with "impl":"gowt":
 *
 *   {"impl":"gowt","workload":"upload","metric":"MB/s","value":221.3}
 *   {"impl":"gowt","workload":"datagrams","metric":"delivered_fraction","value":0.99,"rate":20000,"sent":40000,"delivered":39600}
 *   {"impl":"gowt","workload":"idle_mem","metric":"KB/session","value":94.1,"sessions":1000,"both_sides":true}
 *   {"impl":"gowt","workload":"events_cb","metric":"events/s","value":5100000,"events":61234}
 *
 * Every line also ends with "cpu_s": the process CPU time (all threads,
 * user + system) since the workload started (datagrams: since the previous
 * rate's result), client and server together; scripts/bench.sh turns it
 * into CPU seconds per GB.
 *
 * and a human-readable line per result on stderr (it names the style, API,
 * piece size and dispatch mode used). Exit status 1 when a workload failed,
 * 2 on a command-line error.
 *
 * Method (kept identical to cmd/wtbench-go; see its workloads.go):
 * - Each workload (each datagram rate) gets a fresh server context and a
 *   fresh client context, so a fresh QUIC connection; both in THREAD mode
 *   unless stated. Stream limits 1000; idle timeout 60 s.
 * - WebTransport flow control is OFF (max_incoming_data = 0), like
 *   webtransport-go with a nil Config, except for setup_shared where it is on
 *   both sides (that is what lets sessions share one QUIC connection).
 * - upload / download: one bidi stream, 200 MB (20 MB with -short); timed
 *   from the first write to the receiver's FIN.
 * - streams100: 100 concurrent bidi streams x 1 MB (100 KB), the server
 *   answers each FIN with its FIN; timed to the server's last FIN.
 * - datagrams: 1000-byte datagrams client->server for 2 s (0.5 s), unpaced
 *   and paced at 10k/20k/40k per second on the same monotonic schedule as
 *   the Go side, then 200 ms grace; delivered = POST_DATAGRAM events counted
 *   in the server's C callback (the receive side does nothing else: no lock,
 *   no wake-up, one atomic add). "Unpaced" retries a GOWT_ERR_WOULD_BLOCK
 *   after GOWT_EV_DATAGRAM_WRITABLE (the equivalent of a blocking
 *   SendDatagram), so `sent` only counts datagrams the library accepted.
 * - setup_seq / setup_conc8: 1 / 8 sessions in flight, a new QUIC connection
 *   per session (resuming the TLS session, gowt's default since 0.2.0),
 *   for 3 s (1 s); setup_seq_full: setup_seq with disable_resumption (full
 *   handshakes, what the Go side does); a session counts once CONNECT_ACCEPTED
 *   arrived; it is then closed and the next one starts on its DEREGISTER
 *   (closing is part of the timing, as CloseWithError waits in
 *   webtransport-go).
 * - setup_shared: flow control on, 8 sessions in flight, all on one QUIC
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
 * ---------------------------------------------------------------------------
 * Program shape: -style callback (default) | thread
 * ---------------------------------------------------------------------------
 * callback: the hot loops run inside gowt's callbacks, the way a callback
 *   API (gowt, picoquic) is meant to be used; the main thread starts the
 *   work with one call and then only waits for the end:
 *   - push send: the main thread opens the stream and sends until
 *     GOWT_ERR_WOULD_BLOCK once; every GOWT_EV_STREAM_WRITABLE callback
 *     sends the next pieces until WOULD_BLOCK again (or FIN). A per-stream
 *     mutex covers the one moment where the first call and a callback could
 *     overlap; it is never contended after that.
 *   - pull send: the data is given inside GOWT_EV_PROVIDE_DATA (always
 *     callback-driven; the main thread only calls gowt_stream_mark_active).
 *   - setup_*: the main thread starts N sessions; the client's
 *     CONNECT_ACCEPTED callback closes the session and its DEREGISTER
 *     callback opens the next one (while the clock runs), so N stay in
 *     flight with no thread hand-off in the loop.
 *   - unpaced datagrams: sent in the DATAGRAM_WRITABLE callback until the
 *     queue is full again; paced datagrams stay on the main thread (the
 *     pacing needs a clock and sleeps).
 * thread: the previous shape, kept for comparison: the main thread (or 8
 *   dialer threads) does every step and sleeps on a condition variable that
 *   the callbacks signal (each STREAM_WRITABLE, each CONNECT_ACCEPTED, each
 *   DEREGISTER is an OS thread wake-up plus a C->Go entry from a cold
 *   thread).
 *
 * -dispatch poll (callback style only): both contexts in
 * GOWT_DISPATCH_POLL, and the main thread is the event loop: poll() on the
 * two gowt_ctx_get_fd descriptors, gowt_ctx_process_events on the readable
 * ones. The callbacks are the same.
 *
 * Bulk sending: -send push|pull|nocopy (nocopy: gowt_stream_send_nocopy,
 * the pattern buffer itself), -piece BYTES (push piece size, default
 * 64 KB), -sendbuf BYTES (stream_send_buffer, default the library's 1 MiB).
 * The per-workload defaults (-send auto, -dispatch auto, no -piece /
 * -sendbuf) are the fastest measured combination; see TUNING below for the
 * numbers behind them.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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
#define MAX_PIECE (16u << 20)
#define BULK_TIMEOUT 120.0
#define DATAGRAM_SIZE 1000
#define DATAGRAM_GRACE 0.2
#define MEM_SETTLE 0.5
#define SETUP_WORKERS 8
#define IDLE_MEM_WORKERS 8
#define CONNECT_TIMEOUT 10.0
#define BENCH_PATH "/bench"
#define N_STREAMS 100

enum { STYLE_CALLBACK = 0, STYLE_THREAD = 1 };

static int g_short;
static int g_style = STYLE_CALLBACK; /* -style */
static int g_send = -1;     /* -send: 0 push, 1 pull, 2 nocopy push, -1 auto */
static int g_nocopy;        /* push with gowt_stream_send_nocopy */
static int g_gogc = GOWT_RUNTIME_KEEP;           /* -gogc N (-1: off) */
static long long g_memlimit = GOWT_RUNTIME_KEEP; /* -memlimit BYTES (0: none) */
static int g_dispatch = -1; /* -dispatch: 0 thread, 1 poll, -1 auto */
static size_t g_piece_opt;  /* -piece (0: per workload) */
static size_t g_sendbuf_opt; /* -sendbuf (0: per workload) */
static size_t g_evsize = 1; /* -evsize: payload of the events_* datagrams */

/* What the running workload uses (set from the options and TUNING). */
static int g_pull;
static int g_poll;
static size_t g_piece = CHUNK;
static size_t g_sendbuf; /* 0: library default */

static uint8_t *g_pattern; /* MAX_PIECE bytes of pattern */

static long scale(long full) {
    if (g_short) return full / 10 > 0 ? full / 10 : 1;
    return full;
}

static double dur(double full, double short_) { return g_short ? short_ : full; }

/* ------------------------------------------------------------------------ */
/* TUNING: the defaults per workload (-send auto, -dispatch auto)            */
/* ------------------------------------------------------------------------ */

/*
 * Measured on the 2-core shared dev box (other test suites running: single
 * runs vary by +-30 %), full sizes, callback style, every variant run back
 * to back in each round, 7-9 rounds, medians in MB/s (process CPU time):
 *
 *   upload      push 64 KB pieces / 1 MiB buffer   254      pure Go 247
 *               push 256 KB / 4 MiB                242
 *               push 1 MB / 4 MiB                  264 (another round)
 *               pull                               245
 *               thread style, push 64 KB / 1 MiB   199
 *   download    push 64 KB / 1 MiB                 254      pure Go 260
 *               push 256 KB / 4 MiB                242
 *               pull                               233
 *               thread style, push 64 KB / 1 MiB   131 (noisy round)
 *   streams100  push 64 KB / 1 MiB                 198 (967 ms)  Go 241 (808 ms)
 *               push 64 KB / 256 KB                216 (842 ms)
 *               push 64 KB / 128 KB                215 (845 ms)
 *               pull                               221 (868 ms)
 *
 * -> upload, download: push, 64 KB pieces, the library's 1 MiB
 * stream_send_buffer. Once the refill runs inside STREAM_WRITABLE, piece and
 * buffer sizes are within the noise: a callback refills half a buffer in one
 * go (64 KB / 1 MiB: ~190 STREAM_WRITABLE per 200 MB, 256 KB / 4 MiB: ~95),
 * both negligible next to the ~3 800 data events on the receiving side.
 * Pull ties (one PROVIDE_DATA per 64 KB, answered in the callback).
 * -> streams100: push, 64 KB pieces, 256 KB stream_send_buffer. With 1 MiB
 * every stream's whole 1 MB is copied into the library when the streams are
 * opened (100 MB of fresh Go heap: 34 k page faults against 17 k, +120 ms
 * CPU), and that burst sits in the timed window; with 256 KB the copies
 * follow the sending, each STREAM_WRITABLE (~600 per run) refilling 128 KB.
 * Pull ties with it.
 *
 * Dispatch (3 rounds, sessions/s or MB/s; context switches per run):
 *                 THREAD dispatch      POLL loop (1 thread,   thread style
 *                 (library thread)     both contexts)
 *   setup_seq        298 (18 k cs)        283 (44 k cs)         284 (45 k cs)
 *   setup_conc8      508 ( 3 k cs)        350 (24 k cs)         351 (45 k cs)
 *   setup_shared    5437 ( 5 k cs)       3801 (53 k cs)        2628 (91 k cs)
 *   upload           256                  126                   199
 * -> THREAD dispatch. The POLL loop sleeps in poll() whenever both queues
 * are empty and each wake-up is an OS thread wake-up plus a C->Go entry
 * from a non-Go thread (gowt_ctx_process_events); the library's dispatch
 * goroutine stays inside the Go scheduler. For bulk transfers one thread
 * also serialises the sender's and the receiver's callbacks.
 */
typedef struct tuning {
    const char *workload;
    int pull;       /* 1: pull API */
    size_t piece;   /* push piece */
    size_t sendbuf; /* stream_send_buffer, 0: library default */
    int poll;       /* 1: both contexts in POLL mode, main thread = loop */
} tuning;

static const tuning TUNING[] = {
    {"upload", 0, CHUNK, 0, 0},
    {"download", 0, CHUNK, 0, 0},
    {"streams100", 0, CHUNK, 256 * 1024, 0},
    {"setup_seq", 0, 0, 0, 0},
    {"setup_conc8", 0, 0, 0, 0},
    {"setup_shared", 0, 0, 0, 0},
};

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
static pthread_mutex_t g_err_mu = PTHREAD_MUTEX_INITIALIZER;

/* Records the first failure message of the running workload; returns -1.
 * Callable from callbacks (own lock, never held around anything else). */
static int fail(const char *fmt, ...) {
    pthread_mutex_lock(&g_err_mu);
    if (g_err[0] == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_err, sizeof g_err, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&g_err_mu);
    return -1;
}

/* fail() with the library's code name and the context's last message. */
static int fail_rc(gowt_ctx *ctx, const char *what, int rc) {
    char msg[256] = "";
    if (ctx) gowt_ctx_last_error(ctx, msg, sizeof msg);
    return fail("%s: %s (%s)", what, gowt_strerror(rc), msg);
}

/* Process CPU time (all threads, user + system) in seconds. */
static double cpu_s(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* cpu_s of each result: CPU time since the workload started, or since its
 * previous result (datagrams: one per rate). */
static double g_cpu0;

static void emit(const char *metric, double value, int decimals, const char *extra,
                 const char *human_fmt, ...) {
    double now = cpu_s();
    printf("{\"impl\":\"gowt\",\"workload\":\"%s\",\"metric\":\"%s\",\"value\":%.*f%s,"
           "\"cpu_s\":%.3f}\n",
           g_workload, metric, decimals, value, extra ? extra : "", now - g_cpu0);
    g_cpu0 = now;
    fflush(stdout);
    char human[640];
    va_list ap;
    va_start(ap, human_fmt);
    vsnprintf(human, sizeof human, human_fmt, ap);
    va_end(ap);
    fprintf(stderr, "gowt %-12s %s\n", g_workload, human);
}

/* "callback style, THREAD dispatch" etc. for the human-readable lines. */
static const char *shape_name(void) {
    if (g_style == STYLE_THREAD) return "thread style";
    return g_poll ? "callback style, POLL loop" : "callback style";
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
    if (g_poll) c->dispatch_mode = GOWT_DISPATCH_POLL;
}

typedef struct env {
    gowt_ctx *srv, *cli;
    uint16_t port;
    char url[96];
    int poll;        /* both contexts in POLL mode: this thread runs the loop */
    int fd[2];       /* POLL: server, client */
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
    if (scfg->dispatch_mode == GOWT_DISPATCH_POLL && ccfg->dispatch_mode == GOWT_DISPATCH_POLL) {
        e->poll = 1;
        if ((rc = gowt_ctx_get_fd(e->srv, &e->fd[0])) != 0) return fail_rc(e->srv, "get_fd", rc);
        if ((rc = gowt_ctx_get_fd(e->cli, &e->fd[1])) != 0) return fail_rc(e->cli, "get_fd", rc);
    }
    return 0;
}

static void env_close(env *e) {
    if (e->cli) gowt_ctx_destroy(e->cli);
    if (e->srv) gowt_ctx_destroy(e->srv);
    e->cli = e->srv = NULL;
}

/* POLL loop, one round: waits up to max_wait s for either context's fd,
 * then delivers the pending events of the readable ones. */
static int env_poll_once(env *e, double max_wait) {
    struct pollfd p[2] = {{e->fd[0], POLLIN, 0}, {e->fd[1], POLLIN, 0}};
    int ms = max_wait <= 0 ? 0 : max_wait > 0.1 ? 100 : (int)(max_wait * 1000) + 1;
    int n = poll(p, 2, ms);
    if (n < 0) return errno == EINTR ? 0 : fail("poll: %s", strerror(errno));
    gowt_ctx *c[2] = {e->srv, e->cli};
    for (int i = 0; i < 2; i++) {
        if (!(p[i].revents & (POLLIN | POLLERR | POLLHUP))) continue;
        int r = gowt_ctx_process_events(c[i], 0);
        if (r < 0) return fail_rc(c[i], "process_events", r);
    }
    return 0;
}

/* Waits until cond holds: on g_cv in THREAD mode; in POLL mode this thread
 * runs the event loop (the callbacks run here, so cond needs no lock, but
 * it is read under g_mu in both modes for simplicity). rc = -1 on timeout
 * or a loop failure. */
#define ENV_WAIT(e, cond, secs, rc)                                             \
    do {                                                                        \
        if (!(e)->poll) {                                                       \
            WAIT(cond, secs, rc);                                               \
            break;                                                              \
        }                                                                       \
        double edl_ = now_s() + (secs);                                         \
        (rc) = 0;                                                               \
        for (;;) {                                                              \
            pthread_mutex_lock(&g_mu);                                          \
            int ok_ = (cond);                                                   \
            pthread_mutex_unlock(&g_mu);                                        \
            if (ok_) break;                                                     \
            double left_ = edl_ - now_s();                                      \
            if (left_ <= 0 || env_poll_once((e), left_) != 0) {                 \
                (rc) = -1;                                                      \
                break;                                                          \
            }                                                                   \
        }                                                                       \
    } while (0)

/* ------------------------------------------------------------------------ */
/* A side of a session: what its callback saw                               */
/* ------------------------------------------------------------------------ */

/* One sending stream (push or pull); its stream_ctx. */
typedef struct bulk_tx {
    pthread_mutex_t mu; /* push: first call vs. callbacks (never contended after) */
    gowt_ctx *ctx;
    gowt_session_t s;
    uint64_t sid;
    uint64_t left;  /* bytes still to send / provide */
    int blocked;    /* push: WOULD_BLOCK seen, a STREAM_WRITABLE will follow */
    int failed;     /* a send failed (message in g_err) */
    uint64_t sends; /* push: gowt_stream_send calls that took data */
    uint64_t writable; /* push: STREAM_WRITABLE events handled */
} bulk_tx;

typedef struct side {
    gowt_session_t sess;
    unsigned accepted, refused, closed, dereg;
    /* stream data received; rx_bytes is written by the dispatch thread only
     * and read by others after fins reached fins_want (under g_mu). */
    uint64_t rx_bytes, rx_events;
    unsigned fins, fins_want;
    double fin_at;
    int echo_fin; /* answer a peer's FIN on its bidi stream with our FIN */
    /* thread style: send readiness counters the main thread waits on */
    unsigned writable, dg_writable;
    unsigned tx_failed; /* a send inside a callback failed */
    /* datagrams received (atomic) */
    uint64_t dgrams;
    struct dgram_tx *dtx; /* callback style unpaced datagrams (client) */
} side;

static void tx_fail(side *sd) {
    pthread_mutex_lock(&g_mu);
    sd->tx_failed = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* One push send of k bytes of g_pattern (FIN with the last): copied, or
 * with -send nocopy the pattern itself (the library only reads it, so the
 * same static buffer may be queued many times; SEND_COMPLETE needs no
 * answer). */
static int push_send(bulk_tx *tx, size_t k) {
    if (g_nocopy)
        return gowt_stream_send_nocopy(tx->ctx, tx->s, tx->sid, g_pattern, k, k == tx->left, NULL);
    return gowt_stream_send(tx->ctx, tx->s, tx->sid, g_pattern, k, k == tx->left);
}

/* Push: sends pieces of g_piece bytes (FIN with the last) until the stream's
 * buffer is full (WOULD_BLOCK: a STREAM_WRITABLE follows), everything is
 * sent, or max_pieces were sent. Returns the pieces sent, or -1. From the
 * main thread (first call) skip_blocked leaves a stream that already waits
 * for STREAM_WRITABLE to its callback. */
static int tx_pump(bulk_tx *tx, int max_pieces, int skip_blocked) {
    int n = 0;
    pthread_mutex_lock(&tx->mu);
    if (skip_blocked && tx->blocked) {
        pthread_mutex_unlock(&tx->mu);
        return 0;
    }
    tx->blocked = 0;
    while (tx->left > 0 && !tx->failed && n < max_pieces) {
        size_t k = tx->left < g_piece ? (size_t)tx->left : g_piece;
        int rc = push_send(tx, k);
        if (rc == 0) {
            tx->left -= k;
            tx->sends++;
            n++;
        } else if (rc == GOWT_ERR_WOULD_BLOCK) {
            tx->blocked = 1;
            break;
        } else {
            fail_rc(tx->ctx, "stream_send", rc);
            tx->failed = 1;
        }
    }
    int failed = tx->failed;
    pthread_mutex_unlock(&tx->mu);
    return failed ? -1 : n;
}

static void tx_init(bulk_tx *tx, gowt_ctx *ctx, gowt_session_t s, uint64_t total) {
    memset(tx, 0, sizeof *tx);
    pthread_mutex_init(&tx->mu, NULL);
    tx->ctx = ctx;
    tx->s = s;
    tx->left = total;
}

static int side_cb(gowt_ctx *ctx, const gowt_event *ev, void *app);
static void dgram_writable_cb(side *sd);

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
        /* Only the main thread waits for FINs: wake it for the last one. */
        pthread_mutex_lock(&g_mu);
        if (++sd->fins == sd->fins_want) {
            sd->fin_at = t;
            pthread_cond_broadcast(&g_cv);
        }
        pthread_mutex_unlock(&g_mu);
        return 0;
    }
    case GOWT_EV_POST_DATAGRAM:
        __atomic_add_fetch(&sd->dgrams, 1, __ATOMIC_RELAXED);
        return 0;
    case GOWT_EV_STREAM_WRITABLE: {
        bulk_tx *tx = ev->stream_ctx;
        if (g_style == STYLE_CALLBACK && tx) {
            __atomic_add_fetch(&tx->writable, 1, __ATOMIC_RELAXED);
            if (tx_pump(tx, 1 << 30, 0) < 0) tx_fail(sd);
        } else {
            bump(&sd->writable);
        }
        return 0;
    }
    case GOWT_EV_DATAGRAM_WRITABLE:
        if (g_style == STYLE_CALLBACK && sd->dtx) dgram_writable_cb(sd);
        else bump(&sd->dg_writable);
        return 0;
    case GOWT_EV_PROVIDE_DATA: {
        bulk_tx *ps = ev->stream_ctx;
        if (!ps) return 0;
        size_t n = ev->length < ps->left ? ev->length : (size_t)ps->left;
        int fin = n == ps->left;
        uint8_t *buf = NULL;
        if (gowt_provide_stream_data(ctx, ev, n, fin, !fin, &buf) == 0) {
            memcpy(buf, g_pattern, n); /* n <= ev->length (64 KB) <= MAX_PIECE */
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
    ENV_WAIT(e, (cli->accepted > 0 && srv->accepted > 0) || cli->refused > 0, CONNECT_TIMEOUT, rc);
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

/* Thread style push: the main thread sends every piece; after WOULD_BLOCK
 * it sleeps on g_cv until the STREAM_WRITABLE callback signals it. */
static int push_bulk_thread(bulk_tx *tx, side *sd) {
    while (tx->left > 0) {
        size_t k = tx->left < g_piece ? (size_t)tx->left : g_piece;
        unsigned gen = load_u(&sd->writable);
        int rc = push_send(tx, k);
        if (rc == 0) {
            tx->left -= k;
            tx->sends++;
            continue;
        }
        if (rc != GOWT_ERR_WOULD_BLOCK) return fail_rc(tx->ctx, "stream_send", rc);
        WAIT(sd->writable != gen, BULK_TIMEOUT, rc);
        if (rc != 0) return fail("no STREAM_WRITABLE within %.0f s", BULK_TIMEOUT);
        tx->writable++;
    }
    return 0;
}

/* Opens a bidi stream (stream_ctx = tx) and sends total bytes + FIN with the
 * selected API and style. Callback style and pull return after the first
 * call; the callbacks do the rest. */
static int open_and_send(gowt_ctx *ctx, gowt_session_t s, side *sd, uint64_t total,
                         bulk_tx *tx, double *t0) {
    tx_init(tx, ctx, s, total);
    int rc = gowt_create_local_stream(ctx, s, 1, tx, &tx->sid);
    if (rc != 0) return fail_rc(ctx, "create_local_stream", rc);
    *t0 = now_s();
    if (g_pull) {
        rc = gowt_stream_mark_active(ctx, s, tx->sid, 1);
        return rc == 0 ? 0 : fail_rc(ctx, "mark_active", rc);
    }
    if (g_style == STYLE_THREAD) return push_bulk_thread(tx, sd);
    return tx_pump(tx, 1 << 30, 0) < 0 ? -1 : 0;
}

/* "push 256 KB pieces, 4096 KB buffer" / "pull" */
static const char *send_desc(char *buf, size_t len) {
    if (g_pull)
        snprintf(buf, len, "pull API, %s", shape_name());
    else
        snprintf(buf, len, "push API%s, %zu KB pieces, %zu KB stream_send_buffer, %s",
                 g_nocopy ? " (nocopy)" : "", g_piece / 1024, (g_sendbuf ? g_sendbuf : (size_t)1 << 20) / 1024, shape_name());
    return buf;
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
    side *txs = upload ? &cli : &srv;
    rx->fins_want = 1;
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    env e;
    bulk_tx tx;
    memset(&tx, 0, sizeof tx); /* tx_init when the stream is opened */
    double t0 = 0;
    int rc = env_open(&e, &scfg, &ccfg, side_cb, &srv);
    if (rc == 0) rc = connect_pair(&e, &cli, &srv, NULL);
    if (rc == 0) {
        if (upload)
            rc = open_and_send(e.cli, cli.sess, &cli, total, &tx, &t0);
        else
            rc = open_and_send(e.srv, srv.sess, &srv, total, &tx, &t0);
    }
    if (rc == 0) {
        ENV_WAIT(&e, rx->fins >= 1 || txs->tx_failed, BULK_TIMEOUT, rc);
        if (txs->tx_failed) rc = -1; /* message already in g_err */
        else if (rc != 0) rc = fail("receiver saw no FIN within %.0f s", BULK_TIMEOUT);
    }
    if (rc == 0 && rx->rx_bytes != total)
        rc = fail("received %" PRIu64 " bytes, want %" PRIu64, rx->rx_bytes, total);
    if (rc == 0) {
        double el = rx->fin_at - t0;
        double v = (double)total / 1e6 / el;
        char how[160];
        char pushinfo[96] = "";
        if (!g_pull)
            snprintf(pushinfo, sizeof pushinfo, "; %" PRIu64 " sends, %" PRIu64 " STREAM_WRITABLE",
                     tx.sends, tx.writable);
        emit("MB/s", v, 1, NULL,
             "%.1f MB/s (%" PRIu64 " MB in %.2fs, %s; %" PRIu64 " data events, %.1f KB each%s)", v,
             total / 1000000u, el, send_desc(how, sizeof how), rx->rx_events,
             (double)total / 1024.0 / (double)(rx->rx_events ? rx->rx_events : 1), pushinfo);
    }
    env_close(&e);
    pthread_mutex_destroy(&tx.mu);
    return rc;
}

static int run_upload(void) { return run_bulk(1); }
static int run_download(void) { return run_bulk(0); }

/* ------------------------------------------------------------------------ */
/* streams100                                                               */
/* ------------------------------------------------------------------------ */

static int run_streams100(void) {
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
    static bulk_tx tx[N_STREAMS];
    double t0 = 0;
    int created = 0;
    int rc = env_open(&e, &scfg, &ccfg, side_cb, &srv);
    if (rc == 0) rc = connect_pair(&e, &cli, &srv, NULL);
    if (rc == 0) {
        t0 = now_s();
        for (int i = 0; i < N_STREAMS && rc == 0; i++) {
            tx_init(&tx[i], e.cli, cli.sess, per);
            created++;
            int r = gowt_create_local_stream(e.cli, cli.sess, 1, &tx[i], &tx[i].sid);
            if (r != 0) rc = fail_rc(e.cli, "create_local_stream", r);
            else if (g_pull && (r = gowt_stream_mark_active(e.cli, cli.sess, tx[i].sid, 1)) != 0)
                rc = fail_rc(e.cli, "mark_active", r);
        }
    }
    /* Push: round robin, one piece per stream per pass, so that the streams
     * progress together like the Go side's 100 goroutines. Callback style:
     * until every stream is finished or waits for its STREAM_WRITABLE (its
     * callback continues); thread style: the main thread does it all. */
    while (rc == 0 && !g_pull && g_style == STYLE_CALLBACK) {
        int progressed = 0;
        for (int i = 0; i < N_STREAMS && rc == 0; i++) {
            int r = tx_pump(&tx[i], 1, 1);
            if (r < 0) rc = -1;
            else if (r > 0) progressed = 1;
        }
        if (!progressed) break;
    }
    while (rc == 0 && !g_pull && g_style == STYLE_THREAD) {
        int active = 0, progressed = 0;
        unsigned gen = load_u(&cli.writable);
        for (int i = 0; i < N_STREAMS; i++) {
            if (tx[i].left == 0) continue;
            active++;
            size_t k = tx[i].left < g_piece ? (size_t)tx[i].left : g_piece;
            int r = gowt_stream_send(e.cli, cli.sess, tx[i].sid, g_pattern, k, k == tx[i].left);
            if (r == 0) {
                tx[i].left -= k;
                tx[i].sends++;
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
        ENV_WAIT(&e, srv.fins >= N_STREAMS || cli.tx_failed, BULK_TIMEOUT, rc);
        if (cli.tx_failed) rc = -1;
        else if (rc != 0) rc = fail("server saw %u of %d FINs", srv.fins, N_STREAMS);
    }
    if (rc == 0) { /* the client also gets the server's FINs back */
        ENV_WAIT(&e, cli.fins >= N_STREAMS, BULK_TIMEOUT, rc);
        if (rc != 0) rc = fail("client saw %u of %d FINs", cli.fins, N_STREAMS);
    }
    if (rc == 0 && srv.rx_bytes != total)
        rc = fail("server received %" PRIu64 " bytes, want %" PRIu64, srv.rx_bytes, total);
    if (rc == 0) {
        double el = srv.fin_at - t0;
        double v = (double)total / 1e6 / el;
        uint64_t wr = 0;
        for (int i = 0; i < N_STREAMS; i++) wr += tx[i].writable;
        char how[160];
        emit("MB/s", v, 1, NULL,
             "%.1f MB/s aggregate (%d x %" PRIu64 " KB in %.2fs, %s; %" PRIu64
             " data events, %.1f KB each; %" PRIu64 " STREAM_WRITABLE)",
             v, N_STREAMS, per / 1000u, el, send_desc(how, sizeof how), srv.rx_events,
             (double)total / 1024.0 / (double)(srv.rx_events ? srv.rx_events : 1), wr);
    }
    env_close(&e);
    for (int i = 0; i < created; i++) pthread_mutex_destroy(&tx[i].mu);
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

/* Callback style unpaced sender: sends until the queue is full (then
 * DATAGRAM_WRITABLE continues) or the time is up. */
typedef struct dgram_tx {
    pthread_mutex_t mu; /* first call vs. callbacks vs. the stop */
    gowt_ctx *ctx;
    gowt_session_t s;
    double end;
    int stop, failed;
    int64_t sent;
    uint64_t writable;
} dgram_tx;

static void dgram_pump(dgram_tx *d) {
    pthread_mutex_lock(&d->mu);
    while (!d->stop && !d->failed) {
        if (now_s() >= d->end) {
            d->stop = 1;
            break;
        }
        int rc = gowt_send_datagram(d->ctx, d->s, g_pattern, DATAGRAM_SIZE);
        if (rc == 0) {
            d->sent++;
        } else if (rc == GOWT_ERR_WOULD_BLOCK) {
            break;
        } else {
            fail_rc(d->ctx, "send_datagram", rc);
            d->failed = 1;
        }
    }
    pthread_mutex_unlock(&d->mu);
}

static void dgram_writable_cb(side *sd) {
    dgram_tx *d = sd->dtx;
    d->writable++;
    dgram_pump(d);
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
    dgram_tx dtx;
    memset(&dtx, 0, sizeof dtx);
    pthread_mutex_init(&dtx.mu, NULL);
    int rc = env_open(&e, &scfg, &ccfg, side_cb, &srv);
    if (rc == 0) rc = connect_pair(&e, &cli, &srv, NULL);
    if (rc == 0) {
        start = now_s();
        if (rate == 0 && g_style == STYLE_CALLBACK) {
            dtx.ctx = e.cli;
            dtx.s = cli.sess;
            dtx.end = start + d;
            cli.dtx = &dtx;
            dgram_pump(&dtx); /* the rest in DATAGRAM_WRITABLE callbacks */
            sleep_s(dtx.end - now_s());
            pthread_mutex_lock(&dtx.mu);
            dtx.stop = 1;
            sent = dtx.sent;
            if (dtx.failed) rc = -1;
            pthread_mutex_unlock(&dtx.mu);
        } else if (rate == 0) {
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
                 "reached gowt's queue %" PRIu64 ", dropped there %" PRIu64 "; sender %s",
                 label, sent, send_time, (double)sent / send_time, got, 100 * frac, lib_rx,
                 lib_dropped,
                 rate > 0 ? "paced on the main thread"
                 : g_style == STYLE_CALLBACK ? "in DATAGRAM_WRITABLE callbacks"
                                             : "on the main thread");
        }
    }
    env_close(&e);
    pthread_mutex_destroy(&dtx.mu);
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

/* Callback style: N chains of sessions. Each chain has one session in
 * flight; its CONNECT_ACCEPTED callback closes it and its DEREGISTER
 * callback opens the next one while the clock runs. All of a client
 * context's callbacks run on one thread, one at a time, so the counters
 * need no lock; the main thread reads them after the last chain ended
 * (running == 0, under g_mu). */
typedef struct setup_run setup_run;

typedef struct chain {
    setup_run *r;
    double t0, t1; /* connect called, CONNECT_ACCEPTED */
    int accepted, dead;
} chain;

struct setup_run {
    const char *url;
    const gowt_connect_options *opts;
    double deadline;
    long count;
    double open_time, close_time;
    int failed;    /* atomic: the main thread may set it while starting */
    int running;   /* chains not ended yet (under g_mu) */
    double end_at; /* when the last chain ended (under g_mu) */
    chain ch[SETUP_WORKERS];
};

static int chain_cb(gowt_ctx *ctx, const gowt_event *ev, void *app);

static void chain_end(chain *c) {
    double t = now_s();
    c->dead = 1;
    pthread_mutex_lock(&g_mu);
    if (--c->r->running == 0) {
        c->r->end_at = t;
        pthread_cond_broadcast(&g_cv);
    }
    pthread_mutex_unlock(&g_mu);
}

static int chain_start(chain *c, gowt_ctx *cli) {
    gowt_session_t h;
    c->accepted = 0;
    c->t0 = now_s();
    int rc = gowt_connect(cli, c->r->url, c->r->opts, chain_cb, c, &h);
    if (rc != 0) {
        __atomic_store_n(&c->r->failed, 1, __ATOMIC_RELAXED);
        return fail_rc(cli, "connect", rc);
    }
    return 0;
}

static int chain_cb(gowt_ctx *ctx, const gowt_event *ev, void *app) {
    chain *c = app;
    setup_run *r = c->r;
    if (c->dead) return 0;
    switch (ev->type) {
    case GOWT_EV_CONNECT_ACCEPTED: {
        c->t1 = now_s();
        c->accepted = 1;
        r->open_time += c->t1 - c->t0;
        int rc = gowt_session_close(ctx, ev->session, 0, NULL, 0);
        if (rc != 0) {
            fail_rc(ctx, "session_close", rc);
            __atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
            chain_end(c);
        }
        return 0;
    }
    case GOWT_EV_CONNECT_REFUSED:
        fail("session refused (HTTP %" PRIu64 ")", ev->code);
        __atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
        return 0; /* DEREGISTER follows and ends the chain */
    case GOWT_EV_DEREGISTER: {
        double t2 = now_s();
        if (c->accepted) {
            r->count++;
            r->close_time += t2 - c->t1;
        }
        if (!__atomic_load_n(&r->failed, __ATOMIC_RELAXED) && t2 < r->deadline &&
            chain_start(c, ctx) == 0)
            return 0;
        chain_end(c);
        return 0;
    }
    default:
        return 0;
    }
}

/* The anchor of setup_shared: dial_open / dial_close, or the same through
 * the POLL loop. */
static int anchor_open(env *e, const gowt_connect_options *opts, dial *d) {
    if (!e->poll) return dial_open(e->cli, e->url, opts, d);
    int rc = gowt_connect(e->cli, e->url, opts, dial_cb, d, &d->h);
    if (rc != 0) return fail_rc(e->cli, "connect", rc);
    ENV_WAIT(e, d->accepted || d->refused, CONNECT_TIMEOUT, rc);
    if (rc != 0) return fail("session not established within %.0f s", CONNECT_TIMEOUT);
    if (d->refused) return fail("session refused");
    return 0;
}

static void anchor_close(env *e, dial *d) {
    if (!e->poll) {
        dial_close(e->cli, d);
        return;
    }
    int rc = gowt_session_close(e->cli, d->h, 0, NULL, 0);
    if (rc == 0) ENV_WAIT(e, d->dereg, CONNECT_TIMEOUT, rc);
}

static int run_setup_as(int workers, int shared, int full_handshake) {
    double d = dur(3.0, 1.0);
    gowt_config scfg, ccfg;
    base_config(&scfg);
    base_config(&ccfg);
    ccfg.disable_resumption = full_handshake;
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
    static setup_run r;
    memset(&r, 0, sizeof r);
    int rc = env_open(&e, &scfg, &ccfg, accept_cb, NULL);
    if (rc == 0 && shared) {
        /* The shared connection exists before the clock starts (the Go side
         * dials it first); this idle session keeps it open throughout. */
        rc = anchor_open(&e, &opts, &anchor);
        anchored = rc == 0;
        if (e.poll) { /* let the connection be offered for sharing */
            int never = 0, r2;
            ENV_WAIT(&e, never, 0.05, r2);
            (void)r2;
        } else {
            sleep_s(0.05);
        }
    }
    double start = 0, el = 0;
    long count = 0;
    double open_time = 0, close_time = 0;
    if (rc == 0 && g_style == STYLE_THREAD) {
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
        count = j.count;
        open_time = j.open_time;
        close_time = j.close_time;
    } else if (rc == 0) {
        r.url = e.url;
        r.opts = &opts;
        r.running = workers;
        start = now_s();
        r.deadline = start + d;
        for (int i = 0; i < workers; i++) {
            r.ch[i].r = &r;
            if (chain_start(&r.ch[i], e.cli) != 0) chain_end(&r.ch[i]);
        }
        ENV_WAIT(&e, r.running == 0, d + 3 * CONNECT_TIMEOUT, rc);
        if (rc != 0) rc = fail("sessions still in flight %.0f s after the end", 3 * CONNECT_TIMEOUT);
        else if (__atomic_load_n(&r.failed, __ATOMIC_RELAXED)) rc = -1;
        pthread_mutex_lock(&g_mu); /* pairs with chain_end */
        el = r.end_at - start;
        count = r.count;
        open_time = r.open_time;
        close_time = r.close_time;
        pthread_mutex_unlock(&g_mu);
    }
    if (anchored) anchor_close(&e, &anchor);
    if (rc == 0) {
        double v = (double)count / el;
        double n = count > 0 ? (double)count : 1;
        emit("sessions/s", v, 1, NULL,
             "%.1f sessions/s (%ld sessions, %d in flight, %s%s, %.2fs, %s; per session: "
             "connect->CONNECT_ACCEPTED %.2f ms, close->DEREGISTER %.2f ms)",
             v, count, workers, shared ? "one shared connection" : "new connection each",
             shared ? "" : (full_handshake ? ", full TLS handshakes" : ", TLS resumption"), el,
             g_style == STYLE_THREAD ? "thread style, a dialer thread per session in flight"
                                     : shape_name(),
             open_time * 1e3 / n, close_time * 1e3 / n);
    }
    env_close(&e);
    dial_free(&anchor);
    return rc;
}

static int run_setup(int workers, int shared) { return run_setup_as(workers, shared, 0); }
static int run_setup_seq(void) { return run_setup(1, 0); }
static int run_setup_conc8(void) { return run_setup(SETUP_WORKERS, 0); }
static int run_setup_shared(void) { return run_setup(SETUP_WORKERS, 1); }
/* setup_seq with TLS resumption off: the gain of resumption is the ratio. */
static int run_setup_seq_full(void) { return run_setup_as(1, 0, 1); }


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
    {"setup_seq", run_setup_seq},     {"setup_seq_full", run_setup_seq_full},
    {"setup_conc8", run_setup_conc8},
    {"setup_shared", run_setup_shared}, {"idle_mem", run_idle_mem},
    {"events_cb", run_events_cb},     {"events_poll", run_events_poll},
};
#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

/* Sets g_pull, g_piece, g_sendbuf, g_poll for a workload: the command line
 * wins over TUNING. POLL dispatch only for the workloads in TUNING (the
 * others wait on condition variables) and only in callback style. */
static void apply_tuning(const char *name) {
    const tuning *t = NULL;
    for (size_t i = 0; i < sizeof TUNING / sizeof TUNING[0]; i++)
        if (strcmp(TUNING[i].workload, name) == 0) t = &TUNING[i];
    g_pull = g_send >= 0 ? g_send == 1 : t ? t->pull : 0;
    g_nocopy = g_send == 2;
    g_piece = g_piece_opt ? g_piece_opt : t && t->piece ? t->piece : CHUNK;
    g_sendbuf = g_sendbuf_opt ? g_sendbuf_opt : t ? t->sendbuf : 0;
    g_poll = 0;
    if (t && g_style == STYLE_CALLBACK) g_poll = g_dispatch >= 0 ? g_dispatch : t->poll;
}

static void usage(FILE *f) {
    fprintf(f, "usage: gowt_bench [-w name,name,...] [-short] [-style callback|thread]\n"
               "                  [-send auto|push|pull|nocopy] [-gogc N] [-memlimit BYTES] [-piece BYTES] [-sendbuf BYTES]\n"
               "                  [-dispatch auto|thread|poll] [-evsize 1..1000]\nworkloads:");
    for (size_t i = 0; i < N_WORKLOADS; i++) fprintf(f, "%s%s", i ? "," : " ", workloads[i].name);
    fprintf(f, "\n");
}

/* "-x value" or "-x=value": returns the value and advances *i, or NULL. */
static const char *opt_value(const char *a, const char *name, int argc, char **argv, int *i) {
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] == 0 && *i + 1 < argc) return argv[++*i];
    return NULL;
}

/* Sets *out to the value paired with v's name (c may be NULL); -1 if none. */
static int pick(const char *v, const char *a, int av, const char *b, int bv,
                const char *c, int cv, int *out) {
    if (strcmp(v, a) == 0) *out = av;
    else if (strcmp(v, b) == 0) *out = bv;
    else if (c != NULL && strcmp(v, c) == 0) *out = cv;
    else return -1;
    return 0;
}

static int parse_size(const char *v, size_t *out) {
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (end == v) return -1;
    if (*end == 'k' || *end == 'K') x <<= 10, end++;
    else if (*end == 'm' || *end == 'M') x <<= 20, end++;
    if (*end != 0) return -1;
    *out = (size_t)x;
    return 0;
}

int main(int argc, char **argv) {
    const char *wspec = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (a[0] == '-' && a[1] == '-') a++; /* accept --flag too */
        if (strcmp(a, "-short") == 0) {
            g_short = 1;
        } else if ((v = opt_value(a, "-w", argc, argv, &i)) != NULL) {
            wspec = v;
        } else if ((v = opt_value(a, "-gogc", argc, argv, &i)) != NULL) {
            g_gogc = atoi(v);
        } else if ((v = opt_value(a, "-memlimit", argc, argv, &i)) != NULL) {
            g_memlimit = strtoll(v, NULL, 10);
        } else if ((v = opt_value(a, "-send", argc, argv, &i)) != NULL) {
            if (strcmp(v, "nocopy") == 0) {
                g_send = 2;
            } else if (pick(v, "push", 0, "pull", 1, "auto", -1, &g_send) != 0) {
                usage(stderr);
                return 2;
            }
        } else if ((v = opt_value(a, "-style", argc, argv, &i)) != NULL) {
            if (pick(v, "callback", STYLE_CALLBACK, "thread", STYLE_THREAD, NULL, 0, &g_style) != 0) {
                usage(stderr);
                return 2;
            }
        } else if ((v = opt_value(a, "-dispatch", argc, argv, &i)) != NULL) {
            if (pick(v, "thread", 0, "poll", 1, "auto", -1, &g_dispatch) != 0) {
                usage(stderr);
                return 2;
            }
        } else if ((v = opt_value(a, "-piece", argc, argv, &i)) != NULL) {
            if (parse_size(v, &g_piece_opt) != 0 || g_piece_opt == 0 || g_piece_opt > MAX_PIECE) {
                fprintf(stderr, "-piece: 1..%u bytes (k/M suffixes allowed)\n", MAX_PIECE);
                return 2;
            }
        } else if ((v = opt_value(a, "-sendbuf", argc, argv, &i)) != NULL) {
            if (parse_size(v, &g_sendbuf_opt) != 0) {
                usage(stderr);
                return 2;
            }
        } else if ((v = opt_value(a, "-evsize", argc, argv, &i)) != NULL) {
            g_evsize = (size_t)strtoul(v, NULL, 10);
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
    if (gowt_runtime_set_gc(g_memlimit, g_gogc, NULL, NULL) != GOWT_OK) {
        fprintf(stderr, "gowt_bench: bad -gogc / -memlimit\n");
        return 2;
    }
    cond_init_mono(&g_cv);
    g_pattern = malloc(MAX_PIECE);
    if (!g_pattern) {
        fprintf(stderr, "gowt_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < CHUNK; i++) g_pattern[i] = (uint8_t)(i * 7);
    for (size_t off = CHUNK; off < MAX_PIECE; off += CHUNK) memcpy(g_pattern + off, g_pattern, CHUNK);

    int failed = 0;
    for (size_t i = 0; i < N_WORKLOADS; i++) {
        if (!selected[i]) continue;
        g_workload = workloads[i].name;
        g_err[0] = 0;
        apply_tuning(g_workload);
        g_cpu0 = cpu_s();
        if (workloads[i].run() != 0) {
            fprintf(stderr, "gowt %-12s FAILED: %s\n", g_workload, g_err[0] ? g_err : "unknown error");
            failed = 1;
        }
        sleep_s(0.1); /* settle, as the Go side */
    }
    free(g_pattern);
    return failed ? 1 : 0;
}
