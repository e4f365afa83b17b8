"""Golden outputs of redaction: what the code found and wrote, as digests, to hold it unchanged.

Speed work on the redactor must not change a single finding or masked byte. The cases here run
the Redactor (and, in ``tests/collector/redact_golden.py``, the collector's redact step)
over every corpus we have: the labelled corpus (texts and attribute maps, both JSON escape
styles), ``bench.redaction``'s realistic and dense mixes (free text and patterns only, names
on and off), spans carrying the corpus in each placement, the ingest bench's spans, and the
peer libraries' recorded exports. Each case's outputs are ``repr``-ed (types, dict order and
all) and digested in chunks; ``golden.json`` holds the digests the code had when it was
written (commit 903fd32, before the per-batch and pre-scan work of session 35), rewritten
since only for deliberate changes of what is found (the names cues of the traffic corpus).

    python -m tests.redaction.golden            # compare, naming the first chunk that differs
                                                # (``tests/redaction/test_golden.py`` runs it)
    python -m tests.redaction.golden --write    # regenerate golden.json (after a deliberate
                                                # change of what redaction finds)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from glassline.redaction import RedactionConfig, Redactor

from .corpus import generate_corpus, to_attributes

GOLDEN = Path(__file__).resolve().parent / "golden.json"
CHUNK = 25  # outputs per digest: a failure names 25 items, the fixture stays small

Case = Callable[[], list[Any]]


def digests(outputs: Sequence[Any]) -> list[str]:
    """One 16-hex digest per :data:`CHUNK` outputs, over their ``repr``."""
    out = []
    for start in range(0, len(outputs), CHUNK):
        h = hashlib.blake2b(digest_size=8)
        for item in outputs[start : start + CHUNK]:
            h.update(repr(item).encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        out.append(h.hexdigest())
    return out


def first_difference(name: str, outputs: Sequence[Any], golden: dict[str, list[str]]) -> str | None:
    """None if ``outputs`` match the golden digests of case ``name``, else what differs."""
    want = golden.get(name)
    if want is None:
        return f"{name}: no golden digests (regenerate with --write)"
    got = digests(outputs)
    if len(got) != len(want):
        return f"{name}: {len(got)} chunks, golden has {len(want)}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            lo = i * CHUNK
            return f"{name}: items {lo}-{lo + CHUNK - 1} differ; first: {outputs[lo]!r:.400}"
    return None


def load() -> dict[str, list[str]]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


class _Frozen(datetime.datetime):
    """A ``datetime`` whose ``now`` is one fixed moment."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> _Frozen:
        moment = cls(2026, 12, 1, 12, 0, 0, tzinfo=datetime.UTC)
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


@contextlib.contextmanager
def frozen_faker_clock() -> Iterator[None]:
    """Faker's relative dates ("-30d", card expiry) at a fixed "now", so texts repeat."""
    from faker.providers import date_time

    real = date_time.datetime
    date_time.datetime = _Frozen  # type: ignore[misc]
    try:
        yield
    finally:
        date_time.datetime = real  # type: ignore[misc]


def _texts(redactor: Redactor, texts: Sequence[str], *, free_text: bool) -> list[Any]:
    out = []
    for start in range(0, len(texts), 64):  # the collector's batches are requests of many
        for r in redactor.redact_many(texts[start : start + 64], free_text=free_text):
            out.append((r.text, sorted(r.counts.items()), r.dropped, r.failed, r.truncated_from))
    return out


def _maps(redactor: Redactor, maps: Sequence[dict[str, Any]]) -> list[Any]:
    out = []
    for start in range(0, len(maps), 64):
        for r in redactor.redact_attributes_many(maps[start : start + 64]):
            out.append((r.attributes, sorted(r.counts.items()), r.failed, r.truncated))
    return out


def _findings(redactor: Redactor, texts: Sequence[str]) -> list[Any]:
    return [
        [(f.entity, f.start, f.end, round(f.score, 6)) for f in found]
        for found in redactor.analyze_many(texts, free_text=True)
    ]


def redactor_cases() -> dict[str, Case]:
    """The Redactor's cases, by name (built lazily: each generates its own texts)."""
    from bench.redaction import dense_texts, realistic_texts

    default = Redactor()
    no_names = Redactor(RedactionConfig.model_validate({"names": {"enabled": False}}))
    with frozen_faker_clock():
        corpus = [s.text for s in generate_corpus()]
        held_out = generate_corpus(600, seed=7)
        realistic, dense = realistic_texts(300), dense_texts(300)

    def maps(ensure_ascii: bool) -> list[dict[str, Any]]:
        return [to_attributes(s, ensure_ascii=ensure_ascii) for s in held_out]

    return {
        "corpus text": lambda: _texts(default, corpus, free_text=True),
        "corpus findings": lambda: _findings(default, corpus),
        "held-out text, patterns only": lambda: _texts(
            default, [s.text for s in held_out], free_text=False
        ),
        "held-out maps": lambda: _maps(default, maps(False)),
        "held-out maps, ascii JSON": lambda: _maps(default, maps(True)),
        "realistic text": lambda: _texts(default, realistic, free_text=True),
        "realistic text, patterns only": lambda: _texts(default, realistic, free_text=False),
        "dense text": lambda: _texts(default, dense, free_text=True),
        "dense text, names off": lambda: _texts(no_names, dense, free_text=True),
        "dense maps": lambda: _maps(
            default, [{"exception.message": t, "customer": t[:60]} for t in dense]
        ),
    }


def span_rows(records: Iterable[Any]) -> list[Any]:
    """What the store would keep of each span, minus its times (the bench's are wall clock)."""
    rows = []
    for record in records:
        row = dataclasses.asdict(record)
        for name in [k for k in row if k.endswith("_ns")]:
            del row[name]
        for event in row["events"]:
            del event["time_ns"]
        rows.append(row)
    return rows


def span_cases() -> dict[str, tuple[Case, Case]]:
    """The redact step's cases, by name: (spans before the step, spans after it)."""
    from tests.collector.redact_golden import span_cases as cases

    return cases()


def compute(selected: Iterable[str] | None = None) -> dict[str, list[Any]]:
    """Outputs of every case (or of ``selected``), spans cases also with their input."""
    out: dict[str, list[Any]] = {}
    wanted = set(selected) if selected is not None else None
    for name, case in redactor_cases().items():
        if wanted is None or name in wanted:
            out[name] = case()
    for name, (before, after) in span_cases().items():
        if wanted is None or name in wanted:
            out[f"{name} (input)"] = before()
            out[name] = after()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate golden.json")
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        # The corpus's Faker providers iterate sets somewhere: its texts follow the str hash
        # seed. One fixed seed, so that they are the same texts in every run.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        command = [sys.executable, "-m", "tests.redaction.golden", *(argv or sys.argv[1:])]
        return subprocess.run(command, env=env, check=False).returncode
    outputs = compute()
    if args.write:
        table = {name: digests(items) for name, items in outputs.items()}
        GOLDEN.write_text(json.dumps(table, indent=0) + "\n", encoding="utf-8")
        print(f"wrote {sum(map(len, table.values()))} digests of {len(table)} cases to {GOLDEN}")
        return 0
    golden = load()
    failures = [
        f for name, items in outputs.items() if (f := first_difference(name, items, golden))
    ]
    print("\n".join(failures) or f"all {len(outputs)} cases match")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
