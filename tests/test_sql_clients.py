"""Real SQL clients on the warehouse: the duckdb CLI, SQLAlchemy with duckdb-engine (what BI
tools use) running the documented example queries, and DuckDB attached over Quack to
`marsad serve-sql` while a pass writes through the server."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import sqlalchemy

from extractors.records import Article
from warehouse.db import WarehouseLocked, connect
from warehouse.extensions import load_extension
from warehouse.feeds import FeedDefinition, sync_feeds
from warehouse.load import LoadBatch, load_batch, start_run
from warehouse.publish import publish
from warehouse.search import refresh_search_index, search
from warehouse.sql_server import (
    ServedConnection,
    ServerInfo,
    opened_for_reading,
    opened_shared,
    registration_path,
    running_server,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 2, 26, 14, 30, tzinfo=UTC)


def duckdb_cli() -> str:
    """The duckdb command-line client from the duckdb-cli package (a dev dependency)."""
    found = Path(sys.executable).with_name("duckdb")
    path = str(found) if found.exists() else shutil.which("duckdb")
    assert path, "the duckdb CLI is missing: install the dev extras (the duckdb-cli package)"
    return path


def marsad_command() -> str:
    return str(Path(sys.executable).with_name("marsad"))


def article(n: int, source: str, title: str, body: str, when: datetime, **kw: object) -> Article:
    url = f"http://127.0.0.1:9/{n}"
    return Article(
        article_id=f"id{n:03d}", url=url, canonical_url=url, feed_name=source.lower()[:5],
        source=source, title=title, body=body, summary=None, author=None, published_at=when,
        published_at_source="feed", fetched_at=when, language="ar", dateline=None,
        attribution=None, is_breaking=False, tags=["طاقة"], word_count=len(body.split()),
        content_hash=kw.get("content_hash", f"h{n}"), extraction="page",  # type: ignore[arg-type]
    )  # fmt: skip


SOLAR = "وقّعت وزارة الكهرباء العراقية اتفاقا لإنشاء محطات للطاقة الشمسية بقدرة ألف ميغاواط."


def demo_batch(run_id: str) -> LoadBatch:
    """Two outlets over three days; the solar story carried by both (same content hash)."""
    articles = [
        article(1, "Al Jazeera", "العراق يوقع اتفاقا لإنشاء محطات طاقة شمسية", SOLAR, T0,
                content_hash="solar"),
        article(2, "Baghdad Al-Youm", "العراق يوقع اتفاقاً لإنشاء محطات طاقة شمسية", SOLAR,
                T0 + timedelta(hours=17), content_hash="solar"),
        article(3, "Baghdad Al-Youm", "افتتاح مستشفى تخصصي في الناصرية", "افتتح مستشفى.",
                T0 - timedelta(days=1)),
        article(4, "Al Jazeera", "زلزال يضرب جنوب إيران", "ضرب زلزال جنوب إيران.",
                T0 + timedelta(days=1)),
    ]  # fmt: skip
    return LoadBatch(run_id=run_id, articles=articles)


@pytest.fixture
def demo_warehouse(tmp_path: Path) -> Path:
    db = tmp_path / "demo.duckdb"
    con = connect(db)
    sync_feeds(
        con,
        [
            FeedDefinition("aljazeera", "http://127.0.0.1:9/aj.xml", "Al Jazeera", "ar", None,
                           True),
            FeedDefinition("baghdadtoday", "http://127.0.0.1:9/bt.xml", "Baghdad Al-Youm", "ar",
                           None, True),
        ],
    )  # fmt: skip
    start_run(con, "run1", None, T0)
    load_batch(con, demo_batch("run1"))
    con.close()
    return db


def documented_queries() -> list[str]:
    """Every ```sql block of the README: the analysts' example queries."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [q.strip() for q in re.findall(r"```sql\n(.*?)```", text, re.S)]


def test_the_duckdb_cli_reads_the_warehouse_file(demo_warehouse: Path) -> None:
    result = subprocess.run(
        [duckdb_cli(), "-readonly", "-json", str(demo_warehouse), "-c",
         "SELECT title, sources, copies FROM stories ORDER BY copies DESC, title LIMIT 1"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert json.loads(result.stdout) == [
        {
            "title": "العراق يوقع اتفاقا لإنشاء محطات طاقة شمسية",
            "sources": ["Al Jazeera", "Baghdad Al-Youm"],
            "copies": 2,
        }
    ]


def test_sqlalchemy_with_duckdb_engine_runs_the_documented_queries(demo_warehouse: Path) -> None:
    queries = documented_queries()
    assert len(queries) >= 4, "the analysts' example queries are missing from the docs"
    engine = sqlalchemy.create_engine(
        f"duckdb:///{demo_warehouse}", connect_args={"read_only": True}
    )
    with engine.connect() as connection:
        for query in queries:
            rows = connection.execute(sqlalchemy.text(query)).fetchall()
            assert rows, f"no rows on the test warehouse for:\n{query}"
    engine.dispose()


def test_the_schema_has_no_non_constant_defaults(demo_warehouse: Path) -> None:
    """Quack clients (1.5.5) cannot attach a catalog with DEFAULT now() or nextval()."""
    con = connect(demo_warehouse, read_only=True)
    defaults = con.execute(
        "SELECT table_name, column_name, column_default FROM duckdb_columns() "
        "WHERE database_name = current_database() AND column_default IS NOT NULL"
    ).fetchall()
    con.close()
    literal = re.compile(r"^(CAST\()?('[^']*'|-?\d+(\.\d+)?|true|false|NULL)( AS \w+\))?$", re.I)
    assert [d for d in defaults if not literal.match(d[2])] == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(demo_warehouse: Path) -> Iterator[tuple[ServerInfo, subprocess.Popen[str]]]:
    """`marsad serve-sql` on the demo warehouse, in its own process."""
    for name in ("quack", "httpfs"):  # into DuckDB's extension directory, for the duckdb CLI
        load_extension(duckdb.connect(), name, allow_download=False)
    port, token = free_port(), "test-token-" + "x" * 12
    server = subprocess.Popen(
        [marsad_command(), "serve-sql", "--db", str(demo_warehouse), "--port", str(port),
         "--token", token],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    deadline, lines = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        lines.append(line)
        if "Ctrl-C stops it" in line or not line:
            break
    info = running_server(demo_warehouse)
    assert info is not None, "".join(lines)
    assert info.pid == server.pid and info.port == port and info.token == token
    assert f"Token: {token}" in "".join(lines) and info.client_sql() in "".join(lines)
    try:
        yield info, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def quack_count(info: ServerInfo) -> int:
    """A second DuckDB process (the CLI) attached over Quack counts the articles."""
    sql = f"LOAD quack; LOAD httpfs; {info.client_sql().splitlines()[1]} " + (
        "SELECT count(*) FROM marsad.articles;"
    )
    result = subprocess.run(
        [duckdb_cli(), "-csv", "-noheader", "-c", sql],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.integration
def test_a_pass_writes_through_serve_sql_while_a_quack_client_reads(
    demo_warehouse: Path, served: tuple[ServerInfo, subprocess.Popen[str]]
) -> None:
    info, server = served
    with pytest.raises(WarehouseLocked) as locked:  # the server holds the file ...
        connect(demo_warehouse, lock_timeout_s=0.2)
    assert locked.value.pid == server.pid
    assert quack_count(info) == 4
    with opened_shared(demo_warehouse) as con:  # ... so a pass writes through it
        assert isinstance(con, ServedConnection)
        start_run(con, "run2", None, T0)
        for n in (10, 20):
            batch = LoadBatch(
                run_id="run2",
                articles=[article(n + i, "Al Jazeera", f"خبر {n + i}", "نص عن دمشق", T0)
                          for i in range(3)],
            )  # fmt: skip
            assert load_batch(con, batch).articles_new == 3
            assert quack_count(info) == 4 + n // 10 * 3  # the reader sees each committed batch
        assert refresh_search_index(con).articles == 10  # what a pass calls after loading ...
        copy = publish(con, demo_warehouse.with_name("published.duckdb"))  # ... and this
        assert copy.bytes > 0
        con.execute("BEGIN TRANSACTION")
        load_batch_rolled_back = con.execute("DELETE FROM articles WHERE article_id = 'id010'")
        assert load_batch_rolled_back.fetchone() == (1,)
        con.execute("ROLLBACK")
    assert quack_count(info) == 10
    with opened_for_reading(demo_warehouse) as reader:
        assert {h.article_id for h in search(reader, "دمشق", 20)} >= {"id010", "id022"}
        reader.execute("DELETE FROM articles")  # a read-only session: rolled back on close
    assert quack_count(info) == 10
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0
    assert not registration_path(demo_warehouse).exists()
    con = connect(demo_warehouse, lock_timeout_s=5)  # the file is free again
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (10,)
    con.close()
    published = connect(demo_warehouse.with_name("published.duckdb"), read_only=True)
    assert published.execute("SELECT count(*) FROM articles").fetchone() == (10,)
    published.close()


def test_a_stale_registration_is_ignored(demo_warehouse: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    registration_path(demo_warehouse).write_text(
        json.dumps({"database": str(demo_warehouse), "pid": int(dead.stdout), "host": "127.0.0.1",
                    "port": 9, "token": "t"}),
    )  # fmt: skip
    assert running_server(demo_warehouse) is None
    with opened_shared(demo_warehouse) as con:
        assert isinstance(con, duckdb.DuckDBPyConnection)
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (4,)
