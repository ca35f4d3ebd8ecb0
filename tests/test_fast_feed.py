"""The lxml fast path of parse_feed (extractors/fast_feed.py) gives exactly what feedparser gives.

Every feed available is parsed twice, with the fast path and with it switched off, and the two
ParsedFeeds must be equal; the number of feeds the fast path actually read is counted and checked,
so that a fast path that declined everything could not pass. Then the cases it must decline, and
the RSS details whose reading is easy to get subtly wrong, with their expected values.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench.synthetic_site import build_site
from extractors import fast_feed
from extractors.feeds import ParsedFeed, parse_feed
from flows.fixture_site import SAMPLE_SITE_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
URL = "http://127.0.0.1:8000/feeds/news.xml"
BAGHDAD = ZoneInfo("Asia/Baghdad")
HEADER_LINE = re.compile(rb"^Header:\s*Content-type:\s*(.*?)\s*$", re.MULTILINE | re.IGNORECASE)
NAMESPACES = (
    'xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
    'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
    'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
    'xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
)


class Counter:
    """Counts what fast_feed.parse_rss read and declined while it wraps it."""

    def __init__(self) -> None:
        self.read = 0
        self.declined = 0


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter:
    counter = Counter()
    original = fast_feed.parse_rss

    def parse_rss(body: bytes, **kwargs: object) -> ParsedFeed | None:
        result = original(body, **kwargs)  # type: ignore[arg-type]
        if result is None:
            counter.declined += 1
        else:
            counter.read += 1
        return result

    monkeypatch.setattr(fast_feed, "parse_rss", parse_rss)
    return counter


def both(
    body: bytes,
    *,
    url: str = URL,
    content_type: str | None = None,
    tz: ZoneInfo | None = None,
) -> tuple[ParsedFeed, ParsedFeed]:
    """(with the fast path, with feedparser only) for one body."""
    fast = parse_feed(body, url=url, content_type=content_type, tz=tz)
    fast_feed.ENABLED = False
    try:
        slow = parse_feed(body, url=url, content_type=content_type, tz=tz)
    finally:
        fast_feed.ENABLED = True
    return fast, slow


def content_type_of(body: bytes) -> str | None:
    match = HEADER_LINE.search(body)
    return match.group(1).decode("ascii") if match else None


def rss(
    items: str, channel: str = "<title>أخبار</title><link>http://127.0.0.1:8000/</link>"
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" {NAMESPACES}>'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


# Equivalence on every feed there is -------------------------------------------------------------


def test_fixture_feeds_are_read_alike(counted: Counter) -> None:
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".xml", ".json"))
    assert len(files) >= 17
    for path in files:
        body = path.read_bytes()
        for tz in (None, BAGHDAD):
            fast, slow = both(
                body, url="http://example.com/", content_type=content_type_of(body), tz=tz
            )
            assert fast == slow, path.name
    # edge_cases.xml and the UTF-16/32 and bogus-encoding feeds of feedparser's suite
    assert counted.read >= 2 * 4


def sample_site_feeds() -> Iterator[tuple[str, bytes, str]]:
    for path in sorted((SAMPLE_SITE_ROOT / "feeds").glob("*.tmpl.xml")):
        body = path.read_bytes().replace(b"{{BASE}}", b"http://127.0.0.1:8000")
        charset = "windows-1256" if b"windows-1256" in body[:100] else "utf-8"
        yield path.name, body, f"application/rss+xml; charset={charset}"


def test_sample_site_feeds_are_read_alike_by_the_fast_path(counted: Counter) -> None:
    feeds = list(sample_site_feeds())
    assert len(feeds) == 2
    for name, body, content_type in feeds:
        for tz in (None, BAGHDAD):
            fast, slow = both(body, content_type=content_type, tz=tz)
            assert fast == slow, name
            assert len(fast.entries) == 8 and fast.error is None
    assert counted.read == 4 and counted.declined == 0


def test_synthetic_site_feeds_are_read_alike_by_the_fast_path(counted: Counter) -> None:
    files = build_site(6, 15, base_url="http://127.0.0.1:8123")
    feeds = [(path, body, ctype) for path, (body, ctype) in files.items() if "/feeds/" in path]
    assert len(feeds) == 6
    for path, body, content_type in feeds:
        fast, slow = both(body, url="http://127.0.0.1:8123" + path, content_type=content_type)
        assert fast == slow, path
        assert len(fast.entries) == 15
    assert counted.read == 6 and counted.declined == 0


@pytest.mark.skipif(not CORPORA.is_dir(), reason="the shared corpora are absent")
def test_every_corpus_feed_is_read_alike(counted: Counter) -> None:
    files = [
        p
        for p in sorted(CORPORA.rglob("*"))
        if p.is_file()
        and (
            ("feeds-malformed" in p.parts and p.suffix != ".md" and p.name != "LICENSE")
            or p.suffix in (".rss", ".atom", ".rdf")
            or (p.suffix == ".xml" and "html" not in p.parts)
        )
    ]
    assert len(files) > 250
    for path in files:
        body = path.read_bytes()
        fast, slow = both(body, url="http://example.com/", content_type=content_type_of(body))
        assert fast == slow, str(path.relative_to(CORPORA))
    assert counted.read >= 90  # 96 of feedparser's 276 test feeds are plain RSS 2.0


# Generated feeds: the combinations no fixture has -----------------------------------------------

TEXTS = (
    "وزير النفط يعلن", "  مسافات   حول  ", "Tom &amp; Jerry", "<![CDATA[<p>فقرة <b>مهمة</b></p>]]>",
    "&lt;p&gt;escaped &amp;amp; twice&lt;/p&gt;", "", "   ", "cafÃ© mojibake", "café latin",
    "\u0080 C1 control", "x\u200fy", "&#1575;&#1604; charref", "a\r\nb", "<![CDATA[]]>",
    "\u00a0nbsp\u00a0", "Ã\u00a0",
)  # fmt: skip
LINKS = (
    "http://127.0.0.1:1/a?x=1&amp;y=2", "/relative/path", "relative", "  http://127.0.0.1:1/sp  ",
    "", "mailto:x@example.com", "http://127.0.0.1:1/a?b=1&amp;amp;c=2", "https://127.0.0.1:1/عربي",
    "http:///127.0.0.1:1/slashes", "//127.0.0.1:1/schemeless", "javascript:alert(1)", "?q=1", "#f",
)  # fmt: skip
DATES = (
    "Thu, 27 Feb 2025 08:45:00 GMT", "Thu, 27 Feb 2025 08:45:00 +0300", "2025-02-27T08:45:00",
    "2025-02-27T08:45:00+03:00", "27 شباط 2025", "", "garbage", " 2025-02-27 ",
    "Thu, 27 Feb 2025 08:45:00 AST",
)  # fmt: skip
DOMAINS = ("", ' domain="d"', ' domain=""')
ALTERNATE_ATTRIBUTES = ("", ' rel="alternate"', ' type="text/plain"')
OTHER_ELEMENTS = (
    "<itunes:author>مقدم</itunes:author>", "<dcterms:issued>2025-02-26T08:00:00</dcterms:issued>",
    "<atom:published>2025-02-25T08:00:00Z</atom:published>", "<dc:subject> رياضة </dc:subject>",
    "<wfw:commentRss>/c.rss</wfw:commentRss><slash:comments>4</slash:comments>",
)  # fmt: skip
GUID_ATTRIBUTES = ("", ' isPermaLink="true"', ' isPermaLink="false"', ' isPermaLink="True"')


def random_item(rng: random.Random) -> str:
    c = rng.choice
    parts = {
        "title": lambda: f"<title>{c(TEXTS)}</title>",
        "link": lambda: f"<link>{c(LINKS)}</link>",
        "description": lambda: f"<description>{c(TEXTS)}</description>",
        "content": lambda: f"<content:encoded>{c(TEXTS)}</content:encoded>" * rng.randint(1, 2),
        "author": lambda: f"<author>{c(('a@b.com (Ann)', 'محرر', '', 'x'))}</author>",
        "creator": lambda: f"<dc:creator>{c(('Bob', 'سارة', ' '))}</dc:creator>",
        "pubDate": lambda: f"<pubDate>{c(DATES)}</pubDate>",
        "dc:date": lambda: f"<dc:date>{c(DATES)}</dc:date>",
        "atom:updated": lambda: f"<atom:updated>{c(DATES)}</atom:updated>",
        "dcterms:modified": lambda: f"<dcterms:modified>{c(DATES)}</dcterms:modified>",
        "category": lambda: (
            f"<category{c(DOMAINS)}>{c(('سياسة', ' اقتصاد ', '', 'A &amp; B'))}</category>"
        ),
        "category2": lambda: f"<category>{c(('سياسة', ' اقتصاد '))}</category>",
        "guid": lambda: f"<guid{c(GUID_ATTRIBUTES)}>{c((*LINKS, '12345', ''))}</guid>",
        "enclosure": lambda: f'<enclosure url="{c(LINKS)}" length="1" type="image/jpeg"/>',
        "comments": lambda: f"<comments>{c(LINKS)}</comments>",
        "others": lambda: c(OTHER_ELEMENTS),
        "media": lambda: (
            '<media:content url="http://127.0.0.1:1/i.jpg"/><media:thumbnail url="/t"/>'
        ),
    }
    names = list(parts)
    rng.shuffle(names)
    separator = c(("", "\n", "\n  ", "<!-- c -->"))
    chosen = [parts[name]() for name in names[: rng.randint(0, len(names))]]
    return "<item>" + separator + separator.join(chosen) + separator + "</item>"


def random_feed(rng: random.Random) -> bytes:
    c = rng.choice
    parts = [
        f"<title>{c(TEXTS)}</title>",
        f"<link>{c(LINKS)}</link>",
        '<atom:link href="http://127.0.0.1:1/f.xml" rel="self" type="application/rss+xml"/>',
        f'<atom:link href="{c(LINKS)}"{c(ALTERNATE_ATTRIBUTES)}/>',
        f"<ttl>{c(('60', ' 15 ', 'x', '', '0'))}</ttl>",
        f"<sy:updatePeriod>{c(('hourly', ' Daily ', 'never'))}</sy:updatePeriod>"
        f"<sy:updateFrequency>{c(('2', '0', 'x', ''))}</sy:updateFrequency>",
        f"<image><url>/logo.png</url><title>{c(TEXTS)}</title><link>{c(LINKS)}</link></image>",
        "<description>وصف</description><language>ar</language>",
        "<category domain='x'>عام</category><skipHours><hour>1</hour></skipHours>",
    ]
    rng.shuffle(parts)
    parts = parts[: rng.randint(0, len(parts))]
    at = rng.randint(0, len(parts))
    parts[at:at] = [random_item(rng) for _ in range(rng.randint(0, 5))]
    return rss("", channel="\n".join(parts))


def test_generated_feeds_are_read_alike_by_the_fast_path(counted: Counter) -> None:
    rng = random.Random(20250227)
    for number in range(300):
        body = random_feed(rng)
        url = rng.choice((URL, "https://127.0.0.1:1/a/b/", "http://127.0.0.1:1"))
        tz = rng.choice((None, BAGHDAD))
        fast, slow = both(body, url=url, tz=tz)
        assert fast == slow, (number, body.decode())
    assert counted.read == 300


# What the fast path declines --------------------------------------------------------------------

ITEM = "<item><title>خبر</title><link>http://127.0.0.1:8000/news/1</link></item>"
DECLINED = {
    "unknown item element": rss(ITEM.replace("</item>", "<source url='x'>y</source></item>")),
    "unknown channel element": rss(ITEM, channel="<title>t</title><textInput/>"),
    "unknown namespace": rss(
        ITEM.replace("</item>", '<x:extra xmlns:x="http://127.0.0.1/ns">1</x:extra></item>')
    ),
    "xml:base": rss(ITEM.replace("<item>", '<item xml:base="http://127.0.0.1:9/">')),
    "broken XML": rss(ITEM)[:-20],
    "undefined entity": rss(ITEM.replace("خبر", "a&nbsp;b")),
    "markup in a description": rss(
        ITEM.replace("</item>", "<description><p>x</p></description></item>")
    ),
    "a second title": rss(ITEM.replace("</item>", "<title>ثان</title></item>")),
    "a second description": rss(
        ITEM.replace("</item>", "<description>1</description><description>2</description></item>")
    ),
    "an attribute on a title": rss(ITEM.replace("<title>", '<title type="html">')),
    "a DOCTYPE": b'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "http://127.0.0.1/rss.dtd">'
    + rss(ITEM).split(b"?>", 1)[1],
    "RSS 1.0": b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    b'xmlns="http://purl.org/rss/1.0/"><channel><title>t</title></channel></rdf:RDF>',
    "Atom": b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
    b"<title>t</title><entry><title>e</title><link href='http://127.0.0.1:8000/e'/>"
    b"<id>urn:1</id><updated>2025-02-27T08:00:00Z</updated></entry></feed>",
    "XML 1.1": rss(ITEM).replace(b'version="1.0"', b'version="1.1"', 1),
    "atom:link in an item": rss(
        ITEM.replace("</item>", '<atom:link href="http://127.0.0.1:8000/x"/></item>')
    ),
}


@pytest.mark.parametrize("case", sorted(DECLINED))
def test_the_fast_path_declines_and_feedparser_reads(case: str, counted: Counter) -> None:
    body = DECLINED[case]
    assert fast_feed.parse_rss(body, url=URL) is None
    assert fast_feed.decline_reason(body, url=URL)
    fast, slow = both(body)
    assert fast == slow
    assert counted.read == 0


def test_a_feed_whose_entities_were_removed_never_reaches_the_fast_path(counted: Counter) -> None:
    body = (FIXTURES / "rss_entity_in_doctype.xml").read_bytes()
    fast, slow = both(body, url="http://example.com/")
    assert fast == slow and "declares XML entities" in (fast.error or "")
    assert counted.read == counted.declined == 0


# The RSS details, with their values -------------------------------------------------------------


@pytest.fixture
def edge_cases(counted: Counter) -> ParsedFeed:
    """tests/fixtures/feeds/rss/edge_cases.xml read with the fast path (and checked against
    feedparser), in Baghdad time for dates without a zone."""
    body = (FIXTURES / "rss" / "edge_cases.xml").read_bytes()
    fast, slow = both(body, tz=BAGHDAD)
    assert fast == slow
    assert counted.read == 1
    return fast


def test_channel_values(edge_cases: ParsedFeed) -> None:
    assert edge_cases.title == "أخبار & تقارير"
    assert edge_cases.link == "http://127.0.0.1:8000/"
    assert edge_cases.ttl_minutes == 15  # hourly, 4 times
    assert edge_cases.version == "rss20"
    assert edge_cases.error == "1 of 5 items have no http(s) link and were skipped"


def test_entities_cdata_categories_and_a_permalink_false_guid(edge_cases: ParsedFeed) -> None:
    first = edge_cases.entries[0]
    assert first.title == "وزير النفط & الطاقة يعلن زيادة الصادرات"
    assert first.url == "http://127.0.0.1:8000/news/1?utm_source=rss&utm_medium=feed"
    assert first.summary == "أعلنت وزارة النفط اليوم عن ارتفاع الصادرات.\n\nفقرة ثانية."
    assert first.tags == ("اقتصاد", "نفط")  # duplicates (and one padded copy) kept once
    assert first.guid == "news-1"  # not a permalink: neither resolved nor used as the link
    assert first.published_at == datetime(2025, 2, 27, 8, 45, tzinfo=UTC)


def test_an_empty_title_and_a_relative_permalink_guid(edge_cases: ParsedFeed) -> None:
    second = edge_cases.entries[1]
    assert second.title is None
    assert second.url == second.guid == "http://127.0.0.1:8000/news/2"
    assert second.author == "محرر الأخبار"
    # dc:date is the updated date, and the published one when there is no pubDate; no zone: Baghdad
    assert second.published_at == second.updated_at == datetime(2025, 2, 27, 7, 0, tzinfo=UTC)


def test_a_relative_link_content_and_dates_with_and_without_a_zone(edge_cases: ParsedFeed) -> None:
    third = edge_cases.entries[2]
    assert third.url == "http://127.0.0.1:8000/feeds/news/3.html"
    assert third.summary == "النص الكامل للخبر الثالث."  # content:encoded stands in for it
    assert third.content is None  # the same text as the summary
    assert third.published_at == datetime(2025, 2, 27, 10, 5, tzinfo=UTC)  # 13:05 in Baghdad
    assert third.updated_at == datetime(2025, 2, 27, 11, 0, tzinfo=UTC)  # 14:00+03:00


def test_a_guid_before_any_link_is_the_link(edge_cases: ParsedFeed) -> None:
    fourth = edge_cases.entries[3]
    assert fourth.url == fourth.guid == "http://127.0.0.1:8000/news/4"
    assert fourth.author == "reporter@example.com (مراسل)"
    assert len(edge_cases.entries) == 4  # the fifth item has no link and a non-permalink guid


def test_a_date_without_a_zone_is_read_in_the_feeds_zone() -> None:
    body = rss(ITEM.replace("</item>", "<pubDate>2025-02-27T12:00:00</pubDate></item>"))
    for tz, hour in ((None, 12), (BAGHDAD, 9)):
        fast, slow = both(body, tz=tz)
        assert fast == slow
        assert fast.entries[0].published_at == datetime(2025, 2, 27, hour, tzinfo=UTC)


def test_the_switch_turns_the_fast_path_off(counted: Counter) -> None:
    fast_feed.ENABLED = False
    try:
        parse_feed(rss(ITEM), url=URL)
    finally:
        fast_feed.ENABLED = True
    assert counted.read == counted.declined == 0
    parse_feed(rss(ITEM), url=URL)
    assert counted.read == 1


def test_a_fast_path_failure_falls_back_to_feedparser(monkeypatch) -> None:
    """Whatever goes wrong in the fast path, the feed is still read (by feedparser)."""
    from extractors import fast_feed as module

    body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><link>http://127.0.0.1/a</link></item></channel></rss>"
    )

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    expected = parse_feed(body, url="http://127.0.0.1/feed.xml")
    monkeypatch.setattr(module, "parse_rss", broken)
    assert parse_feed(body, url="http://127.0.0.1/feed.xml") == expected
    assert [e.url for e in expected.entries] == ["http://127.0.0.1/a"]
