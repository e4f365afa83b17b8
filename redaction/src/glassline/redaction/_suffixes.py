"""The public-suffix check of email domains: tldextract's answer, in a fraction of its memory.

``tldextract.TLDExtract`` keeps the bundled public suffix list as two tries of objects (with
and without the private section) and two sets: 5.7 MB per process (tracemalloc), built on the
first email found, so every collector runner grew by it with its first export. Only the ICANN
section is consulted here (tldextract's default, ``include_psl_private_domains=False``), as
two frozensets of strings: the rules, and every right-hand part of a rule (the tries' inner
nodes), walked the way tldextract walks its trie. ``tests/redaction/test_suffixes.py`` holds
the two equal.
"""

from __future__ import annotations

import functools
import pkgutil

import idna
from tldextract.remote import lenient_netloc, looks_like_ipv6
from tldextract.suffix_list import extract_tlds_from_suffix_list

__all__ = ["PublicSuffixes", "bundled_rules"]


def bundled_rules() -> tuple[list[str], list[str]]:
    """The ICANN and the private rules of the list bundled with tldextract (offline)."""
    data = pkgutil.get_data("tldextract", ".tld_set_snapshot")
    assert data is not None  # part of the package
    return extract_tlds_from_suffix_list(data.decode("utf-8"))


class PublicSuffixes:
    """Whether a URL-like text (an email address) has a domain under a public suffix: what
    ``tldextract.TLDExtract(suffix_list_urls=())(text).fqdn != ""`` answers."""

    def __init__(self, rules: list[str]) -> None:
        self._rules = frozenset(rules)
        # A path is a rule's labels from some label to its end ("uk" and "co.uk" of "co.uk").
        self._paths = self._rules.union(
            ".".join(labels[i:]) for labels in (r.split(".") for r in rules)
            for i in range(1, len(labels))
        )  # fmt: skip

    @classmethod
    @functools.cache  # built once per process, on the first email candidate (1.7 MB)
    def bundled(cls) -> PublicSuffixes:
        """From the ICANN section of the list bundled with tldextract."""
        return cls(bundled_rules()[0])

    def has_domain(self, text: str) -> bool:
        host = lenient_netloc(text).replace("\u3002", ".").replace("\uff0e", ".")
        host = host.replace("\uff61", ".")
        if len(host) >= 4 and host[0] == "[" and host[-1] == "]" and looks_like_ipv6(host[1:-1]):
            return False
        labels = host.split(".")
        index = self._suffix_index(labels)
        if index is None:
            return False  # no public suffix (an IPv4 address has none either)
        return 0 < index < len(labels) and labels[index - 1] != ""

    def _suffix_index(self, labels: list[str]) -> int | None:
        """Where the public suffix starts in ``labels`` (tldextract's ``suffix_index``)."""
        suffix = index = len(labels)
        path = ""
        for label in reversed(labels):
            decoded = _decode_punycode(label)
            longer = f"{decoded}.{path}" if path else decoded
            if longer in self._paths:
                index -= 1
                path = longer
                if longer in self._rules:
                    suffix = index
                continue
            if (f"*.{path}" if path else "*") in self._paths:
                exception = f"!{decoded}.{path}" if path else f"!{decoded}"
                return index if exception in self._paths else index - 1
            break
        if suffix == len(labels):
            return None
        return suffix


def _decode_punycode(label: str) -> str:
    """A label as the list spells it (tldextract's own decoding, which is private to it)."""
    lowered = label.lower()
    if lowered.startswith("xn--"):
        try:
            return str(idna.decode(lowered))
        except (UnicodeError, IndexError):
            pass
    return lowered
