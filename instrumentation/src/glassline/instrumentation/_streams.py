"""Keep a span open across a stream a function returns (OpenAI/Anthropic ``Stream``, generators).

The proxy forwards everything to the wrapped stream and ends the span exactly once: on
exhaustion, ``close()``/``aclose()``, leaving a ``with`` block, an error, cancellation, or,
as a last resort, garbage collection of an abandoned stream.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

__all__ = ["NOT_STREAMS", "PLAIN", "wrap_result"]

# Iterators that are values, not streams: never keep a span open for these.
PLAIN = (str, bytes, bytearray, dict, list, tuple, set, frozenset, range, memoryview)


class _CallLike(Protocol):
    ended: bool

    def attach(self) -> None: ...
    def detach(self) -> None: ...
    def chunk(self, item: Any) -> None: ...
    def end(
        self, exc: BaseException | None = None, streamed: bool = False, *, final: Any = None
    ) -> None: ...


# Types found not to be streams (e.g. a provider's response class): callers skip
# wrap_result, whose ABC isinstance calls cost more than reading the response. Bounded.
NOT_STREAMS: set[type] = set()
_MAX_TYPES = 1024


def wrap_result(value: Any, call: _CallLike) -> Any | None:
    """A proxy for a returned stream, or None when ``value`` is not a stream.

    The caller first skips values of :data:`PLAIN` and :data:`NOT_STREAMS` types (cheaply,
    without this call); each type found here not to be a stream joins ``NOT_STREAMS``.
    """
    cls = type(value)
    if cls.__name__.endswith("StreamManager"):  # client.messages.stream(...) and kin
        if hasattr(value, "__enter__"):
            return SyncManagerProxy(value, call)
        if hasattr(value, "__aenter__"):
            return AsyncManagerProxy(value, call)
    if isinstance(value, types.GeneratorType):
        from glassline.instrumentation._lifecycle import drive_generator

        return drive_generator(value, call)  # type: ignore[arg-type]
    if isinstance(value, Iterator):
        return SyncStreamProxy(value, call)
    if isinstance(value, AsyncIterator):
        return AsyncStreamProxy(value, call)
    if len(NOT_STREAMS) < _MAX_TYPES:
        NOT_STREAMS.add(cls)
    return None


class _ProxyBase:
    __slots__ = ("_call", "_it", "_stream")

    def __init__(self, stream: Any, call: _CallLike) -> None:
        object.__setattr__(self, "_stream", stream)
        object.__setattr__(self, "_call", call)
        object.__setattr__(self, "_it", None)

    def __getattr__(self, name: str) -> Any:
        # Everything else (``response``, ``get_final_message``, ...) is the stream's own.
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return repr(self._stream)

    def __del__(self) -> None:
        call = self._call
        if call is not None and not call.ended:
            call.end(streamed=True)


class SyncStreamProxy(_ProxyBase):
    """Wraps a sync iterator-like stream (``openai.Stream``, ``anthropic.Stream``)."""

    __slots__ = ()

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        if self._it is None:
            object.__setattr__(self, "_it", iter(self._stream))
        try:
            item = next(self._it)
        except StopIteration:
            self._call.end(streamed=True)
            raise
        except BaseException as exc:
            self._call.end(exc, streamed=True)
            raise
        self._call.chunk(item)
        return item

    def close(self) -> None:
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        finally:
            self._call.end(streamed=True)

    def __enter__(self) -> SyncStreamProxy:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self._call.end(exc, streamed=True)
        self.close()


class AsyncStreamProxy(_ProxyBase):
    """Wraps an async iterator-like stream (``openai.AsyncStream``, ``anthropic.AsyncStream``)."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        if self._it is None:
            object.__setattr__(self, "_it", self._stream.__aiter__())
        try:
            item = await self._it.__anext__()
        except StopAsyncIteration:
            self._call.end(streamed=True)
            raise
        except BaseException as exc:
            self._call.end(exc, streamed=True)
            raise
        self._call.chunk(item)
        return item

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None) or getattr(self._stream, "close", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        finally:
            self._call.end(streamed=True)

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self._call.end(exc, streamed=True)
        await self.aclose()


_SNAPSHOTS = ("current_message_snapshot", "current_completion_snapshot")


def _snapshot(stream: Any) -> Any:
    """The final (or latest) response a helper stream assembled, if it can tell."""
    for name in _SNAPSHOTS:
        try:
            value = getattr(stream, name, None)
        except Exception:  # no snapshot yet (nothing was read)
            continue
        if value is not None:
            return value
    getter = getattr(stream, "get_final_response", None)  # openai Responses stream
    if getter is not None:
        try:
            return getter()
        except Exception:
            return None
    return None


class SyncManagerProxy(_ProxyBase):
    """Wraps a ``with client.messages.stream(...) as stream:`` style manager.

    Iterating the stream records chunks as usual; if the app reads it some other way
    (``stream.text_stream``, ``until_done()``), the span still gets the tokens from the
    stream's own final snapshot when the ``with`` block exits.
    """

    __slots__ = ()

    def __enter__(self) -> Any:
        self._call.attach()  # the request is made here: inside the call's span
        try:
            inner = self._stream.__enter__()
        finally:
            self._call.detach()
        object.__setattr__(self, "_it", inner)
        return SyncStreamProxy(inner, self._call)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        try:
            return self._stream.__exit__(exc_type, exc, tb)
        finally:
            self._call.end(exc, streamed=True, final=_snapshot(self._it))


class AsyncManagerProxy(_ProxyBase):
    """The async twin of :class:`SyncManagerProxy`."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        self._call.attach()
        try:
            inner = await self._stream.__aenter__()
        finally:
            self._call.detach()
        object.__setattr__(self, "_it", inner)
        return AsyncStreamProxy(inner, self._call)

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        try:
            return await self._stream.__aexit__(exc_type, exc, tb)
        finally:
            self._call.end(exc, streamed=True, final=_snapshot(self._it))
