"""Full-text search over a filing's subject, body and the text of its documents.

PostgreSQL: ``to_tsvector('es_unaccent', content)`` — Spanish stemming with accents folded
(a text-search configuration built on ``unaccent``, see migration 0002) — under a GIN index,
ranked with ``ts_rank_cd`` and highlighted with ``ts_headline``. SQLite: an FTS5 table with the
``unicode61 remove_diacritics 2`` tokenizer, ranked with ``bm25`` and highlighted with
``snippet``; each word is also matched as a prefix, a rough stand-in for stemming.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Select, func, literal_column, select, text

from .db import DbSession
from .models import Filing, FilingSearch

# Markers that cannot come from user text (control characters are stripped at intake).
_START, _STOP = "\x02", "\x03"
_WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 12


@dataclass(frozen=True)
class SearchHit:
    filing: Filing
    rank: float
    #: HTML-safe excerpt with the matching words in ``<mark>``
    snippet: Markup


def compose_content(filing: Filing) -> str:
    """What is indexed for ``filing``: subject, body, then each document's text."""
    parts = [filing.subject, filing.body]
    for document in filing.documents:
        parts.extend(page.text for page in document.page_texts)
    return "\n".join(p for p in parts if p)


_DELETE_FTS = text("DELETE FROM filing_fts WHERE rowid = :id")
_INSERT_FTS = text("INSERT INTO filing_fts (rowid, content) VALUES (:id, :content)")


def index_filing(session: DbSession, filing: Filing) -> None:
    """Rewrite the search row of ``filing`` (subject, body and its documents' text) in the
    caller's transaction (flushes only), after OCR.

    A new filing needs no call: the database writes its row with the filing (an AFTER INSERT
    trigger, migration 0011), since its documents have no text yet.
    """
    content = compose_content(filing)
    row = session.get(FilingSearch, filing.id)
    if row is None:
        session.add(FilingSearch(filing_id=filing.id, content=content))
    else:
        row.content = content
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(_DELETE_FTS, {"id": filing.id})
        session.execute(_INSERT_FTS, {"id": filing.id, "content": content})


def _words(query: str) -> list[str]:
    return _WORD_RE.findall(query)[:MAX_QUERY_WORDS]


def _snippet(raw: str | None) -> Markup:
    safe = str(escape(raw or ""))
    return Markup(safe.replace(_START, "<mark>").replace(_STOP, "</mark>"))  # noqa: S704 - escaped above


def search(session: DbSession, visible: Select[Any], query: str, *, limit: int = 50,
           offset: int = 0) -> tuple[list[SearchHit], int]:
    """Filings among ``visible`` that match ``query``, best first, and how many match in all.

    :param visible: a SELECT of filings the caller may see (from :mod:`oficialia.access`),
        possibly already filtered.
    """
    words = _words(query)
    if not words:
        return [], 0
    ids = visible.with_only_columns(Filing.id).scalar_subquery()
    if session.get_bind().dialect.name == "postgresql":
        tsquery = func.plainto_tsquery(literal_column("'es_unaccent'::regconfig"), " ".join(words))
        vector = func.to_tsvector(literal_column("'es_unaccent'::regconfig"), FilingSearch.content)
        rank = func.ts_rank_cd(vector, tsquery)
        snippet = func.ts_headline(
            literal_column("'es_unaccent'::regconfig"), FilingSearch.content, tsquery,
            f"StartSel={_START}, StopSel={_STOP}, MaxWords=25, MinWords=8, MaxFragments=2")
        match = vector.op("@@")(tsquery)
        base = select(FilingSearch.filing_id).where(match, FilingSearch.filing_id.in_(ids))
        total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = session.execute(
            select(Filing, rank.label("rank"), snippet.label("snippet"))
            .join(FilingSearch, FilingSearch.filing_id == Filing.id)
            .where(match, Filing.id.in_(ids))
            .order_by(rank.desc(), Filing.id.desc()).limit(limit).offset(offset)).all()
        return [SearchHit(f, float(r), _snippet(s)) for f, r, s in rows], int(total)
    fts_query = " ".join('"' + w.replace('"', "") + '"*' for w in words)
    params = {"q": fts_query}
    matched = session.execute(
        text("SELECT rowid, bm25(filing_fts) AS rank, snippet(filing_fts, 0, :start, :stop, '…', 16) AS snip "
             "FROM filing_fts WHERE filing_fts MATCH :q ORDER BY rank"),
        params | {"start": _START, "stop": _STOP}).all()
    if not matched:
        return [], 0
    by_id = {int(r[0]): (float(r[1]), str(r[2])) for r in matched}
    allowed = set(session.execute(select(Filing.id).where(Filing.id.in_(ids), Filing.id.in_(list(by_id))))
                  .scalars())
    ordered = sorted(allowed, key=lambda i: (by_id[i][0], -i))
    page = ordered[offset:offset + limit]
    filings = {f.id: f for f in session.execute(select(Filing).where(Filing.id.in_(page))).scalars()}
    # bm25 is lower-is-better; report it as higher-is-better like PostgreSQL's rank
    return [SearchHit(filings[i], -by_id[i][0], _snippet(by_id[i][1])) for i in page], len(ordered)
