"""Full-text search: Arabic variants and inflections, the index, the tail, the fallback, the CLI.

The articles are real texts from tests/fixtures/arabic (see its README.md): the aggregator
scrape of DESIGN.md (its Baghdad Al-Youm story writes "وفد أمنى"), the research notes' texts
(which write "وفد أمني"), CNN Arabic and almadenahnews.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from extractors.clean import normalize_key
from flows.cli import main
from warehouse import search as search_module
from warehouse import search_refresh
from warehouse.db import connect
from warehouse.extensions import ExtensionUnavailable, load_extension, packaged_extension
from warehouse.search import (
    SearchError,
    has_index,
    key_sql,
    refresh_search_index,
    search,
    snippet,
)

ARABIC = Path(__file__).parent / "fixtures" / "arabic"
T0 = datetime(2025, 2, 27, 9, 0, tzinfo=UTC)


def _fixture_articles() -> dict[str, tuple[str, str, str]]:
    """article_id -> (source, title, body)."""
    scrape = (ARABIC / "aggregator-scrape.txt").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(scrape) if "وفد أمنى" in line)
    research = json.loads((ARABIC / "research-texts.json").read_text(encoding="utf-8"))

    def text(value: object) -> str:
        return "\n\n".join(value) if isinstance(value, list) else str(value)

    bt = [text(research[k]) for k in ("BT_LEAD", "BT_2", "BT_3", "BT_4")]
    return {
        "aj_scrape": ("Aggregator", scrape[0], "\n\n".join(scrape[2 : start - 5])),
        "bt_scrape": ("Aggregator", scrape[start], "\n\n".join(scrape[start + 2 :])),
        "bt_research": ("Baghdad Al-Youm", "وفد أمني عراقي رفيع يصل دمشق", "\n\n".join(bt)),
        "aj_research": ("Al Jazeera", "إعادة فتح منفذ القائم", text(research["AJ"])),
        "cnn": ("CNN Arabic", "مستودعات للأسلحة بريف دمشق", _read("cnn-arabic.txt")),
        "madenah": ("Almadenah", "خبر من المدينة نيوز", _read("almadenahnews.txt")),
    }


def _read(name: str) -> str:
    return (ARABIC / name).read_text(encoding="utf-8")


ARTICLES = _fixture_articles()


def add_article(
    con: duckdb.DuckDBPyConnection,
    article_id: str,
    source: str,
    title: str | None,
    body: str | None,
    when: datetime = T0,
) -> None:
    url = f"http://127.0.0.1:9/{article_id}"
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, source, title, body, published_at,"
        " fetched_at, updated_at, extraction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'page')",
        [article_id, url, url, source, title, body, when, when, when],
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(tmp_path / "search.duckdb")
    for n, (article_id, (source, title, body)) in enumerate(ARTICLES.items()):
        add_article(con, article_id, source, title, body, T0 + timedelta(hours=n))
    yield con
    con.close()


def found(con: duckdb.DuckDBPyConnection, text: str) -> set[str]:
    return {hit.article_id for hit in search(con, text, limit=50)}


# Each query, and articles it must find: spelling variants, diacritics, tatweel, digits.
VARIANTS = [
    ("وفد أمني", {"bt_scrape", "bt_research"}),  # the scrape writes أمنى
    ("وفد أمنى", {"bt_scrape", "bt_research"}),
    ("وَفْدٌ أَمْنِيٌّ", {"bt_scrape", "bt_research"}),  # with harakat
    ("الوفد الأمنية", {"bt_scrape", "bt_research"}),  # other inflections
    ("بغـــداد", {"bt_scrape", "bt_research"}),  # tatweel
    ("استكمالا", {"bt_research"}),  # the text has استكمالاً
    ("٢٠٢٥", {"bt_research"}),  # Eastern Arabic digits; the text has 2025
    ("البنتاغون", {"aj_scrape"}),  # written inside parentheses: (البنتاغون)
]
STATES = ("unindexed", "tail", "index")


def _bring_to(con: duckdb.DuckDBPyConnection, state: str) -> None:
    if state == "index":
        refresh_search_index(con, full=True)
    elif state == "tail":
        refresh_search_index(con, full=True)
        con.execute("UPDATE articles SET updated_at = updated_at + INTERVAL 1 HOUR")
        assert refresh_search_index(con).full is False


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(("query", "expected"), VARIANTS, ids=[q for q, _ in VARIANTS])
def test_a_query_finds_spelling_variants_and_inflections(
    warehouse: duckdb.DuckDBPyConnection, state: str, query: str, expected: set[str]
) -> None:
    _bring_to(warehouse, state)
    assert expected <= found(warehouse, query)


@pytest.mark.parametrize("state", STATES)
def test_every_word_must_occur(warehouse: duckdb.DuckDBPyConnection, state: str) -> None:
    _bring_to(warehouse, state)
    assert found(warehouse, "وفد أمني") >= {"bt_research"}
    assert found(warehouse, "وفد أمني كوالالمبور") == set()


def test_the_tail_scores_like_the_index(warehouse: duckdb.DuckDBPyConnection) -> None:
    before = {h.article_id: h.score for h in search(warehouse, "دمشق", 50)}
    refresh_search_index(warehouse, full=True)
    after = {h.article_id: h.score for h in search(warehouse, "دمشق", 50)}
    assert before.keys() == after.keys() and len(after) >= 3
    assert before == pytest.approx(after)
    ranked = search(warehouse, "دمشق", 50)
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)


def test_articles_loaded_or_changed_after_a_rebuild_are_found_by_their_new_text(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    refresh_search_index(warehouse, full=True)
    add_article(warehouse, "late", "Baghdad Al-Youm", "زلزال يضرب السليمانية", "هزة أرضية")
    warehouse.execute(
        "UPDATE articles SET body = 'نص جديد عن الكهرباء', updated_at = ? WHERE article_id = 'cnn'",
        [T0 + timedelta(days=1)],
    )
    assert found(warehouse, "زلزال") == {"late"}
    assert "cnn" in found(warehouse, "الكهرباء")
    assert "cnn" not in found(warehouse, "مستودعات الصواريخ")
    refresh_search_index(warehouse)  # incremental: into the tail tables
    assert found(warehouse, "زلزال") == {"late"}
    assert "cnn" not in found(warehouse, "مستودعات الصواريخ")


def test_a_full_rebuild_empties_the_tail(warehouse: duckdb.DuckDBPyConnection) -> None:
    first = refresh_search_index(warehouse)
    assert not first.full and first.articles == len(ARTICLES)  # no index yet: all in the tail
    assert not has_index(warehouse)
    assert found(warehouse, "وفد أمني") == {"bt_scrape", "bt_research"}
    add_article(warehouse, "late", "X", "عنوان", "نص")
    assert refresh_search_index(warehouse).articles == 1
    assert warehouse.execute("SELECT count(*) FROM search_tail_articles").fetchone() == (7,)
    assert refresh_search_index(warehouse, full=True).articles == len(ARTICLES) + 1
    assert has_index(warehouse)
    assert warehouse.execute("SELECT count(*) FROM search_tail_articles").fetchone() == (0,)


def test_an_incremental_refresh_rebuilds_once_the_tail_outgrows_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the maintenance flow (`marsad run` by hand), the tail must not grow forever: an
    incremental refresh rebuilds the index once its tail would hold more than TAIL_REBUILD_MIN
    articles and more than the index."""
    monkeypatch.setattr(search_refresh, "TAIL_REBUILD_MIN", 3)
    con = connect(tmp_path / "outgrown.duckdb")
    ids = list(ARTICLES)  # aj_scrape, bt_scrape, bt_research, aj_research, cnn, madenah

    def add(*article_ids: str) -> None:
        for article_id in article_ids:
            add_article(con, article_id, *ARTICLES[article_id])

    def tail() -> int:
        return con.execute("SELECT count(*) FROM search_tail_articles").fetchone()[0]

    add(*ids[:3])  # 3 articles: not more than the threshold
    refreshed = refresh_search_index(con)
    assert (refreshed.full, refreshed.articles) == (False, 3)
    assert not has_index(con) and tail() == 3
    assert found(con, "وفد أمني") == {"bt_scrape", "bt_research"}

    add(ids[3])  # 4 > 3 and 4 > 0 indexed: rebuilt whole
    refreshed = refresh_search_index(con)
    assert (refreshed.full, refreshed.articles) == (True, 4)
    assert has_index(con) and tail() == 0
    assert found(con, "وفد أمني") == {"bt_scrape", "bt_research"}
    assert "aj_research" in found(con, "منفذ القائم")

    add(*ids[4:])  # the index holds 4: a tail of 2, then 4, stays a tail
    assert refresh_search_index(con).full is False
    con.execute(
        "UPDATE articles SET updated_at = updated_at + INTERVAL 1 HOUR WHERE article_id IN (?, ?)",
        ids[:2],
    )
    assert refresh_search_index(con).full is False and tail() == 4
    add_article(con, "late", "X", "زلزال يضرب السليمانية", "هزة أرضية")  # 5 > 4 indexed
    refreshed = refresh_search_index(con)
    assert (refreshed.full, refreshed.articles) == (True, 7)
    assert tail() == 0 and found(con, "زلزال") == {"late"}
    assert "cnn" in found(con, "دمشق")
    con.close()


# Texts where cutting at spaces and keying word by word could go wrong: marks, tatweel and
# invisible characters inside or at the start of words, runs of spaces and line breaks, Latin
# accents precomposed or not, digits, and presentation forms (keyed by normalize_key).
ODD_TEXTS = {
    "marks": (
        "وَفْدٌ   أَمْنِيٌّ",
        "\u064eبغداد ب\u064e\u064eغداد ــبغــداد\tنص\u200cمع\u200dمحارف\n\nسطر",
    ),
    "latin": ("Café  CAFE\u0301 Ärger", "e\u0301 \u0338= ≠ x\u00a0y\u200bz İstanbul ß ٢٠٢٥ ² ½"),
    "ligatures": ("ﻻ أحد", "ﷺ نص ﷽ مع ليجاتشر"),
    "empty": (None, "  \u0301 \u064e "),
}


@pytest.mark.parametrize(
    ("tail_slice", "connections"), [(1_000, 1), (3, 1), (1, 1), (3, 2), (1, 3)]
)
def test_the_tail_holds_the_terms_the_index_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail_slice: int, connections: int
) -> None:
    """An incremental refresh keys and stems each distinct word once; the tail it leaves must
    hold, for every article, the terms and counts the fts index holds after a rebuild, however
    many slices the refresh cuts the new articles into, and however many connections index
    them side by side."""
    monkeypatch.setattr(search_refresh, "TAIL_SLICE", tail_slice)
    con = connect(tmp_path / "terms.duckdb")
    texts = {**{k: (t, b) for k, (_, t, b) in ARTICLES.items()}, **ODD_TEXTS}
    for article_id, (title, body) in texts.items():
        add_article(con, article_id, "X", title, body)
    assert refresh_search_index(con, connections=connections).articles == len(texts)
    if connections > 1:  # again over a full tail: each slice deletes its articles' rows first
        con.execute("UPDATE articles SET updated_at = updated_at + INTERVAL 1 HOUR")
        assert refresh_search_index(con, connections=connections).articles == len(texts)
    rows = con.execute("SELECT article_id, term, tf FROM search_tail_terms").fetchall()
    tail = set(rows)
    assert len(rows) == len(tail)  # no slice stored another's rows again
    lengths = dict(con.execute("SELECT article_id, terms FROM search_tail_articles").fetchall())
    assert con.execute("SELECT count(*) FROM search_tail_articles").fetchone() == (len(texts),)
    refresh_search_index(con, full=True)
    index = f"fts_main_{search_module.INDEX_INPUT}"
    indexed = con.execute(
        f"SELECT d.name, t.term, count(*) FROM {index}.terms JOIN {index}.docs d USING (docid) "
        f"JOIN {index}.dict t USING (termid) GROUP BY ALL"
    ).fetchall()
    assert tail == set(indexed)
    assert lengths == dict(con.execute(f"SELECT name, len FROM {index}.docs").fetchall())
    assert {a for a, t, _ in tail if t == "لا"} >= {"ligatures"}  # ﻻ keyed by normalize_key
    assert lengths["empty"] == 0 and lengths["marks"] > 5
    con.close()


def test_a_hit_carries_the_article_and_a_marked_snippet(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    refresh_search_index(warehouse, full=True)
    hit = next(h for h in search(warehouse, "أمني", 50) if h.article_id == "bt_scrape")
    assert hit.source == "Aggregator" and hit.url.endswith("/bt_scrape")
    assert hit.published_at == T0 + timedelta(hours=1)
    assert "أمنى" in hit.title
    assert re.search(r"\*\*\S*(أمن|الأمن)\S*\*\*", hit.snippet), hit.snippet


def test_snippet_windows_around_the_first_match() -> None:
    body = " ".join(f"كلمة{i}" for i in range(100)) + " وفد أمنى " + "ختام " * 50
    text = snippet(body, ["امن"], words=10)
    assert text.startswith("… ") and text.endswith(" …")
    assert "**أمنى**" in text and len(text.split()) <= 12
    assert snippet("نص قصير", ["غائب"]) == "نص قصير"


@pytest.mark.parametrize("query", ["؟،!", "  ", "«»"])
def test_a_query_without_words_is_refused(warehouse: duckdb.DuckDBPyConnection, query: str) -> None:
    with pytest.raises(SearchError, match="no letters or digits"):
        search(warehouse, query)


def test_without_the_fts_extension_search_matches_key_words_and_warns(
    warehouse: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(con: object, name: str, **kwargs: object) -> str:
        raise ExtensionUnavailable(f"the DuckDB extension {name!r} cannot be loaded")

    monkeypatch.setattr(search_module, "load_extension", unavailable)
    with pytest.warns(RuntimeWarning, match="substrings"):
        hits = search(warehouse, "وفد أمنى", 50)
    assert {h.article_id for h in hits} == {"bt_scrape", "bt_research"}
    assert all(h.score > 0 for h in hits)


@pytest.mark.parametrize("name", ["cnn-arabic.txt", "almadenahnews.txt", "aggregator-scrape.txt"])
def test_the_sql_key_form_is_normalize_key(name: str) -> None:
    """The index folds text in SQL; it must give the words normalize_key gives (but keeps ة)."""
    text = _read(name) + " أَمْنِيٌّ العـــراق مسئول ٢٠٢٥ ی ک"
    con = duckdb.connect()
    row = con.execute(f"SELECT {key_sql('?')}", [text]).fetchone()
    words = re.findall(r"[^\W_]+", row[0]) if row else []
    assert " ".join(words).replace("ة", "ه") == normalize_key(text)


def test_the_fts_extension_comes_from_its_package_without_network(tmp_path: Path) -> None:
    path = packaged_extension("fts")
    assert path is not None and path.name == "fts.duckdb_extension"
    con = duckdb.connect(config={"extension_directory": str(tmp_path / "extensions")})
    assert load_extension(con, "fts", allow_download=False) == "package"
    assert con.execute("SELECT stem('الوزراء', 'arabic')").fetchone() == ("وزراء",)
    with pytest.raises(ExtensionUnavailable, match="pip install duckdb-extension-vss=="):
        load_extension(con, "vss", allow_download=False)


def test_marsad_search_prints_ranked_results_and_json(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refresh_search_index(warehouse, full=True)
    warehouse.close()
    db = str(tmp_path / "search.duckdb")
    assert main(["search", "وفد أمني", "--db", db, "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "Baghdad Al-Youm · 2025-02-27 11:00 UTC · score" in out
    assert "1. " in out and "2. " in out and "(2 results)" in out
    assert main(["search", "وفد أمني", "--db", db, "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2
    assert all(
        list(r) == ["article_id", "url", "title", "source", "published_at", "score", "snippet"]
        for r in records
    )
    assert {r["article_id"] for r in records} == {"bt_scrape", "bt_research"}
    assert records[0]["score"] >= records[1]["score"]
    assert datetime.fromisoformat(records[0]["published_at"]).tzinfo is not None
    assert main(["search", "؟", "--db", db]) == 2
    assert "no letters or digits" in capsys.readouterr().err


def test_marsad_search_reports_the_fallback_as_a_warning(
    warehouse: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unavailable(con: object, name: str, **kwargs: object) -> str:
        raise ExtensionUnavailable("the DuckDB extension 'fts' cannot be loaded")

    monkeypatch.setattr(search_module, "load_extension", unavailable)
    warehouse.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI must report it, not leak it
        assert main(["search", "دمشق", "--db", str(tmp_path / "search.duckdb")]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("marsad: warning: full-text search is unavailable")
    assert "results)" in captured.out


def test_a_slice_that_fails_on_one_connection_stops_the_others_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices indexed side by side: one fails, the refresh raises, the other connection starts
    no new slice, every slice committed is whole (its articles' terms all there), and the next
    refresh indexes the rest."""
    monkeypatch.setattr(search_refresh, "TAIL_SLICE", 1)
    con = connect(tmp_path / "fail.duckdb")
    texts = {**{k: (t, b) for k, (_, t, b) in ARTICLES.items()}, **ODD_TEXTS}
    for article_id, (title, body) in texts.items():
        add_article(con, article_id, "X", title, body)
    real = search_refresh._index_slice
    slices: list[str] = []

    def failing(cursor: duckdb.DuckDBPyConnection, docs: str) -> None:
        (article_id,) = cursor.execute(
            f"SELECT article_id FROM {search_refresh.INDEX_INPUT} WHERE {docs}"
        ).fetchone()
        slices.append(article_id)
        if len(slices) == 2:
            raise duckdb.IOException("disk full")
        real(cursor, docs)

    monkeypatch.setattr(search_refresh, "_index_slice", failing)
    with pytest.raises(duckdb.IOException, match="disk full"):
        refresh_search_index(con, connections=2)
    held = dict(con.execute("SELECT article_id, terms FROM search_tail_articles").fetchall())
    assert len(slices) < len(texts) and set(held) == set(slices[:1] + slices[2:])
    sums = dict(
        con.execute("SELECT article_id, sum(tf) FROM search_tail_terms GROUP BY ALL").fetchall()
    )
    assert {k: v for k, v in held.items() if v} == sums  # whole slices only
    monkeypatch.setattr(search_refresh, "_index_slice", real)
    assert refresh_search_index(con, connections=2).articles == len(texts) - len(held)
    assert con.execute("SELECT count(*) FROM search_tail_articles").fetchone() == (len(texts),)
    con.close()
