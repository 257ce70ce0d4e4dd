"""The callback layer: include/gowt.h one to one, over ctypes.

A thin layer over the C API (read include/gowt.h for the semantics of every
call). Contexts default to GOWT_DISPATCH_POLL, so callbacks run on the
thread that calls ``process_events()`` (or ``run_until()``), inside your own
event loop (``fileno()`` works with ``selectors`` and ``asyncio``'s
``add_reader``; gowt.aio is built that way).

    from gowt.lowlevel import Context, EventType as T
    srv = Context()                            # generated certificate
    port = srv.listen("127.0.0.1", 0)
    srv.register("/echo", on_event)            # on_event(ctx, ev) -> int | None
    cli = Context(pinned_hashes=[srv.cert_hash()])
    s = cli.connect(f"https://127.0.0.1:{port}/echo", on_client_event)

Memory: ``Event.data`` is a copy (bytes), valid after the callback.

Errors raise ``Error`` (``.code`` is the negative gowt_error); a full stream
or datagram queue raises ``WouldBlock`` (a BlockingIOError too), to retry on
STREAM_WRITABLE / DATAGRAM_WRITABLE.

Exceptions raised by a handler never cross into C (a CONNECT whose handler
raised is refused with 500); each one is raised, once, to the application:
in POLL mode by the ``process_events()`` that ran the handler; in THREAD mode
by the next call the application makes on the context from outside a
callback (any method, ``raise_pending()`` or ``close()``). Several are raised
one per call, in order.

Lifetime: a context left to the garbage collector is destroyed by a
finalizer (weakref.finalize), and the ctypes callback the library holds
lives until gowt_ctx_destroy has returned. The end events such a destroy
delivers (CLOSE, FREE, DEREGISTER) are not given to the handlers any more:
the Context they would receive is gone. Call ``close()`` to get them.
"""

from __future__ import annotations

import collections
import ctypes
import enum
import errno
import selectors
import threading
import time
import weakref
from ctypes import POINTER, byref, c_int, c_size_t, c_uint8, c_uint16, c_uint64, c_void_p
from typing import (Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence,
                    Set, Tuple, Union)

from . import _ffi
from ._ffi import (CLIENT_AUTH_NONE, CLIENT_AUTH_REQUEST, CLIENT_AUTH_REQUIRE, CLOSE_ERROR,
                   CLOSE_LOCAL, CLOSE_REMOTE, CODE_RAW, CONNECT_DEFER, LOG_DEBUG, LOG_ERROR,
                   LOG_INFO, LOG_OFF, LOG_WARN, NO_ID, STREAM_BIDI, STREAM_LOCAL, lib)

__all__ = ["Context", "Event", "EventType", "Error", "WouldBlock", "NO_ID",
           "CLOSE_LOCAL", "CLOSE_REMOTE", "CLOSE_ERROR", "STREAM_BIDI",
           "STREAM_LOCAL", "CONNECT_DEFER", "CODE_RAW", "CLIENT_AUTH_NONE",
           "CLIENT_AUTH_REQUEST", "CLIENT_AUTH_REQUIRE", "LOG_OFF", "LOG_ERROR", "LOG_WARN",
           "LOG_INFO", "LOG_DEBUG", "version", "Handler"]

EventType = enum.IntEnum("EventType", _ffi.EVENT_TYPES)  # type: ignore[misc]
EventType.__doc__ = "gowt_event_type"

Bytes = Union[bytes, bytearray, memoryview]


class Error(Exception):
    """A gowt call failed; code is the negative gowt_error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class WouldBlock(Error, BlockingIOError):
    """GOWT_ERR_WOULD_BLOCK: retry after STREAM_WRITABLE / DATAGRAM_WRITABLE."""

    def __init__(self, code: int, message: str) -> None:
        Error.__init__(self, code, message)
        self.errno = errno.EAGAIN

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "GOWT_ERR_WOULD_BLOCK"


def version() -> str:
    """The loaded library's version string, e.g. "0.4.0"."""
    return lib.gowt_version().decode()


KEEP = -2  # GOWT_RUNTIME_KEEP


def set_gc(memory_limit: int = KEEP, gc_percent: int = KEEP) -> "tuple[int, int]":
    """Process-wide Go runtime GC settings (gowt_runtime_set_gc): a soft
    memory limit in bytes (0: none) and GOGC (-1: off). Returns the previous
    (memory_limit, gc_percent)."""
    lim, pct = ctypes.c_int64(), ctypes.c_int()
    rc = lib.gowt_runtime_set_gc(memory_limit, gc_percent, ctypes.byref(lim), ctypes.byref(pct))
    if rc != 0:
        raise _thread_error(rc, "gowt_runtime_set_gc")
    return lim.value, pct.value


def _thread_error(rc: int, what: str) -> Error:
    """An Error for rc with this thread's last error message (calls that
    have no context to hold one: gowt_ctx_create, the init functions)."""
    msg = ctypes.create_string_buffer(1024)
    text = "%s: %s" % (what, lib.gowt_strerror(rc).decode())
    if lib.gowt_last_error(msg, len(msg)) > 0:
        text += " (%s)" % msg.value.decode("utf-8", "replace")
    return (WouldBlock if rc == _ffi.ERR_WOULD_BLOCK else Error)(rc, text)


def _init(fn: Any, struct: Any, what: str) -> Any:
    """Fill a sized struct with the library's defaults."""
    rc = fn(byref(struct), ctypes.sizeof(struct))
    if rc != 0:
        raise _thread_error(rc, what)
    return struct


def _b(s: Optional[Union[str, Bytes]]) -> Optional[bytes]:
    return None if s is None else (s.encode() if isinstance(s, str) else bytes(s))


class Event:
    """One event, copied out of the library's memory (valid after the callback)."""

    __slots__ = ("type", "flags", "session", "session_id", "stream_id", "data",
                 "space", "code", "protocol", "request", "peer_cert_sha256", "_raw")

    def __init__(self, ev: Any, raw: Any = None) -> None:
        self._raw = raw  # the C event, for provide_*; None after the callback
        self.type: Union[EventType, int] = (EventType(ev.type) if ev.type in
                                            EventType._value2member_map_ else ev.type)
        self.flags: int = ev.flags
        self.session: int = ev.session
        self.session_id: int = ev.session_id
        self.stream_id: int = ev.stream_id
        provide = ev.type in (EventType.PROVIDE_DATA, EventType.PROVIDE_DATAGRAM)
        # PROVIDE_*: length is the space offered, not a payload.
        self.space: int = ev.length if provide else 0
        self.data: bytes = b"" if provide or not ev.data else ctypes.string_at(ev.data, ev.length)
        self.code: int = ev.code
        self.protocol: Optional[str] = ev.protocol.decode() if ev.protocol else None
        # CONNECT (client's certificate) / CONNECT_ACCEPTED (server's): SHA-256
        self.peer_cert_sha256: Optional[bytes] = (ctypes.string_at(ev.peer_cert_sha256, 32)
                                                  if ev.peer_cert_sha256 else None)
        self.request: Optional[Dict[str, Any]] = None
        if ev.request:
            r = ev.request.contents
            self.request = {
                "path": r.path.decode(), "query": r.query.decode(),
                "authority": r.authority.decode(), "origin": r.origin.decode(),
                "protocol": r.protocol.decode(),
                "protocols": [r.protocols[i].decode() for i in range(r.protocol_count)],
                "headers": [(r.header_names[i].decode(), r.header_values[i].decode())
                            for i in range(r.header_count)],
                "peer_addr": r.peer_addr.decode() if r.peer_addr else "",
                "local_addr": r.local_addr.decode() if r.local_addr else "",
                "peer_cert_sha256": (ctypes.string_at(r.peer_cert_sha256, 32)
                                     if r.peer_cert_sha256 else None),
            }

    @property
    def bidi(self) -> bool:
        return bool(self.flags & STREAM_BIDI)

    @property
    def raw_code(self) -> bool:
        """RESET / STOP_SENDING / CLOSE: code is a wire code (GOWT_CODE_RAW)."""
        return bool(self.flags & _ffi.CODE_RAW)

    @property
    def local(self) -> bool:
        """Stream events: we opened the stream."""
        return bool(self.flags & STREAM_LOCAL)

    @property
    def reason(self) -> str:
        """CLOSE / CONNECT_REFUSED: the reason text."""
        return self.data.decode("utf-8", "replace")

    def __repr__(self) -> str:
        name = self.type.name if isinstance(self.type, EventType) else str(self.type)
        return "Event(%s session=%d stream=%d len=%d code=%d)" % (
            name, self.session, self.stream_id if self.stream_id != NO_ID else -1,
            len(self.data), self.code)


Handler = Callable[["Context", Event], Optional[int]]


class _State:
    """What the library's callback needs, apart from the Context object: the
    ctypes callback and everything it reaches. The finalizer holds it (not
    the Context), so the callback outlives gowt_ctx_destroy. It reaches the
    Context (and the handlers, kept there) only through a weak reference: a
    handler that refers to its Context makes a cycle the collector frees."""

    def __init__(self, poll: bool) -> None:
        self.poll = poll
        self.ptr: Optional[c_void_p] = None
        self.lock = threading.Lock()
        self.next_key = 1
        self.errors: Deque[BaseException] = collections.deque()
        self.cb_thread: Optional[int] = None  # thread running a callback now
        self.ctx_ref: Callable[[], Optional["Context"]] = lambda: None
        self.cb = _ffi.CALLBACK(self.trampoline)
        self.log_fn: Optional[Callable[[int, str, str], Any]] = None
        self.log_cb = _ffi.LOG_CALLBACK(self.log_trampoline)

    def log_trampoline(self, _ctx: Any, level: int, comp: bytes, msg: bytes, _app: Any) -> None:
        fn = self.log_fn
        if fn is None:
            return
        try:
            fn(level, comp.decode("utf-8", "replace"), msg.decode("utf-8", "replace"))
        except BaseException as e:  # never let an exception cross into C
            if self.ctx_ref() is not None:
                self.errors.append(e)

    def trampoline(self, _ctx: Any, evp: Any, app_ctx: Optional[int]) -> int:
        ev = None
        self.cb_thread = threading.get_ident()
        try:
            ev = Event(evp.contents, evp)
            ctx = self.ctx_ref()
            if ctx is None:  # garbage-collected: its finalizer is destroying it
                return 503 if ev.type == EventType.CONNECT else 0
            with self.lock:
                handler = ctx._handlers.get(app_ctx or 0)
            rc: Optional[int] = 0
            if handler is not None:
                try:
                    rc = handler(ctx, ev)
                finally:
                    ev._raw = None  # the C event is gone once the callback returns
            if ev.type == EventType.DEREGISTER and app_ctx in ctx._session_keys:
                # a client session's own handler (connect), not a path's
                with self.lock:
                    ctx._session_keys.discard(app_ctx)
                    ctx._handlers.pop(app_ctx, None)
            del ctx
            return int(rc or 0)
        except BaseException as e:  # never let an exception cross into C
            if self.ctx_ref() is not None:
                self.errors.append(e)
            return 500 if ev is not None and ev.type == EventType.CONNECT else 0
        finally:
            self.cb_thread = None


_zombies: Set[_State] = set()  # destroyed by a helper thread (see _finalize)


def _destroy_later(state: _State) -> None:
    try:
        while state.ptr is not None:
            rc = lib.gowt_ctx_destroy(state.ptr)
            if rc != _ffi.ERR_BUSY:
                state.ptr = None
            else:
                time.sleep(0.01)
    finally:
        _zombies.discard(state)


def _finalize(state: _State) -> None:
    """weakref.finalize of a Context: destroy the C context; only then may
    state (and the ctypes callback in it) go."""
    if state.ptr is None:
        return
    rc = lib.gowt_ctx_destroy(state.ptr)
    if rc == _ffi.ERR_BUSY:
        # Collected inside one of its own callbacks (THREAD mode, on the
        # dispatch thread): destroy from another thread once it returns.
        _zombies.add(state)
        threading.Thread(target=_destroy_later, args=(state,), daemon=True,
                         name="gowt-finalize").start()
        return
    state.ptr = None


class Context:
    """A gowt context (gowt_ctx). Keyword arguments are gowt_config fields
    (``insecure`` is insecure_skip_verify; ``pinned_hashes`` a list of 32-byte
    SHA-256 values; ``dispatch`` "poll" (default) or "thread")."""

    def __init__(self, *, dispatch: str = "poll", insecure: bool = False,
                 pinned_hashes: Iterable[Bytes] = (), **fields: Any) -> None:
        if dispatch not in ("poll", "thread"):
            raise ValueError("dispatch must be 'poll' or 'thread'")
        cfg = _init(lib.gowt_config_init_sized, _ffi.Config(), "gowt_config_init")
        cfg.dispatch_mode = _ffi.DISPATCH_POLL if dispatch == "poll" else _ffi.DISPATCH_THREAD
        cfg.insecure_skip_verify = 1 if insecure else 0
        pinned = [bytes(h) for h in pinned_hashes]
        if any(len(h) != 32 for h in pinned):
            raise ValueError("pinned hashes are 32-byte SHA-256 values")
        hashes = b"".join(pinned)
        if hashes:  # read (copied) by gowt_ctx_create below
            hash_buf = ctypes.create_string_buffer(hashes, len(hashes))
            cfg.pinned_cert_hashes = ctypes.cast(hash_buf, POINTER(c_uint8))
            cfg.pinned_cert_hash_count = len(pinned)
        names = {f[0] for f in _ffi.Config._fields_}
        for k, v in fields.items():
            if k not in names or k in ("struct_size", "dispatch_mode") or k.startswith("reserved"):
                raise TypeError("unknown gowt_config field %r" % k)
            setattr(cfg, k, _b(v) if isinstance(v, (str, bytes)) else v)
        self._poll = dispatch == "poll"
        self._handlers: Dict[int, Handler] = {}  # app_ctx key -> handler
        self._session_keys: Set[int] = set()  # keys of client sessions (until DEREGISTER)
        self._state = st = _State(self._poll)
        ptr = c_void_p()
        rc = lib.gowt_ctx_create(byref(cfg), byref(ptr))
        if rc != 0:
            raise _thread_error(rc, "gowt_ctx_create")
        st.ptr = ptr
        st.ctx_ref = weakref.ref(self)
        self._finalizer = weakref.finalize(self, _finalize, st)

    @property
    def _ptr(self) -> Optional[c_void_p]:
        return self._state.ptr

    # -- plumbing ------------------------------------------------------------

    def _check(self, rc: int, what: str) -> int:
        if not self._poll:
            self._raise_pending()
        if rc >= 0:
            return rc
        msg = ctypes.create_string_buffer(1024)
        ptr = self._state.ptr
        if ptr is not None and lib.gowt_ctx_last_error(ptr, msg, len(msg)) > 0:
            text = "%s: %s (%s)" % (what, lib.gowt_strerror(rc).decode(),
                                    msg.value.decode("utf-8", "replace"))
        else:
            text = "%s: %s" % (what, lib.gowt_strerror(rc).decode())
        raise (WouldBlock if rc == _ffi.ERR_WOULD_BLOCK else Error)(rc, text)

    def _add_handler(self, handler: Handler) -> int:
        st = self._state
        with st.lock:
            key = st.next_key
            st.next_key += 1
            self._handlers[key] = handler
        return key

    def _drop_handler(self, key: int) -> None:
        with self._state.lock:
            self._handlers.pop(key, None)

    def _raise_pending(self) -> None:
        st = self._state
        if st.errors and st.cb_thread != threading.get_ident():
            raise st.errors.popleft()

    def raise_pending(self) -> None:
        """Raise the oldest exception a handler raised that was not raised
        yet (THREAD mode: any method does this; POLL mode: process_events)."""
        st = self._state
        if st.errors:
            raise st.errors.popleft()

    # -- context -------------------------------------------------------------

    def fileno(self) -> int:
        """POLL mode: a descriptor readable while events are pending."""
        fd = c_int()
        self._check(lib.gowt_ctx_get_fd(self._ptr, byref(fd)), "gowt_ctx_get_fd")
        return fd.value

    def process_events(self, max_events: int = 0) -> int:
        """POLL mode: run the pending callbacks here; returns how many."""
        n = self._check(lib.gowt_ctx_process_events(self._ptr, max_events),
                        "gowt_ctx_process_events")
        self.raise_pending()
        return n

    def wait(self, timeout: Optional[float] = None) -> bool:
        """POLL mode, without an event loop: block until events are pending
        (True) or timeout seconds passed (False; None: no limit). Deliver
        them with process_events()."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        return self._check(lib.gowt_ctx_wait(self._ptr, ms), "gowt_ctx_wait") == 1

    def run_until(self, done: Callable[[], Any], timeout: float = 10.0,
                  others: Sequence["Context"] = ()) -> None:
        """POLL mode: process events of this context (and of the contexts in
        others) until done() is true; raises TimeoutError after timeout s."""
        ctxs = [self] + list(others)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            for c in ctxs:
                sel.register(c.fileno(), selectors.EVENT_READ, c)
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("gowt: condition not reached in %.1f s" % timeout)
                for key, _ in sel.select(min(left, 0.1)):
                    key.data.process_events()

    def cert_hash(self) -> bytes:
        """SHA-256 of the server certificate (for serverCertificateHashes)."""
        out = (c_uint8 * 32)()
        self._check(lib.gowt_ctx_cert_hash(self._ptr, out), "gowt_ctx_cert_hash")
        return bytes(out)

    @property
    def closed(self) -> bool:
        return self._state.ptr is None

    def close(self) -> None:
        """gowt_ctx_destroy: ends every session, delivers the end events (here,
        in POLL mode), then frees the context. Idempotent. Raises the
        exceptions of handlers not raised yet (the first; the others after)."""
        st = self._state
        if st.ptr is not None:
            rc = lib.gowt_ctx_destroy(st.ptr)
            if rc == 0:
                st.ptr = None
                self._finalizer.detach()
            elif rc != _ffi.ERR_NOT_FOUND:
                self._check(rc, "gowt_ctx_destroy")
            else:
                st.ptr = None
                self._finalizer.detach()
        self.raise_pending()

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- server --------------------------------------------------------------

    def listen(self, host: Optional[str] = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 = any free port); returns the bound port."""
        bound = c_uint16()
        self._check(lib.gowt_server_listen(self._ptr, _b(host), port, byref(bound)),
                    "gowt_server_listen")
        return bound.value

    def register(self, path: str, handler: Handler, *, protocols: Optional[Sequence[str]] = None,
                 allowed_origins: Optional[str] = None) -> None:
        """Route CONNECTs on path ("/x", "/x?..." matches too, "*" any) to
        handler(ctx, ev), whose return value on CONNECT is 0 (accept),
        400..599 (refuse) or CONNECT_DEFER."""
        opts = _init(lib.gowt_path_options_init_sized, _ffi.PathOptions(),
                     "gowt_path_options_init")
        opts.protocols = _b(",".join(protocols) if protocols else None)
        opts.allowed_origins = _b(allowed_origins)
        key = self._add_handler(handler)
        try:
            self._check(lib.gowt_server_register(self._ptr, _b(path), self._state.cb, key,
                                                 byref(opts)), "gowt_server_register")
        except Error:
            self._drop_handler(key)
            raise

    def unregister(self, path: str) -> None:
        """Stop routing path; its sessions go on (their handler stays)."""
        self._check(lib.gowt_server_unregister(self._ptr, _b(path)), "gowt_server_unregister")

    # -- client --------------------------------------------------------------

    def connect(self, url: str, handler: Handler, *, protocols: Optional[Sequence[str]] = None,
                headers: Iterable[Tuple[str, str]] = (), sni: Optional[str] = None,
                origin: Optional[str] = None, authority: Optional[str] = None,
                new_connection: bool = False) -> int:
        """Open a session to an https:// URL; returns its handle at once.
        CONNECTING then CONNECT_ACCEPTED or CONNECT_REFUSED follow."""
        opts = _init(lib.gowt_connect_options_init_sized, _ffi.ConnectOptions(),
                     "gowt_connect_options_init")
        opts.protocols = _b(",".join(protocols) if protocols else None)
        hdrs = list(headers)
        names = (ctypes.c_char_p * max(1, len(hdrs)))(*[_b(n) for n, _ in hdrs])
        values = (ctypes.c_char_p * max(1, len(hdrs)))(*[_b(v) for _, v in hdrs])
        if hdrs:
            opts.header_names, opts.header_values = names, values
            opts.header_count = len(hdrs)
        opts.sni, opts.origin, opts.authority = _b(sni), _b(origin), _b(authority)
        opts.new_connection = 1 if new_connection else 0
        key = self._add_handler(handler)
        st = self._state
        with st.lock:  # before the call: a THREAD-mode DEREGISTER may come at once
            self._session_keys.add(key)
        out = c_uint64()
        try:
            self._check(lib.gowt_connect(self._ptr, _b(url), byref(opts), st.cb, key, byref(out)),
                        "gowt_connect")
        except BaseException:
            with st.lock:
                self._session_keys.discard(key)
                self._handlers.pop(key, None)
            raise
        return out.value

    # -- sessions ------------------------------------------------------------

    def accept(self, session: int, protocol: Optional[str] = None) -> None:
        self._check(lib.gowt_session_accept(self._ptr, session, _b(protocol)),
                    "gowt_session_accept")

    def refuse(self, session: int, status: int) -> None:
        self._check(lib.gowt_session_refuse(self._ptr, session, status),
                    "gowt_session_refuse")

    def close_session(self, session: int, code: int = 0, reason: Union[str, bytes] = "") -> None:
        r = _b(reason) or b""
        self._check(lib.gowt_session_close(self._ptr, session, code, r, len(r)),
                    "gowt_session_close")

    def drain(self, session: int) -> None:
        self._check(lib.gowt_session_drain(self._ptr, session), "gowt_session_drain")

    def session_id(self, session: int) -> int:
        """The session's wire ID (its CONNECT stream ID)."""
        out = c_uint64()
        self._check(lib.gowt_session_get_id(self._ptr, session, byref(out)),
                    "gowt_session_get_id")
        return out.value

    def session_info(self, session: int) -> Dict[str, int]:
        info = _ffi.SessionInfo()
        info.struct_size = ctypes.sizeof(_ffi.SessionInfo)
        self._check(lib.gowt_session_get_info(self._ptr, session, byref(info)),
                    "gowt_session_get_info")
        # On return struct_size is the number of bytes the library filled.
        out: Dict[str, Any] = {}
        for name, _ in _ffi.SessionInfo._fields_:
            f = getattr(_ffi.SessionInfo, name)
            if name == "struct_size" or name.startswith("reserved") or \
                    f.offset + f.size > info.struct_size:
                continue
            v = getattr(info, name)
            if isinstance(v, bytes):  # char[N]: a NUL-terminated string
                v = v.decode("utf-8", "replace")
            elif name == "peer_cert_sha256":
                v = bytes(v) if info.has_peer_cert else None
            out[name] = v
        return out

    # -- streams -------------------------------------------------------------

    def open_stream(self, session: int, bidi: bool = True) -> int:
        """create_local_stream: returns the new stream's ID."""
        sid = c_uint64()
        self._check(lib.gowt_create_local_stream(self._ptr, session, 1 if bidi else 0,
                                                 None, byref(sid)),
                    "gowt_create_local_stream")
        return sid.value

    def send(self, session: int, stream_id: int, data: Bytes = b"", fin: bool = False) -> None:
        """Push (copied). Raises WouldBlock when the stream's buffer is full."""
        data = bytes(data)
        self._check(lib.gowt_stream_send(self._ptr, session, stream_id, data, len(data),
                                         1 if fin else 0), "gowt_stream_send")

    def mark_active(self, session: int, stream_id: int, active: bool = True) -> None:
        """Pull send: PROVIDE_DATA events ask for data while active."""
        self._check(lib.gowt_stream_mark_active(self._ptr, session, stream_id,
                                                1 if active else 0),
                    "gowt_stream_mark_active")

    def provide_data(self, ev: Event, data: Bytes, fin: bool = False,
                     still_active: bool = True) -> None:
        """Answer a PROVIDE_DATA event inside its callback with up to
        ev.space bytes (copied into the library's buffer)."""
        data = bytes(data)
        self._provide(ev, data, lambda buf: lib.gowt_provide_stream_data(
            self._ptr, ev._raw, len(data), 1 if fin else 0, 1 if still_active else 0, buf),
            "gowt_provide_stream_data")

    def _provide(self, ev: Event, data: bytes, call: Callable[[Any], int], what: str) -> None:
        if ev._raw is None:
            raise Error(_ffi.ERR_STATE, "%s: only inside the callback of a PROVIDE_* event" % what)
        buf = POINTER(c_uint8)()
        self._check(call(byref(buf)), what)
        if data:
            ctypes.memmove(buf, data, len(data))

    def reset(self, session: int, stream_id: int, code: int) -> None:
        self._check(lib.gowt_stream_reset(self._ptr, session, stream_id, code),
                    "gowt_stream_reset")

    def stop_sending(self, session: int, stream_id: int, code: int) -> None:
        self._check(lib.gowt_stream_stop_sending(self._ptr, session, stream_id, code),
                    "gowt_stream_stop_sending")

    def set_priority(self, session: int, stream_id: int, send_order: int,
                     send_group: int = 0) -> None:
        """W3C sendOrder / sendGroup of a stream with a send side."""
        self._check(lib.gowt_stream_set_priority(self._ptr, session, stream_id, send_order,
                                                 send_group), "gowt_stream_set_priority")

    def set_log(self, level: int, fn: Optional[Callable[[int, str, str], Any]]) -> None:
        """Route the library's log (LOG_ERROR..LOG_DEBUG and more severe) to
        fn(level, component, message), called where the callbacks run;
        LOG_OFF or None stops it."""
        st = self._state
        st.log_fn = fn
        self._check(lib.gowt_ctx_set_log(self._ptr, level if fn else _ffi.LOG_OFF,
                                         st.log_cb, None), "gowt_ctx_set_log")

    def set_receive_enabled(self, session: int, stream_id: int, on: bool) -> None:
        """Pause (False) or resume (True) reading one stream."""
        self._check(lib.gowt_stream_set_receive_enabled(self._ptr, session, stream_id,
                                                        1 if on else 0),
                    "gowt_stream_set_receive_enabled")

    # -- datagrams -----------------------------------------------------------

    def send_datagram(self, session: int, data: Bytes) -> None:
        """Push one datagram (copied). Raises WouldBlock or Error (too large)."""
        data = bytes(data)
        self._check(lib.gowt_send_datagram(self._ptr, session, data, len(data)),
                    "gowt_send_datagram")

    def set_datagram_ready(self, session: int, ready: bool = True) -> None:
        """Pull send: PROVIDE_DATAGRAM events ask for datagrams while ready."""
        self._check(lib.gowt_set_datagram_ready(self._ptr, session, 1 if ready else 0),
                    "gowt_set_datagram_ready")

    def provide_datagram(self, ev: Event, data: Bytes, more: bool = False) -> None:
        """Answer a PROVIDE_DATAGRAM event inside its callback with one
        datagram of up to ev.space bytes; more=True asks to be called again."""
        data = bytes(data)
        self._provide(ev, data, lambda buf: lib.gowt_provide_datagram(
            self._ptr, ev._raw, len(data), 1 if more else 0, buf), "gowt_provide_datagram")

    def max_datagram_size(self, session: int) -> int:
        n = c_size_t()
        self._check(lib.gowt_max_datagram_size(self._ptr, session, byref(n)),
                    "gowt_max_datagram_size")
        return n.value
