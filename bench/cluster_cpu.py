"""CPU per article of story clustering as a pass loads articles: the committed code vs this one.

    python bench/cluster_cpu.py [--feeds 40] [--articles 50] [--chunk 500] [--runs 5]
                                [--baseline FILE] [--cache DIR] [--profile]

1. Articles, built as a pass builds them: the pages of bench/synthetic_site.py (`build_site`,
   feeds x articles pages; many bodies share sentences, so LSH bands collide as boilerplate
   lines make them collide in real news) with their feed entries, through
   `extractors.workers.extract_one` on both cores, fetched 10 ms apart in feed order. The list
   is pickled in the temporary directory (`--cache`), keyed by the arguments and the source of
   extractors/, so later runs skip the extraction.
2. Each run loads them into a fresh warehouse file by chunks of `--chunk` (a pass's loading
   chunk, flows/stream.py), as `warehouse.load.load_batch` does: in a transaction,
   `assign_clusters` then `index_fingerprints`; the CPU time (process time: Python and DuckDB's
   threads) and the wall time of those two calls are summed over the chunks. The baseline, the
   single-module warehouse/clusters.py before chunks were clustered at once (`git show
   BASELINE_COMMIT:...`, or `--baseline FILE`), and the working
   copy alternate, so machine noise hits both alike. Each run checks that both gave every
   article the same cluster_id and duplicate_of, and exits 1 if not.
Printed: per implementation the median over the runs of CPU ms and wall ms per article, the
ratio new/baseline, and how many articles joined a cluster. `--profile` prints a cProfile of one
run of the working copy instead.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import hashlib
import importlib.util
import os
import pickle
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the packages importable
    sys.path.insert(0, str(REPO))

from extractors.records import Article  # noqa: E402
from warehouse import clusters  # noqa: E402
from warehouse.db import connect  # noqa: E402

BASE_URL = "http://127.0.0.1:9"  # only written into the pages; nothing is fetched
FETCHED_AT = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
FETCH_STEP = timedelta(milliseconds=10)

# The last commit whose clusters.py looked for candidates article by article in Python.
BASELINE_COMMIT = "e441eeb"


def build_articles(feeds: int, per_feed: int, cache: Path) -> list[Article]:
    """The synthetic site's articles, extracted as a pass extracts them (cached, see above)."""
    sources = [*sorted((REPO / "extractors").glob("*.py")), REPO / "bench" / "synthetic_site.py"]
    digest = hashlib.sha256(f"{feeds} {per_feed} {BASE_URL}".encode())
    for source in sources:
        digest.update(source.read_bytes())
    path = cache / f"marsad-cluster-cpu-{digest.hexdigest()[:16]}.pickle"
    if path.exists():
        return pickle.loads(path.read_bytes())
    from bench.synthetic_site import HTML_TYPE, build_site
    from extractors.article import FeedContext
    from extractors.feeds import parse_feed
    from extractors.workers import extract_packed

    files = build_site(feeds, per_feed, base_url=BASE_URL)
    jobs = []
    for feed in range(feeds):
        context = FeedContext(name=f"f{feed}", source=f"f{feed}", timezone=ZoneInfo("UTC"))
        path_ = f"/feeds/f{feed}.xml"
        for entry in parse_feed(files[path_][0], url=BASE_URL + path_).entries:
            html = files[entry.url.removeprefix(BASE_URL)][0].decode("utf-8")
            fetched_at = FETCHED_AT + len(jobs) * FETCH_STEP
            jobs.append((entry, context, fetched_at, html, HTML_TYPE, False))
    print(f"extracting {len(jobs)} pages on 2 processes (cached afterwards) ...", flush=True)
    with ProcessPoolExecutor(2) as pool:
        outcomes = list(pool.map(extract_packed, jobs, chunksize=20))
    articles = [article for article, _ in outcomes if article is not None]
    path.write_bytes(pickle.dumps(articles, pickle.HIGHEST_PROTOCOL))
    return articles


def baseline_module(source: Path | None) -> ModuleType:
    """The baseline warehouse/clusters.py (or `source`), imported as a module of its own."""
    if source is not None:
        text = source.read_text(encoding="utf-8")
    else:
        text = subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:warehouse/clusters.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    spec = importlib.util.spec_from_loader("clusters_baseline", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(text, "clusters_baseline.py", "exec"), module.__dict__)
    return module


def load(module: ModuleType, articles: list[Article], chunk: int, db: Path) -> tuple:
    """Load fresh copies of `articles` chunk by chunk; return (CPU s, wall s, joined, clusters)."""
    articles = copy.deepcopy(articles)
    for a in articles:
        a.cluster_id = a.duplicate_of = None
    con = connect(db)
    cpu = wall = 0.0
    joined = 0
    try:
        for lo in range(0, len(articles), chunk):
            part = articles[lo : lo + chunk]
            con.execute("BEGIN TRANSACTION")
            started_cpu, started = time.process_time(), time.perf_counter()
            joined += module.assign_clusters(con, part)
            module.index_fingerprints(con, part)
            cpu += time.process_time() - started_cpu
            wall += time.perf_counter() - started
            con.execute("COMMIT")
    finally:
        con.close()
    return cpu, wall, joined, {a.article_id: (a.cluster_id, a.duplicate_of) for a in articles}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--articles", type=int, default=50, help="articles per feed")
    parser.add_argument("--chunk", type=int, default=500, help="articles per loading chunk")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--baseline", type=Path, help="clusters.py to compare with (default: BASELINE_COMMIT)"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    articles = build_articles(args.feeds, args.articles, args.cache)
    ways = {"baseline": baseline_module(args.baseline), "working copy": clusters}
    with tempfile.TemporaryDirectory(prefix="marsad-cluster-cpu-") as tmp:
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(load, clusters, articles, args.chunk, Path(tmp, "profile.duckdb"))
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
            return 0
        results: dict[str, list[tuple]] = {way: [] for way in ways}
        for run in range(args.runs):
            for way, module in ways.items():
                db = Path(tmp, f"{run}-{way.replace(' ', '-')}.duckdb")
                results[way].append(load(module, articles, args.chunk, db))
                os.remove(db)
            if results["baseline"][-1][3] != results["working copy"][-1][3]:
                old, new = results["baseline"][-1][3], results["working copy"][-1][3]
                differ = [k for k in old if old[k] != new.get(k)]
                print(f"run {run}: {len(differ)} articles clustered differently, e.g. {differ[:3]}")
                return 1
    n = len(articles)
    print(f"{n} articles, chunks of {args.chunk}, {args.runs} runs: medians per article")
    print(f"{'':<14} {'CPU ms':>8} {'wall ms':>8} {'joined':>7}")
    medians = {}
    for way, runs in results.items():
        cpu = statistics.median(r[0] for r in runs) * 1000 / n
        wall = statistics.median(r[1] for r in runs) * 1000 / n
        medians[way] = (cpu, wall)
        print(f"{way:<14} {cpu:>8.3f} {wall:>8.3f} {runs[0][2]:>7}")
    (old_cpu, old_wall), (new_cpu, new_wall) = medians["baseline"], medians["working copy"]
    print(f"new/baseline: CPU x{new_cpu / old_cpu:.2f}, wall x{new_wall / old_wall:.2f}")
    print("clusters identical in every run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
