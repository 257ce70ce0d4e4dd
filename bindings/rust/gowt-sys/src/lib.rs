//! Raw FFI bindings to libgowt: every declaration of `include/gowt.h`, by hand.
//!
//! Read `include/gowt.h` for the semantics; this crate adds nothing. The
//! header only ever grows by appending (functions, struct fields, enum
//! values), and so does this file: add the new item in the same place. The
//! test `tests/header.rs` compiles a C program against the real header and
//! fails when a function, constant, struct field, offset or size here
//! differs from it (or is missing here).
//!
//! Sized structs (`gowt_config`, `gowt_path_options`, `gowt_connect_options`,
//! `gowt_session_info`): the header's init macros are not callable from Rust;
//! call the `*_init_sized` functions with `size_of`, e.g. [`gowt_config_init`].
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    clippy::missing_safety_doc
)]
#![no_std]

use core::ffi::{c_char, c_int, c_void};
use core::mem::{offset_of, size_of, MaybeUninit};

/// Declares `#[repr(C)]` structs together with a table of their fields'
/// offsets and sizes (`LAYOUT`), which `tests/header.rs` checks against C.
macro_rules! c_structs {
    ($( $(#[$m:meta])* pub struct $name:ident { $( pub $f:ident : $t:ty, )* } )*) => {$(
        $(#[$m])*
        #[repr(C)]
        #[derive(Copy, Clone, Debug)]
        pub struct $name { $( pub $f: $t, )* }
        impl $name {
            /// (field, offset, size) of every field, in declaration order.
            pub const LAYOUT: &'static [(&'static str, usize, usize)] = &[
                $( (stringify!($f), offset_of!($name, $f), size_of::<$t>()), )*
            ];
        }
    )*
        /// (struct name, size, fields) of every struct of the header.
        pub const STRUCTS: &[(&str, usize, &[(&str, usize, usize)])] = &[
            $( (stringify!($name), size_of::<$name>(), $name::LAYOUT), )*
        ];
    };
}

/// Declares integer constants (enum values and `#define`s of the header)
/// together with a table (`CONSTANTS`) checked against C.
macro_rules! c_consts {
    ($( $name:ident : $t:ty = $v:expr, )*) => {
        $( pub const $name: $t = $v; )*
        /// (name, value) of every constant of the header.
        pub const CONSTANTS: &[(&str, i128)] = &[ $( (stringify!($name), $v as i128), )* ];
    };
}

/// Declares the extern functions together with their names (`FUNCTIONS`).
macro_rules! c_functions {
    ($( $(#[$m:meta])* pub fn $name:ident ( $( $a:ident : $t:ty ),* $(,)? ) -> $r:ty ; )*) => {
        extern "C" {
            $( $(#[$m])* pub fn $name( $( $a: $t ),* ) -> $r; )*
        }
        /// Names of every function of the header.
        pub const FUNCTIONS: &[&str] = &[ $( stringify!($name), )* ];
    };
}

pub type gowt_error = c_int;
pub type gowt_dispatch_mode = c_int;
pub type gowt_event_type = c_int;
pub type gowt_session_t = u64;
pub type gowt_client_auth = c_int;
pub type gowt_log_level = c_int;

/// Opaque context.
#[repr(C)]
pub struct gowt_ctx {
    _private: [u8; 0],
    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

c_consts! {
    GOWT_VERSION_MAJOR: c_int = 0,
    GOWT_VERSION_MINOR: c_int = 4,
    GOWT_VERSION_PATCH: c_int = 0,
    GOWT_VERSION_NUMBER: c_int = GOWT_VERSION_MAJOR * 10000 + GOWT_VERSION_MINOR * 100 + GOWT_VERSION_PATCH,

    GOWT_OK: gowt_error = 0,
    GOWT_ERR_INVALID_ARG: gowt_error = -1,
    GOWT_ERR_NOT_FOUND: gowt_error = -2,
    GOWT_ERR_CLOSED: gowt_error = -3,
    GOWT_ERR_WOULD_BLOCK: gowt_error = -4,
    GOWT_ERR_TOO_LARGE: gowt_error = -5,
    GOWT_ERR_BUSY: gowt_error = -6,
    GOWT_ERR_TLS: gowt_error = -7,
    GOWT_ERR_NETWORK: gowt_error = -8,
    GOWT_ERR_PROTOCOL: gowt_error = -9,
    GOWT_ERR_LIMIT: gowt_error = -10,
    GOWT_ERR_STATE: gowt_error = -11,
    GOWT_ERR_INTERNAL: gowt_error = -12,
    GOWT_ERR_RANGE: gowt_error = -13,
    GOWT_ERR_UNSUPPORTED: gowt_error = -14,

    GOWT_NO_ID: u64 = u64::MAX,
    GOWT_STRUCT_SIZE_MAX: usize = 4096,

    GOWT_DISPATCH_THREAD: gowt_dispatch_mode = 0,
    GOWT_DISPATCH_POLL: gowt_dispatch_mode = 1,

    GOWT_EV_CONNECTING: gowt_event_type = 1,
    GOWT_EV_CONNECT: gowt_event_type = 2,
    GOWT_EV_CONNECT_ACCEPTED: gowt_event_type = 3,
    GOWT_EV_CONNECT_REFUSED: gowt_event_type = 4,
    GOWT_EV_POST_DATA: gowt_event_type = 5,
    GOWT_EV_POST_FIN: gowt_event_type = 6,
    GOWT_EV_PROVIDE_DATA: gowt_event_type = 7,
    GOWT_EV_POST_DATAGRAM: gowt_event_type = 8,
    GOWT_EV_PROVIDE_DATAGRAM: gowt_event_type = 9,
    GOWT_EV_RESET: gowt_event_type = 10,
    GOWT_EV_STOP_SENDING: gowt_event_type = 11,
    GOWT_EV_CLOSE: gowt_event_type = 12,
    GOWT_EV_DRAIN: gowt_event_type = 13,
    GOWT_EV_DEREGISTER: gowt_event_type = 14,
    GOWT_EV_FREE: gowt_event_type = 15,
    GOWT_EV_STREAM_WRITABLE: gowt_event_type = 16,
    GOWT_EV_DATAGRAM_WRITABLE: gowt_event_type = 17,
    GOWT_EV_STREAM_OPENED: gowt_event_type = 18,
    GOWT_EV_STREAMS_AVAILABLE: gowt_event_type = 19,
    GOWT_EV_SEND_COMPLETE: gowt_event_type = 20,

    GOWT_CLOSE_LOCAL: c_int = 0x1,
    GOWT_CLOSE_REMOTE: c_int = 0x2,
    GOWT_CLOSE_ERROR: c_int = 0x4,
    GOWT_STREAM_BIDI: c_int = 0x10,
    GOWT_STREAM_LOCAL: c_int = 0x20,
    GOWT_CODE_RAW: c_int = 0x40,
    GOWT_SEND_CANCELED: c_int = 0x80,
    GOWT_RUNTIME_KEEP: c_int = -2,

    GOWT_CLIENT_AUTH_NONE: gowt_client_auth = 0,
    GOWT_CLIENT_AUTH_REQUEST: gowt_client_auth = 1,
    GOWT_CLIENT_AUTH_REQUIRE: gowt_client_auth = 2,

    GOWT_LOG_OFF: gowt_log_level = 0,
    GOWT_LOG_ERROR: gowt_log_level = 1,
    GOWT_LOG_WARN: gowt_log_level = 2,
    GOWT_LOG_INFO: gowt_log_level = 3,
    GOWT_LOG_DEBUG: gowt_log_level = 4,

    GOWT_CONNECT_DEFER: c_int = 0x44454652,
}

c_structs! {
    /// Context configuration (sized struct; init with [`gowt_config_init`]).
    pub struct gowt_config {
        pub struct_size: u32,
        pub dispatch_mode: c_int,
        pub cert_file: *const c_char,
        pub key_file: *const c_char,
        pub cert_pem: *const c_char,
        pub key_pem: *const c_char,
        pub cert_hostnames: *const c_char,
        pub ca_file: *const c_char,
        pub pinned_cert_hashes: *const u8,
        pub pinned_cert_hash_count: usize,
        pub insecure_skip_verify: c_int,
        pub idle_timeout_ms: u32,
        pub keep_alive_ms: u32,
        pub handshake_timeout_ms: u32,
        pub max_sessions: u32,
        pub max_incoming_streams_bidi: u32,
        pub max_incoming_streams_uni: u32,
        pub max_incoming_data: u64,
        pub stream_send_buffer: usize,
        pub datagram_recv_queue: u32,
        pub datagram_send_queue: u32,
        pub event_queue_depth: u32,
        pub qlog_dir: *const c_char,
        pub keylog_file: *const c_char,
        pub www_dir: *const c_char,
        pub connect_decision_timeout_ms: u32,
        pub connect_response_timeout_ms: u32,
        pub recv_buffer_bytes: u64,
        pub stream_recv_window: u64,
        pub max_stream_recv_window: u64,
        pub conn_recv_window: u64,
        pub max_conn_recv_window: u64,
        pub client_cert_file: *const c_char,
        pub client_key_file: *const c_char,
        pub client_cert_pem: *const c_char,
        pub client_key_pem: *const c_char,
        pub client_ca_file: *const c_char,
        pub client_auth: c_int,
        pub disable_resumption: c_int,
    }

    /// A server-side CONNECT request (library-owned, valid during the callback).
    pub struct gowt_connect_request {
        pub path: *const c_char,
        pub query: *const c_char,
        pub authority: *const c_char,
        pub origin: *const c_char,
        pub protocol: *const c_char,
        pub protocols: *const *const c_char,
        pub protocol_count: usize,
        pub header_names: *const *const c_char,
        pub header_values: *const *const c_char,
        pub header_count: usize,
        pub peer_addr: *const c_char,
        pub local_addr: *const c_char,
        pub peer_cert_sha256: *const u8,
    }

    /// One event (library-owned, valid during the callback).
    pub struct gowt_event {
        pub type_: c_int,
        pub flags: c_int,
        pub session: gowt_session_t,
        pub session_id: u64,
        pub stream_id: u64,
        pub data: *const u8,
        pub length: usize,
        pub code: u64,
        pub app_ctx: *mut c_void,
        pub stream_ctx: *mut c_void,
        pub request: *const gowt_connect_request,
        pub protocol: *const c_char,
        pub token: u64,
        pub peer_cert_sha256: *const u8,
        pub send_ctx: *mut c_void,
    }

    /// Options of a registered path (sized struct).
    pub struct gowt_path_options {
        pub struct_size: u32,
        pub allowed_origins: *const c_char,
        pub protocols: *const c_char,
    }

    /// Options of gowt_connect (sized struct).
    pub struct gowt_connect_options {
        pub struct_size: u32,
        pub protocols: *const c_char,
        pub header_names: *const *const c_char,
        pub header_values: *const *const c_char,
        pub header_count: usize,
        pub sni: *const c_char,
        pub authority: *const c_char,
        pub origin: *const c_char,
        pub new_connection: c_int,
    }

    /// Session counters (sized output struct).
    pub struct gowt_session_info {
        pub struct_size: u32,
        pub session_id: u64,
        pub max_datagram_size: usize,
        pub datagrams_sent: u64,
        pub datagrams_received: u64,
        pub datagrams_dropped_send: u64,
        pub datagrams_dropped_recv: u64,
        pub bytes_sent: u64,
        pub bytes_received: u64,
        pub flow_control: c_int,
        pub shared_connection: c_int,
        pub rtt_smoothed_us: u64,
        pub rtt_min_us: u64,
        pub rtt_latest_us: u64,
        pub rtt_variance_us: u64,
        pub congestion_window: u64,
        pub conn_bytes_sent: u64,
        pub conn_packets_sent: u64,
        pub conn_bytes_received: u64,
        pub conn_packets_received: u64,
        pub conn_bytes_lost: u64,
        pub conn_packets_lost: u64,
        pub conn_sessions: u32,
        pub tls_resumed: c_int,
        pub peer_addr: [c_char; 64],
        pub local_addr: [c_char; 64],
        pub peer_cert_sha256: [u8; 32],
        pub has_peer_cert: c_int,
        pub reserved1: u32,
    }
}

/// Session callback (see gowt.h).
pub type gowt_session_cb = Option<
    unsafe extern "C" fn(ctx: *mut gowt_ctx, ev: *const gowt_event, app_ctx: *mut c_void) -> c_int,
>;

/// Log callback (see gowt.h, gowt_ctx_set_log).
pub type gowt_log_cb = Option<
    unsafe extern "C" fn(
        ctx: *mut gowt_ctx,
        level: c_int,
        component: *const c_char,
        message: *const c_char,
        app: *mut c_void,
    ),
>;

c_functions! {
    pub fn gowt_version() -> *const c_char;
    pub fn gowt_version_number() -> c_int;
    pub fn gowt_strerror(err: c_int) -> *const c_char;
    pub fn gowt_last_error(buf: *mut c_char, len: usize) -> c_int;
    pub fn gowt_config_init_sized(cfg: *mut gowt_config, size: usize) -> c_int;
    pub fn gowt_ctx_create(cfg: *const gowt_config, out: *mut *mut gowt_ctx) -> c_int;
    pub fn gowt_ctx_destroy(ctx: *mut gowt_ctx) -> c_int;
    pub fn gowt_ctx_last_error(ctx: *mut gowt_ctx, buf: *mut c_char, len: usize) -> c_int;
    pub fn gowt_ctx_get_fd(ctx: *mut gowt_ctx, fd: *mut c_int) -> c_int;
    pub fn gowt_ctx_process_events(ctx: *mut gowt_ctx, max_events: c_int) -> c_int;
    pub fn gowt_ctx_wait(ctx: *mut gowt_ctx, timeout_ms: c_int) -> c_int;
    pub fn gowt_ctx_cert_hash(ctx: *mut gowt_ctx, out: *mut u8) -> c_int;
    pub fn gowt_ctx_set_log(ctx: *mut gowt_ctx, level: c_int, cb: gowt_log_cb, app: *mut c_void) -> c_int;
    pub fn gowt_server_listen(ctx: *mut gowt_ctx, host: *const c_char, port: u16, bound_port: *mut u16) -> c_int;
    pub fn gowt_path_options_init_sized(opts: *mut gowt_path_options, size: usize) -> c_int;
    pub fn gowt_server_register(ctx: *mut gowt_ctx, path: *const c_char, cb: gowt_session_cb, app_ctx: *mut c_void, opts: *const gowt_path_options) -> c_int;
    pub fn gowt_server_unregister(ctx: *mut gowt_ctx, path: *const c_char) -> c_int;
    pub fn gowt_connect_options_init_sized(opts: *mut gowt_connect_options, size: usize) -> c_int;
    pub fn gowt_connect(ctx: *mut gowt_ctx, url: *const c_char, opts: *const gowt_connect_options, cb: gowt_session_cb, app_ctx: *mut c_void, out: *mut gowt_session_t) -> c_int;
    pub fn gowt_session_accept(ctx: *mut gowt_ctx, s: gowt_session_t, protocol: *const c_char) -> c_int;
    pub fn gowt_session_refuse(ctx: *mut gowt_ctx, s: gowt_session_t, status: c_int) -> c_int;
    pub fn gowt_session_close(ctx: *mut gowt_ctx, s: gowt_session_t, code: u32, reason: *const c_char, reason_len: usize) -> c_int;
    pub fn gowt_session_drain(ctx: *mut gowt_ctx, s: gowt_session_t) -> c_int;
    pub fn gowt_session_set_app_ctx(ctx: *mut gowt_ctx, s: gowt_session_t, app_ctx: *mut c_void) -> c_int;
    pub fn gowt_session_get_id(ctx: *mut gowt_ctx, s: gowt_session_t, id: *mut u64) -> c_int;
    pub fn gowt_session_get_info(ctx: *mut gowt_ctx, s: gowt_session_t, info: *mut gowt_session_info) -> c_int;
    pub fn gowt_create_local_stream(ctx: *mut gowt_ctx, s: gowt_session_t, bidi: c_int, stream_ctx: *mut c_void, stream_id: *mut u64) -> c_int;
    pub fn gowt_stream_send(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, data: *const c_void, len: usize, fin: c_int) -> c_int;
    pub fn gowt_runtime_set_gc(memory_limit: i64, gc_percent: c_int, prev_memory_limit: *mut i64, prev_gc_percent: *mut c_int) -> c_int;
    pub fn gowt_stream_send_nocopy(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, data: *const c_void, len: usize, fin: c_int, send_ctx: *mut c_void) -> c_int;
    pub fn gowt_stream_mark_active(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, active: c_int) -> c_int;
    pub fn gowt_provide_stream_data(ctx: *mut gowt_ctx, ev: *const gowt_event, n: usize, fin: c_int, still_active: c_int, buf: *mut *mut u8) -> c_int;
    pub fn gowt_stream_reset(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, code: u32) -> c_int;
    pub fn gowt_stream_stop_sending(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, code: u32) -> c_int;
    pub fn gowt_stream_set_receive_enabled(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, on: c_int) -> c_int;
    pub fn gowt_stream_set_ctx(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, stream_ctx: *mut c_void) -> c_int;
    pub fn gowt_stream_set_priority(ctx: *mut gowt_ctx, s: gowt_session_t, stream_id: u64, send_order: i64, send_group: u32) -> c_int;
    pub fn gowt_send_datagram(ctx: *mut gowt_ctx, s: gowt_session_t, data: *const c_void, len: usize) -> c_int;
    pub fn gowt_set_datagram_ready(ctx: *mut gowt_ctx, s: gowt_session_t, ready: c_int) -> c_int;
    pub fn gowt_provide_datagram(ctx: *mut gowt_ctx, ev: *const gowt_event, n: usize, more: c_int, buf: *mut *mut u8) -> c_int;
    pub fn gowt_max_datagram_size(ctx: *mut gowt_ctx, s: gowt_session_t, out: *mut usize) -> c_int;
    pub fn gowt_event_name(type_: c_int) -> *const c_char;
}

/// `gowt_config_init(cfg)` of the header: defaults for this crate's layout.
pub fn gowt_config_init() -> gowt_config {
    let mut c = MaybeUninit::<gowt_config>::zeroed();
    // SAFETY: the library writes at most size_of bytes; zeroed is a valid value.
    unsafe {
        let rc = gowt_config_init_sized(c.as_mut_ptr(), size_of::<gowt_config>());
        debug_assert_eq!(rc, GOWT_OK);
        c.assume_init()
    }
}

/// `gowt_path_options_init(opts)` of the header.
pub fn gowt_path_options_init() -> gowt_path_options {
    let mut c = MaybeUninit::<gowt_path_options>::zeroed();
    // SAFETY: as above.
    unsafe {
        gowt_path_options_init_sized(c.as_mut_ptr(), size_of::<gowt_path_options>());
        c.assume_init()
    }
}

/// `gowt_connect_options_init(opts)` of the header.
pub fn gowt_connect_options_init() -> gowt_connect_options {
    let mut c = MaybeUninit::<gowt_connect_options>::zeroed();
    // SAFETY: as above.
    unsafe {
        gowt_connect_options_init_sized(c.as_mut_ptr(), size_of::<gowt_connect_options>());
        c.assume_init()
    }
}

/// A zeroed `gowt_session_info` with struct_size set, ready for
/// gowt_session_get_info.
pub fn gowt_session_info_new() -> gowt_session_info {
    // SAFETY: all fields are integers; zero is valid.
    let mut i: gowt_session_info = unsafe { MaybeUninit::zeroed().assume_init() };
    i.struct_size = size_of::<gowt_session_info>() as u32;
    i
}
