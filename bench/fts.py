"""Full-text search at scale: rebuild time of the index, query time, and the cost of the tail.

    .venv/bin/python bench/fts.py                     # 100,000 articles
    .venv/bin/python bench/fts.py --articles 20000 --tail 2000 --json
    .venv/bin/python bench/fts.py --refresh --articles 5000 --base 5000 --repeat 3

Builds a fresh warehouse of N synthetic Arabic articles (350-750 words, about 7.8 KB of UTF-8
body each, with a Zipf-distributed vocabulary of prefixed and suffixed three-letter roots, so
the index's dictionary grows as a real one does), then measures: the first full rebuild
(`refresh_search_index`), queries answered from the index, queries with T more articles loaded
and not yet indexed (tokenized at query time), the incremental refresh that moves them into the
tail tables, queries after it, and a second full rebuild. Peak RSS is the process's
ru_maxrss. Everything stays in a temporary directory.

--refresh compares, in one run, the per-pass refresh of search before and after issue 8 (the
old functions are kept below, `old_refresh`): a cold refresh of N new articles in a warehouse
without an index (before: an fts build; after: the tail), and an incremental refresh of N new
articles over an index of --base articles (both: the tail). Each case starts from a copy of the
same file, old and new alternate, and the medians of --repeat runs are printed in ms per
article (wall time); the tail tables each leaves must be equal. The new refresh is also timed
with its slices on two connections side by side (`connections=2`, as a pass runs it). Article
ids are hashes, as in a warehouse.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warehouse import search_refresh as current
from warehouse.db import connect
from warehouse.search import refresh_search_index, search

LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
PATTERNS = (
    "{}{}{}",
    "ا{}{}{}",
    "م{}{}{}",
    "{}{}ا{}",
    "ت{}{}ي{}",
    "{}ا{}{}",
    "م{}{}و{}",
    "است{}{}{}",
)
PREFIXES = ("", "", "", "ال", "و", "وال", "ب", "بال", "ل", "لل", "ف")
SUFFIXES = ("", "", "", "ة", "ات", "ين", "ون", "ها", "هم", "ي", "ية")
QUERIES = ("العراق", "وزير المالية", "أمني", "الأمنى", "مستشفى", "الْحُكُومَة", "محطة كهرباء")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    """`size` distinct word forms; the real words of QUERIES come first (frequent)."""
    words = dict.fromkeys(w for q in QUERIES for w in q.split())
    while len(words) < size:
        root = rng.choice(list(LETTERS), 3)
        stem = PATTERNS[rng.integers(len(PATTERNS))].format(*root)
        word = PREFIXES[rng.integers(len(PREFIXES))] + stem + SUFFIXES[rng.integers(len(SUFFIXES))]
        words[word] = None
    return list(words)


def articles_table(
    rng: np.random.Generator, vocab: list[str], n: int, first: int, hashed: bool = False
) -> pa.Table:
    ranks = np.arange(1, len(vocab) + 1)
    weights = 1.0 / ranks**1.07
    weights /= weights.sum()
    lengths = rng.integers(350, 750, n)
    picks = rng.choice(len(vocab), int(lengths.sum()) + 12 * n, p=weights)
    bodies, titles, at = [], [], 0
    for length in lengths:
        titles.append(" ".join(vocab[i] for i in picks[at : at + 12]))
        at += 12
        words = [vocab[i] for i in picks[at : at + length]]
        at += length
        bodies.append(
            "\n\n".join(" ".join(words[p : p + 60]) + "." for p in range(0, len(words), 60))
        )
    ids = [f"bench{first + i:07d}" for i in range(n)]
    if hashed:  # spread over the table, as the SHA-256 ids of extractors.urls are
        ids = [hashlib.sha256(i.encode()).hexdigest()[:20] for i in ids]
    when = [T0 + timedelta(minutes=first + i) for i in range(n)]
    return pa.table(
        {
            "article_id": ids,
            "url": [f"http://127.0.0.1:9/{i}" for i in ids],
            "canonical_url": [f"http://127.0.0.1:9/{i}" for i in ids],
            "feed_name": [f"feed{(first + i) % 40}" for i in range(n)],
            "source": [f"outlet {(first + i) % 40}" for i in range(n)],
            "title": titles,
            "body": bodies,
            "published_at": when,
            "fetched_at": when,
            "updated_at": when,
            "extraction": ["page"] * n,
        }
    )


def load(con, table: pa.Table) -> None:  # type: ignore[no-untyped-def]
    con.register("bench_batch", table)
    columns = ", ".join(table.column_names)
    con.execute(f"INSERT INTO articles ({columns}) SELECT {columns} FROM bench_batch")
    con.unregister("bench_batch")


def timed_queries(con, repeat: int = 3) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Median milliseconds per query text."""
    result = {}
    for query in QUERIES:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            search(con, query, limit=20)
            times.append(time.perf_counter() - started)
        result[query] = round(statistics.median(times) * 1000, 1)
    return result


# -- the refresh before issue 8, for --refresh: every token keyed, tokenized and stemmed in
# place; without an index, an fts build ---------------------------------------------------------


def old_refresh(con, *, full: bool = False) -> float:  # type: ignore[no-untyped-def]
    """The old refresh_search_index (seconds)."""
    current.load_extension(con, "fts")
    full = full or not current.has_index(con)
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        current._rebuild(con) if full else _old_index_tail(con)  # _rebuild is unchanged
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{current.INDEX_INPUT}")
    return time.perf_counter() - started


def _old_index_tail(con) -> None:  # type: ignore[no-untyped-def]
    key_sql, table, stemmer = current.key_sql, current.INDEX_INPUT, current.STEMMER
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT a.article_id, a.updated_at,
               {key_sql("a.title")} AS title, {key_sql("a.body")} AS body
        FROM articles a WHERE {current._UNSEARCHED}
        """
    )
    current._fold_compatibility_forms(con, f"a.article_id IN (SELECT article_id FROM {table})")
    for tail in ("search_tail_articles", "search_tail_terms"):
        con.execute(f"DELETE FROM {tail} WHERE article_id IN (SELECT article_id FROM {table})")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE search_new_terms AS
        SELECT * FROM (
            SELECT article_id, stem(unnest({current._tokenize_sql(current._TEXT)}), '{stemmer}')
                   AS term
            FROM {table}
        ) WHERE term <> ''
        """
    )
    con.execute(
        f"""
        INSERT INTO search_tail_articles
        SELECT d.article_id, d.updated_at, coalesce(n.terms, 0)
        FROM {table} d LEFT JOIN (
            SELECT article_id, count(*) AS terms FROM search_new_terms GROUP BY article_id
        ) n USING (article_id)
        """
    )
    con.execute(
        "INSERT INTO search_tail_terms SELECT article_id, term, count(*) FROM search_new_terms "
        "GROUP BY ALL"
    )
    con.execute("DROP TABLE temp.search_new_terms")


def refresh_figures(args: argparse.Namespace, vocab: list[str], rng: np.random.Generator) -> dict:
    """Old vs new per-pass refresh (module doc), medians in ms per article, which is also
    seconds per 1000 articles."""
    figures: dict[str, object] = {"new_articles": args.articles, "base": args.base}
    with tempfile.TemporaryDirectory(prefix="marsad-fts-bench-") as tmp:
        cold, warm = Path(tmp) / "cold.duckdb", Path(tmp) / "warm.duckdb"
        con = connect(warm)
        for first in range(0, args.base, 20_000):
            load(con, articles_table(rng, vocab, min(20_000, args.base - first), first, True))
        if args.base:
            refresh_search_index(con, full=True)
        con.close()
        con = connect(cold)
        load(con, articles_table(rng, vocab, args.articles, args.base, True))
        batch = con.execute("SELECT * FROM articles").to_arrow_table()
        con.close()
        con = connect(warm)
        load(con, batch)
        con.close()
        figures["full_build_ms"] = _per_article(Path(tmp), cold, args, "full")
        for case, db in (("cold", cold), ("incremental", warm)):
            runs = _per_article(Path(tmp), db, args, case)
            figures[f"{case}_old_ms"], figures[f"{case}_new_ms"] = runs[:2]
            figures[f"{case}_speedup"] = round(runs[0] / runs[1], 1)
            # the new refresh as a pass runs it: its slices on two connections side by side
            figures[f"{case}_new_two_connections_ms"] = runs[2]
        for name in ("old", "new"):  # what the cold refresh leaves: an index, or only a tail
            con = connect(Path(tmp) / f"cold-{name}.duckdb")
            figures[f"query_after_cold_{name}_ms"] = statistics.median(timed_queries(con).values())
            con.close()
    return figures


def _per_article(tmp: Path, db: Path, args: argparse.Namespace, case: str):  # type: ignore[no-untyped-def]
    """Median ms per new article of each implementation on copies of `db` (one for "full")."""
    names = ("new",) if case == "full" else ("old", "new", "two")
    times: dict[str, list[float]] = {name: [] for name in names}
    tails: dict[str, set] = {}
    for _ in range(args.repeat):
        for name in names:
            copy = tmp / f"{case}-{name}.duckdb"  # the cold ones are queried afterwards
            shutil.copyfile(db, copy)
            con = connect(copy)
            if case == "full":
                seconds = refresh_search_index(con, full=True).seconds
            elif name == "old":
                seconds = old_refresh(con)
            elif name == "two":
                seconds = refresh_search_index(con, connections=2).seconds
            else:
                seconds = refresh_search_index(con).seconds
            times[name].append(1000 * seconds / args.articles)
            if case != "full" and name not in tails:
                tails[name] = set(con.execute("SELECT * FROM search_tail_terms").fetchall())
            con.close()
    if case == "incremental" and tails["old"] != tails["new"]:
        raise SystemExit("the new refresh fills the tail differently from the old one")
    if case != "full" and tails["two"] != tails["new"]:
        raise SystemExit("the refresh on two connections fills the tail differently")
    medians = tuple(round(statistics.median(times[name]), 2) for name in names)
    return medians[0] if case == "full" else medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--tail", type=int, default=5_000, help="articles loaded after a rebuild")
    parser.add_argument("--vocabulary", type=int, default=300_000)
    parser.add_argument("--refresh", action="store_true", help="old vs new per-pass refresh")
    parser.add_argument("--base", type=int, default=5_000, help="--refresh: indexed articles")
    parser.add_argument("--repeat", type=int, default=3, help="--refresh: runs per case")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    vocab = vocabulary(rng, args.vocabulary)
    if args.refresh:
        _print(refresh_figures(args, vocab, rng), args.json)
        return 0
    figures: dict[str, object] = {"articles": args.articles, "tail": args.tail}
    if args.tail < 1:
        parser.error("--tail must be at least 1")
    with tempfile.TemporaryDirectory(prefix="marsad-fts-bench-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        con = connect(db)
        started = time.perf_counter()
        for first in range(0, args.articles, 20_000):
            load(con, articles_table(rng, vocab, min(20_000, args.articles - first), first))
        con.execute("CHECKPOINT")
        figures["generate_and_load_s"] = round(time.perf_counter() - started, 1)
        figures["body_mb"] = round(
            con.execute("SELECT sum(strlen(body)) FROM articles").fetchone()[0] / 1e6, 1
        )
        figures["db_mb_before"] = round(db.stat().st_size / 1e6, 1)
        refresh = refresh_search_index(con, full=True)
        con.execute("CHECKPOINT")
        figures["rebuild_s"] = round(refresh.seconds, 1)
        figures["db_mb_after"] = round(db.stat().st_size / 1e6, 1)
        figures["indexed_query_ms"] = timed_queries(con)
        load(con, articles_table(rng, vocab, args.tail, args.articles))
        figures["with_unindexed_tail_query_ms"] = timed_queries(con)
        incremental = refresh_search_index(con)
        figures["incremental_refresh_s"] = round(incremental.seconds, 2)
        figures["incremental_ms_per_article"] = round(1000 * incremental.seconds / args.tail, 2)
        figures["with_indexed_tail_query_ms"] = timed_queries(con)
        figures["second_full_rebuild_s"] = round(refresh_search_index(con, full=True).seconds, 1)
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
        con.close()
    _print(figures, args.json)
    return 0


def _print(figures: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key:>28}: {value}")


if __name__ == "__main__":
    sys.exit(main())
