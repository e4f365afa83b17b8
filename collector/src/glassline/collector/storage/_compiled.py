"""Statements compiled once per database and column set, and run through the driver.

The storage writes the same few statements for every batch: compiling them once and turning
rows into the driver's parameters without SQLAlchemy's per-row processing is what keeps a
batch's writes cheap.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from glassline.collector.storage import _json

__all__ = ["Prepared", "compile_statement", "dialect_insert", "executemany", "prepare"]


def dialect_insert(dialect: Dialect, table: Table) -> Any:
    """``INSERT`` with the ``ON CONFLICT`` extensions of ``dialect``'s database."""
    return postgresql.insert(table) if dialect.name == "postgresql" else sqlite.insert(table)


class Prepared:
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


_PREPARED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Prepared]]
_PREPARED = weakref.WeakKeyDictionary()


def prepare(
    dialect: Dialect, key: tuple[Any, ...], table: Table, build: Callable[[], Any]
) -> Prepared:
    """The cached :class:`Prepared` of ``build()`` on ``dialect``."""
    cache = _PREPARED.setdefault(dialect, {})
    prepared = cache.get(key)
    if prepared is None:
        prepared = cache[key] = compile_statement(dialect, table, build)
    return prepared


def compile_statement(
    dialect: Dialect, table: Table, build: Callable[[], Any], positional: bool | None = None
) -> Prepared:
    stmt, column_keys = build()
    compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
    json_columns = frozenset(c.name for c in table.c if isinstance(c.type, JSON))
    return Prepared(compiled, json_columns, positional)


def executemany(conn: Connection, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
    """``prepared`` once per row, through the driver's own ``executemany``."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(prepared.sql, prepared.params(rows))
    finally:
        cursor.close()
