"""Full-text search at scale: rebuild time of the index, query time, and the cost of the tail.

    .venv/bin/python bench/fts.py                     # 100,000 articles
    .venv/bin/python bench/fts.py --articles 20000 --tail 2000 --json

Builds a fresh warehouse of N synthetic Arabic articles (350-750 words, about 7.8 KB of UTF-8
body each, with a Zipf-distributed vocabulary of prefixed and suffixed three-letter roots, so
the index's dictionary grows as a real one does), then measures: the first full rebuild
(`refresh_search_index`), queries answered from the index, queries with T more articles loaded
and not yet indexed (tokenized at query time), the incremental refresh that moves them into the
tail tables, queries after it, and a second full rebuild. Peak RSS is the process's
ru_maxrss. Everything stays in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def articles_table(rng: np.random.Generator, vocab: list[str], n: int, first: int) -> pa.Table:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--tail", type=int, default=5_000, help="articles loaded after a rebuild")
    parser.add_argument("--vocabulary", type=int, default=300_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    vocab = vocabulary(rng, args.vocabulary)
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
        refresh = refresh_search_index(con)
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
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
