"""Events cross the C boundary in batches (tp_events_poll_many): handlers,
get(), iteration and async for each see every event once and in order,
whatever the batch boundaries, and a batch is many events."""

from __future__ import annotations

import asyncio
import threading

from helpers import Collector, eventually

from telepathine import Event, Peer, events


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

    def counting(stream: int, engine: int, timeout_ms: int) -> list[Event] | None:
        nonlocal calls
        calls += 1
        return real(stream, engine, timeout_ms)

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


def test_decode_batch_matches_single_events() -> None:
    from telepathine.api.v1 import api_pb2

    msgs = [
        api_pb2.Event(
            name="say:x",
            peer="p",
            say=api_pb2.Said(event="x", data=api_pb2.Value(data=b"1", encoding=api_pb2.ENCODING_TEXT)),
        ),
        api_pb2.Event(name="peer:start", peer="q", peer_alive=api_pb2.PeerChange()),
    ]
    raw = api_pb2.EventBatch(events=msgs).SerializeToString()
    # The layout the header documents: (0x0A, length, Event) per event.
    assert raw == b"".join(b"\x0a" + bytes([len(m.SerializeToString())]) + m.SerializeToString() for m in msgs)
    assert events.decode_batch(raw, 7) == [events.decode_event(m.SerializeToString(), 7) for m in msgs]
