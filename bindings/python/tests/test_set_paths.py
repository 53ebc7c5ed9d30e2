"""set() has two paths: its common case in C (the _speedups extension) and
the general one through ctypes (every other case, and the fallback where
the extension is absent). Both give the same results, errors included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import unique_cluster

import telepathine
from telepathine import Peer, _native
from telepathine import peer as peer_module


def test_the_extension_is_built_and_loaded() -> None:
    # The package as make test-python installs it (and the wheel) carries
    # the extension; the ctypes path is only the fallback.
    assert _native.fast_set is not None
    assert peer_module._fast_set is _native.fast_set


@pytest.fixture(params=["c", "ctypes"])
def peer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Peer]:
    if request.param == "ctypes":
        monkeypatch.setattr(peer_module, "_fast_set", None)
    with Peer(0, cluster=unique_cluster(), preset="local") as p:
        yield p


def test_common_case_does_not_go_through_ctypes(monkeypatch: pytest.MonkeyPatch) -> None:
    def ctypes_path(*args: Any) -> int:
        raise AssertionError("the ctypes binding was called")

    monkeypatch.setattr(peer_module, "_engine_set", ctypes_path)
    with Peer(0, cluster=unique_cluster(), preset="local") as p:
        p.set("b", b"\x00bytes\xff")
        p.set("t", "téxt ✓")
        p.set("empty", "")
        assert p.get("b") == b"\x00bytes\xff"
        assert p.get("t") == "téxt ✓"
        assert p.get("empty") == ""
        with pytest.raises(AssertionError, match="ctypes binding"):
            p.set("n", 1)  # JSON: the general path


@pytest.mark.parametrize(
    "value",
    [b"raw", b"", "text", "", "ünïcödé ✓", bytearray(b"ba"), memoryview(b"mv"), {"k": [1, None]}, 7, None],
)
def test_values_round_trip_on_both_paths(peer: Peer, value: Any) -> None:
    peer.set("k", value)
    want = bytes(value) if isinstance(value, (bytearray, memoryview)) else value
    got = peer.get("k", default="<missing>")
    assert got == want
    assert type(got) is type(want)


def test_subclasses_of_str_and_bytes_are_treated_as_before(peer: Peer) -> None:
    class S(str):
        pass

    class B(bytes):
        pass

    with pytest.raises(TypeError, match="key must be str"):
        peer.set(S("key"), b"v")
    peer.set("s", S("value"))
    peer.set("b", B(b"raw"))
    assert peer.get("s") == "value"
    assert peer.get("b") == b"raw"


def test_errors_are_the_same_on_both_paths(peer: Peer) -> None:
    for bad in ("", "a\x00b", "\ud800", "k" * 1025):
        with pytest.raises(telepathine.InvalidKeyError, match="invalid key"):
            peer.set(bad, b"v")
    with pytest.raises(telepathine.ValueTooLargeError, match="8388609 bytes"):
        peer.set("big", b"x" * ((8 << 20) + 1))
    with pytest.raises(telepathine.InvalidArgumentError):
        peer.set("bad-text", "\udcff")
    with pytest.raises(TypeError, match="key must be str"):
        peer.set(b"k", b"v")  # type: ignore[arg-type]
    assert peer.keys() == []
    peer.close()
    with pytest.raises(telepathine.ClosedError):
        peer.set("k", b"v")


def test_expiry_is_kept_on_both_paths(peer: Peer) -> None:
    peer.set("lease", b"x", ttl=60)
    entry = peer.entry("lease")
    assert entry is not None and entry.expires_at is not None


def test_the_extension_alone() -> None:
    fast = _native.fast_set
    assert fast is not None
    with Peer(0, cluster=unique_cluster(), preset="local") as p:
        h = p._handle
        assert fast(h, "k", b"v") == 0
        assert fast(h, "k", "v") == 0
        # Not its case: None, the caller's general path takes it.
        for key, value in (("k", bytearray(b"v")), ("k", 1), (b"k", b"v"), ("\ud800", b"v"), ("k", "\udcff")):
            assert fast(h, key, value) is None
        assert p.get("k") == "v"
        # A failure is a status (the general path then raises it).
        assert fast(h, "", b"v") == -6  # TP_ERR_INVALID_KEY
        closed = h
    assert fast(closed, "k", b"v") == -4  # TP_ERR_CLOSED
    assert fast(0, "k", b"v") == -3  # TP_ERR_HANDLE
    with pytest.raises(TypeError):
        fast(0, "k")  # type: ignore[call-arg]
    with pytest.raises(OverflowError):
        fast(-1, "k", b"v")
    with pytest.raises(TypeError):
        fast("h", "k", b"v")  # type: ignore[arg-type]
