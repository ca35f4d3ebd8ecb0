"""Parsing RSS and Atom feeds into FeedEntry records, safely.

Feeds are untrusted input: a DOCTYPE that declares entities is removed before parsing (so nothing is
expanded and nothing external is fetched) and the feed is reported as unsafe; a feed that parses
only partly keeps the entries it could read and reports why.

The body is decoded here, not by feedparser, because Arabic feeds are often mislabelled: a byte
order mark wins, then valid UTF-8, then the HTTP charset and the XML declaration when they decode
the bytes, and a detector last; the text is handed to feedparser as UTF-8.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import feedparser
from charset_normalizer import from_bytes
from lxml import html as lxml_html

from extractors.clean import html_to_text
from extractors.dates import parse_feed_date

DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", re.IGNORECASE | re.DOTALL)
ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
CHARREF = re.compile(rb"&#(?:[xX]0*([0-9A-Fa-f]+)|0*([0-9]+));")
DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
ROOT_ELEMENT = re.compile(rb"<(?:rss|feed|rdf:RDF|RDF|channel)[\s>]", re.IGNORECASE)
HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.I | re.S)
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "text/xml")
UPDATE_PERIOD_MINUTES = {"hourly": 60, "daily": 1440, "weekly": 10080, "monthly": 43200}
# Byte order marks, longest first (a UTF-32 LE mark starts like a UTF-16 LE one).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# XML 1.0 Appendix F: how "<" or "<?" looks in a wide encoding without a byte order mark.
WIDE_STARTS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
XML_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']\s*([A-Za-z0-9._:\-]+)""")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.IGNORECASE)
XML_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*?\?>")
ENCODING_ATTRIBUTE = re.compile(r"""encoding\s*=\s*["'][^"']*["']""")
# Labels as browsers read them (WHATWG Encoding): Latin-1 means windows-1252, and so on.
LABEL_ALIASES = {
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "l1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "arabic": "iso-8859-6",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "csisolatinarabic": "iso-8859-6",
    "x-cp1256": "windows-1256",
    "cp1256": "windows-1256",
}
LATIN_CODECS = frozenset({"cp1252", "latin_1", "iso8859_15"})
WIDE_CODECS = ("utf_16", "utf_32")
FALLBACK_ENCODING = "windows-1256"  # the legacy encoding of most Arabic sites


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, as text. `url` is absolute; dates are timezone-aware (UTC)."""

    url: str
    title: str | None = None
    summary: str | None = None
    content: str | None = None  # the feed's full text of the article, if it carries one
    author: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    tags: tuple[str, ...] = ()
    guid: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "summary": self.summary,
            "content": self.content,
            "author": self.author,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "tags": list(self.tags),
            "guid": self.guid,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedEntry:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            url=data["url"],
            title=data.get("title"),
            summary=data.get("summary"),
            content=data.get("content"),
            author=data.get("author"),
            published_at=when(data.get("published_at")),
            updated_at=when(data.get("updated_at")),
            tags=tuple(data.get("tags") or ()),
            guid=data.get("guid"),
        )


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed body yielded. `error` is set when the feed was bad, even if entries were read."""

    entries: tuple[FeedEntry, ...] = ()
    title: str | None = None
    link: str | None = None
    ttl_minutes: int | None = None  # RSS <ttl> or sy:updatePeriod/sy:updateFrequency
    error: str | None = None
    is_html: bool = False
    feed_links: tuple[str, ...] = field(default_factory=tuple)  # advertised by an HTML page
    version: str | None = None  # the format feedparser recognised: "rss20", "atom10", ...


class FeedError(Exception):
    """A feed could not be parsed at all."""


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    tz: ZoneInfo | None = None,
) -> ParsedFeed:
    """Parse a feed body fetched from `url`. Never raises for bad content: see ParsedFeed.error.

    `content_type` is the HTTP Content-Type (its charset wins over the XML declaration, as
    RFC 3023 says); `tz` is the feed's time zone for dates written without one.
    """
    body, content_type = _as_utf8(body, content_type)
    if looks_like_html(body, content_type):
        links = discover_feed_links(body, base_url=url)
        hint = f"; the page advertises a feed at {links[0]}" if links else ""
        return ParsedFeed(
            error=f"the URL returned an HTML page, not a feed{hint}",
            is_html=True,
            feed_links=tuple(links),
        )
    if body.lstrip()[:1] in (b"{", b"["):
        return ParsedFeed(
            error="the URL returned JSON, not an RSS or Atom feed (JSON Feed is not read)"
        )
    problems: list[str] = []
    if _declares_entities(body):
        body = _without_doctype(body)
        problems.append("the feed declares XML entities (unsafe); they were not expanded")
    if not problems:
        from extractors import fast_feed  # it imports this module: imported here, not above

        fast = None
        if fast_feed.ENABLED:
            with contextlib.suppress(Exception):  # a fast-path bug must not cost the feed
                fast = fast_feed.parse_rss(body, url=url, tz=tz)
        if fast is not None:
            return fast  # plain RSS 2.0, read with lxml exactly as feedparser would read it
    headers = {"content-location": url, "content-type": content_type}
    body = _without_bad_charrefs(body)
    try:
        parsed = feedparser.parse(
            body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
        if parsed.bozo:
            problem = _bozo_message(parsed.get("bozo_exception"))
            if problem:
                problems.append(problem)
        return feed_from(
            parsed.feed,
            parsed.entries,
            url=url,
            tz=tz,
            version=parsed.get("version") or None,
            problems=problems,
        )
    except Exception as exc:  # feedparser's own failure: the feed is bad, the poll goes on
        return ParsedFeed(error=f"the feed could not be parsed ({type(exc).__name__}: {exc})")


def feed_from(
    meta: Any,
    items: Sequence[Any],
    *,
    url: str,
    tz: ZoneInfo | None,
    version: str | None,
    problems: list[str],
) -> ParsedFeed:
    """The ParsedFeed of a feed's channel values and items as feedparser stores them (`meta`
    and `items`: feedparser's own, or extractors.fast_feed's copies of them); `problems` are
    what was found wrong before, and get the skipped items added."""
    entries = tuple(_entries(items, url, tz))
    if len(entries) < len(items):
        skipped = len(items) - len(entries)
        problems.append(f"{skipped} of {len(items)} items have no http(s) link and were skipped")
    if not entries and not meta and not version and not problems:
        problems.append("no feed found in the response")
    return ParsedFeed(
        entries=entries,
        title=_text(meta.get("title")),
        link=meta.get("link"),
        ttl_minutes=_ttl_minutes(meta),
        error="; ".join(problems) or None,
        version=version,
    )


def parse_feed_packed(args: tuple) -> ParsedFeed:
    """parse_feed((body, url, content_type, tz)): the form a process pool calls."""
    body, url, content_type, tz = args
    return parse_feed(body, url=url, content_type=content_type, tz=tz)


def detect_encoding(body: bytes, content_type: str | None = None) -> str:
    """The encoding a feed or page is written in, as a Python codec name.

    In order: a byte order mark (or the XML 1.0 Appendix F pattern of a wide encoding); UTF-8 when
    the bytes are valid UTF-8 but for at most 1% of the non-ASCII bytes (other labels are then
    wrong: valid UTF-8 does not happen by accident in Arabic text, and one stray byte must not
    turn a whole UTF-8 feed into mojibake); the HTTP charset, the XML declaration and <meta
    charset> when they decode the bytes (a Latin-1 label is checked against windows-1256, the
    usual mislabel); then a statistical detector; windows-1256 when nothing else fits.
    """
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return encoding
    for start, encoding in WIDE_STARTS:
        if body.startswith(start):
            return encoding
    if _mostly_utf8(body):
        return "utf-8"
    for label in _declared_labels(body, content_type):
        codec = _codec(label)
        if codec is None or codec.startswith(WIDE_CODECS) or codec == "utf_8":
            continue  # a wide or UTF-8 label on bytes that are neither is wrong
        try:
            body.decode(codec)
        except UnicodeDecodeError:
            continue
        if codec in LATIN_CODECS:
            best = from_bytes(body[:200_000], cp_isolation=[codec, "cp1256"]).best()
            return best.encoding if best else codec
        return codec
    best = from_bytes(body[:200_000]).best()
    return best.encoding if best else FALLBACK_ENCODING


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """True when a response is an HTML page rather than a feed."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return not body.lstrip()[:200].lower().startswith(b"<?xml") or b"<rss" in body[:2000]
    return bool(HTML_START.match(body[:4096]))


def discover_feed_links(body: bytes | str, *, base_url: str) -> list[str]:
    """Feed URLs a web page advertises with <link rel="alternate" type="...rss+xml" href>."""
    try:
        doc = lxml_html.fromstring(body)
    except (ValueError, TypeError, lxml_html.etree.ParserError):
        return []
    found: list[str] = []
    for link in doc.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().strip()
        href = link.get("href")
        if "alternate" in rel and kind in FEED_TYPES and href:
            absolute = urljoin(base_url, href.strip())
            if absolute not in found:
                found.append(absolute)
    return found


def _as_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str]:
    """The body re-encoded as UTF-8 with its XML declaration saying so, and a Content-Type whose
    charset says so too (so feedparser does not guess again)."""
    encoding = detect_encoding(body, content_type)
    text = body.decode(encoding, errors="replace").lstrip("\ufeff")
    text = XML_DECLARATION.sub(
        lambda m: ENCODING_ATTRIBUTE.sub('encoding="utf-8"', m.group(0)), text, count=1
    )
    media = (content_type or "").split(";")[0].strip().lower() or "application/xml"
    return text.encode("utf-8"), f"{media}; charset=utf-8"


def _mostly_utf8(body: bytes) -> bool:
    """True for ASCII, valid UTF-8, or UTF-8 with at most 1% of its non-ASCII bytes broken (in a
    windows-1256 or ISO-8859-6 text nearly every Arabic byte is invalid UTF-8)."""
    try:
        body.decode("utf-8")
        return True
    except UnicodeDecodeError:
        pass
    high = len(body) - len(body.decode("ascii", errors="ignore"))
    broken = body.decode("utf-8", errors="replace").count("\ufffd")
    return broken * 100 <= high


def _declared_labels(body: bytes, content_type: str | None) -> list[str]:
    labels: list[str] = []
    match = HTTP_CHARSET.search(content_type or "")
    if match:
        labels.append(match.group(1))
    head = body[:4096]
    for pattern in (XML_DECLARED, META_CHARSET):
        found = pattern.search(head)
        if found:
            labels.append(found.group(1).decode("ascii", "ignore"))
    return labels


def _codec(label: str) -> str | None:
    name = label.strip().lower()
    try:
        return codecs.lookup(LABEL_ALIASES.get(name, name)).name.replace("-", "_")
    except LookupError:
        return None


def _without_bad_charrefs(body: bytes) -> bytes:
    """`body` with each character reference to no character (a surrogate, or past U+10FFFF)
    written as U+FFFD: feedparser's fallback parser raises on them (UnicodeEncodeError,
    ValueError) instead of reading the rest of the feed."""
    if b"&#" not in body:
        return body

    def replace(match: re.Match[bytes]) -> bytes:
        hexa, decimal = match.group(1), match.group(2)
        if len(hexa or decimal or b"0") > (6 if hexa else 7):  # past U+10FFFF: not parsed
            return b"&#xFFFD;"
        value = int(hexa, 16) if hexa else int(decimal or b"0")
        valid = value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF
        return match.group(0) if valid else b"&#xFFFD;"

    return CHARREF.sub(replace, body)


def _declares_entities(body: bytes) -> bool:
    """True when a DOCTYPE near the start declares entities (where billion laughs and external
    entities live); an <!ENTITY written inside an item's text does not count."""
    doctype = DOCTYPE_START.search(body, 0, 65536)
    return bool(doctype and ENTITY_DECL.search(body, doctype.start(), doctype.start() + 65536))


def _without_doctype(body: bytes) -> bytes:
    """The body with its DOCTYPE removed; if an entity value fooled the pattern, everything from
    the DOCTYPE to the root element goes."""
    doctype = DOCTYPE_START.search(body, 0, 65536)
    if doctype is None:
        return body
    stripped = DOCTYPE.sub(b"", body, count=1)
    root = ROOT_ELEMENT.search(stripped)
    if not ENTITY_DECL.search(stripped, 0, root.start() if root else 65536):
        return stripped
    root = ROOT_ELEMENT.search(body, doctype.start())
    return body[: doctype.start()] + (body[root.start() :] if root else b"")


def _entries(items: Iterable[Any], base_url: str, tz: ZoneInfo | None) -> Iterable[FeedEntry]:
    for item in items:
        link = _link(item, base_url)
        if not link:
            continue
        content = None
        if item.get("content"):
            content = html_to_text(" ".join(c.get("value", "") for c in item["content"])) or None
        summary = html_to_text(item.get("summary") or "") or None
        if content and summary and content == summary:
            content = None
        tags = tuple(
            dict.fromkeys(t["term"].strip() for t in item.get("tags") or () if t.get("term"))
        )
        yield FeedEntry(
            url=link,
            title=_text(item.get("title")),
            summary=summary,
            content=content,
            author=_text(item.get("author")),
            published_at=parse_feed_date(
                dict.get(item, "published") or dict.get(item, "updated"), tz=tz
            ),
            updated_at=parse_feed_date(dict.get(item, "updated"), tz=tz),
            tags=tags,
            guid=item.get("id"),
        )


def _link(item: Any, base_url: str) -> str | None:
    candidates = [item.get("link")]
    candidates += [link.get("href") for link in item.get("links") or () if link.get("href")]
    guid = item.get("id")
    if guid and item.get("guidislink"):
        candidates.append(guid)
    for candidate in candidates:
        if candidate and candidate.strip():
            absolute = urljoin(base_url, candidate.strip())
            if absolute.lower().startswith(("http://", "https://")):
                return absolute
    return None


def _text(value: str | None) -> str | None:
    if not value:
        return None
    text = html_to_text(value) if "<" in value or "&" in value else " ".join(value.split())
    return text or None


def _ttl_minutes(meta: Any) -> int | None:
    ttl = meta.get("ttl")
    if ttl and str(ttl).strip().isdigit():
        return int(str(ttl).strip())
    period = (meta.get("sy_updateperiod") or "").strip().lower()
    if period in UPDATE_PERIOD_MINUTES:
        frequency = str(meta.get("sy_updatefrequency") or "1").strip()
        times = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
        return max(1, UPDATE_PERIOD_MINUTES[period] // times)
    return None


def _bozo_message(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    name = type(exc).__name__
    if name == "CharacterEncodingOverride":
        return None  # declared and actual encodings differ but the text decoded fine
    if name == "NonXMLContentType":
        return None
    message = getattr(exc, "getMessage", lambda: str(exc))()
    return f"the feed is not well-formed XML ({message}); kept what could be read"
