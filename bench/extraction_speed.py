"""Extraction speed: CPU per page of marsad's extraction beside trafilatura's, in one process.

    python bench/extraction.py --speed [--shared DIR]

Run through bench/extraction.py, beside its quality measure; kept apart because it answers
another question, how much CPU a pass spends per page, on other pages (bench/synthetic_site's,
which need no corpus) and without worker processes. Each page is timed the same way for every
contender, interleaved, so machine noise hits them alike.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import trafilatura

from bench.extraction_pages import FETCHED_AT, arabic_pages
from extractors import lean_sequence, plain_elements, prune_prefilter
from extractors.article import FeedContext, decode_html
from extractors.feeds import FeedEntry


def speed(corpora: Path, repeats: int = 3) -> None:
    """Median over pages of the CPU time (the least of `repeats` runs) of extract_one, and of
    trafilatura.extract with its defaults and fast, on the same pages in the same run: 60 pages
    of bench/synthetic_site with their feed entries (dated, without author, as its feeds give
    them), and the real Arabic pages (when the corpus is there) with an entry that gives
    nothing (a page date or author must then come from the page: the costliest case) and with
    one that gives a date and an author. extract_one gets each page as a pass hands it over,
    its UTF-8 bytes; trafilatura its text."""
    from bench.synthetic_site import build_site
    from extractors.feeds import parse_feed
    from extractors.workers import extract_one

    base = "http://127.0.0.1:1"
    files = build_site(10, 10, base_url=base)
    entries = {
        entry.url: entry
        for path, (body, _) in files.items()
        if path.startswith("/feeds/")
        for entry in parse_feed(body, url=base + path).entries
    }
    html_pages = [(base + p, b, c) for p, (b, c) in files.items() if p.endswith(".html")][:60]
    sets = {"synthetic site": [(entries[u], decode_html(b, c), "UTC") for u, b, c in html_pages]}
    if (corpora / "arabic-pages").is_dir():
        real = arabic_pages(corpora / "arabic-pages")
        sets["real Arabic, bare entry"] = [(FeedEntry(url=p.url), p.html, p.timezone) for p in real]
        dated = {"published_at": datetime(2020, 1, 1, tzinfo=UTC), "author": "مراسلنا"}
        sets["real Arabic, dated entry"] = [
            (FeedEntry(url=p.url, **dated), p.html, p.timezone) for p in real
        ]

    def without(run: Callable[..., object], *changes: Any) -> Callable[..., object]:
        """`run` with the given changes to trafilatura taken out (their disabled())."""

        def timed(*args: object) -> object:
            with contextlib.ExitStack() as stack:
                for change in changes:
                    stack.enter_context(change.disabled())
                return run(*args)

        return timed

    def marsad(e: FeedEntry, page: tuple[str, bytes], ctx: FeedContext) -> object:
        # as a pass calls it: the page as fetched, UTF-8 bytes (extractors.page_tree)
        return extract_one(e, ctx, FETCHED_AT, page[1], "text/html; charset=utf-8", False)

    ours = (prune_prefilter, lean_sequence, plain_elements)  # trafilatura as it comes: all out
    ways = {
        "marsad extract_one": marsad,
        "trafilatura default": without(lambda e, p, ctx: trafilatura.extract(p[0]), *ours),
        "trafilatura fast": without(lambda e, p, ctx: trafilatura.extract(p[0], fast=True), *ours),
        # what extractors.prune_prefilter saves, extractors.lean_sequence, extractors.plain_elements
        "marsad, no prefilter": without(marsad, prune_prefilter),
        "marsad, no lean seq.": without(marsad, lean_sequence),
        "marsad, lxml.html lookup": without(marsad, plain_elements),
    }
    print(f"{'pages':<26} {'n':>3} " + " ".join(f"{w:>20}" for w in ways) + "  ratios")
    for name, pages in sets.items():
        cpu: dict[str, list[float]] = {way: [] for way in ways}
        for entry, html, zone in pages:
            context = FeedContext(name="bench", source="bench", timezone=ZoneInfo(zone))
            page = (html, html.encode("utf-8"))  # trafilatura takes the text, extract_one both
            for way, run in ways.items():  # interleaved: machine noise hits every way alike
                runs = []
                for _ in range(repeats):
                    started = time.process_time()
                    run(entry, page, context)
                    runs.append(time.process_time() - started)
                cpu[way].append(min(runs))
        ms = [1000 * statistics.median(cpu[way]) for way in ways]
        print(
            f"{name:<26} {len(pages):>3} "
            + " ".join(f"{m:>17.1f} ms" for m in ms)
            + f"  x{ms[0] / ms[1]:.2f} of default, x{ms[0] / ms[2]:.2f} of fast,"
            + f" x{ms[0] / ms[3]:.2f} of no prefilter, x{ms[0] / ms[4]:.2f} of no lean sequence,"
            + f" x{ms[0] / ms[5]:.2f} of lxml.html's lookup"
        )
