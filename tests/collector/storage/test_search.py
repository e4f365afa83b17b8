"""storage/search.py: what a user would search is found, only in the caller's tenant, only as
stored (after redaction), and it leaves the index with its trace (retention, sampling)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from glassline.collector.processors.redact import RedactProcessor
from glassline.collector.records import ContentEvent, SpanEvent, SpanRecord
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.decider import TailDecider
from glassline.collector.sampling.sink import SamplingSink
from glassline.collector.storage import Store, search, search_text
from glassline.collector.storage.models import SearchDoc
from glassline.collector.storage.queries import QueryError, list_traces
from glassline.collector.storage.testing import llm_trace
from glassline.redaction import RedactionConfig

from ..conftest import POSTGRES_URL

MS = 1_000_000
T0 = 1_790_000_000_000 * MS


def msgs(role: str, *parts: dict[str, Any]) -> str:
    return json.dumps([{"role": role, "parts": list(parts)}])


def say(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def trace(
    n: int, tenant: str = "acme", start_ns: int = T0, **llm_attributes: Any
) -> list[SpanRecord]:
    trace_id, root = f"{n + 1:032x}", f"{n + 1:016x}"
    common: dict[str, Any] = {"tenant": tenant, "trace_id": trace_id}
    return [
        SpanRecord(span_id=root, name="answer_question", start_ns=start_ns,
                   end_ns=start_ns + 900 * MS, kind="workflow", **common),
        SpanRecord(span_id=f"{n + 1:015x}a", parent_span_id=root, name="chat", kind="llm",
                   start_ns=start_ns + MS, end_ns=start_ns + 800 * MS,
                   attributes=llm_attributes, **common),
    ]  # fmt: skip


def found(store: Store, query: str, tenant: str | None = "acme", **window: int) -> list[str]:
    with store.session() as session:
        page = list_traces(session, tenant, text=query, **window)
    return [t.trace_id for t in page.traces]


def tid(n: int) -> str:
    return f"{n + 1:032x}"


def test_prompts_completions_tool_calls_errors_and_span_names_are_found(store: Store) -> None:
    spans = trace(
        0,
        **{
            "gen_ai.input.messages": msgs("user", say("Where is my parcel to Lisbon?")),
            "gen_ai.output.messages": msgs(
                "assistant",
                {"type": "tool_call", "name": "track_parcel", "arguments": {"carrier": "Zephyr"}},
            ),
            "gen_ai.system_instructions": json.dumps([say("You are Marvin.")]),
        },
    )
    tool = SpanRecord(
        tenant="acme", trace_id=tid(0), span_id="00000000000000ff", parent_span_id=spans[0].span_id,
        name="warehouse_lookup", kind="tool", start_ns=T0 + 2 * MS, end_ns=T0 + 3 * MS,
        status="error", status_message="upstream quokka timeout",
        attributes={"gen_ai.tool.call.arguments": '{"sku": "BLENDER9000"}'},
        events=[SpanEvent("exception", T0 + 3 * MS, {"exception.type": "KeyError",
                                                     "exception.message": "no bin for wombat"})],
    )  # fmt: skip
    store.write([*spans, tool, *trace(1, **{"gen_ai.input.messages": msgs("user", say("hi"))})])
    for word in ("lisbon", "Parcel", "track_parcel", "zephyr", "marvin", "warehouse_lookup",
                 "quokka", "blender9000", "KeyError", "wombat"):  # fmt: skip
        assert found(store, word) == [tid(0)], word
    assert found(store, "answer_question") == [tid(1), tid(0)]  # both roots, newest first
    # The message JSON's labels are not content: every message has a role and a type.
    assert found(store, "role") == []
    assert found(store, "text") == []


def test_phrases_prefixes_and_excluded_words(store: Store) -> None:
    store.write(
        trace(0, **{"gen_ai.input.messages": msgs("user", say("refund my damaged blender"))})
    )
    store.write(trace(1, **{"gen_ai.input.messages": msgs("user", say("blender damaged, refund"))}))
    assert set(found(store, "refund blender")) == {tid(0), tid(1)}
    assert found(store, '"damaged blender"') == [tid(0)]
    assert found(store, "refund -my") == [tid(1)]
    assert set(found(store, "blend*")) == {tid(0), tid(1)}
    assert found(store, "blend") == []
    assert found(store, '"my dam"*') == [tid(0)]


def test_both_databases_split_words_as_a_query_does(store: Store) -> None:
    # PostgreSQL's own parser (to_tsvector) indexes "x½" as "x" and "²3" as "3".
    store.write(trace(0, **{"gen_ai.input.messages": msgs("user", say("x½ of ²3 in Straße"))}))
    for word in ("x½", "²3", "STRAẞE", '"x½ of ²3"'):
        assert found(store, word) == [tid(0)], word
    assert found(store, "x") == []
    assert found(store, "3") == []


def test_a_long_document_is_indexed_within_the_databases_limits(store: Store) -> None:
    # Past PostgreSQL's last word position (16,383) and its longest word (2,046 bytes).
    words = " ".join(f"w{n % 500}" for n in range(20_000))
    content = f"opening phrase {words} closing {'é' * 1_100} words"
    store.write(trace(0, **{"gen_ai.input.messages": msgs("user", say(content))}))
    for query in ('"opening phrase"', "w499", "closing", "words"):
        assert found(store, query) == [tid(0)], query


@pytest.mark.parametrize("query", ["", "   ", "-refund", "!!! ???", '""'])
def test_a_query_with_nothing_to_find_is_a_clear_error(store: Store, query: str) -> None:
    if not query:
        assert found(store, query) == []  # no search: the plain list
        return
    with pytest.raises(QueryError) as error:
        found(store, query)
    assert error.value.parameter == "q"
    assert "at least one word" in error.value.message


def test_a_word_longer_than_postgresql_indexes_is_a_clear_error(store: Store) -> None:
    for query in ("a" * 2_047, "é" * 1_024):
        with pytest.raises(QueryError) as error:
            found(store, query)
        assert error.value.parameter == "q" and "2,046 bytes" in error.value.message
    assert found(store, "a" * 2_046) == []


def test_user_input_is_never_query_syntax(store: Store) -> None:
    store.write(trace(0, **{"gen_ai.input.messages": msgs("user", say("a OR b NEAR(c) body:x"))}))
    for query in ('tenant : "acme"', "NEAR(c d)", "body:x", "a' & !b", "* OR", "x) OR (y"):
        found(store, query)  # no syntax error from either database
    assert found(store, "body:x") == [tid(0)]


def test_a_search_never_returns_another_tenants_trace(store: Store) -> None:
    secret = {"gen_ai.input.messages": msgs("user", say("the launch code is aardvark"))}
    store.write(trace(0, tenant="acme corp", **secret))
    store.write(trace(1, tenant="acme-corp", **secret))
    store.write(trace(2, tenant="globex", **secret))
    assert found(store, "aardvark", tenant="acme") == []
    assert found(store, "aardvark", tenant="acme corp") == [tid(0)]
    assert found(store, "aardvark", tenant="acme-corp") == [tid(1)]
    assert found(store, "aardvark", tenant="globex") == [tid(2)]
    assert found(store, "aardvark", tenant="---") == []
    assert set(found(store, "aardvark", tenant=None)) == {tid(0), tid(1), tid(2)}  # an admin


def test_only_the_redacted_text_is_indexed(store: Store) -> None:
    spans = trace(
        0, **{"gen_ai.input.messages": msgs("user", say("mail me at jane.roe@example.com"))}
    )
    store.write(RedactProcessor(RedactionConfig()).process(spans))
    assert found(store, "mail") == [tid(0)]
    assert found(store, "jane") == []
    assert found(store, "example") == []


def test_the_time_range_bounds_the_search(store: Store) -> None:
    words = {"gen_ai.input.messages": msgs("user", say("invoice"))}
    for n in range(3):
        store.write(trace(n, start_ns=T0 + n * 3_600_000 * MS, **words))
    hour = 3_600_000 * MS
    assert found(store, "invoice", start_ns=T0 + hour, end_ns=T0 + 2 * hour) == [tid(1)]
    assert found(store, "invoice", start_ns=T0 + hour) == [tid(2), tid(1)]


def test_a_trace_written_in_several_batches_is_found_by_any_of_them(store: Store) -> None:
    first = trace(0, **{"gen_ai.input.messages": msgs("user", say("otter"))})
    second = trace(1, **{"gen_ai.input.messages": msgs("user", say("beaver"))})
    for span in second:  # the same trace, the same start: the same document id is drawn
        span.trace_id, span.span_id = tid(0), span.span_id[:-1] + "e"
    store.write(first[1:])
    store.write([first[0], second[1]])
    assert found(store, "otter") == found(store, "beaver") == [tid(0)]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(SearchDoc)) == 2


def test_content_events_stored_after_their_span_are_searchable(store: Store) -> None:
    spans = trace(0)
    store.write(spans)
    late = ContentEvent(
        tenant="acme", trace_id=tid(0), span_id=spans[1].span_id, event_id="e1",
        name="gen_ai.user.message", time_ns=T0 + 2 * MS, seq=0,
        attributes={"gen_ai.input.messages": msgs("user", say("narwhal"))},
    )  # fmt: skip
    store.write_content([late])
    assert found(store, "narwhal") == [tid(0)]
    assert found(store, "narwhal", tenant="globex") == []


def _index_entries(store: Store, word: str) -> int:
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            stmt = "SELECT count(*) FROM search_docs WHERE body @@ CAST(:w AS tsquery)"
        else:
            stmt = "SELECT count(*) FROM search_fts WHERE search_fts MATCH :w"
        return int(conn.execute(text(stmt), {"w": word}).scalar_one())


def test_retention_deletes_the_index_entries_with_their_traces(store: Store) -> None:
    day = 86_400_000 * MS
    words = {"gen_ai.input.messages": msgs("user", say("pangolin"))}
    store.write(trace(0, start_ns=T0 - 10 * day, **words))
    store.write(trace(1, start_ns=T0, **words))
    counts = store.purge(now_ns=T0 + day // 2 + store.config.retention_days * day - 5 * day)
    assert counts["search_docs"] == 1
    assert found(store, "pangolin") == [tid(1)]
    assert _index_entries(store, "pangolin") == 1
    if store.dialect == "sqlite":  # the FTS index agrees with its content table
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('integrity-check')"))


def test_a_sampled_out_trace_leaves_the_index(store: Store) -> None:
    config = SamplingConfig.model_validate(
        {"tail_enabled": True, "decision_wait_s": 10, "policies": [{"type": "error", "name": "e"}]}
    )
    sink, decider = SamplingSink(store, config), TailDecider(store, config)
    words = {"gen_ai.input.messages": msgs("user", say("platypus"))}
    kept = trace(0, **words)
    kept[0].status = "error"
    sink.write([*kept, *trace(1, **words)], T0)
    assert len(found(store, "platypus")) == 2
    assert decider.run_once(T0 + 11 * 10**9).dropped == 1
    assert found(store, "platypus") == [tid(0)]
    assert _index_entries(store, "platypus") == 1


def test_colliding_document_ids_take_another_free_one_in_the_same_millisecond(
    store: Store,
) -> None:
    docs = [
        search_text.Doc("acme", tid(0), T0, "same"),
        search_text.Doc("acme", tid(0), T0, "again"),
    ]
    with store.engine.begin() as conn:
        assert search.write_docs(conn, docs[:1]) == 1
        assert search.write_docs(conn, docs[1:]) == 1
        ids = sorted(conn.execute(select(SearchDoc.id)).scalars())
    assert len(set(ids)) == 2
    assert ids[0] >> 20 == ids[1] >> 20 == T0 // MS


def test_a_trace_written_in_hundreds_of_writes_takes_every_write(store: Store) -> None:
    """A batch job's workflow is one trace whose spans come in many exports: each write adds
    a document of the same trace and start, and every one of them is stored and found."""
    root, *_ = llm_trace(0, T0)
    writes = 200
    for n in range(writes):
        span = replace(
            root,
            span_id=f"{n + 1:016x}",
            parent_span_id=None if n == 0 else root.span_id,
            name=f"step word{n}",
            start_ns=T0 + n,
        )
        assert store.write([span]).inserted == 1
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(SearchDoc)) == writes
    assert found(store, f"word{writes - 1}") == [root.trace_id]


@pytest.mark.postgres
def test_a_tsvector_is_what_postgresql_makes_of_the_same_words() -> None:
    texts = [
        "Where is my parcel to Lisbon? It left on 3 May, tracking 1Z999AA10123456784.",
        "refund my damaged blender; the blender was damaged, refund it",
        " ".join(f"w{n % 60}" for n in range(20_000)),  # past the last position; 255+ of each
    ]
    engine = create_engine(POSTGRES_URL)
    with engine.connect() as conn:
        for content in texts:
            words = " ".join(search.WORD.findall(content.lower()))
            made = conn.execute(
                text("SELECT to_tsvector('simple', :words)::text, CAST(:ours AS tsvector)::text"),
                {"words": words, "ours": search.tsvector_of(content)},
            ).one()
            assert made[0] == made[1]
    engine.dispose()


@pytest.mark.postgres
def test_the_longest_document_fits_in_a_tsvector() -> None:
    # Four bytes a character with its share of positions and counts, the most any text takes:
    # three 4-byte letters (CJK Extension B) and a space a word, all distinct.
    rng = random.Random(3)
    letters = [chr(code) for code in range(0x20000, 0x2A6DF)]
    words = ("".join(rng.choices(letters, k=3)) for _ in range(search_text.MAX_DOC_CHARS // 4 + 10))
    longest = search_text.text_of([" ".join(words)])
    engine = create_engine(POSTGRES_URL)
    with engine.connect() as conn:
        size = conn.execute(
            text("SELECT length(CAST(:ours AS tsvector))"), {"ours": search.tsvector_of(longest)}
        ).scalar_one()
    engine.dispose()
    assert size == len(set(longest.split()))
