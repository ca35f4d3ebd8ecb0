"""Building full-text search: the search key of a text, the fts index, and the tail tables.

The index is DuckDB's fts extension (BM25, Snowball `arabic` stemmer) built over the *search key*
of each text: `extractors.clean.normalize_key` (alef and yeh forms folded, harakat, tatweel and
invisible characters gone, Eastern digits as ASCII) except that teh marbuta ة is kept, because
the stemmer strips ة and ية suffixes but not their ه spelling (الأمنية -> امن, الامنيه -> امنيه);
it strips a final ه anyway, so مدرسة and مدرسه still meet. So أمني and أمنى, a word with or
without diacritics or tatweel, meet on one stem. The key is computed in SQL by `key_sql()`, a
translation table derived character by character from normalize_key, for texts and queries
alike (`warehouse.search` keys its queries with it, so the helpers live here, and that module
imports this one, never the other way round).

The fts index does not follow inserts and rebuilding it takes minutes at 100k articles
(bench/fts.py), so `refresh_search_index` keeps two layers: the fts index, rebuilt by
`full=True` (the daily maintenance flow) or when the tail outgrows it, and the tail tables,
where each incremental refresh stores the stemmed terms of the articles loaded or changed
since. `warehouse.search` scores both, and tokenizes whatever neither holds yet, per query.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from extractors.clean import normalize_key
from warehouse.db import identifier, limit_memory, transaction
from warehouse.extensions import load_extension

INDEX_INPUT = "search_documents"  # a temporary table; the index lives in the schema below
INDEX_SCHEMA = f"fts_main_{INDEX_INPUT}"
STEMMER = "arabic"
# An incremental refresh rebuilds the index when its tail would hold more articles than this and
# than the index (see refresh_search_index).
TAIL_REBUILD_MIN = 20_000
# DuckDB's cap and threads for a full rebuild, set by its callers (warehouse.db.limit_memory):
# over 100,000 articles it took 126 s and +434 MB so, against 124 s and about +3.4 GB on two
# threads without a cap (DuckDB's default is 80% of the machine's memory). Under 64 MB it ran
# out of memory (over 80,000 articles on one thread, over 40,000 on two).
REBUILD_MEMORY_LIMIT = "256MB"
REBUILD_THREADS = 1
# Documents an incremental refresh tokenizes and commits at a time (see _index_tail): its memory
# is then that of one slice's texts, whatever the number of new articles.
TAIL_SLICE = 500
# Every run of characters that is not a letter or a digit separates words. The fts default
# strips only ASCII punctuation (Arabic ، ؛ ؟ « » stay glued to words), and the documented
# '(\\.|[^a-z])+' deletes every Arabic letter.
IGNORE = r"[^\p{L}\p{N}]+"
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
# Temporary tables of an incremental refresh.
_SCRATCH = ("search_chunks", "search_vocabulary", "search_folded", "search_new_terms")


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


def refresh_search_index(
    con: duckdb.DuckDBPyConnection, *, full: bool | None = None, connections: int = 1
) -> IndexRefresh:
    """Bring full-text search up to date. A rebuild is one transaction (readers keep the old
    index until it commits); an incremental refresh commits a slice of TAIL_SLICE articles at a
    time, each moving its articles into the tail whole, so a reader in between finds every
    article, in the tail or tokenized per query (see warehouse.search).

    Incremental (the default; about 1 ms per new or changed article, bench/fts.py --refresh):
    the articles loaded or changed since the last refresh are tokenized and stemmed into the
    tail tables. That is also what happens when there is no fts index yet: building one costs
    2 to 2.5 ms per article at 5k articles (minutes at 100k), so it is left to `full=True` (the
    daily maintenance flow), which rebuilds the index over every article and empties the tail.

    Unless the tail outgrows the index (`rebuild_due`): when, after this refresh, the tail would
    hold more than TAIL_REBUILD_MIN articles and more than the index does, the refresh is a full
    one instead (reported with full=True); `full=False` is for a caller that asked rebuild_due
    itself (to set the connection's caps first) and got False. Otherwise a warehouse fed only
    by `marsad run`, without the maintenance flow, would never get an index, and every search
    would score an ever longer tail. Amortized, this costs little: after a rebuild over n
    articles the next one waits until more than n others have come or changed, so the rebuilds
    grow at least twofold and all of them together cover about twice the final number of
    articles.

    An incremental refresh indexes its slices on up to `connections` connections side by side
    (cursors of `con`, each on a thread of its own): DuckDB runs one slice's statements mostly
    on one thread whatever its `threads`, so a pass's refresh, run while nothing else does, kept
    a second core idle (see _index_tail).
    Raises ExtensionUnavailable when the fts extension cannot be loaded."""
    load_extension(con, "fts")
    started = time.perf_counter()
    try:
        full = rebuild_due(con) if full is None else full
        if full:
            with transaction(con):
                articles = _rebuild(con)
        else:
            articles = _index_tail(con, connections)
    finally:
        for table in (INDEX_INPUT, *_SCRATCH):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    return IndexRefresh(full, articles, time.perf_counter() - started)


def limit_rebuild(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`con` set for a full rebuild: REBUILD_MEMORY_LIMIT on REBUILD_THREADS threads (a
    connection through `marsad serve-sql` is left alone, as warehouse.db.limit_memory does)."""
    limit_memory(con, REBUILD_MEMORY_LIMIT, REBUILD_THREADS)
    return con


def rebuild_due(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an incremental refresh now would be a full rebuild instead: whether the tail,
    once it is done, would hold more than TAIL_REBUILD_MIN articles and more than the index
    (every article not in the index as it now stands ends up in the tail). Decided before the
    tail work, which a rebuild would undo; a caller may ask first, to give a rebuild more
    memory than a tail refresh (limit_rebuild)."""
    row = con.execute(
        f"""
        SELECT (SELECT count(*) FROM articles a WHERE NOT {_IN_INDEX}),
               (SELECT count(*) FROM search_index_articles)
        """
    ).fetchone()
    tail, indexed = row if row else (0, 0)
    return tail > TAIL_REBUILD_MIN and tail > indexed


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


def _index_tail(con: duckdb.DuckDBPyConnection, connections: int = 1) -> int:
    """Fill the tail tables for the articles no layer holds, TAIL_SLICE documents to a
    transaction: a transaction keeps what it wrote in memory until it commits (one for 5,000
    articles took a pass's process from 380 to 610 MB). Their texts are read by rowid: a join
    on article_id (hashes, spread over the table) would read every body.

    With `connections` > 1 (and a connection of this process's own, not one through `marsad
    serve-sql`), the slices are shared among that many cursors of `con` on threads of their
    own, each slice still one transaction: their writes are appends and deletes of other rows,
    which DuckDB's concurrent transactions allow. Each cursor gets its slices' documents as a
    temporary INDEX_INPUT of its own (temporary tables belong to one connection)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {INDEX_INPUT} AS
        SELECT row_number() OVER () AS doc, a.rowid AS row, a.article_id, a.updated_at
        FROM articles a WHERE {_UNSEARCHED}
        """
    )
    row = con.execute(f"SELECT count(*) FROM {INDEX_INPUT}").fetchone()
    total = int(row[0]) if row else 0
    firsts = list(range(1, total + 1, TAIL_SLICE))
    connections = min(connections, len(firsts))
    if connections <= 1 or not isinstance(con, duckdb.DuckDBPyConnection):
        for first in firsts:
            with transaction(con):
                _index_slice(con, f"doc BETWEEN {first} AND {first + TAIL_SLICE - 1}")
        return total
    documents = con.execute(f"SELECT * FROM {INDEX_INPUT} ORDER BY doc").to_arrow_table()
    catalog, schema = con.execute("SELECT current_database(), current_schema()").fetchone()  # type: ignore[misc]
    # Made here, not on the threads: a connection object is not for concurrent use.
    cursors = [con.cursor() for _ in range(connections)]
    stop = threading.Event()  # set on the first failure, or when this thread is interrupted
    threads = ThreadPoolExecutor(connections, thread_name_prefix="marsad-search")
    try:
        for cursor in cursors:  # a cursor starts in the database's default catalog
            cursor.execute(f"USE {identifier(catalog)}.{identifier(schema)}")
        done = [
            threads.submit(_index_slices, cursor, documents, firsts[k::connections], stop)
            for k, cursor in enumerate(cursors)
        ]
        for future in done:  # the first error is raised; the others stop at their next slice
            future.result()
    finally:
        stop.set()
        threads.shutdown(wait=True)  # a slice under way commits or rolls back first
        for cursor in cursors:
            cursor.close()
    return total


def _index_slices(
    cursor: duckdb.DuckDBPyConnection, documents: pa.Table, firsts: list[int], stop: threading.Event
) -> None:
    """On `cursor`, a connection of its own: the slices of `documents` (INDEX_INPUT's rows)
    that start at `firsts`, each in one transaction, as INDEX_INPUT of that connection; none
    more once `stop` is set, which a failure here sets for the other connections."""
    try:
        for first in firsts:
            if stop.is_set():
                return
            part = documents.slice(first - 1, TAIL_SLICE)
            cursor.register("search_documents_part", part)
            try:
                cursor.execute(
                    f"CREATE OR REPLACE TEMP TABLE {INDEX_INPUT} AS "
                    "SELECT * FROM search_documents_part"
                )
            finally:
                cursor.unregister("search_documents_part")
            with transaction(cursor):
                _index_slice(cursor, "TRUE")
    except BaseException:
        stop.set()
        raise


def _index_slice(con: duckdb.DuckDBPyConnection, docs: str) -> None:
    """The tail rows of the documents of INDEX_INPUT that satisfy the condition `docs`."""
    _count_terms(con, docs)
    for table in ("search_tail_articles", "search_tail_terms"):
        con.execute(
            f"DELETE FROM {table} "
            f"WHERE article_id IN (SELECT article_id FROM {INDEX_INPUT} WHERE {docs})"
        )
    con.execute(
        f"""
        INSERT INTO search_tail_articles
        SELECT d.article_id, d.updated_at, coalesce(n.terms, 0)
        FROM {INDEX_INPUT} d LEFT JOIN (
            SELECT doc, sum(tf) AS terms FROM search_new_terms GROUP BY doc
        ) n USING (doc)
        WHERE {docs}
        """
    )
    con.execute(
        f"INSERT INTO search_tail_terms SELECT d.article_id, n.term, n.tf "
        f"FROM search_new_terms n JOIN {INDEX_INPUT} d USING (doc)"
    )


def _count_terms(con: duckdb.DuckDBPyConnection, docs: str = "TRUE") -> None:
    """`search_new_terms` (doc, term, tf): the terms the fts tokenizer and stemmer give the key
    text of each document of INDEX_INPUT that satisfies the condition `docs`, computed once per
    distinct word instead of once per occurrence.

    A text is cut at its spaces as written: a space separates words in the key form too, and
    every step (lower, the key translation, strip_accents, the IGNORE split) maps characters
    one by one, so a chunk's terms do not depend on its neighbours. Chunks are keyed by batch,
    since translate() is costly per call, not per character; texts with compatibility forms
    are keyed by normalize_key instead (`_fold_compatibility_forms`)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_chunks AS
        SELECT d.doc, unnest(string_split({_TEXT}, ' ')) AS chunk
        FROM articles a JOIN {INDEX_INPUT} d ON a.rowid = d.row
        WHERE {docs}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_vocabulary AS
        WITH batches AS (
            SELECT list(chunk) AS chunks FROM (SELECT DISTINCT chunk FROM search_chunks)
            GROUP BY hash(chunk) % 64
        ),
        keyed AS (
            SELECT unnest(chunks) AS chunk,
                   unnest(string_split({key_sql("array_to_string(chunks, ' ')")}, ' ')) AS k
            FROM batches
        ),
        stemmed AS (
            SELECT chunk, regexp_matches(chunk, '{_COMPAT.pattern}') AS compat,
                   list_filter([stem(t, '{STEMMER}') FOR t IN {_tokenize_sql("k")}],
                               s -> s <> '') AS terms
            FROM keyed
        )
        SELECT chunk, compat, CASE WHEN len(terms) = 1 THEN terms[1] END AS term, terms
        FROM stemmed
        """
    )
    _fold_tail_compatibility_forms(con)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_new_terms AS
        SELECT doc, term, count(*)::INTEGER AS tf FROM (
            SELECT c.doc, v.term FROM search_chunks c JOIN search_vocabulary v USING (chunk)
            WHERE v.term IS NOT NULL
            UNION ALL
            SELECT c.doc, unnest(v.terms) FROM search_chunks c JOIN search_vocabulary v
            USING (chunk) WHERE v.term IS NULL
            UNION ALL
            SELECT * FROM (
                SELECT doc, stem(unnest({_tokenize_sql("text")}), '{STEMMER}') AS term
                FROM search_folded
            ) WHERE term <> ''
        ) GROUP BY ALL
        """
    )


def _fold_tail_compatibility_forms(con: duckdb.DuckDBPyConnection) -> None:
    """`search_folded` (doc, text): the key text, from normalize_key, of the tail documents
    with a chunk in compatibility forms (rare); their chunks are dropped."""
    con.execute("CREATE OR REPLACE TEMP TABLE search_folded (doc BIGINT, text VARCHAR)")
    if not con.execute("SELECT count(*) FROM search_vocabulary WHERE compat").fetchone()[0]:
        return
    rows = con.execute(
        f"""
        SELECT d.doc, a.title, a.body FROM articles a JOIN {INDEX_INPUT} d ON a.rowid = d.row
        WHERE d.doc IN (
            SELECT doc FROM search_chunks
            WHERE chunk IN (SELECT chunk FROM search_vocabulary WHERE compat)
        )
        """
    ).fetchall()
    con.executemany(
        "INSERT INTO search_folded VALUES (?, ?)",
        [(doc, f"{search_key(title) if title else ''} {search_key(body) if body else ''}")
         for doc, title, body in rows],
    )  # fmt: skip
    con.execute("DELETE FROM search_chunks WHERE doc IN (SELECT doc FROM search_folded)")


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
