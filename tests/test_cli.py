"""The real `marsad` command line, run as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import write_config

REPO = Path(__file__).resolve().parents[1]


def marsad(
    *args: str, api_url: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARSAD_")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["COLUMNS"] = "200"
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=300,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_one_sentence(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0]


def test_bad_config_exits_2_with_one_sentence(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[warehouse]\npath = "x.duckdb"\n[fetch]\ntimeout = 3\n')
    result = marsad("run", "--config", str(config))
    assert result.returncode == 2
    assert_one_sentence(result.stderr, str(config), "fetch.timeout")


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = marsad("run", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert_one_sentence(result.stderr, "nope.toml", "not found")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = marsad("run", "--config", str(tmp_path / "nope.toml"), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_non_duckdb_db_exits_2_and_is_untouched(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("not a database")
    config = write_config(tmp_path / "m.toml", db=tmp_path / "w.duckdb", feeds=[])
    result = marsad("run", "--config", str(config), "--db", str(db))
    assert result.returncode == 2
    assert_one_sentence(result.stderr, str(db), "not a DuckDB database")
    assert db.read_text() == "not a database"


def test_sql_on_a_non_duckdb_file_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "notes.duckdb"
    db.write_text("not a database")
    result = marsad("sql", "--db", str(db), "--config", str(REPO / "marsad.toml"), "select 1")
    assert result.returncode == 2
    assert_one_sentence(result.stderr, str(db))


@pytest.mark.integration
def test_unreachable_feed_is_recorded_and_the_pass_exits_0(
    prefect_server: str, tmp_path: Path
) -> None:
    db = tmp_path / "w.duckdb"
    url = f"http://127.0.0.1:{closed_port()}/rss.xml"
    config = write_config(tmp_path / "m.toml", db=db, feeds=[{"name": "down", "url": url}])
    result = marsad("run", "--config", str(config), api_url=prefect_server)
    assert result.returncode == 0, result.stderr
    assert "down" in result.stdout and "failed" in result.stdout
    con = duckdb.connect(str(db), read_only=True)
    try:
        errors = con.execute("SELECT feed_name, url, stage, error FROM fetch_errors").fetchall()
        assert [(e[0], e[1], e[2]) for e in errors] == [("down", url, "feed")]
        assert "could not connect" in errors[0][3]
        feed = con.execute(
            "SELECT last_status, last_error, consecutive_failures FROM feeds"
        ).fetchone()
        assert feed[0] is None and "could not connect" in feed[1] and feed[2] == 1
    finally:
        con.close()
    listing = marsad("feeds", "list", "--config", str(config))
    assert listing.returncode == 0
    assert "down" in listing.stdout and "failing" in listing.stdout


@pytest.mark.integration
def test_demo_then_sql(prefect_server: str, tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    demo = marsad("demo", "--db", str(db), api_url=prefect_server, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    query = "select source, count(*) as n from articles group by 1 order by 1"
    result = marsad("sql", "--db", str(db), query, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Al Jazeera" in result.stdout and "Baghdad Al-Youm" in result.stdout
    con = duckdb.connect(str(db), read_only=True)
    try:
        counts = dict(con.execute(query).fetchall())
    finally:
        con.close()
    assert all(n > 0 for n in counts.values())
    assert f"({len(counts)} rows)" in result.stdout


class LockHolder:
    """Another process holding the warehouse open read-write, as a SQL client might."""

    def __init__(self, db: Path) -> None:
        code = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); sys.stdin.readline()"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.process.communicate("\n", timeout=30)


def test_locked_warehouse_exits_2_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    config = write_config(tmp_path / "m.toml", db=db, feeds=[], warehouse={"lock_timeout_s": 0.5})
    holder = LockHolder(db)
    try:
        result = marsad("run", "--config", str(config))
    finally:
        holder.release()
    assert result.returncode == 2
    assert_one_sentence(result.stderr, str(db), f"PID {holder.process.pid}")


@pytest.mark.integration
def test_lock_taken_mid_pass_fails_the_load_and_loses_nothing(
    prefect_server: str,
    sample_site,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from flows.fixture_site import Fault
    from tests.conftest import sample_feeds
    from tests.test_ingest_flow import feed_items

    db = tmp_path / "w.duckdb"
    config = write_config(
        tmp_path / "m.toml", db=db, feeds=sample_feeds(sample_site), warehouse={"lock_timeout_s": 1}
    )
    sample_site.set_fault("/aljazeera/news/*", Fault(delay_s=1.5))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARSAD_")}
    env.update(PREFECT_API_URL=prefect_server, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    run = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not sample_site.requests_for("/aljazeera/news/") and time.monotonic() < deadline:
        time.sleep(0.05)
    holder = LockHolder(db)  # taken while the pass fetches pages, before it loads
    try:
        _out, err = run.communicate(timeout=180)
    finally:
        holder.release()
    assert run.returncode == 2, err
    assert_one_sentence(err, "locked by another process", f"PID {holder.process.pid}")

    sample_site.set_fault("/aljazeera/news/*", None)
    again = marsad("run", "--config", str(config), api_url=prefect_server)
    assert again.returncode == 0, again.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        per_url = con.execute("SELECT count(*) FROM articles GROUP BY canonical_url").fetchall()
        feeds = con.execute("SELECT count(*) FROM feeds WHERE etag IS NOT NULL").fetchone()[0]
    finally:
        con.close()
    assert len(per_url) == len(feed_items(sample_site))
    assert all(n == 1 for (n,) in per_url)
    assert feeds == 2
