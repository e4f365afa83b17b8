"""Issue 17's bar, through a running collector: the corpus in seven placements, then the
database file, its WAL and the DEBUG log scanned for every labelled value.

A bounded share of the corpus (the full run: ``python -m tests.e2e.redaction_corpus``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.redaction_corpus import PLACEMENTS, Scan, run
from tests.redaction.corpus import generate_corpus

SAMPLES = 240
HIGH_BAR = (
    "EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "IBAN_CODE", "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY", "JWT", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "SECRET",
    "SLACK_TOKEN", "STRIPE_KEY", "BEARER_TOKEN", "PRIVATE_KEY",
)  # fmt: skip


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    result = run(generate_corpus(SAMPLES, seed=2026), Path(tmp_path_factory.mktemp("corpus")))
    print("\n" + result.table())
    return result


def test_every_span_was_stored(scan: Scan) -> None:
    assert scan.stored_spans == SAMPLES * len(PLACEMENTS)


@pytest.mark.parametrize("entity", HIGH_BAR)
def test_pii_and_secrets_do_not_reach_the_disk(scan: Scan, entity: str) -> None:
    assert sum(n for (e, _), n in scan.labelled.items() if e == entity) > 0, "not in corpus"
    assert scan.recall(entity) >= 0.99, scan.table()


def test_phone_numbers_and_names_meet_their_bar(scan: Scan) -> None:
    assert scan.recall("PHONE_NUMBER") >= 0.95, scan.table()
    assert scan.recall("PERSON") >= 0.90, scan.table()


def test_hard_negatives_survive(scan: Scan) -> None:
    assert scan.negatives > 200
    assert len(scan.altered) <= 0.005 * scan.negatives, scan.altered


def test_the_debug_log_holds_no_labelled_value(scan: Scan) -> None:
    assert scan.in_log == []
