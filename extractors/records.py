"""The Article record: one row of the warehouse's articles table, as extraction produces it."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime

from isal import isal_zlib

from extractors.dedupe import Fingerprint


@dataclass
class Article:
    """One article as it is loaded into the warehouse's articles table."""

    article_id: str
    url: str
    canonical_url: str
    feed_name: str
    source: str
    title: str | None
    body: str | None
    summary: str | None
    author: str | None
    published_at: datetime
    published_at_source: str
    fetched_at: datetime
    language: str | None
    dateline: str | None
    attribution: str | None
    is_breaking: bool
    tags: list[str]
    word_count: int
    content_hash: str | None
    extraction: str  # 'page' or 'feed'
    fingerprint: Fingerprint | None = None
    cluster_id: str | None = None  # set when loading: the first-seen article of its story
    duplicate_of: str | None = None
    entry_updated_at: datetime | None = None  # the feed entry's <updated>, to spot edits later
    entry: dict | None = field(default=None, repr=False)  # FeedEntry.to_json(), kept with raw HTML
    raw_html: str | None = field(default=None, repr=False)
    # The same HTML compressed by compress_html, as extraction processes hand it over (a fifth
    # to a quarter of the bytes to send back and to hold until the load); the warehouse stores
    # this form.
    raw_html_zlib: bytes | None = field(default=None, repr=False)
    content_type: str | None = None


# The raw page is compressed by ISA-L (python-isal) into a plain zlib stream, which zlib itself
# reads back (decompress_html, and anything else that reads html_zlib). Its level 2 took 0.08 ms
# a 45 KiB page of the synthetic site (ratio 5.5) where zlib's level 3, used before, took 0.30
# (5.7), and 0.20 ms against 1.21 ms on the real Arabic pages of the corpus (78 KiB, 4.3
# against 4.5): a few percent more bytes for a fifth of the CPU. zlib's level 1 took 0.25 ms.
# ISA-L has levels 0 to 3 only (4 and up raise, and every page would fail to extract).
HTML_ISAL_LEVEL = 2
if not 0 <= HTML_ISAL_LEVEL <= 3:
    raise ValueError(f"ISA-L compresses at levels 0 to 3, not {HTML_ISAL_LEVEL}")


def compress_html(html: str, encoded: bytes | None = None) -> bytes:
    """`html` compressed as UTF-8 into a zlib stream; `encoded` is its UTF-8 bytes when the
    caller has them."""
    data = encoded if encoded is not None else html.encode("utf-8", errors="surrogatepass")
    return isal_zlib.compress(data, HTML_ISAL_LEVEL)


def decompress_html(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8", errors="surrogatepass")
