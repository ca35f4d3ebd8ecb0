"""extractors/article.py: a feed entry and its page turned into an Article; pages decoded.

Pages: the bundled sample site (flows/sample_site, written for this project, with each article's
text in _articles.toml) and two real Arabic pages copied into tests/fixtures/arabic (see its
README): CNN Arabic (with newspaper4k's expected body) and almadenahnews.com.
"""

from __future__ import annotations

import functools
import gzip
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from extractors.article import (
    MIN_PAGE_WORDS,
    FeedContext,
    PageContent,
    build_article,
    decode_html,
    extract_page,
)
from extractors.clean import match_marker
from extractors.feeds import FeedEntry, parse_feed
from extractors.urls import article_id
from flows.fixture_site import SAMPLE_SITE_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "arabic"
BASE = "http://127.0.0.1:8000"
FETCHED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ALJAZEERA = FeedContext("aljazeera", "Al Jazeera", ZoneInfo("Asia/Qatar"))
BAGHDAD = FeedContext("baghdadtoday", "Baghdad Al-Youm", ZoneInfo("Asia/Baghdad"))
TEXTS = tomllib.loads((SAMPLE_SITE_ROOT / "_articles.toml").read_text(encoding="utf-8"))
HEADERS = tomllib.loads((SAMPLE_SITE_ROOT / "_headers.toml").read_text(encoding="utf-8"))
OIL = "/aljazeera/news/oil-prices-rise-opec-plus-extends-cuts.html"
QUAKE = "/aljazeera/news/breaking-earthquake-southern-iran.html"
NASIRIYAH = "/baghdadtoday/news/268398.html"  # dated "(25 شباط 2025)" in its lead
RAMADAN = "/baghdadtoday/news/268415.html"  # title ends in "- عاجل"


def sample_html(path: str) -> str:
    raw = (SAMPLE_SITE_ROOT / path.lstrip("/")).with_suffix(".tmpl.html").read_bytes()
    return decode_html(
        raw.replace(b"{{BASE}}", BASE.encode()), HEADERS.get(path, {}).get("Content-Type")
    )


@functools.cache
def sample_entries() -> dict[str, FeedEntry]:
    """The sample feeds' entries by page path, parsed as a pass parses them."""
    entries = {}
    for feed in ("aljazeera", "baghdadtoday"):
        path = f"/feeds/{feed}.xml"
        body = (SAMPLE_SITE_ROOT / f"feeds/{feed}.tmpl.xml").read_bytes()
        parsed = parse_feed(
            body.replace(b"{{BASE}}", BASE.encode()),
            url=BASE + path,
            content_type=HEADERS.get(path, {}).get("Content-Type"),
        )
        entries |= {e.url.removeprefix(BASE).split("?")[0]: e for e in parsed.entries}
    return entries


def sample_item(path: str) -> dict:
    outlet, _, name = path.removesuffix(".html").split("/")[1:]
    key = "slug" if outlet == "aljazeera" else "id"
    item = next(i for i in TEXTS[outlet] if str(i[key]) == name)
    if "copy_of" in item:  # a republished copy: its own lead, the original's other paragraphs
        original = next(i for i in TEXTS["aljazeera"] if i["slug"] == item["copy_of"])
        item = {**item, "paragraphs": [item["lead"], *original["paragraphs"][1:]]}
    return item


def build(path: str, entry: FeedEntry | None = None, html: str | None = None, **kw):  # type: ignore[no-untyped-def]
    """The article a pass builds from a sample page (or `html` in its place)."""
    feed = ALJAZEERA if path.startswith("/aljazeera") else BAGHDAD
    entry = entry or sample_entries()[path]
    page = extract_page(html or sample_html(path), url=entry.url, tz=feed.timezone)
    return build_article(entry, feed, fetched_at=kw.get("fetched_at", FETCHED), page=page)


def real_page(name: str) -> str:
    return decode_html(gzip.decompress((FIXTURES / name).read_bytes()))


# -- bodies ------------------------------------------------------------------------------------


SAMPLE_PAGES = sorted(sample_entries())


@pytest.mark.parametrize("path", SAMPLE_PAGES)
def test_a_sample_page_gives_its_article_and_nothing_else(path: str) -> None:
    item, article = sample_item(path), build(path)
    if path == QUAKE:  # a 29-word page: the feed's full text (content:encoded) is longer
        assert (article.extraction, article.body) == ("feed", "\n\n".join(item["content"]))
        return
    assert article.extraction == "page"
    assert article.body == "\n\n".join(item["paragraphs"])
    assert article.dateline == item.get("dateline")
    assert article.attribution == item.get("attribution")
    assert article.word_count == len(article.body.split())
    assert article.language == "ar"


def test_a_real_page_keeps_its_text_and_moves_the_dateline_out() -> None:
    url = "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html"
    feed = FeedContext("cnn", "CNN Arabic", ZoneInfo("Asia/Dubai"))
    page = extract_page(real_page("cnn-arabic.html.gz"), url=url, tz=feed.timezone)
    article = build_article(FeedEntry(url=url), feed, fetched_at=FETCHED, page=page)
    expected = (FIXTURES / "cnn-arabic.expected.txt").read_text(encoding="utf-8")
    assert expected.startswith("دمشق، سوريا (CNN) -- ")
    assert article.dateline == "دمشق، سوريا (CNN)"
    assert article.body.split() == expected.removeprefix("دمشق، سوريا (CNN) -- ").split()
    # The page's comment-policy lines ("ترحب شبكة CNN بالنقاش ...") are in trafilatura's text.
    assert any(match_marker(line) for line in page.text.splitlines())
    assert not any(match_marker(p) for p in article.body.split("\n\n"))
    assert article.title == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"


# -- the feed's text or the page's ----------------------------------------------------------------


def words(n: int, word: str = "كلمة") -> str:
    return " ".join([word] * n) + "."


ENTRY = FeedEntry(url=f"{BASE}/news/1.html", title="عنوان الخبر", published_at=FETCHED)


@pytest.mark.parametrize(
    ("summary", "content", "page_words", "chosen"),
    [
        (words(20), None, 60, "page"),  # the page is longer than the summary
        (words(80), None, MIN_PAGE_WORDS, "page"),  # a summary loses to a page of enough words
        (words(80), None, MIN_PAGE_WORDS - 1, "feed"),  # ... not to one below MIN_PAGE_WORDS
        (words(10), None, MIN_PAGE_WORDS - 1, "page"),  # a short page still beats a shorter feed
        (words(10), words(80), 60, "feed"),  # the feed's full text wins over a shorter page
        (words(10), words(50), 60, "page"),  # ... and loses to a longer one
        (words(20), None, 0, "feed"),  # trafilatura found no article
    ],
)
def test_the_feed_or_the_page_gives_the_body(
    summary: str, content: str | None, page_words: int, chosen: str
) -> None:
    entry = replace(ENTRY, summary=summary, content=content)
    page = PageContent(text=words(page_words, "نص") if page_words else None)
    article = build_article(entry, ALJAZEERA, fetched_at=FETCHED, page=page)
    assert article.extraction == chosen
    expected = page.text if chosen == "page" else (content or summary)
    assert article.body == expected


def test_without_a_page_the_feed_summary_is_the_body() -> None:
    trailer = "The post عنوان الخبر appeared first on موقع الخبر."
    entry = replace(ENTRY, summary=f"ملخص الخبر كما ورد في الخلاصة.\n\n{trailer}")
    article = build_article(entry, ALJAZEERA, fetched_at=FETCHED)
    assert (article.extraction, article.body) == ("feed", "ملخص الخبر كما ورد في الخلاصة.")
    assert article.summary == article.body  # the feed's trailer is cleaned off both


# -- publication dates ----------------------------------------------------------------------------


NO_META = ("article:published_time", "x-removed")  # hides the page's own date metadata


@pytest.mark.parametrize(
    ("feed_date", "hide_meta", "expected", "source"),
    [
        (datetime(2025, 2, 25, 6, 0, tzinfo=UTC), False, datetime(2025, 2, 25, 6, 0), "feed"),
        (None, False, datetime(2025, 2, 25, 9, 15), "page"),  # <meta> 12:15+03:00
        # "(25 شباط 2025)" in the lead: a date without a time is midnight in Baghdad
        (None, True, datetime(2025, 2, 24, 21, 0), "text"),
        # a feed date after the fetch is impossible: the page's date is next
        (datetime(2025, 3, 2, tzinfo=UTC), False, datetime(2025, 2, 25, 9, 15), "page"),
    ],
    ids=["feed", "page", "text", "future feed date"],
)
def test_published_at_comes_from_feed_then_page_then_text(
    feed_date: datetime | None, hide_meta: bool, expected: datetime, source: str
) -> None:
    html = sample_html(NASIRIYAH)
    html = html.replace(*NO_META) if hide_meta else html
    entry = replace(sample_entries()[NASIRIYAH], published_at=feed_date)
    article = build(NASIRIYAH, entry, html)
    assert (article.published_at, article.published_at_source) == (
        expected.replace(tzinfo=UTC),
        source,
    )


def test_with_no_date_anywhere_published_at_is_the_fetch_time() -> None:
    html = f"<html><head><title>خبر</title></head><body><article><p>{words(40)}</p></article>"
    page = extract_page(html, url=ENTRY.url, tz=ALJAZEERA.timezone)
    article = build_article(
        replace(ENTRY, published_at=None), ALJAZEERA, fetched_at=FETCHED, page=page
    )
    assert (article.published_at, article.published_at_source) == (FETCHED, "fetched")


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Asia/Amman", datetime(2020, 4, 24, 18, 22)), ("UTC", datetime(2020, 4, 24, 21, 22))],
)
def test_a_time_without_zone_in_the_text_is_read_in_the_feeds_timezone(
    zone: str, expected: datetime
) -> None:
    # The page says only "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً" (no zone, no
    # metadata date): 21:22 in Amman (UTC+3 that day) is 18:22 UTC.
    url = "https://www.almadenahnews.com/article/825076"
    feed = FeedContext("almadenah", "المدينة نيوز", ZoneInfo(zone))
    page = extract_page(real_page("almadenahnews.html.gz"), url=url, tz=feed.timezone)
    assert page.published_at is None
    fetched = datetime(2020, 4, 26, tzinfo=UTC)
    article = build_article(FeedEntry(url=url), feed, fetched_at=fetched, page=page)
    assert (article.published_at, article.published_at_source) == (
        expected.replace(tzinfo=UTC),
        "text",
    )
    assert (article.dateline, article.attribution) == ("المدينة نيوز", "بترا")


def test_a_page_time_without_zone_is_read_in_the_feeds_timezone() -> None:
    html = sample_html(NASIRIYAH).replace("2025-02-25T12:15:00+03:00", "2025-02-25T12:15:00")
    entry = replace(sample_entries()[NASIRIYAH], published_at=None)
    for feed, hour in ((BAGHDAD, 9), (replace(BAGHDAD, timezone=ZoneInfo("UTC")), 12)):
        page = extract_page(html, url=entry.url, tz=feed.timezone)
        article = build_article(entry, feed, fetched_at=FETCHED, page=page)
        assert article.published_at == datetime(2025, 2, 25, hour, 15, tzinfo=UTC)
        assert article.published_at_source == "page"


def test_a_page_without_an_article_still_gives_its_metadata() -> None:
    html = (
        '<html><head><link rel="canonical" href="https://example.org/a">'
        '<meta property="article:published_time" content="2025-02-25T12:15:00+03:00">'
        '<meta name="keywords" content="العراق، البصرة"></head><body></body></html>'
    )
    page = extract_page(html, url="https://example.org/a?x=1", tz=BAGHDAD.timezone)
    assert page.text is None
    assert page.published_at == datetime(2025, 2, 25, 9, 15, tzinfo=UTC)
    assert (page.canonical, page.tags) == ("https://example.org/a", ("العراق", "البصرة"))


# -- title, tags, URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "entry_title", "breaking"),
    [
        (RAMADAN, True, True),  # "... - عاجل" in the feed
        (QUAKE, True, True),  # "عاجل | ..." in the feed
        (OIL, False, False),  # no feed title: the page's "... - الجزيرة نت"
    ],
)
def test_the_title_is_cleaned_and_marks_breaking_news(
    path: str, entry_title: bool, breaking: bool
) -> None:
    entry = sample_entries()[path]
    entry = entry if entry_title else replace(entry, title=None)
    article = build(path, entry)
    written = sample_item(path)["title"]
    clean = written.replace("عاجل | ", "").removesuffix(" - عاجل")
    assert (article.title, article.is_breaking) == (clean, breaking)
    assert written != clean or not breaking


def test_tags_merge_the_pages_and_the_feeds() -> None:
    item = sample_item(OIL)
    entry = sample_entries()[OIL]
    assert list(entry.tags) == item["categories"]
    article = build(OIL, replace(entry, tags=(*entry.tags, item["keywords"][0])))
    assert article.tags == [*item["keywords"], *item["categories"]]


def test_the_canonical_link_names_the_article() -> None:
    article = build(OIL)
    assert "utm_source=rss" in article.url
    assert article.canonical_url == BASE + OIL
    assert article.article_id == article_id(BASE + OIL)


# -- decoding pages --------------------------------------------------------------------------


TITLE = "وزارة الكهرباء تعلن جدولا جديدا للتجهيز"
BODY = "أعلنت وزارة الكهرباء العراقية اليوم جدولا جديدا لساعات التجهيز في بغداد والمحافظات."


def page_bytes(encoding: str, meta: str | None = None) -> bytes:
    head = f'<meta charset="{meta}">' if meta else ""
    html = f"<!DOCTYPE html><html lang='ar'><head>{head}<title>{TITLE}</title></head>"
    return (html + f"<body><p>{BODY}</p></body></html>").encode(encoding)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(page_bytes("cp1256", "windows-1256"), "text/html", id="windows-1256 meta"),
        pytest.param(page_bytes("cp1256"), "text/html; charset=windows-1256", id="cp1256 HTTP"),
        pytest.param(page_bytes("iso-8859-6", "iso-8859-6"), None, id="ISO-8859-6 meta"),
        pytest.param(page_bytes("iso-8859-6"), "text/html; charset=ISO-8859-6", id="8859-6 HTTP"),
        pytest.param(page_bytes("utf-16"), "text/html", id="UTF-16 with BOM"),
        pytest.param(page_bytes("utf-16-be"), None, id="UTF-16BE without BOM"),
        pytest.param(page_bytes("utf-8-sig"), "text/html; charset=cp1256", id="UTF-8 BOM wins"),
        pytest.param(page_bytes("cp1256"), None, id="windows-1256 unlabelled"),
        pytest.param(page_bytes("cp1256"), "text/html; charset=utf-8", id="cp1256 said UTF-8"),
        pytest.param(
            page_bytes("cp1256"), "text/html; charset=iso-8859-1", id="cp1256 said 8859-1"
        ),
        pytest.param(page_bytes("cp1256", "iso-8859-1"), None, id="cp1256 meta says 8859-1"),
        pytest.param(
            page_bytes("utf-8"), "text/html; charset=windows-1256", id="UTF-8 said cp1256"
        ),
        pytest.param(page_bytes("utf-8", "windows-1256"), None, id="UTF-8 meta says cp1256"),
    ],
)
def test_pages_decode_to_their_text(body: bytes, content_type: str | None) -> None:
    text = decode_html(body, content_type)
    assert TITLE in text and BODY in text
    assert not text.startswith("\ufeff")


def test_a_stray_byte_does_not_turn_a_utf8_page_into_mojibake() -> None:
    body = page_bytes("utf-8")
    broken = body.replace(b"<p>", b"<p>\xff", 1)
    text = decode_html(broken, "text/html; charset=utf-8")
    assert BODY in text and "\ufffd" in text


def test_the_windows_1256_sample_page_decodes_and_extracts() -> None:
    path = "/baghdadtoday/news/268405.html"
    assert "windows-1256" in HEADERS[path]["Content-Type"]
    assert build(path).body == "\n\n".join(sample_item(path)["paragraphs"])
