//! The per-context state the C callback fills and the async API reads.
//!
//! One mutex per context guards it. The callback (run by the driver task
//! inside gowt_ctx_process_events, or by gowt_ctx_destroy) copies every event
//! payload out before returning, as gowt.h's memory rules require, and wakes
//! the tasks waiting on it. No entry here holds a reference to the context,
//! so dropping the last user handle really destroys it.
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use gowt_sys as sys;

use crate::error::CloseInfo;

/// Per stream: pause reading (gowt_stream_set_receive_enabled 0) above this
/// many buffered bytes; the reader resumes it when it takes them.
pub(crate) const RECV_HIGH: usize = 4 << 20;
/// Datagrams buffered per session before the oldest is dropped.
pub(crate) const DGRAM_QUEUE: usize = 1024;
/// Per stream, THREAD dispatch: bytes a writer may queue here while the
/// library's send buffer is full (the STREAM_WRITABLE callback moves them
/// into it); the writer waits above this and is woken at half. POLL
/// dispatch queues only the piece that met WOULD_BLOCK (Shared::sendq_max).
pub(crate) const SENDQ_MAX: usize = 1 << 20;
/// Largest piece queued or handed to gowt_stream_send in one call
/// (gowt_stream_send is all or nothing; the library's buffer holds
/// stream_send_buffer + 64 KiB); smaller when stream_send_buffer is.
pub(crate) const WRITE_PIECE: usize = 64 * 1024;

pub(crate) static LIVE_CONTEXTS: AtomicUsize = AtomicUsize::new(0);
pub(crate) static LIVE_SESSIONS: AtomicUsize = AtomicUsize::new(0);
pub(crate) static LIVE_STREAMS: AtomicUsize = AtomicUsize::new(0);

/// Counts live objects for the leak checks of the tests.
pub(crate) struct Counted(&'static AtomicUsize);
impl Counted {
    pub(crate) fn new(c: &'static AtomicUsize) -> Counted {
        c.fetch_add(1, Ordering::Relaxed);
        Counted(c)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A set of wakers, all woken at once.
#[derive(Default)]
pub(crate) struct Wakers(Vec<Waker>);
impl Wakers {
    pub(crate) fn register(&mut self, w: &Waker) {
        if !self.0.iter().any(|x| x.will_wake(w)) {
            self.0.push(w.clone());
        }
    }
    /// Wakes them all (once the state lock is released).
    pub(crate) fn wake(&mut self) {
        for w in self.0.drain(..) {
            defer_wake(w);
        }
    }
}

/// Wakes w, if set, once the state lock is released.
pub(crate) fn wake_opt(w: &mut Option<Waker>) {
    if let Some(w) = w.take() {
        defer_wake(w);
    }
}

/// The copied fields of a CONNECT request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub peer_addr: String,
    pub local_addr: String,
    pub peer_cert: Option<[u8; 32]>,
    pub path: String,
    pub query: String,
    pub authority: String,
    pub origin: String,
    pub protocols: Vec<String>,
    pub headers: Vec<(String, String)>,
}

pub(crate) enum Connect {
    Pending,
    Accepted(Option<String>),
    Refused(u16, String),
}

pub(crate) struct Stream {
    _c: Counted,
    #[allow(dead_code)]
    pub bidi: bool,
    #[allow(dead_code)]
    pub local: bool,
    // Receive side.
    /// Received data not yet taken by the RecvStream (which takes it all at
    /// once and reads it outside the lock).
    pub chunks: VecDeque<Vec<u8>>,
    pub buffered: usize,
    pub fin: bool,
    pub reset: Option<u64>,
    pub paused: bool,
    pub recv_dropped: bool, // RecvStream dropped: discard what still arrives
    pub read_w: Option<Waker>,
    // Send side.
    pub write_w: Option<Waker>,
    pub stop: Option<u64>,
    pub stopped_w: Wakers,
    /// FIN to send once the queue is in the library.
    pub fin_pending: bool,
    /// Data written while the library's buffer was full, in pieces of at
    /// most WRITE_PIECE, oldest first: the STREAM_WRITABLE callback hands
    /// it to gowt_stream_send. Non-empty only after a send returned
    /// WOULD_BLOCK, so a STREAM_WRITABLE is always on its way.
    pub sendq: VecDeque<Vec<u8>>,
    pub sendq_bytes: usize,
    /// The error of a send from the queue (reported by the next write).
    pub send_err: Option<c_int>,
    /// STREAM_WRITABLE events handled (a writer that got WOULD_BLOCK outside
    /// the lock sees whether one ran before it queued).
    pub writable_seq: u64,
    // Life.
    pub freed: bool,
    pub handles: u8,  // SendStream / RecvStream alive
    pub queued: bool, // waiting in an accept queue
    /// A local stream first seen in an event, before open() recorded it:
    /// kept until open() claims it.
    pub unclaimed: bool,
}

impl Stream {
    pub(crate) fn new(bidi: bool, local: bool) -> Stream {
        Stream {
            _c: Counted::new(&LIVE_STREAMS),
            bidi,
            local,
            chunks: VecDeque::new(),
            buffered: 0,
            fin: false,
            reset: None,
            paused: false,
            recv_dropped: false,
            read_w: None,
            write_w: None,
            stop: None,
            stopped_w: Wakers::default(),
            fin_pending: false,
            sendq: VecDeque::new(),
            sendq_bytes: 0,
            send_err: None,
            writable_seq: 0,
            freed: false,
            handles: 0,
            queued: false,
            unclaimed: false,
        }
    }
    fn wake_all(&mut self) {
        wake_opt(&mut self.read_w);
        wake_opt(&mut self.write_w);
        self.stopped_w.wake();
    }
    pub(crate) fn removable(&self) -> bool {
        self.freed && self.handles == 0 && !self.queued && !self.unclaimed
    }
    /// Queues data (at most `piece` bytes) behind what is queued, appended
    /// to the last piece while that stays within `piece` bytes, so small
    /// writes leave in big sends.
    pub(crate) fn enqueue(&mut self, pool: &Pool, data: &[u8], piece: usize) {
        self.sendq_bytes += data.len();
        if let Some(b) = self.sendq.back_mut() {
            if b.len() + data.len() <= piece {
                b.extend_from_slice(data);
                return;
            }
        }
        let mut v = pool.get();
        v.reserve(piece.max(data.len()));
        v.extend_from_slice(data);
        self.sendq.push_back(v);
    }
    /// Forgets the queued data and a pending FIN (the stream ended).
    pub(crate) fn drop_sendq(&mut self, pool: &Pool) {
        if !self.sendq.is_empty() {
            pool.put(self.sendq.drain(..));
        }
        self.sendq_bytes = 0;
        self.fin_pending = false;
    }
    /// Hands queued data (then a pending FIN) to the library until its
    /// buffer is full or the queue is empty; wakes a waiting writer once the
    /// queue is at most half full. Runs with the lock held: in the
    /// STREAM_WRITABLE callback, or where a writer queued data.
    ///
    /// # Safety
    /// ctx must be alive.
    pub(crate) unsafe fn drain(
        &mut self,
        ctx: *mut sys::gowt_ctx,
        h: u64,
        sid: u64,
        pool: &Pool,
        sendq_max: usize,
    ) {
        while let Some(front) = self.sendq.front() {
            let fin = self.fin_pending && self.sendq.len() == 1;
            let rc = sys::gowt_stream_send(
                ctx,
                h,
                sid,
                front.as_ptr().cast(),
                front.len(),
                fin as c_int,
            );
            if rc == sys::GOWT_ERR_WOULD_BLOCK {
                break;
            }
            if rc < 0 {
                self.send_err = Some(rc);
                self.drop_sendq(pool);
                break;
            }
            let v = self.sendq.pop_front().unwrap();
            self.sendq_bytes -= v.len();
            pool.put([v]);
            if fin {
                self.fin_pending = false;
            }
        }
        if self.sendq.is_empty()
            && self.fin_pending
            && sys::gowt_stream_send(ctx, h, sid, std::ptr::null(), 0, 1)
                != sys::GOWT_ERR_WOULD_BLOCK
        {
            self.fin_pending = false;
        }
        if self.sendq_bytes <= sendq_max / 2 {
            wake_opt(&mut self.write_w);
        }
    }
}

pub(crate) struct Session {
    _c: Counted,
    #[allow(dead_code)]
    pub server: bool,
    pub request: Option<Request>,
    pub connect: Connect,
    pub connect_w: Wakers,
    pub user: bool, // a SessionRequest / Session handle exists
    /// A client session first seen in an event, before connect() recorded
    /// it (no lock is held across gowt_connect): kept until claimed.
    pub unclaimed: bool,
    /// SHA-256 of the peer's certificate (CONNECT_ACCEPTED).
    pub peer_cert: Option<[u8; 32]>,
    pub queued: bool, // server: waiting in the context's accept queue
    pub refused: bool,
    pub incoming_bi: VecDeque<u64>,
    pub incoming_uni: VecDeque<u64>,
    pub accept_w: Wakers,
    pub open_w: Wakers,
    pub dgrams: VecDeque<Vec<u8>>,
    pub dgram_w: Wakers,
    pub dgram_writable_w: Wakers,
    pub close: Option<CloseInfo>,
    pub closed_w: Wakers,
    pub draining: bool,
    pub deregistered: bool,
    pub streams: HashMap<u64, Stream>,
}

impl Session {
    pub(crate) fn new(server: bool) -> Session {
        Session {
            _c: Counted::new(&LIVE_SESSIONS),
            server,
            request: None,
            connect: Connect::Pending,
            connect_w: Wakers::default(),
            user: false,
            unclaimed: false,
            peer_cert: None,
            queued: false,
            refused: false,
            incoming_bi: VecDeque::new(),
            incoming_uni: VecDeque::new(),
            accept_w: Wakers::default(),
            open_w: Wakers::default(),
            dgrams: VecDeque::new(),
            dgram_w: Wakers::default(),
            dgram_writable_w: Wakers::default(),
            close: None,
            closed_w: Wakers::default(),
            draining: false,
            deregistered: false,
            streams: HashMap::new(),
        }
    }
    pub(crate) fn wake_all(&mut self) {
        self.connect_w.wake();
        self.accept_w.wake();
        self.open_w.wake();
        self.dgram_w.wake();
        self.dgram_writable_w.wake();
        self.closed_w.wake();
        for st in self.streams.values_mut() {
            st.wake_all();
        }
    }
    /// The stream's entry, created for a stream first heard of in an event;
    /// a peer's new stream joins the accept queue.
    fn stream_for_event(&mut self, sid: u64, flags: c_int) -> &mut Stream {
        let bidi = flags & sys::GOWT_STREAM_BIDI != 0;
        let local = flags & sys::GOWT_STREAM_LOCAL != 0;
        let Session {
            streams,
            incoming_bi,
            incoming_uni,
            accept_w,
            ..
        } = self;
        streams.entry(sid).or_insert_with(|| {
            let mut st = Stream::new(bidi, local);
            st.unclaimed = local;
            if !local {
                st.queued = true;
                if bidi {
                    incoming_bi.push_back(sid)
                } else {
                    incoming_uni.push_back(sid)
                }
                accept_w.wake();
            }
            st
        })
    }
    pub(crate) fn removable(&self) -> bool {
        self.deregistered && !self.user && !self.queued && !self.unclaimed
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub sessions: HashMap<u64, Session>,
    pub incoming: VecDeque<u64>,
    pub accept_w: Wakers,
}

/// Spare chunks kept per context, and the largest one kept.
const SPARE_MAX: usize = 32;
const SPARE_CAP: usize = 256 * 1024;

/// Buffers given back by readers and by the send queue, reused for the next
/// POST_DATA or queued write (saves an allocation, and its page faults, per
/// event). Its own lock, so the callback copies event data into a buffer
/// without holding the state lock (which a reader may be waiting for).
#[derive(Default)]
pub(crate) struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn list(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// An empty buffer (with capacity when one was given back).
    pub(crate) fn get(&self) -> Vec<u8> {
        self.list().pop().unwrap_or_default()
    }
    /// Gives buffers back.
    pub(crate) fn put(&self, bufs: impl IntoIterator<Item = Vec<u8>>) {
        let mut l = self.list();
        for mut v in bufs {
            if l.len() < SPARE_MAX && v.capacity() <= SPARE_CAP && v.capacity() > 0 {
                v.clear();
                l.push(v);
            }
        }
    }
}

thread_local! {
    /// Wakers to wake once this thread releases the state lock (a task
    /// woken while the lock is held would at once wait for it).
    static DEFERRED: std::cell::RefCell<Vec<Waker>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn defer_wake(w: Waker) {
    DEFERRED.with(|d| d.borrow_mut().push(w));
}

/// The state lock; wakes the tasks woken under it after unlocking.
pub(crate) struct Guard<'a>(std::mem::ManuallyDrop<MutexGuard<'a, State>>);

impl std::ops::Deref for Guard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}
impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.0
    }
}
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // SAFETY: dropped once, here.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.0) };
        let ws = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
        for w in ws {
            w.wake();
        }
    }
}

/// What the callback's app_ctx points to (a separate allocation from the
/// context handle, so gowt_ctx_destroy can deliver into it during Drop).
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub pool: Pool,
    /// Bytes a stream may queue while the library is full: SENDQ_MAX in
    /// THREAD mode, 0 (just the piece that met WOULD_BLOCK) in POLL mode.
    pub sendq_max: usize,
    /// The log callback of gowt_ctx_set_log.
    pub log: Mutex<Option<std::sync::Arc<crate::context::LogFn>>>,
}

impl Shared {
    pub(crate) fn lock(&self) -> Guard<'_> {
        // A panic while holding the lock (a bug) should not wedge every
        // later call: the state stays consistent between statements.
        Guard(std::mem::ManuallyDrop::new(
            self.state.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

fn cstr(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the library's strings are NUL-terminated and valid during
        // the callback.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn cstr_array(p: *const *const std::ffi::c_char, n: usize) -> Vec<String> {
    if p.is_null() {
        return Vec::new();
    }
    // SAFETY: n entries, valid during the callback.
    (0..n).map(|i| cstr(unsafe { *p.add(i) })).collect()
}

/// A 32-byte hash the library points to (None for NULL).
fn hash32(p: *const u8) -> Option<[u8; 32]> {
    if p.is_null() {
        return None;
    }
    let mut h = [0u8; 32];
    // SAFETY: the library's hashes are 32 bytes, valid during the callback.
    unsafe { std::ptr::copy_nonoverlapping(p, h.as_mut_ptr(), 32) };
    Some(h)
}

/// The data of an event as a slice (valid during the callback only).
unsafe fn ev_data(ev: &sys::gowt_event) -> &[u8] {
    if ev.data.is_null() || ev.length == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ev.data, ev.length)
    }
}

/// The callback of every session of every context of this crate.
pub(crate) unsafe extern "C" fn on_event(
    ctx: *mut sys::gowt_ctx,
    ev: *const sys::gowt_event,
    app: *mut c_void,
) -> c_int {
    if ev.is_null() || app.is_null() {
        return 0;
    }
    // SAFETY: app is the Shared of this context, alive until gowt_ctx_destroy
    // returned (it is dropped after); ev is valid during the callback.
    let shared = &*(app as *const Shared);
    let ev = &*ev;
    // A panic must not unwind into Go.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(shared, ctx, ev))).unwrap_or(
        if ev.type_ == sys::GOWT_EV_CONNECT {
            500
        } else {
            0
        },
    )
}

unsafe fn handle(shared: &Shared, ctx: *mut sys::gowt_ctx, ev: &sys::gowt_event) -> c_int {
    let t = ev.type_;
    // Stream data is copied before the state lock is taken: a reader that
    // wants the lock meanwhile does not wait for the copy.
    let chunk = if t == sys::GOWT_EV_POST_DATA || t == sys::GOWT_EV_POST_FIN {
        let data = ev_data(ev);
        (!data.is_empty()).then(|| {
            let mut v = shared.pool.get();
            v.extend_from_slice(data);
            v
        })
    } else {
        None
    };
    let pool = &shared.pool;
    let mut guard = shared.lock();
    let st = &mut *guard;
    let h = ev.session;
    if t == sys::GOWT_EV_CONNECT {
        let mut s = Session::new(true);
        if let Some(r) = ev.request.as_ref() {
            let names = cstr_array(r.header_names, r.header_count);
            let values = cstr_array(r.header_values, r.header_count);
            s.request = Some(Request {
                peer_addr: cstr(r.peer_addr),
                local_addr: cstr(r.local_addr),
                peer_cert: hash32(r.peer_cert_sha256),
                path: cstr(r.path),
                query: cstr(r.query),
                authority: cstr(r.authority),
                origin: cstr(r.origin),
                protocols: cstr_array(r.protocols, r.protocol_count),
                headers: names.into_iter().zip(values).collect(),
            });
        }
        s.queued = true;
        st.sessions.insert(h, s);
        st.incoming.push_back(h);
        st.accept_w.wake();
        return sys::GOWT_CONNECT_DEFER;
    }
    let State { sessions, .. } = st;
    let sess = sessions.entry(h).or_insert_with(|| {
        // A client session whose connect() has not recorded it yet (no lock
        // is held across gowt_connect): kept until connect() claims it.
        let mut s = Session::new(false);
        s.unclaimed = true;
        s
    });
    match t {
        sys::GOWT_EV_CONNECT_ACCEPTED => {
            let p = if ev.protocol.is_null() {
                None
            } else {
                Some(cstr(ev.protocol))
            };
            sess.connect = Connect::Accepted(p);
            sess.peer_cert = hash32(ev.peer_cert_sha256);
            sess.connect_w.wake();
        }
        sys::GOWT_EV_CONNECT_REFUSED => {
            let reason = String::from_utf8_lossy(ev_data(ev))
                .trim_end_matches('\0')
                .to_string();
            sess.connect = Connect::Refused(ev.code.min(u16::MAX as u64) as u16, reason);
            sess.connect_w.wake();
        }
        sys::GOWT_EV_STREAM_OPENED => {
            sess.stream_for_event(ev.stream_id, ev.flags);
        }
        sys::GOWT_EV_POST_DATA | sys::GOWT_EV_POST_FIN => {
            let s = sess.stream_for_event(ev.stream_id, ev.flags);
            if let Some(v) = chunk {
                if s.recv_dropped {
                    pool.put([v]);
                } else {
                    s.buffered += v.len();
                    s.chunks.push_back(v);
                }
            }
            if t == sys::GOWT_EV_POST_FIN {
                s.fin = true;
            }
            wake_opt(&mut s.read_w);
            if !s.fin && !s.paused && s.buffered > RECV_HIGH {
                // Inside the callback: a call that never re-enters us.
                if sys::gowt_stream_set_receive_enabled(ctx, h, ev.stream_id, 0) == 0 {
                    s.paused = true;
                }
            }
        }
        sys::GOWT_EV_POST_DATAGRAM => {
            if sess.dgrams.len() >= DGRAM_QUEUE {
                sess.dgrams.pop_front();
            }
            sess.dgrams.push_back(ev_data(ev).to_vec());
            sess.dgram_w.wake();
        }
        sys::GOWT_EV_RESET => {
            let s = sess.stream_for_event(ev.stream_id, ev.flags);
            s.reset = Some(ev.code);
            wake_opt(&mut s.read_w);
        }
        sys::GOWT_EV_STOP_SENDING => {
            let s = sess.stream_for_event(ev.stream_id, ev.flags);
            s.stop = Some(ev.code);
            s.drop_sendq(pool);
            wake_opt(&mut s.write_w);
            s.stopped_w.wake();
        }
        sys::GOWT_EV_STREAM_WRITABLE => {
            if let Some(s) = sess.streams.get_mut(&ev.stream_id) {
                // The refill happens here, on the thread that delivers the
                // event (as a C program's callback would do it): a writer
                // is woken only when the queue has room.
                s.writable_seq += 1;
                s.drain(ctx, h, ev.stream_id, pool, shared.sendq_max);
            }
        }
        sys::GOWT_EV_DATAGRAM_WRITABLE => sess.dgram_writable_w.wake(),
        sys::GOWT_EV_STREAMS_AVAILABLE => sess.open_w.wake(),
        sys::GOWT_EV_CLOSE => {
            let reason = String::from_utf8_lossy(ev_data(ev))
                .trim_end_matches('\0')
                .to_string();
            sess.close = Some(CloseInfo {
                code: ev.code,
                reason,
                local: ev.flags & sys::GOWT_CLOSE_LOCAL != 0,
                remote: ev.flags & sys::GOWT_CLOSE_REMOTE != 0,
                error: ev.flags & sys::GOWT_CLOSE_ERROR != 0,
                raw: ev.flags & sys::GOWT_CODE_RAW != 0,
            });
            for s in sess.streams.values_mut() {
                s.drop_sendq(pool);
            }
            sess.wake_all();
        }
        sys::GOWT_EV_DRAIN => {
            sess.draining = true;
            sess.closed_w.wake();
        }
        sys::GOWT_EV_FREE => {
            if let Some(s) = sess.streams.get_mut(&ev.stream_id) {
                s.freed = true;
                s.drop_sendq(pool);
                s.wake_all();
                if s.removable() {
                    sess.streams.remove(&ev.stream_id);
                }
            }
        }
        sys::GOWT_EV_DEREGISTER => {
            sess.deregistered = true;
            for s in sess.streams.values_mut() {
                s.freed = true;
                s.drop_sendq(pool);
            }
            sess.streams.retain(|_, s| !s.removable());
            sess.wake_all();
            if sess.removable() {
                sessions.remove(&h);
            }
        }
        _ => {} // CONNECTING, PROVIDE_* (pull mode is not used), newer types
    }
    0
}
