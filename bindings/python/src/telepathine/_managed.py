"""Managed: the one base class of every object that owns a library handle
(the wasmtime-py pattern).

- ``close()`` is idempotent; the object is a context manager (sync and
  async) that closes on exit.
- Using an object after close raises ClosedError in Python, before any call
  into C (the library would also answer TP_ERR_CLOSED: handles are never
  reused).
- A ``weakref.finalize`` safety net closes the handle when the object is
  garbage-collected without close(), or at interpreter exit. It holds only
  the close function and the handle number, never the object, so it never
  keeps the object alive; it never blocks on Python code, so it is safe on
  any thread (a package thread included); it does nothing in a forked child.
"""

from __future__ import annotations

import weakref
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from . import _native
from .errors import ClosedError

_M = TypeVar("_M", bound="Managed")


class Managed:
    """Owns one library handle; see the module docstring."""

    _what: ClassVar[str] = "object"
    _handle: int = 0
    _finalizer: weakref.finalize[Any, Any] | None = None

    def _adopt(self, handle: int, close: Any) -> None:
        """Takes ownership of handle, closed by close(handle, err)."""
        self._handle = handle
        self._finalizer = weakref.finalize(self, _native.close_quietly, close, handle)

    def _h(self) -> int:
        """The handle, checked: ClosedError after close, ForkError in a
        forked child."""
        h = self._handle
        if not h:
            raise ClosedError(f"telepathine: this {self._what} is closed", -4, "TP_ERR_CLOSED")
        if _native.forked:
            _native.check_fork()
        return h

    def _release(self) -> bool:
        """Marks the object closed and closes its handle (once): returns
        True for the call that did it."""
        if not self._handle:
            return False
        self._handle = 0
        if self._finalizer is not None:
            self._finalizer()  # closes the handle; runs at most once
        return True

    @property
    def closed(self) -> bool:
        """Whether close() was called (or the object was otherwise ended)."""
        return not self._handle

    def close(self) -> None:
        """Releases the handle. Idempotent."""
        self._release()

    def __enter__(self: _M) -> _M:
        self._h()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
