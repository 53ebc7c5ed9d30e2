"""The C ABI of libtelepathine through ctypes: loading, the ABI check, the
prototype of every ``tp_`` function, statuses turned into exceptions.

Everything that crosses into C goes through this module, or through the
extension module of set() (``_speedups``), bound here. The contract is
``cgo/telepathine.h``; what this module relies on from it:

- ``ctypes.CDLL`` releases the GIL around every call, which the header asks
  of hosts with a global lock (blocking calls: ask, poll, close).
- Inputs are borrowed for the call: Python ``bytes`` are passed as
  (pointer, length) without a copy (``c_char_p`` points into the object).
- Outputs are ``tp_buf``\\ s filled by the library: each is copied into
  Python ``bytes`` and released with ``tp_buf_free`` in a ``finally``.
- A negative status comes with a message in ``err``; it becomes the
  ``TelepathineError`` subclass of that status (``errors.error_for``).

The library is the one bundled in the package (``_lib/libtelepathine.so``,
built by the package's build step), or the file named by the environment
variable ``TELEPATHINE_LIB``.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from ctypes import POINTER, byref, c_char_p, c_int, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from typing import Any

from .errors import AbiMismatchError, ForkError, TelepathineError, error_for

# The ABI this package is written against: a library 1.n with n >= 2 fits
# (1.1 added the cluster keyring, 1.2 flat event batches).
ABI_MAJOR = 1
ABI_MINOR = 2

# Statuses (cgo/telepathine.h).
OK = 0
NOT_FOUND = 1
TIMEOUT = 2
ERR_CLOSED = -4

# Encodings (TP_ENCODING_*).
ENCODING_RAW = 0
ENCODING_TEXT = 1
ENCODING_JSON = 2

# tp_engine_say flags.
SAY_BUFFERED = 1


class Buf(ctypes.Structure):
    """tp_buf: bytes allocated by the library."""

    _fields_ = [("data", c_void_p), ("len", c_size_t)]


BufP = POINTER(Buf)
EVENT_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_size_t)
FINALIZER_FN = ctypes.CFUNCTYPE(None, c_void_p)


def _library_path() -> str:
    env = os.environ.get("TELEPATHINE_LIB")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib", "libtelepathine.so")


def _load() -> ctypes.CDLL:
    path = _library_path()
    if not os.path.exists(path):
        raise ImportError(
            f"telepathine: the shared library {path} is missing. Install the package with pip "
            "(its build compiles the library with Go), or set TELEPATHINE_LIB to a built "
            "libtelepathine.so (`make lib` builds build/libtelepathine.so)."
        )
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"telepathine: cannot load {path}: {e}") from e


LIB_PATH = _library_path()
lib = _load()

# ------------------------------------------------------------- prototypes
# Every tp_ function of the header, including the callback API that this
# package does not use (events come through poll streams instead, so no Go
# thread ever calls into Python): declared so that the symbol set is whole
# and checked at load.

_PROTOS: dict[str, tuple[Any, list[Any]]] = {
    "tp_abi_version": (c_uint32, []),
    "tp_status_name": (c_char_p, [c_int]),
    "tp_buf_free": (None, [BufP]),
    "tp_engine_new": (c_int, [c_char_p, c_size_t, POINTER(c_uint64), BufP]),
    "tp_engine_start": (c_int, [c_uint64, BufP]),
    "tp_engine_stop": (c_int, [c_uint64, BufP]),
    "tp_engine_close": (c_int, [c_uint64, BufP]),
    "tp_engine_info": (c_int, [c_uint64, BufP, BufP]),
    "tp_engine_stats": (c_int, [c_uint64, BufP, BufP]),
    "tp_engine_set": (c_int, [c_uint64, c_char_p, c_size_t, c_char_p, c_size_t, c_int, c_int64, BufP]),
    "tp_engine_get": (c_int, [c_uint64, c_char_p, c_size_t, BufP, BufP]),
    "tp_engine_get_remote": (c_int, [c_uint64, c_char_p, c_size_t, c_char_p, c_size_t, BufP, BufP]),
    "tp_engine_get_remote_keys": (c_int, [c_uint64, c_char_p, c_size_t, BufP, BufP]),
    "tp_engine_delete": (c_int, [c_uint64, c_char_p, c_size_t, POINTER(c_int), BufP]),
    "tp_engine_all_peers": (c_int, [c_uint64, BufP, BufP]),
    "tp_engine_live_peers": (c_int, [c_uint64, BufP, BufP]),
    "tp_engine_dead_peers": (c_int, [c_uint64, BufP, BufP]),
    "tp_engine_say": (c_int, [c_uint64, c_char_p, c_size_t, c_char_p, c_size_t, c_int, c_int64, c_uint32, BufP]),
    "tp_engine_ask": (c_int, [c_uint64, c_char_p, c_size_t, c_char_p, c_size_t, c_int, c_int64, BufP, BufP]),
    "tp_engine_reply": (c_int, [c_uint64, c_uint64, c_char_p, c_size_t, c_int, BufP]),
    "tp_engine_subscribe": (
        c_int,
        [c_uint64, c_char_p, c_size_t, EVENT_FN, c_void_p, FINALIZER_FN, POINTER(c_uint64), BufP],
    ),
    "tp_subscription_close": (c_int, [c_uint64, BufP]),
    "tp_events_open": (c_int, [c_uint64, c_char_p, c_size_t, c_uint32, POINTER(c_uint64), BufP]),
    "tp_events_poll": (c_int, [c_uint64, c_int64, BufP, BufP]),
    "tp_events_close": (c_int, [c_uint64, BufP]),
    # The cluster keyring (ABI 1.1).
    "tp_engine_install_key": (c_int, [c_uint64, c_char_p, c_size_t, BufP]),
    "tp_engine_use_key": (c_int, [c_uint64, c_char_p, c_size_t, BufP]),
    "tp_engine_remove_key": (c_int, [c_uint64, c_char_p, c_size_t, BufP]),
    "tp_engine_keys": (c_int, [c_uint64, BufP, BufP]),
    "tp_engine_set_plaintext": (c_int, [c_uint64, c_int, c_int, BufP]),
    "tp_events_poll_many": (c_int, [c_uint64, c_int64, c_uint32, BufP, BufP]),
    # Flat event batches (ABI 1.2).
    "tp_events_poll_flat": (c_int, [c_uint64, c_int64, c_uint32, BufP, BufP]),
}

for _name, (_restype, _argtypes) in _PROTOS.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError as _e:
        raise ImportError(f"telepathine: {LIB_PATH} does not export {_name}: not a telepathine library?") from _e
    _fn.restype = _restype
    _fn.argtypes = _argtypes

ABI_VERSION: int = lib.tp_abi_version()
_major, _minor = ABI_VERSION >> 16, ABI_VERSION & 0xFFFF
if _major != ABI_MAJOR or _minor < ABI_MINOR:
    raise AbiMismatchError(
        f"telepathine: the library {LIB_PATH} has C ABI version {_major}.{_minor}, but this "
        f"package needs {ABI_MAJOR}.{ABI_MINOR} or a later {ABI_MAJOR}.x: install a package "
        "and library built together (pip install rebuilds both)"
    )

# Bound functions, looked up once (attribute access on a CDLL is not free).
buf_free = lib.tp_buf_free
status_name_fn = lib.tp_status_name
engine_new = lib.tp_engine_new
engine_start = lib.tp_engine_start
engine_stop = lib.tp_engine_stop
engine_close = lib.tp_engine_close
engine_info = lib.tp_engine_info
engine_stats = lib.tp_engine_stats
engine_set = lib.tp_engine_set
engine_get = lib.tp_engine_get
engine_get_remote = lib.tp_engine_get_remote
engine_get_remote_keys = lib.tp_engine_get_remote_keys
engine_delete = lib.tp_engine_delete
engine_all_peers = lib.tp_engine_all_peers
engine_live_peers = lib.tp_engine_live_peers
engine_dead_peers = lib.tp_engine_dead_peers
engine_say = lib.tp_engine_say
engine_ask = lib.tp_engine_ask
engine_reply = lib.tp_engine_reply
events_open = lib.tp_events_open
events_poll = lib.tp_events_poll
events_close = lib.tp_events_close
engine_install_key = lib.tp_engine_install_key
engine_use_key = lib.tp_engine_use_key
engine_remove_key = lib.tp_engine_remove_key
engine_keys = lib.tp_engine_keys
engine_set_plaintext = lib.tp_engine_set_plaintext
events_poll_many = lib.tp_events_poll_many
events_poll_flat = lib.tp_events_poll_flat

# set() is the hot call of the package, and ctypes' declared argument
# types cost more than the call itself: each integer argument converted
# through argtypes allocates a ctypes object (about 0.1 us quiet, 0.3-0.4 us
# on a loaded machine: 2 us of a set()'s 6 us measured here). So
# tp_engine_set is bound a second time, untyped: ctypes then passes ctypes
# instances as their C type and bytes as pointers without conversion, and
# Python ints as C int. Callers must pass exactly the header's types:
# c_uint64 handle (Peer keeps one), size_t lengths as c_size_t (SIZES
# below holds shared ones), encoding as a Python int (a C int),
# expiry as c_int64, and err as None or a pointer. It is also bound without
# releasing the GIL: tp_engine_set never blocks and never waits for
# anything a Python thread holds (no Go thread calls into Python in this
# package), and the release and re-acquisition cost a good part of a call.
_pylib = ctypes.PyDLL(LIB_PATH)
engine_set_untyped = _pylib.tp_engine_set
engine_set_untyped.restype = c_int

# Shared c_size_t instances for the lengths below SIZES_N (SIZES[n] is n):
# creating one per call would cost about as much as the conversion the
# untyped binding saves. Shared, so never to be modified; so is ZERO_I64.
SIZES_N = 4096
SIZES = tuple(ctypes.c_size_t(i) for i in range(SIZES_N))
ZERO_I64 = c_int64(0)

# The common case of set() (str key, bytes or str value, no expiry) in C:
# the extension module _speedups, built into the wheel when a C compiler
# and CPython's headers were there, calls tp_engine_set directly (0.2 us
# against 1.5 us through ctypes and the checks in Python, measured side by
# side). It is handed the address of the function in the library loaded
# above: it never loads a library of its own. None when absent (another
# Python implementation, a build without a compiler): set() then goes
# through the untyped binding above, with the same results. Setting
# TELEPATHINE_NO_SPEEDUPS=1 makes the package ignore it (to compare).
fast_set: Callable[[int, object, object], int | None] | None = None
if not os.environ.get("TELEPATHINE_NO_SPEEDUPS"):
    try:
        from . import _speedups
    except ImportError:
        pass
    else:
        _speedups.bind(ctypes.cast(_pylib.tp_engine_set, c_void_p).value or 0)
        fast_set = _speedups.set

# ------------------------------------------------------------------ fork
# A child of fork() (without exec) has the parent's memory but none of the
# Go runtime's threads: any call into the library would hang. After a fork
# every entry point raises ForkError instead, and finalizers do nothing.

forked = False


def _after_fork_in_child() -> None:
    global forked
    forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

FORK_MESSAGE = (
    "telepathine: this process is a child of fork() of a process that had loaded the library: "
    "calls would hang (the Go runtime's threads do not survive fork). Use multiprocessing "
    'with the "spawn" or "forkserver" start method, or import telepathine after forking.'
)


def check_fork() -> None:
    """Raises ForkError in a forked child."""
    if forked:
        raise ForkError(FORK_MESSAGE)


# -------------------------------------------------------------- statuses


def status_name(status: int) -> str:
    name: bytes = status_name_fn(status)
    return name.decode("ascii", "replace")


def take(buf: Buf) -> bytes:
    """Copies a filled tp_buf into bytes and frees it."""
    try:
        if not buf.data:
            return b""
        return ctypes.string_at(buf.data, buf.len)
    finally:
        buf_free(byref(buf))


def error(status: int, err: Buf) -> TelepathineError:
    """The exception for a negative status; frees the message."""
    message = take(err).decode("utf-8", "replace")
    return error_for(status, message, status_name(status))


def check(status: int, err: Buf) -> int:
    """Returns a non-negative status; raises the error of a negative one."""
    if status < 0:
        raise error(status, err)
    return status


def close_quietly(close: Any, handle: int) -> None:
    """Closes a handle from a finalizer: never raises, does nothing in a
    forked child (where it would hang)."""
    if forked or not handle:
        return
    try:
        close(handle, None)
    except Exception:  # pragma: no cover - finalizers must not raise
        pass


# ------------------------------------------------------------ call helpers


def call_out(fn: Any, *args: Any) -> bytes | None:
    """Calls fn(*args, out, err) with one output buffer: returns its bytes,
    or None on TP_NOT_FOUND / TP_TIMEOUT; raises on errors."""
    out = Buf()
    err = Buf()
    rc = fn(*args, byref(out), byref(err))
    if rc == OK:
        return take(out)
    if rc < 0:
        raise error(rc, err)
    return None


def call(fn: Any, *args: Any) -> int:
    """Calls fn(*args, err): returns the non-negative status."""
    err = Buf()
    rc: int = fn(*args, byref(err))
    if rc < 0:
        raise error(rc, err)
    return rc
