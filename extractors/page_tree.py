"""A page's tree as trafilatura.load_html builds it, parsed from the page's UTF-8 bytes when the
caller has them.

trafilatura.load_html(text) first runs repair_faulty_html over the whole text: a regular
expression that deletes the control characters XML forbids (0.3-0.4 ms on a 45 KB page, about 4%
of a page's extraction, and it finds none on nearly every page), and two fixes of a page's first
lines. lxml then parses the text; a text outside Latin-1 (any Arabic page) reaches libxml2 as
UTF-16, converted back to UTF-8 as it parses.

parse_page(text, utf8) builds the same tree for less: when `utf8`, the page's bytes that decode to
exactly `text`, holds none of those characters (looked for in the bytes, in C) and neither
first-line fix applies, it parses `utf8` with trafilatura's own parser (which reads UTF-8), and
applies load_html's own checks of the result; otherwise it is trafilatura.load_html(text). It
does so only while trafilatura's load_html and repair_faulty_html are the functions it was
checked against (CHECKED_SOURCES: another release falls back to load_html).
tests/test_page_tree.py compares the trees for fixture pages and for pages that need repairs.
"""

from __future__ import annotations

import functools
from typing import Any

from extractors.switch import sources_unchanged

CHECKED_SOURCES = {
    "load_html": "bc0039c89805dea3",
    "repair_faulty_html": "7e68c7a3cb24910c",
    "is_dubious_html": "6a98ba97c3457a35",
}
# What repair_faulty_html deletes (trafilatura.utils.INVALID_XML_CHARS), as UTF-8 bytes: the C0
# controls but tab, newline and carriage return (one byte each, never inside a longer sequence),
# and the noncharacters U+FFFE and U+FFFF.
_CONTROLS = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")


@functools.cache
def checked() -> bool:
    """Whether trafilatura's functions are those this module was checked against."""
    from trafilatura import utils

    return sources_unchanged(utils, CHECKED_SOURCES)


def needs_repair(text: str, utf8: bytes) -> bool:
    """Whether `text` (whose UTF-8 bytes are `utf8`) must go through load_html: its
    repair_faulty_html would change it, or lxml would read it otherwise as bytes."""
    from trafilatura.utils import DOCTYPE_TAG

    if text[:1].isspace() and not text[: len(text) - len(text.lstrip())].isascii():
        # lxml.html.fromstring tells a whole document from a fragment by its start, skipping
        # whitespace: any Unicode space in a text (U+00A0, U+3000, ...), ASCII only in bytes
        return True
    if len(utf8.translate(None, _CONTROLS)) != len(utf8):
        return True
    if any(sequence in utf8 for sequence in _NONCHARACTERS):
        return True
    if "doctype" in text[:50].lower():
        first, newline, _ = text.partition("\n")
        if not newline or DOCTYPE_TAG.search(first):  # without a newline, it appends one
            return True
    return any("<html" in line and line.endswith("/>") for line in text[:4096].splitlines()[:4])


def parse_page(text: str, utf8: bytes | None = None) -> Any:
    """trafilatura.load_html(text), parsed from `utf8` (text's own UTF-8 bytes) when that gives
    the same tree (see the module's docstring). None when load_html rejects the page."""
    from trafilatura import utils

    if utf8 is None or not checked() or needs_repair(text, utf8):
        return utils.load_html(text)
    from lxml.html import fromstring

    try:
        tree = fromstring(utf8, parser=utils.HTML_PARSER)
    except Exception:  # load_html's own second chances, on the text
        return utils.load_html(text)
    if tree is None or len(tree) < 1:
        return utils.load_html(text)
    if utils.is_dubious_html(text[:50].lower()) and len(tree) < 2:
        return None  # load_html's rejection of what is not HTML
    return tree
