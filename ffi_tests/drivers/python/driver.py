"""The Python interop driver: one Telepathine peer run through the Python
binding, commanded over stdin/stdout as described in ffi_tests/PROTOCOL.md.

Requests are JSON lines on stdin, answered in order with one JSON line each
on stdout (same id); events of subscriptions are written as
``{"event": {...}}`` lines whenever they come. Values are turned into the
binding's natural Python types before every call (text -> str, json -> the
decoded dict/list/number/bool/None, raw -> bytes) and reported from the
type the binding returns (str -> text, bytes -> raw, anything else ->
json), so a test sees what a Python program would. Diagnostics go to
stderr only.

Run it with the interpreter of the environment where the package is
installed: ``build/pyvenv/bin/python ffi_tests/drivers/python/driver.py``
(``make test-python`` makes that environment; the Makefile's PYTHON_DRIVER
is this command line).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import traceback
from typing import Any

import telepathine
from telepathine import Event, Peer

_out_lock = threading.Lock()


def write(obj: dict[str, Any]) -> None:
    line = json.dumps(obj, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def to_python(v: Any) -> Any:
    """A protocol value -> the binding's natural type."""
    if not isinstance(v, dict):
        raise ValueError("missing value")
    enc = v.get("encoding")
    if enc == "text":
        return str(v.get("text") or "")
    if enc == "json":
        return v.get("json")
    if enc == "raw":
        return base64.b64decode(v.get("base64") or "")
    raise ValueError(f"unknown encoding {enc!r}")


def from_python(x: Any) -> dict[str, Any]:
    """A value returned by the binding -> a protocol value, by its type."""
    if isinstance(x, str):
        return {"encoding": "text", "text": x}
    if isinstance(x, bytes):
        return {"encoding": "raw", "base64": base64.b64encode(x).decode("ascii")}
    return {"encoding": "json", "json": x}


_VALUED = {
    telepathine.EventKind.SET,
    telepathine.EventKind.DELETE,
    telepathine.EventKind.EXPIRED,
    telepathine.EventKind.SAY,
    telepathine.EventKind.ASK,
}


def report(sub: str, e: Event) -> None:
    ev: dict[str, Any] = {"name": e.name, "peer": e.peer, "key": e.key, "sub": sub}
    if e.kind in _VALUED:
        ev["value"] = from_python(e.value)
    write({"event": ev})


class Driver:
    def __init__(self) -> None:
        self.peer: Peer | None = None

    def handle(self, r: dict[str, Any]) -> dict[str, Any]:
        cmd = r.get("cmd")
        if cmd == "start":
            return self.start(r)
        p = self.peer
        if p is None:
            raise RuntimeError("not started")
        if cmd == "set":
            p.set(r["key"], to_python(r.get("value")), r.get("expires_at") or None)
            return {}
        if cmd == "get":
            e = p.entry(r["key"], r.get("peer") or "")
            return {"found": False} if e is None else {"found": True, "value": from_python(e.value)}
        if cmd == "keys":
            return {"keys": p.get_remote_keys(r.get("peer") or "")}
        if cmd == "del":
            return {"deleted": p.delete(r["key"])}
        if cmd == "say":
            for_ms = r.get("for_ms") or 0
            p.say(r["event"], to_python(r.get("value")), for_ms / 1000 if for_ms > 0 else None, bool(r.get("buffered")))
            return {}
        if cmd == "say_burst":  # count says, data "0" .. "count-1" as text
            for_ms = r.get("for_ms") or 0
            count = int(r.get("count") or 0)
            for i in range(count):
                p.say(r["event"], str(i), for_ms / 1000 if for_ms > 0 else None, bool(r.get("buffered")))
            return {"said": count}
        if cmd == "stats":
            s = p.stats()
            return {
                "stats": {
                    "foreign_cluster": s.foreign_cluster,
                    "events_dropped": s.events_dropped,
                    "sets": s.sets,
                    "says": s.says,
                    "live_peers": s.live_peers,
                    "drops": dict(s.drops),
                }
            }
        if cmd == "keyring":
            return self.keyring(p, r)
        if cmd == "ask":
            replies = p.ask(r["event"], to_python(r.get("value")), r["timeout_ms"] / 1000)
            return {"replies": [{"peer": k, "value": from_python(v)} for k, v in replies.items()]}
        if cmd == "hear":
            self.hear(p, r["pattern"], r.get("reply"))
            return {}
        if cmd == "on":
            pattern = r["pattern"]
            p.on(pattern, lambda e: report(pattern, e))
            return {}
        if cmd == "peers":
            which = r.get("which")
            peers = p.live_peers() if which == "live" else p.dead_peers() if which == "dead" else p.all_peers()
            return {"peers": list(peers)}
        if cmd == "stop":
            p.stop()
            return {}
        raise ValueError(f"unknown command {cmd!r}")

    def start(self, r: dict[str, Any]) -> dict[str, Any]:
        if self.peer is None:
            self.peer = Peer(
                0,
                r.get("seeds") or [],
                r.get("cluster") or None,
                preset="local",
                name=r.get("name") or None,
                keys=[base64.b64decode(k) for k in r.get("keys") or []],
                network_key=r.get("network_key") or None,
                accept_plaintext=bool(r.get("accept_plaintext")),
                send_plaintext=bool(r.get("send_plaintext")),
            )
        self.peer.start()
        return {"name": self.peer.name, "addr": self.peer.address}

    def keyring(self, p: Peer, r: dict[str, Any]) -> dict[str, Any]:
        op = r.get("op")
        if op != "list":
            key = base64.b64decode(r.get("cluster_key") or "")
            if op == "install":
                p.install_key(key)
            elif op == "use":
                p.use_key(key)
            elif op == "remove":
                p.remove_key(key)
            else:
                raise ValueError(f"unknown keyring op {op!r}")
        return {"keys": [base64.b64encode(k).decode("ascii") for k in p.cluster_keys()]}

    def hear(self, p: Peer, pattern: str, reply: Any) -> None:
        answer = to_python(reply) if reply is not None else None

        def handler(e: Event) -> None:
            if reply is not None and e.is_ask:
                try:
                    e.reply(answer)
                except telepathine.TelepathineError as err:
                    print(f"python driver: reply to {e.name}: {err}", file=sys.stderr)
            report(pattern, e)

        p.hear(pattern, handler)

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()


def main() -> int:
    d = Driver()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                write({"ok": False, "error": f"bad request: {e}"})
                continue
            if not isinstance(r, dict):
                write({"ok": False, "error": "bad request: not an object"})
                continue
            if r.get("cmd") == "exit":
                break
            try:
                res = d.handle(r)
                res.update(id=r.get("id"), ok=True)
            except Exception as e:
                print(f"python driver: {r.get('cmd')}: {traceback.format_exc()}", file=sys.stderr)
                res = {"id": r.get("id"), "ok": False, "error": str(e) or type(e).__name__}
            write(res)
    finally:
        d.close()
    write({"ok": True, "exited": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
