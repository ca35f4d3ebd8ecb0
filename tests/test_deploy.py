"""Deployments: docker-compose.yml and prefect.yaml checked statically, and both ways of running
marsad unattended exercised against real Prefect servers and the local fixture site."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from flows.fixture_site import FixtureSite
from tests.conftest import sample_feeds, write_config

REPO = Path(__file__).resolve().parents[1]
MARSAD_ENV = re.compile(r"^MARSAD_(CONFIG|DB|[A-Z0-9]+__[A-Z0-9_]+)$")
POSTGRES_IMAGE_ENV = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def prefect_yaml() -> dict:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())


def test_compose_has_postgres_server_and_worker_with_health_checks() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "prefect-server", "worker"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"], name
    server = services["prefect-server"]
    assert server["command"][:3] == ["prefect", "server", "start"]
    url = server["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    worker = services["worker"]
    assert worker["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    command = " ".join(worker["command"])
    assert "prefect work-pool create marsad --type process" in command
    assert "deploy --all" in command and "prefect worker start --pool marsad" in command
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert any(v.startswith("warehouse:") for v in worker["volumes"])
    assert worker["environment"]["MARSAD_DB"].startswith("/data/")


def test_every_compose_environment_variable_is_read_by_someone() -> None:
    import prefect.settings

    from flows.config import _SECTIONS

    for name, service in compose()["services"].items():
        for variable in service.get("environment", {}):
            if name == "postgres":
                assert variable in POSTGRES_IMAGE_ENV
            elif variable.startswith("PREFECT_"):
                assert hasattr(prefect.settings, variable), f"Prefect has no setting {variable}"
            else:
                match = MARSAD_ENV.match(variable)
                assert match, f"{variable} is read by neither marsad nor Prefect"
                if "__" in variable:
                    section, key = variable.removeprefix("MARSAD_").lower().split("__")
                    assert key in _SECTIONS[section]


def test_prefect_yaml_declares_both_deployments_without_overlap() -> None:
    from flows.schedule import parse_schedule

    deployments = {d["name"]: d for d in prefect_yaml()["deployments"]}
    assert set(deployments) == {"scheduled", "daily"}
    for deployment in deployments.values():
        path, function = deployment["entrypoint"].split(":")
        assert (REPO / path).exists()
        assert f"def {function}(" in (REPO / path).read_text()
        assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        assert deployment["work_pool"]["name"] == "marsad"
        for schedule in deployment["schedules"]:
            assert parse_schedule(schedule["cron"]).cron
    assert deployments["scheduled"]["parameters"] == {"due_only": True}


# --- integration: real Prefect servers ------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARSAD_", "PREFECT_"))}
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200", **extra})
    return env


def _client(api_url: str):  # type: ignore[no-untyped-def]
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    class _Ctx:
        def __enter__(self):  # type: ignore[no-untyped-def]
            self._settings = temporary_settings({PREFECT_API_URL: api_url})
            self._settings.__enter__()
            self._client = get_client(sync_client=True)
            return self._client.__enter__()

        def __exit__(self, *exc):  # type: ignore[no-untyped-def]
            self._client.__exit__(*exc)
            self._settings.__exit__(*exc)

    return _Ctx()


def _wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _run_deployment_and_wait(api_url: str, name: str, timeout_s: float = 240):  # type: ignore[no-untyped-def]
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        return run_deployment(name=name, timeout=timeout_s)


def _articles(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        con.close()


# `python -m flows.cli`, with Ctrl-C (SIGINT) handled as in a terminal even when the test suite
# itself was started with SIGINT ignored (a background job of a shell: its children inherit
# that, and Python then installs no handler).
YEARLY = "0 0 1 1 *"  # midnight on January 1st
CTRL_C_REACHES = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'marsad'; runpy.run_module('flows.cli', run_name='__main__', alter_sys=True)"
)


@pytest.mark.integration
def test_serve_starts_its_own_server_registers_schedules_and_runs(
    sample_site: FixtureSite, tmp_path: Path
) -> None:
    db = tmp_path / "data" / "marsad.duckdb"
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=sample_feeds(sample_site))
    # A schedule that does not fire while the test runs: with the default (every 15 minutes), a
    # quarter-hour passing during the test started a scheduled run, and the deployment's
    # no-overlap limit cancelled the test's own run.
    with config.open("a", encoding="utf-8") as toml:
        toml.write(f'\n[schedule]\ningest = "{YEARLY}"\n')
    serve = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_REACHES, "serve", "--config", str(config)],
        cwd=REPO,
        env=_env(PREFECT_HOME=str(tmp_path / "prefect-home")),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = _wait_for(lambda: serve.stdout.readline(), 240, "serve to start")
        while "Prefect API at" not in line:
            line = serve.stdout.readline()
            assert line, "serve exited before starting"
        api_url = re.search(r"Prefect API at (\S+);", line).group(1)
        assert api_url.startswith("http://127.0.0.1:")
        assert (db.parent / "prefect").is_dir()  # the server's home is beside the warehouse

        with _client(api_url) as client:

            def deployments():  # type: ignore[no-untyped-def]
                found = {d.name: d for d in client.read_deployments()}
                return found if {"scheduled", "daily"} <= set(found) else None

            found = _wait_for(deployments, 120, "deployments")
            ingest = found["scheduled"]
            assert ingest.parameters["due_only"] is True
            assert [s.schedule.cron for s in ingest.schedules] == [YEARLY]
            assert all(s.active for s in ingest.schedules)
            assert ingest.global_concurrency_limit.limit == 1
            assert [s.schedule.cron for s in found["daily"].schedules] == ["30 3 * * *"]
            from flows.serve import ZOMBIE_AUTOMATION

            assert client.read_automations_by_name(ZOMBIE_AUTOMATION)

        run = _run_deployment_and_wait(api_url, "ingest/scheduled")
        assert run.state.is_completed(), run.state
        assert _articles(db) > 0
    finally:
        serve.send_signal(signal.SIGINT)
        asked = time.monotonic()
        killed = False
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            killed = True
            serve.kill()
            serve.wait()
        took = time.monotonic() - asked
    # serve stopped its own server; its schedules were left active (pause_on_shutdown=False).
    import urllib.request

    try:
        urllib.request.urlopen(f"{api_url}/health", timeout=2)
    except OSError:
        return
    said = (serve.stdout.read() or "")[-4000:]  # type: ignore[union-attr]
    log = db.parent / "prefect" / "server.log"
    server_log = log.read_text(errors="replace")[-4000:] if log.exists() else "(none)"
    pytest.fail(
        f"the server still answers after serve ended (killed: {killed}, {took:.1f} s after "
        f"SIGINT)\n--- serve, last output ---\n{said}\n--- server.log ---\n{server_log}"
    )


# A server that starts a process of its own, in small: a parent that starts a child listening on
# 127.0.0.1, prints the child's port, and sleeps. Only a signal to the whole group reaches both.
LISTENING_CHILD = (
    "import socket, time\n"
    "s = socket.socket()\n"
    "s.bind(('127.0.0.1', 0))\n"
    "s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "deadline = time.monotonic() + 120\n"
    "while time.monotonic() < deadline:\n"
    "    s.accept()[0].close()\n"
)
PARENT = (
    "import subprocess, sys, time\n"
    f"child = subprocess.Popen([sys.executable, '-c', {LISTENING_CHILD!r}],"
    " stdout=subprocess.PIPE, text=True)\n"
    "print(child.stdout.readline().strip(), flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups (POSIX)")
def test_stopping_the_server_stops_its_children_too() -> None:
    import socket

    from flows.prefect_server import stop_session, wait_closed

    process = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    port = int(process.stdout.readline())  # type: ignore[union-attr]
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the child answers
    stop_session(process, timeout_s=10)
    assert process.returncode is not None
    assert wait_closed("127.0.0.1", port, timeout_s=10)


POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres(statement: str) -> bool:
    """Run one statement on the local PostgreSQL; False when none answers at 127.0.0.1:5432."""
    import asyncio

    import asyncpg

    async def run() -> bool:
        try:
            con = await asyncpg.connect(POSTGRES_ADMIN, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        try:
            await con.execute(statement)
        finally:
            await con.close()
        return True

    return asyncio.run(run())


@pytest.fixture
def prefect_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for a Prefect server when PostgreSQL answers (as in CI);
    None otherwise, and the server then uses its SQLite default."""
    name = f"marsad_prefect_{os.getpid()}"
    if not _postgres(f'DROP DATABASE IF EXISTS "{name}"') or not _postgres(
        f'CREATE DATABASE "{name}"'
    ):
        yield None
        return
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.integration
def test_prefect_yaml_deploys_to_a_process_pool_and_a_worker_runs_it(
    sample_site: FixtureSite, tmp_path: Path, prefect_database: str | None
) -> None:
    from flows.prefect_server import free_port, prefect_executable, wait_healthy

    prefect = prefect_executable()
    db = tmp_path / "marsad.duckdb"
    config = write_config(tmp_path / "marsad.toml", db=db, feeds=sample_feeds(sample_site))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    server_env = _env(PREFECT_HOME=str(tmp_path / "server-home"))
    database = prefect_database
    if database:  # as in CI: Prefect on PostgreSQL; else its SQLite default
        server_env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client_env = _env(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(tmp_path / "client-home"),
        MARSAD_CONFIG=str(config),
        MARSAD_DB=str(db),
    )
    worker = None
    try:
        wait_healthy(api_url, 180, server)
        for command in (
            [prefect, "work-pool", "create", "marsad", "--type", "process", "--overwrite"],
            [prefect, "--no-prompt", "deploy", "--all"],
        ):
            done = subprocess.run(
                command, cwd=REPO, env=client_env, capture_output=True, text=True, timeout=180
            )
            assert done.returncode == 0, done.stdout + done.stderr
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", "marsad"],
            cwd=REPO,
            env=client_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with _client(api_url) as client:
            deployment = client.read_deployment_by_name("ingest/scheduled")
            assert deployment.global_concurrency_limit.limit == 1
            assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
        run = _run_deployment_and_wait(api_url, "ingest/scheduled")
        assert run.state.is_completed(), run.state
        assert _articles(db) > 0
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
