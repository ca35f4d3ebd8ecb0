"""A real HTTP site on 127.0.0.1 for tests, benchmarks and `marsad demo`.

`FixtureSite` serves a directory tree from a daemon thread. Files whose name contains `.tmpl.`
are templates: `{{BASE}}` in their bytes becomes the site's base URL and the `.tmpl` part is
dropped from the served path (`feeds/x.tmpl.xml` is served at `/feeds/x.xml`). Names starting
with `_` or `.` are never served; `_headers.toml` at the root adds response headers per path.
Every response to a file carries a strong ETag and a Last-Modified and honours conditional GET.
`Fault`s injected per path make it misbehave the way real news sites do. This module holds the
site's state (files, faults, request log); flows/fixture_handler.py answers the requests.
"""

from __future__ import annotations

import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from flows.fixture_handler import Server, handler_for

SAMPLE_SITE_ROOT = Path(__file__).resolve().parent / "sample_site"
SAMPLE_FEED_PATHS = {"aljazeera": "/feeds/aljazeera.xml", "baghdadtoday": "/feeds/baghdadtoday.xml"}
TEMPLATE_MARKER = ".tmpl."
BASE_PLACEHOLDER = b"{{BASE}}"
HEADERS_FILE = "_headers.toml"
CONTENT_TYPES = {
    ".xml": "application/rss+xml",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".json": "application/json",
    ".opml": "text/x-opml; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class FixtureSiteError(Exception):
    """The fixture site cannot be set up as asked; the message says what to change."""


@dataclass(frozen=True)
class RequestRecord:
    """One request as the site saw it; `status` is 0 when the connection was dropped."""

    method: str
    path: str  # URL path, percent-decoded, without the query
    status: int
    headers: dict[str, str]  # request headers, lower-cased names
    query: str = ""


@dataclass(frozen=True)
class Fault:
    """How to misbehave on one path. Applied in order: delay, drop, status, normal answer.

    With `status`, the site answers that status with `body` (or a short text) and `headers`.
    Without it, the file is served normally but with `headers` added, `body` replacing the
    file's bytes, gzip encoding when `gzip` is set and the client accepts it, and the body sent
    at `trickle_bytes_per_s`. `times` limits the fault to the next N matching requests.
    """

    status: int | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    drop_connection: bool = False
    times: int | None = None
    trickle_bytes_per_s: float | None = None
    gzip: bool = False


@dataclass(frozen=True)
class _Resource:
    body: bytes
    content_type: str
    last_modified: int  # whole seconds since the epoch, as Last-Modified can express
    headers: dict[str, str]  # from _headers.toml, applied after content_type


def served_name(file_name: str) -> str:
    """The name a file is served under: `feed.tmpl.xml` -> `feed.xml`, others unchanged."""
    return file_name.replace(TEMPLATE_MARKER, ".", 1)


class FixtureSite:
    """Serve `root` over HTTP on `host` (any free port when `port` is 0); see the module doc."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FixtureSiteError(f"{self.root} is not a directory; give the site's root folder.")
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._faults: dict[str, list] = {}  # path -> [Fault, remaining uses or None]
        self._memory: dict[str, _Resource] = {}
        self._extra_headers = self._read_headers_table()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # life cycle -----------------------------------------------------------------------------

    def start(self) -> FixtureSite:
        """Listen and serve from a daemon thread; returns self."""
        if self._server is not None:
            raise FixtureSiteError("This FixtureSite was already started; create a new one.")
        try:
            self._server = Server((self.host, self.port), handler_for(self))
        except OSError as exc:
            raise FixtureSiteError(
                f"Cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "choose another port, or 0 for any free one."
            ) from exc
        host, port = self._server.server_address[:2]
        self._base_url = f"http://{host}:{port}"
        serve, poll_interval_s, name = self._server.serve_forever, 0.05, f"fixture-site-{port}"
        self._thread = threading.Thread(target=serve, args=(poll_interval_s,), name=name)
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake delayed answers, close open connections, join the thread."""
        if self._server is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """E.g. "http://127.0.0.1:43121", without a trailing slash; valid after start()."""
        if self._base_url is None:
            raise FixtureSiteError("The fixture site has no address yet; call start() first.")
        return self._base_url

    def url(self, path: str) -> str:
        """The absolute URL of a served path such as "/feeds/aljazeera.xml"."""
        return self.base_url + _checked_path(path)

    # request log ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the log: every request so far, in the order they were answered."""
        with self._lock:
            return list(self._log)

    def requests_for(self, prefix: str) -> list[RequestRecord]:
        """The logged requests whose path starts with `prefix`."""
        return [record for record in self.requests if record.path.startswith(prefix)]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(
        self, method: str, path: str, status: int, headers: dict[str, str], query: str
    ) -> None:
        """Log one answered request (called by the handler, flows/fixture_handler.py)."""
        with self._lock:
            self._log.append(RequestRecord(method, path, status, headers, query))

    # content and faults ---------------------------------------------------------------------

    def set_fault(self, path: str, fault: Fault | None) -> None:
        """Misbehave on `path` (exact; a trailing "*" matches every path with that prefix).

        Setting a fault again restarts its `times` count; None removes it.
        """
        _checked_path(path.rstrip("*") or "/")
        if fault is not None and fault.times is not None and fault.times < 0:
            raise FixtureSiteError("Fault.times must be 0 or more, or None for every request.")
        with self._lock:
            if fault is None:
                self._faults.pop(path, None)
            else:
                self._faults[path] = [fault, fault.times]

    def _take_fault(self, path: str) -> Fault | None:
        """The fault that applies to this request, counting down its remaining uses."""
        with self._lock:
            key = path if path in self._faults else None
            if key is None:
                prefixes = [p for p in self._faults if p.endswith("*")]
                matching = [p for p in prefixes if path.startswith(p[:-1])]
                key = max(matching, key=len, default=None)
            if key is None:
                return None
            entry = self._faults[key]
            if entry[1] is None:
                return entry[0]
            if entry[1] == 0:
                return None
            entry[1] -= 1
            return entry[0]

    def add_file(self, path: str, body: bytes, content_type: str) -> None:
        """Serve `body` at `path` from memory, ahead of any file on disk at that path.

        As in templates, `{{BASE}}` in the body becomes the base URL. Adding again replaces it.
        """
        resource = _Resource(body, content_type, int(time.time()), {})
        with self._lock:
            self._memory[_checked_path(path)] = resource

    def _read_headers_table(self) -> dict[str, dict[str, str]]:
        table_file = self.root / HEADERS_FILE
        if not table_file.is_file():
            return {}
        try:
            table = tomllib.loads(table_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise FixtureSiteError(f"{table_file} is not valid TOML: {exc}") from exc
        for path, headers in table.items():
            if not isinstance(headers, dict) or not all(
                isinstance(v, str) for v in headers.values()
            ):
                raise FixtureSiteError(
                    f'{table_file}: "{path}" must map to a table of header names to strings.'
                )
        return table

    def _resolve(self, path: str) -> _Resource | None:
        """What `path` serves, or None for 404 (directories, hidden names, nothing there)."""
        with self._lock:
            resource = self._memory.get(path)
        if resource is None:
            file = self._find_file(path)
            if file is None:
                return None
            extension = Path(path).suffix.lower()
            content_type = CONTENT_TYPES.get(extension, DEFAULT_CONTENT_TYPE)
            resource = _Resource(file.read_bytes(), content_type, int(file.stat().st_mtime), {})
        body = resource.body.replace(BASE_PLACEHOLDER, self.base_url.encode("ascii"))
        headers = self._extra_headers.get(path, {})  # may override Content-Type
        return _Resource(body, resource.content_type, resource.last_modified, headers)

    def _find_file(self, path: str) -> Path | None:
        parts = path.split("/")[1:]
        if not parts or any(p in ("", ".", "..") or p[0] in "_." for p in parts):
            return None
        folder = self.root.joinpath(*parts[:-1])
        if not folder.is_dir():
            return None
        exact = folder / parts[-1]
        # A template is only served under its served name, never raw with "{{BASE}}" in it.
        candidates = [exact] if exact.is_file() and TEMPLATE_MARKER not in exact.name else []
        candidates += [
            f
            for f in sorted(folder.iterdir())
            if TEMPLATE_MARKER in f.name and served_name(f.name) == parts[-1] and f.is_file()
        ]
        for candidate in candidates:
            if candidate.resolve().is_relative_to(self.root):
                return candidate
        return None


def _checked_path(path: str) -> str:
    if not path.startswith("/"):
        raise FixtureSiteError(f'"{path}" is not a site path; site paths start with "/".')
    return path
