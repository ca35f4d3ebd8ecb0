"""Adding feeds to marsad.toml (comments kept), discovery from a home page, OPML in and out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from extractors.fetch import FetchPolicy
from extractors.guard import AllowList
from flows.config import load_config
from flows.feed_admin import (
    FeedAdminError,
    NewFeed,
    add_feeds,
    name_from_url,
    read_opml,
    resolve_feed_url,
    write_opml,
)
from flows.fixture_site import FixtureSite

REPO = Path(__file__).resolve().parents[1]
LOCAL = FetchPolicy(allow_private=AllowList.parse(["127.0.0.1"]), retries=0)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "marsad.toml"
    shutil.copy(REPO / "marsad.toml", path)
    return path


def test_add_keeps_comments_and_validates(config_file: Path) -> None:
    before = config_file.read_text()
    added = add_feeds(
        config_file, [NewFeed("https://news.example.org/rss.xml", None, "Example News")]
    )
    assert [(f.name, f.source) for f in added] == [("news", "Example News")]
    after = config_file.read_text()
    assert after.startswith(before.rstrip("\n")[:200])
    assert "# unique, [a-z0-9_-]+" in after  # comments survive
    config = load_config(config_file, env={})
    assert config.feed("news").url == "https://news.example.org/rss.xml"


def test_add_skips_configured_urls_and_refuses_taken_names(config_file: Path) -> None:
    url = load_config(config_file, env={}).feed("aljazeera").url
    assert add_feeds(config_file, [NewFeed(url)]) == []
    with pytest.raises(FeedAdminError, match="already exists"):
        add_feeds(config_file, [NewFeed("https://other.example.org/feed", "aljazeera")])
    with pytest.raises(FeedAdminError, match="may only use"):
        add_feeds(config_file, [NewFeed("https://other.example.org/feed", "Bad Name")])


@pytest.mark.parametrize(
    ("url", "taken", "expected"),
    [
        ("https://www.aljazeera.net/rss", set(), "aljazeera"),
        ("https://baghdadtoday.news/rss.xml", {"baghdadtoday"}, "baghdadtoday-2"),
        ("http://feeds.bbci.co.uk/arabic/rss.xml", set(), "bbci"),
        ("http://127.0.0.1:8080/f.xml", set(), "127"),
    ],
)
def test_name_from_url(url: str, taken: set[str], expected: str) -> None:
    assert name_from_url(url, taken) == expected


def test_home_page_resolves_to_its_advertised_feed(sample_site: FixtureSite) -> None:
    home = sample_site.url("/baghdadtoday/index.html")
    assert resolve_feed_url(home, LOCAL, 1_000_000) == sample_site.url("/feeds/baghdadtoday.xml")
    feed = sample_site.url("/feeds/aljazeera.xml")
    assert resolve_feed_url(feed, LOCAL, 1_000_000) == feed


def test_page_without_feed_link_is_refused(sample_site: FixtureSite) -> None:
    sample_site.add_file("/plain.html", b"<html><head></head><body>hi</body></html>", "text/html")
    with pytest.raises(FeedAdminError, match="advertises no RSS"):
        resolve_feed_url(sample_site.url("/plain.html"), LOCAL, 1_000_000)


def test_opml_round_trip(config_file: Path, tmp_path: Path) -> None:
    config = load_config(config_file, env={})
    opml = tmp_path / "feeds.opml"
    opml.write_text(write_opml(config), encoding="utf-8")
    feeds = read_opml(opml)
    assert [(f.url, f.source) for f in feeds] == [(f.url, f.source) for f in config.feeds]
    assert add_feeds(config_file, feeds) == []  # all already configured


def test_opml_with_external_entities_is_refused(tmp_path: Path) -> None:
    opml = tmp_path / "evil.opml"
    opml.write_text(
        '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        '<opml><body><outline text="&x;" xmlUrl="http://127.0.0.1/a.xml"/></body></opml>'
    )
    with pytest.raises(FeedAdminError, match="external entity"):
        read_opml(opml)
