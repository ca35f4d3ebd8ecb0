"""Opening the warehouse: migrations, refusals, locks; loading batches in one transaction."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from extractors.records import Article
from warehouse import db as warehouse_db
from warehouse.db import (
    NewerWarehouse,
    NotAWarehouse,
    WarehouseLocked,
    connect,
    opened,
    schema_version,
)
from warehouse.feeds import FeedDefinition, FeedUpdate, feed_states, sync_feeds
from warehouse.load import (
    FetchErrorRecord,
    LoadBatch,
    PendingPage,
    SeenUrl,
    known_urls,
    load_batch,
    pending_due,
    run_record,
    start_run,
    stored_entry_times,
)

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
CONTRACT_COLUMNS = {
    "articles": [
        "article_id", "url", "canonical_url", "feed_name", "source", "title", "body", "summary",
        "author", "published_at", "published_at_source", "fetched_at", "updated_at", "language",
        "dateline", "attribution", "is_breaking", "tags", "word_count", "content_hash",
        "cluster_id", "duplicate_of", "extraction",
    ],
    "article_urls": ["article_id", "url", "feed_name", "first_seen_at"],
    "feeds": [
        "name", "url", "source", "etag", "last_modified", "last_polled_at", "last_status",
        "last_error", "consecutive_failures", "next_poll_at", "enabled",
    ],
    "ingest_runs": [
        "run_id", "flow_run_id", "started_at", "finished_at", "status", "feeds_total",
        "feeds_ok", "feeds_not_modified", "feeds_failed", "entries_seen", "articles_new",
        "articles_duplicate", "errors",
    ],
    "fetch_errors": ["run_id", "feed_name", "url", "stage", "error", "occurred_at"],
    "article_revisions": ["article_id", "revised_at", "title", "body"],
    "stories": ["cluster_id", "article_id", "title", "first_seen", "sources", "copies"],
    "daily_volume": ["day", "source", "articles"],
}  # fmt: skip


def article(
    n: int, *, feed: str = "one", body: str | None = None, content_hash: str | None = None
) -> Article:
    url = f"http://127.0.0.1:9/news/{n}"
    return Article(
        article_id=f"id{n:04d}",
        url=url,
        canonical_url=url,
        feed_name=feed,
        source=feed.title(),
        title=f"عنوان {n}",
        body=body if body is not None else f"نص الخبر رقم {n}",
        summary=None,
        author=None,
        published_at=T0,
        published_at_source="feed",
        fetched_at=T0 + timedelta(seconds=n),
        language="ar",
        dateline=None,
        attribution=None,
        is_breaking=False,
        tags=["سياسة"],
        word_count=4,
        content_hash=content_hash or f"hash{n}",
        extraction="page",
        raw_html="<html></html>",
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with opened(path) as con:
        sync_feeds(
            con,
            [
                FeedDefinition("one", "http://127.0.0.1:9/one.xml", "One", "ar", None, True),
                FeedDefinition("two", "http://127.0.0.1:9/two.xml", "Two", "ar", None, True),
            ],
        )
        start_run(con, "run1", None, T0)
    return path


@pytest.mark.parametrize("table", sorted(CONTRACT_COLUMNS))
def test_contract_columns_exist(db: Path, table: str) -> None:
    with opened(db) as con:
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    assert set(CONTRACT_COLUMNS[table]) <= set(columns)


def test_schema_has_no_volatile_defaults(db: Path) -> None:
    # Clients attached over Quack cannot bind now()/nextval() defaults.
    with opened(db) as con:
        defaults = con.execute(
            "SELECT column_default FROM duckdb_columns() WHERE column_default IS NOT NULL"
        ).fetchall()
    assert all("now" not in d[0].lower() and "nextval" not in d[0].lower() for d in defaults)


def test_new_file_is_at_current_version_and_reopens(db: Path) -> None:
    with opened(db) as con:
        assert (
            con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == schema_version()
        )
    with opened(db) as con:  # a second open migrates nothing and keeps the rows
        assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == schema_version()


def test_non_duckdb_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(NotAWarehouse, match="not a DuckDB database"):
        connect(path)
    assert path.read_text() == "these are my notes, not a database\n"  # untouched


def test_foreign_duckdb_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (n INTEGER)")
    con.close()
    with pytest.raises(NotAWarehouse, match="other tables"):
        connect(path)


def test_newer_warehouse_is_refused(db: Path) -> None:
    with opened(db) as con:
        con.execute("INSERT INTO schema_version VALUES (999, now())")
    with pytest.raises(NewerWarehouse, match="newer marsad"):
        connect(db)


@pytest.mark.parametrize("append_row_groups", [False, True])
def test_locked_warehouse_names_the_holder(db: Path, append_row_groups: bool) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(db)!r})
                print("held", flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseLocked) as info:
            connect(db, lock_timeout_s=0.3, append_row_groups=append_row_groups)
        assert info.value.pid == holder.pid
        assert f"PID {holder.pid}" in str(info.value)
    finally:
        holder.communicate("\n", timeout=10)


def test_load_batch_writes_everything_in_one_go(db: Path) -> None:
    batch = LoadBatch(
        run_id="run1",
        articles=[article(1), article(2, feed="two")],
        seen_urls=[
            SeenUrl(
                "http://127.0.0.1:9/news/1?utm_source=x", "http://127.0.0.1:9/news/1", "two", T0
            )
        ],
        feed_updates=[
            FeedUpdate(
                "one", T0, 200, None, 0, None, etag='"e1"', last_modified="lm", body_hash="h"
            )
        ],
        errors=[FetchErrorRecord("two", "http://127.0.0.1:9/x", "page", "HTTP 500", T0)],
    )
    with opened(db) as con:
        result = load_batch(con, batch)
    assert (result.articles_new, result.articles_duplicate, result.errors) == (2, 0, 1)
    with opened(db) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
        urls = con.execute(
            "SELECT url, article_id, feed_name FROM article_urls ORDER BY url"
        ).fetchall()
        assert urls == [
            ("http://127.0.0.1:9/news/1", "id0001", "one"),
            ("http://127.0.0.1:9/news/1?utm_source=x", "id0001", "two"),
            ("http://127.0.0.1:9/news/2", "id0002", "two"),
        ]
        one = feed_states(con, ["one"])[0]
        assert (one.etag, one.last_modified, one.articles_total) == ('"e1"', "lm", 1)
        run = run_record(con, "run1")
        assert (run["articles_new"], run["errors"]) == (2, 1)
        assert con.execute("SELECT count(*) FROM raw_pages").fetchone()[0] == 2
        assert con.execute("SELECT tags FROM articles WHERE article_id='id0001'").fetchone()[0] == [
            "سياسة"
        ]


def test_a_pass_appends_in_small_row_groups_and_plain_opens_see_the_same(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass's loads open the file with append_row_groups, so that the checkpoint on close only
    rewrites the last small row group of each indexed table (see APPEND_ROW_GROUP_ROWS); the
    file must read the same to a plain open, under the same catalog name."""
    monkeypatch.setattr(warehouse_db, "APPEND_ROW_GROUP_ROWS", 2048)  # DuckDB's smallest
    with opened(db) as con:
        plain_catalog = con.execute("SELECT current_database()").fetchone()[0]
    loads = [range(1, 1501), range(1501, 3001), range(3001, 4501)]
    for numbers in loads:
        with opened(db, append_row_groups=True) as con:
            assert con.execute("SELECT current_database()").fetchone()[0] == plain_catalog
            load_batch(con, LoadBatch(run_id="run1", articles=[article(n) for n in numbers]))
    with opened(db, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone()[
            :2
        ] == (4500, 4500)
        sizes = con.execute(  # rows per row group, from one column's segments
            "SELECT row_group_id, sum(count) FROM pragma_storage_info('articles') "
            "WHERE column_name = 'fetched_at' AND segment_type <> 'VALIDITY' "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    assert len(sizes) >= 3 and max(rows for _, rows in sizes) <= 2048
    with opened(db) as con:  # the default row groups again: still one table, still unique
        load_batch(con, LoadBatch(run_id="run1", articles=[article(1), article(4501)]))
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 4501


def row_group_sizes(con: duckdb.DuckDBPyConnection, table: str) -> list[int]:
    """Rows per row group of `table`, in order, from one column's segments."""
    return [
        rows
        for _, rows in con.execute(
            f"SELECT row_group_id, sum(count) FROM pragma_storage_info('{table}') "
            "WHERE column_name = 'article_id' AND segment_type <> 'VALIDITY' "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    ]


def test_a_writer_after_a_pass_leaves_its_row_groups_unmerged(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first plain connection that writes after a pass (finish_run, the search refresh)
    must not merge the pass's small row groups into one: DuckDB does that in memory at the
    checkpoint on close, so that closing cost memory in proportion to the pass (+225 MB at
    10,000 articles). Merging stays allowed where it is bounded: among a pass's own small row
    groups, by its loads."""
    monkeypatch.setattr(warehouse_db, "APPEND_ROW_GROUP_ROWS", 2048)
    for first in (1, 2049, 4097):
        with opened(db, append_row_groups=True) as con:
            batch = [article(n) for n in range(first, first + 2048)]
            load_batch(con, LoadBatch(run_id="run1", articles=batch))
    with opened(db, read_only=True) as con:
        loaded = row_group_sizes(con, "articles")
    assert loaded == [2048, 2048, 2048]
    with opened(db) as con:  # as finish_run does: a write elsewhere, then the close
        start_run(con, "run2", None, T0)
        con.execute("UPDATE articles SET title = 'changed' WHERE article_id = 'id0001'")
    with opened(db, read_only=True) as con:
        assert row_group_sizes(con, "articles") == loaded
        assert row_group_sizes(con, "article_fingerprints")[:3] == [2048, 2048, 2048]
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 3 * 2048
        assert (
            con.execute("SELECT title FROM articles WHERE article_id = 'id0001'").fetchone()[0]
            == "changed"
        )


def test_failed_load_saves_no_feed_state(db: Path) -> None:
    broken = article(1)
    broken.extraction = None  # NOT NULL column: the insert fails inside the transaction
    batch = LoadBatch(
        run_id="run1",
        articles=[broken],
        feed_updates=[FeedUpdate("one", T0, 200, None, 0, None, etag='"new"')],
    )
    with pytest.raises(duckdb.Error), opened(db) as con:
        load_batch(con, batch)
    with opened(db) as con:
        assert feed_states(con, ["one"])[0].etag is None
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 0


def test_exact_copies_share_a_cluster_led_by_the_first_seen(db: Path) -> None:
    with opened(db) as con:
        load_batch(con, LoadBatch("run1", articles=[article(1, content_hash="same")]))
        load_batch(
            con,
            LoadBatch(
                "run1", articles=[article(2, content_hash="same"), article(3, content_hash="other")]
            ),
        )
        rows = con.execute(
            "SELECT article_id, cluster_id, duplicate_of FROM articles ORDER BY 1"
        ).fetchall()
        stories = con.execute(
            "SELECT cluster_id, copies, sources FROM stories ORDER BY 1"
        ).fetchall()
        unique = con.execute("SELECT article_id FROM articles_unique ORDER BY 1").fetchall()
    assert rows == [
        ("id0001", "id0001", None),
        ("id0002", "id0001", "id0001"),
        ("id0003", "id0003", None),
    ]
    assert stories == [("id0001", 2, ["One"]), ("id0003", 1, ["One"])]
    assert unique == [("id0001",), ("id0003",)]


def test_copies_within_one_batch_cluster_together(db: Path) -> None:
    with opened(db) as con:
        result = load_batch(
            con,
            LoadBatch(
                "run1", articles=[article(1, content_hash="h"), article(2, content_hash="h")]
            ),
        )
        rows = con.execute("SELECT cluster_id FROM articles ORDER BY article_id").fetchall()
    assert result.articles_duplicate == 1
    assert rows == [("id0001",), ("id0001",)]


def test_known_urls_by_link_or_canonical(db: Path) -> None:
    with opened(db) as con:
        load_batch(con, LoadBatch("run1", articles=[article(1)]))
        known = known_urls(
            con,
            [
                ("http://127.0.0.1:9/news/1", "http://127.0.0.1:9/news/1"),
                ("http://127.0.0.1:9/news/1?fbclid=z", "http://127.0.0.1:9/news/1"),
                ("http://127.0.0.1:9/news/7", "http://127.0.0.1:9/news/7"),
            ],
        )
    assert known == {"http://127.0.0.1:9/news/1", "http://127.0.0.1:9/news/1?fbclid=z"}


def test_reloading_a_known_article_adds_nothing(db: Path) -> None:
    with opened(db) as con:
        load_batch(con, LoadBatch("run1", articles=[article(1)]))
        result = load_batch(con, LoadBatch("run1", articles=[article(1)]))
        assert result.articles_new == 0
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 1


def test_pending_pages_round_trip(db: Path) -> None:
    pending = PendingPage(
        "http://127.0.0.1:9/news/5", "one", {"url": "http://127.0.0.1:9/news/5", "title": "خبر"},
        1, "HTTP 503", T0, T0 + timedelta(minutes=5),
    )  # fmt: skip
    with opened(db) as con:
        load_batch(con, LoadBatch("run1", pending=[pending]))
        assert pending_due(con, ["one"], T0) == []
        due = pending_due(con, ["one"], T0 + timedelta(minutes=6))
        assert [(p.canonical_url, p.attempts, p.entry["title"]) for p in due] == [
            ("http://127.0.0.1:9/news/5", 1, "خبر")
        ]
        load_batch(con, LoadBatch("run1", done_pending=[pending.canonical_url]))
        assert pending_due(con, ["one"], T0 + timedelta(days=1)) == []


def test_sync_feeds_follows_config_but_keeps_moves(db: Path) -> None:
    with opened(db) as con:
        load_batch(
            con,
            LoadBatch(
                "run1",
                feed_updates=[
                    FeedUpdate("one", T0, 200, None, 0, None, url="http://127.0.0.1:9/moved.xml")
                ],
            ),
        )
        defs = [FeedDefinition("one", "http://127.0.0.1:9/one.xml", "One", "ar", None, True)]
        sync_feeds(con, defs)  # same configured URL: the move is kept
        states = {s.name: s for s in feed_states(con)}
        assert states["one"].url == "http://127.0.0.1:9/moved.xml"
        assert states["two"].enabled is False  # no longer configured
        sync_feeds(
            con, [FeedDefinition("one", "http://127.0.0.1:9/new.xml", "One", "ar", None, True)]
        )
        assert feed_states(con, ["one"])[0].url == "http://127.0.0.1:9/new.xml"


ODD_URLS = [
    "http://127.0.0.1:9/news/it's",  # a quote ends an SQL string literal unless doubled
    "http://127.0.0.1:9/news/a\\'); DROP TABLE articles; --",
    "http://127.0.0.1:9/news/خبر-عاجل",
    "http://127.0.0.1:9/news/nul\x00byte",  # cannot be written into a statement at all
]


@pytest.mark.parametrize("url", ODD_URLS)
def test_lookups_by_url_take_any_text_as_data(db: Path, url: str) -> None:
    stored = article(1)
    stored.url = stored.canonical_url = url
    with opened(db) as con:
        load_batch(con, LoadBatch("run1", articles=[stored]))
        known = known_urls(con, [(url, url), (url + "?x", url), ("http://127.0.0.1:9/o", "o")])
        times = stored_entry_times(con, [url, "http://127.0.0.1:9/other"])
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    assert known == {url, url + "?x"}
    assert times == {url: None}


def test_lookups_cover_more_values_than_one_statement_holds(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("warehouse.rows.LOOKUP_CHUNK", 2)
    articles = [article(n) for n in range(1, 8)]
    with opened(db) as con:
        load_batch(con, LoadBatch("run1", articles=articles[:5]))
        result = load_batch(con, LoadBatch("run1", articles=articles))
        known = known_urls(con, [(a.url, a.canonical_url) for a in articles])
    assert result.articles_new == 2
    assert known == {a.url for a in articles}


def test_raw_html_is_stored_compressed_and_pages_stored_before_stay_readable(db: Path) -> None:
    """Migration 004: new pages go to html_zlib; a page stored as text before it (html) is
    still read by re-extraction."""
    from extractors.records import compress_html
    from warehouse.reextract import next_raw_pages

    page = "<html><body><p>" + "نص الخبر كاملا " * 500 + "</p></body></html>"
    old, new = article(1), article(2)
    old.raw_html, new.raw_html = page + "old", page + "new"
    with opened(db) as con:
        load_batch(con, LoadBatch(run_id="r", articles=[old, new], keep_raw_html=True))
        stored = dict(con.execute("SELECT article_id, html_zlib FROM raw_pages").fetchall())
        assert con.execute("SELECT count(*) FROM raw_pages WHERE html IS NULL").fetchone() == (2,)
        assert stored[new.article_id] == compress_html(page + "new")
        assert len(stored[new.article_id]) * 4 < len((page + "new").encode())
        # a page kept by a version before 004, as text
        con.execute(
            "UPDATE raw_pages SET html = ?, html_zlib = NULL WHERE article_id = ?",
            [page + "old", old.article_id],
        )
        pages = {p.article_id: p.html for p in next_raw_pages(con, after=None, limit=10).pages}
    assert pages == {old.article_id: page + "old", new.article_id: page + "new"}


def test_a_pass_appends_strings_without_fsst_and_a_plain_writer_may_use_it(db: Path) -> None:
    """FSST's analysis at each checkpoint cost half of a chunk's close for nothing stored (see
    warehouse.db._APPEND_COMPRESSION): a pass's loads leave it out. The same rows written the
    plain way get it, so the check below would see FSST if the loads still tried it."""
    compressions = {}
    for way in ("append", "plain"):
        with opened(db, append_row_groups=way == "append") as con:
            con.execute(
                f"CREATE TABLE urls_{way} AS SELECT 'http://127.0.0.1:9/news/2026/11/30/the-'"
                " || 'ministerial-meeting-in-baghdad-' || i || '.html' AS url FROM range(5000) r(i)"
            )
        with opened(db, read_only=True) as con:
            compressions[way] = {
                row[0]
                for row in con.execute(
                    f"SELECT DISTINCT compression FROM pragma_storage_info('urls_{way}') "
                    "WHERE segment_type = 'VARCHAR'"
                ).fetchall()
            }
    assert compressions["append"] and "FSST" not in compressions["append"]
    assert "FSST" in compressions["plain"]
