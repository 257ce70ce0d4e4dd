//! Context (an endpoint: client, server or both), its builder and its
//! tokio driver.
use std::ffi::{c_int, CString};
use std::future::{poll_fn, Future};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use gowt_sys as sys;

use crate::error::{check, Error, Result};
use crate::session::{Session, SessionRef, SessionRequest};
use crate::state::{self, Connect, Counted, Shared, LIVE_CONTEXTS};

/// The C context. Every handle of this crate (Context, Session, streams)
/// holds an `Arc<Inner>`; the last one dropped destroys the context, so the
/// `gowt_ctx *` is valid for as long as any Rust object can use it.
pub(crate) struct Inner {
    pub(crate) ctx: *mut sys::gowt_ctx,
    /// Largest piece one gowt_stream_send gets: 64 KiB, or the configured
    /// stream_send_buffer when smaller (a larger send is GOWT_ERR_TOO_LARGE).
    pub(crate) send_piece: usize,
    pub(crate) shared: Box<Shared>,
    stop: Arc<Notify>,
    _c: Counted,
}

// SAFETY: gowt.h, THREADING GUARANTEE 3: every function is safe to call from
// any thread. The pointer is only used while the context is alive (see Inner).
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

impl Inner {
    pub(crate) fn app_ctx(&self) -> *mut std::ffi::c_void {
        &*self.shared as *const Shared as *mut std::ffi::c_void
    }
    pub(crate) fn lock(&self) -> crate::state::Guard<'_> {
        self.shared.lock()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.notify_one();
        // Closes every session and delivers the last CLOSE / FREE / DEREGISTER
        // events here, into self.shared, which is dropped only after this.
        // SAFETY: no other handle exists any more, and the driver only calls
        // into the context while it holds an Arc<Inner>.
        unsafe { sys::gowt_ctx_destroy(self.ctx) };
    }
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

extern "C" {
    // POSIX poll(2), from the C library every Rust program on Linux links.
    fn poll(fds: *mut PollFd, nfds: std::ffi::c_ulong, timeout: c_int) -> c_int;
}

/// Whether fd is readable now (poll(2) with timeout 0).
fn fd_readable(fd: c_int) -> bool {
    let mut p = PollFd {
        fd,
        events: 1, /* POLLIN */
        revents: 0,
    };
    // SAFETY: one valid pollfd; timeout 0 never blocks.
    let n = unsafe { poll(&mut p, 1, 0) };
    n != 0 // on error, ask the library once more
}

/// Delivers the context's events: waits for its fd (`gowt_ctx_get_fd`, an
/// eventfd readable while events are pending) with tokio and runs
/// `gowt_ctx_process_events`. Holds the context only weakly, so it ends
/// when the context is dropped.
async fn drive(weak: Weak<Inner>, fd: AsyncFd<OwnedFd>, stop: Arc<Notify>) {
    let mut stopped = pin!(stop.notified());
    loop {
        let ready = poll_fn(|cx| {
            if stopped.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            fd.poll_read_ready(cx).map(Some)
        })
        .await;
        let Some(Ok(mut guard)) = ready else { break };
        let Some(inner) = weak.upgrade() else { break };
        loop {
            // SAFETY: inner keeps the context alive during the call.
            let n = unsafe { sys::gowt_ctx_process_events(inner.ctx, 0) };
            // The eventfd stays readable while events are pending, and epoll
            // (edge-triggered in tokio) reports no new edge for it: deliver
            // until it is clear. poll(2) asks that without a call into Go.
            if n <= 0 || !fd_readable(fd.get_ref().as_raw_fd()) {
                break;
            }
        }
        // Readiness seen after the poll above stays set (tokio's tick), so
        // events queued since are not missed.
        guard.clear_ready();
        drop(inner);
    }
}

/// Who runs the context's callbacks (gowt.h `gowt_dispatch_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dispatch {
    /// `GOWT_DISPATCH_THREAD` (default): the library's own dispatch thread
    /// runs the callbacks, which wake the tokio tasks. About 1.4x the
    /// throughput of `Poll` in bulk transfers (bindings/rust/README.md).
    #[default]
    Thread,
    /// `GOWT_DISPATCH_POLL`: a task on the tokio runtime waits on the
    /// context's fd (`AsyncFd`) and runs `gowt_ctx_process_events`, so the
    /// callbacks run on the runtime's threads. Slower: a thread that the Go
    /// runtime did not create keeps a Go scheduler slot after each call
    /// until Go's monitor takes it back (golang/go#57103).
    Poll,
}

/// Options of [`Context::builder`]; `build()` creates the context.
///
/// Every setting maps to a field of `gowt_config` (include/gowt.h); unset
/// ones keep the library's defaults.
#[derive(Debug, Clone, Default)]
pub struct ContextBuilder {
    cert_file: Option<String>,
    key_file: Option<String>,
    cert_pem: Option<String>,
    key_pem: Option<String>,
    cert_hostnames: Option<String>,
    ca_file: Option<String>,
    pinned: Vec<[u8; 32]>,
    insecure: bool,
    idle_timeout: Option<Duration>,
    keep_alive: Option<Duration>,
    handshake_timeout: Option<Duration>,
    max_sessions: Option<u32>,
    max_streams_bidi: Option<u32>,
    max_streams_uni: Option<u32>,
    max_incoming_data: Option<u64>,
    stream_send_buffer: Option<usize>,
    datagram_recv_queue: Option<u32>,
    datagram_send_queue: Option<u32>,
    qlog_dir: Option<String>,
    keylog_file: Option<String>,
    connect_decision_timeout: Option<Duration>,
    connect_response_timeout: Option<Duration>,
    recv_buffer_bytes: Option<u64>,
    dispatch: Dispatch,
    client_cert_file: Option<String>,
    client_key_file: Option<String>,
    client_cert_pem: Option<String>,
    client_key_pem: Option<String>,
    client_ca_file: Option<String>,
    client_auth: ClientAuth,
    disable_resumption: bool,
}

/// Server: whether clients are asked for a certificate (`gowt_client_auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Not asked (default).
    #[default]
    None,
    /// Asked; a client without one is accepted.
    Request,
    /// A client without one fails the handshake.
    Require,
}

/// Level of a log message (`gowt_log_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// The library recovered from an internal failure.
    Error = 1,
    /// A peer broke the protocol, a message was dropped.
    Warn = 2,
    /// Listening, sessions ending by error, handshakes failing.
    Info = 3,
    /// Connections opening and closing, quic-go's HTTP/3 debug output.
    Debug = 4,
}

/// A log callback: (level, component, message).
pub(crate) type LogFn = dyn Fn(LogLevel, &str, &str) + Send + Sync;

unsafe extern "C" fn on_log(
    _ctx: *mut sys::gowt_ctx,
    level: c_int,
    component: *const std::ffi::c_char,
    message: *const std::ffi::c_char,
    app: *mut std::ffi::c_void,
) {
    if app.is_null() {
        return;
    }
    // SAFETY: app is the context's Shared (alive until after destroy); the
    // strings are valid during the call.
    let shared = &*(app as *const Shared);
    let Some(f) = shared.log.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
        return;
    };
    let lvl = match level {
        1 => LogLevel::Error,
        2 => LogLevel::Warn,
        3 => LogLevel::Info,
        _ => LogLevel::Debug,
    };
    let cs = |p: *const std::ffi::c_char| {
        if p.is_null() {
            std::borrow::Cow::Borrowed("")
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy()
        }
    };
    let (c, m) = (cs(component), cs(message));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(lvl, &c, &m)));
}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Api {
        code: crate::ErrorCode::InvalidArg,
        message: "string contains a NUL byte".into(),
    })
}

impl ContextBuilder {
    /// Server certificate chain and key, PEM files.
    pub fn cert_files(mut self, cert: &str, key: &str) -> Self {
        self.cert_file = Some(cert.into());
        self.key_file = Some(key.into());
        self
    }
    /// Server certificate chain and key, PEM text.
    pub fn cert_pem(mut self, cert: &str, key: &str) -> Self {
        self.cert_pem = Some(cert.into());
        self.key_pem = Some(key.into());
        self
    }
    /// Names for the generated self-signed certificate (used when no
    /// certificate is given), comma-separated.
    pub fn cert_hostnames(mut self, names: &str) -> Self {
        self.cert_hostnames = Some(names.into());
        self
    }
    /// Client: trust this PEM CA bundle instead of the system roots.
    pub fn ca_file(mut self, path: &str) -> Self {
        self.ca_file = Some(path.into());
        self
    }
    /// Client: accept a server certificate whose DER has this SHA-256
    /// (browsers' serverCertificateHashes; see [`Context::cert_hash`]).
    pub fn pin_cert_hash(mut self, hash: [u8; 32]) -> Self {
        self.pinned.push(hash);
        self
    }
    /// Client: accept any certificate (tests only).
    pub fn insecure_skip_verify(mut self, on: bool) -> Self {
        self.insecure = on;
        self
    }
    /// QUIC idle timeout (default 30 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }
    /// QUIC keep-alive period (default none).
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.keep_alive = Some(d);
        self
    }
    /// Handshake timeout (default 10 s).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = Some(d);
        self
    }
    /// Sessions per context, both roles (default 10000).
    pub fn max_sessions(mut self, n: u32) -> Self {
        self.max_sessions = Some(n);
        self
    }
    /// Streams the peer may open per session (default 1000 each).
    pub fn max_incoming_streams(mut self, bidi: u32, uni: u32) -> Self {
        self.max_streams_bidi = Some(bidi);
        self.max_streams_uni = Some(uni);
        self
    }
    /// WebTransport flow control window (default 4 MiB); 0 turns it off
    /// (one session per QUIC connection, as browsers do).
    pub fn max_incoming_data(mut self, bytes: u64) -> Self {
        self.max_incoming_data = Some(bytes);
        self
    }
    /// Bytes the library buffers per stream (default 1 MiB); beyond them a
    /// stream's writes go to its queue in this crate (with
    /// [`Dispatch::Thread`] at most 1 MiB more, handed over on
    /// STREAM_WRITABLE), then wait.
    pub fn stream_send_buffer(mut self, bytes: usize) -> Self {
        self.stream_send_buffer = Some(bytes);
        self
    }
    /// Datagram queues per session (defaults 1024 receive, 256 send).
    pub fn datagram_queues(mut self, recv: u32, send: u32) -> Self {
        self.datagram_recv_queue = Some(recv);
        self.datagram_send_queue = Some(send);
        self
    }
    /// Write one qlog file per connection into this directory.
    pub fn qlog_dir(mut self, dir: &str) -> Self {
        self.qlog_dir = Some(dir.into());
        self
    }
    /// Append TLS secrets (NSS key log format) to this file.
    pub fn keylog_file(mut self, path: &str) -> Self {
        self.keylog_file = Some(path.into());
        self
    }
    /// How long a CONNECT may wait for [`Context::accept`] and a decision
    /// before the library refuses it with 503 (default 10 s).
    pub fn connect_decision_timeout(mut self, d: Duration) -> Self {
        self.connect_decision_timeout = Some(d);
        self
    }
    /// Client: how long a CONNECT may wait for the server's answer before
    /// [`Context::connect`] fails with [`Error::Refused`] (status 0, default
    /// 30 s; the request is cancelled, so the server's pending session ends).
    pub fn connect_response_timeout(mut self, d: Duration) -> Self {
        self.connect_response_timeout = Some(d);
        self
    }
    /// Context-wide bound on received stream data waiting for delivery
    /// (default 16 MiB).
    pub fn recv_buffer_bytes(mut self, n: u64) -> Self {
        self.recv_buffer_bytes = Some(n);
        self
    }

    /// Client: the certificate to present when a server asks for one, PEM
    /// files.
    pub fn client_cert_files(mut self, cert: &str, key: &str) -> Self {
        self.client_cert_file = Some(cert.into());
        self.client_key_file = Some(key.into());
        self
    }
    /// Client: the certificate to present, PEM text.
    pub fn client_cert_pem(mut self, cert: &str, key: &str) -> Self {
        self.client_cert_pem = Some(cert.into());
        self.client_key_pem = Some(key.into());
        self
    }
    /// Server: ask clients for a certificate ([`ClientAuth`]).
    pub fn client_auth(mut self, a: ClientAuth) -> Self {
        self.client_auth = a;
        self
    }
    /// Server: verify client certificates against this PEM CA bundle (with
    /// [`client_auth`](Self::client_auth)); without it any certificate is
    /// taken and only its SHA-256 reported ([`SessionRequest::peer_cert_sha256`]).
    pub fn client_ca_file(mut self, path: &str) -> Self {
        self.client_ca_file = Some(path.into());
        self
    }
    /// Client: turn TLS session resumption off (on by default).
    pub fn disable_resumption(mut self, off: bool) -> Self {
        self.disable_resumption = off;
        self
    }

    /// Who runs the callbacks (default [`Dispatch::Thread`]).
    pub fn dispatch(mut self, d: Dispatch) -> Self {
        self.dispatch = d;
        self
    }

    /// Creates the context on the current tokio runtime (which needs IO
    /// enabled: POLL mode's driver task waits on the context's fd there).
    pub fn build(self) -> Result<Context> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let opt = |s: &Option<String>| s.as_deref().map(cstring).transpose();
        let strs = [
            opt(&self.cert_file)?,
            opt(&self.key_file)?,
            opt(&self.cert_pem)?,
            opt(&self.key_pem)?,
            opt(&self.cert_hostnames)?,
            opt(&self.ca_file)?,
            opt(&self.qlog_dir)?,
            opt(&self.keylog_file)?,
            opt(&self.client_cert_file)?,
            opt(&self.client_key_file)?,
            opt(&self.client_cert_pem)?,
            opt(&self.client_key_pem)?,
            opt(&self.client_ca_file)?,
        ];
        let p = |i: usize| strs[i].as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let mut cfg = sys::gowt_config_init();
        cfg.dispatch_mode = match self.dispatch {
            Dispatch::Poll => sys::GOWT_DISPATCH_POLL,
            Dispatch::Thread => sys::GOWT_DISPATCH_THREAD,
        };
        cfg.cert_file = p(0);
        cfg.key_file = p(1);
        cfg.cert_pem = p(2);
        cfg.key_pem = p(3);
        cfg.cert_hostnames = p(4);
        cfg.ca_file = p(5);
        cfg.qlog_dir = p(6);
        cfg.keylog_file = p(7);
        cfg.client_cert_file = p(8);
        cfg.client_key_file = p(9);
        cfg.client_cert_pem = p(10);
        cfg.client_key_pem = p(11);
        cfg.client_ca_file = p(12);
        cfg.client_auth = match self.client_auth {
            ClientAuth::None => sys::GOWT_CLIENT_AUTH_NONE,
            ClientAuth::Request => sys::GOWT_CLIENT_AUTH_REQUEST,
            ClientAuth::Require => sys::GOWT_CLIENT_AUTH_REQUIRE,
        };
        cfg.disable_resumption = self.disable_resumption as c_int;
        let hashes: Vec<u8> = self.pinned.iter().flatten().copied().collect();
        if !hashes.is_empty() {
            cfg.pinned_cert_hashes = hashes.as_ptr();
            cfg.pinned_cert_hash_count = self.pinned.len();
        }
        cfg.insecure_skip_verify = self.insecure as c_int;
        if let Some(d) = self.idle_timeout {
            cfg.idle_timeout_ms = ms(d)
        }
        if let Some(d) = self.keep_alive {
            cfg.keep_alive_ms = ms(d)
        }
        if let Some(d) = self.handshake_timeout {
            cfg.handshake_timeout_ms = ms(d)
        }
        if let Some(n) = self.max_sessions {
            cfg.max_sessions = n
        }
        if let Some(n) = self.max_streams_bidi {
            cfg.max_incoming_streams_bidi = n
        }
        if let Some(n) = self.max_streams_uni {
            cfg.max_incoming_streams_uni = n
        }
        if let Some(n) = self.max_incoming_data {
            cfg.max_incoming_data = n
        }
        if let Some(n) = self.stream_send_buffer {
            cfg.stream_send_buffer = n
        }
        if let Some(n) = self.datagram_recv_queue {
            cfg.datagram_recv_queue = n
        }
        if let Some(n) = self.datagram_send_queue {
            cfg.datagram_send_queue = n
        }
        if let Some(d) = self.connect_decision_timeout {
            cfg.connect_decision_timeout_ms = ms(d)
        }
        if let Some(d) = self.connect_response_timeout {
            cfg.connect_response_timeout_ms = ms(d)
        }
        if let Some(n) = self.recv_buffer_bytes {
            cfg.recv_buffer_bytes = n
        }

        let mut ctx = std::ptr::null_mut();
        // SAFETY: cfg and the strings it points to live across the call.
        check(unsafe { sys::gowt_ctx_create(&cfg, &mut ctx) })?;
        let stop = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            ctx,
            send_piece: self
                .stream_send_buffer
                .filter(|&b| b > 0) // 0: the library's default (1 MiB)
                .map_or(state::WRITE_PIECE, |b| b.min(state::WRITE_PIECE)),
            shared: Box::new(Shared {
                state: Default::default(),
                pool: Default::default(),
                // THREAD: writes queue up to SENDQ_MAX while the library is
                // full, and the library's thread refills from the queue in
                // the STREAM_WRITABLE callback (no call into Go from the
                // writer's thread). POLL: the callbacks run on the driver's
                // thread inside gowt_ctx_process_events, where handing over
                // a whole queue measured slower (bench, 12 pairs: 142 / 155
                // against 163 / 168 MB/s); the queue holds the one piece
                // that met WOULD_BLOCK, and the writer, woken, sends the
                // rest itself.
                sendq_max: match self.dispatch {
                    Dispatch::Thread => state::SENDQ_MAX,
                    Dispatch::Poll => 0,
                },
                log: Default::default(),
            }),
            stop: stop.clone(),
            _c: Counted::new(&LIVE_CONTEXTS),
        });
        if self.dispatch == Dispatch::Thread {
            return Ok(Context { inner });
        }
        let mut raw: c_int = -1;
        // SAFETY: ctx is alive (inner).
        check(unsafe { sys::gowt_ctx_get_fd(ctx, &mut raw) })?;
        // Our own duplicate of the eventfd: tokio registers and finally
        // deregisters and closes it, independently of the library's close.
        // SAFETY: raw is an open fd for the life of the context.
        let dup = unsafe { BorrowedFd::borrow_raw(raw) }
            .try_clone_to_owned()
            .map_err(|e| Error::Api {
                code: crate::ErrorCode::Internal,
                message: format!("dup of the context fd: {e}"),
            })?;
        let _enter = rt.enter();
        // SAFETY: dup is our own open fd, owned by the AsyncFd until it drops.
        let afd = unsafe { AsyncFd::register_with_interest(dup, tokio::io::Interest::READABLE) }
            .map_err(|e| Error::Api {
                code: crate::ErrorCode::Internal,
                message: format!("registering fd {} with tokio: {e}", raw.as_raw_fd()),
            })?;
        rt.spawn(drive(Arc::downgrade(&inner), afd, stop));
        Ok(Context { inner })
    }
}

/// A gowt context: a WebTransport endpoint that can listen (server),
/// connect (client), or both. Cheap to clone; the context ends when the last
/// clone and the last session and stream made from it are dropped (every
/// open session is then closed with code 0, "context destroyed").
///
/// It plays the part of quinn's / wtransport's `Endpoint`.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("ctx", &self.inner.ctx)
            .finish()
    }
}

/// Options of a registered server path (`gowt_path_options`).
#[derive(Debug, Clone, Default)]
pub struct PathOptions {
    /// Comma-separated allowed Origin values, or "*" (default: none, or
    /// an Origin whose host equals :authority).
    pub allowed_origins: Option<String>,
    /// Comma-separated supported sub-protocols, in preference order.
    pub protocols: Option<String>,
}

/// Options of [`Context::connect_with`] (`gowt_connect_options`).
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Sub-protocols to offer (WT-Available-Protocols).
    pub protocols: Vec<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// TLS server name (default: the URL host, or "localhost" for IPs).
    pub sni: Option<String>,
    /// :authority (default: the URL's host:port).
    pub authority: Option<String>,
    /// Origin header to send.
    pub origin: Option<String>,
    /// Never share a QUIC connection with another session.
    pub new_connection: bool,
}

impl Context {
    /// A builder with the library's defaults.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// A context with the library's defaults (a generated certificate for
    /// serving; system roots for connecting).
    pub fn new() -> Result<Context> {
        ContextBuilder::default().build()
    }

    /// Listens on host:port (UDP); port 0 picks a free port. Returns the
    /// bound port. May be called several times.
    pub fn listen(&self, host: &str, port: u16) -> Result<u16> {
        let h = cstring(host)?;
        let mut bound = 0u16;
        // SAFETY: valid ctx and strings.
        check(unsafe { sys::gowt_server_listen(self.inner.ctx, h.as_ptr(), port, &mut bound) })?;
        Ok(bound)
    }

    /// Serves a path ("/exact" also matches "/exact?query"; "*" any path).
    /// Its sessions arrive through [`Context::accept`].
    pub fn register(&self, path: &str) -> Result<()> {
        self.register_with(path, &PathOptions::default())
    }

    /// [`register`](Context::register) with options.
    pub fn register_with(&self, path: &str, o: &PathOptions) -> Result<()> {
        let p = cstring(path)?;
        let ao = o.allowed_origins.as_deref().map(cstring).transpose()?;
        let pr = o.protocols.as_deref().map(cstring).transpose()?;
        let mut opts = sys::gowt_path_options_init();
        opts.allowed_origins = ao.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        opts.protocols = pr.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: the callback's app_ctx (Shared) outlives every callback.
        check(unsafe {
            sys::gowt_server_register(
                self.inner.ctx,
                p.as_ptr(),
                Some(state::on_event),
                self.inner.app_ctx(),
                &opts,
            )
        })?;
        Ok(())
    }

    /// Stops serving a path; its sessions go on.
    pub fn unregister(&self, path: &str) -> Result<()> {
        let p = cstring(path)?;
        // SAFETY: valid ctx and string.
        check(unsafe { sys::gowt_server_unregister(self.inner.ctx, p.as_ptr()) })?;
        Ok(())
    }

    /// Routes the context's diagnostics at `level` and more severe to `f`
    /// (`gowt_ctx_set_log`); `None` stops logging. `f` runs where the
    /// context's callbacks run (the driver task, or the library's thread),
    /// so it should be quick.
    pub fn set_log(
        &self,
        level: Option<LogLevel>,
        f: impl Fn(LogLevel, &str, &str) + Send + Sync + 'static,
    ) -> Result<()> {
        let arc: std::sync::Arc<LogFn> = std::sync::Arc::new(f);
        *self
            .inner
            .shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = level.map(|_| arc);
        let (lvl, cb): (c_int, sys::gowt_log_cb) = match level {
            Some(l) => (l as c_int, Some(on_log)),
            None => (sys::GOWT_LOG_OFF, None),
        };
        // SAFETY: the app pointer (Shared) outlives every callback.
        check(unsafe { sys::gowt_ctx_set_log(self.inner.ctx, lvl, cb, self.inner.app_ctx()) })?;
        Ok(())
    }

    /// SHA-256 of the server certificate's DER (for serverCertificateHashes
    /// or [`ContextBuilder::pin_cert_hash`]).
    pub fn cert_hash(&self) -> Result<[u8; 32]> {
        let mut h = [0u8; 32];
        // SAFETY: 32 writable bytes.
        check(unsafe { sys::gowt_ctx_cert_hash(self.inner.ctx, h.as_mut_ptr()) })?;
        Ok(h)
    }

    /// The next session request on a registered path (wtransport's
    /// `Endpoint::accept`). Accept or refuse it; dropping it refuses with 500.
    /// Undecided requests are refused by the library with 503 after the
    /// connect decision timeout.
    pub async fn accept(&self) -> SessionRequest {
        poll_fn(|cx| {
            let mut st = self.inner.lock();
            while let Some(h) = st.incoming.pop_front() {
                let Some(s) = st.sessions.get_mut(&h) else {
                    continue;
                };
                s.queued = false;
                if s.deregistered {
                    st.sessions.remove(&h);
                    continue;
                }
                s.user = true;
                let req = s.request.clone().unwrap_or_default();
                drop(st);
                return Poll::Ready(SessionRequest::new(
                    SessionRef::new(self.inner.clone(), h),
                    req,
                ));
            }
            st.accept_w.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Opens a session to `url` ("https://host:port/path?query") and waits
    /// until the server accepts it.
    pub async fn connect(&self, url: &str) -> Result<Session> {
        self.connect_with(url, &ConnectOptions::default()).await
    }

    /// [`connect`](Context::connect) with options.
    pub async fn connect_with(&self, url: &str, o: &ConnectOptions) -> Result<Session> {
        let sref = self.start_connect(url, o)?;
        let h = sref.h;
        poll_fn(|cx| {
            let mut st = self.inner.lock();
            let Some(s) = st.sessions.get_mut(&h) else {
                return Poll::Ready(Err(Error::StreamClosed));
            };
            match &s.connect {
                Connect::Accepted(_) => Poll::Ready(Ok(())),
                Connect::Refused(status, reason) => Poll::Ready(Err(Error::Refused {
                    status: *status,
                    reason: reason.clone(),
                })),
                Connect::Pending => {
                    if let Some(c) = &s.close {
                        return Poll::Ready(Err(Error::SessionClosed(c.clone())));
                    }
                    if s.deregistered {
                        return Poll::Ready(Err(Error::SessionClosed(Default::default())));
                    }
                    s.connect_w.register(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(Session::from_ref(Arc::new(sref)))
    }

    /// The synchronous part of connect (no raw pointer lives across an await).
    fn start_connect(&self, url: &str, o: &ConnectOptions) -> Result<SessionRef> {
        let u = cstring(url)?;
        let protocols = if o.protocols.is_empty() {
            None
        } else {
            Some(cstring(&o.protocols.join(","))?)
        };
        let names = o
            .headers
            .iter()
            .map(|(n, _)| cstring(n))
            .collect::<Result<Vec<_>>>()?;
        let values = o
            .headers
            .iter()
            .map(|(_, v)| cstring(v))
            .collect::<Result<Vec<_>>>()?;
        let np: Vec<_> = names.iter().map(|c| c.as_ptr()).collect();
        let vp: Vec<_> = values.iter().map(|c| c.as_ptr()).collect();
        let sni = o.sni.as_deref().map(cstring).transpose()?;
        let auth = o.authority.as_deref().map(cstring).transpose()?;
        let origin = o.origin.as_deref().map(cstring).transpose()?;
        let cp = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let mut opts = sys::gowt_connect_options_init();
        opts.protocols = cp(&protocols);
        if !np.is_empty() {
            opts.header_names = np.as_ptr();
            opts.header_values = vp.as_ptr();
            opts.header_count = np.len();
        }
        opts.sni = cp(&sni);
        opts.authority = cp(&auth);
        opts.origin = cp(&origin);
        opts.new_connection = o.new_connection as c_int;

        let mut h = 0u64;
        let sref = {
            // No lock is held across the call (a THREAD-mode callback may be
            // waiting for it): events that come first create the entry,
            // marked unclaimed, and it is claimed here.
            // SAFETY: options and strings live across the call.
            check(unsafe {
                sys::gowt_connect(
                    self.inner.ctx,
                    u.as_ptr(),
                    &opts,
                    Some(state::on_event),
                    self.inner.app_ctx(),
                    &mut h,
                )
            })?;
            let mut st = self.inner.lock();
            let e = st
                .sessions
                .entry(h)
                .or_insert_with(|| state::Session::new(false));
            e.user = true;
            e.unclaimed = false;
            drop(st);
            // Dropping it (this future cancelled) abandons the session.
            SessionRef::new(self.inner.clone(), h)
        };
        Ok(sref)
    }
}

/// Live objects of this crate in the process: (contexts, sessions,
/// streams) known to it. For leak checks in tests.
#[doc(hidden)]
pub fn live_objects() -> (usize, usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        state::LIVE_CONTEXTS.load(Relaxed),
        state::LIVE_SESSIONS.load(Relaxed),
        state::LIVE_STREAMS.load(Relaxed),
    )
}
