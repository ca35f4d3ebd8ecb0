"""extractors.page_tree: a page parsed from its UTF-8 bytes gives trafilatura.load_html's tree,
and a page that trafilatura would repair still goes through load_html."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from trafilatura.utils import load_html

from extractors import page_tree
from extractors.article import FeedContext, decode_page
from extractors.feeds import FeedEntry
from extractors.records import decompress_html
from extractors.workers import extract_one

REPO = Path(__file__).resolve().parents[1]
BODY = "".join(f"<p>الفقرة {n} من نص الخبر عن المفاوضات في بغداد اليوم.</p>\n" for n in range(15))
PAGE = (
    '<!DOCTYPE html>\n<html lang="ar" dir="rtl"><head><meta charset="utf-8">'
    '<title>خبر</title><link rel="canonical" href="https://example.org/a"></head>\n'
    f"<body><article><h1>عنوان الخبر</h1>\n{BODY}</article></body></html>\n"
)
# Pages repair_faulty_html changes: each goes through trafilatura.load_html.
NEEDS_REPAIR = {
    "a control character": PAGE.replace("الفقرة 3", "الفقرة\x0b 3"),
    "a noncharacter": PAGE.replace("الفقرة 4", "الفقرة\uffff 4"),
    "an XHTML doctype": PAGE.replace(
        "<!DOCTYPE html>",
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">',
    ),
    "a doctype on the only line": PAGE.replace("\n", " "),
    "a non-ASCII space before the doctype": "\u00a0" + PAGE,
    "an ideographic space before the doctype": " \u3000\n" + PAGE,
    "a self-closing html tag": PAGE.replace('<html lang="ar" dir="rtl">', '<html lang="ar"/>\n'),
}


def pages() -> list[tuple[str, bytes]]:
    found = [("inline", PAGE.encode("utf-8"))]
    for path in sorted((REPO / "tests" / "fixtures" / "arabic").glob("*.html.gz")):
        found.append((path.name, gzip.decompress(path.read_bytes())))
    for path in sorted((REPO / "flows" / "sample_site").glob("*/news/*.html")):
        found.append((path.name, path.read_bytes()))
    return found


def shape(tree: object) -> tuple:
    """What extraction reads of a tree: its serialization and every element's source line."""
    if tree is None:
        return (None,)
    return (
        etree.tostring(tree, encoding="unicode"),
        tuple(e.sourceline for e in tree.iter()),
    )


def test_the_checked_trafilatura_release_is_the_one_installed() -> None:
    assert page_tree.checked()


def test_pages_parsed_from_their_bytes_give_load_htmls_tree() -> None:
    fast = 0
    for name, body in pages():
        text, utf8 = decode_page(body)
        if utf8 is None:  # a page in another encoding: parsed from its text
            assert text.encode("utf-8") != body, name
            continue
        fast += not page_tree.needs_repair(text, utf8)
        assert shape(page_tree.parse_page(text, utf8)) == shape(load_html(text)), name
    assert fast >= 10, "too few pages took the parse from bytes"


@pytest.mark.parametrize("name", NEEDS_REPAIR)
def test_a_page_trafilatura_repairs_goes_through_load_html(name: str) -> None:
    text = NEEDS_REPAIR[name]
    utf8 = text.encode("utf-8")
    assert page_tree.needs_repair(text, utf8)
    tree = page_tree.parse_page(text, utf8)
    assert tree is not None and shape(tree) == shape(load_html(text))
    assert not page_tree.needs_repair(PAGE, PAGE.encode("utf-8"))


def test_what_load_html_rejects_is_rejected() -> None:
    fragment = "<p>نص قصير</p>"
    assert load_html(fragment) is None
    assert page_tree.parse_page(fragment, fragment.encode("utf-8")) is None


def test_only_exact_utf8_bytes_are_handed_on() -> None:
    text, utf8 = decode_page(PAGE.encode("utf-8"))
    assert (text, utf8) == (PAGE, PAGE.encode("utf-8"))
    bom = b"\xef\xbb\xbf" + PAGE.encode("utf-8")
    assert decode_page(bom) == (PAGE, None)
    cp1256 = PAGE.replace('charset="utf-8"', 'charset="windows-1256"').encode("cp1256")
    text, utf8 = decode_page(cp1256)
    assert "عنوان الخبر" in text and utf8 is None
    stray = PAGE.encode("utf-8").replace("الفقرة 5".encode(), b"\xff 5")  # one broken byte
    text, utf8 = decode_page(stray)
    assert "\ufffd" in text and utf8 is None


def test_an_article_from_the_pages_bytes_is_the_one_from_its_text() -> None:
    """extract_one from the fetched bytes (parsed and compressed from them) gives the article
    it gives from the decoded text, raw page included."""
    context = FeedContext(name="news", source="News", timezone=ZoneInfo("Asia/Baghdad"))
    fetched = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    for name, body in pages():
        entry = FeedEntry(url="https://example.org/a", title="خبر")
        text, _ = decode_page(body)
        from_bytes = extract_one(entry, context, fetched, body, "text/html; charset=utf-8", True)
        from_text = extract_one(entry, context, fetched, text, "text/html; charset=utf-8", True)
        assert from_bytes[1] is None and from_text[1] is None, name
        assert from_bytes == from_text, name
        assert decompress_html(from_bytes[0].raw_html_zlib) == text, name
