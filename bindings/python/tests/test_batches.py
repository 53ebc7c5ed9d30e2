"""Events cross the C boundary in batches (tp_events_poll_flat): handlers,
get(), iteration and async for each see every event once and in order,
whatever the batch boundaries, and a batch is many events."""

from __future__ import annotations

import asyncio
import pickle
import struct
import threading

import pytest
from helpers import Collector, eventually

from telepathine import Event, EventKind, Peer, UnknownAskError, events


def _flood(a: Peer, name: str, n: int) -> None:
    for i in range(n):
        a.say(name, i, buffer=True)
    a.say(name, "end")


def test_handler_gets_batches_in_order_once(pair: tuple[Peer, Peer]) -> None:
    a, b = pair
    gate = threading.Event()
    got = Collector()

    def handler(e: Event) -> None:
        gate.wait(30)  # the first call holds the rest in the queue (1024)
        got(e)

    b.hear("flood", handler)
    with b.events("say:flood", queue=4096) as seen:
        _flood(a, "flood", 900)
        # The stream and the handler's queue get each event together: once
        # the stream has the end marker, the handler's queue has them all.
        for e in seen:
            if e.data == "end":
                break
    gate.set()
    eventually(lambda: len(got) == 901, "900 says and the end marker")
    assert [e.data for e in got.events] == [*range(900), "end"]


def test_get_and_iteration_across_batches(pair: tuple[Peer, Peer]) -> None:
    a, b = pair
    calls = 0
    real = events._take_many

    def counting(stream: int, cls: type[Event], timeout_ms: int) -> list[Event] | None:
        nonlocal calls
        calls += 1
        return real(stream, cls, timeout_ms)

    events._take_many = counting
    try:
        with b.events("say:it", queue=8192) as st:
            _flood(a, "it", 3000)
            got: list[object] = []
            for e in st:
                got.append(e.data)
                if e.data == "end":
                    break
            assert got == [*range(3000), "end"]
            assert calls < 3001 // 4, f"{calls} crossings for 3001 events: not batched"
            assert st.get(timeout=0) is None
    finally:
        events._take_many = real


def test_async_for_across_batches(pair: tuple[Peer, Peer]) -> None:
    a, b = pair
    st = b.events("say:as", queue=8192)
    _flood(a, "as", 1500)

    async def drain() -> list[object]:
        out: list[object] = []
        async for e in st:
            out.append(e.data)
            if e.data == "end":
                break
        return out

    assert asyncio.run(drain()) == [*range(1500), "end"]
    st.close()


def _flat(records: list[tuple[int, int, int, str, str, str, object, int, int]]) -> bytes:
    """A flat batch as cgo/telepathine.h lays it out, written here from the
    header's text: (kind, encoding, flags, name, peer, key, value,
    expires_at_ms, ask_id) per event, where value is a str for
    TP_FLAT_VALUE_STRING and bytes otherwise."""
    strs: list[str] = [""]
    index: dict[str, int] = {"": 0}
    data = b""

    def intern(s: str) -> int:
        if s not in index:
            index[s] = len(strs)
            strs.append(s)
        return index[s]

    cols: list[list[int]] = [[] for _ in range(10)]
    for kind, enc, flags, name, peer, key, value, exp, ask in records:
        if flags & 1:
            assert isinstance(value, str)
            strs.append(value)
            ref, n = len(strs) - 1, len(value.encode())
        else:
            assert isinstance(value, bytes)
            ref, n = len(data), len(value)
            data += value
        for c, v in enumerate([exp, ask, intern(name), intern(peer), intern(key), ref, n, kind, enc, flags]):
            cols[c].append(v)
    table = b"".join(s.encode() + b"\0" for s in strs)
    offsets, at = [], 0
    for s in strs:
        offsets.append(at)
        at += len(s.encode()) + 1
    n = len(records)
    out = struct.pack("<IIII16x", n, len(strs), len(table), len(data))
    out += struct.pack(f"<{len(strs)}I", *offsets) + table
    out += bytes(-len(out) % 8)
    out += struct.pack(f"<{n}q{n}Q{5 * n}I{3 * n}B", *[v for c in cols for v in c])
    out += bytes(-len(out) % 8)
    return out + data


def test_decode_flat_reads_every_field() -> None:
    raw = _flat(
        [
            (6, 1, 1, "say:x", "p", "x", "1", 1234, 0),
            (3, 2, 1, "set:k", "p", "k", '{"a":[1]}', 0, 0),
            (3, 0, 0, "set:b", "q", "b", b"\x00\xff", 0, 0),
            (4, 1, 0, "delete:n", "q", "n", b"a\x00b", 0, 0),
            (7, 1, 1, "say:ask", "q", "ask", "?", 99, 1 << 60),
            (9, 0, 0, "peer:start", "q", "", b"", 0, 0),
            (42, 0, 0, "new:kind", "q", "", b"", 0, 0),
        ]
    )
    cls = events.event_class(7)
    got = events.decode_flat(raw, cls)
    assert got == [
        Event("say:x", EventKind.SAY, "p", "x", "1", 1234),
        Event("set:k", EventKind.SET, "p", "k", {"a": [1]}),
        Event("set:b", EventKind.SET, "q", "b", b"\x00\xff"),
        Event("delete:n", EventKind.DELETE, "q", "n", "a\x00b"),
        Event("say:ask", EventKind.ASK, "q", "ask", "?", 99, 1 << 60),
        Event("peer:start", EventKind.PEER_ALIVE, "q"),
        Event("new:kind", EventKind.UNKNOWN, "q"),
    ]
    assert all(type(e) is cls and e._engine == 7 for e in got)
    assert got[4].is_ask and got[4].ask_id == 1 << 60 and got[4].data == "?"
    assert got[5].value is None and got[5].expires_at is None and got[5].key == ""
    # The fast paths: a batch of text strings only, of JSON strings only.
    texts = events.decode_flat(_flat([(6, 1, 1, "say:t", "p", "t", str(i), 0, 0) for i in range(5)]))
    assert [e.value for e in texts] == ["0", "1", "2", "3", "4"]
    jsons = events.decode_flat(_flat([(6, 2, 1, "say:j", "p", "j", f"[{i}]", 0, 0) for i in range(3)]))
    assert [e.value for e in jsons] == [[0], [1], [2]]


def test_decode_flat_refuses_a_bad_table() -> None:
    raw = bytearray(_flat([(6, 1, 1, "say:x", "p", "x", "1", 0, 0)]))
    struct.pack_into("<I", raw, 4, 9)  # strings announced: 9
    with pytest.raises(ValueError, match="strings"):
        events.decode_flat(bytes(raw))


def test_event_is_a_named_tuple() -> None:
    e = Event("set:k", EventKind.SET, "p", "k", [1], 5)
    assert (e.name, e.kind, e.peer, e.key, e.value, e.expires_at, e.ask_id) == tuple(e)
    assert e == Event("set:k", EventKind.SET, "p", "k", [1], 5)
    assert "Event(name='set:k', kind=set, peer='p', key='k', value=[1], expires_at=5, ask_id=0)" == repr(e)
    with pytest.raises(AttributeError):
        e.value = 2  # type: ignore[misc]
    assert e._replace(value=3).value == 3
    assert pickle.loads(pickle.dumps(events.event_class(3)(*e))) == e
    with pytest.raises(UnknownAskError):
        e.reply("x")
