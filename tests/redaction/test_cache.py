"""The result cache: repeated texts (chat history resent every turn) are analysed once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from glassline.redaction import RedactionConfig, Redactor
from glassline.redaction._cache import ResultCache, key
from glassline.redaction._engine import PatternEngine
from tests.redaction.corpus import generate_corpus


def test_least_recently_used_texts_leave_first_within_the_budget() -> None:
    cache: ResultCache[str] = ResultCache(max_chars=30)  # three 10-character texts
    for name in ("a", "b", "c"):
        cache.put(key(name * 10, 0), 10, name)
    assert cache.get(key("a" * 10, 0)) == "a"  # "a" is now the most recent
    cache.put(key("d" * 10, 0), 10, "d")
    assert cache.get(key("b" * 10, 0)) is None  # the least recent left
    assert [cache.get(key(n * 10, 0)) for n in "acd"] == ["a", "c", "d"]
    assert cache.chars == 30 and len(cache) == 3


def test_a_text_larger_than_the_budget_is_not_kept() -> None:
    cache: ResultCache[str] = ResultCache(max_chars=10)
    cache.put(key("x" * 11, 0), 11, "big")
    assert cache.get(key("x" * 11, 0)) is None and cache.chars == 0


def test_raw_texts_are_not_kept_only_their_digests() -> None:
    cache: ResultCache[str] = ResultCache(max_chars=1000)
    for text, result in [
        ("mail jane@example.com", "mail <EMAIL_ADDRESS>"),
        ("lone \ud800 surrogate", "lone \ud800 surrogate"),
    ]:
        cache.put(key(text, 0), len(text), result)
    keys = list(cache._entries)
    assert all(isinstance(digest, bytes) and len(digest) == 16 for digest, _ in keys)
    assert cache.get(key("mail jane@example.com", 0)) == "mail <EMAIL_ADDRESS>"


def test_the_names_mode_is_part_of_the_key() -> None:
    cache: ResultCache[str] = ResultCache(max_chars=100)
    cache.put(key("same text", 2), 9, "with names")
    assert cache.get(key("same text", 0)) is None


@pytest.fixture
def analysed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the pattern engine analyses, in order."""
    seen: list[str] = []
    original = PatternEngine.analyze

    def spy(self: PatternEngine, texts: Any, *args: Any) -> Any:
        seen.extend(texts)
        return original(self, texts, *args)

    monkeypatch.setattr(PatternEngine, "analyze", spy)
    return seen


def test_a_resent_conversation_is_analysed_once(analysed: list[str]) -> None:
    redactor = Redactor()
    history = ["hi, I am jane@example.com", "call me on +44 20 7946 0958 please"]
    first = redactor.redact_many(history)
    second = redactor.redact_many([*history, "and 4111 1111 1111 1111 too"])
    assert [r.text for r in second[:2]] == [r.text for r in first]
    assert "<PHONE_NUMBER>" in second[1].text and "<CREDIT_CARD>" in second[2].text
    assert analysed == [*history, "and 4111 1111 1111 1111 too"]
    assert redactor.cache is not None and redactor.cache.hits == 2


def test_cache_chars_zero_analyses_every_time(analysed: list[str]) -> None:
    redactor = Redactor(RedactionConfig(cache_chars=0))
    assert redactor.cache is None
    redactor.redact_many(["mail jane@example.com"])
    redactor.redact_many(["mail jane@example.com"])
    assert analysed == ["mail jane@example.com"] * 2


def test_failed_results_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = Redactor()

    def broken(self: PatternEngine, texts: Any) -> Any:
        raise RuntimeError("engine down")

    with monkeypatch.context() as patch:
        patch.setattr(PatternEngine, "analyze", broken)
        (failed,) = redactor.redact_many(["mail jane@example.com"])
    assert failed.failed
    (result,) = redactor.redact_many(["mail jane@example.com"])
    assert result.text == "mail <EMAIL_ADDRESS>"


def test_cached_results_equal_fresh_ones_on_the_corpus() -> None:
    texts = [sample.text for sample in generate_corpus(200, seed=3)]
    cached, fresh = Redactor(), Redactor(RedactionConfig(cache_chars=0))
    cached.redact_many(texts)  # fill the cache
    assert [r.text for r in cached.redact_many(texts)] == [r.text for r in fresh.redact_many(texts)]
    assert cached.cache is not None and cached.cache.hits >= len(set(texts))


def test_threads_sharing_a_redactor_get_the_same_results_within_the_budget() -> None:
    texts = [sample.text for sample in generate_corpus(60, seed=9)]
    expected = [r.text for r in Redactor(RedactionConfig(cache_chars=0)).redact_many(texts)]
    shared = Redactor(RedactionConfig(cache_chars=sum(map(len, texts)) // 2))  # forces evictions
    results: list[list[str]] = []

    def work(offset: int) -> None:
        for round_ in range(6):
            start = (offset + round_ * 7) % len(texts)
            batch = texts[start:] + texts[:start]
            got = [r.text for r in shared.redact_many(batch)]
            results.append(got[len(texts) - start :] + got[: len(texts) - start])

    threads = [threading.Thread(target=work, args=(i * 13,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 24 and all(r == expected for r in results)
    assert shared.cache is not None and shared.cache.chars <= shared.cache.max_chars
    assert shared.cache.hits > 0


@pytest.mark.parametrize("cache_chars", [0, 4_000_000])
def test_identical_texts_of_one_batch_are_analysed_once(
    analysed: list[str], cache_chars: int
) -> None:
    redactor = Redactor(RedactionConfig(cache_chars=cache_chars))
    batch = ["mail jane@example.com", "call +44 20 7946 0958 now", "mail jane@example.com"]
    out = redactor.redact_many(batch)
    assert analysed == batch[:2]
    masked = ["mail <EMAIL_ADDRESS>", "call <PHONE_NUMBER> now", "mail <EMAIL_ADDRESS>"]
    assert [r.text for r in out] == masked


def test_the_same_text_with_another_names_mode_is_analysed_apart(analysed: list[str]) -> None:
    redactor = Redactor(RedactionConfig(cache_chars=0))
    out = redactor.redact_attributes({"message": "Dear Anna Lima", "customer": "Dear Anna Lima"})
    assert analysed == ["Dear Anna Lima", "Dear Anna Lima"]  # free text, then a name-like key
    assert out.attributes == {"message": "Dear <PERSON>", "customer": "<PERSON>"}


def test_the_trigger_prescan_reads_only_values_the_names_gate_left_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scanned: list[str] = []
    original = PatternEngine.may_find

    def spy(self: PatternEngine, texts: Any) -> Any:
        scanned.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(PatternEngine, "may_find", spy)
    redactor = Redactor()
    out = redactor.redact_attributes({"note": "Hello there, all fine", "other": "all lowercase"})
    assert scanned == ["all lowercase"]  # "Hello there" is analysed whatever the triggers say
    assert out.attributes == {"note": "Hello there, all fine", "other": "all lowercase"}
