/*
 * gowt.h - WebTransport (HTTP/3) for C, C++, Rust and any language with an FFI.
 *
 * This header is the whole public contract of libgowt. Nothing else is needed
 * to use the library.
 *
 * ---------------------------------------------------------------------------
 * MODEL
 * ---------------------------------------------------------------------------
 * A context (gowt_ctx) owns configuration, TLS material, listeners, QUIC
 * connections and sessions. A server registers paths with a callback; a
 * client connects to a URL with a callback. Everything that happens in a
 * session arrives as an event (gowt_event) on that session's callback. Each
 * event names the session by its handle (gowt_session_t, unique in the
 * process, never reused) and by its wire ID, the stream ID of its HTTP/3
 * CONNECT stream (ev->session_id), as picoquic's picowt API does.
 *
 * Session life cycle (both sides):
 *   client: CONNECTING -> CONNECT_ACCEPTED | CONNECT_REFUSED
 *   server: CONNECT (accept or refuse) -> (accepted)
 *   then any of: POST_DATA, POST_FIN, PROVIDE_DATA, STREAM_WRITABLE,
 *                POST_DATAGRAM, PROVIDE_DATAGRAM, RESET, STOP_SENDING, DRAIN
 *   then: CLOSE (once), FREE (once per stream still known), DEREGISTER (last).
 * After DEREGISTER the session handle is invalid (calls return
 * GOWT_ERR_NOT_FOUND). A refused session gets CONNECT_REFUSED (client) and
 * then DEREGISTER; it never gets CLOSE.
 *
 * ---------------------------------------------------------------------------
 * THREADING GUARANTEE
 * ---------------------------------------------------------------------------
 * 1. Callbacks for one context never run concurrently: at most one callback
 *    of a context is running at any time, and events of one session arrive in
 *    order.
 * 2. Callbacks run either on a library-owned dispatch thread
 *    (GOWT_DISPATCH_THREAD, the default) or, in GOWT_DISPATCH_POLL mode, on
 *    the application's thread inside gowt_ctx_process_events(); the context's
 *    file descriptor (gowt_ctx_get_fd) is readable while events are pending.
 * 3. Every function in this header is safe to call from any thread, and from
 *    inside a callback, without deadlock. A call made inside a callback never
 *    runs another callback recursively: events it causes are queued and
 *    delivered after the current callback returns. The only exceptions are
 *    gowt_ctx_destroy() and gowt_ctx_process_events(), which return
 *    GOWT_ERR_BUSY when called from inside a callback of the same context.
 * 4. Events cross from the library to C in batches (up to 64 per crossing).
 *
 * ---------------------------------------------------------------------------
 * MEMORY RULES
 * ---------------------------------------------------------------------------
 * - Every buffer or string passed INTO the library is only read during the
 *   call (it is copied when kept). The caller keeps ownership.
 * - Every pointer inside a gowt_event (data, reason, request fields) is owned
 *   by the library and valid only until the callback returns. Copy what you
 *   need to keep.
 * - Buffers returned by gowt_provide_stream_data() and
 *   gowt_provide_datagram() are owned by the library and writable only until
 *   the callback that received the PROVIDE_* event returns.
 * - The application owns its app_ctx / stream_ctx / send_ctx values; the
 *   library never dereferences or frees them, so any value will do (a
 *   pointer, NULL, or an integer cast to void *). Release what they refer to
 *   on DEREGISTER / FREE (send_ctx: on its SEND_COMPLETE).
 *
 * ---------------------------------------------------------------------------
 * ERRORS
 * ---------------------------------------------------------------------------
 * Functions return 0 (GOWT_OK) or a negative gowt_error. gowt_strerror() names
 * a code. A failing call leaves a message for the calling thread
 * (gowt_last_error()) and, when it names a known context, for that context
 * (gowt_ctx_last_error()). Every function recovers from internal failures
 * and returns GOWT_ERR_INTERNAL instead of crashing the host.
 *
 * Process notes (facts of the Go runtime inside): one runtime per process;
 * do not fork() without exec() after loading the library; host signal
 * handlers for SIGSEGV/SIGBUS/SIGFPE/SIGPIPE/SIGURG must use SA_ONSTACK.
 *
 * ---------------------------------------------------------------------------
 * ABI: SONAME AND GROWING STRUCTS
 * ---------------------------------------------------------------------------
 * The library is libgowt.so.0 (soname; the file is libgowt.so.0.MINOR.PATCH,
 * libgowt.so the linker name, which 0.1.0 programs, linked to that name,
 * also load). A program built against this header or an older 0.x one runs
 * with any later 0.x library. Only gowt_* symbols are exported. Enum and
 * #define values are frozen (new ones are appended; the one change,
 * GOWT_CONNECT_DEFER in 0.2.0, keeps 0.1.0 programs working: see there);
 * functions are only added.
 *
 * Structs that carry a size (gowt_config, gowt_path_options,
 * gowt_connect_options, gowt_session_info) begin with uint32_t struct_size
 * and only ever grow at the end. One rule holds for all of them:
 *  - struct_size is the size of the struct as the caller compiled it. The
 *    init macros (gowt_config_init(), gowt_path_options_init(),
 *    gowt_connect_options_init()) pass sizeof for you; for output structs
 *    (gowt_session_info) set it yourself: info.struct_size = sizeof info.
 *  - Accepted sizes: from the end of the struct's 0.1.0 layout (its first
 *    released one; each struct names its last 0.1.0 field) up to
 *    GOWT_STRUCT_SIZE_MAX. Others give GOWT_ERR_INVALID_ARG and a message.
 *  - The library never reads or writes beyond the caller's struct_size.
 *  - Init: every byte up to struct_size is written: the fields the library
 *    knows get their defaults, all other bytes (padding, fields of a newer
 *    header) zero; struct_size is set to the caller's size.
 *  - Input (gowt_ctx_create, gowt_server_register, gowt_connect): fields
 *    beyond the caller's size take their defaults. Every field appended
 *    after 0.1.0 means "default" when it is 0. The caller's bytes beyond
 *    the library's own sizeof, and reserved* fields, must be zero: a
 *    non-zero one (a field of a newer header that this library cannot
 *    honour) fails the call with GOWT_ERR_INVALID_ARG instead of being
 *    ignored. Padding inside the library's struct is never looked at.
 *  - Output (gowt_session_get_info): the library fills its own fields up to
 *    the caller's size, zeroes the rest of the caller's struct, and sets
 *    struct_size to the number of bytes it filled; GOWT_HAS_FIELD() tells
 *    whether a given field was filled.
 * Programs built against 0.1.0 called gowt_config_init, gowt_path_options_init
 * and gowt_connect_options_init as functions: those symbols stay exported
 * and fill the 0.1.0 layout (new code reaches the *_init_sized functions
 * through the macros of the same names).
 * Library-owned structs (gowt_event, gowt_connect_request) grow at the end
 * too; only read them through the pointers the library gives.
 * For maintainers: append fields at the end, never into padding; after the
 * 0.1.0 part a sized struct has no implicit padding (fill it with
 * uint32_t reservedN, "must be 0", which a later 32-bit field replaces).

 */
#ifndef GOWT_H
#define GOWT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define GOWT_VERSION_MAJOR 0
#define GOWT_VERSION_MINOR 4
#define GOWT_VERSION_PATCH 0
/** Version as one number: major * 10000 + minor * 100 + patch. */
#define GOWT_VERSION_NUMBER \
    (GOWT_VERSION_MAJOR * 10000 + GOWT_VERSION_MINOR * 100 + GOWT_VERSION_PATCH)

/** Version string of the loaded library ("0.4.0"). Static storage; never free.
 *  Any thread. */
const char *gowt_version(void);

/** GOWT_VERSION_NUMBER of the loaded library (compare with the macro to
 *  detect a header/library mismatch). Any thread. */
int gowt_version_number(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** Error codes. Values are frozen; new codes are only ever appended. */
typedef enum gowt_error {
    GOWT_OK = 0,
    GOWT_ERR_INVALID_ARG = -1, /* NULL pointer, bad value, malformed URL/PEM */
    GOWT_ERR_NOT_FOUND = -2,   /* unknown context, session, stream or path */
    GOWT_ERR_CLOSED = -3,      /* session, stream direction or context closed */
    GOWT_ERR_WOULD_BLOCK = -4, /* buffer/queue full now; retry on an event */
    GOWT_ERR_TOO_LARGE = -5,   /* larger than allowed (datagram, buffer, reason) */
    GOWT_ERR_BUSY = -6,        /* not allowed from inside a callback */
    GOWT_ERR_TLS = -7,         /* certificate, key or trust problem */
    GOWT_ERR_NETWORK = -8,     /* bind / socket failure */
    GOWT_ERR_PROTOCOL = -9,    /* peer violated or lacks a protocol need */
    GOWT_ERR_LIMIT = -10,      /* session or stream limit reached */
    GOWT_ERR_STATE = -11,      /* call not valid in the current state */
    GOWT_ERR_INTERNAL = -12,   /* internal failure (recovered); see last error */
    GOWT_ERR_RANGE = -13,      /* output buffer too small */
    GOWT_ERR_UNSUPPORTED = -14 /* feature not available in this build/mode */
} gowt_error;

/** Static name and description of an error code ("GOWT_ERR_NOT_FOUND: ...").
 *  Never NULL; unknown codes give "unknown error". Any thread. */
const char *gowt_strerror(int err);

/**
 * Copy the calling thread's last error message (NUL-terminated) into buf:
 * the message of the last call made on this thread that returned an error,
 * whatever context it named (or none: gowt_ctx_create, the init functions).
 * Successful calls leave it unchanged, like errno; "" when no call failed
 * on this thread yet. Messages longer than 1023 bytes are truncated.
 * Returns the message length (>= 0), GOWT_ERR_RANGE if len is too small (buf
 * gets a truncated message), GOWT_ERR_INVALID_ARG (buf NULL or len 0).
 * Any thread; this call itself never changes the message.
 */
int gowt_last_error(char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Handles                                                                  */
/* ------------------------------------------------------------------------ */

/** Opaque context. Created by gowt_ctx_create, destroyed by gowt_ctx_destroy. */
typedef struct gowt_ctx gowt_ctx;

/** Session handle: non-zero, unique in the process, never reused. */
typedef uint64_t gowt_session_t;

/** Marks "no stream" / "not known yet" in 64-bit ID fields. */
#define GOWT_NO_ID UINT64_MAX

/* ------------------------------------------------------------------------ */
/* Sized structs (see "ABI" at the top)                                     */
/* ------------------------------------------------------------------------ */

/** Largest struct_size the library accepts (a guard against garbage). */
#define GOWT_STRUCT_SIZE_MAX 4096

/** 1 if the sized struct *p (of type `type`) covers `field`: after an
 *  output call, whether the library filled it; before an input call,
 *  whether the caller's struct_size includes it. */
#define GOWT_HAS_FIELD(p, type, field) \
    ((size_t)(p)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/** How callbacks are run. */
typedef enum gowt_dispatch_mode {
    GOWT_DISPATCH_THREAD = 0, /* a library-owned thread runs the callbacks */
    GOWT_DISPATCH_POLL = 1    /* the app calls gowt_ctx_process_events() */
} gowt_dispatch_mode;

/**
 * Context configuration. ALWAYS initialise with gowt_config_init(), then set
 * the fields you need. A sized struct (see "ABI" at the top): fields are
 * only ever appended, and struct_size tells the library which fields your
 * code knows about. The 0.1.0 layout ends with www_dir.
 * All strings and buffers are copied by gowt_ctx_create(); the caller keeps
 * ownership. NULL / 0 means "default" unless stated otherwise.
 */
typedef struct gowt_config {
    uint32_t struct_size; /* set by gowt_config_init: sizeof(gowt_config) */
    int dispatch_mode;    /* gowt_dispatch_mode; default THREAD */

    /* --- Server TLS: files, or PEM in memory, or generated. --- */
    const char *cert_file; /* PEM certificate chain file */
    const char *key_file;  /* PEM private key file */
    const char *cert_pem;  /* PEM certificate chain, NUL-terminated */
    const char *key_pem;   /* PEM private key, NUL-terminated */
    /* With no certificate given, an ECDSA P-256 self-signed certificate
     * valid for at most 14 days is generated (accepted by browsers through
     * serverCertificateHashes); read its hash with gowt_ctx_cert_hash().
     * cert_hostnames: comma-separated DNS names / IPs for it
     * (default "localhost,127.0.0.1,::1"). */
    const char *cert_hostnames;

    /* --- Client trust (the default is the system roots). --- */
    const char *ca_file;                /* PEM CA bundle to trust */
    const uint8_t *pinned_cert_hashes;  /* n x 32-byte SHA-256 of cert DER */
    size_t pinned_cert_hash_count;      /* n */
    int insecure_skip_verify;           /* 1: accept any certificate (tests) */

    /* --- Transport. --- */
    uint32_t idle_timeout_ms;   /* default 30000 */
    uint32_t keep_alive_ms;     /* 0: no keep-alive (default) */
    uint32_t handshake_timeout_ms; /* default 10000 */

    /* --- Limits. --- */
    uint32_t max_sessions;        /* per context, both roles; default 10000 */
    uint32_t max_incoming_streams_bidi; /* per session; default 1000 */
    uint32_t max_incoming_streams_uni;  /* per session; default 1000 */
    /* WebTransport flow control (draft-16 SETTINGS_WT_INITIAL_MAX_DATA).
     * Non-zero enables WebTransport flow control, which lets several sessions
     * share one QUIC connection when the peer enables it too. 0 disables it
     * (one session per connection, what browsers and picoquic do).
     * Credit returns as the application takes the data; a peer that sends
     * more gets WT_FLOW_CONTROL_ERROR. Default 4 MiB. */
    uint64_t max_incoming_data;

    /* --- Buffers and queues. --- */
    size_t stream_send_buffer;    /* push bytes buffered per stream (the buffer
                                   * holds at most this plus 64 KiB); default 1 MiB */
    uint32_t datagram_recv_queue; /* datagrams queued per session before counted
                                   * drops; default 1024 */
    uint32_t datagram_send_queue; /* datagrams queued per session before
                                   * GOWT_ERR_WOULD_BLOCK; default 256 */
    uint32_t event_queue_depth;   /* data events pending per context before
                                   * readers pause (back-pressure); default 4096 */

    /* --- Diagnostics. --- */
    const char *qlog_dir;     /* write one qlog file per connection here */
    const char *keylog_file;  /* append TLS secrets (NSS key log format) */

    /* --- Plain HTTP/3. --- */
    const char *www_dir;      /* serve GET/HEAD requests from files here
                               * (NULL: non-CONNECT requests get 404) */
    /* ---- end of the 0.1.0 layout; appended fields: 0 means default ---- */

    /* --- Since 0.2.0. --- */
    /* A CONNECT deferred with GOWT_CONNECT_DEFER and not decided within this
     * time is refused with 503 (and the session ends: CLOSE is not
     * delivered, DEREGISTER is). 0: default 10000. */
    uint32_t connect_decision_timeout_ms;
    /* Since 0.4.0 (reserved0 before, which had to be 0: the layout is the
     * same). Client role: a CONNECT request not answered within this time
     * from sending it ends as GOWT_EV_CONNECT_REFUSED code 0 ("no CONNECT
     * response within ..."), and its stream is reset with
     * H3_REQUEST_CANCELLED, so the server's pending session ends too. The
     * QUIC handshake before it has handshake_timeout_ms. 0: default 30000
     * (above a gowt server's default decision time). A 0.3.0 library
     * refuses a non-zero value with GOWT_ERR_INVALID_ARG. */
    uint32_t connect_response_timeout_ms;

    /* --- Since 0.2.0: receive memory and QUIC windows (0: default). --- */
    /* Context-wide bound, in bytes, on received stream data waiting for
     * POST_DATA callbacks (buffer sizes counted, not payload): while it is
     * spent, stream readers stop and QUIC flow control stops the peers.
     * Besides it, a received stream costs about 5 KB (12 KiB at most) of
     * library state. Default 16 MiB. */
    uint64_t recv_buffer_bytes;
    /* QUIC stream receive window: initial, and the most auto-tuning grows
     * it to. Default: quic-go's (512 KiB, 6 MiB). */
    uint64_t stream_recv_window;
    uint64_t max_stream_recv_window;
    /* QUIC connection receive window: initial and most. Keep it above
     * max_incoming_data, so that one session whose application stops
     * reading cannot fill a shared connection. Default 8 MiB, 32 MiB. */
    uint64_t conn_recv_window;
    uint64_t max_conn_recv_window;

    /* --- Since 0.2.0: client certificates and TLS resumption. --- */
    /* Client role: the certificate this context presents when a server asks
     * for one (files, or PEM in memory; none by default). */
    const char *client_cert_file;
    const char *client_key_file;
    const char *client_cert_pem;
    const char *client_key_pem;
    /* Server role: verify client certificates against this PEM CA bundle
     * (needs client_auth). Without it, any client certificate is taken and
     * only its SHA-256 reported (ev->peer_cert_sha256 on CONNECT), for the
     * application to check. */
    const char *client_ca_file;
    int client_auth;        /* gowt_client_auth; default GOWT_CLIENT_AUTH_NONE */
    /* Client role: TLS session resumption is on by default (a reconnect to a
     * server this context has talked to resumes its TLS session, skipping
     * the certificate exchange; 0-RTT stays off). 1 turns it off. */
    int disable_resumption;
} gowt_config;

/** Server: whether clients are asked for a certificate. */
typedef enum gowt_client_auth {
    GOWT_CLIENT_AUTH_NONE = 0,    /* not asked (default) */
    GOWT_CLIENT_AUTH_REQUEST = 1, /* asked; a client without one is accepted */
    GOWT_CLIENT_AUTH_REQUIRE = 2  /* a client without one fails the handshake */
} gowt_client_auth;

/**
 * Fill the first `size` bytes of *cfg: defaults for the fields this library
 * knows, zero for the rest; struct_size = size. Call it through the
 * gowt_config_init() macro, which passes sizeof *cfg.
 * Returns GOWT_OK, GOWT_ERR_INVALID_ARG (cfg NULL, or size outside the
 * accepted range: see "ABI"; nothing is written then). Any thread.
 */
int gowt_config_init_sized(gowt_config *cfg, size_t size);

/** Fill *cfg with defaults (see gowt_config_init_sized). cfg must be a
 *  gowt_config pointer (a plain NULL literal does not compile; call
 *  gowt_config_init_sized for that). Evaluates to gowt_config_init_sized's
 *  return value. */
#define gowt_config_init(cfg) gowt_config_init_sized((cfg), sizeof *(cfg))

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

/** Event types. Values are frozen; new types are only ever appended.
 *  Callbacks must ignore (return 0 for) types they do not know. */
typedef enum gowt_event_type {
    GOWT_EV_CONNECTING = 1,       /* client: connect() accepted the request */
    GOWT_EV_CONNECT = 2,          /* server: a CONNECT matched a path: accept
                                   * or refuse (see gowt_session_cb) */
    GOWT_EV_CONNECT_ACCEPTED = 3, /* client: 2xx; ev->protocol = chosen
                                   * sub-protocol or NULL */
    GOWT_EV_CONNECT_REFUSED = 4,  /* client: ev->code = HTTP status, or 0 when
                                   * no usable response (ev->data = reason
                                   * text) */
    GOWT_EV_POST_DATA = 5,        /* stream data: ev->data/length */
    GOWT_EV_POST_FIN = 6,         /* last stream data (maybe empty) + FIN */
    GOWT_EV_PROVIDE_DATA = 7,     /* pull send: up to ev->length bytes may be
                                   * given with gowt_provide_stream_data() */
    GOWT_EV_POST_DATAGRAM = 8,    /* a datagram: ev->data/length */
    GOWT_EV_PROVIDE_DATAGRAM = 9, /* pull send: one datagram of up to
                                   * ev->length bytes, gowt_provide_datagram() */
    GOWT_EV_RESET = 10,           /* peer reset the stream: ev->code */
    GOWT_EV_STOP_SENDING = 11,    /* peer sent STOP_SENDING: ev->code */
    GOWT_EV_CLOSE = 12,           /* session closed: ev->code, reason in
                                   * ev->data/length, origin in ev->flags */
    GOWT_EV_DRAIN = 13,           /* peer asked to drain (WT_DRAIN_SESSION) */
    GOWT_EV_DEREGISTER = 14,      /* last event of the session: free app_ctx */
    GOWT_EV_FREE = 15,            /* stream forgotten: free its stream_ctx */
    GOWT_EV_STREAM_WRITABLE = 16, /* a stream that returned WOULD_BLOCK to
                                   * gowt_stream_send can take more data */
    GOWT_EV_DATAGRAM_WRITABLE = 17, /* the datagram send queue that returned
                                     * WOULD_BLOCK has room again */
    GOWT_EV_STREAM_OPENED = 18,   /* peer opened a stream (before its data);
                                   * ev->flags has GOWT_STREAM_BIDI if bidi */
    GOWT_EV_STREAMS_AVAILABLE = 19, /* since 0.2.0: gowt_create_local_stream
                                   * returned GOWT_ERR_LIMIT, and the peer's
                                   * stream limit (WebTransport or QUIC) has
                                   * grown: a stream of that kind (GOWT_STREAM_BIDI
                                   * in ev->flags: bidirectional) can be opened.
                                   * Once per GOWT_ERR_LIMIT streak and kind. */
    GOWT_EV_SEND_COMPLETE = 20    /* since 0.3.0: the library no longer reads
                                   * a gowt_stream_send_nocopy buffer:
                                   * ev->data/length are that buffer,
                                   * ev->send_ctx its send context;
                                   * GOWT_SEND_CANCELED in ev->flags if not
                                   * all of it will be sent */
} gowt_event_type;

/* ev->flags bits. */
#define GOWT_CLOSE_LOCAL 0x1  /* CLOSE: we closed the session */
#define GOWT_CLOSE_REMOTE 0x2 /* CLOSE: the peer sent a close capsule / FIN */
#define GOWT_CLOSE_ERROR 0x4  /* CLOSE: connection or protocol failure */
#define GOWT_STREAM_BIDI 0x10 /* stream events: the stream is bidirectional */
#define GOWT_STREAM_LOCAL 0x20 /* stream events: we opened the stream */
/* Since 0.2.0. RESET / STOP_SENDING: ev->code is the wire code as
 * received, not an application code: it lies outside WebTransport's
 * application error range (peers such as picoquic send raw codes) or on a
 * reserved point in it. CLOSE with GOWT_CLOSE_ERROR: ev->code is the HTTP/3
 * or QUIC error code that ended the session (a reset CONNECT stream, a
 * closed connection); without this flag such a CLOSE has code 0 (timeouts,
 * local failures). Codes without the flag are 32-bit application codes. */
#define GOWT_CODE_RAW 0x40
/* Since 0.3.0. SEND_COMPLETE: some of the buffer's bytes will not be sent
 * (the stream was reset, the peer sent STOP_SENDING, or sending failed). */
#define GOWT_SEND_CANCELED 0x80

/** A server-side CONNECT request (GOWT_EV_CONNECT). All strings are
 *  NUL-terminated and valid only during the callback. */
typedef struct gowt_connect_request {
    const char *path;      /* path without the query, e.g. "/baton" */
    const char *query;     /* text after '?', "" when none */
    const char *authority; /* :authority */
    const char *origin;    /* Origin header, "" when none */
    const char *protocol;  /* :protocol ("webtransport-h3" or draft-02's
                            * "webtransport") */
    const char *const *protocols; /* offered sub-protocols (WT-Available-
                                   * Protocols), protocol_count entries */
    size_t protocol_count;
    const char *const *header_names;  /* request headers, lower-case names */
    const char *const *header_values;
    size_t header_count;
    /* Since 0.2.0. */
    const char *peer_addr;  /* client's UDP address, "192.0.2.1:4433" / "[::1]:4433" */
    const char *local_addr; /* the listening socket's address */
    const uint8_t *peer_cert_sha256; /* 32-byte SHA-256 of the client's
                                      * certificate (DER), NULL when it sent
                                      * none (see client_auth) */
} gowt_connect_request;

/** One event. Fields not listed for a type are 0 / NULL / GOWT_NO_ID.
 *  Owned by the library, valid only during the callback. */
typedef struct gowt_event {
    int type;                  /* gowt_event_type */
    int flags;                 /* GOWT_CLOSE_* / GOWT_STREAM_* bits */
    gowt_session_t session;    /* session handle */
    uint64_t session_id;       /* CONNECT stream ID (GOWT_NO_ID until known) */
    uint64_t stream_id;        /* stream events; else GOWT_NO_ID */
    const uint8_t *data;       /* payload / reason bytes (not NUL-terminated
                                * for data; reasons are NUL-terminated too);
                                * may be NULL when length is 0 (a bare
                                * POST_FIN has no data) */
    size_t length;             /* data length; PROVIDE_*: space available */
    uint64_t code;             /* RESET/STOP_SENDING: app error code;
                                * CLOSE: session error code (GOWT_CODE_RAW
                                * in flags: a wire code, see there);
                                * CONNECT_REFUSED: HTTP status or 0 */
    void *app_ctx;             /* the session's app context */
    void *stream_ctx;          /* the stream's app context (stream events) */
    const gowt_connect_request *request; /* CONNECT only */
    const char *protocol;      /* CONNECT_ACCEPTED: chosen sub-protocol */
    uint64_t token;            /* PROVIDE_*: pass the event to gowt_provide_* */
    /* Since 0.2.0: CONNECT (the client's certificate; NULL when none) and
     * CONNECT_ACCEPTED (the server's): 32-byte SHA-256 of the peer's leaf
     * certificate (DER). */
    const uint8_t *peer_cert_sha256;
    /* Since 0.3.0: SEND_COMPLETE: the send_ctx given to
     * gowt_stream_send_nocopy. */
    void *send_ctx;
} gowt_event;

/**
 * Session callback. Return value: only meaningful for GOWT_EV_CONNECT, where
 *   0                -> accept (HTTP 200) unless already decided in the
 *                       callback with gowt_session_accept / _refuse;
 *   400..599         -> refuse with that HTTP status;
 *   GOWT_CONNECT_DEFER -> decide later with gowt_session_accept / _refuse
 *                       (from any thread) within the config's
 *                       connect_decision_timeout_ms; after it the library
 *                       refuses with 503 (a later accept / refuse returns
 *                       GOWT_ERR_STATE);
 *   anything else    -> refuse with 500 (1, -1, any error code...).
 * Return 0 for every other event, including unknown types.
 */
typedef int (*gowt_session_cb)(gowt_ctx *ctx, const gowt_event *ev, void *app_ctx);

/** CONNECT callback result "decide later". 0.1.0 used 1, which a callback
 *  returning 1 for "error" hit by accident; since 0.2.0 it is this value,
 *  and 1 refuses with 500. Compatibility: a context created with a
 *  gowt_config of the 0.1.0 layout (a program built against 0.1.0) still
 *  defers on 1 (subject to the default decision timeout); with a NULL
 *  config the library cannot tell, and 1 refuses. */
#define GOWT_CONNECT_DEFER 0x44454652 /* "DEFR" */

/* ------------------------------------------------------------------------ */
/* Context                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Create a context. cfg may be NULL (all defaults); it is only read during
 * the call. On success *out is set (else *out is NULL when out is not).
 * There is no context yet to hold an error message: read it with
 * gowt_last_error(). Returns GOWT_OK, GOWT_ERR_INVALID_ARG (out NULL, bad
 * config value, struct_size out of range, or a non-zero field this library
 * does not know), GOWT_ERR_TLS (certificate/key/CA unreadable or
 * mismatched), GOWT_ERR_INTERNAL. Any thread.
 */
int gowt_ctx_create(const gowt_config *cfg, gowt_ctx **out);

/**
 * Destroy a context: closes every session (code 0, reason "context destroyed"),
 * delivers the remaining CLOSE, FREE and DEREGISTER events (on the calling
 * thread in POLL mode, on the dispatch thread otherwise), closes connections
 * and listeners, and only then returns. Afterwards ctx is invalid; using it
 * again returns GOWT_ERR_NOT_FOUND while the address is not reused.
 * Returns GOWT_OK, GOWT_ERR_NOT_FOUND (unknown/destroyed ctx), GOWT_ERR_BUSY
 * (called from inside one of this context's callbacks).
 */
int gowt_ctx_destroy(gowt_ctx *ctx);

/**
 * Copy the last error message of this context (NUL-terminated) into buf.
 * Returns the message length (>= 0), GOWT_ERR_RANGE if len is too small (buf
 * gets a truncated message), GOWT_ERR_INVALID_ARG, GOWT_ERR_NOT_FOUND.
 * Messages are per context; with several threads it is the last one set by
 * any of them (gowt_last_error() gives the calling thread's own).
 */
int gowt_ctx_last_error(gowt_ctx *ctx, char *buf, size_t len);

/**
 * POLL mode: a file descriptor that is readable while events are pending.
 * Do not read, write or close it. Returns GOWT_OK, GOWT_ERR_STATE (THREAD
 * mode), GOWT_ERR_INVALID_ARG, GOWT_ERR_NOT_FOUND.
 */
int gowt_ctx_get_fd(gowt_ctx *ctx, int *fd);

/**
 * POLL mode: deliver up to max_events pending events (0 = all pending now)
 * on the calling thread. Never blocks waiting for new events.
 * Returns the number delivered (>= 0), GOWT_ERR_BUSY (inside a callback or
 * another thread is delivering), GOWT_ERR_STATE (THREAD mode),
 * GOWT_ERR_CLOSED (context being destroyed), GOWT_ERR_NOT_FOUND.
 */
int gowt_ctx_process_events(gowt_ctx *ctx, int max_events);

/**
 * POLL mode, for programs without an event loop: block the calling thread
 * until events are pending or timeout_ms milliseconds passed (-1: no limit,
 * 0: just check), then return; deliver them with gowt_ctx_process_events().
 * Signals do not end the wait early. Do not destroy the context while
 * another thread waits in it.
 * Returns 1 (events pending), 0 (timed out), GOWT_ERR_BUSY (called from
 * inside one of this context's callbacks, where waiting could never end),
 * GOWT_ERR_STATE (THREAD mode), GOWT_ERR_INVALID_ARG (timeout_ms < -1),
 * GOWT_ERR_CLOSED (context being destroyed), GOWT_ERR_NOT_FOUND.
 * Any thread.
 */
int gowt_ctx_wait(gowt_ctx *ctx, int timeout_ms);

/**
 * SHA-256 of the server certificate's DER (what browsers pass in
 * serverCertificateHashes). The certificate is loaded (or, with none
 * configured, generated) on first use, by this call or the first listen,
 * so the hash can be read before listening.
 * Returns GOWT_OK, GOWT_ERR_TLS (the configured certificate or key is
 * unusable), GOWT_ERR_CLOSED (context being destroyed),
 * GOWT_ERR_INVALID_ARG, GOWT_ERR_NOT_FOUND.
 */
int gowt_ctx_cert_hash(gowt_ctx *ctx, uint8_t out[32]);

/** Log levels: a message is delivered when its level is at most the level
 *  set with gowt_ctx_set_log (since 0.2.0). */
typedef enum gowt_log_level {
    GOWT_LOG_OFF = 0,
    GOWT_LOG_ERROR = 1, /* the library recovered from an internal failure */
    GOWT_LOG_WARN = 2,  /* a peer broke the protocol, a message was dropped */
    GOWT_LOG_INFO = 3,  /* listening, sessions ending by error, handshakes failing */
    GOWT_LOG_DEBUG = 4  /* connections opening and closing, quic-go's http3 debug */
} gowt_log_level;

/** Log callback: one message. component names its source: "gowt" (the
 *  library), "quic" (connections), "session", "http3" (quic-go's HTTP/3
 *  layer). component and message are NUL-terminated, owned by the library
 *  and valid only during the call. It runs where the context's session
 *  callbacks run (the dispatch thread, or inside gowt_ctx_process_events /
 *  gowt_ctx_destroy in POLL mode), never concurrently with them, with the
 *  same rules: it may call any function of this header except
 *  gowt_ctx_destroy and gowt_ctx_process_events. */
typedef void (*gowt_log_cb)(gowt_ctx *ctx, int level, const char *component,
                            const char *message, void *app);

/**
 * Since 0.2.0. Route the context's diagnostics to cb: messages of `level`
 * and more severe (GOWT_LOG_ERROR .. GOWT_LOG_DEBUG); GOWT_LOG_OFF or a NULL
 * cb stops logging (the default). Messages waiting for delivery are bounded
 * (256 KiB); beyond that they are dropped, and a WARN message counts them.
 * quic-go's own packet-level logger is not reachable through its public API
 * (use qlog_dir for that). Returns GOWT_OK, GOWT_ERR_INVALID_ARG (level
 * outside 0..4), GOWT_ERR_NOT_FOUND. Any thread.
 */
int gowt_ctx_set_log(gowt_ctx *ctx, int level, gowt_log_cb cb, void *app);

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Listen for QUIC/HTTP/3 on host:port (UDP). host NULL or "" = all
 * addresses; port 0 = any free port. *bound_port (may be NULL) receives the
 * bound port. A context may listen on several addresses.
 * Returns GOWT_OK, GOWT_ERR_NETWORK (bind failed), GOWT_ERR_TLS (no usable
 * certificate), GOWT_ERR_INVALID_ARG, GOWT_ERR_NOT_FOUND, GOWT_ERR_CLOSED.
 */
int gowt_server_listen(gowt_ctx *ctx, const char *host, uint16_t port,
                       uint16_t *bound_port);

/** Options of a registered path. Initialise with gowt_path_options_init().
 *  A sized struct (see "ABI"); the 0.1.0 layout ends with protocols. */
typedef struct gowt_path_options {
    uint32_t struct_size;
    /* Comma-separated allowed Origin values ("http://127.0.0.1:8080,..."),
     * or "*" for any. NULL (default): no Origin header, or one whose host
     * equals :authority. A mismatch is refused with 403. */
    const char *allowed_origins;
    /* Comma-separated supported sub-protocols, in preference order. When
     * the client offers some (WT-Available-Protocols) and the app does not
     * choose one itself, the first supported offered one is chosen. */
    const char *protocols;
} gowt_path_options;

/** Fill the first `size` bytes of *opts with defaults (zeros) and set
 *  struct_size = size; call it through gowt_path_options_init(), which
 *  passes sizeof *opts. Returns GOWT_OK, GOWT_ERR_INVALID_ARG (opts NULL or
 *  size out of range; nothing written). Any thread. */
int gowt_path_options_init_sized(gowt_path_options *opts, size_t size);
#define gowt_path_options_init(opts) gowt_path_options_init_sized((opts), sizeof *(opts))

/**
 * Register a path: "/exact" matches "/exact" and "/exact?query"; "*" matches
 * any path. A more specific match wins over "*". opts may be NULL (only read
 * during the call). cb receives GOWT_EV_CONNECT with app_ctx, which becomes
 * the session's app context. Returns GOWT_OK, GOWT_ERR_INVALID_ARG (NULL
 * path/cb, path not starting with '/' and not "*", opts->struct_size out of
 * range or unknown fields set), GOWT_ERR_STATE (path already registered),
 * GOWT_ERR_NOT_FOUND, GOWT_ERR_CLOSED.
 */
int gowt_server_register(gowt_ctx *ctx, const char *path, gowt_session_cb cb,
                         void *app_ctx, const gowt_path_options *opts);

/** Remove a path; existing sessions continue. Returns GOWT_OK,
 *  GOWT_ERR_NOT_FOUND (unknown ctx or path), GOWT_ERR_INVALID_ARG. */
int gowt_server_unregister(gowt_ctx *ctx, const char *path);

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

/** Options of gowt_connect. Initialise with gowt_connect_options_init().
 *  A sized struct (see "ABI"); the 0.1.0 layout ends with new_connection. */
typedef struct gowt_connect_options {
    uint32_t struct_size;
    const char *protocols;          /* comma-separated offered sub-protocols;
                                     * a 2xx choosing none of them (or any,
                                     * when none offered) is CONNECT_REFUSED
                                     * code 0, the session closed with
                                     * WT_ALPN_ERROR (0x0817b3dd) */
    const char *const *header_names; /* extra request headers */
    const char *const *header_values;
    size_t header_count;
    const char *sni;                /* TLS server name (default: URL host,
                                     * or "localhost" for IP literals) */
    const char *authority;          /* :authority (default: URL host:port) */
    const char *origin;             /* Origin header to send (none default) */
    int new_connection;             /* 1: never share a QUIC connection */
} gowt_connect_options;

/** Fill the first `size` bytes of *opts with defaults (zeros) and set
 *  struct_size = size; call it through gowt_connect_options_init(), which
 *  passes sizeof *opts. Returns GOWT_OK, GOWT_ERR_INVALID_ARG (opts NULL or
 *  size out of range; nothing written). Any thread. */
int gowt_connect_options_init_sized(gowt_connect_options *opts, size_t size);
#define gowt_connect_options_init(opts) \
    gowt_connect_options_init_sized((opts), sizeof *(opts))

/**
 * Open a WebTransport session to url ("https://host:port/path?query").
 * Returns at once: *out receives the session handle, and cb receives
 * GOWT_EV_CONNECTING, then GOWT_EV_CONNECT_ACCEPTED or
 * GOWT_EV_CONNECT_REFUSED (then DEREGISTER). Sessions to the same
 * host:port share a QUIC connection when both sides enabled WebTransport
 * flow control; otherwise each gets its own. opts may be NULL (only read
 * during the call). Returns GOWT_OK, GOWT_ERR_INVALID_ARG (NULL cb/out, bad
 * URL, opts->struct_size out of range or unknown fields set),
 * GOWT_ERR_LIMIT (max_sessions), GOWT_ERR_NOT_FOUND, GOWT_ERR_CLOSED.
 */
int gowt_connect(gowt_ctx *ctx, const char *url, const gowt_connect_options *opts,
                 gowt_session_cb cb, void *app_ctx, gowt_session_t *out);

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */
/* ------------------------------------------------------------------------ */

/** Server: accept a session in CONNECT (deferred or not), choosing
 *  sub-protocol `protocol` (NULL: the path's automatic choice). It is sent
 *  as chosen, unchecked: one the client did not offer (request->protocols)
 *  makes clients that follow the draft, gowt's among them, close the
 *  session with WT_ALPN_ERROR.
 *  Returns GOWT_OK, GOWT_ERR_STATE (already decided / client session),
 *  GOWT_ERR_NOT_FOUND, GOWT_ERR_INVALID_ARG. */
int gowt_session_accept(gowt_ctx *ctx, gowt_session_t s, const char *protocol);

/** Server: refuse a session with HTTP status 400..599 (the client sees it).
 *  Returns GOWT_OK, GOWT_ERR_INVALID_ARG (status out of range),
 *  GOWT_ERR_STATE, GOWT_ERR_NOT_FOUND. */
int gowt_session_refuse(gowt_ctx *ctx, gowt_session_t s, int status);

/**
 * Close a session with a 32-bit code and a UTF-8 reason of at most 1024 bytes
 * (reason may be NULL when reason_len is 0). Sends CLOSE_WEBTRANSPORT_SESSION
 * and FIN first, then resets the session's streams. Leads to CLOSE (flags
 * GOWT_CLOSE_LOCAL), FREE for each stream, DEREGISTER.
 * A client session still connecting is abandoned (CLOSE with
 * GOWT_CLOSE_LOCAL follows). Returns GOWT_OK, GOWT_ERR_TOO_LARGE (reason >
 * 1024 bytes), GOWT_ERR_INVALID_ARG (reason NULL with length, not UTF-8),
 * GOWT_ERR_STATE (server session not accepted yet: use
 * gowt_session_refuse), GOWT_ERR_CLOSED (already closing/closed),
 * GOWT_ERR_NOT_FOUND.
 */
int gowt_session_close(gowt_ctx *ctx, gowt_session_t s, uint32_t code,
                       const char *reason, size_t reason_len);

/** Ask the peer to wind the session down (WT_DRAIN_SESSION capsule). The
 *  session stays usable. Returns GOWT_OK, GOWT_ERR_CLOSED, GOWT_ERR_STATE
 *  (not yet accepted), GOWT_ERR_NOT_FOUND. */
int gowt_session_drain(gowt_ctx *ctx, gowt_session_t s);

/** Set the session's app context. Called inside a callback, every later event
 *  carries it. Called from another thread, events handed to the callback
 *  thread after the call carry it (those of the batch already being
 *  delivered, at most 63, may not). Returns GOWT_OK, GOWT_ERR_NOT_FOUND. */
int gowt_session_set_app_ctx(gowt_ctx *ctx, gowt_session_t s, void *app_ctx);

/** The session's wire ID (CONNECT stream ID). Returns GOWT_OK,
 *  GOWT_ERR_STATE (client: not opened yet), GOWT_ERR_NOT_FOUND,
 *  GOWT_ERR_INVALID_ARG. */
int gowt_session_get_id(gowt_ctx *ctx, gowt_session_t s, uint64_t *id);

/** Session counters and facts, filled by gowt_session_get_info. A sized
 *  output struct (see "ABI"): set struct_size = sizeof before the call; on
 *  return it is the number of bytes filled. The 0.1.0 layout ends with
 *  shared_connection. */
typedef struct gowt_session_info {
    uint32_t struct_size;
    uint64_t session_id;           /* CONNECT stream ID or GOWT_NO_ID */
    size_t max_datagram_size;      /* current max datagram payload */
    uint64_t datagrams_sent;
    uint64_t datagrams_received;
    uint64_t datagrams_dropped_send; /* too large for the path when sent */
    uint64_t datagrams_dropped_recv; /* receive queue full */
    uint64_t bytes_sent;             /* stream payload bytes */
    uint64_t bytes_received;
    int flow_control;              /* 1: WebTransport flow control active */
    int shared_connection;         /* 1: other sessions may share the conn */
    /* ---- end of the 0.1.0 layout ---- */

    /* Since 0.2.0: the session's QUIC connection (quic-go's
     * ConnectionStats; sessions sharing a connection see the same values).
     * All 0 / "" while a client session is still connecting. */
    uint64_t rtt_smoothed_us;      /* smoothed RTT (RFC 9002), microseconds */
    uint64_t rtt_min_us;           /* minimum RTT observed */
    uint64_t rtt_latest_us;        /* latest RTT sample */
    uint64_t rtt_variance_us;      /* RTT mean deviation */
    uint64_t congestion_window;    /* bytes, QUIC packet overhead included */
    uint64_t conn_bytes_sent;      /* UDP payload bytes, retransmissions included */
    uint64_t conn_packets_sent;
    uint64_t conn_bytes_received;
    uint64_t conn_packets_received;
    uint64_t conn_bytes_lost;      /* declared lost (can go down again when a
                                    * packet declared lost arrives after all) */
    uint64_t conn_packets_lost;
    uint32_t conn_sessions;        /* sessions on the connection now */
    int tls_resumed;               /* 1: the handshake resumed a TLS session */
    char peer_addr[64];            /* "192.0.2.1:443" / "[2001:db8::1]:443" */
    char local_addr[64];           /* the socket's address: a client context's
                                    * socket is bound to all addresses, so
                                    * its host part is 0.0.0.0 / [::] */
    uint8_t peer_cert_sha256[32];  /* SHA-256 of the peer's leaf certificate */
    int has_peer_cert;             /* 1: peer_cert_sha256 is set (a server sees
                                    * a client certificate only when asked for
                                    * one: client_auth) */
    uint32_t reserved1;            /* 0 */
} gowt_session_info;

/** Fill *info up to info->struct_size (see gowt_session_info). Returns
 *  GOWT_OK, GOWT_ERR_INVALID_ARG (info NULL or struct_size out of range;
 *  nothing written), GOWT_ERR_NOT_FOUND (unknown ctx or session; nothing
 *  written). Any thread. */
int gowt_session_get_info(gowt_ctx *ctx, gowt_session_t s, gowt_session_info *info);

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Open a stream in an established session (a server session counts as
 * established from gowt_session_accept on, even inside its CONNECT
 * callback). bidi: 1 bidirectional, 0 unidirectional. stream_ctx is given
 * back in the stream's events. The stream header is sent at once; a reset
 * right away waits until the header is packed. A peer that supports
 * RESET_STREAM_AT (gowt, picoquic, webtransport-go on quic-go) always
 * learns of the stream; one that does not gets the reset about two round
 * trips after the header, and learns of the stream only if it read the
 * header by then (QUIC lets a receiver drop unread data at a reset:
 * wtransport/quinn sometimes does, tests/interop/README.md).
 * Returns GOWT_OK (*stream_id set), GOWT_ERR_LIMIT (peer's stream limit;
 * GOWT_EV_STREAMS_AVAILABLE tells when to retry), GOWT_ERR_STATE (not
 * established), GOWT_ERR_CLOSED,
 * GOWT_ERR_NOT_FOUND, GOWT_ERR_INVALID_ARG.
 */
int gowt_create_local_stream(gowt_ctx *ctx, gowt_session_t s, int bidi,
                             void *stream_ctx, uint64_t *stream_id);

/**
 * Push send: copy len bytes (and FIN if fin) into the stream's send buffer.
 * All or nothing: when the buffer (config stream_send_buffer) cannot take
 * them now, returns GOWT_ERR_WOULD_BLOCK and GOWT_EV_STREAM_WRITABLE
 * follows once it can. len 0 with fin=1 just sends FIN. Memory is counted
 * in bytes: the buffer holds at most stream_send_buffer plus one partly
 * filled 64 KiB chunk, however many calls filled it; a small send (up to
 * 1 KiB) into an idle stream is copied straight into the QUIC stack. Data
 * handed over with fin=1 leaves with FIN on the frame of its last byte
 * (quic-go has no write-and-close call: if the sending goroutine is
 * preempted between its two calls, about 1 stream in 10 000 under CPU
 * load, FIN follows in a frame of its own).
 * Data and FIN given before gowt_session_close still go out until the
 * close resets the session's unfinished streams.
 * Returns GOWT_OK, GOWT_ERR_WOULD_BLOCK, GOWT_ERR_TOO_LARGE (len larger than
 * the whole buffer), GOWT_ERR_CLOSED (FIN sent, reset, STOP_SENDING received,
 * session closed), GOWT_ERR_STATE (stream in pull mode, or receive-only),
 * GOWT_ERR_NOT_FOUND, GOWT_ERR_INVALID_ARG (data NULL with len > 0).
 */
int gowt_stream_send(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                     const void *data, size_t len, int fin);

/**
 * Push send without a copy (since 0.3.0; msquic's StreamSend with
 * SEND_COMPLETE): like gowt_stream_send, but the library keeps and reads
 * the caller's buffer instead of copying it, until it delivers
 * GOWT_EV_SEND_COMPLETE for it (ev->data == data, ev->length == len,
 * ev->send_ctx == send_ctx). Until then the buffer must stay valid and
 * unchanged; the same buffer may be queued more than once.
 * - On GOWT_OK exactly one SEND_COMPLETE follows, before the stream's
 *   GOWT_EV_FREE: when all bytes are handed to the QUIC stack (which copies
 *   them into its packets; a small send into an idle stream completes at
 *   once), or when a reset, STOP_SENDING or failure drops them
 *   (GOWT_SEND_CANCELED). When you close the session, what is still
 *   queued is copied, completed, and still sent, like gowt_stream_send's
 *   data; when the peer, an error or the connection ends it, what is
 *   queued is released with GOWT_SEND_CANCELED.
 * - On any other return the library keeps nothing and no SEND_COMPLETE
 *   follows.
 * - After gowt_ctx_destroy returns, the library reads no buffer and
 *   delivers no SEND_COMPLETE: every buffer is the caller's again.
 * The bytes count against stream_send_buffer like copied ones (all or
 * nothing, GOWT_ERR_WOULD_BLOCK then GOWT_EV_STREAM_WRITABLE;
 * GOWT_ERR_TOO_LARGE above it), and both kinds of send mix in order on one
 * stream. FIN (fin=1) goes on the frame of the last byte. Returns as
 * gowt_stream_send.
 */
int gowt_stream_send_nocopy(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                            const void *data, size_t len, int fin, void *send_ctx);

/**
 * Pull send: active=1 makes the library ask for data with
 * GOWT_EV_PROVIDE_DATA whenever the stream can send; active=0 stops asking.
 * ev->length offers at most 64 KiB, and with WebTransport flow control no
 * more than the session's credit. The next PROVIDE_DATA is asked while the
 * previous answer is being written (two chunks in flight at most). An empty
 * answer with still_active=1 is asked again after 125 ms, or at once when
 * gowt_stream_mark_active(…, 1) is called again (call it when data arrives).
 * A stream that already has push data queued finishes sending it first.
 * Returns GOWT_OK, GOWT_ERR_CLOSED, GOWT_ERR_STATE (receive-only),
 * GOWT_ERR_NOT_FOUND.
 */
int gowt_stream_mark_active(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                            int active);

/**
 * Answer a GOWT_EV_PROVIDE_DATA event, once, inside its callback: get a
 * buffer for n bytes (n <= ev->length) to fill before the callback returns.
 * fin=1 ends the stream after these bytes (FIN rides on the frame of the
 * last byte); still_active=0 stops further
 * PROVIDE_DATA until gowt_stream_mark_active(…, 1). Not answering means "no
 * data now" and makes the stream inactive. *buf may be NULL when n is 0.
 * Once pull mode ends, push sends are taken again and go out after the last
 * answer; after an answer with fin=1 they return GOWT_ERR_CLOSED. An event
 * kept past its callback, or another event of the same batch, answers
 * nothing (GOWT_ERR_STATE).
 * Returns GOWT_OK, GOWT_ERR_TOO_LARGE (n > ev->length), GOWT_ERR_STATE
 * (not inside that event's callback, or answered twice),
 * GOWT_ERR_INVALID_ARG.
 */
int gowt_provide_stream_data(gowt_ctx *ctx, const gowt_event *ev, size_t n,
                             int fin, int still_active, uint8_t **buf);

/** Abruptly end sending with an application error code (RESET_STREAM).
 *  Note: when the peer sent STOP_SENDING, the QUIC stack (quic-go) has
 *  already answered it with a reset carrying the STOP_SENDING's own code;
 *  a later gowt_stream_reset then returns GOWT_ERR_CLOSED and sends nothing.
 *  Returns GOWT_OK, GOWT_ERR_STATE (receive-only stream), GOWT_ERR_CLOSED,
 *  GOWT_ERR_NOT_FOUND. */
int gowt_stream_reset(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                      uint32_t code);

/** Ask the peer to stop sending (STOP_SENDING) with an application code;
 *  further incoming data is discarded. Returns GOWT_OK, GOWT_ERR_STATE
 *  (send-only stream), GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND. */
int gowt_stream_stop_sending(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                             uint32_t code);

/** Pause (on = 0) or resume (on = 1) reading this stream (msquic's
 *  StreamReceiveSetEnabled). While paused, no POST_DATA / POST_FIN / RESET
 *  of this stream is delivered and nothing more is read, so QUIC's stream
 *  flow control stops the peer on this stream only; other streams go on.
 *  Data already queued for delivery is still delivered; that includes a
 *  new stream paused from its STREAM_OPENED callback, since reading starts
 *  when the stream opens (bounded by recv_buffer_bytes). Any thread.
 *  Returns GOWT_OK (also when already in that state), GOWT_ERR_STATE
 *  (send-only stream), GOWT_ERR_CLOSED (receive side finished),
 *  GOWT_ERR_NOT_FOUND. */
int gowt_stream_set_receive_enabled(gowt_ctx *ctx, gowt_session_t s,
                                    uint64_t stream_id, int on);

/** Set the stream's app context; it is valid until the stream's FREE event
 *  (same delivery rule as gowt_session_set_app_ctx). Returns GOWT_OK,
 *  GOWT_ERR_NOT_FOUND (unknown stream, or FREE already delivered). */
int gowt_stream_set_ctx(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                        void *stream_ctx);

/**
 * Since 0.2.0. Send priority of a stream with a send side, as the W3C API's
 * sendOrder and sendGroup: within one send group (of one session), data of
 * a stream with a higher send_order goes out before data of streams with a
 * lower one; streams of equal send_order share the link round robin.
 * Every stream starts at send_order 0, send_group 0. It maps onto quic-go's
 * 8 urgency levels: each group's distinct send_order values are ranked,
 * the highest keeps the default urgency (shared with the session's CONNECT
 * stream and with sessions that set no priority), and the 5th highest and
 * below share the lowest urgency. Groups share the levels, so a group's
 * second rank also yields to another group's first (a deviation from the
 * W3C model, where groups are scheduled independently). Setting a
 * priority ranks the session's send streams again (linear in their number).
 * Returns GOWT_OK, GOWT_ERR_STATE (receive-only stream), GOWT_ERR_CLOSED
 * (session closed), GOWT_ERR_NOT_FOUND. Any thread.
 */
int gowt_stream_set_priority(gowt_ctx *ctx, gowt_session_t s, uint64_t stream_id,
                             int64_t send_order, uint32_t send_group);

/* ------------------------------------------------------------------------ */
/* Datagrams                                                                */
/* ------------------------------------------------------------------------ */

/**
 * Push send: copy one datagram into the session's send queue.
 * Returns GOWT_OK, GOWT_ERR_TOO_LARGE (len > current max datagram size),
 * GOWT_ERR_WOULD_BLOCK (queue full; GOWT_EV_DATAGRAM_WRITABLE follows),
 * GOWT_ERR_STATE (not established), GOWT_ERR_CLOSED, GOWT_ERR_NOT_FOUND,
 * GOWT_ERR_INVALID_ARG.
 */
int gowt_send_datagram(gowt_ctx *ctx, gowt_session_t s, const void *data, size_t len);

/** Pull send: ready=1 makes the library fire GOWT_EV_PROVIDE_DATAGRAM when a
 *  datagram can go into the next packet (at most two pulled datagrams wait
 *  inside the QUIC stack, so on a congested path what you provide is fresh
 *  when it leaves; push sends queued with gowt_send_datagram go first);
 *  ready=0 stops it. Returns GOWT_OK, GOWT_ERR_CLOSED,
 *  GOWT_ERR_STATE, GOWT_ERR_NOT_FOUND. */
int gowt_set_datagram_ready(gowt_ctx *ctx, gowt_session_t s, int ready);

/**
 * Answer a GOWT_EV_PROVIDE_DATAGRAM event, once, inside its callback: get a
 * buffer for one datagram of n bytes (n <= ev->length) to fill before the
 * callback returns. more=1 asks to be called again; more=0 clears ready.
 * n == 0 sends nothing; with more=1 the next PROVIDE_DATAGRAM comes after
 * 125 ms, or at once on gowt_set_datagram_ready(…, 1). Returns GOWT_OK, GOWT_ERR_TOO_LARGE, GOWT_ERR_STATE,
 * GOWT_ERR_INVALID_ARG.
 */
int gowt_provide_datagram(gowt_ctx *ctx, const gowt_event *ev, size_t n, int more,
                          uint8_t **buf);

/** Current maximum datagram payload of the session (grows with path MTU
 *  discovery). Returns GOWT_OK, GOWT_ERR_NOT_FOUND, GOWT_ERR_INVALID_ARG. */
int gowt_max_datagram_size(gowt_ctx *ctx, gowt_session_t s, size_t *out);

/* ------------------------------------------------------------------------ */
/* Go runtime (since 0.3.0)                                                 */
/* ------------------------------------------------------------------------ */

/** GOWT_RUNTIME_KEEP: leave that setting as it is. */
#define GOWT_RUNTIME_KEEP (-2)

/**
 * Garbage collector settings of the Go runtime inside libgowt. There is one
 * Go runtime per process, shared by every context, so these are
 * process-wide, not per context (which is why they are not gowt_config
 * fields). The environment variables GOGC and GOMEMLIMIT set the same at
 * load time. Any thread, any time.
 *   memory_limit: soft limit in bytes on the memory the Go runtime uses
 *     (runtime/debug.SetMemoryLimit): the collector runs harder as it is
 *     approached. 0 means no limit; GOWT_RUNTIME_KEEP leaves it.
 *   gc_percent: heap growth between collections, in percent of the live
 *     heap (GOGC; the default is 100). -1 turns the proportional collector
 *     off, so that only memory_limit triggers collections (a common setting
 *     for bulk transfers: fewer collections, at most the limit used; set a
 *     limit with it). GOWT_RUNTIME_KEEP leaves it.
 *   prev_memory_limit, prev_gc_percent: if not NULL, the values before the
 *     call (a limit of 0 means none).
 * Returns GOWT_OK, GOWT_ERR_INVALID_ARG (memory_limit < 0 other than
 * GOWT_RUNTIME_KEEP, gc_percent < -1 other than GOWT_RUNTIME_KEEP; nothing
 * is changed then).
 */
int gowt_runtime_set_gc(int64_t memory_limit, int gc_percent, int64_t *prev_memory_limit,
                        int *prev_gc_percent);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/** Name of an event type ("POST_DATA"), static; "UNKNOWN" otherwise. */
const char *gowt_event_name(int type);

#ifdef __cplusplus
}
#endif

#endif /* GOWT_H */
