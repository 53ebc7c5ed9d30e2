"""Peer(**config) keyword arguments -> a serialized telepathine.api.v1.Config.

The keywords are the fields of the protobuf Config (already snake_case), read
from its generated descriptor (``api_pb2.Config.DESCRIPTOR``): a field added
to schema/proto/telepathine/api/v1/api.proto is a keyword as soon as the code
is regenerated, with its type checked from the descriptor, and no list here
has to follow. They are checked in Python: an unknown keyword or a value of
the wrong type is a TypeError, a number out of its field's range a
ValueError, before anything crosses into C. The library then checks the
configuration as a whole (ConfigError). ``bind_addr``, ``seeds`` and
``cluster`` are not keywords: Peer takes them as ``port``/``host``, ``seeds``
and ``cluster``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from .api.v1 import api_pb2

#: The keyword arguments of Peer: any of telepathine.api.v1.Config's fields
#: (zero or absent takes the preset's default; engine/config.go documents
#: each; durations are whole milliseconds, ``*_ms``). Enum fields take the
#: value's lower-case name (``preset="local"``, ``transport_mode="tcp_only"``)
#: or its number; map fields (``address_map``) a dict of str to str.
ConfigOptions = dict[str, Any]

#: The message the keywords fill: its descriptor is the list of fields.
CONFIG_MESSAGE: type[Message] = api_pb2.Config

# Fields Peer sets from its own arguments.
POSITIONAL_FIELDS = frozenset({"bind_addr", "seeds", "cluster"})

_UNSIGNED_BITS = {FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_UINT64: 64}


def _enum_prefix(fd: FieldDescriptor) -> str:
    """The prefix of the enum's value names: PRESET_ for Preset (buf's
    ENUM_VALUE_PREFIX rule: the enum's name in UPPER_SNAKE_CASE)."""
    zero: str = fd.enum_type.values_by_number[0].name  # PRESET_UNSPECIFIED
    return zero[: -len("UNSPECIFIED")]


def _enum_value(key: str, fd: FieldDescriptor, v: Any) -> int:
    et = fd.enum_type
    prefix = _enum_prefix(fd)
    if isinstance(v, str):
        ev = et.values_by_name.get(prefix + v.upper())
        if ev is None or ev.number == 0:
            names = sorted(n[len(prefix) :].lower() for n, e in et.values_by_name.items() if e.number != 0)
            raise ValueError(f"{key} must be one of {names}, not {v!r}")
        return int(ev.number)
    if isinstance(v, int) and not isinstance(v, bool):
        if v not in et.values_by_number:
            raise ValueError(f"{key}: unknown value {v}")
        return v
    raise TypeError(f"{key} must be str, not {type(v).__name__}")


_TYPE_NAMES = {
    FieldDescriptor.TYPE_STRING: "str",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_DOUBLE: "a number",
    FieldDescriptor.TYPE_UINT32: "int",
    FieldDescriptor.TYPE_UINT64: "int",
}


def _scalar(key: str, fd: FieldDescriptor, v: Any, wrong: str) -> Any:
    """v checked against fd's type; wrong starts the TypeError's message."""
    t = fd.type
    if t == FieldDescriptor.TYPE_ENUM:
        return _enum_value(key, fd, v)
    if t == FieldDescriptor.TYPE_STRING and isinstance(v, str):
        return v
    if t == FieldDescriptor.TYPE_BYTES and isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if t == FieldDescriptor.TYPE_BOOL and isinstance(v, bool):
        return v
    if t == FieldDescriptor.TYPE_DOUBLE and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if t in _UNSIGNED_BITS and isinstance(v, int) and not isinstance(v, bool):
        if not 0 <= v < 1 << _UNSIGNED_BITS[t]:
            raise ValueError(f"{key} out of range: {v}")
        return v
    if t not in _TYPE_NAMES:  # pragma: no cover - a field type added to the schema later
        raise TypeError(f"{key}: unsupported field type {t}")
    raise TypeError(f"{wrong} {type(v).__name__}")


def build(cluster: str | None, bind_addr: str, seeds: list[str], options: dict[str, Any]) -> bytes:
    """Returns the serialized Config."""
    c: Any = CONFIG_MESSAGE()
    fields = CONFIG_MESSAGE.DESCRIPTOR.fields_by_name
    if cluster is not None:
        c.cluster = cluster
    c.bind_addr = bind_addr
    c.seeds.extend(seeds)
    for key, v in options.items():
        fd = fields.get(key)
        if fd is None or key in POSITIONAL_FIELDS:
            hint = " (use Peer's port=, host=, seeds= and cluster= arguments)" if key in POSITIONAL_FIELDS else ""
            raise TypeError(f"Peer() got an unexpected keyword argument {key!r}{hint}")
        if v is None:
            continue  # None: the default
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            # address_map: {"host:port seen": "host:port to use"}; the engine checks the format.
            if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
                raise TypeError(f"{key} must be a dict of str to str")
            getattr(c, key).update(v)
        elif fd.is_repeated:
            # seeds-like lists of str, keys (cluster keys as bytes): each
            # element checked as its field type says.
            what = _TYPE_NAMES.get(fd.type, "values")
            if isinstance(v, (str, bytes, bytearray, memoryview)) or not isinstance(v, (list, tuple)):
                raise TypeError(f"{key} must be a list of {what}, not {type(v).__name__}")
            getattr(c, key).extend(
                _scalar(key, fd, x, f"{key} must be a list of {what}, not a list holding") for x in v
            )
        else:
            setattr(c, key, _scalar(key, fd, v, f"{key} must be {_TYPE_NAMES.get(fd.type, 'a value')}, not"))
    out: bytes = c.SerializeToString()
    return out
