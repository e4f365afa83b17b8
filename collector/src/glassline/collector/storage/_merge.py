"""Read-modify-write of aggregate rows that is safe with concurrent writers.

Used for trace summaries and rollups, whose new values (merged sketches, unions of model
lists) cannot be expressed as one portable SQL upsert. Per table: lock the existing rows
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite writers already hold the file lock), insert
the missing ones with ``ON CONFLICT DO NOTHING``, re-read and merge into those another
writer inserted meanwhile, then update the locked rows with one executemany. Keys are
handled in sorted order so two writers lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnClause,
    Connection,
    Table,
    and_,
    bindparam,
    func,
    literal_column,
    update,
)

from glassline.collector.storage._compiled import dialect_insert, executemany, prepare
from glassline.collector.storage._existing import lock_existing
from glassline.collector.storage._insert import insert_new

__all__ = ["add_rows", "merge_rows", "update_rows"]

D = TypeVar("D")


def update_rows(
    conn: Connection, table: Table, key_cols: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """``UPDATE`` each row's non-key columns where its key columns match (one executemany).

    Rows carry the key under ``k_<column>`` and must all have the same columns.
    """
    if not rows:
        return
    columns = [c for c in rows[0] if not c.startswith("k_")]

    def build() -> tuple[Any, list[str]]:
        where = and_(*(table.c[c] == bindparam(f"k_{c}") for c in key_cols))
        # Without .values(), SET takes the column_keys given to compile().
        return update(table).where(where), columns

    key = ("update", table.name, tuple(key_cols), tuple(columns))
    executemany(conn, prepare(conn.dialect, key, table, build), rows)


def add_rows(
    conn: Connection,
    table: Table,
    key_cols: Sequence[str],
    counters: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Insert each row, or add its ``counters`` to the stored row of the same key.

    For tables of plain sums (no sketch, no list to merge) one ``INSERT ... ON CONFLICT DO
    UPDATE SET c = c + excluded.c`` per row replaces read-modify-write: atomic on both
    databases, so concurrent writers need no prior read or lock. Rows must have distinct
    keys and the same columns; they are written in key order, so two writers lock rows in
    the same order and cannot deadlock.
    """
    if not rows:
        return
    columns = list(rows[0])

    def build() -> tuple[Any, list[str]]:
        stmt = dialect_insert(conn.dialect, table)
        # In the SQL text, not a parameter the rows lack.
        zero: ColumnClause[int] = literal_column("0")
        add = {c: func.coalesce(table.c[c], zero) + stmt.excluded[c] for c in counters}
        return stmt.on_conflict_do_update(index_elements=list(key_cols), set_=add), columns

    key = ("add", table.name, tuple(key_cols), tuple(counters), tuple(columns))
    executemany(
        conn, prepare(conn.dialect, key, table, build), sorted(rows, key=itemgetter(*key_cols))
    )


def merge_rows(
    conn: Connection,
    table: Table,
    key_cols: Sequence[str],
    deltas: Mapping[tuple[Any, ...], D],
    new_row: Callable[[tuple[Any, ...], D], dict[str, Any]],
    merged_row: Callable[[Mapping[str, Any], D], dict[str, Any]],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Apply ``deltas`` to ``table``; returns the resulting row values by key."""
    keys = sorted(deltas)
    if not keys:
        return {}
    existing: dict[tuple[Any, ...], Mapping[str, Any]] = lock_existing(conn, table, key_cols, keys)
    missing = [k for k in keys if k not in existing]
    result: dict[tuple[Any, ...], dict[str, Any]] = {}
    if missing:
        rows = [new_row(k, deltas[k]) for k in missing]
        inserted = insert_new(conn, table, key_cols, rows)
        for key, new in zip(missing, rows, strict=True):
            if key in inserted:
                result[key] = new
        raced = [k for k in missing if k not in inserted]
        if raced:  # another writer inserted these after our SELECT: merge into theirs
            existing.update(lock_existing(conn, table, key_cols, raced))
    updates = []
    for key, stored in existing.items():
        values = merged_row(stored, deltas[key])
        result[key] = {**dict(zip(key_cols, key, strict=True)), **values}
        updates.append({**{f"k_{c}": v for c, v in zip(key_cols, key, strict=True)}, **values})
    update_rows(conn, table, key_cols, updates)
    return result
