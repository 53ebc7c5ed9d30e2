"""Identity mode through the binding: the options come from the protobuf
descriptor like every other; peers with their own key pairs converge, and a
junk key is refused at construction."""

from __future__ import annotations

import pytest
from helpers import Cluster, eventually

import telepathine


def seed(i: int) -> bytes:
    return bytes([i + 1]) * 32


def test_identity_peers_converge(cluster: Cluster) -> None:
    a = cluster.peer(identity_key=seed(0), tofu=True)
    b = cluster.peer(identity_key=seed(1), tofu=True)
    cluster.wait_converged([a, b])
    a.set("k", "signed")
    eventually(lambda: b.get_remote(a.name, "k") == "signed", "b reading a's signed value")


def test_identity_junk_key_refused(cluster: Cluster) -> None:
    with pytest.raises(telepathine.TelepathineError) as ei:
        cluster.peer(start=False, identity_key=b"junk", tofu=True)
    assert "identity" in str(ei.value)
