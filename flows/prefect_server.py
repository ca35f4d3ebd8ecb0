"""A local Prefect server for `marsad serve` when no PREFECT_API_URL is set.

Prefect's embedded (ephemeral) mode does not run the scheduler, so served deployments would never
fire there. This starts `prefect server start` on 127.0.0.1 with its SQLite database under the
data directory, waits until it answers /api/health, and stops it on exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


class PrefectServerError(Exception):
    """The local Prefect server could not be started; the message says why and where its log is."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def prefect_executable() -> str:
    beside = Path(sys.executable).parent / "prefect"
    found = str(beside) if beside.exists() else shutil.which("prefect")
    if not found:
        raise PrefectServerError("the `prefect` command is not installed next to this Python.")
    return found


def wait_healthy(api_url: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Wait until GET {api_url}/health answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise PrefectServerError(f"the Prefect server exited with code {process.returncode}.")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise PrefectServerError(
        f"the Prefect server at {api_url} did not become healthy in {timeout_s:g} s."
    )


@contextmanager
def local_prefect_server(
    home: Path, *, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 180
) -> Iterator[str]:
    """Run a Prefect server with PREFECT_HOME=home until the block ends; yields its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    api_url = f"http://{host}:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api_url,
    }
    env.pop("PREFECT_API_URL", None)
    log_path = home / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [prefect_executable(), "server", "start", "--host", host, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it in order
        )
    try:
        try:
            wait_healthy(api_url, timeout_s, process)
        except PrefectServerError as exc:
            raise PrefectServerError(f"{exc} See its log: {log_path}") from None
        yield api_url
    finally:
        stop_session(process)
        wait_closed(host, port)  # nothing of it answers any more


def stop_session(process: subprocess.Popen, timeout_s: float = 20) -> None:
    """Stop a process started with start_new_session, and every process of its group: whatever
    `prefect server start` itself starts (its worker processes with --workers, for one) goes
    with it instead of outliving it. SIGTERM to the group, SIGKILL after `timeout_s`."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
        process.wait(timeout=timeout_s)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    if not hasattr(os, "killpg"):  # no process groups (Windows): the process alone
        process.terminate()
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def wait_closed(host: str, port: int, timeout_s: float = 20) -> bool:
    """Wait until nothing accepts connections on host:port; False if something still does
    after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                pass
        except OSError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
