"""extractors.dates. Case ids (D01, ...) are those of the team's research notes on Arabic text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from extractors.clean import normalize_key
from extractors.dates import (
    MONTHS,
    find_date_in_text,
    page_date_from_html,
    parse_feed_date,
    resolve_published_at,
)

BAGHDAD = ZoneInfo("Asia/Baghdad")  # UTC+3, no DST
CAIRO = ZoneInfo("Africa/Cairo")
FIXTURES = Path(__file__).parent / "fixtures" / "arabic"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def baghdad_midnight(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=BAGHDAD).astimezone(UTC)


# -- dates written in text: D01–D16 --------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "text", "fetched", "expected"),
    [
        ("D01", "تاريخ النشر: 13th, July 2024 GMT", "2025-03-01T09:00", utc("2024-07-13T00:00")),
        ("D02", "(27 شباط 2025)", "2025-03-01T09:00", baghdad_midnight("2025-02-27")),
        ("D03", "(27 كانون الأول الجاري)", "2024-12-28T09:00", baghdad_midnight("2024-12-27")),
        ("D04", "(27 كانون الأول الجاري)", "2025-01-02T09:00", baghdad_midnight("2024-12-27")),
        ("D05", "الخميس 27 فبراير 2025 - 10:30 ص", "2025-03-01T09:00", utc("2025-02-27T07:30")),
        ("D06", "15 جانفي 2025", "2025-03-01T09:00", baghdad_midnight("2025-01-15")),
        ("D07", "5 تشرين أول 2024", "2025-03-01T09:00", baghdad_midnight("2024-10-05")),
        ("D08", "٢٧ شباط/فبراير ٢٠٢٥", "2025-03-01T09:00", baghdad_midnight("2025-02-27")),
        ("D09", "15 يوليوز 2024", "2025-03-01T09:00", baghdad_midnight("2024-07-15")),
        ("D10", "1 أيار 2024", "2025-03-01T09:00", baghdad_midnight("2024-05-01")),
        ("D11", "12 مايس 2024", "2025-03-01T09:00", baghdad_midnight("2024-05-12")),
        ("D12", "27/02/2025", "2025-03-01T09:00", baghdad_midnight("2025-02-27")),
        (
            "D12b",
            "الاثنين 1427/4/9 هـ - الموافق 8/5/2006 م (آخر تحديث) الساعة 17:51 (مكة المكرمة)، "
            "14:51 (غرينتش)",
            "2025-03-01T09:00",
            utc("2006-05-08T14:51"),
        ),
        ("D13", "السبت 1 رمضان 1446 هـ", "2025-03-05T09:00", None),  # Hijri only: no guess
        ("D14", "بغداد اليوم - بغداد", "2025-03-01T09:00", None),
        ("D15", "منذ ساعتين", "2025-03-01T12:00", utc("2025-03-01T10:00")),
        ("(D02)", "(٢٧ شباط ٢٠٢٥)", "2025-03-01T09:00", baghdad_midnight("2025-02-27")),
        ("weekday", "الخميس 27/2/2025", "2025-03-01T09:00", baghdad_midnight("2025-02-27")),
        ("iso", "2025-02-27", "2025-03-01T09:00", baghdad_midnight("2025-02-27")),
        ("iso-time", "2025-02-27T13:05:00+03:00", "2025-03-01T09:00", utc("2025-02-27T10:05")),
        ("english", "July 13, 2024", "2025-03-01T09:00", baghdad_midnight("2024-07-13")),
        (
            "dual+pm",
            "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً",
            "2025-03-01T09:00",
            utc("2020-04-24T18:22"),
        ),
    ],
)
def test_find_date_in_text(case, text, fetched, expected) -> None:
    assert find_date_in_text(text, fetched_at=utc(fetched), tz=BAGHDAD) == expected


def test_d16_event_dates_after_the_lead_are_not_publication_dates() -> None:
    lead = "كشف مصدر حكومي مطلع عن وصول وفد أمني عراقي رفيع المستوى إلى العاصمة السورية. " * 5
    text = lead + "\nوكان رئيس الجهاز قد زار دمشق في 27 كانون الأول 2024 والتقى القائد العام."
    assert find_date_in_text(text, fetched_at=utc("2025-03-01T09:00"), tz=BAGHDAD) is None


def test_a_long_sentence_that_starts_like_a_label_is_not_a_date_line() -> None:
    lead = "كشف مصدر حكومي مطلع عن وصول وفد أمني عراقي رفيع المستوى إلى العاصمة السورية. " * 5
    sentence = (
        "نشر في صحيفة نيويورك تايمز مقال مطول عن العراق وسوريا والحدود بينهما وعن الوفد الذي"
        " زار دمشق في 3 آذار 2024 لبحث الملفات الأمنية"
    )
    found = find_date_in_text(f"{lead}\n{sentence}", fetched_at=utc("2025-03-01T09:00"), tz=BAGHDAD)
    assert found is None


def test_labelled_publication_line_wins_over_an_earlier_event_date() -> None:
    text = "زار الوفد دمشق في 3 شباط 2025\nتاريخ النشر: 27 شباط 2025"
    found = find_date_in_text(text, fetched_at=utc("2025-03-01T09:00"), tz=BAGHDAD)
    assert found == baghdad_midnight("2025-02-27")


@pytest.mark.parametrize(
    ("text", "fetched", "expected"),
    [
        ("أمس", "2025-02-27T10:00", baghdad_midnight("2025-02-26")),
        ("أمس الأربعاء", "2025-02-27T10:00", baghdad_midnight("2025-02-26")),
        ("أمس الجمعة", "2025-02-27T10:00", None),  # the weekday contradicts "yesterday"
        ("أول أمس", "2025-02-27T10:00", baghdad_midnight("2025-02-25")),
        ("منذ 3 ساعات", "2025-02-27T10:00", utc("2025-02-27T07:00")),
        ("منذ ساعة", "2025-02-27T10:00", utc("2025-02-27T09:00")),
        ("قبل 20 دقيقة", "2025-02-27T10:00", utc("2025-02-27T09:40")),
        ("منذ 5 دقائق", "2025-02-27T10:00", utc("2025-02-27T09:55")),
        ("منذ يومين", "2025-02-27T10:00", baghdad_midnight("2025-02-25")),
        ("5 hours ago", "2025-02-27T10:00", utc("2025-02-27T05:00")),
        ("في 5 من الشهر الجاري", "2025-03-20T10:00", baghdad_midnight("2025-03-05")),
        # fetched on Saturday: "today, Thursday" is the Thursday before
        ("أكد النائب، اليوم الخميس، أن", "2025-03-01T10:00", baghdad_midnight("2025-02-27")),
        ("مساء اليوم", "2025-02-27T10:00", baghdad_midnight("2025-02-27")),
    ],
)
def test_relative_dates_resolve_against_the_fetch_time(text, fetched, expected) -> None:
    assert find_date_in_text(text, fetched_at=utc(fetched), tz=BAGHDAD) == expected


@pytest.mark.parametrize(
    "text",
    [
        "في عام 2024 قال الوزير",  # a year alone
        "شباط 2025",  # month and year
        "27 شباط",  # day and month
        "اليوم",  # bare "today": also part of outlet names
        "الجمعة 27 شباط 2025",  # 27 February 2025 was a Thursday
        "27 شباط 2026",  # after the fetch
        "31/02/2025",  # no such day
        "1 أيار 1985",  # before 1990
        "منذ 999999999999 ساعة",  # an absurd amount
        "1 يناير 9999 23:59 -23:59",
        "",
    ],
)
def test_no_date_rather_than_a_guess(text: str) -> None:
    assert find_date_in_text(text, fetched_at=utc("2025-03-01T09:00"), tz=BAGHDAD) is None


def test_fetched_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_date_in_text("27 شباط 2025", fetched_at=datetime(2025, 3, 1), tz=BAGHDAD)


# -- the month table: one test per name ----------------------------------------------------
@pytest.mark.parametrize(("name", "month"), sorted(MONTHS.items()))
def test_every_month_name_parses(name: str, month: int) -> None:
    assert normalize_key(name) == name  # the table is in key form
    found = find_date_in_text(f"15 {name} 2024", fetched_at=utc("2025-03-01T09:00"), tz=BAGHDAD)
    assert found == baghdad_midnight(f"2024-{month:02d}-15")


@pytest.mark.parametrize(
    ("written", "month"),
    [
        ("آذار", 3),
        ("أيار", 5),
        ("إبريل", 4),
        ("أبريل", 4),
        ("أغسطس", 8),
        ("يونية", 6),
        ("يولية", 7),
        ("جويلية", 7),
        ("أفريل", 4),
        ("أوت", 8),
        ("أكتوبر", 10),
        ("تشرين الأول", 10),
        ("كانون الأول", 12),
        ("أيلول", 9),
        ("July", 7),
        ("Sept.", 9),
    ],
)
def test_month_names_as_sites_spell_them(written: str, month: int) -> None:
    found = find_date_in_text(f"3 {written} 2024", fetched_at=utc("2025-03-01T09:00"), tz=BAGHDAD)
    assert found == baghdad_midnight(f"2024-{month:02d}-03")


# -- feed dates -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Thu, 27 Feb 2025 13:05:00 +0300", utc("2025-02-27T10:05")),
        ("Thu, 27 Feb 2025 13:05:00 GMT", utc("2025-02-27T13:05")),
        ("Thu, 27 Feb 2025 13:05:00", utc("2025-02-27T10:05")),  # no zone: the feed's
        ("Thu, 27 Feb 2025 13:05:00 +03:00", utc("2025-02-27T10:05")),
        ("Thu, 27 Feb 2025 13:05:00 AST", utc("2025-02-27T10:05")),  # Arabia, not Atlantic
        ("2025-02-27T13:05:00Z", utc("2025-02-27T13:05")),
        ("2025-02-27T13:05:00.123+03:00", utc("2025-02-27T10:05:00.123")),
        ("2025-02-27 13:05:00", utc("2025-02-27T10:05")),
        ("2025-02-27", utc("2025-02-26T21:00")),
        ("2020-02-18 T 07:20:50 +0330", utc("2020-02-18T03:50:50")),
        ("الخميس، 27 فبراير 2025 13:05", utc("2025-02-27T10:05")),
        ("الأربعاء، 07 أكتوبر 2020 - 12:09 م", utc("2020-10-07T09:09")),
        ("  Thu, 27 Feb 2025 13:05:00 +0300\n", utc("2025-02-27T10:05")),
    ],
)
def test_parse_feed_date(raw: str, expected: datetime) -> None:
    assert parse_feed_date(raw, tz=BAGHDAD) == expected


def test_parse_feed_date_without_a_zone_or_tz_is_utc() -> None:
    assert parse_feed_date("2025-02-27 13:05:00", tz=None) == utc("2025-02-27T13:05")


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "garbage", "2025", "2025-02", "Thu, 31 Feb 2025 13:05:00 +0300",
     "2025-13-01T00:00:00", "99999-01-01", "\x00\x01", "Feb 2025", "٢٠٢٥",
     "0001-01-01T00:00:00+14:00", "۱۳۹۹/۰۲/۲۱ - ۱۸:۵۹"],
)  # fmt: skip
def test_parse_feed_date_never_raises_and_never_guesses(raw) -> None:
    assert parse_feed_date(raw, tz=BAGHDAD) is None


# -- resolving published_at ------------------------------------------------------------------
FETCHED = utc("2025-03-01T09:00")


def test_resolve_prefers_the_feed() -> None:
    got = resolve_published_at(
        feed=utc("2025-02-27T10:05"), page=utc("2025-02-26T00:00"), text="(27 شباط 2025)",
        fetched_at=FETCHED, tz=BAGHDAD,
    )  # fmt: skip
    assert (got.value, got.source) == (utc("2025-02-27T10:05"), "feed")


def test_resolve_rejects_future_and_ancient_candidates_in_turn() -> None:
    got = resolve_published_at(
        feed=FETCHED + timedelta(hours=2), page=utc("1970-01-01T00:00"), text="(27 شباط 2025)",
        fetched_at=FETCHED, tz=BAGHDAD,
    )  # fmt: skip
    assert (got.value, got.source) == (baghdad_midnight("2025-02-27"), "text")


def test_resolve_allows_ten_minutes_of_clock_skew() -> None:
    got = resolve_published_at(
        feed=FETCHED + timedelta(minutes=9), page=None, text=None, fetched_at=FETCHED, tz=BAGHDAD
    )
    assert got.source == "feed"


def test_resolve_reads_naive_candidates_in_the_feed_timezone() -> None:
    got = resolve_published_at(
        feed=None, page=datetime(2025, 2, 27, 13, 5), text=None, fetched_at=FETCHED, tz=BAGHDAD
    )
    assert (got.value, got.source) == (utc("2025-02-27T10:05"), "page")
    assert got.value.tzinfo is UTC


def test_resolve_falls_back_to_the_fetch_time() -> None:
    got = resolve_published_at(
        feed=None, page=None, text="بغداد اليوم - بغداد", fetched_at=FETCHED, tz=BAGHDAD
    )
    assert (got.value, got.source) == (FETCHED, "fetched")
    other_zone = FETCHED.astimezone(BAGHDAD)
    fallback = resolve_published_at(
        feed=None, page=None, text=None, fetched_at=other_zone, tz=BAGHDAD
    )
    assert fallback.value == FETCHED and fallback.value.tzinfo is UTC


# -- page metadata ---------------------------------------------------------------------------
PAGE_CASES = json.loads((FIXTURES / "page-metadata.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(PAGE_CASES))
def test_page_date_from_real_page_metadata(name: str) -> None:
    """The metadata of real news pages (htmldate's evaluation set): right or None, never wrong."""
    case = PAGE_CASES[name]
    tz = ZoneInfo(case["timezone"])
    found = page_date_from_html(case["html"], tz=tz)
    if name in {"1588107198.html", "1641304459.html"}:  # date only in the text / Persian calendar
        assert found is None
    else:
        assert found is not None
        assert found.astimezone(tz).date().isoformat() == case["expected_date"]


def test_page_date_keeps_the_time_and_offset() -> None:
    albayan = PAGE_CASES["1623715966.html"]
    assert page_date_from_html(albayan["html"], tz=BAGHDAD) == utc("2020-06-02T23:01")


def test_page_date_prefers_json_ld_of_the_article() -> None:
    html = """<html><head>
    <script type="application/ld+json">{"@graph": [
      {"@type": "WebPage", "datePublished": "2019-01-01T00:00:00Z"},
      {"@type": ["NewsArticle"], "datePublished": "2025-02-27T13:05:00+03:00"}]}</script>
    <meta property="article:published_time" content="2024-01-01T00:00:00Z">
    </head><body></body></html>"""
    assert page_date_from_html(html, tz=BAGHDAD) == utc("2025-02-27T10:05")


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<meta property="article:published_time" content="2025-02-27T13:05:00">',
         utc("2025-02-27T10:05")),
        ('<meta itemprop="datePublished" content="2025-02-27">', utc("2025-02-26T21:00")),
        ('<meta name="DC.date" content="2025-02-27T10:05:00Z">', utc("2025-02-27T10:05")),
        ('<body><article><time datetime="2025-02-27T10:05:00Z">x</time></article></body>',
         utc("2025-02-27T10:05")),
        ('<body><time pubdate datetime="2025-02-27T10:05:00Z">x</time></body>',
         utc("2025-02-27T10:05")),
        ('<meta property="article:published_time" content="۱۳۹۹/۰۲/۲۱ - ۱۸:۵۹">', None),
        ('<meta property="article:published_time" content="2020">', None),
        ("<body><p>بغداد اليوم - بغداد</p><p>اليوم الخميس (27 شباط 2025)</p></body>", None),
        ('<script type="application/ld+json">{not json</script>', None),
        ("", None),
    ],
)  # fmt: skip
def test_page_date_from_html(html: str, expected: datetime | None) -> None:
    assert page_date_from_html(f"<html><head>{html}</head></html>" if html else "", tz=BAGHDAD) == (
        expected
    )


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared corpora are not next to the repo")
def test_page_date_score_on_the_full_htmldate_pages() -> None:
    """All 11 pages of htmldate's Media Cloud set: 9 right, 2 without metadata, none wrong."""
    base = SHARED / "corpora" / "arabic-pages" / "htmldate-mediacloud"
    index = json.loads((base / "index.json").read_text(encoding="utf-8"))
    right = missing = 0
    for name, meta in index.items():
        tz = ZoneInfo(PAGE_CASES[name]["timezone"])
        html = (base / name).read_text(encoding="utf-8", errors="replace")
        found = page_date_from_html(html, tz=tz)
        if found is None:
            missing += 1
        else:
            assert found.astimezone(tz).date().isoformat() == meta["expected_date"], name
            right += 1
    assert (right, missing) == (9, 2)
