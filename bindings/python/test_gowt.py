#!/usr/bin/env python3
"""Tests of the Python binding over real loopback sessions (stdlib only).

    GOWT_LIB=build/libgowt.so python3 bindings/python/test_gowt.py -v
"""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gowt  # noqa: E402
from gowt import EventType as T  # noqa: E402


class EchoServer:
    """Echoes bidi streams, answers a uni stream with a uni stream, echoes
    datagrams, records what it saw."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.events = []
        self.data = {}

    def __call__(self, ctx, ev):
        self.events.append(ev)
        if ev.type == T.CONNECT:
            if ev.request["path"] == "/refuse":
                return 404
            return 0
        if ev.type in (T.POST_DATA, T.POST_FIN):
            self.data[ev.stream_id] = self.data.get(ev.stream_id, b"") + ev.data
            fin = ev.type == T.POST_FIN
            if ev.bidi:
                ctx.send(ev.session, ev.stream_id, ev.data, fin)
            elif fin:
                u = ctx.open_stream(ev.session, bidi=False)
                ctx.send(ev.session, u, self.data[ev.stream_id].upper(), True)
        elif ev.type == T.POST_DATAGRAM:
            ctx.send_datagram(ev.session, ev.data)
        return 0

    def first(self, typ):
        return next((e for e in self.events if e.type == typ), None)


class Client:
    def __init__(self):
        self.events = []
        self.data = {}

    def __call__(self, ctx, ev):
        self.events.append(ev)
        if ev.type in (T.POST_DATA, T.POST_FIN):
            self.data[ev.stream_id] = self.data.get(ev.stream_id, b"") + ev.data
        return 0

    def has(self, typ):
        return any(e.type == typ for e in self.events)

    def first(self, typ):
        return next((e for e in self.events if e.type == typ), None)

    def fin_on(self, sid):
        return any(e.type == T.POST_FIN and e.stream_id == sid for e in self.events)


class PollModeTest(unittest.TestCase):
    def setUp(self):
        self.srv = gowt.Context(cert_hostnames="localhost,127.0.0.1")
        self.port = self.srv.listen("127.0.0.1", 0)
        self.server = EchoServer(self.srv)
        self.srv.register("*", self.server)
        self.cli = gowt.Context(pinned_hashes=[self.srv.cert_hash()])
        self.url = "https://127.0.0.1:%d" % self.port

    def tearDown(self):
        self.cli.close()
        self.srv.close()

    def run_until(self, cond, timeout=10):
        self.cli.run_until(cond, timeout, others=[self.srv])

    def test_version_and_hash(self):
        self.assertRegex(gowt.version(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(len(self.srv.cert_hash()), 32)

    def test_streams_datagrams_close(self):
        c = Client()
        s = self.cli.connect(self.url + "/echo?x=1", c, headers=[("x-test", "py")])
        self.run_until(lambda: c.has(T.CONNECT_ACCEPTED) or c.has(T.CONNECT_REFUSED))
        self.assertTrue(c.has(T.CONNECTING))
        self.assertTrue(c.has(T.CONNECT_ACCEPTED), c.events)
        req = self.server.first(T.CONNECT).request
        self.assertEqual(req["path"], "/echo")
        self.assertEqual(req["query"], "x=1")
        self.assertIn(("x-test", "py"), req["headers"])

        # bidi echo with FIN, 200 KB so it takes several events
        payload = bytes(range(256)) * 800
        b = self.cli.open_stream(s, bidi=True)
        self.cli.send(s, b, payload, fin=True)
        # uni stream: the server answers on its own uni stream
        u = self.cli.open_stream(s, bidi=False)
        self.cli.send(s, u, b"shout", fin=True)
        # datagram echo
        self.assertGreater(self.cli.max_datagram_size(s), 1000)
        self.cli.send_datagram(s, b"ping")
        self.run_until(lambda: c.fin_on(b) and c.has(T.POST_DATAGRAM)
                       and any(k != b and v == b"SHOUT" and c.fin_on(k)
                               for k, v in c.data.items()))
        self.assertEqual(c.data[b], payload)
        self.assertEqual(c.first(T.POST_DATAGRAM).data, b"ping")
        info = self.cli.session_info(s)
        self.assertEqual(info["bytes_received"], len(payload) + len(b"SHOUT"))
        self.assertEqual(info["datagrams_received"], 1)

        # close with code and reason: the server sees both
        self.cli.close_session(s, 4242, "bye from python \u00e9")
        self.run_until(lambda: c.has(T.DEREGISTER) and self.server.first(T.CLOSE))
        close = self.server.first(T.CLOSE)
        self.assertEqual(close.code, 4242)
        self.assertEqual(close.reason, "bye from python \u00e9")
        self.assertTrue(close.flags & gowt.CLOSE_REMOTE)
        self.assertTrue(c.first(T.CLOSE).flags & gowt.CLOSE_LOCAL)
        # the handle is gone after DEREGISTER
        with self.assertRaises(gowt.Error) as e:
            self.cli.send_datagram(s, b"late")
        self.assertEqual(e.exception.code, -2)

    def test_pull_stream_and_datagrams(self):
        payload = bytes((i * 7) & 0xFF for i in range(300_000))
        left = {"off": 0, "dg": 0}
        kept = []
        c = Client()

        def on(ctx, ev):
            c(ctx, ev)
            if ev.type == T.PROVIDE_DATA:
                off = left["off"]
                n = min(ev.space, len(payload) - off)
                done = off + n == len(payload)
                ctx.provide_data(ev, payload[off:off + n], fin=done, still_active=not done)
                left["off"] += n
                kept.append(ev)
            elif ev.type == T.PROVIDE_DATAGRAM:
                left["dg"] += 1
                self.assertGreaterEqual(ev.space, 1000)
                ctx.provide_datagram(ev, b"pull %d" % left["dg"], more=left["dg"] < 3)
            return 0

        s = self.cli.connect(self.url + "/echo", on)
        self.run_until(lambda: c.has(T.CONNECT_ACCEPTED))
        b = self.cli.open_stream(s, bidi=True)
        self.cli.mark_active(s, b)
        self.cli.set_datagram_ready(s)
        self.run_until(lambda: c.fin_on(b) and
                       sum(e.type == T.POST_DATAGRAM for e in c.events) == 3)
        self.assertEqual(c.data[b], payload)
        self.assertEqual(sorted(e.data for e in c.events if e.type == T.POST_DATAGRAM),
                         [b"pull 1", b"pull 2", b"pull 3"])
        self.assertGreater(len(kept), 1)
        # a PROVIDE_DATA event cannot be answered after its callback
        with self.assertRaises(gowt.Error) as e:
            self.cli.provide_data(kept[0], b"late")
        self.assertEqual(e.exception.code, -11)

    def test_refused(self):
        c = Client()
        self.cli.connect(self.url + "/refuse", c)
        self.run_until(lambda: c.has(T.DEREGISTER))
        self.assertEqual(c.first(T.CONNECT_REFUSED).code, 404)
        self.assertFalse(c.has(T.CLOSE))

    def test_reset_and_stop_sending_codes(self):
        c = Client()
        s = self.cli.connect(self.url + "/echo", c)
        self.run_until(lambda: c.has(T.CONNECT_ACCEPTED))
        b = self.cli.open_stream(s, bidi=True)
        self.cli.send(s, b, b"x")
        self.run_until(lambda: self.server.first(T.POST_DATA))
        self.cli.reset(s, b, 7)
        self.cli.stop_sending(s, b, 9)
        self.run_until(lambda: self.server.first(T.RESET) and self.server.first(T.STOP_SENDING))
        self.assertEqual(self.server.first(T.RESET).code, 7)
        self.assertEqual(self.server.first(T.STOP_SENDING).code, 9)

    def test_bad_input(self):
        with self.assertRaises(gowt.Error) as e:
            self.cli.send(12345678, 0, b"x")
        self.assertEqual(e.exception.code, -2)
        self.assertIn("NOT_FOUND", str(e.exception))
        with self.assertRaises(gowt.Error) as e:
            self.cli.connect("not a url", Client())
        self.assertEqual(e.exception.code, -1)
        with self.assertRaises(TypeError):
            gowt.Context(no_such_field=1)
        c = Client()
        s = self.cli.connect(self.url + "/echo", c)
        self.run_until(lambda: c.has(T.CONNECT_ACCEPTED))
        with self.assertRaises(gowt.Error) as e:
            self.cli.send_datagram(s, b"x" * 70000)
        self.assertEqual(e.exception.code, -5)
        with self.assertRaises(gowt.Error):
            self.cli.close_session(s, 1, "r" * 2000)  # reason over 1024 bytes

    def test_callback_exception(self):
        def boom(ctx, ev):
            if ev.type == T.CONNECT:
                raise RuntimeError("handler bug")
            return 0
        self.srv.register("/boom", boom)
        c = Client()
        self.cli.connect(self.url + "/boom", c)
        with self.assertRaises(RuntimeError):
            self.run_until(lambda: c.has(T.DEREGISTER))
        self.run_until(lambda: c.has(T.DEREGISTER))
        self.assertEqual(c.first(T.CONNECT_REFUSED).code, 500)

    @staticmethod
    def deferring(pending):
        """A server callback that defers every CONNECT, noting its session."""
        def cb(ctx, ev):
            if ev.type == T.CONNECT:
                pending.append(ev.session)
                return gowt.CONNECT_DEFER
            return 0
        return cb

    def test_deferred_connect_and_timeout(self):
        pending = []
        later = self.deferring(pending)
        self.srv.register("/later", later)
        c = Client()
        self.cli.connect(self.url + "/later", c)
        self.run_until(lambda: pending)
        self.srv.accept(pending[0])
        self.run_until(lambda: c.has(T.CONNECT_ACCEPTED))
        # a CONNECT left undecided is refused with 503 after the timeout
        with gowt.Context(connect_decision_timeout_ms=200) as srv2, \
                gowt.Context(insecure=True) as cli2:
            port2 = srv2.listen("127.0.0.1", 0)
            srv2.register("/later", later)
            c2 = Client()
            cli2.connect("https://127.0.0.1:%d/later" % port2, c2)
            cli2.run_until(lambda: c2.has(T.DEREGISTER), 10, others=[srv2])
            self.assertEqual(c2.first(T.CONNECT_REFUSED).code, 503)
            with self.assertRaises(gowt.Error) as e:
                srv2.accept(pending[-1])
            self.assertIn(e.exception.code, (-2, -11))  # gone, or decided

    def test_connect_response_timeout(self):
        # a client gives up on a CONNECT the server leaves undecided after
        # connect_response_timeout_ms (0.4.0), before the server's 10 s
        pending = []
        self.srv.register("/never", self.deferring(pending))
        with gowt.Context(insecure=True, connect_response_timeout_ms=300) as cli2:
            c = Client()
            t0 = time.monotonic()
            cli2.connect(self.url + "/never", c)
            cli2.run_until(lambda: c.has(T.DEREGISTER), 8, others=[self.srv])
            self.assertGreaterEqual(time.monotonic() - t0, 0.3)
            ref = c.first(T.CONNECT_REFUSED)
            self.assertEqual(ref.code, 0)
            self.assertIn(b"no CONNECT response within 300ms", ref.data)
            self.assertEqual(len(pending), 1)  # the server had it, undecided

    def test_wait(self):
        self.assertFalse(self.cli.wait(0.05))  # nothing pending: times out
        c = Client()
        self.cli.connect(self.url + "/echo", c)
        while not c.has(T.CONNECT_ACCEPTED):
            if self.srv.wait(0.01):
                self.srv.process_events()
            if self.cli.wait(0.01):
                self.cli.process_events()

    def test_create_error_message(self):
        with self.assertRaises(gowt.Error) as e:
            gowt.Context(max_incoming_data=1 << 63)
        self.assertEqual(e.exception.code, -1)
        self.assertIn("max_incoming_data", str(e.exception))

    def test_destroy_delivers_end_events(self):
        c = Client()
        self.cli.connect(self.url + "/echo", c)
        self.run_until(lambda: c.has(T.CONNECT_ACCEPTED))
        self.cli.close()
        self.assertTrue(c.has(T.CLOSE))
        self.assertEqual(c.events[-1].type, T.DEREGISTER)
        self.cli.close()  # idempotent


class ThreadModeTest(unittest.TestCase):
    def test_library_thread_runs_callbacks(self):
        with gowt.Context(dispatch="thread") as srv, \
                gowt.Context(dispatch="thread", insecure=True) as cli:
            port = srv.listen()
            server = EchoServer(srv)
            srv.register("/echo", server)
            done = threading.Event()
            got = []
            threads = set()

            def on(ctx, ev):
                threads.add(threading.get_ident())
                if ev.type == T.CONNECT_ACCEPTED:
                    ctx.send_datagram(ev.session, b"from a callback")
                elif ev.type == T.POST_DATAGRAM:
                    got.append(ev.data)
                    ctx.close_session(ev.session, 1, "done")
                elif ev.type == T.DEREGISTER:
                    done.set()
                return 0

            cli.connect("https://127.0.0.1:%d/echo" % port, on)
            self.assertTrue(done.wait(10))
            self.assertEqual(got, [b"from a callback"])
            self.assertNotIn(threading.get_ident(), threads)
            with self.assertRaises(gowt.Error):
                cli.fileno()  # GOWT_ERR_STATE in THREAD mode


if __name__ == "__main__":
    unittest.main()
