"""Serve a benchmark's site files from a process of its own, with a lean asyncio HTTP/1.1 server.

bench/ingest.py measures a pass on a 2-core machine where every CPU millisecond counts. Served by
`FixtureSite` (a thread per connection, an ETag hashed per request) from the benchmark's own
process, the site cost about 0.6 ms of CPU a request, on the cores the pass uses and in the
process that samples its memory. `SiteProcess` serves the same files from a forked process: an
`asyncio.Protocol` per connection, keep-alive, every response's headers encoded once per file,
the ETag hashed once. Its answers are FixtureSite's for files added from memory: the same status
lines and headers (Date aside), the same ETag and Last-Modified, 304 under the same conditional
rules (flows/fixture_handler.py's own functions), 404 with the same text for any other path
(e.g. /robots.txt), 405 for methods other than GET and HEAD, no gzip (FixtureSite compresses
only under a fault). No faults, no templates from disk: the bench needs neither.

The parent asks the server process over a pipe how many requests it answered, which ones
(method, path, status) and how much CPU it used; the server process ends when told to, or when
the pipe closes because the benchmark is gone. Only 127.0.0.1 by default; Unix only (fork).

    site = SiteProcess()                                    # listens; base_url is known
    site.start(build_site(20, 25, base_url=site.base_url))  # the server process takes over
    try:
        ...  # site.served_count(), site.served(start, end), site.cpu_s()
    finally:
        site.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import sys
import time
from collections.abc import Mapping
from email.utils import formatdate
from multiprocessing.connection import Connection
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

# The fixture site's own ETag and conditional-request rules, so that 304s match it exactly.
from flows.fixture_handler import _etag, _not_modified

SERVER = b"marsad-fixture/0.1"  # FixtureSite's, so that the headers are the same
BACKLOG = 128  # a burst of new connections must not lose SYNs (retried only after a second)
MAX_HEAD = 64 * 1024  # a request head larger than this is refused (431) and the connection closed
BASE_PLACEHOLDER = b"{{BASE}}"  # replaced by the base URL, as FixtureSite.add_file does
TEXT = b"text/plain; charset=utf-8"
CONTROL_TIMEOUT_S = 60.0  # indexing 5000 pages takes about a second; a stuck process is an error
REASONS = {
    200: b"OK",
    304: b"Not Modified",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    431: b"Request Header Fields Too Large",
}


class Served(NamedTuple):
    """One answered request, as the server process logged it."""

    method: str
    path: str  # URL path, percent-decoded, without the query
    status: int


class SiteProcessError(Exception):
    """The site's process failed to start or stopped answering; the message says how."""


class SiteProcess:
    """Files served on `host` by a separate process; see the module doc.

    The socket is bound at construction, so that the base URL is known before the files (whose
    links are absolute) are built; `start()` forks the server process with the files.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock: socket.socket | None = socket.create_server((host, port), backlog=BACKLOG)
        bound_host, bound_port = self._sock.getsockname()[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self, files: Mapping[str, tuple[bytes, str]]) -> SiteProcess:
        """Serve `files` ({URL path: (body, content type)}) from a forked process; returns self
        once it answers. Fork, not spawn: the child shares the bodies instead of a pickled copy."""
        if self._sock is None or self._process is not None:
            raise SiteProcessError("This SiteProcess was already started; create a new one.")
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        for stream in (sys.stdout, sys.stderr):  # a forked child must not repeat buffered output
            stream.flush()
        self._process = context.Process(
            target=_serve,
            args=(self._sock, dict(files), self.base_url, theirs, ours),
            name=f"bench-site-{self.base_url.rsplit(':', 1)[1]}",
            daemon=True,  # multiprocessing ends it at the latest when the benchmark exits
        )
        self._process.start()
        theirs.close()
        self._sock.close()  # the child listens on its copy; no later subprocess inherits ours
        self._sock = None
        self._conn = ours
        self._call("ping")  # returns once every file is indexed and the server listens
        return self

    def served_count(self) -> int:
        """How many requests the site has answered so far (control calls aside)."""
        return self._call("count")

    def served(self, start: int = 0, end: int | None = None) -> list[Served]:
        """The answered requests `start` to `end` (as counted by served_count), in order."""
        return [Served(*record) for record in self._call("log", start, end)]

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used since it started."""
        return self._call("cpu")

    def stop(self) -> None:
        """End the server process (and close the socket if it never started); idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._conn is not None:
            with contextlib.suppress(OSError, EOFError):
                self._conn.send(("stop",))
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=2.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=2.0)
            self._process = None

    def __enter__(self) -> SiteProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, *message: Any) -> Any:
        if self._conn is None or self._process is None:
            raise SiteProcessError("The site's process is not running; call start() first.")
        try:
            self._conn.send(message)
            if self._conn.poll(CONTROL_TIMEOUT_S):
                return self._conn.recv()
        except (OSError, EOFError) as exc:
            raise SiteProcessError(
                f"The site's process is gone (exit code {self._process.exitcode})."
            ) from exc
        raise SiteProcessError(f"The site's process did not answer in {CONTROL_TIMEOUT_S:.0f} s.")


# the server process ---------------------------------------------------------------------------


class _File(NamedTuple):
    body: bytes
    ok_tail: bytes  # the headers of a 200 after Date, through the blank line
    not_modified_tail: bytes  # the same for a 304
    etag: str
    last_modified: int


class _Site:
    """The files, encoded for answering, and the log of what was answered."""

    def __init__(self, files: dict[str, tuple[bytes, str]], base_url: str) -> None:
        last_modified = int(time.time())  # as FixtureSite.add_file: when the file was added
        modified = formatdate(last_modified, usegmt=True).encode()
        base = base_url.encode("ascii")
        self.files: dict[str, _File] = {}
        for path, (raw, content_type) in files.items():
            body = raw.replace(BASE_PLACEHOLDER, base)
            etag = _etag(body)
            validators = b"ETag: %s\r\nLast-Modified: %s\r\n" % (etag.encode(), modified)
            ok_tail = b"Content-Type: %s\r\n%sContent-Length: %d\r\n\r\n" % (
                content_type.encode("latin-1"),
                validators,
                len(body),
            )
            self.files[path] = _File(body, ok_tail, validators + b"\r\n", etag, last_modified)
        self.log: list[tuple[str, str, int]] = []
        self._second = -1
        self._date = b""

    def date(self) -> bytes:
        """The Date header line, formatted once a second."""
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._date = b"Date: %s\r\n" % formatdate(now, usegmt=True).encode()
        return self._date

    def status_lines(self, status: int) -> bytes:
        return b"HTTP/1.1 %d %s\r\nServer: %s\r\n%s" % (
            status,
            REASONS[status],
            SERVER,
            self.date(),
        )

    def control(self, message: tuple) -> Any:
        command = message[0]
        if command == "ping":
            return True
        if command == "count":
            return len(self.log)
        if command == "log":
            return self.log[message[1] : message[2]]
        if command == "cpu":
            return time.process_time()
        raise ValueError(f"unknown control command {command!r}")


class _Connection(asyncio.Protocol):
    """One client connection: answers each complete request head as it arrives, in order."""

    def __init__(self, site: _Site) -> None:
        self.site = site
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._error(431)
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            if not self._answer(head.decode("latin-1")) and self.transport is not None:
                self.transport.close()  # after what is already written has been sent
                self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _answer(self, head: str) -> bool:
        """Write the answer to one request; False when the connection must close after it."""
        lines = head.split("\r\n")
        words = lines[0].split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            return self._error(400)
        method, target, version = words
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                return self._error(400)
            key, value = name.strip().lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
        if "?" in target or "%" in target or target.startswith("//"):
            target = unquote(urlsplit("/" + target.lstrip("/")).path)
        site, write = self.site, self.transport.write  # type: ignore[union-attr]
        if method not in ("GET", "HEAD"):
            site.log.append((method, target, 405))
            body = b"405 Method Not Allowed\n"
            write(
                b"%sAllow: GET, HEAD\r\nContent-Length: %d\r\n\r\n%s"
                % (site.status_lines(405), len(body), body)
            )
            return False  # a request body, if any, is left unread
        file = site.files.get(target)
        if file is None:
            site.log.append((method, target, 404))
            body = b"404 Not Found\n"
            tail = b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (TEXT, len(body))
            write(site.status_lines(404) + tail + (body if method == "GET" else b""))
            return keep_alive
        conditional = "if-none-match" in headers or "if-modified-since" in headers
        if conditional and _not_modified(headers, file.etag, file.last_modified):
            site.log.append((method, target, 304))
            write(site.status_lines(304) + file.not_modified_tail)
            return keep_alive
        site.log.append((method, target, 200))
        if method == "GET":
            write(b"".join((site.status_lines(200), file.ok_tail, file.body)))
        else:
            write(site.status_lines(200) + file.ok_tail)
        return keep_alive

    def _error(self, status: int) -> bool:
        """A malformed request: answer `status` and close, unlogged (as FixtureSite)."""
        body = b"%d %s\n" % (status, REASONS[status])
        tail = b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (TEXT, len(body))
        if self.transport is not None:
            self.transport.write(self.site.status_lines(status) + tail + body)
            self.transport.close()
            self.transport = None
        return False


def _serve(
    sock: socket.socket,
    files: dict[str, tuple[bytes, str]],
    base_url: str,
    conn: Connection,
    parents_end: Connection,
) -> None:
    """The server process's body: index the files, then serve until told to stop."""
    parents_end.close()  # else the pipe would never read as closed when the benchmark dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the benchmark's to handle
    site = _Site(files, base_url)
    del files
    asyncio.run(_main(sock, site, conn))


async def _main(sock: socket.socket, site: _Site, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(site), sock=sock, backlog=BACKLOG)
    stopped = loop.create_future()

    def on_control() -> None:
        try:
            message = conn.recv()
            if message[0] != "stop":
                conn.send(site.control(message))
                return
        except (OSError, EOFError):  # the benchmark is gone, and so is the reason to serve
            pass
        loop.remove_reader(conn.fileno())
        if not stopped.done():
            stopped.set_result(None)

    loop.add_reader(conn.fileno(), on_control)
    try:
        await stopped
    finally:
        server.close()
        conn.close()
