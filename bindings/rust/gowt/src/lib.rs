//! # gowt: WebTransport (HTTP/3) for Rust, on tokio
//!
//! A safe, async layer over libgowt's C API (the `gowt-sys` crate). Shaped
//! after quinn and wtransport:
//!
//! ```no_run
//! # async fn demo() -> gowt::Result<()> {
//! // Server
//! let server = gowt::Context::new()?;            // generated certificate
//! let port = server.listen("127.0.0.1", 0)?;
//! server.register("/echo")?;
//! tokio::spawn(async move {
//!     let session = server.accept().await.accept()?;
//!     let (mut send, mut recv) = session.accept_bi().await?;
//!     let data = recv.read_to_end(1 << 20).await?;
//!     send.write_all(&data).await?;
//!     send.finish()?;
//!     session.closed().await;
//!     Ok::<_, gowt::Error>(())
//! });
//! // Client
//! let client = gowt::Context::builder().insecure_skip_verify(true).build()?;
//! let session = client.connect(&format!("https://127.0.0.1:{port}/echo")).await?;
//! let (mut send, mut recv) = session.open_bi().await?;
//! send.write_all(b"hello").await?;
//! send.finish()?;
//! assert_eq!(recv.read_to_end(1 << 20).await?, b"hello");
//! session.close(0, "done")?;
//! # Ok(()) }
//! ```
//!
//! ## How it runs
//! Every [`Context`] is a libgowt context. By default
//! ([`Dispatch::Thread`]) the library's dispatch thread runs the C callback;
//! with [`Dispatch::Poll`] a task on the tokio runtime that created it waits
//! on the context's file descriptor (`AsyncFd`) and runs
//! `gowt_ctx_process_events`. Either way the callback copies each event's
//! data (valid only during the callback, per gowt.h) into the context's
//! state and wakes the waiting tasks. Calls such as
//! [`SendStream::write`] go straight to the C API, which any thread may call.
//!
//! ## Lifetimes
//! Sessions and streams keep their context alive; the context is destroyed
//! when the last handle goes. A [`Session`] closes (code 0) when its last
//! clone and stream are dropped; a dropped [`SendStream`] finishes, a dropped
//! [`RecvStream`] sends STOP_SENDING(0). No C pointer is ever exposed.
//!
//! ## Linking
//! `gowt-sys` finds libgowt.so through `GOWT_LIB_DIR`, pkg-config, or (inside
//! the gowt tree) the repository's CMake build; see bindings/rust/README.md.
#![warn(missing_docs)]

mod context;
mod error;
mod session;
mod state;
mod stream;

pub use context::{
    live_objects, ClientAuth, ConnectOptions, Context, ContextBuilder, Dispatch, LogLevel,
    PathOptions,
};
pub use error::{CloseInfo, Error, ErrorCode, Result};
pub use session::{Session, SessionRequest, SessionStats};
pub use stream::{RecvStream, SendStream};

/// The loaded library's version string ("0.2.0").
pub fn version() -> String {
    // SAFETY: static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(gowt_sys::gowt_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Assertions that the public types are Send + Sync (gowt.h: any thread).
#[allow(dead_code)]
fn _assert_send_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<Context>();
    ok::<Session>();
    ok::<SessionRequest>();
    ok::<SendStream>();
    ok::<RecvStream>();
    ok::<Error>();
}

/// The futures are Send, so they can be spawned on a multi-thread runtime.
#[allow(dead_code)]
fn _assert_futures_send(c: &Context, s: &Session, w: &mut SendStream, r: &mut RecvStream) {
    fn ok<T: Send>(_: &T) {}
    ok(&c.accept());
    ok(&c.connect(""));
    ok(&s.open_bi());
    ok(&s.open_uni());
    ok(&s.accept_bi());
    ok(&s.accept_uni());
    ok(&s.read_datagram());
    ok(&s.send_datagram_wait(&[]));
    ok(&s.closed());
    ok(&w.write(&[]));
    ok(&w.stopped());
    let mut b = [0u8; 1];
    ok(&r.read(&mut b));
    ok(&r.read_chunk(1));
}
