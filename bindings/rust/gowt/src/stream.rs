//! Streams: [`SendStream`] (tokio `AsyncWrite`) and [`RecvStream`] (tokio
//! `AsyncRead`), quinn's shapes.
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use gowt_sys as sys;

use crate::error::{Error, Result};
use crate::session::SessionRef;
use crate::state;

/// What a write found under the lock.
enum Take {
    /// Queue empty: send it straight to the library (after this writable_seq).
    Direct(u64),
    /// Taken: queued behind queued data.
    Queued,
    /// The queue is full: wait.
    Full,
    /// An earlier send from the queue failed with this code.
    Failed(std::ffi::c_int),
    /// No state for the stream (the context is going away).
    Gone,
}

/// Drops one handle of the stream and forgets it when nothing refers to it.
fn release(r: &SessionRef, sid: u64, f: impl FnOnce(&mut state::Stream)) {
    let mut st = r.inner.lock();
    if let Some(s) = st.sessions.get_mut(&r.h) {
        if let Some(strm) = s.streams.get_mut(&sid) {
            f(strm);
            strm.handles = strm.handles.saturating_sub(1);
            if strm.removable() {
                s.streams.remove(&sid);
            }
        }
    }
}

/// The sending half of a stream. Writes copy into the library's send buffer;
/// when it is full they wait for STREAM_WRITABLE (back-pressure). Dropping it
/// without [`finish`](Self::finish) or [`reset`](Self::reset) finishes it
/// (sends FIN), as quinn does.
pub struct SendStream {
    r: Arc<SessionRef>,
    sid: u64,
    done: bool,
}

impl std::fmt::Debug for SendStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendStream").field("id", &self.sid).finish()
    }
}

impl SendStream {
    pub(crate) fn new(r: Arc<SessionRef>, sid: u64) -> SendStream {
        SendStream {
            r,
            sid,
            done: false,
        }
    }

    /// The QUIC stream ID.
    pub fn id(&self) -> u64 {
        self.sid
    }

    fn send(&self, data: &[u8], fin: bool) -> std::ffi::c_int {
        // SAFETY: live context; data only read during the call.
        unsafe {
            sys::gowt_stream_send(
                self.r.ctx(),
                self.r.h,
                self.sid,
                data.as_ptr().cast(),
                data.len(),
                fin as _,
            )
        }
    }

    /// The error for a send that the library refused with rc.
    fn send_error(&self, rc: std::ffi::c_int) -> Error {
        let e = self.r.error(rc);
        if rc != sys::GOWT_ERR_CLOSED && rc != sys::GOWT_ERR_NOT_FOUND {
            return e;
        }
        let st = self.r.with(|s| {
            (
                s.streams.get(&self.sid).and_then(|x| x.stop),
                s.close.clone(),
            )
        });
        match st {
            Some((Some(code), _)) => Error::Stopped(code),
            Some((None, Some(c))) => Error::SessionClosed(c),
            _ => match e {
                Error::SessionClosed(c) => Error::SessionClosed(c),
                _ => Error::StreamClosed,
            },
        }
    }

    /// Writes some of `buf` (at most 64 KiB, or the context's
    /// `stream_send_buffer` when smaller): straight into the library's
    /// send buffer, or, while that is full, into this stream's queue (with
    /// [`Dispatch::Thread`](crate::Dispatch::Thread) at most 1 MiB; one
    /// piece with `Dispatch::Poll`), which the STREAM_WRITABLE callback
    /// moves into the library; waits while both are full. Returns the
    /// number of bytes taken.
    pub fn poll_write_buf(&mut self, cx: &mut TaskCx<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.done {
            return Poll::Ready(Err(Error::StreamClosed));
        }
        let piece = self.r.inner.send_piece;
        let n = buf.len().min(piece);
        let data = &buf[..n];
        let sid = self.sid;
        let take = {
            let pool = &self.r.inner.shared.pool;
            let mut guard = self.r.inner.lock();
            match guard
                .sessions
                .get_mut(&self.r.h)
                .and_then(|s| s.streams.get_mut(&sid))
            {
                None => Take::Gone,
                Some(st) => match st.send_err {
                    Some(rc) => Take::Failed(rc),
                    None if st.sendq.is_empty() => Take::Direct(st.writable_seq),
                    None if st.sendq_bytes + n <= self.r.inner.shared.sendq_max => {
                        st.enqueue(pool, data, piece);
                        Take::Queued
                    }
                    None => {
                        st.write_w = Some(cx.waker().clone());
                        Take::Full
                    }
                },
            }
        };
        let rc = match take {
            Take::Queued => return Poll::Ready(Ok(n)),
            Take::Full => return Poll::Pending,
            Take::Failed(rc) => rc,
            Take::Gone => self.send(data, false),
            Take::Direct(seq) => {
                // Outside the lock: the callback never waits for this call.
                let rc = self.send(data, false);
                if rc != sys::GOWT_ERR_WOULD_BLOCK {
                    rc
                } else {
                    // The library is full, and a STREAM_WRITABLE follows
                    // this WOULD_BLOCK: queue the data for its callback. If
                    // a STREAM_WRITABLE callback ran since the queue was
                    // seen empty, the one for this WOULD_BLOCK may have
                    // been it: hand the queue over here.
                    let pool = &self.r.inner.shared.pool;
                    let mut guard = self.r.inner.lock();
                    if let Some(st) = guard
                        .sessions
                        .get_mut(&self.r.h)
                        .and_then(|s| s.streams.get_mut(&sid))
                    {
                        st.enqueue(pool, data, piece);
                        if st.writable_seq != seq {
                            // SAFETY: live context (self.r).
                            unsafe {
                                st.drain(
                                    self.r.ctx(),
                                    self.r.h,
                                    sid,
                                    pool,
                                    self.r.inner.shared.sendq_max,
                                )
                            };
                        }
                        return Poll::Ready(Ok(n));
                    }
                    rc
                }
            }
        };
        if rc == sys::GOWT_ERR_CLOSED || rc == sys::GOWT_ERR_NOT_FOUND {
            // The library knows the stream or session ended before its
            // STOP_SENDING / CLOSE / FREE event reached us: wait for that
            // event, so the error says why.
            let sid = self.sid;
            let ended = self.r.with(|s| {
                let known = s.close.is_some() || s.deregistered;
                match s.streams.get_mut(&sid) {
                    Some(st) if !known && st.stop.is_none() && !st.freed => {
                        st.write_w = Some(cx.waker().clone());
                        false
                    }
                    _ => true,
                }
            });
            if ended == Some(false) {
                return Poll::Pending;
            }
        }
        if rc < 0 {
            return Poll::Ready(Err(self.send_error(rc)));
        }
        Poll::Ready(Ok(n))
    }

    /// Writes some of `buf`; returns how much was taken.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize> {
        poll_fn(|cx| self.poll_write_buf(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Ends the stream (FIN after the data already written). Does not wait:
    /// FIN leaves with the last queued data.
    pub fn finish(&mut self) -> Result<()> {
        if self.done {
            return Err(Error::StreamClosed);
        }
        let sid = self.sid;
        let rc = {
            let mut guard = self.r.inner.lock();
            match guard
                .sessions
                .get_mut(&self.r.h)
                .and_then(|s| s.streams.get_mut(&sid))
            {
                Some(st) => match st.send_err {
                    Some(rc) => rc,
                    // FIN with the last queued piece, from the callback.
                    None if !st.sendq.is_empty() => {
                        st.fin_pending = true;
                        sys::GOWT_OK
                    }
                    None => {
                        // Under the lock, so the STREAM_WRITABLE callback
                        // sees fin_pending when this one would block.
                        let rc = self.send(&[], true);
                        if rc == sys::GOWT_ERR_WOULD_BLOCK {
                            st.fin_pending = true;
                            sys::GOWT_OK
                        } else {
                            rc
                        }
                    }
                },
                None => self.send(&[], true),
            }
        };
        if rc < 0 && rc != sys::GOWT_ERR_WOULD_BLOCK {
            return Err(self.send_error(rc));
        }
        self.done = true;
        Ok(())
    }

    /// Abruptly ends sending with an application code (RESET_STREAM).
    pub fn reset(&mut self, code: u32) -> Result<()> {
        self.done = true;
        let sid = self.sid;
        {
            let mut guard = self.r.inner.lock();
            if let Some(st) = guard
                .sessions
                .get_mut(&self.r.h)
                .and_then(|s| s.streams.get_mut(&sid))
            {
                st.drop_sendq(&self.r.inner.shared.pool);
            }
        }
        // SAFETY: live context.
        let rc = unsafe { sys::gowt_stream_reset(self.r.ctx(), self.r.h, self.sid, code) };
        if rc < 0 {
            return Err(self.send_error(rc));
        }
        Ok(())
    }

    /// Send priority, as the W3C API's sendOrder / sendGroup: within a send
    /// group of the session, streams with a higher `send_order` go first;
    /// equal ones share the link (`gowt_stream_set_priority`).
    pub fn set_priority(&self, send_order: i64, send_group: u32) -> Result<()> {
        // SAFETY: live context.
        let rc = unsafe {
            sys::gowt_stream_set_priority(self.r.ctx(), self.r.h, self.sid, send_order, send_group)
        };
        if rc < 0 {
            return Err(self.r.error(rc));
        }
        Ok(())
    }

    /// Waits until the peer sends STOP_SENDING (`Ok(Some(code))`) or the
    /// stream is forgotten without one (`Ok(None)`).
    pub async fn stopped(&self) -> Result<Option<u64>> {
        let sid = self.sid;
        poll_fn(|cx| {
            self.r
                .with(|s| {
                    let closed = s.close.clone();
                    match s.streams.get_mut(&sid) {
                        Some(st) if st.stop.is_some() => Poll::Ready(Ok(st.stop)),
                        Some(st) if !st.freed => {
                            st.stopped_w.register(cx.waker());
                            Poll::Pending
                        }
                        _ => match closed {
                            Some(c) => Poll::Ready(Err(Error::SessionClosed(c))),
                            None => Poll::Ready(Ok(None)),
                        },
                    }
                })
                .unwrap_or(Poll::Ready(Ok(None)))
        })
        .await
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.finish();
        }
        release(&self.r, self.sid, |_| {});
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_buf(cx, buf).map_err(Into::into)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        // Written data is in the library's buffer already.
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        if s.done {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(s.finish().map_err(Into::into))
    }
}

/// The receiving half of a stream. Data the library delivered is buffered
/// here until read; above 4 MiB unread the stream's reading is paused, so
/// QUIC flow control holds the peer. Dropping it before the end sends
/// STOP_SENDING with code 0, as quinn does.
pub struct RecvStream {
    r: Arc<SessionRef>,
    sid: u64,
    done: bool,
    /// Chunks taken from the shared state (all that had arrived), read here
    /// without the lock; `head` bytes of the first one are read.
    local: VecDeque<Vec<u8>>,
    head: usize,
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream").field("id", &self.sid).finish()
    }
}

impl RecvStream {
    pub(crate) fn new(r: Arc<SessionRef>, sid: u64) -> RecvStream {
        RecvStream {
            r,
            sid,
            done: false,
            local: VecDeque::new(),
            head: 0,
        }
    }

    /// The QUIC stream ID.
    pub fn id(&self) -> u64 {
        self.sid
    }

    /// Makes `local` non-empty: Ready(Ok(true)) when it has data (taking
    /// everything buffered in the shared state in one go), Ready(Ok(false))
    /// at the end of the stream, its error, or Pending.
    fn poll_fill(&mut self, cx: &mut TaskCx<'_>) -> Poll<Result<bool>> {
        if !self.local.is_empty() {
            return Poll::Ready(Ok(true));
        }
        let sid = self.sid;
        let mut resume = false;
        let mut guard = self.r.inner.lock();
        let local = &mut self.local;
        let res = guard.sessions.get_mut(&self.r.h).map(|s| {
            let closed = s.close.clone();
            let Some(st) = s.streams.get_mut(&sid) else {
                return Poll::Ready(Err(Error::StreamClosed));
            };
            if !st.chunks.is_empty() {
                std::mem::swap(&mut st.chunks, local);
                st.buffered = 0;
                if st.paused {
                    st.paused = false;
                    resume = true;
                }
                return Poll::Ready(Ok(true));
            }
            if st.fin {
                return Poll::Ready(Ok(false));
            }
            if let Some(code) = st.reset {
                return Poll::Ready(Err(Error::Reset(code)));
            }
            if let Some(c) = closed {
                return Poll::Ready(Err(Error::SessionClosed(c)));
            }
            if st.freed {
                return Poll::Ready(Err(Error::StreamClosed));
            }
            st.read_w = Some(cx.waker().clone());
            Poll::Pending
        });
        drop(guard);
        if resume {
            // SAFETY: live context.
            unsafe { sys::gowt_stream_set_receive_enabled(self.r.ctx(), self.r.h, sid, 1) };
        }
        let res = res.unwrap_or(Poll::Ready(Err(Error::StreamClosed)));
        if let Poll::Ready(Ok(false) | Err(_)) = res {
            self.done = true;
        }
        res
    }

    /// Copies up to `cap` bytes to `dst`. Ready(Ok(None)) at the end.
    fn poll_read_raw(
        &mut self,
        cx: &mut TaskCx<'_>,
        dst: *mut u8,
        cap: usize,
    ) -> Poll<Result<Option<usize>>> {
        if cap == 0 {
            return Poll::Ready(Ok(Some(0)));
        }
        match self.poll_fill(cx) {
            Poll::Ready(Ok(true)) => {}
            Poll::Ready(Ok(false)) => return Poll::Ready(Ok(None)),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let mut n = 0;
        let mut used = Vec::new();
        while n < cap {
            let Some(front) = self.local.front() else {
                break;
            };
            let k = (front.len() - self.head).min(cap - n);
            // SAFETY: dst has cap writable bytes; the ranges are disjoint.
            unsafe { std::ptr::copy_nonoverlapping(front.as_ptr().add(self.head), dst.add(n), k) };
            n += k;
            self.head += k;
            if self.head == front.len() {
                used.push(self.local.pop_front().unwrap());
                self.head = 0;
            }
        }
        if !used.is_empty() {
            self.r.inner.shared.pool.put(used);
        }
        Poll::Ready(Ok(Some(n)))
    }

    /// The next piece of the stream, at most `max` bytes (`max` > 0), as
    /// the library delivered it: no copy beyond the one out of the
    /// callback (quinn's `read_chunk`). `Ok(None)` at the end.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>> {
        let max = max.max(1);
        if !poll_fn(|cx| self.poll_fill(cx)).await? {
            return Ok(None);
        }
        let front = self.local.front_mut().unwrap();
        if self.head == 0 && front.len() <= max {
            return Ok(self.local.pop_front());
        }
        let end = (self.head + max).min(front.len());
        let v = front[self.head..end].to_vec();
        self.head = end;
        if self.head == front.len() {
            let used = self.local.pop_front().unwrap();
            self.r.inner.shared.pool.put([used]);
            self.head = 0;
        }
        Ok(Some(v))
    }

    /// Reads into `buf`: `Ok(Some(n))`, or `Ok(None)` at the end of the
    /// stream (quinn's `read`).
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        poll_fn(|cx| self.poll_read_raw(cx, buf.as_mut_ptr(), buf.len())).await
    }

    /// Reads to the end of the stream; fails with `ErrorCode::TooLarge`
    /// beyond `limit` bytes.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while let Some(n) = self.read(&mut buf).await? {
            if out.len() + n > limit {
                return Err(Error::Api {
                    code: crate::ErrorCode::TooLarge,
                    message: format!("stream longer than {limit} bytes"),
                });
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok(out)
    }

    /// Asks the peer to stop sending (STOP_SENDING) with this code; what
    /// still arrives is discarded.
    pub fn stop(&mut self, code: u32) -> Result<()> {
        self.done = true;
        self.r.inner.shared.pool.put(self.local.drain(..));
        self.head = 0;
        let sid = self.sid;
        self.r.with(|s| {
            if let Some(st) = s.streams.get_mut(&sid) {
                st.recv_dropped = true;
                st.chunks.clear();
                st.buffered = 0;
            }
        });
        // SAFETY: live context.
        crate::error::check(unsafe {
            sys::gowt_stream_stop_sending(self.r.ctx(), self.r.h, sid, code)
        })?;
        Ok(())
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        let stop = !self.done;
        self.r.inner.shared.pool.put(self.local.drain(..));
        release(&self.r, self.sid, |st| {
            st.recv_dropped = true;
            st.chunks.clear();
            st.buffered = 0;
        });
        if stop {
            // SAFETY: live context.
            unsafe { sys::gowt_stream_stop_sending(self.r.ctx(), self.r.h, self.sid, 0) };
        }
    }
}

impl AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // SAFETY: we only write initialised bytes into the unfilled part and
        // advance by exactly what was written.
        let un = unsafe { buf.unfilled_mut() };
        let cap = un.len();
        match this.poll_read_raw(cx, un.as_mut_ptr().cast(), cap) {
            Poll::Ready(Ok(Some(n))) => {
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}
