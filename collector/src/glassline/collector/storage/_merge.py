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

__all__ = ["dialect_insert", "insert_new", "merge_rows"]

D = TypeVar("D")
_CHUNK = 400  # keys per SELECT: bounded statement size on both databases


def dialect_insert(conn: Connection, table: Table) -> Any:
    """``INSERT`` with the ``ON CONFLICT`` extensions of the connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _driver_params(compiled: Any, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Rows as the DBAPI expects them, with SQLAlchemy's type processors (JSON, bool) applied."""
    procs = compiled._bind_processors
    if compiled.positional:
        names = compiled.positiontup
        return [tuple(procs[n](r[n]) if n in procs else r[n] for n in names) for r in rows]
    return [{k: procs[k](v) if k in procs else v for k, v in r.items()} for r in rows]


def insert_new(
    conn: Connection, table: Table, key_cols: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> set[tuple[Any, ...]]:
    """Insert the rows whose key is not stored yet; returns the keys this call inserted.

    Both paths hand the rows to the driver's own ``executemany`` with one short statement,
    skipping SQLAlchemy's per-row "insertmanyvalues" rendering (half of the write time):
    PostgreSQL: ``ON CONFLICT DO NOTHING RETURNING`` in one psycopg pipeline, so a row a
    concurrent writer inserted first is simply not returned. SQLite: the caller holds the
    database write lock (``BEGIN IMMEDIATE``), so the keys found by one SELECT cannot change
    before the INSERT.
    """
    if not rows:
        return set()
    stmt = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key_cols))
    if conn.dialect.name == "postgresql":
        stmt = stmt.returning(*(table.c[name] for name in key_cols))
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    if conn.dialect.name != "postgresql":
        stored = _existing(conn, table, key_cols, [tuple(r[c] for c in key_cols) for r in rows])
        new = [r for r in rows if tuple(r[c] for c in key_cols) not in stored]
        if new:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.executemany(compiled.string, _driver_params(compiled, new))
            cursor.close()
        return {tuple(r[c] for c in key_cols) for r in new}
    out: set[tuple[Any, ...]] = set()
    with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.executemany(compiled.string, _driver_params(compiled, rows), returning=True)
        while True:
            out.update(tuple(r) for r in cursor.fetchall())
            if not cursor.nextset():
                break
    return out


def _existing(
    conn: Connection, table: Table, key_cols: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> set[tuple[Any, ...]]:
    return set(_lock_existing(conn, table, key_cols, keys, lock=False))


def _lock_existing(
    conn: Connection,
    table: Table,
    key_cols: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    lock: bool = True,
) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    # One IN list per key column (cheap to compile, index friendly) selects a superset of
    # the keys; rows of other keys are locked too (harmless) and filtered out here.
    wanted = set(keys)
    found: dict[tuple[Any, ...], Mapping[str, Any]] = {}  # RowMappings
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        where = [
            table.c[name].in_(sorted({k[n] for k in chunk})) for n, name in enumerate(key_cols)
        ]
        order = [table.c[name] for name in key_cols]
        columns = table.c if lock else [table.c[name] for name in key_cols]
        stmt = select(*columns).where(*where).order_by(*order)
        if lock:
            stmt = stmt.with_for_update()
        for row in conn.execute(stmt).mappings():
            key = tuple(row[name] for name in key_cols)
            if key in wanted:
                found[key] = row  # type: ignore[assignment]
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
    existing: dict[tuple[Any, ...], Mapping[str, Any]] = _lock_existing(conn, table, key_cols, keys)
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
            existing.update(_lock_existing(conn, table, key_cols, raced))
    updates = []
    for key, stored in existing.items():
        values = merged_row(stored, deltas[key])
        result[key] = {**dict(zip(key_cols, key, strict=True)), **values}
        updates.append({**{f"k_{c}": v for c, v in zip(key_cols, key, strict=True)}, **values})
    if updates:
        where = and_(*(table.c[c] == bindparam(f"k_{c}") for c in key_cols))
        # Without .values(), SET takes every non-key name of the parameter sets.
        conn.execute(update(table).where(where), updates)
    return result
