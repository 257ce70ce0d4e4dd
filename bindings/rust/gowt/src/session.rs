//! Sessions: [`SessionRequest`] (server, before the decision) and [`Session`].
use std::ffi::{c_int, CString};
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use gowt_sys as sys;

use crate::context::Inner;
use crate::error::{check, CloseInfo, Error, ErrorCode, Result};
use crate::state::{self, Request};
use crate::stream::{RecvStream, SendStream};

/// One user reference to a session entry: while it lives the entry is kept;
/// dropping it closes the session (code 0) unless it already ended.
pub(crate) struct SessionRef {
    pub(crate) inner: Arc<Inner>,
    pub(crate) h: u64,
}

impl SessionRef {
    pub(crate) fn new(inner: Arc<Inner>, h: u64) -> SessionRef {
        SessionRef { inner, h }
    }
    pub(crate) fn ctx(&self) -> *mut sys::gowt_ctx {
        self.inner.ctx
    }
    /// Runs f on the session's entry (None when it is gone).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut state::Session) -> R) -> Option<R> {
        let mut st = self.inner.lock();
        st.sessions.get_mut(&self.h).map(f)
    }
    /// The error of a failed call on this session: once the session has
    /// closed, CLOSED / NOT_FOUND become SessionClosed with how it closed.
    pub(crate) fn error(&self, rc: std::ffi::c_int) -> Error {
        let e = Error::from_rc(rc);
        if rc == sys::GOWT_ERR_CLOSED || rc == sys::GOWT_ERR_NOT_FOUND {
            if let Some(Some(c)) = self.with(|s| s.close.clone()) {
                return Error::SessionClosed(c);
            }
        }
        e
    }
}

impl Drop for SessionRef {
    fn drop(&mut self) {
        let close = {
            let mut st = self.inner.lock();
            match st.sessions.get_mut(&self.h) {
                Some(s) => {
                    s.user = false;
                    let open = s.close.is_none() && !s.deregistered && !s.refused;
                    if s.removable() {
                        st.sessions.remove(&self.h);
                    }
                    open
                }
                None => false,
            }
        };
        if close {
            // SAFETY: the context is alive (self.inner).
            unsafe { sys::gowt_session_close(self.inner.ctx, self.h, 0, std::ptr::null(), 0) };
        }
    }
}

/// A CONNECT request that reached a registered path (server side), like
/// wtransport's `SessionRequest`: read it, then [`accept`](Self::accept) or
/// [`refuse`](Self::refuse). Dropped undecided, it is refused with 500.
pub struct SessionRequest {
    r: Option<SessionRef>,
    req: Request,
}

impl std::fmt::Debug for SessionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRequest")
            .field("path", &self.req.path)
            .field("query", &self.req.query)
            .finish()
    }
}

impl SessionRequest {
    pub(crate) fn new(r: SessionRef, req: Request) -> SessionRequest {
        SessionRequest { r: Some(r), req }
    }
    /// The path without the query ("/echo").
    pub fn path(&self) -> &str {
        &self.req.path
    }
    /// The text after '?', "" when none.
    pub fn query(&self) -> &str {
        &self.req.query
    }
    /// :authority.
    pub fn authority(&self) -> &str {
        &self.req.authority
    }
    /// The Origin header, "" when none.
    pub fn origin(&self) -> &str {
        &self.req.origin
    }
    /// Sub-protocols the client offered.
    pub fn protocols(&self) -> &[String] {
        &self.req.protocols
    }
    /// Request headers (lower-case names).
    pub fn headers(&self) -> &[(String, String)] {
        &self.req.headers
    }
    /// The session handle (unique in the process).
    pub fn handle(&self) -> u64 {
        self.r.as_ref().unwrap().h
    }
    /// The client's UDP address (`127.0.0.1:50000`, `[::1]:50000`).
    pub fn peer_addr(&self) -> &str {
        &self.req.peer_addr
    }
    /// The listening socket's address.
    pub fn local_addr(&self) -> &str {
        &self.req.local_addr
    }
    /// SHA-256 of the client's certificate (DER), when it sent one (see
    /// [`ClientAuth`](crate::ClientAuth)).
    pub fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.req.peer_cert
    }

    /// Accepts the session (HTTP 200), with the path's automatic
    /// sub-protocol choice.
    pub fn accept(self) -> Result<Session> {
        self.accept_inner(None)
    }

    /// Accepts the session choosing this sub-protocol.
    pub fn accept_with_protocol(self, protocol: &str) -> Result<Session> {
        self.accept_inner(Some(protocol))
    }

    fn accept_inner(mut self, protocol: Option<&str>) -> Result<Session> {
        let r = self.r.take().unwrap();
        let p = protocol
            .map(CString::new)
            .transpose()
            .map_err(|_| Error::Api {
                code: ErrorCode::InvalidArg,
                message: "protocol contains a NUL byte".into(),
            })?;
        // SAFETY: live context; p lives across the call.
        let rc = unsafe {
            sys::gowt_session_accept(
                r.ctx(),
                r.h,
                p.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            )
        };
        if rc < 0 {
            let e = Error::from_rc(rc);
            r.with(|s| s.refused = true);
            return Err(e);
        }
        let proto = protocol.map(str::to_string);
        r.with(|s| s.connect = state::Connect::Accepted(proto));
        Ok(Session::from_ref(Arc::new(r)))
    }

    /// Refuses with 403 (wtransport's `forbidden`).
    pub fn forbidden(self) -> Result<()> {
        self.refuse(403)
    }

    /// Refuses with 404 (wtransport's `not_found`).
    pub fn not_found(self) -> Result<()> {
        self.refuse(404)
    }

    /// Refuses with 429 (wtransport's `too_many_requests`).
    pub fn too_many_requests(self) -> Result<()> {
        self.refuse(429)
    }

    /// Refuses with an HTTP status 400..=599 (the client sees it).
    pub fn refuse(mut self, status: u16) -> Result<()> {
        let r = self.r.take().unwrap();
        r.with(|s| s.refused = true);
        // SAFETY: live context.
        check(unsafe { sys::gowt_session_refuse(r.ctx(), r.h, status as c_int) })?;
        Ok(())
    }
}

impl Drop for SessionRequest {
    fn drop(&mut self) {
        if let Some(r) = self.r.take() {
            r.with(|s| s.refused = true);
            // SAFETY: live context.
            unsafe { sys::gowt_session_refuse(r.ctx(), r.h, 500) };
        }
    }
}

/// Counters of a session (`gowt_session_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Current maximum datagram payload.
    pub max_datagram_size: usize,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams dropped when sent (too large for the path).
    pub datagrams_dropped_send: u64,
    /// Datagrams dropped on receipt (queue full).
    pub datagrams_dropped_recv: u64,
    /// Stream payload bytes sent.
    pub bytes_sent: u64,
    /// Stream payload bytes received.
    pub bytes_received: u64,
    /// WebTransport flow control is active.
    pub flow_control: bool,
    /// Other sessions may share the QUIC connection.
    pub shared_connection: bool,
    /// Smoothed RTT of the QUIC connection (RFC 9002).
    pub rtt_smoothed: std::time::Duration,
    /// Minimum RTT observed.
    pub rtt_min: std::time::Duration,
    /// Latest RTT sample.
    pub rtt_latest: std::time::Duration,
    /// RTT mean deviation.
    pub rtt_variance: std::time::Duration,
    /// Congestion window, bytes.
    pub congestion_window: u64,
    /// UDP payload bytes sent on the connection (retransmissions included).
    pub conn_bytes_sent: u64,
    /// Packets sent on the connection.
    pub conn_packets_sent: u64,
    /// UDP payload bytes received on the connection.
    pub conn_bytes_received: u64,
    /// Packets received on the connection.
    pub conn_packets_received: u64,
    /// Bytes declared lost.
    pub conn_bytes_lost: u64,
    /// Packets declared lost.
    pub conn_packets_lost: u64,
    /// Sessions on the connection now.
    pub conn_sessions: u32,
    /// The handshake resumed a TLS session.
    pub tls_resumed: bool,
    /// The peer's UDP address.
    pub peer_addr: String,
    /// The socket's address.
    pub local_addr: String,
    /// SHA-256 of the peer's leaf certificate, when known.
    pub peer_cert_sha256: Option<[u8; 32]>,
}

fn c_chars(b: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = b
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// An established WebTransport session (quinn's / wtransport's
/// `Connection`). Cheap to clone. The session closes (code 0) when the last
/// clone and the last of its streams are dropped; use
/// [`close`](Self::close) to give a code and reason.
#[derive(Clone)]
pub struct Session {
    r: Arc<SessionRef>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handle", &self.r.h)
            .finish()
    }
}

impl Session {
    pub(crate) fn from_ref(r: Arc<SessionRef>) -> Session {
        Session { r }
    }

    /// The session handle (unique in the process, never reused).
    pub fn handle(&self) -> u64 {
        self.r.h
    }

    /// The session's wire ID (its CONNECT stream ID).
    pub fn session_id(&self) -> Result<u64> {
        let mut id = 0;
        // SAFETY: live context.
        check(unsafe { sys::gowt_session_get_id(self.r.ctx(), self.r.h, &mut id) })?;
        Ok(id)
    }

    /// The negotiated sub-protocol, if any.
    pub fn protocol(&self) -> Option<String> {
        self.r
            .with(|s| match &s.connect {
                state::Connect::Accepted(p) => p.clone(),
                _ => None,
            })
            .flatten()
    }

    async fn open(&self, bidi: bool) -> Result<u64> {
        let mut sid = 0u64;
        // At the peer's stream limit (GOWT_ERR_LIMIT) wait for
        // GOWT_EV_STREAMS_AVAILABLE, registered before each try so an event
        // that follows the failing call always wakes us.
        let rc = poll_fn(|cx| {
            self.r.with(|s| s.open_w.register(cx.waker()));
            // No lock is held across the call (a THREAD-mode callback may be
            // waiting for it); the stream's first events may come before it
            // is recorded below and then create its entry (unclaimed).
            // SAFETY: live context.
            let rc = unsafe {
                sys::gowt_create_local_stream(
                    self.r.ctx(),
                    self.r.h,
                    bidi as c_int,
                    std::ptr::null_mut(),
                    &mut sid,
                )
            };
            if rc == sys::GOWT_ERR_LIMIT {
                Poll::Pending
            } else {
                Poll::Ready(rc)
            }
        })
        .await;
        if rc == 0 {
            self.r.with(|s| {
                let e = s
                    .streams
                    .entry(sid)
                    .or_insert_with(|| state::Stream::new(bidi, true));
                e.handles = if bidi { 2 } else { 1 };
                e.unclaimed = false;
            });
            return Ok(sid);
        }
        if rc == sys::GOWT_ERR_CLOSED || rc == sys::GOWT_ERR_NOT_FOUND {
            // Wait for the CLOSE the library already queued for us.
            let e = Error::from_rc(rc);
            let c = self.closed_or_gone().await;
            return Err(c.map_or(e, Error::SessionClosed));
        }
        Err(self.r.error(rc))
    }

    /// Opens a bidirectional stream. Waits while the peer's stream limit is
    /// reached.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream)> {
        let sid = self.open(true).await?;
        Ok((
            SendStream::new(self.r.clone(), sid),
            RecvStream::new(self.r.clone(), sid),
        ))
    }

    /// Opens a unidirectional (send) stream.
    pub async fn open_uni(&self) -> Result<SendStream> {
        let sid = self.open(false).await?;
        Ok(SendStream::new(self.r.clone(), sid))
    }

    fn accept_stream(&self, bidi: bool) -> impl std::future::Future<Output = Result<u64>> + '_ {
        poll_fn(move |cx| {
            let r = self.r.with(|s| {
                let q = if bidi {
                    &mut s.incoming_bi
                } else {
                    &mut s.incoming_uni
                };
                if let Some(sid) = q.pop_front() {
                    if let Some(st) = s.streams.get_mut(&sid) {
                        st.queued = false;
                        st.handles = if bidi { 2 } else { 1 };
                    }
                    return Poll::Ready(Ok(sid));
                }
                if let Some(c) = &s.close {
                    return Poll::Ready(Err(Error::SessionClosed(c.clone())));
                }
                if s.deregistered {
                    return Poll::Ready(Err(Error::SessionClosed(CloseInfo::default())));
                }
                s.accept_w.register(cx.waker());
                Poll::Pending
            });
            r.unwrap_or_else(|| Poll::Ready(Err(Error::SessionClosed(CloseInfo::default()))))
        })
    }

    /// The next bidirectional stream the peer opened.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream)> {
        let sid = self.accept_stream(true).await?;
        Ok((
            SendStream::new(self.r.clone(), sid),
            RecvStream::new(self.r.clone(), sid),
        ))
    }

    /// The next unidirectional stream the peer opened.
    pub async fn accept_uni(&self) -> Result<RecvStream> {
        let sid = self.accept_stream(false).await?;
        Ok(RecvStream::new(self.r.clone(), sid))
    }

    /// Queues one datagram (copied). Fails with `ErrorCode::WouldBlock` when
    /// the send queue is full (see [`send_datagram_wait`](Self::send_datagram_wait))
    /// and `ErrorCode::TooLarge` above [`max_datagram_size`](Self::max_datagram_size).
    pub fn send_datagram(&self, data: &[u8]) -> Result<()> {
        // SAFETY: live context; data is only read during the call.
        let rc = unsafe {
            sys::gowt_send_datagram(self.r.ctx(), self.r.h, data.as_ptr().cast(), data.len())
        };
        if rc < 0 {
            return Err(self.r.error(rc));
        }
        Ok(())
    }

    /// Like [`send_datagram`](Self::send_datagram), waiting while the send
    /// queue is full.
    pub async fn send_datagram_wait(&self, data: &[u8]) -> Result<()> {
        poll_fn(|cx| match self.send_datagram(data) {
            Err(Error::Api {
                code: ErrorCode::WouldBlock,
                ..
            }) => {
                // Register, then try once more: DATAGRAM_WRITABLE follows a
                // WOULD_BLOCK that came after the registration.
                self.r.with(|s| s.dgram_writable_w.register(cx.waker()));
                match self.send_datagram(data) {
                    Err(Error::Api {
                        code: ErrorCode::WouldBlock,
                        ..
                    }) => Poll::Pending,
                    r => Poll::Ready(r),
                }
            }
            r => Poll::Ready(r),
        })
        .await
    }

    /// The next received datagram.
    pub async fn read_datagram(&self) -> Result<Vec<u8>> {
        poll_fn(|cx| {
            self.r
                .with(|s| {
                    if let Some(d) = s.dgrams.pop_front() {
                        return Poll::Ready(Ok(d));
                    }
                    if let Some(c) = &s.close {
                        return Poll::Ready(Err(Error::SessionClosed(c.clone())));
                    }
                    s.dgram_w.register(cx.waker());
                    Poll::Pending
                })
                .unwrap_or_else(|| Poll::Ready(Err(Error::SessionClosed(CloseInfo::default()))))
        })
        .await
    }

    /// Current maximum datagram payload (grows with path MTU discovery).
    pub fn max_datagram_size(&self) -> Result<usize> {
        let mut n = 0usize;
        // SAFETY: live context.
        check(unsafe { sys::gowt_max_datagram_size(self.r.ctx(), self.r.h, &mut n) })?;
        Ok(n)
    }

    /// Closes the session with a code and a UTF-8 reason (at most 1024
    /// bytes): the peer's [`closed`](Self::closed) sees both.
    pub fn close(&self, code: u32, reason: &str) -> Result<()> {
        // SAFETY: live context; reason only read during the call.
        check(unsafe {
            sys::gowt_session_close(
                self.r.ctx(),
                self.r.h,
                code,
                reason.as_ptr().cast(),
                reason.len(),
            )
        })?;
        Ok(())
    }

    /// Asks the peer to wind the session down (WT_DRAIN_SESSION).
    pub fn drain(&self) -> Result<()> {
        // SAFETY: live context.
        check(unsafe { sys::gowt_session_drain(self.r.ctx(), self.r.h) })?;
        Ok(())
    }

    /// Whether the peer asked to drain the session.
    pub fn is_draining(&self) -> bool {
        self.r.with(|s| s.draining).unwrap_or(false)
    }

    /// Waits for the session's CLOSE (Some) or its end without one (None).
    async fn closed_or_gone(&self) -> Option<CloseInfo> {
        poll_fn(|cx| {
            self.r
                .with(|s| match &s.close {
                    Some(c) => Poll::Ready(Some(c.clone())),
                    None if s.deregistered => Poll::Ready(None),
                    None => {
                        s.closed_w.register(cx.waker());
                        Poll::Pending
                    }
                })
                .unwrap_or(Poll::Ready(None))
        })
        .await
    }

    /// Waits until the session is closed; how and why.
    pub async fn closed(&self) -> CloseInfo {
        self.closed_or_gone().await.unwrap_or_default()
    }

    /// SHA-256 of the peer's certificate (DER) as seen in the handshake
    /// (client side: the server's).
    pub fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.r.with(|s| s.peer_cert).flatten()
    }

    /// How the session closed, if it did (quinn's `close_reason`).
    pub fn close_reason(&self) -> Option<CloseInfo> {
        self.r.with(|s| s.close.clone()).flatten()
    }

    /// Session counters.
    pub fn stats(&self) -> Result<SessionStats> {
        let mut i = sys::gowt_session_info_new();
        // SAFETY: live context; i is a writable, sized struct.
        check(unsafe { sys::gowt_session_get_info(self.r.ctx(), self.r.h, &mut i) })?;
        Ok(SessionStats {
            max_datagram_size: i.max_datagram_size,
            datagrams_sent: i.datagrams_sent,
            datagrams_received: i.datagrams_received,
            datagrams_dropped_send: i.datagrams_dropped_send,
            datagrams_dropped_recv: i.datagrams_dropped_recv,
            bytes_sent: i.bytes_sent,
            bytes_received: i.bytes_received,
            flow_control: i.flow_control != 0,
            shared_connection: i.shared_connection != 0,
            rtt_smoothed: std::time::Duration::from_micros(i.rtt_smoothed_us),
            rtt_min: std::time::Duration::from_micros(i.rtt_min_us),
            rtt_latest: std::time::Duration::from_micros(i.rtt_latest_us),
            rtt_variance: std::time::Duration::from_micros(i.rtt_variance_us),
            congestion_window: i.congestion_window,
            conn_bytes_sent: i.conn_bytes_sent,
            conn_packets_sent: i.conn_packets_sent,
            conn_bytes_received: i.conn_bytes_received,
            conn_packets_received: i.conn_packets_received,
            conn_bytes_lost: i.conn_bytes_lost,
            conn_packets_lost: i.conn_packets_lost,
            conn_sessions: i.conn_sessions,
            tls_resumed: i.tls_resumed != 0,
            peer_addr: c_chars(&i.peer_addr),
            local_addr: c_chars(&i.local_addr),
            peer_cert_sha256: (i.has_peer_cert != 0).then_some(i.peer_cert_sha256),
        })
    }
}
