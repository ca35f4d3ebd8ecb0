"""`marsad reextract`: articles rebuilt from the raw HTML kept in a real DuckDB warehouse.

The warehouse is filled the way a pass fills it (extractors.workers.extract_one, then
warehouse.load.load_batch with raw HTML) from the bundled sample site's files, read from disk:
no server runs, and any attempt to open a connection fails the test.
"""

from __future__ import annotations

import argparse
import copy
import functools
import multiprocessing
import socket
import tomllib
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from extractors.article import FeedContext, decode_html
from extractors.dedupe import fingerprint
from extractors.feeds import parse_feed
from extractors.records import Article, compress_html, decompress_html
from extractors.urls import article_id as id_of
from extractors.workers import extract_one
from flows.config import Config, load_config
from flows.fixture_site import SAMPLE_SITE_ROOT
from flows.reextract import add_reextract_parser, reextract, since_date
from tests.conftest import write_config
from warehouse.db import connect, opened
from warehouse.feeds import FeedDefinition, sync_feeds
from warehouse.load import LoadBatch, load_batch, start_run
from warehouse.reextract import (
    REEXTRACTED_COLUMNS,
    Rebuilt,
    apply_reextracted,
    changed_columns,
    next_raw_pages,
)
from warehouse.search import refresh_search_index

BASE = "http://127.0.0.1:8000"
FETCHED = datetime(2025, 2, 27, 12, 0, tzinfo=UTC)
FEEDS = (  # name, source, timezone, feed file
    ("aljazeera", "Al Jazeera", "Asia/Qatar", "aljazeera"),
    ("baghdadtoday", "Baghdad Al-Youm", "Asia/Baghdad", "baghdadtoday"),
)
JUNK = "\n\nاقرأ أيضا\n\nالسد يهزم الشارقة ويبلغ ربع نهائي دوري أبطال آسيا للنخبة"
COMPARED = (
    "title", "body", "summary", "author", "published_at", "published_at_source", "language",
    "dateline", "attribution", "is_breaking", "tags", "word_count", "content_hash", "extraction",
    "updated_at", "fetched_at", "cluster_id", "canonical_url",
)  # fmt: skip


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-extraction must not open any connection, not even to 127.0.0.1."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"re-extraction tried to connect: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@functools.cache
def _sample_articles() -> tuple[Article, ...]:
    headers = tomllib.loads((SAMPLE_SITE_ROOT / "_headers.toml").read_text(encoding="utf-8"))
    articles = []
    for i, (name, source, zone, feed_file) in enumerate(FEEDS):
        context = FeedContext(name=name, source=source, timezone=ZoneInfo(zone))
        path = f"/feeds/{feed_file}.xml"
        body = (SAMPLE_SITE_ROOT / f"feeds/{feed_file}.tmpl.xml").read_bytes()
        parsed = parse_feed(
            body.replace(b"{{BASE}}", BASE.encode()),
            url=BASE + path,
            content_type=headers.get(path, {}).get("Content-Type", "application/rss+xml"),
            tz=context.timezone,
        )
        for j, entry in enumerate(parsed.entries):
            page = entry.url.removeprefix(BASE).split("?")[0]
            raw = (SAMPLE_SITE_ROOT / page.lstrip("/")).with_suffix(".tmpl.html").read_bytes()
            ctype = headers.get(page, {}).get("Content-Type", "text/html; charset=utf-8")
            html = decode_html(raw.replace(b"{{BASE}}", BASE.encode()), ctype)
            fetched = FETCHED + timedelta(minutes=10 * i + j)
            article, error = extract_one(entry, context, fetched, html, ctype, True)
            assert error is None and article is not None
            articles.append(article)
    return tuple(articles)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    feeds = [
        {"name": n, "url": f"{BASE}/feeds/{f}.xml", "source": s, "timezone": z}
        for n, s, z, f in FEEDS
    ]
    return load_config(
        write_config(tmp_path / "marsad.toml", db=tmp_path / "w.duckdb", feeds=feeds)
    )


@pytest.fixture
def db(config: Config) -> Path:
    """A warehouse holding the 16 sample articles with their raw HTML, as a pass loads them."""
    path = config.warehouse.path
    con = connect(path)
    try:
        sync_feeds(
            con,
            [FeedDefinition(f.name, f.url, f.source, None, f.timezone, True) for f in config.feeds],
        )
        start_run(con, "run1", None, FETCHED)
        articles = [copy.deepcopy(a) for a in _sample_articles()]
        load_batch(con, LoadBatch(run_id="run1", articles=articles, keep_raw_html=True))
    finally:
        con.close()
    return path


def rows(db: Path) -> dict[str, dict]:
    with opened(db) as con:
        cursor = con.execute(f"SELECT article_id, {', '.join(COMPARED)} FROM articles")
        names = [d[0] for d in cursor.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def sql(db: Path, statement: str, parameters: list | None = None) -> list[tuple]:
    with opened(db) as con:
        return con.execute(statement, parameters or []).fetchall()


# -- the whole run -------------------------------------------------------------------------------


def test_a_fresh_warehouse_rebuilds_to_the_same_rows(config: Config, db: Path) -> None:
    before = rows(db)
    summary = reextract(config, db)
    assert summary.pages == len(before) == 16
    assert (summary.changed, summary.unchanged, summary.errors) == (0, 16, [])
    assert rows(db) == before
    assert sql(db, "SELECT count(*) FROM article_revisions") == [(0,)]


def test_an_older_cleaners_bodies_are_restored_and_kept_as_revisions(
    config: Config, db: Path
) -> None:
    before = rows(db)
    ids = sorted(before)
    glued, retitled, relabelled = ids[0], ids[1], ids[2]
    # What an older cleaner could have stored: a related box left in, a site suffix and an
    # urgency marker left on a title, a wrong language and date source.
    sql(db, "UPDATE articles SET body = body || ?, word_count = word_count + 13, "
            "content_hash = 'old' WHERE article_id = ?", [JUNK, glued])  # fmt: skip
    sql(db, "UPDATE articles SET title = title || ' - عاجل | الجزيرة نت', is_breaking = false "
            "WHERE article_id = ?", [retitled])  # fmt: skip
    sql(db, "UPDATE articles SET language = 'fa', published_at_source = 'fetched', tags = NULL "
            "WHERE article_id = ?", [relabelled])  # fmt: skip
    damaged = rows(db)
    started = datetime.now(UTC)

    progress: list[int] = []
    summary = reextract(config, db, chunk_pages=5, on_chunk=lambda s: progress.append(s.pages))
    assert progress == [5, 10, 15, 16]  # chunks of 5 pages, totals after each

    after = rows(db)
    assert (summary.pages, summary.changed, summary.text_changed) == (16, 3, 2)
    assert summary.unchanged == 13 and summary.errors == []
    for article_id in ids:
        restored = {k: v for k, v in after[article_id].items() if k != "updated_at"}
        assert restored == {k: v for k, v in before[article_id].items() if k != "updated_at"}
    # A new title or body is new text: updated_at moves; metadata alone leaves it.
    assert after[glued]["updated_at"] >= started and after[retitled]["updated_at"] >= started
    assert after[relabelled]["updated_at"] == before[relabelled]["updated_at"]
    unchanged = set(ids) - {glued, retitled, relabelled}
    assert all(after[i] == before[i] for i in unchanged)
    revisions = sql(db, "SELECT article_id, title, body, revised_at FROM article_revisions")
    assert sorted(r[:3] for r in revisions) == sorted(
        (i, damaged[i]["title"], damaged[i]["body"]) for i in (glued, retitled)
    )
    assert all(r[3] >= started for r in revisions)


def test_since_reads_only_pages_fetched_from_that_time(config: Config, db: Path) -> None:
    baghdad = {
        r[0] for r in sql(db, "SELECT article_id FROM articles WHERE feed_name = 'baghdadtoday'")
    }
    sql(db, "UPDATE articles SET body = body || ?", [JUNK])
    summary = reextract(config, db, since=FETCHED + timedelta(minutes=10))
    assert (summary.pages, summary.changed) == (8, 8)
    restored = {i for i, r in rows(db).items() if not r["body"].endswith(JUNK.strip())}
    assert restored == baghdad


def test_a_page_stored_without_its_entry_is_skipped(config: Config, db: Path) -> None:
    first = sorted(rows(db))[0]
    sql(db, "UPDATE raw_pages SET entry = NULL WHERE article_id = ?", [first])
    sql(db, "UPDATE articles SET body = 'x' WHERE article_id = ?", [first])
    summary = reextract(config, db)
    assert (summary.pages, summary.no_entry, summary.unchanged) == (16, 1, 15)
    assert rows(db)[first]["body"] == "x"


def feeds_config(path: Path, db: Path, *, baghdad: str | None) -> Config:
    """aljazeera as configured, and baghdadtoday with this timezone (None: none given; "gone":
    no longer in the configuration)."""
    feeds = [{"name": "aljazeera", "url": f"{BASE}/feeds/aljazeera.xml", "source": "Al Jazeera"}]
    if baghdad != "gone":
        feeds.append(
            {"name": "baghdadtoday", "url": f"{BASE}/feeds/baghdadtoday.xml"}
            | ({"timezone": baghdad} if baghdad else {})
        )
    return load_config(write_config(path, db=db, feeds=feeds))


@pytest.mark.parametrize(
    ("baghdad", "offset"),
    [("Asia/Baghdad", 3), ("gone", 3), (None, 0)],
    ids=["configured zone", "stored zone of a feed no longer configured", "no zone: UTC"],
)
def test_a_time_without_zone_is_read_in_the_feeds_timezone(
    db: Path, tmp_path: Path, baghdad: str | None, offset: int
) -> None:
    article_id = sql(db, "SELECT article_id FROM articles WHERE url LIKE '%/268398.html'")[0][0]
    # Without the feed's date and the page's zoned meta time, the date comes from the text.
    (stored,) = sql(db, "SELECT html_zlib FROM raw_pages WHERE article_id = ?", [article_id])[0]
    html = decompress_html(stored).replace("article:published_time", "x-removed")
    sql(db, "UPDATE raw_pages SET entry = json_merge_patch(entry, '{\"published_at\": null}'), "
            "html_zlib = ? WHERE article_id = ?", [compress_html(html), article_id])  # fmt: skip
    reextract(feeds_config(tmp_path / "c.toml", db, baghdad=baghdad), db)
    published, source = sql(
        db, "SELECT published_at, published_at_source FROM articles WHERE article_id = ?",
        [article_id],
    )[0]  # fmt: skip
    assert source == "text"
    written = datetime(2025, 2, 25)  # the lead's "(25 شباط 2025)": a date is midnight, local
    assert published == (written - timedelta(hours=offset)).replace(tzinfo=UTC)


def test_extraction_runs_in_a_process_pool(config: Config, db: Path) -> None:
    sql(db, "UPDATE articles SET body = body || ?", [JUNK])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        summary = reextract(config, db, pool=pool)
    assert (summary.pages, summary.changed, summary.text_changed) == (16, 16, 16)
    assert not any(r["body"].endswith(JUNK.strip()) for r in rows(db).values())


def test_a_new_text_is_indexed_so_that_later_copies_join_its_cluster(config: Config) -> None:
    # An older extractor took the wrong block of a page fetched yesterday: the stored body, and
    # the text indexed for dedupe, are another article's.
    page, other = _sample_articles()[0], _sample_articles()[-1]
    fetched = datetime.now(UTC) - timedelta(days=1)  # within every dedupe window of a new copy
    wrong = copy.deepcopy(page)
    wrong.fetched_at, wrong.body = fetched, other.body
    wrong.fingerprint = fingerprint(other.body)
    wrong.content_hash, wrong.word_count = other.content_hash, other.word_count
    db = config.warehouse.path
    with opened(db) as con:
        start_run(con, "run1", None, fetched)
        load_batch(con, LoadBatch(run_id="run1", articles=[wrong], keep_raw_html=True))

    summary = reextract(config, db)
    assert (summary.text_changed, summary.indexed) == (1, 1)
    assert rows(db)[page.article_id]["body"] == page.body

    # Another outlet's copy of the page's real text, fetched today, joins the article's story.
    url = "http://127.0.0.1:8000/baghdadtoday/news/copy.html"
    reprint = copy.deepcopy(page)
    reprint.url = reprint.canonical_url = url
    reprint.article_id, reprint.feed_name, reprint.source = id_of(url), "baghdadtoday", "B"
    reprint.fetched_at, reprint.raw_html = fetched + timedelta(days=1), None
    with opened(db) as con:
        result = load_batch(con, LoadBatch(run_id="run1", articles=[reprint]))
    assert result.articles_duplicate == 1
    assert rows(db)[reprint.article_id]["cluster_id"] == page.article_id


# -- the warehouse side ------------------------------------------------------------------------


def test_a_page_refetched_meanwhile_is_left_to_the_pass(config: Config, db: Path) -> None:
    with opened(db) as con:
        page = next_raw_pages(con, after=None, limit=1).pages[0]
    article = copy.deepcopy(next(a for a in _sample_articles() if a.article_id == page.article_id))
    article.body = "نص أقدم"
    with opened(db) as con:
        moved = page.page_fetched_at - timedelta(hours=1)  # read before the pass refetched it
        result = apply_reextracted(con, [Rebuilt(article, moved)], datetime.now(UTC))
    assert (result.stale, result.changed) == (1, 0)
    assert rows(db)[page.article_id]["body"] != "نص أقدم"


def test_chunks_cover_every_page_once_in_id_order(db: Path) -> None:
    seen: list[str] = []
    after = None
    with opened(db) as con:
        while (chunk := next_raw_pages(con, after=after, limit=3)).last_id is not None:
            assert 0 < len(chunk.pages) <= 3
            seen += [p.article_id for p in chunk.pages]
            after = chunk.last_id
    assert seen == sorted(rows(db))


@pytest.mark.parametrize(
    ("stored", "changes"),
    [
        ({}, ()),
        ({"tags": None}, ()),
        ({"tags": ["اقتصاد"]}, ("tags",)),
        ({"word_count": 3}, ("word_count",)),
        ({"published_at": datetime(2025, 1, 1, tzinfo=UTC)}, ("published_at",)),
        ({"is_breaking": True, "title": "عاجل | خبر"}, ("title", "is_breaking")),
    ],
)
def test_changed_columns(stored: dict, changes: tuple[str, ...]) -> None:
    article = copy.deepcopy(_sample_articles()[0])
    article.tags = []
    row = {name: getattr(article, name) for name in REEXTRACTED_COLUMNS}
    assert changed_columns({**row, **stored}, article) == changes


# -- the command line ------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path)
    common.add_argument("--db", type=Path)
    common.add_argument("--debug", action="store_true")
    parser = argparse.ArgumentParser(prog="marsad")
    add_reextract_parser(parser.add_subparsers(), common)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_the_command_prints_a_summary(
    config: Config, db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """...and refreshes search as a pass does (flows.stream.refresh_search), then publishes the
    read-only copy under the pass's cap on DuckDB's own threads."""
    import flows.stream
    import warehouse.publish
    import warehouse.search_refresh
    from tests.conftest import duckdb_caps, duckdb_setting, duckdb_threads

    with opened(db) as con:
        assert refresh_search_index(con).articles == 16  # as the pass that loaded them does
    sql(db, "UPDATE articles SET body = body || ? WHERE feed_name = 'aljazeera'", [JUNK])
    seen: list[tuple] = []

    def spy(con: duckdb.DuckDBPyConnection, **kwargs: bool) -> object:
        seen.append(duckdb_caps(con))
        return refresh_search_index(con, **kwargs)

    def publish_spy(con: duckdb.DuckDBPyConnection, path: str) -> object:
        seen.append(duckdb_caps(con))
        return real_publish(con, path)

    real_publish = warehouse.publish.publish
    published = db.parent / "published.duckdb"
    toml = config.path.read_text(encoding="utf-8")
    config.path.write_text(
        toml.replace("[warehouse]\n", f'[warehouse]\npublish_path = "{published.as_posix()}"\n'),
        encoding="utf-8",
    )
    threads = duckdb_threads() + 1  # neither is DuckDB's own setting on this machine
    monkeypatch.setattr(warehouse.search_refresh, "refresh_search_index", spy)
    monkeypatch.setattr(warehouse.publish, "publish", publish_spy)
    monkeypatch.setattr(flows.stream, "SEARCH_REFRESH_MEMORY_LIMIT", "48MB")
    monkeypatch.setattr(flows.stream, "SEARCH_REFRESH_THREADS", threads)
    monkeypatch.setattr(flows.stream, "PASS_MEMORY_LIMIT", "220MB")
    assert run_cli(["reextract", "--config", str(config.path), "--db", str(db)]) == 0
    assert seen == [
        # the refresh: 48 MB for each of its connections
        (
            duckdb_setting("memory_limit", f"{48 * flows.stream.SEARCH_REFRESH_CONNECTIONS}MB"),
            threads,
        ),
        (duckdb_setting("memory_limit", "220MB"), duckdb_threads()),  # the published copy
    ]
    assert published.exists()
    out = capsys.readouterr().out
    assert "Re-extracting 16 stored pages" in out
    assert "pages read          16" in out
    assert "articles changed    8" in out and "unchanged           8" in out
    assert "search index        8 articles indexed" in out  # the changed ones only


def test_the_command_says_when_no_raw_html_is_kept(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.duckdb"
    assert run_cli(["reextract", "--config", str(config.path), "--db", str(empty)]) == 0
    assert "no stored raw HTML" in capsys.readouterr().out


def test_since_accepts_dates_and_times() -> None:
    assert since_date("2025-02-27") == datetime(2025, 2, 27, tzinfo=UTC)
    assert since_date("2025-02-27T12:00+03:00") == datetime(2025, 2, 27, 9, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="YYYY-MM-DD"):
        since_date("last week")
