"""The store benches run on the collector's current storage API and write what they report."""

from __future__ import annotations

import queue
from pathlib import Path

import sqlalchemy as sa

from bench.store_growth import Interval, writer
from bench.store_write import grouped, make_batches


def _stored_spans(path: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM spans")).scalar_one())
    finally:
        engine.dispose()


def test_the_grouped_write_bench_stores_every_batch_it_times(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    batches = make_batches(2 + 2 * 2 * 2, spans=20)  # warm-up, 2 rounds of 2 batches per size

    per_span = grouped(f"sqlite:///{path}", batches, sizes=(1, 2), rounds=2)

    assert set(per_span) == {1, 2}
    assert all(us > 0 for us in per_span.values())
    assert _stored_spans(path) == sum(len({(s.trace_id, s.span_id) for s in b}) for b in batches)


def test_the_store_growth_writer_reports_the_spans_it_stored(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    out: queue.Queue[tuple[int, Interval] | None] = queue.Queue()

    writer(0, f"sqlite:///{path}", "seq", seconds=0.5, every_s=0.0, out=out)  # every batch

    reported = []
    while (item := out.get_nowait()) is not None:
        reported.append(item[1])
    assert reported  # the loop runs at least once
    assert sum(interval.spans for interval in reported) == _stored_spans(path)
    assert all(interval.batches == 1 and interval.hold_s > 0 for interval in reported)
