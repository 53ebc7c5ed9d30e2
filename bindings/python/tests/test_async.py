"""The asyncio interface: astart/astop/aask/aclose, async with, and
async for over event streams (with cancellation)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref

import pytest
from helpers import WAIT, unique_cluster

import telepathine
from telepathine import Event, Peer


async def wait_for(cond: object, what: str) -> None:
    assert callable(cond)
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_async_lifecycle_and_ask() -> None:
    async def main() -> None:
        cluster = unique_cluster()
        async with Peer(0, cluster=cluster, preset="local") as a:
            b = Peer(0, [a.address], cluster, preset="local")
            assert await b.astart() is b
            b.hear("who", lambda e: "b")
            await wait_for(lambda: b.name in a.live_peers(), "b joining")
            # The loop keeps running while the ask waits on a thread.
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.create_task(tick())
            assert await a.aask("who", timeout=2) == {b.name: "b"}
            assert await a.aask("nobody", timeout=0.2) == {}
            assert ticks >= 5
            ticker.cancel()
            await b.astop()
            assert not b.running
            await b.aclose()
            assert b.closed
        assert a.closed

    asyncio.run(main())


def test_async_for_over_events() -> None:
    async def main() -> None:
        cluster = unique_cluster()
        async with Peer(0, cluster=cluster, preset="local") as a, Peer(0, [a.address], cluster, preset="local") as b:
            await wait_for(lambda: b.name in a.live_peers(), "b joining")
            got: list[Event] = []

            async def consume() -> None:
                async with b.events("say:*") as stream:
                    async for ev in stream:
                        got.append(ev)
                        if ev.data == "last":
                            break

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.05)
            for d in ("one", 2, {"three": 3}, "last"):
                a.say("ev", d)
            await asyncio.wait_for(task, WAIT)
            assert [e.data for e in got] == ["one", 2, {"three": 3}, "last"]
            assert {e.name for e in got} == {"say:ev"}

    asyncio.run(main())


def test_cancelled_anext_loses_no_event() -> None:
    async def main() -> None:
        cluster = unique_cluster()
        async with Peer(0, cluster=cluster, preset="local") as a, Peer(0, [a.address], cluster, preset="local") as b:
            await wait_for(lambda: b.name in a.live_peers(), "b joining")
            stream = b.events("say:tick")
            it = stream.__aiter__()
            # Time out a few waits while nothing comes, then say: the event
            # the reader thread took for a cancelled wait is not lost.
            for _ in range(3):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(it.__anext__(), 0.05)
            for i in range(5):
                a.say("tick", i)
            got = [(await asyncio.wait_for(it.__anext__(), WAIT)).data for _ in range(5)]
            assert got == [0, 1, 2, 3, 4]
            await stream.aclose()
            with pytest.raises(StopAsyncIteration):
                await it.__anext__()

    asyncio.run(main())


def test_async_iteration_ends_when_the_peer_closes() -> None:
    async def main() -> None:
        p = Peer(0, cluster=unique_cluster(), preset="local")
        stream = p.events("**")  # before the start: its event is the first
        names: list[str] = []
        started = asyncio.Event()

        async def consume() -> None:
            async for ev in stream:
                names.append(ev.name)
                if ev.name == "start":
                    started.set()

        task = asyncio.create_task(consume())
        await p.astart()
        await asyncio.wait_for(started.wait(), WAIT)  # the stream is flowing
        await p.aclose()
        await asyncio.wait_for(task, WAIT)  # ended, not hung
        assert names == ["start", "stop"]  # the stop came through before the end
        stream.close()

    asyncio.run(main())


def test_async_argument_errors_come_before_the_thread() -> None:
    async def main() -> None:
        async with Peer(0, cluster=unique_cluster(), preset="local") as p:
            with pytest.raises(TypeError):
                await p.aask(42)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                await p.aask("e", timeout=-1)
        with pytest.raises(telepathine.ClosedError):
            await p.astart()

    asyncio.run(main())


def test_an_abandoned_async_stream_is_collected() -> None:
    async def main() -> None:
        async with Peer(0, cluster=unique_cluster(), preset="local") as p:
            stream = p.events("say:abandoned")
            it = stream.__aiter__()
            try:
                await asyncio.wait_for(it.__anext__(), 0.05)  # starts the reader thread
            except asyncio.TimeoutError:
                pass
            ref = weakref.ref(stream)
            del stream, it
            gc.collect()
            assert ref() is None, "the reader thread kept the stream alive"
            await wait_for(
                lambda: not [t for t in threading.enumerate() if t.name == "telepathine events say:abandoned"],
                "the reader thread ending",
            )

    asyncio.run(main())
