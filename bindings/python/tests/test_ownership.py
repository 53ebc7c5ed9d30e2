"""Attacks on the ownership model (the wasmtime-py list): close twice, use
after close, wrong types, handlers that raise or close their peer, peers
garbage-collected without close, many peers in one process, fork, a library
of another ABI."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Cluster, Collector, eventually, package_threads, unique_cluster

import telepathine
from telepathine import Event, Peer

# Every public call of a Peer, with valid arguments.
CALLS: dict[str, Callable[[Peer], object]] = {
    "start": lambda p: p.start(),
    "stop": lambda p: p.stop(),
    "name": lambda p: p.name,
    "address": lambda p: p.address,
    "running": lambda p: p.running,
    "generation": lambda p: p.generation,
    "cluster": lambda p: p.cluster,
    "stats": lambda p: p.stats(),
    "set": lambda p: p.set("k", "v"),
    "get": lambda p: p.get("k"),
    "get_remote": lambda p: p.get_remote("x", "k"),
    "entry": lambda p: p.entry("k"),
    "get_remote_keys": lambda p: p.get_remote_keys("x"),
    "keys": lambda p: p.keys(),
    "delete": lambda p: p.delete("k"),
    "all_peers": lambda p: p.all_peers(),
    "live_peers": lambda p: p.live_peers(),
    "dead_peers": lambda p: p.dead_peers(),
    "say": lambda p: p.say("e", 1),
    "ask": lambda p: p.ask("e", 1, timeout=0.1),
    "hear": lambda p: p.hear("e", lambda e: None),
    "hear_decorator": lambda p: p.hear("e"),
    "hear_once": lambda p: p.hear_once("e", lambda e: None),
    "know": lambda p: p.know("k", lambda e: None),
    "on": lambda p: p.on("**", lambda e: None),
    "events": lambda p: p.events("**"),
    "enter": lambda p: p.__enter__(),
    "install_key": lambda p: p.install_key(bytes(32)),
    "use_key": lambda p: p.use_key(bytes(32)),
    "remove_key": lambda p: p.remove_key(bytes(32)),
    "cluster_keys": lambda p: p.cluster_keys(),
    "set_plaintext": lambda p: p.set_plaintext(accept=True, send=False),
}


def test_close_twice_and_use_after_close() -> None:
    p = Peer(0, cluster=unique_cluster(), preset="local").start()
    sub = p.hear("x", lambda e: None)
    stream = p.events("**")
    p.close()
    p.close()
    assert p.closed and sub.closed and repr(p) == "<telepathine.Peer closed>"
    for name, call in CALLS.items():
        with pytest.raises(telepathine.ClosedError, match="closed") as ei:
            call(p)
        assert isinstance(ei.value, RuntimeError), name
    sub.close()
    stream.close()
    stream.close()
    with pytest.raises(telepathine.ClosedError):
        stream.get(timeout=0)


def test_context_managers() -> None:
    with Peer(0, cluster=unique_cluster(), preset="local") as p:
        assert p.running  # entering starts
        with p.events("**") as stream:
            assert not stream.closed
        assert stream.closed
    assert p.closed
    # A peer already started is not started again; stopped ones are.
    q = Peer(0, cluster=unique_cluster(), preset="local").start()
    with q:
        assert q.running
    assert q.closed
    with pytest.raises(telepathine.ClosedError), q:
        pass


def test_close_from_inside_a_handler(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    b_name = b.name
    closed_from_handler = threading.Event()
    other_ran: list[int] = []

    def closer(e: Event) -> None:
        b.close()  # waits for the other handlers, not for this one
        closed_from_handler.set()

    b.hear("close-now", closer)
    b.hear("close-now", lambda e: other_ran.append(1))
    a.say("close-now")
    assert closed_from_handler.wait(10)
    assert b.closed
    eventually(lambda: b_name not in a.live_peers(), "b leaving")


def test_concurrent_closes_all_return(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    entered = threading.Barrier(3)

    def handler(e: Event) -> None:
        entered.wait(5)
        b.close()

    b.hear("close", handler)
    b.hear("close", handler)
    a.say("close")
    entered.wait(5)
    b.close()  # three closes at once: two from handlers, one from here
    assert b.closed
    eventually(lambda: not [t for t in package_threads() if "close" in t.name], "the handler threads ending")


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="port"):
        Peer("9000")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="port"):
        Peer(True)
    with pytest.raises(ValueError, match="port"):
        Peer(70000)
    with pytest.raises(TypeError, match="seeds"):
        Peer(0, "127.0.0.1:9000")
    with pytest.raises(TypeError, match="seed"):
        Peer(0, [9000])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="cluster"):
        Peer(0, [], 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="host"):
        Peer(0, host=None)  # type: ignore[arg-type]
    with Peer(0, cluster=unique_cluster(), preset="local") as p:
        for call in (
            lambda: p.get_remote(1, "k"),  # type: ignore[arg-type]
            lambda: p.get_remote_keys(None),  # type: ignore[arg-type]
            lambda: p.hear(1, lambda e: None),  # type: ignore[call-overload]
            lambda: p.hear("x", "not callable"),  # type: ignore[call-overload]
            lambda: p.on(b"**", lambda e: None),  # type: ignore[call-overload]
            lambda: p.events(None),  # type: ignore[arg-type]
            lambda: p.events("**", queue="big"),  # type: ignore[arg-type]
            lambda: p.ask("e", timeout=None),
            lambda: p.say(None),  # type: ignore[arg-type]
        ):
            with pytest.raises(TypeError):
                call()
        assert p.all_peers() == {}  # still usable


def test_config_keywords_are_checked() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'gossip_interval'"):
        Peer(0, gossip_interval=50)
    with pytest.raises(TypeError, match="port="):
        Peer(0, bind_addr="127.0.0.1:0")
    with pytest.raises(TypeError, match="gossip_interval_ms must be int"):
        Peer(0, gossip_interval_ms=50.0)
    with pytest.raises(ValueError, match="out of range"):
        Peer(0, fanout=-1)
    with pytest.raises(ValueError, match="preset must be one of"):
        Peer(0, preset="fast")
    with pytest.raises(TypeError):
        Peer(0, name=5)
    with pytest.raises(telepathine.ConfigError) as ei:
        Peer(0, phi_window=1 << 20)  # the library's own check
    assert ei.value.status_name == "TP_ERR_CONFIG" and isinstance(ei.value, ValueError)
    cluster = unique_cluster()
    with Peer(
        0,
        cluster=cluster,
        preset="local",
        transport_mode="tcp_only",
        name="named-peer",
        phi_threshold=9,
        handler_queue=64,
        advertise_addr=None,
    ) as p:
        assert p.name == "named-peer" and p.cluster == cluster


def test_a_field_added_to_the_schema_is_a_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keywords come from the generated descriptor, not from a list: a
    Config with two more fields (a number and a map, as a newer schema
    would have) takes them with no change to the binding."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    from telepathine import _config
    from telepathine.api.v1 import api_pb2

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto()
    api_pb2.DESCRIPTOR.CopyToProto(fdp)  # type: ignore[no-untyped-call]
    msg = next(m for m in fdp.message_type if m.name == "Config")
    msg.field.add(name="future_knob_ms", number=998, type=F.TYPE_UINT64, label=F.LABEL_OPTIONAL)
    entry = msg.nested_type.add(name="FutureMapEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    msg.field.add(
        name="future_map",
        number=999,
        type=F.TYPE_MESSAGE,
        label=F.LABEL_REPEATED,
        type_name=".telepathine.api.v1.Config.FutureMapEntry",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)  # type: ignore[no-untyped-call]
    config = pool.FindMessageTypeByName("telepathine.api.v1.Config")  # type: ignore[no-untyped-call]
    newer: Any = message_factory.GetMessageClass(config)
    monkeypatch.setattr(_config, "CONFIG_MESSAGE", newer)

    raw = _config.build(None, "127.0.0.1:0", [], {"future_knob_ms": 5, "future_map": {"a:1": "b:2"}, "preset": "local"})
    got = newer.FromString(raw)
    assert got.future_knob_ms == 5 and dict(got.future_map) == {"a:1": "b:2"} and got.preset == api_pb2.PRESET_LOCAL
    with pytest.raises(ValueError, match="out of range"):
        _config.build(None, "127.0.0.1:0", [], {"future_knob_ms": -1})
    with pytest.raises(TypeError, match="dict of str to str"):
        _config.build(None, "127.0.0.1:0", [], {"future_map": {"a:1": 2}})
    with pytest.raises(TypeError, match="unexpected keyword argument 'future_knob'"):
        _config.build(None, "127.0.0.1:0", [], {"future_knob": 5})


def test_address_map_is_a_keyword() -> None:
    """address_map (a map field) is taken from the descriptor like the rest."""
    from telepathine import _config
    from telepathine.api.v1 import api_pb2

    raw = _config.build(None, "127.0.0.1:0", [], {"address_map": {"10.0.0.1:1": "127.0.0.1:2"}})
    assert dict(api_pb2.Config.FromString(raw).address_map) == {"10.0.0.1:1": "127.0.0.1:2"}


def test_busy_address_raises_network_error(cluster: Cluster) -> None:
    a = cluster.peer()
    port = int(a.address.rsplit(":", 1)[1])
    b = Peer(port, cluster=cluster.name, preset="local")
    try:
        with pytest.raises(telepathine.NetworkError) as ei:
            b.start()
        assert ei.value.status_name == "TP_ERR_IO" and str(ei.value)
    finally:
        b.close()
    # A with block whose start fails closes the peer it made.
    c = Peer(port, cluster=cluster.name, preset="local")
    with pytest.raises(telepathine.NetworkError), c:
        pass
    assert c.closed


def test_peer_garbage_collected_without_close(cluster: Cluster) -> None:
    seed = cluster.peer()
    got = Collector()
    threads_before = len(package_threads())

    def make() -> weakref.ref[Peer]:
        p = Peer(0, [seed.address], cluster.name, preset="local").start()
        p.hear("x", got)  # a handler that does not reference its peer
        p.events("**")  # a stream dropped at once
        eventually(lambda: p.name in seed.live_peers(), "the doomed peer joining")
        return weakref.ref(p)

    ref = make()
    gc.collect()
    assert ref() is None, "the peer was kept alive"
    # Its finalizer closed the engine: it leaves, and its threads end.
    eventually(lambda: seed.live_peers() == {}, "the collected peer leaving the cluster")
    eventually(lambda: len(package_threads()) <= threads_before, "its handler thread ending")


def test_many_peers_in_one_process(cluster: Cluster) -> None:
    ps = [cluster.peer(gossip_interval_ms=30) for _ in range(20)]
    heard = [Collector() for _ in ps]
    for p, h in zip(ps, heard, strict=True):
        p.hear("all", h)
        p.set("me", p.name)
    cluster.wait_converged(ps)
    ps[0].say("all", "hello")
    for p, h in zip(ps[1:], heard[1:], strict=True):
        eventually(lambda: len(h) == 1, "every peer hearing")
        for q in ps:
            eventually(lambda: p.get_remote(q.name, "me") == q.name, "every value everywhere")
    assert len(heard[0]) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_raises_instead_of_hanging() -> None:
    p = Peer(0, cluster=unique_cluster(), preset="local").start()
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: every call must raise ForkError at once
            code = 0
            try:
                for call in (lambda: p.set("k", 1), lambda: p.name, lambda: Peer(0)):
                    try:
                        call()
                        code = 1
                    except telepathine.ForkError:
                        pass
                    except BaseException:
                        code = 2
                os.write(w, str(code).encode())
            finally:
                os._exit(0)  # no atexit, no finalizers: the parent owns the engine
        os.close(w)
        deadline = time.monotonic() + 10
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung")
            time.sleep(0.01)
        assert os.read(r, 10) == b"0"
        os.close(r)
        p.set("still", "works")  # the parent is unaffected
        assert p.get("still") == "works"
    finally:
        p.close()


def test_forked_child_exiting_normally_does_not_hang() -> None:
    """A forked child that exits through the interpreter runs finalizers
    (atexit): they must not call into the library."""
    code = textwrap.dedent(
        """
        import os, sys, telepathine
        p = telepathine.Peer(0, preset="local").start()
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # interpreter exit: finalizers run in the child
        _, status = os.waitpid(pid, 0)
        p.close()
        print("child status", status)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "child status 0" in out.stdout


def test_exit_without_close_is_prompt() -> None:
    """Peers left open, with handlers blocked in the library waiting for
    events, do not keep the interpreter from exiting."""
    code = textwrap.dedent(
        """
        import telepathine
        a = telepathine.Peer(0, preset="local").start()
        b = telepathine.Peer(0, [a.address], preset="local").start()
        a.hear("x", lambda e: None)
        b.on("**", lambda e: None)
        stream = a.events("**")
        print("bye")
        """
    )
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    # The handlers print nothing, so "bye" is all the output; what matters is
    # that exiting does not wait for handler threads blocked in the library.
    assert out.stdout == "bye\n"
    assert time.monotonic() - t0 < 20


def test_multiprocessing_spawn_works(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import multiprocessing as mp

        def child(q):
            import telepathine
            with telepathine.Peer(0, preset="local") as p:
                p.set("k", "v")
                q.put(p.get("k"))

        if __name__ == "__main__":
            import telepathine  # loaded in the parent too
            mp.set_start_method("spawn")
            q = mp.Queue()
            proc = mp.Process(target=child, args=(q,))
            proc.start()
            print(q.get(timeout=20))
            proc.join(20)
        """
    )
    script = tmp_path / "spawn.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "v"


STUB = """
#include <stdint.h>
#include <stddef.h>
uint32_t tp_abi_version(void) { return (2u << 16) | 7u; }
const char *tp_status_name(int s) { (void)s; return "TP_OK"; }
"""
OTHER_FUNCTIONS = [
    "tp_buf_free", "tp_engine_new", "tp_engine_start", "tp_engine_stop", "tp_engine_close", "tp_engine_info",
    "tp_engine_stats", "tp_engine_set", "tp_engine_get", "tp_engine_get_remote", "tp_engine_get_remote_keys",
    "tp_engine_delete", "tp_engine_all_peers", "tp_engine_live_peers", "tp_engine_dead_peers", "tp_engine_say",
    "tp_engine_ask", "tp_engine_reply", "tp_engine_subscribe", "tp_subscription_close", "tp_events_open",
    "tp_events_poll", "tp_events_close", "tp_engine_install_key", "tp_engine_use_key", "tp_engine_remove_key",
    "tp_engine_keys", "tp_engine_set_plaintext",
    "tp_events_poll_many", "tp_events_poll_flat",
]  # fmt: skip


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_a_library_of_another_abi_is_refused_at_import(tmp_path: Path) -> None:
    src = tmp_path / "stub.c"
    src.write_text(STUB + "".join(f"int {f}(void) {{ return -1; }}\n" for f in OTHER_FUNCTIONS))
    so = tmp_path / "libstub.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    env: dict[str, Any] = dict(os.environ, TELEPATHINE_LIB=str(so))
    code = "import telepathine\nprint('imported')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode != 0
    assert "AbiMismatchError" in out.stderr
    assert "C ABI version 2.7" in out.stderr and "needs 1.2" in out.stderr
    check = (
        "try:\n    import telepathine\n"
        "except ImportError as e:\n    print(type(e).__name__, isinstance(e, ImportError))\n"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=30)
    assert out.stdout.strip() == "AbiMismatchError True"


def test_missing_library_is_a_clear_import_error(tmp_path: Path) -> None:
    env = dict(os.environ, TELEPATHINE_LIB=str(tmp_path / "nope.so"))
    out = subprocess.run(
        [sys.executable, "-c", "import telepathine"], capture_output=True, text=True, env=env, timeout=30
    )
    assert out.returncode != 0 and "ImportError" in out.stderr and "nope.so" in out.stderr
