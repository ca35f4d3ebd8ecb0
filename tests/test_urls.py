"""Canonical URLs: every spelling of one article's link maps to one string."""

from __future__ import annotations

import re

import pytest

from extractors.urls import (
    AMP_QUERY_PARAMS,
    TRACKING_PARAMS,
    InvalidURL,
    article_id,
    canonical_url,
    url_host,
)

ARTICLE = "https://example.com/news/2025/02/27/delegation"


@pytest.mark.parametrize("param", TRACKING_PARAMS, ids=lambda p: p.name)
def test_each_tracking_parameter_is_dropped_and_others_kept(param):
    name = f"{param.name}campaign" if param.prefix else param.name
    url = f"{ARTICLE}?id=7&{name}=feed-xyz"
    assert canonical_url(url) == f"{ARTICLE}?id=7"


@pytest.mark.parametrize("param", TRACKING_PARAMS, ids=lambda p: p.name)
def test_tracking_parameters_match_in_any_case(param):
    name = (f"{param.name}Campaign" if param.prefix else param.name).upper()
    assert canonical_url(f"{ARTICLE}?{name}=1") == ARTICLE


@pytest.mark.parametrize("name", ["id", "p", "page", "cid", "source", "story"])
def test_article_identifying_parameters_are_kept(name):
    assert canonical_url(f"{ARTICLE}?{name}=42") == f"{ARTICLE}?{name}=42"


def test_a_prefix_entry_does_not_swallow_longer_unrelated_names():
    # "ref" is an exact entry: "reference" or "refresh" may name the content
    assert canonical_url(f"{ARTICLE}?reference=9") == f"{ARTICLE}?reference=9"


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name, values in AMP_QUERY_PARAMS.items() for value in sorted(values)],
)
def test_each_amp_query_marker_is_dropped(name, value):
    assert canonical_url(f"{ARTICLE}?{name}={value}&id=3") == f"{ARTICLE}?id=3"


def test_amp_query_with_a_no_value_is_not_an_amp_marker():
    assert canonical_url(f"{ARTICLE}?amp=0") == f"{ARTICLE}?amp=0"


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/news/2025/02/27/delegation",
        "https://www.example.com/news/2025/02/27/delegation/",
        "https://m.example.com/news/2025/02/27/delegation",
        "https://mobile.example.com/news/2025/02/27/delegation",
        "https://amp.example.com/news/2025/02/27/delegation",
        "https://example.com/news/2025/02/27/delegation/amp",
        "https://example.com/news/2025/02/27/delegation/amp/",
        "https://example.com/amp/news/2025/02/27/delegation",
        "https://example.com/news/2025/02/27/delegation?amp=1",
        "https://example.com/news/2025/02/27/delegation?amp",
        "https://example.com/news/2025/02/27/delegation?outputType=amp",
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/2025/02/27/delegation",
        "HTTPS://WWW.EXAMPLE.COM:443/news//2025/02/./27/delegation#comments",
    ],
)
def test_amp_mobile_and_cosmetic_variants_share_one_canonical_url(variant):
    assert canonical_url(variant) == ARTICLE


def test_amp_html_suffix_becomes_the_plain_page():
    assert canonical_url("https://example.com/a/story-1.amp.html") == (
        "https://example.com/a/story-1.html"
    )


def test_a_host_prefix_is_kept_when_it_is_the_whole_site_name():
    # "m.tv" is the site itself, not a mobile variant of "tv"
    assert canonical_url("https://m.tv/a") == "https://m.tv/a"


def test_other_subdomains_are_different_sites():
    assert canonical_url("https://arabic.cnn.com/a") == "https://arabic.cnn.com/a"


SLUG = "الحدود-العراقية"
SLUG_ENCODED = (
    "%D8%A7%D9%84%D8%AD%D8%AF%D9%88%D8%AF-%D8%A7%D9%84%D8%B9%D8%B1%D8%A7%D9%82%D9%8A%D8%A9"
)


@pytest.mark.parametrize(
    "path",
    [SLUG, SLUG_ENCODED, SLUG_ENCODED.lower(), SLUG[:5] + SLUG_ENCODED[5 * 6 :]],
    ids=["raw", "upper", "lower", "mixed"],
)
def test_arabic_slugs_raw_or_encoded_in_any_case_are_equal(path):
    assert canonical_url(f"https://example.com/news/{path}") == (
        f"https://example.com/news/{SLUG_ENCODED}"
    )


def test_arabic_query_values_are_encoded_like_paths():
    assert canonical_url("https://example.com/s?q=بغداد") == canonical_url(
        "https://example.com/s?q=%d8%a8%d8%ba%d8%af%d8%a7%d8%af"
    )


def test_escapes_of_reserved_characters_stay_escaped_and_unreserved_ones_are_decoded():
    # %2F inside a segment is data, not a path separator; %7E is "~"
    assert canonical_url("https://example.com/a%2fb/%7Euser") == "https://example.com/a%2Fb/~user"


def test_spaces_and_lone_percent_signs_are_escaped():
    assert canonical_url(" https://example.com/a b/50% ") == "https://example.com/a%20b/50%25"


def test_remaining_query_parameters_are_sorted_and_repeated_names_keep_their_order():
    url = "https://example.com/a?z=1&tag=b&utm_medium=x&a=2&tag=a"
    assert canonical_url(url) == "https://example.com/a?a=2&tag=b&tag=a&z=1"


def test_default_ports_are_dropped_and_other_ports_kept():
    assert canonical_url("http://example.com:80/a") == "http://example.com/a"
    assert canonical_url("https://example.com:8443/a") == "https://example.com:8443/a"


def test_scheme_is_kept_not_upgraded():
    assert canonical_url("HTTP://Example.com/a") == "http://example.com/a"


def test_user_info_and_session_ids_are_dropped():
    url = "https://reader:secret@example.com/a;jsessionid=ABC123?PHPSESSID=9&id=1"
    assert canonical_url(url) == "https://example.com/a?id=1"


def test_international_host_is_idna_encoded():
    assert (
        canonical_url("https://www.مثال.مصر/خبر")
        == "https://xn--mgbh0fb.xn--wgbh1c/%D8%AE%D8%A8%D8%B1"
    )


def test_root_keeps_its_slash():
    assert canonical_url("https://example.com") == "https://example.com/"
    assert canonical_url("https://example.com/?utm_source=x") == "https://example.com/"


@pytest.mark.parametrize(
    "url",
    [
        "https://WWW.Example.com/News/%d8%a7/amp/?b=2&a=1&fbclid=1#x",
        "http://m.example.com:8080/a/../b//c/?q=%2f",
        "https://example.com/news/" + SLUG,
    ],
)
def test_canonicalization_is_idempotent(url):
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert once.isascii()


def test_path_case_is_preserved():
    assert canonical_url("https://example.com/News/A") == "https://example.com/News/A"


# -- rel=canonical / og:url ------------------------------------------------------------------

FEED_LINK = "https://m.example.com/article.php?id=5&utm_source=rss"


@pytest.mark.parametrize(
    "declared",
    [
        "https://www.example.com/news/2025/5-delegation",
        "https://example.com/news/2025/5-delegation",
        "http://amp.example.com/news/2025/5-delegation/amp",
    ],
)
def test_page_canonical_on_the_same_site_wins(declared):
    expected = canonical_url(declared)
    assert canonical_url(FEED_LINK, page_canonical=declared) == expected
    assert "5-delegation" in expected


@pytest.mark.parametrize(
    ("declared", "why"),
    [
        ("https://other.example.org/news/5", "another site"),
        ("https://news.example.com/news/5", "another subdomain"),
        ("/news/2025/5-delegation", "relative"),
        ("//www.example.com/news/5", "scheme-relative"),
        ("ftp://example.com/news/5", "not http(s)"),
        ("https://www.example.com/", "the home page"),
        ("https://example.com", "the home page without slash"),
        ("https://www.example.com/?utm_source=x", "the home page with tracking"),
        ("not a url", "garbage"),
        ("", "empty"),
    ],
)
def test_page_canonical_is_ignored_when_it_cannot_be_trusted(declared, why):
    assert canonical_url(FEED_LINK, page_canonical=declared) == (
        "https://example.com/article.php?id=5"
    ), why


def test_page_canonical_with_a_query_on_the_root_is_not_the_home_page():
    assert canonical_url(FEED_LINK, page_canonical="https://example.com/?p=5") == (
        "https://example.com/?p=5"
    )


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://example.com/file",
        "mailto:desk@example.com",
        "javascript:alert(1)",
        "/news/1",
        "example.com/news/1",
        "https:///news/1",
        "http://example.com:99999/a",
        "http://[::1/a",
        "",
    ],
)
def test_links_that_cannot_name_an_article_raise_invalid_url(bad):
    with pytest.raises(InvalidURL) as info:
        canonical_url(bad)
    assert isinstance(info.value, ValueError)
    assert repr(bad) in str(info.value)  # the message names the link


# -- ids and hosts ---------------------------------------------------------------------------


def test_article_id_is_twenty_hex_digits_and_equal_for_equal_canonical_urls():
    a = article_id(canonical_url("https://www.example.com/a?utm_source=x"))
    b = article_id(canonical_url("https://m.example.com/a/"))
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{20}", a)
    assert article_id(canonical_url("https://example.com/b")) != a


def test_article_id_never_changes_between_releases():
    # stored ids are primary keys: this value must stay what it was when first released
    url = canonical_url("https://www.aljazeera.net/news/2024/7/13/خطر-التصعيد?utm_source=rss")
    assert article_id(url) == "e0fa2a3bafe41ba63ba5"


def test_url_host_keeps_subdomains_and_drops_port():
    assert url_host("https://WWW.Example.com:8443/a") == "www.example.com"
    assert url_host("https://m.example.com/a") == "m.example.com"
    assert url_host("https://www.مثال.مصر/") == "www.xn--mgbh0fb.xn--wgbh1c"


def test_url_host_rejects_what_canonical_url_rejects():
    with pytest.raises(InvalidURL):
        url_host("file:///etc/passwd")
