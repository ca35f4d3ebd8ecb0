"""Benchmark an ingest pass against a naive sequential baseline, on a synthetic local site.

    python bench/ingest.py [--feeds 20] [--articles 25] [--runs 1] [--skip-naive] [--json]

Builds a synthetic Arabic news site (bench/synthetic_site.py), serves it on 127.0.0.1 from a
process of its own (bench/site_server.py), and runs each mode in a subprocess of its own, so that
peak memory is per mode:
- marsad: the real `ingest` flow, cold into a fresh DuckDB file, then a re-poll of the same,
  unchanged feeds (each answers 304). Prefect's start-up is timed apart from the pass.
- naive: feedparser + httpx (sync, one client) + trafilatura.extract + one INSERT per row.
- limit: the extraction-bound limit, from the CPU time trafilatura.extract takes per page.
All traffic stays on 127.0.0.1. bench/README.md says what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(REPO))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
if TYPE_CHECKING:
    from bench.site_server import SiteProcess

MARK = "@@bench "  # prefix of the lines a mode subprocess reports on; other output is ignored
TASKS_TIMED = 10  # empty task runs timed to find Prefect's cost per task run
PER_HOST_CONCURRENCY = 4  # every synthetic feed is on the one host 127.0.0.1
SAMPLE_PAGES = 50
LIST_EVERY = 10  # RSS samples (50 ms apart) between two listings of a mode's process tree
MB = 1024 * 1024


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# modes, each run in its own subprocess ------------------------------------------------------


def report(**fields: Any) -> None:
    """Tell the parent something: one marked JSON line on stdout."""
    print(MARK + json.dumps(fields, default=str), flush=True)


def own_memory() -> dict[str, float]:
    """This process's peak RSS, and the largest of its finished children's, in MB, as getrusage
    says. Not what the report shows: a process started by fork counts the RSS its parent had
    then (the kernel keeps the high-water mark across exec), so a mode run from this benchmark,
    whose parent holds the whole site, reads hundreds of MB too high, and so does an extraction
    process spawned by a large pass. The report uses the sampled RSS of each process instead."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"self_maxrss_mb": self_kb / 1024, "children_maxrss_mb": children_kb / 1024}


def write_config(path: Path, db: Path, base_url: str, feeds: int) -> Path:
    """A marsad.toml for the synthetic site; 127.0.0.1 allowed, one host so a high per-host cap."""
    lines = [
        "[warehouse]",
        f'path = "{db.as_posix()}"',
        "",
        "[fetch]",
        'allow_private = ["127.0.0.1"]',
        f"per_host_concurrency = {PER_HOST_CONCURRENCY}",
    ]
    for i in range(feeds):
        lines += ["", "[[feeds]]", f'name = "f{i}"', f'url = "{base_url}/feeds/f{i}.xml"']
        lines += [f'source = "Synthetic {i}"', 'timezone = "Asia/Baghdad"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def count_rows(db: Path, table: str) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[index]


def task_breakdown(flow_run_id: str) -> dict[str, dict[str, float]]:
    """Runs and seconds per task name (e.g. "fetch-pages") in one flow run, from Prefect's API."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    steps: dict[str, dict[str, float]] = {}
    runs_of = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
    with get_client(sync_client=True) as client:
        for run in client.read_task_runs(flow_run_filter=runs_of):
            if run.start_time is None or run.end_time is None:
                continue
            first = run.start_time.timestamp()
            step = steps.setdefault(
                run.name.rsplit("-", 1)[0], {"runs": 0, "s": 0.0, "first": first}
            )
            step["runs"] += 1
            step["first"] = min(step["first"], first)
            step["s"] += (run.end_time - run.start_time).total_seconds()
    return dict(sorted(steps.items(), key=lambda item: item[1]["first"]))


def mode_marsad(work: Path, base_url: str, feeds: int) -> None:
    started = time.perf_counter()
    from prefect import flow, task

    from flows.ingest import in_the_foreground, ingest

    imported = time.perf_counter()

    @flow(name="bench-empty")
    def empty() -> None:
        return None

    empty()  # the first flow run of a process starts Prefect's temporary server
    first_flow = time.perf_counter()

    @task(name="bench-empty-task")
    def nothing() -> None:
        return None

    @flow(name="bench-empty-tasks")
    def empty_tasks(n: int) -> None:
        for _ in range(n):
            nothing()

    def timed(n: int) -> float:
        t = time.perf_counter()
        empty_tasks(n)
        return time.perf_counter() - t

    db = work / "marsad.duckdb"
    config = write_config(work / "marsad.toml", db, base_url, feeds)
    from extractors.workers import CPU_LOG_VARIABLE

    cpu_log = work / "extract_cpu.log"
    os.environ[CPU_LOG_VARIABLE] = str(cpu_log)  # the pass's extraction processes inherit it
    report(phase="cold")
    children = _children_cpu()
    cpu, t = time.process_time(), time.perf_counter()
    with in_the_foreground():  # as `marsad run` does
        cold = ingest(config_path=str(config), db_path=str(db))
    cold_s, cold_cpu = time.perf_counter() - t, time.process_time() - cpu
    workers_cpu = _children_cpu() - children  # the pass's extraction processes, ended with it
    del os.environ[CPU_LOG_VARIABLE]
    groups = [line.split() for line in cpu_log.read_text().splitlines()] if cpu_log.exists() else []
    report(phase="cold_done", wait=True)
    sys.stdin.readline()  # the parent has counted the cold pass's requests
    t = time.perf_counter()
    with in_the_foreground():
        repoll = ingest(config_path=str(config), db_path=str(db))
    repoll_s = time.perf_counter() - t
    # Prefect's own costs, timed after the passes: the burst of events from these short runs
    # keeps Prefect's temporary server (SQLite) busy for a moment, and a flow run created then
    # is answered 503 and retried about 2 s later: right before the cold pass, that took 10% of
    # it, a cost no `marsad run` has.
    with in_the_foreground():  # the settings of the passes
        empty_tasks(0)
        warm_flow = statistics.median(timed(0) for _ in range(3))
        per_task = max(0.0, (timed(TASKS_TIMED) - warm_flow) / TASKS_TIMED)
    report(
        result={
            "import_s": imported - started,
            "first_flow_s": first_flow - imported,
            "warm_flow_s": warm_flow,
            "task_overhead_s": per_task,
            "wall_s": cold_s,
            "main_cpu_s": cold_cpu,
            "workers_cpu_s": workers_cpu,
            "extract_cpu_s": sum(float(cpu) for cpu, _ in groups),
            "extract_pages": sum(int(pages) for _, pages in groups),
            "repoll_s": repoll_s,
            "articles": count_rows(db, "articles"),
            "fetch_errors": count_rows(db, "fetch_errors"),
            "cold_steps": task_breakdown(cold["flow_run_id"]),
            "repoll_steps": task_breakdown(repoll["flow_run_id"]),
            "cold_record": {k: v for k, v in cold.items() if k != "feeds"},
            "repoll_record": {k: v for k, v in repoll.items() if k != "feeds"},
            **own_memory(),
        }
    )


def _children_cpu() -> float:
    """CPU seconds of this process's ended and waited-for children (a pass's extraction
    processes end with it; Prefect's temporary server runs on and is not counted)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def mode_naive(work: Path, base_url: str, feeds: int) -> None:
    import duckdb
    import feedparser
    import httpx
    import trafilatura

    db = work / "naive.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "create table articles (url varchar, feed varchar, title varchar, "
        "published varchar, summary varchar, body varchar)"
    )
    report(phase="naive")
    t, cpu = time.perf_counter(), time.process_time()
    with httpx.Client(timeout=20) as client:
        for i in range(feeds):
            parsed = feedparser.parse(client.get(f"{base_url}/feeds/f{i}.xml").content)
            for entry in parsed.entries:
                html = client.get(entry.link).text
                body = trafilatura.extract(html)
                values = [entry.link, f"f{i}", entry.title, entry.get("published")]
                values += [entry.get("summary"), body]
                con.execute("insert into articles values (?, ?, ?, ?, ?, ?)", values)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    con.close()
    articles = count_rows(db, "articles")
    report(result={"wall_s": wall, "main_cpu_s": cpu, "articles": articles, **own_memory()})


def mode_limit(work: Path, base_url: str, feeds: int, articles: int) -> None:
    """CPU seconds per page of trafilatura.extract, and of marsad's whole per-page extraction."""
    import httpx
    import trafilatura

    total = feeds * articles
    picks = sorted({round(k * total / SAMPLE_PAGES) % total for k in range(SAMPLE_PAGES)})
    pages = []
    with httpx.Client(timeout=20) as client:
        for k in picks:
            url = f"{base_url}/site{k // articles}/news/{k % articles}.html"
            pages.append((url, client.get(url).text))
    trafilatura.extract(pages[0][1])  # warm imports and caches
    plain = []
    for _, html in pages:
        cpu = time.process_time()
        trafilatura.extract(html)
        plain.append(time.process_time() - cpu)
    result: dict[str, Any] = {"pages": len(pages), "trafilatura_cpu_s": statistics.median(plain)}
    try:
        times = marsad_extraction_cpu(base_url, pages)
        result["marsad_cpu_s"] = statistics.median(times)
        result["marsad_mean_cpu_s"] = statistics.fmean(times)
    except ImportError as exc:  # the pipeline does not import: still report trafilatura's cost
        result["marsad_error"] = str(exc)
    report(result=result)


def marsad_extraction_cpu(base_url: str, pages: list[tuple[str, str]]) -> list[float]:
    """CPU seconds per page of extractors.workers.extract_one as a pass calls it (the page as
    fetched bytes, the raw page kept): extraction, cleaning, dates, fingerprint."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    import httpx

    from extractors.article import FeedContext
    from extractors.feeds import parse_feed
    from extractors.workers import extract_one

    entries = {}
    with httpx.Client(timeout=20) as client:
        for feed in sorted({url.split("/")[3] for url, _ in pages}):
            feed_url = f"{base_url}/feeds/f{feed.removeprefix('site')}.xml"
            parsed = parse_feed(client.get(feed_url).content, url=feed_url)
            entries.update({e.url: (feed, e) for e in parsed.entries})
    now, zone, times = datetime.now(UTC), ZoneInfo("Asia/Baghdad"), []
    for url, html in pages:
        feed, entry = entries[url]
        context = FeedContext(name=feed, source=feed, timezone=zone)
        body = html.encode("utf-8")  # as a pass hands it over: the fetched bytes, kept
        cpu = time.process_time()
        extract_one(entry, context, now, body, "text/html; charset=utf-8", True)
        times.append(time.process_time() - cpu)
    return times


# the parent: serve, run the modes, report ---------------------------------------------------


class ModeRun:
    """One mode in a subprocess: its reports, the site's request counts per phase, and the peak
    RSS of its whole process tree (sampled; the Prefect server's share apart)."""

    def __init__(self, site: SiteProcess, mode: str, work: Path, args: argparse.Namespace) -> None:
        self.site, self.phase = site, "start"
        self.result: dict[str, Any] = {}
        self.marks: dict[str, int] = {"start": site.served_count()}
        self.peak = {
            "tree_mb": 0.0, "prefect_server_mb": 0.0, "own_mb": 0.0, "main_mb": 0.0,
            "worker_mb": 0.0,
        }  # fmt: skip
        command = [sys.executable, str(Path(__file__).resolve()), "--mode", mode]
        command += ["--base-url", site.base_url, "--work", str(work)]
        command += ["--feeds", str(args.feeds), "--articles", str(args.articles)]
        self.log = (work / f"{mode}.log").open("w")
        self.proc = subprocess.Popen(
            command, cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def wait(self) -> dict[str, Any]:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        for line in self.proc.stdout:
            if not line.startswith(MARK):
                continue
            message = json.loads(line[len(MARK) :])
            if "phase" in message:
                self.marks[message["phase"]] = self.site.served_count()
                self.phase = message["phase"]
            if message.get("wait"):
                self.proc.stdin.write("\n")
                self.proc.stdin.flush()
            self.result.update(message.get("result", {}))
        code = self.proc.wait()
        self.sampler.join()
        self.log.close()
        if code != 0 or not self.result:
            tail = Path(self.log.name).read_text()[-3000:]
            raise RuntimeError(f"mode subprocess failed (exit {code}); its log ends:\n{tail}")
        self.marks["end"] = self.site.served_count()
        return {**self.result, **self.peak}

    def requests(self, start: str, end: str) -> dict[str, Any]:
        """What the site answered between two phases. /robots.txt is a 404 on this site (nothing
        is disallowed), so it is counted apart and is not a failure."""
        log = self.site.served(self.marks[start], self.marks[end])
        failed = [r for r in log if r.status not in (200, 304) and r.path != "/robots.txt"]
        return {
            "requests": len(log),
            "feed_requests": sum(1 for r in log if r.path.startswith("/feeds/")),
            "page_requests": sum(1 for r in log if r.path.startswith("/site")),
            "robots_requests": sum(1 for r in log if r.path == "/robots.txt"),
            "not_modified": sum(1 for r in log if r.status == 304),
            "failed": len(failed),
            "failed_sample": sorted({f"{r.status} {r.path}" for r in failed})[:5],
        }

    def _sample(self) -> None:
        """Peak RSS of the mode's process tree, read every 50 ms. The tree is listed, and each
        new process's command line read, every LIST_EVERY samples only: listing costs ~1 ms of
        CPU, which every 50 ms took ~3% of a core from the modes being measured."""
        try:
            import psutil
        except ImportError:  # peak RSS then comes from getrusage in the subprocess only
            return
        root = psutil.Process(self.proc.pid)
        known: dict[int, tuple[psutil.Process, bool]] = {}  # pid -> (process, Prefect's server)
        samples = 0
        while self.proc.poll() is None:
            if samples % LIST_EVERY == 0:
                try:
                    for process in [root, *root.children(recursive=True)]:
                        if process.pid not in known:
                            server = "uvicorn" in " ".join(process.cmdline())
                            known[process.pid] = (process, server)
                except psutil.Error:
                    pass  # a process ended between listing and reading
            samples += 1
            tree, server = 0, 0
            for pid, (process, is_server) in list(known.items()):
                try:
                    rss = process.memory_info().rss
                except psutil.Error:  # it ended
                    del known[pid]
                    continue
                tree += rss
                server += rss if is_server else 0
                role = "main_mb" if pid == root.pid else None if is_server else "worker_mb"
                if role:
                    self.peak[role] = max(self.peak[role], rss / MB)
            self.peak["tree_mb"] = max(self.peak["tree_mb"], tree / MB)
            self.peak["prefect_server_mb"] = max(self.peak["prefect_server_mb"], server / MB)
            self.peak["own_mb"] = max(self.peak["own_mb"], (tree - server) / MB)
            time.sleep(0.05)


def run_mode(site: SiteProcess, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"marsad-bench-{mode}-") as work:
        load = os.getloadavg()[0]
        cpu = site.cpu_s()
        run = ModeRun(site, mode, Path(work), args)
        result = run.wait()
        result["site_cpu_s"] = site.cpu_s() - cpu  # the site's process, serving this mode
        result["site_requests"] = run.marks["end"] - run.marks["start"]
        result["load_before"] = load
        if mode == "marsad":
            result["cold"] = run.requests("cold", "cold_done")
            result["repoll"] = run.requests("cold_done", "end")
        elif mode == "naive":
            result["cold"] = run.requests("naive", "end")
        return result


def set_against_limit(marsad: dict[str, Any], around: list[dict[str, Any]], cores: int) -> None:
    """A marsad pass's share of the extraction-bound limit (articles/s x m / cores), with `m`
    two ways: trafilatura.extract's CPU a page timed in the limit runs just before and after the
    pass; and extract_one's CPU a page timed in the pass's own workers, scaled by
    trafilatura.extract's CPU against extract_one's when the limit runs timed them together
    (the machine's speed read from the pass itself)."""
    rate = marsad["articles"] / marsad["wall_s"]
    marsad["limit_cpu_s"] = statistics.median(r["trafilatura_cpu_s"] for r in around)
    marsad["share_of_limit"] = rate * marsad["limit_cpu_s"] / cores
    if marsad.get("extract_pages") and all("marsad_mean_cpu_s" in r for r in around):
        ratio = statistics.median(r["trafilatura_cpu_s"] / r["marsad_mean_cpu_s"] for r in around)
        in_pass = marsad["extract_cpu_s"] / marsad["extract_pages"]
        marsad["in_pass_limit_cpu_s"] = in_pass * ratio
        marsad["share_of_limit_in_pass"] = rate * marsad["in_pass_limit_cpu_s"] / cores


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every number across runs (nested dicts too); other values from the first."""
    merged: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs if key in run]
        if isinstance(first, dict):
            merged[key] = medians(values)
        elif isinstance(first, int | float) and not isinstance(first, bool):
            merged[key] = statistics.median(values)
        else:
            merged[key] = first
    return merged


def summarize(args: argparse.Namespace, site: dict[str, Any], results: dict[str, Any]) -> dict:
    """The headline figures, derived from the modes' medians."""
    marsad, naive, limit = results["marsad"], results.get("naive"), results["limit"]
    rate = marsad["articles"] / marsad["wall_s"]
    limit_rate = site["cores"] / limit["trafilatura_cpu_s"]
    figures: dict[str, Any] = {
        "marsad_articles_per_s": rate,
        "repoll_share": marsad["repoll_s"] / marsad["wall_s"],
        "limit_pages_per_s": limit_rate,
        "limit_min_wall_s": site["pages"] / limit_rate,
        # each pass against the limit timed around it (the median of those shares)
        "marsad_share_of_limit": marsad.get("share_of_limit", rate / limit_rate),
        "marsad_share_of_limit_in_pass": marsad.get("share_of_limit_in_pass"),
        "limit_samples": limit.get("samples", 1),
    }
    task_runs = sum(v["runs"] for v in (marsad.get("cold_steps") or {}).values())
    prefect_s = marsad["warm_flow_s"] + task_runs * marsad["task_overhead_s"]
    figures["prefect_s"] = prefect_s
    figures["prefect_share"] = prefect_s / marsad["wall_s"]
    figures["task_runs"] = task_runs
    if naive:
        figures["naive_articles_per_s"] = naive["articles"] / naive["wall_s"]
        figures["marsad_over_naive"] = rate / figures["naive_articles_per_s"]
        figures |= ceiling_against_naive(limit_rate, figures["naive_articles_per_s"])
    if "workers_cpu_s" in marsad:
        figures |= cpu_budget(marsad, site["cores"], limit["trafilatura_cpu_s"])
    return figures


def ceiling_against_naive(limit_rate: float, naive_rate: float, target: float = 4.0) -> dict:
    """What the extraction-bound limit itself is against the naive script. The naive script
    uses one core whatever the machine has, so no pass can beat it by more than that on this
    machine: `target` x naive takes `target` / (limit / naive) of the limit, more than the limit
    itself when that is above 1."""
    ceiling = limit_rate / naive_rate
    return {"limit_over_naive": ceiling, "limit_share_for_target": target / ceiling}


def cpu_budget(marsad: dict[str, Any], cores: int, page_cpu_s: float, share: float = 0.8) -> dict:
    """The pass's CPU an article against what `share` of the limit allows: a pass on `cores`
    cores busy a fraction `busy` of its time, taking `total` CPU seconds an article in all
    (main process, extraction processes, the site), makes cores x busy / total articles a
    second, which is `share` of cores / page_cpu_s when total = busy x page_cpu_s / share."""
    n = max(1, marsad["articles"])
    total = (marsad["main_cpu_s"] + marsad["workers_cpu_s"] + marsad["site_cpu_s"]) / n
    busy = total * n / (cores * marsad["wall_s"])
    return {
        "cpu_per_article_s": total,
        "cores_busy": busy,
        "cpu_allowed_for_share_s": busy * page_cpu_s / share,
    }


def print_report(args: argparse.Namespace, site: dict[str, Any], results: dict, figures: dict):
    marsad, naive, limit = results["marsad"], results.get("naive"), results["limit"]
    print(
        f"synthetic site: {args.feeds} feeds x {args.articles} articles = {site['pages']} pages "
        f"({site['mb']:.1f} MB; pages {site['min_kb']:.1f}-{site['max_kb']:.1f} KiB, median "
        f"{site['median_kb']:.1f}), seed {args.seed}; {site['cores']} cores; "
        f"{args.runs} run(s), medians shown"
    )
    print(
        f"marsad fetches with per_host_concurrency = {PER_HOST_CONCURRENCY} "
        "(every feed of the synthetic site is on the one host 127.0.0.1)\n"
    )
    print(f"{'mode':8} {'articles':>8} {'wall s':>8} {'articles/s':>11} {'peak RSS MB':>12} "
          f"{'requests':>9}")  # fmt: skip
    rows = [("marsad", marsad)] + ([("naive", naive)] if naive else [])
    for name, r in rows:
        rss = r["tree_mb"] or r["self_maxrss_mb"]
        print(
            f"{name:8} {r['articles']:>8.0f} {r['wall_s']:>8.2f} "
            f"{r['articles'] / r['wall_s']:>11.1f} {rss:>12.0f} {r['cold']['requests']:>9.0f}"
        )
    if naive:
        print(f"marsad / naive: {figures['marsad_over_naive']:.2f}x the articles/s")
        print(
            f"the extraction-bound limit itself is {figures['limit_over_naive']:.2f}x the naive "
            f"script here: 4x naive would take {100 * figures['limit_share_for_target']:.0f}% of "
            f"the limit ({site['cores']} cores; the naive script uses one whatever the cores)"
        )
    repoll = marsad["repoll"]
    print(
        f"\nre-poll of the unchanged feeds: {marsad['repoll_s']:.2f} s = "
        f"{100 * figures['repoll_share']:.1f}% of the cold pass; {repoll['requests']:.0f} requests "
        f"({repoll['not_modified']:.0f} answered 304), {repoll['page_requests']:.0f} article pages"
    )
    for label, key, wall in (
        ("cold", "cold_steps", "wall_s"),
        ("re-poll", "repoll_steps", "repoll_s"),
    ):
        steps = marsad.get(key) or {}
        parts = [f"{name} {v['runs']:.0f}x {v['s']:.2f} s" for name, v in steps.items()]
        outside = marsad[wall] - sum(v["s"] for v in steps.values())
        print(f"{label} pass by step (Prefect task runs): {', '.join(parts)}; "
              f"outside tasks {outside:.2f} s")  # fmt: skip
    print(
        f"Prefect, outside the pass: imports {marsad['import_s']:.1f} s, first (empty) flow run "
        f"{marsad['first_flow_s']:.1f} s (temporary server start), an empty flow run after that "
        f"{marsad['warm_flow_s']:.2f} s"
    )
    print(
        f"Prefect's own cost in the cold pass: a flow run {marsad['warm_flow_s']:.2f} s + "
        f"{figures['task_runs']:.0f} task runs x {marsad['task_overhead_s']:.3f} s (empty ones, "
        f"timed) = {figures['prefect_s']:.2f} s = {100 * figures['prefect_share']:.1f}% of it"
    )
    print(
        f"main process CPU in the cold pass: {marsad['main_cpu_s']:.1f} s "
        f"({1000 * marsad['main_cpu_s'] / max(1, marsad['articles']):.2f} ms per article; fetching,"
        " feed state, dedupe and loading, Prefect; extraction runs in the workers)"
    )
    if "workers_cpu_s" in marsad:
        n = max(1, marsad["articles"])
        parts = {
            "main process": marsad["main_cpu_s"],
            "extraction processes": marsad["workers_cpu_s"],
            "the site": marsad["site_cpu_s"],
        }
        print(
            "CPU per article in the cold pass: "
            + ", ".join(f"{k} {1000 * v / n:.2f} ms" for k, v in parts.items())
            + f"; {1000 * figures['cpu_per_article_s']:.2f} ms in all, the {site['cores']} cores"
            f" busy {100 * figures['cores_busy']:.0f}% of the pass"
        )
        print(
            "80% of the limit, with the cores as busy, allows "
            f"{1000 * figures['cpu_allowed_for_share_s']:.2f} ms of CPU an article in all "
            f"({1000 * figures['cpu_per_article_s']:.2f} ms now)"
        )
    print(
        f"marsad memory: peak RSS of its process tree {marsad['tree_mb']:.0f} MB, of which "
        f"Prefect's temporary server {marsad['prefect_server_mb']:.0f} MB (marsad's own "
        f"processes {marsad['own_mb']:.0f} MB); the pass's main process {marsad['main_mb']:.0f} "
        f"MB, largest extraction process {marsad['worker_mb']:.0f} MB (RSS sampled every 50 ms)"
    )
    served = ", ".join(
        f"{name} {r['site_cpu_s']:.2f} s ({1000 * r['site_cpu_s'] / max(1, r['site_requests']):.2f}"
        f" ms a request)"
        for name, r in rows
    )
    print(f"CPU the site itself used while serving (its own process): {served}")
    loads = f"marsad {marsad['load_before']:.2f}" + (
        f", naive {naive['load_before']:.2f}" if naive else ""
    )
    print(f"1-minute load average before the modes started (other work skews figures): {loads}")
    per_page_ms = 1000 * limit["trafilatura_cpu_s"]
    print(
        f"\nextraction-bound limit: median trafilatura.extract CPU {per_page_ms:.1f}"
        f" ms/page over {limit['pages']:.0f} pages -> {site['cores']} cores / that = "
        f"{figures['limit_pages_per_s']:.0f} pages/s (the {site['pages']} pages need at least "
        f"{figures['limit_min_wall_s']:.1f} s); marsad's cold pass reaches "
        f"{100 * figures['marsad_share_of_limit']:.0f}% of it"
    )
    if limit.get("samples", 1) > 1:
        print(
            f"(timed {limit['samples']:.0f} times, before and after each pass: "
            f"{1000 * limit['low_s']:.1f}-{1000 * limit['high_s']:.1f} ms/page; each pass is set "
            "against the median of the two around it)"
        )
    if figures.get("marsad_share_of_limit_in_pass") is not None:
        in_pass = 1000 * marsad["extract_cpu_s"] / marsad["extract_pages"]
        print(
            f"the same, with the machine's speed read from the pass itself: extract_one took "
            f"{in_pass:.1f} ms of CPU a page in the pass's extraction processes (timed there), "
            f"which puts trafilatura.extract at {1000 * marsad['in_pass_limit_cpu_s']:.1f} ms a "
            "page during the pass (their ratio timed together, around it): marsad reaches "
            f"{100 * figures['marsad_share_of_limit_in_pass']:.0f}% of the limit"
        )
    if "marsad_error" in limit:
        print(f"marsad's own per-page extraction could not be timed: {limit['marsad_error']}")
    if "marsad_cpu_s" in limit:
        print(
            "marsad's own per-page extraction (extractors.workers.extract_one: trafilatura, "
            f"cleaning, dates, language, fingerprint): median {1000 * limit['marsad_cpu_s']:.1f} "
            "ms/page"
        )
    problems = []
    if marsad["articles"] < site["pages"]:
        problems.append(f"marsad loaded {marsad['articles']:.0f} of {site['pages']} pages")
    if marsad["fetch_errors"]:
        problems.append(f"marsad recorded {marsad['fetch_errors']:.0f} fetch_errors rows")
    for name, r in rows:
        if r["cold"]["failed"]:
            sample = ", ".join(r["cold"]["failed_sample"])
            problems.append(
                f"{name}: {r['cold']['failed']:.0f} requests were not answered 200/304 ({sample})"
            )
    for problem in problems:
        print(f"WARNING: {problem}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=20, help="feeds (sites) to generate")
    parser.add_argument("--articles", type=int, default=25, help="articles per feed")
    parser.add_argument("--runs", type=int, default=1, help="repeat each mode; medians shown")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic site")
    parser.add_argument("--skip-naive", action="store_true", help="do not run the baseline")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--mode", choices=("marsad", "naive", "limit"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.feeds < 1 or args.articles < 1 or args.runs < 1:
        parser.error("--feeds, --articles and --runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mode == "marsad":
        mode_marsad(args.work, args.base_url, args.feeds)
        return 0
    if args.mode == "naive":
        mode_naive(args.work, args.base_url, args.feeds)
        return 0
    if args.mode == "limit":
        mode_limit(args.work, args.base_url, args.feeds, args.articles)
        return 0

    from bench.site_server import SiteProcess
    from bench.synthetic_site import build_site

    site = SiteProcess()  # listens now: the site's links need its address
    try:
        files = build_site(args.feeds, args.articles, base_url=site.base_url, seed=args.seed)
        site.start(files)
        sizes = [len(body) / 1024 for path, (body, _) in files.items() if path.endswith(".html")]
        facts = {
            "pages": len(sizes),
            "mb": sum(len(body) for body, _ in files.values()) / MB,
            "min_kb": min(sizes),
            "max_kb": max(sizes),
            "median_kb": statistics.median(sizes),
            "cores": cores(),
        }
        del files
        runs: dict[str, list[dict[str, Any]]] = {"marsad": [], "naive": [], "limit": []}
        # Interleaved, so drift of the machine hits every mode; the limit is timed right before
        # and right after each marsad pass, and each pass is set against the median of those
        # two (on a shared machine, CPU seconds per page drift from one minute to the next).
        runs["limit"].append(run_mode(site, "limit", args))
        for _ in range(args.runs):
            marsad = run_mode(site, "marsad", args)
            runs["limit"].append(run_mode(site, "limit", args))
            set_against_limit(marsad, runs["limit"][-2:], facts["cores"])
            runs["marsad"].append(marsad)
            if not args.skip_naive:
                runs["naive"].append(run_mode(site, "naive", args))
        results = {mode: medians(r) for mode, r in runs.items() if r}
        timed = [r["trafilatura_cpu_s"] for r in runs["limit"]]
        results["limit"] |= {"samples": len(timed), "low_s": min(timed), "high_s": max(timed)}
    finally:
        site.stop()
    figures = summarize(args, facts, results)
    if args.json:
        out = {"site": facts, "args": vars(args), "figures": figures}
        print(json.dumps(out | {"results": results, "runs": runs}, indent=2, default=str))
    else:
        print_report(args, facts, results, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
