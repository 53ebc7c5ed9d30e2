"""A Python peer in one cluster with a Go peer (ffi_tests/c/gopeer, a
separate process): values keep their types across languages, says and asks
cross both ways."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import WAIT, Collector, eventually, unique_cluster

from telepathine import Peer

REPO = Path(__file__).resolve().parents[3]


class GoPeer:
    """The Go peer, driven line by line (see its main.go)."""

    def __init__(self, binary: str, cluster: str) -> None:
        self.proc = subprocess.Popen(
            [binary, "-cluster", cluster], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        fields = {}
        while (line := self.line()) != "READY":
            k, _, v = line.partition(" ")
            fields[k] = v
        self.addr, self.name = fields["ADDR"], fields["NAME"]

    def line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the Go peer exited"
        return line.rstrip("\n")

    def cmd(self, text: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.line()

    def close(self) -> None:
        try:
            self.cmd("quit")
        except (AssertionError, BrokenPipeError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def gopeer_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not (REPO / "ffi_tests" / "c" / "gopeer").is_dir():
        pytest.skip("outside the repository: no Go peer")
    go = os.environ.get("GO") or shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain")
    out = tmp_path_factory.mktemp("gopeer") / "gopeer"
    subprocess.run([go, "build", "-o", str(out), "./ffi_tests/c/gopeer"], cwd=REPO, check=True, timeout=600)
    return str(out)


@pytest.fixture
def go_and_python(gopeer_binary: str) -> Iterator[tuple[GoPeer, Peer]]:
    cluster = unique_cluster("py-go")
    go = GoPeer(gopeer_binary, cluster)
    # A queue for the whole flood: a burst of buffered says arrives in a
    # few milliseconds, faster than any handler drains it.
    py = Peer(0, [go.addr], cluster, preset="local", handler_queue=1 << 16)
    try:
        yield go, py
    finally:
        py.close()
        go.close()


def test_python_and_go_share_state_and_events(go_and_python: tuple[GoPeer, Peer]) -> None:
    go, py = go_and_python
    heard = Collector()
    py.hear("chat:*", heard)
    py.hear("question", lambda e: f"python heard {e.data}")
    py.set("py-key", "from-python")
    py.start()
    eventually(lambda: go.name in py.live_peers(), "the Go peer alive")
    assert go.cmd(f"wait-peers 1 {int(WAIT * 1000)}") == "OK"

    # The Go peer's values, with their types: text -> str, JSON -> dict.
    eventually(lambda: py.get_remote(go.name, "go-json") is not None, "go-json")
    assert py.get_remote(go.name, "go-key") == "from-go"
    assert py.get_remote(go.name, "go-json") == {"lang": "go"}
    assert py.get_remote_keys(go.name) == ["go-json", "go-key"]
    assert go.cmd(f"wait-key {py.name} py-key from-python {int(WAIT * 1000)}") == "OK"

    # Go says, Python hears; Python asks, Go answers.
    assert go.cmd("say chat:hello hi") == "OK"
    eventually(lambda: len(heard) == 1, "the Go say")
    e = heard.events[0]
    assert (e.name, e.peer, e.data) == ("say:chat:hello", go.name, "hi")
    replies: dict[str, object] = {}
    for _ in range(3):  # see ffi_test.c: an early reply can be lost on a loaded machine
        replies = py.ask("ping:x", "hello", timeout=5)
        if replies:
            break
    assert replies == {go.name: "pong:hello"}

    # Go asks, Python's handler answers with its return value.
    assert go.cmd("ask question what 5000") == f"REPLY {py.name} python heard what"
    assert go.line() == "END"


def test_python_drains_a_go_flood(go_and_python: tuple[GoPeer, Peer]) -> None:
    go, py = go_and_python
    n = 2000
    got = Collector()
    py.hear("flood", got)
    py.start()
    assert go.cmd(f"wait-peers 1 {int(WAIT * 1000)}") == "OK"
    t0 = time.monotonic()
    assert go.cmd(f"flood flood {n}") == "OK"
    eventually(lambda: len(got) == n, f"{n} events")
    assert [e.data for e in got.events] == [str(i) for i in range(n)]
    assert py.stats().events_dropped == 0
    assert time.monotonic() - t0 < WAIT
