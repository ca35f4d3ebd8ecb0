"""Regenerate the bundled sample site from _articles.toml.

Run from anywhere:  python flows/sample_site/make_sample_site.py

Writes feeds/, aljazeera/, baghdadtoday/ and _headers.toml next to this script. A file whose
bytes did not change is left alone (its mtime, and so the Last-Modified the fixture site sends,
stays put), and stale pages under */news/ are removed, so running it twice changes nothing.
`{{BASE}}` in the output is replaced by the serving site's base URL at request time.
"""

from __future__ import annotations

import html
import re
import sys
import tomllib
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

HERE = Path(__file__).resolve().parent
BASE = "{{BASE}}"
TINY_MAX_WORDS = 40
ARTICLE_WORDS = range(150, 501)
ARTICLE_PARAGRAPHS = range(4, 9)
MAX_SITE_BYTES = 400_000
IRAQI_DATE = re.compile(r"\(\d{1,2} [^\s()]+ \d{4}\)")

ALJAZEERA_MENU = [
    ("الرئيسية", ""),
    ("أخبار", "news/"),
    ("سياسة", "politics/"),
    ("اقتصاد", "economy/"),
    ("رياضة", "sport/"),
    ("صحة", "health/"),
    ("تكنولوجيا", "tech/"),
    ("بيئة", "environment/"),
    ("ثقافة", "culture/"),
    ("آراء", "opinions/"),
    ("تحقيقات", "investigations/"),
    ("منوعات", "misc/"),
    ("فيديو", "video/"),
    ("بودكاست", "podcasts/"),
    ("الطقس", "weather/"),
]
BAGHDAD_MENU = [
    ("الرئيسية", ""),
    ("محليات", "local/"),
    ("سياسة", "politics/"),
    ("أمن", "security/"),
    ("اقتصاد", "economy/"),
    ("رياضة", "sport/"),
    ("صحة", "health/"),
    ("منوعات", "misc/"),
    ("تقارير", "reports/"),
    ("مقالات", "articles/"),
    ("انفوغراف", "infographics/"),
    ("فيديو", "video/"),
    ("اتصل بنا", "contact/"),
]
STYLE = "body{font-family:sans-serif;margin:0}nav ul{list-style:none;display:flex;gap:1em}"


def words(paragraphs: list[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


def load_items() -> tuple[list[dict], list[dict]]:
    """Read _articles.toml, resolve republished copies and sort both outlets newest first."""
    data = tomllib.loads((HERE / "_articles.toml").read_text(encoding="utf-8"))
    aljazeera, baghdad = data["aljazeera"], data["baghdadtoday"]
    by_slug = {item["slug"]: item for item in aljazeera}
    for item in baghdad:
        if "copy_of" in item:
            item["paragraphs"] = [item["lead"], *by_slug[item["copy_of"]]["paragraphs"][1:]]
    for item in aljazeera:
        item["url"] = f"{BASE}/aljazeera/news/{item['slug']}.html"
    for item in baghdad:
        item["url"] = f"{BASE}/baghdadtoday/news/{item['id']}.html"
    return newest_first(aljazeera), newest_first(baghdad)


def newest_first(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda item: item["published"], reverse=True)


def check(aljazeera: list[dict], baghdad: list[dict]) -> None:
    """Refuse to write a set that lost one of the cases the tests and the demo rely on."""
    problems = []
    tiny = [i for i in aljazeera if words(i["paragraphs"]) < TINY_MAX_WORDS]
    if len(tiny) != 1 or "content" not in tiny[0]:
        problems.append("exactly one tiny Al Jazeera page, with feed content, is expected")
    if sum("link_query" in i for i in aljazeera) != 1:
        problems.append("exactly one Al Jazeera link with tracking parameters is expected")
    if sum("charset" in i for i in baghdad) != 1:
        problems.append("exactly one windows-1256 Baghdad page is expected")
    if sum("copy_of" in i for i in baghdad) != 1:
        problems.append("exactly one cross-outlet copy is expected")
    if sum(i["title"].endswith(" - عاجل") for i in baghdad) != 1:
        problems.append('exactly one Baghdad title ending in "- عاجل" is expected')
    for item in [i for i in aljazeera if i not in tiny] + baghdad:
        n, count = words(item["paragraphs"]), len(item["paragraphs"])
        if n not in ARTICLE_WORDS or count not in ARTICLE_PARAGRAPHS:
            problems.append(f"{item['title']}: {n} words in {count} paragraphs")
    for item in baghdad:
        if not IRAQI_DATE.search(item["paragraphs"][0]):
            problems.append(f"{item['id']}: the lead has no date like (27 شباط 2025)")
    if problems:
        sys.exit("sample site not written:\n  " + "\n  ".join(problems))


def rfc822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=moment.utcoffset().total_seconds() == 0)


def links(items: list[dict]) -> str:
    return "".join(f'<li><a href="{i["url"]}">{html.escape(i["title"])}</a></li>' for i in items)


def others(items: list[dict], item: dict, count: int, step: int) -> list[dict]:
    """A deterministic pick of `count` other items, walking the list by `step` from `item`."""
    start = items.index(item)
    picked = [items[(start + step * k) % len(items)] for k in range(1, len(items))]
    return [i for i in picked if i is not item][:count]


def menu(outlet: str, entries: list[tuple[str, str]]) -> str:
    return "".join(f'<li><a href="/{outlet}/{href}">{label}</a></li>' for label, href in entries)


def tag_list(outlet: str, keywords: list[str]) -> str:
    return " ".join(f'<a href="/{outlet}/tag/{quote(k)}">{html.escape(k)}</a>' for k in keywords)


def head(title: str, item: dict, charset: str, feed: str) -> str:
    description = html.escape(item.get("description") or item["paragraphs"][0])
    return (
        f'<!DOCTYPE html>\n<html lang="ar" dir="rtl">\n<head>\n<meta charset="{charset}">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="description" content="{description}">\n'
        f'<meta name="keywords" content="{html.escape(", ".join(item["keywords"]))}">\n'
        '<meta property="og:type" content="article">\n'
        f'<meta property="og:title" content="{html.escape(item["title"])}">\n'
        f'<meta property="og:url" content="{item["url"]}">\n'
        f'<meta property="article:published_time" content="{item["published"].isoformat()}">\n'
        f'<meta property="article:section" content="{html.escape(item["categories"][0])}">\n'
        f'<link rel="canonical" href="{item["url"]}">\n'
        f'<link rel="alternate" type="application/rss+xml" href="{BASE}/feeds/{feed}.xml">\n'
        f"<style>{STYLE}</style>\n</head>\n"
    )


def paragraphs_html(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def aljazeera_page(item: dict, items: list[dict]) -> bytes:
    related = (
        f'<div class="more-on"><h3>اقرأ أيضا</h3><ul>{links(others(items, item, 4, 1))}</ul></div>'
    )
    body = item["paragraphs"]
    if item.get("inline_related"):
        text = f"{paragraphs_html(body[:2])}\n{related}\n{paragraphs_html(body[2:])}"
        related = ""
    else:
        text = paragraphs_html(body)
    if "attribution" in item:
        text += f"\n<p>المصدر: {html.escape(item['attribution'])}</p>"
    moment = item["published"]
    page = (
        head(f"{item['title']} - الجزيرة نت", item, "utf-8", "aljazeera")
        + '<body>\n<header class="site-header"><a class="logo" href="/aljazeera/index.html">'
        "الجزيرة نت</a>\n"
        f'<nav class="main-menu"><ul>{menu("aljazeera", ALJAZEERA_MENU)}</ul></nav></header>\n'
        '<div class="breadcrumbs"><a href="/aljazeera/index.html">الرئيسية</a> / '
        f'<a href="/aljazeera/news/">{html.escape(item["categories"][0])}</a></div>\n'
        '<main>\n<article class="article">\n'
        f'<header class="article-header"><h1>{html.escape(item["title"])}</h1>\n'
        f'<div class="date-simple">نشر في {moment.day}/{moment.month}/{moment.year}</div>'
        "</header>\n"
        f'<div class="wysiwyg">\n{text}\n</div>\n'
        '<div class="article-share"><span>شارك</span> <a href="/aljazeera/share/facebook">'
        'فيسبوك</a> <a href="/aljazeera/share/x">إكس</a> <a href="/aljazeera/share/whatsapp">'
        'واتساب</a> <a href="https://t.me/aljazeera_sample">تابعونا على تلغرام</a></div>\n'
        f'<div class="topics">كلمات دلالية: {tag_list("aljazeera", item["keywords"])}</div>\n'
        f"{related}\n</article>\n"
        f'<aside class="most-read"><h2>الأكثر قراءة</h2><ol>'
        f"{links(others(items, item, 5, -1))}</ol></aside>\n</main>\n"
        '<footer class="site-footer"><ul><li><a href="/aljazeera/about/">من نحن</a></li>'
        '<li><a href="/aljazeera/contact/">اتصل بنا</a></li>'
        '<li><a href="/aljazeera/privacy/">سياسة الخصوصية</a></li></ul>\n'
        "<p>جميع الحقوق محفوظة © 2025 شبكة الجزيرة الإعلامية</p></footer>\n</body>\n</html>\n"
    )
    return page.encode("utf-8")


def baghdad_page(item: dict, items: list[dict]) -> bytes:
    charset = item.get("charset", "utf-8")
    moment = item["published"]
    page = (
        head(f"{item['title']} - بغداد اليوم", item, charset, "baghdadtoday")
        + '<body>\n<div class="top-bar"><a href="/baghdadtoday/index.html" class="logo">'
        "بغداد اليوم</a>\n"
        f'<nav class="menu"><ul>{menu("baghdadtoday", BAGHDAD_MENU)}</ul></nav></div>\n'
        '<div class="container">\n<div class="news-details">\n'
        f'<h1 class="news-title">{html.escape(item["title"])}</h1>\n'
        f'<div class="news-date">{moment:%Y-%m-%d %H:%M}</div>\n'
        f'<div class="news-body">\n<p>{html.escape(item["dateline"])}</p>\n'
        f"{paragraphs_html(item['paragraphs'])}\n</div>\n"
        f'<div class="news-tags">كلمات دلالية: {tag_list("baghdadtoday", item["keywords"])}'
        "</div>\n"
        '<div class="share"><span>شارك</span> <a href="/baghdadtoday/share/facebook">فيسبوك'
        '</a> <a href="/baghdadtoday/share/x">إكس</a> '
        '<a href="https://t.me/baghdadtoday_sample">تابعونا على تلغرام</a></div>\n'
        f'<div class="related"><h3>إقرأ أيضاً</h3><ul>{links(others(items, item, 3, 1))}'
        "</ul></div>\n</div>\n"
        f'<aside class="most-read"><h3>الأكثر قراءة</h3><ul>{links(others(items, item, 5, -1))}'
        "</ul></aside>\n</div>\n"
        '<footer><a href="/baghdadtoday/about/">من نحن</a> '
        '<a href="/baghdadtoday/contact/">اتصل بنا</a>\n'
        "<p>جميع الحقوق محفوظة © 2025 بغداد اليوم</p></footer>\n</body>\n</html>\n"
    )
    return page.encode(charset)


def home_page(site_name: str, feed: str, items: list[dict]) -> bytes:
    page = (
        f'<!DOCTYPE html>\n<html lang="ar" dir="rtl">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{site_name}</title>\n"
        f'<link rel="alternate" type="application/rss+xml" title="{site_name}" '
        f'href="{BASE}/feeds/{feed}.xml">\n</head>\n<body>\n<h1>{site_name}</h1>\n'
        f"<ul>{links(items)}</ul>\n</body>\n</html>\n"
    )
    return page.encode("utf-8")


def feed_item(item: dict, link: str, description: str, guid: str, extra: str = "") -> str:
    categories = "".join(f"<category>{xml_escape(c)}</category>" for c in item["categories"])
    return (
        f"<item>\n<title>{xml_escape(item['title'])}</title>\n<link>{xml_escape(link)}</link>\n"
        f"<description>{xml_escape(description)}</description>\n{extra}"
        f"{categories}\n<pubDate>{rfc822(item['published'])}</pubDate>\n{guid}\n</item>\n"
    )


def channel(encoding: str, title: str, home: str, feed: str, items: list[dict], body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">\n<channel>\n'
        f"<title>{title}</title>\n<link>{BASE}/{home}/index.html</link>\n"
        f"<description>آخر الأخبار من {title}</description>\n<language>ar</language>\n"
        f"<lastBuildDate>{rfc822(items[0]['published'])}</lastBuildDate>\n"
        f'<atom:link href="{BASE}/feeds/{feed}.xml" rel="self" type="application/rss+xml"/>\n'
        f"{body}</channel>\n</rss>\n"
    )


def aljazeera_feed(items: list[dict]) -> bytes:
    body = ""
    for item in items:
        extra = ""
        if "content" in item:
            extra = f"<content:encoded><![CDATA[{paragraphs_html(item['content'])}]]>"
            extra += "</content:encoded>\n"
        guid = f'<guid isPermaLink="true">{item["url"]}</guid>'
        link = item["url"] + item.get("link_query", "")
        body += feed_item(item, link, item["description"], guid, extra)
    return channel("utf-8", "الجزيرة نت", "aljazeera", "aljazeera", items, body).encode("utf-8")


def baghdad_feed(items: list[dict]) -> bytes:
    body = ""
    for item in items:
        guid = f'<guid isPermaLink="false">{item["id"]}</guid>'
        body += feed_item(item, item["url"], item["paragraphs"][0], guid)
    text = channel("windows-1256", "بغداد اليوم", "baghdadtoday", "baghdadtoday", items, body)
    return text.encode("cp1256")


def headers_table(baghdad: list[dict]) -> bytes:
    lines = [
        "# Written by make_sample_site.py: extra response headers per served path.",
        '"/feeds/baghdadtoday.xml" = { "Content-Type" = "application/rss+xml; '
        'charset=windows-1256" }',
    ]
    for item in baghdad:
        if "charset" in item:
            lines.append(
                f'"/baghdadtoday/news/{item["id"]}.html" = '
                f'{{ "Content-Type" = "text/html; charset={item["charset"]}" }}'
            )
    return ("\n".join(lines) + "\n").encode("utf-8")


def build() -> dict[Path, bytes]:
    """Every generated file (relative to this folder) and its bytes."""
    aljazeera, baghdad = load_items()
    check(aljazeera, baghdad)
    files = {
        Path("feeds/aljazeera.tmpl.xml"): aljazeera_feed(aljazeera),
        Path("feeds/baghdadtoday.tmpl.xml"): baghdad_feed(baghdad),
        Path("aljazeera/index.tmpl.html"): home_page("الجزيرة نت", "aljazeera", aljazeera),
        Path("baghdadtoday/index.tmpl.html"): home_page("بغداد اليوم", "baghdadtoday", baghdad),
        Path("_headers.toml"): headers_table(baghdad),
    }
    for item in aljazeera:
        files[Path(f"aljazeera/news/{item['slug']}.tmpl.html")] = aljazeera_page(item, aljazeera)
    for item in baghdad:
        files[Path(f"baghdadtoday/news/{item['id']}.tmpl.html")] = baghdad_page(item, baghdad)
    return files


def main() -> None:
    files = build()
    total = sum(len(body) for body in files.values())
    if total > MAX_SITE_BYTES:
        sys.exit(f"sample site not written: {total} bytes is over {MAX_SITE_BYTES}")
    written = 0
    for relative, body in files.items():
        target = HERE / relative
        if target.is_file() and target.read_bytes() == body:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        written += 1
    removed = 0
    for stale in [*HERE.glob("aljazeera/news/*.html"), *HERE.glob("baghdadtoday/news/*.html")]:
        if stale.relative_to(HERE) not in files:
            stale.unlink()
            removed += 1
    print(f"{len(files)} files, {total} bytes: {written} written, {removed} removed")


if __name__ == "__main__":
    main()
