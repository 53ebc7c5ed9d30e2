"""Values keep their type: locally, across peers, through events and asks."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from helpers import Cluster, Collector, eventually

import telepathine
from telepathine import Peer

VALUES: dict[str, Any] = {
    "text": "héllo ✓ wörld",
    "empty-text": "",
    "bytes": b"\x00\x01\xfe\xff",
    "empty-bytes": b"",
    "bytearray": bytearray(b"ba"),
    "memoryview": memoryview(b"mv"),
    "dict": {"lang": "python", "n": [1, 2.5, True, None], "nested": {"k": "v"}, "ü": "ß"},
    "list": [1, "two", 3.0, False],
    "int": 42,
    "big-int": 2**70,
    "float": 1.25,
    "true": True,
    "none": None,
}


def expected(v: Any) -> Any:
    """What reading back returns: bytes for every bytes-like value."""
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return v


def test_local_round_trip_keeps_types(pair: tuple[Peer, Peer]) -> None:
    a, _ = pair
    for k, v in VALUES.items():
        a.set(k, v)
    for k, v in VALUES.items():
        got = a.get(k, default="<missing>")
        assert got == expected(v), k
        assert type(got) is type(expected(v)), k


def test_values_cross_peers_with_their_types(pair: tuple[Peer, Peer]) -> None:
    a, b = pair
    for k, v in VALUES.items():
        a.set(k, v)
    for k, v in VALUES.items():
        eventually(lambda: b.get_remote(a.name, k, "<missing>") != "<missing>", f"{k} on b")
        got = b.get_remote(a.name, k)
        assert got == expected(v), k
        assert type(got) is type(expected(v)), k
    assert b.get_remote_keys(a.name) == sorted(VALUES)


def test_tuples_become_lists_and_keys_strings(pair: tuple[Peer, Peer]) -> None:
    a, _ = pair
    a.set("t", (1, 2))
    a.set("d", {1: "one"})
    assert a.get("t") == [1, 2]
    assert a.get("d") == {"1": "one"}


def test_set_events_and_says_carry_typed_values(pair: tuple[Peer, Peer]) -> None:
    a, b = pair
    sets, says = Collector(), Collector()
    b.know("typed:*", sets)
    b.hear("typed", says)
    for k, v in VALUES.items():
        a.set("typed:" + k, v)
        a.say("typed", v)
    eventually(lambda: len(sets) == len(VALUES) and len(says) == len(VALUES), "every set and say")
    assert {e.key: e.value for e in sets.events} == {"typed:" + k: expected(v) for k, v in VALUES.items()}
    assert [e.data for e in says.events] == [expected(v) for v in VALUES.values()]


def test_ask_replies_keep_their_types(cluster: Cluster) -> None:
    a, b, c = cluster.start(3)
    b.hear("q", lambda e: {"from": "b", "got": e.data})
    c.hear("q", lambda e: b"\x00c")
    replies = a.ask("q", [1, "x"], timeout=5)
    assert replies == {b.name: {"from": "b", "got": [1, "x"]}, c.name: b"\x00c"}


def test_wrong_value_types_raise_type_error_before_c(pair: tuple[Peer, Peer]) -> None:
    a, _ = pair
    for bad in (object(), {1, 2}, 1j, Peer, {"k": object()}):
        with pytest.raises(TypeError, match="JSON-serialisable"):
            a.set("k", bad)
        with pytest.raises(TypeError):
            a.say("e", bad)
    for bad_json in (math.nan, [math.inf]):
        with pytest.raises(ValueError, match="JSON"):
            a.set("k", bad_json)
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ValueError):
        a.set("k", circular)
    assert a.keys() == []


def test_keys_must_be_str(pair: tuple[Peer, Peer]) -> None:
    a, _ = pair
    for bad in (b"k", 1, None, ["k"]):
        with pytest.raises(TypeError, match="key must be str"):
            a.set(bad, 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="key must be str"):
            a.get(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="key must be str"):
            a.delete(bad)  # type: ignore[arg-type]


def test_invalid_keys_are_refused_by_the_library(pair: tuple[Peer, Peer]) -> None:
    a, _ = pair
    for bad in ("", "a\x00b", "\ud800", "k" * 1025):
        with pytest.raises(telepathine.InvalidKeyError) as ei:
            a.set(bad, 1)
        assert ei.value.status == -6 and ei.value.status_name == "TP_ERR_INVALID_KEY"
        assert isinstance(ei.value, ValueError)
        assert "invalid key" in str(ei.value)  # the library's message (set() asks for it after a failure)
    a.set("k" * 1024, 1)
    with pytest.raises(telepathine.ValueTooLargeError, match="8388609 bytes"):
        a.set("big", b"x" * ((8 << 20) + 1))
    with pytest.raises(telepathine.InvalidArgumentError):
        a.set("bad-text", "\udcff")  # a lone surrogate is not UTF-8


def test_expires_at_forms(pair: tuple[Peer, Peer]) -> None:
    a, _ = pair
    in_an_hour = int(time.time() * 1000) + 3_600_000
    a.set("ms", 1, in_an_hour)
    assert (e := a.entry("ms")) is not None and e.expires_at == in_an_hour
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    a.set("dt", 1, expires_at=when)
    assert (e := a.entry("dt")) is not None and e.expires_at == round(when.timestamp() * 1000)
    a.set("ttl", 1, ttl=3600)
    assert (e := a.entry("ttl")) is not None and e.expires_at is not None
    assert abs(e.expires_at - in_an_hour) < 5000
    a.set("td", 1, ttl=timedelta(minutes=60))
    a.set("never", 1)
    assert (e := a.entry("never")) is not None and e.expires_at is None
    with pytest.raises(TypeError, match="expires_at"):
        a.set("k", 1, 1.5e12)  # floats are ambiguous: ms or s?
    with pytest.raises(TypeError, match="not both"):
        a.set("k", 1, in_an_hour, ttl=5)
    with pytest.raises(ValueError):
        a.set("k", 1, ttl=-1)
    with pytest.raises(ValueError):
        a.set("k", 1, -5)
    with pytest.raises(TypeError):
        a.set("k", 1, ttl="5")
