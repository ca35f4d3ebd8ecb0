"""The boilerplate catalogue: lines that are not part of an article, as data.

Each `Marker` is matched against one line of trafilatura's text in its key form
(extractors.clean.normalize_key), so one pattern covers the spellings sites mix: إقرأ أيضاً,
اقرأ أيضًا and اقرا ايضا all become ``اقرا ايضا``; ة becomes ه, ى becomes ي, ؤ/ئ become ء,
punctuation is gone and Latin is lower-case. Patterns are therefore written in that key form.

Actions:
- ``drop_line``: remove this line only (sites put share bars and promos mid-body).
- ``cut_rest``: the article ends before this line; everything from here on is removed.
- ``attribution``: the article ends here; the credited origin ("المصدر: الجزيرة") is kept.
- ``tags``: the article ends here; the keywords on the line (or the short lines after it) are kept.

The tables after the catalogue (outlets, agencies, places) and the dateline forms let clean.py
recognise datelines, which also mark where a second, glued-on article begins.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Action = Literal["cut_rest", "drop_line", "tags", "attribution"]


@dataclass(frozen=True)
class Marker:
    """One kind of boilerplate line.

    pattern: regex over the key form of the line, matched at its start (``$`` = whole line), or
        searched for anywhere in it when ``anywhere`` is set.
    examples: lines as sites write them; each must match (the catalogue's own test cases).
    counter_examples: content lines that look alike and must not match.
    max_words: the display line may have at most this many words.
    also: a second key regex that must be found anywhere in the line too.
    requires: regex the display line must also contain; its group ``value`` (if any) is the
        attribution or tag text (the colon of "المصدر:" is only visible there).
    links: the marker heads links to other articles: "pointer" (read also: one article, whose
        text aggregators sometimes glue on after its title) or "list" (related, most read).
        clean.py drops such a marker with its link titles, instead of cutting the rest, when the
        same article goes on after them.
    """

    kind: str
    pattern: str
    action: Action
    examples: tuple[str, ...]
    counter_examples: tuple[str, ...] = ()
    max_words: int = 12
    anywhere: bool = False
    also: str | None = None
    requires: str | None = None
    links: Literal["", "pointer", "list"] = ""


_COLON_VALUE = r"^[^:：]{1,30}[:：]\s*(?P<value>\S.*)$"
_CTA = (
    r"\b(?:لمتابعه|للمتابعه|تابع|تابعوا|تابعونا|انضم|انضموا|اشترك|اشتركوا|للاشتراك|حمل|حملوا"
    r"|لتحميل|join|follow|subscribe)\b"
)
_PLATFORM = (
    r"\b(?:تلغرام|تليغرام|تيليغرام|تيليجرام|تليجرام|تلجرام|telegram|واتساب|واتس اب|whatsapp"
    r"|يوتيوب|youtube|فيسبوك|فيس بوك|facebook|تويتر|twitter|اكس|انستغرام|انستجرام|instagram"
    r"|تيك توك|tiktok|جوجل نيوز|غوغل نيوز|google news|قناتنا|قناه|التطبيق|تطبيق)\b"
)

# fmt: off
MARKERS: tuple[Marker, ...] = (
    # -- publication lines: dropped (dates.find_date_in_text reads them in the raw text)
    Marker("date_line",
           r"(?:تاريخ (?:النشر|الاضافه|التحديث)|نشر (?:في|بتاريخ)|تم (?:نشره|النشر)"
           r"|اخر (?:تحديث|تعديل))", "drop_line",
           ("تاريخ النشر: 13th, July 2024 GMT", "آخر تحديث: 27/2/2025 - 10:30",
            "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً"),
           ("نشر في موقعه الرسمي بيانا قال فيه إن الحكومة ماضية",), max_words=16, requires=r"\d"),
    Marker("date_line", r"(?:published|posted|updated|last updated)(?: on| at)?", "drop_line",
           ("Published: 27 February 2025", "Last updated on 13 July 2024, 10:05 GMT"),
           ("Published reports said the minister resigned",), requires=r"\d"),
    Marker("reading_time",
           r"\d+ (?:دقاءق|دقيقه|دقيقتان|min|mins|minute|minutes) (?:للقراءه|قراءه|read)$",
           "drop_line", ("3 دقائق قراءة", "5 min read")),
    Marker("views", r"(?:عدد )?(?:المشاهدات|القراءات|مشاهدات|قراءات)(?: \d+)?$", "drop_line",
           ("عدد المشاهدات: 1520",)),
    # -- credited origin and keywords: the article ends here, the value is kept
    Marker("attribution", r"(?:ال)?(?:مصدر|مصادر)(?: الخبر)?(?: |$)", "attribution",
           ("المصدر: الجزيرة", "المصدر : الجزيرة + وكالات", "المصادر: وكالات", "مصدر الخبر: سانا"),
           ("المصدر أكد أن العملية ما زالت مستمرة في أطراف المدينة.",), requires=_COLON_VALUE),
    Marker("attribution", r"source(?: |$)", "attribution", ("Source: Reuters",),
           ("Sources close to the minister said the talks would resume",), requires=_COLON_VALUE),
    Marker("attribution", r"\S+(?: \S+){0,3}$", "attribution", ("--(بترا)", "- (رويترز)"),
           ("(صور)",), max_words=4,
           requires=r"^\s*[-–—]+\s*\((?P<value>[^()]*[^\W\d_][^()]*)\)\s*\.?$"),
    Marker("tags", r"(?:ال)?(?:كلمات|الكلمات) (?:ال)?(?:دلاليه|مفتاحيه)", "tags",
           ("كلمات دلالية: حراك الجامعات حريات", "الكلمات الدلالية (Tags)",
            "الكلمات المفتاحية: العراق، سوريا"), max_words=40),
    Marker("tags", r"(?:ال)?(?:وسوم|هاشتاج|هاشتاغ)(?: |$)", "tags",
           ("الوسوم", "الوسوم: العراق، سوريا"),
           ("الوسوم التي يستخدمها الناشطون على المنصات تتغير كل يوم تقريبا",), max_words=40,
           requires=r"^\s*\S+\s*(?:[:：]|$)"),
    Marker("tags", r"tags?(?: |$)", "tags", ("Tags: Iraq, Syria", "Tags"),
           ("Tags are added by editors to every story they publish",), max_words=40,
           requires=r"(?i)^\s*tags?\s*(?:[:：]|$)"),
    # -- links to other articles: cut, or dropped with their titles when the article goes on
    Marker("related",
           r"(?:اقرا|اقراوا|اقرءي|طالع|طالعوا|شاهد|شاهدوا)(?: ايضا| كذلك| المزيد)(?: |$)",
           "cut_rest",
           ("إقرأ أيضاً:", "اقرأ أيضًا: وفد أمني عراقي يصل دمشق", "اقرا ايضا", "شاهد أيضا",
            "اقرأ المزيد"),
           ("اقرأ القرار كاملا قبل أن تحكم عليه، قال الوزير للصحفيين أمس",), max_words=30,
           links="pointer"),
    Marker("related",
           r"(?:ال)?(?:مواضيع|موضوعات|اخبار|مقالات|قصص|تقارير|روابط) (?:ذات صله|ذات الصله|ذو صله"
           r"|متعلقه|المتعلقه|مشابهه|متشابهه|المتشابهه|مرتبطه|ذات علاقه)", "cut_rest",
           ("مواضيع ذات صلة", "الموضوعات المتعلقة", "أخبار ذات صلة:", "المواضيع المتشابهه"),
           max_words=6, links="list"),
    Marker("related",
           r"(?:قد (?:يهمك|يعجبك|تهمك)|اخترنا لك|ننصحك بقراءه|يمكنك ايضا قراءه|المزيد من الاخبار)",
           "cut_rest", ("قد يهمك أيضاً", "اخترنا لك", "ننصحك بقراءة"), max_words=8, links="list"),
    Marker("related", r"(?:read (?:more|also)|see also|also read)(?: |$)", "cut_rest",
           ("Read more", "READ MORE: China plague outbreak confirmed", "See also:"),
           ("Read more than a hundred pages of the report before you judge it",), max_words=20,
           requires=r"(?i)^\W*(?:read (?:more|also)|see also|also read)\s*(?::|$)",
           links="pointer"),
    Marker("related",
           r"(?:related(?: articles| stories| news| posts| content| topics| coverage)?"
           r"|you (?:may|might) also like|more from|recommended(?: for you| stories| reading)?)"
           r"(?: |$)", "cut_rest",
           ("Related:", "Related articles", "You may also like",
            "Related: The 15 Weirdest Galaxies"),
           ("Related parties met in Baghdad on Thursday to discuss the border",), max_words=16,
           requires=r"(?i)^\W*(?:related|you|more|recommended)\b[^:]{0,25}(?::|$)", links="list"),
    Marker("most_read",
           r"(?:ال)?(?:اكثر|الاكثر) (?:قراءه|مشاهده|تداولا|تعليقا|شعبيه)"
           r"|(?:اخر|احدث|اهم) (?:الاخبار|الاخبار العاجله)$", "cut_rest",
           ("الأكثر قراءة", "الأكثر مشاهدة", "آخر الأخبار"), max_words=5, links="list"),
    Marker("most_read",
           r"(?:most (?:read|popular|viewed|shared)|trending now|latest news|top stories)(?: |$)",
           "cut_rest", ("Most read", "Trending now", "Most read in world news"),
           max_words=6, links="list"),
    # -- follow/share prompts and channel promotions: dropped wherever they are
    Marker("follow", r"تابع(?:ونا|وا|نا)? (?:علي|عبر|في)(?: |$)", "drop_line",
           ("تابعونا على تلغرام", "تابعونا عبر فيسبوك وتويتر"),
           ("تابع المسؤول حديثه قائلا إن الحكومة ماضية في خطتها",), max_words=15),
    Marker("follow", r"(?:follow us|sign up for (?:our|the)|subscribe to our)(?: |$)", "drop_line",
           ("Follow us on Twitter", "Sign up for our newsletter"),
           ("Follow-up talks are planned for next week in Geneva",), max_words=15),
    Marker("promo", _PLATFORM, "drop_line",
           ("لمتابعة آخر الأخبار انضموا إلى قناتنا على تيليجرام", "حمل تطبيق بغداد اليوم",
            "اشترك في قناتنا على يوتيوب", "Join our WhatsApp channel"),
           ("أعلنت شركة تلغرام عن ميزة جديدة لمستخدميها في الشرق الأوسط",), max_words=30,
           anywhere=True, also=_CTA),
    Marker("promo", r"\b(?:t me|wa me|whatsapp com channel|chat whatsapp com|news google com)\b",
           "drop_line", ("https://t.me/example", "رابط القناة: https://whatsapp.com/channel/0029Va"),
           max_words=40, anywhere=True),
    Marker("share",
           r"(?:شارك|شاركها|مشاركه|شارك الخبر|شارك المقال|طباعه|نسخ الرابط|حفظ|اعلان|تكبير الخط"
           r"|تصغير الخط|share|share this(?: article| story)?|print|copy link|advertisement)$",
           "drop_line",
           ("شارك", "طباعة", "نسخ الرابط", "إعلان", "Advertisement", "Share this article"),
           ("شارك الرئيس في أعمال القمة العربية في بغداد",), max_words=3),
    Marker("share", r"(?:رابط مختصر|الرابط المختصر|short link|short url)(?: |$)", "drop_line",
           ("رابط مختصر: https://example.com/a1",), max_words=6),
    Marker("click_here", r"\b(?:(?:اضغط|انقر|اضغطوا) هنا|click here)\b", "drop_line",
           ("للاطلاع على التقرير الكامل اضغط هنا", "Click here to read the full report"),
           max_words=15, anywhere=True),
    Marker("feed_footer", r"\b(?:appeared first on|ظهرت? المقال(?:ه)? .* اولا علي)\b", "drop_line",
           ("The post وفد أمني عراقي يصل دمشق appeared first on المقال.",
            "ظهرت المقالة وفد أمني عراقي يصل دمشق أولاً على المقال."), max_words=40, anywhere=True),
    # -- copyright and comment sections: the page footer, the article is over
    Marker("copyright",
           r"\b(?:(?:جميع|كل) الحقوق محفوظه|حقوق (?:النشر|الطبع)(?: والنشر| والتوزيع)? محفوظه"
           r"|all rights reserved|copyright \d{4})\b", "cut_rest",
           ("جميع الحقوق محفوظة © 2024", "© 2025 بغداد اليوم. كل الحقوق محفوظة",
            "All rights reserved."),
           ("قال المحامي إن جميع الحقوق المدنية محفوظة للمتضررين بحسب القانون",), max_words=25,
           anywhere=True),
    Marker("copyright", r"\b(?:19|20)\d\d\b", "cut_rest",
           ("© 2024 بغداد اليوم", "جميع الحقوق © 2023"),
           ("© رويترز", "صورة أرشيفية من عام 2019 © رويترز"), max_words=10, anywhere=True,
           requires=r"©\s*(?:19|20)\d\d"),
    Marker("comments",
           r"(?:اضف|اضافه|اترك|اكتب|add|leave) "
           r"(?:تعليق|تعليقا|تعليقك|رايك|a comment|a reply|comment)"
           r"|(?:كل |جميع )?التعليقات(?: \d+)?$|تم اضافه تعليقك|\d* ?comments?$", "cut_rest",
           ("إضافة تعليق جديد", "أضف تعليقك", "كل التعليقات", "Leave a comment", "12 Comments",
            "تم أضافة تعليقك سوف يظهر بعد المراجعة"), max_words=10),
    Marker("comments",
           r"ترحب .{0,40}ب(?:النقاش|تعليقات|التعليقات|اراءكم)|الاراء الوارده .{0,40}تعبر عن"
           r"|ان تسجيل وترخيص مستخدمي موقع", "cut_rest",
           ("ترحب شبكة CNN بالنقاش الحيوي والمفيد، وكي لا نضطر إلى مراجعة التعليقات قبل نشرها.",
            "الآراء الواردة أدناه لا تعبر عن رأي الموقع، بل تعكس وجهات نظر أصحابها فقط.",
            'إن تسجيل وترخيص مستخدمي موقع "سبوتنيك" عبر حسابات الفيسبوك يشير إلى قبولهم'
            " لقواعد الموقع."),
           max_words=200),
    # Persian agencies' footers (a Persian page now and then reaches an Arabic pipeline)
    Marker("persian_footer", r"(?:انتهاي پيام|نظر شما$|لينك كوتاه|كد خبر)", "cut_rest",
           ("انتهای پیام/ی", "نظر شما", "لینک کوتاه:", "کد خبر:"), max_words=6),
)

# Outlets whose name opens their own datelines ("بغداد اليوم - بغداد"); one in the middle of a
# body marks a glued-on article. Callers add the configured sources' names.
OUTLETS: tuple[str, ...] = (
    "بغداد اليوم", "شفق نيوز", "السومرية نيوز", "الجزيرة نت", "العربية نت", "المدينة نيوز",
    "سكاي نيوز عربية", "روسيا اليوم", "عربي21", "عربي 21", "المسلة", "رووداو", "فرانس 24",
    "يورونيوز", "المصري اليوم", "اليوم السابع", "الميادين",
)

# News agencies as they appear in datelines: "دمشق - سانا", "بيروت (رويترز) -".
AGENCIES: tuple[str, ...] = (
    "واع", "سانا", "واس", "وام", "قنا", "كونا", "بنا", "أ ش أ", "أ ف ب", "رويترز", "الأناضول",
    "د ب أ", "بترا", "وفا", "ومع", "واج", "تاب", "سبأ", "العمانية", "فرانس برس", "أ ب",
    "أسوشيتد برس", "وكالات", "الجزيرة", "الجزيرة نت", "شفق نيوز", "السومرية نيوز", "CNN", "AFP",
    "Reuters", "AP",
)

# Places that follow an outlet's dash ("بغداد اليوم – المثنى كشف ..."); without a known place the
# word after the dash is taken as the start of the lead.
PLACES: tuple[str, ...] = (
    "ذي قار", "صلاح الدين", "إقليم كوردستان", "إقليم كردستان", "القدس المحتلة", "الضفة الغربية",
    "قطاع غزة", "جنوب لبنان", "شمال سوريا", "ريف دمشق", "ريف حلب", "دير الزور", "أبو ظبي",
    "أبوظبي", "الدار البيضاء", "شرم الشيخ", "رام الله", "بغداد", "البصرة", "نينوى", "الموصل",
    "أربيل", "كركوك", "ديالى", "الأنبار", "بابل", "كربلاء", "النجف", "واسط", "ميسان", "المثنى",
    "القادسية", "الديوانية", "دهوك", "السليمانية", "حلبجة", "الناصرية", "العمارة", "الكوت",
    "الحلة", "الرمادي", "الفلوجة",
    "سامراء", "تكريت", "بعقوبة", "السماوة", "دمشق", "حلب", "حمص", "بيروت", "عمان", "القاهرة",
    "الرياض", "جدة", "الدوحة", "الكويت", "المنامة", "مسقط", "صنعاء", "عدن", "طرابلس", "تونس",
    "الجزائر", "الرباط", "الخرطوم", "القدس", "غزة", "أنقرة", "إسطنبول", "طهران", "واشنطن", "موسكو",
    "لندن", "باريس", "متابعة", "خاص", "تقرير", "ترجمة", "وكالات",
)

# Words (key form) that make "X Y - ..." a sentence, not a dateline ("ونقلت وكالة (رويترز) - عن").
NOT_DATELINE_WORDS: frozenset[str] = frozenset((
    "قال", "قالت", "وقال", "وقالت", "نقلت", "ونقلت", "ذكرت", "وذكرت", "افادت", "وافادت", "اضاف",
    "واضاف", "اعلن", "اعلنت", "واعلنت", "وكاله", "وزير", "وزيره", "رئيس", "الرئيس", "said", "told",
    "the", "a", "an", "this", "that", "it", "he", "she", "they", "we", "i", "but", "and", "in",
    "on",
))
# fmt: on


@dataclass(frozen=True)
class Hit:
    """A catalogue entry that matched a line, and the line's text after the entry's phrase (or
    the ``value`` group of ``requires``): an attribution, tags, or the title of a linked article.
    """

    marker: Marker
    value: str


_COMPILED = tuple(
    (m, re.compile(m.pattern), re.compile(m.also or "^"), re.compile(m.requires or "^"))
    for m in MARKERS
)
# Lines longer than this are only matched by start-anchored entries that allow them, on the key
# of their first PREFIX_WORDS words.
FULL_KEY_WORDS = max(m.max_words for m in MARKERS if m.anywhere)
PREFIX_WORDS = 16


_LIMITS = sorted({m.max_words for m in MARKERS})


@functools.cache
def _allowed(limit: int) -> tuple[tuple, re.Pattern[str] | None, re.Pattern[str] | None]:
    """The compiled entries that allow lines of _LIMITS[limit] words (and so of every count
    down to the next smaller limit), and two screens for them: all their start-anchored
    patterns as one alternation, and all the others as another. A key that neither screen
    matches (at its start, anywhere) matches no entry: one regex call or two instead of one
    per entry, on the many lines that are article text."""
    entries = tuple(e for e in _COMPILED if e[0].max_words >= _LIMITS[limit])
    start = "|".join(f"(?:{m.pattern})" for m, *_ in entries if not m.anywhere)
    anywhere = "|".join(f"(?:{m.pattern})" for m, *_ in entries if m.anywhere)
    return entries, re.compile(start) if start else None, re.compile(anywhere) if anywhere else None


def first_match(line: str, key: str) -> Hit | None:
    """The first catalogue entry matching a display line whose key form is `key`, or None."""
    limit = bisect.bisect_left(_LIMITS, line.count(" ") + 1)  # entries allowing that many words
    if limit == len(_LIMITS):
        return None
    entries, start, anywhere = _allowed(limit)
    if not (start and start.match(key)) and not (anywhere and anywhere.search(key)):
        return None
    for marker, regex, also, requires in entries:
        if not (found := regex.search(key) if marker.anywhere else regex.match(key)):
            continue
        if not also.search(key) or not (need := requires.search(line)):
            continue
        value = need.groupdict().get("value")
        if value is None:  # the phrase's words in key form are as many as on the display line
            value = "" if marker.anywhere else " ".join(line.split()[len(found[0].split()) :])
        return Hit(marker, value.strip(" :：-–—"))
    return None


# -- dateline forms, on display text
DASH = "[-–—]"
PAREN_DATELINE = re.compile(  # "بيروت (رويترز) -", "دمشق، سوريا (CNN) --", "(رويترز) -"
    rf"^(?P<head>(?:[^\s()]+\s+){{0,3}}?)\((?P<agency>[^()\d]{{0,15}}[^\W\d_][^()\d]{{0,15}})\)"
    rf"\s*{DASH}{{1,2}}\s*(?P<rest>.*)$"
)
PLAIN_DATELINE = re.compile(  # "دمشق - سانا", "الأنبار - أعادت ...", "شفق نيوز/ أعلنت ..."
    rf"^(?P<head>[^\s\-–—/:()]+(?:\s[^\s\-–—/:()]+)?)\s*(?P<sep>{DASH}+|/|:\s*-)\s*(?P<rest>.*)$"
)


def loose(names: Iterable[str]) -> str:
    """Alternation of names, longest first, tolerating hamza, ya, ta-marbuta and space variants."""
    swaps = {"ا": "[اأإآ]", "أ": "[اأإآ]", "إ": "[اأإآ]", "آ": "[اأإآ]", "ي": "[يى]", "ى": "[يى]",
             "ة": "[ةه]", "ه": "[ةه]", " ": r"\s*"}  # fmt: skip
    ordered = sorted({n.strip() for n in names if len(n.strip()) >= 3}, key=len, reverse=True)
    return "|".join("".join(swaps.get(c, re.escape(c)) for c in n) for n in ordered)


def outlet_dateline(names: str) -> re.Pattern[str]:
    """An outlet's own dateline: "<outlet> - <place> lead", "<outlet>/ lead", "<outlet> :- lead"."""
    return re.compile(rf"^(?P<outlet>{names})\s*(?P<sep>{DASH}+|/|:\s*-?)\s*(?P<rest>.*)$")


def glued_dateline(names: str) -> re.Pattern[str]:
    """Where a sentence ends and an outlet's dateline begins on the same line."""
    return re.compile(rf"(?<=[.!?؟\"»”)])\s+(?=(?:{names})\s*{DASH}\s*\S)")


BUILTIN_OUTLET = outlet_dateline(loose(OUTLETS))
BUILTIN_GLUED = glued_dateline(loose(OUTLETS))
PLACE = re.compile(rf"(?:{loose(PLACES)})(?=[\s،,.:]|$)")


@functools.lru_cache(maxsize=256)
def _configured(outlets: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """Dateline and glued-dateline patterns for a caller's outlet names (compiled once each)."""
    names = loose(outlets)
    return (outlet_dateline(names), glued_dateline(names)) if names else None


def outlet_match(line: str, outlets: tuple[str, ...]) -> re.Match[str] | None:
    """The line's opening outlet dateline (a built-in outlet or one of `outlets`), or None."""
    if m := BUILTIN_OUTLET.match(line):
        return m
    configured = _configured(outlets)
    return configured[0].match(line) if configured else None


def split_glued(line: str, outlets: tuple[str, ...]) -> list[str]:
    """A line split where a sentence ends and an outlet's dateline begins on the same line."""
    if "-" not in line and "–" not in line and "—" not in line:  # every split needs a DASH
        return [line] if line else []
    parts = BUILTIN_GLUED.split(line)
    if configured := _configured(outlets):
        parts = [p for part in parts for p in configured[1].split(part)]
    return [p for p in parts if p]
