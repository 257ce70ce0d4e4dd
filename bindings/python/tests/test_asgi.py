"""gowt.asgi: a plain ASGI application (asgi_app.py) against the gowt client,
in-process (serve_asgi) and as `python -m gowt.asgi` (a subprocess)."""
import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest

import asgi_app
import gowt
from gowt.asgi import EXTENSIONS, serve_asgi
from helpers import run

HERE = os.path.dirname(os.path.abspath(__file__))


@run
async def test_asgi_application_over_gowt_client():
    asgi_app.SCOPES.clear()
    asgi_app.DISCONNECTS.clear()
    asgi_app.RESETS.clear()
    server = await serve_asgi(asgi_app.app, "127.0.0.1", 0)
    try:
        url = "https://127.0.0.1:%d/chat/room%%201?user=ann" % server.port
        s = await gowt.connect(url, cert_hashes=[server.cert_hash], protocols=["p1", "p2"],
                               headers=[("x-token", "abc")])
        assert s.protocol == "p1"
        # scope
        sc = asgi_app.SCOPES[-1]
        assert sc["type"] == "webtransport"
        assert sc["asgi"]["version"] == "3.0"
        assert sc["path"] == "/chat/room 1" and sc["raw_path"] == b"/chat/room%201"
        assert sc["query_string"] == b"user=ann"
        assert (b"x-token", b"abc") in sc["headers"]
        assert all(not k.startswith(b":") for k, _ in sc["headers"])
        assert sc["server"] == ("127.0.0.1", server.port)
        assert sc["session_id"] == s.session_id
        assert sc["subprotocols"] == ["p1", "p2"]
        assert set(EXTENSIONS) <= set(sc["extensions"])
        # the server's streams: uni "welcome ...", bidi "server-bidi"
        first = [await asyncio.wait_for(s.accept_stream(), 10) for _ in range(2)]
        uni = next(x for x in first if not x.bidirectional)
        bidi = next(x for x in first if x.bidirectional)
        assert await uni.read() == b"welcome user=ann"
        assert await bidi.readexactly(11) == b"server-bidi"
        bidi.write(b"hi")
        await bidi.drain()
        assert await bidi.read() == b"got:hi"
        # client bidi: echoed at FIN, 2 MB so that back-pressure plays
        big = os.urandom(2 << 20)
        st = await s.open_bidirectional_stream()
        st.write(big)
        st.write_eof()
        await st.drain()
        assert await st.read() == b"echo:" + big
        # client uni: answered upper-case on a server uni stream
        u = await s.open_unidirectional_stream()
        u.write(b"quiet")
        u.write_eof()
        await u.drain()
        ans = await s.accept_stream()
        assert await ans.read() == b"QUIET"
        # datagrams both ways
        s.send_datagram(b"dg1")
        assert await asyncio.wait_for(s.receive_datagram(), 10) == b"echo:dg1"
        # a reset reaches the application with its code
        r = await s.open_bidirectional_stream()
        r.write(b"partial")
        await r.drain()
        await asyncio.sleep(0.1)
        r.reset(33)
        for _ in range(100):
            if asgi_app.RESETS:
                break
            await asyncio.sleep(0.02)
        assert asgi_app.RESETS and asgi_app.RESETS[0][1] == 33
        # the client's close code and reason reach webtransport.disconnect
        s.close(1234, "client done")
        await s.wait_closed()
        for _ in range(100):
            if asgi_app.DISCONNECTS:
                break
            await asyncio.sleep(0.02)
        assert asgi_app.DISCONNECTS == [(1234, "client done")]
    finally:
        server.close()


@run
async def test_asgi_close_with_code_and_refusal():
    server = await serve_asgi(asgi_app.app, "127.0.0.1", 0)
    try:
        base = "https://127.0.0.1:%d" % server.port
        with pytest.raises(gowt.ConnectError) as e:
            await gowt.connect(base + "/refuse", cert_hashes=[server.cert_hash])
        assert e.value.status == 404
        s = await gowt.connect(base + "/x", cert_hashes=[server.cert_hash])
        s.send_datagram(b"close")
        info = await asyncio.wait_for(s.wait_closed(), 10)
        assert (info.code, info.reason, info.remote) == (4001, "asked to close", True)
    finally:
        server.close()


@run
async def test_asgi_app_errors():
    async def no_accept(scope, receive, send):
        await receive()

    async def raises_after_accept(scope, receive, send):
        await receive()
        await send({"type": "webtransport.accept"})
        raise RuntimeError("app bug")

    loop = asyncio.get_running_loop()
    errors = []
    loop.set_exception_handler(lambda loop, ctx: errors.append(ctx.get("exception")))
    for app, check in ((no_accept, 403), (raises_after_accept, 1)):
        server = await serve_asgi(app, "127.0.0.1", 0)
        try:
            url = "https://127.0.0.1:%d/" % server.port
            if check == 403:
                with pytest.raises(gowt.ConnectError) as e:
                    await gowt.connect(url, cert_hashes=[server.cert_hash])
                assert e.value.status == 403
            else:
                s = await gowt.connect(url, cert_hashes=[server.cert_hash])
                info = await s.wait_closed()
                assert info.code == 1 and "RuntimeError" in info.reason
        finally:
            server.close()
    assert any(isinstance(e, RuntimeError) for e in errors)


def test_command_line_generates_certificate_and_serves():
    env = dict(os.environ)
    if os.environ.get("GOWT_TEST_INSTALLED") != "1":
        env["PYTHONPATH"] = os.path.dirname(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.Popen([sys.executable, "-m", "gowt.asgi", "asgi_app:app", "--port", "0",
                          "--app-dir", HERE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True)
    try:
        lines = []
        m = None
        while m is None:
            line = p.stdout.readline()
            if not line:
                pytest.fail("no READY line; stderr: %s" % p.stderr.read())
            lines.append(line)
            m = re.match(r"READY port=(\d+) hash=([0-9a-f]{64})$", line.strip())
        assert any("certificate SHA-256 %s (generated)" % m.group(2) in l for l in lines)
        port, h = int(m.group(1)), bytes.fromhex(m.group(2))

        async def client():
            s = await gowt.connect("https://127.0.0.1:%d/cli?q=1" % port, cert_hashes=[h])
            s.send_datagram(b"over the cli")
            got = await asyncio.wait_for(s.receive_datagram(), 10)
            s.close(5, "cli test")
            await s.wait_closed()
            return got
        assert asyncio.run(client()) == b"echo:over the cli"
        out = []
        while True:
            line = p.stdout.readline()
            out.append(line)
            if not line or "disconnect" in line:
                break
        assert "APP disconnect code=5 reason=cli test\n" in out
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(20)
    assert rc == 0


@run
async def test_lifespan_and_state():
    events = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                events.append(msg["type"])
                if msg["type"] == "lifespan.startup":
                    scope["state"]["db"] = "opened"
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "webtransport"
        await receive()
        await send({"type": "webtransport.accept"})
        msg = await receive()
        assert msg["type"] == "webtransport.datagram.receive"
        await send({"type": "webtransport.datagram.send", "data": scope["state"]["db"].encode()})
        await receive()  # disconnect

    server = await serve_asgi(app, "127.0.0.1", 0)
    assert events == ["lifespan.startup"]
    s = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
    s.send_datagram(b"state?")
    assert await asyncio.wait_for(s.receive_datagram(), 10) == b"opened"
    s.close()
    await s.wait_closed()
    server.close()
    await server.asgi_shutdown
    assert events == ["lifespan.startup", "lifespan.shutdown"]


@run
async def test_lifespan_on_with_an_app_without_it_fails():
    with pytest.raises(AssertionError):
        await serve_asgi(asgi_app_strict, "127.0.0.1", 0, lifespan="on")


async def asgi_app_strict(scope, receive, send):
    assert scope["type"] == "webtransport"
