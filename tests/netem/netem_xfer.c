/*
 * netem_xfer.c - one bulk transfer over a WebTransport stream, verified by
 * SHA-256 on both ends. Written against the public header gowt.h only.
 *
 *   server: netem_xfer server [-p PORT] [options]
 *   client: netem_xfer client [-H HEX] [options] HOST PORT up|down SIZE
 *
 * The client opens https://HOST:PORT/xfer?dir=DIR&size=SIZE. The sender
 * (the client for "up", the server for "down") opens one unidirectional
 * stream and writes SIZE pseudo-random bytes, then the 32-byte SHA-256 of
 * what it generated, then FIN. The receiver hashes the SIZE bytes as they
 * arrive, compares the result with the trailer, and closes the session with
 * code 0 and reason "sha256 HEX bytes N" (code 1 and the reason on a
 * mismatch). The sender then checks that the receiver's hash is its own, so
 * both ends verify both hashes; each prints one result line:
 *
 *   RESULT role=client dir=up size=N ok=1 sha256=HEX peer_sha256=HEX
 *          seconds=S transfer_seconds=S mbps=R
 *
 * (on one line). The server keeps serving transfers until SIGTERM / SIGINT
 * and prints one RESULT line per session. The client exits 0 when the
 * transfer was verified, 1 otherwise (also on timeout, -T), 2 on a usage
 * error.
 *
 * options:
 *   -p PORT     server: UDP port (default 0: any; printed "Listening on port N")
 *   -H HEX      client: pin the server certificate's SHA-256 (printed by the
 *               server as "Certificate SHA-256: HEX"); without it the
 *               certificate is not verified
 *   -T SECONDS  fail after this long (client; default 300)
 *   -m MODE     send with push (gowt_stream_send, default) or pull
 *               (GOWT_EV_PROVIDE_DATA)
 *   -w BYTES    WebTransport flow-control window (config max_incoming_data)
 *   -b BYTES    per-stream push send buffer (config stream_send_buffer)
 *   -d MS       idle timeout (config idle_timeout_ms)
 *   -q DIR      qlog directory (config qlog_dir)
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gowt.h"

/* ------------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4), small and portable                                 */
/* ------------------------------------------------------------------------ */

typedef struct sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t used;
} sha256;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256 *s, const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(sha256 *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->used = 0;
}

static void sha256_update(sha256 *s, const uint8_t *p, size_t n)
{
    s->len += n;
    if (s->used > 0) {
        size_t k = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->buf + s->used, p, k);
        s->used += k, p += k, n -= k;
        if (s->used < 64)
            return;
        sha256_block(s, s->buf);
        s->used = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        sha256_block(s, p);
    memcpy(s->buf, p, n);
    s->used = n;
}

static void sha256_final(sha256 *s, uint8_t out[32])
{
    uint64_t bits = s->len * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (s->used < 56 ? 56 : 120) - s->used;
    int i;
    for (i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    for (i = 0; i < 32; i++)
        out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void to_hex(const uint8_t d[32], char out[65])
{
    int i;
    for (i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[64] = 0;
}

static int from_hex(const char *s, uint8_t out[32])
{
    int i;
    for (i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : v << 4);
    }
    return s[64] == 0 || s[64] == ' ' ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* State                                                                    */
/* ------------------------------------------------------------------------ */

#define CHUNK (64 * 1024)

typedef struct xfer {
    int is_client, up, sender; /* sender: we write the data */
    gowt_session_t s;
    uint64_t size;
    /* sender */
    uint64_t stream_id, gen_off; /* bytes generated so far */
    uint64_t rng;
    sha256 tx_hash;
    uint8_t digest[32];   /* ours: of what we sent or received */
    int have_digest;
    uint8_t trailer[32];  /* sender: our digest, sent after the data */
    size_t trailer_off;   /* pull: trailer bytes given so far */
    uint8_t *pending;     /* push: a chunk the library has not taken yet */
    size_t pending_len;
    int pending_fin, tx_done;
    /* receiver */
    uint64_t rx_off;
    sha256 rx_hash;
    uint8_t rx_trailer[32];
    /* outcome */
    int accepted, closed, deregistered, failed;
    uint64_t close_code;
    char close_reason[256];
    char peer_hex[65];
    char why[512];
    struct timespec t0, t_accept, t_end;
} xfer;

static struct {
    int pull;
    const char *mode_name;
} g = {0, "push"};

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double secs(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void fail(xfer *x, const char *fmt, const char *arg)
{
    if (!x->failed) {
        x->failed = 1;
        snprintf(x->why, sizeof x->why, fmt, arg ? arg : "");
    }
}

/* Fill p with the next n bytes of the pseudo-random stream (xorshift64). */
static void generate(xfer *x, uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if ((x->gen_off + i) % 8 == 0) {
            x->rng ^= x->rng << 13;
            x->rng ^= x->rng >> 7;
            x->rng ^= x->rng << 17;
        }
        p[i] = (uint8_t)(x->rng >> (8 * ((x->gen_off + i) % 8)));
    }
    sha256_update(&x->tx_hash, p, n);
    x->gen_off += n;
    if (x->gen_off == x->size) {
        sha256_final(&x->tx_hash, x->trailer);
        memcpy(x->digest, x->trailer, 32);
        x->have_digest = 1;
    }
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

/* Push: keep one chunk (the last one with the trailer and FIN) until the
 * library takes it; GOWT_EV_STREAM_WRITABLE calls this again. */
static void push_more(gowt_ctx *ctx, xfer *x)
{
    while (!x->tx_done) {
        int rc;
        if (x->pending_len == 0) {
            uint64_t left = x->size - x->gen_off;
            size_t n = left < CHUNK ? (size_t)left : CHUNK;
            generate(x, x->pending, n);
            x->pending_len = n;
            if (x->gen_off == x->size) {
                memcpy(x->pending + n, x->trailer, 32);
                x->pending_len += 32;
                x->pending_fin = 1;
            }
        }
        rc = gowt_stream_send(ctx, x->s, x->stream_id, x->pending, x->pending_len, x->pending_fin);
        if (rc == GOWT_ERR_WOULD_BLOCK)
            return;
        if (rc != GOWT_OK) {
            fail(x, "gowt_stream_send: %s", gowt_strerror(rc));
            return;
        }
        x->pending_len = 0;
        if (x->pending_fin)
            x->tx_done = 1;
    }
}

static void pull_provide(gowt_ctx *ctx, xfer *x, const gowt_event *ev)
{
    uint64_t left = (x->size - x->gen_off) + (32 - x->trailer_off);
    size_t n = ev->length < left ? ev->length : (size_t)left, k = 0;
    int fin = n == left;
    uint8_t *buf = NULL;
    int rc = gowt_provide_stream_data(ctx, ev, n, fin, !fin, &buf);
    if (rc != GOWT_OK) {
        fail(x, "gowt_provide_stream_data: %s", gowt_strerror(rc));
        return;
    }
    if (x->gen_off < x->size) {
        uint64_t d = x->size - x->gen_off;
        k = n < d ? n : (size_t)d;
        generate(x, buf, k);
    }
    if (k < n) {
        memcpy(buf + k, x->trailer + x->trailer_off, n - k);
        x->trailer_off += n - k;
    }
    if (fin)
        x->tx_done = 1;
}

static void start_sending(gowt_ctx *ctx, xfer *x)
{
    int rc = gowt_create_local_stream(ctx, x->s, 0, NULL, &x->stream_id);
    if (rc != GOWT_OK) {
        fail(x, "gowt_create_local_stream: %s", gowt_strerror(rc));
        return;
    }
    if (x->size == 0) { /* the digest of nothing */
        sha256_final(&x->tx_hash, x->trailer);
        memcpy(x->digest, x->trailer, 32);
        x->have_digest = 1;
    }
    if (g.pull) {
        rc = gowt_stream_mark_active(ctx, x->s, x->stream_id, 1);
        if (rc != GOWT_OK)
            fail(x, "gowt_stream_mark_active: %s", gowt_strerror(rc));
    } else {
        push_more(ctx, x);
    }
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */
/* ------------------------------------------------------------------------ */

static void receive(xfer *x, const uint8_t *p, size_t n)
{
    if (x->rx_off < x->size) {
        uint64_t d = x->size - x->rx_off;
        size_t k = n < d ? n : (size_t)d;
        sha256_update(&x->rx_hash, p, k);
        x->rx_off += k, p += k, n -= k;
    }
    if (n > 0) {
        uint64_t t = x->rx_off - x->size;
        if (t + n > 32) {
            fail(x, "%smore bytes than size + 32", NULL);
            n = t < 32 ? (size_t)(32 - t) : 0;
        }
        memcpy(x->rx_trailer + t, p, n);
        x->rx_off += n;
    }
}

/* At FIN: verify and close the session with the verdict. */
static void receive_done(gowt_ctx *ctx, xfer *x)
{
    char reason[200], mine[65], theirs[65];
    int ok;
    sha256_final(&x->rx_hash, x->digest);
    x->have_digest = 1;
    to_hex(x->digest, mine);
    to_hex(x->rx_trailer, theirs);
    memcpy(x->peer_hex, theirs, 65);
    if (x->rx_off != x->size + 32) {
        char n[32];
        snprintf(n, sizeof n, "%" PRIu64, x->rx_off);
        fail(x, "stream ended after %s bytes, want size + 32", n);
    } else if (memcmp(x->digest, x->rx_trailer, 32) != 0) {
        fail(x, "sha256 mismatch: the sender says %s", theirs);
    }
    ok = !x->failed;
    snprintf(reason, sizeof reason, "sha256 %s bytes %" PRIu64, mine,
             x->rx_off >= 32 ? x->rx_off - 32 : 0);
    clock_gettime(CLOCK_MONOTONIC, &x->t_end);
    gowt_session_close(ctx, x->s, ok ? 0 : 1, reason, strlen(reason));
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

static int parse_query(const char *q, int *up, uint64_t *size)
{
    const char *d = strstr(q, "dir="), *s = strstr(q, "size=");
    char *end;
    if (d == NULL || s == NULL)
        return -1;
    if (strncmp(d + 4, "up", 2) == 0)
        *up = 1;
    else if (strncmp(d + 4, "down", 4) == 0)
        *up = 0;
    else
        return -1;
    errno = 0;
    *size = strtoull(s + 5, &end, 10);
    return errno != 0 || end == s + 5 ? -1 : 0;
}

static xfer *xfer_new(int is_client, int up, uint64_t size)
{
    xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->pending = malloc(CHUNK + 32);
    if (x->pending == NULL) {
        free(x);
        return NULL;
    }
    x->is_client = is_client;
    x->up = up;
    x->size = size;
    x->sender = is_client == up;
    x->stream_id = GOWT_NO_ID;
    x->rng = 0x9E3779B97F4A7C15ull ^ size;
    sha256_init(&x->tx_hash);
    sha256_init(&x->rx_hash);
    clock_gettime(CLOCK_MONOTONIC, &x->t0);
    return x;
}

static void print_result(const xfer *x)
{
    char mine[65] = "-";
    struct timespec end = x->t_end;
    int ok = !x->failed && x->closed && x->close_code == 0 && x->have_digest &&
             strlen(x->peer_hex) == 64;
    double total, tr;
    if (x->have_digest)
        to_hex(x->digest, mine);
    if (ok && strcmp(mine, x->peer_hex) != 0)
        ok = 0;
    if (end.tv_sec == 0)
        clock_gettime(CLOCK_MONOTONIC, &end);
    total = secs(&x->t0, &end);
    tr = x->accepted ? secs(&x->t_accept, &end) : 0;
    printf("RESULT role=%s dir=%s size=%" PRIu64 " mode=%s ok=%d sha256=%s peer_sha256=%s "
           "seconds=%.3f transfer_seconds=%.3f mbps=%.3f close_code=%" PRIu64 "%s%s\n",
           x->is_client ? "client" : "server", x->up ? "up" : "down", x->size, g.mode_name, ok,
           mine, x->peer_hex[0] ? x->peer_hex : "-", total, tr,
           ok && tr > 0 ? (double)x->size * 8 / tr / 1e6 : 0.0, x->close_code,
           x->why[0] ? " why=" : "", x->why);
    fflush(stdout);
}

static int on_event(gowt_ctx *ctx, const gowt_event *ev, void *app_ctx)
{
    xfer *x = app_ctx;

    if (ev->type == GOWT_EV_CONNECT) { /* server: app_ctx is NULL here */
        int up;
        uint64_t size;
        if (parse_query(ev->request->query, &up, &size) != 0)
            return 400;
        x = xfer_new(0, up, size);
        if (x == NULL)
            return 500;
        x->s = ev->session;
        gowt_session_set_app_ctx(ctx, ev->session, x);
        if (gowt_session_accept(ctx, ev->session, NULL) != GOWT_OK) {
            free(x->pending);
            free(x);
            return 500;
        }
        x->accepted = 1;
        clock_gettime(CLOCK_MONOTONIC, &x->t_accept);
        if (x->sender)
            start_sending(ctx, x);
        return 0;
    }
    if (x == NULL) /* DEREGISTER of a refused session */
        return 0;

    switch (ev->type) {
    case GOWT_EV_CONNECT_ACCEPTED:
        x->accepted = 1;
        clock_gettime(CLOCK_MONOTONIC, &x->t_accept);
        if (x->sender)
            start_sending(ctx, x);
        break;
    case GOWT_EV_CONNECT_REFUSED: {
        char c[32];
        snprintf(c, sizeof c, "%" PRIu64, ev->code);
        fail(x, "session refused (HTTP %s)", c);
        break;
    }
    case GOWT_EV_POST_DATA:
    case GOWT_EV_POST_FIN:
        if (x->sender) {
            fail(x, "%sunexpected stream data", NULL);
            break;
        }
        receive(x, ev->data, ev->length);
        if (ev->type == GOWT_EV_POST_FIN)
            receive_done(ctx, x);
        break;
    case GOWT_EV_PROVIDE_DATA:
        if (x->sender && ev->stream_id == x->stream_id && !x->tx_done)
            pull_provide(ctx, x, ev);
        break;
    case GOWT_EV_STREAM_WRITABLE:
        if (x->sender && !g.pull)
            push_more(ctx, x);
        break;
    case GOWT_EV_RESET:
        fail(x, "%sthe peer reset the stream", NULL);
        break;
    case GOWT_EV_STOP_SENDING:
        fail(x, "%sthe peer sent STOP_SENDING", NULL);
        break;
    case GOWT_EV_CLOSE: {
        size_t n = ev->length < sizeof x->close_reason - 1 ? ev->length
                                                           : sizeof x->close_reason - 1;
        x->closed = 1;
        x->close_code = ev->code;
        if (ev->data != NULL)
            memcpy(x->close_reason, ev->data, n);
        x->close_reason[n] = 0;
        if (x->t_end.tv_sec == 0)
            clock_gettime(CLOCK_MONOTONIC, &x->t_end);
        if (x->sender) {
            uint8_t d[32];
            if (strncmp(x->close_reason, "sha256 ", 7) == 0 &&
                from_hex(x->close_reason + 7, d) == 0)
                to_hex(d, x->peer_hex);
            if (ev->code != 0)
                fail(x, "the receiver closed with an error: %s", x->close_reason);
            else if (!x->tx_done)
                fail(x, "%sclosed before everything was sent", NULL);
        } else if (!(ev->flags & GOWT_CLOSE_LOCAL)) {
            fail(x, "the peer closed the session early: %s", x->close_reason);
        }
        if (ev->flags & GOWT_CLOSE_ERROR)
            fail(x, "connection failure: %s", x->close_reason);
        break;
    }
    case GOWT_EV_DEREGISTER:
        x->deregistered = 1;
        if (!x->is_client) {
            print_result(x);
            free(x->pending);
            free(x);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                     */
/* ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: netem_xfer gen SIZE  (the data on stdout, its SHA-256 on stderr)\n"
            "       netem_xfer server [-p PORT] [-m push|pull] [-w BYTES] [-b BYTES] [-d MS] [-q DIR]\n"
            "       netem_xfer client [-H HEX] [-T S] [-m push|pull] [-w BYTES] [-b BYTES]\n"
            "                         [-d MS] [-q DIR] HOST PORT up|down SIZE\n");
}

static int loop(gowt_ctx *ctx, xfer *client, double timeout_s)
{
    struct timespec t0, now;
    int fd;
    if (gowt_ctx_get_fd(ctx, &fd) != GOWT_OK)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pf;
        int rc;
        pf.fd = fd;
        pf.events = POLLIN;
        pf.revents = 0;
        if (poll(&pf, 1, 100) < 0 && errno != EINTR)
            return -1;
        rc = gowt_ctx_process_events(ctx, 0);
        if (rc < 0 && rc != GOWT_ERR_BUSY)
            return -1;
        if (client != NULL && client->deregistered)
            return 0;
        if (stop_requested)
            return client ? 1 : 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (timeout_s > 0 && secs(&t0, &now) > timeout_s)
            return 1;
    }
}

int main(int argc, char **argv)
{
    unsigned long port = 0, timeout_s = 300;
    const char *pin = NULL, *qlog = NULL;
    unsigned long long win = 0, sbuf = 0, idle = 0;
    uint8_t pinbuf[32];
    gowt_config cfg;
    gowt_ctx *ctx;
    struct sigaction sa;
    int server, i, rc, status = 0;
    xfer *x = NULL;

    if (argc == 3 && strcmp(argv[1], "gen") == 0) {
        /* The byte stream of a transfer of SIZE bytes on stdout, its SHA-256
         * (as the tool computes it) on stderr: checks the hash code against
         * sha256sum. */
        uint64_t size = strtoull(argv[2], NULL, 10);
        uint8_t *buf;
        char hex[65];
        x = xfer_new(1, 1, size);
        buf = x ? malloc(CHUNK) : NULL;
        if (buf == NULL)
            return 1;
        while (x->gen_off < size) {
            size_t n = size - x->gen_off < CHUNK ? (size_t)(size - x->gen_off) : CHUNK;
            generate(x, buf, n);
            if (fwrite(buf, 1, n, stdout) != n)
                return 1;
        }
        if (size == 0)
            sha256_final(&x->tx_hash, x->digest);
        to_hex(x->digest, hex);
        fprintf(stderr, "%s\n", hex);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (argc < 2 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
        usage();
        return 2;
    }
    server = strcmp(argv[1], "server") == 0;
    for (i = 2; i < argc && argv[i][0] == '-' && argv[i][1] != 0; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL || argv[i][2] != 0) {
            usage();
            return 2;
        }
        switch (argv[i][1]) {
        case 'p': port = strtoul(v, NULL, 10); break;
        case 'H': pin = v; break;
        case 'T': timeout_s = strtoul(v, NULL, 10); break;
        case 'w': win = strtoull(v, NULL, 10); break;
        case 'b': sbuf = strtoull(v, NULL, 10); break;
        case 'd': idle = strtoull(v, NULL, 10); break;
        case 'q': qlog = v; break;
        case 'm':
            if (strcmp(v, "pull") == 0)
                g.pull = 1, g.mode_name = "pull";
            else if (strcmp(v, "push") != 0) {
                usage();
                return 2;
            }
            break;
        default: usage(); return 2;
        }
    }
    if (server ? i != argc : i + 4 != argc) {
        usage();
        return 2;
    }
    if (pin != NULL && (strlen(pin) != 64 || from_hex(pin, pinbuf) != 0)) {
        fprintf(stderr, "netem_xfer: -H: expected 64 hex digits\n");
        return 2;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    gowt_config_init(&cfg);
    cfg.dispatch_mode = GOWT_DISPATCH_POLL;
    if (pin != NULL) {
        cfg.pinned_cert_hashes = pinbuf;
        cfg.pinned_cert_hash_count = 1;
    } else {
        cfg.insecure_skip_verify = 1;
    }
    if (win)
        cfg.max_incoming_data = win;
    if (sbuf)
        cfg.stream_send_buffer = (size_t)sbuf;
    if (idle)
        cfg.idle_timeout_ms = (uint32_t)idle;
    cfg.qlog_dir = qlog;
    rc = gowt_ctx_create(&cfg, &ctx);
    if (rc != GOWT_OK) {
        fprintf(stderr, "netem_xfer: gowt_ctx_create: %s\n", gowt_strerror(rc));
        return 1;
    }

    if (server) {
        uint16_t bound = 0;
        uint8_t h[32];
        char hex[65];
        rc = gowt_server_register(ctx, "/xfer", on_event, NULL, NULL);
        if (rc == GOWT_OK)
            rc = gowt_server_listen(ctx, NULL, (uint16_t)port, &bound);
        if (rc == GOWT_OK)
            rc = gowt_ctx_cert_hash(ctx, h);
        if (rc != GOWT_OK) {
            fprintf(stderr, "netem_xfer: server setup: %s\n", gowt_strerror(rc));
            gowt_ctx_destroy(ctx);
            return 1;
        }
        to_hex(h, hex);
        printf("Certificate SHA-256: %s\nListening on port %u\n", hex, (unsigned)bound);
        fflush(stdout);
        status = loop(ctx, NULL, 0) == 0 ? 0 : 1;
    } else {
        char url[1024];
        uint64_t size = strtoull(argv[i + 3], NULL, 10);
        int up = strcmp(argv[i + 2], "up") == 0;
        if (!up && strcmp(argv[i + 2], "down") != 0) {
            usage();
            return 2;
        }
        snprintf(url, sizeof url, "https://%s%s%s:%s/xfer?dir=%s&size=%" PRIu64,
                 strchr(argv[i], ':') ? "[" : "", argv[i], strchr(argv[i], ':') ? "]" : "",
                 argv[i + 1], up ? "up" : "down", size);
        x = xfer_new(1, up, size);
        if (x == NULL)
            return 1;
        rc = gowt_connect(ctx, url, NULL, on_event, x, &x->s);
        if (rc != GOWT_OK) {
            fprintf(stderr, "netem_xfer: gowt_connect: %s\n", gowt_strerror(rc));
            status = 1;
        } else {
            rc = loop(ctx, x, (double)timeout_s);
            if (rc != 0) {
                char t[32];
                snprintf(t, sizeof t, "%lu", timeout_s);
                fail(x, rc == 1 ? "no result after %s s" : "event loop error%s", rc == 1 ? t : "");
            }
        }
    }
    rc = gowt_ctx_destroy(ctx);
    if (rc != GOWT_OK) {
        fprintf(stderr, "netem_xfer: gowt_ctx_destroy: %s\n", gowt_strerror(rc));
        status = 1;
    }
    if (x != NULL) {
        print_result(x);
        if (x->failed || !x->closed || x->close_code != 0 || strlen(x->peer_hex) != 64)
            status = 1;
        else {
            char mine[65];
            to_hex(x->digest, mine);
            if (!x->have_digest || strcmp(mine, x->peer_hex) != 0)
                status = 1;
        }
        free(x->pending);
        free(x);
    }
    return status;
}
