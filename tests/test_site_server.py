"""bench/site_server.py's SiteProcess over real sockets on 127.0.0.1.

bench/ingest.py takes its throughput figures against SiteProcess and treats it as a faster
FixtureSite, so its answers are compared byte for byte with FixtureSite's for the same files
(Date and the time-dependent Last-Modified masked). Then: pipelining, the request log and CPU
figure the benchmark reads over the pipe, and the end of the process. No timing is asserted:
socket timeouts only keep a broken server from hanging the run.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime
from typing import NamedTuple

import pytest

from bench.site_server import BASE_PLACEHOLDER, Served, SiteProcess, SiteProcessError
from flows.fixture_site import FixtureSite

pytestmark = pytest.mark.integration

HANG_GUARD_S = 10.0  # only a broken server waits this long; a working one answers at once
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
PAGE = "/news/1.html"
FEED = "/feeds/main.xml"
SPACED = "/news/a b.html"  # requested percent-encoded
FILES: dict[str, tuple[bytes, str]] = {
    PAGE: (
        '<html lang="ar"><body><h1>عاجل</h1><a href="{{BASE}}/news/2.html">التالي</a>'
        "</body></html>".encode(),
        HTML,
    ),
    FEED: (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', RSS),
    SPACED: ("<p>خبر</p>".encode(), HTML),
}
FUTURE = formatdate(time.time() + 86400, usegmt=True)
PAST = formatdate(0, usegmt=True)


class Response(NamedTuple):
    head: bytes  # status line and headers, Date and Last-Modified values masked
    body: bytes
    last_modified: str | None  # the unmasked value, when the response has one


class RawConnection:
    """A client socket that reads HTTP/1.1 responses exactly, leaving what follows buffered."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=HANG_GUARD_S)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-response")
        self.buffer += chunk

    def read_response(self, method: str) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        lengths = re.findall(rb"^Content-Length: (\d+)$", head, re.MULTILINE | re.IGNORECASE)
        length = 0 if method == "HEAD" or status == 304 else int(lengths[0])
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        modified = re.search(rb"^Last-Modified: (.*)$", head, re.MULTILINE)
        masked = re.sub(rb"^(Date|Last-Modified): .*$", rb"\1: <masked>", head, flags=re.MULTILINE)
        return Response(masked, body, modified[1].decode() if modified else None)

    def still_open(self) -> bool:
        """Whether the server kept the connection open: a follow-up request gets an answer.

        Asking instead of waiting for an EOF that a kept-alive connection never sends."""
        if self.buffer:
            raise AssertionError(f"unexpected bytes after the response: {self.buffer[:80]!r}")
        try:
            self.send(request("GET", FEED))
            return self.read_response("GET").head.startswith(b"HTTP/1.1 200 ")
        except ConnectionError:  # EOF, reset or broken pipe: the server had closed it
            return False


def request(method: str, target: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(base_url: str, raw: bytes, method: str) -> tuple[Response, bool]:
    """One request on a new connection: the response and whether the connection stayed open."""
    connection = RawConnection(base_url)
    try:
        connection.send(raw)
        response = connection.read_response(method)
        return response, connection.still_open()
    finally:
        connection.close()


@pytest.fixture
def new_site_process() -> Iterator[Callable[[], SiteProcess]]:
    """Starts SiteProcesses serving FILES; every one is stopped, whatever the test's outcome."""
    started: list[SiteProcess] = []

    def start() -> SiteProcess:
        site = SiteProcess()
        started.append(site)
        return site.start(FILES)

    yield start
    for site in started:
        site.stop()


class Pair(NamedTuple):
    ours: SiteProcess
    reference: FixtureSite
    added_from: int  # whole seconds before either server took its files
    added_to: int  # and after both had


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """The same files served by SiteProcess and by FixtureSite (from memory, as the bench did).

    FixtureSite fills {{BASE}} with its own address, so it gets the bodies already filled with
    SiteProcess's: both then serve the same bytes, hence the same ETags."""
    added_from = int(time.time())
    ours = SiteProcess()
    reference = FixtureSite(tmp_path_factory.mktemp("empty-root"))
    try:
        ours.start(FILES)
        reference.start()
        base = ours.base_url.encode()
        for path, (body, content_type) in FILES.items():
            reference.add_file(path, body.replace(BASE_PLACEHOLDER, base), content_type)
        yield Pair(ours, reference, added_from, int(time.time()))
    finally:
        ours.stop()
        reference.stop()


def reference_etag(pair: Pair, path: str) -> str:
    response, _ = exchange(pair.reference.base_url, request("HEAD", path), "HEAD")
    return re.search(rb"^ETag: (.*)$", response.head, re.MULTILINE)[1].decode()


# (1) the same answers as FixtureSite ----------------------------------------------------------

# id: (method, target, headers (ETAG is replaced by the file's ETag), version, status, open after)
CASES = {
    "get": ("GET", PAGE, (), "HTTP/1.1", 200, True),
    "head": ("HEAD", PAGE, (), "HTTP/1.1", 200, True),
    "get-query-dropped": ("GET", FEED + "?utm_source=rss&x=1", (), "HTTP/1.1", 200, True),
    "get-percent-encoded": ("GET", "/news/a%20b.html", (), "HTTP/1.1", 200, True),
    "robots-404": ("GET", "/robots.txt", (), "HTTP/1.1", 404, True),
    "head-404": ("HEAD", "/robots.txt", (), "HTTP/1.1", 404, True),
    "if-none-match-exact": ("GET", PAGE, ("If-None-Match: ETAG",), "HTTP/1.1", 304, True),
    "if-none-match-star": ("GET", PAGE, ("If-None-Match: *",), "HTTP/1.1", 304, True),
    "if-none-match-list-weak": (
        "GET",
        PAGE,
        ('if-none-match: "other", W/ETAG',),
        "HTTP/1.1",
        304,
        True,
    ),
    "if-none-match-wins-over-since": (
        "GET",
        PAGE,
        ('If-None-Match: "other"', f"If-Modified-Since: {FUTURE}"),
        "HTTP/1.1",
        200,
        True,
    ),
    "head-if-none-match": ("HEAD", PAGE, ("If-None-Match: ETAG",), "HTTP/1.1", 304, True),
    "if-modified-since-future": (
        "GET",
        PAGE,
        (f"If-Modified-Since: {FUTURE}",),
        "HTTP/1.1",
        304,
        True,
    ),
    "if-modified-since-past": ("GET", PAGE, (f"If-Modified-Since: {PAST}",), "HTTP/1.1", 200, True),
    "if-modified-since-invalid": (
        "GET",
        PAGE,
        ("If-Modified-Since: yesterday",),
        "HTTP/1.1",
        200,
        True,
    ),
    "post-405": ("POST", PAGE, ("Content-Length: 0",), "HTTP/1.1", 405, False),
    "delete-405-unknown-path": ("DELETE", "/robots.txt", (), "HTTP/1.1", 405, False),
    "http10-closes": ("GET", PAGE, (), "HTTP/1.0", 200, False),
    "http10-keep-alive": ("GET", PAGE, ("Connection: keep-alive",), "HTTP/1.0", 200, True),
    "http11-connection-close": ("GET", FEED, ("Connection: close",), "HTTP/1.1", 200, False),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_answers_as_fixture_site_does(pair: Pair, case: str) -> None:
    method, target, headers, version, status, stays_open = CASES[case]
    etag = reference_etag(pair, PAGE)
    raw = request(method, target, *(h.replace("ETAG", etag) for h in headers), version=version)

    ours, ours_open = exchange(pair.ours.base_url, raw, method)
    reference, reference_open = exchange(pair.reference.base_url, raw, method)

    assert ours.head.startswith(f"HTTP/1.1 {status} ".encode()), ours.head
    assert ours.head == reference.head
    assert ours.body == reference.body
    assert (ours_open, reference_open) == (stays_open, stays_open)
    if ours.last_modified is not None:  # the second the files were added, in either server
        added = parsedate_to_datetime(ours.last_modified).timestamp()
        assert pair.added_from <= added <= pair.added_to
        assert reference.last_modified is not None


def test_base_placeholder_becomes_the_base_url(pair: Pair) -> None:
    response, _ = exchange(pair.ours.base_url, request("GET", PAGE), "GET")
    assert f'href="{pair.ours.base_url}/news/2.html"'.encode() in response.body
    assert BASE_PLACEHOLDER not in response.body


# (2) pipelining -------------------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order(
    new_site_process: Callable[[], SiteProcess],
) -> None:
    site = new_site_process()
    connection = RawConnection(site.base_url)
    try:
        third = request("GET", "/news/a%20b.html")
        # The third request's head is cut in two: the server must keep the first part buffered
        # until the rest arrives, which is sent only once the first two have been answered.
        connection.send(request("GET", PAGE) + request("HEAD", "/robots.txt") + third[:20])
        first = connection.read_response("GET")
        second = connection.read_response("HEAD")
        connection.send(third[20:])
        last = connection.read_response("GET")
        assert not connection.buffer
    finally:
        connection.close()

    assert first.head.startswith(b"HTTP/1.1 200 ")
    assert first.body == FILES[PAGE][0].replace(BASE_PLACEHOLDER, site.base_url.encode())
    assert second.head.startswith(b"HTTP/1.1 404 ")
    assert second.body == b""
    assert last.head.startswith(b"HTTP/1.1 200 ")
    assert last.body == FILES[SPACED][0]
    assert site.served() == [
        Served("GET", PAGE, 200),
        Served("HEAD", "/robots.txt", 404),
        Served("GET", SPACED, 200),
    ]


# (3) the request log and the CPU figure -------------------------------------------------------


def test_log_records_each_answer_in_order_and_cpu_grows(
    new_site_process: Callable[[], SiteProcess],
) -> None:
    site = new_site_process()
    assert site.served_count() == 0
    assert site.served() == []  # control calls are not logged
    cpu_before = site.cpu_s()
    assert cpu_before > 0

    connection = RawConnection(site.base_url)
    try:
        connection.send(request("GET", PAGE))
        etag = re.search(rb"^ETag: (.*)$", connection.read_response("GET").head, re.MULTILINE)[1]
        for raw, method in [
            (request("HEAD", FEED + "?page=2"), "HEAD"),
            (request("GET", "/robots.txt"), "GET"),
            (request("GET", PAGE, f"If-None-Match: {etag.decode()}"), "GET"),
            (request("GET", "/news/a%20b.html"), "GET"),
        ]:
            connection.send(raw)
            connection.read_response(method)
        connection.send(request("POST", FEED, "Content-Length: 0"))
        connection.read_response("POST")
    finally:
        connection.close()

    expected = [
        Served("GET", PAGE, 200),
        Served("HEAD", FEED, 200),
        Served("GET", "/robots.txt", 404),
        Served("GET", PAGE, 304),
        Served("GET", SPACED, 200),
        Served("POST", FEED, 405),
    ]
    assert site.served_count() == len(expected)
    assert site.served() == expected
    assert site.served(2, 4) == expected[2:4]
    assert site.served(4) == expected[4:]
    assert all(type(record) is Served for record in site.served())
    assert site.cpu_s() > cpu_before


# (4) stopping ---------------------------------------------------------------------------------


def accepts_connections(base_url: str) -> bool:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=HANG_GUARD_S).close()
    except ConnectionRefusedError:
        return False
    return True


def test_stop_ends_the_process_and_frees_the_port(
    new_site_process: Callable[[], SiteProcess],
) -> None:
    site = new_site_process()
    process = site._process
    assert process is not None and process.is_alive()
    idle = RawConnection(site.base_url)  # a kept-alive connection the stop must not wait for
    try:
        idle.send(request("GET", FEED))
        idle.read_response("GET")
        site.stop()
        # Checked at once: stop() returns only when the process is gone, not merely told to go.
        assert not process.is_alive()
        assert process.exitcode == 0  # it ended when told to, not killed by stop()'s fallback
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)
        assert not accepts_connections(site.base_url)
        try:
            closed = idle.sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        assert closed
    finally:
        idle.close()

    site.stop()  # idempotent
    with pytest.raises(SiteProcessError):
        site.served_count()


def test_process_ends_when_the_benchmark_is_gone(
    new_site_process: Callable[[], SiteProcess],
) -> None:
    """The parent's end of the pipe closing (the benchmark died) ends the server process."""
    site = new_site_process()
    process, connection = site._process, site._conn
    assert process is not None and connection is not None
    connection.close()
    process.join(timeout=HANG_GUARD_S)
    assert process.exitcode == 0
    assert not accepts_connections(site.base_url)


def test_stop_before_start_releases_the_port() -> None:
    site = SiteProcess()
    assert accepts_connections(site.base_url)  # bound and listening before start()
    site.stop()
    assert not accepts_connections(site.base_url)
    with pytest.raises(SiteProcessError):
        site.start(FILES)
