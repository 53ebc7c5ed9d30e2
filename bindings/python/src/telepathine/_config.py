"""Peer(**config) keyword arguments -> a serialized telepathine.api.v1.Config.

The keywords are the fields of the protobuf Config (already snake_case),
checked here in Python: an unknown keyword or a value of the wrong type is a
TypeError, a number out of its field's range a ValueError, before anything
crosses into C. The library then checks the configuration as a whole
(ConfigError). ``bind_addr``, ``seeds`` and ``cluster`` are not keywords:
Peer takes them as ``port``/``host``, ``seeds`` and ``cluster``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from google.protobuf.descriptor import FieldDescriptor

from .api.v1 import api_pb2


class ConfigOptions(TypedDict, total=False):
    """The keyword arguments of Peer: telepathine.api.v1.Config's fields.
    Zero or absent takes the preset's default (engine/config.go documents
    each). Durations are whole milliseconds (``*_ms``)."""

    preset: Literal["lan", "wan", "local"] | int
    name: str | None
    advertise_addr: str | None
    generation: int
    transport_mode: Literal["udp_preferred", "tcp_only"] | int
    mtu: int
    max_packet_size: int
    gossip_interval_ms: int
    fanout: int
    heartbeat_interval_ms: int
    delta_budget: int
    full_digest_every: int
    push_fanout: int
    push_queue_bytes: int
    phi_threshold: float
    phi_window: int
    phi_min_std_dev_ms: int
    phi_acceptable_pause_ms: int
    dead_grace_ms: int
    tombstone_grace_ms: int
    say_duration_ms: int
    max_key_size: int
    max_value_size: int
    max_event_name: int
    max_event_payload: int
    handler_queue: int
    max_peers: int
    seed: int
    quiet_fanout: int
    quiet_after_ms: int
    push_direct_max: int
    address_map: dict[str, str]
    keys: list[bytes]
    network_key: str | None
    accept_plaintext: bool
    send_plaintext: bool
    state_dir: str | None


# Fields Peer sets from its own arguments.
POSITIONAL_FIELDS = frozenset({"bind_addr", "seeds", "cluster"})

_FIELDS = api_pb2.Config.DESCRIPTOR.fields_by_name
_UNSIGNED_BITS = {FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_UINT64: 64}
# Enum fields: accepted as the lower-case name without the enum's prefix
# ("local" for PRESET_LOCAL) or as the number.
_ENUM_PREFIX = {"preset": "PRESET_", "transport_mode": "TRANSPORT_MODE_"}


def _enum_value(key: str, fd: FieldDescriptor, v: Any) -> int:
    et = fd.enum_type
    if isinstance(v, str):
        full = _ENUM_PREFIX.get(key, "") + v.upper()
        ev = et.values_by_name.get(full)
        if ev is None or ev.number == 0:
            names = sorted(
                n[len(_ENUM_PREFIX.get(key, "")) :].lower() for n, e in et.values_by_name.items() if e.number != 0
            )
            raise ValueError(f"{key} must be one of {names}, not {v!r}")
        return int(ev.number)
    if isinstance(v, int) and not isinstance(v, bool):
        if v not in et.values_by_number:
            raise ValueError(f"{key}: unknown value {v}")
        return v
    raise TypeError(f"{key} must be str, not {type(v).__name__}")


def build(cluster: str | None, bind_addr: str, seeds: list[str], options: dict[str, Any]) -> bytes:
    """Returns the serialized Config."""
    c = api_pb2.Config()
    if cluster is not None:
        c.cluster = cluster
    c.bind_addr = bind_addr
    c.seeds.extend(seeds)
    for key, v in options.items():
        fd = _FIELDS.get(key)
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
        elif fd.is_repeated and fd.type == FieldDescriptor.TYPE_BYTES:
            # keys: a list of cluster keys; the engine checks their length.
            if isinstance(v, (bytes, bytearray, memoryview, str)) or not isinstance(v, (list, tuple)):
                raise TypeError(f"{key} must be a list of bytes, not {type(v).__name__}")
            for x in v:
                if not isinstance(x, (bytes, bytearray, memoryview)):
                    raise TypeError(f"{key} must be a list of bytes, not a list holding {type(x).__name__}")
            getattr(c, key).extend(bytes(x) for x in v)
        elif fd.type == FieldDescriptor.TYPE_BOOL:
            if not isinstance(v, bool):
                raise TypeError(f"{key} must be bool, not {type(v).__name__}")
            setattr(c, key, v)
        elif fd.type == FieldDescriptor.TYPE_ENUM:
            setattr(c, key, _enum_value(key, fd, v))
        elif fd.type == FieldDescriptor.TYPE_STRING:
            if not isinstance(v, str):
                raise TypeError(f"{key} must be str, not {type(v).__name__}")
            setattr(c, key, v)
        elif fd.type == FieldDescriptor.TYPE_DOUBLE:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"{key} must be a number, not {type(v).__name__}")
            setattr(c, key, float(v))
        elif fd.type in _UNSIGNED_BITS:
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{key} must be int, not {type(v).__name__}")
            if not 0 <= v < 1 << _UNSIGNED_BITS[fd.type]:
                raise ValueError(f"{key} out of range: {v}")
            setattr(c, key, v)
        else:  # pragma: no cover - a field type added to the schema later
            raise TypeError(f"{key}: unsupported field type {fd.type}")
    return c.SerializeToString()
