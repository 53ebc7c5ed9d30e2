"""Telepathine for Python: a gossip engine's shared state and event bus.

Each peer publishes its own key/value state, every other peer holds a
replica kept in sync by gossip, a failure detector says which peers seem
alive, and a distributed event bus (say / hear / ask) rides on the same
packets. This package binds the engine's C library (libtelepathine.so,
written in Go) through ctypes; structured results cross as protobuf
messages of ``telepathine.api.v1``.

    from telepathine import Peer

    with Peer(0, preset="local") as a, Peer(0, [a.address], preset="local") as b:
        a.set("color", {"r": 255})
        # soon: b.get_remote(a.name, "color") == {"r": 255}

Threads. Every method may be called from any thread. Handlers (``hear``,
``hear_once``, ``know``, ``on``) run on threads the package owns, one per
subscription; never on a Go thread. asyncio code uses ``astart``,
``astop``, ``aask``, ``aclose``, ``async with`` and
``async for event in peer.events(pattern)``.

Errors. Library failures raise :class:`TelepathineError` subclasses; wrong
argument types raise :class:`TypeError` before any call into C; exceptions
raised by handlers are logged on the ``telepathine`` logger.

Fork safety. The library runs a Go runtime with threads of its own, which
``os.fork()`` does not copy: a child forked (without exec) after this
package was imported would hang in any call. Such calls raise
:class:`ForkError` instead, and finalizers do nothing in the child. Use
``multiprocessing`` with the "spawn" or "forkserver" start method
(``multiprocessing.set_start_method("spawn")``), or import telepathine only
in the processes that use it, after forking. fork+exec (subprocess) is fine.
One Go shared library per process: do not load another Go c-shared library
into the same process.
"""

from __future__ import annotations

from ._config import ConfigOptions
from ._native import ABI_VERSION, LIB_PATH
from .errors import (
    AbiMismatchError,
    AlreadyRunningError,
    ClosedError,
    ConfigError,
    ForkError,
    HandleError,
    InternalError,
    InvalidArgumentError,
    InvalidEventError,
    InvalidKeyError,
    KeyMaterialError,
    KeyNotInstalledError,
    NetworkError,
    NotRunningError,
    PrimaryKeyError,
    TelepathineError,
    UnknownAskError,
    ValueTooLargeError,
)
from .events import Event, EventKind, EventStream, Handler, Subscription
from .peer import Entry, Peer, PeerInfo

__version__ = "0.2.0"

#: The C ABI version of the loaded library, as (major, minor).
abi_version: tuple[int, int] = (ABI_VERSION >> 16, ABI_VERSION & 0xFFFF)

#: The path of the loaded shared library.
library_path: str = LIB_PATH

__all__ = [
    "AbiMismatchError",
    "AlreadyRunningError",
    "ClosedError",
    "ConfigError",
    "ConfigOptions",
    "Entry",
    "Event",
    "EventKind",
    "EventStream",
    "ForkError",
    "HandleError",
    "Handler",
    "InternalError",
    "InvalidArgumentError",
    "InvalidEventError",
    "InvalidKeyError",
    "KeyMaterialError",
    "KeyNotInstalledError",
    "NetworkError",
    "NotRunningError",
    "Peer",
    "PeerInfo",
    "PrimaryKeyError",
    "Subscription",
    "TelepathineError",
    "UnknownAskError",
    "ValueTooLargeError",
    "abi_version",
    "library_path",
]
