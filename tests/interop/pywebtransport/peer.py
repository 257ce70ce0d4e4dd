#!/usr/bin/env python3
"""A WebTransport peer on pywebtransport (PyPI, >= 0.21; Python >= 3.12),
written for gowt's interop tests (tests/interop/run.py). Our code on
pywebtransport's public API (WebTransportServer / WebTransportClient,
WebTransportSession, the stream classes, the event emitters). It speaks the
JSON-lines protocol of tests/interop/aioquic/peer.py: events on stdout (one
JSON object per line, named by "ev"), commands on stdin.

Roles:
  peer.py server [--protocols a,b] [--choose NAME]     prints {"ev": "listening", "port": N}
  peer.py client --url https://127.0.0.1:PORT/path [--protocols a,b]
  peer.py baton-server [--choose NAME] PATH             (devious baton, prints "Listening on port N")
  peer.py baton-client [--protocols a,b] HOST PORT "PATH?version=0&baton=N&count=K"

A server accepts every CONNECT whose query has no "status=N" (that one is
refused with N). What pywebtransport 0.21 has no public call for is listed
in tests/interop/README.md (no DRAIN to send, no SETTINGS accessor, ...).
"""
import argparse
import asyncio
import datetime
import hashlib
import json
import os
import random
import signal
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import wtcommon as W  # noqa: E402

import pywebtransport as pwt  # noqa: E402
from pywebtransport.types import EventType  # noqa: E402

T0 = time.monotonic()


def emit(**ev):
    ev['t'] = round(time.monotonic() - T0, 4)
    sys.stdout.write(json.dumps(ev, default=repr) + '\n')
    sys.stdout.flush()


def make_cert(workdir):
    """A self-signed ECDSA P-256 certificate, made with openssl(1)."""
    import subprocess
    cpath, kpath = os.path.join(workdir, 'cert.pem'), os.path.join(workdir, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                    '-nodes', '-keyout', kpath, '-out', cpath, '-days', '2', '-subj', '/CN=localhost',
                    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                   check=True, capture_output=True)
    return cpath, kpath


def lib_wire(code):
    """pywebtransport maps application codes into WebTransport's range
    itself and shows only the application code: the wire code reported is
    the one that code has on the wire (inferred, not seen)."""
    return W.code_to_wire(code) if code is not None and 0 <= code < 2**32 else code


def ev_data(event):
    d = getattr(event, 'data', None)
    return d if isinstance(d, dict) else {}


class Peer:
    def __init__(self, session, pattern_seeds=None):
        self.s = session
        self.streams = {}   # id -> stream object
        self.rx = {}        # id -> bytes received
        self.reset_seen = set()
        self.stopped = set()   # streams we sent STOP_SENDING on
        self.closed = False
        self.tasks = set()

    def spawn(self, coro):
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)
        return t

    def start(self):
        s = self.s
        s.events.on(event_type=EventType.SESSION_CLOSED, handler=self.on_closed)
        s.events.on(event_type=EventType.SESSION_DRAINING, handler=self.on_draining)
        self.spawn(self.accept_bidi())
        self.spawn(self.accept_uni())
        self.spawn(self.datagrams())

    async def on_closed(self, event):
        if self.closed:
            return
        self.closed = True
        d = ev_data(event)
        code, reason = d.get('error_code'), d.get('reason')
        emit(ev='session_event_closed', data={k: v for k, v in d.items() if k not in ('session', 'connection')})
        if code is not None:
            emit(ev='close_capsule', code=code, reason=reason or '')
        emit(ev='session_closed', code=code, reason=reason, how='event')

    async def on_draining(self, event):
        emit(ev='drain_capsule')

    def watch(self, st, sid):
        st.events.on(event_type=EventType.STREAM_RESET_RECEIVED, handler=lambda e: self.on_reset(sid, e))
        st.events.on(event_type=EventType.STREAM_STOP_SENDING_RECEIVED, handler=lambda e: self.on_stop(sid, e))

    async def on_reset(self, sid, event):
        code = ev_data(event).get('error_code')
        emit(ev='reset_event', stream=sid, data={k: v for k, v in ev_data(event).items()
                                                 if k not in ('stream', 'session', 'connection')})
        self.report_reset(sid, code)

    def report_reset(self, sid, code):
        if sid not in self.streams or sid in self.reset_seen:
            return
        self.reset_seen.add(sid)
        emit(ev='reset', stream=sid, wire=lib_wire(code), code=code, lib_code=code, bytes=self.rx.get(sid, 0))

    async def on_stop(self, sid, event):
        code = ev_data(event).get('error_code')
        emit(ev='stop_sending', stream=sid, wire=lib_wire(code), code=code, lib_code=code)

    async def accept_bidi(self):
        async for st in self.s.incoming_bidirectional_streams():
            sid = st.stream_id
            self.streams[sid] = st
            self.watch(st, sid)
            emit(ev='stream_opened', stream=sid, bidi=True)
            self.spawn(self.reader(st, sid, True, False))

    async def accept_uni(self):
        async for st in self.s.incoming_unidirectional_streams():
            sid = st.stream_id
            self.streams[sid] = st
            self.watch(st, sid)
            emit(ev='stream_opened', stream=sid, bidi=False)
            self.spawn(self.reader(st, sid, False, False))

    async def reader(self, st, sid, bidi, local):
        sha = hashlib.sha256()
        n = 0
        try:
            while True:
                b = await st.read(max_size=65536)
                if not b:
                    emit(ev='fin', stream=sid, bidi=bidi, local=local, bytes=n, sha256=sha.hexdigest())
                    return
                sha.update(b)
                n += len(b)
                self.rx[sid] = n
        except pwt.StreamError as e:
            emit(ev='stream_error', stream=sid, what=str(e), lib_code=e.error_code)
            # The peer's RESET_STREAM ends a read with its code, and
            # STREAM_RESET_RECEIVED (on_reset) does not always come. Once we
            # sent STOP_SENDING ourselves the error is pywebtransport's own
            # (0x13000001), not a reset: only the event counts then.
            if sid not in self.stopped:
                self.report_reset(sid, e.error_code)
        except Exception as e:
            emit(ev='stream_error', stream=sid, what=repr(e))

    async def datagrams(self):
        while True:
            try:
                d = await self.s.read_datagram()
            except Exception as e:
                emit(ev='datagram_loop_end', what=repr(e))
                return
            emit(ev='datagram', len=len(d), sha256=hashlib.sha256(d).hexdigest())

    async def command(self, c):
        op = c.get('cmd')
        tag = c.get('tag')
        s = self.s
        try:
            if op == 'open':
                bidi = bool(c.get('bidi', True))
                st = await (s.create_bidirectional_stream() if bidi else s.create_unidirectional_stream())
                sid = st.stream_id
                self.streams[sid] = st
                self.watch(st, sid)
                if bidi:
                    self.spawn(self.reader(st, sid, True, True))
                emit(ev='opened', stream=sid, bidi=bidi, tag=tag)
            elif op == 'send':
                st = self.streams[c['stream']]
                data = W.pattern(c.get('seed', 0), c.get('bytes', 0)) if 'hex' not in c else bytes.fromhex(c['hex'])
                fin = bool(c.get('fin'))
                emit(ev='sent', stream=c['stream'], bytes=len(data), fin=fin, tag=tag)
                # Written in the background: the next command may come first.
                self.spawn(self.write(st, c['stream'], data, fin))
            elif op == 'reset':
                st = self.streams[c['stream']]
                code = c['code']
                await st.reset(error_code=code)
                emit(ev='did_reset', stream=c['stream'], wire=W.code_to_wire(code), tag=tag)
            elif op == 'stop':
                st = self.streams[c['stream']]
                code = c['code']
                self.stopped.add(c['stream'])
                await st.stop_receiving(error_code=code)
                emit(ev='did_stop', stream=c['stream'], wire=W.code_to_wire(code), tag=tag)
            elif op == 'datagram':
                size = c['size']
                data = W.pattern(c.get('seed', 0), size)
                await s.send_datagram(data=data)
                emit(ev='datagram_sent', len=size, sha256=hashlib.sha256(data).hexdigest(), tag=tag)
            elif op == 'max_datagram':
                emit(ev='max_datagram', size=await self.max_datagram(), tag=tag)
            elif op == 'close':
                await s.close(error_code=c.get('code', 0), reason=c.get('reason', ''))
                emit(ev='did_close', tag=tag)
            elif op == 'drain':
                emit(ev='error', what='pywebtransport 0.21 has no call to send DRAIN', tag=tag)
            elif op == 'ping':
                emit(ev='pong', tag=tag)
            else:
                emit(ev='error', what='unknown command %r' % op, tag=tag)
        except Exception as e:
            emit(ev='error', what='%s: %r' % (op, e), tag=tag)

    async def max_datagram(self):
        """The largest payload send_datagram takes. pywebtransport has no
        accessor for it (only the peer's max_datagram_frame_size, in
        diagnose()), and refuses a larger one before sending with
        DatagramError "wt_datagram validate exceeded": found by bisection,
        each accepted probe being one datagram of zeros."""
        lo, hi = 0, 65536
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                await self.s.send_datagram(data=bytes(mid))
                lo = mid
            except pwt.DatagramError:
                hi = mid
        return lo

    async def write(self, st, sid, data, fin):
        try:
            await st.write_all(data=data, end_stream=fin)
        except Exception as e:
            emit(ev='write_error', stream=sid, what=repr(e))


def stdin_commands(loop, handler):
    """Feed stdin's JSON lines to handler (a coroutine function), in order;
    exit at EOF."""
    q = asyncio.Queue()

    def reader():
        for line in sys.stdin:
            line = line.strip()
            if line:
                try:
                    c = json.loads(line)
                except ValueError:
                    continue
                loop.call_soon_threadsafe(q.put_nowait, c)
        loop.call_soon_threadsafe(q.put_nowait, None)
    threading.Thread(target=reader, daemon=True).start()

    async def run():
        while True:
            c = await q.get()
            if c is None:
                os._exit(0)
            await handler(c)
    return loop.create_task(run())


async def session_event(peer, protocol):
    info = {}
    try:
        d = await peer.s.diagnose()
        info = dict(flow_control=d.flow_control_negotiated)
    except Exception as e:
        info = dict(diagnose_error=repr(e))
    emit(ev='session', session=peer.s.session_id, protocol=protocol, max_datagram=None, sent_settings=None,
         **info)


BATON_STREAMS = dict(initial_max_streams_bidi=256, initial_max_streams_uni=256, max_streams_bidi=1024,
                     max_streams_uni=1024)


async def start_server(**extra):
    workdir = tempfile.mkdtemp(prefix='pywt-peer-')
    cert, key = make_cert(workdir)
    # pywebtransport's ServerConfig refuses bind_port=0 (ConfigurationError
    # "cfg_bind_port validate invalid actual=0"): take a free port from the
    # kernel and hand it over (the tiny race is ours to accept).
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(('127.0.0.1', 0))
        free_port = probe.getsockname()[1]
    cfg = pwt.ServerConfig(bind_host='127.0.0.1', bind_port=free_port, certfile=cert, keyfile=key,
                           max_idle_timeout=30.0, **extra)
    server = pwt.WebTransportServer(config=cfg)
    await server.listen()
    return server


async def run_server(args, protocols):
    server = await start_server()
    port = server.local_addresses[0][1]
    emit(ev='listening', port=port)
    holder = {}

    async def handle(c):
        p = holder.get('peer')
        if p is None:
            emit(ev='error', what='no session yet')
            return
        await p.command(c)
    stdin_commands(asyncio.get_running_loop(), handle)

    async def on_conn(conn):
        async for ses in conn.incoming_sessions():
            path = ses.path
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            hdrs = ses.headers
            if isinstance(hdrs, dict):
                hd = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                      for k, v in hdrs.items()}
            else:
                hd = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                      for k, v in hdrs}
            offered = list(ses.wt_available_protocols or [])
            info = dict(ev='connect', path=path, protocol=hd.get(':protocol'), method=hd.get(':method'),
                        authority=hd.get(':authority'), offered=offered, origin=hd.get('origin'), settings=None)
            if 'status' in q:
                status = int(q['status'][0])
                emit(**info, answer=status)
                await ses.reject(status_code=status)
                continue
            if args.choose is not None:
                chosen = args.choose or None
            else:
                chosen = next((p for p in protocols if p in offered), None)
            await ses.accept(wt_protocol=chosen)
            emit(**info, answer=200, chosen=chosen)
            p = Peer(ses)
            holder['peer'] = p
            p.start()
            await session_event(p, chosen)

    await serve_until_sigterm(server, on_conn, ())


async def run_client(args, protocols):
    cfg = pwt.ClientConfig(verify_mode=ssl.CERT_NONE, max_idle_timeout=30.0)
    client = pwt.WebTransportClient(config=cfg)
    try:
        ses = await client.connect(url=args.url, wt_available_protocols=protocols or None)
    except Exception as e:
        # The status of a refused CONNECT, if the error carries it.
        text = repr(e)
        cause = e.__cause__
        emit(ev='refused', what=text, cause=repr(cause), error_code=getattr(e, 'error_code', None))
        emit(ev='response', status=None, rejected=True, what=text)
        await asyncio.Event().wait()
        return
    emit(ev='connected')
    emit(ev='response', status=200, protocol=ses.wt_protocol, headers={}, settings=None)
    p = Peer(ses)
    p.start()
    await session_event(p, ses.wt_protocol)
    stdin_commands(asyncio.get_running_loop(), p.command)
    await asyncio.Event().wait()


async def serve_until_sigterm(server, on_conn, games):
    """Accepts connections until SIGTERM (the check is over), then prints, for
    each baton game still open, pywebtransport's own view of the session's
    flow control, so that a stalled game says which side held credit back."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def accept_all():
        async for conn in server.incoming_connections():
            asyncio.get_running_loop().create_task(on_conn(conn))

    acceptor = asyncio.get_running_loop().create_task(accept_all())
    await stop.wait()
    acceptor.cancel()
    for g in games:
        if g.closed:
            continue
        try:
            d = await asyncio.wait_for(g.s.diagnose(), 2)
        except Exception as e:
            print('game still open at SIGTERM; no diagnostics: %r' % e, flush=True)
            continue
        print('game still open at SIGTERM: turns %d, flow_control_negotiated %s, bidi from peer opened %d'
              ' closed %d (our limit %d), uni from peer opened %d closed %d (our limit %d),'
              ' data received %d (our limit %d), our streams bidi %d/%d uni %d/%d' % (
                  g.turns, d.flow_control_negotiated, d.peer_streams_bidi_opened, d.peer_streams_bidi_closed,
                  d.local_max_streams_bidi, d.peer_streams_uni_opened, d.peer_streams_uni_closed,
                  d.local_max_streams_uni, d.data_received, d.local_max_data, d.local_streams_bidi_opened,
                  d.peer_max_streams_bidi, d.local_streams_uni_opened, d.peer_max_streams_uni), flush=True)


# ---------------------------------------------------------------------------
# Devious baton (draft-frindell-webtrans-devious-baton-00), as gowt_baton,
# pico_baton and aioquic/peer.py play it.

BRUH, GAME_OVER = 0x02, 0x03
PAD, PAD_LIMIT = 0x3FFF, 65536


class Baton:
    def __init__(self, session, is_client, count, first):
        self.s = session
        self.is_client = is_client
        self.count = count
        self.first = first
        self.lanes = []         # dicts: first, last_sent, last_received, done
        self.turns = 0
        self.sent_bytes = self.recv_bytes = 0
        self.dg_sent = self.dg_recv = 0
        self.state = 2
        self.close_code = None
        self.closed = False
        self.sent_zero = set()
        self.done = asyncio.get_running_loop().create_future()
        self.tasks = set()

    def spawn(self, coro):
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    def start(self):
        self.s.events.on(event_type=EventType.SESSION_CLOSED, handler=self.on_closed)
        self.spawn(self.accept(True))
        self.spawn(self.accept(False))
        self.spawn(self.datagrams())
        if not self.is_client:
            for _ in range(self.count):
                self.lanes.append(dict(first=self.first, last_sent=self.first, last_received=None, done=False))
                self.spawn(self.send_new(False, self.first))

    def finish(self):
        if not self.done.done():
            self.done.set_result(True)

    async def close(self, code, reason):
        if self.closed:
            return
        self.closed = True
        if self.close_code is None:
            self.close_code = code
        if self.state != 5:
            self.state = 6 if code == 0 else 5
        await self.s.close(error_code=code, reason=reason)
        self.finish()

    async def on_closed(self, event):
        d = ev_data(event)
        if not self.closed:
            self.closed = True
            code = d.get('error_code')
            self.close_code = code
            if self.state != 5:
                self.state = 6 if code == 0 else 5
        self.finish()

    async def accept(self, bidi):
        gen = self.s.incoming_bidirectional_streams() if bidi else self.s.incoming_unidirectional_streams()
        async for st in gen:
            self.spawn(self.read(st, bidi, False))

    async def datagrams(self):
        while True:
            try:
                d = await self.s.read_datagram()
            except Exception:
                return
            try:
                W.baton_parse(d)
                self.dg_recv += 1
            except ValueError:
                pass

    def message(self, v):
        pad = PAD if self.sent_bytes <= PAD_LIMIT else 0
        m = W.baton_message(v, pad)
        self.sent_bytes += len(m)
        return m

    async def send_on(self, st, v):
        m = self.message(v)
        if v == 0:
            self.sent_zero.add(st.stream_id)
        try:
            await st.write_all(data=m, end_stream=True)
        except Exception:
            pass

    async def send_new(self, bidi, v):
        try:
            st = await (self.s.create_bidirectional_stream() if bidi else self.s.create_unidirectional_stream())
        except Exception:
            return
        if bidi:
            self.spawn(self.read(st, True, True))
        await self.send_on(st, v)

    async def read(self, st, bidi, local):
        buf = bytearray()
        try:
            while True:
                b = await st.read(max_size=65536)
                if not b:
                    break
                buf += b
                self.recv_bytes += len(b)
        except Exception:
            # Any reset of a session stream ends the game (as pico_baton).
            if not self.closed:
                await self.close(GAME_OVER, 'Game over')
            return
        await self.on_fin(st, bidi, local, bytes(buf))

    def lane_for(self, v):
        for lane in self.lanes:
            if not lane['done'] and lane['last_sent'] is not None and (lane['last_sent'] + 1) & 0xFF == v:
                return lane
        if len(self.lanes) < self.count:
            lane = dict(first=v, last_sent=None, last_received=None, done=False)
            self.lanes.append(lane)
            return lane
        return None

    async def on_fin(self, st, bidi, local, data):
        if self.closed:
            return
        try:
            v = W.baton_parse(data)
        except ValueError as e:
            return await self.close(BRUH, str(e))
        if v is None:
            if st.stream_id in self.sent_zero:
                return
            return await self.close(BRUH, 'FIN before the baton')
        lane = self.lane_for(v)
        if lane is None:
            return await self.close(BRUH, 'Baton 0x%02x fits no lane' % v)
        self.turns += 1
        self.state = 3
        lane['last_received'] = v
        if v == 0:
            lane['done'] = True
            if bidi and not local:
                try:
                    await st.write(data=b'', end_stream=True)
                except Exception:
                    pass
            if len(self.lanes) == self.count and all(x['done'] for x in self.lanes):
                self.state = 4
                await self.close(0, 'Have a nice day')
            return
        # The lane is updated before any await: other streams' batons are
        # matched to lanes meanwhile.
        nxt = (v + 1) & 0xFF
        lane['last_sent'] = nxt
        if nxt == 0:
            lane['done'] = True
        if v % 7 == (1 if self.is_client else 0):
            self.dg_sent += 1
            self.spawn(self.datagram(v))
        if bidi and not local:
            await self.send_on(st, nxt)
        else:
            self.spawn(self.send_new(not bidi, nxt))

    async def datagram(self, v):
        try:
            await self.s.send_datagram(data=W.baton_message(v, 0))
        except Exception:
            self.dg_sent -= 1

    def won(self):
        return (self.state == 6 and self.close_code == 0 and self.turns > 0 and len(self.lanes) == self.count
                and all(x['done'] and x['last_sent'] in (0, 0xFF) for x in self.lanes))

    def print_summary(self, protocol):
        print('Final baton state: %d' % self.state)
        print('Nb turns: %d' % self.turns)
        for i, x in enumerate(self.lanes):
            print('Lane %d, first baton: 0x%02x, last sent: 0x%02x, last received: 0x%02x' % (
                i, x['first'], x['last_sent'] or 0, x['last_received'] or 0))
        print('Bytes sent: %d' % self.sent_bytes)
        print('Bytes received: %d' % self.recv_bytes)
        print('Datagrams sent: %d' % self.dg_sent)
        print('Datagrams received: %d' % self.dg_recv)
        print('Sub-protocol: %s' % (protocol or 'none'))
        sys.stdout.flush()


async def baton_server(args):
    server = await start_server(**BATON_STREAMS)
    print('Listening on port %d' % server.local_addresses[0][1], flush=True)
    path_want = args.rest[0]
    games = set()

    async def on_conn(conn):
        async for ses in conn.incoming_sessions():
            u = urllib.parse.urlsplit(ses.path)
            if path_want != '*' and u.path != path_want:
                await ses.reject(status_code=404)
                continue
            q = urllib.parse.parse_qs(u.query)
            try:
                version = int(q.get('version', ['0'])[0])
                baton = int(q.get('baton', ['0'])[0])
                count = int(q.get('count', ['1'])[0])
            except ValueError:
                version = -1
            if version != 0 or not 0 <= baton <= 255 or not 1 <= count <= 256:
                await ses.reject(status_code=400)
                continue
            offered = list(ses.wt_available_protocols or [])
            if args.choose is not None:
                chosen = args.choose or None
            else:
                chosen = W.BATON_PROTOCOL if W.BATON_PROTOCOL in offered else None
            await ses.accept(wt_protocol=chosen)
            g = Baton(ses, False, count, baton or random.randint(1, 255))
            games.add(g)
            g.start()

    await serve_until_sigterm(server, on_conn, games)


async def baton_client(args, protocols):
    host, port, path = args.rest
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    count = int(q.get('count', ['1'])[0])
    offer = protocols if args.protocols is not None else ['wrong-end-baton', W.BATON_PROTOCOL]
    url = 'https://%s:%s%s' % (host, port, path if path.startswith('/') else '/' + path)
    # pywebtransport grants 10 streams of each kind at first (initial
    # WebTransport MAX_STREAMS); a baton server needs `count` uni streams at
    # once and closes with DA_YAMN "Not enough streams" otherwise (gowt_baton
    # does, count 16), so the game's client grants 256 as pico_baton allows.
    client = pwt.WebTransportClient(config=pwt.ClientConfig(
        verify_mode=ssl.CERT_NONE, max_idle_timeout=30.0, **BATON_STREAMS))
    try:
        ses = await client.connect(url=url, wt_available_protocols=offer)
    except Exception as e:
        sys.stderr.write('baton: %r\n' % e)
        print('Final baton state: 0')
        return 1
    g = Baton(ses, True, count, 0)
    if ses.wt_protocol not in (None, W.BATON_PROTOCOL):
        await g.close(BRUH, 'Wrong sub-protocol')
    g.start()
    try:
        await asyncio.wait_for(asyncio.shield(g.done), args.timeout)
    except asyncio.TimeoutError:
        sys.stderr.write('baton: no result after %.0f s\n' % args.timeout)
    await asyncio.sleep(0.05)
    # pico_baton's client closes the connection once the session is over.
    try:
        await ses.connection.close()
    except Exception:
        pass
    g.print_summary(ses.wt_protocol)
    return 0 if g.won() else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('role', choices=['server', 'client', 'baton-server', 'baton-client'])
    ap.add_argument('--url')
    ap.add_argument('--protocols', default=None)
    ap.add_argument('--choose', default=None)
    ap.add_argument('-T', '--timeout', type=float, default=30.0, help='baton client: give up after this')
    ap.add_argument('rest', nargs='*')
    args = ap.parse_intermixed_args()
    protocols = [p for p in (args.protocols or '').split(',') if p]
    if args.role == 'server':
        asyncio.run(run_server(args, protocols))
    elif args.role == 'client':
        asyncio.run(run_client(args, protocols))
    elif args.role == 'baton-server':
        if len(args.rest) != 1:
            ap.error('baton-server PATH')
        asyncio.run(baton_server(args))
    else:
        if len(args.rest) != 3:
            ap.error('baton-client HOST PORT PATH')
        return asyncio.run(baton_client(args, protocols))
    return 0


if __name__ == '__main__':
    sys.exit(main())
