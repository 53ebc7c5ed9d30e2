"""A Go peer for the Python tests and benchmark: the interop Go driver
(ffi_tests/drivers/go) run as a child process and commanded with the JSON
lines of ffi_tests/PROTOCOL.md, the driver and protocol of every
cross-language test. Values cross as Python's natural types, as the Python
driver converts them: str is text, bytes raw, anything else JSON."""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DRIVER_PACKAGE = "./ffi_tests/drivers/go"


class DriverError(RuntimeError):
    """The driver answered "ok": false, did not answer, or is gone."""


def build(outdir: Path) -> str:
    """Builds the Go driver into outdir and returns its path. Raises
    FileNotFoundError outside the repository or without a Go toolchain."""
    if not (REPO / "ffi_tests" / "drivers" / "go").is_dir():
        raise FileNotFoundError("outside the repository: no Go driver")
    go = os.environ.get("GO") or shutil.which("go")
    if go is None:
        raise FileNotFoundError("no Go toolchain")
    out = outdir / "go-driver"
    subprocess.run([go, "build", "-o", str(out), DRIVER_PACKAGE], cwd=REPO, check=True, timeout=600)
    return str(out)


def to_protocol(x: Any) -> dict[str, Any]:
    """A Python value -> a protocol value, by its type."""
    if isinstance(x, str):
        return {"encoding": "text", "text": x}
    if isinstance(x, (bytes, bytearray, memoryview)):
        return {"encoding": "raw", "base64": base64.b64encode(bytes(x)).decode("ascii")}
    return {"encoding": "json", "json": x}


def from_protocol(v: dict[str, Any]) -> Any:
    """A protocol value -> the Python value of that type."""
    enc = v.get("encoding")
    if enc == "text":
        return v.get("text", "")
    if enc == "raw":
        return base64.b64decode(v.get("base64", ""))
    if enc == "json":
        return v.get("json")
    raise DriverError(f"unknown encoding {enc!r}")


class GoDriver:
    """One Go peer. Its events (subscriptions made with hear/on) are kept
    in ``events``; ``call`` sends any command of the protocol."""

    def __init__(self, binary: str, cluster: str, seeds: Sequence[str] = (), timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1
        )
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, queue.SimpleQueue[dict[str, Any] | None]] = {}
        self._gone = False
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, name="go-driver-reader", daemon=True)
        self._reader.start()
        try:
            r = self.call("start", cluster=cluster, seeds=list(seeds))
        except BaseException:
            self.close()
            raise
        self.name: str = r["name"]
        self.addr: str = r["addr"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if "event" in m:
                with self._lock:
                    self.events.append(m["event"])
                continue
            with self._lock:
                q = self._waiting.pop(m.get("id"), None)
            if q is not None:
                q.put(m)
        with self._lock:
            self._gone = True
            waiting, self._waiting = self._waiting, {}
        for q in waiting.values():
            q.put(None)

    def call(self, cmd: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Sends a command and returns its response's fields; raises
        DriverError on "ok": false, no answer within timeout, or a gone
        driver."""
        q: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        with self._lock:
            if self._gone:
                raise DriverError(f"{cmd}: the Go driver is gone")
            rid = next(self._ids)
            self._waiting[rid] = q
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"id": rid, "cmd": cmd, **fields}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise DriverError(f"{cmd}: the Go driver is gone") from e
        try:
            r = q.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise DriverError(f"{cmd}: no answer") from None
        if r is None:
            raise DriverError(f"{cmd}: the Go driver is gone")
        if not r.get("ok"):
            raise DriverError(f"{cmd}: {r.get('error')}")
        return r

    def set(self, key: str, value: Any) -> None:
        self.call("set", key=key, value=to_protocol(value))

    def get(self, peer: str, key: str) -> Any:
        """The driver's replica of peer's key, or None."""
        r = self.call("get", peer=peer, key=key)
        return from_protocol(r["value"]) if r["found"] else None

    def say(self, event: str, data: Any, buffered: bool = False) -> None:
        self.call("say", event=event, value=to_protocol(data), buffered=buffered)

    def say_burst(self, event: str, count: int, buffered: bool = True) -> None:
        """count says of event, data "0" .. "count-1" (text)."""
        self.call("say_burst", timeout=max(self.timeout, 120.0), event=event, count=count, buffered=buffered)

    def ask(self, event: str, data: Any, timeout: float) -> dict[str, Any]:
        """Replies by peer name."""
        r = self.call(
            "ask", timeout=timeout + self.timeout, event=event, value=to_protocol(data), timeout_ms=int(timeout * 1000)
        )
        return {x["peer"]: from_protocol(x["value"]) for x in r["replies"]}

    def hear(self, pattern: str, reply: Any = None) -> None:
        """Subscribes to says matching pattern; asks are answered with
        reply unless it is None."""
        fields: dict[str, Any] = {"pattern": pattern}
        if reply is not None:
            fields["reply"] = to_protocol(reply)
        self.call("hear", **fields)

    def live_peers(self) -> list[str]:
        peers: list[str] = self.call("peers", which="live")["peers"]
        return peers

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.call("stats")["stats"]
        return stats

    def heard(self, pred: Callable[[dict[str, Any]], bool] = lambda e: True) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if pred(e)]

    def wait(self, cond: Callable[[], object], what: str, timeout: float | None = None) -> None:
        """Polls cond until true; raises DriverError after timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not cond():
            if time.monotonic() > deadline:
                raise DriverError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def close(self) -> None:
        """Asks the driver to exit, then kills it if it has not in 10 s."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write('{"cmd":"exit"}\n')
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> GoDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
