"""The daily maintenance flow, run for real on a small warehouse: it checkpoints, rebuilds the
search index under its own DuckDB cap, and reports the feeds failing for more than a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import warehouse.search
from tests.conftest import duckdb_caps, duckdb_setting, duckdb_threads, write_config
from tests.test_warehouse import article
from warehouse import search_refresh
from warehouse.db import opened
from warehouse.feeds import FeedDefinition, sync_feeds
from warehouse.load import LoadBatch, load_batch
from warehouse.search import has_index


@pytest.mark.integration
def test_maintenance_rebuilds_search_under_its_cap_and_reports_failing_feeds(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.maintenance import maintenance

    db = tmp_path / "marsad.duckdb"
    feeds = [
        FeedDefinition("one", "http://127.0.0.1:9/one.xml", "One", "ar", None, True),
        FeedDefinition("two", "http://127.0.0.1:9/two.xml", "Two", "ar", None, True),
    ]
    failing_since = datetime.now(UTC) - timedelta(days=2)
    with opened(db) as con:
        sync_feeds(con, feeds)
        load_batch(con, LoadBatch(run_id="r", articles=[article(n) for n in range(1, 4)]))
        con.execute(
            "UPDATE feeds SET consecutive_failures = 5, failing_since = ?, last_error = 'HTTP 503' "
            "WHERE name = 'two'",
            [failing_since],
        )
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=[])
    seen: list[tuple] = []
    real_refresh = warehouse.search.refresh_search_index

    def spy(con: duckdb.DuckDBPyConnection, **kwargs: bool) -> object:
        seen.append(duckdb_caps(con))
        return real_refresh(con, **kwargs)

    threads = duckdb_threads() + 1  # neither is DuckDB's own setting on this machine
    monkeypatch.setattr(warehouse.search, "refresh_search_index", spy)
    monkeypatch.setattr(search_refresh, "REBUILD_MEMORY_LIMIT", "200MB")
    monkeypatch.setattr(search_refresh, "REBUILD_THREADS", threads)

    report = maintenance(config_path=str(config), db_path=str(db))

    assert seen == [(duckdb_setting("memory_limit", "200MB"), threads)]
    assert report["tables"]["articles"] == 3 and report["tables"]["feeds"] == 2
    assert "articles=3" in report["search_index"] and "full=True" in report["search_index"]
    assert [f["feed"] for f in report["failing_feeds"]] == ["two"]
    assert report["failing_feeds"][0]["last error"] == "HTTP 503"
    with duckdb.connect(str(db), read_only=True) as con:
        assert has_index(con)
        assert con.execute("SELECT count(*) FROM search_index_articles").fetchone() == (3,)
