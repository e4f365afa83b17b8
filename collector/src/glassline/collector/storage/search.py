"""Full-text search over what was stored: prompts, completions, tool calls, errors, span names.

Each write adds one document per trace (:class:`~glassline.collector.storage.models.SearchDoc`)
with the words of the spans it inserted, or of the content events it stored, in the same
transaction; the text (:mod:`.search_text`) is taken from the stored (redacted) records, so
the index never holds anything the spans do not. Words are runs of letters and digits, case folded: SQLite's FTS5
(unicode61) splits the text so itself; for PostgreSQL (a ``tsvector``, GIN-indexed) they are
split here, with their positions (:func:`tsvector_of`), and so are a query's words, so both
databases index and look for the same words. A query (:func:`parse`) is words that must all
appear, ``"exact phrases"``, ``prefix*`` and ``-excluded`` words.

A document's id is its trace's start in milliseconds shifted left 20 bits plus a hash of the
trace, so a time range is an id range and the newest documents come first in id order: a
search reads the newest :data:`MAX_DOCUMENTS` matching documents of the range (through the
full-text index, with the tenant as an indexed column on SQLite) and no more, whatever the
size of the store.
"""

from __future__ import annotations

import functools
import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    cast,
    column,
    delete,
    select,
    table,
    tuple_,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import TSQUERY

from glassline.collector.storage._insert import insert_new
from glassline.collector.storage.models import SearchDoc
from glassline.collector.storage.search_text import Doc

__all__ = [
    "MAX_DOCUMENTS",
    "SearchQuery",
    "delete_traces",
    "matching_traces",
    "parse",
    "purge",
    "tsvector_of",
    "write_docs",
]

WORD = re.compile(r"[^\W_]+")
MAX_DOCUMENTS = 2000  # matching documents a search reads, newest first
_TIME_BITS = 20
_HASH_MASK = (1 << _TIME_BITS) - 1
# PostgreSQL's limits in a tsvector: to_tsvector records a position past the last as the
# last, keeps a word's first 255 positions (its input function would keep 256), and leaves
# longer words out.
_LAST_POSITION = 16_383
_MAX_POSITIONS = 255
_MAX_WORD_BYTES = 2_046
_MAX_MS = (2**63 - 1) >> _TIME_BITS
_draw = random.Random()  # ids for documents whose first id was taken (see write_docs)


def tsvector_of(text: str) -> str:
    """``text``'s words (:data:`WORD`'s, case folded) with their positions, as PostgreSQL's
    ``tsvector`` input (``'word':1,7 'other':2``): what ``to_tsvector('simple', ...)`` makes
    of text whose words are split already, without its parser; a word too long to index
    still takes a position here, as in SQLite (``to_tsvector`` gives it none).

    The parser was half of PostgreSQL's CPU per span written, and it splits a few characters
    otherwise (``to_tsvector('simple', 'x½')`` is ``'x':1``): split here, a word is what
    SQLite's FTS5 and a query (:meth:`SearchQuery.tsquery`) make of it.
    """
    words = WORD.findall(text.lower())
    positions: dict[str, list[str]] = {}
    # The words past the last position are left to the loop after.
    for at, word in zip(_position_texts(), words, strict=False):
        found = positions.get(word)
        if found is None:
            positions[word] = [at]
        else:
            found.append(at)
    if len(words) > _LAST_POSITION:
        last = str(_LAST_POSITION)
        for word in words[_LAST_POSITION:]:
            found = positions.setdefault(word, [])
            if not found or found[-1] != last:
                found.append(last)
    return " ".join(
        f"'{word}':{','.join(at[:_MAX_POSITIONS])}"
        for word, at in positions.items()
        if _indexable(word)
    )


def _indexable(word: str) -> bool:
    """Whether PostgreSQL indexes ``word`` (UTF-8 is at most 4 bytes a character)."""
    return len(word) * 4 <= _MAX_WORD_BYTES or len(word.encode()) <= _MAX_WORD_BYTES


@functools.cache
def _position_texts() -> tuple[str, ...]:
    """The positions 1 to 16,383 as text: made once (0.8 MB), not once per word written."""
    return tuple(map(str, range(1, _LAST_POSITION + 1)))


def doc_id(start_ns: int, salt: int = 0) -> int:
    """The id of a document of a trace that started at ``start_ns`` (see the module doc)."""
    ms = min(max(start_ns, 0) // 1_000_000, _MAX_MS)
    return (ms << _TIME_BITS) | (salt & _HASH_MASK)


def _bound(ns: int) -> int:
    return doc_id(ns) if ns > 0 else 0


def write_docs(conn: Connection, docs: Sequence[Doc]) -> int:
    """Insert ``docs`` (those with words); returns how many. Inside the caller's transaction.

    A document first draws its trace's id (start and hash). Every write of a trace adds a
    document, so a trace written more than once finds that id taken: such a document (or one
    that met another's id) draws again, at random among the 2**20 ids of the same millisecond,
    so its time range is kept. Taking the next id up instead cost a statement per document of
    the trace already there, and a trace's 64th write found 63 of them and failed whole.
    """
    postgres = conn.dialect.name == "postgresql"
    pending: list[tuple[int, Doc, str]] = []
    for doc in docs:
        # FTS5's unicode61 tokenizer splits text exactly as WORD does (letters and digits,
        # case folded): SQLite indexes the text as it is.
        body = tsvector_of(doc.text) if postgres else doc.text
        if body.strip():
            salt = zlib.crc32(f"{doc.tenant}\0{doc.trace_id}".encode())
            pending.append((doc_id(doc.start_ns, salt), doc, body))
    written = 0
    for _ in range(64):  # each round places every document whose id is still free
        if not pending:
            return written
        by_id: dict[int, tuple[Doc, str]] = {}
        missed: list[tuple[int, Doc, str]] = []
        for i, doc, body in pending:
            if i in by_id:
                missed.append((i, doc, body))
            else:
                by_id[i] = (doc, body)
        rows = [
            {"id": i, "tenant": d.tenant, "trace_id": d.trace_id, "body": body}
            for i, (d, body) in sorted(by_id.items())
        ]
        placed = _insert_free(conn, rows)
        written += len(placed)
        missed += [(i, d, body) for i, (d, body) in by_id.items() if i not in placed]
        pending = [(_another_id(i), d, body) for i, d, body in missed]
    if pending:  # 64 draws all taken: the millisecond holds most of its 2**20 ids
        raise RuntimeError("no free search document id after 64 tries")
    return written


def _another_id(taken: int) -> int:
    """A random id in the same millisecond's range as ``taken``."""
    return (taken & ~_HASH_MASK) | _draw.getrandbits(_TIME_BITS)


def _insert_free(conn: Connection, rows: list[dict[str, Any]]) -> set[int]:
    """Insert the rows whose id is free; returns their ids."""
    table = SearchDoc.__table__
    if conn.dialect.name == "postgresql":
        return {key for (key,) in insert_new(conn, table, ("id",), rows)}
    return {row[0] for row in conn.execute(_SQLITE_INSERT, rows)}


# One multi-row INSERT (SQLAlchemy's "insertmanyvalues"): FTS5 indexes the rows of one
# statement at half the CPU of a statement per row (insert_new's executemany).
_SQLITE_INSERT = (
    sqlite.insert(SearchDoc.__table__).on_conflict_do_nothing().returning(SearchDoc.__table__.c.id)
)


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase
    prefix: bool = False  # the last word is a prefix
    exclude: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    terms: tuple[Term, ...]

    def fts5(self, tenant: str | None) -> str:
        """The FTS5 MATCH expression (words only: nothing here is FTS5 syntax from the user)."""

        def phrase(term: Term) -> str:
            return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")

        found = " AND ".join(phrase(t) for t in self.terms if not t.exclude)
        expression = f"body : ({found})"
        for term in self.terms:
            if term.exclude:
                expression = f"({expression}) NOT body : {phrase(term)}"
        tenant_words = WORD.findall(tenant.lower()) if tenant else []
        if tenant_words:  # a fast pre-filter; the exact tenant is checked on search_docs
            expression = f'tenant : "{" ".join(tenant_words)}" AND ({expression})'
        return expression

    def tsquery(self) -> str:
        """The ``tsquery`` of the words as :func:`tsvector_of` splits them (no quoting:
        words are letters and digits)."""

        def phrase(term: Term) -> str:
            last = len(term.words) - 1
            parts = [
                f"'{w}'" + (":*" if term.prefix and i == last else "")
                for i, w in enumerate(term.words)
            ]
            return "(" + " <-> ".join(parts) + ")"

        return " & ".join(("!" if t.exclude else "") + phrase(t) for t in self.terms)


_TOKEN = re.compile(r'(-?)"([^"]*)"(\*?)|(-?)(\S+)')
MAX_TERMS = 16


def parse(query: str) -> SearchQuery:
    """Words that must all appear, "exact phrases", prefix* and -excluded words.

    Raises ``ValueError`` (with a message for the user) if nothing is left to look for, or
    a word is longer than PostgreSQL indexes.
    """
    terms = []
    for match in _TOKEN.finditer(query):
        quoted, raw = match[2] is not None, match[2] if match[2] is not None else match[5]
        exclude = bool(match[1] or match[4])
        prefix = bool(match[3]) if quoted else raw.endswith("*")
        words = tuple(WORD.findall(raw.lower()))
        if not all(_indexable(word) for word in words):
            raise ValueError(f"a word is longer than the {_MAX_WORD_BYTES:,} bytes indexed")
        if words:
            terms.append(Term(words, prefix, exclude))
    if not any(not t.exclude for t in terms):
        raise ValueError("needs at least one word (letters or digits) to look for")
    if len(terms) > MAX_TERMS:
        raise ValueError(f"at most {MAX_TERMS} words or phrases")
    return SearchQuery(tuple(terms))


# Documents are timed by their trace's start as known when written, never before the real
# start: a trace whose later spans brought the words still matches if it began in the range.
_SLACK_NS = 3600 * 1_000_000_000


def matching_traces(
    conn: Connection,
    query: SearchQuery,
    tenant: str | None,
    start_ns: int | None,
    end_ns: int | None,
) -> Select[Any]:
    """(tenant, trace_id) of the newest :data:`MAX_DOCUMENTS` matching documents in the range.

    ``tenant=None`` (an admin) searches every tenant; otherwise only ``tenant``'s documents.
    """
    d = SearchDoc.__table__.c
    lo = _bound(start_ns) if start_ns else 0
    hi = _bound(end_ns + _SLACK_NS) if end_ns is not None else 2**63 - 1
    if conn.dialect.name == "postgresql":
        order: Any = d.id
        stmt = select(d.tenant, d.trace_id).where(d.body.op("@@")(cast(query.tsquery(), TSQUERY)))
    else:
        fts = table("search_fts", column("rowid", BigInteger), column("search_fts"))
        order = fts.c.rowid
        stmt = (
            select(d.tenant, d.trace_id)
            .select_from(fts.join(SearchDoc.__table__, d.id == fts.c.rowid))
            .where(fts.c.search_fts.op("MATCH")(query.fts5(tenant)))
        )
    if tenant is not None:
        stmt = stmt.where(d.tenant == tenant)
    return stmt.where(order >= lo, order < hi).order_by(order.desc()).limit(MAX_DOCUMENTS)


def delete_traces(conn: Connection, traces: Any) -> int:
    """Delete the documents of ``traces`` (a select of tenant, trace_id); returns how many."""
    d = SearchDoc.__table__.c
    return int(
        conn.execute(delete(SearchDoc).where(tuple_(d.tenant, d.trace_id).in_(traces))).rowcount
    )


def purge(conn: Connection, cutoff_ns: int, chunk: int) -> int:
    """Delete up to ``chunk`` documents of traces started before ``cutoff_ns``; returns how many."""
    d = SearchDoc.__table__.c
    oldest = select(d.id).where(d.id < _bound(cutoff_ns)).order_by(d.id).limit(chunk)
    return int(conn.execute(delete(SearchDoc).where(d.id.in_(oldest))).rowcount)
