"""Values and times between Python and the engine.

A value crosses as bytes with an encoding tag, so it comes back as the type
that was set, on every peer and in every language:

=========================================  ========  =======================
set from Python                            encoding  read back in Python
=========================================  ========  =======================
``str``                                    TEXT      ``str``
``bytes``, ``bytearray``, ``memoryview``   RAW       ``bytes``
anything ``json.dumps`` accepts (dict,     JSON      ``json.loads`` of it
list, tuple, int, float, bool, None)
=========================================  ========  =======================

JSON follows ``json``'s rules: tuples come back as lists, dict keys as
strings; NaN and infinities are refused (they are not JSON).
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta
from typing import Any

from . import _native
from .api.v1 import api_pb2

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode(value: Any, what: str = "value") -> tuple[bytes, int]:
    """Returns (bytes, encoding) for a Python value; TypeError for a value
    that is neither bytes, str nor JSON-serialisable, ValueError for one
    that cannot be JSON (NaN, a circular reference)."""
    t = type(value)
    if t is str:
        return value.encode("utf-8", "surrogatepass"), _native.ENCODING_TEXT
    if t is bytes:
        return value, _native.ENCODING_RAW
    if isinstance(value, str):
        return str(value).encode("utf-8", "surrogatepass"), _native.ENCODING_TEXT
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), _native.ENCODING_RAW
    try:
        text = _encoder.encode(value)
    except TypeError as e:
        raise TypeError(
            f"{what} must be bytes, str or JSON-serialisable (dict, list, int, float, bool, None), "
            f"not {t.__name__}: {e}"
        ) from None
    except ValueError as e:
        raise ValueError(f"{what} cannot be encoded as JSON: {e}") from None
    return text.encode("utf-8", "surrogatepass"), _native.ENCODING_JSON


def decode(data: bytes, encoding: int) -> Any:
    """Returns the Python value of engine bytes: str, bytes or decoded JSON.
    An encoding this package does not know (a newer library) gives bytes."""
    if encoding == _native.ENCODING_TEXT:
        return data.decode("utf-8", "surrogateescape")
    if encoding == _native.ENCODING_JSON:
        return json.loads(data)
    return data


def decode_value(v: api_pb2.Value) -> Any:
    return decode(v.data, v.encoding)


def text(s: Any, what: str) -> bytes:
    """UTF-8 bytes of a str argument (key, name, pattern); TypeError for any
    other type. Lone surrogates pass through so the library, not Python,
    refuses them with its own status (InvalidKeyError...)."""
    if not isinstance(s, str):
        raise TypeError(f"{what} must be str, not {type(s).__name__}")
    return s.encode("utf-8", "surrogatepass")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def seconds(x: Any, what: str) -> float:
    """Seconds from an int, a float or a timedelta; must be positive."""
    if isinstance(x, timedelta):
        s = x.total_seconds()
    elif _is_int(x) or isinstance(x, float):
        s = float(x)
    else:
        raise TypeError(f"{what} must be seconds (int or float) or a timedelta, not {type(x).__name__}")
    if not s > 0 or math.isinf(s):
        raise ValueError(f"{what} must be positive and finite, not {x!r}")
    return s


def millis(x: Any, what: str) -> int:
    """Whole milliseconds (at least 1) of a positive duration in seconds."""
    return max(1, round(seconds(x, what) * 1000))


def expires_at_ms(expires_at: Any, ttl: Any) -> int:
    """The absolute expiry in Unix milliseconds (0: never) from either
    expires_at (Unix milliseconds as an int, as the reference library, or a
    datetime) or ttl (seconds from now, or a timedelta)."""
    if expires_at is not None and ttl is not None:
        raise TypeError("give expires_at or ttl, not both")
    if ttl is not None:
        return int(time.time() * 1000) + millis(ttl, "ttl")
    if expires_at is None:
        return 0
    if isinstance(expires_at, datetime):
        # A naive datetime is local time, as datetime.timestamp() says.
        ms = round(expires_at.timestamp() * 1000)
    elif _is_int(expires_at):
        ms = expires_at
    else:
        raise TypeError(
            "expires_at must be Unix milliseconds (int) or a datetime, not "
            f"{type(expires_at).__name__} (for seconds from now, use ttl=)"
        )
    if ms < 0 or ms >= 1 << 63:
        raise ValueError(f"expires_at out of range: {expires_at!r}")
    return ms


def optional_ms(ms: int) -> int | None:
    """None for the protobuf's 0 ("none")."""
    return ms or None
