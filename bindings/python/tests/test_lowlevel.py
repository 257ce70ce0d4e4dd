"""gowt.lowlevel: lifetime (garbage-collected contexts), handler exceptions
in both dispatch modes, WouldBlock. Real loopback sessions."""
import gc
import os
import threading
import time

import pytest

import gowt
import gowt.lowlevel
from gowt import _ffi
from gowt.lowlevel import Context, EventType as T


def ctx_gone(ptr):
    """True once the C context at ptr was destroyed (calls on it give NOT_FOUND)."""
    return _ffi.lib.gowt_ctx_last_error(ptr, None, 0) in (_ffi.ERR_NOT_FOUND,)


def test_would_block_is_blocking_io_error():
    assert issubclass(gowt.WouldBlock, BlockingIOError)
    assert issubclass(gowt.WouldBlock, gowt.Error)
    with Context(dispatch="poll") as srv, Context(pinned_hashes=[srv.cert_hash()],
                                                    stream_send_buffer=65536) as cli:
        port = srv.listen()
        srv.register("*", lambda c, e: 0)
        done = []
        s = cli.connect("https://127.0.0.1:%d/" % port,
                        lambda c, e: done.append(e.type) or 0)
        cli.run_until(lambda: T.CONNECT_ACCEPTED in done, 10, others=[srv])
        sid = cli.open_stream(s, bidi=False)
        with pytest.raises(BlockingIOError) as e:
            for _ in range(100):  # never drained: the buffer fills
                cli.send(s, sid, b"x" * 60000)
        assert e.value.code == _ffi.ERR_WOULD_BLOCK
        assert "WOULD_BLOCK" in str(e.value)


def test_poll_mode_every_handler_exception_reaches_the_caller():
    with Context() as srv, Context(insecure=True) as cli:
        port = srv.listen()
        srv.register("*", lambda c, e: 0)
        seen = []

        def handler(ctx, ev):
            seen.append(ev.type)
            if ev.type == T.CONNECTING:
                raise KeyError("first")
            if ev.type == T.CONNECT_ACCEPTED:
                raise ValueError("second")
            return 0

        cli.connect("https://127.0.0.1:%d/" % port, handler)
        raised = []
        deadline = time.monotonic() + 10
        while len(raised) < 2 and time.monotonic() < deadline:
            try:
                cli.run_until(lambda: T.CONNECT_ACCEPTED in seen, 10, others=[srv])
                cli.raise_pending()
                time.sleep(0.01)
            except (KeyError, ValueError) as e:
                raised.append(type(e))
        assert raised == [KeyError, ValueError]


def test_thread_mode_handler_exception_reaches_the_caller():
    with Context(dispatch="thread") as srv, Context(dispatch="thread", insecure=True) as cli:
        port = srv.listen()
        srv.register("*", lambda c, e: 0)
        accepted = threading.Event()

        def handler(ctx, ev):
            if ev.type == T.CONNECT_ACCEPTED:
                accepted.set()
                raise RuntimeError("in the dispatch thread")
            return 0

        s = cli.connect("https://127.0.0.1:%d/" % port, handler)
        assert accepted.wait(10)
        time.sleep(0.05)  # the callback returns
        with pytest.raises(RuntimeError, match="dispatch thread"):
            cli.max_datagram_size(s)  # any call from outside a callback
        assert cli.max_datagram_size(s) > 0  # raised once only
        # the exception of a CONNECT handler, on the server's context
        boom = threading.Event()

        def bad(ctx, ev):
            if ev.type == T.CONNECT:
                boom.set()
                raise LookupError("server handler")
            return 0
        srv.register("/bad", bad)
        refused = []
        done = threading.Event()

        def on(ctx, ev):
            if ev.type == T.CONNECT_REFUSED:
                refused.append(ev.code)
            if ev.type == T.DEREGISTER:
                done.set()
            return 0
        cli.connect("https://127.0.0.1:%d/bad" % port, on)
        assert done.wait(10) and refused == [500]
        with pytest.raises(LookupError):
            srv.close()


def test_garbage_collected_context_is_destroyed():
    """A POLL context with a live session, dropped without close(): the
    finalizer destroys it; the server sees the session end."""
    with Context() as srv:
        port = srv.listen()
        closes = []
        srv.register("*", lambda c, e: closes.append(e) if e.type == T.CLOSE else 0)
        cli = Context(insecure=True)
        ok = []
        cli.connect("https://127.0.0.1:%d/" % port, lambda c, e: ok.append(e.type) or 0)
        cli.run_until(lambda: T.CONNECT_ACCEPTED in ok, 10, others=[srv])
        ptr = cli._state.ptr
        assert not ctx_gone(ptr)
        del cli
        gc.collect()
        assert ctx_gone(ptr)
        srv.run_until(lambda: closes, 10)
        assert closes[0].reason == "context destroyed"


def test_context_in_a_reference_cycle_is_collected():
    class Holder:
        pass
    h = Holder()
    h.ctx = Context()
    h.ctx.register("*", lambda c, e, h=h: 0)  # handler -> holder -> context: a cycle
    ptr = h.ctx._state.ptr
    del h
    gc.collect()
    assert ctx_gone(ptr)


def test_thread_mode_context_dropped_during_its_own_callback():
    """The last reference goes while the dispatch thread runs one of its
    callbacks: gowt_ctx_destroy would be BUSY there, so the finalizer
    destroys it from another thread; the library never calls a freed
    callback (the process would crash)."""
    with Context(dispatch="thread") as srv:
        port = srv.listen()
        srv.register("*", lambda c, e: 0)
        inside = threading.Event()
        release = threading.Event()

        def handler(ctx, ev):
            if ev.type == T.CONNECT_ACCEPTED:
                ctx.send_datagram(ev.session, b"x")
                inside.set()
                release.wait(5)  # main thread drops the context now
            return 0

        cli = Context(dispatch="thread", insecure=True)
        cli.connect("https://127.0.0.1:%d/" % port, handler)
        assert inside.wait(10)
        ptr = cli._state.ptr
        del cli
        gc.collect()  # the callback's frame still holds the Context
        assert not ctx_gone(ptr)
        release.set()
        deadline = time.monotonic() + 10
        while not ctx_gone(ptr) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ctx_gone(ptr)
        assert not gowt.lowlevel._zombies


@pytest.mark.skipif(os.environ.get("GOWT_TEST_INSTALLED") != "1", reason="installed package only")
def test_installed_package_uses_its_bundled_library():
    pkg = os.path.dirname(os.path.abspath(gowt.__file__))
    assert "bindings" not in pkg.split(os.sep)[-3:], pkg
    gowt.version()
    assert _ffi.lib.path == os.path.join(pkg, "_lib", "libgowt.so.0"), _ffi.lib.path
    assert os.path.exists(os.path.join(pkg, "py.typed"))


def test_client_session_handler_released_after_deregister():
    with Context() as srv, Context(insecure=True) as cli:
        port = srv.listen()
        srv.register("*", lambda c, e: 0)
        base = len(cli._handlers)
        seen = []
        s = cli.connect("https://127.0.0.1:%d/" % port, lambda c, e: seen.append(e.type) or 0)
        assert len(cli._handlers) == base + 1
        cli.run_until(lambda: T.CONNECT_ACCEPTED in seen, 10, others=[srv])
        cli.close_session(s, 0, "")
        cli.run_until(lambda: T.DEREGISTER in seen, 10, others=[srv])
        assert len(cli._handlers) == base and not cli._session_keys
        assert len(srv._handlers) == 1  # the path's handler stays


def test_log_callback_receives_library_messages():
    ctx = gowt.Context(dispatch="poll")
    got = []
    ctx.set_log(gowt.LOG_DEBUG, lambda level, comp, msg: got.append((level, comp, msg)))
    ctx.listen("127.0.0.1", 0)
    assert ctx.wait(2.0)
    ctx.process_events()
    assert any(c == "quic" and "listening on 127.0.0.1:" in m and lvl == gowt.LOG_INFO
               for lvl, c, m in got), got
    # an exception in the log function reaches the caller like a handler's
    def bad(level, comp, msg):
        raise RuntimeError("log boom")
    ctx.set_log(gowt.LOG_DEBUG, bad)
    ctx.listen("127.0.0.1", 0)
    assert ctx.wait(2.0)
    with pytest.raises(RuntimeError, match="log boom"):
        ctx.process_events()
    ctx.set_log(gowt.LOG_OFF, None)
    ctx.close()


def test_set_gc_round_trip():
    old = gowt.lowlevel.set_gc()
    try:
        gowt.lowlevel.set_gc(128 << 20, -1)
        assert gowt.lowlevel.set_gc() == (128 << 20, -1)
        with pytest.raises(gowt.lowlevel.Error):
            gowt.lowlevel.set_gc(-7, 100)
        assert gowt.lowlevel.set_gc() == (128 << 20, -1)
    finally:
        gowt.lowlevel.set_gc(*old)


def test_constants_match_the_header():
    """Every #define and enum value of include/gowt.h that _ffi mirrors has the
    header's value, and none the header defines is missing (source tree only)."""
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    header = os.path.join(here, "..", "..", "..", "include", "gowt.h")
    if not os.path.exists(header):
        pytest.skip("not in the source tree")
    text = open(header).read()
    values = {}
    for name, val in re.findall(r"^#define GOWT_([A-Z_]+) +(\(?-?(?:0x[0-9A-Fa-f]+|\d+)\)?)",
                                text, re.M):
        values[name] = int(val.strip("()"), 0)
    for name, val in re.findall(r"^\s+GOWT_([A-Z_]+) = (-?\d+)", text, re.M):
        values[name] = int(val)
    values["NO_ID"] = 0xFFFFFFFFFFFFFFFF  # UINT64_MAX
    values["VERSION_NUMBER"] = (values["VERSION_MAJOR"] * 10000 +
                                values["VERSION_MINOR"] * 100 + values["VERSION_PATCH"])
    assert len(values) > 40, "header parse found too little"
    missing, wrong = [], []
    for name, val in sorted(values.items()):
        if name.startswith("EV_"):
            got = _ffi.EVENT_TYPES.get(name[3:])
        elif name.startswith("LIST_") or name == "H":
            continue
        else:
            got = getattr(_ffi, name, None)
        if got is None:
            missing.append(name)
        elif got != val:
            wrong.append((name, got, val))
    assert not wrong, wrong
    assert not missing, missing
