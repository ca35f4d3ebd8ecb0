"""Benchmark a pass over unchanged feeds: every feed answers 304 Not Modified.

    python bench/poll.py [--feeds 500] [--items 1] [--repeat 3] [--profile] [--json]

Serves N small feeds (and their article pages) from memory on 127.0.0.1 with the fixture site,
writes a marsad.toml listing them, runs the real ingest flow (flows.ingest.ingest) once cold to
store every feed's validators, then re-polls: each re-poll is a whole pass, Prefect flow and
tasks included, in which every feed answers 304 and no page is fetched. It reports the wall
time of each re-poll and the requests the site saw. Target: under 5 s for 500 feeds on 2 cores.

All feeds are on the one host 127.0.0.1, so the config raises fetch.per_host_concurrency to
fetch.concurrency (32); with the default of 2 the pass would measure the politeness limit.
Prefect runs as for a user: embedded (a temporary server) unless PREFECT_API_URL is set; its
start-up happens in the cold pass and is not part of the figures. With --profile, the last
re-poll runs under cProfile and the functions with the most cumulative time are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `flows` importable
    sys.path.insert(0, str(REPO))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

CONCURRENCY = 32
TARGET_S = 5.0
ITEM = (
    "<item><title>خبر رقم {n} من الموجز {feed}</title>"
    "<link>{{{{BASE}}}}/news/{feed}/{n}.html</link>"
    "<description>ملخص الخبر رقم {n} كما ورد في الموجز</description>"
    "<pubDate>Sat, 10 Jan 2026 12:00:00 GMT</pubDate></item>"
)
PAGE = (
    '<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>خبر {n}</title></head>'
    "<body><article><h1>خبر {n}</h1><p>{text}</p></article></body></html>"
)
SENTENCE = "أكد المسؤولون اليوم أن العمل مستمر في المشروع وفق الخطة المعلنة دون تأخير. "


def build_site(feeds: int, items: int):  # type: ignore[no-untyped-def]
    """A started FixtureSite serving /feeds/f<i>.xml and /news/f<i>/<n>.html from memory."""
    from flows.fixture_site import FixtureSite

    site = FixtureSite(Path(tempfile.mkdtemp(prefix="marsad-bench-site-"))).start()
    for i in range(feeds):
        body = "".join(ITEM.format(n=n, feed=f"f{i}") for n in range(items))
        feed = (
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>موجز {i}</title><link>{{{{BASE}}}}/</link>{body}</channel></rss>"
        )
        site.add_file(f"/feeds/f{i}.xml", feed.encode(), "application/rss+xml; charset=utf-8")
        for n in range(items):
            page = PAGE.format(n=n, text=SENTENCE * (10 + n))
            site.add_file(f"/news/f{i}/{n}.html", page.encode(), "text/html; charset=utf-8")
    return site


def write_config(path: Path, db: Path, base_url: str, feeds: int) -> Path:
    lines = [
        "[warehouse]",
        f'path = "{db.as_posix()}"',
        "keep_raw_html = false",
        "",
        "[fetch]",
        'allow_private = ["127.0.0.1"]',
        f"concurrency = {CONCURRENCY}",
        f"per_host_concurrency = {CONCURRENCY}  # every feed is on 127.0.0.1",
    ]
    for i in range(feeds):
        lines += ["", "[[feeds]]", f'name = "f{i}"', f'url = "{base_url}/feeds/f{i}.xml"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_pass(
    config: Path, db: Path, profiler: cProfile.Profile | None = None
) -> tuple[dict, float, float]:
    """One pass; returns its run record, wall time and this process's CPU time (seconds)."""
    from flows.ingest import ingest

    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        record = ingest(config_path=str(config), db_path=str(db))
    finally:
        if profiler is not None:
            profiler.disable()
    return record, time.perf_counter() - started, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=1, help="items (and pages) per feed")
    parser.add_argument("--repeat", type=int, default=3, help="re-polls to time")
    parser.add_argument("--profile", action="store_true", help="cProfile the last re-poll")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="marsad-bench-poll-"))
    site = build_site(args.feeds, args.items)
    try:
        db = work / "marsad.duckdb"
        config = write_config(work / "marsad.toml", db, site.base_url, args.feeds)
        cold, cold_s, _ = run_pass(config, db)
        cold_requests = len(site.requests)
        timings: list[float] = []
        cpu_times: list[float] = []
        requests: list[Counter] = []
        profiler = cProfile.Profile() if args.profile else None
        for attempt in range(args.repeat):
            site.clear_log()
            last = attempt == args.repeat - 1
            record, seconds, cpu = run_pass(config, db, profiler if last else None)
            timings.append(seconds)
            cpu_times.append(cpu)
            requests.append(Counter(r.status for r in site.requests))
            if record["feeds_not_modified"] != args.feeds or record["articles_new"]:
                print(f"unexpected re-poll outcome: {record}", file=sys.stderr)
                return 1
    finally:
        site.stop()
        shutil.rmtree(site.root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    figures = {
        "feeds": args.feeds,
        "cores": cores(),
        "cold_pass_s": round(cold_s, 2),
        "cold_requests": cold_requests,
        "cold_articles": cold["articles_new"],
        "repoll_s": [round(t, 2) for t in timings],
        "repoll_median_s": round(statistics.median(timings), 2),
        "repoll_cpu_s": [round(t, 2) for t in cpu_times],
        "load_average": round(os.getloadavg()[0], 1),
        "repoll_requests": sum(requests[-1].values()),
        "repoll_statuses": dict(requests[-1]),
        "target_s": TARGET_S,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['feeds']} feeds on {figures['cores']} cores")
        print(
            f"cold pass: {cold_s:.2f} s, {cold_requests} requests, {cold['articles_new']} articles"
        )
        runs = zip(timings, cpu_times, requests, strict=True)
        for n, (t, cpu, c) in enumerate(runs, start=1):
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))
            print(f"re-poll {n}: {t:.2f} s ({cpu:.2f} s CPU in this process), ", end="")
            print(f"{sum(c.values())} requests ({statuses})")
        median = figures["repoll_median_s"]
        verdict = "within" if median < TARGET_S else "OVER"
        print(f"median re-poll {median:.2f} s: {verdict} the {TARGET_S:g} s target", end=" ")
        print(f"(1-minute load average {figures['load_average']} on {figures['cores']} cores)")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        print(out.getvalue(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
