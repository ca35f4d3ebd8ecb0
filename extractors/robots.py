"""robots.txt for article pages: what a site allows marsad to fetch.

Feeds are not checked (a site that publishes a feed invites polling it); article pages are. The
Fetcher fetches a host's robots.txt once per pass and asks RobotsRules before each page.

How answers are read (RFC 9309, and what Google documents):
- 2xx: the rules, for the group whose User-agent matches marsad's product token (the part of
  fetch.user_agent before the first "/"), else the "*" group.
- 4xx (including 404 and 429): no rules; everything is allowed.
- 5xx, a timeout, a refused or reset connection, a body over the size limit: everything is
  allowed too. RFC 9309 says to assume complete disallow here; we are lenient on purpose, so a
  site whose robots.txt is broken is not silently dropped from a monitoring pass (its pages still
  get the per-host concurrency limit and delay). The note says which case applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

MAX_ROBOTS_BYTES = 512_000  # Google reads the first 500 KiB
DISALLOWED = "disallowed by robots.txt"


@dataclass(frozen=True)
class RobotsRules:
    """The robots.txt rules of one site; `parser` is None when everything is allowed."""

    parser: RobotFileParser | None = None
    note: str = "no robots.txt rules"

    def allows(self, url: str, user_agent: str) -> bool:
        """True when `url` may be fetched by `user_agent` (a full User-Agent string)."""
        if self.parser is None:
            return True
        return self.parser.can_fetch(product_token(user_agent), url)


ALLOW_ALL = RobotsRules()


def product_token(user_agent: str) -> str:
    """The name robots.txt groups match against: "marsad" for "marsad/0.1 (+https://...)"."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"


def robots_url(page_url: str) -> str:
    """Where the robots.txt that governs `page_url` lives (same scheme, host and port)."""
    parts = urlsplit(page_url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), "/robots.txt", "", ""))


def site_key(page_url: str) -> str:
    """The cache key of a site's robots.txt: scheme, host and port."""
    parts = urlsplit(page_url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def parse_robots(text: str) -> RobotsRules:
    """Rules from the text of a robots.txt."""
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    return RobotsRules(parser, "robots.txt rules")


def rules_from_answer(status: int | None, body: bytes | None, error: str | None) -> RobotsRules:
    """Rules from how the server answered a GET of robots.txt; see the module doc."""
    if status is not None and 200 <= status < 300 and error is None:
        return parse_robots((body or b"").decode("utf-8", errors="replace"))
    if status is not None and 400 <= status < 500:
        return RobotsRules(note=f"robots.txt answered HTTP {status}: everything allowed")
    reason = f"HTTP {status}" if status is not None else (error or "no answer")
    return RobotsRules(note=f"robots.txt unavailable ({reason}): everything allowed")
