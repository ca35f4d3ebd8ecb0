"""The HTTP side of flows/fixture_site.py: the server and the handler that answers requests.

Kept apart from `FixtureSite`, which owns the content, the faults and the request log: this
module turns a request into an answer (file, 404, 304 or fault) with the standard library's
http.server, and knows the site only through what it asks of it (`_take_fault`, `_resolve`,
`_record`, `_stopping`). On stop the server shuts down the connections still open, so handler
threads waiting on an idle keep-alive connection end instead of outliving the site.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import socket
import sys
import threading
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from flows.fixture_site import FixtureSite

TEXT = "text/plain; charset=utf-8"
NO_BODY_STATUSES = {204, 304}
Headers = dict[str, str]


def _merge_headers(*layers: dict[str, str]) -> dict[str, str]:
    """Later layers win, comparing names case-insensitively."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


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


class Server(ThreadingHTTPServer):
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


def handler_for(site: FixtureSite) -> type[BaseHTTPRequestHandler]:
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
        self.site._record(self.command, path, status, self._request_headers(), query)
