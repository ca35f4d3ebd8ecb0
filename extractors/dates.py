"""Publication dates: from the feed, the page's metadata, or a date written in the text.

Every datetime returned is timezone-aware UTC. A time written without a zone is read in the feed's
own timezone, and a date without a time is midnight there. Nothing here guesses: a date needs an
explicit day, month and year (or a relative expression such as "أمس" or "منذ ساعتين" resolved
against the fetch time); a year or a month alone is never a date, and a date later than the fetch
time is rejected.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from lxml import etree
from lxml import html as lxml_html

from extractors.clean import fold_text

# Month names in key form (extractors.clean.normalize_key): hamza, ta marbuta and alef maqsura
# variants fold together, so "آذار" is "اذار" and "يونية" is "يونيه".
MONTHS: dict[str, int] = {
    # Levantine / Iraqi (Syriac names)
    "كانون الثاني": 1, "كانون ثاني": 1, "كانون 2": 1, "شباط": 2, "اذار": 3, "نيسان": 4, "ايار": 5,
    "مايس": 5, "حزيران": 6, "تموز": 7, "اب": 8, "ايلول": 9, "تشرين الاول": 10, "تشرين اول": 10,
    "تشرين 1": 10, "تشرين الثاني": 11, "تشرين ثاني": 11, "تشرين 2": 11, "كانون الاول": 12,
    "كانون اول": 12, "كانون 1": 12,
    # Egyptian / Gulf
    "يناير": 1, "فبراير": 2, "مارس": 3, "ابريل": 4, "مايو": 5, "يونيو": 6, "يونيه": 6,
    "يوليو": 7, "يوليه": 7, "اغسطس": 8, "سبتمبر": 9, "اكتوبر": 10, "نوفمبر": 11, "ديسمبر": 12,
    # Algeria / Tunisia
    "جانفي": 1, "فيفري": 2, "افريل": 4, "ماي": 5, "جوان": 6, "جويليه": 7, "اوت": 8,
    # Morocco / Mauritania
    "يوليوز": 7, "غشت": 8, "اغشت": 8, "شتنبر": 9, "نونبر": 11, "دجنبر": 12,
    # English
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1,
    "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}  # fmt: skip

WEEKDAYS: dict[str, int] = {  # key form -> datetime.weekday()
    "الاثنين": 0, "الاتنين": 0, "الثلاثاء": 1, "الاربعاء": 2, "الخميس": 3, "الجمعه": 4,
    "السبت": 5, "الاحد": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3,
    "friday": 4, "saturday": 5, "sunday": 6, "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4,
    "sat": 5, "sun": 6,
}  # fmt: skip

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=10)
LEAD_CHARS = 300  # dates in the text are read in labelled lines or the first LEAD_CHARS only
LABEL_WORDS = 16  # a labelled line ("نشر في ...") longer than this is a sentence, not a label

_M = "|".join(sorted((re.escape(m).replace(r"\ ", r"\s") for m in MONTHS), key=len, reverse=True))
_WD = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
_TIME = (
    r"(?<!\d)(?P<H>\d{1,2}):(?P<Mi>\d{2})(?::(?P<S>\d{2}))?(?:\.\d+)?\s*(?P<ampm>صباحا|ص|مساءا|مساء|م|ظهرا"
    r"|a\.?m\.?|p\.?m\.?)?(?!\w)\s*(?P<zone>\(?\s*(?:بتوقيت\s+)?(?:غرينتش|جرينتش|غرينيتش|gmt|utc)\s*\)?"
    r"|z\b|[+-]\d{2}:?\d{2}\b)?"
)
_DATE_PATTERNS = (
    re.compile(  # 27 شباط 2025 · 13th, July 2024 · 24 نيسان / أبريل 2020 · 5 من تموز عام 2024
        rf"(?<![\d/.])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s*(?:من\s+)?[,،]?\s*(?:شهر\s+)?(?P<m>{_M})\b\.?"
        rf"(?:\s*[/(\-–]\s*(?P<m2>{_M})\b\s*\)?)?\s*[,،]?\s*(?:(?:من\s+)?(?:عام|سنه)\s+)?"
        rf"(?P<y>\d{{4}})(?![\d/])"
    ),
    re.compile(rf"\b(?P<m>{_M})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)"),
    re.compile(  # 2025-02-27 · 2025-02-27T13:05:00+03:00 · 2025/2/27
        r"(?<![\d/.])(?P<y>\d{4})(?P<sep>[-/.])(?P<mn>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\d/])"
    ),
    re.compile(  # 27/2/2025 · 27-02-2025 · 27.02.2025
        r"(?<![\d/.])(?P<d>\d{1,2})(?P<sep>[-/.])(?P<mn>\d{1,2})(?P=sep)(?P<y>\d{4})(?![\d/])"
    ),
)
_TIME_RX = re.compile(_TIME)
_WINDOW_END = re.compile(r"[!?؟\n]|\.\s")  # a time belongs to a date in the same sentence
_HIJRI_AFTER = re.compile(r"\s*(?:ه|هجري|هجريه)\b")
_WEEKDAY_BEFORE = re.compile(rf"\b(?P<wd>{_WD})\b[\s,،(]*(?:\w+\s+)?\(?\s*$")
_ZONE_AFTER_YEAR = re.compile(r"\s*\(?(?:غرينتش|جرينتش|gmt|utc)\b")
_PUBLISHED_LABEL = re.compile(
    r"\W{0,3}(?:تاريخ النشر|تاريخ الاضافه|نشر في|نشر بتاريخ|تم نشره|تم النشر|published|posted)\b"
)
_UPDATED_LABEL = re.compile(r"\W{0,3}(?:اخر تحديث|تاريخ التحديث|last updated|updated|modified)\b")
_RELATIVE = re.compile(
    r"(?P<ago>(?:منذ|قبل)\s+(?:(?P<n>\d{1,4})\s*"
    r"(?P<unit>دقيقه|دقاءق|ساعه|ساعات|يوم|ايام|اسبوع|اسابيع)"
    r"|(?P<dual>دقيقتين|ساعتين|يومين|اسبوعين)|(?P<one>دقيقه|ساعه|يوم|اسبوع))\b)"
    r"|(?P<ago_en>\b(?P<n_en>\d{1,4})\s+(?P<unit_en>minute|hour|day|week)s?\s+ago\b)"
    r"|(?P<before_y>\b(?:اول\s+امس|امس\s+الاول)\b)"
    rf"|(?P<yesterday>\b(?:يوم\s+)?(?:امس|الامس)\b(?:\s+(?P<wd_y>{_WD})\b)?)"
    rf"|(?P<today>\b(?:اليوم\s+(?P<wd_t>{_WD})|(?:صباح|مساء|ظهر|فجر|ليل|عصر)\s+اليوم)\b)"
    rf"|(?P<current>(?<![\d/])(?P<d_c>\d{{1,2}})\s+(?:من\s+)?(?:(?P<m_c>{_M})|الشهر)\s+(?:الجاري|الحالي)\b)"
)
_UNITS = {"دقيقه": "minutes", "دقاءق": "minutes", "ساعه": "hours", "ساعات": "hours",
          "يوم": "days", "ايام": "days", "اسبوع": "weeks", "اسابيع": "weeks", "minute": "minutes",
          "hour": "hours", "day": "days", "week": "weeks"}  # fmt: skip
_DUALS = {"دقيقتين": "minutes", "ساعتين": "hours", "يومين": "days", "اسبوعين": "weeks"}


@dataclass(frozen=True)
class PublishedAt:
    """When an article was published, and where that came from: 'feed', 'page', 'text' or
    'fetched' (nothing found; the fetch time)."""

    value: datetime
    source: str


def parse_feed_date(value: str | None, *, tz: ZoneInfo | None) -> datetime | None:
    """A feed's date string (RFC 822, ISO 8601, or a localized Arabic or English date) as an
    aware UTC datetime; a time without a zone is read in tz (UTC when tz is None). None when
    the string holds no complete date. Never raises."""
    if not value or not isinstance(value, str) or not value.strip():
        return None
    zone: tzinfo = tz or UTC
    text = value.strip()
    try:
        return _as_utc(datetime.fromisoformat(text), zone)
    except (ValueError, OverflowError):
        pass
    try:  # RFC 822; "+03:00" is not RFC 822 and "AST" would be read as Atlantic time
        rfc = re.sub(r"([+-]\d\d):(\d\d)\s*$", r"\1\2", re.sub(r"\s+AST\s*$", "", text))
        return _as_utc(parsedate_to_datetime(rfc), zone)
    except (ValueError, TypeError, IndexError, OverflowError):
        pass
    try:
        found = next(_explicit_dates(fold_text(text), zone), None)
    except (ValueError, OverflowError):
        return None
    return found


def find_date_in_text(text: str, *, fetched_at: datetime, tz: ZoneInfo) -> datetime | None:
    """A publication date written in an article's text, or None.

    Reads lines labelled as publication dates ("تاريخ النشر:", "نشر في", "Published") first, then
    the first LEAD_CHARS characters (the dateline and lead), then "آخر تحديث" lines. Accepts
    "27 شباط 2025", "(٢٧ شباط ٢٠٢٥)", "الخميس 27/2/2025", "2025-02-27", "13th, July 2024 GMT" and
    relative expressions (اليوم الخميس، أمس، أول أمس، منذ ساعتين، "5 من الشهر الجاري")
    resolved against fetched_at in tz. A weekday written next to a date must agree with it.
    Dates later than fetched_at (+10 minutes) or before 1990 are skipped."""
    _require_aware(fetched_at)
    lines = [fold_text(line) for line in text.splitlines() if line.strip()]
    labelled = [ln for ln in lines if _PUBLISHED_LABEL.match(ln) and ln.count(" ") < LABEL_WORDS]
    updated = [ln for ln in lines if _UPDATED_LABEL.match(ln) and ln.count(" ") < LABEL_WORDS]
    lead = " ".join(lines)[:LEAD_CHARS]
    latest = fetched_at + FUTURE_TOLERANCE
    for region in (*labelled, lead, *updated):
        for found in _explicit_dates(region, tz):
            if EARLIEST <= found <= latest:
                return found
        relative = _relative_date(region, fetched_at, tz)
        if relative is not None and EARLIEST <= relative <= latest:
            return relative
    return None


def resolve_published_at(
    *,
    feed: datetime | None,
    page: datetime | None,
    text: str | None,
    fetched_at: datetime,
    tz: ZoneInfo,
) -> PublishedAt:
    """The first plausible date of feed -> page -> text -> fetched_at. A candidate later than
    fetched_at (+10 minutes) or before 1990 is rejected and the next one tried. Aware UTC."""
    _require_aware(fetched_at)
    for source, candidate in (("feed", feed), ("page", page)):
        if is_plausible(candidate, fetched_at=fetched_at, tz=tz):
            return PublishedAt(_as_utc(candidate, tz), source)
    if text and (found := find_date_in_text(text, fetched_at=fetched_at, tz=tz)):
        return PublishedAt(found, "text")
    return PublishedAt(fetched_at.astimezone(UTC), "fetched")


def is_plausible(candidate: datetime | None, *, fetched_at: datetime, tz: ZoneInfo) -> bool:
    """Whether resolve_published_at would take this candidate: not None, from 1990 on and not
    later than fetched_at (+10 minutes); a naive one is read in tz."""
    if candidate is None:
        return False
    return EARLIEST <= _as_utc(candidate, tz) <= fetched_at + FUTURE_TOLERANCE


_META_NAMES = (
    "article:published_time", "og:article:published_time", "og:published_time",
    "datepublished", "article.published", "publish-date", "publishdate", "publish_date",
    "pubdate", "sailthru.date", "parsely-pub-date", "dc.date.issued", "dcterms.issued",
    "dc.date", "dcterms.created", "dc.date.created", "date",
)  # fmt: skip
_ARTICLE_TYPES = (
    "article",
    "newsarticle",
    "reportagenewsarticle",
    "blogposting",
    "analysisnewsarticle",
)


def page_date_from_html(html: str, *, tz: ZoneInfo) -> datetime | None:
    """The publication date a page states in its own metadata, as aware UTC, or None.

    In order: JSON-LD datePublished (of an Article-like object first), then <meta> tags
    (article:published_time, itemprop/name datePublished, pubdate, DC.date, ...), then a <time>
    marked datePublished or pubdate, else the first <time datetime> inside <article>. A date
    without a zone is read in tz. Never looks at the visible text, never guesses a year alone."""
    if not html or not html.strip():
        return None
    try:
        root = lxml_html.fromstring(
            html.encode("utf-8", "replace") if "<?xml" in html[:100] else html
        )
    except (etree.ParserError, ValueError):
        return None
    return page_date_from_tree(root, tz=tz)


def page_date_from_tree(root: lxml_html.HtmlElement, *, tz: ZoneInfo) -> datetime | None:
    """page_date_from_html on a page already parsed (extractors.article parses it once)."""
    for raw in _page_date_strings(root):
        found = parse_feed_date(raw, tz=tz)
        if found is not None and found >= EARLIEST and found.year <= datetime.now(UTC).year + 1:
            return found
    return None


def _page_date_strings(root: lxml_html.HtmlElement) -> Iterator[str]:
    # One walk of the tree collects the three kinds of element read below (a walk takes ~0.1 ms
    # on a large page; there were four), in document order as .//script, .//meta and .//time.
    found: dict[str, list[lxml_html.HtmlElement]] = {"script": [], "meta": [], "time": []}
    for element in root.iterdescendants(*found):
        found[element.tag].append(element)
    typed: list[str] = []
    untyped: list[str] = []
    for script in found["script"]:
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text, strict=False)
        except ValueError:
            continue
        for obj in _json_objects(data):
            published = obj.get("datePublished")
            if isinstance(published, str):
                kinds = obj.get("@type")
                kinds = (
                    [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
                )
                is_article = any(str(k).lower() in _ARTICLE_TYPES for k in kinds)
                (typed if is_article else untyped).append(published)
    yield from typed
    yield from untyped
    metas: dict[str, str] = {}
    for meta in found["meta"]:
        content = meta.get("content")
        for attr in ("property", "name", "itemprop"):
            name = (meta.get(attr) or "").strip().lower()
            if content and name in _META_NAMES:
                metas.setdefault(name, content)
    yield from (metas[name] for name in _META_NAMES if name in metas)
    for element in found["time"]:
        if element.get("datetime") and (
            (element.get("itemprop") or "").lower() == "datepublished"
            or "pubdate" in element.attrib
        ):
            yield element.get("datetime")
    for element in found["time"]:  # the first of .//article//time
        if element.get("datetime") and _inside_article(element, root):
            yield element.get("datetime")
            break


def _inside_article(element: lxml_html.HtmlElement, root: lxml_html.HtmlElement) -> bool:
    """Whether an <article> below root holds element (what .//article//time asks of it)."""
    for ancestor in element.iterancestors():
        if ancestor is root:
            return False
        if ancestor.tag == "article":
            return True
    return False


def _json_objects(data: object) -> Iterator[dict]:
    """Every JSON object in a JSON-LD document (lists and @graph included)."""
    stack = deque([data])
    while stack:
        item = stack.popleft()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            yield item
            stack.extend(v for k, v in item.items() if k == "@graph" or isinstance(v, dict | list))


def _explicit_dates(folded: str, tz: tzinfo) -> Iterator[datetime]:
    """Dates with day, month and year written out in folded text, in order of appearance."""
    matches = sorted(
        (m for rx in _DATE_PATTERNS for m in rx.finditer(folded)), key=lambda m: m.start()
    )
    for m in matches:
        groups = m.groupdict()
        month = int(groups["mn"]) if groups.get("mn") else MONTHS[_month_key(groups["m"])]
        if groups.get("m2") and MONTHS[_month_key(groups["m2"])] != month:
            continue
        day, year = int(groups["d"]), int(groups["y"])
        if groups.get("mn") and m.start("mn") > m.start("d") and month > 12 >= day:
            day, month = month, day  # 12/31/2024: the month came first
        if _HIJRI_AFTER.match(folded, m.end()) or not 1 <= month <= 12 or not 1900 <= year <= 2200:
            continue
        try:
            day_date = date(year, month, day)
        except ValueError:
            continue
        before = _WEEKDAY_BEFORE.search(folded, max(0, m.start() - 25), m.start())
        if before and WEEKDAYS[before["wd"]] != day_date.weekday():
            continue
        yield _with_time(day_date, folded, m, tz)


def _month_key(name: str) -> str:
    return " ".join(name.split())


def _with_time(day: date, folded: str, m: re.Match[str], tz: tzinfo) -> datetime:
    """The date at the time written right after it (a GMT clock preferred), else midnight."""
    window = _WINDOW_END.split(folded[m.end() : m.end() + 80], maxsplit=1)[0]
    times = list(_TIME_RX.finditer(window))
    chosen = next((t for t in times if t["zone"]), times[0] if times else None)
    if chosen is None:
        zone_word = _ZONE_AFTER_YEAR.match(folded, m.end())
        return datetime.combine(day, time(), UTC if zone_word else tz).astimezone(UTC)
    hour, minute, second = int(chosen["H"]), int(chosen["Mi"]), int(chosen["S"] or 0)
    ampm = (chosen["ampm"] or "").replace(".", "")
    if ampm in {"م", "مساء", "مساءا", "pm", "ظهرا"} and hour < 12:
        hour += 12
    elif ampm in {"ص", "صباحا", "am"} and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return datetime.combine(day, time(), tz).astimezone(UTC)
    zone: tzinfo = tz
    if chosen["zone"]:
        raw = chosen["zone"].strip("() ")
        if raw[:1] in "+-":
            sign = -1 if raw[0] == "-" else 1
            digits = raw[1:].replace(":", "")
            zone = _fixed(sign * (int(digits[:2]) * 60 + int(digits[2:4])))
        else:
            zone = UTC
    return datetime.combine(day, time(hour, minute, second), zone).astimezone(UTC)


def _fixed(minutes: int) -> tzinfo:
    return timezone(timedelta(minutes=minutes))


def _relative_date(folded: str, fetched_at: datetime, tz: tzinfo) -> datetime | None:
    """The first relative expression in folded text, resolved against fetched_at in tz."""
    m = _RELATIVE.search(folded)
    if m is None:
        return None
    local_today = fetched_at.astimezone(tz).date()

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), tz).astimezone(UTC)

    if m["ago"] or m["ago_en"]:
        if m["dual"]:
            amount, unit = 2, _DUALS[m["dual"]]
        elif m["one"]:
            amount, unit = 1, _UNITS[m["one"]]
        else:
            amount, unit = int(m["n"] or m["n_en"]), _UNITS[m["unit"] or m["unit_en"]]
        if unit in {"minutes", "hours"}:
            return (fetched_at - timedelta(**{unit: amount})).astimezone(UTC)
        return midnight(local_today - timedelta(**{unit: amount}))
    if m["before_y"]:
        return midnight(local_today - timedelta(days=2))
    if m["yesterday"]:
        day = local_today - timedelta(days=1)
        if m["wd_y"] and WEEKDAYS[m["wd_y"]] != day.weekday():
            return None
        return midnight(day)
    if m["today"]:
        if m["wd_t"]:  # "اليوم الخميس": the latest such weekday, the fetch may come days later
            back = (local_today.weekday() - WEEKDAYS[m["wd_t"]]) % 7
            return midnight(local_today - timedelta(days=back))
        return midnight(local_today)
    day_of_month = int(m["d_c"])
    month = MONTHS[_month_key(m["m_c"])] if m["m_c"] else local_today.month
    for year in (local_today.year, local_today.year - 1):
        try:
            candidate = date(year, month, day_of_month)
        except ValueError:
            continue
        if candidate <= local_today:
            return midnight(candidate)
    return None


def _as_utc(value: datetime, zone: tzinfo) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("fetched_at must be timezone-aware (for example datetime.now(UTC))")
