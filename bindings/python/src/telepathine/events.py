"""Events: what handlers and event streams receive, subscriptions, streams.

Every subscription (``Peer.hear``, ``hear_once``, ``know``, ``on``) and every
stream (``Peer.events``) is one poll stream of the engine (``tp_events_open``)
with its own pattern: the engine matches names, so wildcards mean exactly
what they mean in Go, Node and C (EventEmitter2 with ``:``; an event with
several names, such as a set that is both ``set`` and ``set:KEY``, arrives
once). No Go thread ever calls into Python.

A subscription's handler runs on a thread the package owns, one per
subscription (the engine's contract, kept): a handler is never called
concurrently with itself, gets its events in the order they happened, may
block and may call the peer; while it blocks its events wait in the engine's
queue (``handler_queue``, then dropped and counted in ``stats()``), and no
other subscription waits for it. An exception raised by a handler is logged
on the ``telepathine`` logger with its traceback (so, with logging left
unconfigured, printed on stderr) and the subscription goes on.
"""

from __future__ import annotations

import array
import asyncio
import collections
import ctypes
import enum
import json
import logging
import struct
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union, cast

from . import _native, _values
from ._managed import Managed
from .api.v1 import api_pb2
from .errors import ClosedError, TelepathineError, UnknownAskError

log = logging.getLogger("telepathine")

__all__ = ["Event", "EventKind", "EventStream", "Handler", "Subscription"]


class EventKind(str, enum.Enum):
    """What an event reports (the Event message's ``kind``)."""

    START = "start"  #: the local peer started ("start")
    STOP = "stop"  #: the local peer stopped ("stop")
    SET = "set"  #: another peer set a key ("set", "set:KEY")
    DELETE = "delete"  #: another peer deleted a key ("delete", "delete:KEY")
    EXPIRED = "expired"  #: a key reached its expiry, own keys included ("key:expired")
    SAY = "say"  #: another peer said something ("say:EVENT")
    ASK = "ask"  #: another peer asked something ("say:EVENT"); reply to it
    PEER_NEW = "peer_new"  #: a peer was discovered ("peer:new")
    PEER_ALIVE = "peer_alive"  #: a peer seems alive ("peer:start")
    PEER_DEAD = "peer_dead"  #: a peer seems dead ("peer:stop")
    UNKNOWN = "unknown"  #: a kind this package does not know (a newer library)

    def __str__(self) -> str:
        return self.value


_KINDS = {k.value: k for k in EventKind}
_json_loads = json.loads
_VALUED = frozenset({"set", "delete", "expired", "say", "ask"})


class Event(tuple[str, EventKind, str, str, Any, "int | None", int]):
    """One local event: an immutable named tuple of (name, kind, peer, key,
    value, expires_at, ask_id).

    ``name`` is the most specific name it was emitted under (``set:color``,
    ``say:chat:hello``, ``peer:start``); ``peer`` the peer it is about (the
    owner of a key, the sender of a say, the peer that joined or died; the
    local peer for start and stop). ``key`` is the key (set, delete,
    expired) or the event name as said (say, ask: ``chat:hello``), "" for
    other kinds; ``value`` the new value (set), the last one (delete,
    expired) or the data (say, ask), as the Python type it was set as, None
    for other kinds; ``expires_at`` the key's expiry or the end of a say's
    delivery in Unix milliseconds, None for none; ``ask_id`` identifies an
    ask (0 for other kinds).

    A tuple because the package builds the events of a batch in C (one
    ``tuple.__new__`` each, through ``map``): a class with an ``__init__``
    in Python costs more than everything else an event needs. Events made
    by the package know their peer, for ``reply()``; ``Event(...)`` made by
    hand does not (reply then fails).
    """

    __slots__ = ()
    # The engine handle, for reply(): each subscription and stream has its
    # own subclass carrying it (event_class), so the tuple holds only what
    # the event says.
    _engine: ClassVar[int] = 0

    def __new__(
        cls,
        name: str,
        kind: EventKind,
        peer: str,
        key: str = "",
        value: Any = None,
        expires_at: int | None = None,
        ask_id: int = 0,
    ) -> Event:
        return tuple.__new__(cls, (name, kind, peer, key, value, expires_at, ask_id))

    if TYPE_CHECKING:

        @property
        def name(self) -> str: ...
        @property
        def kind(self) -> EventKind: ...
        @property
        def peer(self) -> str: ...
        @property
        def key(self) -> str: ...
        @property
        def value(self) -> Any: ...
        @property
        def expires_at(self) -> int | None: ...
        @property
        def ask_id(self) -> int: ...

    else:
        # Fields read by C (itemgetter), not by a Python function.
        name = property(itemgetter(0), doc="The most specific name of the event.")
        kind = property(itemgetter(1), doc="What the event reports (an EventKind).")
        peer = property(itemgetter(2), doc="The peer the event is about.")
        key = property(itemgetter(3), doc='The key, or the event name as said; "" for other kinds.')
        value = property(itemgetter(4), doc="The value or the data; None for other kinds.")
        expires_at = property(itemgetter(5), doc="Unix milliseconds, or None for none.")
        ask_id = property(itemgetter(6), doc="The ask's id (0 unless an ask).")

    def __repr__(self) -> str:
        return (
            f"Event(name={self[0]!r}, kind={self[1]!s}, peer={self[2]!r}, key={self[3]!r}, "
            f"value={self[4]!r}, expires_at={self[5]!r}, ask_id={self[6]!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as a plain Event: the engine handle means nothing in
        # another process.
        return (Event, tuple(self))

    def _replace(self, **fields: Any) -> Event:
        """A copy with some fields changed (as namedtuple's), that still
        replies for its peer."""
        values = dict(zip(_FIELDS, self, strict=True))
        for k, v in fields.items():
            if k not in values:
                raise TypeError(f"Event has no field {k!r}")
            values[k] = v
        return tuple.__new__(type(self), tuple(values.values()))

    @property
    def data(self) -> Any:
        """The data of a say or ask (the same as ``value``)."""
        return self[4]

    @property
    def is_ask(self) -> bool:
        """Whether the event is an ask, to be answered with reply()."""
        return self[1] is EventKind.ASK

    def reply(self, value: Any) -> None:
        """Answers an ask with value (bytes, str or JSON-serialisable). Only
        the first reply per ask reaches the asker; later ones are dropped.
        UnknownAskError if the event is not an ask or the ask is over;
        NotRunningError if the peer is stopped; ClosedError if closed."""
        if self[1] is not EventKind.ASK:
            raise UnknownAskError(f"telepathine: {self[0]} is not an ask", -11, "TP_ERR_UNKNOWN_ASK")
        data, enc = _values.encode(value, "reply")
        _native.check_fork()
        _native.call(_native.engine_reply, self._engine, self[6], data, len(data), enc)


_FIELDS = ("name", "kind", "peer", "key", "value", "expires_at", "ask_id")


def event_class(engine: int) -> type[Event]:
    """The Event subclass of one subscription or stream of engine: its
    events reply through that engine."""
    ns = {"__slots__": (), "_engine": engine, "__module__": __name__, "__qualname__": "Event"}
    return cast("type[Event]", type("Event", (Event,), ns))


_Event_FromString = api_pb2.Event.FromString
_decode = _values.decode


def decode_event(raw: bytes, cls: type[Event] = Event) -> Event:
    """An Event (of class cls) from a serialized telepathine.api.v1.Event."""
    return _from_message(_Event_FromString(raw), cls)


# The flat batch of tp_events_poll_flat (cgo/telepathine.h): a header, the
# offsets of a table of strings, the table (each string followed by a 0
# byte), then from the next multiple of 8 one column per field, and raw
# value bytes at the end.
_FLAT_HEADER = struct.Struct("<IIII")
_FLAT_HEADER_SIZE = 32
# Bytes of columns per event: expires_at_ms, ask_id, name, peer, key,
# value, value_len, kind, encoding, flags.
_FLAT_EVENT_SIZE = 8 + 8 + 5 * 4 + 3
_FLAT_VALUE_STRING = 1
# TP_EVENT_* (a byte) -> kind: 1 start ... 10 peer:stop, others unknown.
_FLAT_KINDS = (
    EventKind.UNKNOWN,
    EventKind.START,
    EventKind.STOP,
    EventKind.SET,
    EventKind.DELETE,
    EventKind.EXPIRED,
    EventKind.SAY,
    EventKind.ASK,
    EventKind.PEER_NEW,
    EventKind.PEER_ALIVE,
    EventKind.PEER_DEAD,
) + (EventKind.UNKNOWN,) * 245
# map(_zero_none, xs, xs): x, or None for 0, without a Python call.
_zero_none = {0: None}.get


_Column = Union["memoryview[int]", "array.array[int]"]


def _column(mv: memoryview, fmt: Literal["q", "Q", "I"]) -> _Column:
    """A column of little-endian integers as a sequence of ints: the bytes
    themselves on a little-endian host, a swapped copy elsewhere."""
    if _LITTLE:
        return mv.cast(fmt)
    col = array.array(fmt, mv)
    col.byteswap()
    return col


_LITTLE = sys.byteorder == "little"


def decode_flat(raw: bytes, cls: type[Event] = Event) -> list[Event]:
    """The Events (of class cls) of a flat batch (tp_events_poll_flat),
    oldest first.

    Everything per event runs in C: the table of strings is decoded and
    split in one call each (a name, peer or key shared by many events is
    decoded once per batch; text and JSON values are strings of that
    table), each column is read through a memoryview, and the events are
    built by map and zip over the columns. Only values that are not all
    text strings (or all JSON) take a Python call per event."""
    n, nstrings, table_len, data_len = _FLAT_HEADER.unpack_from(raw)
    if n == 0:
        return []  # never made by the library (a batch holds an event)
    table_at = _FLAT_HEADER_SIZE + 4 * nstrings
    strs = raw[table_at : table_at + table_len].decode("utf-8").split("\0")
    if len(strs) != nstrings + 1:
        raise ValueError(f"telepathine: a flat batch with {len(strs) - 1} strings, {nstrings} announced")
    at = (table_at + table_len + 7) & ~7
    data_at = len(raw) - data_len
    if at + n * _FLAT_EVENT_SIZE > data_at:
        raise ValueError("telepathine: a flat batch shorter than its columns")
    mv = memoryview(raw)
    expires = _column(mv[at : at + 8 * n], "q")
    asks = _column(mv[at + 8 * n : at + 16 * n], "Q")
    u32 = _column(mv[at + 16 * n : at + 36 * n], "I")
    kinds, encs, flags = raw[at + 36 * n : at + 37 * n], raw[at + 37 * n : at + 38 * n], raw[at + 38 * n : at + 39 * n]
    get = strs.__getitem__
    values: Iterable[Any]
    if flags.count(_FLAT_VALUE_STRING) == n and encs.count(_native.ENCODING_TEXT) == n:
        values = map(get, u32[3 * n : 4 * n])
    elif flags.count(_FLAT_VALUE_STRING) == n and encs.count(_native.ENCODING_JSON) == n:
        values = map(_json_loads, map(get, u32[3 * n : 4 * n]))
    else:
        values = map(_value_reader(strs, raw, data_at), kinds, encs, flags, u32[3 * n : 4 * n], u32[4 * n : 5 * n])
    # A column whose values are all the same (a flood: one name, one peer,
    # one kind) is read once.
    kind = _FLAT_KINDS[kinds[0]]
    exp = expires.tolist()
    zeros = exp.count(0)
    return list(
        map(
            tuple.__new__,
            repeat(cls, n),
            zip(
                _strings(u32[0:n], get, n),
                repeat(kind, n) if kinds.count(kinds[0]) == n else map(_FLAT_KINDS.__getitem__, kinds),
                _strings(u32[n : 2 * n], get, n),
                _strings(u32[2 * n : 3 * n], get, n),
                values,
                exp if zeros == 0 else repeat(None, n) if zeros == n else map(_zero_none, exp, exp),
                asks,
                strict=True,
            ),
        )
    )


def _strings(col: _Column, get: Callable[[int], str], n: int) -> Iterable[str]:
    """The strings of a column of string indexes: one string repeated when
    every index is the same (compared as bytes, in C)."""
    b = col.tobytes()
    if b == b[:4] * n:
        return repeat(get(col[0]), n)
    return map(get, col)


def _value_reader(strs: list[str], raw: bytes, data_at: int) -> Callable[[int, int, int, int, int], Any]:
    """The value of one event of a flat batch, from its kind, encoding,
    flags, value and value_len."""
    text, json_, decode, loads = _native.ENCODING_TEXT, _native.ENCODING_JSON, _decode, _json_loads

    def value(kind: int, enc: int, flags: int, ref: int, n: int) -> Any:
        if not 3 <= kind <= 7:  # only set, delete, expired, say and ask carry one
            return None
        if flags & _FLAT_VALUE_STRING:
            s = strs[ref]
            if enc == text:
                return s
            return loads(s) if enc == json_ else decode(s.encode(), enc)
        return decode(raw[data_at + ref : data_at + ref + n], enc)

    return value


def _from_message(m: api_pb2.Event, cls: type[Event]) -> Event:
    which = m.WhichOneof("kind")
    if which == "say":
        d = m.say
        v = d.data
        return cls(m.name, EventKind.SAY, m.peer, d.event, _decode(v.data, v.encoding), d.expires_at_ms or None)
    if which == "ask":
        a = m.ask
        v = a.data
        value = _decode(v.data, v.encoding)
        return cls(m.name, EventKind.ASK, m.peer, a.event, value, a.expires_at_ms or None, a.ask_id)
    if which in _VALUED:
        c = getattr(m, which)
        v = c.value
        return cls(m.name, _KINDS[which], m.peer, c.key, _decode(v.data, v.encoding), c.expires_at_ms or None)
    return cls(m.name, _KINDS.get(which or "", EventKind.UNKNOWN), m.peer)


Handler = Callable[[Event], object]
"""A handler takes the Event. For an ask, a return value other than None is
the reply (as if the handler had called ``event.reply(value)``)."""


def _take_many(stream: int, cls: type[Event], timeout_ms: int) -> list[Event] | None:
    """Polls the events queued (at least one): None on timeout, ClosedError
    at the stream's end."""
    raw = _native.call_out(_native.events_poll_flat, stream, timeout_ms, _POLL_MANY)
    if raw is None:
        return None
    return decode_flat(raw, cls)


# Events taken per crossing of the C boundary (tp_events_poll_flat).
_POLL_MANY = 1024


def _batch_taker(stream: int, cls: type[Event], max_events: int = _POLL_MANY) -> Callable[[int], list[Event] | None]:
    """Takes a batch (the events queued, up to max_events) per call: None
    on timeout, ClosedError at the stream's end. Output buffers are made
    once per thread and reused."""
    out, err = _native.Buf(), _native.Buf()
    pout, perr = ctypes.byref(out), ctypes.byref(err)
    poll, string_at, free = _native.events_poll_flat, ctypes.string_at, _native.buf_free

    def take(timeout_ms: int) -> list[Event] | None:
        rc = poll(stream, timeout_ms, max_events, pout, perr)
        if rc == _native.OK:
            try:
                raw = string_at(out.data, out.len)
            finally:
                free(pout)
            return decode_flat(raw, cls)
        if rc < 0:
            raise _native.error(rc, err)
        return None

    return take


def open_stream(engine: int, pattern: str, queue: int) -> int:
    """Opens an engine poll stream; returns its handle."""
    p = _values.text(pattern, "pattern")
    h = ctypes.c_uint64(0)
    _native.call(_native.events_open, engine, p, len(p), queue, ctypes.byref(h))
    return int(h.value)


class Subscription(Managed):
    """A handler subscribed to the events matching a pattern, running on a
    thread of its own until close() (or the peer's close).

    close() returns once the handler is not running and will not run again,
    unless called from inside the handler itself (then the current call is
    the last). The thread keeps the subscription, and so the handler, alive
    while it runs: dropping the Subscription object does not end it.
    """

    _what = "subscription"

    def __init__(
        self,
        engine: int,
        pattern: str,
        handler: Handler,
        *,
        once: bool,
        registry: set[Subscription],
        registry_lock: threading.Lock,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self.pattern = pattern
        """The engine pattern (``say:`` + the pattern of hear, ``set:`` + that of know)."""
        self.handler = handler
        self._engine = engine
        self._event_cls = event_class(engine)
        self._once = once
        self._stopping = False
        self._registry = registry
        self._registry_lock = registry_lock
        self._adopt(open_stream(engine, pattern, 0), _native.events_close)
        self._stream = self._handle
        self._thread = threading.Thread(target=self._run, name=f"telepathine {pattern}", daemon=True)
        with registry_lock:
            registry.add(self)
        self._thread.start()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "active"
        return f"<telepathine.Subscription {self.pattern!r} {state}>"

    def _stop(self) -> None:
        """Ends delivery without waiting: no handler call starts after it,
        and a poll blocked on the stream wakes up."""
        self._stopping = True
        self._release()

    def close(self) -> None:
        """Ends the subscription; waits for a running handler to return
        (except when called from the handler itself). Idempotent."""
        self._stop()
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        # A once-subscription takes one event, so none is taken and lost.
        take = _batch_taker(self._stream, self._event_cls, 1 if self._once else _POLL_MANY)
        try:
            while not self._stopping:
                try:
                    batch = take(-1)
                except ClosedError:
                    break  # closed by close(), or the engine's close
                except TelepathineError:
                    raise
                except Exception:  # a batch that does not decode: skip it
                    log.exception("telepathine: events of %r could not be decoded", self.pattern)
                    continue
                if batch is None:
                    continue
                if self._once:
                    self._stop()
                    self._dispatch(batch[0])  # a batch of one: see above
                    break
                handler = self.handler
                for ev in batch:
                    if self._stopping:
                        break  # close() ends delivery between two events
                    # _dispatch, inlined: this loop is the hot path
                    try:
                        result = handler(ev)
                        if result is not None and ev.kind is EventKind.ASK:
                            ev.reply(result)
                    except Exception:
                        log.exception("telepathine: handler %r for %r raised on %s", handler, self.pattern, ev.name)
        except Exception:  # pragma: no cover - a library failure
            log.exception("telepathine: subscription %r failed", self.pattern)
        finally:
            self._stopping = True
            self._release()
            with self._registry_lock:
                self._registry.discard(self)

    def _dispatch(self, ev: Event) -> None:
        try:
            result = self.handler(ev)
            if result is not None and ev.kind is EventKind.ASK:
                ev.reply(result)
        except Exception:
            log.exception("telepathine: handler %r for %r raised on %s", self.handler, self.pattern, ev.name)


# Poll in slices when waiting without a deadline, so that the thread that
# waits (often the main one) still sees KeyboardInterrupt.
_WAIT_SLICE_MS = 250
# Events the async reader takes per hand-off to the event loop.
_BATCH = 256


class EventStream(Managed):
    """The events matching a pattern, pulled by the caller (``Peer.events``):
    ``get()``, ``for event in stream`` or ``async for event in stream``.

    Events wait in the engine's queue (``handler_queue`` of them by default,
    then are dropped and counted) until taken. Iteration ends when the
    stream is closed (close(), or the peer's close after the events already
    queued). Closing wakes a blocked ``get``.

    ``async for`` takes events on a thread of the stream's own, one batch
    (the events already queued, up to 256) ahead of the consumer at most, so
    cancelling the loop (a task cancelled, a timeout) loses no event: those
    already taken wait for the next ``__anext__``.
    """

    _what = "event stream"

    def __init__(self, engine: int, pattern: str, queue: int = 0) -> None:
        if isinstance(queue, bool) or not isinstance(queue, int):
            raise TypeError(f"queue must be int, not {type(queue).__name__}")
        if not 0 <= queue <= 1 << 20:
            raise ValueError(f"queue must be between 0 and {1 << 20}, not {queue}")
        self.pattern = pattern
        self._engine = engine
        self._event_cls = event_class(engine)
        self._adopt(open_stream(engine, pattern, queue), _native.events_close)
        self._stream = self._handle
        self._ended = False
        self._pending: collections.deque[Event] = collections.deque()
        # asyncio side, made on first use
        self._aqueue: asyncio.Queue[Event | None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._credit = threading.Semaphore(0)
        self._outstanding = False
        self._reader: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<telepathine.EventStream {self.pattern!r} {state}>"

    def close(self) -> None:
        """Closes the stream; queued events are discarded. Idempotent."""
        self._release()
        self._pending.clear()
        self._credit.release()  # wakes the async reader, if any

    def get(self, timeout: float | None = None) -> Event | None:
        """Takes the next event, waiting up to timeout seconds (None: until
        one comes); None on timeout. ClosedError once the stream is closed
        or its peer closed (after the events already queued)."""
        h = self._h()
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"timeout must be seconds (int or float), not {type(timeout).__name__}")
            return self._poll(h, max(0, round(timeout * 1000)))
        while True:
            ev = self._poll(h, _WAIT_SLICE_MS)
            if ev is not None:
                return ev

    def _poll(self, h: int, timeout_ms: int) -> Event | None:
        # Events come in batches (one crossing of the C boundary for all
        # those queued); the rest of a batch waits here for the next get.
        pending = self._pending
        if pending:
            return pending.popleft()
        try:
            batch = _take_many(h, self._event_cls, timeout_ms)
        except ClosedError:
            self._ended = True
            raise
        if not batch:
            return None
        pending.extend(batch)
        return pending.popleft()

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._pending:
            return self._pending.popleft()
        if self.closed or self._ended:
            raise StopIteration
        try:
            ev = self.get()
        except ClosedError:
            raise StopIteration from None
        assert ev is not None
        return ev

    # ---------------------------------------------------------------- async

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._aqueue is None:
            if self.closed or self._ended:
                raise StopAsyncIteration
            self._loop = asyncio.get_running_loop()
            self._aqueue = asyncio.Queue()
            self._reader = threading.Thread(
                target=_read_ahead,
                args=(
                    weakref.ref(self),
                    self._loop,
                    self._credit,
                    _batch_taker(self._stream, self._event_cls, _BATCH),
                    self.pattern,
                ),
                name=f"telepathine events {self.pattern}",
                daemon=True,
            )
            self._reader.start()
        if self._ended and self._aqueue.empty():
            raise StopAsyncIteration
        if self._aqueue.empty() and not self._outstanding:
            self._outstanding = True
            self._credit.release()
        ev = await self._aqueue.get()  # cancellation leaves the item queued
        if ev is None:
            self._ended = True
            raise StopAsyncIteration
        return ev

    def _deliver(self, batch: list[Event | None]) -> None:
        self._outstanding = False
        assert self._aqueue is not None
        for item in batch:
            self._aqueue.put_nowait(item)

    async def __aenter__(self) -> EventStream:
        self._h()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """close() for async code."""
        self.close()


def _read_ahead(
    ref: weakref.ref[EventStream],
    loop: asyncio.AbstractEventLoop,
    credit: threading.Semaphore,
    take: Callable[[int], list[Event] | None],
    pattern: str,
) -> None:
    """The async reader thread of an EventStream: per credit, takes one
    batch (the events queued, up to _BATCH, in one tp_events_poll_flat)
    and hands it to the loop in one call; None marks the end. It holds the stream
    weakly, so an abandoned stream is still collected (its finalizer closes
    the engine stream, which wakes a blocked poll) and the thread ends."""
    while True:
        if not credit.acquire(timeout=1.0):
            if ref() is None:
                return
            continue
        stream = ref()
        batch: list[Event | None] = []
        try:
            if stream is not None and not stream.closed:
                del stream  # not held while blocked
                batch.extend(take(-1) or ())
            else:
                batch.append(None)
        except ClosedError:
            batch.append(None)
        except Exception:  # pragma: no cover - a library failure
            log.exception("telepathine: event stream %r failed", pattern)
            batch.append(None)
        try:
            loop.call_soon_threadsafe(_deliver, ref, batch)
        except RuntimeError:  # the loop is closed
            return
        if batch and batch[-1] is None:
            return


def _deliver(ref: weakref.ref[EventStream], batch: list[Event | None]) -> None:
    stream = ref()
    if stream is not None:
        stream._deliver(batch)
