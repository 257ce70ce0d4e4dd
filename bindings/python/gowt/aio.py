"""asyncio WebTransport over libgowt (POLL mode driven by the event loop).

    session = await gowt.connect("https://127.0.0.1:4433/echo", cert_hashes=[h])
    stream = await session.open_bidirectional_stream()
    stream.write(b"hello"); stream.write_eof(); await stream.drain()
    print(await stream.read())              # until FIN
    session.send_datagram(b"ping"); print(await session.receive_datagram())
    session.close(0, "done"); await session.wait_closed()

    async def handler(session):             # one task per accepted session
        async for stream in session.incoming_streams():
            ...
    server = await gowt.serve("127.0.0.1", 4433, handler)

Each Endpoint is one gowt context in GOWT_DISPATCH_POLL mode: the loop
watches gowt_ctx_get_fd with add_reader and runs gowt_ctx_process_events
when it is readable, so every gowt callback, and every future this module
completes, runs on the loop's thread. The objects are not thread-safe: use
them from the loop's thread (loop.call_soon_threadsafe from others).

Back-pressure: Stream.write() queues in Python and hands the data to
gowt_stream_send as the library's send buffer takes it (GOWT_ERR_WOULD_BLOCK
until STREAM_WRITABLE); ``await stream.drain()`` returns once the library
took everything written. On the receive side a stream whose unread data
passes ``read_limit`` bytes is paused (gowt_stream_set_receive_enabled), so
QUIC flow control stops the peer on that stream, and resumed when read.
"""

from __future__ import annotations

import asyncio
import collections
from typing import (Any, AsyncIterator, Awaitable, Callable, Deque, Dict, Iterable,
                    List, Optional, Sequence, Tuple, Union)

from . import _ffi
from .lowlevel import (CLOSE_ERROR, CLOSE_LOCAL, CLOSE_REMOTE, CONNECT_DEFER, Context,
                       Error, Event, EventType as T, WouldBlock)

__all__ = ["connect", "serve", "Endpoint", "Server", "Session", "Stream", "CloseInfo",
           "ConnectError", "SessionClosed", "StreamError", "StreamReset", "StreamStopped"]

Bytes = Union[bytes, bytearray, memoryview]
CHUNK = 64 * 1024            # largest single gowt_stream_send
READ_LIMIT = 1 << 20         # unread bytes per stream before it is paused
DATAGRAM_QUEUE = 1024        # received datagrams kept unread; older ones dropped


class CloseInfo:
    """How a session ended: code and reason of the close (0 / "" when the
    peer sent none), and who closed it."""

    __slots__ = ("code", "reason", "local", "remote", "error")

    def __init__(self, code: int = 0, reason: str = "", flags: int = 0) -> None:
        self.code = code
        self.reason = reason
        self.local = bool(flags & CLOSE_LOCAL)
        self.remote = bool(flags & CLOSE_REMOTE)
        self.error = bool(flags & CLOSE_ERROR)

    def __repr__(self) -> str:
        by = "local" if self.local else "remote" if self.remote else "error" if self.error else "?"
        return "CloseInfo(code=%d, reason=%r, by=%s)" % (self.code, self.reason, by)


class ConnectError(ConnectionError):
    """The server refused the session: status is the HTTP status, or 0 when
    there was no response (reason says why)."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__("WebTransport session refused: %s%s" % (
            status or "no response", " (%s)" % reason if reason else ""))
        self.status = status
        self.reason = reason


class SessionClosed(ConnectionError):
    """The session is closed; info says how."""

    def __init__(self, info: Optional[CloseInfo] = None) -> None:
        self.info = info or CloseInfo()
        super().__init__("WebTransport session closed (%r)" % (self.info,))

    @property
    def code(self) -> int:
        return self.info.code

    @property
    def reason(self) -> str:
        return self.info.reason


class StreamError(ConnectionError):
    """A stream ended abruptly; code is the application error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class StreamReset(StreamError):
    """The peer reset the stream (RESET_STREAM): no more data comes."""

    def __init__(self, code: int) -> None:
        super().__init__(code, "stream reset by the peer with code %d" % code)


class StreamStopped(StreamError):
    """The peer asked us to stop sending (STOP_SENDING), or we reset."""

    def __init__(self, code: int, message: Optional[str] = None) -> None:
        super().__init__(code, message or "peer sent STOP_SENDING with code %d" % code)


class _Waiters:
    """Futures woken together (on data, on close)."""

    def __init__(self) -> None:
        self._futs: List["asyncio.Future[None]"] = []

    async def wait(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._futs.append(fut)
        try:
            await fut
        finally:
            if fut in self._futs:
                self._futs.remove(fut)

    def wake(self) -> None:
        futs, self._futs = self._futs, []
        for f in futs:
            if not f.done():
                f.set_result(None)


# ---------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------

class Stream:
    """One WebTransport stream. A bidirectional stream reads and writes; a
    unidirectional one only reads (the peer opened it) or only writes (we
    did)."""

    def __init__(self, session: "Session", stream_id: int, bidirectional: bool,
                 local: bool) -> None:
        self.session = session
        self.stream_id = stream_id
        self.bidirectional = bidirectional
        self.local = local
        self.readable = bidirectional or not local
        self.writable = bidirectional or local
        # receive side
        self._buf = bytearray()
        self._eof = not self.readable
        self._rerror: Optional[BaseException] = None
        self._paused = False
        self._read_all = False
        self._readers = _Waiters()
        # send side
        self._pending: Deque[bytes] = collections.deque()
        self._pending_bytes = 0
        self._fin_wanted = False
        self._fin_sent = not self.writable
        self._werror: Optional[BaseException] = None
        self._writers = _Waiters()
        self._freed = False
        self._free_waiters = _Waiters()

    def __repr__(self) -> str:
        return "<gowt.Stream %d %s%s>" % (self.stream_id, "bidi" if self.bidirectional else "uni",
                                          " local" if self.local else "")

    @property
    def _ctx(self) -> Context:
        return self.session._endpoint._ctx

    # -- reading -------------------------------------------------------------

    def at_eof(self) -> bool:
        """True once the FIN was read and the buffer is empty."""
        return self._eof and not self._buf

    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes (at least one), or b"" at the end of the stream;
        n < 0 reads until the end. Raises StreamReset when the peer reset
        the stream, SessionClosed when the session ended first."""
        if not self.readable:
            raise Error(_ffi.ERR_STATE, "stream %d is send-only" % self.stream_id)
        if n == 0:
            return b""
        if n < 0:
            self._read_all = True
            self._resume()
            while not self._eof and self._rerror is None:
                await self._readers.wait()
            if self._rerror is not None and not self._eof:
                raise self._rerror
            data = bytes(self._buf)
            self._buf.clear()
            return data
        while not self._buf and not self._eof and self._rerror is None:
            await self._readers.wait()
        if not self._buf:
            if self._rerror is not None and not self._eof:
                raise self._rerror
            return b""
        data = bytes(self._buf[:n])
        del self._buf[:n]
        if self._paused and len(self._buf) < READ_LIMIT // 4:
            self._resume()
        return data

    async def readexactly(self, n: int) -> bytes:
        """Exactly n bytes; asyncio.IncompleteReadError if the stream ends first."""
        out = bytearray()
        while len(out) < n:
            chunk = await self.read(n - len(out))
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(out), n)
            out += chunk
        return bytes(out)

    def __aiter__(self) -> "Stream":
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.read(CHUNK)
        if not chunk:
            raise StopAsyncIteration
        return chunk

    def stop_sending(self, code: int = 0) -> None:
        """Ask the peer to stop sending (STOP_SENDING with code); further
        data is discarded."""
        if self._eof:
            return
        try:
            self._ctx.stop_sending(self.session.handle, self.stream_id, code)
        except Error as e:
            if e.code not in (_ffi.ERR_CLOSED, _ffi.ERR_NOT_FOUND):
                raise
        self._eof = True
        self._readers.wake()

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            try:
                self._ctx.set_receive_enabled(self.session.handle, self.stream_id, True)
            except Error:
                pass  # finished or gone: nothing to resume

    def _feed(self, data: bytes, fin: bool) -> None:
        if self._eof:
            return  # after stop_sending
        self._buf += data
        if fin:
            self._eof = True
        elif (not self._paused and not self._read_all and len(self._buf) > READ_LIMIT):
            try:
                self._ctx.set_receive_enabled(self.session.handle, self.stream_id, False)
                self._paused = True
            except Error:
                pass
        self._readers.wake()

    # -- writing -------------------------------------------------------------

    def write(self, data: Bytes) -> None:
        """Queue data; it is sent as the stream's send buffer takes it.
        Await drain() for back-pressure. Raises StreamStopped after the peer's
        STOP_SENDING (or our reset), SessionClosed after the session ended."""
        self._check_writable()
        if self._fin_wanted:
            raise Error(_ffi.ERR_CLOSED, "stream %d: write after write_eof" % self.stream_id)
        mv = memoryview(bytes(data))
        for off in range(0, len(mv), CHUNK):
            piece = bytes(mv[off:off + CHUNK])
            self._pending.append(piece)
            self._pending_bytes += len(piece)
        self._flush()

    def writelines(self, data: Iterable[Bytes]) -> None:
        for d in data:
            self.write(d)

    def write_eof(self) -> None:
        """End the stream (FIN) after the data written so far."""
        self._check_writable()
        if not self._fin_wanted:
            self._fin_wanted = True
            self._flush()

    def can_write_eof(self) -> bool:
        return self.writable

    async def drain(self) -> None:
        """Wait until the library took all data written (raises what write does)."""
        while self._pending and self._werror is None:
            await self._writers.wait()
        if self._werror is not None:
            raise self._werror

    def get_write_buffer_size(self) -> int:
        """Bytes written but not yet handed to the library."""
        return self._pending_bytes

    def close(self) -> None:
        """Like asyncio's StreamWriter.close: end the sending side (FIN)."""
        if self.writable and self._werror is None and not self._fin_wanted:
            self.write_eof()

    async def wait_closed(self) -> None:
        """Wait until the library forgot the stream (both sides done)."""
        while not self._freed:
            await self._free_waiters.wait()

    def reset(self, code: int = 0) -> None:
        """Abruptly end sending (RESET_STREAM with code); unsent data is dropped."""
        self._check_writable()
        self._pending.clear()
        self._pending_bytes = 0
        try:
            self._ctx.reset(self.session.handle, self.stream_id, code)
        except Error as e:
            if e.code not in (_ffi.ERR_CLOSED, _ffi.ERR_NOT_FOUND):
                raise
        self._werror = StreamStopped(code, "stream %d was reset (code %d)" % (self.stream_id, code))
        self._fin_sent = True
        self._writers.wake()

    def set_priority(self, send_order: int, send_group: int = 0) -> None:
        """W3C sendOrder / sendGroup: within a group, streams with a higher
        send_order are sent first (gowt_stream_set_priority)."""
        self._check_writable()
        self._ctx.set_priority(self.session.handle, self.stream_id, send_order, send_group)

    def abort(self, code: int = 0) -> None:
        """Kestrel's Abort: reset the sending side and stop the receiving
        side with code, whichever the stream has."""
        if self.writable and not self._fin_sent:
            self.reset(code)
        if self.readable:
            self.stop_sending(code)

    def _check_writable(self) -> None:
        if not self.writable:
            raise Error(_ffi.ERR_STATE, "stream %d is receive-only" % self.stream_id)
        if self._werror is not None:
            raise self._werror

    def _flush(self) -> None:
        ctx, h = self._ctx, self.session.handle
        try:
            while self._pending:
                chunk = self._pending[0]
                fin = self._fin_wanted and len(self._pending) == 1
                try:
                    ctx.send(h, self.stream_id, chunk, fin)
                except WouldBlock:
                    return  # STREAM_WRITABLE follows
                except Error as e:
                    if e.code == _ffi.ERR_TOO_LARGE and len(chunk) > 1024:
                        half = len(chunk) // 2  # stream_send_buffer below CHUNK
                        self._pending[0] = chunk[half:]
                        self._pending.appendleft(chunk[:half])
                        continue
                    raise
                self._pending.popleft()
                self._pending_bytes -= len(chunk)
                if fin:
                    self._fin_sent = True
            if self._fin_wanted and not self._fin_sent:
                try:
                    ctx.send(h, self.stream_id, b"", True)
                    self._fin_sent = True
                except WouldBlock:
                    return
        except Error as e:
            self._fail_write(self.session._closed_error() if self.session.closed else
                             StreamStopped(0, "stream %d: %s" % (self.stream_id, e)))
        finally:
            if not self._pending or self._werror is not None:
                self._writers.wake()

    def _fail_write(self, err: BaseException) -> None:
        if self._werror is None:
            self._werror = err
        self._pending.clear()
        self._pending_bytes = 0
        self._writers.wake()

    # -- events --------------------------------------------------------------

    def _on_reset(self, code: int) -> None:
        if not self._eof and self._rerror is None:
            self._rerror = StreamReset(code)
        self._readers.wake()

    def _on_stop_sending(self, code: int) -> None:
        # quic-go has answered it with a reset already (gowt.h): nothing
        # more can be sent, and what was in flight may not arrive.
        self._fail_write(StreamStopped(code))
        self._fin_sent = True

    def _on_session_closed(self) -> None:
        err = self.session._closed_error()
        if not self._eof and self._rerror is None:
            self._rerror = err
        if self.writable and (self._pending or not self._fin_sent):
            self._fail_write(err)
        self._readers.wake()
        self._writers.wake()

    def _on_free(self) -> None:
        self._freed = True
        if not self._eof and self._rerror is None:
            self._rerror = (self.session._closed_error() if self.session.closed
                            else StreamError(0, "stream %d ended" % self.stream_id))
        if self.writable and self._pending:
            self._fail_write(self._rerror or StreamError(0, "stream ended"))
        self._readers.wake()
        self._writers.wake()
        self._free_waiters.wake()


# ---------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------

class Session:
    """One WebTransport session (client or server side)."""

    def __init__(self, endpoint: "Endpoint", handle: int, *, client: bool,
                 request: Optional[Dict[str, Any]] = None) -> None:
        self._endpoint = endpoint
        self.handle = handle
        self.is_client = client
        #: server side: the CONNECT request (path, query, authority, origin,
        #: protocol, protocols, headers), as gowt.lowlevel.Event.request
        self.request = request
        self.protocol: Optional[str] = None
        self.accepted = False
        self.draining = False
        self.close_info: Optional[CloseInfo] = None
        self._loop = endpoint._loop
        self._ready: "asyncio.Future[None]" = self._loop.create_future()
        # retrieved here so that a refusal nobody awaits logs nothing
        self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._closed_fut: "asyncio.Future[CloseInfo]" = self._loop.create_future()
        self._streams: Dict[int, Stream] = {}
        self._incoming: Deque[Stream] = collections.deque()
        self._incoming_waiters = _Waiters()
        self._datagrams: Deque[bytes] = collections.deque()
        self._datagram_waiters = _Waiters()
        self._datagram_writable = _Waiters()
        self._streams_available = _Waiters()  # STREAMS_AVAILABLE
        self._drain_waiters = _Waiters()
        self.datagrams_dropped = 0  # unread datagrams dropped (DATAGRAM_QUEUE)
        self._owns_endpoint = False
        self._deregistered = False

    def __repr__(self) -> str:
        return "<gowt.Session %d %s%s>" % (self.handle, "client" if self.is_client else "server",
                                           " closed" if self.closed else "")

    @property
    def _ctx(self) -> Context:
        return self._endpoint._ctx

    @property
    def closed(self) -> bool:
        return self.close_info is not None

    @property
    def session_id(self) -> int:
        """The wire ID: the stream ID of the session's CONNECT stream."""
        return self._ctx.session_id(self.handle)

    @property
    def path(self) -> str:
        return self.request["path"] if self.request else ""

    @property
    def max_datagram_size(self) -> int:
        return self._ctx.max_datagram_size(self.handle)

    def info(self) -> Dict[str, int]:
        """gowt_session_get_info counters."""
        return self._ctx.session_info(self.handle)

    def _closed_error(self) -> SessionClosed:
        return SessionClosed(self.close_info)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A gowt call on this session; after the close it is SessionClosed."""
        try:
            return fn(self.handle, *args)
        except WouldBlock:
            raise
        except Error as e:
            # ERR_CLOSED from a session call means the session is closing or
            # closed, also before this loop has run its SESSION_CLOSED event
            # (the peer's close reaches the library first): SessionClosed,
            # the OSError the callers and gowt.asgi's applications expect.
            if self.closed or e.code == _ffi.ERR_CLOSED or (
                    e.code == _ffi.ERR_NOT_FOUND and self._deregistered):
                raise self._closed_error() from e
            raise

    # -- server side decision (serve(..., auto_accept=False)) ------------------

    def accept(self, protocol: Optional[str] = None) -> None:
        """Server, deferred CONNECT: accept (optionally choosing a sub-protocol)."""
        self._ctx.accept(self.handle, protocol)
        self.accepted = True
        if protocol is not None:
            self.protocol = protocol

    def refuse(self, status: int = 403) -> None:
        """Server, deferred CONNECT: refuse with an HTTP status 400..599."""
        self._ctx.refuse(self.handle, status)

    # -- streams ---------------------------------------------------------------

    async def accept_stream(self) -> Stream:
        """The next stream the peer opened (either kind), in arrival order.
        Raises SessionClosed once the session ended and none is left."""
        while not self._incoming:
            if self.closed:
                raise self._closed_error()
            await self._incoming_waiters.wait()
        return self._incoming.popleft()

    async def incoming_streams(self) -> AsyncIterator[Stream]:
        """The streams the peer opens, until the session ends."""
        while True:
            try:
                yield await self.accept_stream()
            except SessionClosed:
                return

    async def open_bidirectional_stream(self) -> Stream:
        return await self._open(True)

    async def open_unidirectional_stream(self) -> Stream:
        return await self._open(False)

    async def open_stream(self, bidirectional: bool = True) -> Stream:
        return await self._open(bidirectional)

    async def _open(self, bidi: bool) -> Stream:
        while True:
            try:
                sid = self._call(self._ctx.open_stream, bidi)
                break
            except Error as e:
                if e.code != _ffi.ERR_LIMIT:
                    raise
            # The peer's stream limit: GOWT_EV_STREAMS_AVAILABLE comes when it
            # grows (events run on this loop, so it cannot be missed).
            await self._streams_available.wait()
            if self.closed:
                raise self._closed_error()
        st = Stream(self, sid, bidi, local=True)
        self._streams[sid] = st
        return st

    # -- datagrams -------------------------------------------------------------

    def send_datagram(self, data: Bytes) -> None:
        """Queue one datagram. Raises WouldBlock when the send queue is full
        (await wait_datagram_writable()), Error (code ERR_TOO_LARGE) when it
        exceeds max_datagram_size, SessionClosed after the close."""
        self._call(self._ctx.send_datagram, data)

    async def wait_datagram_writable(self) -> None:
        """After a WouldBlock from send_datagram: wait until the queue has room."""
        if not self.closed:
            await self._datagram_writable.wait()
        if self.closed:
            raise self._closed_error()

    async def receive_datagram(self) -> bytes:
        """The next datagram received; SessionClosed once the session ended
        and none is left."""
        while not self._datagrams:
            if self.closed:
                raise self._closed_error()
            await self._datagram_waiters.wait()
        return self._datagrams.popleft()

    # -- closing -----------------------------------------------------------------

    def close(self, code: int = 0, reason: str = "") -> None:
        """Close with a 32-bit code and a reason (UTF-8, at most 1024 bytes).
        Nothing happens when the session is already closed or closing."""
        if self.closed:
            return
        try:
            self._ctx.close_session(self.handle, code, reason)
        except Error as e:
            if e.code not in (_ffi.ERR_CLOSED, _ffi.ERR_NOT_FOUND):
                raise

    def abort(self, code: int = 0) -> None:
        """Kestrel's Abort(code): close with code and no reason; gowt sends
        the close capsule, then resets every stream of the session."""
        self.close(code, "")

    def drain(self) -> None:
        """Ask the peer to wind the session down (WT_DRAIN_SESSION)."""
        self._call(self._ctx.drain)

    async def wait_draining(self) -> None:
        """Wait until the peer asks to drain (or the session ends)."""
        while not self.draining and not self.closed:
            await self._drain_waiters.wait()

    async def wait_closed(self) -> CloseInfo:
        """Wait for the end of the session; returns how it ended."""
        return await asyncio.shield(self._closed_fut)

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()

    # -- events (on the loop's thread, inside gowt_ctx_process_events) -----------

    def _stream(self, ev: Event) -> Stream:
        st = self._streams.get(ev.stream_id)
        if st is None:  # defensive: data before STREAM_OPENED
            st = Stream(self, ev.stream_id, ev.bidi, ev.local)
            self._streams[ev.stream_id] = st
            if not ev.local:
                self._incoming.append(st)
                self._incoming_waiters.wake()
        return st

    def _on_event(self, ev: Event) -> None:
        t = ev.type
        if t in (T.POST_DATA, T.POST_FIN):
            self._stream(ev)._feed(ev.data, t == T.POST_FIN)
        elif t == T.STREAM_WRITABLE:
            st = self._streams.get(ev.stream_id)
            if st is not None:
                st._flush()
        elif t == T.STREAM_OPENED:
            self._stream(ev)
        elif t == T.POST_DATAGRAM:
            if len(self._datagrams) >= DATAGRAM_QUEUE:
                self._datagrams.popleft()
                self.datagrams_dropped += 1
            self._datagrams.append(ev.data)
            self._datagram_waiters.wake()
        elif t == T.DATAGRAM_WRITABLE:
            self._datagram_writable.wake()
        elif t == T.STREAMS_AVAILABLE:
            self._streams_available.wake()
        elif t == T.RESET:
            self._stream(ev)._on_reset(ev.code)
        elif t == T.STOP_SENDING:
            self._stream(ev)._on_stop_sending(ev.code)
        elif t == T.FREE:
            st = self._streams.pop(ev.stream_id, None)
            if st is not None:
                st._on_free()
        elif t == T.CONNECT_ACCEPTED:
            self.protocol = ev.protocol
            self.accepted = True
            if not self._ready.done():
                self._ready.set_result(None)
        elif t == T.CONNECT_REFUSED:
            if not self._ready.done():
                self._ready.set_exception(ConnectError(ev.code, ev.reason))
        elif t == T.DRAIN:
            self.draining = True
            self._drain_waiters.wake()
        elif t == T.CLOSE:
            self._on_closed(CloseInfo(ev.code, ev.reason, ev.flags))
        elif t == T.DEREGISTER:
            self._deregistered = True
            if not self._ready.done():
                self._ready.set_exception(ConnectError(0, "session ended before it was accepted"))
            self._on_closed(CloseInfo(0, "", 0))
            for st in list(self._streams.values()):
                st._on_free()
            self._streams.clear()
            if self._owns_endpoint:
                self._loop.call_soon(self._endpoint.close)

    def _on_closed(self, info: CloseInfo) -> None:
        if self.close_info is not None:
            return
        self.close_info = info
        for st in list(self._streams.values()):
            st._on_session_closed()
        self._incoming_waiters.wake()
        self._datagram_waiters.wake()
        self._datagram_writable.wake()
        self._drain_waiters.wake()
        self._streams_available.wake()
        if not self._closed_fut.done():
            self._closed_fut.set_result(info)


# ---------------------------------------------------------------------------
# Endpoints and servers
# ---------------------------------------------------------------------------

SessionHandler = Callable[[Session], Awaitable[Any]]


class Endpoint:
    """A gowt context on the running asyncio loop. Keyword arguments are
    gowt.Context's: gowt_config fields (cert_file, key_file, cert_pem,
    key_pem, cert_hostnames, ca_file, idle_timeout_ms, ...), insecure,
    pinned_hashes (cert_hashes is the same). Create it inside a coroutine."""

    def __init__(self, *, cert_hashes: Iterable[Bytes] = (), **config: Any) -> None:
        self._loop = asyncio.get_running_loop()
        if cert_hashes:
            config["pinned_hashes"] = list(config.get("pinned_hashes", ())) + list(cert_hashes)
        config.pop("dispatch", None)
        self._ctx = Context(dispatch="poll", **config)
        self._sessions: Dict[int, Session] = {}
        self._servers: List["Server"] = []
        self._fd = self._ctx.fileno()
        self._loop.add_reader(self._fd, self._on_readable)
        self.closed = False

    @property
    def context(self) -> Context:
        """The low-level gowt.Context (POLL mode; its callbacks are ours)."""
        return self._ctx

    def cert_hash(self) -> bytes:
        return self._ctx.cert_hash()

    def listen(self, host: Optional[str] = "127.0.0.1", port: int = 0) -> int:
        return self._ctx.listen(host, port)

    def _on_readable(self) -> None:
        while True:
            try:
                self._ctx.process_events()
                return
            except Exception as e:  # a bug of ours or of a callback we run
                self._loop.call_exception_handler({
                    "message": "gowt: exception in an event callback", "exception": e})
                if not self._ctx._state.errors:
                    return

    def _handler(self, ctx: Context, ev: Event) -> Optional[int]:
        if ev.type == T.CONNECT:
            return 404  # no Server for this path any more
        s = self._sessions.get(ev.session)
        if s is not None:
            s._on_event(ev)
            if ev.type == T.DEREGISTER:
                self._sessions.pop(ev.session, None)
        return 0

    async def connect(self, url: str, *, protocols: Optional[Sequence[str]] = None,
                      headers: Iterable[Tuple[str, str]] = (), origin: Optional[str] = None,
                      sni: Optional[str] = None, authority: Optional[str] = None,
                      new_connection: bool = False) -> Session:
        """Open a session to an https:// URL; returns once it is accepted.
        Raises ConnectError when refused."""
        h = self._ctx.connect(url, self._handler, protocols=protocols, headers=headers,
                              origin=origin, sni=sni, authority=authority,
                              new_connection=new_connection)
        s = Session(self, h, client=True)
        self._sessions[h] = s  # events arrive later, in process_events
        try:
            await asyncio.shield(s._ready)
        except asyncio.CancelledError:
            s.close()
            raise
        return s

    def close(self) -> None:
        """Destroy the context: every session ends (their CLOSE events are
        delivered here), the listeners close. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._loop.remove_reader(self._fd)
        except Exception:  # the loop is already closed
            pass
        self._ctx.close()
        for srv in self._servers:
            srv._closed.set()

    async def __aenter__(self) -> "Endpoint":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class Server:
    """Sessions accepted on a path of an Endpoint. With a handler, each
    session runs handler(session) in its own task, and is closed (code 0)
    when it returns, or with code 1 when it raises (the exception goes to the
    loop's exception handler). Without one, ``await server.accept()`` gives
    the sessions (Kestrel's AcceptAsync)."""

    def __init__(self, endpoint: Endpoint, handler: Optional[SessionHandler], path: str,
                 auto_accept: bool, port: int, owns_endpoint: bool) -> None:
        self.endpoint = endpoint
        self.handler = handler
        self.path = path
        self.auto_accept = auto_accept
        self.port = port
        self._owns_endpoint = owns_endpoint
        self._pending: Deque[Session] = collections.deque()
        self._pending_waiters = _Waiters()
        self._tasks: set = set()
        self._closed = asyncio.Event()

    @property
    def cert_hash(self) -> bytes:
        """SHA-256 of the certificate (serverCertificateHashes in browsers)."""
        return self.endpoint.cert_hash()

    def _lowlevel_handler(self, ctx: Context, ev: Event) -> Optional[int]:
        if ev.type == T.CONNECT:
            if self._closed.is_set():
                return 503
            return self._on_connect(ev)
        return self.endpoint._handler(ctx, ev)

    def _on_connect(self, ev: Event) -> int:
        ep = self.endpoint
        s = Session(ep, ev.session, client=False, request=ev.request)
        ep._sessions[ev.session] = s
        if self.auto_accept:
            s.accepted = True
        if self.handler is not None:
            task = ep._loop.create_task(self._run(s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._pending.append(s)
            self._pending_waiters.wake()
        return 0 if self.auto_accept else CONNECT_DEFER

    async def _run(self, s: Session) -> None:
        assert self.handler is not None
        try:
            await self.handler(s)
        except Exception as e:
            s._endpoint._loop.call_exception_handler({
                "message": "gowt: session handler raised", "exception": e, "session": s})
            if s.accepted:
                s.close(1, "server error: %s" % type(e).__name__)
            else:
                try:
                    s.refuse(500)
                except Error:
                    pass
            return
        if not s.accepted:
            return  # refused or left to the decision timeout
        for st in list(s._streams.values()):
            if st.writable and st._pending:
                try:
                    await st.drain()
                except (StreamError, SessionClosed, Error):
                    pass
        s.close(0, "")

    async def accept(self) -> Session:
        """Without a handler: the next session (accepted, or to decide on
        with auto_accept=False)."""
        while not self._pending:
            if self._closed.is_set():
                raise SessionClosed(CloseInfo(0, "server closed"))
            await self._pending_waiters.wait()
        return self._pending.popleft()

    def close(self) -> None:
        """Stop the server: closes its endpoint when serve() made it (all
        sessions end), else unregisters the path."""
        if self._closed.is_set():
            return
        if self._owns_endpoint:
            self.endpoint.close()
        else:
            try:
                self.endpoint._ctx.unregister(self.path)
            except Error:
                pass
            self.endpoint._servers.remove(self)
        self._closed.set()
        self._pending_waiters.wake()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def serve_forever(self) -> None:
        try:
            await self._closed.wait()
        finally:
            self.close()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


async def serve(host: Optional[str], port: int, handler: Optional[SessionHandler] = None, *,
                path: str = "*", protocols: Optional[Sequence[str]] = None,
                allowed_origins: Optional[str] = None, auto_accept: bool = True,
                endpoint: Optional[Endpoint] = None, **config: Any) -> Server:
    """Listen on host:port (0: any free port; server.port tells) and serve
    WebTransport sessions on path ("*": any). Without cert_file/key_file or
    cert_pem/key_pem in config, gowt generates a certificate (server.cert_hash).
    With auto_accept=False the handler decides: session.accept() or
    session.refuse(status) (within connect_decision_timeout_ms)."""
    owns = endpoint is None
    ep = endpoint or Endpoint(**config)
    try:
        bound = ep.listen(host, port)
        srv = Server(ep, handler, path, auto_accept, bound, owns)
        ep._ctx.register(path, srv._lowlevel_handler, protocols=protocols, allowed_origins=allowed_origins)
        ep._servers.append(srv)
    except BaseException:
        if owns:
            ep.close()
        raise
    return srv


async def connect(url: str, *, protocols: Optional[Sequence[str]] = None,
                  headers: Iterable[Tuple[str, str]] = (), origin: Optional[str] = None,
                  sni: Optional[str] = None, authority: Optional[str] = None,
                  endpoint: Optional[Endpoint] = None, **config: Any) -> Session:
    """Open a WebTransport session to an https:// URL. config: Endpoint's
    (cert_hashes=[sha256], insecure=True, ca_file=...). Without endpoint the
    session gets its own, closed when the session ends."""
    owns = endpoint is None
    ep = endpoint or Endpoint(**config)
    try:
        s = await ep.connect(url, protocols=protocols, headers=headers, origin=origin,
                             sni=sni, authority=authority, new_connection=owns)
    except BaseException:
        if owns:
            ep.close()
        raise
    if owns:
        s._owns_endpoint = True
    return s
