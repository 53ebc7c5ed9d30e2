"""Benchmarks of the Python binding against the same operations in Go.

- set() calls per second: a started peer alone, one key, a 16-byte bytes
  value (Go: cgo/bridge BenchmarkEngineSet), through the C extension and
  through the ctypes path it replaces; and a peer with 3 live
  neighbours writing 1000 keys with a short text value (Go: engine
  BenchmarkSet).
- events per second received in Python: a Go peer (the interop Go driver,
  ffi_tests/drivers/go, through tests/godriver.py) floods buffered says
  that queue while the first handler call is blocked;
  once an end marker shows they are all queued, the handler is released
  and the drain timed (Go: cgo/bridge BenchmarkEventDelivery/engine-handler,
  the same drain into a Go handler). Also through ``EventStream.get`` and
  ``async for``, and end to end (flood sent -> every event handled); and,
  for the ratio, one ``tp_events_poll`` call per event (the path before
  ``tp_events_poll_many``).

usage: bench.py [--go-driver PATH] [--sets N] [--events N] [--no-go]
Run by ``make bench-python`` from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import telepathine
from telepathine import Event, Peer, _native
from telepathine import peer as peer_module
from telepathine.events import decode_event

REPO = Path(__file__).resolve().parents[3]
# The Go peer's client is the tests' (one helper for tests and benchmark).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import godriver  # noqa: E402
from godriver import GoDriver  # noqa: E402

_n = 0


def cluster_name() -> str:
    global _n
    _n += 1
    return f"py-bench-{os.getpid()}-{_n}"


def wait(cond: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


# ------------------------------------------------------------------ set()


def bench_set_solo(n: int, ctypes_path: bool = False) -> tuple[float, float]:
    """set() per second on a started peer alone: one key, 16 bytes; by the
    clock and by the CPU time of the calling thread (which runs the call
    into Go too: the figure a loaded machine disturbs least). ctypes_path:
    without the C extension (_speedups), as where it is absent."""
    saved = peer_module._fast_set
    if ctypes_path:
        peer_module._fast_set = None
    try:
        with Peer(0, cluster=cluster_name(), preset="local") as p:
            value = b"0123456789abcdef"
            for _ in range(n // 10):
                p.set("bench", value)
            t0, c0 = time.perf_counter(), time.thread_time()
            for _ in range(n):
                p.set("bench", value)
            c1, t1 = time.thread_time(), time.perf_counter()
            return n / (t1 - t0), n / (c1 - c0)
    finally:
        peer_module._fast_set = saved


def bench_set_cluster(n: int) -> float:
    """set() per second on a peer with 3 live neighbours, 1000 keys."""
    name = cluster_name()
    ps = [Peer(0, cluster=name, preset="local").start()]
    try:
        ps += [Peer(0, [ps[0].address], name, preset="local").start() for _ in range(3)]
        wait(lambda: all(len(p.live_peers()) == 3 for p in ps), "the cluster")
        p = ps[0]
        keys = [f"k{i}" for i in range(1000)]
        for i in range(n // 10):
            p.set(keys[i % 1000], "value")
        t0 = time.perf_counter()
        for i in range(n):
            p.set(keys[i % 1000], "value")
        return n / (time.perf_counter() - t0)
    finally:
        for q in ps:
            q.close()


# ----------------------------------------------------------------- events


def _flooded(binary: str, events: int) -> tuple[GoDriver, Peer]:
    name = cluster_name()
    go = GoDriver(binary, name)
    p = Peer(0, [go.addr], name, preset="local", handler_queue=events + 64).start()
    wait(lambda: p.name in go.live_peers(), "the Go peer seeing this one")
    wait(lambda: go.name in p.live_peers(), "the Go peer")
    return go, p


def _flood_and_wait_queued(go: GoDriver, p: Peer, events: int, event: str) -> None:
    with p.events(f"say:{event}-end", queue=4) as end:
        go.say_burst(event, events)
        go.say(f"{event}-end", "x")
        if end.get(timeout=60) is None:
            raise RuntimeError("the end marker never came")


def bench_events_handler(go_driver: str, events: int) -> tuple[float, float]:
    """Events per second drained into a hear() handler: by the clock, and
    by the CPU time of the handler's thread (which also polls and decodes
    the batches)."""
    go, p = _flooded(go_driver, events)
    try:
        gate, done = threading.Event(), threading.Event()
        count = 0
        t_last = c_first = c_last = 0.0

        def handler(e: Event) -> None:
            nonlocal count, t_last, c_first, c_last
            count += 1
            if count == 1:
                gate.wait(60)
                c_first = time.thread_time()
            elif count == events:
                t_last, c_last = time.perf_counter(), time.thread_time()
                done.set()

        p.hear("bench", handler)
        _flood_and_wait_queued(go, p, events, "bench")
        t0 = time.perf_counter()
        gate.set()
        if not done.wait(60):
            raise RuntimeError(f"only {count} of {events} events handled")
        dropped = p.stats().events_dropped
        if dropped:
            raise RuntimeError(f"{dropped} events dropped")
        return (events - 1) / (t_last - t0), (events - 1) / (c_last - c_first)
    finally:
        p.close()
        go.close()


def bench_events_one_per_call(go_driver: str, events: int) -> float:
    """Events per second taken one tp_events_poll call each and decoded one
    by one: the path before tp_events_poll_many, for the ratio."""
    go, p = _flooded(go_driver, events)
    try:
        with p.events("say:bench", queue=events + 64) as stream:
            _flood_and_wait_queued(go, p, events, "bench")
            h = stream._stream
            out, err = _native.Buf(), _native.Buf()
            pout, perr = ctypes.byref(out), ctypes.byref(err)
            t0 = time.perf_counter()
            for _ in range(events):
                if _native.events_poll(h, 60_000, pout, perr) != _native.OK:
                    raise RuntimeError("an event is missing")
                raw = ctypes.string_at(out.data, out.len)
                _native.buf_free(pout)
                decode_event(raw)
            return events / (time.perf_counter() - t0)
    finally:
        p.close()
        go.close()


def bench_events_stream(go_driver: str, events: int) -> float:
    """Events per second taken with EventStream.get()."""
    go, p = _flooded(go_driver, events)
    try:
        with p.events("say:bench", queue=events + 64) as stream:
            _flood_and_wait_queued(go, p, events, "bench")
            t0 = time.perf_counter()
            for _ in range(events):
                if stream.get(timeout=60) is None:
                    raise RuntimeError("an event is missing")
            return events / (time.perf_counter() - t0)
    finally:
        p.close()
        go.close()


def bench_events_async(go_driver: str, events: int) -> float:
    """Events per second taken with async for."""
    go, p = _flooded(go_driver, events)
    try:
        stream = p.events("say:bench", queue=events + 64)
        _flood_and_wait_queued(go, p, events, "bench")

        async def drain() -> float:
            t0 = time.perf_counter()
            n = 0
            async for _ in stream:
                n += 1
                if n == events:
                    break
            return events / (time.perf_counter() - t0)

        rate = asyncio.run(drain())
        stream.close()
        return rate
    finally:
        p.close()
        go.close()


def bench_events_end_to_end(go_driver: str, events: int) -> float:
    """Events per second from the flood command to the last event handled
    (bounded by the Go sender and the network as much as by Python)."""
    go, p = _flooded(go_driver, events)
    try:
        done = threading.Event()
        count = 0

        def handler(e: Event) -> None:
            nonlocal count
            count += 1
            if count == events:
                done.set()

        p.hear("e2e", handler)
        t0 = time.perf_counter()
        go.say_burst("e2e", events)
        if not done.wait(60):
            raise RuntimeError(f"only {count} of {events} events handled")
        return events / (time.perf_counter() - t0)
    finally:
        p.close()
        go.close()


# --------------------------------------------------------------------- Go


def go_benchmarks() -> dict[str, float]:
    """ns/op of the Go counterparts, from go test -bench."""
    go = os.environ.get("GO") or shutil.which("go")
    if go is None or not (REPO / "go.mod").is_file():
        return {}
    out: dict[str, float] = {}
    runs = [
        ("./cgo/bridge/", "^BenchmarkEngineSet$|^BenchmarkEventDelivery$", "1s"),
        ("./engine/", "^BenchmarkSet$", "1s"),
    ]
    for pkg, pattern, benchtime in runs:
        res = subprocess.run(
            [go, "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, pkg],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        for line in res.stdout.splitlines():
            m = re.match(r"^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:.*?([\d.]+) ns/event)?", line)
            if m:
                out[m.group(1)] = float(m.group(3) or m.group(2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--go-driver", help="path of the Go driver (built into a temporary directory if absent)")
    ap.add_argument("--sets", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--no-go", action="store_true", help="skip the Go figures")
    args = ap.parse_args()

    tmp = None
    go_driver = args.go_driver
    if not go_driver:
        tmp = tempfile.mkdtemp()
        go_driver = godriver.build(Path(tmp))

    print(f"telepathine {telepathine.__version__}, library ABI {telepathine.abi_version}")
    set_solo, set_solo_cpu = bench_set_solo(args.sets)
    set_ctypes, set_ctypes_cpu = bench_set_solo(args.sets, ctypes_path=True)
    ev_handler, ev_handler_cpu = bench_events_handler(go_driver, args.events)
    py = {
        "set_solo": set_solo,
        "set_cluster": bench_set_cluster(args.sets),
        "ev_handler": ev_handler,
        "ev_stream": bench_events_stream(go_driver, args.events),
        "ev_single": bench_events_one_per_call(go_driver, args.events),
        "ev_async": bench_events_async(go_driver, args.events),
        "ev_e2e": bench_events_end_to_end(go_driver, args.events),
    }
    go = {} if args.no_go else go_benchmarks()

    def per_s(ns: float | None) -> float | None:
        return 1e9 / ns if ns else None

    rows = [
        ("set(), alone, 1 key, 16-byte bytes", py["set_solo"], per_s(go.get("BenchmarkEngineSet")), "EngineSet"),
        ("  the same, per CPU-second of the thread", set_solo_cpu, None, ""),
        ("  the same through ctypes (no _speedups)", set_ctypes, None, ""),
        ("  ... per CPU-second of the thread", set_ctypes_cpu, None, ""),
        ("set(), 3 neighbours, 1000 keys, text", py["set_cluster"], per_s(go.get("BenchmarkSet")), "engine Set"),
        (
            "events drained into a hear() handler",
            py["ev_handler"],
            per_s(go.get("BenchmarkEventDelivery/engine-handler")),
            "EventDelivery/engine-handler",
        ),
        ("  the same, per CPU-second of its thread", ev_handler_cpu, None, ""),
        ("events drained with EventStream.get()", py["ev_stream"], None, ""),
        ("  the same, one tp_events_poll per event", py["ev_single"], None, "(the path before ABI 1.1)"),
        ("events drained with async for", py["ev_async"], None, ""),
        ("events end to end (Go flood -> handler)", py["ev_e2e"], None, ""),
    ]
    print(f"{'':42} {'Python /s':>12} {'Go /s':>12} {'Go/Python':>10}  Go benchmark")
    load = os.getloadavg()
    for label, p, g, gname in rows:
        gs = f"{g:12,.0f}" if g else f"{'':>12}"
        ratio = f"{g / p:9.1f}x" if g else f"{'':>10}"
        print(f"{label:42} {p:12,.0f} {gs} {ratio}  {gname}")
    print(f"(load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs;")
    print(f" a set() is {1e6 / set_solo:.2f} us by the clock, {1e6 / set_solo_cpu:.2f} us of CPU;")
    print(f" through ctypes {1e6 / set_ctypes:.2f} us by the clock, {1e6 / set_ctypes_cpu:.2f} us of CPU)")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
