"""`marsad export`: Parquet partitioned by source and day, JSON Lines and CSV, read back exactly.

The texts are real Arabic fixtures (tests/fixtures/arabic, see its README.md) plus the
characters exports tend to break: quotes, commas, newlines, RLM/ZWNJ, harakat and tatweel.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from warehouse.db import connect
from warehouse.export import ExportError, export_articles

ARABIC = Path(__file__).parent / "fixtures" / "arabic"
T0 = datetime(2025, 2, 26, 21, 30, tzinfo=UTC)
TRICKY = 'قال: "نعم، سنفعل"\n\nسطر ثانٍ\u200f مع ZWNJ\u200c و«اقتباس» وتَشْكِيل والعـــراق; a,b'
SOURCES = ("Al Jazeera", "بغداد اليوم", "CNN Arabic")


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(tmp_path / "export.duckdb")
    bodies = [
        (ARABIC / "cnn-arabic.txt").read_text(encoding="utf-8"),
        (ARABIC / "almadenahnews.txt").read_text(encoding="utf-8"),
        TRICKY,
        None,
    ]
    for n in range(8):
        url = f"http://127.0.0.1:9/{n}"
        when = T0 + timedelta(hours=6 * n)  # over three days
        con.execute(
            "INSERT INTO articles (article_id, url, canonical_url, source, title, body, tags,"
            " published_at, fetched_at, updated_at, is_breaking, word_count, extraction)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'page')",
            [
                f"id{n}", url, url, SOURCES[n % 3], f"عنوان «{n}»، مع فاصلة", bodies[n % 4],
                ["العراق", "طاقة"] if n % 2 else None, None if n == 7 else when, when, when,
                n == 3, 100 + n,
            ],
        )  # fmt: skip
    yield con
    con.close()


def stored(con: duckdb.DuckDBPyConnection, since: date | None = None) -> dict[str, tuple]:
    rows = con.execute(
        "SELECT article_id, source, title, body, tags, published_at, is_breaking, word_count"
        " FROM articles WHERE ? IS NULL OR CAST(coalesce(published_at, fetched_at) AS DATE) >= ?",
        [since, since],
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_parquet_is_partitioned_by_source_and_day_and_reads_back_exactly(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = export_articles(warehouse, tmp_path / "out", "parquet")
    assert result.articles == 8 and result.path == tmp_path / "out" / "articles"
    partitions = {
        p.parent.relative_to(result.path).as_posix() for p in result.path.rglob("*.parquet")
    }
    assert "source=Al%20Jazeera/day=2025-02-26" in partitions
    assert any(p.startswith("source=") and "day=2025-02-28" in p for p in partitions)
    assert len({p.split("/")[0] for p in partitions}) == 3
    back = warehouse.execute(
        f"SELECT article_id, source, title, body, tags, published_at, is_breaking, word_count, day"
        f" FROM read_parquet('{result.path}/**/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert {row[0]: row[1:8] for row in back} == stored(warehouse)
    assert {row[1] for row in back} == set(SOURCES)  # the Arabic source name survives its path
    assert all(str(row[8]) == str((row[5] or T0 + timedelta(hours=42)).date()) for row in back)


def test_jsonl_reads_back_exactly(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    result = export_articles(warehouse, tmp_path, "jsonl")
    lines = result.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8
    records = {r["article_id"]: r for r in map(json.loads, lines)}
    for article_id, (source, title, body, tags, published, breaking, words) in stored(
        warehouse
    ).items():
        record = records[article_id]
        assert (record["source"], record["title"], record["body"]) == (source, title, body)
        assert record["tags"] == tags and record["is_breaking"] is breaking
        assert record["word_count"] == words
        if published is not None:
            assert datetime.fromisoformat(record["published_at"]) == published
    assert TRICKY in {r["body"] for r in records.values()}


def test_csv_reads_back_exactly(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    result = export_articles(warehouse, tmp_path, "csv")
    with result.path.open(encoding="utf-8", newline="") as handle:
        rows = {row["article_id"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 8
    for article_id, (source, title, body, tags, *_rest) in stored(warehouse).items():
        row = rows[article_id]
        assert (row["source"], row["title"]) == (source, title)
        assert row["body"] == (body if body is not None else "")
        assert (json.loads(row["tags"]) if row["tags"] else None) == tags


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_since_keeps_the_days_from_that_date(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path, fmt: str
) -> None:
    since = date(2025, 2, 28)
    result = export_articles(warehouse, tmp_path / "out", fmt, since)  # type: ignore[arg-type]
    assert result.articles == len(stored(warehouse, since)) == 3


def test_a_second_export_replaces_the_first_whole(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    export_articles(warehouse, tmp_path / "out", "parquet")
    result = export_articles(warehouse, tmp_path / "out", "parquet", date(2025, 2, 28))
    days = {p.parent.name for p in result.path.rglob("*.parquet")}
    assert days == {"day=2025-02-28"}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["articles"]  # nothing left aside


def test_an_unwritable_directory_is_a_clear_error(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ExportError, match="cannot write the export there"):
        export_articles(warehouse, blocker / "out", "jsonl")


def test_marsad_export_writes_and_reports(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse.close()
    db = str(tmp_path / "export.duckdb")
    out = tmp_path / "out"
    args = ["export", "--db", db, "--out", str(out), "--format", "jsonl", "--since", "2025-02-28"]
    assert main(args) == 0
    assert f"3 articles exported to {out / 'articles.jsonl'} (jsonl)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["export", "--db", db, "--out", str(out), "--since", "27/02/2025"])
    assert "is not a date of the form YYYY-MM-DD" in capsys.readouterr().err
