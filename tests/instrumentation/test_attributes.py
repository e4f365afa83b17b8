"""The vocabulary module and the README's vocabulary table stay in step."""

from __future__ import annotations

import re
from pathlib import Path

from glassline.semconv import attributes

DOC = Path(__file__).resolve().parents[2] / "README.md"


def _names() -> dict[str, str]:
    return {k: v for k, v in vars(attributes).items() if k.isupper() and isinstance(v, str)}


def test_every_attribute_is_in_the_documented_table() -> None:
    rows = set(re.findall(r"^\| `([^`]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    missing = []
    for const, name in _names().items():
        documented = name + "<" if name.endswith(".") else name
        if not any(row.startswith(documented) for row in rows):
            missing.append(const)
    assert missing == []


def test_names_are_unique() -> None:
    values = list(_names().values())
    assert len(values) == len(set(values))
