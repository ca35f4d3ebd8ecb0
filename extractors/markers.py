"""The boilerplate catalogue: lines that are not part of an article, as data.

Each `Marker` is matched against one line of trafilatura's text after `normalize_key` (see
extractors/clean.py), so one pattern covers the spellings sites mix: إقرأ أيضاً, اقرأ أيضًا and
اقرا ايضا all become ``اقرا ايضا``; ة becomes ه, ى becomes ي, ؤ/ئ become ء, punctuation is gone and
Latin is lower-case. Patterns are therefore written in that key form.

Actions:
- ``drop_line``: remove this line only (sites put share bars and promos mid-body).
- ``cut_rest``: the article ends before this line; everything from here on is removed.
- ``attribution``: the article ends here; the credited origin ("المصدر: الجزيرة") is kept.
- ``tags``: the article ends here; the keywords on the line (or the short lines after it) are kept.

The other tables (outlets, agencies, multi-word places) let clean.py recognise datelines, which
also mark where a second, glued-on article begins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["cut_rest", "drop_line", "tags", "attribution"]


@dataclass(frozen=True)
class Marker:
    """One kind of boilerplate line.

    pattern: regex over the key form of the line, matched at its start (``$`` = whole line).
    examples: lines as sites write them; each must match (the catalogue's own test cases).
    counter_examples: content lines that look alike and must not match.
    max_words: the display line may have at most this many words.
    anywhere: the pattern may match anywhere in the line (needs the line's full key form).
    requires: regex the display line must also contain; its group ``value`` (if any) is the
        attribution or tag text (the colon of "المصدر:" is only visible there).
    inline_block: early in the text, this marker opens an inline list of links; drop only the
        marker and the link titles after it instead of cutting the rest.
    """

    kind: str
    pattern: str
    action: Action
    examples: tuple[str, ...]
    counter_examples: tuple[str, ...] = ()
    max_words: int = 12
    anywhere: bool = False
    requires: str | None = None
    inline_block: bool = False


_COLON_VALUE = r"^[^:：]{1,30}[:：]\s*(?P<value>\S.*)$"
_CTA = r"(?:لمتابعه|للمتابعه|تابع|تابعوا|تابعونا|انضم|انضموا|اشترك|اشتركوا|للاشتراك|حمل|حملوا|لتحميل|join|follow|subscribe)"
_PLATFORM = (
    r"(?:تلغرام|تليغرام|تيليغرام|تيليجرام|تليجرام|تلجرام|telegram|واتساب|واتس اب|whatsapp"
    r"|يوتيوب|youtube|فيسبوك|فيس بوك|facebook|تويتر|twitter|اكس|انستغرام|انستجرام|instagram"
    r"|تيك توك|tiktok|جوجل نيوز|غوغل نيوز|google news|قناتنا|قناه|التطبيق|تطبيق)"
)

MARKERS: tuple[Marker, ...] = (
    # -- publication/update lines: dropped (dates.find_date_in_text reads them from the raw text)
    Marker(
        "date_line",
        r"(?:تاريخ (?:النشر|الاضافه|التحديث)|نشر (?:في|بتاريخ)|تم (?:نشره|النشر)|اخر (?:تحديث|تعديل))",
        "drop_line",
        ("تاريخ النشر: 13th, July 2024 GMT", "تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً",
         "آخر تحديث: 27/2/2025 - 10:30"),
        ("نشر في موقعه الرسمي بيانا قال فيه إن الحكومة ماضية",),
        max_words=16,
        requires=r"\d",
    ),
    Marker(
        "date_line",
        r"(?:published|posted|updated|last updated)(?: on| at)?",
        "drop_line",
        ("Published: 27 February 2025", "Last updated on 13 July 2024, 10:05 GMT"),
        ("Published reports said the minister resigned",),
        max_words=12,
        requires=r"\d",
    ),
    Marker("reading_time", r"\d+ (?:دقائق|دقيقه|دقيقتان|min|mins|minute|minutes) (?:للقراءه|قراءه|read)$",
           "drop_line", ("3 دقائق قراءة", "5 min read")),
    Marker("views", r"(?:عدد )?(?:المشاهدات|القراءات|مشاهدات|قراءات)(?: \d+)?$", "drop_line",
           ("عدد المشاهدات: 1520",)),
    # -- credited origin and keywords: the article ends here, the value is kept
    Marker(
        "attribution",
        r"(?:ال)?(?:مصدر|مصادر)(?: الخبر)?(?: |$)",
        "attribution",
        ("المصدر: الجزيرة", "المصدر : الجزيرة + وكالات", "المصادر: وكالات", "مصدر الخبر: سانا"),
        ("المصدر أكد أن العملية ما زالت مستمرة في أطراف المدينة.",),
        requires=_COLON_VALUE,
    ),
    Marker("attribution", r"source(?: |$)", "attribution", ("Source: Reuters",),
           ("Sources close to the minister said the talks would resume",), requires=_COLON_VALUE),
    Marker(
        "attribution",
        r"\S+(?: \S+){0,3}$",
        "attribution",
        ("--(بترا)", "- (رويترز)"),
        ("(صور)",),
        max_words=4,
        requires=r"^\s*[-–—]+\s*\((?P<value>[^()]*[^\W\d_][^()]*)\)\s*\.?$",
    ),
    Marker(
        "tags",
        r"(?:ال)?(?:كلمات|الكلمات) (?:ال)?(?:دلاليه|مفتاحيه)",
        "tags",
        ("كلمات دلالية: حراك الجامعات حريات", "الكلمات الدلالية (Tags)", "الكلمات المفتاحية: العراق، سوريا"),
        max_words=40,
    ),
    Marker(
        "tags",
        r"(?:ال)?(?:وسوم|هاشتاج|هاشتاغ)(?: |$)",
        "tags",
        ("الوسوم", "الوسوم: العراق، سوريا"),
        ("الوسوم التي يستخدمها الناشطون على المنصات تتغير كل يوم تقريبا",),
        max_words=40,
        requires=r"^\s*\S+\s*(?:[:：]|$)",
    ),
    Marker("tags", r"tags?(?: |$)", "tags", ("Tags: Iraq, Syria", "Tags"),
           ("Tags are added by editors to every story they publish",), max_words=40,
           requires=r"(?i)^\s*tags?\s*(?:[:：]|$)"),
    # -- related-article boxes: early in the text an inline list of links, later the end
    Marker(
        "related",
        r"(?:اقرا|اقراوا|اقرئي|طالع|طالعوا|شاهد|شاهدوا|اقرا كذلك)(?: ايضا| كذلك| المزيد)(?: |$)",
        "cut_rest",
        ("إقرأ أيضاً:", "اقرأ أيضًا: وفد أمني عراقي يصل دمشق", "اقرا ايضا", "شاهد أيضا", "اقرأ المزيد"),
        ("اقرأ القرار كاملا قبل أن تحكم عليه، قال الوزير للصحفيين أمس",),
        max_words=30,
        inline_block=True,
    ),
    Marker(
        "related",
        r"(?:ال)?(?:مواضيع|موضوعات|اخبار|الاخبار|مقالات|قصص|تقارير|روابط) "
        r"(?:ذات صله|ذات الصله|ذو صله|متعلقه|المتعلقه|مشابهه|متشابهه|المتشابهه|مرتبطه|ذات علاقه)",
        "cut_rest",
        ("مواضيع ذات صلة", "الموضوعات المتعلقة", "أخبار ذات صلة:", "المواضيع المتشابهه"),
        max_words=6,
        inline_block=True,
    ),
    Marker(
        "related",
        r"(?:قد (?:يهمك|يعجبك|تهمك)|اخترنا لك|ننصحك بقراءه|يمكنك ايضا قراءه|المزيد من الاخبار)",
        "cut_rest",
        ("قد يهمك أيضاً", "اخترنا لك", "ننصحك بقراءة"),
        max_words=8,
        inline_block=True,
    ),
    Marker(
        "related",
        r"(?:read (?:more|also)|see also|related(?: articles| stories| news| posts| content| topics)?"
        r"|you (?:may|might) also like|more from|recommended(?: for you| stories)?)(?: |$)",
        "cut_rest",
        ("Read more", "Related:", "Related articles", "You may also like", "See also:"),
        ("Related parties met in Baghdad on Thursday to discuss the border",),
        max_words=16,
        inline_block=True,
    ),
    Marker(
        "most_read",
        r"(?:ال)?(?:اكثر|الاكثر) (?:قراءه|مشاهده|تداولا|تعليقا|شعبيه)|(?:اخر|احدث|اهم) (?:الاخبار|الاخبار العاجله)$",
        "cut_rest",
        ("الأكثر قراءة", "الأكثر مشاهدة", "آخر الأخبار"),
        max_words=5,
    ),
    Marker("most_read", r"(?:most (?:read|popular|viewed|shared)|trending now|latest news|top stories)(?: |$)",
           "cut_rest", ("Most read", "Trending now", "Latest news")),
    # -- follow/share prompts and channel promotions: dropped wherever they are
    Marker(
        "follow",
        r"تابع(?:ونا|وا|نا)? (?:علي|عبر|في) ",
        "drop_line",
        ("تابعونا على تلغرام", "تابعونا عبر فيسبوك وتويتر"),
        ("تابع المسؤول حديثه قائلا إن الحكومة ماضية في خطتها",),
        max_words=15,
    ),
    Marker(
        "promo",
        rf"(?=.*\b{_CTA}\b)(?=.*\b{_PLATFORM}\b)",
        "drop_line",
        ("لمتابعة آخر الأخبار انضموا إلى قناتنا على تيليجرام", "حمل تطبيق بغداد اليوم",
         "اشترك في قناتنا على يوتيوب", "Join our WhatsApp channel"),
        ("أعلنت شركة تلغرام عن ميزة جديدة لمستخدميها في الشرق الأوسط",),
        max_words=30,
        anywhere=True,
    ),
    Marker(
        "promo",
        r".*\b(?:t me|wa me|whatsapp com channel|chat whatsapp com|news google com)\b",
        "drop_line",
        ("https://t.me/example", "رابط القناة: https://whatsapp.com/channel/0029Va"),
        max_words=40,
        anywhere=True,
    ),
    Marker("follow", r"(?:follow us|sign up for (?:our|the)|subscribe to our)(?: |$)", "drop_line",
           ("Follow us on Twitter", "Sign up for our newsletter"),
           ("Follow-up talks are planned for next week in Geneva",), max_words=15),
    Marker(
        "share",
        r"(?:شارك|شاركها|مشاركه|شارك الخبر|شارك المقال|طباعه|نسخ الرابط|حفظ|اعلان|تكبير الخط|تصغير الخط"
        r"|share|share this(?: article| story)?|print|copy link|advertisement)$",
        "drop_line",
        ("شارك", "طباعة", "نسخ الرابط", "إعلان", "Advertisement", "Share this article"),
        ("شارك الرئيس في أعمال القمة العربية في بغداد",),
        max_words=3,
    ),
    Marker("share", r"(?:رابط مختصر|الرابط المختصر|short link|short url)(?: |$)", "drop_line",
           ("رابط مختصر: https://example.com/a1",), max_words=6),
    Marker("click_here", r".*\b(?:اضغط|انقر|اضغطوا) هنا\b|.*\bclick here\b", "drop_line",
           ("للاطلاع على التقرير الكامل اضغط هنا", "Click here to read the full report"),
           max_words=15, anywhere=True),
    Marker(
        "feed_footer",
        r".*\b(?:appeared first on|ظهرت المقاله .* اولا علي|ظهر المقال .* اولا علي)\b",
        "drop_line",
        ("The post وفد أمني عراقي يصل دمشق appeared first on المقال.",
         "ظهرت المقالة وفد أمني عراقي يصل دمشق أولاً على المقال."),
        max_words=40,
        anywhere=True,
    ),
    # -- copyright and comment sections: the page footer, the article is over
    Marker(
        "copyright",
        r".*\b(?:(?:جميع|كل) الحقوق محفوظه|حقوق (?:النشر|الطبع)(?: والنشر| والتوزيع)? محفوظه"
        r"|all rights reserved|copyright \d{4})\b",
        "cut_rest",
        ("جميع الحقوق محفوظة © 2024", "© 2025 بغداد اليوم. كل الحقوق محفوظة", "All rights reserved."),
        ("قال المحامي إن جميع الحقوق المدنية محفوظة للمتضررين بحسب القانون",),
        max_words=25,
        anywhere=True,
    ),
    Marker("copyright", r".*", "cut_rest", ("© 2024 بغداد اليوم", "جميع الحقوق © 2023"),
           ("© رويترز",), max_words=10, requires=r"©\s*(?:\d{4}|حقوق)|\d{4}\s*©|حقوق\s*©"),
    Marker(
        "comments",
        r"(?:اضف|اضافه|اترك|اكتب|add|leave) (?:تعليق|تعليقا|تعليقك|رايك|a comment|a reply|comment)"
        r"|(?:كل |جميع )?التعليقات(?: \d+)?$|تم اضافه تعليقك|\d* ?comments?$",
        "cut_rest",
        ("إضافة تعليق جديد", "أضف تعليقك", "كل التعليقات", "تم أضافة تعليقك سوف يظهر بعد المراجعة",
         "Leave a comment", "12 Comments"),
        max_words=10,
    ),
    Marker(
        "comments",
        r"ترحب .{0,40}ب(?:النقاش|تعليقات|التعليقات|ارائكم)|الاراء الوارده .{0,40}تعبر عن"
        r"|ان تسجيل وترخيص مستخدمي موقع",
        "cut_rest",
        ("ترحب شبكة CNN بالنقاش الحيوي والمفيد، وكي لا نضطر إلى مراجعة التعليقات قبل نشرها.",
         "الآراء الواردة أدناه لا تعبر عن رأي الموقع، بل تعكس وجهات نظر أصحابها فقط.",
         'إن تسجيل وترخيص مستخدمي موقع "سبوتنيك" عبر حسابات الفيسبوك يشير إلى قبولهم لقواعد الموقع.'),
        max_words=200,
    ),
    # Persian agencies' footers (the same pipeline reads Persian pages by mistake now and then)
    Marker("persian_footer", r"(?:انتهاي پيام|نظر شما$|لينك كوتاه|كد خبر)", "cut_rest",
           ("انتهای پیام/ی", "نظر شما", "لینک کوتاه:", "کد خبر:"), max_words=6),
)

# Outlets whose name opens their own datelines ("بغداد اليوم - بغداد"); a second one in the middle
# of a body marks a glued-on article. Callers add the configured sources' names.
OUTLETS: tuple[str, ...] = (
    "بغداد اليوم", "شفق نيوز", "السومرية نيوز", "الجزيرة نت", "العربية نت", "المدينة نيوز",
    "سكاي نيوز عربية", "روسيا اليوم", "عربي21", "عربي 21", "المسلة", "رووداو", "الحرة", "فرانس 24",
    "يورونيوز", "الشرق الأوسط", "المصري اليوم", "اليوم السابع", "الميادين",
)

# News agencies as they appear in datelines: "دمشق - سانا", "بيروت (رويترز) -".
AGENCIES: tuple[str, ...] = (
    "واع", "سانا", "واس", "وام", "قنا", "كونا", "بنا", "أ ش أ", "أ ف ب", "رويترز", "الأناضول",
    "د ب أ", "بترا", "وفا", "ومع", "واج", "تاب", "سبأ", "العمانية", "فرانس برس", "أ ب", "أسوشيتد برس",
    "وكالات", "الجزيرة", "الجزيرة نت", "شفق نيوز", "السومرية نيوز", "CNN", "AFP", "Reuters", "AP",
)

# Places of more than one word that follow an outlet's dash ("بغداد اليوم - ذي قار").
MULTIWORD_PLACES: tuple[str, ...] = (
    "ذي قار", "صلاح الدين", "إقليم كوردستان", "إقليم كردستان", "القدس المحتلة", "الضفة الغربية",
    "قطاع غزة", "جنوب لبنان", "شمال سوريا", "ريف دمشق", "ريف حلب", "دير الزور", "أبو ظبي", "أبوظبي",
    "الدار البيضاء", "شرم الشيخ", "رام الله",
)

# Words that make "X Y - ..." a sentence rather than a dateline ("ونقلت وكالة (رويترز) - عن").
NOT_DATELINE_WORDS: tuple[str, ...] = (
    "قال", "قالت", "وقال", "وقالت", "نقلت", "ونقلت", "ذكرت", "وذكرت", "افادت", "وافادت", "اضاف",
    "واضاف", "اعلن", "اعلنت", "واعلنت", "وكاله", "وزير", "وزيره", "رئيس", "الرئيس", "said", "told",
)
