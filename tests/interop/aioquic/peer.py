#!/usr/bin/env python3
"""A WebTransport peer on aioquic (PyPI, >= 1.7), written for gowt's interop
tests (tests/interop/run.py). Our code on aioquic's public API: aioquic's
H3Connection(enable_webtransport=True) gives SETTINGS, extended CONNECT,
WebTransport stream headers (0x41 bidi, 0x54 uni) and HTTP datagrams; this
program adds what aioquic leaves to the application: the CONNECT request and
response (WT-Available-Protocols / WT-Protocol), the session capsules on the
CONNECT stream (CLOSE_WEBTRANSPORT_SESSION 0x2843, DRAIN 0x78ae), the
mapping of application error codes into the WebTransport range, and the
receiving half of bidi streams it opened itself (see README.md: aioquic's
H3Connection parses those bytes as HTTP/3 frames, so we take them before it
does).

Roles:
  peer.py server [--protocols a,b] [--choose NAME]     prints {"ev": "listening", "port": N}
  peer.py client --url https://127.0.0.1:PORT/path [--protocols a,b] [--h3-protocol P]
  peer.py baton-server [--choose NAME] PATH             (devious baton, prints "Listening on port N")
  peer.py baton-client [--protocols a,b] HOST PORT "PATH?version=0&baton=N&count=K"

server / client: one JSON object per line on stdout for everything seen
(events named by "ev"); commands, one JSON object per line, on stdin (see
Command below). A server accepts every CONNECT whose query has no
"status=N" (that one is answered with N and end of stream).

baton-*: play the game (the same rules as examples_c/gowt_baton.c, as
pico_baton plays it) and print pico_baton's summary lines; the client exits 0
only on a won game.
"""
import argparse
import asyncio
import datetime
import hashlib
import json
import os
import random
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import wtcommon as W  # noqa: E402

from aioquic.asyncio import QuicConnectionProtocol, connect, serve  # noqa: E402
from aioquic.h3.connection import H3_ALPN, H3Connection  # noqa: E402
from aioquic.h3.events import (DataReceived, DatagramReceived, HeadersReceived,  # noqa: E402
                               WebTransportStreamDataReceived)
from aioquic.quic.configuration import QuicConfiguration  # noqa: E402
from aioquic.quic.events import (ConnectionTerminated, ProtocolNegotiated,  # noqa: E402
                                 StopSendingReceived, StreamDataReceived, StreamReset)

T0 = time.monotonic()


def emit(**ev):
    ev['t'] = round(time.monotonic() - T0, 4)
    sys.stdout.write(json.dumps(ev) + '\n')
    sys.stdout.flush()


def sf_list(names):
    """A Structured Fields list of strings: "a", "b"."""
    return ', '.join('"%s"' % n.replace('\\', '\\\\').replace('"', '\\"') for n in names)


def parse_sf_strings(value):
    """The strings of a Structured Fields list (parameters ignored)."""
    out, i, v = [], 0, value
    while i < len(v):
        while i < len(v) and v[i] in ' \t,':
            i += 1
        if i >= len(v):
            break
        if v[i] == '"':
            i += 1
            s = ''
            while i < len(v) and v[i] != '"':
                if v[i] == '\\' and i + 1 < len(v):
                    i += 1
                s += v[i]
                i += 1
            out.append(s)
            i += 1
        while i < len(v) and v[i] != ',':
            i += 1
    return out


def make_cert(workdir):
    """A self-signed ECDSA P-256 certificate (cryptography comes with aioquic)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName('localhost'), x509.DNSName('test'),
                x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), critical=False)
            .sign(key, hashes.SHA256()))
    cpath, kpath = os.path.join(workdir, 'cert.pem'), os.path.join(workdir, 'key.pem')
    with open(cpath, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kpath, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cpath, kpath


# ---------------------------------------------------------------------------
# The WebTransport layer on top of aioquic

class Stream:
    __slots__ = ('id', 'bidi', 'local', 'rx', 'sha', 'rx_fin', 'rx_reset', 'tx_fin', 'tx_reset', 'buf')

    def __init__(self, sid, bidi, local):
        self.id, self.bidi, self.local = sid, bidi, local
        self.rx = 0
        self.sha = hashlib.sha256()
        self.rx_fin = self.rx_reset = self.tx_fin = self.tx_reset = False
        self.buf = bytearray()  # baton apps keep the bytes


class WTProtocol(QuicConnectionProtocol):
    """One QUIC connection with (at most) one WebTransport session."""

    is_server = False
    app_factory = None      # set by main: callable(proto) -> app
    server_opts = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = None
        self.session_id = None   # the CONNECT stream
        self.established = False
        self.closed = False
        self.capbuf = b''
        self.streams = {}
        self.local_bidi = set()  # bidi streams we opened: their incoming bytes bypass H3Connection
        self.app = self.app_factory(self)
        self.response = None     # client: the response headers

    # -- aioquic events ---------------------------------------------------

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated):
            self.h3 = H3Connection(self._quic, enable_webtransport=True)
            self.app.on_h3()
        if isinstance(event, StreamDataReceived) and event.stream_id in self.local_bidi:
            self._stream_data(event.stream_id, event.data, event.end_stream)
            self.transmit()
            return
        if isinstance(event, StreamReset) and event.stream_id in self.streams:
            st = self.streams[event.stream_id]
            st.rx_reset = True
            self.app.on_reset(st, event.error_code)
        elif isinstance(event, StreamReset) and event.stream_id != self.session_id:
            # aioquic surfaces a WebTransport stream only with its first
            # payload byte, so a stream reset after a bare header gives no
            # event; its (private) H3 stream state tells whether the header
            # arrived and named our session.
            h3s = getattr(self.h3, '_stream', {}).get(event.stream_id) if self.h3 is not None else None
            if h3s is not None and getattr(h3s, 'session_id', None) == self.session_id:
                emit(ev='stream_opened', stream=event.stream_id, bidi=event.stream_id % 4 < 2, header_only=True)
                emit(ev='reset', stream=event.stream_id, wire=event.error_code,
                     code=W.code_from_wire(event.error_code), bytes=0)
            else:
                # Reset before the header arrived: no way to tell the session.
                emit(ev='reset_unknown_stream', stream=event.stream_id, wire=event.error_code)
        if isinstance(event, StopSendingReceived) and event.stream_id in self.streams:
            st = self.streams[event.stream_id]
            st.tx_reset = True  # aioquic answers with RESET_STREAM, same code
            self.app.on_stop_sending(st, event.error_code)
        if isinstance(event, StreamReset) and event.stream_id == self.session_id:
            emit(ev='connect_stream_reset', wire=event.error_code)
            self._session_ended(None, None, 'CONNECT stream reset')
        if isinstance(event, ConnectionTerminated):
            emit(ev='conn_closed', error_code=event.error_code, reason=event.reason_phrase,
                 frame_type=event.frame_type)
            self._session_ended(None, None, 'connection closed')
            self.app.on_conn_closed()
        if self.h3 is not None and not (isinstance(event, StreamReset) and event.stream_id in self.local_bidi):
            for hev in self.h3.handle_event(event):
                self.h3_event(hev)
        self.transmit()

    def h3_event(self, ev):
        if isinstance(ev, HeadersReceived):
            hdrs = {k.decode(): v.decode() for k, v in ev.headers}
            if self.is_server and self.session_id is None:
                self._server_connect(ev.stream_id, hdrs, ev.stream_ended)
            elif not self.is_server and ev.stream_id == self.session_id:
                self._client_response(hdrs, ev.stream_ended)
        elif isinstance(ev, DataReceived) and ev.stream_id == self.session_id:
            self._capsule_data(ev.data, ev.stream_ended)
        elif isinstance(ev, WebTransportStreamDataReceived):
            if ev.session_id != self.session_id:
                emit(ev='stray_stream', stream=ev.stream_id, session=ev.session_id)
                return
            self._stream_data(ev.stream_id, ev.data, ev.stream_ended)
        elif isinstance(ev, DatagramReceived):
            if ev.stream_id != self.session_id:
                emit(ev='stray_datagram', session=ev.stream_id, len=len(ev.data))
                return
            self.app.on_datagram(ev.data)

    # -- session setup ----------------------------------------------------

    def _server_connect(self, sid, h, ended):
        offered = parse_sf_strings(h.get('wt-available-protocols', ''))
        path = h.get(':path', '')
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        info = dict(ev='connect', stream=sid, method=h.get(':method'), protocol=h.get(':protocol'),
                    path=path, authority=h.get(':authority'), offered=offered,
                    origin=h.get('origin'), settings=self._settings())
        if h.get(':method') != 'CONNECT' or h.get(':protocol') not in ('webtransport', 'webtransport-h3'):
            emit(**info, answer=400)
            self.h3.send_headers(sid, [(b':status', b'400')], end_stream=True)
            return
        if q.get('answer') == ['none']:
            # Take the request and never answer it (a server that hangs):
            # the client's timeout must end it, with a reset of this stream.
            self.session_id = sid
            emit(**info, answer=None)
            return
        status = int(q['status'][0]) if 'status' in q else self.app.decide(path, offered)
        if status != 200:
            emit(**info, answer=status)
            self.h3.send_headers(sid, [(b':status', str(status).encode())], end_stream=True)
            return
        chosen = self.app.choose(offered)
        headers = [(b':status', b'200')]
        if chosen:
            headers.append((b'wt-protocol', sf_list([chosen]).encode()))
        self.h3.send_headers(sid, headers, end_stream=False)
        self.session_id = sid
        self.established = True
        emit(**info, answer=200, chosen=chosen)
        self.app.on_session(path, chosen)

    def client_connect(self, url, protocols, h3_protocol):
        u = urllib.parse.urlsplit(url)
        sid = self._quic.get_next_available_stream_id()
        headers = [(b':method', b'CONNECT'), (b':scheme', b'https'),
                   (b':authority', u.netloc.encode()),
                   (b':path', ((u.path or '/') + ('?' + u.query if u.query else '')).encode()),
                   (b':protocol', h3_protocol.encode())]
        if protocols:
            headers.append((b'wt-available-protocols', sf_list(protocols).encode()))
        self.h3.send_headers(sid, headers, end_stream=False)
        self.session_id = sid
        self.transmit()

    def _client_response(self, h, ended):
        status = int(h.get(':status', '0'))
        chosen = parse_sf_strings(h.get('wt-protocol', ''))
        self.response = h
        emit(ev='response', status=status, protocol=chosen[0] if chosen else None,
             headers=h, settings=self._settings())
        if 200 <= status < 300 and not ended:
            self.established = True
            self.app.on_session(None, chosen[0] if chosen else None)
        else:
            self.closed = True
            self.app.on_refused(status)

    def _settings(self):
        s = self.h3.received_settings if self.h3 else None
        return {hex(k): v for k, v in s.items()} if s else None

    # -- capsules ----------------------------------------------------------

    def _capsule_data(self, data, ended):
        self.capbuf += data
        caps, self.capbuf = W.parse_capsules(self.capbuf)
        for typ, payload in caps:
            if typ == W.CAPSULE_CLOSE_SESSION:
                code = int.from_bytes(payload[:4], 'big') if len(payload) >= 4 else None
                reason = payload[4:].decode('utf-8', 'replace')
                emit(ev='close_capsule', code=code, reason=reason, length=len(payload))
                self._session_ended(code, reason, 'capsule')
            elif typ == W.CAPSULE_DRAIN_SESSION:
                emit(ev='drain_capsule', length=len(payload))
                self.app.on_drain()
            else:
                emit(ev='capsule', type=hex(typ), length=len(payload))
        if ended:
            emit(ev='connect_fin', leftover=len(self.capbuf))
            self._session_ended(0, '', 'FIN')

    def _session_ended(self, code, reason, how):
        if self.closed:
            return
        self.closed = True
        # Answer a close (the draft): FIN on the CONNECT stream; then reset
        # and stop what is still open, with WT_SESSION_GONE.
        if self.session_id is not None and self.established and how in ('capsule', 'FIN'):
            try:
                self.h3.send_data(self.session_id, b'', end_stream=True)
            except Exception as e:  # already ended
                emit(ev='note', what='FIN on the CONNECT stream: %r' % e)
            for st in list(self.streams.values()):
                self._abort_stream(st)
        self.app.on_close(code, reason, how)
        self.transmit()

    def _abort_stream(self, st):
        if (st.bidi or st.local) and not st.tx_fin and not st.tx_reset:
            st.tx_reset = True
            self._quic.reset_stream(st.id, W.WT_SESSION_GONE)
        if (st.bidi or not st.local) and not st.rx_fin and not st.rx_reset:
            st.rx_reset = True
            self._quic.stop_stream(st.id, W.WT_SESSION_GONE)

    # -- actions ---------------------------------------------------------------

    def close_session(self, code, reason):
        self.h3.send_data(self.session_id, W.close_capsule(code, reason), end_stream=True)
        self.closed = True
        self.transmit()

    def drain_session(self):
        self.h3.send_data(self.session_id, W.capsule(W.CAPSULE_DRAIN_SESSION, b''), end_stream=False)
        self.transmit()

    def open_stream(self, bidi):
        sid = self.h3.create_webtransport_stream(self.session_id, is_unidirectional=not bidi)
        st = self.streams[sid] = Stream(sid, bidi, True)
        if bidi:
            self.local_bidi.add(sid)
        return st

    def send(self, st, data, fin):
        self._quic.send_stream_data(st.id, data, end_stream=fin)
        if fin:
            st.tx_fin = True
        self.transmit()

    def reset(self, st, wire):
        st.tx_reset = True
        self._quic.reset_stream(st.id, wire)
        self.transmit()

    def stop(self, st, wire):
        self._quic.stop_stream(st.id, wire)
        self.transmit()

    def send_datagram(self, data):
        self.h3.send_datagram(self.session_id, data)
        self.transmit()

    def max_datagram(self):
        """The largest HTTP datagram payload this connection can send:
        aioquic sends no DATAGRAM frame larger than what fits in one packet
        of configuration.max_datagram_size (a larger one stays queued and
        blocks the ones behind it), nor should it exceed the peer's
        max_datagram_frame_size. aioquic has no public call for either
        number: the packet overhead is computed as its packet builder does
        (short header 3 + destination CID, 16-byte AEAD tag), from the
        connection's private peer CID and transport parameter."""
        q = self._quic
        cid = len(q._peer_cid.cid)
        room = q.configuration.max_datagram_size - (3 + cid) - 16
        remote = q._remote_max_datagram_frame_size or 0
        qsid = len(W.varint(self.session_id // 4))
        best = 0
        for p in range(1, room):
            n = qsid + p
            if 1 + len(W.varint(n)) + n <= room and n <= remote:
                best = p
        return best

    def _stream_data(self, sid, data, fin):
        st = self.streams.get(sid)
        if st is None:
            st = self.streams[sid] = Stream(sid, (sid & 2) == 0, False)
            self.app.on_stream_opened(st)
        st.rx += len(data)
        st.sha.update(data)
        self.app.on_stream_data(st, data, fin)
        if fin:
            st.rx_fin = True
            self.app.on_stream_fin(st)


# ---------------------------------------------------------------------------
# Command-driven app (server / client roles)

class CommandApp:
    """Reports everything as JSON lines; acts on JSON commands from stdin."""

    def __init__(self, proto, protocols=(), choose=None, keep_bytes=False):
        self.p = proto
        self.protocols = list(protocols)  # server: supported (preference order)
        self.choose_name = choose
        self.senders = []

    # server decisions
    def decide(self, path, offered):
        return 200

    def choose(self, offered):
        if self.choose_name is not None:
            return self.choose_name or None
        for s in self.protocols:
            if s in offered:
                return s
        return None

    def on_h3(self):
        pass

    def on_session(self, path, chosen):
        sent = self.p.h3.sent_settings or {}
        emit(ev='session', session=self.p.session_id, protocol=chosen,
             max_datagram=self.p.max_datagram(), sent_settings={hex(k): v for k, v in sent.items()})

    def on_refused(self, status):
        emit(ev='refused', status=status)

    def on_stream_opened(self, st):
        emit(ev='stream_opened', stream=st.id, bidi=st.bidi)

    def on_stream_data(self, st, data, fin):
        pass

    def on_stream_fin(self, st):
        emit(ev='fin', stream=st.id, bidi=st.bidi, local=st.local, bytes=st.rx,
             sha256=st.sha.hexdigest())

    def on_reset(self, st, wire):
        emit(ev='reset', stream=st.id, wire=wire, code=W.code_from_wire(wire), bytes=st.rx)

    def on_stop_sending(self, st, wire):
        emit(ev='stop_sending', stream=st.id, wire=wire, code=W.code_from_wire(wire))

    def on_datagram(self, data):
        emit(ev='datagram', len=len(data), sha256=hashlib.sha256(data).hexdigest())

    def on_drain(self):
        pass

    def on_close(self, code, reason, how):
        emit(ev='session_closed', code=code, reason=reason, how=how)

    def on_conn_closed(self):
        pass

    # commands
    def command(self, c):
        p = self.p
        op = c.get('cmd')
        try:
            if op == 'open':
                st = p.open_stream(bool(c.get('bidi', True)))
                emit(ev='opened', stream=st.id, bidi=st.bidi, tag=c.get('tag'))
            elif op == 'send':
                st = p.streams[c['stream']]
                data = W.pattern(c.get('seed', 0), c.get('bytes', 0)) if 'hex' not in c else bytes.fromhex(c['hex'])
                p.send(st, data, bool(c.get('fin')))
                emit(ev='sent', stream=st.id, bytes=len(data), fin=bool(c.get('fin')), tag=c.get('tag'))
            elif op == 'reset':
                st = p.streams[c['stream']]
                wire = c['wire'] if 'wire' in c else W.code_to_wire(c['code'])
                p.reset(st, wire)
                emit(ev='did_reset', stream=st.id, wire=wire, tag=c.get('tag'))
            elif op == 'stop':
                st = p.streams[c['stream']]
                wire = c['wire'] if 'wire' in c else W.code_to_wire(c['code'])
                p.stop(st, wire)
                emit(ev='did_stop', stream=st.id, wire=wire, tag=c.get('tag'))
            elif op == 'datagram':
                size = c['size'] if c.get('size') != 'max' else p.max_datagram()
                data = W.pattern(c.get('seed', 0), size)
                p.send_datagram(data)
                emit(ev='datagram_sent', len=size, sha256=hashlib.sha256(data).hexdigest(), tag=c.get('tag'))
            elif op == 'close':
                p.close_session(c.get('code', 0), c.get('reason', ''))
                emit(ev='did_close', tag=c.get('tag'))
            elif op == 'drain':
                p.drain_session()
                emit(ev='did_drain', tag=c.get('tag'))
            elif op == 'ping':
                emit(ev='pong', tag=c.get('tag'))
            elif op == 'quit':
                p._quic.close(error_code=0, reason_phrase='bye')
                p.transmit()
                emit(ev='quitting')
                asyncio.get_event_loop().call_later(0.2, lambda: os._exit(0))
            else:
                emit(ev='error', what='unknown command %r' % op)
        except Exception as e:
            emit(ev='error', what='%s: %r' % (op, e), tag=c.get('tag'))
        p.transmit()


def stdin_commands(loop, handler):
    """Feed stdin's JSON lines to handler on the loop; exit at EOF."""
    def reader():
        for line in sys.stdin:
            line = line.strip()
            if line:
                try:
                    c = json.loads(line)
                except ValueError:
                    continue
                loop.call_soon_threadsafe(handler, c)
        loop.call_soon_threadsafe(lambda: os._exit(0))
    threading.Thread(target=reader, daemon=True).start()


# ---------------------------------------------------------------------------
# Devious baton (draft-frindell-webtrans-devious-baton-00), as gowt_baton and
# pico_baton play it.

BRUH, GAME_OVER = 0x02, 0x03
WHATEVER = 0x02
PAD, PAD_LIMIT = 0x3FFF, 65536


class BatonApp:
    def __init__(self, proto, is_client, count=1, first=0, choose=None):
        self.p = proto
        self.is_client = is_client
        self.count = count          # client: the lanes it asked for
        self.first = first
        self.choose_name = choose
        self.lanes = []             # dicts: first, last_sent, last_received, done
        self.turns = 0
        self.sent_bytes = 0
        self.recv_bytes = 0
        self.dg_sent = self.dg_recv = 0
        self.state = 1 if is_client else 2
        self.close_code = None
        self.protocol = None
        self.done = asyncio.get_event_loop().create_future()
        self.sent_zero = set()      # streams on which we sent a 0
        self.log = []

    def note(self, s):
        if os.environ.get('BATON_DEBUG'):
            sys.stderr.write('%.3f %s\n' % (time.monotonic() - T0, s))

    def decide(self, path, offered):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        try:
            version = int(q.get('version', ['0'])[0])
            baton = int(q.get('baton', ['0'])[0])
            count = int(q.get('count', ['1'])[0])
        except ValueError:
            return 400
        if version != 0 or not 0 <= baton <= 255 or not 1 <= count <= 256:
            return 400
        self.first = baton or random.randint(1, 255)
        self.count = count
        return 200

    def choose(self, offered):
        if self.choose_name is not None:
            return self.choose_name or None
        return W.BATON_PROTOCOL if W.BATON_PROTOCOL in offered else None

    def on_h3(self):
        pass

    def on_session(self, path, chosen):
        self.protocol = chosen
        self.state = 2
        if self.is_client:
            if chosen not in (None, W.BATON_PROTOCOL):
                self.bruh('Wrong sub-protocol')
            return
        for _ in range(self.count):
            lane = dict(first=self.first, last_sent=self.first, last_received=None, done=False)
            self.lanes.append(lane)
            st = self.p.open_stream(False)
            self.send_baton(st, self.first)

    def on_refused(self, status):
        self.state = 5
        sys.stderr.write('baton: session refused (HTTP %d)\n' % status)
        self.finish()

    def send_baton(self, st, v):
        pad = PAD if self.sent_bytes <= PAD_LIMIT else 0
        m = W.baton_message(v, pad)
        self.sent_bytes += len(m)
        if v == 0:
            self.sent_zero.add(st.id)
        self.p.send(st, m, True)  # last byte and FIN in one frame

    def lane_for(self, v):
        for lane in self.lanes:
            if not lane['done'] and lane['last_sent'] is not None and (lane['last_sent'] + 1) & 0xFF == v:
                return lane
        if len(self.lanes) < self.count:
            lane = dict(first=v, last_sent=None, last_received=None, done=False)
            self.lanes.append(lane)
            return lane
        return None

    def bruh(self, why):
        self.note('BRUH ' + why)
        if not self.p.closed:
            self.p.close_session(BRUH, why)
        self.state = 5
        self.close_code = BRUH
        self.finish()

    def on_stream_opened(self, st):
        pass

    def on_stream_data(self, st, data, fin):
        st.buf += data
        self.recv_bytes += len(data)

    def on_stream_fin(self, st):
        if self.p.closed:
            return
        try:
            v = W.baton_parse(bytes(st.buf))
        except ValueError as e:
            self.bruh(str(e))
            return
        if v is None:
            if st.id in self.sent_zero:
                return  # the empty FIN after our 0
            self.bruh('FIN before the baton')
            return
        lane = self.lane_for(v)
        if lane is None:
            self.bruh('Baton 0x%02x fits no lane' % v)
            return
        self.turns += 1
        self.state = 3
        lane['last_received'] = v
        if v == 0:
            lane['done'] = True
            if st.bidi and not st.local:
                self.p.send(st, b'', True)
            if all(l['done'] for l in self.lanes) and len(self.lanes) == self.count:
                self.state = 4
                self.p.close_session(0, 'Have a nice day')
                self.on_close(0, 'Have a nice day', 'us')
            return
        if v % 7 == (1 if self.is_client else 0):
            self.p.send_datagram(W.baton_message(v, 0))
            self.dg_sent += 1
        nxt = (v + 1) & 0xFF
        lane['last_sent'] = nxt
        if nxt == 0:
            lane['done'] = True
        if st.bidi and not st.local:
            self.send_baton(st, nxt)
        else:
            self.send_baton(self.p.open_stream(not st.bidi), nxt)

    def on_reset(self, st, wire):
        if self.p.closed:
            return
        self.note('reset on %d: %#x' % (st.id, wire))
        if not self.p.closed:
            self.p.close_session(GAME_OVER, 'Game over')
            self.on_close(GAME_OVER, 'Game over', 'us')

    def on_stop_sending(self, st, wire):
        self.on_reset(st, wire)

    def on_datagram(self, data):
        try:
            W.baton_parse(data)
            self.dg_recv += 1
        except ValueError:
            pass

    def on_drain(self):
        pass

    def on_close(self, code, reason, how):
        if self.close_code is None:
            self.close_code = code
        self.note('closed (%s): %s %r' % (how, code, reason))
        if self.state != 5:
            self.state = 6 if code == 0 else 5
        self.finish()
        if self.is_client:
            # pico_baton's client closes the connection once the session is over.
            asyncio.get_event_loop().call_later(0.05, self._close_conn)

    def _close_conn(self):
        self.p._quic.close(error_code=0)
        self.p.transmit()

    def on_conn_closed(self):
        if self.state not in (5, 6):
            self.state = 5
        self.finish()

    def finish(self):
        if not self.done.done():
            self.done.set_result(True)

    def won(self):
        return (self.state == 6 and self.close_code == 0 and self.turns > 0 and len(self.lanes) == self.count
                and all(l['done'] and l['last_sent'] in (0, 0xFF) for l in self.lanes))

    def print_summary(self):
        print('Final baton state: %d' % self.state)
        print('Nb turns: %d' % self.turns)
        for i, l in enumerate(self.lanes):
            print('Lane %d, first baton: 0x%02x, last sent: 0x%02x, last received: 0x%02x' % (
                i, l['first'], l['last_sent'] or 0, l['last_received'] or 0))
        print('Bytes sent: %d' % self.sent_bytes)
        print('Bytes received: %d' % self.recv_bytes)
        print('Datagrams sent: %d' % self.dg_sent)
        print('Datagrams received: %d' % self.dg_recv)
        print('Sub-protocol: %s' % (self.protocol or 'none'))
        sys.stdout.flush()


# ---------------------------------------------------------------------------
# Main

UDP_PAYLOAD = 1200


def quic_config(is_client):
    cfg = QuicConfiguration(is_client=is_client, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536,
                            idle_timeout=30.0, max_datagram_size=UDP_PAYLOAD)
    if is_client:
        cfg.verify_mode = ssl.CERT_NONE
    return cfg


async def run_server(args, app_factory, ready_line):
    workdir = tempfile.mkdtemp(prefix='aioquic-peer-')
    cert, key = make_cert(workdir)
    cfg = quic_config(False)
    cfg.load_cert_chain(cert, key)

    class P(WTProtocol):
        is_server = True
    P.app_factory = staticmethod(app_factory)
    server = await serve('127.0.0.1', 0, configuration=cfg, create_protocol=P)
    # aioquic's QuicServer has no public accessor for its bound address.
    port = server._transport.get_extra_info('sockname')[1]
    ready_line(port)
    await asyncio.Event().wait()


async def run_client(args, app_factory, url, protocols, on_connected):
    u = urllib.parse.urlsplit(url)

    class P(WTProtocol):
        is_server = False
    P.app_factory = staticmethod(app_factory)
    async with connect(u.hostname, u.port, configuration=quic_config(True), create_protocol=P,
                       wait_connected=True) as proto:
        proto.client_connect(url, protocols, args.h3_protocol)
        await on_connected(proto)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('role', choices=['server', 'client', 'baton-server', 'baton-client'])
    ap.add_argument('--url')
    ap.add_argument('--protocols', default=None, help='client: offered; server: supported (comma-separated)')
    ap.add_argument('--choose', default=None, help='server: always choose this sub-protocol ("" none)')
    ap.add_argument('--h3-protocol', default='webtransport',
                    help=':protocol of the CONNECT (aioquic speaks draft-02: "webtransport")')
    ap.add_argument('--udp-payload', type=int, default=1200,
                    help='aioquic\'s max_datagram_size (UDP payload of its packets; default 1200)')
    ap.add_argument('-T', '--timeout', type=float, default=30.0, help='baton client: give up after this')
    ap.add_argument('rest', nargs='*')
    args = ap.parse_intermixed_args()
    global UDP_PAYLOAD
    UDP_PAYLOAD = args.udp_payload
    protocols = [p for p in (args.protocols or '').split(',') if p]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    if args.role == 'server':
        apps = []

        def factory(proto):
            a = CommandApp(proto, protocols, args.choose)
            apps.append(a)
            return a
        stdin_commands(loop, lambda c: apps[-1].command(c) if apps else emit(ev='error', what='no session yet'))
        loop.run_until_complete(run_server(args, factory, lambda port: emit(ev='listening', port=port)))
    elif args.role == 'client':
        holder = {}

        def factory(proto):
            holder['app'] = CommandApp(proto, protocols)
            return holder['app']

        async def connected(proto):
            emit(ev='connected')
            stdin_commands(loop, holder['app'].command)
            await asyncio.Event().wait()
        try:
            loop.run_until_complete(run_client(args, factory, args.url, protocols, connected))
        except ConnectionError as e:
            emit(ev='connect_failed', what=repr(e))
            return 1
    elif args.role == 'baton-server':
        if len(args.rest) != 1:
            ap.error('baton-server PATH')

        def factory(proto):
            return BatonApp(proto, False, choose=args.choose)
        loop.run_until_complete(run_server(args, factory, lambda port: print('Listening on port %d' % port,
                                                                             flush=True)))
    else:
        if len(args.rest) != 3:
            ap.error('baton-client HOST PORT PATH')
        host, port, path = args.rest
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        count = int(q.get('count', ['1'])[0])
        offer = protocols if args.protocols is not None else ['wrong-end-baton', W.BATON_PROTOCOL]
        holder = {}

        def factory(proto):
            holder['app'] = BatonApp(proto, True, count=count)
            return holder['app']

        async def connected(proto):
            try:
                await asyncio.wait_for(holder['app'].done, args.timeout)
            except asyncio.TimeoutError:
                sys.stderr.write('baton: no result after %.0f s\n' % args.timeout)
            await asyncio.sleep(0.1)
        url = 'https://%s:%s%s' % (host, port, path if path.startswith('/') else '/' + path)
        try:
            loop.run_until_complete(run_client(args, factory, url, offer, connected))
        except ConnectionError as e:
            sys.stderr.write('baton: %r\n' % e)
        app = holder.get('app')
        if app is None:
            print('Final baton state: 0')
            return 1
        app.print_summary()
        return 0 if app.won() else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
