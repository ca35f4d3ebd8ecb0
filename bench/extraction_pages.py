"""The pages bench/extraction.py measures, with what is known of each: read from the corpora.

Shared by the quality measure (bench/extraction.py) and the speed one (bench/extraction_speed.py),
which time the same real Arabic pages. Each loader reads one corpus's own layout and gives the
expected body, publication day and site time zone where the corpus states them; see
bench/extraction.py's docstring for the corpora.
"""

from __future__ import annotations

import gzip
import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from extractors.article import decode_html

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SITE = REPO / "flows" / "sample_site"
SAMPLE_BASE = "http://127.0.0.1:8000"
FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)  # every page's fetch time: dates come from pages


@dataclass(frozen=True)
class Page:
    corpus: str  # benchmark | sample site | arabic pages
    name: str
    url: str
    source: str
    html: str
    truth: str | None  # the expected body, when known
    timezone: str = "UTC"  # the site's, for dates written without a zone
    expected_date: str | None = None  # the publication day, when known (YYYY-MM-DD)


def benchmark_pages(root: Path) -> list[Page]:
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key, item in sorted(truth.items()):
        raw = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        host = urlsplit(item["url"]).hostname or "site"
        html = decode_html(raw, "text/html; charset=utf-8")
        pages.append(Page("benchmark", key, item["url"], host, html, item["articleBody"]))
    return pages


def sample_site_pages() -> list[Page]:
    items = tomllib.loads((SAMPLE_SITE / "_articles.toml").read_text(encoding="utf-8"))
    headers = tomllib.loads((SAMPLE_SITE / "_headers.toml").read_text(encoding="utf-8"))
    by_slug = {item["slug"]: item for item in items["aljazeera"]}
    pages = []
    for outlet, key, source in (
        ("aljazeera", "slug", "Al Jazeera"),
        ("baghdadtoday", "id", "Baghdad Al-Youm"),
    ):
        for item in items[outlet]:
            if "copy_of" in item:  # a republished copy: its own lead, the original's rest
                paragraphs = [item["lead"], *by_slug[item["copy_of"]]["paragraphs"][1:]]
            else:
                paragraphs = item["paragraphs"]
            path = f"/{outlet}/news/{item[key]}.html"
            raw = (SAMPLE_SITE / f"{outlet}/news/{item[key]}.tmpl.html").read_bytes()
            raw = raw.replace(b"{{BASE}}", SAMPLE_BASE.encode())
            ctype = headers.get(path, {}).get("Content-Type", "text/html; charset=utf-8")
            html = decode_html(raw, ctype)
            truth = "\n\n".join(paragraphs)
            pages.append(Page("sample site", path, SAMPLE_BASE + path, source, html, truth))
    return pages


def arabic_pages(root: Path) -> list[Page]:
    dates = json.loads((root / "htmldate-mediacloud" / "index.json").read_text(encoding="utf-8"))
    zones = json.loads((REPO / "tests/fixtures/arabic/page-metadata.json").read_text("utf-8"))
    cnn = "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html"
    lbc = (root / "fundus-lbcgroup" / "meta.info").read_text(encoding="utf-8")
    lbc_truth = json.loads((root / "fundus-lbcgroup" / "LBCGroup.json").read_text("utf-8"))
    sections = lbc_truth["V1"]["body"]["sections"]
    known: dict[str, tuple[str, str | None]] = {  # page -> (URL, expected body)
        "newspaper4k-cnn-arabic/arabic_article.html": (
            cnn,
            (root / "newspaper4k-cnn-arabic/arabic_article.expected.txt").read_text("utf-8"),
        ),
        # goose3's expected text is the first 149 characters only: no truth for a whole body.
        "goose3-cnn-arabic/test_cnn_arabic.html": (cnn, None),
        "fundus-lbcgroup/LBCGroup_2026_01_08.html.gz": (
            next(iter(json.loads(lbc).values()))["url"],
            "\n\n".join(p for s in sections for p in s["paragraphs"]),
        ),
        "trafilatura-assabah/assabah.com.tn.article.html": ("http://www.assabah.com.tn/", None),
    }
    for name, item in dates.items():
        known[f"htmldate-mediacloud/{name}"] = (item["url"], None)
    pages = []
    for name, (url, truth) in sorted(known.items()):
        raw = (root / name).read_bytes()
        raw = gzip.decompress(raw) if name.endswith(".gz") else raw
        host = urlsplit(url).hostname or "site"
        file = name.removeprefix("htmldate-mediacloud/")
        zone = zones.get(file, {}).get("timezone", "UTC")
        day = dates.get(file, {}).get("expected_date")
        pages.append(Page("arabic pages", name, url, host, decode_html(raw), truth, zone, day))
    return pages
