"""Shared fixtures: the local fixture site, a Prefect test server, configuration files, and
readers of DuckDB settings.

Nothing here talks to any address outside 127.0.0.0/8.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")

from flows.fixture_site import SAMPLE_SITE_ROOT, FixtureSite

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def sample_site() -> Iterator[FixtureSite]:
    """The bundled sample site, served on 127.0.0.1 for one test."""
    with FixtureSite(SAMPLE_SITE_ROOT) as site:
        yield site


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server for the session (a subprocess on 127.0.0.1, temporary SQLite);
    yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def write_config(
    path: Path,
    *,
    db: Path,
    feeds: list[dict],
    fetch: dict | None = None,
    warehouse: dict | None = None,
) -> Path:
    """Write a marsad.toml with the given feeds; fetching allows 127.0.0.1 by default."""
    lines = ["[warehouse]", f'path = "{db.as_posix()}"']
    for key, value in (warehouse or {}).items():
        lines.append(f"{key} = {_toml(value)}")
    lines += ["", "[fetch]"]
    fetch = {"allow_private": ["127.0.0.1"], "timeout_s": 5, "retries": 0, **(fetch or {})}
    for key, value in fetch.items():
        lines.append(f"{key} = {_toml(value)}")
    for feed in feeds:
        lines += ["", "[[feeds]]"]
        lines += [f"{key} = {_toml(value)}" for key, value in feed.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sample_feeds(site: FixtureSite) -> list[dict]:
    return [
        {
            "name": "aljazeera",
            "url": f"{site.base_url}/feeds/aljazeera.xml",
            "source": "Al Jazeera",
            "timezone": "Asia/Qatar",
        },
        {
            "name": "baghdadtoday",
            "url": f"{site.base_url}/feeds/baghdadtoday.xml",
            "source": "Baghdad Al-Youm",
            "timezone": "Asia/Baghdad",
        },
    ]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def duckdb_caps(con: duckdb.DuckDBPyConnection) -> tuple[str, int]:
    """The memory limit and thread count `con` runs under, as DuckDB shows them."""
    row = con.execute("SELECT current_setting('memory_limit'), current_setting('threads')")
    return row.fetchone()  # type: ignore[return-value]


def duckdb_threads() -> int:
    """DuckDB's own thread count on this machine (one per core)."""
    con = duckdb.connect()
    try:
        return duckdb_caps(con)[1]
    finally:
        con.close()


def duckdb_setting(name: str, value: str) -> str:
    """How DuckDB shows `value` once set as `name` (e.g. 48MB as "45.7 MiB")."""
    con = duckdb.connect()
    try:
        con.execute(f"SET {name} = '{value}'")
        return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
