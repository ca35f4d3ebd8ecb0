"""A real HTTP site on 127.0.0.1 for tests, benchmarks and `marsad demo`.

`FixtureSite` serves a directory tree from a daemon thread. Files whose name contains `.tmpl.`
are templates: `{{BASE}}` in their bytes becomes the site's base URL and the `.tmpl` part is
dropped from the served path (`feeds/x.tmpl.xml` is served at `/feeds/x.xml`). Names starting
with `_` or `.` are never served; `_headers.toml` at the root adds response headers per path.
Every response to a file carries a strong ETag and a Last-Modified and honours conditional GET.
`Fault`s injected per path make it misbehave the way real news sites do.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import socket
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
TEXT = "text/plain; charset=utf-8"
NO_BODY_STATUSES = {204, 304}
Headers = dict[str, str]


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


def _merge_headers(*layers: dict[str, str]) -> dict[str, str]:
    """Later layers win, comparing names case-insensitively."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # life cycle -----------------------------------------------------------------------------

    def start(self) -> FixtureSite:
        """Listen and serve from a daemon thread; returns self."""
        if self._server is not None:
            raise FixtureSiteError("This FixtureSite was already started; create a new one.")
        try:
            self._server = _Server((self.host, self.port), _handler_for(self))
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

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

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


def _status_text(status: int) -> bytes:
    try:
        return f"{status} {HTTPStatus(status).phrase}\n".encode()
    except ValueError:
        return f"{status}\n".encode()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def _not_modified(request_headers: dict[str, str], etag: str, last_modified: int) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)
    if_modified_since = request_headers.get("if-modified-since")
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    return since.timestamp() >= last_modified


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a burst of connections must not wait for a retry

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # Without TCP_NODELAY, headers and body written apart wait out a delayed ACK (~40 ms).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # A client that hangs up mid-answer is routine here (timeouts, dropped faults).
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def _handler_for(site: FixtureSite) -> type[BaseHTTPRequestHandler]:
    return type("FixtureSiteHandler", (_SiteHandler,), {"site": site})


class _SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "marsad-fixture/0.1"
    site: FixtureSite
    head = False  # answering HEAD: headers only

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log is site.requests, not stderr."""

    def do_GET(self) -> None:
        self.head = False
        self._answer()

    def do_HEAD(self) -> None:
        self.head = True
        self._answer()

    def _not_allowed(self) -> None:
        self.close_connection = True  # the request body, if any, is left unread
        self._send(405, {"Allow": "GET, HEAD"}, b"405 Method Not Allowed\n")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    @property
    def _request_path(self) -> tuple[str, str]:
        parts = urlsplit(self.path)
        return unquote(parts.path), parts.query

    def _request_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers

    def _answer(self) -> None:
        path, _ = self._request_path
        fault = self.site._take_fault(path)
        if fault is not None and fault.delay_s > 0 and self.site._stopping.wait(fault.delay_s):
            return self._drop()
        if fault is not None and fault.drop_connection:
            return self._drop()
        if fault is not None and fault.status is not None:
            body = fault.body if fault.body is not None else _status_text(fault.status)
            headers = _merge_headers({"Content-Type": TEXT}, fault.headers)
            return self._send(fault.status, headers, body)
        resource = self.site._resolve(path)
        if resource is None:
            return self._send(404, {"Content-Type": TEXT}, b"404 Not Found\n")
        body = resource.body
        headers = _merge_headers({"Content-Type": resource.content_type}, resource.headers)
        if fault is not None:
            body = fault.body if fault.body is not None else body
            headers = _merge_headers(headers, fault.headers)
            if fault.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, mtime=0)
                headers = _merge_headers(
                    headers, {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
                )
        etag = _etag(body)
        last_modified = formatdate(resource.last_modified, usegmt=True)
        validators = {"ETag": etag, "Last-Modified": last_modified}
        if _not_modified(self._request_headers(), etag, resource.last_modified):
            return self._send(304, validators, b"")
        rate = fault.trickle_bytes_per_s if fault is not None else None
        self._send(200, _merge_headers(headers, validators), body, rate)

    def _send(self, status: int, headers: Headers, body: bytes, rate: float | None = None) -> None:
        """Answer; the request is logged first, so a client that has the answer finds it logged."""
        self._log(status)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status not in NO_BODY_STATUSES:  # a 304 must not claim a length of 0
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.head or status in NO_BODY_STATUSES or not body:
            return
        try:
            if rate:
                self._trickle(body, rate)
            else:
                self.wfile.write(body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _trickle(self, body: bytes, bytes_per_s: float) -> None:
        chunk = max(1, int(bytes_per_s / 10))  # about ten writes a second
        for start in range(0, len(body), chunk):
            self.wfile.write(body[start : start + chunk])
            more = start + chunk < len(body)
            if more and self.site._stopping.wait(chunk / bytes_per_s):
                self.close_connection = True
                return

    def _drop(self) -> None:
        """Close the socket without a word; the request is logged with status 0."""
        self._log(0)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _log(self, status: int) -> None:
        path, query = self._request_path
        self.site._record(RequestRecord(self.command, path, status, self._request_headers(), query))
