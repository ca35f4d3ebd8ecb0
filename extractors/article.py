"""Turning a fetched page (or, failing that, the feed's own text) into a clean Article.

extract_page() runs trafilatura on the HTML and reads the page's own metadata; build_article()
combines it with the feed entry: clean title and body, dateline and attribution moved out, the
publication date resolved feed -> page -> text -> fetch time, language detected, canonical URL,
content hash and near-duplicate fingerprint computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import trafilatura
from lxml import html as lxml_html

from extractors.clean import clean_body, clean_title, html_to_text
from extractors.dates import page_date_from_html, resolve_published_at
from extractors.dedupe import fingerprint
from extractors.feeds import FeedEntry, detect_encoding
from extractors.language import detect_language
from extractors.records import Article
from extractors.urls import article_id, canonical_url

# trafilatura settings, chosen by measurement: `python bench/extraction.py` (trafilatura 2.3.1).
# With favor_precision and include_tables the stored body scores F1 0.967 ± 0.007 (precision
# 0.965, recall 0.968) on the 181 pages of the Zyte article-extraction benchmark, against 0.961
# with neither, 0.959 with favor_precision alone, 0.964 with include_tables alone, 0.955 with
# favor_recall, and 0.953 ± 0.006 for plain trafilatura.extract with its defaults; on the 16
# Arabic pages of the sample site 1.000 against 0.977 with neither (on a 29-word page the
# fallback extractor returned the whole page, share bar and related box included, as one line).
# Pruning Arabic related boxes by their heading (prune_xpath) changed no benchmark figure and
# did less than favor_precision on the sample site. No catalogue marker is left in the bodies
# of the 15 real Arabic pages (6 in trafilatura's text before cleaning; 15 in plain
# trafilatura's output). favor_precision drops short date lines; extract_page makes up for it.
TRAFILATURA_OPTIONS = {
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "favor_precision": True,
    "deduplicate": False,
    "with_metadata": True,
    # htmldate's extensive search guesses (it reads "(27 شباط 2025)" as 2025-01-01); the page
    # date comes from page_date_from_html instead.
    "date_extraction_params": {"extensive_search": False, "original_date": True},
}
# Below this the page yielded too little and a longer feed text wins. Measured with the same
# bench: of the 199 pages with a known body, 2 page bodies are under 25 words: one wrong (24
# words for a 368-word article), one right (an 18-word article); 1 body above is wrong.
MIN_PAGE_WORDS = 25


@dataclass(frozen=True)
class PageContent:
    """What the article page itself says."""

    text: str | None  # trafilatura's plain text, paragraphs separated by newlines
    title: str | None = None
    author: str | None = None
    description: str | None = None
    sitename: str | None = None
    canonical: str | None = None  # rel=canonical, else og:url
    published_at: datetime | None = None
    tags: tuple[str, ...] = ()
    # A fuller text of the page to find a written publication date in, when the metadata has
    # none and `text` was extracted with favor_precision (which drops short date lines).
    date_text: str | None = None


@dataclass(frozen=True)
class FeedContext:
    """What build_article needs to know about the feed an entry came from."""

    name: str
    source: str
    timezone: ZoneInfo
    site_names: tuple[str, ...] = ()


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode an HTML page to text, in the encoding extractors.feeds.detect_encoding chooses (a
    byte order mark, then UTF-8 when the bytes are UTF-8 but for a few stray bytes, then the HTTP
    charset or <meta charset> when it decodes them, a Latin-1 label checked against
    windows-1256, then a detector). Undecodable bytes are replaced rather than failing the page."""
    encoding = detect_encoding(body, content_type)
    return body.decode(encoding, errors="replace").lstrip("\ufeff")


def extract_page(html: str, *, url: str, tz: ZoneInfo) -> PageContent:
    """Extract the article text and the page's own metadata from `html`; text is None when
    trafilatura found no article. When the metadata gives no publication date, date_text holds
    a text to look for one in (see PageContent)."""
    doc = trafilatura.bare_extraction(html, url=url, **TRAFILATURA_OPTIONS)
    canonical, tags = _head_links(html)
    published = page_date_from_html(html, tz=tz)
    date_text = None
    if published is None and TRAFILATURA_OPTIONS.get("favor_precision"):
        # favor_precision drops short lines such as "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22
        # مساءً"; a page without a date in its metadata is extracted once more without it.
        fuller = trafilatura.bare_extraction(
            html, url=url, **{**TRAFILATURA_OPTIONS, "favor_precision": False}
        )
        date_text = fuller.text if fuller is not None and fuller.text else None
    if doc is None:
        return PageContent(
            text=None, canonical=canonical, published_at=published, tags=tags, date_text=date_text
        )
    return PageContent(
        text=doc.text or None,
        title=doc.title or None,
        author=doc.author or None,
        description=doc.description or None,
        sitename=doc.sitename or None,
        canonical=canonical,
        published_at=published,
        tags=tags or tuple(t for t in (doc.tags or []) if t),
        date_text=date_text,
    )


def build_article(
    entry: FeedEntry,
    feed: FeedContext,
    *,
    fetched_at: datetime,
    page: PageContent | None = None,
    raw_html: str | None = None,
    content_type: str | None = None,
) -> Article:
    """Combine a feed entry with its page (None when the page could not be had) into an Article.

    The page's text is used when it is at least as long as the feed's text, or has at least
    MIN_PAGE_WORDS words and the feed carries only a summary; otherwise the feed's content or
    summary is the body and extraction is 'feed'.
    """
    site_names = (
        feed.source,
        *feed.site_names,
        *((page.sitename,) if page and page.sitename else ()),
    )
    title = clean_title(entry.title or (page.title if page else None), site_names=site_names)
    feed_text = entry.content or entry.summary
    page_clean = (
        clean_body(page.text, title=title.title, known_outlets=site_names)
        if page and page.text
        else None
    )
    feed_clean = (
        clean_body(feed_text, title=title.title, known_outlets=site_names) if feed_text else None
    )
    page_words = _words(page_clean.body if page_clean else None)
    feed_words = _words(feed_clean.body if feed_clean else None)
    # A feed that carries the full text (content:encoded) wins over a page extraction that came
    # out shorter: the page then lost text to its layout. A mere summary never does.
    page_enough = page_words >= feed_words or (page_words >= MIN_PAGE_WORDS and not entry.content)
    if page_clean and page_clean.body and page_enough:
        chosen, extraction = page_clean, "page"
    else:
        chosen, extraction = feed_clean, "feed"
    body = chosen.body if chosen else None
    canonical = canonical_url(entry.url, page_canonical=page.canonical if page else None)
    published = resolve_published_at(
        feed=entry.published_at,
        page=page.published_at if page else None,
        # The raw text, not the clean body: cleaning removes lines such as "تاريخ النشر: ...".
        text=((page.date_text or page.text) if extraction == "page" and page else feed_text)
        or None,
        fetched_at=fetched_at,
        tz=feed.timezone,
    )
    tags = list(
        dict.fromkeys([*(page.tags if page else ()), *entry.tags, *(chosen.tags if chosen else ())])
    )
    fp = fingerprint(body)
    # clean_body also drops "The post ... appeared first on ..." lines that feeds append.
    summary = clean_body(entry.summary).body if entry.summary else None
    return Article(
        article_id=article_id(canonical),
        url=entry.url,
        canonical_url=canonical,
        feed_name=feed.name,
        source=feed.source,
        title=title.title,
        body=body,
        summary=summary or None,
        author=entry.author or (page.author if page else None),
        published_at=published.value,
        published_at_source=published.source,
        fetched_at=fetched_at,
        language=detect_language(body or title.title),
        dateline=chosen.dateline if chosen else None,
        attribution=chosen.attribution if chosen else None,
        is_breaking=title.is_breaking,
        tags=tags,
        word_count=_words(body),
        content_hash=fp.content_hash if fp else None,
        extraction=extraction,
        fingerprint=fp,
        entry_updated_at=entry.updated_at,
        entry=entry.to_json() if raw_html else None,
        raw_html=raw_html,
        content_type=content_type,
    )


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _head_links(html: str) -> tuple[str | None, tuple[str, ...]]:
    """rel=canonical (else og:url) and meta keywords, read from the <head> only."""
    end = html.lower().find("</head")
    head = html[: end + 7] if end > 0 else html[:20000]
    try:
        doc = lxml_html.fromstring(head + "</html>" if end > 0 else head)
    except (ValueError, lxml_html.etree.ParserError):
        return None, ()
    canonical = None
    for link in doc.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            canonical = link.get("href").strip()
            break
    keywords: list[str] = []
    for meta in doc.iter("meta"):
        prop = (meta.get("property") or meta.get("name") or "").lower()
        content = (meta.get("content") or "").strip()
        if not content:
            continue
        if prop == "og:url" and canonical is None:
            canonical = content
        elif prop in ("keywords", "news_keywords", "article:tag"):
            sep = "،" if "،" in content and "," not in content else ","
            keywords += [html_to_text(k).strip() for k in content.split(sep)]
    return canonical, tuple(dict.fromkeys(k for k in keywords if k))
