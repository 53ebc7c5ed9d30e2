"""Test helpers: clusters of peers on loopback (port 0, the Local preset),
waits that poll against a deadline (never a bare sleep), event collectors."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from telepathine import Event, Peer

WAIT = 15.0  # seconds: generous for a loaded CI machine; waits end early

_clusters = itertools.count()


def eventually(cond: Callable[[], object], msg: str = "condition", timeout: float = WAIT) -> None:
    """Polls cond until it is true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {msg}")
        time.sleep(0.01)


def unique_cluster(prefix: str = "py") -> str:
    return f"{prefix}-{os.getpid()}-{next(_clusters)}"


class Collector:
    """A handler that records the events it gets (thread-safe)."""

    def __init__(self, reply: Any = None) -> None:
        self.events: list[Event] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()
        self._reply = reply

    def __call__(self, event: Event) -> Any:
        with self._lock:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
        return self._reply

    def names(self) -> list[str]:
        with self._lock:
            return [e.name for e in self.events]

    def matching(self, pred: Callable[[Event], bool]) -> list[Event]:
        with self._lock:
            return [e for e in self.events if pred(e)]

    def __len__(self) -> int:
        with self._lock:
            return len(self.events)


class Cluster:
    """Peers of one cluster, each seeded with the first; all closed at the
    end of the test."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.peers: list[Peer] = []

    def peer(self, start: bool = True, seed: bool = True, **config: Any) -> Peer:
        seeds = [self.peers[0].address] if seed and self.peers else []
        config.setdefault("preset", "local")
        p = Peer(0, seeds, self.name, **config)
        self.peers.append(p)
        if start:
            p.start()
        return p

    def start(self, n: int, **config: Any) -> list[Peer]:
        ps = [self.peer(**config) for _ in range(n)]
        self.wait_converged(ps)
        return ps

    def wait_converged(self, ps: list[Peer]) -> None:
        names = {p.name for p in ps}
        for p in ps:
            eventually(lambda: set(p.live_peers()) >= names - {p.name}, f"{p.name} to see every peer alive")

    def close(self) -> None:
        for p in self.peers:
            p.close()


def package_threads() -> list[threading.Thread]:
    """The threads of this package still running."""
    return [t for t in threading.enumerate() if t.name.startswith("telepathine")]
