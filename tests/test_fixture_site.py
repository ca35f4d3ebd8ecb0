"""The local fixture site: templates, validators, request log, faults, the bundled sample set."""

from __future__ import annotations

import http.client
import importlib.util
import re
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import feedparser
import httpx
import pytest

from flows.fixture_site import (
    SAMPLE_FEED_PATHS,
    SAMPLE_SITE_ROOT,
    Fault,
    FixtureSite,
    FixtureSiteError,
    served_name,
)

AJ_FEED, BT_FEED = SAMPLE_FEED_PATHS["aljazeera"], SAMPLE_FEED_PATHS["baghdadtoday"]
WINDOWS_1256_PAGE = "/baghdadtoday/news/268405.html"
BREAKING_TITLE = "مجلس الوزراء يقرر تقليص ساعات الدوام الرسمي خلال شهر رمضان - عاجل"

pytestmark = pytest.mark.integration


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    with FixtureSite(SAMPLE_SITE_ROOT) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, trust_env=False) as http:
        yield http


def parse_feed(response: httpx.Response) -> feedparser.FeedParserDict:
    headers = {"content-type": response.headers["content-type"]}
    return feedparser.parse(response.content, response_headers=headers)


# templates and paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [("aljazeera.tmpl.xml", "aljazeera.xml"), ("a.b.tmpl.html", "a.b.html"), ("x.xml", "x.xml")],
)
def test_served_name_drops_the_template_marker(file_name: str, expected: str) -> None:
    assert served_name(file_name) == expected


def test_feed_is_served_with_base_substituted(site: FixtureSite, client: httpx.Client) -> None:
    response = client.get(site.url(AJ_FEED))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/rss+xml"
    assert b"{{BASE}}" not in response.content
    assert f"<link>{site.base_url}/aljazeera/news/".encode() in response.content
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", site.base_url)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/feeds",
        "/feeds/",
        "/feeds/aljazeera.tmpl.xml",
        "/_headers.toml",
        "/_articles.toml",
        "/feeds/missing.xml",
        "/feeds/../_headers.toml",
        "/feeds/%2e%2e/_headers.toml",
    ],
)
def test_unservable_paths_are_404(site: FixtureSite, path: str) -> None:
    # http.client sends the path exactly as written, where httpx would normalise "..".
    connection = http.client.HTTPConnection(site.host, int(site.base_url.rsplit(":", 1)[1]))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert (response.status, response.read()) == (404, b"404 Not Found\n")
    finally:
        connection.close()


def test_windows_1256_feed_keeps_its_bytes(site: FixtureSite, client: httpx.Client) -> None:
    response = client.get(site.url(BT_FEED))
    assert response.headers["content-type"] == "application/rss+xml; charset=windows-1256"
    assert response.content.startswith(b'<?xml version="1.0" encoding="windows-1256"?>')
    assert BREAKING_TITLE.encode("cp1256") in response.content
    assert BREAKING_TITLE in response.content.decode("cp1256")
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")


def test_windows_1256_page_says_so_in_header_and_meta(
    site: FixtureSite, client: httpx.Client
) -> None:
    response = client.get(site.url(WINDOWS_1256_PAGE))
    assert response.headers["content-type"] == "text/html; charset=windows-1256"
    assert b'<meta charset="windows-1256">' in response.content
    text = response.content.decode("cp1256")
    assert "بغداد اليوم - بغداد" in text
    assert "(26 شباط 2025)" in text
    assert response.text == text  # httpx honours the header's charset


def test_headers_table_and_memory_files_in_a_custom_tree(tmp_path: Path) -> None:
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "a.tmpl.html").write_bytes(b"<a href='{{BASE}}/news/a.html'>")
    (tmp_path / "_headers.toml").write_text(
        '"/news/a.html" = { "content-type" = "text/html; charset=latin-1", "X-Robots" = "none" }'
    )
    with FixtureSite(tmp_path) as site, httpx.Client(trust_env=False) as client:
        page = client.get(site.url("/news/a.html"))
        assert page.headers["content-type"] == "text/html; charset=latin-1"
        assert page.headers["x-robots"] == "none"
        assert page.content == f"<a href='{site.base_url}/news/a.html'>".encode()

        site.add_file("/news/a.html", b"new {{BASE}}", "text/plain")
        replaced = client.get(site.url("/news/a.html"))
        assert replaced.content == f"new {site.base_url}".encode()
        assert replaced.headers["x-robots"] == "none"  # the table still applies to the path
        assert replaced.headers["etag"] != page.headers["etag"]

        site.add_file("/generated/opml", b"<opml/>", "text/x-opml")
        generated = client.get(site.url("/generated/opml"))
        assert (generated.status_code, generated.content) == (200, b"<opml/>")
        assert generated.headers["content-type"] == "text/x-opml"


def test_a_broken_headers_table_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "_headers.toml").write_text('"/x" = "not a table"')
    with pytest.raises(FixtureSiteError, match=r"_headers\.toml"):
        FixtureSite(tmp_path)


def test_misuse_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(FixtureSiteError, match="not a directory"):
        FixtureSite(tmp_path / "absent")
    site = FixtureSite(tmp_path)
    with pytest.raises(FixtureSiteError, match="start"):
        _ = site.base_url
    with pytest.raises(FixtureSiteError, match="start with"):
        site.set_fault("feeds/x.xml", Fault(status=500))
    with pytest.raises(FixtureSiteError, match="times"):
        site.set_fault("/x", Fault(status=500, times=-1))


# validators and conditional GET ---------------------------------------------------------------


def test_etag_and_last_modified(site: FixtureSite, client: httpx.Client) -> None:
    response = client.get(site.url(AJ_FEED))
    mtime = int((SAMPLE_SITE_ROOT / "feeds" / "aljazeera.tmpl.xml").stat().st_mtime)
    assert re.fullmatch(r'"[0-9a-f]{24}"', response.headers["etag"])
    assert response.headers["last-modified"] == formatdate(mtime, usegmt=True)
    assert int(response.headers["content-length"]) == len(response.content)
    assert client.get(site.url(AJ_FEED)).headers["etag"] == response.headers["etag"]


def test_if_none_match_gives_304_and_is_logged(site: FixtureSite, client: httpx.Client) -> None:
    etag = client.get(site.url(AJ_FEED)).headers["etag"]
    response = client.get(site.url(AJ_FEED), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    first, second = site.requests_for(AJ_FEED)
    assert (first.method, first.status, "if-none-match" in first.headers) == ("GET", 200, False)
    assert (second.method, second.path, second.status) == ("GET", AJ_FEED, 304)
    assert second.headers["if-none-match"] == etag


def test_if_modified_since(site: FixtureSite, client: httpx.Client) -> None:
    last_modified = client.get(site.url(AJ_FEED)).headers["last-modified"]
    seconds = int((SAMPLE_SITE_ROOT / "feeds" / "aljazeera.tmpl.xml").stat().st_mtime)
    same = client.get(site.url(AJ_FEED), headers={"If-Modified-Since": last_modified})
    assert same.status_code == 304
    older = formatdate(seconds - 1, usegmt=True)
    assert client.get(site.url(AJ_FEED), headers={"If-Modified-Since": older}).status_code == 200
    # If-None-Match decides when both are sent.
    both = {"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    assert client.get(site.url(AJ_FEED), headers=both).status_code == 200


def test_head_answers_headers_only(site: FixtureSite, client: httpx.Client) -> None:
    full = client.get(site.url(AJ_FEED))
    head = client.head(site.url(AJ_FEED))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    assert head.headers["etag"] == full.headers["etag"]
    assert site.requests[-1].method == "HEAD"


def test_other_methods_are_refused(site: FixtureSite, client: httpx.Client) -> None:
    response = client.post(site.url(AJ_FEED), content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert site.requests[-1].status == 405


def test_request_log_order_filter_and_clear(site: FixtureSite, client: httpx.Client) -> None:
    client.get(site.url(AJ_FEED))
    client.get(site.url("/baghdadtoday/news/268415.html?ref=home"))
    client.get(site.url("/nothing-here"))
    assert [(r.path, r.status) for r in site.requests] == [
        (AJ_FEED, 200),
        ("/baghdadtoday/news/268415.html", 200),
        ("/nothing-here", 404),
    ]
    assert site.requests[1].query == "ref=home"
    assert [r.path for r in site.requests_for("/baghdadtoday/")] == [
        "/baghdadtoday/news/268415.html"
    ]
    site.clear_log()
    assert site.requests == []


# faults ---------------------------------------------------------------------------------------


def test_status_fault_with_retry_after(site: FixtureSite, client: httpx.Client) -> None:
    site.set_fault(AJ_FEED, Fault(status=429, headers={"Retry-After": "120"}))
    for _ in range(2):
        response = client.get(site.url(AJ_FEED))
        assert response.status_code == 429
        assert response.headers["retry-after"] == "120"
        assert response.content == b"429 Too Many Requests\n"
    assert [r.status for r in site.requests] == [429, 429]
    site.set_fault(AJ_FEED, None)
    assert client.get(site.url(AJ_FEED)).status_code == 200


def test_times_limits_a_fault(site: FixtureSite, client: httpx.Client) -> None:
    site.set_fault(BT_FEED, Fault(status=503, times=1))
    statuses = [client.get(site.url(BT_FEED)).status_code for _ in range(3)]
    assert statuses == [503, 200, 200]
    assert [r.status for r in site.requests] == statuses


def test_dropped_connection_raises_and_logs_zero(site: FixtureSite, client: httpx.Client) -> None:
    site.set_fault(AJ_FEED, Fault(drop_connection=True, times=1))
    with pytest.raises(httpx.TransportError):
        client.get(site.url(AJ_FEED))
    assert client.get(site.url(AJ_FEED)).status_code == 200
    assert [r.status for r in site.requests] == [0, 200]


def test_delay_holds_the_answer(site: FixtureSite, client: httpx.Client) -> None:
    site.set_fault(AJ_FEED, Fault(delay_s=0.3))
    started = time.monotonic()
    assert client.get(site.url(AJ_FEED)).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.get(site.url(AJ_FEED), timeout=0.1)


def test_redirect_fault_with_location(site: FixtureSite, client: httpx.Client) -> None:
    site.set_fault("/old/feed.xml", Fault(status=301, headers={"Location": AJ_FEED}))
    response = client.get(site.url("/old/feed.xml"), follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url) == site.url(AJ_FEED)
    assert [(r.path, r.status) for r in site.requests] == [("/old/feed.xml", 301), (AJ_FEED, 200)]


def test_body_fault_changes_the_etag(site: FixtureSite, client: httpx.Client) -> None:
    original = client.get(site.url(AJ_FEED))
    site.set_fault(AJ_FEED, Fault(body=b"<rss version='2.0'><channel/></rss>"))
    changed = client.get(site.url(AJ_FEED), headers={"If-None-Match": original.headers["etag"]})
    assert changed.status_code == 200
    assert changed.content == b"<rss version='2.0'><channel/></rss>"
    assert changed.headers["etag"] != original.headers["etag"]


def test_prefix_fault_covers_a_whole_section(site: FixtureSite, client: httpx.Client) -> None:
    site.set_fault("/baghdadtoday/*", Fault(status=500))
    assert client.get(site.url("/baghdadtoday/news/268415.html")).status_code == 500
    assert client.get(site.url(AJ_FEED)).status_code == 200


def test_gzip_only_when_a_fault_asks(site: FixtureSite, client: httpx.Client) -> None:
    plain = client.get(site.url(AJ_FEED), headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    site.set_fault(AJ_FEED, Fault(gzip=True))
    zipped = client.get(site.url(AJ_FEED), headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.content == plain.content  # httpx decoded it


def test_trickle_sends_slowly_but_whole(site: FixtureSite, client: httpx.Client) -> None:
    body = bytes(range(256)) * 4
    site.add_file("/slow.bin", body, "application/octet-stream")
    site.set_fault("/slow.bin", Fault(trickle_bytes_per_s=4096))
    started = time.monotonic()
    assert client.get(site.url("/slow.bin")).content == body
    assert time.monotonic() - started >= 0.2


# life cycle -----------------------------------------------------------------------------------


def test_stop_is_prompt_with_busy_and_idle_connections(capfd: pytest.CaptureFixture[str]) -> None:
    site = FixtureSite(SAMPLE_SITE_ROOT).start()
    idle = httpx.Client(trust_env=False)
    idle.get(site.url(AJ_FEED))  # leaves a keep-alive connection open
    site.set_fault(BT_FEED, Fault(delay_s=30))
    hung = http.client.HTTPConnection(site.host, int(site.base_url.rsplit(":", 1)[1]), timeout=5)
    hung.request("GET", BT_FEED)
    time.sleep(0.1)
    started = time.monotonic()
    site.stop()
    assert time.monotonic() - started < 1.0
    port = site.base_url.rsplit(":", 1)[1]
    assert f"fixture-site-{port}" not in {thread.name for thread in threading.enumerate()}
    with pytest.raises(httpx.ConnectError):
        httpx.get(site.url(AJ_FEED), trust_env=False)
    idle.close()
    hung.close()
    assert capfd.readouterr().err == ""  # quiet: nothing per request on stderr


# the bundled sample set -----------------------------------------------------------------------


def test_feeds_parse_cleanly(site: FixtureSite, client: httpx.Client) -> None:
    aljazeera = parse_feed(client.get(site.url(AJ_FEED)))
    baghdad = parse_feed(client.get(site.url(BT_FEED)))
    for parsed in (aljazeera, baghdad):
        assert parsed.bozo is False
        assert len(parsed.entries) == 8
        assert all(entry.published_parsed and entry.tags for entry in parsed.entries)
    assert baghdad.encoding == "windows-1256"
    tracked = [e.link for e in aljazeera.entries if "?" in e.link]
    assert tracked == [
        f"{site.base_url}/aljazeera/news/oil-prices-rise-opec-plus-extends-cuts.html"
        "?utm_source=rss&utm_medium=feed"
    ]
    assert [e.title for e in baghdad.entries if e.title.endswith("- عاجل")] == [BREAKING_TITLE]
    assert all(e.published.endswith("+0300") for e in baghdad.entries)


def test_every_feed_link_resolves_to_its_page(site: FixtureSite, client: httpx.Client) -> None:
    for feed_path in SAMPLE_FEED_PATHS.values():
        for entry in parse_feed(client.get(site.url(feed_path))).entries:
            page = client.get(entry.link)
            assert page.status_code == 200, entry.link
            assert page.headers["content-type"].startswith("text/html")
            canonical = entry.link.split("?")[0]
            assert f'<link rel="canonical" href="{canonical}">' in page.text
            assert f"<title>{entry.title} - " in page.text


def article_text(page: str) -> list[str]:
    body = re.search(r'<div class="(?:wysiwyg|news-body)">(.*?)\n</div>', page, re.S)
    assert body is not None
    return re.findall(r"<p>(.*?)</p>", body.group(1))


def test_tiny_page_has_a_fuller_feed_entry(site: FixtureSite, client: httpx.Client) -> None:
    entries = parse_feed(client.get(site.url(AJ_FEED))).entries
    sizes = {
        e.link: sum(len(p.split()) for p in article_text(client.get(e.link).text)) for e in entries
    }
    tiny = [link for link, words in sizes.items() if words < 40]
    assert tiny == [f"{site.base_url}/aljazeera/news/breaking-earthquake-southern-iran.html"]
    entry = next(e for e in entries if e.link == tiny[0])
    assert len(entry.content[0].value.split()) > 2 * sizes[tiny[0]]
    assert all(150 <= words <= 500 for link, words in sizes.items() if link not in tiny)


def test_cross_outlet_copy_differs_in_one_sentence(site: FixtureSite, client: httpx.Client) -> None:
    original = article_text(
        client.get(site.url("/aljazeera/news/iraq-signs-solar-power-plants-deal.html")).text
    )
    dateline, *copy = article_text(client.get(site.url("/baghdadtoday/news/268422.html")).text)
    assert dateline == "بغداد اليوم - متابعة"
    assert original[-1] == "المصدر: الجزيرة"
    assert copy[1:] == original[1:-1]
    assert copy[0] != original[0]


def test_committed_files_match_the_generator() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_sample_site", SAMPLE_SITE_ROOT / "make_sample_site.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    files = generator.build()
    for relative, body in files.items():
        assert (SAMPLE_SITE_ROOT / relative).read_bytes() == body, relative
    on_disk = {
        path.relative_to(SAMPLE_SITE_ROOT)
        for folder in ("feeds", "aljazeera", "baghdadtoday")
        for path in (SAMPLE_SITE_ROOT / folder).rglob("*")
        if path.is_file()
    }
    assert on_disk | {Path("_headers.toml")} == set(files)  # nothing stray is served
    served = sum(p.stat().st_size for p in SAMPLE_SITE_ROOT.rglob("*") if p.is_file())
    assert served < 400_000
