#!/usr/bin/env python3
"""Interop checks: gowt against WebTransport peers of ours on other stacks.

Usage: tests/interop/run.py --build BUILD_DIR [--peer NAME] [--peer-python PY] [-v] CHECK...
       tests/interop/run.py [--peer NAME] --list

The gowt side is libgowt.so through the Python ctypes binding
(bindings/python/gowt.py) in this process, plus examples_c/gowt_baton for
the baton games; the other side is the peer program NAME (default aioquic):
  aioquic     tests/interop/aioquic/peer.py, run with PY (a Python with
              aioquic >= 1.7: the venv scripts/deps.sh makes, default
              BUILD_DIR/interop-venv/bin/python3)
  wtransport  tests/interop/wtransport (Rust, wtransport 0.7 on quinn), the
              program scripts/deps.sh builds with cargo into
              BUILD_DIR/interop-wtransport (--peer-exe overrides)
  pywebtransport  tests/interop/pywebtransport/peer.py, run with PY (default
              BUILD_DIR/interop-venv-pywebtransport/bin/python3: Python >= 3.12
              with pywebtransport >= 0.21, made by scripts/deps.sh)
Every peer reports what it sees as JSON lines and takes commands on stdin
(the same protocol), so every check is judged from both sides. A check, or
the part of one, that needs what a peer's stack cannot do is left out for
that peer (PEERS below; tests/interop/README.md says whose limit it is).
Everything runs on 127.0.0.1, port 0.

Each CHECK is one CTest test (interop_<peer>_<check>, label interop; see
tests/interop/CMakeLists.txt). Prints "PASS name" / "FAIL name: why" per check
(on failure, the logs of both sides on stderr); exits 1 if one failed. A
missing peer other than aioquic exits 77 (CTest skip), 1 under CI=true.
"""
import argparse
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, 'bindings', 'python'))
import wtcommon as W  # noqa: E402

PEER = os.path.join(HERE, 'aioquic', 'peer.py')
# The peers (tests/interop/<name>/) and what each stack lets its program
# see or do; a check (or a part of it) that needs what a peer lacks is left
# out for that peer, and tests/interop/README.md says whose limit it is.
ALL_CAPS = {'settings', 'response_status', 'response_headers', 'h3_protocol', 'reset_after_stop',
            'close_capsule', 'connect_fin', 'drain', 'baton', 'udp_payload', 'reset_unknown',
            'choose_unoffered', 'no_answer', 'connect_reset'}
PEERS = {
    # token: the :protocol of the peer's CONNECT and of gowt's to it (the
    # dialect of its SETTINGS); fc: WebTransport flow control in the session.
    'aioquic': dict(caps=ALL_CAPS),
    # wtransport 0.7.2 (crates.io, on quinn): see wtransport/src/main.rs.
    # not_in_ctest: checks that run.py runs when named but CTest does not,
    # with the reason in tests/interop/README.md (failures that are no one
    # stack's bug alone, written down with their reproducer).
    'wtransport': dict(caps={'baton', 'choose_unoffered', 'no_answer'},
                       not_in_ctest={'reset_at_once_gowt_server', 'reset_at_once_gowt_client'}),
    # pywebtransport 0.21 (PyPI, Python >= 3.12): see pywebtransport/peer.py.
    'pywebtransport': dict(caps={'response_headers', 'close_capsule', 'drain_recv', 'baton'},
                           token='webtransport-h3', fc=1),
}
PEER_NAME = 'aioquic'
PEER_CMD = None      # argv prefix of the peer program
BIG = 10 * 1000 * 1000
START = time.monotonic()
VERBOSE = False
gowt = None  # the binding, imported once BUILD_DIR is known


def info(msg):
    if VERBOSE:
        sys.stderr.write('[%6.2fs] %s\n' % (time.monotonic() - START, msg))
        sys.stderr.flush()


class CheckFailed(Exception):
    pass


def need(cond, why):
    if not cond:
        raise CheckFailed(why)


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# ---------------------------------------------------------------------------
# The aioquic peer process

class Peer:
    """peer.py in a child process: JSON events from its stdout, commands to
    its stdin."""

    def __init__(self, python, argv, workdir, name='aioquic'):
        self.workdir = workdir
        self.name = name
        self.events = []
        self.lines = []
        self.cond = threading.Condition()
        self.stderr_path = os.path.join(workdir, name + '.stderr')
        self._err = open(self.stderr_path, 'wb')
        self.argv = PEER_CMD + argv + pattern_args(workdir)
        info('start %s: %s' % (name, ' '.join(self.argv)))
        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self._err, preexec_fn=_die_with_parent)
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()

    def _reader(self):
        for raw in self.p.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            ev = None
            if line.startswith('{'):
                try:
                    ev = json.loads(line)
                except ValueError:
                    pass
            with self.cond:
                self.lines.append(line)
                if ev is not None:
                    self.events.append(ev)
                self.cond.notify_all()

    def cmd(self, **c):
        if 'seed' in c:
            write_pattern(self.workdir, c['seed'])
        info('-> %s %s' % (self.name, json.dumps(c)))
        self.p.stdin.write((json.dumps(c) + '\n').encode())
        self.p.stdin.flush()

    def find(self, ev=None, **match):
        with self.cond:
            return [e for e in self.events if (ev is None or e.get('ev') == ev)
                    and all(e.get(k) == v for k, v in match.items())]

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(2)
            except subprocess.TimeoutExpired:
                self.p.terminate()
                try:
                    self.p.wait(3)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait()
        self.t.join(2)
        self._err.close()

    def log(self):
        with self.cond:
            out = '\n'.join(self.lines)
        try:
            with open(self.stderr_path, 'r', encoding='utf-8', errors='replace') as f:
                err = f.read()
        except OSError:
            err = ''
        return out + '\n--- stderr ---\n' + err


def pattern_args(workdir):
    """Peers not in Python cannot compute wtcommon.pattern (Python's
    random.Random): the runner writes each block a command names first."""
    return ['--pattern-dir', workdir] if PEER_NAME == 'wtransport' else []


def write_pattern(workdir, seed):
    if PEER_NAME != 'wtransport':
        return
    path = os.path.join(workdir, '%d.bin' % seed)
    if not os.path.exists(path):
        with open(path + '.tmp', 'wb') as f:
            f.write(W.pattern(seed, W._BLOCK))
        os.rename(path + '.tmp', path)


def has(cap):
    return cap in PEERS[PEER_NAME]['caps']


def peer_token():
    return PEERS[PEER_NAME].get('token', 'webtransport')


def peer_fc():
    return PEERS[PEER_NAME].get('fc', 0)


# ---------------------------------------------------------------------------
# The gowt side (ctypes binding, POLL mode, callbacks on this thread)

class StreamRx:
    __slots__ = ('bytes', 'sha', 'bidi', 'local')

    def __init__(self, bidi, local):
        self.bytes = 0
        self.sha = hashlib.sha256()
        self.bidi, self.local = bidi, local


class Gowt:
    """A gowt context and a record of every event of its sessions."""

    def __init__(self, **cfg):
        self.ctx = gowt.Context(**cfg)
        self.events = []     # dicts
        self.rx = {}         # (session, stream) -> StreamRx
        self.senders = {}    # (session, stream) -> [data, offset, fin]
        self.on_connect = lambda ev: 0
        self.on_stream_opened = None   # callback(ev) for peer-opened streams
        self.sessions = []

    def handler(self, ctx, ev):
        T = gowt.EventType
        rec = {'type': ev.type.name if isinstance(ev.type, T) else ev.type, 'session': ev.session,
               'stream': ev.stream_id, 'code': ev.code, 'flags': ev.flags, 't': time.monotonic() - START}
        key = (ev.session, ev.stream_id)
        if ev.type == T.CONNECT:
            rec['request'] = ev.request
            self.sessions.append(ev.session)
            self.events.append(rec)
            return self.on_connect(ev)
        if ev.type == T.CONNECT_ACCEPTED:
            rec['protocol'] = ev.protocol
        if ev.type in (T.CONNECT_REFUSED, T.CLOSE):
            rec['reason'] = ev.data.decode('utf-8', 'replace')
        if ev.type == T.STREAM_OPENED:
            self.rx.setdefault(key, StreamRx(ev.bidi, False))
        if ev.type in (T.POST_DATA, T.POST_FIN):
            r = self.rx.setdefault(key, StreamRx(ev.bidi, bool(ev.flags & gowt.STREAM_LOCAL)))
            r.bytes += len(ev.data)
            r.sha.update(ev.data)
            if ev.type == T.POST_DATA:
                return 0  # not recorded: 10 MB come in many pieces
            rec['bytes'], rec['sha256'] = r.bytes, r.sha.hexdigest()
        if ev.type == T.POST_DATAGRAM:
            rec['len'] = len(ev.data)
            rec['sha256'] = hashlib.sha256(ev.data).hexdigest()
        if ev.type == T.STREAM_WRITABLE:
            self.pump(ev.session, ev.stream_id)
        self.events.append(rec)
        if ev.type == T.STREAM_OPENED and self.on_stream_opened:
            self.on_stream_opened(ev)
        return 0

    def find(self, typ, **match):
        return [e for e in self.events if e['type'] == typ and all(e.get(k) == v for k, v in match.items())]

    def send(self, s, stream, data, fin=True):
        """Queue data (push mode, all of it, with back-pressure)."""
        self.senders[(s, stream)] = [data, 0, fin]
        self.pump(s, stream)

    def pump(self, s, stream):
        st = self.senders.get((s, stream))
        if st is None:
            return
        data, off, fin = st
        chunk = 256 * 1024
        while True:
            end = min(len(data), off + chunk)
            last = end == len(data)
            try:
                self.ctx.send(s, stream, data[off:end], fin=fin and last)
            except gowt.WouldBlock:
                break
            off = end
            if last:
                del self.senders[(s, stream)]
                return
        st[1] = off

    def sending_done(self):
        return not self.senders

    def close(self):
        self.ctx.close()


class Loop:
    """Runs gowt's callbacks (POLL mode) while waiting for a condition."""

    def __init__(self, *gowts):
        self.gowts = gowts

    def until(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        fds = {g.ctx.fileno(): g for g in self.gowts}
        while True:
            for g in self.gowts:
                g.ctx.process_events()
            if cond():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed('timed out after %.0f s waiting for %s' % (timeout, what))
            r, _, _ = select.select(list(fds), [], [], min(left, 0.01))

    def sleep(self, secs):
        end = time.monotonic() + secs
        try:
            self.until(lambda: time.monotonic() >= end, secs + 1, 'sleep')
        except CheckFailed:
            pass


# ---------------------------------------------------------------------------
# Check environment: one gowt side and one aioquic peer, in a given role

class Env:
    def __init__(self, build, python, workdir):
        self.build = build
        self.python = python
        self.workdir = workdir
        self.peers = []
        self.gowts = []
        self.logs = []
        self.procs = []

    def log(self, title, text):
        self.logs.append((title, text))

    def peer(self, argv, name=None):
        p = Peer(self.python, argv, self.workdir, name or PEER_NAME)
        self.peers.append(p)
        return p

    def gowt_ctx(self, **cfg):
        g = Gowt(**cfg)
        self.gowts.append(g)
        return g

    def teardown(self):
        for i, g in enumerate(self.gowts):
            try:
                g.close()
            except Exception as e:
                self.log('gowt close', repr(e))
            self.log('gowt context %d events' % i, '\n'.join(
                json.dumps({k: v for k, v in e.items() if k != 'request'}) for e in g.events))
        for p in self.peers:
            p.stop()
            self.log('%s: %s (exit %s)' % (p.name, ' '.join(p.argv[1:]), p.p.returncode), p.log())
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Session:
    """One WebTransport session between gowt and the aioquic peer, set up in
    the given role ('gowt_server': aioquic is the client)."""

    def __init__(self, env, role, path='/wt', query='', gowt_protocols=None, peer_protocols=None,
                 refuse=None, expect_accept=True, h3_protocol=None, peer_args=(), gowt_cfg=None):
        self.env, self.role = env, role
        cfg = dict(gowt_cfg or {})
        self.g = env.gowt_ctx(**cfg) if role == 'gowt_server' else env.gowt_ctx(insecure=True, **cfg)
        self.loop = Loop(self.g)
        self.s = None
        url_path = path + ('?' + query if query else '')
        if role == 'gowt_server':
            port = self.g.ctx.listen('127.0.0.1', 0)
            self.g.on_connect = (lambda ev: refuse) if refuse else (lambda ev: 0)
            self.g.ctx.register(path, self.g.handler, protocols=gowt_protocols)
            argv = ['client', '--url', 'https://127.0.0.1:%d%s' % (port, url_path)] + list(peer_args)
            if peer_protocols:
                argv += ['--protocols', ','.join(peer_protocols)]
            if h3_protocol:
                argv += ['--h3-protocol', h3_protocol]
            self.peer = env.peer(argv)
            if expect_accept:
                self.loop.until(lambda: self.peer.find('session') or self.peer.find('refused')
                                or not self.peer.alive(), 20, 'the aioquic client\'s session')
                need(self.peer.find('session'), 'the aioquic client got no session: %s' % (
                    self.peer.find('response') or self.peer.find('conn_closed') or 'nothing'))
                self.loop.until(lambda: self.g.sessions, 5, 'gowt\'s CONNECT')
                self.s = self.g.sessions[0]
        else:
            argv = ['server'] + list(peer_args)
            if peer_protocols:
                argv += ['--protocols', ','.join(peer_protocols)]
            self.peer = env.peer(argv)
            self.loop.until(lambda: self.peer.find('listening') or not self.peer.alive(), 20,
                            'the aioquic server\'s listening line')
            need(self.peer.find('listening'), 'the aioquic server did not start')
            port = self.peer.find('listening')[0]['port']
            self.s = self.g.ctx.connect('https://127.0.0.1:%d%s' % (port, url_path), self.g.handler,
                                        protocols=gowt_protocols)
            if expect_accept:
                self.loop.until(lambda: self.g.find('CONNECT_ACCEPTED') or self.g.find('CONNECT_REFUSED'),
                                20, 'gowt\'s CONNECT_ACCEPTED')
                need(self.g.find('CONNECT_ACCEPTED'), 'gowt client session refused: %s' % self.g.find(
                    'CONNECT_REFUSED'))
                self.loop.until(lambda: self.peer.find('session'), 5, 'the aioquic server\'s session')

    def until(self, cond, timeout, what):
        self.loop.until(cond, timeout, what)


# ---------------------------------------------------------------------------
# Checks

def check_connect_accept(env, role):
    """CONNECT accepted; sub-protocol chosen from the client's offer."""
    offer, supported = ['x-unknown', 'proto-b'], ['proto-a', 'proto-b']
    if role == 'gowt_server':
        ses = Session(env, role, gowt_protocols=supported, peer_protocols=offer)
        resp = ses.peer.find('response')[0]
        need(resp['status'] == 200, 'aioquic client saw status %s' % resp['status'])
        if has('response_headers'):
            need(resp['protocol'] == 'proto-b', 'aioquic client saw WT-Protocol %r, want "proto-b"' % resp['protocol'])
        req = ses.g.find('CONNECT')[0]['request']
        need(req['protocols'] == offer, 'gowt server saw offered %s, want %s' % (req['protocols'], offer))
        need(req['protocol'] == peer_token(), 'gowt saw :protocol %r, want %r' % (req['protocol'], peer_token()))
        settings = resp['settings']
        # (Without the response headers at the peer, gowt's own choice is
        # what is left to check: its accepted protocol, as the client saw none.)
    else:
        ses = Session(env, role, gowt_protocols=offer, peer_protocols=supported)
        acc = ses.g.find('CONNECT_ACCEPTED')[0]
        need(acc['protocol'] == 'proto-b', 'gowt client got protocol %r, want "proto-b"' % acc['protocol'])
        con = ses.peer.find('connect')[0]
        need(con['offered'] == offer, 'aioquic server saw offered %s, want %s' % (con['offered'], offer))
        # The server announced only draft-02's ENABLE_WEBTRANSPORT: gowt's
        # CONNECT says draft-02's "webtransport" (wtransport's server refuses
        # "webtransport-h3").
        need(con['protocol'] == peer_token(), 'aioquic server saw :protocol %r, want %r'
             % (con['protocol'], peer_token()))
        settings = con['settings']
    if not has('settings'):
        fc = ses.g.ctx.session_info(ses.s)['flow_control']
        need(fc == peer_fc(), 'gowt session_info.flow_control = %s, want %s (the peer\'s dialect)' % (fc, peer_fc()))
        if peer_fc():
            pf = ses.peer.find('session')[0].get('flow_control')
            need(pf is True, 'the peer says flow control negotiated = %s' % pf)
        return 'chose proto-b from %s' % offer
    # gowt's SETTINGS as aioquic received them: the dialects gowt offers.
    need(settings and settings.get('0x33') == 1 and settings.get('0x2b603742') == 1,
         'gowt SETTINGS seen by aioquic lack H3_DATAGRAM / ENABLE_WEBTRANSPORT: %s' % settings)
    info('gowt SETTINGS seen by aioquic: %s' % settings)
    # aioquic's dialect: draft-02's ENABLE_WEBTRANSPORT, no WebTransport flow
    # control, so gowt runs the session without it.
    sent = ses.peer.find('session')[0]['sent_settings']
    info('aioquic SETTINGS: %s' % sent)
    need(sent.get('0x2b603742') == 1 and '0x2b61' not in sent, 'aioquic sent SETTINGS %s' % sent)
    fc = ses.g.ctx.session_info(ses.s)['flow_control']
    need(fc == 0, 'gowt session_info.flow_control = %s with a peer that has no WebTransport flow control' % fc)
    return 'chose proto-b from %s' % offer


def check_connect_h3_protocol(env, role):
    """aioquic's client with the newer :protocol "webtransport-h3" (its
    default here is draft-02's "webtransport"): gowt accepts both."""
    ses = Session(env, role, h3_protocol='webtransport-h3')
    need(ses.g.find('CONNECT')[0]['request']['protocol'] == 'webtransport-h3',
         'gowt saw :protocol %r' % ses.g.find('CONNECT')[0]['request']['protocol'])
    return None


def check_connect_no_offer(env, role):
    """No sub-protocol offered: accepted, none chosen, no WT-Protocol."""
    if role == 'gowt_server':
        ses = Session(env, role, gowt_protocols=['proto-a'])
        resp = ses.peer.find('response')[0]
        need(not has('response_headers') or resp['protocol'] is None and 'wt-protocol' not in resp['headers'],
             'aioquic client saw a WT-Protocol: %s' % resp['headers'])
        need(ses.g.find('CONNECT')[0]['request']['protocols'] == [], 'gowt saw an offer')
    else:
        ses = Session(env, role, peer_protocols=['proto-a'])
        need(ses.g.find('CONNECT_ACCEPTED')[0]['protocol'] is None, 'gowt client got a protocol')
        need(ses.peer.find('connect')[0]['offered'] == [], 'aioquic server saw an offer')
    return None


def check_connect_unoffered_gowt_client(env):
    """The peer's server chooses a sub-protocol gowt's client did not offer:
    gowt refuses the session (CONNECT_REFUSED, code 0, the reason naming it;
    never CONNECT_ACCEPTED) and closes it with WT_ALPN_ERROR, which the
    peer's server receives."""
    ses = Session(env, 'gowt_client', gowt_protocols=['proto-a'], peer_protocols=['proto-a'],
                  expect_accept=False, peer_args=['--choose', 'proto-z'])
    ses.until(lambda: ses.g.find('CONNECT_REFUSED') or ses.g.find('CONNECT_ACCEPTED'), 20,
              'gowt\'s CONNECT_REFUSED')
    need(not ses.g.find('CONNECT_ACCEPTED'), 'gowt client accepted un-offered protocol %r'
         % (ses.g.find('CONNECT_ACCEPTED') or [{}])[0].get('protocol'))
    ref = ses.g.find('CONNECT_REFUSED')[0]
    need(ref['code'] == 0 and 'proto-z' in ref['reason'], 'gowt refused with code %s, reason %r'
         % (ref['code'], ref['reason']))
    if not has('close_capsule'):  # the peer's API shows no close capsule
        ses.until(lambda: ses.peer.find('session_closed') or ses.peer.find('conn_closed'), 10,
                  'the peer\'s session closing')
        return 'refused proto-z (the peer saw the session close)'
    ses.until(lambda: ses.peer.find('close_capsule'), 10, 'the peer\'s close capsule')
    cap = ses.peer.find('close_capsule')[0]
    need(cap['code'] == 0x0817b3dd, 'the peer saw close code %s, want WT_ALPN_ERROR 0x0817b3dd' % cap['code'])
    return 'refused proto-z, closed with WT_ALPN_ERROR'


def check_connect_unanswered_gowt_client(env):
    """The peer's server takes the CONNECT and never answers: gowt's client
    gives up after connect_response_timeout_ms (keep-alives keep the
    connection up meanwhile), reports CONNECT_REFUSED code 0, and resets the
    CONNECT stream with H3_REQUEST_CANCELLED (0x10c), which the peer sees."""
    t0 = time.monotonic()
    ses = Session(env, 'gowt_client', query='answer=none', expect_accept=False,
                  gowt_cfg=dict(connect_response_timeout_ms=700, keep_alive_ms=200))
    ses.until(lambda: ses.g.find('CONNECT_REFUSED') or ses.g.find('CONNECT_ACCEPTED'), 20,
              'gowt\'s CONNECT_REFUSED')
    waited = time.monotonic() - t0
    need(not ses.g.find('CONNECT_ACCEPTED'), 'gowt client accepted an unanswered CONNECT')
    ref = ses.g.find('CONNECT_REFUSED')[0]
    need(ref['code'] == 0 and 'no CONNECT response within 700ms' in ref['reason'],
         'gowt refused with code %s, reason %r' % (ref['code'], ref['reason']))
    need(waited >= 0.7, 'refused after %.2f s, before the 0.7 s timeout' % waited)
    con = ses.peer.find('connect')
    need(con and con[0]['answer'] is None, 'the peer answered the CONNECT: %s' % con)
    if not has('connect_reset'):  # the peer's API does not show the request's reset
        return 'refused after %.2f s' % waited
    ses.until(lambda: ses.peer.find('connect_stream_reset') or ses.peer.find('conn_closed'), 10,
              'the peer seeing the CONNECT stream reset')
    rst = ses.peer.find('connect_stream_reset')
    need(rst and rst[0]['wire'] == 0x10c, 'the peer saw %s, want a reset with H3_REQUEST_CANCELLED 0x10c'
         % (rst or ses.peer.find('conn_closed')))
    return 'refused after %.2f s; the peer saw the reset 0x10c' % waited


def check_connect_refused(env, role):
    """CONNECT refused with 404 and 429: the client sees the status."""
    seen = []
    for status in (404, 429):
        if role == 'gowt_server':
            ses = Session(env, role, refuse=status, expect_accept=False)
            ses.until(lambda: ses.peer.find('response') or ses.peer.find('conn_closed'), 20,
                      'the aioquic client\'s response')
            resp = ses.peer.find('response')
            if has('response_status'):
                need(resp and resp[0]['status'] == status, 'aioquic client saw %s, want %d' % (resp, status))
            else:  # the peer's API says "rejected", without the status
                need(resp and resp[0].get('rejected'), 'aioquic client saw %s, want a refusal' % resp)
                info('the refusal as the peer saw it: %s' % resp[0])
            ses.until(lambda: ses.g.find('DEREGISTER'), 5, 'gowt DEREGISTER of the refused session')
            need(not ses.g.find('CLOSE'), 'gowt gave CLOSE for a refused session')
        else:
            ses = Session(env, role, query='status=%d' % status, expect_accept=False)
            ses.until(lambda: ses.g.find('CONNECT_REFUSED') or ses.g.find('CONNECT_ACCEPTED'), 20,
                      'gowt\'s CONNECT_REFUSED')
            ref = ses.g.find('CONNECT_REFUSED')
            need(ref and ref[0]['code'] == status, 'gowt client: %s, want CONNECT_REFUSED %d' % (
                ref or ses.g.find('CONNECT_ACCEPTED'), status))
        seen.append(status)
    return 'statuses %s' % seen


def big_transfer(env, role, bidi):
    """Each side opens a stream and sends BIG bytes + FIN; on bidi streams
    the receiver answers with BIG bytes of its own + FIN."""
    ses = Session(env, role)
    g, p, s = ses.g, ses.peer, ses.s
    seeds = {'g_open': 11, 'p_open': 22, 'g_answer': 33, 'p_answer': 44}
    sha = {k: W.pattern_sha256(v, BIG) for k, v in seeds.items()}

    def gowt_answers(ev):
        if ev.bidi:
            g.send(ev.session, ev.stream_id, W.pattern(seeds['g_answer'], BIG), fin=True)
    g.on_stream_opened = gowt_answers

    gs = g.ctx.open_stream(s, bidi=bidi)
    t0 = time.monotonic()
    g.send(s, gs, W.pattern(seeds['g_open'], BIG), fin=True)
    p.cmd(cmd='open', bidi=bidi, tag='p')
    ses.until(lambda: p.find('opened', tag='p'), 10, 'the peer\'s stream')
    ps = p.find('opened', tag='p')[0]['stream']
    p.cmd(cmd='send', stream=ps, bytes=BIG, seed=seeds['p_open'], fin=True)
    if bidi:
        ses.until(lambda: p.find('stream_opened', stream=gs), 20, 'the peer to see gowt\'s stream')
        p.cmd(cmd='send', stream=gs, bytes=BIG, seed=seeds['p_answer'], fin=True)

    def peer_fin(stream):
        return p.find('fin', stream=stream)

    def done():
        ok = peer_fin(gs) and g.find('POST_FIN', stream=ps)
        if bidi:
            ok = ok and g.find('POST_FIN', stream=gs) and peer_fin(ps)
        return ok
    ses.until(done, 90, 'all transfers (%s)' % ('bidi' if bidi else 'uni'))
    dt = time.monotonic() - t0
    pf = peer_fin(gs)[0]
    need(pf['bytes'] == BIG and pf['sha256'] == sha['g_open'],
         'aioquic got %d bytes sha %s on gowt\'s stream' % (pf['bytes'], pf['sha256'][:16]))
    gf = g.find('POST_FIN', stream=ps)[0]
    need(gf['bytes'] == BIG and gf['sha256'] == sha['p_open'],
         'gowt got %d bytes sha %s on aioquic\'s stream' % (gf['bytes'], gf['sha256'][:16]))
    if bidi:
        gf = g.find('POST_FIN', stream=gs)[0]
        need(gf['bytes'] == BIG and gf['sha256'] == sha['p_answer'],
             'gowt got %d bytes on its own bidi stream' % gf['bytes'])
        pf = peer_fin(ps)[0]
        need(pf['bytes'] == BIG and pf['sha256'] == sha['g_answer'],
             'aioquic got %d bytes on its own bidi stream' % pf['bytes'])
    n = 4 if bidi else 2
    return '%d x %d MB, SHA-256 checked, in %.1f s' % (n, BIG // 1000000, dt)


def check_streams_bidi(env, role):
    return big_transfer(env, role, True)


def check_streams_uni(env, role):
    return big_transfer(env, role, False)


def check_reset_stop(env, role):
    """RESET_STREAM and STOP_SENDING with codes 0, 1, 255, 2^32-1, both ways,
    on uni and bidi streams; wire codes checked on the aioquic side."""
    ses = Session(env, role)
    g, p, s = ses.g, ses.peer, ses.s
    bad = []
    n = 0
    for bidi in (False, True):
        for code in W.APP_CODES:
            wire = W.code_to_wire(code)
            # 1. gowt resets a stream it opened.
            a = g.ctx.open_stream(s, bidi=bidi)
            g.ctx.send(s, a, b'before reset')
            ses.until(lambda: p.find('stream_opened', stream=a), 10, 'stream %d at the peer' % a)
            g.ctx.reset(s, a, code)
            # 2. aioquic resets a stream it opened.
            tag = 'r%d%d' % (bidi, code)
            p.cmd(cmd='open', bidi=bidi, tag=tag)
            ses.until(lambda: p.find('opened', tag=tag), 10, 'peer stream')
            b = p.find('opened', tag=tag)[0]['stream']
            p.cmd(cmd='send', stream=b, hex=b'before reset'.hex(), fin=False)
            ses.until(lambda: g.find('STREAM_OPENED', stream=b) or g.find('POST_FIN', stream=b), 10,
                      'stream %d at gowt' % b)
            p.cmd(cmd='reset', stream=b, code=code)
            # 3. gowt sends STOP_SENDING on a stream aioquic opened.
            tag2 = 's%d%d' % (bidi, code)
            p.cmd(cmd='open', bidi=bidi, tag=tag2)
            ses.until(lambda: p.find('opened', tag=tag2), 10, 'peer stream')
            c = p.find('opened', tag=tag2)[0]['stream']
            p.cmd(cmd='send', stream=c, hex=b'before stop'.hex(), fin=False)
            ses.until(lambda: g.find('STREAM_OPENED', stream=c), 10, 'stream %d at gowt' % c)
            g.ctx.stop_sending(s, c, code)
            # 4. aioquic sends STOP_SENDING on a stream gowt opened.
            d = g.ctx.open_stream(s, bidi=bidi)
            g.ctx.send(s, d, b'before stop')
            ses.until(lambda: p.find('stream_opened', stream=d), 10, 'stream %d at the peer' % d)
            p.cmd(cmd='stop', stream=d, code=code)

            def seen():
                return (p.find('reset', stream=a) and g.find('RESET', stream=b) and p.find('stop_sending', stream=c)
                        and g.find('STOP_SENDING', stream=d)
                        # quic-go answers STOP_SENDING with a reset of the same code
                        # (aioquic does too, on c, but gowt reads no more of c)
                        and (p.find('reset', stream=d) or not has('reset_after_stop')))
            ses.until(seen, 10, 'resets and STOP_SENDINGs with code %d (%s)' % (code, 'bidi' if bidi else 'uni'))
            kind = 'bidi' if bidi else 'uni'
            r = p.find('reset', stream=a)[0]
            if r['wire'] != wire:
                bad.append('%s gowt reset %d: aioquic saw wire %#x, want %#x' % (kind, code, r['wire'], wire))
            r = g.find('RESET', stream=b)[0]
            if r['code'] != code:
                bad.append('%s aioquic reset %d: gowt saw %d' % (kind, code, r['code']))
            r = p.find('stop_sending', stream=c)[0]
            if r['wire'] != wire:
                bad.append('%s gowt STOP_SENDING %d: aioquic saw wire %#x, want %#x' % (kind, code, r['wire'], wire))
            r = g.find('STOP_SENDING', stream=d)[0]
            if r['code'] != code:
                bad.append('%s aioquic STOP_SENDING %d: gowt saw %d' % (kind, code, r['code']))
            r = p.find('reset', stream=d)[0] if has('reset_after_stop') else {'wire': wire}
            if r['wire'] != wire:
                bad.append('%s quic-go\'s automatic reset after STOP_SENDING %d: aioquic saw wire %#x, want %#x'
                           % (kind, code, r['wire'], wire))
            n += 5 if has('reset_after_stop') else 4
    need(not bad, '; '.join(bad))
    return '%d resets / STOP_SENDINGs, codes %s, uni and bidi' % (n, W.APP_CODES)


def check_datagrams(env, role):
    """Datagrams both ways, 1 byte up to each side's maximum size. aioquic
    sends 1452-byte packets here (its default is 1200; quic-go takes up to
    1452), so gowt receives datagrams larger than it could send itself."""
    ses = Session(env, role, peer_args=['--udp-payload', '1452'] if has('udp_payload') else [])
    g, p, s = ses.g, ses.peer, ses.s
    # quic-go's path MTU discovery raises the maximum while packets flow
    # (1242 -> 1403 bytes on loopback, in about a second; nothing happens on
    # an idle connection): send small datagrams until it holds still for 1 s.
    gmax, since, deadline = g.ctx.max_datagram_size(s), time.monotonic(), time.monotonic() + 8
    while time.monotonic() - since < 1.0 and time.monotonic() < deadline:
        g.ctx.send_datagram(s, b'warm-up')
        ses.loop.sleep(0.05)
        m = g.ctx.max_datagram_size(s)
        if m != gmax:
            gmax, since = m, time.monotonic()
    warm = len(g.find('POST_DATAGRAM')), len(p.find('datagram'))
    pmax = p.find('session')[0]['max_datagram']
    if pmax is None:  # the peer has no accessor: it finds its maximum itself, now
        p.cmd(cmd='max_datagram', tag='pmax')
        ses.until(lambda: p.find('max_datagram', tag='pmax'), 10, 'the peer\'s maximum datagram size')
        pmax = p.find('max_datagram', tag='pmax')[0]['size']
    # gowt -> aioquic
    sizes = sorted({1, 100, 1000, gmax - 1, gmax})
    want = {}
    for k, n in enumerate(sizes):
        data = W.pattern(100 + k, n)
        want[n] = hashlib.sha256(data).hexdigest()
    missing = dict(want)
    for attempt in range(3):
        for k, n in enumerate(sizes):
            if n in missing:
                g.ctx.send_datagram(s, W.pattern(100 + k, n))
        ses.loop.sleep(0.3)
        for e in p.find('datagram')[warm[1]:]:
            if missing.get(e['len']) == e['sha256']:
                del missing[e['len']]
        if not missing:
            break
    need(not missing, 'aioquic did not receive gowt\'s datagrams of %s bytes (gowt max %d)' % (sorted(missing), gmax))
    too_large = None
    need(g.ctx.max_datagram_size(s) == gmax, 'the maximum datagram size changed during the check')
    try:
        g.ctx.send_datagram(s, b'x' * (gmax + 1))
    except gowt.Error as e:
        too_large = e.code
    need(too_large == -5, 'gowt_send_datagram of max+1 = %d bytes returned %s, want GOWT_ERR_TOO_LARGE'
         % (gmax + 1, too_large))
    # aioquic -> gowt
    psizes = sorted({1, 100, 1000, pmax})
    pw = {n: hashlib.sha256(W.pattern(200 + k, n)).hexdigest() for k, n in enumerate(psizes)}
    pmiss = dict(pw)
    for attempt in range(3):
        for k, n in enumerate(psizes):
            if n in pmiss:
                p.cmd(cmd='datagram', size=n, seed=200 + k)
        ses.loop.sleep(0.3)
        for e in g.find('POST_DATAGRAM')[warm[0]:]:
            if pmiss.get(e['len']) == e['sha256']:
                del pmiss[e['len']]
        if not pmiss:
            break
    need(not pmiss, 'gowt did not receive aioquic\'s datagrams of %s bytes (aioquic max %d)' % (sorted(pmiss), pmax))
    info_ = g.ctx.session_info(s)
    return 'gowt -> aioquic %s bytes (gowt max %d, max+1 TOO_LARGE); aioquic -> gowt %s (aioquic max %d); ' \
           'gowt counted %d sent, %d received' % (sizes, gmax, psizes, pmax, info_['datagrams_sent'],
                                                  info_['datagrams_received'])


CLOSE_CASES = [(0, ''), (4242, 'closing \u2713 with a reason'), (2**32 - 1, 'r' * 1024)]


def check_close_by_gowt(env, role):
    """gowt closes (code, reason): aioquic reads the CLOSE_WEBTRANSPORT_SESSION
    capsule, then FIN; gowt's CLOSE event says local."""
    out = []
    for code, reason in CLOSE_CASES:
        ses = Session(env, role)
        g, p, s = ses.g, ses.peer, ses.s
        st = g.ctx.open_stream(s, bidi=True)
        g.ctx.send(s, st, b'in flight')
        # (Closed before the peer has seen the stream, the stream would be
        # lost whole: see check_reset_at_once.)
        ses.until(lambda: p.find('stream_opened', stream=st), 5, 'the peer to see the stream')
        g.ctx.close_session(s, code, reason)
        ses.until(lambda: p.find('close_capsule') and p.find('session_closed'), 10, 'the peer to see the close')
        c = p.find('close_capsule')[0]
        need(c['code'] == code and c['reason'] == reason,
             'aioquic saw close code %s reason %r, want %d %r' % (c['code'], c['reason'][:40], code, reason[:40]))
        ses.until(lambda: g.find('CLOSE') and g.find('DEREGISTER'), 10, 'gowt CLOSE + DEREGISTER')
        e = g.find('CLOSE')[0]
        need(e['flags'] & gowt.CLOSE_LOCAL and e['code'] == code and e['reason'] == reason,
             'gowt CLOSE event %s' % {k: e[k] for k in ('code', 'flags')})
        if not has('connect_fin'):
            # wtransport answers the capsule by closing the QUIC connection
            # (H3_NO_ERROR) at once: neither the FIN nor the reset of the
            # open stream can reach its application.
            out.append(code)
            continue
        ses.until(lambda: p.find('connect_fin') or p.find('conn_closed'), 10, 'FIN on the CONNECT stream')
        need(p.find('connect_fin') and p.find('connect_fin')[0]['leftover'] == 0,
             'aioquic saw no clean FIN after the capsule: %s' % (p.find('connect_fin') or p.find('conn_closed')))
        # The stream still open is reset with WT_SESSION_GONE, after the capsule.
        ses.until(lambda: p.find('reset', stream=st) or p.find('conn_closed'), 5, 'the reset of the open stream')
        order = [e['ev'] for e in p.find() if e['ev'] in ('close_capsule', 'reset')]
        r = p.find('reset', stream=st)
        need(r and r[0]['wire'] == W.WT_SESSION_GONE and order[0] == 'close_capsule',
             'the open stream: %s (events in order: %s), want a reset with WT_SESSION_GONE after the capsule'
             % (r, order))
        out.append(code)
    return 'codes %s' % out


def check_close_by_peer(env, role):
    """aioquic closes (code, reason): gowt's CLOSE event has them, remote."""
    out = []
    for code, reason in CLOSE_CASES:
        ses = Session(env, role)
        g, p = ses.g, ses.peer
        p.cmd(cmd='close', code=code, reason=reason)
        ses.until(lambda: g.find('CLOSE'), 10, 'gowt CLOSE')
        e = g.find('CLOSE')[0]
        if not has('close_capsule'):
            # The peer's only close is QUIC's CONNECTION_CLOSE with an
            # application code (wtransport's Connection::close): gowt reports
            # a connection failure whose text carries quic-go's
            # ApplicationError (code in hex, the reason).
            need(e['flags'] & gowt.CLOSE_ERROR and ('0x%x' % code) in e['reason'] and reason in e['reason'],
                 'gowt CLOSE code %s reason %r flags %#x, want CLOSE_ERROR with the application code %#x and %r'
                 % (e['code'], e['reason'][:80], e['flags'], code, reason[:40]))
            ses.until(lambda: g.find('DEREGISTER'), 10, 'gowt DEREGISTER')
            out.append(code)
            continue
        need(e['code'] == code and e['reason'] == reason and e['flags'] & gowt.CLOSE_REMOTE,
             'gowt CLOSE code %s reason %r flags %#x, want %d %r remote' % (
                 e['code'], e['reason'][:40], e['flags'], code, reason[:40]))
        if not has('connect_fin'):  # the end of the CONNECT stream is not in the peer's API
            ses.until(lambda: g.find('DEREGISTER'), 10, 'gowt DEREGISTER')
            out.append(code)
            continue
        ses.until(lambda: p.find('connect_fin') or p.find('conn_closed') or p.find('connect_stream_reset'), 10,
                  'gowt\'s answer on the CONNECT stream')
        need(p.find('connect_fin'), 'gowt did not answer the close with FIN: %s' % (
            p.find('conn_closed') or p.find('connect_stream_reset')))
        out.append(code)
    return 'codes %s' % out


def check_drain(env, role):
    """WT_DRAIN_SESSION both ways; the session stays usable after it."""
    ses = Session(env, role)
    g, p, s = ses.g, ses.peer, ses.s
    g.ctx.drain(s)
    if has('drain') or has('drain_recv'):
        ses.until(lambda: p.find('drain_capsule'), 10, 'the peer to see gowt\'s DRAIN')
    if has('drain'):
        p.cmd(cmd='drain')
        ses.until(lambda: g.find('DRAIN'), 10, 'gowt DRAIN event')
    # (A peer without DRAIN skips the capsule as an unknown one: the session
    # must go on.)
    st = g.ctx.open_stream(s, bidi=False)
    g.ctx.send(s, st, b'after drain', fin=True)
    ses.until(lambda: p.find('fin', stream=st), 10, 'a stream after the drain')
    need(p.find('fin', stream=st)[0]['bytes'] == len(b'after drain'), 'wrong bytes after drain')
    need(not g.find('CLOSE') and not p.find('session_closed'), 'the session ended after a drain')
    return None


def check_reset_at_once(env, role):
    """gowt.h (gowt_create_local_stream): "The stream header is sent at once
    and stays deliverable even if the stream is reset right away, so the
    peer always learns of the stream." Streams opened and reset at once
    (code 5), uni and bidi: the peer must learn of each (its header arrives)
    and see its reset with code 5. A gowt bug against peers without
    RESET_STREAM_AT, such as aioquic (see README.md)."""
    ses = Session(env, role)
    g, p, s = ses.g, ses.peer, ses.s
    ids = []
    for _ in range(5):
        for bidi in (False, True):
            st = g.ctx.open_stream(s, bidi=bidi)
            g.ctx.reset(s, st, 5)
            ids.append(st)
    try:
        ses.until(lambda: all(p.find('reset', stream=i) or p.find('reset_unknown_stream', stream=i) for i in ids),
                  10, 'the resets of %d streams' % len(ids))
    except CheckFailed:
        if has('reset_unknown'):
            raise
        # A peer that cannot report a reset of a stream it has not surfaced:
        # the streams it never saw are judged below.
    learned = [i for i in ids if p.find('stream_opened', stream=i)]
    unknown = [i for i in ids if p.find('reset_unknown_stream', stream=i)]
    codes = sorted({r['code'] for i in ids for r in p.find('reset', stream=i)})
    need(len(learned) == len(ids) and not unknown and codes == [5],
         'aioquic learned of %d of the %d streams gowt opened and reset at once; %d reached it only as a '
         'RESET_STREAM of a stream it had no header of (wire codes %s), so it cannot tell their session'
         % (len(learned), len(ids), len(unknown),
            sorted({hex(e['wire']) for e in p.find('reset_unknown_stream')})))
    return '%d streams learned of, reset with code 5' % len(ids)


# --- baton ------------------------------------------------------------------

LANE_RE = re.compile(r'^Lane (\d+), first baton: 0x([0-9a-f]{2}), last sent: 0x([0-9a-f]{2}), '
                     r'last received: 0x([0-9a-f]{2})$', re.M)


def run_prog(env, name, argv, timeout):
    info('run %s: %s' % (name, ' '.join(argv)))
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=_die_with_parent)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = None
    else:
        rc = p.returncode
    out, err = out.decode(errors='replace'), err.decode(errors='replace')
    env.log('%s: %s -> exit %s in %.2fs' % (name, ' '.join(argv), rc, time.monotonic() - t0),
            out + '\n--- stderr ---\n' + err)
    return rc, out, err


def judge_game(who, rc, out, count, baton, knows_protocol=True):
    need(rc == 0, '%s exited %s, want 0 (a won game)' % (who, rc))
    m = re.search(r'^Final baton state: (\d+)$', out, re.M)
    need(m and m.group(1) == '6', '%s: final state %s, want 6' % (who, m and m.group(1)))
    m = re.search(r'^Nb turns: (\d+)$', out, re.M)
    need(m and int(m.group(1)) > 0, '%s: no turns' % who)
    lanes = LANE_RE.findall(out)
    need(len(lanes) == count, '%s: %d lanes, want %d' % (who, len(lanes), count))
    for idx, first, sent, _ in lanes:
        need(sent in ('00', 'ff'), '%s: lane %s last sent 0x%s' % (who, idx, sent))
        need(int(first, 16) == baton, '%s: lane %s first 0x%s, want 0x%02x' % (who, idx, first, baton))
    m = re.search(r'^Sub-protocol: (\S+)$', out, re.M)
    need(m and m.group(1) == (W.BATON_PROTOCOL if knows_protocol else 'unknown'), '%s: sub-protocol %s, want %s' % (
        who, m and m.group(1), W.BATON_PROTOCOL))
    return int(re.search(r'^Nb turns: (\d+)$', out, re.M).group(1))


def start_server_proc(env, name, argv, pattern_):
    logf = open(os.path.join(env.workdir, name + '.out'), 'w+')
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                         preexec_fn=_die_with_parent)
    env.procs.append(p)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        logf.seek(0)
        m = re.search(pattern_, logf.read(), re.M)
        if m:
            return p, int(m.group(1)), logf
        if p.poll() is not None:
            break
        time.sleep(0.05)
    logf.seek(0)
    raise CheckFailed('%s did not start: %s' % (name, logf.read()[-500:]))


def server_log(env, name, logf):
    logf.seek(0)
    env.log(name, logf.read())


def first_baton(role, count):
    """The first baton of a game: 1, 250, 77 (count 1, 4, 16), so the last 0
    is sent by either side. A peer that cannot send CLOSE_WEBTRANSPORT_SESSION
    (wtransport: only QUIC's CONNECTION_CLOSE) cannot end a game cleanly, so
    against it the batons are chosen for gowt to receive the last 0 and close:
    odd ones when gowt is the server (it sends the odd values), even ones when
    it is the client."""
    if has('close_capsule'):
        return {1: 1, 4: 250, 16: 77}[count]
    if role == 'gowt_server':
        return {1: 1, 4: 251, 16: 77}[count]
    return {1: 200, 4: 250, 16: 78}[count]


def check_baton_gowt_server(env, count):
    """aioquic baton client (ours) against gowt_baton -p 0."""
    baton = first_baton('gowt_server', count)
    srv, port, logf = start_server_proc(env, 'gowt_baton_server',
                                        [os.path.join(env.build, 'gowt_baton'), '-p', '0', '-l', '-', '/baton'],
                                        r'^Listening on port (\d+)$')
    rc, out, _ = run_prog(env, PEER_NAME + '_baton_client',
                          PEER_CMD + ['baton-client', '-T', '25', '127.0.0.1', str(port),
                           '/baton?version=0&baton=%d&count=%d' % (baton, count)], 40)
    turns = judge_game(PEER_NAME + ' baton client', rc, out, count, baton, has('response_headers'))
    time.sleep(0.2)
    logf.seek(0)
    log = logf.read()
    need(re.search(r'accepted /baton\?\S+, baton %d, count %d, sub-protocol devious-baton-00' % (baton, count), log),
         'gowt_baton did not log the session with sub-protocol devious-baton-00')
    need(re.search(r'closed by (us|the peer), code 0x00 "Have a nice day", \d+ turns, %d/%d lanes done'
                   % (count, count), log), 'gowt_baton did not log a clean end of the game')
    srv.terminate()
    srv.wait(5)
    server_log(env, 'gowt_baton server', logf)
    need(srv.returncode == 0, 'gowt_baton server exited %s on SIGTERM' % srv.returncode)
    return '%d turns seen by the aioquic client' % turns


def check_baton_gowt_client(env, count, choose=None):
    """gowt_baton client against our aioquic baton server."""
    baton = first_baton('gowt_client', count)
    argv = PEER_CMD + ['baton-server'] + (['--choose', choose] if choose is not None else []) + ['/baton']
    srv, port, logf = start_server_proc(env, PEER_NAME + '_baton_server', argv, r'^Listening on port (\d+)$')
    glog = os.path.join(env.workdir, 'gowt_baton_client.log')
    rc, out, err = run_prog(env, 'gowt_baton_client',
                            [os.path.join(env.build, 'gowt_baton'), '-T', '25', '-l', glog, '127.0.0.1', str(port),
                             '/baton?version=0&baton=%d&count=%d' % (baton, count)], 40)
    if os.path.exists(glog):  # not when gowt_baton failed before opening it
        with open(glog, errors='replace') as f:
            env.log('gowt_baton client log', f.read())
    srv.terminate()
    srv.wait(5)
    server_log(env, PEER_NAME + ' baton server', logf)
    if choose is not None:
        need(rc not in (0, None), 'gowt_baton played although the server chose %r' % choose)
        need('chose sub-protocol "%s"' % choose in err, 'gowt_baton did not say why: %s' % err[-300:])
        need(re.search(r'^Sub-protocol: %s$' % re.escape(choose), out, re.M), 'no Sub-protocol line')
        return 'refused to play %s' % choose
    turns = judge_game('gowt_baton client', rc, out, count, baton)
    return '%d turns seen by gowt_baton' % turns


# name -> (function, args), for the peer PEER_NAME (see checks_for)
CHECKS = {}


def checks_for(peer):
    global PEER_NAME
    PEER_NAME = peer
    out = {}
    for role in ('gowt_server', 'gowt_client'):
        for name, fn in [('connect_accept', check_connect_accept), ('connect_no_offer', check_connect_no_offer),
                         ('connect_refused', check_connect_refused), ('streams_bidi', check_streams_bidi),
                         ('streams_uni', check_streams_uni), ('reset_stop', check_reset_stop),
                         ('datagrams', check_datagrams), ('close_by_gowt', check_close_by_gowt),
                         ('close_by_peer', check_close_by_peer), ('drain', check_drain)]:
            out['%s_%s' % (name, role)] = (fn, (role,))
    if has('choose_unoffered'):
        out['connect_unoffered_gowt_client'] = (check_connect_unoffered_gowt_client, ())
    if has('no_answer'):
        out['connect_unanswered_gowt_client'] = (check_connect_unanswered_gowt_client, ())
    if has('h3_protocol'):
        out['connect_h3_protocol_gowt_server'] = (check_connect_h3_protocol, ('gowt_server',))
    if has('baton'):
        for c in (1, 4, 16):
            out['baton_gowt_server_%d' % c] = (check_baton_gowt_server, (c,))
            out['baton_gowt_client_%d' % c] = (check_baton_gowt_client, (c,))
    for role in ('gowt_server', 'gowt_client'):
        out['reset_at_once_%s' % role] = (check_reset_at_once, (role,))
    if has('baton'):
        out['baton_gowt_client_wrong_protocol'] = (check_baton_gowt_client, (1, 'wrong-end-baton'))
    return out


def tail(text, n=80):
    lines = text.splitlines()
    if len(lines) > n:
        lines = ['... (%d lines before)' % (len(lines) - n)] + lines[-n:]
    return '\n'.join(lines)


def run_check(name, build, python, keep):
    fn, args = CHECKS[name]
    workdir = tempfile.mkdtemp(prefix='interop_%s_' % name)
    env = Env(build, python, workdir)
    t0 = time.monotonic()
    ok, why, note = True, '', ''
    try:
        note = fn(env, *args) or ''
    except CheckFailed as e:
        ok, why = False, str(e)
    except Exception as e:
        import traceback
        ok, why = False, 'exception: %r\n%s' % (e, traceback.format_exc())
    finally:
        env.teardown()
    dt = time.monotonic() - t0
    if ok:
        if PEER_NAME != 'aioquic':
            note = note.replace('aioquic', PEER_NAME)
        print('PASS %s (%.1fs%s)' % (name, dt, ', ' + note if note else ''))
    else:
        if PEER_NAME != 'aioquic':  # the messages name the first peer
            why = why.replace('aioquic', PEER_NAME)
        print('FAIL %s: %s (%.1fs)' % (name, why, dt))
        for title, text in env.logs:
            sys.stderr.write('----- %s\n%s\n' % (title, tail(text)))
    sys.stdout.flush()
    sys.stderr.flush()
    if keep or not ok:
        sys.stderr.write('logs kept in %s\n' % workdir)
    else:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    return ok


def missing_peer(names, why):
    """A peer that is not installed: a failure under CI=true (and always for
    aioquic, as before), a skip (exit 77, CTest SKIP_RETURN_CODE) otherwise."""
    if os.environ.get('CI') == 'true' or PEER_NAME == 'aioquic':
        print('FAIL %s: %s' % (' '.join(names), why))
        return 1
    print('SKIP %s: %s' % (' '.join(names), why))
    return 77


def main():
    global VERBOSE, gowt, CHECKS, PEER_CMD
    ap = argparse.ArgumentParser(description='gowt interop checks against a peer on another stack')
    ap.add_argument('--build', help='build directory (libgowt.so, gowt_baton)')
    ap.add_argument('--peer', default='aioquic', choices=sorted(PEERS), help='the peer (default aioquic)')
    ap.add_argument('--peer-python', help='Python with aioquic (default BUILD/interop-venv/bin/python3) or with '
                    'pywebtransport (default BUILD/interop-venv-pywebtransport/bin/python3)')
    ap.add_argument('--peer-exe', help='wtransport: the peer program (default '
                    'BUILD/interop-wtransport/release/wtransport-peer, built by scripts/deps.sh)')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--keep-logs', action='store_true')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('checks', nargs='*')
    a = ap.parse_args()
    CHECKS = checks_for(a.peer)
    if a.list:
        skip = PEERS[a.peer].get('not_in_ctest', set())
        print('\n'.join(n for n in CHECKS if n not in skip))
        return 0
    VERBOSE = a.verbose
    if not a.build or not a.checks:
        ap.error('--build and at least one CHECK (or "all") are required')
    build = os.path.abspath(a.build)
    names = list(CHECKS) if a.checks == ['all'] else a.checks
    bad = [n for n in names if n not in CHECKS]
    if bad:
        ap.error('unknown check(s) for %s: %s (see --list)' % (a.peer, ', '.join(bad)))
    python = a.peer_python or os.path.join(build, 'interop-venv', 'bin', 'python3')
    if a.peer == 'aioquic':
        probe = subprocess.run([python, '-c', 'import aioquic; print(aioquic.__version__)'],
                               capture_output=True, text=True) if os.path.exists(python) else None
        if probe is None or probe.returncode != 0:
            return missing_peer(names, 'no aioquic for %s: run scripts/deps.sh (it makes %s/interop-venv)' % (
                python, build))
        ver = probe.stdout.strip()
        if tuple(int(x) for x in re.findall(r'\d+', ver)[:2]) < (1, 7):
            print('FAIL %s: aioquic %s is older than 1.7' % (' '.join(names), ver))
            return 1
        info('aioquic %s (%s)' % (ver, python))
        PEER_CMD = [python, PEER]
    elif a.peer == 'wtransport':
        exe = a.peer_exe or os.path.join(build, 'interop-wtransport', 'release', 'wtransport-peer')
        if not os.access(exe, os.X_OK):
            return missing_peer(names, 'no wtransport peer %s: run scripts/deps.sh (cargo builds it)' % exe)
        PEER_CMD = [exe]
    elif a.peer == 'pywebtransport':
        python = a.peer_python or os.path.join(build, 'interop-venv-pywebtransport', 'bin', 'python3')
        probe = subprocess.run([python, '-c', 'import pywebtransport; print(pywebtransport.__version__)'],
                               capture_output=True, text=True) if os.path.exists(python) else None
        if probe is None or probe.returncode != 0:
            return missing_peer(names, 'no pywebtransport for %s: run scripts/deps.sh (it makes %s/'
                                'interop-venv-pywebtransport, with a Python >= 3.12)' % (python, build))
        ver = probe.stdout.strip()
        if tuple(int(x) for x in re.findall(r'\d+', ver)[:2]) < (0, 21):
            print('FAIL %s: pywebtransport %s is older than 0.21' % (' '.join(names), ver))
            return 1
        info('pywebtransport %s (%s)' % (ver, python))
        PEER_CMD = [python, os.path.join(HERE, 'pywebtransport', 'peer.py')]
    os.environ.setdefault('GOWT_LIB', os.path.join(build, 'libgowt.so'))
    import gowt as _g
    gowt = _g
    failed = [n for n in names if not run_check(n, build, python, a.keep_logs)]
    if len(names) > 1:
        print('%d passed, %d failed (%.1fs)%s' % (len(names) - len(failed), len(failed), time.monotonic() - START,
                                               ': ' + ' '.join(failed) if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
