"""Arabic-aware full-text search over article titles and bodies.

The index is DuckDB's fts extension (BM25, Snowball `arabic` stemmer) built over the *search key*
of each text: `extractors.clean.normalize_key` (alef and yeh forms folded, harakat, tatweel and
invisible characters gone, Eastern digits as ASCII) except that teh marbuta ة is kept, because
the stemmer strips ة and ية suffixes but not their ه spelling (الأمنية -> امن, الامنيه -> امنيه);
it strips a final ه anyway, so مدرسة and مدرسه still meet. So أمني and أمنى, a word with or
without diacritics or tatweel, meet on one stem. The key is computed in SQL by `key_sql()`, a
translation table derived character by character from normalize_key, for texts and queries
alike.

The fts index does not follow inserts, and rebuilding it takes minutes at 100k articles
(bench/fts.py), so search has three layers, all scored by the same BM25 with the index's
statistics: the fts index (`refresh_search_index(con, full=True)`, the daily maintenance flow);
the tail tables, where `refresh_search_index(con)` (each pass, about 2 ms per article) stores
the stemmed terms of articles loaded or changed since; and whatever neither holds yet, tokenized
when the query runs. So a search always sees every article. Without the fts extension, search
falls back to matching key words as substrings, with a warning.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import datetime

import duckdb

from extractors.clean import normalize_key
from warehouse.extensions import ExtensionUnavailable, load_extension

INDEX_INPUT = "search_documents"  # a temporary table; the index lives in the schema below
INDEX_SCHEMA = f"fts_main_{INDEX_INPUT}"
STEMMER = "arabic"
# Every run of characters that is not a letter or a digit separates words. The fts default
# strips only ASCII punctuation (Arabic ، ؛ ؟ « » stay glued to words), and the documented
# '(\\.|[^a-z])+' deletes every Arabic letter.
IGNORE = r"[^\p{L}\p{N}]+"
BM25_K, BM25_B = 1.2, 0.75
SNIPPET_WORDS = 24
MARK = "**"  # around matched words in snippets
_WORD = re.compile(r"[^\W_]+")
# Code points whose key form is longer than one character (ligatures such as ﻻ -> لا).
_COMPAT = re.compile("[\u00bc-\u00be\u00df\u0675-\u0678\ufb50-\ufdff\ufe70-\ufeff]")
# Kept as written in the search key (see the module doc).
_KEPT = frozenset("\u0629")
# Blocks probed to derive the SQL translation table from normalize_key.
_PROBED = (
    (0x00A0, 0x0250), (0x0300, 0x0370), (0x0600, 0x0700), (0x0750, 0x0780), (0x08A0, 0x0900),
    (0x200B, 0x2070), (0xFB50, 0xFE00), (0xFE70, 0xFF00),
)  # fmt: skip
# Which articles each part of search covers: the fts index and the tail tables hold the version
# of an article they were built from; anything else (the remainder) is tokenized per query.
_IN_INDEX = (
    "EXISTS (SELECT 1 FROM search_index_articles i "
    "WHERE i.article_id = a.article_id AND i.updated_at = a.updated_at)"
)
_IN_TAIL = (
    "EXISTS (SELECT 1 FROM search_tail_articles t "
    "WHERE t.article_id = a.article_id AND t.updated_at = a.updated_at)"
)
_UNSEARCHED = f"NOT {_IN_INDEX} AND NOT {_IN_TAIL}"
_TEXT = "coalesce(title, '') || ' ' || coalesce(body, '')"


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


@dataclass(frozen=True)
class IndexRefresh:
    """What `refresh_search_index` did: a full rebuild or an incremental one, how many
    articles it (re)indexed, and the seconds it took."""

    full: bool
    articles: int
    seconds: float


@functools.cache
def key_translation() -> tuple[str, str]:
    """(from, to) for SQL translate(): every probed code point whose normalize_key form is one
    other character maps to it (but ة stays), every one that normalize_key deletes maps to
    nothing (listed last). Punctuation, which normalize_key turns into a word break, is left to
    IGNORE."""
    mapped: list[tuple[str, str]] = []
    deleted: list[str] = []
    for low, high in _PROBED:
        for code in range(low, high):
            char = chr(code)
            if unicodedata.category(char) in ("Cn", "Cs") or _COMPAT.match(char) or char in _KEPT:
                continue
            probe = normalize_key(f"ب{char}ب")
            if probe == "بب":
                deleted.append(char)
            elif probe != "ب ب" and len(probe) == 3 and probe[1] not in (char, char.lower()):
                mapped.append((char, probe[1]))
    return "".join(c for c, _ in mapped) + "".join(deleted), "".join(k for _, k in mapped)


def search_key(text: str) -> str:
    """The search key in Python: normalize_key with ة kept (for the rare texts translate()
    cannot fold, such as presentation-form ligatures)."""
    # ۃ (U+06C3, Urdu's teh marbuta) is a letter normalize_key leaves alone: it carries ة past it
    return normalize_key(text.replace("\u0629", "\u06c3")).replace("\u06c3", "\u0629")


def key_sql(column: str) -> str:
    """SQL for the key form of `column` (words still separated by punctuation, which the
    tokenizer drops): lower() then the translation of `key_translation()`."""
    source, target = key_translation()
    return f"translate(lower({column}), '{source}', '{target}')"


def _tokenize_sql(column: str) -> str:
    """The fts tokenizer, written out so the tail can be tokenized without an index."""
    return (
        f"string_split_regex(trim(regexp_replace(lower(strip_accents({column})), "
        f"'{IGNORE}', ' ', 'g')), '\\s+')"
    )


def refresh_search_index(con: duckdb.DuckDBPyConnection, *, full: bool = False) -> IndexRefresh:
    """Bring full-text search up to date, in one transaction (readers keep what was there until
    it commits).

    Incremental (the default; about 2 ms per new or changed article): the articles loaded or
    changed since the last refresh are tokenized and stemmed into the tail tables. Full (or
    when there is no fts index yet): the fts index is rebuilt over every article and the tail
    emptied; this costs minutes at 100k articles (see bench/fts.py). Raises
    ExtensionUnavailable when the fts extension cannot be loaded."""
    load_extension(con, "fts")
    full = full or not has_index(con)
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        articles = _rebuild(con) if full else _index_tail(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{INDEX_INPUT}")
    return IndexRefresh(full, articles, time.perf_counter() - started)


def _rebuild(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {INDEX_INPUT} AS
        SELECT article_id, updated_at, {key_sql("title")} AS title, {key_sql("body")} AS body
        FROM articles
        """
    )
    _fold_compatibility_forms(con, "TRUE")
    con.execute(
        f"PRAGMA create_fts_index('{INDEX_INPUT}', 'article_id', 'title', 'body', "
        f"stemmer='{STEMMER}', stopwords='none', ignore='{IGNORE}', "
        "strip_accents=1, lower=1, overwrite=1)"
    )
    for table in ("search_index_articles", "search_tail_articles", "search_tail_terms"):
        con.execute(f"DELETE FROM {table}")
    con.execute(
        f"INSERT INTO search_index_articles SELECT article_id, updated_at FROM {INDEX_INPUT}"
    )
    row = con.execute(f"SELECT count(*) FROM {INDEX_INPUT}").fetchone()
    return int(row[0]) if row else 0


def _index_tail(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {INDEX_INPUT} AS
        SELECT a.article_id, a.updated_at,
               {key_sql("a.title")} AS title, {key_sql("a.body")} AS body
        FROM articles a WHERE {_UNSEARCHED}
        """
    )
    _fold_compatibility_forms(con, f"a.article_id IN (SELECT article_id FROM {INDEX_INPUT})")
    for table in ("search_tail_articles", "search_tail_terms"):
        con.execute(
            f"DELETE FROM {table} WHERE article_id IN (SELECT article_id FROM {INDEX_INPUT})"
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_new_terms AS
        SELECT * FROM (
            SELECT article_id, stem(unnest({_tokenize_sql(_TEXT)}), '{STEMMER}') AS term
            FROM {INDEX_INPUT}
        ) WHERE term <> ''
        """
    )
    con.execute(
        f"""
        INSERT INTO search_tail_articles
        SELECT d.article_id, d.updated_at, coalesce(n.terms, 0)
        FROM {INDEX_INPUT} d LEFT JOIN (
            SELECT article_id, count(*) AS terms FROM search_new_terms GROUP BY article_id
        ) n USING (article_id)
        """
    )
    con.execute(
        "INSERT INTO search_tail_terms SELECT article_id, term, count(*) FROM search_new_terms "
        "GROUP BY ALL"
    )
    con.execute("DROP TABLE temp.search_new_terms")
    row = con.execute(f"SELECT count(*) FROM {INDEX_INPUT}").fetchone()
    return int(row[0]) if row else 0


def _fold_compatibility_forms(con: duckdb.DuckDBPyConnection, where: str) -> None:
    """Texts with presentation forms or other compatibility characters (rare): key form from
    normalize_key itself, since translate() maps one character to one."""
    rows = con.execute(
        f"""
        SELECT a.article_id, a.title, a.body FROM articles a
        WHERE ({where})
          AND regexp_matches(coalesce(a.title, '') || coalesce(a.body, ''), '{_COMPAT.pattern}')
        """
    ).fetchall()
    for article_id, title, body in rows:
        con.execute(
            f"UPDATE {INDEX_INPUT} SET title = ?, body = ? WHERE article_id = ?",
            [search_key(title) if title else None, search_key(body) if body else None,
             article_id],
        )  # fmt: skip


def has_index(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether refresh_search_index has built the index in this warehouse."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = ? AND database_name = "
        "current_database()",
        [INDEX_SCHEMA],
    ).fetchone()
    return bool(row and row[0])


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
