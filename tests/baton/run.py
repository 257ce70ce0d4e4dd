#!/usr/bin/env python3
"""Baton tests: gowt_baton (the C devious-baton client/server on libgowt)
against itself, against wtpeer (an independent peer on webtransport-go), and
against a wtpeer that breaks the rules.

Usage: tests/baton/run.py --build BUILD_DIR [--wtpeer PATH] [-v] CHECK...
       tests/baton/run.py --list
CHECK is a check name (see --list) or "all". Each check is one CTest test
(baton_<check>, tests/baton/CMakeLists.txt).

Needs BUILD_DIR/gowt_baton and the wtpeer binary (default BUILD_DIR/wtpeer;
go build -C cmd/wtpeer -o BUILD_DIR/wtpeer .). Everything listens on 127.0.0.1,
port 0. Every child process is bounded by a timeout and killed (by its own
pid) when a check ends, so nothing hangs.

Prints "PASS name" or "FAIL name: why" per check on stdout (details and, on
failure, the logs of both sides on stderr); exits 1 if a check failed.
Python 3 standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))

START = time.monotonic()
VERBOSE = False

GAME_TIMEOUT = 20        # seconds a game may take (C client -T, wtpeer -timeout)
MISBEHAVE_BOUND = 20     # seconds a misbehaviour check may take end to end
READY_TIMEOUT = 10       # seconds for a server to print its readiness line

MODES = ['wrong-value', 'trailing-bytes', 'early-fin', 'stop-sending', 'reset']
WANT_CLOSE = {'wrong-value': 2, 'trailing-bytes': 2, 'early-fin': 2,
              'stop-sending': 3, 'reset': 3}

LANE_RE = re.compile(r'^Lane (\d+), first baton: 0x([0-9a-f]{2}), last sent: 0x([0-9a-f]{2}), '
                     r'last received: 0x([0-9a-f]{2})$', re.M)


def info(msg):
    if VERBOSE:
        sys.stderr.write('[%6.2fs] %s\n' % (time.monotonic() - START, msg))
        sys.stderr.flush()


class CheckFailed(Exception):
    pass


def need(cond, why):
    if not cond:
        raise CheckFailed(why)


# ---------------------------------------------------------------------------
# Child processes
# ---------------------------------------------------------------------------

def _die_with_parent():
    """In the child: get SIGTERM when run.py dies (even by SIGKILL, e.g. a
    CTest timeout), so no server outlives its check. Linux only."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Proc:
    """A child process; a thread collects its stdout lines, stderr goes to a
    file. stdin is a pipe we keep open (wtpeer servers stop when it closes)."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.argv = argv
        self.lines = []
        self.cond = threading.Condition()
        self.stderr_path = os.path.join(workdir, name + '.stderr')
        self._stderr = open(self.stderr_path, 'wb')
        info('start %s: %s' % (name, ' '.join(argv)))
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self._stderr, preexec_fn=_die_with_parent)
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()

    def _reader(self):
        for raw in self.p.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, regex, timeout):
        """The first match of regex in a stdout line, or None."""
        r = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = r.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    return None
                self.cond.wait(min(left, 0.2))

    def wait(self, timeout):
        """Exit status, or None if still running after timeout."""
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.t.join(2)
        return rc

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after grace. Returns the exit status and
        whether it needed SIGKILL."""
        killed = False
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                killed = True
                self.p.kill()
                self.p.wait()
        try:
            self.p.stdin.close()
        except OSError:
            pass
        self.t.join(2)
        self._stderr.close()
        return self.p.returncode, killed

    def stdout(self):
        with self.cond:
            return '\n'.join(self.lines)

    def stderr(self):
        try:
            with open(self.stderr_path, 'r', encoding='utf-8', errors='replace') as f:
                return f.read()
        except OSError:
            return ''


def run(name, argv, workdir, timeout):
    """Run a program to completion (killed after timeout). Returns
    (rc or None on timeout, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    p = Proc(name, argv, workdir)
    rc = p.wait(timeout)
    if rc is None:
        p.stop(grace=1.0)
    else:
        p.stop()
    dt = time.monotonic() - t0
    info('%s exited %s after %.2fs' % (name, rc, dt))
    return rc, p.stdout(), p.stderr(), dt


def tail(text, n=60):
    lines = text.splitlines()
    if len(lines) > n:
        lines = ['... (%d lines before)' % (len(lines) - n)] + lines[-n:]
    return '\n'.join(lines)


# ---------------------------------------------------------------------------
# The check environment
# ---------------------------------------------------------------------------

class Env:
    def __init__(self, build, wtpeer, workdir):
        self.build = build
        self.baton = os.path.join(build, 'gowt_baton')
        self.wtpeer = wtpeer
        self.workdir = workdir
        self.procs = []       # servers to stop at the end
        self.logs = []        # (title, text) shown on failure

    def log(self, title, text):
        self.logs.append((title, text))

    # --- servers -----------------------------------------------------------

    def c_server(self, extra=None, path='/baton', name='c_server'):
        """Start gowt_baton as a server on port 0; returns (proc, port)."""
        logfile = os.path.join(self.workdir, name + '.log')
        argv = [self.baton, '-p', '0', '-l', logfile] + (extra or []) + [path]
        p = Proc(name, argv, self.workdir)
        p.logfile = logfile
        self.procs.append(p)
        m = p.wait_line(r'^Listening on port (\d+)$', READY_TIMEOUT)
        need(m is not None, '%s printed no "Listening on port N" within %ds (exit %s)'
             % (name, READY_TIMEOUT, p.p.poll()))
        return p, int(m.group(1))

    def wt_server(self, extra=None, name='wtpeer_server'):
        argv = [self.wtpeer, 'baton-server', '-addr', '127.0.0.1:0'] + (extra or [])
        p = Proc(name, argv, self.workdir)
        self.procs.append(p)
        m = p.wait_line(r'^LISTENING (\d+) ([0-9a-f]{64})$', READY_TIMEOUT)
        need(m is not None, '%s printed no LISTENING line within %ds (exit %s)'
             % (name, READY_TIMEOUT, p.p.poll()))
        return p, int(m.group(1))

    def stop_all(self):
        for p in self.procs:
            if not getattr(p, 'stopped', False):
                p.stop()
                p.stopped = True
            text = p.stdout()
            if getattr(p, 'logfile', None) and os.path.exists(p.logfile):
                with open(p.logfile, 'r', encoding='utf-8', errors='replace') as f:
                    text += '\n--- log file ---\n' + f.read()
            self.log('%s (%s) exit %s' % (p.name, ' '.join(p.argv), p.p.returncode),
                     text + '\n--- stderr ---\n' + p.stderr())

    def stop_c_server(self, p):
        """A C server ends on SIGTERM with status 0, promptly."""
        rc, killed = p.stop()
        p.stopped = True
        need(not killed, '%s did not exit within 5 s of SIGTERM' % p.name)
        need(rc == 0, '%s exited %s on SIGTERM, want 0' % (p.name, rc))

    # --- clients -------------------------------------------------------------

    def c_client(self, port, query, name='c_client', timeout_s=GAME_TIMEOUT, extra=None):
        argv = [self.baton, '-T', str(timeout_s)] + (extra or []) + \
               ['127.0.0.1', str(port), '/baton?' + query]
        rc, out, err, dt = run(name, argv, self.workdir, timeout_s + 10)
        self.log('%s: %s -> exit %s in %.2fs' % (name, ' '.join(argv), rc, dt),
                 out + '\n--- stderr ---\n' + err)
        need(rc is not None, '%s still running after %ds (killed)' % (name, timeout_s + 10))
        return rc, out, err, dt

    def wt_client(self, port, query, extra=None, name='wtpeer_client', timeout_s=GAME_TIMEOUT):
        argv = [self.wtpeer, 'baton-client', '-timeout', '%ds' % timeout_s] + (extra or []) + \
               ['-url', 'https://127.0.0.1:%d/baton?%s' % (port, query)]
        rc, out, err, dt = run(name, argv, self.workdir, timeout_s + 10)
        self.log('%s: %s -> exit %s in %.2fs' % (name, ' '.join(argv), rc, dt),
                 out + '\n--- stderr ---\n' + err)
        need(rc is not None, '%s still running after %ds (killed)' % (name, timeout_s + 10))
        return rc, out, err, dt


def json_events(text):
    evs = []
    for line in text.splitlines():
        if line.startswith('{'):
            try:
                evs.append(json.loads(line))
            except ValueError:
                pass
    return evs


def check_game_output(who, rc, out, count, baton=None):
    """A won game, judged from pico_baton's summary lines."""
    need(rc == 0, '%s exited %s, want 0 (a won game)' % (who, rc))
    m = re.search(r'^Final baton state: (\d+)$', out, re.M)
    need(m is not None, '%s printed no "Final baton state"' % who)
    need(m.group(1) == '6', '%s: Final baton state: %s, want 6' % (who, m.group(1)))
    m = re.search(r'^Nb turns: (\d+)$', out, re.M)
    need(m is not None and int(m.group(1)) > 0, '%s: no turns played' % who)
    turns = int(m.group(1))
    lanes = LANE_RE.findall(out)
    need(len(lanes) == count, '%s printed %d lane lines, want %d' % (who, len(lanes), count))
    firsts = set()
    for i, (idx, first, sent, _recv) in enumerate(lanes):
        need(int(idx) == i, '%s: lane lines out of order' % who)
        need(sent in ('00', 'ff'), '%s: lane %s last sent 0x%s, want 0x00 or 0xff' % (who, idx, sent))
        firsts.add(int(first, 16))
    if baton:
        need(firsts == {baton}, '%s: first batons %s, want 0x%02x' % (who, sorted(firsts), baton))
    else:
        need(len(firsts) == 1 and 1 <= min(firsts) <= 255,
             "%s: first batons %s, want one server-chosen value in 1..255" % (who, sorted(firsts)))
    # Each lane runs from its first value to 0: 256 - first turns in all
    # (counted on both sides), so one side sees about half of them.
    return turns


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def query(baton, count):
    q = 'version=0'
    if baton is not None:
        q += '&baton=%d' % baton
    return q + '&count=%d' % count


def check_c_c(env, baton, count):
    """C client against C server."""
    srv, port = env.c_server()
    rc, out, _err, dt = env.c_client(port, query(baton, count))
    check_game_output('C client', rc, out, count, baton or None)
    env.stop_c_server(srv)
    return '%.2fs' % dt


def check_bad_query(env, q):
    """The C server refuses a bad query with HTTP 400: the C client fails
    and says so, and wtpeer's client sees the 400 too."""
    srv, port = env.c_server()
    rc, out, err, _ = env.c_client(port, q)
    need(rc not in (0, None), 'C client exited %s on a refused session, want non-zero' % rc)
    need(re.search(r'refused \(HTTP 400\)', err) is not None,
         'C client did not report HTTP 400 (stderr: %r)' % err.strip()[-200:])
    argv = [env.wtpeer, 'client', '-timeout', '10s', '-scenario', 'refused', '-status', '400',
            '-url', 'https://127.0.0.1:%d/baton?%s' % (port, q)]
    wrc, wout, werr, _ = run('wtpeer_refused', argv, env.workdir, 20)
    env.log('wtpeer client refused: exit %s' % wrc, wout + '\n' + werr)
    need(wrc == 0, 'wtpeer client did not see status 400: %s' % (
        [e for e in json_events(wout) if 'result' in e or e.get('ev') in ('refused', 'accepted')]))
    env.stop_c_server(srv)


def check_c_server_wt_client(env, baton, count):
    srv, port = env.c_server()
    rc, out, _err, dt = env.wt_client(port, query(baton, count))
    check_game_output('wtpeer baton-client', rc, out, count, baton)
    need({'result': 'pass'} in json_events(out), 'wtpeer baton-client did not pass')
    env.stop_c_server(srv)
    return '%.2fs' % dt


def check_wt_server_c_client(env, baton, count):
    srv, port = env.wt_server()
    rc, out, _err, dt = env.c_client(port, query(baton, count))
    check_game_output('C client', rc, out, count, baton)
    # wtpeer judges the game from its side too.
    deadline = time.monotonic() + 5
    res = None
    while time.monotonic() < deadline:
        res = [e for e in json_events(srv.stdout()) if e.get('ev') == 'baton_result']
        if res:
            break
        time.sleep(0.05)
    need(res, 'wtpeer baton-server logged no baton_result')
    need(res[0].get('ok') is True, 'wtpeer baton-server judged the game failed: %s' % res[0])
    return '%.2fs' % dt


def verdict_of(out):
    v = [e for e in json_events(out) if e.get('ev') == 'misbehave_verdict']
    return v[0] if v else None


def describe_verdict(v):
    return 'close code %s %r, resets on the stream %s, all stream frames %s' % (
        v.get('close_code'), v.get('close_reason') or v.get('close_error'),
        v.get('target_resets'), v.get('stream_frames'))


def check_misbehaving_client(env, mode):
    """wtpeer baton-client breaks a rule against the C server."""
    t0 = time.monotonic()
    srv, port = env.c_server()
    rc, out, _err, _dt = env.wt_client(port, query(10, 1), extra=['-misbehave', mode],
                                       name='wtpeer_misbehaving_client', timeout_s=12)
    v = verdict_of(out)
    need(v is not None, 'wtpeer printed no verdict (exit %s)' % rc)
    need(rc == 0 and v.get('ok') is True,
         'the C server did not react as the draft says: %s; seen: %s' % (v.get('why'), describe_verdict(v)))
    need(v.get('close_code') == WANT_CLOSE[mode], 'verdict passed with close code %s' % v.get('close_code'))
    # The server survived it and still plays.
    rc2, out2, _e, _d = env.c_client(port, query(250, 1), name='c_client_after', timeout_s=10)
    check_game_output('C client after the misbehaving one', rc2, out2, 1, 250)
    env.stop_c_server(srv)
    dt = time.monotonic() - t0
    need(dt <= MISBEHAVE_BOUND, 'took %.1fs, bound %ds' % (dt, MISBEHAVE_BOUND))
    return describe_verdict(v)


def check_misbehaving_server(env, mode):
    """wtpeer baton-server breaks a rule against the C client."""
    t0 = time.monotonic()
    srv, port = env.wt_server(['-misbehave', mode, '-wait', '12s', '-timeout', '%ds' % MISBEHAVE_BOUND],
                              name='wtpeer_misbehaving_server')
    rc, out, err, _dt = env.c_client(port, query(10, 1), timeout_s=15)
    src = srv.wait(max(1.0, MISBEHAVE_BOUND + 2 - (time.monotonic() - t0)))
    need(src is not None, 'the misbehaving wtpeer server did not exit')
    v = verdict_of(srv.stdout())
    need(v is not None, 'the misbehaving wtpeer server printed no verdict (exit %s)' % src)
    need(src == 0 and v.get('ok') is True,
         'the C client did not react as the draft says: %s; seen: %s' % (v.get('why'), describe_verdict(v)))
    need(rc != 0, 'the C client exited 0 against a misbehaving server')
    m = re.search(r'^Final baton state: (\d+)$', out, re.M)
    need(m is not None, 'the C client printed no "Final baton state"')
    dt = time.monotonic() - t0
    need(dt <= MISBEHAVE_BOUND, 'took %.1fs, bound %ds' % (dt, MISBEHAVE_BOUND))
    return describe_verdict(v)


def make_cert(env):
    """A self-signed P-256 certificate for 127.0.0.1 and "test" (the SNI
    pico_baton uses for IP literals): openssl, else a tiny Go program."""
    cert = os.path.join(env.workdir, 'cert.pem')
    key = os.path.join(env.workdir, 'key.pem')
    openssl = shutil.which('openssl')
    if openssl:
        argv = [openssl, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=test',
                '-addext', 'subjectAltName=DNS:test,DNS:localhost,IP:127.0.0.1']
        rc, out, err, _ = run('openssl', argv, env.workdir, 30)
        if rc == 0 and os.path.exists(cert) and os.path.exists(key):
            return cert, key
        env.log('openssl failed (exit %s)' % rc, out + err)
    go = shutil.which('go')
    need(go is not None, 'neither openssl nor go can make a certificate')
    gen = os.path.join(env.workdir, 'gencert')
    os.makedirs(gen)
    with open(os.path.join(gen, 'main.go'), 'w') as f:
        f.write(GENCERT_GO)
    with open(os.path.join(gen, 'go.mod'), 'w') as f:
        f.write('module gencert\n\ngo 1.21\n')
    rc, out, err, _ = run_in([go, 'run', '.', cert, key], gen, 120)
    need(rc == 0, 'go run gencert failed: %s' % err.strip()[-300:])
    return cert, key


def run_in(argv, cwd, timeout):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out.decode(errors='replace'), err.decode(errors='replace'), time.monotonic() - t0
    return p.returncode, out.decode(errors='replace'), err.decode(errors='replace'), time.monotonic() - t0


GENCERT_GO = r'''package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"time"
)

func main() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"test", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	os.WriteFile(os.Args[1], pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(os.Args[2], pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}
'''


def check_pico_style(env):
    """The server started the way test harnesses start pico_baton:
    gowt_baton -p PORT -c CERT -k KEY -w DIR -l - -L /baton."""
    cert, key = make_cert(env)
    www = os.path.join(env.workdir, 'www')
    os.makedirs(www)
    with open(os.path.join(www, 'index.html'), 'w') as f:
        f.write('<!doctype html><title>baton</title>\n')
    argv = [env.baton, '-p', '0', '-c', cert, '-k', key, '-w', www, '-l', '-', '-L', '/baton']
    srv = Proc('c_server_pico_style', argv, env.workdir)
    env.procs.append(srv)
    m = srv.wait_line(r'^Listening on port (\d+)$', READY_TIMEOUT)
    need(m is not None, 'no "Listening on port N" line within %ds (exit %s)' % (READY_TIMEOUT, srv.p.poll()))
    port = int(m.group(1))
    need(srv.p.poll() is None, 'the server is not running after its readiness line')
    need(srv.wait_line(r'^Certificate SHA-256', 0) is None,
         'the server printed a generated certificate hash although -c/-k were given')
    rc, out, _err, dt = env.c_client(port, query(5, 2))
    check_game_output('C client', rc, out, 2, 5)
    # -l - logs to stdout, -L every event: the session shows up there.
    need(srv.wait_line(r'accepted /baton\?', 5) is not None, 'the server log (-l -) shows no accepted session')
    need(srv.wait_line(r'event CONNECT ', 5) is not None, 'the server log (-L) shows no CONNECT event')
    env.stop_c_server(srv)
    return '%.2fs' % dt


PROTOCOL_RE = re.compile(r'^Sub-protocol: (\S+)$', re.M)


def check_sub_protocol(env, offer, want):
    """Sub-protocol negotiation as pico_baton does it: the C client offers
    (by default) "wrong-end-baton, devious-baton-00"; the C server chooses
    devious-baton-00 when offered and otherwise still plays, choosing none.
    offer None: the client's default; "" offers nothing (-P "")."""
    srv, port = env.c_server()
    extra = [] if offer is None else ['-P', offer]
    rc, out, _err, dt = env.c_client(port, query(7, 2), extra=extra)
    check_game_output('C client', rc, out, 2, 7)
    m = PROTOCOL_RE.search(out)
    need(m is not None, 'the C client printed no "Sub-protocol: NAME" line')
    need(m.group(1) == want, 'the C client reports sub-protocol %r, want %r' % (m.group(1), want))
    n_offered = 2 if offer is None else len([x for x in offer.split(',') if x])
    env.stop_c_server(srv)
    with open(srv.logfile, 'r', encoding='utf-8', errors='replace') as f:
        log = f.read()
    pat = r'accepted /baton\?\S+, baton 7, count 2, sub-protocol %s \(offered: %d\)' % (
        re.escape(want), n_offered)
    need(re.search(pat, log) is not None,
         'the C server log has no "%s" line; its accepts: %s' % (
             pat, [l.strip() for l in log.splitlines() if 'accepted' in l]))
    return 'offered %s -> %s, %.2fs' % ('(default)' if offer is None else repr(offer), want, dt)


# name -> (function, args)
CHECKS = {}


def _add(name, fn, *args):
    CHECKS[name] = (fn, args)


for _b, _c, _n in [(1, 1, '1_1'), (5, 4, '5_4'), (None, 16, 'random_16'), (None, 256, 'random_256'),
                   (254, 1, '254_1'), (255, 4, '255_4'), (0, 1, 'server_random_1')]:
    _add('c_c_' + _n, check_c_c, _b, _c)
for _q, _n in [('version=1', 'version1'), ('count=0', 'count0'), ('count=257', 'count257'),
               ('baton=256', 'baton256')]:
    _add('bad_query_' + _n, check_bad_query, _q)
for _b, _c in [(1, 1), (250, 4), (None, 16)]:
    _add('c_server_wtpeer_client_%d' % _c, check_c_server_wt_client, _b, _c)
for _b, _c in [(1, 1), (250, 4), (None, 16)]:
    _add('wtpeer_server_c_client_%d' % _c, check_wt_server_c_client, _b, _c)
for _m in MODES:
    _add('misbehaving_client_' + _m.replace('-', '_'), check_misbehaving_client, _m)
for _m in MODES:
    _add('misbehaving_server_' + _m.replace('-', '_'), check_misbehaving_server, _m)
_add('pico_style_server', check_pico_style)
_add('sub_protocol_default_offer', check_sub_protocol, None, 'devious-baton-00')
_add('sub_protocol_only_ours', check_sub_protocol, 'devious-baton-00', 'devious-baton-00')
_add('sub_protocol_none_offered', check_sub_protocol, '', 'none')
_add('sub_protocol_unknown_offered', check_sub_protocol, 'good-end-baton,wrong-end-baton', 'none')


def run_check(name, build, wtpeer, keep):
    fn, args = CHECKS[name]
    workdir = tempfile.mkdtemp(prefix='baton_%s_' % name)
    env = Env(build, wtpeer, workdir)
    t0 = time.monotonic()
    ok, why, note = True, '', ''
    try:
        note = fn(env, *args) or ''
    except CheckFailed as e:
        ok, why = False, str(e)
    except Exception as e:  # a bug in this script is a failure too
        ok, why = False, 'exception: %r' % e
    finally:
        env.stop_all()
    dt = time.monotonic() - t0
    if ok:
        print('PASS %s (%.1fs%s)' % (name, dt, ', ' + note if note else ''))
    else:
        print('FAIL %s: %s (%.1fs)' % (name, why, dt))
        for title, text in env.logs:
            sys.stderr.write('----- %s\n%s\n' % (title, tail(text)))
    sys.stdout.flush()
    sys.stderr.flush()
    if keep or not ok:
        sys.stderr.write('logs kept in %s\n' % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return ok


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description='gowt_baton checks')
    ap.add_argument('--build', help='build directory with gowt_baton')
    ap.add_argument('--wtpeer', help='wtpeer binary (default BUILD/wtpeer)')
    ap.add_argument('--list', action='store_true', help='print the check names')
    ap.add_argument('--keep-logs', action='store_true')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('checks', nargs='*')
    a = ap.parse_args()
    if a.list:
        print('\n'.join(CHECKS))
        return 0
    VERBOSE = a.verbose
    if not a.build or not a.checks:
        ap.error('--build and at least one CHECK (or "all") are required')
    build = os.path.abspath(a.build)
    wtpeer = os.path.abspath(a.wtpeer or os.path.join(build, 'wtpeer'))
    names = list(CHECKS) if a.checks == ['all'] else a.checks
    bad = [n for n in names if n not in CHECKS]
    if bad:
        ap.error('unknown check(s): %s (see --list)' % ', '.join(bad))
    for path in (os.path.join(build, 'gowt_baton'), wtpeer):
        if not os.access(path, os.X_OK):
            print('FAIL %s: %s is missing (build it first)' % (' '.join(names), path))
            return 1
    failed = [n for n in names if not run_check(n, build, wtpeer, a.keep_logs)]
    if len(names) > 1:
        print('%d passed, %d failed (%.1fs)%s' % (len(names) - len(failed), len(failed),
                                               time.monotonic() - START,
                                               ': ' + ' '.join(failed) if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
