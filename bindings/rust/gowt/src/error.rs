//! Errors: [`Error`] for every fallible call, [`ErrorCode`] for the C codes.
use std::ffi::{c_int, CStr};
use std::fmt;

use gowt_sys as sys;

/// A `gowt_error` code of the C library (include/gowt.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// GOWT_ERR_INVALID_ARG: a bad value (URL, PEM, option).
    InvalidArg,
    /// GOWT_ERR_NOT_FOUND: unknown context, session, stream or path.
    NotFound,
    /// GOWT_ERR_CLOSED: session, stream direction or context closed.
    Closed,
    /// GOWT_ERR_WOULD_BLOCK: a queue is full now.
    WouldBlock,
    /// GOWT_ERR_TOO_LARGE: datagram, buffer or reason too large.
    TooLarge,
    /// GOWT_ERR_BUSY: not allowed from inside a callback.
    Busy,
    /// GOWT_ERR_TLS: certificate, key or trust problem.
    Tls,
    /// GOWT_ERR_NETWORK: bind or socket failure.
    Network,
    /// GOWT_ERR_PROTOCOL: the peer violated or lacks a protocol need.
    Protocol,
    /// GOWT_ERR_LIMIT: session or stream limit reached.
    Limit,
    /// GOWT_ERR_STATE: not valid in the current state.
    State,
    /// GOWT_ERR_INTERNAL: internal failure (recovered).
    Internal,
    /// GOWT_ERR_RANGE: output buffer too small.
    Range,
    /// GOWT_ERR_UNSUPPORTED: not available in this build or mode.
    Unsupported,
    /// A code this crate does not know (from a newer library).
    Other(i32),
}

impl ErrorCode {
    /// The code for a negative return value of a C call.
    pub fn from_raw(rc: c_int) -> ErrorCode {
        use ErrorCode::*;
        match rc {
            sys::GOWT_ERR_INVALID_ARG => InvalidArg,
            sys::GOWT_ERR_NOT_FOUND => NotFound,
            sys::GOWT_ERR_CLOSED => Closed,
            sys::GOWT_ERR_WOULD_BLOCK => WouldBlock,
            sys::GOWT_ERR_TOO_LARGE => TooLarge,
            sys::GOWT_ERR_BUSY => Busy,
            sys::GOWT_ERR_TLS => Tls,
            sys::GOWT_ERR_NETWORK => Network,
            sys::GOWT_ERR_PROTOCOL => Protocol,
            sys::GOWT_ERR_LIMIT => Limit,
            sys::GOWT_ERR_STATE => State,
            sys::GOWT_ERR_INTERNAL => Internal,
            sys::GOWT_ERR_RANGE => Range,
            sys::GOWT_ERR_UNSUPPORTED => Unsupported,
            n => Other(n),
        }
    }

    /// The raw negative C value.
    pub fn raw(self) -> c_int {
        use ErrorCode::*;
        match self {
            InvalidArg => sys::GOWT_ERR_INVALID_ARG,
            NotFound => sys::GOWT_ERR_NOT_FOUND,
            Closed => sys::GOWT_ERR_CLOSED,
            WouldBlock => sys::GOWT_ERR_WOULD_BLOCK,
            TooLarge => sys::GOWT_ERR_TOO_LARGE,
            Busy => sys::GOWT_ERR_BUSY,
            Tls => sys::GOWT_ERR_TLS,
            Network => sys::GOWT_ERR_NETWORK,
            Protocol => sys::GOWT_ERR_PROTOCOL,
            Limit => sys::GOWT_ERR_LIMIT,
            State => sys::GOWT_ERR_STATE,
            Internal => sys::GOWT_ERR_INTERNAL,
            Range => sys::GOWT_ERR_RANGE,
            Unsupported => sys::GOWT_ERR_UNSUPPORTED,
            Other(n) => n,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: gowt_strerror returns a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(sys::gowt_strerror(self.raw())) };
        f.write_str(&s.to_string_lossy())
    }
}

/// How and why a session ended (the CLOSE event).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloseInfo {
    /// The session error code (CLOSE_WEBTRANSPORT_SESSION), 0 by default;
    /// with `raw`, the wire code of the failure.
    pub code: u64,
    /// The reason text (at most 1024 bytes).
    pub reason: String,
    /// We closed it.
    pub local: bool,
    /// The peer closed it (close capsule or FIN).
    pub remote: bool,
    /// A connection or protocol failure ended it.
    pub error: bool,
    /// `code` is an HTTP/3 or QUIC wire code (GOWT_CODE_RAW), not a
    /// session code: the failure that ended the session.
    pub raw: bool,
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = if self.error {
            "error"
        } else if self.remote {
            "peer"
        } else {
            "local"
        };
        write!(f, "session closed ({by}), code {}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// Every error of this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A C call failed: its code and the library's message.
    Api {
        /// The gowt_error code.
        code: ErrorCode,
        /// gowt_last_error() of the failing call.
        message: String,
    },
    /// The server refused the session: HTTP status (0 when there was no
    /// response) and the library's reason text.
    Refused {
        /// HTTP status, or 0.
        status: u16,
        /// Why (from the library).
        reason: String,
    },
    /// The session is closed; how and why.
    SessionClosed(CloseInfo),
    /// The peer reset the stream (RESET_STREAM) with this application code.
    Reset(u64),
    /// The peer asked us to stop sending (STOP_SENDING) with this code.
    Stopped(u64),
    /// The stream is gone (finished, reset by us, or forgotten).
    StreamClosed,
    /// A context needs a tokio runtime (with IO enabled).
    NoRuntime,
}

impl Error {
    /// The C error code, when the error came from a C call.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Builds the error of a failed call made on this thread.
    pub(crate) fn from_rc(rc: c_int) -> Error {
        let mut buf = [0u8; 1024];
        // SAFETY: buf is writable for its length; the library NUL-terminates.
        let n = unsafe { sys::gowt_last_error(buf.as_mut_ptr().cast(), buf.len()) };
        let message = if n > 0 {
            String::from_utf8_lossy(&buf[..(n as usize).min(buf.len() - 1)]).into_owned()
        } else {
            String::new()
        };
        Error::Api {
            code: ErrorCode::from_raw(rc),
            message,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api { code, message } if message.is_empty() => write!(f, "{code}"),
            Error::Api { code, message } => write!(f, "{code} ({message})"),
            Error::Refused { status, reason } => {
                write!(f, "session refused (HTTP {status}): {reason}")
            }
            Error::SessionClosed(c) => c.fmt(f),
            Error::Reset(c) => write!(f, "stream reset by peer, code {c}"),
            Error::Stopped(c) => write!(f, "peer sent STOP_SENDING, code {c}"),
            Error::StreamClosed => f.write_str("stream closed"),
            Error::NoRuntime => f.write_str("no tokio runtime (gowt needs one with IO enabled)"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        use std::io::ErrorKind;
        let kind = match &e {
            Error::Reset(_) | Error::Stopped(_) => ErrorKind::ConnectionReset,
            Error::SessionClosed(_) => ErrorKind::ConnectionAborted,
            Error::StreamClosed => ErrorKind::BrokenPipe,
            Error::Refused { .. } => ErrorKind::ConnectionRefused,
            Error::Api {
                code: ErrorCode::InvalidArg | ErrorCode::TooLarge,
                ..
            } => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// `Ok(rc)` for rc >= 0, else the error of this thread's failed call.
pub(crate) fn check(rc: c_int) -> Result<c_int, Error> {
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(Error::from_rc(rc))
    }
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
