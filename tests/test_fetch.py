"""Fetching against a real local HTTP server: validators, limits, redirects, retries, guard."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import brotli
import pytest

from extractors.fetch import Fetcher, FetchPolicy, FetchResult
from extractors.guard import AllowList
from flows.fixture_site import Fault, FixtureSite

LOCAL = AllowList.parse(["127.0.0.1"])


def get(url: str, policy: FetchPolicy | None = None, **kwargs: object) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(policy or FetchPolicy(allow_private=LOCAL, backoff_s=0.01)) as fetcher:
            return await fetcher.get(url, max_bytes=kwargs.pop("max_bytes", 1_000_000), **kwargs)  # type: ignore[arg-type]

    return asyncio.run(run())


def test_conditional_get_answers_304(sample_site: FixtureSite) -> None:
    url = sample_site.url("/feeds/aljazeera.xml")
    first = get(url)
    assert first.ok and first.etag and first.last_modified
    assert first.body and b"<rss" in first.body
    second = get(url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.body is None
    sent = sample_site.requests_for("/feeds/aljazeera.xml")[-1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified
    assert "marsad" in sent["user-agent"]


def test_body_over_the_limit_is_refused(sample_site: FixtureSite) -> None:
    sample_site.add_file("/big.html", b"x" * 200_000, "text/html")
    result = get(sample_site.url("/big.html"), max_bytes=50_000)
    assert result.error and "larger than the limit" in result.error
    assert result.body is None


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
    ],
)
def test_decompression_bombs_are_stopped_at_the_limit(
    sample_site: FixtureSite, encoding: str, compress: object
) -> None:
    bomb = compress(b"\0" * 20_000_000)  # type: ignore[operator]
    assert len(bomb) < 100_000
    sample_site.add_file("/bomb.xml", bomb, "application/rss+xml")
    sample_site.set_fault("/bomb.xml", Fault(headers={"Content-Encoding": encoding}))
    result = get(sample_site.url("/bomb.xml"), max_bytes=1_000_000)
    assert result.error and "larger than the limit" in result.error


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compressed_bodies_decode(sample_site: FixtureSite, encoding: str) -> None:
    text = "خبر عاجل ".encode() * 500
    packed = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[encoding](
        text
    )
    sample_site.add_file("/c.html", packed, "text/html; charset=utf-8")
    sample_site.set_fault("/c.html", Fault(headers={"Content-Encoding": encoding}))
    assert get(sample_site.url("/c.html")).body == text


def test_redirects_are_followed_and_permanent_moves_reported(sample_site: FixtureSite) -> None:
    target = sample_site.url("/feeds/aljazeera.xml")
    sample_site.set_fault("/old.xml", Fault(status=301, headers={"Location": target}))
    result = get(sample_site.url("/old.xml"))
    assert result.ok and result.final_url == target
    assert result.permanent_redirect == target
    sample_site.set_fault("/tmp.xml", Fault(status=302, headers={"Location": target}))
    assert get(sample_site.url("/tmp.xml")).permanent_redirect is None


def test_redirect_loops_are_capped(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/loop", Fault(status=302, headers={"Location": "/loop"}))
    result = get(sample_site.url("/loop"), FetchPolicy(allow_private=LOCAL, max_redirects=3))
    assert result.error == "more than 3 redirects"
    assert len(sample_site.requests_for("/loop")) == 4


def test_redirect_to_another_scheme_is_refused(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/ftp", Fault(status=302, headers={"Location": "file:///etc/passwd"}))
    result = get(sample_site.url("/ftp"))
    assert result.error and "only http and https" in result.error


def test_guard_refuses_loopback_outside_the_allow_list(sample_site: FixtureSite) -> None:
    # 127.0.0.2 is loopback but not allowed: refused before any connection is made.
    port = sample_site.base_url.rsplit(":", 1)[1]
    result = get(f"http://127.0.0.2:{port}/feeds/aljazeera.xml")
    assert result.error and "not a public address" in result.error
    assert result.attempts == 1  # not retried


def test_guard_applies_after_a_redirect(sample_site: FixtureSite) -> None:
    port = sample_site.base_url.rsplit(":", 1)[1]
    sample_site.set_fault(
        "/jump", Fault(status=302, headers={"Location": f"http://127.0.0.3:{port}/x"})
    )
    result = get(sample_site.url("/jump"))
    assert result.error and "127.0.0.3" in result.error and "not a public address" in result.error


def test_guard_without_allow_list_refuses_the_local_site(sample_site: FixtureSite) -> None:
    result = get(sample_site.url("/feeds/aljazeera.xml"), FetchPolicy())
    assert result.error and "not a public address" in result.error
    assert sample_site.requests == []


def test_guard_checks_what_a_host_name_resolves_to(sample_site: FixtureSite) -> None:
    """A host name is resolved by the guard itself: localhost (a loopback address, from the
    hosts file) is refused without an allow list and fetched when the name is allowed."""
    port = sample_site.base_url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/feeds/aljazeera.xml"
    refused = get(url, FetchPolicy(backoff_s=0.01))
    assert refused.error and "not a public address" in refused.error and refused.final
    assert sample_site.requests == []
    # allowed by name: every address localhost has is tried (the site listens on 127.0.0.1)
    allowed = get(url, FetchPolicy(allow_private=AllowList.parse(["localhost"]), backoff_s=0.01))
    assert allowed.ok and allowed.body, allowed.error


def test_guard_resolver_refuses_every_answer_if_one_is_internal() -> None:
    from extractors.guard import BlockedAddress, GuardedResolver

    resolver = GuardedResolver(AllowList())
    with pytest.raises(BlockedAddress, match="not a public address"):
        asyncio.run(resolver.resolve("localhost", 80))
    answers = asyncio.run(GuardedResolver(AllowList.parse(["localhost"])).resolve("localhost", 80))
    assert answers and all(a["hostname"] == "localhost" and a["port"] == 80 for a in answers)


def test_arabic_paths_are_requested_percent_encoded(sample_site: FixtureSite) -> None:
    sample_site.add_file("/news/خبر-عاجل.html", "<html>نص</html>".encode(), "text/html")
    for url in (
        sample_site.url("/news/خبر-عاجل.html"),
        sample_site.base_url + "/news/%D8%AE%D8%A8%D8%B1-%D8%B9%D8%A7%D8%AC%D9%84.html",
    ):
        result = get(url)
        assert result.ok and "نص".encode() in (result.body or b""), (url, result.error)
    paths = [r.path for r in sample_site.requests_for("/news/")]
    assert paths == ["/news/خبر-عاجل.html"] * 2  # the site decodes what it was sent


def test_transient_errors_are_retried(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/feeds/aljazeera.xml", Fault(status=503, times=2))
    result = get(
        sample_site.url("/feeds/aljazeera.xml"),
        FetchPolicy(allow_private=LOCAL, retries=2, backoff_s=0.01),
    )
    assert result.ok and result.attempts == 3


def test_long_retry_after_is_not_waited_for(sample_site: FixtureSite) -> None:
    sample_site.set_fault(
        "/feeds/aljazeera.xml", Fault(status=429, headers={"Retry-After": "3600"})
    )
    result = get(sample_site.url("/feeds/aljazeera.xml"))
    assert result.status == 429 and result.retry_after is not None
    assert result.attempts == 1


def test_client_errors_are_not_retried(sample_site: FixtureSite) -> None:
    result = get(sample_site.url("/missing.xml"))
    assert result.status == 404 and result.error and result.attempts == 1


def test_slow_server_hits_the_deadline(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/feeds/aljazeera.xml", Fault(trickle_bytes_per_s=2000))
    policy = FetchPolicy(allow_private=LOCAL, timeout_s=0.5, retries=0)
    result = get(sample_site.url("/feeds/aljazeera.xml"), policy)
    assert result.error and "timed out" in result.error


def test_dropped_connection_is_an_error_not_an_exception(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/feeds/aljazeera.xml", Fault(drop_connection=True))
    result = get(
        sample_site.url("/feeds/aljazeera.xml"), FetchPolicy(allow_private=LOCAL, retries=0)
    )
    assert result.error and result.status is None


def test_per_host_concurrency_is_bounded(sample_site: FixtureSite) -> None:
    sample_site.set_fault("/slow", Fault(delay_s=0.2, status=200, body=b"ok"))
    policy = FetchPolicy(allow_private=LOCAL, per_host_concurrency=2)

    async def run() -> float:
        loop = asyncio.get_running_loop()
        async with Fetcher(policy) as fetcher:
            start = loop.time()
            await asyncio.gather(
                *(fetcher.get(sample_site.url("/slow"), max_bytes=100) for _ in range(6))
            )
            return loop.time() - start

    # 6 requests, 2 at a time, 0.2 s each: at least three rounds.
    assert asyncio.run(run()) >= 0.55


def test_a_response_over_the_limit_is_final_and_not_retried(sample_site: FixtureSite) -> None:
    sample_site.add_file("/big.html", b"x" * 200_000, "text/html")
    policy = FetchPolicy(allow_private=LOCAL, retries=2, backoff_s=0.01)
    result = get(sample_site.url("/big.html"), policy, max_bytes=50_000)
    assert result.final and result.attempts == 1
    assert len(sample_site.requests_for("/big.html")) == 1


def test_min_host_delay_spaces_requests_to_one_host(sample_site: FixtureSite) -> None:
    policy = FetchPolicy(allow_private=LOCAL, per_host_concurrency=4, min_host_delay_s=0.15)

    async def run(urls: list[str]) -> float:
        loop = asyncio.get_running_loop()
        async with Fetcher(policy) as fetcher:
            start = loop.time()
            results = await asyncio.gather(*(fetcher.get(u, max_bytes=1_000_000) for u in urls))
            assert all(r.ok for r in results)
            return loop.time() - start

    url = sample_site.url("/feeds/aljazeera.xml")
    # Four requests to one host: each starts 0.15 s after the one before, concurrency or not.
    assert asyncio.run(run([url] * 4)) >= 0.45
    # One request to each of two hosts (by name and by address): no wait between them.
    port = sample_site.base_url.rsplit(":", 1)[1]
    other = f"http://localhost:{port}/feeds/aljazeera.xml"
    policy = FetchPolicy(
        allow_private=AllowList.parse(["127.0.0.1", "localhost"]), min_host_delay_s=1.0
    )
    assert asyncio.run(run([url, other])) < 0.9


# robots.txt (article pages only) -------------------------------------------------------------

ROBOTS = b"""# marsad may read the news but not the private area; other robots nothing at all
User-agent: marsad
Disallow: /aljazeera/news/breaking-
Disallow: /private/

User-agent: *
Disallow: /
"""


def get_pages(
    site: FixtureSite, paths: list[str], policy: FetchPolicy | None = None
) -> list[FetchResult]:
    policy = policy or FetchPolicy(allow_private=LOCAL, user_agent="marsad/0.1 (+https://x.test)")

    async def run() -> list[FetchResult]:
        async with Fetcher(policy) as fetcher:
            return await asyncio.gather(
                *(fetcher.get(site.url(p), max_bytes=1_000_000, obey_robots=True) for p in paths)
            )

    return asyncio.run(run())


ALLOWED_PAGE = "/aljazeera/news/doha-conference-arabic-language-models.html"
DISALLOWED_PAGE = "/aljazeera/news/breaking-earthquake-southern-iran.html"


def test_robots_txt_disallows_a_page_which_is_then_not_requested(sample_site: FixtureSite) -> None:
    sample_site.add_file("/robots.txt", ROBOTS, "text/plain")
    allowed, disallowed, again = get_pages(
        sample_site, [ALLOWED_PAGE, DISALLOWED_PAGE, DISALLOWED_PAGE]
    )
    assert allowed.ok
    assert disallowed.error == "disallowed by robots.txt" and disallowed.final
    assert disallowed.attempts == 1 and again.error == disallowed.error
    assert sample_site.requests_for(DISALLOWED_PAGE) == []
    # Fetched once for the three pages, by the same descriptive User-Agent.
    robots = sample_site.requests_for("/robots.txt")
    assert len(robots) == 1 and robots[0].headers["user-agent"].startswith("marsad/")


def test_robots_txt_is_checked_after_a_redirect(sample_site: FixtureSite) -> None:
    sample_site.add_file("/robots.txt", ROBOTS, "text/plain")
    sample_site.set_fault("/go", Fault(status=302, headers={"Location": "/private/page.html"}))
    (result,) = get_pages(sample_site, ["/go"])
    assert result.error == "disallowed by robots.txt"
    assert sample_site.requests_for("/private/") == []


def test_robots_txt_can_be_switched_off(sample_site: FixtureSite) -> None:
    sample_site.add_file("/robots.txt", ROBOTS, "text/plain")
    policy = FetchPolicy(allow_private=LOCAL, respect_robots_txt=False)
    (result,) = get_pages(sample_site, [DISALLOWED_PAGE], policy)
    assert result.ok
    assert sample_site.requests_for("/robots.txt") == []


def test_feeds_are_not_checked_against_robots_txt(sample_site: FixtureSite) -> None:
    sample_site.add_file("/robots.txt", b"User-agent: *\nDisallow: /\n", "text/plain")
    assert get(sample_site.url("/feeds/aljazeera.xml")).ok
    assert sample_site.requests_for("/robots.txt") == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=404),
        Fault(status=403),
        Fault(status=503),  # lenient: RFC 9309 would disallow everything
        Fault(drop_connection=True),
        Fault(delay_s=2.0),  # longer than the timeout below
        Fault(status=200, body=b"<html><body>Not a robots file</body></html>"),
    ],
    ids=["404", "403", "503", "reset", "timeout", "html"],
)
def test_a_missing_or_broken_robots_txt_allows_everything(
    sample_site: FixtureSite, fault: Fault
) -> None:
    sample_site.set_fault("/robots.txt", fault)
    policy = FetchPolicy(allow_private=LOCAL, timeout_s=0.5, retries=0)
    (result,) = get_pages(sample_site, [DISALLOWED_PAGE], policy)
    assert result.ok
    assert len(sample_site.requests_for(DISALLOWED_PAGE)) == 1
