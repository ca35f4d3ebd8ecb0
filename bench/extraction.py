"""Extraction quality: marsad's stored bodies against ground truth, beside plain trafilatura.

    python bench/extraction.py [--shared DIR] [--settings NAME ...] [--json]
    python bench/extraction.py --speed [--shared DIR]

Rows: `plain trafilatura` is trafilatura.extract(html) with its defaults; `marsad shipped` is the
body build_article stores (extract_page, then clean_body) with TRAFILATURA_OPTIONS as shipped;
`marsad <setting>` the same with the knobs of a candidate in SETTINGS. Pages, all in one run
(read by bench/extraction_pages.py):

1. benchmark: the 181 pages of scrapinghub/article-extraction-benchmark (the team's corpus
   `corpora/extraction-benchmark`, mostly English), scored as its evaluate.py defines it: texts
   split into \\w+ tokens; per item the 4-token shingles (a multiset) both texts have (tp), only
   the prediction has (fp), only the truth has (fn), divided by their sum; precision and recall
   averaged over the items where each is defined; F1 of the two averages; accuracy = share of
   identical token lists; ± = std over 1,000 bootstrap resamples. `published 2.0.0` scores the
   benchmark's stored trafilatura output: its README says F1 0.958, P 0.938, R 0.978, acc 0.293.
2. sample site: the 16 Arabic pages of flows/sample_site against their paragraphs in
   _articles.toml (datelines and "المصدر: ..." are stored in their own columns, not the body).
3. real Arabic pages (`corpora/arabic-pages`, 12 Arabic and 3 Persian): catalogue markers
   (extractors.clean.match_marker) left in the bodies, target 0, and in the raw text; F1 on the
   2 with a whole expected body (CNN Arabic, LBC); the publication day found (the feed entry
   gives none) against htmldate's expected day on its 11 pages.

ms/page is the median CPU time per page in a worker; pages are extracted on every core. Nothing
touches the network. `--speed` measures CPU per page instead, in one process: extract_one as a
pass calls it, beside trafilatura.extract with its defaults and with fast=True
(bench/extraction_speed.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the packages importable
    sys.path.insert(0, str(REPO))

import trafilatura  # noqa: E402

from bench.extraction_pages import (  # noqa: E402
    FETCHED_AT,
    Page,
    arabic_pages,
    benchmark_pages,
    sample_site_pages,
)
from bench.extraction_speed import speed  # noqa: E402
from extractors import article  # noqa: E402
from extractors.article import FeedContext, build_article, extract_page  # noqa: E402
from extractors.clean import match_marker  # noqa: E402
from extractors.feeds import FeedEntry  # noqa: E402

SHARED = REPO.parent / "shared"
SHINGLE = 4
TOKEN = re.compile(r"\w+")
BOOTSTRAP = 1000
SEED = 20200124

# Arabic related-article, most-read and tag boxes, found by their heading's text: trafilatura's
# own discard rules only know English class names ("related", "tags").
ARABIC_BOX_HEADINGS = (
    "اقرأ أيضا", "اقرأ أيضاً", "إقرأ أيضا", "ذات صلة", "الأكثر قراءة", "كلمات دلالية",
)  # fmt: skip
PRUNE_ARABIC_BOXES = [
    "//*[self::aside or self::section or self::div or self::ul]"
    "[./*[self::h2 or self::h3 or self::h4 or self::strong or self::span]"
    f"[{' or '.join(f'contains(., {h!r})' for h in ARABIC_BOX_HEADINGS)}]]"
]
# The knobs measured; a candidate sets some of them, the others are off. "fallback_below" is
# not trafilatura's: it stands for article.FALLBACK_BELOW_CHARS (fast, then the fallback
# extractors for a text shorter than this).
KNOBS_OFF = {
    "favor_precision": False, "favor_recall": False, "include_tables": False, "fast": False,
    "prune_xpath": None, "fallback_below": 0,
}  # fmt: skip
PRECISION_TABLES = {"favor_precision": True, "include_tables": True}
SETTINGS: dict[str, dict] = {
    "defaults": {},
    "favor_precision": {"favor_precision": True},
    "favor_recall": {"favor_recall": True},
    "include_tables": {"include_tables": True},
    "precision+tables": PRECISION_TABLES,
    "prune Arabic boxes": {"prune_xpath": PRUNE_ARABIC_BOXES},
    "fast (no fallback)": {"fast": True},
    "precision+tables+fast": {**PRECISION_TABLES, "fast": True},
    "p+t+fast fallback<500": {**PRECISION_TABLES, "fast": True, "fallback_below": 500},
    "p+t+fast fallback<2000": {**PRECISION_TABLES, "fast": True, "fallback_below": 2000},
}


@dataclass(frozen=True)
class Extracted:
    body: str  # what the row stores as the body
    raw: str  # trafilatura's text before cleaning (plain trafilatura: the same)
    cpu_s: float
    day: str | None = None  # the publication day found (not the fetch time), in the site's zone


# -- scoring, as the benchmark's evaluate.py defines it -----------------------------------------


def shingles(text: str | None) -> Counter[tuple[str, ...]]:
    """The 4-token shingles of a text, counted (a text under 4 tokens is one short shingle)."""
    tokens = TOKEN.findall(text or "")
    spans = (tuple(tokens[i : i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1)))
    return Counter(s for s in spans if s)


def match_shares(truth: str | None, predicted: str | None) -> tuple[float, float, float]:
    """(tp, fp, fn) over the shingles of the two texts, divided by their sum."""
    t, p = shingles(truth), shingles(predicted)
    tp, fp, fn = (t & p).total(), (p - t).total(), (t - p).total()
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _ratio(hit: float, miss: float, other_miss: float) -> float:
    if miss == other_miss == 0:
        return 1.0
    return hit / (hit + miss) if hit else 0.0


def summarize(shares: Sequence[tuple[float, float, float]]) -> dict[str, float]:
    """Averaged precision and recall (over the items where each is defined) and their F1."""
    precision = statistics.mean(_ratio(tp, fp, fn) for tp, fp, fn in shares if tp + fp > 0)
    recall = statistics.mean(_ratio(tp, fn, fp) for tp, fp, fn in shares if tp + fn > 0)
    return {
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "precision": precision,
        "recall": recall,
    }


def score(truths: Sequence[str], predictions: Sequence[str], *, bootstrap: bool) -> dict:
    """F1, precision, recall and accuracy of predictions against truths, with bootstrap std."""
    shares = [match_shares(t, p) for t, p in zip(truths, predictions, strict=True)]
    exact = [
        float(TOKEN.findall(t) == TOKEN.findall(p))
        for t, p in zip(truths, predictions, strict=True)
    ]
    figures = {**summarize(shares), "accuracy": statistics.mean(exact)}
    if bootstrap and len(shares) > 1:
        rng = random.Random(SEED)
        draws: dict[str, list[float]] = {key: [] for key in figures}
        for _ in range(BOOTSTRAP):
            picks = [rng.randrange(len(shares)) for _ in shares]
            for key, value in summarize([shares[i] for i in picks]).items():
                draws[key].append(value)
            draws["accuracy"].append(statistics.mean(exact[i] for i in picks))
        figures |= {f"{key}_std": statistics.stdev(values) for key, values in draws.items()}
    return figures


def markers_left(text: str) -> int:
    """Lines (paragraphs) of a text that the boilerplate catalogue recognises."""
    return sum(1 for line in text.splitlines() if line.strip() and match_marker(line.strip()))


# -- extraction, in worker processes ---------------------------------------------------------------


def extract(job: tuple[Page, dict | None]) -> Extracted:
    """The body one row stores for one page: plain trafilatura (options None), or marsad's
    extract_page + build_article with TRAFILATURA_OPTIONS set to `options`."""
    page, options = job
    started = time.process_time()
    if options is None:
        text = trafilatura.extract(page.html) or ""
        return Extracted(text, text, time.process_time() - started)
    zone = ZoneInfo(page.timezone)
    options = dict(options)
    below = options.pop("fallback_below", article.FALLBACK_BELOW_CHARS)
    # The measured code reads its settings from the module; they are swapped for this call only.
    with (
        patch.dict(article.TRAFILATURA_OPTIONS, options, clear=True),
        patch.object(article, "FALLBACK_BELOW_CHARS", below),
    ):
        content = extract_page(page.html, url=page.url, tz=zone)
        stored = build_article(  # a feed entry without text or date: all comes from the page
            FeedEntry(url=page.url),
            FeedContext(name="bench", source=page.source, timezone=zone),
            fetched_at=FETCHED_AT,
            page=content,
        )
    found = stored.published_at_source != "fetched"
    day = stored.published_at.astimezone(zone).date().isoformat() if found else None
    return Extracted(stored.body or "", content.text or "", time.process_time() - started, day)


def run_rows(pages: Sequence[Page], settings: Sequence[str]) -> dict[str, list[Extracted]]:
    """Each row's result for every page, by row name."""
    shipped = dict(article.TRAFILATURA_OPTIONS)
    options: dict[str, dict | None] = {"plain trafilatura": None, "marsad shipped": shipped}
    for name in settings:
        options[f"marsad {name}"] = {**shipped, **KNOBS_OFF, **SETTINGS[name]}
    rows = {}
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for name, opts in options.items():
            started = time.perf_counter()
            rows[name] = list(pool.map(extract, [(p, opts) for p in pages], chunksize=4))
            print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


# -- the report ----------------------------------------------------------------------------------


def figures(
    pages: Sequence[Page], rows: dict[str, list[Extracted]], published: dict | None
) -> list[dict]:
    out = []
    by_corpus: dict[str, list[int]] = {}
    for i, page in enumerate(pages):
        by_corpus.setdefault(page.corpus, []).append(i)
    for name, results in rows.items():
        entry: dict = {"row": name}
        for corpus, indexes in by_corpus.items():
            scored = [i for i in indexes if pages[i].truth is not None]
            truths = [pages[i].truth or "" for i in scored]
            bodies = [results[i].body for i in scored]
            entry[corpus] = score(truths, bodies, bootstrap=corpus == "benchmark") if scored else {}
            if scored and name != "plain trafilatura":  # what cleaning changed
                raws = [results[i].raw for i in scored]
                entry[corpus]["raw_f1"] = score(truths, raws, bootstrap=False)["f1"]
            entry[corpus]["markers_left"] = sum(markers_left(results[i].body) for i in indexes)
            entry[corpus]["markers_raw"] = sum(markers_left(results[i].raw) for i in indexes)
            entry[corpus]["pages"] = len(indexes)
            dated = [i for i in indexes if pages[i].expected_date]
            entry[corpus]["dated"] = len(dated)
            entry[corpus]["dates_right"] = sum(
                results[i].day == pages[i].expected_date for i in dated
            )
        entry["ms_per_page"] = 1000 * statistics.median(r.cpu_s for r in results)
        entry["wrong_bodies"] = wrong_bodies(pages, results)
        out.append(entry)
    if published is not None:
        bench = [p for p in pages if p.corpus == "benchmark"]
        bodies = [published.get(p.name, {}).get("articleBody", "") for p in bench]
        scores = score([p.truth or "" for p in bench], bodies, bootstrap=True)
        out.append({"row": "published 2.0.0", "benchmark": scores})
    return out


def wrong_bodies(pages: Sequence[Page], results: Sequence[Extracted]) -> dict[str, int]:
    """Of the pages with a truth, how many bodies are under MIN_PAGE_WORDS (where build_article
    prefers a longer feed summary) and how many of those, and of the others, are wrong (F1 under
    0.5): the measure behind MIN_PAGE_WORDS."""
    counts = {"short": 0, "short_wrong": 0, "long_wrong": 0}
    for page, result in zip(pages, results, strict=True):
        if page.truth is None:
            continue
        short = len(result.body.split()) < article.MIN_PAGE_WORDS
        tp, fp, fn = match_shares(page.truth, result.body)
        precision, recall = _ratio(tp, fp, fn), _ratio(tp, fn, fp)
        wrong = 4 * precision * recall < precision + recall or not precision + recall  # F1 < .5
        counts["short"] += short
        counts["short_wrong" if short else "long_wrong"] += wrong
    return counts


def _pm(scores: dict, key: str) -> str:
    if key not in scores:
        return "-"
    std = scores.get(f"{key}_std")
    return f"{scores[key]:.3f}" + (f" ± {std:.3f}" if std is not None else "")


def print_report(table: Sequence[dict]) -> None:
    print("\nBenchmark (scrapinghub/article-extraction-benchmark, 181 pages, mostly English)")
    print(
        f"{'row':<28} {'F1':<14} {'precision':<14} {'recall':<14} {'accuracy':<14} "
        f"{'F1 raw':<7} ms/page"
    )
    for entry in table:
        b = entry.get("benchmark")
        if not b:
            continue
        ms = f"{entry['ms_per_page']:.0f}" if "ms_per_page" in entry else "-"
        raw = f"{b['raw_f1']:.3f}" if "raw_f1" in b else "-"
        print(
            f"{entry['row']:<28} {_pm(b, 'f1'):<14} {_pm(b, 'precision'):<14} "
            f"{_pm(b, 'recall'):<14} {_pm(b, 'accuracy'):<14} {raw:<7} {ms}"
        )
    print("(F1 raw: trafilatura's text before clean_body, with the row's settings)")
    print(
        "\nArabic: sample site (16 pages with their texts) and real pages (15; F1 on the 2 with"
        " a whole expected text); markers: boilerplate lines left in the bodies / in the raw"
        " text; dates: publication day right, of the pages with a known one (none from a feed)"
    )
    print(
        f"{'row':<28} {'site F1':<8} {'site P':<8} {'site R':<8} {'markers':<9} "
        f"{'real F1':<8} {'real P':<8} {'real R':<8} {'markers':<9} dates"
    )
    for entry in table:
        s, r = entry.get("sample site"), entry.get("arabic pages")
        if not s or not r:
            continue
        dates = "-" if entry["row"] == "plain trafilatura" else f"{r['dates_right']}/{r['dated']}"
        print(
            f"{entry['row']:<28} {s['f1']:<8.3f} {s['precision']:<8.3f} {s['recall']:<8.3f} "
            f"{s['markers_left']:>2} / {s['markers_raw']:<4} "
            f"{r['f1']:<8.3f} {r['precision']:<8.3f} {r['recall']:<8.3f} "
            f"{r['markers_left']:>2} / {r['markers_raw']:<4} {dates}"
        )
    shipped = next((e for e in table if e["row"] == "marsad shipped"), None)
    if shipped:
        w = shipped["wrong_bodies"]
        print(
            f"\nmarsad shipped, all pages with a truth: {w['short']} bodies under MIN_PAGE_WORDS"
            f" ({article.MIN_PAGE_WORDS} words), {w['short_wrong']} of them wrong (F1 < 0.5);"
            f" {w['long_wrong']} wrong bodies at or above it"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=SHARED, help="the team's shared folder (default: ../shared)"
    )
    parser.add_argument(
        "--settings",
        nargs="*",
        choices=sorted(SETTINGS),
        default=list(SETTINGS),
        help="candidate settings to measure beside the shipped ones (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--speed", action="store_true", help="CPU per page, not quality")
    args = parser.parse_args(argv)
    corpora = args.shared / "corpora"
    if args.speed:
        speed(corpora)
        return 0
    if not (corpora / "extraction-benchmark").is_dir() or not (corpora / "arabic-pages").is_dir():
        print(f"bench/extraction.py: no corpora under {corpora}; pass --shared", file=sys.stderr)
        return 2
    pages = [
        *benchmark_pages(corpora / "extraction-benchmark"),
        *sample_site_pages(),
        *arabic_pages(corpora / "arabic-pages"),
    ]
    print(f"{len(pages)} pages, {os.cpu_count()} workers", file=sys.stderr)
    rows = run_rows(pages, args.settings)
    stored = corpora / "extraction-benchmark" / "output" / "trafilatura.json"
    published = None
    if stored.is_file():
        published = json.loads(stored.read_text(encoding="utf-8"))["output"]
    table = figures(pages, rows, published)
    if args.json:
        print(json.dumps(table, ensure_ascii=False, indent=1))
    else:
        print_report(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
