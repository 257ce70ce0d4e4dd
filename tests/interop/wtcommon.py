"""Shared by the interop runner (run.py) and the peers under tests/interop/:
WebTransport wire helpers and the test data pattern. Standard library only.
"""
import hashlib
import random

# WebTransport application error codes on the wire (draft-ietf-webtrans-http3
# section 4.4): a 32-bit code n is sent as FIRST + n + floor(n / 0x1e).
WT_APP_ERROR_FIRST = 0x52E4A40FA8DB
WT_APP_ERROR_LAST = 0x52E5AC983162
WT_SESSION_GONE = 0x170D7B68
WT_BUFFERED_STREAM_REJECTED = 0x3994BD84

CAPSULE_CLOSE_SESSION = 0x2843
CAPSULE_DRAIN_SESSION = 0x78AE

# Stream error codes every reset / STOP_SENDING check runs through.
APP_CODES = [0, 1, 255, 2**32 - 1]


def code_to_wire(n):
    assert 0 <= n < 2**32
    return WT_APP_ERROR_FIRST + n + n // 0x1E


def code_from_wire(h):
    """The application code of a wire code, or None when h is not one."""
    if h < WT_APP_ERROR_FIRST or h > WT_APP_ERROR_LAST or (h - 0x21) % 0x1F == 0:
        return None
    s = h - WT_APP_ERROR_FIRST
    return s - s // 0x1F


def varint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return (0x4000 | v).to_bytes(2, 'big')
    if v < 0x40000000:
        return (0x80000000 | v).to_bytes(4, 'big')
    return (0xC000000000000000 | v).to_bytes(8, 'big')


def read_varint(b, off):
    """(value, new offset), or (None, off) when b is too short."""
    if off >= len(b):
        return None, off
    n = 1 << (b[off] >> 6)
    if off + n > len(b):
        return None, off
    v = b[off] & 0x3F
    for i in range(1, n):
        v = v << 8 | b[off + i]
    return v, off + n


def capsule(typ, payload):
    return varint(typ) + varint(len(payload)) + payload


def close_capsule(code, reason):
    return capsule(CAPSULE_CLOSE_SESSION, code.to_bytes(4, 'big') + reason.encode('utf-8'))


def parse_capsules(buf):
    """Complete capsules at the start of buf: ([(type, payload)], rest)."""
    out = []
    off = 0
    while True:
        t, o = read_varint(buf, off)
        if t is None:
            break
        n, o = read_varint(buf, o)
        if n is None or o + n > len(buf):
            break
        out.append((t, bytes(buf[o:o + n])))
        off = o + n
    return out, buf[off:]


# ---------------------------------------------------------------------------
# Test data: a pseudo-random block whose length is not a power of two (so a
# misplaced chunk changes the hash), repeated.

_BLOCK = 1048583
_cache = {}


def pattern(seed, n):
    blk = _cache.get(seed)
    if blk is None:
        blk = _cache[seed] = random.Random(seed).randbytes(_BLOCK)
    reps = n // _BLOCK + 1
    return (blk * reps)[:n] if reps > 1 else blk[:n]


def pattern_sha256(seed, n):
    return hashlib.sha256(pattern(seed, n)).hexdigest()


# ---------------------------------------------------------------------------
# Devious baton messages (draft-frindell-webtrans-devious-baton-00)

BATON_PROTOCOL = 'devious-baton-00'


def baton_message(value, padding):
    return varint(padding) + bytes(padding) + bytes([value])


def baton_parse(b):
    """The value of a complete message; None for an empty stream; raises
    ValueError for a malformed one."""
    if not b:
        return None
    pad, off = read_varint(b, 0)
    if pad is None:
        raise ValueError('truncated padding length')
    if len(b) != off + pad + 1:
        raise ValueError('message of %d bytes with padding %d: %s' % (
            len(b), pad, 'FIN before the baton' if len(b) < off + pad + 1 else 'bytes after the baton'))
    return b[-1]
