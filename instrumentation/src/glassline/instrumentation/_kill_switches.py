"""The kill switches a guard holds: read page by page, looked up by a call's tenant and stage."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Switches", "read_kill_switches"]

_KILL_SWITCHES_PATH = "/api/v1/kill-switches"
_MAX_SWITCH_PAGES = 100  # of up to 1,000 switches (a tenant holds at most 1,000)

_Switch = tuple[int, str, str, str]  # (position in the collector's list, tenant, stage, reason)


@dataclass(frozen=True, slots=True)
class Switches:
    """Kill switches by tenant and stage (``""``: the whole tenant), so :meth:`BudgetGuard.check`
    looks up the call's instead of scanning them all: scanned, 5,000 switches made every
    allowed call 120-140 µs instead of 0.35 µs. Of several that apply, the first in the
    collector's list wins, as when they were scanned."""

    by_tenant: Mapping[str, Mapping[str, _Switch]] = field(default_factory=dict)
    any_tenant: Mapping[str, _Switch] = field(default_factory=dict)  # a call naming no tenant

    @classmethod
    def of(cls, switches: Iterable[tuple[str, str, str]]) -> Switches:
        by_tenant: dict[str, dict[str, _Switch]] = {}
        any_tenant: dict[str, _Switch] = {}
        for position, (tenant, stage, reason) in enumerate(switches):
            entry = (position, tenant, stage, reason)
            by_tenant.setdefault(tenant, {}).setdefault(stage, entry)
            any_tenant.setdefault(stage, entry)
        return cls(by_tenant, any_tenant)

    def first(self, tenant: str | None, stage: str | None) -> _Switch | None:
        """The first switch stopping a call of ``tenant`` (None: any) and ``stage``."""
        stages = self.any_tenant if tenant is None else self.by_tenant.get(tenant)
        if not stages:
            return None
        whole, own = stages.get(""), stages.get(stage) if stage else None
        if whole is None or own is None:
            return whole or own
        return min(whole, own)


def read_kill_switches(get: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Every switch the key may read: the collector answers them a page at a time."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(_MAX_SWITCH_PAGES):
        query = f"?cursor={urllib.parse.quote(cursor)}" if cursor else ""
        page = get(_KILL_SWITCHES_PATH + query)
        found += page.get("kill_switches", [])
        cursor = page.get("next_cursor")
        if not cursor:
            return found
    raise RuntimeError(f"kill switches past {_MAX_SWITCH_PAGES} pages")  # keep the last state
