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
} rec_event;

typedef struct evlog {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    rec_event *evs;
    size_t n, cap;
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
    r->data = NULL;
    if (ev->data) {
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
            if (out && n + r->length <= cap) memcpy(out + n, r->data, r->length);
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
    nanosleep(&ts, NULL);
}

#endif
