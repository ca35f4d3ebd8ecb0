"""Canonical URLs: one spelling per article, whichever link led to it.

A story reaches us as a feed link with campaign tags, an AMP page, a mobile host, a link with
Arabic letters written raw or percent-encoded in any case. `canonical_url` maps all of them to
one string; `article_id` hashes that string into the warehouse key.

The canonical URL is an identity, not a link we fetch (the fetcher uses the feed's link): it
names the bare site host (``www.``, ``m.``, ``mobile.`` and ``amp.`` removed, as Media Cloud's
``normalize_url`` does), because sites serve one article under each of them.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit, urlunsplit


class InvalidURL(ValueError):
    """A link that cannot name an article: not http(s), no host, or a malformed host or port."""


class TrackingParam(NamedTuple):
    """A query parameter that only says how a reader arrived, never which article."""

    name: str  # lower case; a prefix when `prefix` is true
    prefix: bool
    origin: str


# Matched case-insensitively on the decoded parameter name. Deliberately absent: short generic
# names that some sites use for the article itself (id, p, cid, source, from, feature, si).
TRACKING_PARAMS: tuple[TrackingParam, ...] = (
    TrackingParam("utm_", True, "Google Analytics campaign tags (utm_source, utm_medium, ...)"),
    TrackingParam("at_", True, "AT Internet / Piano (at_medium, at_campaign, at_creation, ...)"),
    TrackingParam("pk_", True, "Matomo/Piwik campaigns (pk_campaign, pk_kwd)"),
    TrackingParam("mtm_", True, "Matomo campaigns (mtm_campaign, mtm_source)"),
    TrackingParam("hsa_", True, "HubSpot ads (hsa_acc, hsa_cam, ...)"),
    TrackingParam("ns_", True, "comScore (ns_source, ns_mchannel, ns_campaign, ...)"),
    TrackingParam("oly_", True, "Omeda (oly_anon_id, oly_enc_id)"),
    TrackingParam("vero_", True, "Vero e-mail (vero_id, vero_conv)"),
    TrackingParam("fb_", True, "Facebook share dialogs (fb_action_ids, fb_source, fb_ref)"),
    TrackingParam("ga_", True, "Google Analytics variants (ga_source, ga_campaign)"),
    TrackingParam("gad_", True, "Google Ads (gad_source, gad_campaignid)"),
    TrackingParam("fbclid", False, "Facebook click id"),
    TrackingParam("gclid", False, "Google Ads click id"),
    TrackingParam("gclsrc", False, "Google Ads click source"),
    TrackingParam("dclid", False, "Google Display click id"),
    TrackingParam("gbraid", False, "Google Ads iOS app click id"),
    TrackingParam("wbraid", False, "Google Ads iOS web click id"),
    TrackingParam("srsltid", False, "Google Merchant Center result id"),
    TrackingParam("_ga", False, "Google Analytics cross-domain client id"),
    TrackingParam("_gl", False, "Google linker"),
    TrackingParam("msclkid", False, "Microsoft Ads click id"),
    TrackingParam("ocid", False, "Microsoft/MSN syndication"),
    TrackingParam("yclid", False, "Yandex click id"),
    TrackingParam("ysclid", False, "Yandex search click id"),
    TrackingParam("twclid", False, "X/Twitter click id"),
    TrackingParam("__twitter_impression", False, "X/Twitter embeds"),
    TrackingParam("ttclid", False, "TikTok click id"),
    TrackingParam("li_fat_id", False, "LinkedIn click id"),
    TrackingParam("epik", False, "Pinterest click id"),
    TrackingParam("igshid", False, "Instagram share id"),
    TrackingParam("igsh", False, "Instagram share id (newer)"),
    TrackingParam("mc_cid", False, "Mailchimp campaign id"),
    TrackingParam("mc_eid", False, "Mailchimp subscriber id"),
    TrackingParam("mkt_tok", False, "Marketo e-mail token"),
    TrackingParam("_hsenc", False, "HubSpot e-mail"),
    TrackingParam("_hsmi", False, "HubSpot e-mail"),
    TrackingParam("__hstc", False, "HubSpot cookie"),
    TrackingParam("__hssc", False, "HubSpot cookie"),
    TrackingParam("__hsfp", False, "HubSpot fingerprint"),
    TrackingParam("ref", False, "generic referrer tag (?ref=rss, ?ref=homepage)"),
    TrackingParam("ref_src", False, "X/Twitter referrer"),
    TrackingParam("ref_url", False, "X/Twitter referrer"),
    TrackingParam("cmpid", False, "campaign id (Guardian, Financial Times, ...)"),
    TrackingParam("sr_share", False, "SimpleReach share tag"),
    TrackingParam("s_cid", False, "Adobe Analytics campaign"),
    TrackingParam("s_kwcid", False, "Adobe Analytics keyword campaign"),
    TrackingParam("wt.mc_id", False, "Webtrends campaign"),
    TrackingParam("xtor", False, "AT Internet campaign"),
    TrackingParam("ito", False, "internal traffic origin (The Times, Telegraph)"),
    TrackingParam("spm", False, "Alibaba/UC super position model"),
    TrackingParam("scm", False, "Alibaba/UC content tag"),
    TrackingParam("smid", False, "New York Times share id"),
    TrackingParam("dicbo", False, "Outbrain click id"),
    TrackingParam("tblci", False, "Taboola click id"),
    TrackingParam("rb_clickid", False, "Rubicon click id"),
    TrackingParam("wickedid", False, "Wicked Reports click id"),
    TrackingParam("_openstat", False, "Openstat"),
    TrackingParam("zanpid", False, "Zanox affiliate id"),
    TrackingParam("guccounter", False, "Yahoo consent redirect"),
    TrackingParam("guce_referrer", False, "Yahoo consent redirect"),
    TrackingParam("guce_referrer_sig", False, "Yahoo consent redirect"),
    TrackingParam("action_object_map", False, "Facebook share dialog"),
    TrackingParam("action_type_map", False, "Facebook share dialog"),
    TrackingParam("action_ref_map", False, "Facebook share dialog"),
    TrackingParam("phpsessid", False, "PHP session id (differs per visitor)"),
    TrackingParam("jsessionid", False, "Java session id in the query (differs per visitor)"),
)

_TRACKING_EXACT = frozenset(p.name for p in TRACKING_PARAMS if not p.prefix)
_TRACKING_PREFIXES = tuple(p.name for p in TRACKING_PARAMS if p.prefix)

# Query parameters that ask for the AMP rendering of the same article: name -> values meaning "yes".
AMP_QUERY_PARAMS: dict[str, frozenset[str]] = {
    "amp": frozenset({"", "1", "true", "yes"}),
    "outputtype": frozenset({"amp"}),
}
# Host prefixes a site serves the same article under (a prefix is removed only if a dot remains).
SITE_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters kept literally; everything else (including raw Arabic letters) is percent-encoded.
_PATH_ESCAPES = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$&'()*+,;=:@/]")
_QUERY_ESCAPES = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$'()*+,;=:@/?]")
_SESSION_IN_PATH = re.compile(r";jsessionid=[^/]*", re.IGNORECASE)


def canonical_url(url: str, *, page_canonical: str | None = None) -> str:
    """Return the one spelling of `url` under which its article is stored.

    Lower-cases scheme and host, encodes an international host with IDNA, removes the default
    port, user info, fragment, tracking parameters (TRACKING_PARAMS), AMP markers (``/amp``,
    ``/amp/`` at either end of the path, ``.amp.html``, ``?amp=1``, ``?outputType=amp``, Google's
    AMP cache host) and the ``www.``/``m.``/``mobile.``/``amp.`` host prefix; sorts the remaining
    query parameters by name (stable for repeated names); collapses ``//`` and dot segments;
    drops a trailing slash except at the root; writes every percent-escape in upper case and
    every non-ASCII character (Arabic slugs) as UTF-8 percent-escapes, so raw, lower- and
    upper-case encoded spellings agree.

    `page_canonical` (the page's rel=canonical or og:url) wins when it is an absolute http(s)
    URL on the same site (hosts equal after the prefixes above are removed) and is not that
    site's home page; otherwise it is ignored. Raises InvalidURL when `url` is not http(s) or
    has no host.
    """
    canonical = _normalize(url)
    if page_canonical:
        try:
            declared = _normalize(page_canonical)
        except InvalidURL:
            return canonical
        same_site = urlsplit(declared).hostname == urlsplit(canonical).hostname
        home_page = urlsplit(declared).path == "/" and not urlsplit(declared).query
        if same_site and not home_page:
            return declared
    return canonical


def article_id(canonical: str) -> str:
    """Stable article key: the first 20 hex digits of the SHA-256 of the canonical URL."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def url_host(url: str) -> str:
    """The host `url` is fetched from, lower case and IDNA-encoded, without port (per-host limits).

    Unlike canonical_url it keeps ``www.`` and ``m.``: those may be separate servers.
    Raises InvalidURL when `url` is not http(s) or has no host.
    """
    return _host(_split(url))


def _split(url: str) -> SplitResult:
    text = url.strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise InvalidURL(f"cannot parse {text!r} as a URL: {exc}") from exc
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise InvalidURL(f"{text!r} is not an absolute http(s) URL; marsad only reads web links")
    if not parts.hostname:
        raise InvalidURL(f"{text!r} has no host name")
    return parts


def _host(parts: SplitResult) -> str:
    host = (parts.hostname or "").rstrip(".")
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidURL(f"the host of {parts.geturl()!r} is not a valid domain name") from exc


def _normalize(url: str) -> str:
    parts = _split(url)
    scheme = parts.scheme.lower()
    host = _host(parts)
    path = parts.path
    if host.endswith(_AMP_CACHE_SUFFIX):
        unwrapped = _unwrap_amp_cache(path, parts.query)
        if unwrapped is not None:
            return _normalize(unwrapped)
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{url.strip()!r} has an invalid port") from exc
    for prefix in SITE_HOST_PREFIXES:
        if host.startswith(prefix) and "." in host[len(prefix) :]:
            host = host[len(prefix) :]
            break
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, _normalize_path(path), _normalize_query(parts.query), ""))


def _unwrap_amp_cache(path: str, query: str) -> str | None:
    # https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/1 -> the publisher's URL
    match = re.match(r"^/[cvi]/(s/)?([^/]+\.[^/]+/.*|[^/]+\.[^/]+)$", path)
    if not match:
        return None
    scheme = "https" if match.group(1) else "http"
    return f"{scheme}://{match.group(2)}" + (f"?{query}" if query else "")


def _escape(pattern: re.Pattern[str], text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        token = match.group()
        if len(token) == 3 and token[0] == "%":
            char = chr(int(token[1:], 16))
            return char if char in _UNRESERVED else token.upper()
        return "".join(f"%{byte:02X}" for byte in token.encode("utf-8", "surrogatepass"))

    return pattern.sub(fix, text)


def _normalize_path(path: str) -> str:
    path = _SESSION_IN_PATH.sub("", path)
    segments: list[str] = []
    for segment in _escape(_PATH_ESCAPES, path).split("/"):
        if segment in ("", "."):
            continue  # collapses "//" and drops the trailing slash
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    if segments and segments[-1].lower() == "amp":
        segments.pop()
    if len(segments) > 1 and segments[0].lower() == "amp":
        segments.pop(0)
    if segments and segments[-1].lower().endswith(".amp.html"):
        segments[-1] = segments[-1][: -len(".amp.html")] + ".html"
    return "/" + "/".join(segments)


def _is_dropped(name: str, value: str) -> bool:
    key = _decoded_name(name)
    if key in _TRACKING_EXACT or key.startswith(_TRACKING_PREFIXES):
        return True
    amp_values = AMP_QUERY_PARAMS.get(key)
    return amp_values is not None and _decoded_name(value) in amp_values


def _decoded_name(text: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text).lower()


def _normalize_query(query: str) -> str:
    kept: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        name, value = _escape(_QUERY_ESCAPES, name), _escape(_QUERY_ESCAPES, value)
        if not _is_dropped(name, value):
            kept.append((name, f"{name}{sep}{value}"))
    kept.sort(key=lambda item: item[0])  # stable: repeated names keep their order
    return "&".join(text for _, text in kept)
