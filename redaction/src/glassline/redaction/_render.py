"""Turns findings into redacted text according to the per-entity policies."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from glassline.redaction._engine import Finding
from glassline.redaction.config import Policy

__all__ = ["FAILED_TOKEN", "Renderer", "resolve"]

FAILED_TOKEN = "[REDACTION_FAILED]"

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
# Entities whose formatting varies while the value is the same: hash their canonical form so
# "+44 20 7946 0958" and "+442079460958" become one token and traces stay joinable.
_DIGITS_CANONICAL = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN"})


class Renderer:
    """Applies ``mask`` / ``hash`` / ``drop`` / ``keep`` to the findings of one text."""

    def __init__(self, policies: Mapping[str, Policy], key: bytes | None) -> None:
        self._policies = dict(policies)
        self._key = key

    def render(self, text: str, findings: Sequence[Finding]) -> tuple[str, dict[str, int], bool]:
        """The redacted text, counts per entity, and whether a ``drop`` entity was found."""
        if not findings:
            return text, {}, False
        spans = self.applied(findings)
        if not spans:
            return text, {}, False
        counts: dict[str, int] = {}
        dropped = False
        parts: list[str] = []
        pos = 0
        for f in spans:
            counts[f.entity] = counts.get(f.entity, 0) + 1
            policy = self._policies.get(f.entity, "mask")
            dropped = dropped or policy == "drop"
            parts.append(text[pos : f.start])
            parts.append(self._token(f.entity, text[f.start : f.end], policy))
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts), counts, dropped

    def applied(self, findings: Sequence[Finding]) -> list[Finding]:
        """The non-overlapping findings that change the text (``keep`` ones removed)."""
        return resolve([f for f in findings if self._policies.get(f.entity, "mask") != "keep"])

    def _token(self, entity: str, value: str, policy: Policy) -> str:
        if policy != "hash" or self._key is None:
            return f"<{entity}>"
        canonical = _NON_ALNUM.sub("", value).upper() if entity in _DIGITS_CANONICAL else value
        if entity == "EMAIL_ADDRESS":
            canonical = value.casefold()
        digest = hmac.new(self._key, f"{entity}\x00{canonical}".encode(), hashlib.sha256)
        return f"<{entity}:{digest.hexdigest()[:12]}>"


def resolve(findings: Sequence[Finding]) -> list[Finding]:
    """Non-overlapping spans covering the union of all findings.

    Overlapping findings merge into one span (nothing found is left visible) labelled with
    the entity of the highest-scoring, then longest, finding among them.
    """
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    out: list[Finding] = []
    for f in ordered:
        if out and f.start < out[-1].end:
            last = out[-1]
            best = max((last, f), key=lambda g: (g.score, g.end - g.start))
            out[-1] = Finding(best.entity, last.start, max(last.end, f.end), best.score)
        else:
            out.append(f)
    return out
