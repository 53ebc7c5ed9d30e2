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

import asyncio
import collections
import ctypes
import enum
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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
_VALUED = frozenset({"set", "delete", "expired", "say", "ask"})


@dataclass(slots=True)
class Event:
    """One local event.

    ``name`` is the most specific name it was emitted under (``set:color``,
    ``say:chat:hello``, ``peer:start``); ``peer`` the peer it is about (the
    owner of a key, the sender of a say, the peer that joined or died; the
    local peer for start and stop). ``key`` is the key (set, delete,
    expired) or the event name as said (say, ask: ``chat:hello``); ``value``
    the new value (set), the last one (delete, expired) or the data (say,
    ask), as the Python type it was set as; ``expires_at`` the key's expiry
    or the end of a say's delivery in Unix milliseconds, None for none.

    Each subscription gets an Event object of its own. (Not a frozen
    dataclass on purpose: freezing costs more than a third of an event's
    delivery time.)
    """

    name: str
    kind: EventKind
    peer: str
    key: str = ""
    value: Any = None
    expires_at: int | None = None
    ask_id: int = 0
    _engine: int = field(default=0, repr=False, compare=False)

    @property
    def data(self) -> Any:
        """The data of a say or ask (the same as ``value``)."""
        return self.value

    @property
    def is_ask(self) -> bool:
        """Whether the event is an ask, to be answered with reply()."""
        return self.kind is EventKind.ASK

    def reply(self, value: Any) -> None:
        """Answers an ask with value (bytes, str or JSON-serialisable). Only
        the first reply per ask reaches the asker; later ones are dropped.
        UnknownAskError if the event is not an ask or the ask is over;
        NotRunningError if the peer is stopped; ClosedError if closed."""
        if self.kind is not EventKind.ASK:
            raise UnknownAskError(f"telepathine: {self.name} is not an ask", -11, "TP_ERR_UNKNOWN_ASK")
        data, enc = _values.encode(value, "reply")
        _native.check_fork()
        _native.call(_native.engine_reply, self._engine, self.ask_id, data, len(data), enc)


_Event_FromString = api_pb2.Event.FromString
_EventBatch_FromString = api_pb2.EventBatch.FromString
_decode = _values.decode


def decode_event(raw: bytes, engine: int) -> Event:
    """An Event from a serialized telepathine.api.v1.Event."""
    return _from_message(_Event_FromString(raw), engine)


def decode_batch(raw: bytes, engine: int) -> list[Event]:
    """The Events of a serialized telepathine.api.v1.EventBatch, oldest
    first: parsed in one call of the protobuf runtime, then read. Says, the
    bulk of any flood, are read inline (a function call and a lookup less
    per event)."""
    out: list[Event] = []
    append = out.append
    say, text = EventKind.SAY, _native.ENCODING_TEXT
    for m in _EventBatch_FromString(raw).events:
        if m.WhichOneof("kind") == "say":
            d = m.say
            v = d.data
            data, enc = v.data, v.encoding
            value = data.decode("utf-8", "surrogateescape") if enc == text else _decode(data, enc)
            append(Event(m.name, say, m.peer, d.event, value, d.expires_at_ms or None, 0, engine))
        else:
            append(_from_message(m, engine))
    return out


def _from_message(m: api_pb2.Event, engine: int) -> Event:
    which = m.WhichOneof("kind")
    if which == "say":
        d = m.say
        v = d.data
        return Event(
            m.name, EventKind.SAY, m.peer, d.event, _decode(v.data, v.encoding), d.expires_at_ms or None, 0, engine
        )
    if which == "ask":
        a = m.ask
        v = a.data
        return Event(
            m.name,
            EventKind.ASK,
            m.peer,
            a.event,
            _decode(v.data, v.encoding),
            a.expires_at_ms or None,
            a.ask_id,
            engine,
        )
    if which in _VALUED:
        c = getattr(m, which)
        v = c.value
        return Event(
            m.name, _KINDS[which], m.peer, c.key, _decode(v.data, v.encoding), c.expires_at_ms or None, 0, engine
        )
    return Event(m.name, _KINDS.get(which or "", EventKind.UNKNOWN), m.peer, _engine=engine)


Handler = Callable[[Event], object]
"""A handler takes the Event. For an ask, a return value other than None is
the reply (as if the handler had called ``event.reply(value)``)."""


def _take_many(stream: int, engine: int, timeout_ms: int) -> list[Event] | None:
    """Polls the events queued (at least one): None on timeout, ClosedError
    at the stream's end."""
    raw = _native.call_out(_native.events_poll_many, stream, timeout_ms, _POLL_MANY)
    if raw is None:
        return None
    return decode_batch(raw, engine)


# Events taken per crossing of the C boundary (tp_events_poll_many).
_POLL_MANY = 1024


def _batch_taker(stream: int, engine: int, max_events: int = _POLL_MANY) -> Callable[[int], list[Event] | None]:
    """Takes a batch (the events queued, up to max_events) per call: None
    on timeout, ClosedError at the stream's end. Output buffers are made
    once per thread and reused."""
    out, err = _native.Buf(), _native.Buf()
    pout, perr = ctypes.byref(out), ctypes.byref(err)
    poll, string_at, free = _native.events_poll_many, ctypes.string_at, _native.buf_free

    def take(timeout_ms: int) -> list[Event] | None:
        rc = poll(stream, timeout_ms, max_events, pout, perr)
        if rc == _native.OK:
            try:
                raw = string_at(out.data, out.len)
            finally:
                free(pout)
            return decode_batch(raw, engine)
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
        take = _batch_taker(self._stream, self._engine, 1 if self._once else _POLL_MANY)
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
            batch = _take_many(h, self._engine, timeout_ms)
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
                    _batch_taker(self._stream, self._engine, _BATCH),
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
    batch (the events queued, up to _BATCH, in one tp_events_poll_many)
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
