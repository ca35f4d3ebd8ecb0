"""The short cuts extract_page takes for speed give what the long way gave.

extract_page parses a page once, reads the metadata itself instead of trafilatura's
with_metadata (no htmldate, no body author search unless needed), runs trafilatura in fast mode
with the fallback extractors only for a short text, and skips the date text and the author
search when the feed entry already gives them (extractors.workers.extract_one). Pages: the
bundled sample site and the real Arabic pages in tests/fixtures/arabic.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trafilatura

from extractors import article
from extractors.article import (
    FeedContext,
    decode_html,
    extract_page,
    may_name_author,
    page_metadata,
)
from extractors.feeds import FeedEntry
from extractors.workers import extract_one
from flows.fixture_site import SAMPLE_SITE_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "arabic"
AMMAN = FeedContext("almadenah", "المدينة نيوز", ZoneInfo("Asia/Amman"))
ALMADENAH_URL = "https://www.almadenahnews.com/article/825076"
FETCHED = datetime(2020, 4, 26, tzinfo=UTC)


def real_page(name: str) -> str:
    return decode_html(gzip.decompress((FIXTURES / name).read_bytes()))


def sample_page(path: str) -> str:
    raw = (SAMPLE_SITE_ROOT / path).with_suffix(".tmpl.html").read_bytes()
    return decode_html(raw.replace(b"{{BASE}}", b"http://127.0.0.1:8000"))


PAGES = {
    "cnn-arabic": lambda: real_page("cnn-arabic.html.gz"),
    "almadenahnews": lambda: real_page("almadenahnews.html.gz"),
    "aljazeera": lambda: sample_page("aljazeera/news/oil-prices-rise-opec-plus-extends-cuts.html"),
    "baghdadtoday": lambda: sample_page("baghdadtoday/news/268398.html"),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_metadata_is_trafilaturas(name: str) -> None:
    html = PAGES[name]()
    url = f"https://example.org/{name}"
    expected = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, fast=True
    )
    found = page_metadata(trafilatura.load_html(html), url=url)
    for field in ("title", "author", "description", "sitename"):
        assert getattr(found, field) == getattr(expected, field), field
    assert found.title  # the comparison above is not between two Nones only


BYLINE = (
    "<html><head><title>Budget passed</title></head><body><article><h1>Budget passed</h1>"
    '<p class="author">Ahmed Ali</p>'
    + "".join(
        f"<p>{'The parliament voted on the budget after a long debate. ' * 6}</p>" for _ in range(4)
    )
    + "</article></body></html>"
)


def test_the_author_search_runs_only_when_the_feed_has_no_author() -> None:
    url = "https://example.org/budget"
    assert extract_page(BYLINE, url=url, tz=ZoneInfo("UTC")).author == "Ahmed Ali"
    skipped = extract_page(BYLINE, url=url, tz=ZoneInfo("UTC"), find_author=False)
    assert skipped.author is None
    context = FeedContext("example", "Example", ZoneInfo("UTC"))
    for feed_author, stored in ((None, "Ahmed Ali"), ("Sara Haddad", "Sara Haddad")):
        entry = FeedEntry(url=url, title="Budget passed", author=feed_author)
        built, error = extract_one(entry, context, FETCHED, BYLINE, None, False)
        assert error is None and built is not None
        assert built.author == stored


def test_a_page_without_any_author_markup_has_no_author() -> None:
    html = BYLINE.replace(' class="author"', "")
    assert extract_page(html, url="https://example.org/b", tz=ZoneInfo("UTC")).author is None


# One byline per kind of test in trafilatura's AUTHOR_XPATHS (attribute values, the <author>
# element, the <rel> child its "rel='me'" reads).
BYLINE_MARKUP = [
    '<a rel="author">Ahmed Ali</a>',
    '<span id="author">Ahmed Ali</span>',
    '<p itemprop="author name">Ahmed Ali</p>',
    '<span data-testid="AuthorCard">Ahmed Ali</span>',
    '<span class="story-authorName">Ahmed Ali</span>',
    "<author>Ahmed Ali</author>",
    "<p>Ahmed Ali<rel>me</rel></p>",
    '<div class="byline">Ahmed Ali</div>',
    '<p class="username">Ahmed Ali</p>',
    '<p class="byl">Ahmed Ali</p>',
    '<p class="BBL">Ahmed Ali</p>',
    '<span itemprop="creator author">Ahmed Ali</span>',
    '<span id="zuozhe">Ahmed Ali</span>',
    '<span class="channel-name">Ahmed Ali</span>',
    '<h4 class="posted-by">Ahmed Ali</h4>',
    '<span class="journalist-name">Ahmed Ali</span>',
    '<div data-component="Byline">Ahmed Ali</div>',
    '<div id="Author-box">Ahmed Ali</div>',
    '<div class="screenname">Ahmed Ali</div>',
    '<div class="writer">Ahmed Ali</div>',
]


@pytest.mark.parametrize("markup", BYLINE_MARKUP)
def test_every_kind_of_byline_markup_lets_the_author_search_run(markup: str) -> None:
    from trafilatura.metadata import extract_author

    html = BYLINE.replace('<p class="author">Ahmed Ali</p>', markup)
    tree = trafilatura.load_html(html)
    found = extract_author(tree)  # it searches a copy: the tree stays as parsed
    assert found  # trafilatura finds a byline there: the markup is real
    assert may_name_author(tree)
    page = extract_page(html, url="https://example.org/b", tz=ZoneInfo("UTC"))
    assert page.author == found


def test_byline_words_outside_the_markup_do_not_start_the_search() -> None:
    words = "<p>The author, a writer with a byline</p><script>var author = 'x';</script>"
    html = BYLINE.replace('<p class="author">Ahmed Ali</p>', words)
    assert not may_name_author(trafilatura.load_html(html))
    assert extract_page(html, url="https://example.org/b", tz=ZoneInfo("UTC")).author is None


def test_the_date_text_is_extracted_only_when_the_feed_has_no_date() -> None:
    # almadenahnews: no date in its metadata; "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً"
    # only in the text that favor_precision drops.
    html = real_page("almadenahnews.html.gz")
    page = extract_page(html, url=ALMADENAH_URL, tz=AMMAN.timezone)
    assert page.published_at is None and page.date_text and "2020" in page.date_text
    spared = extract_page(html, url=ALMADENAH_URL, tz=AMMAN.timezone, find_date_text=False)
    assert spared.date_text is None and spared.text == page.text
    undated = FeedEntry(url=ALMADENAH_URL)
    built, _ = extract_one(undated, AMMAN, FETCHED, html, None, False)
    assert built is not None
    assert (built.published_at, built.published_at_source) == (
        datetime(2020, 4, 24, 18, 22, tzinfo=UTC),
        "text",
    )
    feed_date = datetime(2020, 4, 25, 6, 0, tzinfo=UTC)
    dated = FeedEntry(url=ALMADENAH_URL, published_at=feed_date)
    built, _ = extract_one(dated, AMMAN, FETCHED, html, None, False)
    assert built is not None
    assert (built.published_at, built.published_at_source) == (feed_date, "feed")


def test_a_feed_date_from_the_future_still_lets_the_text_give_the_date() -> None:
    html = real_page("almadenahnews.html.gz")
    future = FeedEntry(url=ALMADENAH_URL, published_at=datetime(2031, 1, 1, tzinfo=UTC))
    built, _ = extract_one(future, AMMAN, FETCHED, html, None, False)
    assert built is not None and built.published_at_source == "text"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_fast_text_unless_short_then_the_full_cascade(name: str) -> None:
    html = PAGES[name]()
    tree = trafilatura.load_html(html)
    url = f"https://example.org/{name}"
    options = article.TRAFILATURA_OPTIONS
    fast = trafilatura.bare_extraction(html, url=url, **options)
    full = trafilatura.bare_extraction(html, url=url, **{**options, "fast": False})
    chosen = article._extract_text(tree, url, html)
    assert options["fast"] and chosen is not None and fast is not None
    short = len(fast.text) < article.FALLBACK_BELOW_CHARS
    assert chosen.text == (full.text if short else fast.text)


def test_a_short_fast_text_is_redone_with_the_fallback_extractors() -> None:
    # One short paragraph in a layout trafilatura's own rules mostly discard: what the full
    # cascade returns, not the fast result.
    html = (
        "<html><head><title>t</title></head><body><div class='nav'><a href='/'>home</a></div>"
        "<div id='x'><span>" + "كلمة " * 60 + "</span></div></body></html>"
    )
    url = "https://example.org/short"
    options = article.TRAFILATURA_OPTIONS
    full = trafilatura.bare_extraction(html, url=url, **{**options, "fast": False})
    chosen = article._extract_text(trafilatura.load_html(html), url, html)
    assert (chosen.text if chosen else None) == (full.text if full else None)


def test_the_head_links_come_from_the_head_even_when_the_parser_closed_it_early() -> None:
    html = (
        "<html>\n<head>\n<title>t</title>\n<div>stray</div>\n"
        '<link rel="canonical" href="https://example.org/a">\n'
        '<meta name="keywords" content="العراق، البصرة">\n</head>\n<body>\n'
        '<link rel="canonical" href="https://example.org/other">\n'
        '<meta name="keywords" content="غير">\n<p>نص</p>\n</body>\n</html>'
    )
    page = extract_page(html, url="https://example.org/a?x=1", tz=ZoneInfo("UTC"))
    assert (page.canonical, page.tags) == ("https://example.org/a", ("العراق", "البصرة"))


def test_a_page_that_does_not_parse_gives_no_content() -> None:
    page = extract_page("", url="https://example.org/empty", tz=ZoneInfo("UTC"))
    assert page.text is None and page.canonical is None


def test_extract_group_logs_its_cpu_only_when_asked(tmp_path, monkeypatch) -> None:
    """bench/ingest.py reads the CPU extract_one took in a pass's workers from this log."""
    from extractors.workers import CPU_LOG_VARIABLE, extract_group

    html = gzip.decompress((FIXTURES / "almadenahnews.html.gz").read_bytes())
    entry = FeedEntry(url="https://www.almadenahnews.com/article/1")
    jobs = [(entry, AMMAN, FETCHED, html, None, True)] * 2
    log = tmp_path / "cpu.log"
    monkeypatch.delenv(CPU_LOG_VARIABLE, raising=False)
    unlogged = extract_group(jobs)
    assert not log.exists()
    monkeypatch.setenv(CPU_LOG_VARIABLE, str(log))
    logged = extract_group(jobs)
    extract_group(jobs[:1])
    assert [o[0].body for o in logged] == [o[0].body for o in unlogged]
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [int(pages) for _, pages in lines] == [2, 1]
    assert all(float(cpu) > 0 for cpu, _ in lines)
