"""What real peer libraries exported (recorded by ``python -m tests.peers.record <run>``), run
through decode, normalize and enrich in-process: the live suite's checks in milliseconds,
without venvs or a collector."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from glassline.collector.decode import decode_request
from glassline.collector.processors.enrich import EnrichProcessor
from glassline.collector.processors.normalize import NormalizeProcessor

from .checks import CHECKS
from .record import RECORDED
from .runs import RUNS

RECORDINGS = sorted(RECORDED.glob("*.json"))
STORE_ONLY = {"rollups"}  # needs the store's rollups: the live suite checks it


def stored_rows(path: Path) -> list[dict[str, object]]:
    records = []
    for body in json.loads(path.read_text(encoding="utf-8")):
        request = ParseDict(body, ExportTraceServiceRequest())
        records += decode_request(request, "acme", max_spans=10_000).records
    records = EnrichProcessor().process(NormalizeProcessor().process(records))
    return [dataclasses.asdict(r) for r in records]


def test_there_are_recordings() -> None:
    assert RECORDINGS, "tests/peers/recorded/ is empty: run python -m tests.peers.record"


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_recorded_export_passes_the_live_checks(path: Path) -> None:
    run = next(r for r in RUNS if r.name == path.stem)
    rows = stored_rows(path)
    failed = {}
    for name, check in CHECKS.items():
        if name in STORE_ONLY or name in run.not_sent or (name == "stage" and run.stage is None):
            continue
        passed, detail = check(run, rows, [])
        if not passed and name not in run.library_bugs:
            failed[name] = detail
    assert not failed, json.dumps(failed, indent=1)
