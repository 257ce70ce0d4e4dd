#!/usr/bin/env python3
"""A gowt server and client in one Python process, on one thread.

    GOWT_LIB=build/libgowt.so python3 bindings/python/echo_example.py

Both contexts run in POLL mode: their callbacks run inside run_until(), which
waits on the contexts' file descriptors.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gowt  # noqa: E402
from gowt import EventType as T  # noqa: E402


def server(ctx, ev):
    if ev.type == T.CONNECT:
        print("server: CONNECT %s from %s" % (ev.request["path"], ev.request["authority"]))
    elif ev.type in (T.POST_DATA, T.POST_FIN):
        ctx.send(ev.session, ev.stream_id, ev.data.upper(), ev.type == T.POST_FIN)
    elif ev.type == T.CLOSE:
        print("server: session closed, code %d, reason %r" % (ev.code, ev.reason))
    return 0  # on CONNECT: accept


reply = bytearray()
state = {"done": False}


def client(ctx, ev):
    if ev.type == T.CONNECT_ACCEPTED:
        sid = ctx.open_stream(ev.session, bidi=True)
        ctx.send(ev.session, sid, b"hello, webtransport", fin=True)
    elif ev.type in (T.POST_DATA, T.POST_FIN):
        reply.extend(ev.data)
        if ev.type == T.POST_FIN:
            ctx.close_session(ev.session, 0, "thanks")
    elif ev.type == T.CONNECT_REFUSED:
        print("client: refused: %d %s" % (ev.code, ev.reason))
        state["done"] = True
    elif ev.type == T.DEREGISTER:
        state["done"] = True
    return 0


with gowt.Context() as srv:
    port = srv.listen("127.0.0.1", 0)
    srv.register("/echo", server)
    # Trust exactly the server's generated certificate.
    with gowt.Context(pinned_hashes=[srv.cert_hash()]) as cli:
        cli.connect("https://127.0.0.1:%d/echo" % port, client)
        cli.run_until(lambda: state["done"], timeout=10, others=[srv])
        print("client: got %r" % bytes(reply))
        sys.exit(0 if reply == b"HELLO, WEBTRANSPORT" else 1)
