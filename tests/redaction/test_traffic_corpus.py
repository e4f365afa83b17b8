"""Recall on the production-shaped corpus (``traffic_corpus.py``), built apart from the detector.

The Redactor on each sample as free text (a stack trace, a status message, a prompt that is not
JSON) and as the attributes an instrumented app records (the sample in a message JSON, a tool
call's arguments). Through the collector: ``tests/e2e/test_traffic_corpus.py``.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from glassline.redaction import Redactor
from tests.redaction.traffic_corpus import Sample, forms, traffic_corpus

SAMPLES = 700
# Measured on this corpus (seed 20261208) after the fixes that came with it; the code before
# them: PERSON 0.697 as free text and 0.835 in attributes, IBAN 0.934, EMAIL 0.988,
# SECRET 0.636 (URL passwords); after: PERSON 0.914 / 0.925, the others 1.0.
BARS = {"PERSON": 0.90}
HIGH_BAR = 0.995  # every other promised entity


def _recall(samples: list[Sample], outputs: list[str]) -> dict[str, float]:
    labelled: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    for sample, out in zip(samples, outputs, strict=True):
        for label in sample.labels:
            if not label.promised or len(label.value) < 4:
                continue
            labelled[label.entity] += 1
            leaked[label.entity] += any(f in out for f in forms(label.value))
    return {e: 1 - leaked[e] / n for e, n in labelled.items()}


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return traffic_corpus(SAMPLES)


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def _assert_bars(recall: dict[str, float]) -> None:
    assert {"PERSON", "IBAN_CODE", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"} <= set(recall)
    low = {e: round(r, 4) for e, r in recall.items() if r < BARS.get(e, HIGH_BAR)}
    assert low == {}, recall


def test_free_text_recall(samples: list[Sample], redactor: Redactor) -> None:
    outputs = [r.text for r in redactor.redact_many([s.text for s in samples], free_text=True)]
    _assert_bars(_recall(samples, outputs))


def test_attribute_recall(samples: list[Sample], redactor: Redactor) -> None:
    maps = []
    for sample in samples:
        if sample.kind == "tool_call":
            maps.append({"gen_ai.tool.call.arguments": sample.text})
        else:
            msgs = [{"role": "user", "parts": [{"type": "text", "content": sample.text}]}]
            maps.append({"gen_ai.input.messages": json.dumps(msgs)})
    results = redactor.redact_attributes_many(maps)
    outputs = [json.dumps(r.attributes, ensure_ascii=False) + str(r.attributes) for r in results]
    _assert_bars(_recall(samples, outputs))
