"""The engine's cluster scenarios through the Python API: convergence,
deletes, expiry, failure detection, restarts, cluster isolation."""

from __future__ import annotations

import time

from helpers import WAIT, Cluster, Collector, eventually

from telepathine import EventKind, Peer


def test_two_peers_converge(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    a.set("color", "blue")
    b.set("size", 3)
    eventually(lambda: b.get_remote(a.name, "color") == "blue", "b reading a's color")
    eventually(lambda: a.get_remote(b.name, "size") == 3, "a reading b's size")
    assert list(a.live_peers()) == [b.name] and list(b.live_peers()) == [a.name]
    assert a.dead_peers() == {} and list(a.all_peers()) == [b.name]
    info = a.live_peers()[b.name]
    assert info.alive and info.addr == b.address and info.generation == b.generation


def test_eight_peers_converge(cluster: Cluster) -> None:
    ps = cluster.start(8)
    for i, p in enumerate(ps):
        p.set("id", i)
        p.set(f"only-{i}", {"owner": p.name})
    for reader in ps:
        for i, owner in enumerate(ps):
            eventually(
                lambda: (
                    reader.get_remote(owner.name, "id") == i
                    and reader.get_remote(owner.name, f"only-{i}") == {"owner": owner.name}
                ),
                f"{reader.name} reading {owner.name}",
            )
    for p in ps:
        assert len(p.live_peers()) == 7


def test_updates_and_deletes_replicate(pair: tuple[Peer, Peer]) -> None:
    a, b = pair
    deletes = Collector()
    b.on("delete:*", deletes)
    a.set("k", "v1")
    a.set("k", "v2")
    eventually(lambda: b.get_remote(a.name, "k") == "v2", "the update")
    assert a.delete("k") is True
    assert a.delete("k") is False
    assert a.get("k") is None
    eventually(lambda: b.get_remote(a.name, "k", "gone") == "gone", "the delete")
    eventually(lambda: len(deletes) == 1, "the delete event")
    e = deletes.events[0]
    assert (e.name, e.kind, e.peer, e.key, e.value) == ("delete:k", EventKind.DELETE, a.name, "k", "v2")


def test_expiry_on_every_replica(cluster: Cluster) -> None:
    ps = cluster.start(3)
    owner = ps[0]
    expired = {p.name: Collector() for p in ps}
    for p in ps:
        p.on("key:expired", expired[p.name])
    at = int(time.time() * 1000) + 700
    owner.set("lease", "mine", at)
    owner.set("stays", "here")
    for p in ps[1:]:
        eventually(lambda: p.get_remote(owner.name, "lease") == "mine", "the lease before expiry")
    for p in ps:
        eventually(lambda: len(expired[p.name]) == 1, f"key:expired on {p.name}")
        e = expired[p.name].events[0]
        assert (e.kind, e.peer, e.key, e.value, e.expires_at) == (EventKind.EXPIRED, owner.name, "lease", "mine", at)
        assert p.get_remote(owner.name, "lease") is None
        eventually(lambda: p.get_remote(owner.name, "stays") == "here", "the other key")
    assert owner.keys() == ["stays"]


def test_failure_detection_and_restart(cluster: Cluster) -> None:
    a, b, c = cluster.start(3)
    stops, starts = Collector(), Collector()
    a.on("peer:stop", stops)
    a.on("peer:start", starts)
    c.set("state", "before")
    eventually(lambda: a.get_remote(c.name, "state") == "before", "c's value")
    name = c.name
    c.stop()
    assert not c.running
    for p in (a, b):
        eventually(lambda: name in p.dead_peers(), f"{p.name} declaring c dead")
        assert name not in p.live_peers()
    eventually(lambda: name in [e.peer for e in stops.events], "peer:stop on a")
    # A restart is a new generation on the same port: alive again, new values win.
    c.start()
    c.set("state", "after")
    assert c.name == name
    for p in (a, b):
        eventually(lambda: name in p.live_peers() and p.get_remote(name, "state") == "after", "c back")
    eventually(lambda: any(e.peer == name for e in starts.events), "peer:start for c's return")


def test_clusters_are_isolated(cluster: Cluster) -> None:
    blue = cluster.start(2)
    green = Peer(0, [blue[0].address], cluster.name + "-green", preset="local")
    try:
        green.start()
        green.set("secret", "green")

        # Until both sides have refused several of the other's packets
        # (they did exchange them), nothing may merge.
        def exchanged() -> bool:
            return green.stats().foreign_cluster >= 3 and blue[0].stats().foreign_cluster >= 3

        deadline = time.monotonic() + WAIT
        while not exchanged():
            assert time.monotonic() < deadline, "the clusters never exchanged packets"
            assert green.all_peers() == {}
            for p in blue:
                assert green.name not in p.all_peers()
            time.sleep(0.05)
        assert green.all_peers() == {}
        for p in blue:
            assert green.name not in p.all_peers()
            assert p.get_remote(green.name, "secret") is None
        assert green.cluster == cluster.name + "-green"
    finally:
        green.close()


def test_seeds_with_port_only_mean_localhost(cluster: Cluster) -> None:
    a = cluster.peer()
    port = a.address.rsplit(":", 1)[1]
    b = Peer(0, [":" + port], cluster.name, preset="local").start()
    try:
        eventually(lambda: a.name in b.live_peers() and b.name in a.live_peers(), "a join through ':port'")
    finally:
        b.close()
