"""Feed parsing: encodings, unsafe XML, partial feeds, HTML where a feed was expected, and the
malformed feeds of feedparser's own test suite."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from extractors.article import decode_html
from extractors.feeds import detect_encoding, parse_feed

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
MALFORMED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "feeds-malformed"
URL = "http://127.0.0.1:8000/feeds/news.xml"
TITLE = "وزير النفط العراقي يعلن زيادة الصادرات"
SUMMARY = "أعلنت وزارة النفط العراقية اليوم عن ارتفاع صادرات الخام إلى مستويات قياسية"


def rss(declared: str | None = None, items: int = 1) -> str:
    """A small Arabic RSS feed; `declared` goes in the XML declaration's encoding."""
    declaration = f' encoding="{declared}"' if declared else ""
    body = "".join(
        f"<item><title>{TITLE}</title><link>http://127.0.0.1:8000/news/{i}</link>"
        f"<description>{SUMMARY}</description></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0"{declaration}?>\n<rss version="2.0"><channel><title>أخبار</title>'
        f"<link>http://127.0.0.1:8000/</link>{body}</channel></rss>"
    )


# (case, body, HTTP Content-Type): every one must decode to the Arabic text.
ENCODED_FEEDS: list[tuple[str, bytes, str | None]] = [
    ("windows-1256 declared", rss("windows-1256").encode("cp1256"), "application/rss+xml"),
    ("windows-1256 in HTTP only", rss().encode("cp1256"), "text/xml; charset=windows-1256"),
    ("ISO-8859-6 declared", rss("ISO-8859-6").encode("iso-8859-6"), "application/rss+xml"),
    ("ISO-8859-6 in HTTP only", rss().encode("iso-8859-6"), "application/xml; charset=iso-8859-6"),
    ("UTF-16 LE with BOM", rss("utf-16").encode("utf-16-le").join([b"\xff\xfe", b""]), None),
    ("UTF-16 BE with BOM", rss("utf-16").encode("utf-16-be").join([b"\xfe\xff", b""]), None),
    ("UTF-16 with BOM, no declaration", rss().encode("utf-16"), "application/rss+xml"),
    ("UTF-16 LE without BOM", rss("utf-16").encode("utf-16-le"), None),
    ("UTF-8 with BOM", b"\xef\xbb\xbf" + rss("utf-8").encode(), None),
    (
        "UTF-8 BOM against a windows-1256 declaration",
        b"\xef\xbb\xbf" + rss("windows-1256").encode(),
        None,
    ),
    ("windows-1256, no label at all", rss().encode("cp1256"), None),
    ("windows-1256 labelled UTF-8 in HTTP", rss().encode("cp1256"), "text/xml; charset=utf-8"),
    ("windows-1256 declared UTF-8", rss("utf-8").encode("cp1256"), "application/rss+xml"),
    ("windows-1256 labelled ISO-8859-1", rss().encode("cp1256"), "text/xml; charset=iso-8859-1"),
    ("UTF-8 labelled windows-1256 in HTTP", rss().encode(), "text/xml; charset=windows-1256"),
    ("UTF-8 declared windows-1256", rss("windows-1256").encode(), None),
    ("UTF-8 labelled with a bogus charset", rss().encode(), "text/xml; charset=x-bogus"),
    ("ISO-8859-6, no label at all", rss().encode("iso-8859-6"), None),
]


@pytest.mark.parametrize(("case", "body", "content_type"), ENCODED_FEEDS, ids=lambda v: v)
def test_feeds_decode_to_the_right_text(case: str, body: bytes, content_type: str | None) -> None:
    parsed = parse_feed(body, url=URL, content_type=content_type)
    assert parsed.error is None, case
    assert [e.title for e in parsed.entries] == [TITLE]
    assert parsed.entries[0].summary == SUMMARY
    assert parsed.title == "أخبار"


def test_a_latin_label_on_latin_text_is_kept() -> None:
    french = (
        rss()
        .replace("أخبار", "Actualités")
        .replace(TITLE, "Le président à l'Élysée: réunion décisive")
        .replace(
            SUMMARY,
            "Après une longue journée, le gouvernement a annoncé des mesures très attendues.",
        )
    )
    body = french.encode("cp1252")
    assert detect_encoding(body, "text/xml; charset=iso-8859-1") == "cp1252"
    parsed = parse_feed(body, url=URL, content_type="text/xml; charset=iso-8859-1")
    assert parsed.entries[0].title == "Le président à l'Élysée: réunion décisive"


def page(meta_charset: str | None) -> str:
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    return (
        f"<!DOCTYPE html><html lang='ar'><head>{meta}<title>{TITLE}</title></head>"
        f"<body><p>{SUMMARY}</p></body></html>"
    )


def with_stray_byte(text: str) -> bytes:
    """UTF-8 with one invalid byte in the middle, as a broken CMS template leaves it."""
    body = text.encode()
    middle = body.index(SUMMARY.encode()) + len(SUMMARY.encode())
    return body[:middle] + b" \xff " + body[middle:]


def test_a_stray_byte_does_not_turn_a_utf8_feed_into_mojibake() -> None:
    for content_type in (None, "text/xml; charset=utf-8", "text/xml; charset=windows-1256"):
        parsed = parse_feed(with_stray_byte(rss()), url=URL, content_type=content_type)
        assert [e.title for e in parsed.entries] == [TITLE]


# Pages go through extractors/article.py decode_html (which uses detect_encoding).
ENCODED_PAGES = [
    pytest.param(page("windows-1256").encode("cp1256"), "text/html", id="windows-1256 meta"),
    pytest.param(
        page(None).encode("cp1256"), "text/html; charset=windows-1256", id="windows-1256 HTTP"
    ),
    pytest.param(page("iso-8859-6").encode("iso-8859-6"), "text/html", id="ISO-8859-6 meta"),
    pytest.param(page(None).encode("utf-16"), "text/html", id="UTF-16 with BOM"),
    pytest.param(page(None).encode("cp1256"), "text/html", id="windows-1256 unlabelled"),
    pytest.param(with_stray_byte(page(None)), "text/html", id="UTF-8 with a stray byte"),
    pytest.param(
        with_stray_byte(page("windows-1256")), "text/html", id="UTF-8, a stray byte, meta 1256"
    ),
    pytest.param(page(None).encode("iso-8859-6"), None, id="ISO-8859-6 unlabelled"),
    pytest.param(
        page(None).encode("cp1256"), "text/html; charset=utf-8", id="windows-1256 labelled UTF-8"
    ),
    pytest.param(
        b"\xef\xbb\xbf" + page(None).encode(),
        "text/html; charset=windows-1256",
        id="UTF-8 BOM against the HTTP label",
    ),
    pytest.param(
        page(None).encode("cp1256"),
        "text/html; charset=iso-8859-1",
        id="windows-1256 labelled ISO-8859-1 in HTTP",
    ),
    pytest.param(
        page("iso-8859-1").encode("cp1256"),
        "text/html",
        id="windows-1256 with meta ISO-8859-1",
    ),
    pytest.param(
        page(None).encode(),
        "text/html; charset=windows-1256",
        id="UTF-8 labelled windows-1256 in HTTP",
    ),
    pytest.param(
        page("windows-1256").encode(),
        "text/html",
        id="UTF-8 with meta windows-1256",
    ),
]


@pytest.mark.parametrize(("body", "content_type"), ENCODED_PAGES)
def test_pages_decode_to_the_right_text(body: bytes, content_type: str | None) -> None:
    text = decode_html(body, content_type)
    assert TITLE in text and SUMMARY in text


# Unsafe and broken XML --------------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> bytes:
    declarations = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)
    ]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{chr(10).join(declarations)}\n]>\n'
        f'<rss version="2.0"><channel><title>t &lol{levels};</title>'
        f"<item><title>{TITLE}</title><link>http://127.0.0.1:8000/news/1</link></item>"
        f"<item><title>&lol{levels};</title><link>http://127.0.0.1:8000/news/2</link></item>"
        "</channel></rss>"
    ).encode()


def test_billion_laughs_is_not_expanded_and_is_reported() -> None:
    started = time.perf_counter()
    parsed = parse_feed(billion_laughs(), url=URL)
    assert time.perf_counter() - started < 2.0
    assert parsed.error and "declares XML entities" in parsed.error
    assert [e.url for e in parsed.entries] == [
        "http://127.0.0.1:8000/news/1",
        "http://127.0.0.1:8000/news/2",
    ]
    texts = [parsed.title or ""] + [e.title or "" for e in parsed.entries]
    assert all("lollol" not in t and len(t) < 200 for t in texts)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY secret SYSTEM "http://127.0.0.1:9/secret.txt">]>',
        '<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>',
        # "]>" inside an entity value must not end the DOCTYPE early
        '<!DOCTYPE rss [<!ENTITY a "]>"><!ENTITY secret SYSTEM "http://127.0.0.1:9/secret.txt">]>',
        '<!doctype rss [<!entity secret system "http://127.0.0.1:9/secret.txt">]>',
    ],
    ids=["external", "parameter", "bracket-in-value", "lower-case"],
)
def test_external_entities_are_not_resolved(doctype: str) -> None:
    body = (
        f'<?xml version="1.0"?>{doctype}<rss version="2.0"><channel><title>x&secret;</title>'
        f"<item><title>{TITLE}</title><link>http://127.0.0.1:8000/news/1</link></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(body, url=URL)
    assert parsed.error and "declares XML entities" in parsed.error
    assert [e.title for e in parsed.entries] == [TITLE]
    assert parsed.title in ("x", "x&secret;")  # left as written, never resolved


def test_an_entity_written_inside_an_item_is_not_a_declaration() -> None:
    body = rss().replace(SUMMARY, "&lt;!ENTITY x &quot;y&quot;&gt; في نص الخبر").encode()
    assert parse_feed(body, url=URL).error is None


def test_a_truncated_feed_keeps_the_entries_read_before_the_cut() -> None:
    full = rss(items=5).encode()
    cut = full[: full.index(b"/news/3")]  # inside the fourth item's link
    parsed = parse_feed(cut, url=URL)
    assert parsed.error and "not well-formed" in parsed.error
    assert [e.url for e in parsed.entries] == [f"http://127.0.0.1:8000/news/{i}" for i in range(3)]
    assert all(e.title == TITLE for e in parsed.entries)


def test_items_without_a_link_are_reported() -> None:
    body = rss(items=2).replace("<link>http://127.0.0.1:8000/news/1</link>", "").encode()
    parsed = parse_feed(body, url=URL)
    assert len(parsed.entries) == 1
    assert parsed.error == "1 of 2 items have no http(s) link and were skipped"


HOME_PAGE = b"""<!DOCTYPE html><html><head><title>Home</title>
<link rel="alternate" type="application/rss+xml" title="RSS" href="/rss/all.xml">
<link rel="alternate" type="application/atom+xml" href="https://127.0.0.1:8000/atom.xml">
</head><body><p>news</p></body></html>"""


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", None, "application/xml"])
def test_an_html_page_is_reported_with_the_feed_it_advertises(content_type: str | None) -> None:
    parsed = parse_feed(HOME_PAGE, url="http://127.0.0.1:8000/", content_type=content_type)
    assert parsed.is_html and not parsed.entries
    assert parsed.feed_links == (
        "http://127.0.0.1:8000/rss/all.xml",
        "https://127.0.0.1:8000/atom.xml",
    )
    assert parsed.error == (
        "the URL returned an HTML page, not a feed; "
        "the page advertises a feed at http://127.0.0.1:8000/rss/all.xml"
    )


def test_an_html_page_without_a_feed_link_says_so() -> None:
    parsed = parse_feed(b"<html><body>Not found</body></html>", url=URL, content_type="text/html")
    assert parsed.error == "the URL returned an HTML page, not a feed"


# Real malformed feeds ---------------------------------------------------------------------------

HEADER_LINE = re.compile(rb"^Header:\s*Content-type:\s*(.*?)\s*$", re.MULTILINE | re.IGNORECASE)


def content_type_of(body: bytes) -> str | None:
    """The Content-Type a feedparser test case is served with (its `Header:` comment line)."""
    match = HEADER_LINE.search(body)
    return match.group(1).decode("ascii") if match else None


def has_link(url: str) -> Callable[[object], bool]:
    return lambda p: [e.url for e in p.entries] == [url]  # type: ignore[attr-defined]


def error_says(text: str) -> Callable[[object], bool]:
    return lambda p: text in (p.error or "")  # type: ignore[attr-defined]


def title_is(text: str) -> Callable[[object], bool]:
    return lambda p: p.title == text  # type: ignore[attr-defined]


def clean_with_version(version: str) -> Callable[[object], bool]:
    return lambda p: p.error is None and p.version == version  # type: ignore[attr-defined]


# One case per fixture file (tests/fixtures/feeds/README.md says where each comes from).
FIXTURE_EXPECTATIONS: dict[str, Callable[[object], bool]] = {
    "encoding_utf-16le-bom.xml": clean_with_version("rss"),
    "encoding_utf-32be-autodetect.xml": clean_with_version("rss"),
    "encoding_http_text_xml_charset_overrides_encoding.xml": clean_with_version("rss20"),
    "encoding_bozo_http_i18n.xml": title_is("Iñtërnâtiônàlizætiøn"),
    "encoding_bozo_invalid-bytes-with-bom.xml": error_says("not well-formed"),
    "encoding_bozo_bogus_encoding.xml": clean_with_version("rss"),
    "entities_rlm.xml": title_is("testing \u200f entity"),
    "entities_zwnj.xml": title_is("testing \u200c entity"),
    "illformed_chardet_windows1255.xml": error_says("1 of 1 items have no http(s) link"),
    "illformed_rss_incomplete_cdata.xml": title_is("can feedparser read this xml"),
    "illformed_rss_empty_document.xml": error_says("not well-formed"),
    "illformed_rss_item_link_corrupted_ampersands.xml": has_link("http://link/get?a=1&b=2"),
    "rss_entity_in_doctype.xml": error_says("declares XML entities"),
    "rdf_doctype_contains_entity_decl.xml": error_says("declares XML entities"),
    "base_http_item_link_base_content_location.xml": has_link("http://example.com/relative/uri"),
    "json_example.json": error_says("returned JSON"),
}


def test_every_fixture_file_has_an_expectation() -> None:
    files = {p.name for p in FIXTURES.iterdir() if p.suffix in (".xml", ".json")}
    assert files == set(FIXTURE_EXPECTATIONS)


@pytest.mark.parametrize("name", sorted(FIXTURE_EXPECTATIONS))
def test_malformed_fixture_feeds(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    parsed = parse_feed(body, url="http://example.com/", content_type=content_type_of(body))
    assert FIXTURE_EXPECTATIONS[name](parsed), parsed


def test_the_hebrew_feed_without_any_encoding_information_is_detected() -> None:
    body = (FIXTURES / "illformed_chardet_windows1255.xml").read_bytes()
    assert detect_encoding(body) == "cp1255"


@pytest.mark.skipif(not MALFORMED.is_dir(), reason="the shared feeds-malformed corpus is absent")
def test_every_feed_of_the_malformed_corpus_gives_a_result_or_an_error() -> None:
    files = [p for p in sorted(MALFORMED.rglob("*")) if p.is_file() and p.suffix != ".md"]
    files = [p for p in files if p.name != "LICENSE"]
    assert len(files) > 250
    nothing: list[str] = []
    for path in files:
        body = path.read_bytes()
        parsed = parse_feed(body, url="http://example.com/", content_type=content_type_of(body))
        # A result is entries, or a recognised (if empty) feed; anything else must say why.
        if not (parsed.entries or parsed.version or parsed.error):
            nothing.append(str(path.relative_to(MALFORMED)))
    assert nothing == []


@pytest.mark.parametrize(
    "ref", ["&#xD800;", "&#55296;", "&#x110000;", "&#x" + "F" * 40 + ";", "&#" + "9" * 5000 + ";"]
)
def test_a_reference_to_no_character_does_not_stop_the_feed(ref: str) -> None:
    """feedparser's fallback parser (an ill-formed feed) raised on these, failing the poll."""
    body = (
        '<rss version="2.0"><channel><title>t</title>'
        f"<item><title>خبر {ref} عاجل</title><link>http://127.0.0.1/a</link></item>"
        "<item><title>ثان &#1593;</title><link>http://127.0.0.1/b</link></item><item><x>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(body, url="http://127.0.0.1/feed.xml")
    assert [e.title for e in parsed.entries] == ["خبر \ufffd عاجل", "ثان ع"]
    assert parsed.error and "not well-formed" in parsed.error
