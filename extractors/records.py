"""The Article record: one row of the warehouse's articles table, as extraction produces it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
    content_type: str | None = None
