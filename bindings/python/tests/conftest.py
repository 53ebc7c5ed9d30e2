"""Fixtures: a cluster of peers closed after each test, a started pair."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import Cluster, unique_cluster

from telepathine import Peer


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster(unique_cluster())
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def pair(cluster: Cluster) -> tuple[Peer, Peer]:
    a, b = cluster.start(2)
    return a, b
