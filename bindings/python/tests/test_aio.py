"""gowt.aio over real loopback sessions: gowt.serve + gowt.connect."""
import asyncio
import hashlib
import os
import time

import pytest

import gowt
from gowt import aio
from helpers import run


async def echo_handler(session):
    """Echo bidi streams; answer a uni stream on a server uni stream (upper
    case); echo datagrams; on a bidi stream whose data is b"open", open a
    bidi stream of its own and echo what the client writes on it."""
    tasks = []

    async def one(st):
        if st.bidirectional:
            data = await st.read()
            if data == b"open":
                mine = await session.open_bidirectional_stream()
                mine.write(b"server bidi")
                await mine.drain()
                got = await mine.read()
                mine.write(got[::-1])
                mine.write_eof()
                await mine.drain()
            st.write(data)
            st.write_eof()
            await st.drain()
        else:
            data = await st.read()
            out = await session.open_unidirectional_stream()
            out.write(data.upper())
            out.write_eof()
            await out.drain()

    async def datagrams():
        while True:
            try:
                d = await session.receive_datagram()
            except gowt.SessionClosed:
                return
            session.send_datagram(b"echo:" + d)

    tasks.append(asyncio.ensure_future(datagrams()))
    async for st in session.incoming_streams():
        tasks.append(asyncio.ensure_future(one(st)))
    info = await session.wait_closed()
    session.request["seen_close"] = info
    for t in tasks:
        t.cancel()


@run
async def test_streams_datagrams_close():
    seen = []

    async def handler(session):
        seen.append(session)
        await echo_handler(session)

    async with await gowt.serve("127.0.0.1", 0, handler) as server:
        assert len(server.cert_hash) == 32
        url = "https://127.0.0.1:%d/echo?x=1" % server.port
        session = await gowt.connect(url, cert_hashes=[server.cert_hash],
                                     headers=[("x-test", "aio")])
        assert session.session_id >= 0
        # bidi echo, 3 MB: many STREAM_WRITABLE rounds
        payload = os.urandom(3 << 20)
        st = await session.open_bidirectional_stream()
        st.write(payload)
        st.write_eof()
        await st.drain()
        assert await st.read() == payload
        # uni: the answer comes on a server-opened uni stream
        u = await session.open_unidirectional_stream()
        assert not u.readable and u.writable
        u.write(b"shout")
        u.write_eof()
        await u.drain()
        back = await session.accept_stream()
        assert not back.bidirectional and not back.local and not back.writable
        assert await back.read() == b"SHOUT"
        # a server-opened bidi stream
        trigger = await session.open_bidirectional_stream()
        trigger.write(b"open")
        trigger.write_eof()
        srv_bidi = await session.accept_stream()
        assert srv_bidi.bidirectional and not srv_bidi.local
        assert await srv_bidi.readexactly(11) == b"server bidi"
        srv_bidi.write(b"abc")
        srv_bidi.write_eof()
        assert await srv_bidi.read() == b"cba"
        assert await trigger.read() == b"open"
        # datagrams
        assert session.max_datagram_size > 1000
        session.send_datagram(b"ping")
        assert await session.receive_datagram() == b"echo:ping"
        with pytest.raises(gowt.Error) as e:
            session.send_datagram(b"x" * 70000)
        assert e.value.code == -5
        info = session.info()
        assert info["bytes_received"] >= len(payload)
        # server saw the request
        req = seen[0].request
        assert req["path"] == "/echo" and req["query"] == "x=1"
        assert ("x-test", "aio") in req["headers"]
        # close with code and reason: both sides see them
        session.close(4242, "bye \u00e9")
        mine = await session.wait_closed()
        assert mine.local and mine.code == 4242
        theirs = await seen[0].wait_closed()
        assert theirs.remote and theirs.code == 4242 and theirs.reason == "bye \u00e9"
        # after the close: SessionClosed, an OSError
        with pytest.raises(gowt.SessionClosed):
            await session.receive_datagram()
        with pytest.raises(OSError):
            await session.accept_stream()


@run
async def test_server_close_seen_by_client():
    async def handler(session):
        st = await session.open_unidirectional_stream()
        st.write(b"last words")
        st.write_eof()
        await st.drain()
        await asyncio.sleep(0.2)
        session.close(7, "server says bye")
        await session.wait_closed()

    async with await gowt.serve("127.0.0.1", 0, handler) as server:
        s = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
        st = await s.accept_stream()
        assert await st.read() == b"last words"
        info = await s.wait_closed()
        assert (info.code, info.reason, info.remote) == (7, "server says bye", True)


@run
async def test_call_racing_the_peers_close_raises_session_closed():
    """The library learns of the peer's close before this loop has run the
    SESSION_CLOSED event: a session call in that window raises
    SessionClosed (an OSError), as after the event. It raised gowt.Error
    (GOWT_ERR_CLOSED), and a gowt.asgi application opening its streams
    right after accept crashed on it (the python_asgi_browser flake)."""
    got = asyncio.get_running_loop().create_future()

    async def handler(session):
        got.set_result(session)
        await session.wait_closed()

    async with await gowt.serve("127.0.0.1", 0, handler) as server:
        cli = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
        srv = await got
        cli.close(4321, "page done")
        # This loop does not run from here on (time.sleep), so the server
        # session's SESSION_CLOSED waits in its queue; the library's own
        # view changes as soon as the close capsule arrives.
        deadline = time.monotonic() + 10
        err = None
        while err is None and time.monotonic() < deadline:
            try:
                srv.send_datagram(b"still open?")
            except Exception as e:  # noqa: BLE001 - the type is the assertion
                err = e
            time.sleep(0.005)
        assert not srv.closed, "the close event ran: the window was not tested"
        assert isinstance(err, gowt.SessionClosed), repr(err)
        assert isinstance(err, OSError)
        with pytest.raises(gowt.SessionClosed):
            await srv.open_bidirectional_stream()
        info = await srv.wait_closed()
        assert (info.code, info.reason) == (4321, "page done")


@run
async def test_refused_and_deferred():
    async def handler(session):
        if session.path == "/no":
            session.refuse(404)
        else:
            await asyncio.sleep(0.05)  # decided later, from a task
            session.accept()
            await session.wait_closed()

    async with await gowt.serve("127.0.0.1", 0, handler, auto_accept=False) as server:
        base = "https://127.0.0.1:%d" % server.port
        with pytest.raises(gowt.ConnectError) as e:
            await gowt.connect(base + "/no", cert_hashes=[server.cert_hash])
        assert e.value.status == 404
        s = await gowt.connect(base + "/yes", cert_hashes=[server.cert_hash])
        s.close()
        assert (await s.wait_closed()).local


@run
async def test_accept_without_handler_and_shared_endpoint():
    async with await gowt.serve("127.0.0.1", 0) as server:  # Kestrel style: server.accept()
        async with aio.Endpoint(cert_hashes=[server.cert_hash]) as ep:
            url = "https://127.0.0.1:%d/a" % server.port
            c1 = await ep.connect(url)
            c2 = await ep.connect(url)
            s1 = await server.accept()
            s2 = await server.accept()
            assert {s1.path, s2.path} == {"/a"}
            st = await c2.open_unidirectional_stream()
            st.write(b"to two")
            st.write_eof()
            got = await asyncio.wait_for(s2.accept_stream(), 10)
            assert await got.read() == b"to two"
            c1.close(1, "one")
            c2.abort(2)
            assert (await s1.wait_closed()).code == 1
            i2 = await s2.wait_closed()
            assert (i2.code, i2.reason, i2.remote) == (2, "", True)


@run
async def test_write_backpressure_and_drain():
    """A small send buffer: write() keeps data in Python, drain() waits for
    STREAM_WRITABLE rounds; the peer reads slowly, so its side pauses too."""
    received = asyncio.get_event_loop().create_future()

    async def handler(session):
        st = await session.accept_stream()
        h = hashlib.sha256()
        n = 0
        paused_seen = False
        while True:
            chunk = await st.read(16384)
            if not chunk:
                break
            paused_seen = paused_seen or st._paused
            h.update(chunk)
            n += len(chunk)
            if n < 2 << 20:
                await asyncio.sleep(0.001)  # slow reader at first
        received.set_result((n, h.hexdigest(), paused_seen))
        await session.wait_closed()

    async with await gowt.serve("127.0.0.1", 0, handler) as server:
        s = await gowt.connect("https://127.0.0.1:%d/" % server.port,
                               cert_hashes=[server.cert_hash], stream_send_buffer=65536)
        st = await s.open_unidirectional_stream()
        payload = os.urandom(8 << 20)
        st.write(payload)
        assert st.get_write_buffer_size() > 4 << 20  # the library took at most a buffer
        await st.drain()
        assert st.get_write_buffer_size() == 0
        st.write_eof()
        await st.drain()
        n, digest, paused = await received
        assert n == len(payload) and digest == hashlib.sha256(payload).hexdigest()
        assert paused, "the slow reader's stream was never paused (read_limit)"
        s.close()
        await s.wait_closed()


@run
async def test_reset_and_stop_sending():
    codes = asyncio.get_event_loop().create_future()

    async def handler(session):
        st = await session.accept_stream()
        try:
            await st.read()
            result = "no error"
        except gowt.StreamReset as e:
            result = e.code
        codes.set_result(result)
        st2 = await session.accept_stream()
        st2.stop_sending(99)
        await session.wait_closed()

    async with await gowt.serve("127.0.0.1", 0, handler) as server:
        s = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
        st = await s.open_bidirectional_stream()
        st.write(b"x")
        await st.drain()
        st.reset(77)
        assert await codes == 77
        st2 = await s.open_bidirectional_stream()
        st2.write(b"y")
        await st2.drain()
        with pytest.raises(gowt.aio.StreamStopped) as e:
            for _ in range(200):
                st2.write(b"z" * 1000)
                await st2.drain()
                await asyncio.sleep(0.01)
        assert e.value.code == 99
        s.close()


@run
async def test_handler_exception_closes_with_code_1():
    errors = []

    async def handler(session):
        raise ValueError("handler bug")

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, ctx: errors.append(ctx.get("exception")))
    async with await gowt.serve("127.0.0.1", 0, handler) as server:
        s = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
        info = await s.wait_closed()
        assert info.code == 1 and "ValueError" in info.reason
    assert any(isinstance(e, ValueError) for e in errors)


@run
async def test_connect_untrusted_certificate_fails():
    async with await gowt.serve("127.0.0.1", 0) as server:
        with pytest.raises(gowt.ConnectError) as e:
            await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[b"\0" * 32])
        assert e.value.status == 0  # no HTTP response: TLS failed


@run
async def test_open_stream_waits_for_the_peers_stream_limit():
    answered = []

    async def handler(session):
        async for st in session.incoming_streams():
            data = await st.read()
            await asyncio.sleep(0.2)  # hold the only stream credit a while
            answered.append(data)
            st.write(data)
            st.write_eof()
            await st.drain()

    async with await gowt.serve("127.0.0.1", 0, handler, max_incoming_streams_bidi=1) as server:
        s = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
        first = await s.open_bidirectional_stream()
        first.write(b"one")
        first.write_eof()
        second = await s.open_bidirectional_stream()  # GOWT_ERR_LIMIT until the first ends
        # the credit comes back only once the server ended the first stream
        assert answered == [b"one"], "the second stream opened despite the limit of 1"
        second.write(b"two")
        second.write_eof()
        assert await first.read() == b"one"
        assert await second.read() == b"two"
        s.close()


@run
async def test_session_info_statistics_addresses_and_priority():
    async with await gowt.serve("127.0.0.1", 0, echo_handler) as server:
        s = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
        st = await s.open_bidirectional_stream()
        st.set_priority(10)
        st.write(b"p" * 200000)
        st.write_eof()
        await st.drain()
        assert len(await st.read()) == 200000
        info = s.info()
        assert 0 < info["rtt_smoothed_us"] < 1000000
        assert info["conn_bytes_sent"] > 200000 and info["conn_packets_sent"] > 100
        assert info["congestion_window"] > 0
        assert info["peer_addr"] == "127.0.0.1:%d" % server.port
        assert info["peer_cert_sha256"] == server.cert_hash
        assert info["tls_resumed"] == 0
        s.close()
        await s.wait_closed()
