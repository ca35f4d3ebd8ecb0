"""The published copy: seconds per GB of `publish()` (COPY FROM DATABASE + atomic rename).

    .venv/bin/python bench/publish.py                  # 50,000 articles (about 0.5 GB)
    .venv/bin/python bench/publish.py --articles 100000 --index --json

Builds a warehouse of N synthetic Arabic articles (bench/fts.py's generator), optionally with
the full-text index, then publishes it R times into a temporary directory and reports the
median time, the published file's size and the cost per GB. The first copy (into an empty
directory) and the later ones (replacing a copy) are reported apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fts import articles_table, load, vocabulary
from warehouse.db import connect
from warehouse.publish import publish
from warehouse.search import refresh_search_index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--index", action="store_true", help="build the full-text index first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    vocab = vocabulary(rng, 200_000)
    figures: dict[str, object] = {"articles": args.articles, "index": args.index}
    with tempfile.TemporaryDirectory(prefix="marsad-publish-bench-") as tmp:
        db = Path(tmp) / "warehouse.duckdb"
        con = connect(db)
        for first in range(0, args.articles, 20_000):
            load(con, articles_table(rng, vocab, min(20_000, args.articles - first), first))
        if args.index:
            figures["index_rebuild_s"] = round(refresh_search_index(con, full=True).seconds, 1)
        con.execute("CHECKPOINT")
        figures["warehouse_mb"] = round(db.stat().st_size / 1e6, 1)
        target = Path(tmp) / "published" / "marsad.duckdb"
        first_copy = publish(con, target)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = publish(con, target)
            times.append(time.perf_counter() - started)
        con.close()
        size_gb = result.bytes / 1e9
        median = statistics.median(times)
        figures.update(
            published_mb=round(result.bytes / 1e6, 1),
            first_copy_s=round(first_copy.seconds, 2),
            replace_s_median=round(median, 2),
            seconds_per_gb=round(median / size_gb, 1),
        )
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
