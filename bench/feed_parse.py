"""CPU per entry of parse_feed with and without the lxml fast path (extractors/fast_feed.py).

    python bench/feed_parse.py [--feeds 20] [--articles 50] [--repeats 7] [--json]

Why: in the steady state of a monitoring system (feeds re-polled, most entries known) reading the
feed is most of the CPU a poll costs; this measures what the fast path saves, and checks on the
way that both paths give the same ParsedFeed for every feed measured.

Feed sets: the synthetic site's feeds (bench.synthetic_site.build_site(feeds, articles,
base_url="http://127.0.0.1:1"): nothing is served or fetched), the bundled sample site's two feeds,
and every feed of the team's shared corpora when that folder exists (most of those are edge cases
the fast path declines, so there the figure shows what declining costs). Each repeat parses the
whole set once per mode, the modes interleaved (fast, feedparser, fast, ...) so that drift in the
machine's speed hits both alike; a figure is the median over repeats of process CPU time / number
of entries. The ratio is feedparser / fast.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `extractors` importable
    sys.path.insert(0, str(REPO))

from bench.synthetic_site import build_site  # noqa: E402
from extractors import fast_feed  # noqa: E402
from extractors.feeds import _as_utf8, parse_feed  # noqa: E402
from flows.fixture_site import SAMPLE_SITE_ROOT  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
BASE_URL = "http://127.0.0.1:1"
HEADER_LINE = re.compile(rb"^Header:\s*Content-type:\s*(.*?)\s*$", re.MULTILINE | re.IGNORECASE)
Case = tuple[str, bytes, str | None]  # (name, body, Content-Type)


def synthetic_feeds(feeds: int, articles: int) -> list[Case]:
    files = build_site(feeds, articles, base_url=BASE_URL)
    return [(p, body, ctype) for p, (body, ctype) in files.items() if p.startswith("/feeds/")]


def sample_feeds() -> list[Case]:
    cases: list[Case] = []
    for path in sorted((SAMPLE_SITE_ROOT / "feeds").glob("*.tmpl.xml")):
        body = path.read_bytes().replace(b"{{BASE}}", BASE_URL.encode())
        charset = "windows-1256" if b'encoding="windows-1256"' in body[:100] else "utf-8"
        cases.append((path.name, body, f"application/rss+xml; charset={charset}"))
    return cases


def corpora_feeds() -> list[Case]:
    """Every feed file under the shared corpora (the feedparser test suite, for now)."""
    if not CORPORA.is_dir():
        return []
    cases: list[Case] = []
    for path in sorted(CORPORA.rglob("*")):
        if not path.is_file() or path.suffix not in (".xml", ".rss", ".atom", ".rdf"):
            continue
        body = path.read_bytes()
        match = HEADER_LINE.search(body)
        cases.append((str(path.relative_to(CORPORA)), body, match and match.group(1).decode()))
    return cases


def run_once(cases: list[Case], *, fast: bool) -> tuple[float, int, list]:
    """(CPU seconds, entries, results) of one parse of every case in one mode."""
    fast_feed.ENABLED = fast
    try:
        start = time.process_time()
        results = [
            parse_feed(body, url=BASE_URL + "/feed.xml", content_type=ct) for _, body, ct in cases
        ]
        spent = time.process_time() - start
    finally:
        fast_feed.ENABLED = True
    return spent, sum(len(r.entries) for r in results), results


def measure(name: str, cases: list[Case], repeats: int) -> dict:
    accepted = sum(
        fast_feed.decline_reason(_as_utf8(body, ct)[0], url=BASE_URL + "/feed.xml") is None
        for _, body, ct in cases
    )
    per_entry: dict[str, list[float]] = {"fast": [], "feedparser": []}
    entries = 0
    mismatches: list[str] = []
    for repeat in range(repeats):
        outcomes = {}
        for mode in ("fast", "feedparser") if repeat % 2 == 0 else ("feedparser", "fast"):
            spent, entries, results = run_once(cases, fast=mode == "fast")
            per_entry[mode].append(spent * 1000 / max(entries, 1))
            outcomes[mode] = results
        if repeat == 0:
            mismatches = [
                case[0]
                for case, a, b in zip(cases, outcomes["fast"], outcomes["feedparser"], strict=True)
                if a != b
            ]
    fast_ms = statistics.median(per_entry["fast"])
    slow_ms = statistics.median(per_entry["feedparser"])
    return {
        "set": name,
        "feeds": len(cases),
        "accepted_by_fast_path": accepted,
        "entries": entries,
        "feedparser_ms_per_entry": round(slow_ms, 4),
        "fast_ms_per_entry": round(fast_ms, 4),
        "ratio": round(slow_ms / fast_ms, 2) if fast_ms else None,
        "mismatches": mismatches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--articles", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    sets = [
        (f"synthetic {args.feeds}x{args.articles}", synthetic_feeds(args.feeds, args.articles)),
        ("sample site", sample_feeds()),
    ]
    corpora = corpora_feeds()
    if corpora:
        sets.append(("shared corpora", corpora))
    figures = [measure(name, cases, args.repeats) for name, cases in sets]
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    for f in figures:
        print(
            f"{f['set']}: {f['feeds']} feeds ({f['accepted_by_fast_path']} read by the fast path), "
            f"{f['entries']} entries; CPU per entry: feedparser {f['feedparser_ms_per_entry']:.3f}"
            f" ms, fast path {f['fast_ms_per_entry']:.3f} ms, ratio {f['ratio']}x"
            f" (median of {args.repeats}); outputs differ: {len(f['mismatches'])}"
        )
        for name in f["mismatches"]:
            print(f"  differs: {name}")
    if not corpora:
        print("(no shared corpora here: only the synthetic and sample feeds were measured)")


if __name__ == "__main__":
    main()
