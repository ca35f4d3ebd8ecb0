"""Arabic-aware full-text search over article titles and bodies: the query side.

A query is keyed and stemmed like the texts (`warehouse.search_refresh` holds the search key and
builds the index; its public names are re-exported here, so `from warehouse.search import
refresh_search_index` keeps working). Search has three layers, all scored by the same BM25 with
the index's statistics: the fts index (`refresh_search_index(con, full=True)`, the daily
maintenance flow, or an incremental refresh whose tail has outgrown the index); the tail tables,
where `refresh_search_index(con)` (each pass) stores the stemmed terms of articles loaded or
changed since; and whatever neither holds yet, tokenized when the query runs. So a search
always sees every article. Without the fts extension, search falls back to matching key words
as substrings, with a warning.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime

import duckdb

from extractors.clean import normalize_key
from warehouse.extensions import ExtensionUnavailable, load_extension
from warehouse.search_refresh import (
    _IN_INDEX,
    _IN_TAIL,
    _TEXT,
    _UNSEARCHED,
    IGNORE,
    INDEX_INPUT,
    INDEX_SCHEMA,
    STEMMER,
    TAIL_REBUILD_MIN,
    IndexRefresh,
    _tokenize_sql,
    has_index,
    key_sql,
    key_translation,
    refresh_search_index,
    search_key,
)

# What `from warehouse.search import ...` offers: the query side, and the names of
# warehouse.search_refresh that callers took from here before the split.
__all__ = [
    "IGNORE",
    "INDEX_INPUT",
    "INDEX_SCHEMA",
    "MARK",
    "SNIPPET_WORDS",
    "STEMMER",
    "TAIL_REBUILD_MIN",
    "IndexRefresh",
    "SearchError",
    "SearchHit",
    "has_index",
    "key_sql",
    "key_translation",
    "refresh_search_index",
    "search",
    "search_key",
    "snippet",
]

BM25_K, BM25_B = 1.2, 0.75
SNIPPET_WORDS = 24
MARK = "**"  # around matched words in snippets
_WORD = re.compile(r"[^\W_]+")


class SearchError(Exception):
    """A search could not run; the message says why and what to do."""


@dataclass(frozen=True)
class SearchHit:
    """One article found by `search`, best first; `snippet` marks matched words with **."""

    article_id: str
    url: str
    title: str | None
    source: str | None
    published_at: datetime | None
    score: float
    snippet: str


def search(con: duckdb.DuckDBPyConnection, text: str, limit: int = 20) -> list[SearchHit]:
    """Articles whose title or body holds every word of `text` (any inflection or spelling
    variant that folds and stems alike), best BM25 score first, at most `limit`. Without the fts
    extension, falls back to key-form substring matching and warns (RuntimeWarning)."""
    if not normalize_key(text):
        raise SearchError("the search text has no letters or digits; give a word to look for.")
    if limit < 1:
        raise SearchError(f"limit must be at least 1, not {limit}.")
    row = con.execute(f"SELECT {key_sql('?')}", [text]).fetchone()
    query = " ".join(_WORD.findall(row[0] if row else ""))
    try:
        load_extension(con, "fts")
    except ExtensionUnavailable as exc:
        warnings.warn(
            f"full-text search is unavailable ({exc}); matching words as substrings instead.",
            RuntimeWarning,
            stacklevel=2,
        )
        return _substring_search(con, query, limit)
    terms = _stems(con, query)
    rows = _ranked(con, query, terms, limit)
    return [_hit(row, terms) for row in rows]


def _stems(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    rows = con.execute(
        f"SELECT DISTINCT stem(unnest({_tokenize_sql('?')}), '{STEMMER}') AS t", [query]
    ).fetchall()
    return sorted(r[0] for r in rows if r[0])


def _ranked(
    con: duckdb.DuckDBPyConnection, query: str, terms: list[str], limit: int
) -> list[tuple]:
    """Index hits from match_bm25; tail and remainder hits scored in SQL by the same BM25, with
    the index's statistics (document count, average length, document frequencies)."""
    indexed = has_index(con)
    if indexed:
        index_hits = f"""
            SELECT a.article_id,
                   {INDEX_SCHEMA}.match_bm25(a.article_id, $query, conjunctive := 1) AS score
            FROM articles a WHERE {_IN_INDEX} AND NOT {_IN_TAIL}
        """
        stats = f"SELECT num_docs AS n, avgdl FROM {INDEX_SCHEMA}.stats"
        index_df = f"SELECT term, df FROM {INDEX_SCHEMA}.dict WHERE list_contains($terms, term)"
    else:
        index_hits = "SELECT NULL::VARCHAR AS article_id, NULL::DOUBLE AS score WHERE false"
        stats = "SELECT count(*) AS n, avg(terms) AS avgdl FROM tail_len"
        index_df = "SELECT NULL::VARCHAR AS term, 0 AS df WHERE false"
    sql = f"""
        WITH remainder_terms AS MATERIALIZED (
            SELECT * FROM (
                SELECT article_id,
                       stem(unnest({_tokenize_sql(key_sql(_TEXT))}), '{STEMMER}') AS term
                FROM articles a WHERE {_UNSEARCHED}
            ) WHERE term <> ''
        ),
        tail_len AS MATERIALIZED (
            SELECT t.article_id, t.terms FROM search_tail_articles t JOIN articles a
              ON a.article_id = t.article_id AND a.updated_at = t.updated_at
            UNION ALL
            SELECT article_id, count(*) FROM remainder_terms GROUP BY article_id
        ),
        tail_tf AS MATERIALIZED (
            SELECT t.article_id, t.term, t.tf FROM search_tail_terms t
            WHERE list_contains($terms, t.term)
              AND t.article_id IN (SELECT article_id FROM tail_len)
            UNION ALL
            SELECT article_id, term, count(*) FROM remainder_terms
            WHERE list_contains($terms, term) GROUP BY ALL
        ),
        tail_docs AS MATERIALIZED (
            SELECT article_id FROM tail_tf GROUP BY article_id HAVING count(*) = len($terms)
        ),
        stats AS MATERIALIZED ({stats}),
        df AS MATERIALIZED (
            SELECT term, sum(df) AS df FROM (
                {index_df}
                UNION ALL SELECT term, count(*) FROM tail_tf GROUP BY term
            ) GROUP BY term
        ),
        tail_hits AS (
            SELECT t.article_id,
                   sum(log(((s.n - df.df) + 0.5) / (df.df + 0.5) + 1)
                       * (t.tf * ({BM25_K} + 1))
                       / (t.tf + {BM25_K} * (1 - {BM25_B} + {BM25_B} * l.terms / s.avgdl)))
                   AS score
            FROM tail_tf t JOIN tail_docs USING (article_id) JOIN tail_len l USING (article_id)
            JOIN df USING (term), stats s
            GROUP BY t.article_id
        ),
        hits AS (
            SELECT * FROM ({index_hits}) WHERE score IS NOT NULL
            UNION ALL SELECT * FROM tail_hits
        )
        SELECT a.article_id, a.url, a.title, a.source, a.published_at, h.score, a.body
        FROM hits h JOIN articles a USING (article_id)
        ORDER BY h.score DESC, a.published_at DESC NULLS LAST, a.article_id
        LIMIT $hit_limit
    """
    params: dict[str, object] = {"terms": terms, "hit_limit": limit}
    if indexed:
        params["query"] = query
    return con.execute(sql, params).fetchall()


def _substring_search(con: duckdb.DuckDBPyConnection, query: str, limit: int) -> list[SearchHit]:
    """Fallback without fts: every key word of the query must occur in the key text; the score
    is the number of occurrences per 1,000 characters."""
    words = sorted(set(query.split()))
    text = f"coalesce({key_sql('a.title')}, '') || ' ' || coalesce({key_sql('a.body')}, '')"
    rows = con.execute(
        f"""
        WITH keyed AS (SELECT a.*, {text} AS key_text FROM articles a)
        SELECT article_id, url, title, source, published_at,
               1000.0 * list_sum([
                   (length(key_text) - length(replace(key_text, w, ''))) // length(w)
                   FOR w IN $words]) / greatest(length(key_text), 1) AS score,
               body
        FROM keyed
        WHERE list_bool_and([contains(key_text, w) FOR w IN $words])
        ORDER BY score DESC, published_at DESC NULLS LAST, article_id
        LIMIT $hit_limit
        """,
        {"words": words, "hit_limit": limit},
    ).fetchall()
    return [_hit(row, words) for row in rows]


def _hit(row: tuple, terms: list[str]) -> SearchHit:
    article_id, url, title, source, published_at, score, body = row
    return SearchHit(
        article_id, url, title, source, published_at, float(score), snippet(body or "", terms)
    )


def snippet(body: str, terms: list[str], words: int = SNIPPET_WORDS) -> str:
    """About `words` words of `body` around the first word whose key form contains one of
    `terms` (stems or key words), matched words wrapped in **; the opening words when none
    matches. An ellipsis marks text cut on either side."""
    tokens = body.split()
    if not tokens:
        return ""
    matched = [i for i, token in enumerate(tokens) if _matches(token, terms)]
    first = matched[0] if matched else 0
    start = max(0, min(first - words // 3, len(tokens) - words))
    window = range(start, min(len(tokens), start + words))
    hits = set(matched)
    text = " ".join(f"{MARK}{tokens[i]}{MARK}" if i in hits else tokens[i] for i in window)
    return ("… " if start > 0 else "") + text + (" …" if window.stop < len(tokens) else "")


def _matches(token: str, terms: list[str]) -> bool:
    key = search_key(token)
    return bool(key) and any(term in key for term in terms)
