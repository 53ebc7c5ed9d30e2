"""The cluster keyring through the binding: configuration, rotation calls,
the engine's rules surfacing as the package's exceptions, and attacks on the
arguments (wrong types, bad lengths, use after close)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import unique_cluster

import telepathine
from telepathine import Peer

K1, K2, K3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def keyed(*keys: bytes, **config: Any) -> Peer:
    return Peer(0, cluster=unique_cluster(), preset="local", keys=list(keys), **config)


def test_config_keys_primary_first_and_rotation() -> None:
    with keyed(K1, K2) as p:
        assert p.cluster_keys() == [K1, K2]
        p.install_key(bytearray(K3))
        p.install_key(memoryview(K3))  # twice: harmless
        p.use_key(K3)
        assert p.cluster_keys()[0] == K3
        p.remove_key(K1)
        assert p.cluster_keys() == [K3, K2]
        p.set_plaintext(accept=True, send=True)
        p.set_plaintext(accept=False, send=False)


def test_plain_peer_has_no_keys_and_can_install_one() -> None:
    p = Peer(0, cluster=unique_cluster(), preset="local")
    try:
        assert p.cluster_keys() == []
        p.install_key(K1)
        assert p.cluster_keys() == [K1], "the first key becomes the primary"
    finally:
        p.close()


def test_network_key_is_the_primary() -> None:
    with keyed(K1, network_key="correct horse battery staple") as p:
        ks = p.cluster_keys()
        assert len(ks) == 2 and len(ks[0]) == 32 and ks[0] != K1 and ks[1] == K1


def test_engine_rules_raise_the_package_exceptions() -> None:
    with keyed(K1) as p:
        for bad in (b"", b"\x01" * 31, b"\x01" * 33, bytes(1024)):
            with pytest.raises(telepathine.KeyMaterialError) as ei:
                p.install_key(bad)
            assert isinstance(ei.value, ValueError) and ei.value.status == -13
            with pytest.raises(telepathine.KeyMaterialError):
                p.use_key(bad)
            with pytest.raises(telepathine.KeyMaterialError):
                p.remove_key(bad)
        with pytest.raises(telepathine.PrimaryKeyError) as pe:
            p.remove_key(K1)
        assert pe.value.status_name == "TP_ERR_PRIMARY_KEY"
        with pytest.raises(telepathine.KeyNotInstalledError) as ne:
            p.use_key(K2)
        assert isinstance(ne.value, LookupError)
        with pytest.raises(telepathine.KeyNotInstalledError):
            p.remove_key(K2)
        assert p.cluster_keys() == [K1], "failed calls change nothing"


def test_wrong_types_never_reach_the_library() -> None:
    with keyed(K1) as p:
        for bad in ("0" * 32, 32, None, [K1], 1.5):
            for call in (p.install_key, p.use_key, p.remove_key):
                with pytest.raises(TypeError):
                    call(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            p.set_plaintext(accept=1, send=0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            p.set_plaintext(True, False)  # type: ignore[call-arg]
        assert p.cluster_keys() == [K1]


@pytest.mark.parametrize(
    ("config", "exc"),
    [
        ({"keys": K1}, TypeError),  # bytes, not a list of bytes
        ({"keys": "abc"}, TypeError),
        ({"keys": [K1, "x" * 32]}, TypeError),
        ({"keys": [1]}, TypeError),
        ({"network_key": b"pass"}, TypeError),
        ({"accept_plaintext": 1}, TypeError),
        ({"send_plaintext": "yes"}, TypeError),
        ({"state_dir": 3}, TypeError),
    ],
)
def test_security_config_types_are_checked(config: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Peer(0, cluster=unique_cluster(), preset="local", **config)


def test_keyring_after_close() -> None:
    p = keyed(K1)
    p.close()
    for call in (
        lambda: p.install_key(K2),
        lambda: p.use_key(K1),
        lambda: p.remove_key(K1),
        p.cluster_keys,
        lambda: p.set_plaintext(accept=False, send=False),
    ):
        with pytest.raises(telepathine.ClosedError):
            call()


def test_stats_carry_drop_causes() -> None:
    with keyed(K1) as p:
        drops = p.stats().drops
        assert "malformed" in drops and "foreign_cluster" in drops
