"""Client hooks: every model call made through openai, anthropic or LiteLLM is recorded.

``instrument_openai()`` patches the client library's resource methods (chat completions,
the Responses API, embeddings, legacy completions; sync and async, streamed or not), so calls
made anywhere in the app, inside libraries too, are recorded without touching the app's code.
Inside an ``@llm`` call they are recorded on its span, whatever the decorated function
returns; elsewhere each gets a span ``{operation} {model}`` (see ``_hooks.py``).

The client libraries stay the app's: nothing here imports one before it is instrumented, and
``instrument_*`` returns False when the library is not installed. ``uninstrument_*`` puts the
original methods back. ``init(instrument=[...])`` calls these for you.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any

from glassline.instrumentation._hooks import Target, async_call, sync_call
from glassline.semconv.attributes import Operations

__all__ = [
    "LIBRARIES",
    "instrument",
    "instrument_anthropic",
    "instrument_litellm",
    "instrument_openai",
    "uninstrument",
    "uninstrument_anthropic",
    "uninstrument_litellm",
    "uninstrument_openai",
]

_CHAT = Operations.CHAT
_OPENAI = "openai"
_ANTHROPIC = "anthropic"

# (module, owner of the method: a class name or "" for the module, method, operation)
_OPENAI_METHODS = [
    ("openai.resources.chat.completions", "Completions", "create", _CHAT),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", _CHAT),
    ("openai.resources.responses", "Responses", "create", _CHAT),
    ("openai.resources.responses", "AsyncResponses", "create", _CHAT),
    ("openai.resources.embeddings", "Embeddings", "create", Operations.EMBEDDINGS),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", Operations.EMBEDDINGS),
    ("openai.resources.completions", "Completions", "create", Operations.TEXT_COMPLETION),
    ("openai.resources.completions", "AsyncCompletions", "create", Operations.TEXT_COMPLETION),
]
_ANTHROPIC_METHODS = [
    ("anthropic.resources.messages", "Messages", "create", _CHAT),
    ("anthropic.resources.messages", "AsyncMessages", "create", _CHAT),
    ("anthropic.resources.messages", "Messages", "stream", _CHAT),
    ("anthropic.resources.messages", "AsyncMessages", "stream", _CHAT),
]
_LITELLM_METHODS = [
    ("litellm", "", "completion", _CHAT),
    ("litellm", "", "acompletion", _CHAT),
    ("litellm", "", "embedding", Operations.EMBEDDINGS),
    ("litellm", "", "aembedding", Operations.EMBEDDINGS),
]

_MARK = "__glassline_original__"
_lock = threading.Lock()


def _litellm_provider(kwargs: dict[str, Any]) -> str | None:
    """``"anthropic"`` of ``model="anthropic/claude-..."``; None without a prefix."""
    model = kwargs.get("model")
    if isinstance(model, str) and "/" in model:
        return model.split("/", 1)[0]
    given = kwargs.get("custom_llm_provider")
    return given if isinstance(given, str) else None


def _hook(original: Callable[..., Any], target: Target, is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await async_call(target, original, args, kwargs)

        wrapper: Callable[..., Any] = async_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return sync_call(target, original, args, kwargs)

        wrapper = sync_wrapper
    wrapper = functools.wraps(original)(wrapper)
    setattr(wrapper, _MARK, original)
    return wrapper


def _patch(methods: list[tuple[str, str, str, str]], target_of: Callable[[str], Target]) -> bool:
    """Patch every listed method that exists (client versions differ); False if none."""
    patched = False
    with _lock:
        for module_name, owner_name, method, operation in methods:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            owner = getattr(module, owner_name, None) if owner_name else module
            original = getattr(owner, method, None) if owner is not None else None
            if original is None:
                continue
            patched = True
            if hasattr(original, _MARK):
                continue  # instrumented already
            # unwrap: the clients wrap their async methods in sync decorators (required_args)
            is_async = inspect.iscoroutinefunction(inspect.unwrap(original))
            setattr(owner, method, _hook(original, target_of(operation), is_async))
    return patched


def _unpatch(methods: list[tuple[str, str, str, str]]) -> None:
    import sys

    with _lock:
        for module_name, owner_name, method, _ in methods:
            module = sys.modules.get(module_name)  # never imported: nothing was patched
            owner = getattr(module, owner_name, None) if owner_name else module
            current = getattr(owner, method, None) if owner is not None else None
            original = getattr(current, _MARK, None)
            if original is not None:
                setattr(owner, method, original)


def instrument_openai() -> bool:
    """Record every call of the ``openai`` client; False when it is not installed."""
    return _patch(_OPENAI_METHODS, lambda op: Target(_OPENAI, op))


def uninstrument_openai() -> None:
    """Put the ``openai`` client's own methods back."""
    _unpatch(_OPENAI_METHODS)


def instrument_anthropic() -> bool:
    """Record every call of the ``anthropic`` client (``messages.create`` and ``stream``)."""
    return _patch(_ANTHROPIC_METHODS, lambda op: Target(_ANTHROPIC, op))


def uninstrument_anthropic() -> None:
    """Put the ``anthropic`` client's own methods back."""
    _unpatch(_ANTHROPIC_METHODS)


def instrument_litellm() -> bool:
    """Record every ``litellm.completion`` / ``acompletion`` / ``embedding`` / ``aembedding``.

    Only calls through the module (``litellm.completion(...)``) are seen: a name imported
    before instrumenting (``from litellm import completion``) keeps the original function.
    LiteLLM's own calls of the openai client inside are part of the same span.
    """
    return _patch(_LITELLM_METHODS, lambda op: Target(None, op, _litellm_provider))


def uninstrument_litellm() -> None:
    """Put LiteLLM's own functions back."""
    _unpatch(_LITELLM_METHODS)


LIBRARIES: dict[str, tuple[Callable[[], bool], Callable[[], None]]] = {
    "openai": (instrument_openai, uninstrument_openai),
    "anthropic": (instrument_anthropic, uninstrument_anthropic),
    "litellm": (instrument_litellm, uninstrument_litellm),
}


def instrument(names: Iterable[str]) -> list[str]:
    """Instrument the named libraries (keys of :data:`LIBRARIES`); returns those installed."""
    return [name for name in names if LIBRARIES[name][0]()]


def uninstrument(names: Iterable[str] = LIBRARIES) -> None:
    """Put the named libraries' own methods back (default: all)."""
    for name in names:
        LIBRARIES[name][1]()
