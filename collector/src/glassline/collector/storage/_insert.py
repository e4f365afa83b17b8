"""Inserting the rows whose key is not stored yet, and finding out which went in.

PostgreSQL COPYs the rows to a temporary table and moves the new ones over with one
statement; SQLite runs one short compiled statement per row inside a savepoint.
"""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from glassline.collector.storage._compiled import (
    Prepared,
    compile_statement,
    dialect_insert,
    executemany,
    prepare,
)
from glassline.collector.storage._existing import existing_keys

__all__ = ["PreparedInsert", "insert_missing", "insert_new", "insert_params", "prepared_insert"]


class _CopyInsert:
    """PostgreSQL's :func:`insert_params`: the rows are COPYed into a temporary table, then
    one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` moves the new ones over.

    An ``executemany`` runs the INSERT once per row, and the engine has every statement
    planned as it runs (engine.py says why): planning each span's INSERT was a fifth of the
    server's CPU per span stored. COPY parses rows without planning; the INSERT is planned
    once per batch and takes the rows in key order, as the executemany did, so concurrent
    writers of overlapping batches still lock rows in the same order.
    """

    __slots__ = ("copy", "insert", "prepare")

    def __init__(
        self,
        dialect: Dialect,
        table: Table,
        key_cols: Sequence[str],
        names: Sequence[str],
        any_conflict: bool,
    ) -> None:
        quote = dialect.identifier_preparer.quote
        target = dialect.identifier_preparer.format_table(table)
        columns = ", ".join(quote(name) for name in names)
        keys = ", ".join(quote(name) for name in key_cols)
        # One per table and column set, kept by the session and emptied at each commit; the
        # DELETE empties it for a second batch in the same transaction.
        temporary = quote(f"glassline_new_{table.name}_{zlib.crc32(columns.encode()):08x}")
        self.prepare = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {temporary} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {target} WITH NO DATA; DELETE FROM {temporary}"
        )
        self.copy = f"COPY {temporary} ({columns}) FROM STDIN"
        conflict = "" if any_conflict else f" ({keys})"
        self.insert = (
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {temporary} "
            f"ORDER BY {keys} ON CONFLICT{conflict} DO NOTHING RETURNING {keys}"
        )

    def run(self, dbapi_connection: Any, params: Sequence[Sequence[Any]]) -> set[tuple[Any, ...]]:
        """Insert the rows of ``params`` not stored yet; returns the keys of those inserted."""
        with dbapi_connection.cursor() as cursor:
            cursor.execute(self.prepare)  # no parameters: both statements in one round trip
            with cursor.copy(self.copy) as copy:
                for values in params:
                    copy.write_row(values)
            # Planned as it runs, like every statement here (engine.py): never prepared.
            cursor.execute(self.insert, prepare=False)
            return {tuple(row) for row in cursor.fetchall()}


_INSERTS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], PreparedInsert]]
_INSERTS = weakref.WeakKeyDictionary()


class PreparedInsert:
    """The statement of :func:`insert_new` for one table and set of columns, compiled once.

    Its :meth:`params` need no connection: a caller can make them before it takes the
    database's write lock, and hand them to :func:`insert_params` under it.
    """

    __slots__ = ("copy", "key_cols", "statement", "table")

    def __init__(
        self,
        statement: Prepared,
        table: Table,
        key_cols: Sequence[str],
        copy: _CopyInsert | None = None,
    ) -> None:
        self.statement = statement
        self.table = table
        self.key_cols = tuple(key_cols)
        self.copy = copy  # PostgreSQL's way in; the parameters are then COPY rows

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver's parameters of ``rows`` (dicts with the statement's columns)."""
        return self.statement.params(rows)

    def values_params(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The driver's parameters of rows given as values in the statement's column order
        (:attr:`names`); see :meth:`Prepared.values_params`."""
        return self.statement.values_params(rows)

    @property
    def names(self) -> tuple[str, ...]:
        """The statement's columns, in the order of its parameters."""
        return tuple(self.statement.names)


def prepared_insert(
    dialect: Dialect,
    table: Table,
    key_cols: Sequence[str],
    columns: Sequence[str],
    any_conflict: bool = False,
) -> PreparedInsert:
    """The :class:`PreparedInsert` of rows of ``columns`` into ``table`` on ``dialect``
    (``any_conflict``: see :func:`insert_new`)."""

    def build() -> tuple[Any, list[str]]:
        target = None if any_conflict else list(key_cols)
        stmt = dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=target)
        return stmt, list(columns)

    key = (table.name, tuple(key_cols), tuple(columns), any_conflict)
    cache = _INSERTS.setdefault(dialect, {})
    insert = cache.get(key)
    if insert is None:
        if dialect.name == "postgresql":  # COPY rows: the values in the statement's order
            statement = compile_statement(dialect, table, build, positional=True)
            copy = _CopyInsert(dialect, table, key_cols, statement.names, any_conflict)
            insert = PreparedInsert(statement, table, key_cols, copy)
        else:
            insert = PreparedInsert(compile_statement(dialect, table, build), table, key_cols)
        cache[key] = insert
    return insert


def insert_new(
    conn: Connection,
    table: Table,
    key_cols: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    any_conflict: bool = False,
) -> set[tuple[Any, ...]]:
    """Insert the rows whose key is not stored yet; returns the keys this call inserted.

    With ``any_conflict`` the statement names no conflict target: any unique violation skips
    the row. For a table whose only unique constraint is its primary key, which may carry a
    column more than ``key_cols`` (a partitioned table's key includes the partition key).

    Rows must have distinct keys and the same columns. PostgreSQL: the rows are COPYed to a
    temporary table and moved with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING
    RETURNING`` (:class:`_CopyInsert`), so a row a concurrent writer inserted first is simply
    not returned. SQLite: the driver's own ``executemany`` of one short statement, compiled
    once, with ``ON CONFLICT DO NOTHING`` inside a savepoint; when the driver's row count
    says every row went in (new keys: the usual case) or none did (a client retry), that is
    the answer, without reading the keys first. Otherwise the savepoint is rolled back, the
    stored keys are read and only the others are inserted: the caller holds the database
    write lock (``BEGIN IMMEDIATE``), so they cannot change.
    """
    if not rows:
        return set()
    prepared = prepared_insert(conn.dialect, table, key_cols, list(rows[0]), any_conflict)
    keys = [tuple(r[c] for c in key_cols) for r in rows]
    return insert_params(conn, prepared, keys, prepared.params(rows))


def insert_params(
    conn: Connection,
    insert: PreparedInsert,
    keys: Sequence[tuple[Any, ...]],
    params: Sequence[Any],
) -> set[tuple[Any, ...]]:
    """:func:`insert_new` of rows whose driver parameters ``insert.params`` made ahead;
    ``keys`` are their keys, in the same order."""
    if not params:
        return set()
    dbapi = conn.connection.dbapi_connection
    if insert.copy is not None:
        return insert.copy.run(dbapi, params)
    sql = insert.statement.sql
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("SAVEPOINT glassline_insert")
        cursor.executemany(sql, params)
        inserted = cursor.rowcount
        if inserted in (0, len(params)):  # none or all of them: no doubt which
            cursor.execute("RELEASE glassline_insert")
            return set(keys) if inserted else set()
        cursor.execute("ROLLBACK TO glassline_insert")
        cursor.execute("RELEASE glassline_insert")
        stored = existing_keys(conn, insert.table, insert.key_cols, keys)
        fresh = {k: p for k, p in zip(keys, params, strict=True) if k not in stored}
        if fresh:
            cursor.executemany(sql, list(fresh.values()))
        return set(fresh)
    finally:
        cursor.close()


def insert_missing(
    conn: Connection, table: Table, key_cols: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert the rows whose key is not stored yet (``ON CONFLICT DO NOTHING``), in key order;
    unlike :func:`insert_new` without finding out which went in. Rows have the same columns."""
    if not rows:
        return
    columns = list(rows[0])

    def build() -> tuple[Any, list[str]]:
        stmt = dialect_insert(conn.dialect, table)
        return stmt.on_conflict_do_nothing(index_elements=list(key_cols)), columns

    key = ("missing", table.name, tuple(key_cols), tuple(columns))
    executemany(
        conn, prepare(conn.dialect, key, table, build), sorted(rows, key=itemgetter(*key_cols))
    )
