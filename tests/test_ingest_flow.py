"""The real ingest flow against the local fixture site, under a real Prefect server."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.fixture_site import Fault, FixtureSite
from tests.conftest import sample_feeds, write_config

pytestmark = pytest.mark.integration

ARTICLE_PATHS = ("/aljazeera/news/", "/baghdadtoday/news/")


def page_requests(site: FixtureSite) -> list[str]:
    return [r.path for r in site.requests if r.path.startswith(ARTICLE_PATHS)]


def feed_items(site: FixtureSite) -> set[str]:
    import feedparser
    import httpx

    links: set[str] = set()
    for path in ("/feeds/aljazeera.xml", "/feeds/baghdadtoday.xml"):
        parsed = feedparser.parse(httpx.get(site.url(path)).content)
        links |= {e.link.split("?")[0] for e in parsed.entries}
    return links


def run(config: Path, db: Path, **kwargs: object) -> dict:
    from flows.ingest import ingest

    return ingest(config_path=str(config), db_path=str(db), **kwargs)


def test_two_passes_load_each_article_once_and_refetch_nothing(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path
) -> None:
    db = tmp_path / "marsad.duckdb"
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=sample_feeds(sample_site))
    expected = feed_items(sample_site)
    sample_site.clear_log()

    first = run(config, db)
    assert first["status"] == "completed"
    assert first["feeds_ok"] == 2 and first["feeds_failed"] == 0
    fetched = page_requests(sample_site)
    assert len(fetched) == len(set(fetched)) == len(expected)  # each page fetched once

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT canonical_url, count(*) FROM articles GROUP BY 1").fetchall()
        assert {r[0] for r in rows} == expected
        assert all(r[1] == 1 for r in rows)
        sources = dict(con.execute("SELECT source, count(*) FROM articles GROUP BY 1").fetchall())
        assert set(sources) == {"Al Jazeera", "Baghdad Al-Youm"}
        # Text came through decoded (one feed is windows-1256) and cleaned.
        titles = [r[0] for r in con.execute("SELECT title FROM articles").fetchall()]
        assert all(t and "\ufffd" not in t for t in titles)
        assert (
            con.execute(
                "SELECT count(*) FROM articles WHERE body LIKE '%جميع الحقوق محفوظة%'"
            ).fetchone()[0]
            == 0
        )
        assert con.execute("SELECT count(*) FROM raw_pages").fetchone()[0] >= len(expected) - 1
        feeds = con.execute(
            "SELECT name, etag IS NOT NULL, last_status, articles_total FROM feeds ORDER BY 1"
        ).fetchall()
        assert [(f[0], f[1], f[2]) for f in feeds] == [
            ("aljazeera", True, 200),
            ("baghdadtoday", True, 200),
        ]
        assert sum(f[3] for f in feeds) == len(expected)
        runs = con.execute("SELECT status, articles_new FROM ingest_runs").fetchall()
        assert runs == [("completed", len(expected))]
    finally:
        con.close()

    sample_site.clear_log()
    second = run(config, db)
    assert second["articles_new"] == 0
    assert second["feeds_not_modified"] == 2
    assert page_requests(sample_site) == []  # no article page requested
    assert {r.status for r in sample_site.requests} == {304}
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == len(expected)
    finally:
        con.close()


def test_one_bad_feed_and_failing_pages_do_not_fail_the_pass(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path
) -> None:
    db = tmp_path / "marsad.duckdb"
    feeds = sample_feeds(sample_site)
    port = sample_site.base_url.rsplit(":", 1)[1]
    feeds.append({"name": "gone", "url": f"{sample_site.base_url}/feeds/missing.xml"})
    feeds.append({"name": "blocked", "url": f"http://127.0.0.9:{port}/feeds/aljazeera.xml"})
    config = write_config(
        tmp_path / "marsad.toml", db=db, feeds=feeds, fetch={"page_retry_passes": 2}
    )
    broken_page = next(p for p in sorted(feed_items(sample_site)) if "/aljazeera/" in p)
    path = "/" + broken_page.split("/", 3)[3]
    sample_site.set_fault(path, Fault(status=503))

    first = run(config, db)
    assert first["status"] == "completed"
    assert first["feeds_failed"] == 2
    con = duckdb.connect(str(db), read_only=True)
    try:
        errors = con.execute(
            "SELECT feed_name, stage, error FROM fetch_errors ORDER BY 1, 2"
        ).fetchall()
        by_feed = {(e[0], e[1]) for e in errors}
        assert {("gone", "feed"), ("blocked", "feed"), ("aljazeera", "page")} <= by_feed
        assert any("not a public address" in e[2] for e in errors if e[0] == "blocked")
        health = dict(con.execute("SELECT name, consecutive_failures FROM feeds").fetchall())
        assert health["gone"] == 1 and health["blocked"] == 1 and health["aljazeera"] == 0
        assert (
            con.execute(
                "SELECT count(*) FROM articles WHERE canonical_url = ?", [broken_page]
            ).fetchone()[0]
            == 0
        )
        assert con.execute("SELECT attempts FROM pending_pages").fetchall() == [(1,)]
    finally:
        con.close()

    # Second pass: the failing page is retried (not forgotten) and, past the cap of 2 attempts,
    # kept with the feed's own text; the failing feeds are backing off and skipped.
    sample_site.clear_log()
    second = run(config, db)
    assert path in page_requests(sample_site)
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT extraction FROM articles WHERE canonical_url = ?", [broken_page]
        ).fetchone()
        assert row == ("feed",)
        assert con.execute("SELECT count(*) FROM pending_pages").fetchone()[0] == 0
    finally:
        con.close()
    skipped = {f["feed"] for f in second["feeds"] if f["status"] == "skipped"}
    assert skipped == {"gone", "blocked"}


def atom_feed(base: str, updated: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id>
<updated>{updated}</updated>
<entry><title>وزارة الكهرباء تعلن خطة الصيف</title><id>urn:a1</id>
<link href="{base}/news/a1.html"/><published>2025-02-26T08:00:00Z</published>
<updated>{updated}</updated><summary>خطة الصيف</summary></entry></feed>""".encode()


def article_page(paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<html><head><meta charset='utf-8'><title>خطة الصيف</title></head>"
        f"<body><article><h1>وزارة الكهرباء تعلن خطة الصيف</h1>{body}</article></body></html>"
    ).encode()


PARAGRAPHS = [
    "أعلنت وزارة الكهرباء اليوم خطة جديدة لتجهيز المحافظات بالطاقة خلال أشهر الصيف المقبلة "
    "بعد ارتفاع الطلب على الكهرباء في العام الماضي إلى مستويات غير مسبوقة في البلاد.",
    "وقال المتحدث باسم الوزارة إن الخطة تشمل صيانة محطات التوليد وإضافة خطوط نقل جديدة "
    "وتحسين التنسيق مع دول الجوار لاستيراد الطاقة عند الحاجة خلال ساعات الذروة.",
]


def test_an_updated_entry_refetches_the_article_and_keeps_a_revision(
    prefect_server: str, sample_site: FixtureSite, tmp_path: Path
) -> None:
    site = sample_site
    site.add_file(
        "/feeds/atom.xml", atom_feed(site.base_url, "2025-02-26T08:00:00Z"), "application/atom+xml"
    )
    site.add_file("/news/a1.html", article_page(PARAGRAPHS), "text/html; charset=utf-8")
    db = tmp_path / "marsad.duckdb"
    config = write_config(
        tmp_path / "marsad.toml",
        db=db,
        feeds=[{"name": "atom", "url": site.url("/feeds/atom.xml")}],
    )
    assert run(config, db)["articles_new"] == 1

    edited = [*PARAGRAPHS, "وأضاف أن الوزارة ستنشر جدول التوزيع الجديد الأسبوع المقبل."]
    site.add_file(
        "/feeds/atom.xml", atom_feed(site.base_url, "2025-02-26T12:00:00Z"), "application/atom+xml"
    )
    site.add_file("/news/a1.html", article_page(edited), "text/html; charset=utf-8")
    site.clear_log()
    second = run(config, db)
    assert second["articles_new"] == 0
    assert [r.path for r in site.requests if r.path.startswith("/news/")] == ["/news/a1.html"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        body, updated, fetched = con.execute(
            "SELECT body, updated_at, fetched_at FROM articles"
        ).fetchone()
        revisions = con.execute("SELECT body FROM article_revisions").fetchall()
    finally:
        con.close()
    assert "جدول التوزيع" in body and updated > fetched
    assert len(revisions) == 1 and "جدول التوزيع" not in revisions[0][0]

    site.clear_log()
    run(config, db)  # the same entry again: nothing refetched
    assert [r.path for r in site.requests if r.path.startswith("/news/")] == []
