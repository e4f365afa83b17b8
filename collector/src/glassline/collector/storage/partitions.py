"""Time partitioning of ``spans`` on PostgreSQL (opt-in: ``storage.partitioning``).

``spans`` becomes ``PARTITION BY RANGE (start_ns)``: one table per period (hour, day or week,
aligned to Unix time) named ``spans_p<start>``, plus ``spans_default`` for spans whose start
lies outside every made partition (a client clock far off). Retention then drops whole
partitions, which costs no row deletes, no dead tuples and no vacuum.

PostgreSQL requires a partitioned table's primary key to contain the partition key, so the
key becomes (tenant, trace_id, span_id, start_ns). A resent span carries the same start
time, so it lands in the same partition and conflicts as before: dedupe is unchanged.

:func:`enable` converts an existing unpartitioned ``spans`` (a copy under a lock, once) and
makes the partitions; :func:`premake` keeps ``premake`` periods ready ahead of time;
:func:`drop_expired` drops partitions that end before the retention cutoff. Every step takes
a transaction-scoped advisory lock, so replicas doing the same at once take turns.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from glassline.collector.storage.config import PartitioningConfig

__all__ = ["Partition", "drop_expired", "enable", "is_partitioned", "partitions", "premake"]

_log = logging.getLogger(__name__)
_NS = 1_000_000_000
PERIOD_NS = {"hour": 3600 * _NS, "day": 86_400 * _NS, "week": 7 * 86_400 * _NS}
DEFAULT = "spans_default"
# Creating or dropping a partition locks the parent exclusively, and while that lock request
# waits for running queries, new inserts queue behind it: give up after a short wait (the job
# retries at its next run) rather than stall ingest behind a long dashboard query.
_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '3s'"
_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    lo_ns: int  # inclusive
    hi_ns: int  # exclusive


def is_partitioned(conn: Connection) -> bool:
    """Whether ``spans`` (in the connection's search path) is a partitioned table."""
    found = conn.execute(
        text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('spans')")
    )
    return found.first() is not None


def partitions(conn: Connection) -> list[Partition]:
    """The range partitions of ``spans``, oldest first (the default partition excluded)."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('spans')"
        )
    )
    out = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match:
            out.append(Partition(name, int(match[1]), int(match[2])))
    return sorted(out, key=lambda p: p.lo_ns)


def enable(conn: Connection, config: PartitioningConfig, now_ns: int, keep_ns: int) -> None:
    """Make ``spans`` partitioned (copying its rows, once) and premake its partitions.

    Rows from the last ``keep_ns`` get partitions; older ones go to the default partition,
    where the retention purge deletes them with their traces.
    """
    _lock(conn)
    if not is_partitioned(conn):
        _convert(conn, config, now_ns, keep_ns)
    premake(conn, config, now_ns)


def premake(conn: Connection, config: PartitioningConfig, now_ns: int) -> list[str]:
    """Create the current period's partition and ``premake`` more; returns those created."""
    _lock(conn)
    period = PERIOD_NS[config.period]
    first = now_ns // period * period
    return _make(conn, config, range(first, first + (config.premake + 1) * period, period))


def drop_expired(conn: Connection, cutoff_ns: int) -> list[str]:
    """Drop the partitions whose every span started before ``cutoff_ns``; returns them."""
    _lock(conn)
    dropped = []
    for part in partitions(conn):
        if part.hi_ns <= cutoff_ns:
            conn.execute(text(f'DROP TABLE "{part.name}"'))
            dropped.append(part.name)
    if dropped:
        _log.info("retention dropped %d span partitions", len(dropped))
    return dropped


def _lock(conn: Connection) -> None:
    conn.execute(text(_LOCK_TIMEOUT))
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.spans_partitions'))")
    )


def _name(config: PartitioningConfig, lo_ns: int) -> str:
    start = datetime.fromtimestamp(lo_ns // _NS, UTC)
    return "spans_p" + start.strftime("%Y%m%dt%H" if config.period == "hour" else "%Y%m%d")


def _make(conn: Connection, config: PartitioningConfig, starts: range) -> list[str]:
    """Create the partitions starting at ``starts`` that do not exist yet.

    Rows of the new range already in the default partition (spans that arrived before their
    partition existed) are moved into it: PostgreSQL refuses the new partition otherwise.
    """
    have = {p.lo_ns for p in partitions(conn)}
    made = []
    for lo in starts:
        if lo in have:
            continue
        hi, name = lo + starts.step, _name(config, lo)
        where = f"start_ns >= {int(lo)} AND start_ns < {int(hi)}"
        conn.execute(text("CREATE TEMP TABLE glassline_moved (LIKE spans) ON COMMIT DROP"))
        conn.execute(
            text(
                f"WITH moved AS (DELETE FROM {DEFAULT} WHERE {where} RETURNING *) "
                "INSERT INTO glassline_moved SELECT * FROM moved"
            )
        )
        conn.execute(
            text(f'CREATE TABLE "{name}" PARTITION OF spans FOR VALUES FROM ({lo}) TO ({hi})')
        )
        conn.execute(text("INSERT INTO spans SELECT * FROM glassline_moved"))
        conn.execute(text("DROP TABLE glassline_moved"))
        made.append(name)
    return made


def _convert(conn: Connection, config: PartitioningConfig, now_ns: int, keep_ns: int) -> None:
    """Swap the plain ``spans`` for a partitioned one with the same columns and rows."""
    _log.info("converting spans to a table partitioned by %s", config.period)
    conn.execute(text("ALTER TABLE spans RENAME TO spans_unpartitioned"))
    conn.execute(text("ALTER TABLE spans_unpartitioned RENAME CONSTRAINT pk_spans TO pk_spans_old"))
    conn.execute(text("ALTER INDEX ix_spans_tenant_start_ns RENAME TO ix_spans_old_start_ns"))
    conn.execute(
        text(
            "CREATE TABLE spans (LIKE spans_unpartitioned INCLUDING DEFAULTS INCLUDING STORAGE)"
            " PARTITION BY RANGE (start_ns)"
        )
    )
    conn.execute(
        text(
            "ALTER TABLE spans ADD CONSTRAINT pk_spans "
            "PRIMARY KEY (tenant, trace_id, span_id, start_ns)"
        )
    )
    conn.execute(text("CREATE INDEX ix_spans_tenant_start_ns ON spans (tenant, start_ns)"))
    conn.execute(text(f"CREATE TABLE {DEFAULT} PARTITION OF spans DEFAULT"))
    period = PERIOD_NS[config.period]
    oldest = conn.execute(text("SELECT min(start_ns) FROM spans_unpartitioned")).scalar()
    first = max(oldest if oldest is not None else now_ns, now_ns - keep_ns) // period * period
    _make(conn, config, range(first, now_ns // period * period + period, period))
    conn.execute(text("INSERT INTO spans SELECT * FROM spans_unpartitioned"))
    conn.execute(text("DROP TABLE spans_unpartitioned"))
