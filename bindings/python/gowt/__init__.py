"""gowt: WebTransport (HTTP/3) for Python over libgowt.

Two layers:

- ``gowt.aio`` (also here at the top): asyncio sessions and streams,
  ``session = await gowt.connect(url)``, ``server = await gowt.serve(host,
  port, handler)``. ``gowt.asgi`` serves an ASGI 3 application on it.
- ``gowt.lowlevel``: include/gowt.h one to one (``Context``, events and
  callbacks), for those who want the C model; ``gowt._ffi`` holds the
  ctypes declarations.

The low-level names (Context, Event, EventType, Error, WouldBlock, the
flag constants, version) are re-exported here as they were in the one-file
binding this package replaces.
"""

from .lowlevel import (CLIENT_AUTH_NONE, CLIENT_AUTH_REQUEST, CLIENT_AUTH_REQUIRE,
                       CLOSE_ERROR, CLOSE_LOCAL, CLOSE_REMOTE, CODE_RAW, CONNECT_DEFER,
                       LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_OFF, LOG_WARN, NO_ID, STREAM_BIDI,
                       STREAM_LOCAL, Context, Error, Event, EventType, WouldBlock, version)
from .aio import (CloseInfo, ConnectError, Endpoint, Server, Session, SessionClosed,
                  Stream, StreamReset, connect, serve)

__version__ = "0.4.0"

__all__ = ["Context", "Event", "EventType", "Error", "WouldBlock", "NO_ID",
           "CLOSE_LOCAL", "CLOSE_REMOTE", "CLOSE_ERROR", "STREAM_BIDI",
           "STREAM_LOCAL", "CONNECT_DEFER", "CODE_RAW", "CLIENT_AUTH_NONE",
           "CLIENT_AUTH_REQUEST", "CLIENT_AUTH_REQUIRE", "LOG_OFF", "LOG_ERROR",
           "LOG_WARN", "LOG_INFO", "LOG_DEBUG", "version",
           "connect", "serve", "Endpoint", "Server", "Session", "Stream",
           "CloseInfo", "ConnectError", "SessionClosed", "StreamReset"]
