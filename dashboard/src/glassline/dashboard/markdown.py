"""Telemetry shown in Streamlit's markdown elements exactly as it was sent.

Span names, errors, user ids and completions are text from the app or from whoever its
model talked to. Streamlit renders its titles, captions, alerts, metric values and
``st.markdown`` as markdown: an image in a completion or a span name (``![x](https://host/?d=...)``) made the
operator's browser fetch that URL when the trace was opened, and ``$...$`` or ``:red[...]``
restyled the text. :func:`literal` escapes every markup character, so the text reads as sent.
"""

from __future__ import annotations

import re

__all__ = ["literal"]

# Any ASCII punctuation may be backslash-escaped in CommonMark; escaping all of it leaves no
# syntax (images, links, emphasis, HTML, entities, math, Streamlit's :color[] directives).
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)  # would start a code block, where escapes show


def literal(text: str) -> str:
    """``text`` for a markdown element: shown as written, line breaks and indents kept."""
    escaped = _PUNCTUATION.sub(r"\\\g<0>", text)
    kept = _INDENT.sub(lambda indent: "\u00a0" * len(indent.group()), escaped)
    return kept.replace("\r\n", "\n").replace("\n", "  \n")  # a hard break for each line
