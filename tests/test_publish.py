"""The published copy: a complete, atomically replaced snapshot that old readers keep."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import duckdb
import pytest

from tests.test_sql_clients import duckdb_cli
from warehouse import publish as publish_module
from warehouse.db import WarehouseLocked, connect
from warehouse.publish import PublishError, publish
from warehouse.search import refresh_search_index, search

T0 = datetime(2025, 2, 27, 9, 0, tzinfo=UTC)


def add_article(con: duckdb.DuckDBPyConnection, n: int, title: str) -> None:
    url = f"http://127.0.0.1:9/{n}"
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, source, title, body, published_at,"
        " fetched_at, updated_at, extraction, cluster_id) VALUES (?, ?, ?, 'بغداد اليوم', ?,"
        " 'وفد أمنى عراقي يصل دمشق', ?, ?, ?, 'page', ?)",
        [f"id{n}", url, url, title, T0, T0, T0, f"id{n}"],
    )


def test_the_copy_holds_tables_views_and_the_search_index(tmp_path: Path) -> None:
    db, published = tmp_path / "marsad.duckdb", tmp_path / "pub" / "marsad.duckdb"
    con = connect(db)
    add_article(con, 1, "وفد أمنى عراقي")
    refresh_search_index(con, full=True)
    con.close()
    result = publish(db, published)
    assert result.path == published and result.bytes == published.stat().st_size > 0
    assert sorted(p.name for p in published.parent.iterdir()) == ["marsad.duckdb"]
    copy = connect(published, read_only=True)
    assert copy.execute("SELECT title, copies FROM stories").fetchall() == [("وفد أمنى عراقي", 1)]
    assert [h.article_id for h in search(copy, "أمني")] == ["id1"]
    assert copy.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'fts_main_search_documents'"
    ).fetchone() == (1,)
    copy.close()


def test_a_reader_keeps_its_copy_while_new_readers_see_the_next(tmp_path: Path) -> None:
    db, published = tmp_path / "marsad.duckdb", tmp_path / "marsad-published.duckdb"
    con = connect(db)
    add_article(con, 1, "الأول")
    publish(con, published)
    reader = duckdb.connect(str(published), read_only=True)  # e.g. a GUI client left open
    add_article(con, 2, "الثاني")
    publish(con, published)  # the writer's own connection: no second open of the warehouse
    assert reader.execute("SELECT count(*) FROM articles").fetchone() == (1,)
    fresh = subprocess.run(
        [duckdb_cli(), "-readonly", "-list", "-noheader", str(published), "-c",
         "SELECT string_agg(title, ' ' ORDER BY article_id) FROM articles"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert fresh.stdout.strip() == "الأول الثاني"
    reader.close()
    con.close()


def test_publishing_holds_the_warehouse_only_for_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "marsad.duckdb"
    connect(db).close()
    publish(db, tmp_path / "a.duckdb")
    writer = connect(db, lock_timeout_s=0)  # the path form closed its read-only connection
    writer.close()
    holder = subprocess.Popen(  # a pass in another process, holding the file
        [sys.executable, "-c",
         "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(publish_module, "connect", partial(connect, lock_timeout_s=0.2))
        with pytest.raises(WarehouseLocked) as locked:  # waits, then names the holder
            publish(db, tmp_path / "b.duckdb")
        assert locked.value.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_failures_are_clear_and_leave_no_partial_file(tmp_path: Path) -> None:
    db = tmp_path / "marsad.duckdb"
    con = connect(db)
    with pytest.raises(PublishError, match="cannot be the warehouse"):
        publish(db, db)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PublishError, match="cannot write there"):
        publish(con, blocker / "copy.duckdb")
    target = tmp_path / "dir-in-the-way"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(PublishError, match="publishing the copy failed"):
        publish(con, target)
    left = sorted(name for name in os.listdir(tmp_path) if not name.endswith(".wal"))
    assert left == ["dir-in-the-way", "file", "marsad.duckdb"]
    con.close()
