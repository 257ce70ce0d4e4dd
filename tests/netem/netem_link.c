/*
 * netem_link.c - a user-space stand-in for `tc qdisc ... netem` between two
 * network namespaces, for kernels built without sch_netem.
 *
 *   netem_link [options] NS_A DEV_A NS_B DEV_B
 *
 * DEV_A must be a persistent TUN device (ip tuntap add DEV mode tun) inside
 * namespace NS_A (/var/run/netns/NS_A), DEV_B likewise in NS_B. netem_link
 * attaches to both and forwards every IP packet read from one to the other,
 * impaired the way netem impairs a qdisc's egress, independently in each
 * direction:
 *
 *   --loss PCT       drop this share of packets (netem "loss PCT%")
 *   --delay MS       delay each packet ...
 *   --jitter MS      ... by MS +- jitter, uniformly distributed, as netem's
 *                    "delay D J" does without a distribution table; packets
 *                    leave in order of their send time, so jitter reorders
 *                    them (as netem's tfifo does)
 *   --dup PCT        duplicate this share (the copy gets its own delay)
 *   --limit N        queue at most N packets per direction (netem "limit",
 *                    default 1000); more are tail-dropped
 *   --seed N         random seed (default: time ^ pid); printed
 *   --stats FILE     write per-direction counters there on exit
 *
 * Prints "netem_link ready" on stdout once both devices are attached; runs
 * until SIGTERM / SIGINT, then prints its counters. Linux only, root (setns).
 * Nothing here touches the caller's namespace: the devices live in NS_A and
 * NS_B.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_PKT 65536

typedef struct pkt {
    uint64_t due_ns;
    uint64_t seq; /* arrival order, to count reordering and break ties */
    size_t len;
    unsigned char *data;
} pkt;

typedef struct dir {
    const char *name;
    int in_fd, out_fd;
    pkt *heap;
    size_t n, cap;
    uint64_t next_seq, last_out_seq;
    uint64_t rx, lost, dup, overflow, tx, reordered, bytes, write_err;
} dir;

static volatile sig_atomic_t stop;
static double loss_p = 0.05, dup_p = 0.01;
static double delay_ms = 40, jitter_ms = 20;
static size_t limit = 1000;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: small, fast, seedable. */
static uint64_t rng_state;
static double rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int earlier(const pkt *a, const pkt *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(dir *d, pkt p)
{
    size_t i;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        pkt *h = realloc(d->heap, cap * sizeof *h);
        if (h == NULL) {
            free(p.data);
            d->overflow++;
            return;
        }
        d->heap = h;
        d->cap = cap;
    }
    i = d->n++;
    while (i > 0 && earlier(&p, &d->heap[(i - 1) / 2])) {
        d->heap[i] = d->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    d->heap[i] = p;
}

static pkt heap_pop(dir *d)
{
    pkt top = d->heap[0], last = d->heap[--d->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= d->n)
            break;
        if (c + 1 < d->n && earlier(&d->heap[c + 1], &d->heap[c]))
            c++;
        if (!earlier(&d->heap[c], &last))
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    if (d->n > 0)
        d->heap[i] = last;
    return top;
}

static void enqueue(dir *d, const unsigned char *buf, size_t len, uint64_t now, uint64_t seq)
{
    pkt p;
    double ms = delay_ms + (jitter_ms > 0 ? (rnd() * 2 - 1) * jitter_ms : 0);
    if (d->n >= limit) {
        d->overflow++;
        return;
    }
    if (ms < 0)
        ms = 0;
    p.data = malloc(len);
    if (p.data == NULL) {
        d->overflow++;
        return;
    }
    memcpy(p.data, buf, len);
    p.len = len;
    p.seq = seq;
    p.due_ns = now + (uint64_t)(ms * 1e6);
    heap_push(d, p);
}

static void on_readable(dir *d)
{
    static unsigned char buf[MAX_PKT];
    int i;
    for (i = 0; i < 64; i++) { /* a batch, then let the other side run */
        ssize_t n = read(d->in_fd, buf, sizeof buf);
        uint64_t now, seq;
        if (n <= 0)
            return; /* EAGAIN or error */
        d->rx++;
        seq = ++d->next_seq;
        if (rnd() < loss_p) {
            d->lost++;
            continue;
        }
        now = now_ns();
        enqueue(d, buf, (size_t)n, now, seq);
        if (rnd() < dup_p) {
            d->dup++;
            enqueue(d, buf, (size_t)n, now, seq);
        }
    }
}

static void flush_due(dir *d, uint64_t now)
{
    while (d->n > 0 && d->heap[0].due_ns <= now) {
        pkt p = heap_pop(d);
        if (write(d->out_fd, p.data, p.len) < 0)
            d->write_err++;
        else {
            d->tx++;
            d->bytes += p.len;
        }
        if (p.seq < d->last_out_seq)
            d->reordered++;
        else
            d->last_out_seq = p.seq;
        free(p.data);
    }
}

static int open_tun_in(const char *ns, const char *dev)
{
    char path[512];
    struct ifreq ifr;
    int nsfd, fd;

    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
        fprintf(stderr, "netem_link: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (setns(nsfd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "netem_link: setns %s: %s\n", ns, strerror(errno));
        close(nsfd);
        return -1;
    }
    close(nsfd);
    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        fprintf(stderr, "netem_link: /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "netem_link: TUNSETIFF %s in %s: %s\n", dev, ns, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void print_stats(FILE *f, const dir *d)
{
    fprintf(f,
            "%s: in %" PRIu64 " lost %" PRIu64 " (%.2f%%) duplicated %" PRIu64
            " (%.2f%%) out %" PRIu64 " reordered %" PRIu64 " (%.2f%%) bytes %" PRIu64
            " overflow %" PRIu64 " write_errors %" PRIu64 "\n",
            d->name, d->rx, d->lost, d->rx ? 100.0 * (double)d->lost / (double)d->rx : 0.0,
            d->dup, d->rx ? 100.0 * (double)d->dup / (double)d->rx : 0.0, d->tx, d->reordered,
            d->tx ? 100.0 * (double)d->reordered / (double)d->tx : 0.0, d->bytes, d->overflow,
            d->write_err);
}

static void usage(void)
{
    fprintf(stderr, "usage: netem_link [--loss PCT] [--delay MS] [--jitter MS] [--dup PCT]\n"
                    "                  [--limit N] [--seed N] [--stats FILE]"
                    " NS_A DEV_A NS_B DEV_B\n");
}

int main(int argc, char **argv)
{
    const char *stats = NULL;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    dir ab, ba;
    struct sigaction sa;
    int fa, fb, i;

    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(o, "--loss") == 0)
            loss_p = atof(v) / 100;
        else if (strcmp(o, "--dup") == 0)
            dup_p = atof(v) / 100;
        else if (strcmp(o, "--delay") == 0)
            delay_ms = atof(v);
        else if (strcmp(o, "--jitter") == 0)
            jitter_ms = atof(v);
        else if (strcmp(o, "--limit") == 0)
            limit = (size_t)strtoul(v, NULL, 10);
        else if (strcmp(o, "--seed") == 0)
            seed = strtoull(v, NULL, 10);
        else if (strcmp(o, "--stats") == 0)
            stats = v;
        else {
            usage();
            return 2;
        }
    }
    if (argc - i != 4) {
        usage();
        return 2;
    }
    rng_state = seed ? seed : 1;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    fa = open_tun_in(argv[i], argv[i + 1]);
    if (fa < 0)
        return 1;
    fb = open_tun_in(argv[i + 2], argv[i + 3]);
    if (fb < 0)
        return 1;

    memset(&ab, 0, sizeof ab);
    memset(&ba, 0, sizeof ba);
    ab.name = "A->B";
    ab.in_fd = fa;
    ab.out_fd = fb;
    ba.name = "B->A";
    ba.in_fd = fb;
    ba.out_fd = fa;
    printf("netem_link ready: loss %.2f%% delay %.1fms jitter %.1fms duplicate %.2f%% "
           "limit %zu seed %" PRIu64 "\n",
           loss_p * 100, delay_ms, jitter_ms, dup_p * 100, limit, seed);
    fflush(stdout);

    while (!stop) {
        struct pollfd pf[2];
        uint64_t now = now_ns(), next = UINT64_MAX;
        int timeout;
        if (ab.n > 0)
            next = ab.heap[0].due_ns;
        if (ba.n > 0 && ba.heap[0].due_ns < next)
            next = ba.heap[0].due_ns;
        if (next == UINT64_MAX)
            timeout = 200;
        else if (next <= now)
            timeout = 0;
        else
            timeout = (int)((next - now + 999999) / 1000000); /* round up: never early */
        pf[0].fd = fa;
        pf[0].events = POLLIN;
        pf[1].fd = fb;
        pf[1].events = POLLIN;
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) {
            perror("netem_link: poll");
            return 1;
        }
        if (pf[0].revents & POLLIN)
            on_readable(&ab);
        if (pf[1].revents & POLLIN)
            on_readable(&ba);
        now = now_ns();
        flush_due(&ab, now);
        flush_due(&ba, now);
    }

    print_stats(stdout, &ab);
    print_stats(stdout, &ba);
    if (stats != NULL) {
        FILE *f = fopen(stats, "w");
        if (f != NULL) {
            print_stats(f, &ab);
            print_stats(f, &ba);
            fclose(f);
        }
    }
    return 0;
}
