"""Managing the feed list in marsad.toml: add (with feed discovery), OPML import and export.

The configuration file is edited with tomlkit so comments and layout are kept.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import tomlkit
from lxml import etree

from extractors.feeds import discover_feed_links, looks_like_html, parse_feed
from extractors.fetch import Fetcher, FetchPolicy
from flows.config import FEED_NAME, Config, ConfigError, load_config


class FeedAdminError(Exception):
    """A feed could not be added, imported or exported; the message says why."""


@dataclass(frozen=True)
class NewFeed:
    url: str
    name: str | None = None  # None: made from the URL's host
    source: str | None = None


def name_from_url(url: str, taken: set[str]) -> str:
    """A feed name from a URL's host ("https://www.baghdadtoday.news/rss" -> "baghdadtoday"),
    made unique against `taken`."""
    host = (urlsplit(url).hostname or "feed").lower()
    parts = [p for p in host.split(".") if p not in ("www", "m", "feeds", "rss")]
    base = re.sub(r"[^a-z0-9_-]+", "-", parts[0] if parts else "feed").strip("-") or "feed"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def resolve_feed_url(url: str, policy: FetchPolicy, max_bytes: int) -> str:
    """The feed URL for `url`: itself when it serves a feed, else the first feed its HTML page
    advertises. Raises FeedAdminError when neither works."""

    async def fetch() -> tuple[bytes | None, str | None, str | None, str]:
        async with Fetcher(policy) as fetcher:
            result = await fetcher.get(url, max_bytes=max_bytes)
        return result.body, result.content_type, result.error, result.final_url

    body, content_type, error, final_url = asyncio.run(fetch())
    if error or body is None:
        raise FeedAdminError(f"could not fetch {url}: {error}")
    if looks_like_html(body, content_type):
        links = discover_feed_links(body, base_url=final_url)
        if not links:
            raise FeedAdminError(f"{url} is a web page that advertises no RSS or Atom feed.")
        return links[0]
    parsed = parse_feed(body, url=final_url, content_type=content_type)
    if not parsed.entries and parsed.error:
        raise FeedAdminError(f"{url} is not a readable feed: {parsed.error}")
    return url


def add_feeds(config_path: Path, feeds: list[NewFeed]) -> list[NewFeed]:
    """Append feeds to the configuration file, keeping its comments; feeds whose URL is already
    configured are skipped. Returns the feeds added. The result is validated before writing."""
    text = config_path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    existing = doc.get("feeds") or tomlkit.aot()
    urls = {str(f.get("url")) for f in existing}
    names = {str(f.get("name")) for f in existing}
    added: list[NewFeed] = []
    for feed in feeds:
        if feed.url in urls:
            continue
        if feed.name is None:
            feed = NewFeed(feed.url, name_from_url(feed.url, names), feed.source)
        if feed.name in names:
            raise FeedAdminError(
                f"{config_path}: a feed named {feed.name!r} already exists; pass --name."
            )
        if not FEED_NAME.match(feed.name):
            raise FeedAdminError(f"feed name {feed.name!r} may only use a-z, 0-9, '_' and '-'.")
        table = tomlkit.table()
        table["name"] = feed.name
        table["url"] = feed.url
        if feed.source:
            table["source"] = feed.source
        existing.append(table)
        urls.add(feed.url)
        names.add(feed.name)
        added.append(feed)
    if "feeds" not in doc:
        doc["feeds"] = existing
    new_text = tomlkit.dumps(doc)
    tmp = config_path.with_suffix(config_path.suffix + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    try:
        load_config(tmp)
    except ConfigError as exc:
        tmp.unlink()
        raise FeedAdminError(str(exc).replace(str(tmp), str(config_path))) from None
    tmp.replace(config_path)
    return added


def read_opml(path: Path) -> list[NewFeed]:
    """Feeds of an OPML file (every outline with an xmlUrl), safely parsed."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.parse(str(path), parser).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise FeedAdminError(f"{path}: not a readable OPML file ({exc}).") from None
    feeds: list[NewFeed] = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url.lower().startswith(("http://", "https://")):
            continue
        title = (outline.get("title") or outline.get("text") or "").strip() or None
        feeds.append(NewFeed(url, None, title))
    return feeds


def write_opml(config: Config) -> str:
    """The configured feeds as an OPML 2.0 document."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head><title>marsad feeds</title></head>",
        "  <body>",
    ]
    for feed in config.feeds:
        lines.append(
            f'    <outline type="rss" text={quoteattr(feed.source)} title={quoteattr(feed.source)} '
            f"xmlUrl={quoteattr(feed.url)} marsadName={quoteattr(feed.name)}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
