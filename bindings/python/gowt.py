"""gowt for Python: WebTransport through libgowt.so, with ctypes only.

A thin layer over include/gowt.h (the contract; read it for the semantics of
every call). The defaults suit Python: contexts run in GOWT_DISPATCH_POLL
mode, so callbacks run on the thread that calls ``process_events()`` (or
``run_until()``), inside your own event loop (``fileno()`` works with
``selectors``, ``asyncio``'s ``add_reader``, ...).

    import gowt
    srv = gowt.Context()                       # generated certificate
    port = srv.listen("127.0.0.1", 0)
    srv.register("/echo", on_event)            # on_event(ctx, ev) -> int | None
    cli = gowt.Context(insecure=True)
    s = cli.connect(f"https://127.0.0.1:{port}/echo", on_client_event)

Memory: ``Event.data`` is a copy (bytes), valid after the callback. Errors
raise ``gowt.Error`` (``.code`` is the negative gowt_error); a full stream or
datagram queue raises ``gowt.WouldBlock``, to retry on STREAM_WRITABLE /
DATAGRAM_WRITABLE. An exception raised inside a callback is re-raised by the
``process_events()`` that ran it (a CONNECT whose handler raised is refused
with 500).

The library is found through $GOWT_LIB (a path to libgowt.so), then the
system's library path (``ldconfig``, $LD_LIBRARY_PATH).
"""

import ctypes
import ctypes.util
import enum
import os
import selectors
import threading
import time
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char, c_char_p,
                    c_int, c_size_t, c_uint8, c_uint16, c_uint32, c_uint64,
                    c_void_p)

__all__ = ["Context", "Event", "EventType", "Error", "WouldBlock", "NO_ID",
           "CLOSE_LOCAL", "CLOSE_REMOTE", "CLOSE_ERROR", "STREAM_BIDI",
           "STREAM_LOCAL", "CONNECT_DEFER", "version"]

NO_ID = 0xFFFFFFFFFFFFFFFF  # GOWT_NO_ID
CLOSE_LOCAL, CLOSE_REMOTE, CLOSE_ERROR = 0x1, 0x2, 0x4
STREAM_BIDI, STREAM_LOCAL = 0x10, 0x20
CONNECT_DEFER = 0x44454652  # GOWT_CONNECT_DEFER ("DEFR"; 1 refuses with 500)
_ERR_WOULD_BLOCK = -4
_DISPATCH_THREAD, _DISPATCH_POLL = 0, 1


class EventType(enum.IntEnum):
    CONNECTING = 1
    CONNECT = 2
    CONNECT_ACCEPTED = 3
    CONNECT_REFUSED = 4
    POST_DATA = 5
    POST_FIN = 6
    PROVIDE_DATA = 7
    POST_DATAGRAM = 8
    PROVIDE_DATAGRAM = 9
    RESET = 10
    STOP_SENDING = 11
    CLOSE = 12
    DRAIN = 13
    DEREGISTER = 14
    FREE = 15
    STREAM_WRITABLE = 16
    DATAGRAM_WRITABLE = 17
    STREAM_OPENED = 18


class Error(Exception):
    """A gowt call failed; code is the negative gowt_error."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class WouldBlock(Error):
    """GOWT_ERR_WOULD_BLOCK: retry after STREAM_WRITABLE / DATAGRAM_WRITABLE."""


# --------------------------------------------------------------------------
# The C structs, field for field as in gowt.h (fields are only appended
# there, and struct_size tells the library which ones we know: the init
# functions get ctypes.sizeof, so a newer library defaults what we lack).

class _Config(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("dispatch_mode", c_int),
        ("cert_file", c_char_p), ("key_file", c_char_p),
        ("cert_pem", c_char_p), ("key_pem", c_char_p),
        ("cert_hostnames", c_char_p),
        ("ca_file", c_char_p), ("pinned_cert_hashes", POINTER(c_uint8)),
        ("pinned_cert_hash_count", c_size_t), ("insecure_skip_verify", c_int),
        ("idle_timeout_ms", c_uint32), ("keep_alive_ms", c_uint32),
        ("handshake_timeout_ms", c_uint32),
        ("max_sessions", c_uint32), ("max_incoming_streams_bidi", c_uint32),
        ("max_incoming_streams_uni", c_uint32), ("max_incoming_data", c_uint64),
        ("stream_send_buffer", c_size_t), ("datagram_recv_queue", c_uint32),
        ("datagram_send_queue", c_uint32), ("event_queue_depth", c_uint32),
        ("qlog_dir", c_char_p), ("keylog_file", c_char_p),
        ("www_dir", c_char_p),
        # since 0.2.0
        ("connect_decision_timeout_ms", c_uint32), ("reserved0", c_uint32),
        ("recv_buffer_bytes", c_uint64),
        ("stream_recv_window", c_uint64), ("max_stream_recv_window", c_uint64),
        ("conn_recv_window", c_uint64), ("max_conn_recv_window", c_uint64),
    ]


class _ConnectRequest(Structure):
    _fields_ = [
        ("path", c_char_p), ("query", c_char_p), ("authority", c_char_p),
        ("origin", c_char_p), ("protocol", c_char_p),
        ("protocols", POINTER(c_char_p)), ("protocol_count", c_size_t),
        ("header_names", POINTER(c_char_p)),
        ("header_values", POINTER(c_char_p)), ("header_count", c_size_t),
    ]


class _Event(Structure):
    _fields_ = [
        ("type", c_int), ("flags", c_int), ("session", c_uint64),
        ("session_id", c_uint64), ("stream_id", c_uint64),
        ("data", POINTER(c_uint8)), ("length", c_size_t), ("code", c_uint64),
        ("app_ctx", c_void_p), ("stream_ctx", c_void_p),
        ("request", POINTER(_ConnectRequest)), ("protocol", c_char_p),
        ("token", c_uint64),
    ]


class _PathOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("allowed_origins", c_char_p),
                ("protocols", c_char_p)]


class _ConnectOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("protocols", c_char_p),
        ("header_names", POINTER(c_char_p)),
        ("header_values", POINTER(c_char_p)), ("header_count", c_size_t),
        ("sni", c_char_p), ("authority", c_char_p), ("origin", c_char_p),
        ("new_connection", c_int),
    ]


class _SessionInfo(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("session_id", c_uint64),
        ("max_datagram_size", c_size_t), ("datagrams_sent", c_uint64),
        ("datagrams_received", c_uint64), ("datagrams_dropped_send", c_uint64),
        ("datagrams_dropped_recv", c_uint64), ("bytes_sent", c_uint64),
        ("bytes_received", c_uint64), ("flow_control", c_int),
        ("shared_connection", c_int),
    ]


_CALLBACK = CFUNCTYPE(c_int, c_void_p, POINTER(_Event), c_void_p)


def _load():
    path = os.environ.get("GOWT_LIB") or ctypes.util.find_library("gowt") or "libgowt.so"
    lib = ctypes.CDLL(path)
    sigs = {
        "gowt_version": (c_char_p, []),
        "gowt_version_number": (c_int, []),
        "gowt_strerror": (c_char_p, [c_int]),
        "gowt_last_error": (c_int, [c_char_p, c_size_t]),
        "gowt_config_init_sized": (c_int, [POINTER(_Config), c_size_t]),
        "gowt_ctx_create": (c_int, [POINTER(_Config), POINTER(c_void_p)]),
        "gowt_ctx_destroy": (c_int, [c_void_p]),
        "gowt_ctx_last_error": (c_int, [c_void_p, c_char_p, c_size_t]),
        "gowt_ctx_get_fd": (c_int, [c_void_p, POINTER(c_int)]),
        "gowt_ctx_process_events": (c_int, [c_void_p, c_int]),
        "gowt_ctx_wait": (c_int, [c_void_p, c_int]),
        "gowt_ctx_cert_hash": (c_int, [c_void_p, POINTER(c_uint8)]),
        "gowt_server_listen": (c_int, [c_void_p, c_char_p, c_uint16, POINTER(c_uint16)]),
        "gowt_path_options_init_sized": (c_int, [POINTER(_PathOptions), c_size_t]),
        "gowt_server_register": (c_int, [c_void_p, c_char_p, _CALLBACK, c_void_p,
                                         POINTER(_PathOptions)]),
        "gowt_server_unregister": (c_int, [c_void_p, c_char_p]),
        "gowt_connect_options_init_sized": (c_int, [POINTER(_ConnectOptions), c_size_t]),
        "gowt_connect": (c_int, [c_void_p, c_char_p, POINTER(_ConnectOptions),
                                 _CALLBACK, c_void_p, POINTER(c_uint64)]),
        "gowt_session_accept": (c_int, [c_void_p, c_uint64, c_char_p]),
        "gowt_session_refuse": (c_int, [c_void_p, c_uint64, c_int]),
        "gowt_session_close": (c_int, [c_void_p, c_uint64, c_uint32, c_char_p, c_size_t]),
        "gowt_session_drain": (c_int, [c_void_p, c_uint64]),
        "gowt_session_get_info": (c_int, [c_void_p, c_uint64, POINTER(_SessionInfo)]),
        "gowt_create_local_stream": (c_int, [c_void_p, c_uint64, c_int, c_void_p,
                                             POINTER(c_uint64)]),
        "gowt_stream_send": (c_int, [c_void_p, c_uint64, c_uint64, c_char_p, c_size_t, c_int]),
        "gowt_stream_reset": (c_int, [c_void_p, c_uint64, c_uint64, c_uint32]),
        "gowt_stream_stop_sending": (c_int, [c_void_p, c_uint64, c_uint64, c_uint32]),
        "gowt_stream_set_receive_enabled": (c_int, [c_void_p, c_uint64, c_uint64, c_int]),
        "gowt_stream_mark_active": (c_int, [c_void_p, c_uint64, c_uint64, c_int]),
        "gowt_provide_stream_data": (c_int, [c_void_p, POINTER(_Event), c_size_t, c_int,
                                             c_int, POINTER(POINTER(c_uint8))]),
        "gowt_send_datagram": (c_int, [c_void_p, c_uint64, c_char_p, c_size_t]),
        "gowt_set_datagram_ready": (c_int, [c_void_p, c_uint64, c_int]),
        "gowt_provide_datagram": (c_int, [c_void_p, POINTER(_Event), c_size_t, c_int,
                                          POINTER(POINTER(c_uint8))]),
        "gowt_max_datagram_size": (c_int, [c_void_p, c_uint64, POINTER(c_size_t)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


_lib = _load()


def version():
    """The loaded library's version string, e.g. "0.2.0"."""
    return _lib.gowt_version().decode()


def _thread_error(rc, what):
    """An Error for rc with this thread's last error message (calls that
    have no context to hold one: gowt_ctx_create, the init functions)."""
    msg = ctypes.create_string_buffer(1024)
    text = "%s: %s" % (what, _lib.gowt_strerror(rc).decode())
    if _lib.gowt_last_error(msg, len(msg)) > 0:
        text += " (%s)" % msg.value.decode("utf-8", "replace")
    return Error(rc, text)


def _init(fn, struct, what):
    """Fill a sized struct with the library's defaults."""
    rc = fn(byref(struct), ctypes.sizeof(struct))
    if rc != 0:
        raise _thread_error(rc, what)
    return struct


def _b(s):
    return None if s is None else (s.encode() if isinstance(s, str) else bytes(s))


class Event:
    """One event, copied out of the library's memory (valid after the callback)."""

    __slots__ = ("type", "flags", "session", "session_id", "stream_id", "data",
                 "space", "code", "protocol", "request", "_raw")

    def __init__(self, ev, raw=None):
        self._raw = raw  # the C event, for provide_*; None after the callback
        self.type = EventType(ev.type) if ev.type in EventType._value2member_map_ else ev.type
        self.flags = ev.flags
        self.session = ev.session
        self.session_id = ev.session_id
        self.stream_id = ev.stream_id
        provide = ev.type in (EventType.PROVIDE_DATA, EventType.PROVIDE_DATAGRAM)
        # PROVIDE_*: length is the space offered, not a payload.
        self.space = ev.length if provide else 0
        self.data = b"" if provide or not ev.data else ctypes.string_at(ev.data, ev.length)
        self.code = ev.code
        self.protocol = ev.protocol.decode() if ev.protocol else None
        self.request = None
        if ev.request:
            r = ev.request.contents
            self.request = {
                "path": r.path.decode(), "query": r.query.decode(),
                "authority": r.authority.decode(), "origin": r.origin.decode(),
                "protocol": r.protocol.decode(),
                "protocols": [r.protocols[i].decode() for i in range(r.protocol_count)],
                "headers": [(r.header_names[i].decode(), r.header_values[i].decode())
                            for i in range(r.header_count)],
            }

    @property
    def bidi(self):
        return bool(self.flags & STREAM_BIDI)

    @property
    def reason(self):
        """CLOSE / CONNECT_REFUSED: the reason text."""
        return self.data.decode("utf-8", "replace")

    def __repr__(self):
        name = self.type.name if isinstance(self.type, EventType) else str(self.type)
        return "Event(%s session=%d stream=%d len=%d code=%d)" % (
            name, self.session, self.stream_id if self.stream_id != NO_ID else -1,
            len(self.data), self.code)


class Context:
    """A gowt context (gowt_ctx). Keyword arguments are gowt_config fields
    (``insecure`` is insecure_skip_verify; ``pinned_hashes`` a list of 32-byte
    SHA-256 values; ``dispatch`` "poll" (default) or "thread")."""

    def __init__(self, *, dispatch="poll", insecure=False, pinned_hashes=(), **fields):
        cfg = _init(_lib.gowt_config_init_sized, _Config(), "gowt_config_init")
        if dispatch not in ("poll", "thread"):
            raise ValueError("dispatch must be 'poll' or 'thread'")
        cfg.dispatch_mode = _DISPATCH_POLL if dispatch == "poll" else _DISPATCH_THREAD
        cfg.insecure_skip_verify = 1 if insecure else 0
        if any(len(h) != 32 for h in pinned_hashes):
            raise ValueError("pinned hashes are 32-byte SHA-256 values")
        hashes = b"".join(bytes(h) for h in pinned_hashes)
        if hashes:  # read (copied) by gowt_ctx_create below
            hash_buf = ctypes.create_string_buffer(hashes, len(hashes))
            cfg.pinned_cert_hashes = ctypes.cast(hash_buf, POINTER(c_uint8))
            cfg.pinned_cert_hash_count = len(pinned_hashes)
        names = {f[0] for f in _Config._fields_}
        for k, v in fields.items():
            if k not in names or k in ("struct_size", "dispatch_mode") or k.startswith("reserved"):
                raise TypeError("unknown gowt_config field %r" % k)
            setattr(cfg, k, _b(v) if isinstance(v, (str, bytes)) else v)
        self._poll = dispatch == "poll"
        self._lock = threading.Lock()
        self._handlers = {}  # app_ctx key -> handler
        self._session_keys = {}  # client session handle -> key (dropped on DEREGISTER)
        self._next_key = 1
        self._errors = []
        self._ptr = None
        self._cb = _CALLBACK(self._trampoline)  # kept alive as long as the context
        ptr = c_void_p()
        rc = _lib.gowt_ctx_create(byref(cfg), byref(ptr))
        if rc != 0:
            raise _thread_error(rc, "gowt_ctx_create")
        self._ptr = ptr

    # -- plumbing ------------------------------------------------------------

    def _check(self, rc, what):
        if rc >= 0:
            return rc
        msg = ctypes.create_string_buffer(1024)
        if self._ptr is not None and _lib.gowt_ctx_last_error(self._ptr, msg, len(msg)) > 0:
            text = "%s: %s (%s)" % (what, _lib.gowt_strerror(rc).decode(), msg.value.decode())
        else:
            text = "%s: %s" % (what, _lib.gowt_strerror(rc).decode())
        raise (WouldBlock if rc == _ERR_WOULD_BLOCK else Error)(rc, text)

    def _add_handler(self, handler):
        with self._lock:
            key = self._next_key
            self._next_key += 1
            self._handlers[key] = handler
        return key

    def _trampoline(self, _ctx, evp, app_ctx):
        ev = None
        try:
            with self._lock:
                handler = self._handlers.get(app_ctx or 0)
            ev = Event(evp.contents, evp)
            try:
                rc = handler(self, ev) if handler else 0
            finally:
                ev._raw = None  # the C event is gone once the callback returns
            if ev.type == EventType.DEREGISTER:
                with self._lock:
                    key = self._session_keys.pop(ev.session, None)
                    if key is not None:
                        self._handlers.pop(key, None)
            return int(rc or 0)
        except BaseException as e:  # never let an exception cross into C
            self._errors.append(e)
            return 500 if ev is not None and ev.type == EventType.CONNECT else 0

    def _raise_pending(self):
        if self._errors:
            e = self._errors.pop(0)
            self._errors.clear()
            raise e

    # -- context -------------------------------------------------------------

    def fileno(self):
        """POLL mode: a descriptor readable while events are pending."""
        fd = c_int()
        self._check(_lib.gowt_ctx_get_fd(self._ptr, byref(fd)), "gowt_ctx_get_fd")
        return fd.value

    def process_events(self, max_events=0):
        """POLL mode: run the pending callbacks here; returns how many."""
        n = self._check(_lib.gowt_ctx_process_events(self._ptr, max_events),
                        "gowt_ctx_process_events")
        self._raise_pending()
        return n

    def wait(self, timeout=None):
        """POLL mode, without an event loop: block until events are pending
        (True) or timeout seconds passed (False; None: no limit). Deliver
        them with process_events()."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        return self._check(_lib.gowt_ctx_wait(self._ptr, ms), "gowt_ctx_wait") == 1

    def run_until(self, done, timeout=10.0, others=()):
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

    def cert_hash(self):
        """SHA-256 of the server certificate (for serverCertificateHashes)."""
        out = (c_uint8 * 32)()
        self._check(_lib.gowt_ctx_cert_hash(self._ptr, out), "gowt_ctx_cert_hash")
        return bytes(out)

    def close(self):
        """gowt_ctx_destroy: ends every session, delivers the end events (here,
        in POLL mode), then frees the context. Idempotent."""
        if self._ptr is None:
            return
        rc = _lib.gowt_ctx_destroy(self._ptr)
        if rc == 0:
            self._ptr = None
        self._check(rc, "gowt_ctx_destroy")
        self._errors.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- server --------------------------------------------------------------

    def listen(self, host="127.0.0.1", port=0):
        """Listen on host:port (0 = any free port); returns the bound port."""
        bound = c_uint16()
        self._check(_lib.gowt_server_listen(self._ptr, _b(host), port, byref(bound)),
                    "gowt_server_listen")
        return bound.value

    def register(self, path, handler, *, protocols=None, allowed_origins=None):
        """Route CONNECTs on path ("/x", "/x?..." matches too, "*" any) to
        handler(ctx, ev), whose return value on CONNECT is 0 (accept),
        400..599 (refuse) or CONNECT_DEFER."""
        opts = _init(_lib.gowt_path_options_init_sized, _PathOptions(),
                     "gowt_path_options_init")
        opts.protocols = _b(",".join(protocols) if protocols else None)
        opts.allowed_origins = _b(allowed_origins)
        key = self._add_handler(handler)
        try:
            self._check(_lib.gowt_server_register(self._ptr, _b(path), self._cb, key,
                                                  byref(opts)), "gowt_server_register")
        except Error:
            with self._lock:
                self._handlers.pop(key, None)
            raise

    # -- client --------------------------------------------------------------

    def connect(self, url, handler, *, protocols=None, headers=(), sni=None,
                origin=None, new_connection=False):
        """Open a session to an https:// URL; returns its handle at once.
        CONNECTING then CONNECT_ACCEPTED or CONNECT_REFUSED follow."""
        opts = _init(_lib.gowt_connect_options_init_sized, _ConnectOptions(),
                     "gowt_connect_options_init")
        opts.protocols = _b(",".join(protocols) if protocols else None)
        headers = list(headers)
        names = (c_char_p * max(1, len(headers)))(*[_b(n) for n, _ in headers])
        values = (c_char_p * max(1, len(headers)))(*[_b(v) for _, v in headers])
        if headers:
            opts.header_names, opts.header_values = names, values
            opts.header_count = len(headers)
        opts.sni, opts.origin = _b(sni), _b(origin)
        opts.new_connection = 1 if new_connection else 0
        key = self._add_handler(handler)
        out = c_uint64()
        try:
            self._check(_lib.gowt_connect(self._ptr, _b(url), byref(opts), self._cb, key,
                                          byref(out)), "gowt_connect")
        except Error:
            with self._lock:
                self._handlers.pop(key, None)
            raise
        with self._lock:
            self._session_keys[out.value] = key
        return out.value

    # -- sessions ------------------------------------------------------------

    def accept(self, session, protocol=None):
        self._check(_lib.gowt_session_accept(self._ptr, session, _b(protocol)),
                    "gowt_session_accept")

    def refuse(self, session, status):
        self._check(_lib.gowt_session_refuse(self._ptr, session, status),
                    "gowt_session_refuse")

    def close_session(self, session, code=0, reason=""):
        r = _b(reason)
        self._check(_lib.gowt_session_close(self._ptr, session, code, r, len(r)),
                    "gowt_session_close")

    def drain(self, session):
        self._check(_lib.gowt_session_drain(self._ptr, session), "gowt_session_drain")

    def session_info(self, session):
        info = _SessionInfo()
        info.struct_size = ctypes.sizeof(_SessionInfo)
        self._check(_lib.gowt_session_get_info(self._ptr, session, byref(info)),
                    "gowt_session_get_info")
        # On return struct_size is the number of bytes the library filled.
        return {name: getattr(info, name) for name, _ in _SessionInfo._fields_
                if name != "struct_size"
                and getattr(_SessionInfo, name).offset + getattr(_SessionInfo, name).size
                <= info.struct_size}

    # -- streams -------------------------------------------------------------

    def open_stream(self, session, bidi=True):
        """create_local_stream: returns the new stream's ID."""
        sid = c_uint64()
        self._check(_lib.gowt_create_local_stream(self._ptr, session, 1 if bidi else 0,
                                                  None, byref(sid)),
                    "gowt_create_local_stream")
        return sid.value

    def send(self, session, stream_id, data=b"", fin=False):
        """Push (copied). Raises WouldBlock when the stream's buffer is full."""
        data = bytes(data)
        self._check(_lib.gowt_stream_send(self._ptr, session, stream_id, data, len(data),
                                          1 if fin else 0), "gowt_stream_send")

    def mark_active(self, session, stream_id, active=True):
        """Pull send: PROVIDE_DATA events ask for data while active."""
        self._check(_lib.gowt_stream_mark_active(self._ptr, session, stream_id,
                                                 1 if active else 0),
                    "gowt_stream_mark_active")

    def provide_data(self, ev, data, fin=False, still_active=True):
        """Answer a PROVIDE_DATA event inside its callback with up to
        ev.space bytes (copied into the library's buffer)."""
        data = bytes(data)
        self._provide(ev, data, lambda buf: _lib.gowt_provide_stream_data(
            self._ptr, ev._raw, len(data), 1 if fin else 0, 1 if still_active else 0, buf),
            "gowt_provide_stream_data")

    def _provide(self, ev, data, call, what):
        if ev._raw is None:
            raise Error(-11, "%s: only inside the callback of a PROVIDE_* event" % what)
        buf = POINTER(c_uint8)()
        self._check(call(byref(buf)), what)
        if data:
            ctypes.memmove(buf, data, len(data))

    def reset(self, session, stream_id, code):
        self._check(_lib.gowt_stream_reset(self._ptr, session, stream_id, code),
                    "gowt_stream_reset")

    def stop_sending(self, session, stream_id, code):
        self._check(_lib.gowt_stream_stop_sending(self._ptr, session, stream_id, code),
                    "gowt_stream_stop_sending")

    def set_receive_enabled(self, session, stream_id, on):
        """Pause (False) or resume (True) reading one stream."""
        self._check(_lib.gowt_stream_set_receive_enabled(self._ptr, session, stream_id, 1 if on else 0),
                    "gowt_stream_set_receive_enabled")

    # -- datagrams -----------------------------------------------------------

    def send_datagram(self, session, data):
        """Push one datagram (copied). Raises WouldBlock or Error (too large)."""
        data = bytes(data)
        self._check(_lib.gowt_send_datagram(self._ptr, session, data, len(data)),
                    "gowt_send_datagram")

    def set_datagram_ready(self, session, ready=True):
        """Pull send: PROVIDE_DATAGRAM events ask for datagrams while ready."""
        self._check(_lib.gowt_set_datagram_ready(self._ptr, session, 1 if ready else 0),
                    "gowt_set_datagram_ready")

    def provide_datagram(self, ev, data, more=False):
        """Answer a PROVIDE_DATAGRAM event inside its callback with one
        datagram of up to ev.space bytes; more=True asks to be called again."""
        data = bytes(data)
        self._provide(ev, data, lambda buf: _lib.gowt_provide_datagram(
            self._ptr, ev._raw, len(data), 1 if more else 0, buf), "gowt_provide_datagram")

    def max_datagram_size(self, session):
        n = c_size_t()
        self._check(_lib.gowt_max_datagram_size(self._ptr, session, byref(n)),
                    "gowt_max_datagram_size")
        return n.value
