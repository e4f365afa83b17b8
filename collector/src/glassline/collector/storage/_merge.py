"""Read-modify-write of aggregate rows that is safe with concurrent writers.

Used for trace summaries and rollups, whose new values (merged sketches, unions of model
lists) cannot be expressed as one portable SQL upsert. Per table: lock the existing rows
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite writers already hold the file lock), insert
the missing ones with ``ON CONFLICT DO NOTHING``, re-read and merge into those another
writer inserted meanwhile, then update the locked rows with one executemany. Keys are
handled in sorted order so two writers lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnClause,
    Connection,
    Table,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from glassline.collector.storage import _json

__all__ = [
    "PreparedInsert",
    "add_rows",
    "dialect_insert",
    "insert_missing",
    "insert_new",
    "insert_params",
    "merge_rows",
    "prepared_insert",
    "update_rows",
]

D = TypeVar("D")
_CHUNK = 400  # keys per SELECT: bounded statement size on both databases


def dialect_insert(dialect: Dialect, table: Table) -> Any:
    """``INSERT`` with the ``ON CONFLICT`` extensions of ``dialect``'s database."""
    return postgresql.insert(table) if dialect.name == "postgresql" else sqlite.insert(table)


class _Prepared:
    """A statement compiled once per database and column set, with its row-to-DBAPI mapping.

    Turning a row into driver parameters is then an ``itemgetter`` plus the few type
    processors that do something (JSON by :mod:`._json`, booleans, floats), instead of
    SQLAlchemy's per-row parameter processing.
    """

    def __init__(
        self, compiled: Any, json_columns: frozenset[str], positional: bool | None = None
    ) -> None:
        self.sql: str = compiled.string
        # ``positional``: values in ``names`` order whatever the statement's style (a COPY row).
        self.positional: bool = compiled.positional if positional is None else positional
        names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        procs = dict(compiled._bind_processors)
        for name in names:
            if name in json_columns:
                procs[name] = _json.dumps
        self.names = names
        self._get = itemgetter(*names) if len(names) > 1 else lambda r: (r[names[0]],)
        self._procs = [(i, n, procs[n]) for i, n in enumerate(names) if n in procs]

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        get, procs = self._get, self._procs
        if self.positional:
            if not procs:
                return [get(r) for r in rows]
            out: list[Any] = []
            for r in rows:
                values = list(get(r))
                for i, _, proc in procs:
                    values[i] = proc(values[i])
                out.append(values)
            return out
        names = self.names
        out = []  # one dict per row: psycopg's named parameters
        for r in rows:
            named = dict(zip(names, get(r), strict=True))
            for _, name, proc in procs:
                named[name] = proc(named[name])
            out.append(named)
        return out

    def values_params(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The driver's parameters of rows given as values in :attr:`names` order (a
        positional statement only): no mapping to build per row. A value that is the same
        object as the row before's in its column is processed once (a request's spans share
        their resource, whose JSON is then encoded once a batch, not once a span)."""
        if not self.positional:
            raise ValueError("values in order need a positional statement")
        procs = self._procs
        if not procs:
            return [list(r) for r in rows]
        out: list[Any] = []
        before: list[Any] = [None] * len(self.names)  # the previous row's values, as given
        done: list[Any] = [None] * len(self.names)  # and processed
        for r in rows:
            values = list(r)
            for i, _, proc in procs:
                value = values[i]
                if value is before[i] and value is not None:
                    values[i] = done[i]
                else:
                    before[i] = value
                    values[i] = done[i] = proc(value)
            out.append(values)
        return out


_PREPARED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], _Prepared]]
_PREPARED = weakref.WeakKeyDictionary()


def _prepare(
    dialect: Dialect, key: tuple[Any, ...], table: Table, build: Callable[[], Any]
) -> _Prepared:
    """The cached :class:`_Prepared` of ``build()`` on ``dialect``."""
    cache = _PREPARED.setdefault(dialect, {})
    prepared = cache.get(key)
    if prepared is None:
        prepared = cache[key] = _compile(dialect, table, build)
    return prepared


def _compile(
    dialect: Dialect, table: Table, build: Callable[[], Any], positional: bool | None = None
) -> _Prepared:
    stmt, column_keys = build()
    compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
    json_columns = frozenset(c.name for c in table.c if isinstance(c.type, JSON))
    return _Prepared(compiled, json_columns, positional)


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
        statement: _Prepared,
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
        (:attr:`names`); see :meth:`_Prepared.values_params`."""
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
            statement = _compile(dialect, table, build, positional=True)
            copy = _CopyInsert(dialect, table, key_cols, statement.names, any_conflict)
            insert = PreparedInsert(statement, table, key_cols, copy)
        else:
            insert = PreparedInsert(_compile(dialect, table, build), table, key_cols)
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
        stored = _existing(conn, insert.table, insert.key_cols, keys)
        fresh = {k: p for k, p in zip(keys, params, strict=True) if k not in stored}
        if fresh:
            cursor.executemany(sql, list(fresh.values()))
        return set(fresh)
    finally:
        cursor.close()


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
    _executemany(conn, _prepare(conn.dialect, key, table, build), rows)


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
    _executemany(
        conn, _prepare(conn.dialect, key, table, build), sorted(rows, key=itemgetter(*key_cols))
    )


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
    _executemany(
        conn, _prepare(conn.dialect, key, table, build), sorted(rows, key=itemgetter(*key_cols))
    )


def _executemany(conn: Connection, prepared: _Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
    """``prepared`` once per row, through the driver's own ``executemany``."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(prepared.sql, prepared.params(rows))
    finally:
        cursor.close()


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
    update_rows(conn, table, key_cols, updates)
    return result
