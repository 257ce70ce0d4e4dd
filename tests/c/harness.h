/* Test harness for the gowt C tests: an event log per side that callbacks
 * append to, waits with timeouts, and checks that exit the process. */
#ifndef GOWT_TEST_HARNESS_H
#define GOWT_TEST_HARNESS_H

#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gowt.h"

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define CHECK_RC(expr, want)                                                        \
    do {                                                                            \
        int rc_ = (expr);                                                           \
        if (rc_ != (want)) {                                                        \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %d (%s)\n", __FILE__, \
                    __LINE__, #expr, rc_, gowt_strerror(rc_), (int)(want),          \
                    gowt_strerror(want));                                           \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, GOWT_OK)

typedef struct rec_event {
    int type, flags;
    gowt_session_t session;
    uint64_t session_id, stream_id, code;
    size_t length;
    uint8_t *data; /* copy, NUL-terminated */
    void *app_ctx, *stream_ctx;
    char *protocol; /* copy of ev->protocol, or NULL */
    pthread_t thread; /* thread that ran the callback */
} rec_event;

typedef struct evlog {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    rec_event *evs;
    size_t n, cap;
    int no_data; /* 1: do not copy stream data (only its length) */
} evlog;

static inline void evlog_init(evlog *l) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cond, NULL);
}

static inline void evlog_add(evlog *l, const gowt_event *ev) {
    pthread_mutex_lock(&l->mu);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->evs = realloc(l->evs, l->cap * sizeof *l->evs);
        CHECK(l->evs != NULL);
    }
    rec_event *r = &l->evs[l->n++];
    r->type = ev->type;
    r->flags = ev->flags;
    r->session = ev->session;
    r->session_id = ev->session_id;
    r->stream_id = ev->stream_id;
    r->code = ev->code;
    r->length = ev->length;
    r->app_ctx = ev->app_ctx;
    r->stream_ctx = ev->stream_ctx;
    r->protocol = NULL;
    if (ev->protocol) {
        size_t pl = strlen(ev->protocol);
        r->protocol = malloc(pl + 1);
        CHECK(r->protocol != NULL);
        memcpy(r->protocol, ev->protocol, pl + 1);
    }
    r->thread = pthread_self();
    r->data = NULL;
    if (ev->data && !(l->no_data && (ev->type == GOWT_EV_POST_DATA || ev->type == GOWT_EV_POST_FIN))) {
        r->data = malloc(ev->length + 1);
        CHECK(r->data != NULL);
        memcpy(r->data, ev->data, ev->length);
        r->data[ev->length] = 0;
    }
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
}

static inline void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Index of the first event of `type` at or after *cursor (then moves the
 * cursor past it); exits the test after timeout_ms. */
static inline rec_event evlog_wait(evlog *l, size_t *cursor, int type, int timeout_ms) {
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        for (size_t i = *cursor; i < l->n; i++) {
            if (l->evs[i].type == type) {
                rec_event r = l->evs[i];
                *cursor = i + 1;
                pthread_mutex_unlock(&l->mu);
                return r;
            }
        }
        if (pthread_cond_timedwait(&l->cond, &l->mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&l->mu);
            fprintf(stderr, "timed out waiting for %s\n", gowt_event_name(type));
            exit(1);
        }
    }
}

/* Number of events of `type` recorded so far. */
static inline size_t evlog_count(evlog *l, int type) {
    size_t c = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) c += l->evs[i].type == type;
    pthread_mutex_unlock(&l->mu);
    return c;
}

/* Bytes of stream data received on stream_id so far (POST_DATA + POST_FIN). */
static inline size_t evlog_stream_bytes(evlog *l, uint64_t stream_id, uint8_t *out, size_t cap,
                                        int *fin) {
    size_t n = 0;
    *fin = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        rec_event *r = &l->evs[i];
        if (r->stream_id != stream_id) continue;
        if (r->type == GOWT_EV_POST_DATA || r->type == GOWT_EV_POST_FIN) {
            if (out && r->data && n + r->length <= cap) memcpy(out + n, r->data, r->length);
            n += r->length;
            if (r->type == GOWT_EV_POST_FIN) *fin = 1;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

static inline gowt_ctx *new_ctx(int poll_mode) {
    gowt_config cfg;
    gowt_config_init(&cfg);
    cfg.insecure_skip_verify = 1;
    cfg.dispatch_mode = poll_mode ? GOWT_DISPATCH_POLL : GOWT_DISPATCH_THREAD;
    gowt_ctx *ctx = NULL;
    CHECK_OK(gowt_ctx_create(&cfg, &ctx));
    CHECK(ctx != NULL);
    return ctx;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { /* Go runtime signals */
    }
}

/* ---- more helpers (used by the cases in the other test_*.c files) ------- */

/* Wildcard for the session / stream filters of evlog_wait_for & co. */
#define ANY_ID 0xfffffffffffffffeULL

static inline long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll `cond` every 2 ms; exits the test when it is still false after ms. */
#define WAIT_UNTIL(cond, ms)                                                          \
    do {                                                                              \
        long long wu_end_ = now_ms() + (ms);                                          \
        while (!(cond)) {                                                             \
            if (now_ms() > wu_end_) {                                                 \
                fprintf(stderr, "%s:%d: timed out waiting for %s\n", __FILE__, __LINE__, \
                        #cond);                                                       \
                exit(1);                                                              \
            }                                                                         \
            sleep_ms(2);                                                              \
        }                                                                             \
    } while (0)

static inline int rec_match(const rec_event *r, int type, gowt_session_t s, uint64_t stream) {
    return (type == 0 || r->type == type) && (s == 0 || r->session == s) &&
           (stream == ANY_ID || r->stream_id == stream);
}

/* Like evlog_wait, filtered by session (0: any) and stream (ANY_ID: any). */
static inline rec_event evlog_wait_for(evlog *l, size_t *cursor, int type, gowt_session_t s,
                                       uint64_t stream, int timeout_ms) {
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        for (size_t i = *cursor; i < l->n; i++) {
            if (rec_match(&l->evs[i], type, s, stream)) {
                rec_event r = l->evs[i];
                *cursor = i + 1;
                pthread_mutex_unlock(&l->mu);
                return r;
            }
        }
        if (pthread_cond_timedwait(&l->cond, &l->mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&l->mu);
            fprintf(stderr, "timed out waiting for %s (session %llu, stream %llu)\n",
                    gowt_event_name(type), (unsigned long long)s, (unsigned long long)stream);
            exit(1);
        }
    }
}

/* Debug aid: print a log to stderr. */
static inline void evlog_dump(evlog *l, const char *name) {
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        rec_event *r = &l->evs[i];
        fprintf(stderr, "%s[%zu] %s s=%llu sid=%llu st=%llu len=%zu code=%llu flags=%x\n", name, i,
                gowt_event_name(r->type), (unsigned long long)r->session,
                (unsigned long long)r->session_id, (unsigned long long)r->stream_id, r->length,
                (unsigned long long)r->code, r->flags);
    }
    pthread_mutex_unlock(&l->mu);
}

/* Wait until an event matching (type, s, stream) is in the log (from the start). */
static inline rec_event evlog_wait_any(evlog *l, int type, gowt_session_t s, uint64_t stream,
                                       int timeout_ms) {
    size_t c = 0;
    return evlog_wait_for(l, &c, type, s, stream, timeout_ms);
}

/* Number of events in the log (a cursor for "from now on"). */
static inline size_t evlog_len(evlog *l) {
    pthread_mutex_lock(&l->mu);
    size_t n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* Number of recorded events matching (type 0: any type). */
static inline size_t evlog_count_for(evlog *l, int type, gowt_session_t s, uint64_t stream) {
    size_t c = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) c += rec_match(&l->evs[i], type, s, stream);
    pthread_mutex_unlock(&l->mu);
    return c;
}

/* Copy of the idx-th (0-based) matching event; returns 0 if there is none. */
static inline int evlog_get(evlog *l, size_t idx, int type, gowt_session_t s, uint64_t stream,
                            rec_event *out) {
    int found = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        if (rec_match(&l->evs[i], type, s, stream) && idx-- == 0) {
            *out = l->evs[i];
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return found;
}

/* Position (index in the log) of the first matching event, or -1. */
static inline long evlog_pos(evlog *l, int type, gowt_session_t s, uint64_t stream) {
    long pos = -1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        if (rec_match(&l->evs[i], type, s, stream)) {
            pos = (long)i;
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return pos;
}

/* Position of the last event of session s (any type), or -1. */
static inline long evlog_last_pos(evlog *l, gowt_session_t s) {
    long pos = -1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++)
        if (l->evs[i].session == s) pos = (long)i;
    pthread_mutex_unlock(&l->mu);
    return pos;
}

/* Checks the end of a session in a log: exactly one DEREGISTER, and it is
 * the session's last event; at most one CLOSE. */
static inline void check_session_end(evlog *l, gowt_session_t s) {
    CHECK(evlog_count_for(l, GOWT_EV_DEREGISTER, s, ANY_ID) == 1);
    CHECK(evlog_pos(l, GOWT_EV_DEREGISTER, s, ANY_ID) == evlog_last_pos(l, s));
    CHECK(evlog_count_for(l, GOWT_EV_CLOSE, s, ANY_ID) <= 1);
}

/* After DEREGISTER was logged (inside the callback), the handle becomes
 * invalid once the callback returned: wait for that. */
static inline int session_gone(gowt_ctx *ctx, gowt_session_t s) {
    gowt_session_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    return gowt_session_get_info(ctx, s, &info) == GOWT_ERR_NOT_FOUND;
}

/* A call on a session closed a moment ago: GOWT_ERR_CLOSED, or
 * GOWT_ERR_NOT_FOUND once its DEREGISTER was delivered (the callback logs
 * DEREGISTER before the handle becomes invalid, so it must be in the log). */
#define CHECK_CLOSED_OR_GONE(expr, log, s)                                          \
    do {                                                                            \
        int cg_rc_ = (expr);                                                        \
        if (cg_rc_ != GOWT_ERR_CLOSED) {                                            \
            CHECK_RC(cg_rc_, GOWT_ERR_NOT_FOUND);                                   \
            CHECK(evlog_count_for((log), GOWT_EV_DEREGISTER, (s), ANY_ID) == 1);    \
        }                                                                           \
    } while (0)

/* Test data: a byte pattern that depends on the offset (catches lost,
 * duplicated and reordered chunks) and on a per-stream seed. */
static inline uint8_t pat(uint32_t seed, uint64_t i) {
    return (uint8_t)(seed * 61u + i + (i >> 8) * 7u + (i >> 16) * 13u + (i >> 24) * 3u);
}

static inline void pat_fill(uint8_t *buf, uint32_t seed, uint64_t off, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = pat(seed, off + i);
}

/* 1 if buf equals the pattern at offset off. */
static inline int pat_check(const uint8_t *buf, uint32_t seed, uint64_t off, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pat(seed, off + i)) return 0;
    return 1;
}

static inline void url_for(char *url, size_t len, uint16_t port, const char *path) {
    snprintf(url, len, "https://127.0.0.1:%u%s", port, path);
}

#endif
