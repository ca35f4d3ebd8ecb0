"""A synthetic Arabic news site for benchmarks: F RSS feeds x N article pages, served locally.

`build_site()` returns every served file as {URL path: (body, content type)}: the feeds
`/feeds/f{i}.xml` (RSS 2.0) and the pages `/site{i}/news/{j}.html`. Pages are shaped like real
Arabic news pages: a head with description, keywords, Open Graph, canonical and JSON-LD, a large
navigation menu, the article (a dateline in some, Arabic paragraphs composed from a vocabulary of
news phrases, an attribution line in some), a related-articles box ("اقرأ أيضا"), a tag list
("كلمات دلالية"), a share bar, a most-read list and a footer, plus the inline styles and scripts
that make up most of a real page's weight. A share of the articles (`copy_share`) are agency
copies of an article of another site (same text, other page), as real feeds carry them.
Everything is deterministic for a seed and a base URL. `serve_site()` serves the result on a
`FixtureSite` in this process; bench/ingest.py serves it from a process of its own instead
(bench/site_server.py), so that the site's CPU stays out of the process that measures.
"""

from __future__ import annotations

import json
import random
import tempfile
import weakref
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

from flows.fixture_site import FixtureSite

SiteFiles = dict[str, tuple[bytes, str]]
RSS_TYPE = "application/rss+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
NEWEST = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # fixed, so a seed gives the same bytes
COPY_DELAY = timedelta(minutes=20)  # an agency copy appears after the original

# Boilerplate headings a cleaner must recognise; tests check each appears on every page.
RELATED_HEADING = "اقرأ أيضا"
TAGS_HEADING = "كلمات دلالية"
MOST_READ_HEADING = "الأكثر قراءة"
SHARE_LABEL = "شارك الخبر"
COPYRIGHT = "جميع الحقوق محفوظة"

OUTLETS = (
    "صدى الرافدين", "أخبار النيل", "بوابة الخليج", "المرصد المغاربي", "نبض الشام",
    "صوت الجنوب", "الوطن اليوم", "شبكة الأخبار العربية", "الحدث الآن", "مرآة البصرة",
)  # fmt: skip
PLACES = (
    "بغداد", "القاهرة", "الدوحة", "عمّان", "بيروت", "دمشق", "الرياض", "الخرطوم", "تونس",
    "الرباط", "صنعاء", "البصرة", "الموصل", "أربيل", "غزة", "طرابلس", "الجزائر", "مسقط",
    "الكويت", "المنامة", "أبوظبي", "النجف", "كربلاء", "حلب", "الإسكندرية", "عدن", "نواكشوط",
)  # fmt: skip
SPEAKERS = (
    "وزير الخارجية", "رئيس الوزراء", "المتحدث باسم الحكومة", "مصدر أمني", "وزير المالية",
    "مسؤول في وزارة النفط", "محافظ البنك المركزي", "الأمين العام للجامعة العربية",
    "المبعوث الأممي", "قائد الشرطة", "وزير الصحة", "رئيس البرلمان", "مدير عام الكهرباء",
    "وزير التربية", "نائب في البرلمان", "رئيس هيئة النزاهة", "وزير الزراعة", "محافظ المدينة",
    "المتحدث باسم الجيش", "رئيس غرفة التجارة", "وزير التخطيط", "مستشار رئيس الجمهورية",
)  # fmt: skip
SAY_VERBS = ("قال", "أعلن", "أكد", "أفاد", "كشف", "أوضح", "ذكر", "صرح", "أشار", "نفى")
ACTORS = (  # grammatically feminine, to agree with the verbs of ACTIONS
    "الحكومة", "الوزارة", "السلطات المحلية", "الشركة الوطنية", "اللجنة المالية", "قوات الأمن",
    "منظمة الصحة العالمية", "الهيئة العامة للموانئ", "نقابة المعلمين", "إدارة المحافظة",
    "وزارة الموارد المائية", "هيئة الاستثمار", "المفوضية العليا للانتخابات", "الجامعة العربية",
)  # fmt: skip
ACTIONS = (
    "ستبدأ تنفيذ", "وافقت على", "تدرس", "أقرت", "رفضت", "علقت العمل في", "أطلقت", "استكملت",
    "تعتزم توسيع", "وقعت عقدا لتنفيذ", "خصصت تمويلا إضافيا لتنفيذ", "أحالت إلى القضاء ملف",
)  # fmt: skip
PROJECTS = (
    "خطة لإعادة إعمار المناطق المتضررة", "مشروع تحلية مياه البحر", "حزمة إصلاحات اقتصادية",
    "اتفاق لتوريد الغاز الطبيعي", "برنامج دعم الأسر الفقيرة", "مشروع محطة كهرباء شمسية",
    "خطة لمكافحة التصحر", "حملة تطعيم ضد شلل الأطفال", "مشروع طريق سريع يربط المحافظات",
    "قانون الموازنة العامة", "برنامج لتشغيل الخريجين", "خطة لتحديث شبكة السكك الحديدية",
    "اتفاقية للتعاون الأمني", "مشروع بناء ألف مدرسة", "مبادرة لدعم المشاريع الصغيرة",
    "خطة لخفض أسعار الخبز", "صفقة لشراء القمح", "مشروع لتأهيل الموانئ",
)  # fmt: skip
REASONS = (
    "بسبب الأزمة المالية", "بعد موجة احتجاجات واسعة", "في ظل ارتفاع معدلات التضخم",
    "وسط تحذيرات من نقص المياه", "رغم اعتراض عدد من النواب", "استجابة لمطالب السكان",
    "بعد تعثر المفاوضات لأشهر", "في إطار خطة التنمية الوطنية", "لمواجهة تداعيات الجفاف",
    "بالتزامن مع اقتراب فصل الصيف", "بعد تراجع أسعار النفط", "لتخفيف الضغط على الخدمات",
)  # fmt: skip
TIMES = (
    "اليوم الأحد", "اليوم الاثنين", "مساء الثلاثاء", "صباح الأربعاء", "اليوم الخميس",
    "يوم الجمعة", "مساء السبت", "في وقت سابق اليوم", "خلال الأسبوع الماضي",
    "في مؤتمر صحفي عقده اليوم", "في بيان رسمي", "خلال جلسة طارئة",
)  # fmt: skip
LINKERS = (
    "من جهته،", "وفي السياق ذاته،", "إلى ذلك،", "في المقابل،", "وبحسب مصادر مطلعة،",
    "وفي تطور لافت،", "وتعليقا على ذلك،", "وفي وقت لاحق،", "وفي غضون ذلك،", "على صعيد متصل،",
)  # fmt: skip
SITUATIONS = (
    "أزمة حادة في إمدادات الكهرباء", "انخفاضا في منسوب نهري دجلة والفرات",
    "ارتفاعا في أسعار المواد الغذائية", "توترا أمنيا على الحدود", "نقصا في الأدوية",
    "موجة نزوح من الأرياف إلى المدن", "تراجعا في قيمة العملة المحلية", "احتجاجات على البطالة",
    "انتشارا للأمراض الموسمية", "جدلا سياسيا حول قانون الانتخابات",
)  # fmt: skip
SOURCES = ("وكالات", "الأناضول", "رويترز", "الفرنسية", "وكالة الأنباء الرسمية", "مواقع التواصل")
SECTIONS = (
    "الرئيسية", "أخبار محلية", "سياسة", "اقتصاد", "أمن", "رياضة", "صحة", "تكنولوجيا", "ثقافة",
    "منوعات", "تقارير", "مقالات رأي", "حوارات", "فيديو", "انفوغراف", "عربي ودولي",
)  # fmt: skip
SUBSECTIONS = (
    "العراق", "مصر", "الخليج", "المغرب العربي", "بلاد الشام", "اليمن", "السودان", "فلسطين",
    "أسواق", "طاقة", "كرة القدم", "الدوري المحلي", "بيئة", "تعليم", "مجتمع", "العالم",
)  # fmt: skip
FOOTER_LINKS = ("من نحن", "اتصل بنا", "أعلن معنا", "سياسة الخصوصية", "شروط الاستخدام", "الأرشيف")


@dataclass(frozen=True)
class Story:
    """One generated article: where it is served and what it says."""

    feed: int
    number: int
    title: str
    paragraphs: tuple[str, ...]
    tags: tuple[str, ...]
    published_at: datetime
    dateline: str | None
    attribution: str | None

    @property
    def path(self) -> str:
        return article_path(self.feed, self.number)


def feed_path(feed: int) -> str:
    return f"/feeds/f{feed}.xml"


def article_path(feed: int, number: int) -> str:
    return f"/site{feed}/news/{number}.html"


def is_legacy_layout(feed: int) -> bool:
    """Every other site uses an older layout: no <article>, paragraphs as <br>-separated text."""
    return feed % 2 == 1


def outlet_name(feed: int) -> str:
    name = OUTLETS[feed % len(OUTLETS)]
    return name if feed < len(OUTLETS) else f"{name} {feed // len(OUTLETS) + 1}"


def build_site(
    feeds: int,
    articles: int,
    *,
    base_url: str,
    seed: int = 0,
    page_kb: tuple[int, int] = (30, 60),
    copy_share: float = 0.05,
) -> SiteFiles:
    """Every file of a site of `feeds` feeds with `articles` articles each, keyed by URL path.

    Links in feeds and pages are absolute, under `base_url` (e.g. "http://127.0.0.1:8123").
    Each page weighs between page_kb[0] and page_kb[1] KiB. The same arguments give the same
    bytes. Raises ValueError when the counts are not positive or page_kb cannot hold a page.
    """
    if feeds < 1 or articles < 1:
        raise ValueError("A synthetic site needs at least one feed and one article per feed.")
    low, high = page_kb
    if not 0 < low < high:
        raise ValueError(f"page_kb={page_kb}: give (low, high) KiB with 0 < low < high.")
    rng = random.Random(seed)
    base_url = base_url.rstrip("/")
    stories = [[_story(rng, i, j) for j in range(articles)] for i in range(feeds)]
    for i in range(1, feeds):
        for j in range(articles):
            if rng.random() < copy_share:  # an agency copy of an earlier site's story
                original = stories[rng.randrange(i)][rng.randrange(articles)]
                stories[i][j] = _copy_of(original, i, j)
    files: SiteFiles = {}
    for i in range(feeds):
        files[feed_path(i)] = (_feed_xml(i, stories[i], base_url), RSS_TYPE)
        for story in stories[i]:
            page = _page_html(rng, story, stories, base_url, (low * 1024, high * 1024))
            files[story.path] = (page, HTML_TYPE)
    return files


def serve_site(files: SiteFiles, site: FixtureSite | None = None) -> FixtureSite:
    """Serve `files` from memory: on `site` when given, else on a new FixtureSite on 127.0.0.1
    (an empty temporary root, removed when the site object goes). Returns the started site."""
    if site is None:
        root = tempfile.TemporaryDirectory(prefix="marsad-synthetic-")
        site = FixtureSite(Path(root.name)).start()
        weakref.finalize(site, root.cleanup)
    for path, (body, content_type) in files.items():
        site.add_file(path, body, content_type)
    return site


def start_synthetic_site(
    feeds: int, articles: int, *, seed: int = 0, page_kb: tuple[int, int] = (30, 60)
) -> FixtureSite:
    """Start a FixtureSite, then build the site for its address and serve it."""
    site = serve_site({})
    return serve_site(
        build_site(feeds, articles, base_url=site.base_url, seed=seed, page_kb=page_kb), site
    )


# text --------------------------------------------------------------------------------------


def _sentence(rng: random.Random) -> str:
    c = rng.choice
    pattern = rng.randrange(5)
    if pattern == 0:
        verb = c(SAY_VERBS)
        that = "إن" if verb == "قال" else "أن"  # قال takes إن, the other verbs أن
        return (
            f"{verb} {c(SPEAKERS)} {c(TIMES)} {that} {c(ACTORS)} {c(ACTIONS)} "
            f"{c(PROJECTS)} في {c(PLACES)} {c(REASONS)}."
        )
    if pattern == 1:
        return (
            f"{c(LINKERS)} {c(SAY_VERBS)} {c(SPEAKERS)} أن "
            f'"{c(ACTORS)} {c(ACTIONS)} {c(PROJECTS)}"، '
            f"مشيرا إلى أن {c(PLACES)} تشهد {c(SITUATIONS)}."
        )
    if pattern == 2:
        amount, unit = rng.randint(12, 980), c(("مليون دولار", "مليار دينار", "ألف طن"))
        return (
            f"وتبلغ كلفة {c(PROJECTS)} نحو {amount} {unit}، بحسب {c(SPEAKERS)}، "
            f"الذي توقع إنجازه خلال {rng.randint(2, 36)} شهرا."
        )
    if pattern == 3:
        return (
            f"وتشهد {c(PLACES)} منذ {rng.randint(3, 9)} سنوات {c(SITUATIONS)}، "
            f"ما دفع {c(ACTORS)} إلى المطالبة بـ{c(PROJECTS)} {c(REASONS)}."
        )
    first, second = rng.sample(PLACES, 2)
    return (
        f"{c(LINKERS)} دعا {c(SPEAKERS)} {c(ACTORS)} إلى الإسراع في {c(PROJECTS)}، "
        f"مؤكدا أن {first} و{second} ستكونان في مقدمة المستفيدين."
    )


def _story(rng: random.Random, feed: int, number: int) -> Story:
    c = rng.choice
    title = f"{c(ACTORS)} {c(ACTIONS)} {c(PROJECTS)} في {c(PLACES)}"
    paragraphs = tuple(
        " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
        for _ in range(rng.randint(6, 11))
    )
    dateline = f"{outlet_name(feed)} - {c(PLACES)}" if rng.random() < 0.5 else None
    attribution = f"المصدر: {c(SOURCES)}" if rng.random() < 0.3 else None
    tags = tuple(rng.sample(PLACES + ACTORS + SUBSECTIONS, rng.randint(3, 6)))
    minutes = feed * 7 + number * 41 + rng.randint(0, 6)
    published = NEWEST - timedelta(minutes=minutes)
    return Story(feed, number, title, paragraphs, tags, published, dateline, attribution)


def _copy_of(original: Story, feed: int, number: int) -> Story:
    """The same story as another outlet runs it: its own dateline, credited to an agency."""
    attribution = original.attribution or "المصدر: وكالات"
    dateline, published = f"{outlet_name(feed)} - متابعة", original.published_at + COPY_DELAY
    return replace(original, feed=feed, number=number, dateline=dateline, attribution=attribution,
                   published_at=published)  # fmt: skip


# feeds -------------------------------------------------------------------------------------


def _feed_xml(feed: int, stories: list[Story], base_url: str) -> bytes:
    outlet = escape(outlet_name(feed))
    items = []
    for story in stories:
        url = escape(base_url + story.path)
        lead = story.paragraphs[0].split(".")[0] + "."
        categories = "".join(f"<category>{escape(t)}</category>" for t in story.tags[:2])
        items.append(
            f"<item>\n<title>{escape(story.title)}</title>\n<link>{url}</link>\n"
            f"<description>{escape(lead)}</description>\n{categories}\n"
            f"<pubDate>{format_datetime(story.published_at, usegmt=True)}</pubDate>\n"
            f'<guid isPermaLink="true">{url}</guid>\n</item>'
        )
    newest = format_datetime(max(s.published_at for s in stories), usegmt=True)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
        f"<title>{outlet}</title>\n<link>{escape(base_url)}/site{feed}/</link>\n"
        f"<description>آخر الأخبار من {outlet}</description>\n<language>ar</language>\n"
        f"<lastBuildDate>{newest}</lastBuildDate>\n"
        f'<atom:link href="{escape(base_url + feed_path(feed))}" rel="self" '
        'type="application/rss+xml"/>\n' + "\n".join(items) + "\n</channel>\n</rss>\n"
    ).encode()


# pages -------------------------------------------------------------------------------------


def _menu(feed: int) -> str:
    """A desktop mega menu (sections with their sub-sections) and the flat mobile copy of it."""
    items = []
    for s, section in enumerate(SECTIONS):
        subs = "".join(
            f'<li class="menu-item"><a href="/site{feed}/section/{s}/{k}/">{escape(sub)}</a></li>'
            for k, sub in enumerate(SUBSECTIONS[: 4 + s % 9])
        )
        items.append(
            f'<li class="menu-item has-children"><a href="/site{feed}/section/{s}/">'
            f'{escape(section)}</a><div class="mega"><ul class="sub-menu">{subs}</ul></div></li>'
        )
    mobile = "".join(
        f'<li><a href="/site{feed}/section/{s}/">{escape(t)}</a></li>'
        for s, t in enumerate(SECTIONS)
    )
    return (
        f'<nav class="main-menu" role="navigation"><ul>{"".join(items)}</ul></nav>\n'
        f'<div class="mobile-menu" hidden><ul>{mobile}</ul></div>'
    )


def _link_list(css: str, heading: str, stories: list[Story], base_url: str) -> str:
    """A box of links to other articles, as cards with a thumbnail."""
    cards = "".join(
        f'<li class="card"><div class="card-img"><a href="{escape(base_url + s.path)}">'
        f'<img src="/img/{s.feed}/{s.number}.jpg" alt="{escape(s.title)}" loading="lazy"></a>'
        f'</div><div class="card-body"><a href="{escape(base_url + s.path)}">{escape(s.title)}'
        f'</a><span class="time">{s.published_at:%Y-%m-%d}</span></div></li>'
        for s in stories
    )
    return f'<aside class="{css}"><h3>{escape(heading)}</h3><ul>{cards}</ul></aside>'


def _filler(rng: random.Random, story: Story, size: int) -> str:
    """Inline style and script of about `size` bytes: the weight of a real page's theme,
    ad slots and embedded app state."""
    rules: list[str] = []
    state: list[str] = []
    used = 0
    while used < size // 3:
        n = len(rules)
        rules.append(
            f".c{n}-{rng.randrange(999)}{{margin:{n % 9}px {n % 5}px;"
            f"color:#{rng.randrange(0xFFFFFF):06x};font-size:{10 + n % 8}px}}"
        )
        used += len(rules[-1])
    while used < size:
        slot = {
            "id": f"div-gpt-ad-{rng.randrange(10**12)}-{len(state)}",
            "sizes": [[300, 250], [728, 90]],
            "targeting": {"section": rng.choice(SECTIONS), "article": story.number},
        }
        text = json.dumps(slot, ensure_ascii=False)
        state.append(text)
        used += len(text.encode()) + 1
    script = f'window.__APP_STATE__ = {{"adSlots": [{",".join(state)}]}};'
    return f"<style>{''.join(rules)}</style>\n<script>{script}</script>"


def _head(story: Story, url: str) -> str:
    """The page's head, with a {FILLER} slot for the inline style and script."""
    outlet, title = escape(outlet_name(story.feed)), escape(story.title)
    published = story.published_at.isoformat()
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": story.title,
            "datePublished": published,
            "publisher": {"@type": "Organization", "name": outlet_name(story.feed)},
        },
        ensure_ascii=False,
    )
    metas = {
        "description": escape(story.paragraphs[0][:160]),
        "keywords": escape(", ".join(story.tags)),
        "og:type": "article",
        "og:title": title,
        "og:url": url,
        "og:site_name": outlet,
        "article:published_time": published,
    }
    lines = [
        f'<meta {"property" if ":" in k else "name"}="{k}" content="{v}">' for k, v in metas.items()
    ]
    return (
        '<!DOCTYPE html>\n<html lang="ar" dir="rtl">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title} | {outlet}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        + "\n".join(lines)
        + f'\n<link rel="canonical" href="{url}">\n'
        f'<script type="application/ld+json">{ld}</script>\n{{FILLER}}\n</head>\n'
    )


def _article(story: Story, url: str) -> str:
    """The article element: title, date, body, tag list and share bar."""
    body = [story.dateline] if story.dateline else []
    body += list(story.paragraphs)
    body += [story.attribution] if story.attribution else []
    legacy = is_legacy_layout(story.feed)
    blocks = []
    for n, text in enumerate(body, 1):
        # Older CMSs write paragraphs as text runs between <br> inside one div.
        blocks.append(f"{escape(text)}<br><br>" if legacy else f"<p>{escape(text)}</p>")
        if n % 3 == 0 and n < len(body):  # ad slots between paragraphs, as news sites place them
            blocks.append(
                f'<div class="ad-slot inarticle"><div id="ad-{story.feed}-{story.number}-{n}">'
                '<span class="ad-label">إعلان</span></div></div>'
            )
    paragraphs = "\n".join(blocks)
    crumbs = " › ".join(
        f'<a href="/site{story.feed}/section/{k}/">{escape(SECTIONS[k])}</a>'
        for k in (0, 1 + story.number % (len(SECTIONS) - 1))
    )
    figure = (
        f'<figure class="main-image"><img src="/img/{story.feed}/{story.number}.jpg" '
        f'alt="{escape(story.title)}"><figcaption>{escape(story.title)} (أرشيف)</figcaption>'
        "</figure>"
    )
    tags = " ".join(
        f'<a href="/site{story.feed}/tag/{escape(t)}">{escape(t)}</a>' for t in story.tags
    )
    share = "".join(
        f'<a class="share-{n}" href="https://example.org/share/{n}?u={url}">{n}</a>'
        for n in ("facebook", "x", "whatsapp", "telegram")
    )
    if legacy:
        return (
            f'<div class="breadcrumb">{crumbs}</div>\n<div class="col-md-8 pull-right">\n'
            f'<div class="ttl"><h2>{escape(story.title)}</h2></div>\n'
            f'<div class="dt">{story.published_at:%d/%m/%Y %H:%M}</div>\n{figure}\n'
            f'<div class="txt" id="txt{story.number}">\n{paragraphs}\n</div>\n'
            f'<div class="kw">{TAGS_HEADING}: {tags}</div>\n'
            f'<div class="sh"><span>{SHARE_LABEL}</span> {share}</div>\n</div>\n'
        )
    return (
        f'<div class="breadcrumb">{crumbs}</div>\n'
        f'<article class="news-details">\n<h1 class="news-title">{escape(story.title)}</h1>\n'
        f'<div class="news-date"><time datetime="{story.published_at.isoformat()}">'
        f"{story.published_at:%Y-%m-%d %H:%M}</time></div>\n"
        f'{figure}\n<div class="news-body">\n{paragraphs}\n</div>\n'
        f'<div class="news-tags">{TAGS_HEADING}: {tags}</div>\n'
        f'<div class="share-bar"><span>{SHARE_LABEL}</span> {share}</div>\n</article>\n'
    )


def _page_html(
    rng: random.Random,
    story: Story,
    stories: list[list[Story]],
    base_url: str,
    size_range: tuple[int, int],
) -> bytes:
    """The page of `story`, padded with inline style and script to a size drawn from
    `size_range` (bytes), or just above what its content needs when that is more."""
    outlet = escape(outlet_name(story.feed))
    url = escape(base_url + story.path)
    own = [s for s in stories[story.feed] if s.number != story.number]
    related = rng.sample(own, min(6, len(own)))
    everyone = [s for site in stories for s in site]
    most_read = rng.sample(everyone, min(10, len(everyone)))
    footer = " | ".join(
        f'<a href="/site{story.feed}/page/{k}">{t}</a>' for k, t in enumerate(FOOTER_LINKS)
    )
    page = (
        f'{_head(story, url)}<body>\n<header class="site-header">'
        f'<a class="logo" href="/site{story.feed}/">{outlet}</a>\n{_menu(story.feed)}</header>\n'
        f'<main class="container">{_article(story, url)}'
        f"{_link_list('related', RELATED_HEADING, related, base_url)}\n"
        f"{_link_list('most-read', MOST_READ_HEADING, most_read, base_url)}\n</main>\n"
        f'<footer class="site-footer"><div class="links">{footer}</div>\n'
        f"<p>© 2025 {outlet}. {COPYRIGHT}.</p></footer>\n"
        "<script>window.dataLayer=window.dataLayer||[];"
        'dataLayer.push({"event":"pageview"});</script>\n</body>\n</html>\n'
    )
    size = len(page.encode()) - len("{FILLER}")
    low, high = size_range[0] + 256, size_range[1] - 1024  # room for the filler's last item
    if size + 512 > high:
        raise ValueError(
            f"A page needs {size} bytes before padding, too many for page_kb up to "
            f"{size_range[1] // 1024}; raise the upper bound."
        )
    target = rng.randint(max(low, size + 512), high)
    return page.replace("{FILLER}", _filler(rng, story, target - size - 64)).encode()
