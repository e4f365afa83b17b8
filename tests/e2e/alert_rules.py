"""A collector started on an alert rule file, for the end-to-end budget tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from glassline.collector.testing import RunningCollector, run_collector


@contextmanager
def collector_with_rules(
    work: Path,
    rules: str,
    config: dict[str, Any] | None = None,
    tenants: tuple[str, ...] = ("acme",),
) -> Iterator[RunningCollector]:
    """A collector for ``tenants`` whose alert rule file holds ``rules`` (YAML)."""
    path = work / "alerts.yaml"
    path.write_text(rules, encoding="utf-8")
    settings = {**(config or {}), "alerts": {"rules_file": str(path)}}
    with run_collector(settings, tenants=tenants, workdir=work) as collector:
        yield collector
