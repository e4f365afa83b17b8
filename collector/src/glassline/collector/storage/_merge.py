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
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["dialect_insert", "insert_returning", "merge_rows"]

D = TypeVar("D")
_CHUNK = 400  # keys per SELECT: bounded statement size on both databases


def dialect_insert(conn: Connection, table: Table) -> Any:
    """``INSERT`` with the ``ON CONFLICT`` extensions of the connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_returning(
    conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Execute an ``INSERT .. RETURNING`` for many rows; returns the returned rows.

    On PostgreSQL this bypasses SQLAlchemy's "insertmanyvalues" (one huge multi-VALUES
    statement, which psycopg re-parses in Python for every batch: 60% of write time) and
    uses psycopg's own ``executemany(returning=True)``: one short statement, prepared once,
    all rows sent in one pipeline.
    """
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        return [tuple(r) for r in conn.execute(stmt, list(rows))]
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    processors = compiled._bind_processors
    params = [
        {k: processors[k](v) if k in processors else v for k, v in row.items()} for row in rows
    ]
    out: list[tuple[Any, ...]] = []
    with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.executemany(compiled.string, params, returning=True)
        while True:
            out.extend(tuple(r) for r in cursor.fetchall())
            if not cursor.nextset():
                break
    return out


def _lock_existing(
    conn: Connection, table: Table, key_cols: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    # One IN list per key column (cheap to compile, index friendly) selects a superset of
    # the keys; rows of other keys are locked too (harmless) and filtered out here.
    wanted = set(keys)
    found: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        where = [
            table.c[name].in_(sorted({k[n] for k in chunk})) for n, name in enumerate(key_cols)
        ]
        order = [table.c[name] for name in key_cols]
        stmt = select(table).where(*where).order_by(*order).with_for_update()
        for row in conn.execute(stmt).mappings():
            key = tuple(row[name] for name in key_cols)
            if key in wanted:
                found[key] = row
    return found


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
    existing = _lock_existing(conn, table, key_cols, keys)
    missing = [k for k in keys if k not in existing]
    result: dict[tuple[Any, ...], dict[str, Any]] = {}
    if missing:
        rows = [new_row(k, deltas[k]) for k in missing]
        cols = [table.c[name] for name in key_cols]
        stmt = (
            dialect_insert(conn, table)
            .on_conflict_do_nothing(index_elements=list(key_cols))
            .returning(*cols)
        )
        inserted = set(insert_returning(conn, stmt, rows))
        for key, row in zip(missing, rows, strict=True):
            if key in inserted:
                result[key] = row
        raced = [k for k in missing if k not in inserted]
        if raced:  # another writer inserted these after our SELECT: merge into theirs
            existing.update(_lock_existing(conn, table, key_cols, raced))
    updates = []
    for key, row in existing.items():
        values = merged_row(row, deltas[key])
        result[key] = {**dict(zip(key_cols, key, strict=True)), **values}
        updates.append({**{f"k_{c}": v for c, v in zip(key_cols, key, strict=True)}, **values})
    if updates:
        where = and_(*(table.c[c] == bindparam(f"k_{c}") for c in key_cols))
        # Without .values(), SET takes every non-key name of the parameter sets.
        conn.execute(update(table).where(where), updates)
    return result
