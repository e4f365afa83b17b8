"""Redaction throughput on ~1 KB LLM-style texts: Glassline's fast path vs Presidio's default.

    python -m bench.redaction            # 2,000 texts per path (Presidio: 200)
    python -m bench.redaction --quick    # 300 texts (Presidio: 60)

Two text mixes, both built with Faker from fixed seeds:
- ``realistic``: prompts/completions of prose where one in four carries a PII value or secret,
  and most carry telemetry noise (timestamps, ids, model names, prices);
- ``dense``: every text packed with PII, secrets and hard negatives (the quality corpus
  concatenated), a worst case for the validation step.

A third mix, ``chat``, is what a chat app sends: every request carries the whole conversation
so far (8 turns of ~300-character messages, the realistic texts cut up), measured with and
without the result cache (``cache_chars``) that lets each message be analysed once. The other
rows run without the cache, so repeated runs over the same texts measure analysis.

Presidio's default is ``AnalyzerEngine`` with its default recognizer registry and no NLP model
(``NoOpNlpEngine``), calling ``analyze`` per text. Figures are single-process, per CPU-second of the process (= per core, robust to other
load on the machine), best of three runs; the wall-clock MB/s of the same runs and the load
average are printed beside them (on a loaded machine, wall figures fall and CPU ones hold).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable, Sequence

from faker import Faker

from glassline.redaction import NerModelMissingError, RedactionConfig, Redactor
from tests.redaction.corpus import LOCALES, generate_corpus

_TARGET = 1024


def realistic_texts(n: int, seed: int = 11) -> list[str]:
    """``n`` prose texts of ~1 KB; one in four carries PII, most carry telemetry noise."""
    rng = random.Random(seed)
    pii = [lb.value for s in generate_corpus(max(40, n // 2), seed) for lb in s.pii]
    fakers = [Faker(loc) for loc, _ in LOCALES[:7]]
    for i, fk in enumerate(fakers):
        fk.seed_instance(seed + i)
    out = []
    for i in range(n):
        fk = fakers[i % len(fakers)]
        parts = [f"[{fk.date_time_between('-30d').isoformat()}Z] model=gpt-4o-2024-08-06 "]
        while sum(map(len, parts)) < _TARGET:
            parts.append(fk.paragraph(nb_sentences=3) + " ")
            if rng.random() < 0.15:
                parts.append(
                    f"Order ORD-{rng.randint(10**5, 10**8)} costs ${rng.randint(1, 900)}.99. "
                )
        if i % 4 == 0:
            parts.insert(rng.randint(1, len(parts) - 1), f"You can reach me at {rng.choice(pii)}. ")
        out.append("".join(parts)[: _TARGET + 100])
    return out


def dense_texts(n: int, seed: int = 5) -> list[str]:
    """``n`` texts of ~1 KB made of quality-corpus samples (PII in every sample)."""
    out, cur = [], ""
    for sample in generate_corpus(n * 5, seed):
        cur += sample.text + "\n"
        if len(cur) >= _TARGET:
            out.append(cur[: _TARGET + 100])
            cur = ""
            if len(out) == n:
                break
    return out


def chat_requests(n: int, turns: int = 8) -> list[list[str]]:
    """Requests of chats of ``turns`` turns; request ``t`` resends messages ``0..t``."""
    messages = [chunk for text in realistic_texts(n // 3 + 1) for chunk in _thirds(text)]
    requests = []
    for start in range(0, len(messages) - turns + 1, turns):
        chat = messages[start : start + turns]
        requests.extend(chat[: t + 1] for t in range(turns))
    return requests


def _thirds(text: str) -> list[str]:
    third = len(text) // 3
    return [text[:third], text[third : 2 * third], text[2 * third :]]


def _measure_chat(redactor: Redactor, requests: list[list[str]]) -> tuple[float, float, float]:
    """(messages/s, MB/s) of request content per CPU-second, and wall MB/s; one pass, each
    request a batch."""
    start, wall = time.process_time(), time.perf_counter()
    for request in requests:
        redactor.redact_many(request)
    elapsed, wall = time.process_time() - start, time.perf_counter() - wall
    messages = sum(len(r) for r in requests)
    mb = sum(len(t.encode()) for r in requests for t in r) / 1e6
    return messages / elapsed, mb / elapsed, mb / wall


def _measure(
    fn: Callable[[list[str]], object], texts: list[str], batch: int
) -> tuple[float, float, float]:
    """(texts/s, MB/s) per CPU-second of this process, and MB/s of wall time; best of three.

    CPU time is the figure: the machine's cores are shared, and CPU time is what one core
    would take. Wall time shows what the load left of it.
    """
    fn(texts[: min(20, len(texts))])  # warm-up: lazy compiles, tld snapshot load
    elapsed = wall = float("inf")
    for _ in range(3):
        start, started = time.process_time(), time.perf_counter()
        for i in range(0, len(texts), batch):
            fn(texts[i : i + batch])
        elapsed = min(elapsed, time.process_time() - start)
        wall = min(wall, time.perf_counter() - started)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    return len(texts) / elapsed, mb / elapsed, mb / wall


def _presidio_default() -> Callable[[list[str]], object]:
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    # Presidio's email recognizer calls tldextract.extract, whose default extractor fetches
    # the public suffix list over the network on first use (and logs tracebacks offline).
    # The baseline gets tldextract's bundled snapshot instead, as Glassline's recognizer does.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # type: ignore[assignment]
    engine = AnalyzerEngine(
        nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    )
    return lambda texts: [engine.analyze(t, language="en") for t in texts]


def _row(
    name: str, texts: Sequence[str], rate: tuple[float, float, float], base: float | None
) -> str:
    ratio = f"{rate[1] / base:6.1f}x" if base else "   1.0x"
    return (
        f"| {name:<54} | {len(texts):>6} | {rate[0]:>9.0f} | {rate[1]:>6.2f} | {rate[2]:>6.2f} "
        f"| {ratio} |"
    )


def load_average() -> str:
    """The 1/5/15-minute load averages and the core count, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (~30 s)")
    parser.add_argument("-n", type=int, default=None, help="texts per fast-path run")
    args = parser.parse_args(argv)
    n = args.n or (300 if args.quick else 2000)
    n_slow = max(30, n // 10)
    mixes = {"realistic": realistic_texts(n), "dense": dense_texts(n)}
    fast = Redactor(RedactionConfig(cache_chars=0))  # rows repeat texts: measure analysis
    presidio = _presidio_default()
    print(f"{load_average()} at the start")
    print("| path | texts | texts/CPU-s | MB/CPU-s | MB/s wall | vs the 1.0x row above |")
    print("|---|---:|---:|---:|---:|---:|")
    for mix, texts in mixes.items():
        slow = texts[:n_slow]
        base = _measure(presidio, slow, 1)
        print(_row(f"Presidio AnalyzerEngine default, {mix}", slow, base, None))
        rate = _measure(fast.redact_many, texts, 256)
        print(_row(f"Glassline patterns only, {mix}", texts, rate, base[1]))
        rate = _measure(lambda batch: fast.redact_many(batch, free_text=True), texts, 256)
        print(_row(f"Glassline defaults (patterns + names), {mix}", texts, rate, base[1]))
    requests = chat_requests(n)
    base = _measure_chat(Redactor(RedactionConfig(cache_chars=0)), requests)
    messages = [m for r in requests for m in r]
    print(_row("Glassline, chat history resent (8 turns), no cache", messages, base, None))
    rate = _measure_chat(Redactor(), requests)
    print(_row("Glassline, chat history resent (8 turns), cache", messages, rate, base[1]))
    _ner_row(mixes["realistic"][:n_slow])
    _names_curve(mixes["realistic"], n_slow)
    print(f"\n{load_average()} at the end")


def _names_curve(texts: list[str], n_slow: int) -> None:
    """Recall of person names on the labelled corpus against throughput, per names method."""
    from tests.redaction.corpus import generate_corpus
    from tests.redaction.quality import evaluate

    corpus = generate_corpus(600, seed=7)  # held out from the tuning seed
    methods = {
        "no names": {"names": {"enabled": False}},
        "names detector (default)": {},
        "spaCy NER only": {"names": {"enabled": False}, "ner": {"enabled": True}},
        "names detector + spaCy NER": {"ner": {"enabled": True}},
    }
    print("\n| names method | PERSON recall | precision | texts/CPU-s | MB/CPU-s | MB/s wall |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, extra in methods.items():
        try:
            redactor = Redactor(RedactionConfig.model_validate({**extra, "cache_chars": 0}))
        except NerModelMissingError:
            print(f"| {name} | not measured: model missing | | | |")
            continue
        score = evaluate(redactor, corpus, ["PERSON"]).scores["PERSON"]
        slow = "ner" in extra
        sample = texts[:n_slow] if slow else texts
        rate = _measure(lambda b, r=redactor: r.redact_many(b, free_text=True), sample, 64)
        print(f"| {name} | {score.recall:.3f} | {score.precision:.3f} | {rate[0]:.0f} | "
              f"{rate[1]:.2f} | {rate[2]:.2f} |")  # fmt: skip


def _ner_row(texts: list[str]) -> None:
    try:
        # No cache: the runs repeat the same texts.
        ner = Redactor(RedactionConfig.model_validate({"ner": {"enabled": True}, "cache_chars": 0}))
    except NerModelMissingError as exc:
        print(f"NER: not measured ({exc})")
        return
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    model = ner.config.ner.model
    engine = AnalyzerEngine(
        nlp_engine=SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    )
    base = _measure(lambda batch: [engine.analyze(t, language="en") for t in batch], texts, 1)
    print(_row(f"Presidio AnalyzerEngine + spaCy {model}", texts, base, None))
    rate = _measure(lambda batch: ner.redact_many(batch, free_text=True), texts, 64)
    print(_row("Glassline fast path + spaCy NER, realistic", texts, rate, base[1]))


if __name__ == "__main__":
    main()
