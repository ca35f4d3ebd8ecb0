"""What the web throws at a pass, injected by the local fixture site: servers that ignore
validators, failing, moved, gone and rate-limiting feeds, unsafe feeds, robots.txt, and a pass
killed with SIGKILL. The first part drives flows.steps directly (fast); the integration part runs
the real flow under the session's Prefect server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

import flows.steps as steps
from extractors.article import FeedContext
from extractors.feeds import FeedEntry
from extractors.fetch import FetchPolicy
from extractors.guard import AllowList
from extractors.polling import PollBounds, PollHints
from flows.fixture_site import Fault, FixtureSite
from flows.steps import FeedPoll, FeedTarget, PageJob, settle_feed_update
from tests.conftest import write_config
from warehouse.feeds import FeedState, FeedUpdate

REPO = Path(__file__).resolve().parents[1]
POLICY = FetchPolicy(allow_private=AllowList.parse(["127.0.0.1"]), retries=0, timeout_s=5)
CONTEXT = FeedContext(name="news", source="News", timezone=ZoneInfo("Asia/Baghdad"))
RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


def feed_xml(*links: str, title: str = "أخبار") -> bytes:
    items = "".join(
        f"<item><title>خبر رقم {i}</title><link>{link}</link>"
        f"<description>نص الخبر رقم {i} كما ورد في الموجز</description></item>"
        for i, link in enumerate(links)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>{{{{BASE}}}}/</link>{items}</channel></rss>"
    ).encode()


def article_html(title: str) -> bytes:
    body = " ".join(["أكد المسؤولون اليوم أن العمل مستمر في المشروع وفق الخطة المعلنة."] * 8)
    return (
        f'<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><article><h1>{title}</h1><p>{body}</p><p>{body}</p></article>"
        "</body></html>"
    ).encode()


def poll(site: FixtureSite, path: str, state: FeedState | None = None) -> FeedPoll:
    """Poll one feed of the site the way a pass does (real Fetcher, then interpret_poll)."""
    target = FeedTarget("news", state.url if state else site.url(path), CONTEXT, state)
    (result,) = asyncio.run(steps._poll_all([target], POLICY, 1_000_000))
    return result


def saved(state: FeedState | None, update: FeedUpdate, url: str) -> FeedState:
    """The state the warehouse would hold after saving `update` (as save_feed_updates does)."""
    keep = update.keep_validators and state is not None
    return FeedState(
        name=update.name,
        url=update.url or (state.url if state else url),
        source=None,
        etag=state.etag if keep else (None if update.keep_validators else update.etag),  # type: ignore[union-attr]
        last_modified=state.last_modified if keep else update.last_modified,  # type: ignore[union-attr]
        body_hash=state.body_hash if keep else update.body_hash,  # type: ignore[union-attr]
        last_polled_at=update.polled_at,
        last_status=update.status,
        last_error=update.error,
        consecutive_failures=update.consecutive_failures,
        next_poll_at=update.next_poll_at,
        enabled=update.enabled if update.enabled is not None else True,
        articles_total=0,
    )


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the feed bodies interpret_poll hands to the parser."""
    calls: list[str] = []
    real = steps.parse_feed

    def counting(body: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(str(kwargs.get("url")))
        return real(body, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(steps, "parse_feed", counting)
    return calls


# Servers that ignore validators -------------------------------------------------------------


def test_a_200_with_the_same_etag_is_not_parsed(
    sample_site: FixtureSite, parse_calls: list[str]
) -> None:
    # The server ignores If-None-Match and answers 200 with the body and the same ETag.
    body = feed_xml(sample_site.url("/news/1.html"))
    fault = Fault(status=200, body=body, headers={"Content-Type": RSS, "ETag": '"v1"'})
    sample_site.set_fault("/feeds/news.xml", fault)
    first = poll(sample_site, "/feeds/news.xml")
    assert first.outcome == "ok" and len(first.entries) == 1 and len(parse_calls) == 1
    state = saved(None, first.update, sample_site.url("/feeds/news.xml"))  # type: ignore[arg-type]
    assert state.etag == '"v1"' and state.body_hash

    second = poll(sample_site, "/feeds/news.xml", state)
    assert sample_site.requests_for("/feeds/news.xml")[-1].headers["if-none-match"] == '"v1"'
    assert second.outcome == "not_modified" and second.entries == []
    assert len(parse_calls) == 1


def test_a_200_with_an_unchanged_body_is_not_parsed(
    sample_site: FixtureSite, parse_calls: list[str]
) -> None:
    # No validators at all, then a new ETag on every answer: only the body hash tells.
    body = feed_xml(sample_site.url("/news/1.html"))
    sample_site.set_fault(
        "/feeds/news.xml", Fault(status=200, body=body, headers={"Content-Type": RSS})
    )
    first = poll(sample_site, "/feeds/news.xml")
    state = saved(None, first.update, sample_site.url("/feeds/news.xml"))  # type: ignore[arg-type]
    assert first.outcome == "ok" and len(parse_calls) == 1

    second = poll(sample_site, "/feeds/news.xml", state)
    assert second.outcome == "not_modified" and len(parse_calls) == 1
    state = saved(state, second.update, state.url)  # type: ignore[arg-type]

    fault = Fault(status=200, body=body, headers={"Content-Type": RSS, "ETag": '"new-every-time"'})
    sample_site.set_fault("/feeds/news.xml", fault)
    third = poll(sample_site, "/feeds/news.xml", state)
    assert third.outcome == "not_modified" and len(parse_calls) == 1
    assert third.update.etag == '"new-every-time"'  # type: ignore[union-attr]

    # A changed body is parsed.
    changed = feed_xml(sample_site.url("/news/1.html"), sample_site.url("/news/2.html"))
    sample_site.set_fault(
        "/feeds/news.xml", Fault(status=200, body=changed, headers={"Content-Type": RSS})
    )
    fourth = poll(sample_site, "/feeds/news.xml", saved(state, third.update, state.url))  # type: ignore[arg-type]
    assert fourth.outcome == "ok" and len(fourth.entries) == 2 and len(parse_calls) == 2


# Feed health ----------------------------------------------------------------------------------


def test_a_failing_feed_backs_off_longer_each_pass_and_recovers(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/feeds/aljazeera.xml", Fault(status=503))
    state: FeedState | None = None
    waits: list[timedelta] = []
    for expected_failures in (1, 2, 3, 4):
        result = poll(sample_site, "/feeds/aljazeera.xml", state)
        update = result.update
        assert result.outcome == "failed" and update is not None
        assert update.consecutive_failures == expected_failures
        assert update.error == "HTTP 503 Service Unavailable"
        waits.append(update.next_poll_at - update.polled_at)  # type: ignore[operator]
        state = saved(state, update, sample_site.url("/feeds/aljazeera.xml"))
    assert waits == [timedelta(minutes=m) for m in (15, 30, 60, 120)]

    sample_site.set_fault("/feeds/aljazeera.xml", None)
    recovered = poll(sample_site, "/feeds/aljazeera.xml", state)
    assert recovered.outcome == "ok" and recovered.update.consecutive_failures == 0  # type: ignore[union-attr]


def test_410_gone_disables_the_feed(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/feeds/aljazeera.xml", Fault(status=410))
    result = poll(sample_site, "/feeds/aljazeera.xml")
    assert result.outcome == "failed"
    assert result.update.enabled is False  # type: ignore[union-attr]
    assert "410 Gone" in (result.error or "") and "disabled" in (result.error or "")


def test_429_with_retry_after_puts_the_next_poll_an_hour_later(sample_site: FixtureSite) -> None:
    sample_site.set_fault(
        "/feeds/aljazeera.xml", Fault(status=429, headers={"Retry-After": "3600"})
    )
    result = poll(sample_site, "/feeds/aljazeera.xml")
    update = result.update
    assert result.outcome == "failed" and update is not None
    wait = update.next_poll_at - update.polled_at  # type: ignore[operator]
    assert timedelta(minutes=59) < wait <= timedelta(minutes=61)
    assert len(sample_site.requests_for("/feeds/aljazeera.xml")) == 1  # not retried in the pass


def test_an_html_page_instead_of_a_feed_names_the_advertised_feed(sample_site: FixtureSite) -> None:
    result = poll(sample_site, "/aljazeera/index.html")
    assert result.outcome == "failed"
    assert result.error == (
        "the URL returned an HTML page, not a feed; the page advertises a feed at "
        + sample_site.url("/feeds/aljazeera.xml")
    )


def test_a_feed_with_entities_fetches_nothing_and_keeps_its_entries(
    sample_site: FixtureSite,
) -> None:
    base = sample_site.base_url
    unsafe = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{{BASE}}/evil.dtd" [\n'
        '<!ENTITY secret SYSTEM "{{BASE}}/secret.txt">\n'
        '<!ENTITY % remote SYSTEM "{{BASE}}/remote.dtd">\n%remote;\n'
        '<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
        '<rss version="2.0"><channel><title>t&secret;&lol2;</title>'
        "<item><title>خبر</title><link>{{BASE}}/news/1.html</link></item>"
        "<item><title>&secret;</title><link>{{BASE}}/news/2.html</link></item>"
        "</channel></rss>"
    ).encode()
    sample_site.add_file("/feeds/unsafe.xml", unsafe, RSS)
    for path in ("/secret.txt", "/evil.dtd", "/remote.dtd"):
        sample_site.add_file(path, b"SECRET", "text/plain")
    result = poll(sample_site, "/feeds/unsafe.xml")
    assert result.outcome == "ok"
    assert [e.url for e in result.entries] == [f"{base}/news/1.html", f"{base}/news/2.html"]
    assert "declares XML entities" in (result.error or "")
    assert result.update.error == result.error  # type: ignore[union-attr]
    assert all("SECRET" not in (e.title or "") for e in result.entries)
    assert [r.path for r in sample_site.requests] == ["/feeds/unsafe.xml"]


# Adaptive schedule ------------------------------------------------------------------------------

PASS = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
BOUNDS = PollBounds(min_interval=timedelta(minutes=10), max_interval=timedelta(hours=12))


def polled(
    outcome: str,
    entries: int,
    *,
    last_interval: timedelta | None = timedelta(hours=1),
    hints: PollHints | None = None,
    failures: int = 0,
) -> FeedPoll:
    last = PASS - timedelta(hours=1)
    state = FeedState(
        "news", "http://127.0.0.1/f.xml", None, None, None, None, last, 200, None, failures,
        last + last_interval if last_interval else None, True, 0,
    )  # fmt: skip
    target = FeedTarget("news", state.url, CONTEXT, state)
    polled_at = PASS + timedelta(minutes=3)  # polled three minutes into the pass
    update = FeedUpdate("news", polled_at, 200, None, 0, None)
    listed = [FeedEntry(url=f"http://127.0.0.1/{i}") for i in range(entries)]
    return FeedPoll(target, outcome, entries=listed, update=update, hints=hints or PollHints())


@pytest.mark.parametrize(
    ("poll_", "new", "expected"),
    [
        (polled("not_modified", 0), 0, PASS + timedelta(hours=1.5)),
        (polled("ok", 20), 0, PASS + timedelta(hours=1.5)),
        (polled("ok", 20), 4, PASS + timedelta(minutes=45)),
        (polled("ok", 20), 20, PASS + BOUNDS.min_interval),
        (polled("ok", 20, last_interval=None), 4, PASS + BOUNDS.min_interval),
        (polled("ok", 20, hints=PollHints(ttl_minutes=120)), 4, PASS + timedelta(minutes=123)),
        (polled("ok", 20, last_interval=timedelta(hours=11)), 0, PASS + BOUNDS.max_interval),
    ],
    ids=["304", "none-new", "some-new", "all-new", "first-adaptive", "ttl-wins", "capped"],
)
def test_settle_feed_update_adapts_the_next_poll(
    poll_: FeedPoll, new: int, expected: datetime
) -> None:
    assert settle_feed_update(poll_, new, BOUNDS, PASS).next_poll_at == expected


def test_settle_feed_update_leaves_a_failure_alone() -> None:
    failed = polled("failed", 0, failures=2)
    failed.update = replace(failed.update, next_poll_at=PASS + timedelta(hours=2))  # type: ignore[type-var]
    assert settle_feed_update(failed, 0, BOUNDS, PASS) is failed.update


# Article pages: robots.txt and which errors are final ------------------------------------------


def page_job(url: str) -> PageJob:
    return PageJob(FeedEntry(url=url, title="خبر"), url, CONTEXT)


def test_fetch_pages_marks_errors_no_later_pass_can_change_as_final(
    sample_site: FixtureSite,
) -> None:
    sample_site.add_file("/robots.txt", b"User-agent: *\nDisallow: /private/\n", "text/plain")
    sample_site.add_file("/news/ok.html", article_html("خبر"), HTML)
    sample_site.add_file("/news/report.pdf", b"%PDF-1.4", "application/pdf")
    sample_site.set_fault("/news/down.html", Fault(status=503))
    port = sample_site.base_url.rsplit(":", 1)[1]
    urls = [
        sample_site.url("/private/secret.html"),
        sample_site.url("/news/ok.html"),
        sample_site.url("/news/down.html"),
        sample_site.url("/news/report.pdf"),
        f"http://127.0.0.7:{port}/news/ok.html",  # not allowed by the guard
    ]
    pages = asyncio.run(steps._fetch_all([page_job(u) for u in urls], POLICY, 1_000_000))
    outcome = [(p.error, p.final) for p in pages]
    assert outcome[0] == ("disallowed by robots.txt", True)
    assert outcome[1] == (None, False) and pages[1].body and "خبر".encode() in pages[1].body
    assert outcome[2] == ("HTTP 503 Service Unavailable", False)  # retried on later passes
    assert outcome[3] == ("the page is application/pdf, not HTML", True)
    assert outcome[4][1] is True and "not a public address" in (outcome[4][0] or "")
    assert sample_site.requests_for("/private/") == []
    assert len(sample_site.requests_for("/robots.txt")) == 1


# Integration: the real flow ------------------------------------------------------------------


def read(db: Path, sql: str, params: Sequence[object] = ()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def run_pass(config: Path, db: Path) -> dict:
    from flows.ingest import ingest

    return ingest(config_path=str(config), db_path=str(db))


@pytest.mark.integration
def test_moved_gone_and_rate_limited_feeds_across_passes(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path
) -> None:
    site = sample_site
    for name in ("a", "b"):
        site.add_file(f"/feeds/{name}.xml", feed_xml(f"{{{{BASE}}}}/news/{name}1.html"), RSS)
        site.add_file(
            f"/news/{name}1.html", article_html(f"خبر {name}"), "text/html; charset=utf-8"
        )
    site.set_fault("/old/a.xml", Fault(status=301, headers={"Location": "/feeds/a.xml"}))
    site.set_fault("/old/b.xml", Fault(status=308, headers={"Location": site.url("/feeds/b.xml")}))
    site.set_fault("/feeds/gone.xml", Fault(status=410))
    site.set_fault("/feeds/busy.xml", Fault(status=429, headers={"Retry-After": "3600"}))
    feeds = [
        {"name": "moved301", "url": site.url("/old/a.xml")},
        {"name": "moved308", "url": site.url("/old/b.xml")},
        {"name": "gone", "url": site.url("/feeds/gone.xml")},
        {"name": "busy", "url": site.url("/feeds/busy.xml")},
    ]
    db = tmp_path / "marsad.duckdb"
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=feeds)

    first = run_pass(config, db)
    assert first["status"] == "completed" and first["articles_new"] == 2
    columns = "name, url, enabled, last_status, consecutive_failures, next_poll_at"
    state = {r[0]: r[1:] for r in read(db, f"SELECT {columns} FROM feeds")}
    assert state["moved301"][:3] == (site.url("/feeds/a.xml"), True, 200)
    assert state["moved308"][:3] == (site.url("/feeds/b.xml"), True, 200)
    assert state["gone"][1:4] == (False, 410, 1)
    assert state["busy"][1:4] == (True, 429, 1)
    wait = state["busy"][4] - datetime.now(UTC)
    assert timedelta(minutes=58) < wait <= timedelta(minutes=61)
    errors = {r[0]: r[1] for r in read(db, "SELECT feed_name, error FROM fetch_errors")}
    assert set(errors) == {"gone", "busy"} and "HTTP 429" in errors["busy"]

    site.clear_log()
    second = run_pass(config, db)
    assert second["status"] == "completed" and second["articles_new"] == 0
    asked = {r.path for r in site.requests}
    assert asked == {"/feeds/a.xml", "/feeds/b.xml"}  # the moved feeds at their new URLs only
    assert {r.status for r in site.requests} == {304}
    notes = {f["feed"]: (f["status"], f["note"]) for f in second["feeds"]}
    assert notes["gone"][0] == "skipped" and "410" in notes["gone"][1]
    assert notes["busy"][0] == "skipped" and notes["busy"][1].startswith("next poll at")


@pytest.mark.integration
def test_a_pass_killed_mid_way_loses_nothing_and_duplicates_nothing(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path
) -> None:
    """One batch and one feed more: the first batch (4 feeds with an article) is loaded, then the
    pass is killed while the last feed's pages are still arriving; the next pass completes and
    nothing is doubled or lost."""
    from flows.ingest import FEEDS_PER_BATCH

    site = sample_site
    last = FEEDS_PER_BATCH  # the only feed of the second batch
    feeds = []
    for i in range(last + 1):
        links = [f"{{{{BASE}}}}/news/f{i}.html"] if i < 4 else []
        if i == last:
            links = [f"{{{{BASE}}}}/slow/{k}.html" for k in range(4)]
        site.add_file(f"/feeds/f{i}.xml", feed_xml(*links, title=f"feed {i}"), RSS)
        feeds.append({"name": f"f{i:02d}", "url": site.url(f"/feeds/f{i}.xml")})
    pages = [f"/news/f{i}.html" for i in range(4)] + [f"/slow/{k}.html" for k in range(4)]
    for path in pages:
        site.add_file(path, article_html(f"خبر {path}"), HTML)
    # The slow pages answer at once (so the site logs them) but trickle their bodies for minutes.
    site.set_fault("/slow/*", Fault(trickle_bytes_per_s=20))
    db = tmp_path / "marsad.duckdb"
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=feeds, fetch={"timeout_s": 120})

    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
    }
    command = [sys.executable, "-m", "flows.cli", "run", "--config", str(config), "--db", str(db)]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so the kill takes any child with it
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not site.requests_for("/slow/") and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.05)
        assert site.requests_for("/slow/"), "the pass never reached the slow pages"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == -signal.SIGKILL

    # The first batch was loaded with its feeds' validators; the killed batch left nothing.
    assert read(db, "SELECT count(*) FROM articles") == [(4,)]
    no_etag = [r[0] for r in read(db, "SELECT name FROM feeds WHERE etag IS NULL ORDER BY 1")]
    assert no_etag == [f"f{last:02d}"]

    site.set_fault("/slow/*", None)
    site.clear_log()
    record = run_pass(config, db)
    assert record["status"] == "completed" and record["articles_new"] == 4
    fetched = sorted(r.path for r in site.requests if r.path.startswith(("/news/", "/slow/")))
    assert fetched == [f"/slow/{k}.html" for k in range(4)]  # the loaded pages are not refetched
    statuses = {r.path: r.status for r in site.requests if r.path.startswith("/feeds/")}
    assert statuses.pop(f"/feeds/f{last}.xml") == 200  # its validators were never saved
    assert set(statuses.values()) == {304} and len(statuses) == FEEDS_PER_BATCH
    rows = read(db, "SELECT canonical_url, count(*) FROM articles GROUP BY 1")
    assert sorted(r[0] for r in rows) == sorted(site.url(p) for p in pages)
    assert all(r[1] == 1 for r in rows)
    assert read(db, "SELECT count(*) FROM feeds WHERE etag IS NULL OR body_hash IS NULL") == [(0,)]


@pytest.mark.integration
def test_a_page_disallowed_by_robots_is_kept_from_the_feed_at_once(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path
) -> None:
    site = sample_site
    site.add_file("/robots.txt", b"User-agent: marsad\nDisallow: /private/\n", "text/plain")
    site.add_file(
        "/feeds/a.xml", feed_xml("{{BASE}}/news/ok.html", "{{BASE}}/private/no.html"), RSS
    )
    site.add_file("/news/ok.html", article_html("خبر"), HTML)
    site.add_file("/private/no.html", article_html("سر"), HTML)
    db = tmp_path / "marsad.duckdb"
    config = write_config(
        tmp_path / "marsad.toml", db=db, feeds=[{"name": "a", "url": site.url("/feeds/a.xml")}]
    )

    record = run_pass(config, db)
    assert record["articles_new"] == 2
    assert site.requests_for("/private/") == [] and len(site.requests_for("/robots.txt")) == 1
    kept = read(db, "SELECT extraction FROM articles WHERE url = ?", [site.url("/private/no.html")])
    assert kept == [("feed",)]
    assert read(db, "SELECT count(*) FROM pending_pages") == [(0,)]
    errors = read(db, "SELECT stage, error FROM fetch_errors")
    assert errors == [("page", "disallowed by robots.txt")]


@pytest.mark.integration
def test_the_flow_adapts_the_next_poll_to_how_busy_a_feed_is(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path
) -> None:
    site = sample_site
    site.add_file("/feeds/a.xml", feed_xml("{{BASE}}/news/1.html", "{{BASE}}/news/2.html"), RSS)
    for n in (1, 2):
        site.add_file(f"/news/{n}.html", article_html(f"خبر {n}"), HTML)
    db = tmp_path / "marsad.duckdb"
    config = write_config(
        tmp_path / "marsad.toml", db=db, feeds=[{"name": "a", "url": site.url("/feeds/a.xml")}]
    )
    interval = "SELECT next_poll_at - last_polled_at FROM feeds WHERE name = 'a'"

    run_pass(config, db)  # every entry new: as often as allowed (5 minutes by default)
    ((first,),) = read(db, interval)
    assert first is not None and timedelta(minutes=4) < first <= timedelta(minutes=5)
    run_pass(config, db)  # 304: half as long again
    ((second,),) = read(db, interval)
    assert timedelta(minutes=6) < second <= timedelta(minutes=7.5)
