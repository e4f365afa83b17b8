"""Triggers: the digit-cluster scan every numeric trigger relies on."""

from __future__ import annotations

import datetime
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassline.redaction import Redactor
from glassline.redaction._recognizers import (
    _PII_TRIGGERS,
    DIGIT_CLUSTER,
    NUMERIC_MIN_LEN,
    digit_clusters,
)

# Digits, the separators a cluster may hold, letters, and digits that are not ASCII.
_ALPHABET = "0123456789 -./()\u00a0ab\n\x00\u0663\uff15"  # Arabic-Indic 3, fullwidth 5


def _plain_scan(text: str) -> list[tuple[int, int]]:
    spans = (m.span() for m in DIGIT_CLUSTER.finditer(text))
    return [(a, b) for a, b in spans if b - a >= NUMERIC_MIN_LEN]


@given(st.text(alphabet=_ALPHABET, max_size=80))
def test_digit_clusters_equal_the_plain_regex_scan(text: str) -> None:
    assert digit_clusters(text) == _plain_scan(text)


@given(st.text(alphabet="0123456789 -./()ab\n\x00", max_size=80))
def test_ascii_fast_path_equals_the_plain_regex_scan(text: str) -> None:
    assert text.isascii()
    assert digit_clusters(text) == _plain_scan(text)


def test_clusters_are_found_where_runs_start_and_short_runs_are_skipped() -> None:
    text = "user-123 id 42 call 415-555-0100, ip 1.1.1.1 and 9999"
    found = [text[a:b] for a, b in digit_clusters(text)]
    assert found == ["415-555-0100", "1.1.1.1"]


def test_every_numeric_trigger_needs_a_cluster_of_the_minimum_length() -> None:
    # digit_clusters drops shorter clusters, so a trigger matching fewer characters would
    # silently never fire.
    numeric = [trigger for _, trigger, _, is_numeric, _ in _PII_TRIGGERS if is_numeric]
    assert numeric
    for trigger in numeric:
        assert trigger is not None
        shortest = re._parser.parse(trigger).getwidth()[0]  # type: ignore[attr-defined]
        assert shortest >= NUMERIC_MIN_LEN, trigger


def test_one_non_ascii_text_in_a_batch_changes_no_finding() -> None:
    redactor = Redactor()
    texts = ["appelez le \u0663 ou +33 1 42 68 53 00 \u2013 merci", "call (212) 555-0199 now"] * 2
    batched = [r.text for r in redactor.redact_many(texts)]
    assert batched == [redactor(t) for t in texts]
    assert batched[1] == "call <PHONE_NUMBER> now"
    assert "<PHONE_NUMBER>" in batched[0]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


_TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f+02:00", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%d.%m.%Y %H:%M",
    "%Y/%m/%d %H:%M:%S,%f", "%Y%m%dT%H%M%S", "%a, %d %b %Y %H:%M:%S +0000", "%H:%M:%S.%f",
    "%Y%m%d%H%M%S", "%d-%b-%Y %H:%M:%S",
)  # fmt: skip


@pytest.mark.parametrize("fmt", _TIMESTAMP_FORMATS)
def test_timestamps_of_every_common_format_are_left_alone(redactor, fmt):
    """Issue 17: "…T11:34:05.578856" was rewritten as "…T11:34:<PHONE_NUMBER>"."""
    rng = random.Random(fmt)
    start = datetime.datetime(2024, 1, 1)
    stamps = [
        (start + datetime.timedelta(seconds=rng.randint(0, 10**8)))
        .replace(microsecond=rng.randint(0, 999_999))
        .strftime(fmt)
        for _ in range(300)
    ]
    texts = [f"at {stamp} done" for stamp in stamps]
    altered = [t for t, r in zip(texts, redactor.redact_many(texts), strict=True) if r.text != t]
    assert altered == []


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("key AKIA1234567890ABCDEF", "AWS_ACCESS_KEY"),  # outside base32
        ("tok eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24tYXQtYWxs.c2lnbmF0dXJlLXBhcnQ", "JWT"),  # not JSON
        ("IBAN DE00 3704 0044 0532 0130 00", "IBAN_CODE"),  # wrong check digits
        # Portugal, Palestine, Qatar: 25 and 29 characters, longer than Presidio's formats
        ("IBAN PT50000201231234567890154", "IBAN_CODE"),
        ("IBAN PT50 0002 0123 1234 5678 9015 4", "IBAN_CODE"),
        ("IBAN PT00 0002 0123 1234 5678 9015 4", "IBAN_CODE"),  # wrong check digits
        ("IBAN QA58DOHB00001234567890ABCDEFG", "IBAN_CODE"),
        ("IBAN PS92PALS000000000400123456702", "IBAN_CODE"),
        ("card 4111 1111 1111 1112", "CREDIT_CARD"),  # Luhn fails, written as a card
        ("DB_PASSWORD=hunter2xyz9", "SECRET"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "SECRET"),
        # the password of a database or broker URL, no keyword before it
        ('DATABASE_URL="postgresql://app_user:XPMEHIaAI91yuA@db.internal:5432/orders"', "SECRET"),
        ("broker = amqp://guest:guestpass@rabbit:5672/", "SECRET"),
        ("REDIS_URL=redis://:hunterpass@cache:6379/0", "SECRET"),
    ],
)
def test_secrets_and_account_numbers_are_found_by_shape(redactor, text, entity):
    assert redactor.redact_many([text])[0].counts == {entity: 1}


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112",
        "max_tokens=1024 and token: none",
        "SKU AB12-3456-7890",
        "redis://cache:6379/0 and mysql://db.internal/orders",  # no password in the URL
    ],
)
def test_shapes_that_are_not_secrets_stay(redactor, text):
    assert redactor.redact_many([text])[0].text == text


@pytest.mark.parametrize(
    "text",
    [
        "メールはyutashimizu17@wp.plです。",
        "連絡先\uff1atanaka.jun+test@hotmail.com、よろしくお願いします",  # fullwidth colon
        "邮箱zhang.wei@example.cn谢谢",
        "연락처 kim.minji@naver.com입니다",
    ],
)
def test_an_email_written_against_cjk_text_is_found(redactor, text):
    # No space around the address: kana, Han and Hangul are word characters to ``\w``.
    assert redactor.redact_many([text])[0].counts == {"EMAIL_ADDRESS": 1}
