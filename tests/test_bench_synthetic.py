"""The synthetic site of bench/ingest.py: deterministic, sized as asked, feeds that parse and
link to served pages shaped like real Arabic news pages. No timing is asserted here."""

from __future__ import annotations

import re

import feedparser
import httpx
import pytest
import trafilatura
from lxml import html as lxml_html

from bench.synthetic_site import (
    COPYRIGHT,
    MOST_READ_HEADING,
    RELATED_HEADING,
    SHARE_LABEL,
    TAGS_HEADING,
    article_path,
    build_site,
    feed_path,
    is_legacy_layout,
    serve_site,
)

BASE = "http://127.0.0.1:9"
ARABIC_WORD = re.compile(r"[\u0621-\u064A]{2,}")
FEEDS, ARTICLES = 3, 4


@pytest.fixture(scope="module")
def site() -> dict[str, tuple[bytes, str]]:
    return build_site(FEEDS, ARTICLES, base_url=BASE, seed=7)


def pages(files: dict[str, tuple[bytes, str]]) -> dict[str, str]:
    return {p: body.decode() for p, (body, _) in files.items() if p.endswith(".html")}


def test_the_site_has_every_feed_and_page_and_nothing_else(site):
    expected = {feed_path(i) for i in range(FEEDS)}
    expected |= {article_path(i, j) for i in range(FEEDS) for j in range(ARTICLES)}
    assert set(site) == expected
    assert {ctype.split(";")[0] for _, ctype in site.values()} == {
        "application/rss+xml",
        "text/html",
    }


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_text(site):
    assert build_site(FEEDS, ARTICLES, base_url=BASE, seed=7) == site
    other = build_site(FEEDS, ARTICLES, base_url=BASE, seed=8)
    assert other[article_path(0, 0)] != site[article_path(0, 0)]


@pytest.mark.parametrize("page_kb", [(30, 60), (40, 45), (50, 100)])
def test_pages_weigh_within_the_bounds(page_kb):
    files = build_site(2, 5, base_url=BASE, seed=1, page_kb=page_kb)
    sizes = [len(body) for path, (body, _) in files.items() if path.endswith(".html")]
    assert len(sizes) == 10
    assert all(page_kb[0] * 1024 <= size <= page_kb[1] * 1024 for size in sizes), sizes


def test_bounds_too_small_for_a_page_are_refused_with_a_sentence():
    with pytest.raises(ValueError, match="raise the upper bound"):
        build_site(1, 2, base_url=BASE, page_kb=(5, 10))
    with pytest.raises(ValueError, match="0 < low < high"):
        build_site(1, 2, base_url=BASE, page_kb=(60, 30))


def test_links_are_absolute_under_the_base_url_without_a_placeholder(site):
    for body, _ in site.values():
        assert b"{{BASE}}" not in body and b"{FILLER}" not in body
    page = site[article_path(1, 2)][0].decode()
    assert f'<link rel="canonical" href="{BASE}/site1/news/2.html">' in page


def test_feeds_parse_as_rss_with_one_dated_arabic_entry_per_article(site):
    for i in range(FEEDS):
        parsed = feedparser.parse(site[feed_path(i)][0])
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "rss20"
        links = [e.link for e in parsed.entries]
        assert links == [BASE + article_path(i, j) for j in range(ARTICLES)]
        for entry in parsed.entries:
            assert entry.published_parsed is not None  # RFC 822 pubDate understood
            assert len(ARABIC_WORD.findall(entry.title)) >= 3
            assert len(ARABIC_WORD.findall(entry.summary)) >= 5


@pytest.mark.parametrize(
    "marker",
    [
        RELATED_HEADING,
        TAGS_HEADING,
        MOST_READ_HEADING,
        SHARE_LABEL,
        COPYRIGHT,
        '<nav class="main-menu"',
        '<meta property="og:title"',
        '<meta name="keywords"',
        '<link rel="canonical"',
        '<script type="application/ld+json">',
        "<style>",
        "window.__APP_STATE__",
    ],
)
def test_every_page_carries_the_boilerplate(site, marker):
    missing = [path for path, html in pages(site).items() if marker not in html]
    assert missing == []


def test_pages_hold_many_arabic_paragraphs(site):
    for html in pages(site).values():
        (body,) = lxml_html.fromstring(html).xpath('//div[@class="news-body" or @class="txt"]')
        assert len(ARABIC_WORD.findall(body.text_content())) >= 150


def test_both_layouts_occur():
    assert {is_legacy_layout(i) for i in range(FEEDS)} == {True, False}


@pytest.mark.parametrize("feed", range(2))  # one modern, one legacy layout
def test_an_extractor_finds_the_article_and_leaves_the_boilerplate(site, feed):
    html = site[article_path(feed, 1)][0].decode()
    text = trafilatura.extract(html) or ""
    lead = re.search(r"<p>([^<]{40})|\n([^<\n]{40})[^<\n]*<br>", html)
    assert lead is not None
    assert (lead.group(1) or lead.group(2)) in text
    for boilerplate in (RELATED_HEADING, MOST_READ_HEADING, COPYRIGHT):
        assert boilerplate not in text


def test_some_articles_are_copies_of_another_sites_story():
    files = build_site(10, 10, base_url=BASE, seed=3, copy_share=0.2)
    titles: dict[str, set[int]] = {}
    for i in range(10):
        for entry in feedparser.parse(files[feed_path(i)][0]).entries:
            titles.setdefault(entry.title, set()).add(i)
    assert any(len(feeds) > 1 for feeds in titles.values())


def test_served_site_answers_every_link_of_its_feeds():
    server = serve_site({})
    try:
        files = build_site(2, 3, base_url=server.base_url, seed=0)
        serve_site(files, server)
        with httpx.Client(timeout=5) as client:
            for i in range(2):
                feed = client.get(server.url(feed_path(i)))
                assert feed.status_code == 200
                for entry in feedparser.parse(feed.content).entries:
                    page = client.get(entry.link)
                    assert page.status_code == 200
                    assert page.content == files[entry.link.removeprefix(server.base_url)][0]
        assert len(server.requests_for("/site")) == 6
    finally:
        server.stop()
