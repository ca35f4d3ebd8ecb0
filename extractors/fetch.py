"""Fetching feeds and pages over HTTP, politely and defensively.

One Fetcher per pass: an aiohttp session (with its C HTTP parser, a page costs a sixth of the CPU
it took through httpx) with bounded concurrency overall and per host, a deadline per request, byte
limits enforced while streaming (and on the decompressed size), conditional GET, manual redirects
(scheme and address checked at every hop) and retries with exponential backoff and jitter for
timeouts, 5xx and 429. Article pages (not feeds) are checked against the site's robots.txt,
fetched once per site by this Fetcher (extractors/robots.py).
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
import brotli
import certifi

from extractors.guard import AllowList, BlockedAddress, GuardedResolver, check_literal_host
from extractors.robots import (
    DISALLOWED,
    MAX_ROBOTS_BYTES,
    RobotsRules,
    robots_url,
    rules_from_answer,
    site_key,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
MAX_INLINE_RETRY_AFTER_S = 5.0
CHUNK = 65536
KEEPALIVE_S = 5.0  # an idle connection is kept this long for the next request to its host
MAX_HEADER_LINE = 65536  # bytes in one response header line (aiohttp's default is 8190)


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and defensively to fetch. Defaults suit a monitoring pass."""

    user_agent: str = "marsad/0.1"
    timeout_s: float = 20.0
    connect_timeout_s: float = 10.0
    max_redirects: int = 5
    retries: int = 2
    backoff_s: float = 0.5
    concurrency: int = 32
    per_host_concurrency: int = 2
    min_host_delay_s: float = 0.0
    allow_private: AllowList = field(default_factory=AllowList)
    respect_robots_txt: bool = True  # for requests that ask for it (article pages)


@dataclass
class FetchResult:
    """The outcome of one GET. `error` is a sentence for users when nothing usable came back."""

    url: str
    final_url: str
    status: int | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    permanent_redirect: str | None = None  # where a 301/308 chain ended, if it started with one
    retry_after: datetime | None = None
    attempts: int = 1
    final: bool = False  # refused for a reason no retry can change (guard, robots, size, scheme)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


class ResponseTooLarge(Exception):
    pass


class Fetcher:
    """An async HTTP client for one pass: `async with Fetcher(policy) as f: await f.get(...)`."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._global = asyncio.Semaphore(policy.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._last_start: dict[str, float] = {}
        self._robots: dict[str, asyncio.Task[RobotsRules]] = {}
        self.requests_sent = 0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        policy = self.policy
        connector = aiohttp.TCPConnector(
            limit=policy.concurrency,
            limit_per_host=0,  # the Fetcher's own per-host slots bound it
            resolver=GuardedResolver(policy.allow_private),
            ssl=_tls_context(),
            keepalive_timeout=KEEPALIVE_S,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=policy.connect_timeout_s),
            auto_decompress=False,  # _Decoder decodes, within the byte limit
            trust_env=False,  # a proxy from the environment would bypass the address guard
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate, br"},
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._robots.values():
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self,
        url: str,
        *,
        max_bytes: int,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
        obey_robots: bool = False,
    ) -> FetchResult:
        """GET `url`, following redirects, retrying transient failures. Never raises for
        network or HTTP trouble: the result's `error` says what happened. With `obey_robots`
        (article pages) and policy.respect_robots_txt, every URL of the redirect chain is checked
        against its site's robots.txt first; a disallowed one is not requested and the result is
        final with the error "disallowed by robots.txt"."""
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            attempt += 1
            result = await self._get_following(url, headers, max_bytes, obey_robots)
            result.attempts = attempt
            if attempt > self.policy.retries or not _transient(result):
                return result
            wait = self.policy.backoff_s * 2 ** (attempt - 1) * (1 + random.random())
            if result.retry_after is not None:
                asked = (result.retry_after - datetime.now(UTC)).total_seconds()
                if asked > MAX_INLINE_RETRY_AFTER_S:
                    return result  # honoured across passes through next_poll_at
                wait = max(wait, asked)
            await asyncio.sleep(wait)

    async def robots_rules(self, url: str) -> RobotsRules:
        """The robots.txt rules of `url`'s site, fetched on first use and kept for this Fetcher's
        life (one pass); concurrent callers share one request."""
        key = site_key(url)
        task = self._robots.get(key)
        if task is None:
            task = self._robots[key] = asyncio.ensure_future(self._fetch_robots(url))
        return await asyncio.shield(task)

    async def _fetch_robots(self, url: str) -> RobotsRules:
        headers = {"Accept": "text/plain, */*;q=0.5"}
        result = await self._get_following(robots_url(url), headers, MAX_ROBOTS_BYTES, False)
        return rules_from_answer(result.status, result.body, result.error)

    async def _get_following(
        self, url: str, headers: dict[str, str], max_bytes: int, obey_robots: bool
    ) -> FetchResult:
        current = url
        permanent: str | None = None
        chain_permanent = True
        for _hop in range(self.policy.max_redirects + 1):
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ("http", "https"):
                return FetchResult(
                    url,
                    current,
                    error=f"refused a {scheme or 'relative'} URL: only http and https are fetched",
                    final=True,
                )
            if obey_robots and self.policy.respect_robots_txt:
                rules = await self.robots_rules(current)
                if not rules.allows(current, self.policy.user_agent):
                    return FetchResult(url, current, error=DISALLOWED, final=True)
            result = await self._get_once(url, current, headers, max_bytes)
            if result.status in REDIRECT_STATUSES and result.error is None:
                location = result.headers.get("location")
                if not location:
                    result.error = f"HTTP {result.status} redirect without a Location header"
                    return result
                chain_permanent = chain_permanent and result.status in PERMANENT_REDIRECTS
                current = urljoin(current, location.strip())
                if chain_permanent:
                    permanent = current
                continue
            result.permanent_redirect = permanent
            return result
        return FetchResult(
            url, current, error=f"more than {self.policy.max_redirects} redirects", final=True
        )

    async def _get_once(
        self, url: str, current: str, headers: dict[str, str], max_bytes: int
    ) -> FetchResult:
        host = urlsplit(current).hostname or ""
        async with self._global, self._host_slot(host):
            await self._keep_host_delay(host)
            self.requests_sent += 1
            try:
                check_literal_host(host, self.policy.allow_private)
                assert self._session is not None, "use the Fetcher in `async with`"
                async with asyncio.timeout(self.policy.timeout_s):
                    async with self._session.get(
                        current, headers=headers, allow_redirects=False
                    ) as response:
                        result = FetchResult(
                            url,
                            current,
                            status=response.status,
                            headers={k.lower(): v for k, v in response.headers.items()},
                        )
                        result.retry_after = _retry_after(result.headers.get("retry-after"))
                        if response.status in REDIRECT_STATUSES or response.status == 304:
                            return result
                        if response.status >= 400:
                            result.error = f"HTTP {response.status} {response.reason or ''}".strip()
                            return result
                        result.body = await _read_limited(
                            response.headers.get("content-length"),
                            response.headers.get("content-encoding", ""),
                            response.content.iter_chunked(CHUNK),
                            max_bytes,
                        )
                        return result
            except ResponseTooLarge as exc:
                return FetchResult(url, current, error=str(exc), final=True)
            except TimeoutError:
                return FetchResult(
                    url, current, error=f"timed out after {self.policy.timeout_s:g} s"
                )
            except BlockedAddress as exc:
                return FetchResult(url, current, error=str(exc), final=True)
            except aiohttp.InvalidURL as exc:
                return FetchResult(url, current, error=f"invalid URL: {exc}", final=True)
            except aiohttp.ClientError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, BlockedAddress):
                    return FetchResult(url, current, error=str(cause), final=True)
                return FetchResult(url, current, error=_describe(exc))
            except (OSError, zlib.error, brotli.error) as exc:
                return FetchResult(url, current, error=_describe(exc))

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.policy.per_host_concurrency)
        return slot

    async def _keep_host_delay(self, host: str) -> None:
        if self.policy.min_host_delay_s <= 0:
            return
        now = time.monotonic()
        start = max(now, self._last_start.get(host, 0.0) + self.policy.min_host_delay_s)
        self._last_start[host] = start
        if start > now:
            await asyncio.sleep(start - now)


def _transient(result: FetchResult) -> bool:
    if result.final:
        return False
    if result.status in RETRY_STATUSES:
        return True
    return result.status is None and result.error is not None


async def _read_limited(
    declared: str | None, encoding: str, chunks: AsyncIterator[bytes], max_bytes: int
) -> bytes:
    """The body from its raw `chunks`, decoded for its Content-Encoding `encoding`; raises
    ResponseTooLarge as soon as the declared length or the decoded bytes pass `max_bytes`."""
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(
            f"response larger than the limit of {max_bytes} bytes ({declared} declared)"
        )
    decoder = _Decoder(encoding, max_bytes)
    parts: list[bytes] = []
    size = 0
    async for raw in chunks:
        for piece in decoder.feed(raw):
            size += len(piece)
            if size > max_bytes:
                raise ResponseTooLarge(f"response larger than the limit of {max_bytes} bytes")
            parts.append(piece)
    for piece in decoder.flush():
        size += len(piece)
        if size > max_bytes:
            raise ResponseTooLarge(f"response larger than the limit of {max_bytes} bytes")
        parts.append(piece)
    return b"".join(parts)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Certificates checked against certifi's bundle, as httpx did (~20 ms to build: once)."""
    return ssl.create_default_context(cafile=certifi.where())


class _Decoder:
    """Content-Encoding decoding that never produces more than `limit`+1 bytes at once."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit + 1
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1:
            raise ResponseTooLarge(f"unsupported stacked content encodings: {encoding}")
        self.kind = codings[0] if codings else ""
        if self.kind in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.kind == "deflate":
            self._z = zlib.decompressobj()
            self._first = True
        elif self.kind == "br":
            self._br = brotli.Decompressor()
        elif self.kind:
            raise ResponseTooLarge(f"unsupported content encoding {self.kind!r}")

    def feed(self, data: bytes) -> list[bytes]:
        if not self.kind:
            return [data]
        if self.kind == "br":
            out = [self._br.process(data, output_buffer_limit=self.limit)]
            while not self._br.can_accept_more_data() and sum(map(len, out)) <= self.limit:
                out.append(self._br.process(b"", output_buffer_limit=self.limit))
            return out
        if self.kind == "deflate" and self._first:
            self._first = False
            try:  # servers send either zlib-wrapped or raw deflate
                probe = zlib.decompressobj()
                probe.decompress(data[:2])
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        out = [self._z.decompress(data, self.limit)]
        total = len(out[0])
        while self._z.unconsumed_tail and total <= self.limit:
            piece = self._z.decompress(self._z.unconsumed_tail, self.limit)
            out.append(piece)
            total += len(piece)
        return out

    def flush(self) -> list[bytes]:
        if self.kind in ("gzip", "x-gzip", "deflate"):
            return [self._z.flush()]
        return []


def _retry_after(value: str | None) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return datetime.now(UTC).fromtimestamp(time.time() + int(value), UTC)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc) or name
    if isinstance(exc, aiohttp.ClientConnectorError) or "Connect" in name:
        return f"could not connect: {text}"
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        return f"the server closed the connection or broke the protocol: {text}"
    if isinstance(exc, aiohttp.ClientOSError | ConnectionError):
        return f"connection reset while reading: {text}"
    return f"{name}: {text}"
