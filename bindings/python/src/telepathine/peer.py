"""Peer: one member of a Telepathine cluster."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from . import _config, _native, _values
from ._managed import Managed
from .api.v1 import api_pb2
from .events import Event, EventStream, Handler, Subscription

log = logging.getLogger("telepathine")

# What set() reads per call, bound once.
_fast_set = _native.fast_set
_engine_set = _native.engine_set_untyped
_SIZES, _SIZES_N, _ZERO_I64 = _native.SIZES, _native.SIZES_N, _native.ZERO_I64
_RAW, _TEXT = _native.ENCODING_RAW, _native.ENCODING_TEXT

__all__ = ["Entry", "Peer", "PeerInfo"]

H = TypeVar("H", bound=Callable[[Event], object])


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Another peer as the local one sees it."""

    name: str
    addr: str
    alive: bool
    #: current suspicion level (0 for a dead peer)
    phi: float
    #: the peer's current incarnation
    generation: int
    #: its heartbeat counter, as last heard
    heartbeat: int
    #: the highest version of its changes held here
    version: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A live value with its metadata (``Peer.entry``)."""

    peer: str
    key: str
    value: Any
    #: expiry in Unix milliseconds, None for none
    expires_at: int | None
    #: orders the owner's changes (per generation)
    version: int


def _peers(raw: bytes | None) -> dict[str, PeerInfo]:
    out: dict[str, PeerInfo] = {}
    if raw:
        for p in api_pb2.PeerList.FromString(raw).peers:
            out[p.name] = PeerInfo(
                p.name, p.addr, p.state == api_pb2.PEER_STATE_ALIVE, p.phi, p.generation, p.heartbeat, p.version
            )
    return out


def _bind_addr(host: Any, port: Any) -> str:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {port}")
    if not isinstance(host, str):
        raise TypeError(f"host must be str, not {type(host).__name__}")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6
    return f"{host}:{port}"


def _seed_list(seeds: Any) -> list[str]:
    if seeds is None:
        return []
    if isinstance(seeds, (str, bytes)):
        raise TypeError('seeds must be a list of "host:port" strings, not a single ' + type(seeds).__name__)
    try:
        out = list(seeds)
    except TypeError:
        raise TypeError(f"seeds must be an iterable of str, not {type(seeds).__name__}") from None
    for s in out:
        if not isinstance(s, str):
            raise TypeError(f"each seed must be a str, not {type(s).__name__}")
    return out


class Peer(Managed):
    """One peer of a Telepathine cluster.

    ``Peer(port, seeds, cluster, **config)`` makes a peer listening on
    ``host:port`` (``port=0``, the default, picks a free port; ``host``
    defaults to 127.0.0.1), that joins the cluster through ``seeds``
    (``"host:port"``; ``":9000"`` means 127.0.0.1:9000) and drops packets of
    any other ``cluster``. The other keyword arguments are the fields of the
    engine's configuration (``telepathine.api.v1.Config``), e.g.
    ``preset="local"``, ``gossip_interval_ms=50``, ``name="node-1"``.

    Nothing is bound until ``start()``. As a context manager the peer is
    started on entry (unless already running) and closed on exit, also with
    ``async with``. ``close()`` is idempotent; any other use after it raises
    ClosedError. A peer garbage-collected without close() is closed by a
    finalizer, but its handlers' threads keep alive whatever they reference:
    a handler that references its peer keeps it running until close().
    """

    _what = "peer"

    def __init__(
        self,
        port: int = 0,
        seeds: Iterable[str] | None = (),
        cluster: str | None = None,
        *,
        host: str = "127.0.0.1",
        **config: Any,
    ) -> None:
        if cluster is not None and not isinstance(cluster, str):
            raise TypeError(f"cluster must be str, not {type(cluster).__name__}")
        cfg = _config.build(cluster, _bind_addr(host, port), _seed_list(seeds), dict(config))
        _native.check_fork()
        h = ctypes.c_uint64(0)
        _native.call(_native.engine_new, cfg, len(cfg), ctypes.byref(h))
        self._adopt(int(h.value), _native.engine_close)
        self._hc = ctypes.c_uint64(h.value)  # the handle as set() passes it (see _native)
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._subs_lock = threading.Lock()
        self._closed_event = threading.Event()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Peer:
        """Binds, joins the cluster through the seeds and starts gossiping;
        returns the peer. A stopped peer can be started again (a new
        generation, on the same port). AlreadyRunningError if running,
        NetworkError if the address cannot be bound."""
        _native.call(_native.engine_start, self._h())
        return self

    def stop(self) -> None:
        """Leaves the cluster: gossip stops, sockets close; state and
        subscriptions are kept. Does nothing on a peer not running."""
        _native.call(_native.engine_stop, self._h())

    def close(self) -> None:
        """Stops the peer if needed, ends every subscription and stream, and
        releases the engine. Returns once no handler of this peer is running
        (except the caller's own, when called from a handler). Idempotent."""
        with self._lock:
            if not self._handle:
                first = False
            else:
                first = True
                h = self._handle
                self._handle = 0  # from now on, every use raises ClosedError
        current = threading.current_thread()
        if not first:
            # Another thread is closing: wait for it, unless we are one of
            # the handler threads it waits for.
            if not any(s._thread is current for s in self._subscriptions()):
                self._closed_event.wait()
            return
        subs = self._subscriptions()
        for s in subs:
            s._stop()
        err = _native.Buf()
        rc = 0 if _native.forked else _native.engine_close(h, ctypes.byref(err))
        if self._finalizer is not None:
            self._finalizer.detach()
        if rc < 0:
            log.warning("telepathine: closing the peer: %s", _native.error(rc, err))
        for s in subs:
            if s._thread is not current:
                s._thread.join()
        self._closed_event.set()

    def _subscriptions(self) -> list[Subscription]:
        with self._subs_lock:
            return list(self._subs)

    def __enter__(self) -> Peer:
        try:
            if not self.running:
                self.start()
        except BaseException:
            self.close()  # __exit__ will not run
            raise
        return self

    async def __aenter__(self) -> Peer:
        try:
            if not self.running:
                await self.astart()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        if self.closed:
            return "<telepathine.Peer closed>"
        info = self._info()
        state = "running" if info.running else "stopped"
        return f"<telepathine.Peer {info.name or '(unnamed)'} {state}>"

    # ------------------------------------------------------------- identity

    def _info(self) -> api_pb2.EngineInfo:
        raw = _native.call_out(_native.engine_info, self._h())
        return api_pb2.EngineInfo.FromString(raw or b"")

    @property
    def name(self) -> str:
        """The peer's name in the cluster: its advertised address unless
        configured; empty before the first start when not configured."""
        return self._info().name

    @property
    def address(self) -> str:
        """The advertised "host:port" (empty before the first start)."""
        return self._info().addr

    @property
    def running(self) -> bool:
        """Whether the peer is started."""
        return self._info().running

    @property
    def generation(self) -> int:
        """The current incarnation (0 before the first start)."""
        return self._info().generation

    @property
    def cluster(self) -> str:
        """The cluster's name."""
        return self._info().cluster

    def stats(self) -> api_pb2.Stats:
        """A snapshot of the engine's counters (a telepathine.api.v1.Stats)."""
        raw = _native.call_out(_native.engine_stats, self._h())
        return api_pb2.Stats.FromString(raw or b"")

    # ------------------------------------------------------------ key/value

    def set(self, key: str, value: Any, expires_at: Any = None, *, ttl: Any = None) -> None:
        """Stores key=value in this peer's state and spreads it to every peer.

        value is bytes (also bytearray, memoryview), str, or anything JSON-
        serialisable; every peer reads it back as the same type.
        expires_at is when every replica drops it: Unix time in milliseconds
        (an int, as the reference library) or a datetime (a naive one is
        local time); ttl is the same as seconds (or a timedelta) from now.
        Works before start() too."""
        if _fast_set is not None and expires_at is None and ttl is None and self._handle and not _native.forked:
            # The common case in C (see _native.fast_set): done on 0; on
            # None (not the common case) or a failure, the general path
            # below does it again, and raises (a failed set changed
            # nothing and fails the same way).
            if _fast_set(self._handle, key, value) == 0:
                return
        # The hot path of the package: checks that only Python can make
        # (types) and nothing the library checks again (key and value
        # limits, UTF-8, JSON validity stay in the engine); the untyped
        # binding (see _native), and no error buffer unless it failed.
        if type(key) is not str:
            raise TypeError(f"key must be str, not {type(key).__name__}")
        k = key.encode("utf-8", "surrogatepass")
        t = type(value)
        if t is bytes:
            data, enc = value, _RAW
        elif t is str:
            data, enc = value.encode("utf-8", "surrogatepass"), _TEXT
        else:
            data, enc = _values.encode(value)
        if expires_at is None and ttl is None:
            exp = _ZERO_I64
        else:
            exp = ctypes.c_int64(_values.expires_at_ms(expires_at, ttl))
        if not self._handle or _native.forked:
            self._h()  # raises the ClosedError or ForkError
        nk, nd = len(k), len(data)
        sizes, size_n = _SIZES, _SIZES_N
        rc = _engine_set(
            self._hc,
            k,
            sizes[nk] if nk < size_n else ctypes.c_size_t(nk),
            data,
            sizes[nd] if nd < size_n else ctypes.c_size_t(nd),
            enc,
            exp,
            None,
        )
        if rc:
            self._set_failed(k, data, enc, exp)

    def _set_failed(self, k: bytes, data: bytes, enc: int, exp: ctypes.c_int64) -> None:
        """Raises the error of a failed set: the call again, with an error
        buffer for the message (a set that failed changed nothing, and fails
        the same way again)."""
        err = _native.Buf()
        rc = _engine_set(
            self._hc, k, ctypes.c_size_t(len(k)), data, ctypes.c_size_t(len(data)), enc, exp, ctypes.byref(err)
        )
        if rc < 0:
            raise _native.error(rc, err)
        _native.buf_free(ctypes.byref(err))  # it went through this time: nothing to raise

    def get(self, key: str, default: Any = None) -> Any:
        """This peer's live value of key, or default."""
        e = self.entry(key)
        return default if e is None else e.value

    def get_remote(self, peer: str, key: str, default: Any = None) -> Any:
        """The live value of key held for the named peer (this peer's own
        with its name, or ""), or default."""
        e = self.entry(key, peer)
        return default if e is None else e.value

    def entry(self, key: str, peer: str = "") -> Entry | None:
        """The live value of key with its metadata (expiry, version), for
        the named peer ("": this one), or None."""
        k = _values.text(key, "key")
        p = _values.text(peer, "peer")
        raw = _native.call_out(_native.engine_get_remote, self._h(), p, len(p), k, len(k))
        if raw is None:
            return None
        kv = api_pb2.KeyValue.FromString(raw)
        return Entry(kv.peer, kv.key, _values.decode_value(kv.value), kv.expires_at_ms or None, kv.version)

    def get_remote_keys(self, peer: str) -> list[str]:
        """The live keys held for the named peer ("": this one), sorted;
        none for an unknown peer."""
        p = _values.text(peer, "peer")
        raw = _native.call_out(_native.engine_get_remote_keys, self._h(), p, len(p))
        return list(api_pb2.KeyList.FromString(raw or b"").keys)

    def keys(self) -> list[str]:
        """This peer's live keys, sorted."""
        return self.get_remote_keys("")

    def delete(self, key: str) -> bool:
        """Deletes key from this peer's state everywhere (a replicated
        tombstone); True if a live value was deleted."""
        k = _values.text(key, "key")
        deleted = ctypes.c_int(0)
        _native.call(_native.engine_delete, self._h(), k, len(k), ctypes.byref(deleted))
        return bool(deleted.value)

    # ------------------------------------------------------ cluster keyring
    # AES-256 keys of 32 bytes; the primary seals what this peer sends, every
    # installed key opens what it receives. Rotation without downtime:
    # install_key(new) on every peer, then use_key(new), then
    # remove_key(old). The engine checks the keys (KeyMaterialError...).

    def _key_call(self, fn: Any, key: bytes | bytearray | memoryview) -> None:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise TypeError(f"key must be bytes, not {type(key).__name__}")
        k = bytes(key)
        _native.call(fn, self._h(), k, len(k))

    def install_key(self, key: bytes | bytearray | memoryview) -> None:
        """Installs a 32-byte cluster key as an accepted key (the first one
        of an empty keyring becomes the primary). Installing twice is
        harmless. KeyMaterialError if it is not 32 bytes."""
        self._key_call(_native.engine_install_key, key)

    def use_key(self, key: bytes | bytearray | memoryview) -> None:
        """Makes an installed key the primary. KeyNotInstalledError if it
        is not installed."""
        self._key_call(_native.engine_use_key, key)

    def remove_key(self, key: bytes | bytearray | memoryview) -> None:
        """Removes an installed key. PrimaryKeyError for the primary,
        KeyNotInstalledError for a key not installed."""
        self._key_call(_native.engine_remove_key, key)

    def cluster_keys(self) -> list[bytes]:
        """The installed cluster keys, primary first; empty in plain mode.
        (keys() is the peer's state keys.)"""
        raw = _native.call_out(_native.engine_keys, self._h())
        return list(api_pb2.Keyring.FromString(raw or b"").keys)

    def set_plaintext(self, *, accept: bool, send: bool) -> None:
        """The staged upgrade of a running cluster to encryption: stage 1
        accept=True, send=True; stage 2 accept=True, send=False; stage 3
        both False, each on every peer before the next."""
        if not isinstance(accept, bool) or not isinstance(send, bool):
            raise TypeError("accept and send must be bool")
        _native.call(_native.engine_set_plaintext, self._h(), int(accept), int(send))

    # ---------------------------------------------------------------- peers

    def all_peers(self) -> dict[str, PeerInfo]:
        """The other peers known, alive or dead, by name (sorted)."""
        return _peers(_native.call_out(_native.engine_all_peers, self._h()))

    def live_peers(self) -> dict[str, PeerInfo]:
        """The other peers that seem alive, by name (sorted)."""
        return _peers(_native.call_out(_native.engine_live_peers, self._h()))

    def dead_peers(self) -> dict[str, PeerInfo]:
        """The other peers that seem dead, by name (sorted)."""
        return _peers(_native.call_out(_native.engine_dead_peers, self._h()))

    # ----------------------------------------------------------- say and ask

    def say(self, event: str, data: Any = None, duration: Any = None, buffer: bool = False) -> None:
        """Sends an event to the hear handlers of every other peer (never
        this one's), each exactly once, during duration seconds (or a
        timedelta; None: the configured say_duration_ms, 20 s by default),
        to peers that join meanwhile too. buffer=True waits for the next
        gossip round so that many small events travel together. data is a
        value like set's. NotRunningError if the peer is not started."""
        e = _values.text(event, "event")
        d, enc = _values.encode(data, "data")
        ms = 0 if duration is None else _values.millis(duration, "duration")
        if not isinstance(buffer, bool):
            raise TypeError(f"buffer must be bool, not {type(buffer).__name__}")
        flags = _native.SAY_BUFFERED if buffer else 0
        _native.call(_native.engine_say, self._h(), e, len(e), d, len(d), enc, ms, flags)

    def ask(self, event: str, data: Any = None, timeout: Any = 1.0) -> dict[str, Any]:
        """Says an ask and returns the replies, by peer name in arrival
        order: the peers whose handlers answered within timeout seconds
        (or a timedelta). Returns early once every peer alive when asking
        has answered. Blocks the calling thread (the GIL is released); see
        aask for asyncio."""
        e = _values.text(event, "event")
        d, enc = _values.encode(data, "data")
        ms = _values.millis(timeout, "timeout")
        raw = _native.call_out(_native.engine_ask, self._h(), e, len(e), d, len(d), enc, ms)
        out: dict[str, Any] = {}
        for r in api_pb2.AskReplies.FromString(raw or b"").replies:
            out[r.peer] = _values.decode_value(r.value)
        return out

    # --------------------------------------------------------------- events

    def _subscribe(self, pattern: str, handler: Handler, once: bool = False) -> Subscription:
        return Subscription(self._h(), pattern, handler, once=once, registry=self._subs, registry_lock=self._subs_lock)

    def _register(
        self, prefix: str, pattern: Any, handler: Handler | None, once: bool = False
    ) -> Subscription | Callable[[H], H]:
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be str, not {type(pattern).__name__}")
        if handler is None:
            self._h()

            def decorator(fn: H) -> H:
                self._subscribe(prefix + pattern, fn, once)
                return fn

            return decorator
        return self._subscribe(prefix + pattern, handler, once)

    @overload
    def hear(self, pattern: str) -> Callable[[H], H]: ...
    @overload
    def hear(self, pattern: str, handler: Handler) -> Subscription: ...
    def hear(self, pattern: str, handler: Handler | None = None) -> Subscription | Callable[[H], H]:
        """Calls handler(event) for every say (and ask) of another peer
        whose event name matches pattern (``*`` one segment, ``**`` any).
        For an ask, a handler's return value other than None is the reply.
        With a handler, returns the Subscription; without, returns a
        decorator that subscribes the function and returns it unchanged."""
        return self._register("say:", pattern, handler)

    @overload
    def hear_once(self, pattern: str) -> Callable[[H], H]: ...
    @overload
    def hear_once(self, pattern: str, handler: Handler) -> Subscription: ...
    def hear_once(self, pattern: str, handler: Handler | None = None) -> Subscription | Callable[[H], H]:
        """hear() for the first matching say only."""
        return self._register("say:", pattern, handler, once=True)

    @overload
    def know(self, pattern: str) -> Callable[[H], H]: ...
    @overload
    def know(self, pattern: str, handler: Handler) -> Subscription: ...
    def know(self, pattern: str, handler: Handler | None = None) -> Subscription | Callable[[H], H]:
        """Calls handler(event) when another peer sets a key matching
        pattern (``on("set:" + pattern)``); event.peer is the owner,
        event.key the key, event.value the new value."""
        return self._register("set:", pattern, handler)

    @overload
    def on(self, pattern: str) -> Callable[[H], H]: ...
    @overload
    def on(self, pattern: str, handler: Handler) -> Subscription: ...
    def on(self, pattern: str, handler: Handler | None = None) -> Subscription | Callable[[H], H]:
        """Calls handler(event) for every local event whose name matches
        pattern: "start", "stop", "set", "set:KEY", "delete", "delete:KEY",
        "key:expired", "say:EVENT", "peer:new", "peer:start" (seems alive),
        "peer:stop" (seems dead); wildcards as in hear."""
        return self._register("", pattern, handler)

    def off(self, handler: Handler | Subscription) -> int:
        """Ends a subscription, or every subscription of a handler (for the
        decorator forms); returns how many were ended."""
        if isinstance(handler, Subscription):
            targets = [handler]
        else:
            targets = [s for s in self._subscriptions() if s.handler == handler]
        n = 0
        for s in targets:
            if not s.closed:
                n += 1
            s.close()
        return n

    def events(self, pattern: str = "**", queue: int = 0) -> EventStream:
        """A stream of the local events matching pattern (the names of on()),
        to pull with ``get()``, ``for`` or ``async for``; queue is how many
        wait before being dropped (0: the configured handler_queue)."""
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be str, not {type(pattern).__name__}")
        return EventStream(self._h(), pattern, queue)

    # ---------------------------------------------------------------- async

    async def astart(self) -> Peer:
        """start() for asyncio: binds on a worker thread."""
        self._h()
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """stop() for asyncio."""
        self._h()
        await asyncio.to_thread(self.stop)

    async def aclose(self) -> None:
        """close() for asyncio (waits for running handlers on a worker
        thread)."""
        await asyncio.to_thread(self.close)

    async def aask(self, event: str, data: Any = None, timeout: Any = 1.0) -> dict[str, Any]:
        """ask() for asyncio: the wait runs on a worker thread. Arguments are
        checked before it starts."""
        _values.text(event, "event")
        _values.encode(data, "data")
        _values.millis(timeout, "timeout")
        self._h()
        return await asyncio.to_thread(self.ask, event, data, timeout)
