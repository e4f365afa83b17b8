"""Reading, and locking, the stored rows of given keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select

__all__ = ["existing_keys", "lock_existing"]

_CHUNK = 400  # keys per SELECT: bounded statement size on both databases


def existing_keys(
    conn: Connection, table: Table, key_cols: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> set[tuple[Any, ...]]:
    """Those of ``keys`` stored in ``table`` (key columns ``key_cols``)."""
    return set(lock_existing(conn, table, key_cols, keys, lock=False))


def lock_existing(
    conn: Connection,
    table: Table,
    key_cols: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    lock: bool = True,
) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    """The stored rows of ``keys`` by key, locked (``FOR UPDATE``) unless ``lock`` is false."""
    # One IN list per key column (index friendly) selects a superset of the keys; rows of
    # other keys are locked too (harmless) and filtered out here. The lists are "expanding"
    # parameters: the statement is built once, not one literal per key per call.
    wanted = set(keys)
    found: dict[tuple[Any, ...], Mapping[str, Any]] = {}  # RowMappings
    stmt = _select_keys(table, tuple(key_cols), lock)
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        lists = {f"in_{n}": sorted({k[n] for k in chunk}) for n in range(len(key_cols))}
        for row in conn.execute(stmt, lists).mappings():
            key = tuple(row[name] for name in key_cols)
            if key in wanted:
                found[key] = row  # type: ignore[assignment]
    return found


@lru_cache(maxsize=64)
def _select_keys(table: Table, key_cols: tuple[str, ...], lock: bool) -> Any:
    where = [
        table.c[name].in_(bindparam(f"in_{n}", expanding=True)) for n, name in enumerate(key_cols)
    ]
    columns = table.c if lock else [table.c[name] for name in key_cols]
    stmt = select(*columns).where(*where).order_by(*(table.c[name] for name in key_cols))
    return stmt.with_for_update() if lock else stmt
