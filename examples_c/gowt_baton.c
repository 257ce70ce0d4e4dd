/*
 * gowt_baton.c - the WebTransport "devious baton" game
 * (draft-frindell-webtrans-devious-baton-00), server and client in one
 * program, written against the public header gowt.h only. The command line
 * and the client's output follow picoquic's pico_baton, so the same test
 * scripts can drive either program.
 *
 *   server: gowt_baton -p PORT [-c cert.pem -k key.pem] [options] PATH
 *   client: gowt_baton [options] HOST PORT "PATH?version=0&baton=N&count=K"
 *
 * The game: the server opens `count` unidirectional streams, each carrying a
 * baton (a byte). Whoever receives baton b passes b + 1 on (a new bidi stream
 * after a uni stream, the same stream when the peer opened the bidi stream,
 * a new uni stream when we opened it), until a baton wraps to 0. Some values
 * are also echoed as datagrams. When every lane has reached 0, the side that
 * received the last 0 closes the session with code 0.
 *
 * Sub-protocol: as pico_baton, the client offers "wrong-end-baton,
 * devious-baton-00" (-P changes that) and prints the server's choice
 * ("Sub-protocol: devious-baton-00"); the server chooses devious-baton-00
 * when offered and plays with clients that offer none too.
 *
 * How it uses gowt:
 * - POLL dispatch: every callback runs on the main thread inside
 *   gowt_ctx_process_events(), so the game state needs no locks, and the
 *   main loop can also retry work that waits for stream credit.
 * - One baton_session per WebTransport session (the session's app_ctx) and
 *   one baton_stream per stream (its stream_ctx), freed on
 *   GOWT_EV_DEREGISTER and GOWT_EV_FREE.
 * - Push sends: gowt_stream_send() is all-or-nothing; on
 *   GOWT_ERR_WOULD_BLOCK the stream keeps its message and sends it again on
 *   GOWT_EV_STREAM_WRITABLE.
 *
 * Exit status: 0 when the game really succeeded (client) or on SIGINT /
 * SIGTERM (server), 1 on failure, 2 on a command-line error.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 + SA_ONSTACK */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gowt.h"

/* ------------------------------------------------------------------------ */
/* Protocol constants                                                       */
/* ------------------------------------------------------------------------ */

/* Session close codes (CLOSE_WEBTRANSPORT_SESSION). */
enum {
    BATON_DA_YAMN = 0x01,   /* not enough stream credit to start the game */
    BATON_BRUH = 0x02,      /* malformed message or unexpected baton */
    BATON_GAME_OVER = 0x03, /* every remaining baton was lost to resets */
    BATON_BORED = 0x04      /* waited too long */
};

/* Stream error codes. We inject no faults, so we never send IDC (a
 * spontaneous STOP_SENDING) or I_LIED (a spontaneous reset); they are listed
 * to name what a peer may send. */
enum {
    BATON_IDC = 0x01,
    BATON_WHATEVER = 0x02, /* our reset answering STOP_SENDING or a reset */
    BATON_I_LIED = 0x03
};

#define BATON_MAX_LANES 256
#define BATON_PAD 0x3FFF       /* picoquic pads each stream baton this much... */
#define BATON_PAD_LIMIT 65536u /* ...while the session has sent at most 64 KiB */
#define BATON_MAX_MSG (2 + BATON_PAD + 1) /* varint(0x3FFF) + padding + value */

/* The WebTransport sub-protocol of the game (draft-frindell-webtrans-devious-
 * baton-00), negotiated as pico_baton does: its client offers a name no
 * server knows first, then the real one (WT-Available-Protocols); its server
 * answers with WT-Protocol "devious-baton-00", and still plays with clients
 * that offer nothing (browsers before sub-protocols, older peers). */
#define BATON_PROTOCOL "devious-baton-00"
#define BATON_CLIENT_OFFER "wrong-end-baton," BATON_PROTOCOL

/* Game state, printed as "Final baton state". 6 = closed is what pico_baton
 * prints for a finished game; scripts compare the number. */
enum baton_state {
    ST_NONE = 0,
    ST_CONNECTING = 1, /* client: CONNECT sent */
    ST_READY = 2,      /* session established, no baton received yet */
    ST_PLAYING = 3,    /* batons received */
    ST_FINISHED = 4,   /* every lane reached 0, session not closed yet */
    ST_ERROR = 5,      /* refused, or closed with an error code */
    ST_CLOSED = 6      /* closed with code 0 */
};

/* ------------------------------------------------------------------------ */
/* State                                                                    */
/* ------------------------------------------------------------------------ */

/* A lane is one baton travelling back and forth. */
typedef struct baton_lane {
    int started, done;
    uint8_t first, last_sent, last_received;
    int blocked; /* 0, or 1 + bidi: its next stream waits for stream credit */
} baton_lane;

enum { RX_LEN, RX_PAD, RX_VALUE, RX_DONE };  /* where the parser is */
enum { TX_NONE, TX_PENDING, TX_DONE };       /* our half of the stream */

/* One stream: the baton message coming in, and the one going out. */
typedef struct baton_stream {
    uint64_t id;
    int bidi, local;
    /* Receive: messages can arrive in any number of POST_DATA pieces, so
     * they are parsed incrementally (no need to keep 16 KiB of padding) and
     * acted upon at FIN, when the message is known to be complete. */
    int rx_phase;
    uint8_t rx_len[8]; /* the padding-length varint, 1..8 bytes */
    unsigned rx_len_got;
    uint64_t rx_pad_left;
    uint64_t rx_bytes;
    uint8_t rx_value;
    /* Send: one message (or an empty FIN) kept until the library takes it. */
    int tx_state;
    int tx_empty; /* the message is an empty FIN */
    uint8_t tx_value;
    size_t tx_pad;
    int sent_zero; /* we sent baton 0 here: an empty FIN back is normal */
    int reset_sent;
    int lost; /* counted in nb_lost */
} baton_stream;

/* The server's path callback receives the program context with CONNECT (and
 * with the DEREGISTER of a session refused before it had state of its own),
 * and the session's baton_session with everything else. The first member of
 * both structures tells them apart. */
enum { OWNER_APP = 1, OWNER_SESSION = 2 };

typedef struct baton_app baton_app;

typedef struct baton_session {
    int kind; /* OWNER_SESSION */
    baton_app *app;
    struct baton_session *prev, *next; /* app->sessions */
    gowt_session_t s;
    int is_client;
    int state;
    int closing;      /* we closed it, or CLOSE arrived: stop playing */
    int deregistered; /* the handle is gone */
    uint64_t close_code;
    char protocol[64]; /* the negotiated sub-protocol, "" for none */
    unsigned nb_lanes, nb_started, nb_done, nb_lost, nb_blocked, nb_turns;
    uint64_t bytes_sent, bytes_received, dgrams_sent, dgrams_received;
    baton_lane lanes[BATON_MAX_LANES];
} baton_session;

struct baton_app {
    int kind; /* OWNER_APP */
    gowt_ctx *ctx;
    FILE *log;      /* text log, or NULL */
    int log_events; /* -L */
    struct timespec start;
    baton_session *sessions; /* live sessions, for retries from the loop */
};

/* Command line. */
typedef struct baton_options {
    int server;
    unsigned port;
    const char *cert, *key, *ca, *sni, *qlog, *keylog, *log_file, *www;
    int log_events, have_pin;
    uint8_t pin[32];
    unsigned long timeout_s, idle_ms, max_sessions;
    const char *host, *port_arg, *path; /* client: HOST PORT PATH?QUERY */
    const char *protocols; /* client: offered sub-protocols ("" = none) */
} baton_options;

/* Set by SIGINT / SIGTERM; the main loop polls it. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

static double elapsed(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) +
           (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

#if defined(__GNUC__)
#define BATON_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BATON_PRINTF(f, a)
#endif

static void app_log(const baton_app *app, const char *fmt, ...) BATON_PRINTF(2, 3);

static void app_log(const baton_app *app, const char *fmt, ...)
{
    va_list ap;
    if (app->log == NULL)
        return;
    fprintf(app->log, "%9.3f ", elapsed(&app->start));
    va_start(ap, fmt);
    vfprintf(app->log, fmt, ap);
    va_end(ap);
    fputc('\n', app->log);
    fflush(app->log);
}

/* An API call failed: say which, why, and the context's last message. */
static void report(const baton_app *app, const char *what, int rc)
{
    char msg[256] = "";
    /* Best effort: on failure msg stays empty (or truncated on RANGE). */
    (void)gowt_ctx_last_error(app->ctx, msg, sizeof msg);
    fprintf(stderr, "gowt_baton: %s: %s%s%s\n", what, gowt_strerror(rc),
            msg[0] ? " - " : "", msg);
    app_log(app, "%s failed: %s %s", what, gowt_strerror(rc), msg);
}

/* ------------------------------------------------------------------------ */
/* Baton messages                                                           */
/* ------------------------------------------------------------------------ */

/* Encode "padding length (QUIC varint), padding (zeros), value" into out,
 * which has room for BATON_MAX_MSG bytes; pad <= 0x3FFF. */
static size_t baton_encode(uint8_t *out, size_t pad, uint8_t value)
{
    size_t n = 0;
    if (pad < 64) {
        out[n++] = (uint8_t)pad;
    } else {
        out[n++] = (uint8_t)(0x40 | (pad >> 8));
        out[n++] = (uint8_t)(pad & 0xff);
    }
    memset(out + n, 0, pad);
    n += pad;
    out[n++] = value;
    return n;
}

/* A datagram must hold exactly one baton message. Returns 1 and sets *value
 * when it does, 0 when it is malformed. */
static int baton_decode(const uint8_t *p, size_t n, uint8_t *value)
{
    size_t len, i;
    uint64_t pad;
    if (n == 0)
        return 0;
    len = (size_t)1 << (p[0] >> 6);
    if (n < len)
        return 0;
    pad = p[0] & 0x3f;
    for (i = 1; i < len; i++)
        pad = pad << 8 | p[i];
    if (n - len - 1 != pad) /* n - len - 1 wraps to SIZE_MAX when n == len */
        return 0;
    *value = p[n - 1];
    return 1;
}

/* Feed stream bytes to the parser. Returns -1 on bytes after the baton. */
static int rx_feed(baton_stream *st, const uint8_t *p, size_t n)
{
    st->rx_bytes += n;
    while (n > 0) {
        switch (st->rx_phase) {
        case RX_LEN:
            st->rx_len[st->rx_len_got++] = *p++;
            n--;
            if (st->rx_len_got == 1u << (st->rx_len[0] >> 6)) {
                unsigned i;
                st->rx_pad_left = st->rx_len[0] & 0x3f;
                for (i = 1; i < st->rx_len_got; i++)
                    st->rx_pad_left = st->rx_pad_left << 8 | st->rx_len[i];
                st->rx_phase = st->rx_pad_left ? RX_PAD : RX_VALUE;
            }
            break;
        case RX_PAD: {
            size_t k = n < st->rx_pad_left ? n : (size_t)st->rx_pad_left;
            p += k;
            n -= k;
            st->rx_pad_left -= k;
            if (st->rx_pad_left == 0)
                st->rx_phase = RX_VALUE;
            break;
        }
        case RX_VALUE:
            st->rx_value = *p++;
            n--;
            st->rx_phase = RX_DONE;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */
/* ------------------------------------------------------------------------ */

static baton_session *session_new(baton_app *app, int is_client, unsigned lanes)
{
    baton_session *sess = calloc(1, sizeof *sess);
    if (sess == NULL)
        return NULL;
    sess->kind = OWNER_SESSION;
    sess->app = app;
    sess->is_client = is_client;
    sess->nb_lanes = lanes;
    sess->next = app->sessions;
    if (app->sessions)
        app->sessions->prev = sess;
    app->sessions = sess;
    return sess;
}

static void session_unlink(baton_session *sess)
{
    if (sess->prev)
        sess->prev->next = sess->next;
    else if (sess->app->sessions == sess)
        sess->app->sessions = sess->next;
    if (sess->next)
        sess->next->prev = sess->prev;
    sess->prev = sess->next = NULL;
}

/* Close once; later failures and resets are then part of the teardown. */
static void session_close(gowt_ctx *ctx, baton_session *sess, uint32_t code,
                          const char *reason)
{
    int rc;
    if (sess->closing)
        return;
    sess->closing = 1;
    app_log(sess->app, "session %" PRIu64 ": closing, code 0x%02x (%s)", sess->s,
            (unsigned)code, reason);
    rc = gowt_session_close(ctx, sess->s, code, reason, strlen(reason));
    if (rc != GOWT_OK && rc != GOWT_ERR_CLOSED)
        report(sess->app, "gowt_session_close", rc);
}

static void bruh(gowt_ctx *ctx, baton_session *sess, const char *why)
{
    app_log(sess->app, "session %" PRIu64 ": BRUH: %s", sess->s, why);
    session_close(ctx, sess, BATON_BRUH, why);
}

/* A baton was lost with its stream. When no lane can finish any more, the
 * game is over. */
static void baton_lost(gowt_ctx *ctx, baton_session *sess)
{
    sess->nb_lost++;
    app_log(sess->app, "session %" PRIu64 ": a baton was lost (%u lost, %u/%u done)",
            sess->s, sess->nb_lost, sess->nb_done, sess->nb_lanes);
    if (sess->nb_done < sess->nb_lanes &&
        sess->nb_done + sess->nb_lost >= sess->nb_lanes)
        session_close(ctx, sess, BATON_GAME_OVER, "Game over");
}

/* The baton this stream carries will never get through: count it once. */
static void stream_lost(gowt_ctx *ctx, baton_session *sess, baton_stream *st)
{
    if (st->lost || sess->closing)
        return;
    st->lost = 1;
    baton_lost(ctx, sess);
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */
/* ------------------------------------------------------------------------ */

static baton_stream *stream_new(uint64_t id, int bidi, int local)
{
    baton_stream *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->id = id;
    st->bidi = bidi;
    st->local = local;
    return st;
}

/* Our state for the stream of a stream event. Streams the peer opens get it
 * on their first event (STREAM_OPENED, or data if that comes first). Without
 * it the stream's baton cannot be followed: end the game at once rather than
 * let it stall. */
static baton_stream *stream_of(gowt_ctx *ctx, baton_session *sess,
                               const gowt_event *ev)
{
    baton_stream *st = ev->stream_ctx;
    int rc;
    if (st != NULL)
        return st;
    st = stream_new(ev->stream_id, (ev->flags & GOWT_STREAM_BIDI) != 0,
                    (ev->flags & GOWT_STREAM_LOCAL) != 0);
    if (st == NULL) {
        session_close(ctx, sess, BATON_GAME_OVER, "Out of memory");
        return NULL;
    }
    rc = gowt_stream_set_ctx(ctx, ev->session, ev->stream_id, st);
    if (rc != GOWT_OK) {
        free(st);
        if (rc == GOWT_ERR_CLOSED) /* the session is ending anyway */
            return NULL;
        report(sess->app, "gowt_stream_set_ctx", rc);
        session_close(ctx, sess, BATON_GAME_OVER, "Lost track of a stream");
        return NULL;
    }
    return st;
}

/* Hand the stream's message to the library. On GOWT_ERR_WOULD_BLOCK it
 * stays TX_PENDING and GOWT_EV_STREAM_WRITABLE calls us again. */
static void stream_flush(gowt_ctx *ctx, baton_session *sess, baton_stream *st)
{
    uint8_t msg[BATON_MAX_MSG];
    size_t n = st->tx_empty ? 0 : baton_encode(msg, st->tx_pad, st->tx_value);
    int rc = gowt_stream_send(ctx, sess->s, st->id, msg, n, 1);
    if (rc == GOWT_ERR_WOULD_BLOCK)
        return;
    st->tx_state = TX_DONE;
    if (rc != GOWT_OK) {
        /* CLOSED: the peer stopped the stream (we answered with a reset) or
         * the session is ending. Either way this baton will not arrive. */
        if (rc != GOWT_ERR_CLOSED)
            report(sess->app, "gowt_stream_send", rc);
        if (!st->tx_empty && !st->sent_zero)
            stream_lost(ctx, sess, st);
        return;
    }
    sess->bytes_sent += n;
}

/* Send one baton, then FIN. Padding as picoquic does: the first 64 KiB of
 * the session are padded, which exercises flow control. */
static void send_baton(gowt_ctx *ctx, baton_session *sess, baton_stream *st,
                       uint8_t value)
{
    st->tx_state = TX_PENDING;
    st->tx_empty = 0;
    st->tx_value = value;
    st->tx_pad = sess->bytes_sent <= BATON_PAD_LIMIT ? BATON_PAD : 0;
    if (value == 0)
        st->sent_zero = 1;
    stream_flush(ctx, sess, st);
}

/* End our half of the stream with no data (the answer to a final 0). */
static void send_empty_fin(gowt_ctx *ctx, baton_session *sess, baton_stream *st)
{
    st->tx_state = TX_PENDING;
    st->tx_empty = 1;
    stream_flush(ctx, sess, st);
}

static void stream_reset(gowt_ctx *ctx, baton_session *sess, baton_stream *st,
                         uint32_t code)
{
    int rc;
    if (st->reset_sent)
        return;
    st->reset_sent = 1;
    st->tx_state = TX_DONE; /* drop anything still pending */
    rc = gowt_stream_reset(ctx, sess->s, st->id, code);
    /* CLOSED: our half was already complete, nothing to abort. */
    if (rc != GOWT_OK && rc != GOWT_ERR_CLOSED)
        report(sess->app, "gowt_stream_reset", rc);
}

/* Open a new stream for a lane and send the lane's last_sent value on it.
 * Returns GOWT_OK, or the error of gowt_create_local_stream: GOWT_ERR_LIMIT
 * (no stream credit now; the caller decides what that means), or
 * GOWT_ERR_CLOSED (the session is ending, maybe closed by the peer). */
static int open_and_send(gowt_ctx *ctx, baton_session *sess, unsigned lane,
                         int bidi)
{
    baton_stream *st = stream_new(GOWT_NO_ID, bidi, 1);
    int rc;
    if (st == NULL)
        return GOWT_ERR_INTERNAL;
    rc = gowt_create_local_stream(ctx, sess->s, bidi, st, &st->id);
    if (rc != GOWT_OK) {
        free(st); /* never known to the library: no FREE event will come */
        if (rc != GOWT_ERR_LIMIT && rc != GOWT_ERR_CLOSED)
            report(sess->app, "gowt_create_local_stream", rc);
        return rc;
    }
    send_baton(ctx, sess, st, sess->lanes[lane].last_sent);
    return GOWT_OK;
}

/* Mid-game, no stream credit only means "later": the main loop retries. */
static void pass_on_new_stream(gowt_ctx *ctx, baton_session *sess,
                               unsigned lane, int bidi)
{
    int rc = open_and_send(ctx, sess, lane, bidi);
    if (rc == GOWT_ERR_LIMIT) {
        char why[128];
        if (gowt_ctx_last_error(ctx, why, sizeof why) < 0)
            why[0] = '\0';
        app_log(sess->app, "session %" PRIu64 ": lane %u waits for %s stream credit (%s)",
                sess->s, lane, bidi ? "bidi" : "uni", why);
        sess->lanes[lane].blocked = 1 + bidi;
        sess->nb_blocked++;
    } else if (rc != GOWT_OK) {
        baton_lost(ctx, sess);
    }
}

/* Called from the main loop, outside callbacks: lanes waiting for stream
 * credit try again (the peer raises its limit without telling us). */
static void retry_blocked(gowt_ctx *ctx, baton_app *app)
{
    baton_session *sess;
    unsigned i;
    for (sess = app->sessions; sess != NULL; sess = sess->next) {
        for (i = 0; i < sess->nb_started && sess->nb_blocked > 0 && !sess->closing;
             i++) {
            baton_lane *lane = &sess->lanes[i];
            int rc;
            if (!lane->blocked)
                continue;
            rc = open_and_send(ctx, sess, i, lane->blocked - 1);
            if (rc == GOWT_ERR_LIMIT)
                break; /* still no credit: next time */
            app_log(app, "session %" PRIu64 ": lane %u got stream credit", sess->s, i);
            lane->blocked = 0;
            sess->nb_blocked--;
            if (rc != GOWT_OK)
                baton_lost(ctx, sess);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The game                                                                 */
/* ------------------------------------------------------------------------ */

/* The lane a received value belongs to: one more than what we last sent on
 * it. Otherwise the value starts a free lane (the client's lanes start from
 * the server's first batons); with no lane free it fits nowhere (NULL). */
static baton_lane *lane_for(baton_session *sess, uint8_t v)
{
    unsigned i;
    for (i = 0; i < sess->nb_started; i++) {
        baton_lane *lane = &sess->lanes[i];
        if (lane->started && !lane->done && (uint8_t)(lane->last_sent + 1) == v)
            return lane;
    }
    if (sess->nb_started < sess->nb_lanes) {
        baton_lane *lane = &sess->lanes[sess->nb_started++];
        lane->started = 1;
        lane->first = v;
        return lane;
    }
    return NULL;
}

static void send_datagram_baton(gowt_ctx *ctx, baton_session *sess, uint8_t v)
{
    uint8_t msg[2];
    size_t n = baton_encode(msg, 0, v);
    int rc = gowt_send_datagram(ctx, sess->s, msg, n);
    if (rc == GOWT_OK)
        sess->dgrams_sent++;
    else if (rc == GOWT_ERR_WOULD_BLOCK || rc == GOWT_ERR_TOO_LARGE)
        app_log(sess->app, "datagram %u dropped: %s", v, gowt_strerror(rc));
    else /* datagrams are unreliable anyway: not a reason to stop */
        report(sess->app, "gowt_send_datagram", rc);
}

/* A complete baton message with value v arrived on st. */
static void on_baton(gowt_ctx *ctx, baton_session *sess, baton_stream *st,
                     uint8_t v)
{
    baton_lane *lane = lane_for(sess, v);
    unsigned idx;
    uint8_t next = (uint8_t)(v + 1);
    char why[64];

    if (lane == NULL) {
        snprintf(why, sizeof why, "Baton 0x%02x fits no lane", v);
        bruh(ctx, sess, why);
        return;
    }
    idx = (unsigned)(lane - sess->lanes);
    lane->last_received = v;
    sess->nb_turns++;
    if (sess->state < ST_PLAYING)
        sess->state = ST_PLAYING;

    if (v == 0) {
        /* The lane is over. A bidi stream the peer opened still has our
         * half open: end it with an empty FIN, as picoquic does. */
        lane->done = 1;
        sess->nb_done++;
        app_log(sess->app, "session %" PRIu64 ": lane %u done (%u/%u)", sess->s,
                idx, sess->nb_done, sess->nb_lanes);
        if (st->bidi && !st->local)
            send_empty_fin(ctx, sess, st);
        if (sess->nb_done == sess->nb_lanes) {
            sess->state = ST_FINISHED;
            /* We received the last 0, so we end the session. */
            session_close(ctx, sess, 0, "Have a nice day");
        }
        return;
    }

    /* Echo some values as datagrams: the client those with v % 7 == 1,
     * the server those with v % 7 == 0. */
    if (v % 7 == (sess->is_client ? 1 : 0))
        send_datagram_baton(ctx, sess, v);

    lane->last_sent = next;
    if (next == 0) {
        /* Our 0 ends the lane; the peer closes once every lane is done. */
        lane->done = 1;
        sess->nb_done++;
        if (sess->nb_done == sess->nb_lanes)
            sess->state = ST_FINISHED;
    }
    if (st->bidi && !st->local)
        send_baton(ctx, sess, st, next);         /* answer on the same stream */
    else
        pass_on_new_stream(ctx, sess, idx, !st->bidi); /* uni->bidi, bidi->uni */
}

static void on_stream_data(gowt_ctx *ctx, baton_session *sess,
                           const gowt_event *ev)
{
    baton_stream *st;
    sess->bytes_received += ev->length;
    if (sess->closing)
        return;
    st = stream_of(ctx, sess, ev);
    if (st == NULL || st->lost)
        return;
    if (rx_feed(st, ev->data, ev->length) != 0) {
        bruh(ctx, sess, "Bytes after the baton");
        return;
    }
    if (ev->type != GOWT_EV_POST_FIN)
        return;
    if (st->rx_phase != RX_DONE) {
        /* The peer ends a stream on which it received our final 0 with an
         * empty FIN: that is the end of the lane, not a malformed message. */
        if (st->rx_bytes == 0 && st->sent_zero)
            return;
        bruh(ctx, sess, "FIN before the baton");
        return;
    }
    on_baton(ctx, sess, st, st->rx_value);
}

/* The peer reset its half of a stream. */
static void on_reset(gowt_ctx *ctx, baton_session *sess, const gowt_event *ev)
{
    baton_stream *st;
    if (sess->closing)
        return; /* closing resets every stream; that is not a lost baton */
    st = stream_of(ctx, sess, ev);
    if (st == NULL)
        return;
    app_log(sess->app, "session %" PRIu64 ": stream %" PRIu64 " reset, code %" PRIu64,
            sess->s, st->id, ev->code);
    if (st->bidi)
        stream_reset(ctx, sess, st, BATON_WHATEVER); /* close both halves */
    /* A baton was on its way to us unless we only awaited an empty FIN. */
    if (st->rx_phase != RX_DONE && !st->sent_zero)
        stream_lost(ctx, sess, st);
}

/* The peer does not want what we send on a stream. */
static void on_stop_sending(gowt_ctx *ctx, baton_session *sess,
                            const gowt_event *ev)
{
    baton_stream *st;
    int had_baton;
    if (sess->closing)
        return;
    st = stream_of(ctx, sess, ev);
    if (st == NULL)
        return;
    app_log(sess->app, "session %" PRIu64 ": stream %" PRIu64 " stopped, code %" PRIu64,
            sess->s, st->id, ev->code);
    /* The baton we sent (unless it was the final 0) will not arrive. One we
     * have yet to send here is lost when gowt_stream_send refuses it. */
    had_baton = st->tx_state != TX_NONE && !st->tx_empty && !st->sent_zero;
    stream_reset(ctx, sess, st, BATON_WHATEVER);
    if (had_baton)
        stream_lost(ctx, sess, st);
}

static void on_datagram(baton_session *sess, const gowt_event *ev)
{
    uint8_t v;
    if (baton_decode(ev->data, ev->length, &v)) {
        sess->dgrams_received++;
        app_log(sess->app, "session %" PRIu64 ": datagram baton 0x%02x", sess->s, v);
    } else {
        app_log(sess->app, "session %" PRIu64 ": malformed datagram ignored (%zu bytes)",
                sess->s, ev->length);
    }
}

static void on_close(baton_session *sess, const gowt_event *ev)
{
    sess->closing = 1;
    sess->close_code = ev->code;
    sess->state = ev->code == 0 && !(ev->flags & GOWT_CLOSE_ERROR) ? ST_CLOSED
                                                                   : ST_ERROR;
    app_log(sess->app,
            "session %" PRIu64 ": closed by %s, code 0x%02" PRIx64 " \"%.*s\", "
            "%u turns, %u/%u lanes done, %u lost",
            sess->s,
            (ev->flags & GOWT_CLOSE_ERROR)    ? "an error"
            : (ev->flags & GOWT_CLOSE_REMOTE) ? "the peer"
                                              : "us",
            ev->code, (int)ev->length, ev->data ? (const char *)ev->data : "",
            sess->nb_turns, sess->nb_done, sess->nb_lanes, sess->nb_lost);
}

static void log_event(const baton_app *app, const gowt_event *ev)
{
    app_log(app,
            "event %s session %" PRIu64 " (id %" PRId64 ") stream %" PRId64
            " length %zu code %" PRIu64 " flags 0x%x",
            gowt_event_name(ev->type), ev->session, (int64_t)ev->session_id,
            (int64_t)ev->stream_id, ev->length, ev->code, (unsigned)ev->flags);
}

/* Every event of a session with its own state. */
static void session_event(gowt_ctx *ctx, const gowt_event *ev, baton_session *sess)
{
    if (sess->app->log_events)
        log_event(sess->app, ev);
    switch (ev->type) {
    case GOWT_EV_CONNECTING:
        sess->state = ST_CONNECTING;
        break;
    case GOWT_EV_CONNECT_ACCEPTED:
        sess->state = ST_READY;
        snprintf(sess->protocol, sizeof sess->protocol, "%s",
                 ev->protocol ? ev->protocol : "");
        app_log(sess->app, "session %" PRIu64 ": accepted, sub-protocol %s", sess->s,
                sess->protocol[0] ? sess->protocol : "none");
        /* A server that chose nothing plays the game all the same; one
         * that chose another protocol (our decoy "wrong-end-baton", say)
         * would play a game we do not know. */
        if (sess->protocol[0] && strcmp(sess->protocol, BATON_PROTOCOL) != 0) {
            fprintf(stderr, "gowt_baton: the server chose sub-protocol \"%s\", not \"%s\"\n",
                    sess->protocol, BATON_PROTOCOL);
            bruh(ctx, sess, "Wrong sub-protocol");
        }
        break;
    case GOWT_EV_CONNECT_REFUSED:
        sess->state = ST_ERROR;
        sess->closing = 1;
        /* code: the HTTP status, or 0 when no response came (handshake or
         * certificate failure); data: the reason text. */
        fprintf(stderr, "gowt_baton: session refused (HTTP %" PRIu64 "): %.*s\n",
                ev->code, (int)ev->length, ev->data ? (const char *)ev->data : "");
        break;
    case GOWT_EV_STREAM_OPENED:
        if (!sess->closing)
            (void)stream_of(ctx, sess, ev);
        break;
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        on_stream_data(ctx, sess, ev);
        break;
    case GOWT_EV_STREAM_WRITABLE: {
        baton_stream *st = ev->stream_ctx;
        if (st != NULL && st->tx_state == TX_PENDING)
            stream_flush(ctx, sess, st);
        break;
    }
    case GOWT_EV_POST_DATAGRAM:
        on_datagram(sess, ev);
        break;
    case GOWT_EV_RESET:
        on_reset(ctx, sess, ev);
        break;
    case GOWT_EV_STOP_SENDING:
        on_stop_sending(ctx, sess, ev);
        break;
    case GOWT_EV_CLOSE:
        on_close(sess, ev);
        break;
    case GOWT_EV_DRAIN:
        /* A game is short: finish it rather than stopping halfway. */
        app_log(sess->app, "session %" PRIu64 ": peer asks to drain", sess->s);
        break;
    case GOWT_EV_FREE:
        free(ev->stream_ctx);
        break;
    case GOWT_EV_DEREGISTER:
        sess->deregistered = 1;
        session_unlink(sess);
        if (!sess->is_client) /* the client's main() still prints it */
            free(sess);
        break;
    default: /* pull-mode events and types newer than this program */
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

static int is_key(const char *s, size_t len, const char *key)
{
    return len == strlen(key) && memcmp(s, key, len) == 0;
}

/* Decimal number of 1..9 digits, at most max. Returns 0 on success. */
static int parse_decimal(const char *s, size_t len, unsigned long max,
                         unsigned long *out)
{
    size_t i;
    unsigned long v = 0;
    if (len == 0 || len > 9)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parse "version=0&baton=N&count=K". *baton is 0 when the server chooses.
 * Unknown keys (picoquic's "inject", say) are ignored. Returns 0 if valid. */
static int parse_query(const char *q, unsigned *baton, unsigned *count)
{
    *baton = 0;
    *count = 1;
    while (*q != '\0') {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        const char *val = eq ? eq + 1 : q + len;
        size_t klen = eq ? (size_t)(eq - q) : len;
        size_t vlen = (size_t)(q + len - val);
        unsigned long v;
        if (is_key(q, klen, "version")) {
            if (parse_decimal(val, vlen, 0, &v) != 0)
                return -1;
        } else if (is_key(q, klen, "baton")) {
            if (parse_decimal(val, vlen, 255, &v) != 0)
                return -1;
            *baton = (unsigned)v;
        } else if (is_key(q, klen, "count")) {
            if (parse_decimal(val, vlen, BATON_MAX_LANES, &v) != 0 || v == 0)
                return -1;
            *count = (unsigned)v;
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* GOWT_EV_CONNECT: check the query, accept, and deal the first batons. */
static int server_on_connect(gowt_ctx *ctx, const gowt_event *ev, baton_app *app)
{
    const char *query = ev->request && ev->request->query ? ev->request->query : "";
    unsigned baton, count, i;
    baton_session *sess;
    int rc;

    if (parse_query(query, &baton, &count) != 0) {
        app_log(app, "session %" PRIu64 ": refused, bad query \"%s\"", ev->session,
                query);
        return 400;
    }
    if (baton == 0)
        baton = 1 + (unsigned)rand() % 255;

    sess = session_new(app, 0, count);
    if (sess == NULL)
        return 500;
    sess->s = ev->session;
    rc = gowt_session_set_app_ctx(ctx, ev->session, sess);
    if (rc != GOWT_OK) {
        report(app, "gowt_session_set_app_ctx", rc);
        session_unlink(sess);
        free(sess);
        return 500;
    }
    /* The sub-protocol: ours when offered (WT-Protocol "devious-baton-00",
     * as pico_baton answers), none when the client offers nothing or only
     * names we do not speak: the game is played all the same. */
    for (i = 0; ev->request && i < ev->request->protocol_count; i++) {
        if (strcmp(ev->request->protocols[i], BATON_PROTOCOL) == 0)
            snprintf(sess->protocol, sizeof sess->protocol, "%s", BATON_PROTOCOL);
    }
    /* From here on, this session's events (DEREGISTER included) carry sess,
     * which DEREGISTER frees. Streams can only be opened once the session is
     * established, so accept now instead of by returning 0. */
    rc = gowt_session_accept(ctx, ev->session, sess->protocol[0] ? sess->protocol : NULL);
    if (rc != GOWT_OK) {
        report(app, "gowt_session_accept", rc);
        return 500;
    }
    sess->state = ST_READY;
    app_log(app, "session %" PRIu64 ": accepted %s?%s, baton %u, count %u, "
            "sub-protocol %s (offered: %u)",
            sess->s, ev->request ? ev->request->path : "?", query, baton, count,
            sess->protocol[0] ? sess->protocol : "none",
            ev->request ? (unsigned)ev->request->protocol_count : 0u);

    for (i = 0; i < count && !sess->closing; i++) {
        baton_lane *lane = &sess->lanes[sess->nb_started++];
        lane->started = 1;
        lane->first = lane->last_sent = (uint8_t)baton;
        rc = open_and_send(ctx, sess, i, 0);
        if (rc == GOWT_ERR_LIMIT) /* the client must allow `count` streams */
            session_close(ctx, sess, BATON_DA_YAMN, "Not enough streams");
        else if (rc == GOWT_ERR_CLOSED)
            break; /* already closed (by the peer): CLOSE follows */
        else if (rc != GOWT_OK)
            session_close(ctx, sess, BATON_GAME_OVER, "Cannot open streams");
    }
    return 0;
}

/* Events of a server path: CONNECT carries the program context, later ones
 * the session's state. */
static int on_event(gowt_ctx *ctx, const gowt_event *ev, void *app_ctx)
{
    if (app_ctx == NULL)
        return 0;
    if (*(const int *)app_ctx == OWNER_APP) {
        baton_app *app = app_ctx;
        if (app->log_events)
            log_event(app, ev);
        return ev->type == GOWT_EV_CONNECT ? server_on_connect(ctx, ev, app) : 0;
    }
    session_event(ctx, ev, app_ctx);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Main loop                                                                */
/* ------------------------------------------------------------------------ */

/* Deliver events on this thread until a signal, the client session's end or
 * the deadline (0: none). Returns 0, 1 on deadline, -1 on failure. */
static int event_loop(baton_app *app, const baton_session *client, double deadline)
{
    int fd, rc;

    rc = gowt_ctx_get_fd(app->ctx, &fd);
    if (rc != GOWT_OK) {
        report(app, "gowt_ctx_get_fd", rc);
        return -1;
    }
    while (!stop_requested && !(client != NULL && client->deregistered)) {
        struct pollfd pfd;
        /* Wake up at least every 100 ms: a signal may hit another thread
         * (poll then does not return EINTR) and blocked lanes retry. */
        int wait_ms = 100;
        if (deadline > 0) {
            double left = deadline - elapsed(&app->start);
            if (left <= 0)
                return 1;
            if (left * 1000 < wait_ms)
                wait_ms = (int)(left * 1000) + 1;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
            perror("gowt_baton: poll");
            return -1;
        }
        rc = gowt_ctx_process_events(app->ctx, 0);
        if (rc < 0) {
            report(app, "gowt_ctx_process_events", rc);
            return -1;
        }
        retry_blocked(app->ctx, app);
    }
    return 0;
}

static int run_server(baton_app *app, const baton_options *o)
{
    gowt_path_options po;
    uint16_t port = 0;
    int rc;

    gowt_path_options_init(&po);
    po.allowed_origins = "*"; /* like pico_baton: any page may play */
    po.protocols = BATON_PROTOCOL; /* server_on_connect also chooses it */
    rc = gowt_server_register(app->ctx, o->path, on_event, app, &po);
    if (rc != GOWT_OK) {
        report(app, "gowt_server_register", rc);
        return 1;
    }
    rc = gowt_server_listen(app->ctx, NULL, (uint16_t)o->port, &port);
    if (rc != GOWT_OK) {
        report(app, "gowt_server_listen", rc);
        return 1;
    }
    if (o->cert == NULL) {
        uint8_t hash[32];
        int i;
        rc = gowt_ctx_cert_hash(app->ctx, hash);
        if (rc != GOWT_OK) {
            report(app, "gowt_ctx_cert_hash", rc);
            return 1;
        }
        printf("Certificate SHA-256: ");
        for (i = 0; i < 32; i++)
            printf("%02x", hash[i]);
        printf("\n");
    }
    /* Test harnesses wait for this exact line. */
    printf("Listening on port %u\n", (unsigned)port);
    fflush(stdout);
    app_log(app, "serving %s on port %u", o->path, (unsigned)port);

    return event_loop(app, NULL, 0) < 0 ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

/* Success as pico_baton judges it, plus a clean close: closed with code 0,
 * turns played, every lane ended (our last value 0xff or 0x00). */
static int client_succeeded(const baton_session *sess)
{
    unsigned i;
    if (sess->state != ST_CLOSED || sess->close_code != 0 || sess->nb_turns == 0)
        return 0;
    for (i = 0; i < sess->nb_lanes; i++) {
        const baton_lane *lane = &sess->lanes[i];
        if (!lane->done || (lane->last_sent != 0x00 && lane->last_sent != 0xff))
            return 0;
    }
    return 1;
}

static void client_print(const baton_session *sess)
{
    unsigned i;
    printf("Final baton state: %d\n", sess->state);
    printf("Nb turns: %u\n", sess->nb_turns);
    for (i = 0; i < sess->nb_lanes; i++)
        printf("Lane %u, first baton: 0x%02x, last sent: 0x%02x, last received: 0x%02x\n",
               i, sess->lanes[i].first, sess->lanes[i].last_sent,
               sess->lanes[i].last_received);
    printf("Bytes sent: %" PRIu64 "\n", sess->bytes_sent);
    printf("Bytes received: %" PRIu64 "\n", sess->bytes_received);
    printf("Datagrams sent: %" PRIu64 "\n", sess->dgrams_sent);
    printf("Datagrams received: %" PRIu64 "\n", sess->dgrams_received);
    printf("Sub-protocol: %s\n", sess->protocol[0] ? sess->protocol : "none");
    fflush(stdout);
}

/* Start the session and play until it ends. *out receives the session
 * state (or NULL); main() prints it after gowt_ctx_destroy. */
static int run_client(baton_app *app, const baton_options *o, baton_session **out)
{
    gowt_connect_options co;
    baton_session *sess;
    const char *query = strchr(o->path, '?');
    unsigned baton = 0, count = 1;
    char url[2048];
    int n, rc;

    /* Lanes we expect: the count we ask for. A bad query is sent anyway:
     * the server's refusal is the answer the user should see. */
    if (query != NULL && parse_query(query + 1, &baton, &count) != 0)
        count = 1;
    n = snprintf(url, sizeof url, "https://%s%s%s:%s%s%s",
                 strchr(o->host, ':') ? "[" : "", o->host,
                 strchr(o->host, ':') ? "]" : "", o->port_arg,
                 o->path[0] == '/' ? "" : "/", o->path);
    if (n < 0 || (size_t)n >= sizeof url) {
        fprintf(stderr, "gowt_baton: URL too long\n");
        return 1;
    }
    sess = session_new(app, 1, count);
    if (sess == NULL) {
        fprintf(stderr, "gowt_baton: out of memory\n");
        return 1;
    }
    *out = sess;

    gowt_connect_options_init(&co);
    co.sni = o->sni;
    co.protocols = o->protocols[0] ? o->protocols : NULL;
    app_log(app, "connecting to %s", url);
    rc = gowt_connect(app->ctx, url, &co, on_event, sess, &sess->s);
    if (rc != GOWT_OK) {
        report(app, "gowt_connect", rc);
        sess->state = ST_ERROR;
        return 1;
    }
    sess->state = ST_CONNECTING;

    rc = event_loop(app, sess, o->timeout_s ? (double)o->timeout_s : 0);
    if (!sess->deregistered && !sess->closing) {
        /* Deadline or signal: end the game with a code of its own, so that
         * the close of gowt_ctx_destroy (code 0) cannot pass for success. */
        if (rc == 1)
            fprintf(stderr, "gowt_baton: no result after %lu s\n", o->timeout_s);
        session_close(app->ctx, sess, BATON_BORED, "Bored");
    }
    return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  server: gowt_baton -p PORT [-c CERT -k KEY] [options] PATH   (PATH * = any)\n"
            "  client: gowt_baton [options] HOST PORT \"PATH?version=0&baton=N&count=K\"\n"
            "options:\n"
            "  -p PORT     server: UDP port to listen on (0: any free port)\n"
            "  -c FILE     server: certificate chain (PEM); default: a generated one\n"
            "  -k FILE     server: private key (PEM)\n"
            "  -x N        server: maximum number of sessions\n"
            "  -w DIR      server: also serve files from DIR to plain HTTP/3 GET\n"
            "  -t FILE     client: trust this CA bundle (PEM)\n"
            "  -H HEX      client: accept the certificate with this SHA-256\n"
            "              (without -t or -H the certificate is not verified)\n"
            "  -n NAME     client: TLS server name (SNI)\n"
            "  -P LIST     client: offered sub-protocols, comma-separated (\"\": none;\n"
            "              default \"" BATON_CLIENT_OFFER "\", as pico_baton)\n"
            "  -T SECONDS  client: fail after this long (default 30, 0: no limit)\n"
            "  -d MS       idle timeout in milliseconds\n"
            "  -q DIR      write qlog files into DIR\n"
            "  -8 FILE     append TLS secrets to FILE (key log)\n"
            "  -l FILE     text log to FILE (\"-\": stdout)\n"
            "  -L          log every event (to stderr without -l)\n"
            "  -h          this help\n");
}

static int parse_number(const char *opt, const char *s, unsigned long max,
                        unsigned long *out)
{
    if (parse_decimal(s, strlen(s), max, out) != 0) {
        fprintf(stderr, "gowt_baton: %s: expected a number up to %lu, got \"%s\"\n",
                opt, max, s);
        return -1;
    }
    return 0;
}

static int parse_hex32(const char *s, uint8_t out[32])
{
    int i;
    if (strlen(s) != 64)
        return -1;
    for (i = 0; i < 64; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(d << 4);
        else
            out[i / 2] |= (uint8_t)d;
    }
    return 0;
}

/* Returns 0, or the exit status (2: error, 0 after -h). */
static int parse_args(int argc, char **argv, baton_options *o)
{
    unsigned long v;
    int c;

    memset(o, 0, sizeof *o);
    o->timeout_s = 30;
    o->protocols = BATON_CLIENT_OFFER;
    opterr = 0; /* we print our own messages */
    while ((c = getopt(argc, argv, ":p:c:k:x:w:t:H:n:P:T:d:q:8:l:Lh")) != -1) {
        switch (c) {
        case 'p':
            if (parse_number("-p", optarg, 65535, &v) != 0)
                return 2;
            o->server = 1;
            o->port = (unsigned)v;
            break;
        case 'c': o->cert = optarg; break;
        case 'k': o->key = optarg; break;
        case 'x':
            if (parse_number("-x", optarg, 999999999, &o->max_sessions) != 0)
                return 2;
            break;
        case 'w': o->www = optarg; break;
        case 't': o->ca = optarg; break;
        case 'H':
            if (parse_hex32(optarg, o->pin) != 0) {
                fprintf(stderr, "gowt_baton: -H: expected 64 hex digits\n");
                return 2;
            }
            o->have_pin = 1;
            break;
        case 'n': o->sni = optarg; break;
        case 'P': o->protocols = optarg; break;
        case 'T':
            if (parse_number("-T", optarg, 86400, &o->timeout_s) != 0)
                return 2;
            break;
        case 'd':
            if (parse_number("-d", optarg, 999999999, &o->idle_ms) != 0)
                return 2;
            break;
        case 'q': o->qlog = optarg; break;
        case '8': o->keylog = optarg; break;
        case 'l': o->log_file = optarg; break;
        case 'L': o->log_events = 1; break;
        case 'h': usage(stdout); return -1;
        case ':':
            fprintf(stderr, "gowt_baton: option -%c needs a value\n", optopt);
            usage(stderr);
            return 2;
        default:
            fprintf(stderr, "gowt_baton: unknown option -%c\n", optopt);
            usage(stderr);
            return 2;
        }
    }
    argc -= optind;
    argv += optind;
    if (o->server) {
        if (argc != 1) {
            fprintf(stderr, "gowt_baton: server: expected one PATH argument\n");
            usage(stderr);
            return 2;
        }
        o->path = argv[0];
        if (strcmp(o->path, "*") != 0 && o->path[0] != '/') {
            fprintf(stderr, "gowt_baton: PATH must start with '/' or be '*'\n");
            return 2;
        }
        if ((o->cert == NULL) != (o->key == NULL)) {
            fprintf(stderr, "gowt_baton: -c and -k go together\n");
            return 2;
        }
    } else {
        if (argc != 3) {
            fprintf(stderr, "gowt_baton: client: expected HOST PORT PATH "
                            "(or -p PORT PATH for a server)\n");
            usage(stderr);
            return 2;
        }
        o->host = argv[0];
        o->port_arg = argv[1];
        o->path = argv[2];
        if (parse_number("PORT", o->port_arg, 65535, &v) != 0 || v == 0)
            return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    baton_options o;
    baton_app app;
    baton_session *client = NULL;
    gowt_config cfg;
    struct sigaction sa;
    int rc, status;

    rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (gowt_version_number() != GOWT_VERSION_NUMBER)
        fprintf(stderr, "gowt_baton: warning: built for gowt %d, running %s\n",
                GOWT_VERSION_NUMBER, gowt_version());

    memset(&app, 0, sizeof app);
    app.kind = OWNER_APP;
    app.log_events = o.log_events;
    clock_gettime(CLOCK_MONOTONIC, &app.start);
    if (o.log_file != NULL && strcmp(o.log_file, "-") == 0) {
        app.log = stdout;
    } else if (o.log_file != NULL) {
        app.log = fopen(o.log_file, "w");
        if (app.log == NULL) {
            fprintf(stderr, "gowt_baton: %s: %s\n", o.log_file, strerror(errno));
            return 1;
        }
    } else if (o.log_events) {
        app.log = stderr;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid()); /* server's random baton */

    /* The Go runtime inside may run this handler on one of its threads:
     * SA_ONSTACK keeps it off small goroutine stacks. No SA_RESTART, so a
     * poll() on the main thread returns early. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("gowt_baton: sigaction");
        return 1;
    }

    gowt_config_init(&cfg);
    cfg.dispatch_mode = GOWT_DISPATCH_POLL;
    cfg.cert_file = o.cert; /* NULL: gowt generates a certificate */
    cfg.key_file = o.key;
    cfg.ca_file = o.ca;
    if (o.have_pin) {
        cfg.pinned_cert_hashes = o.pin;
        cfg.pinned_cert_hash_count = 1;
    }
    /* pico_baton does not verify the server unless told what to trust. */
    cfg.insecure_skip_verify = o.ca == NULL && !o.have_pin;
    if (o.idle_ms)
        cfg.idle_timeout_ms = (uint32_t)o.idle_ms;
    if (o.max_sessions)
        cfg.max_sessions = (uint32_t)o.max_sessions;
    cfg.qlog_dir = o.qlog;
    cfg.keylog_file = o.keylog;
    cfg.www_dir = o.www; /* -w: like pico_baton, a small web server too */

    rc = gowt_ctx_create(&cfg, &app.ctx);
    if (rc != GOWT_OK) {
        fprintf(stderr, "gowt_baton: gowt_ctx_create: %s\n", gowt_strerror(rc));
        return 1;
    }

    status = o.server ? run_server(&app, &o) : run_client(&app, &o, &client);

    /* Closes what is left and delivers the last events (on this thread in
     * POLL mode), so every session and stream is freed when it returns. */
    rc = gowt_ctx_destroy(app.ctx);
    if (rc != GOWT_OK) {
        fprintf(stderr, "gowt_baton: gowt_ctx_destroy: %s\n", gowt_strerror(rc));
        status = 1;
    }
    if (client != NULL) {
        client_print(client);
        if (status == 0 && !client_succeeded(client))
            status = 1;
        free(client);
    }
    if (app.log != NULL && app.log != stdout && app.log != stderr)
        fclose(app.log);
    return status;
}
