"""The budgets a guard holds: the collector's answer, indexed by the labels a call says.

A budget kept per user (stage, API key, model) has an entry for each key with spend; the
guard finds a call's by looking its values up (:class:`Kept`), and of keys the collector left
out (spent under a floor) it knows that floor (:class:`Unlisted`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CALL_FIELDS",
    "Kept",
    "Listed",
    "Unlisted",
    "index",
    "listed_of",
    "passes",
    "unlisted_of",
]

# What a call says about itself, in the order check() builds it; a budget kept per anything
# else (route, service_version, prompt) never applies to a guarded call, nor one filtered by it.
CALL_FIELDS = ("user", "stage", "api_key", "model")
_CallKey = Callable[[tuple[str | None, ...]], Hashable]
# A budget's filters as the positions in a call's values and the values each allows.
_Filters = tuple[tuple[int, frozenset[str]], ...]
# Filters that choose which spans' spend counts, not which calls: a guarded call is an LLM
# call of the entry's tenant.
_SPEND_FILTERS = frozenset({"tenant", "span_kind"})


def passes(filters: _Filters, call: tuple[str | None, ...]) -> bool:
    """Whether a call is one its budget counts: a value it does not say is none allowed."""
    return all(call[position] in allowed for position, allowed in filters)


_NO_CALL: _Filters = ((0, frozenset()),)  # allows no value: passes no call


def _call_filters(filters: Mapping[str, Any] | None) -> _Filters:
    """The filters of an entry; a budget filtered by what a call cannot say (route, ...)
    applies to no call."""
    found = []
    for name, values in (filters or {}).items():
        if name in _SPEND_FILTERS:
            continue
        if name not in CALL_FIELDS:
            return _NO_CALL
        allowed = values if isinstance(values, list) else [values]
        found.append((CALL_FIELDS.index(name), frozenset(map(str, allowed))))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Listed:
    """A budget the collector listed, with its spend."""

    rule: str
    tenant: str | None
    labels: tuple[tuple[str, str], ...]  # the budget's key (its rule's per), sorted by name
    spend: float
    limit: float
    warn: float | None
    lowest: float  # the warn level, else the limit: below it every policy allows
    filters: _Filters = ()


@dataclass(frozen=True, slots=True)
class Kept:
    """The budgets kept per the same labels (``per: user``: one a user), found by their values.

    A per-user budget has an entry for every user with spend: looking the call's user up,
    rather than scanning, keeps ``check`` as fast with 100,000 users as with one.
    """

    key_of: _CallKey  # the call's values of these labels, as ``by_values`` is keyed
    by_values: dict[Hashable, tuple[Listed, ...]]
    names: tuple[str, ...]
    unlisted: tuple[Unlisted, ...] = ()  # rules whose keys under a floor were left out


@dataclass(frozen=True, slots=True)
class Unlisted:
    """A ``per`` budget's keys that spent under ``below``: the collector leaves them out."""

    rule: str
    tenant: str | None
    below: float
    limit: float
    warn: float | None
    lowest: float
    filters: _Filters


def _key_of(names: tuple[str, ...]) -> _CallKey:
    positions = [CALL_FIELDS.index(name) for name in names]
    if not positions:
        return lambda call: ()
    return operator.itemgetter(*positions)  # one label: the value itself; more: a tuple


def index(
    budgets: list[Listed], unlisted: list[tuple[tuple[str, ...], Unlisted]]
) -> tuple[Kept, ...]:
    """The budgets grouped by the labels they are kept per, each group found by a call's values."""
    grouped: dict[tuple[str, ...], dict[Hashable, list[Listed]]] = {}
    left_out: dict[tuple[str, ...], list[Unlisted]] = {}
    for budget in budgets:
        names = tuple(name for name, _ in budget.labels)
        values = tuple(value for _, value in budget.labels)
        key = values[0] if len(values) == 1 else values
        grouped.setdefault(names, {}).setdefault(key, []).append(budget)
    for names, rule in unlisted:
        grouped.setdefault(names, {})
        left_out.setdefault(names, []).append(rule)
    return tuple(
        Kept(
            _key_of(names),
            {key: tuple(found) for key, found in by_key.items()},
            names,
            tuple(left_out.get(names, ())),
        )
        for names, by_key in grouped.items()
        if set(names) <= set(CALL_FIELDS)  # else kept per what a call does not say: no call
    )


def _levels(item: Mapping[str, Any]) -> tuple[float, float | None, float]:
    """(limit, warn, the lowest of the two) of a budget in the collector's answer."""
    limit = float(item["limit_usd"])
    warn = None if item.get("warn_usd") is None else float(item["warn_usd"])
    return limit, warn, limit if warn is None else min(limit, warn)


def listed_of(item: Mapping[str, Any]) -> Listed:
    """A budget of the collector's answer's ``budgets``."""
    labels = item.get("labels") or {}
    limit, warn, lowest = _levels(item)
    return Listed(
        rule=str(item["rule"]),
        tenant=item.get("tenant"),
        labels=tuple(sorted((str(name), str(value)) for name, value in labels.items())),
        spend=float(item["spend_usd"]),
        limit=limit,
        warn=warn,
        lowest=lowest,
        filters=_call_filters(item.get("filters")),
    )


def unlisted_of(item: Mapping[str, Any]) -> tuple[tuple[str, ...], Unlisted]:
    """The labels a budget of the answer's ``unlisted`` is kept per, and its floor."""
    limit, warn, lowest = _levels(item)
    names = tuple(sorted(str(name) for name in item["per"]))
    filters = _call_filters(item.get("filters"))
    below = float(item["below_usd"])
    rule, tenant = str(item["rule"]), item.get("tenant")
    return names, Unlisted(rule, tenant, below, limit, warn, lowest, filters)
