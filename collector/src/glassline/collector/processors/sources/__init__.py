"""Mapping tables from other LLM instrumentation libraries to the Glassline vocabulary.

:data:`SOURCES` is the one list of the libraries the collector understands, one module each:
:mod:`.otel` (older GenAI convention names), :mod:`.openinference`, :mod:`.traceloop`
(OpenLLMetry), :mod:`.openlit`, :mod:`.langfuse`, :mod:`.logfire` (also pydantic-ai) and
:mod:`.litellm` (its OpenTelemetry callback). Each
module's ``SOURCE`` holds its renames, its flattened-message prefixes, and the hints that run
when one of its marker attributes is on a span. The lookup tables the normalizer uses on every
span are built from that list once, at import. Adding a library means adding its module here.
"""

from __future__ import annotations

from typing import Final

from . import langfuse, litellm, logfire, openinference, openlit, otel, traceloop
from ._messages import MessagePrefix
from ._values import HintFn, Hints, Rename, Source

SOURCES: Final[tuple[Source, ...]] = (
    otel.SOURCE,
    openinference.SOURCE,
    traceloop.SOURCE,
    openlit.SOURCE,
    langfuse.SOURCE,
    logfire.SOURCE,
    litellm.SOURCE,
)


def _merge(sources: tuple[Source, ...]) -> dict[str, Rename]:
    merged: dict[str, Rename] = {}
    for source in sources:
        for name, rename in source.renames.items():
            if name in merged and merged[name] != rename:
                raise ValueError(f"two sources map {name!r} differently")
            merged[name] = rename
    return merged


RENAMES: Final[dict[str, Rename]] = _merge(SOURCES)
MESSAGE_PREFIXES: Final[dict[str, MessagePrefix]] = {
    prefix: spec for source in SOURCES for prefix, spec in source.message_prefixes.items()
}
# One str.startswith() call with a tuple tests every prefix at C speed.
MESSAGE_PREFIX_TUPLE: Final = tuple(MESSAGE_PREFIXES)
# (markers, hints) of every source that has hints, in the order of SOURCES (first answer wins).
HINTS: Final[tuple[tuple[tuple[str, ...], HintFn], ...]] = tuple(
    (source.markers, source.hints) for source in SOURCES if source.hints is not None
)
# Any marker at all: most spans (the SDK's) carry none, and skip the hints in one check.
MARKERS: Final = frozenset(marker for markers, _ in HINTS for marker in markers)

__all__ = [
    "HINTS",
    "MARKERS",
    "MESSAGE_PREFIXES",
    "MESSAGE_PREFIX_TUPLE",
    "RENAMES",
    "SOURCES",
    "Hints",
    "MessagePrefix",
    "Rename",
    "Source",
    "otel",
]
