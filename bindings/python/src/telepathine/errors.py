"""The exceptions of the telepathine package.

Every failure reported by the library is a :class:`TelepathineError`, with
one subclass per ``TP_ERR_*`` status of the C ABI (``cgo/telepathine.h``).
Subclasses that describe bad input also derive from :class:`ValueError`, and
those that describe the peer's state from :class:`RuntimeError`, so code
that catches the built-in families keeps working.

Arguments of the wrong *type* never reach the library: they raise
:class:`TypeError` in Python, before any call into C.
"""

from __future__ import annotations

__all__ = [
    "AbiMismatchError",
    "AlreadyRunningError",
    "ClosedError",
    "ConfigError",
    "ForkError",
    "HandleError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidEventError",
    "InvalidKeyError",
    "KeyMaterialError",
    "KeyNotInstalledError",
    "NetworkError",
    "NotRunningError",
    "PrimaryKeyError",
    "TelepathineError",
    "UnknownAskError",
    "ValueTooLargeError",
]


class TelepathineError(Exception):
    """Base class of every error reported by the telepathine library.

    ``status`` is the C ABI status (a negative ``TP_ERR_*`` number, 0 when
    the error was raised in Python) and ``status_name`` its name.
    """

    status: int = 0
    status_name: str = ""

    def __init__(self, message: str, status: int | None = None, status_name: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if status_name is not None:
            self.status_name = status_name


class InternalError(TelepathineError):
    """TP_ERR_INTERNAL: a bug in the library (please report it)."""

    status, status_name = -1, "TP_ERR_INTERNAL"


class InvalidArgumentError(TelepathineError, ValueError):
    """TP_ERR_INVALID_ARGUMENT: a value the library refuses (bytes that do not
    match their encoding, a pattern that is not UTF-8, a duration out of
    range...)."""

    status, status_name = -2, "TP_ERR_INVALID_ARGUMENT"


class HandleError(TelepathineError):
    """TP_ERR_HANDLE: a handle the library never issued (a bug in this
    package if it ever happens)."""

    status, status_name = -3, "TP_ERR_HANDLE"


class ClosedError(TelepathineError, RuntimeError):
    """TP_ERR_CLOSED: the peer, subscription or stream is closed."""

    status, status_name = -4, "TP_ERR_CLOSED"


class ConfigError(TelepathineError, ValueError):
    """TP_ERR_CONFIG: the configuration is invalid."""

    status, status_name = -5, "TP_ERR_CONFIG"


class InvalidKeyError(TelepathineError, ValueError):
    """TP_ERR_INVALID_KEY: a key that is empty, too long, or contains NUL or
    text that is not valid UTF-8 (lone surrogates)."""

    status, status_name = -6, "TP_ERR_INVALID_KEY"


class ValueTooLargeError(TelepathineError, ValueError):
    """TP_ERR_VALUE_TOO_LARGE: a value above ``max_value_size``, or say, ask
    or reply data above ``max_event_payload``."""

    status, status_name = -7, "TP_ERR_VALUE_TOO_LARGE"


class InvalidEventError(TelepathineError, ValueError):
    """TP_ERR_INVALID_EVENT: an event name that is empty, too long, or not
    valid UTF-8."""

    status, status_name = -8, "TP_ERR_INVALID_EVENT"


class NotRunningError(TelepathineError, RuntimeError):
    """TP_ERR_NOT_RUNNING: say, ask and reply need a started peer."""

    status, status_name = -9, "TP_ERR_NOT_RUNNING"


class AlreadyRunningError(TelepathineError, RuntimeError):
    """TP_ERR_RUNNING: start() on a peer already running."""

    status, status_name = -10, "TP_ERR_RUNNING"


class UnknownAskError(TelepathineError):
    """TP_ERR_UNKNOWN_ASK: a reply to an ask that is over, unknown here, or
    to an event that is not an ask."""

    status, status_name = -11, "TP_ERR_UNKNOWN_ASK"


class NetworkError(TelepathineError):
    """TP_ERR_IO: the network or the operating system failed (address in
    use...); the message says more."""

    status, status_name = -12, "TP_ERR_IO"


class KeyMaterialError(TelepathineError, ValueError):
    """TP_ERR_KEY_MATERIAL: a cluster key that is not 32 bytes (AES-256)."""

    status, status_name = -13, "TP_ERR_KEY_MATERIAL"


class PrimaryKeyError(TelepathineError, ValueError):
    """TP_ERR_PRIMARY_KEY: remove_key() of the primary key; make another key
    the primary first (use_key())."""

    status, status_name = -14, "TP_ERR_PRIMARY_KEY"


class KeyNotInstalledError(TelepathineError, LookupError):
    """TP_ERR_KEY_NOT_INSTALLED: use_key() or remove_key() of a cluster key
    that is not installed."""

    status, status_name = -15, "TP_ERR_KEY_NOT_INSTALLED"


class ForkError(TelepathineError, RuntimeError):
    """The library was used in a child of ``os.fork()`` (without exec) of a
    process that had already loaded it: such a child has the parent's
    memory but not the Go runtime's threads, and every call would hang.
    Use ``multiprocessing`` with the "spawn" or "forkserver" start method,
    or import telepathine only after forking."""


class AbiMismatchError(TelepathineError, ImportError):
    """The shared library's ABI version does not fit this package (raised at
    import)."""


_BY_STATUS: dict[int, type[TelepathineError]] = {
    cls.status: cls
    for cls in (
        InternalError,
        InvalidArgumentError,
        HandleError,
        ClosedError,
        ConfigError,
        InvalidKeyError,
        ValueTooLargeError,
        InvalidEventError,
        NotRunningError,
        AlreadyRunningError,
        UnknownAskError,
        NetworkError,
        KeyMaterialError,
        PrimaryKeyError,
        KeyNotInstalledError,
    )
}


def error_for(status: int, message: str, status_name: str) -> TelepathineError:
    """Returns the exception for a negative status of the C ABI. A status
    this package does not know (from a newer library) is a plain
    TelepathineError carrying its number and name."""
    cls = _BY_STATUS.get(status, TelepathineError)
    if not message:
        message = status_name
    return cls(message, status, status_name)
