"""The C API of libgowt as ctypes declarations: the one place to extend.

Everything in include/gowt.h that Python reaches is declared here, in the
header's order: constants, sized structs (field for field; fields are only
ever appended there, and struct_size tells the library which ones we know),
the callback type, and the function signatures in ``SIGNATURES``. To follow
a newer header: append the new fields to the struct, the new constants, and
one line per new function to ``SIGNATURES``. A function missing from the
loaded library (an older one) is left out of ``lib`` instead of failing the
import; calling it raises AttributeError.

The library is loaded on first use (``lib.gowt_xxx``), found in this order:
$GOWT_LIBRARY (or $GOWT_LIB, its older name) naming the file; the copy
bundled into the installed package (``pip install`` puts one there); the
source tree's build directory (bindings/python/../../build); the system
(``ctypes.util.find_library("gowt")``, then ``libgowt.so.0``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_size_t,
                    c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)
from typing import Any, Dict, List, Optional, Tuple

# --- constants (gowt.h) -------------------------------------------------------

VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH = 0, 4, 0  # the header this mirrors
VERSION_NUMBER = VERSION_MAJOR * 10000 + VERSION_MINOR * 100 + VERSION_PATCH
NO_ID = 0xFFFFFFFFFFFFFFFF  # GOWT_NO_ID
STRUCT_SIZE_MAX = 4096  # GOWT_STRUCT_SIZE_MAX
RUNTIME_KEEP = -2  # GOWT_RUNTIME_KEEP: gowt_set_runtime leaves a setting as it is
CLOSE_LOCAL, CLOSE_REMOTE, CLOSE_ERROR = 0x1, 0x2, 0x4
STREAM_BIDI, STREAM_LOCAL = 0x10, 0x20
CODE_RAW = 0x40  # GOWT_CODE_RAW: ev.code is a wire code, not an application code
SEND_CANCELED = 0x80  # GOWT_SEND_CANCELED: SEND_COMPLETE for a buffer never sent
CLIENT_AUTH_NONE, CLIENT_AUTH_REQUEST, CLIENT_AUTH_REQUIRE = 0, 1, 2
LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 0, 1, 2, 3, 4
CONNECT_DEFER = 0x44454652  # GOWT_CONNECT_DEFER ("DEFR"; 1 refuses with 500)
DISPATCH_THREAD, DISPATCH_POLL = 0, 1

OK = 0
ERR_INVALID_ARG = -1
ERR_NOT_FOUND = -2
ERR_CLOSED = -3
ERR_WOULD_BLOCK = -4
ERR_TOO_LARGE = -5
ERR_BUSY = -6
ERR_TLS = -7
ERR_NETWORK = -8
ERR_PROTOCOL = -9
ERR_LIMIT = -10
ERR_STATE = -11
ERR_INTERNAL = -12
ERR_RANGE = -13
ERR_UNSUPPORTED = -14

# Event types (gowt_event_type); lowlevel.EventType is the enum of these.
EVENT_TYPES: Dict[str, int] = {
    "CONNECTING": 1, "CONNECT": 2, "CONNECT_ACCEPTED": 3, "CONNECT_REFUSED": 4,
    "POST_DATA": 5, "POST_FIN": 6, "PROVIDE_DATA": 7, "POST_DATAGRAM": 8,
    "PROVIDE_DATAGRAM": 9, "RESET": 10, "STOP_SENDING": 11, "CLOSE": 12,
    "DRAIN": 13, "DEREGISTER": 14, "FREE": 15, "STREAM_WRITABLE": 16,
    "DATAGRAM_WRITABLE": 17, "STREAM_OPENED": 18, "STREAMS_AVAILABLE": 19,
    "SEND_COMPLETE": 20,  # since 0.3.0 (gowt_stream_send_nocopy, not bound here)
}


# --- sized structs ------------------------------------------------------------

class Config(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("dispatch_mode", c_int),
        ("cert_file", c_char_p), ("key_file", c_char_p),
        ("cert_pem", c_char_p), ("key_pem", c_char_p),
        ("cert_hostnames", c_char_p),
        ("ca_file", c_char_p), ("pinned_cert_hashes", POINTER(c_uint8)),
        ("pinned_cert_hash_count", c_size_t), ("insecure_skip_verify", c_int),
        ("idle_timeout_ms", c_uint32), ("keep_alive_ms", c_uint32),
        ("handshake_timeout_ms", c_uint32),
        ("max_sessions", c_uint32), ("max_incoming_streams_bidi", c_uint32),
        ("max_incoming_streams_uni", c_uint32), ("max_incoming_data", c_uint64),
        ("stream_send_buffer", c_size_t), ("datagram_recv_queue", c_uint32),
        ("datagram_send_queue", c_uint32), ("event_queue_depth", c_uint32),
        ("qlog_dir", c_char_p), ("keylog_file", c_char_p),
        ("www_dir", c_char_p),
        # since 0.2.0
        ("connect_decision_timeout_ms", c_uint32), ("connect_response_timeout_ms", c_uint32),
        ("recv_buffer_bytes", c_uint64),
        ("stream_recv_window", c_uint64), ("max_stream_recv_window", c_uint64),
        ("conn_recv_window", c_uint64), ("max_conn_recv_window", c_uint64),
        ("client_cert_file", c_char_p), ("client_key_file", c_char_p),
        ("client_cert_pem", c_char_p), ("client_key_pem", c_char_p),
        ("client_ca_file", c_char_p), ("client_auth", c_int),
        ("disable_resumption", c_int),
        # append new gowt_config fields here
    ]


class ConnectRequest(Structure):
    _fields_ = [
        ("path", c_char_p), ("query", c_char_p), ("authority", c_char_p),
        ("origin", c_char_p), ("protocol", c_char_p),
        ("protocols", POINTER(c_char_p)), ("protocol_count", c_size_t),
        ("header_names", POINTER(c_char_p)),
        ("header_values", POINTER(c_char_p)), ("header_count", c_size_t),
        ("peer_addr", c_char_p), ("local_addr", c_char_p),
        ("peer_cert_sha256", POINTER(c_uint8)),
        # append new gowt_connect_request fields here (library-owned: read only)
    ]


class Event(Structure):
    _fields_ = [
        ("type", c_int), ("flags", c_int), ("session", c_uint64),
        ("session_id", c_uint64), ("stream_id", c_uint64),
        ("data", POINTER(c_uint8)), ("length", c_size_t), ("code", c_uint64),
        ("app_ctx", c_void_p), ("stream_ctx", c_void_p),
        ("request", POINTER(ConnectRequest)), ("protocol", c_char_p),
        ("token", c_uint64), ("peer_cert_sha256", POINTER(c_uint8)),
        ("send_ctx", c_void_p),  # since 0.3.0
        # append new gowt_event fields here (library-owned: read only)
    ]


class PathOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("allowed_origins", c_char_p),
                ("protocols", c_char_p)]


class ConnectOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("protocols", c_char_p),
        ("header_names", POINTER(c_char_p)),
        ("header_values", POINTER(c_char_p)), ("header_count", c_size_t),
        ("sni", c_char_p), ("authority", c_char_p), ("origin", c_char_p),
        ("new_connection", c_int),
    ]


class SessionInfo(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("session_id", c_uint64),
        ("max_datagram_size", c_size_t), ("datagrams_sent", c_uint64),
        ("datagrams_received", c_uint64), ("datagrams_dropped_send", c_uint64),
        ("datagrams_dropped_recv", c_uint64), ("bytes_sent", c_uint64),
        ("bytes_received", c_uint64), ("flow_control", c_int),
        ("shared_connection", c_int),
        # since 0.2.0: the session's QUIC connection
        ("rtt_smoothed_us", c_uint64), ("rtt_min_us", c_uint64),
        ("rtt_latest_us", c_uint64), ("rtt_variance_us", c_uint64),
        ("congestion_window", c_uint64),
        ("conn_bytes_sent", c_uint64), ("conn_packets_sent", c_uint64),
        ("conn_bytes_received", c_uint64), ("conn_packets_received", c_uint64),
        ("conn_bytes_lost", c_uint64), ("conn_packets_lost", c_uint64),
        ("conn_sessions", c_uint32), ("tls_resumed", c_int),
        ("peer_addr", ctypes.c_char * 64), ("local_addr", ctypes.c_char * 64),
        ("peer_cert_sha256", c_uint8 * 32), ("has_peer_cert", c_int),
        ("reserved1", c_uint32),
    ]


# gowt_session_cb: int (*)(gowt_ctx *, const gowt_event *, void *app_ctx)
CALLBACK = CFUNCTYPE(c_int, c_void_p, POINTER(Event), c_void_p)
# gowt_log_cb: void (*)(gowt_ctx *, int level, const char *component,
#                       const char *message, void *app)
LOG_CALLBACK = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_char_p, c_void_p)

_u8p = POINTER(c_uint8)

# name: (restype, argtypes), in gowt.h's order. Append new functions here.
SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "gowt_version": (c_char_p, []),
    "gowt_runtime_set_gc": (c_int, [ctypes.c_int64, c_int, POINTER(ctypes.c_int64), POINTER(c_int)]),
    "gowt_version_number": (c_int, []),
    "gowt_strerror": (c_char_p, [c_int]),
    "gowt_last_error": (c_int, [c_char_p, c_size_t]),
    "gowt_config_init_sized": (c_int, [POINTER(Config), c_size_t]),
    "gowt_ctx_create": (c_int, [POINTER(Config), POINTER(c_void_p)]),
    "gowt_ctx_destroy": (c_int, [c_void_p]),
    "gowt_ctx_last_error": (c_int, [c_void_p, c_char_p, c_size_t]),
    "gowt_ctx_get_fd": (c_int, [c_void_p, POINTER(c_int)]),
    "gowt_ctx_process_events": (c_int, [c_void_p, c_int]),
    "gowt_ctx_wait": (c_int, [c_void_p, c_int]),
    "gowt_ctx_cert_hash": (c_int, [c_void_p, _u8p]),
    "gowt_ctx_set_log": (c_int, [c_void_p, c_int, LOG_CALLBACK, c_void_p]),
    "gowt_server_listen": (c_int, [c_void_p, c_char_p, c_uint16, POINTER(c_uint16)]),
    "gowt_path_options_init_sized": (c_int, [POINTER(PathOptions), c_size_t]),
    "gowt_server_register": (c_int, [c_void_p, c_char_p, CALLBACK, c_void_p,
                                     POINTER(PathOptions)]),
    "gowt_server_unregister": (c_int, [c_void_p, c_char_p]),
    "gowt_connect_options_init_sized": (c_int, [POINTER(ConnectOptions), c_size_t]),
    "gowt_connect": (c_int, [c_void_p, c_char_p, POINTER(ConnectOptions),
                             CALLBACK, c_void_p, POINTER(c_uint64)]),
    "gowt_session_accept": (c_int, [c_void_p, c_uint64, c_char_p]),
    "gowt_session_refuse": (c_int, [c_void_p, c_uint64, c_int]),
    "gowt_session_close": (c_int, [c_void_p, c_uint64, c_uint32, c_char_p, c_size_t]),
    "gowt_session_drain": (c_int, [c_void_p, c_uint64]),
    "gowt_session_set_app_ctx": (c_int, [c_void_p, c_uint64, c_void_p]),
    "gowt_session_get_id": (c_int, [c_void_p, c_uint64, POINTER(c_uint64)]),
    "gowt_session_get_info": (c_int, [c_void_p, c_uint64, POINTER(SessionInfo)]),
    "gowt_create_local_stream": (c_int, [c_void_p, c_uint64, c_int, c_void_p,
                                         POINTER(c_uint64)]),
    "gowt_stream_send": (c_int, [c_void_p, c_uint64, c_uint64, c_char_p, c_size_t, c_int]),
    "gowt_stream_mark_active": (c_int, [c_void_p, c_uint64, c_uint64, c_int]),
    "gowt_provide_stream_data": (c_int, [c_void_p, POINTER(Event), c_size_t, c_int,
                                         c_int, POINTER(_u8p)]),
    "gowt_stream_reset": (c_int, [c_void_p, c_uint64, c_uint64, c_uint32]),
    "gowt_stream_stop_sending": (c_int, [c_void_p, c_uint64, c_uint64, c_uint32]),
    "gowt_stream_set_receive_enabled": (c_int, [c_void_p, c_uint64, c_uint64, c_int]),
    "gowt_stream_set_ctx": (c_int, [c_void_p, c_uint64, c_uint64, c_void_p]),
    "gowt_stream_set_priority": (c_int, [c_void_p, c_uint64, c_uint64, ctypes.c_int64,
                                         c_uint32]),
    "gowt_send_datagram": (c_int, [c_void_p, c_uint64, c_char_p, c_size_t]),
    "gowt_set_datagram_ready": (c_int, [c_void_p, c_uint64, c_int]),
    "gowt_provide_datagram": (c_int, [c_void_p, POINTER(Event), c_size_t, c_int,
                                      POINTER(_u8p)]),
    "gowt_max_datagram_size": (c_int, [c_void_p, c_uint64, POINTER(c_size_t)]),
    "gowt_event_name": (c_char_p, [c_int]),
}


# --- loading --------------------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))


def candidates() -> List[str]:
    """Where the library is looked for, in order (see the module docstring)."""
    out: List[str] = []
    for var in ("GOWT_LIBRARY", "GOWT_LIB"):
        if os.environ.get(var):
            out.append(os.environ[var])
            return out  # an explicit choice is never second-guessed
    out += sorted(glob.glob(os.path.join(_HERE, "_lib", "libgowt.so*")))[:1]
    tree = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "build", "libgowt.so"))
    if os.path.exists(tree):
        out.append(tree)
    found = ctypes.util.find_library("gowt")
    if found:
        out.append(found)
    out.append("libgowt.so.0")
    return out


class LibraryNotFound(OSError):
    """libgowt could not be loaded from any of the places looked at."""


class _Lib:
    """libgowt, loaded with its signatures on first attribute access."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cdll: Optional[ctypes.CDLL] = None
        self.path: Optional[str] = None

    def load(self) -> ctypes.CDLL:
        with self._lock:
            if self._cdll is not None:
                return self._cdll
            tried = []
            for path in candidates():
                try:
                    cdll = ctypes.CDLL(path)
                except OSError as e:
                    tried.append("%s (%s)" % (path, e))
                    continue
                for name, (res, args) in SIGNATURES.items():
                    fn = getattr(cdll, name, None)
                    if fn is not None:
                        fn.restype, fn.argtypes = res, args
                self._cdll, self.path = cdll, path
                return cdll
            raise LibraryNotFound("libgowt not found; set GOWT_LIBRARY to its path. Tried: "
                                  + "; ".join(tried))

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("gowt_"):
            raise AttributeError(name)
        cdll = self.load()
        if name not in SIGNATURES:
            raise AttributeError("%s is not declared in gowt._ffi.SIGNATURES" % name)
        fn = getattr(cdll, name)  # AttributeError: an older library without it
        setattr(self, name, fn)
        return fn


lib = _Lib()
