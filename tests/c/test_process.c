/* Process and TLS cases: two_process (+ the hidden serve_child), cert. */
#include "common.h"
#include "cases.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

/* ======================================================================= */
/* two_process                                                              */
/* ======================================================================= */

#define TP_CODE 0x1234abcdu
#define TP_REASON "two-process bye"

/* The child: a server in its own process. Prints "PORT n" on stdout, then
 * exits 0 when the client closed with TP_CODE / TP_REASON after an echoed
 * stream and datagram; 3 for a wrong code/reason, 4 for missing traffic. */
void test_serve_child(void) {
    tsrv srv;
    tsrv_start(&srv, NULL, 1, NULL, NULL);
    printf("PORT %u\n", srv.port);
    fflush(stdout);
    dup2(2, 1); /* the parent reads stdout only up to the port line */
    rec_event cl = evlog_wait_any(&srv.log, GOWT_EV_CLOSE, 0, ANY_ID, 10000);
    int status = 0;
    if (cl.code != TP_CODE || cl.length != strlen(TP_REASON) ||
        strcmp((char *)cl.data, TP_REASON) != 0 || !(cl.flags & GOWT_CLOSE_REMOTE)) {
        fprintf(stderr, "serve_child: CLOSE code %llx reason '%s' flags %x\n",
                (unsigned long long)cl.code, cl.data ? (char *)cl.data : "", cl.flags);
        status = 3;
    } else if (evlog_count(&srv.log, GOWT_EV_POST_FIN) < 1 ||
               evlog_count(&srv.log, GOWT_EV_POST_DATAGRAM) < 1) {
        status = 4;
    }
    evlog_wait_any(&srv.log, GOWT_EV_DEREGISTER, cl.session, ANY_ID, 5000);
    tsrv_stop(&srv);
    if (status) exit(status);
}

/* Reads "PORT n" from fd (other lines are skipped). */
static uint16_t read_port(int fd) {
    char buf[4096];
    size_t len = 0;
    long long end = now_ms() + 10000;
    for (;;) {
        char *nl;
        buf[len] = 0;
        while ((nl = strchr(buf, '\n')) != NULL) {
            *nl = 0;
            unsigned p;
            if (sscanf(buf, "PORT %u", &p) == 1) return (uint16_t)p;
            memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf) + 1);
            len = strlen(buf);
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)(end - now_ms());
        CHECK(left > 0);
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR) continue; /* the Go runtime signals threads */
        CHECK(pr >= 0);
        if (!(pfd.revents & (POLLIN | POLLHUP))) continue;
        CHECK(len < sizeof buf - 1);
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        CHECK(n > 0); /* EOF before the port: the child died */
        len += (size_t)n;
    }
}

/* Starts `test_api serve_child` with stdout on a pipe; returns its pid. */
static pid_t spawn_child(int *out_fd) {
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec */
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char *const argv[] = {"test_api", "serve_child", NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(pfd[1]);
    *out_fd = pfd[0];
    return pid;
}

static int wait_child(pid_t pid, int ms) {
    int status = 0;
    long long end = now_ms() + ms;
    pid_t w;
    while (((w = waitpid(pid, &status, WNOHANG)) == 0 || (w < 0 && errno == EINTR)) &&
           now_ms() < end)
        sleep_ms(10);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fprintf(stderr, "serve_child did not exit\n");
        exit(1);
    }
    CHECK(w == pid);
    return status;
}

void test_two_process(void) {
    int out;
    pid_t pid = spawn_child(&out);
    uint16_t port = read_port(out);
    CHECK(port != 0);

    gowt_ctx *cli = new_ctx(0);
    evlog log;
    evlog_init(&log);
    gowt_session_t s = cli_connect(cli, port, "/two", NULL, &log);
    evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    uint64_t id;
    uint8_t payload[50000], back[50000];
    pat_fill(payload, 77, 0, sizeof payload);
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
    CHECK_OK(gowt_stream_send(cli, s, id, payload, sizeof payload, 1));
    int fin = 0;
    WAIT_UNTIL(evlog_stream_bytes(&log, id, NULL, 0, &fin) == sizeof payload && fin, 5000);
    CHECK(evlog_stream_bytes(&log, id, back, sizeof back, &fin) == sizeof payload);
    CHECK(memcmp(payload, back, sizeof payload) == 0);
    for (int i = 0; i < 50 && evlog_count(&log, GOWT_EV_POST_DATAGRAM) == 0; i++) {
        CHECK_OK(gowt_send_datagram(cli, s, "cross-process", 13));
        long long end = now_ms() + 100;
        while (now_ms() < end && evlog_count(&log, GOWT_EV_POST_DATAGRAM) == 0) sleep_ms(2);
    }
    rec_event d = evlog_wait_any(&log, GOWT_EV_POST_DATAGRAM, s, ANY_ID, 100);
    CHECK(d.length == 13 && memcmp(d.data, "cross-process", 13) == 0);
    CHECK_OK(gowt_session_close(cli, s, TP_CODE, TP_REASON, strlen(TP_REASON)));
    evlog_wait_any(&log, GOWT_EV_DEREGISTER, s, ANY_ID, 5000);

    int status = wait_child(pid, 10000);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "serve_child: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        exit(1);
    }
    close(out);
    CHECK_OK(gowt_ctx_destroy(cli));

    /* A peer process that dies: the session ends with CLOSE + GOWT_CLOSE_ERROR
     * once the (short) idle timeout expires. */
    pid = spawn_child(&out);
    port = read_port(out);
    gowt_config cfg;
    gowt_config_init(&cfg);
    cfg.idle_timeout_ms = 600;
    cli = ctx_with(&cfg);
    evlog log2;
    evlog_init(&log2);
    s = cli_connect(cli, port, "/two", NULL, &log2);
    evlog_wait_any(&log2, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID, 5000);
    CHECK_OK(gowt_create_local_stream(cli, s, 1, NULL, &id));
    CHECK_OK(gowt_stream_send(cli, s, id, "x", 1, 0));
    CHECK(kill(pid, SIGKILL) == 0);
    status = wait_child(pid, 5000);
    CHECK(WIFSIGNALED(status));
    close(out);
    rec_event cl = evlog_wait_any(&log2, GOWT_EV_CLOSE, s, ANY_ID, 5000);
    CHECK(cl.flags & GOWT_CLOSE_ERROR);
    CHECK(!(cl.flags & GOWT_CLOSE_LOCAL));
    CHECK(cl.length > 0); /* a reason text says what happened */
    evlog_wait_any(&log2, GOWT_EV_FREE, s, id, 1000);
    evlog_wait_any(&log2, GOWT_EV_DEREGISTER, s, ANY_ID, 1000);
    check_session_end(&log2, s);
    WAIT_UNTIL(session_gone(cli, s), 1000);
    CHECK_RC(gowt_stream_send(cli, s, id, "x", 1, 0), GOWT_ERR_NOT_FOUND);
    CHECK_OK(gowt_ctx_destroy(cli));
}

/* ======================================================================= */
/* cert                                                                     */
/* ======================================================================= */

/* --- SHA-256 (FIPS 180-4), to check certificate hashes independently --- */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64], a, b, c, d, e, f, g, k;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t i = 0;
    for (; i + 64 <= len; i += 64) sha256_block(h, data + i);
    uint8_t tail[128] = {0};
    size_t r = len - i;
    memcpy(tail, data + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int j = 0; j < 8; j++) tail[tl - 1 - j] = (uint8_t)(bits >> (8 * j));
    for (size_t j = 0; j < tl; j += 64) sha256_block(h, tail + j);
    for (int j = 0; j < 8; j++) {
        out[4 * j] = (uint8_t)(h[j] >> 24);
        out[4 * j + 1] = (uint8_t)(h[j] >> 16);
        out[4 * j + 2] = (uint8_t)(h[j] >> 8);
        out[4 * j + 3] = (uint8_t)h[j];
    }
}

/* DER of the first certificate of a PEM text; returns its length. */
static size_t pem_cert_der(const char *pem, uint8_t *out, size_t cap) {
    const char *b = strstr(pem, "-----BEGIN CERTIFICATE-----");
    CHECK(b != NULL);
    b = strchr(b, '\n');
    const char *e = strstr(b, "-----END CERTIFICATE-----");
    CHECK(b && e);
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (const char *p = b; p < e; p++) {
        int v;
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
        else if (ch == '+') v = 62;
        else if (ch == '/') v = 63;
        else continue; /* newlines, '=' padding */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            CHECK(n < cap);
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    char *buf = malloc(65536);
    CHECK(buf != NULL);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int has_openssl(void) {
    return system("openssl version >/dev/null 2>&1") == 0;
}

/* Connects with cfg and returns the client's terminal event type
 * (CONNECT_ACCEPTED or CONNECT_REFUSED); *refused gets the REFUSED event. */
static int try_connect(gowt_config *cfg, uint16_t port, rec_event *refused) {
    gowt_ctx *cli = NULL;
    CHECK_OK(gowt_ctx_create(cfg, &cli));
    evlog log;
    evlog_init(&log);
    gowt_session_t s = cli_connect(cli, port, "/cert", NULL, &log);
    long long end = now_ms() + 8000;
    int type = 0;
    while (!type) {
        CHECK(now_ms() < end);
        if (evlog_count_for(&log, GOWT_EV_CONNECT_ACCEPTED, s, ANY_ID)) type = GOWT_EV_CONNECT_ACCEPTED;
        if (evlog_count_for(&log, GOWT_EV_CONNECT_REFUSED, s, ANY_ID)) type = GOWT_EV_CONNECT_REFUSED;
        sleep_ms(2);
    }
    if (type == GOWT_EV_CONNECT_REFUSED && refused)
        *refused = evlog_wait_any(&log, GOWT_EV_CONNECT_REFUSED, s, ANY_ID, 10);
    CHECK_OK(gowt_ctx_destroy(cli));
    return type;
}

static void check_tls_refused(gowt_config *cfg, uint16_t port) {
    rec_event r;
    CHECK(try_connect(cfg, port, &r) == GOWT_EV_CONNECT_REFUSED);
    CHECK(r.code == 0);
    CHECK(r.length > 0 && r.data && strlen((char *)r.data) == r.length);
}

static int count_files(const char *dir, int nonempty) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && (!nonempty || st.st_size > 0)) n++;
    }
    closedir(d);
    return n;
}

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void test_cert(void) {
    char tmpl[] = "/tmp/gowt-cert-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    char keylog[256], qlog[256], sqlog[256], skeylog[256];
    snprintf(keylog, sizeof keylog, "%s/keys.log", dir);
    snprintf(skeylog, sizeof skeylog, "%s/server-keys.log", dir);
    snprintf(qlog, sizeof qlog, "%s/qlog-client", dir);
    snprintf(sqlog, sizeof sqlog, "%s/qlog-server", dir);

    /* --- generated certificate: cert_hash and pinning --- */
    gowt_config scfg;
    gowt_config_init(&scfg);
    scfg.keylog_file = skeylog;
    scfg.qlog_dir = sqlog;
    tsrv srv;
    tsrv_start(&srv, &scfg, 1, NULL, NULL);
    uint8_t hash[32], again[32];
    CHECK_OK(gowt_ctx_cert_hash(srv.ctx, hash));
    CHECK_OK(gowt_ctx_cert_hash(srv.ctx, again));
    CHECK(memcmp(hash, again, 32) == 0);
    int zero = 1;
    for (int i = 0; i < 32; i++) zero &= hash[i] == 0;
    CHECK(!zero);
    gowt_ctx *other = new_ctx(0); /* another context generates another certificate */
    CHECK_OK(gowt_ctx_cert_hash(other, again));
    CHECK(memcmp(hash, again, 32) != 0);
    CHECK_OK(gowt_ctx_destroy(other));
    CHECK_RC(gowt_ctx_cert_hash(other, again), GOWT_ERR_NOT_FOUND);

    gowt_config c;
    /* pinned: accepted without insecure_skip_verify */
    gowt_config_init(&c);
    c.pinned_cert_hashes = hash;
    c.pinned_cert_hash_count = 1;
    CHECK(try_connect(&c, srv.port, NULL) == GOWT_EV_CONNECT_ACCEPTED);
    /* one of several pins matching is enough */
    uint8_t two[64];
    memcpy(two, hash, 32);
    two[0] ^= 0xff;
    memcpy(two + 32, hash, 32);
    c.pinned_cert_hashes = two;
    c.pinned_cert_hash_count = 2;
    CHECK(try_connect(&c, srv.port, NULL) == GOWT_EV_CONNECT_ACCEPTED);
    /* a wrong pin: refused with code 0 and a reason */
    c.pinned_cert_hash_count = 1;
    check_tls_refused(&c, srv.port);
    /* neither pin nor insecure: the system roots refuse a self-signed cert */
    gowt_config_init(&c);
    check_tls_refused(&c, srv.port);
    /* pins count without pointer: bad config */
    gowt_ctx *bad = NULL;
    c.pinned_cert_hash_count = 1;
    CHECK_RC(gowt_ctx_create(&c, &bad), GOWT_ERR_INVALID_ARG);

    /* --- keylog_file and qlog_dir on the client: two connections --- */
    gowt_config_init(&c);
    c.insecure_skip_verify = 1;
    c.keylog_file = keylog;
    c.qlog_dir = qlog;
    gowt_ctx *cli = NULL;
    CHECK_OK(gowt_ctx_create(&c, &cli));
    evlog log;
    evlog_init(&log);
    gowt_session_t s1 = cli_connect(cli, srv.port, "/q1", NULL, &log);
    evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, s1, ANY_ID, 5000);
    gowt_connect_options o;
    gowt_connect_options_init(&o);
    o.new_connection = 1;
    gowt_session_t s2 = cli_connect(cli, srv.port, "/q2", &o, &log);
    evlog_wait_any(&log, GOWT_EV_CONNECT_ACCEPTED, s2, ANY_ID, 5000);
    CHECK_OK(gowt_ctx_destroy(cli));
    WAIT_UNTIL(count_files(qlog, 1) == 2, 3000);
    sleep_ms(100);
    CHECK(count_files(qlog, 0) == 2); /* one file per connection */
    char *kl = read_file(keylog);
    CHECK(strstr(kl, "CLIENT_HANDSHAKE_TRAFFIC_SECRET ") != NULL);
    CHECK(strstr(kl, "SERVER_TRAFFIC_SECRET_0 ") != NULL);
    free(kl);

    tsrv_stop(&srv);
    /* the server saw the same connections (plus the pinned/refused ones) */
    CHECK(count_files(sqlog, 0) >= 2);
    kl = read_file(skeylog);
    CHECK(strstr(kl, "CLIENT_HANDSHAKE_TRAFFIC_SECRET ") != NULL);
    free(kl);

    /* --- a certificate given as PEM in memory and as files (openssl) --- */
    if (!has_openssl()) {
        fprintf(stderr, "cert: openssl not found, skipping the PEM/file certificate checks\n");
        rm_tree(dir);
        return;
    }
    char cmd[2048], certf[256], keyf[256], key2f[256];
    snprintf(certf, sizeof certf, "%s/cert.pem", dir);
    snprintf(keyf, sizeof keyf, "%s/key.pem", dir);
    snprintf(key2f, sizeof key2f, "%s/key2.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 2 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out %s "
             ">/dev/null 2>&1",
             keyf, certf, key2f);
    CHECK(system(cmd) == 0);
    char *cert_pem = read_file(certf), *key_pem = read_file(keyf);
    uint8_t der[8192], want[32];
    size_t dl = pem_cert_der(cert_pem, der, sizeof der);
    CHECK(dl > 100);
    sha256(der, dl, want);

    gowt_config_init(&scfg);
    scfg.cert_pem = cert_pem;
    scfg.key_pem = key_pem;
    tsrv psrv;
    tsrv_start(&psrv, &scfg, 1, NULL, NULL);
    CHECK_OK(gowt_ctx_cert_hash(psrv.ctx, hash));
    CHECK(memcmp(hash, want, 32) == 0); /* SHA-256 of the certificate's DER */
    /* trusted through ca_file (the self-signed certificate itself) */
    gowt_config_init(&c);
    c.ca_file = certf;
    CHECK(try_connect(&c, psrv.port, NULL) == GOWT_EV_CONNECT_ACCEPTED);
    /* pinned with the independently computed hash */
    gowt_config_init(&c);
    c.pinned_cert_hashes = want;
    c.pinned_cert_hash_count = 1;
    CHECK(try_connect(&c, psrv.port, NULL) == GOWT_EV_CONNECT_ACCEPTED);
    /* the same certificate does not help a client trusting only the system */
    gowt_config_init(&c);
    check_tls_refused(&c, psrv.port);
    tsrv_stop(&psrv);

    /* as files */
    gowt_config_init(&scfg);
    scfg.cert_file = certf;
    scfg.key_file = keyf;
    gowt_ctx *fctx = NULL;
    CHECK_OK(gowt_ctx_create(&scfg, &fctx));
    CHECK_OK(gowt_ctx_cert_hash(fctx, hash));
    CHECK(memcmp(hash, want, 32) == 0);
    CHECK_OK(gowt_ctx_destroy(fctx));
    /* a key that does not belong to the certificate */
    scfg.key_file = key2f;
    fctx = NULL;
    CHECK_RC(gowt_ctx_create(&scfg, &fctx), GOWT_ERR_TLS);
    CHECK(fctx == NULL);
    /* garbage PEM in memory */
    gowt_config_init(&scfg);
    scfg.cert_pem = "not a certificate";
    scfg.key_pem = key_pem;
    int rc = gowt_ctx_create(&scfg, &fctx);
    CHECK(rc == GOWT_ERR_TLS || rc == GOWT_ERR_INVALID_ARG);
    /* an unreadable CA file */
    gowt_config_init(&c);
    c.ca_file = "/nonexistent/ca.pem";
    CHECK_RC(gowt_ctx_create(&c, &fctx), GOWT_ERR_TLS);
    free(cert_pem);
    free(key_pem);
    rm_tree(dir);
}
