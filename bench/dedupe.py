"""Per-article cost of dedupe (story clusters) with 10k, 100k and 1M articles of history.

    python bench/dedupe.py [--sizes 10000 100000 1000000] [--batches 12] [--batch-size 200]
                           [--per-day 5000] [--near-days 3] [--exact-days 30]
                           [--dir DIR] [--keep] [--reuse] [--art-index]

1. History: one warehouse file grows to the largest size through the real load path
   (`load_batch` in batches of 10,000, raw HTML off), and is copied aside as each size is
   reached. Bodies are random Arabic-like texts (150-600 words from a 30,000-word vocabulary
   drawn with a Zipf law, paragraphs of 40 words), fingerprinted with `fingerprint_key` on both
   cores; articles come from 50 outlets at `--per-day` articles a day, so history spans
   size / per-day days. 1M takes about 25 minutes on 2 cores; progress is printed. With
   `--reuse` the files already in `--dir` (kept by `--keep`) are measured again instead.
2. Measure, for each size in a subprocess of its own (its own peak RSS): `--batches` batches of
   `--batch-size`, each loaded the way a pass loads one (open the file, `load_batch`, close),
   15 minutes apart after the history. A batch of 200 holds 150 new texts, 20 exact copies of
   recent articles from another outlet, 10 exact copies of articles up to a month old, 10 near
   copies (one word in 20 replaced) and 10 teasers (the first paragraph) of recent articles:
   50 are copies, and the "joined" column must say 50. Timed: `assign_clusters` plus
   `index_fingerprints` inside `load_batch` (the dedupe cost), the whole `load_batch`, closing
   the file (DuckDB's checkpoint), and `known_urls` on the batch's 200 URLs plus 200 stored
   ones. Every batch opens the file anew, as a pass does, and all of them are timed.
   With `--art-index` the largest size is measured once more, on a copy given an ART index on
   article_bands.band (the design not taken), to show what it costs at close.
Printed per size: the medians over the batches (per article), the slowest batch, how many
copies joined a cluster, the file size and the measuring process's peak RSS; then the ratio of
the dedupe cost at the largest size to the smallest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the packages importable
    sys.path.insert(0, str(REPO))

from extractors.dedupe import fingerprint, fingerprint_key  # noqa: E402
from extractors.records import Article  # noqa: E402
from extractors.urls import article_id  # noqa: E402
from warehouse import clusters, load  # noqa: E402
from warehouse.db import connect  # noqa: E402

SEED = 20260301
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهو"  # key normalization leaves these as they are
VOCABULARY = 30_000
OUTLETS = 50
PARAGRAPH = 40  # words
BUILD_CHUNK = 10_000
START = datetime(2025, 1, 1, tzinfo=UTC)
MARK = "@@dedupe "


def _vocabulary() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(SEED)
    words = sorted(
        {"".join(rng.choice(list(LETTERS), int(rng.integers(2, 8)))) for _ in range(VOCABULARY)}
    )
    rng.shuffle(words)
    weights = 1.0 / (np.arange(len(words)) + 10.0) ** 1.05
    return words, np.cumsum(weights) / weights.sum()


WORDS, CDF = _vocabulary()


def text_words(n: int) -> list[str]:
    """The words of synthetic text number `n` (the same every run)."""
    rng = np.random.default_rng((SEED, n))
    ids = np.searchsorted(CDF, rng.random(int(rng.integers(150, 600))))
    return [WORDS[min(i, len(WORDS) - 1)] for i in ids]


def body_of(words: list[str]) -> str:
    return "\n\n".join(" ".join(words[i : i + PARAGRAPH]) for i in range(0, len(words), PARAGRAPH))


def fetched_at(n: int, per_day: int) -> datetime:
    return START + timedelta(seconds=n * 86_400 / per_day)


def article(n: int, words: list[str], when: datetime, *, outlet: int | None = None, fp=None):
    outlet = n % OUTLETS if outlet is None else outlet
    url = f"https://site{outlet}.example/news/{n}"
    body = body_of(words)
    fp = fp or fingerprint(body)
    return Article(
        article_id=article_id(url), url=url, canonical_url=url, feed_name=f"site{outlet}",
        source=f"Site {outlet}", title=" ".join(words[:8]), body=body, summary=None,
        author=None, published_at=when, published_at_source="feed", fetched_at=when,
        language="ar", dateline=None, attribution=None, is_breaking=False, tags=[],
        word_count=len(words), content_hash=fp.content_hash if fp else None,
        extraction="page", fingerprint=fp,
    )  # fmt: skip


def _fingerprinted(bounds: tuple[int, int]) -> list[tuple[int, list[str], object]]:
    return [(n, w, fingerprint_key(" ".join(w))) for n in range(*bounds) for w in [text_words(n)]]


def build(directory: Path, sizes: list[int], per_day: int) -> dict[int, Path]:
    """Grow one history file to max(sizes), copying it aside at each size."""
    path = directory / "history.duckdb"
    sample = text_words(0)  # the shortcut below must fingerprint as extraction does
    assert fingerprint_key(" ".join(sample)) == fingerprint(body_of(sample))
    copies: dict[int, Path] = {}
    con = connect(path)
    load.start_run(con, "history", None, START)
    started, done = time.monotonic(), 0
    ranges = [(lo, min(lo + 2_000, max(sizes))) for lo in range(0, max(sizes), 2_000)]
    pending: list[Article] = []
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        for chunk in pool.imap(_fingerprinted, ranges):
            pending += [article(n, w, fetched_at(n, per_day), fp=fp) for n, w, fp in chunk]
            if len(pending) < BUILD_CHUNK and done + len(pending) not in sizes:
                continue
            load.load_batch(con, load.LoadBatch("history", articles=pending, keep_raw_html=False))
            done += len(pending)
            pending = []
            print(f"  history {done:>9,} articles, {time.monotonic() - started:6.0f} s", flush=True)
            if done in sizes:
                con.close()
                copies[done] = directory / f"history-{done}.duckdb"
                shutil.copyfile(path, copies[done])
                con = connect(path)
    con.close()
    return copies


def probe_batch(history: int, b: int, batch_size: int, per_day: int, run: int) -> list[Article]:
    """Batch `b` of measurement `run` after `history` articles: new texts and copies."""
    rng = np.random.default_rng((SEED, history, b, run))
    when = fetched_at(history, per_day) + timedelta(minutes=15 * (b + 1))
    recent = max(0, history - int(per_day * clusters.NEAR_WINDOW.days * 0.9))
    month = max(0, history - int(per_day * clusters.EXACT_WINDOW.days * 0.9))
    k = batch_size // 20  # 10 in a batch of 200
    picks = list(rng.integers(recent, history, 4 * k)) + list(rng.integers(month, history, k))
    batch = []
    for j in range(batch_size):
        n = 10**9 + run * 10**7 + b * batch_size + j  # a URL and text no stored article has
        t = when + timedelta(seconds=j)
        if j >= 5 * k:
            batch.append(article(n, text_words(n), t))
            continue
        source = int(picks[j])
        words = text_words(source)
        kind = ("exact", "exact", "near", "teaser", "exact")[j // k]
        if kind == "near":
            words = [WORDS[int(rng.integers(len(WORDS)))] if i % 20 == 7 else w
                     for i, w in enumerate(words)]  # fmt: skip
        elif kind == "teaser":
            words = words[:PARAGRAPH]
        batch.append(article(n, words, t, outlet=(source + 1) % OUTLETS))
    return batch


def measure(
    path: Path, history: int, batches: int, batch_size: int, per_day: int, art: bool = False
) -> dict:
    """Load `batches` batches into the file at `path` the way a pass does; time each part.
    With `art`, an ART index on article_bands.band is built first (the design not taken)."""
    timings: dict[str, float] = {}
    if art:
        con = connect(path)
        con.execute("CREATE INDEX IF NOT EXISTS bench_bands_band ON article_bands (band)")
        con.close()

    def timed(name, function):  # wraps a function load_batch calls, adding up its time
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - began

        return wrapper

    load.assign_clusters = timed("assign", load.assign_clusters)
    load.index_fingerprints = timed("index", load.index_fingerprints)
    rows: list[dict] = []
    run = int.from_bytes(os.urandom(2), "big")  # new texts unlike those of an earlier run
    run_id = f"bench-{run}"
    con = connect(path)
    load.start_run(con, run_id, None, fetched_at(history, per_day))
    con.close()
    for b in range(batches):
        batch = probe_batch(history, b, batch_size, per_day, run)
        stored = [f"https://site{(n % OUTLETS)}.example/news/{n}"
                  for n in np.random.default_rng(b).integers(0, history, batch_size)]  # fmt: skip
        pairs = [(a.url, a.canonical_url) for a in batch] + [(u, u) for u in stored]
        timings.clear()
        began = time.perf_counter()
        con = connect(path)
        opened = time.perf_counter()
        known = load.known_urls(con, pairs)
        looked = time.perf_counter()
        result = load.load_batch(con, load.LoadBatch(run_id, articles=batch, keep_raw_html=False))
        loaded = time.perf_counter()
        con.close()
        closed = time.perf_counter()
        rows.append(
            {
                "dedupe": timings["assign"] + timings["index"],
                "assign": timings["assign"],
                "load": loaded - looked,
                "close": closed - loaded,
                "open": opened - began,
                "known": looked - opened,
                "known_found": len(known),
                "joined": result.articles_duplicate,
            }
        )
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return {
        "history": history, "batch_size": batch_size, "batches": rows, "file_bytes": size,
        "peak_rss_bytes": _peak_rss(),
    }  # fmt: skip


def _peak_rss() -> int:
    """This process's peak RSS: VmHWM, which exec resets (ru_maxrss keeps the parent's)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    (line,) = [x for x in status.splitlines() if x.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024


def _run_measure(path: Path, args: argparse.Namespace, history: int, art: bool = False) -> dict:
    command = [
        sys.executable, __file__, "--measure", str(path), "--history", str(history),
        "--batches", str(args.batches), "--batch-size", str(args.batch_size),
        "--per-day", str(args.per_day), "--near-days", str(args.near_days),
        "--exact-days", str(args.exact_days), *(["--art-index"] if art else []),
    ]  # fmt: skip
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"measuring {path} failed (exit {done.returncode})")
    line = next(x for x in done.stdout.splitlines() if x.startswith(MARK))
    return json.loads(line[len(MARK) :])


def summary(report: dict) -> dict[str, float]:
    rows, n = report["batches"], report["batch_size"]

    def ms(key: str) -> float:
        return statistics.median(r[key] for r in rows) * 1000 / n

    return {
        "dedupe": ms("dedupe"),
        "assign": ms("assign"),
        "dedupe_max": max(r["dedupe"] for r in rows) * 1000 / n,
        "load": ms("load"),
        "close": ms("close"),
        "known": statistics.median(r["known"] for r in rows) * 1000,
        "joined": statistics.median(r["joined"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--per-day", type=int, default=5_000)
    parser.add_argument("--near-days", type=int, default=clusters.NEAR_WINDOW.days)
    parser.add_argument("--exact-days", type=int, default=clusters.EXACT_WINDOW.days)
    parser.add_argument("--dir", type=Path, help="where the history files go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the history files")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the history files already in --dir"
    )
    parser.add_argument(
        "--art-index",
        action="store_true",
        help="also measure the largest size with an ART index on article_bands.band",
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--history", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    clusters.NEAR_WINDOW = timedelta(days=args.near_days)  # read by assign_clusters
    clusters.EXACT_WINDOW = timedelta(days=args.exact_days)
    if args.measure:
        report = measure(
            args.measure, args.history, args.batches, args.batch_size, args.per_day, args.art_index
        )
        print(MARK + json.dumps(report), flush=True)
        return
    directory = Path(args.dir or tempfile.mkdtemp(prefix="marsad-dedupe-"))
    directory.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.sizes)
    files = {size: directory / f"history-{size}.duckdb" for size in sizes}
    if not (args.reuse and all(f.exists() for f in files.values())):
        print(
            f"Building {max(sizes):,} articles of history in {directory} ({os.cpu_count()} cores)"
        )
        files = build(directory, sizes, args.per_day)
    copies = args.batch_size // 4
    print(f"\nbatches of {args.batch_size} ({copies} copies), {args.batches} per size, "
          f"{args.per_day:,} articles a day, windows: near copies {args.near_days} days, "
          f"exact copies {args.exact_days} days; times in ms per article except known_urls, "
          "a call for 400 URLs")  # fmt: skip
    header = (
        f"{'history':>14} {'dedupe ms':>10} {'(slowest)':>10} {'load_batch':>11} "
        f"{'close':>7} {'known_urls ms':>14} {'joined':>7} {'file MB':>8} {'peak RSS MB':>12}"
    )
    print(header)
    figures = {}
    runs = [(size, files[size], False) for size in sizes]
    if args.art_index:  # on a copy taken before the largest size is measured
        art_copy = files[sizes[-1]].with_name(f"history-{sizes[-1]}-art.duckdb")
        shutil.copyfile(files[sizes[-1]], art_copy)
        runs.append((sizes[-1], art_copy, True))
    for size, path, art in runs:
        report = _run_measure(path, args, size, art)
        s = summary(report)
        if not art:
            figures[size] = s
        label = f"{size:,}" + (" +ART" if art else "")
        mb = report["file_bytes"] / 2**20
        rss = report["peak_rss_bytes"] / 2**20
        print(
            f"{label:>14} {s['dedupe']:>10.3f} {s['dedupe_max']:>10.3f} {s['load']:>11.3f} "
            f"{s['close']:>7.3f} {s['known']:>14.1f} {s['joined']:>7.0f} {mb:>8.0f} {rss:>12.0f}",
            flush=True,
        )
    if len(sizes) > 1:
        ratio = figures[sizes[-1]]["dedupe"] / figures[sizes[0]]["dedupe"]
        print(f"\ndedupe cost {sizes[-1]:,} / {sizes[0]:,}: {ratio:.2f}x (medians)")
    if not args.keep and not args.dir:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
