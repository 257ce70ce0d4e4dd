"""Serve an ASGI 3 application over WebTransport.

    python -m gowt.asgi module:app --port 4433      # prints the certificate hash

Scope and messages are those of asgiri's WebTransport document (scope type
"webtransport"; webtransport.accept / .close / .stream.send /
.stream.receive / .datagram.send / .datagram.receive / .disconnect), plus,
as documented extensions (listed in scope["extensions"]), what that document
lists as missing: streams opened by the server (bidirectional and
unidirectional), datagrams both ways, close with code and reason, stream
resets. Like aioquic's ASGI demo, the first message received is
{"type": "webtransport.connect"}; an application that sends
webtransport.accept without reading it first just sees it in its loop.

Scope:
    type "webtransport", asgi {"version": "3.0", "spec_version": "2.3"},
    http_version "3", scheme "https", path (percent-decoded), raw_path (the
    path percent-encoded again: gowt reports only the decoded path),
    query_string (bytes), root_path, headers [(name, value)] (bytes, names
    lower-case, no pseudo-headers), server (host, port), client (host,
    port) of the peer's UDP address, session_id (the wire ID: the
    CONNECT stream's ID), subprotocols (offered WT-Available-Protocols),
    extensions, state (with lifespan).

Received (receive()):
    webtransport.connect
    webtransport.stream.receive   stream_id, data, stream_ended,
                                  bidirectional (ext)
    webtransport.datagram.receive data
    webtransport.disconnect       code, reason (ext: the close's code/reason)
    ext webtransport.stream.opened  stream_id, bidirectional, tag: the
                                  answer to a webtransport.stream.open
    ext webtransport.stream.reset   stream_id, code: the peer reset it
    ext webtransport.stream.stop_sending stream_id, code: the peer stopped it

Sent (send()):
    webtransport.accept           subprotocol (optional)
    webtransport.close            code, reason (ext); before accept, the
                                  session is refused with HTTP status
                                  (ext, default 403)
    webtransport.stream.send      stream_id, data, end_stream; returns once
                                  the library took the data (back-pressure)
    webtransport.datagram.send    data (waits while the send queue is full)
    ext webtransport.stream.open  bidirectional (default True), data,
                                  end_stream, tag (any value, echoed in
                                  webtransport.stream.opened)
    ext webtransport.stream.reset  stream_id, code (RESET_STREAM)
    ext webtransport.stream.stop_sending stream_id, code (STOP_SENDING)

Lifespan: the ASGI lifespan protocol runs around the server (startup
before it listens, shutdown after it closed; "auto" by default: an
application that does not speak it is served without); each session's
scope has a copy of its "state".

An application that returns ends its session (code 0); one that raises
ends it with code 1 (refuses it with 500 before accept); one that returns
without accepting refuses it with 403. Sending after the session ended
raises gowt.SessionClosed (an OSError).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import os
import signal
import sys
import urllib.parse
from typing import Any, Awaitable, Callable, Deque, Dict, List, MutableMapping, Optional, Tuple

from . import _ffi
from .aio import (CloseInfo, Server, Session, SessionClosed, Stream, StreamError, StreamReset,
                  StreamStopped, serve)
from .lowlevel import Error, WouldBlock

__all__ = ["serve_asgi", "main", "EXTENSIONS"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]

#: scope["extensions"]: what this server adds to asgiri's WebTransport messages.
EXTENSIONS: Dict[str, Dict[str, Any]] = {
    "webtransport.server_streams": {},   # webtransport.stream.open / .opened
    "webtransport.datagrams": {},        # datagram.send / .receive
    "webtransport.close_reason": {},     # close/disconnect code and reason
    "webtransport.stream_reset": {},     # stream.reset / .stop_sending both ways
}

INBOX_LIMIT = 1 << 20  # unread stream bytes per session before readers wait
READ_CHUNK = 64 * 1024



def _split_addr(addr: str) -> Optional[Tuple[str, int]]:
    """"192.0.2.1:4433" / "[::1]:4433" -> (host, port); None when empty."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)

class _Inbox:
    """The receive() queue of one session; stream data waits while more
    than INBOX_LIMIT bytes are unread (the stream then pauses, see aio)."""

    def __init__(self) -> None:
        self._q: Deque[Tuple[Message, int]] = collections.deque()
        self._bytes = 0
        self._get_waiters: List["asyncio.Future[None]"] = []
        self._put_waiters: List["asyncio.Future[None]"] = []

    @staticmethod
    def _wake(futs: List["asyncio.Future[None]"]) -> None:
        for f in futs:
            if not f.done():
                f.set_result(None)
        futs.clear()

    def put_nowait(self, msg: Message, nbytes: int = 0) -> None:
        self._q.append((msg, nbytes))
        self._bytes += nbytes
        self._wake(self._get_waiters)

    async def put(self, msg: Message, nbytes: int) -> None:
        while self._bytes > INBOX_LIMIT:
            fut = asyncio.get_running_loop().create_future()
            self._put_waiters.append(fut)
            await fut
        self.put_nowait(msg, nbytes)

    def empty(self) -> bool:
        return not self._q

    async def get(self) -> Message:
        while not self._q:
            fut = asyncio.get_running_loop().create_future()
            self._get_waiters.append(fut)
            await fut
        msg, n = self._q.popleft()
        self._bytes -= n
        if self._bytes <= INBOX_LIMIT:
            self._wake(self._put_waiters)
        return msg


class _Connection:
    """One WebTransport session running one call of the application."""

    def __init__(self, app: ASGIApp, session: Session, server: Tuple[str, int],
                 root_path: str) -> None:
        self.app = app
        self.session = session
        self.server = server
        self.root_path = root_path
        self.inbox = _Inbox()
        self.accepted = False
        self.refused = False
        self.disconnected = False
        self.tasks: List["asyncio.Task[Any]"] = []
        self.streams: Dict[int, Stream] = {}
        self.state: Optional[Dict[str, Any]] = None  # lifespan state (a copy)

    def scope(self) -> Scope:
        req = self.session.request or {}
        raw_path = req.get("path", "/")
        headers = [(k.encode("latin-1"), v.encode("latin-1"))
                   for k, v in req.get("headers", []) if not k.startswith(":")]
        try:
            session_id: Optional[int] = self.session.session_id
        except Error:
            session_id = None
        return {
            "type": "webtransport",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "3",
            "scheme": "https",
            # gowt reports the path percent-decoded (Go's URL parsing), so
            # raw_path is that path encoded again, not the bytes received.
            "path": raw_path,
            "raw_path": urllib.parse.quote(raw_path, safe="/:@!$&'()*+,;=-._~").encode("ascii"),
            "query_string": req.get("query", "").encode("latin-1", "replace"),
            "root_path": self.root_path,
            "headers": headers,
            "server": self.server,
            "client": _split_addr(req.get("peer_addr", "")),
            "session_id": session_id,
            "subprotocols": list(req.get("protocols", [])),
            "extensions": {k: dict(v) for k, v in EXTENSIONS.items()},
            **({"state": self.state} if self.state is not None else {}),
        }

    async def run(self) -> None:
        self.inbox.put_nowait({"type": "webtransport.connect"})
        try:
            await self.app(self.scope(), self.receive, self.send)
        except BaseException:
            if not self.accepted and not self.refused:
                self._refuse(500)
            raise
        finally:
            for t in self.tasks:
                t.cancel()
        if not self.accepted and not self.refused:
            self._refuse(403)

    # -- application -> server -------------------------------------------------

    async def receive(self) -> Message:
        if self.disconnected and self.inbox.empty():
            return self._disconnect_message()
        msg = await self.inbox.get()
        if msg["type"] == "webtransport.disconnect":
            self.disconnected = True
        return msg

    def _disconnect_message(self) -> Message:
        info = self.session.close_info or CloseInfo()
        return {"type": "webtransport.disconnect", "code": info.code, "reason": info.reason}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        s = self.session
        if kind == "webtransport.accept":
            if self.accepted or self.refused:
                raise RuntimeError("webtransport.accept sent twice, or after webtransport.close")
            s.accept(message.get("subprotocol"))
            self.accepted = True
            self._start_readers()
            return
        if kind == "webtransport.close":
            if not self.accepted:
                if not self.refused:
                    self._refuse(int(message.get("status", 403)))
                return
            s.close(int(message.get("code", 0)), str(message.get("reason", "")))
            return
        if not self.accepted:
            raise RuntimeError("%s before webtransport.accept" % kind)
        if s.closed:
            raise SessionClosed(s.close_info)
        if kind == "webtransport.stream.send":
            st = self._stream(message)
            await self._write(st, message.get("data", b""), bool(message.get("end_stream")))
        elif kind == "webtransport.datagram.send":
            data = bytes(message.get("data", b""))
            while True:
                try:
                    s.send_datagram(data)
                    return
                except WouldBlock:
                    await s.wait_datagram_writable()
        elif kind == "webtransport.stream.open":
            bidi = bool(message.get("bidirectional", True))
            st = await s.open_stream(bidi)
            self.streams[st.stream_id] = st
            if bidi:
                self._read_stream(st)
            self.inbox.put_nowait({"type": "webtransport.stream.opened", "stream_id": st.stream_id,
                                   "bidirectional": bidi, "tag": message.get("tag")})
            data = message.get("data", b"")
            if data or message.get("end_stream"):
                await self._write(st, data, bool(message.get("end_stream")))
        elif kind == "webtransport.stream.reset":
            self._stream(message).reset(int(message.get("code", 0)))
        elif kind == "webtransport.stream.stop_sending":
            self._stream(message).stop_sending(int(message.get("code", 0)))
        else:
            raise ValueError("unknown ASGI message type %r for a webtransport scope" % kind)

    def _stream(self, message: Message) -> Stream:
        sid = message.get("stream_id", message.get("stream"))  # "stream": aioquic's demo key
        st = self.streams.get(sid) if sid is not None else None
        if st is None:
            raise ValueError("unknown stream_id %r" % (sid,))
        return st

    async def _write(self, st: Stream, data: Any, fin: bool) -> None:
        try:
            if data:
                st.write(data)
            if fin:
                st.write_eof()
            await st.drain()
        except StreamStopped as e:
            if self.session.closed:
                raise SessionClosed(self.session.close_info) from e
            self.inbox.put_nowait({"type": "webtransport.stream.stop_sending",
                                   "stream_id": st.stream_id, "code": e.code})

    def _refuse(self, status: int) -> None:
        self.refused = True
        try:
            self.session.refuse(status)
        except Error:
            pass

    # -- server -> application ---------------------------------------------------

    def _start_readers(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self._accept_streams()))
        self.tasks.append(loop.create_task(self._datagrams()))
        self.tasks.append(loop.create_task(self._closed()))

    async def _accept_streams(self) -> None:
        async for st in self.session.incoming_streams():
            self.streams[st.stream_id] = st
            self._read_stream(st)

    def _read_stream(self, st: Stream) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(self._pump(st)))

    async def _pump(self, st: Stream) -> None:
        try:
            while True:
                data = await st.read(READ_CHUNK)
                ended = st.at_eof()
                if data or ended:
                    await self.inbox.put({"type": "webtransport.stream.receive",
                                          "stream_id": st.stream_id, "data": data,
                                          "stream_ended": ended,
                                          "bidirectional": st.bidirectional}, len(data))
                if ended:
                    return
        except StreamReset as e:
            self.inbox.put_nowait({"type": "webtransport.stream.reset",
                                   "stream_id": st.stream_id, "code": e.code})
        except (SessionClosed, StreamError):
            return  # the disconnect message tells

    async def _datagrams(self) -> None:
        while True:
            try:
                data = await self.session.receive_datagram()
            except SessionClosed:
                return
            await self.inbox.put({"type": "webtransport.datagram.receive", "data": data},
                                 len(data))

    async def _closed(self) -> None:
        await self.session.wait_closed()
        # let the stream pumps queue what was read before the close
        await asyncio.sleep(0)
        self.inbox.put_nowait(self._disconnect_message())


class _Lifespan:
    """The ASGI lifespan protocol around the server's life ("auto": an
    application that raises or returns at once on the lifespan scope does
    without it; "on": that is an error)."""

    def __init__(self, app: ASGIApp, mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: Dict[str, Any] = {}
        self.supported = True
        self._inbox: "asyncio.Queue[Message]" = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._started: "asyncio.Future[None]" = loop.create_future()
        self._stopped: "asyncio.Future[None]" = loop.create_future()
        self._task: Optional["asyncio.Task[None]"] = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self._inbox.get, self._send)
        except BaseException as e:
            if not self._started.done():
                self.supported = False
                if self.mode == "on":
                    self._started.set_exception(e)
                else:
                    self._started.set_result(None)
            elif not self._stopped.done():
                self._stopped.set_exception(e)
        finally:
            if not self._started.done():  # returned without a word
                self.supported = False
                self._started.set_result(None)
            if not self._stopped.done():
                self._stopped.set_result(None)

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete" and not self._started.done():
            self._started.set_result(None)
        elif kind == "lifespan.startup.failed" and not self._started.done():
            self._started.set_exception(RuntimeError("ASGI lifespan startup failed: %s"
                                                     % message.get("message", "")))
        elif kind == "lifespan.shutdown.complete" and not self._stopped.done():
            self._stopped.set_result(None)
        elif kind == "lifespan.shutdown.failed" and not self._stopped.done():
            self._stopped.set_exception(RuntimeError("ASGI lifespan shutdown failed: %s"
                                                     % message.get("message", "")))

    async def startup(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._inbox.put_nowait({"type": "lifespan.startup"})
        await self._started

    async def shutdown(self) -> None:
        if self._task is None or self._task.done() or not self.supported:
            return
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(asyncio.shield(self._stopped), 10)
        finally:
            self._task.cancel()


async def serve_asgi(app: ASGIApp, host: str = "127.0.0.1", port: int = 4433, *,
                     path: str = "*", root_path: str = "", protocols: Optional[List[str]] = None,
                     allowed_origins: Optional[str] = None, lifespan: str = "auto",
                     **config: Any) -> Server:
    """Start serving app; returns the gowt.Server (port, cert_hash, close()).
    lifespan "auto" / "on" / "off": the ASGI lifespan protocol; startup runs
    before the server listens, shutdown once it is closed:
    ``await server.asgi_shutdown`` (a task) waits for it. Each session's
    scope gets a copy of the lifespan "state"."""
    if lifespan not in ("auto", "on", "off"):
        raise ValueError("lifespan is 'auto', 'on' or 'off'")
    lf = _Lifespan(app, lifespan)
    if lifespan != "off":
        await lf.startup()
    holder: Dict[str, Server] = {}

    async def handler(session: Session) -> None:
        conn = _Connection(app, session, (host or "0.0.0.0", holder["server"].port), root_path)
        conn.state = dict(lf.state) if lf.supported and lifespan != "off" else None
        await conn.run()

    try:
        server = await serve(host, port, handler, path=path, protocols=protocols,
                             allowed_origins=allowed_origins, auto_accept=False, **config)
    except BaseException:
        await lf.shutdown()
        raise
    holder["server"] = server

    async def shutdown_after_close() -> None:
        await server.wait_closed()
        await lf.shutdown()
    server.asgi_shutdown = asyncio.get_running_loop().create_task(shutdown_after_close())  # type: ignore[attr-defined]
    return server


def _load_app(spec: str, app_dir: str) -> ASGIApp:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise SystemExit("gowt.asgi: the application is given as module:attribute, got %r" % spec)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gowt.asgi",
                                description="Serve an ASGI application over WebTransport (gowt).")
    p.add_argument("app", help="module:attribute of the ASGI 3 application")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4433, help="UDP port (0: any free one)")
    p.add_argument("--path", default="*", help='WebTransport path to serve ("*": any)')
    p.add_argument("--root-path", default="")
    p.add_argument("--app-dir", default=".", help="directory put on sys.path (default .)")
    p.add_argument("--cert", help="PEM certificate chain file (default: generated)")
    p.add_argument("--key", help="PEM private key file")
    p.add_argument("--cert-hostnames", help="names of the generated certificate "
                   "(default localhost,127.0.0.1,::1)")
    p.add_argument("--protocols", help="comma-separated supported sub-protocols")
    p.add_argument("--allowed-origins", help='comma-separated Origins, or "*"')
    p.add_argument("--lifespan", choices=("auto", "on", "off"), default="auto",
                   help="ASGI lifespan protocol (default auto)")
    a = p.parse_args(argv)
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")
    app = _load_app(a.app, os.path.abspath(a.app_dir))
    config: Dict[str, Any] = {}
    if a.cert:
        config.update(cert_file=a.cert, key_file=a.key)
    if a.cert_hostnames:
        config["cert_hostnames"] = a.cert_hostnames

    async def run() -> None:
        server = await serve_asgi(app, a.host, a.port, path=a.path, root_path=a.root_path,
                                  protocols=a.protocols.split(",") if a.protocols else None,
                                  allowed_origins=a.allowed_origins, lifespan=a.lifespan,
                                  **config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.close)
        h = server.cert_hash.hex()
        print("gowt.asgi: serving %s on https://%s:%d%s (WebTransport over HTTP/3, UDP)"
              % (a.app, a.host, server.port, "" if a.path == "*" else a.path), flush=True)
        print("gowt.asgi: certificate SHA-256 %s%s" % (h, "" if a.cert else " (generated)"),
              flush=True)
        print("READY port=%d hash=%s" % (server.port, h), flush=True)
        await server.wait_closed()
        await server.asgi_shutdown  # type: ignore[attr-defined]
        print("gowt.asgi: stopped", flush=True)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
