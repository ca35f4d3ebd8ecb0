"""Turning a fetched page (or, failing that, the feed's own text) into a clean Article.

extract_page() runs trafilatura on the HTML and reads the page's own metadata; build_article()
combines it with the feed entry: clean title and body, dateline and attribution moved out, the
publication date resolved feed -> page -> text -> fetch time, language detected, canonical URL,
content hash and near-duplicate fingerprint computed.
"""

from __future__ import annotations

import contextlib
import copy
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from lxml.etree import XPath
from lxml.html import HtmlElement

from extractors import lean_sequence, page_tree, plain_elements, prune_prefilter
from extractors.clean import clean_body, clean_title, html_to_text, normalize_display
from extractors.dates import page_date_from_tree, resolve_published_at
from extractors.dedupe import fingerprint
from extractors.feeds import FeedEntry, detect_encoding
from extractors.language import detect_language
from extractors.records import Article
from extractors.urls import article_id, canonical_url

if TYPE_CHECKING:
    from trafilatura.settings import Document, Extractor

# trafilatura (with lxml's cleaner, justext, htmldate: about 45 MB) is imported by the functions
# that use it, on first use: a pass's main process builds articles from feed text only and never
# loads it; the extraction processes do (extractors.workers.warm_up).

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
# Speed (`python bench/extraction.py --speed`): fast mode skips readability and jusText, ~5 ms
# a page; alone it costs F1 (0.949 ± 0.012: 4 bodies of a few words where the fallback found the
# article), but all 6 of the 212 pages where the fallback changed the text had a fast text under
# 900 characters: redoing those under FALLBACK_BELOW_CHARS gives F1 0.969 (P 0.969, R 0.968),
# sample site 1.000, real pages 0.998, markers 0, dates 10/11, as before. with_metadata cost ~7
# ms (htmldate, the license, and a body author search of ~5 ms): page_metadata reads the same
# fields (identical on the 272 pages measured) for ~0.7 ms. In one run, extract_one went from
# 21.1 to 8.1 ms a page on the synthetic site (trafilatura.extract 6.6 ms, fast 4.3 ms), and
# on the real Arabic pages to 15.6 ms with a dated, authored feed entry (fast: 13.4 ms).
TRAFILATURA_OPTIONS = {
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "favor_precision": True,
    "deduplicate": False,
    "fast": True,
    # page_metadata reads what is used; htmldate guessed dates (page_date_from_tree reads them).
    "with_metadata": False,
}
# A fast extraction (no readability/jusText comparison) shorter than this many characters, or
# without paragraph text, is redone with the fallback extractors: 10 of the 212 pages. Fast texts
# the fallback improved were 0-339 characters long; the one at 894 it made worse (F1 0.99 to
# 0.33); with 1000 or 2000 (30 or 73 pages redone) F1 is 0.967, as without fast.
FALLBACK_BELOW_CHARS = 500
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
    return decode_page(body, content_type)[0]


def decode_page(body: bytes, content_type: str | None = None) -> tuple[str, bytes | None]:
    """decode_html(body), and `body` itself when it is exactly that text in UTF-8 (valid UTF-8,
    no byte order mark): what the parse and the raw page's compression can read instead of
    encoding the text again (extractors.page_tree, extractors.records.compress_html)."""
    encoding = detect_encoding(body, content_type)
    if encoding == "utf-8":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return (text, body) if not text.startswith("\ufeff") else (text.lstrip("\ufeff"), None)
    return body.decode(encoding, errors="replace").lstrip("\ufeff"), None


def extract_page(
    html: str,
    *,
    url: str,
    tz: ZoneInfo,
    find_date_text: bool = True,
    find_author: bool = True,
    utf8: bytes | None = None,
) -> PageContent:
    """Extract the article text and the page's own metadata from `html`; text is None when
    trafilatura found no article. When the metadata gives no publication date, date_text holds
    a text to look for one in (see PageContent). A caller whose feed entry already gives a
    usable date or an author passes find_date_text or find_author False: that spares a second
    extraction, or the search for a byline in the body (~6 ms each on a real news page).

    The page is parsed once: the head links, the page date and the metadata read the tree,
    then trafilatura extracts from it, in place when nothing reads it after (see
    extractors.lean_sequence); a second extraction, rare, parses the page again. `utf8`, the
    page's bytes when `html` is exactly their UTF-8 decoding (decode_page), is parsed instead
    of the text when trafilatura would not repair it (extractors.page_tree: the same tree)."""
    from trafilatura.metadata import extract_catstags

    # trafilatura skips prunes that cannot match and copies it would not read, and looks up its
    # elements' class in C (same output)
    prune_prefilter.ensure_installed()
    lean_sequence.ensure_installed()
    plain_elements.ensure_installed()
    tree = page_tree.parse_page(html, utf8)
    if tree is None:
        return PageContent(text=None)
    canonical, head_tags = _head_links(tree, html)
    published = page_date_from_tree(tree, tz=tz)
    meta = page_metadata(tree, url=url, find_author=find_author)
    # the head's keywords, else trafilatura's (its last resort: tag links in the page)
    tags = head_tags or tuple(t for t in (meta.tags or extract_catstags("tag", tree)) if t)
    # favor_precision drops short lines such as "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22
    # مساءً"; a page without a date in its metadata is extracted once more without it (fast:
    # only its date lines and lead are read).
    find_date_text = (
        published is None and find_date_text and bool(TRAFILATURA_OPTIONS.get("favor_precision"))
    )
    doc = _extract_text(tree, url, html, keep_tree=find_date_text)
    date_text = None
    if find_date_text:
        fuller = bare_extraction(tree, url, favor_precision=False, fast=True)
        date_text = fuller.text if fuller is not None and fuller.text else None
    return PageContent(
        text=(doc.text or None) if doc is not None else None,
        title=meta.title or None,
        author=meta.author or None,
        description=meta.description or None,
        sitename=meta.sitename or None,
        canonical=canonical,
        published_at=published,
        tags=tags,
        date_text=date_text,
    )


def _extract_text(
    tree: HtmlElement, url: str, html: str, *, keep_tree: bool = False
) -> Document | None:
    """trafilatura's article text: fast first; the fallback extractors only for a short or
    structurally odd result, the only kind they changed in the measurement (see
    FALLBACK_BELOW_CHARS). Unless `keep_tree`, the fast extraction may use `tree` itself
    (lean_sequence.handed_over): it is then not read again, and a fallback parses `html`."""
    import trafilatura

    if keep_tree:
        doc = bare_extraction(tree, url)
        handed = False
    else:
        with lean_sequence.handed_over(tree) as handed:
            doc = bare_extraction(tree, url)
    if not TRAFILATURA_OPTIONS.get("fast") or FALLBACK_BELOW_CHARS <= 0:
        return doc
    body = doc.body if doc is not None else None
    if (
        body is None
        or len(doc.text or "") < FALLBACK_BELOW_CHARS
        # what trafilatura's comparison calls deficient (counted in XPath: no lists are built)
        or not body.xpath("boolean(.//p//text())")
        or body.xpath("count(.//table) > count(.//p)")
    ):
        fresh = trafilatura.load_html(html) if handed else tree
        return bare_extraction(fresh, url, fast=False) if fresh is not None else doc
    return doc


# bare_extraction's keyword arguments -> the names of trafilatura's Extractor (its options).
_EXTRACTOR_ARGUMENTS = {
    "include_comments": "comments", "include_tables": "tables", "include_images": "images",
    "include_links": "links", "include_formatting": "formatting", "favor_precision": "precision",
    "favor_recall": "recall", "deduplicate": "dedup", "fast": "fast",
    "with_metadata": "with_metadata", "target_language": "lang",
}  # fmt: skip
_extractors: dict[tuple, Extractor] = {}  # options as sorted items -> their Extractor


def extractor_options(url: str | None, **overrides: object) -> Extractor:
    """trafilatura's options object for TRAFILATURA_OPTIONS with `overrides`, for one page.
    bare_extraction builds one from its keyword arguments on every call, reading eight settings
    from its ConfigParser (~2% of a page's extraction); this builds one per set of options and
    copies it, with the page's URL, as bare_extraction would have set it."""
    return _extractor(url, {**TRAFILATURA_OPTIONS, **overrides})


def _extractor(url: str | None, chosen: dict[str, object]) -> Extractor:
    from trafilatura.settings import Extractor

    key = tuple(sorted(chosen.items()))
    template = _extractors.get(key)
    if template is None:
        unknown = sorted(set(chosen) - set(_EXTRACTOR_ARGUMENTS))
        if unknown:
            raise ValueError(f"trafilatura options without an Extractor name here: {unknown}")
        arguments = {_EXTRACTOR_ARGUMENTS[k]: v for k, v in chosen.items()}
        template = _extractors[key] = Extractor(output_format="python", **arguments)
    options = copy.copy(template)
    options.url = url
    options.source = url and url.encode("utf-8", "replace").decode("utf-8")
    return options


def bare_extraction(tree: HtmlElement, url: str | None, **overrides: object) -> Document | None:
    """trafilatura.bare_extraction of `tree` with TRAFILATURA_OPTIONS and `overrides`. An option
    that is not one of the Extractor's (prune_xpath, which bench/extraction.py measures) goes
    to trafilatura as a keyword argument, and the options are then built as trafilatura does."""
    import trafilatura

    chosen = {**TRAFILATURA_OPTIONS, **overrides}
    others = {k: v for k, v in chosen.items() if k not in _EXTRACTOR_ARGUMENTS and v is not None}
    if others:
        return trafilatura.bare_extraction(tree, url=url, **chosen)
    options = {k: v for k, v in chosen.items() if k in _EXTRACTOR_ARGUMENTS}
    return trafilatura.bare_extraction(tree, url=url, options=_extractor(url, options))


def page_metadata(
    tree: HtmlElement, *, url: str | None = None, find_author: bool = True
) -> Document:
    """Title, author, description, site name and tags as trafilatura's with_metadata finds
    them (its own steps, in its order), without its costly parts: htmldate (page_date_from_tree
    reads the date), license and categories (unused), and the author search in the body, run
    only when find_author is set and the page's markup could hold a byline
    (may_name_author). The tags are the head's only: extract_page looks for tag links in the
    body when neither head has any."""
    from trafilatura.metadata import (
        examine_meta,
        extract_author,
        extract_meta_json,
        extract_sitename,
        extract_title,
        extract_url,
    )

    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None
    with contextlib.suppress(Exception):  # trafilatura's own guard: JSON-LD in the wild is odd
        meta = extract_meta_json(tree, meta)
    if not meta.title:
        meta.title = extract_title(tree)
    if find_author and not meta.author and may_name_author(tree):
        meta.author = extract_author(tree)
    if not meta.url:
        meta.url = extract_url(tree, url)
    if not meta.sitename:
        meta.sitename = extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url and (host := _SITE_FROM_URL.match(meta.url)):
        meta.sitename = host[1]
    meta.clean_and_trim()
    return meta


# Every element trafilatura's AUTHOR_XPATHS (2.3) can match is an <author> element, has a <rel>
# child (its "rel='me'" test reads a child element, not the attribute), or has an attribute
# (@rel, @id, @class, @itemprop, @data-testid or @data-component) whose value contains one of
# these: every value their tests accept does (the tests are case-sensitive but for [Aa]uthor and
# [Bb]yline). A page with none of them has no author for those XPaths to find.
_AUTHOR_HINTS = (
    "uthor", "yline", "writer", "screenname", "username", "channel-name", "submitted-by",
    "posted-by", "journalist-name", "zuozhe", "bianji", "xiaobian", "byl", "BBL",
)  # fmt: skip
_ATTRIBUTE_VALUES = XPath("//@*", smart_strings=False)
_AUTHOR_ELEMENTS = XPath("boolean(//author | //rel)")


def may_name_author(tree: HtmlElement) -> bool:
    """False when trafilatura's author search cannot find anything in `tree` (see
    _AUTHOR_HINTS). Reads the parsed page's attribute values, not its source: on the synthetic
    site's pages 0.23 ms against 0.46 ms for the same strings in the HTML (whose text and
    scripts are most of it), and the search's XPaths take ~4 ms."""
    values = "\n".join(_ATTRIBUTE_VALUES(tree))
    return any(hint in values for hint in _AUTHOR_HINTS) or bool(_AUTHOR_ELEMENTS(tree))


_SITE_FROM_URL = re.compile(r"https?://(?:www\.|w[0-9]+\.)?([^/]+)")


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
    fp = fingerprint(body, key=chosen.key if chosen else None)  # the key cleaning computed
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


def _head_links(tree: HtmlElement, html: str) -> tuple[str | None, tuple[str, ...]]:
    """rel=canonical (else og:url) and meta keywords, read from the <head> only: the elements
    written before "</head" (or in the first 20,000 characters when there is none), so that a
    head the parser closed early (a stray <div> in it) still counts, and the body never does."""
    end = _head_end(html)
    last_line = html.count("\n", 0, end if end > 0 else 20000) + 1
    canonical = og_url = None
    keywords: list[str] = []
    for element in tree.iter("link", "meta"):
        if element.sourceline is not None and element.sourceline > last_line:
            break
        if element.tag == "link":
            rel = (element.get("rel") or "").lower().split()
            if canonical is None and "canonical" in rel and element.get("href"):
                canonical = element.get("href").strip()
            continue
        prop = (element.get("property") or element.get("name") or "").lower()
        content = (element.get("content") or "").strip()
        if not content:
            continue
        if prop == "og:url" and og_url is None:
            og_url = content
        elif prop in ("keywords", "news_keywords", "article:tag"):
            sep = "،" if "،" in content and "," not in content else ","
            keywords += [
                html_to_text(k).strip() if "<" in k or "&" in k else normalize_display(k)
                for k in content.split(sep)
            ]
    return canonical or og_url, tuple(dict.fromkeys(k for k in keywords if k))


_HEAD_END = re.compile("</head", re.IGNORECASE)


def _head_end(html: str) -> int:
    """Where "</head" starts, -1 without one, as html.lower().find("</head") says it (found
    without lowering the whole page: ~0.1-0.4 ms a page). Lowering turns each "İ" into two
    characters, which shifts that index; the shift is kept so the head ends where it did."""
    found = _HEAD_END.search(html)
    if found is None:
        return -1
    return found.start() + html.count("\u0130", 0, found.start())
