"""Story clusters in the warehouse: exact and near copies, teasers, short items, revisions,
re-extracted texts.

Texts come from the labeled pairs of tests/fixtures/dedupe/pairs.jsonl (see its README). Every
clustering case runs three ways: both articles in one batch, in two load_batch calls, and in
two calls with the file closed and reopened between them (the band table survives a restart).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from extractors.dedupe import fingerprint
from extractors.records import Article, decompress_html
from extractors.urls import article_id
from warehouse.clusters import (
    BATCH_FANOUT,
    EXACT_WINDOW,
    MAX_CANDIDATES,
    NEAR_WINDOW,
    key_hash,
)
from warehouse.db import migrations, opened
from warehouse.load import LoadBatch, load_batch, stored_entry_times
from warehouse.reextract import Rebuilt, apply_reextracted

PAIRS_FILE = Path(__file__).parent / "fixtures" / "dedupe" / "pairs.jsonl"
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهو"  # key normalization leaves these as they are
PAIRS = [json.loads(line) for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines()]
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
MODES = ("one_batch", "two_batches", "reopened")


def pair(tag: str) -> dict:
    (found,) = [p for p in PAIRS if tag in p["origin"]]
    return found


def make(
    n: int,
    body: str,
    *,
    title: str | None = None,
    source: str = "One",
    minutes: float | None = None,
    entry_updated_at: datetime | None = None,
) -> Article:
    """An article as extraction makes it: canonical URL, id, fingerprint, content hash."""
    url = f"http://127.0.0.1:9/{source.lower()}/news/{n}"
    fp = fingerprint(body)
    return Article(
        article_id=article_id(url),
        url=url,
        canonical_url=url,
        feed_name=source.lower(),
        source=source,
        title=title if title is not None else f"خبر رقم {n}",
        body=body,
        summary=None,
        author=None,
        published_at=T0,
        published_at_source="feed",
        fetched_at=T0 + timedelta(minutes=n if minutes is None else minutes),
        language="ar",
        dateline=None,
        attribution=None,
        is_breaking=False,
        tags=[],
        word_count=len(body.split()),
        content_hash=fp.content_hash if fp else None,
        extraction="page",
        fingerprint=fp,
        entry_updated_at=entry_updated_at,
    )


def load_in(db: Path, mode: str, first: list[Article], second: list[Article]) -> None:
    """Load `first` then `second` as `mode` says."""
    if mode == "one_batch":
        with opened(db) as con:
            load_batch(con, LoadBatch("run", articles=first + second))
        return
    with opened(db) as con:
        load_batch(con, LoadBatch("run", articles=first))
        if mode == "two_batches":
            load_batch(con, LoadBatch("run", articles=second))
            return
    with opened(db) as con:  # reopened: a new process would see the same file
        load_batch(con, LoadBatch("run", articles=second))


def clusters(db: Path) -> dict[str, tuple[str, str | None]]:
    """article_id -> (cluster_id, duplicate_of), as stored."""
    with opened(db) as con:
        rows = con.execute("SELECT article_id, cluster_id, duplicate_of FROM articles").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with opened(path) as con:
        con.execute(
            "INSERT INTO ingest_runs (run_id, started_at, status) VALUES ('run', ?, 'r')", [T0]
        )
    return path


SAME_STORY = {
    "exact copy across outlets": "real: CNN Arabic saved twice [pages]",
    "spelling variants": "appendix:BT vs ortho() [ND03]",
    "changed number": "pages:mediacloud/1550981615 sputnik vs change_number()",
    "changed sentence": "appendix:BT vs change_sentence()",
    "aggregator copy": "appendix:AJ vs AJ_REPUB [ND04]",
    "teaser": "appendix:AJ vs teaser() (first paragraph)",
    "feed summary": "pages:mediacloud/1784190729 alyaum vs feed_summary()",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(SAME_STORY))
@pytest.mark.parametrize("teaser_first", [False, True], ids=["long_first", "short_first"])
def test_copies_join_the_cluster_of_the_first_seen(
    db: Path, case: str, mode: str, teaser_first: bool
) -> None:
    p = pair(SAME_STORY[case])
    texts = (p["b"], p["a"]) if teaser_first else (p["a"], p["b"])
    first, second = make(1, texts[0], source="One"), make(2, texts[1], source="Two")
    load_in(db, mode, [first], [second])
    assert clusters(db) == {
        first.article_id: (first.article_id, None),
        second.article_id: (first.article_id, first.article_id),
    }


APART = {
    "same event, other article": "appendix:BT vs BT_OTHER_OUTLET [ND06]",
    "same event, flash headline": "appendix:BT vs FLASH [ND08]",
    "other halves of one event": "appendix:AJ: odd_half() vs even_half()",
    "different stories": "appendix:AJ vs appendix:BT",
    "roundup with its first paragraph": "appendix:AJ vs a news roundup",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(APART))
def test_other_articles_start_their_own_clusters(db: Path, case: str, mode: str) -> None:
    p = pair(APART[case])
    first, second = make(1, p["a"], source="One"), make(2, p["b"], source="Two")
    load_in(db, mode, [first], [second])
    assert clusters(db) == {
        first.article_id: (first.article_id, None),
        second.article_id: (second.article_id, None),
    }


@pytest.mark.parametrize("mode", MODES)
def test_short_items_cluster_only_as_exact_copies_with_the_same_title(db: Path, mode: str) -> None:
    same = pair("one-line breaking item in two feeds, same title")
    placeholder = pair("the same placeholder body under two different breaking titles")
    two = pair("written: two breaking items from one outlet")
    first = [
        make(1, same["a"], title=same["title_a"], source="One"),
        make(2, placeholder["a"], title=placeholder["title_a"]),
        make(3, two["a"], title="عاجل"),
    ]
    second = [
        make(4, same["b"], title=same["title_b"], source="Two"),
        make(5, placeholder["b"], title=placeholder["title_b"]),
        make(6, two["b"], title="عاجل"),
        *[make(7 + i, placeholder["a"], title=f"عاجل رقم {i}") for i in range(5)],
    ]
    load_in(db, mode, first, second)
    found = clusters(db)
    assert found[second[0].article_id] == (first[0].article_id, first[0].article_id)
    others = first[1:] + second[1:]
    assert all(found[a.article_id] == (a.article_id, None) for a in others)


def test_short_body_without_title_stays_alone(db: Path) -> None:
    items = [make(i, "التفاصيل لاحقاً", title="") for i in range(1, 4)]
    with opened(db) as con:
        result = load_batch(con, LoadBatch("run", articles=items))
    assert result.articles_duplicate == 0
    assert len(set(c for c, _ in clusters(db).values())) == 3


def test_within_a_batch_the_first_fetched_leads_whatever_the_order(db: Path) -> None:
    p = pair(SAME_STORY["changed number"])
    early, late = make(1, p["a"], minutes=5), make(2, p["b"], minutes=1)
    with opened(db) as con:
        result = load_batch(con, LoadBatch("run", articles=[early, late]))
    assert result.articles_duplicate == 1
    assert clusters(db)[early.article_id] == (late.article_id, late.article_id)


def test_chain_of_copies_keeps_the_first_seen_as_cluster_id(db: Path) -> None:
    base = pair("appendix:AJ vs teaser() (first paragraph)")
    near = pair("appendix:AJ vs AJ_REPUB [ND04]")
    teaser, full, republished = make(1, base["b"]), make(2, base["a"]), make(3, near["b"])
    load_in(db, "two_batches", [teaser], [full])
    with opened(db) as con:
        load_batch(con, LoadBatch("run", articles=[republished]))
        stories = con.execute("SELECT cluster_id, article_id, copies FROM stories").fetchall()
        unique = con.execute("SELECT article_id FROM articles_unique").fetchall()
    assert clusters(db)[republished.article_id] == (teaser.article_id, teaser.article_id)
    assert stories == [(teaser.article_id, teaser.article_id, 3)]
    assert unique == [(teaser.article_id,)]


def test_a_new_article_joins_its_best_matching_earlier_article(db: Path) -> None:
    words = pair("pages:trafilatura-assabah vs wrap()")["a"].split()
    n = len(words)
    head = make(1, " ".join(words[: int(n * 0.55)]))  # Jaccard with the whole text: 0.55
    tail = make(2, " ".join(words[int(n * 0.2) :]))  # 0.8; head and tail share too little
    whole = make(3, " ".join(words))
    load_in(db, "two_batches", [head, tail], [whole])
    found = clusters(db)
    assert found[tail.article_id] == (tail.article_id, None)  # not a copy of head
    assert found[whole.article_id] == (tail.article_id, tail.article_id)


def test_copies_are_sought_within_their_windows(db: Path) -> None:
    near, exact = pair(SAME_STORY["changed number"]), pair(SAME_STORY["exact copy across outlets"])
    spelling = pair(SAME_STORY["spelling variants"])  # the same key once normalized
    old = [make(1, near["a"]), make(2, exact["a"]), make(3, spelling["a"])]
    week, month = (w.total_seconds() / 60 + 60 for w in (NEAR_WINDOW, EXACT_WINDOW))
    new = [
        make(4, near["b"], minutes=week),  # a near copy after NEAR_WINDOW: a cluster of its own
        make(5, exact["b"], minutes=week),  # an exact copy within EXACT_WINDOW: joins
    ]
    later = make(6, spelling["b"], minutes=month)  # an exact copy after EXACT_WINDOW: alone
    load_in(db, "two_batches", old, new)
    with opened(db) as con:
        load_batch(con, LoadBatch("run", articles=[later]))
    found = clusters(db)
    assert found[new[0].article_id] == (new[0].article_id, None)
    assert found[new[1].article_id] == (old[1].article_id, old[1].article_id)
    assert found[later.article_id] == (later.article_id, None)


def test_articles_loaded_before_dedupe_find_their_exact_copies(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    text = pair(SAME_STORY["exact copy across outlets"])["a"]
    legacy = make(1, text)
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ)")
    con.execute(migrations()[0][2])
    con.execute("INSERT INTO schema_version VALUES (1, ?)", [T0])
    con.execute(
        "INSERT INTO articles (article_id, url, canonical_url, fetched_at, updated_at, "
        "extraction, content_hash, cluster_id) VALUES (?, ?, ?, ?, ?, 'page', ?, ?)",
        [legacy.article_id, legacy.url, legacy.url, T0, T0, legacy.content_hash,
         legacy.article_id],
    )  # fmt: skip
    con.close()
    copy = make(2, text, source="Two")
    with opened(path) as con:  # upgrades to the current schema
        stored = con.execute("SELECT fp_key, exact_hash FROM article_fingerprints").fetchall()
        con.execute(
            "INSERT INTO ingest_runs (run_id, started_at, status) VALUES ('run', ?, 'r')", [T0]
        )
        load_batch(con, LoadBatch("run", articles=[copy]))
    assert stored == [(key_hash(legacy.article_id), key_hash(legacy.content_hash))]
    assert clusters(path)[copy.article_id] == (legacy.article_id, legacy.article_id)


# -- revisions -------------------------------------------------------------------------------


def revised(article: Article, body: str, *, minutes: float, entry: datetime | None) -> Article:
    update = make(0, body, title=article.title, minutes=minutes, entry_updated_at=entry)
    for name in ("article_id", "url", "canonical_url", "feed_name", "source"):
        setattr(update, name, getattr(article, name))
    return update


@pytest.mark.parametrize("mode", ["two_batches", "one_batch"])
def test_an_update_keeps_the_replaced_text_and_the_cluster(db: Path, mode: str) -> None:
    p = pair(SAME_STORY["changed sentence"])
    other = pair("appendix:AJ vs AJ_REPUB [ND04]")
    head = make(1, p["a"], source="One", entry_updated_at=T0)
    copy = make(2, p["b"], source="Two", entry_updated_at=T0)
    update = revised(copy, other["a"], minutes=30, entry=T0 + timedelta(minutes=25))
    copy.raw_html, update.raw_html = "<p>old</p>", "<p>new</p>"
    with opened(db) as con:
        if mode == "one_batch":
            result = load_batch(con, LoadBatch("run", articles=[head, copy], updates=[update]))
        else:
            load_batch(con, LoadBatch("run", articles=[head, copy]))
            result = load_batch(con, LoadBatch("run", updates=[update]))
        row = con.execute(
            "SELECT body, updated_at, fetched_at, cluster_id, duplicate_of, content_hash "
            "FROM articles WHERE article_id = ?",
            [copy.article_id],
        ).fetchone()
        revisions = con.execute(
            "SELECT article_id, revised_at, title, body FROM article_revisions"
        ).fetchall()
        times = stored_entry_times(con, [copy.canonical_url, head.canonical_url, "http://x/"])
        run = con.execute("SELECT articles_updated FROM ingest_runs").fetchone()[0]
        html = [
            (decompress_html(z),)
            for (z,) in con.execute("SELECT html_zlib FROM raw_pages").fetchall()
        ]
    assert result.articles_updated == 1
    assert row == (
        other["a"], update.fetched_at, copy.fetched_at, head.article_id, head.article_id,
        update.content_hash,
    )  # fmt: skip
    assert revisions == [(copy.article_id, update.fetched_at, copy.title, p["b"])]
    assert times == {copy.canonical_url: update.entry_updated_at, head.canonical_url: T0}
    assert run == 1
    assert html == [("<p>new</p>",)]  # reextract reads the text now stored
    with opened(db) as con:  # copies of the new text and of the old one both join it
        later = [make(10, other["b"], source="Three"), make(11, p["b"], source="Four")]
        load_batch(con, LoadBatch("run", articles=later))
    found = clusters(db)
    assert found[later[0].article_id] == (head.article_id, head.article_id)
    assert found[later[1].article_id] == (head.article_id, head.article_id)


def test_an_unchanged_refetch_only_records_the_entry_time(db: Path) -> None:
    text = pair(SAME_STORY["changed sentence"])["a"]
    first = make(1, text, entry_updated_at=T0)
    again = revised(first, text, minutes=90, entry=T0 + timedelta(hours=1))
    with opened(db) as con:
        load_batch(con, LoadBatch("run", articles=[first]))
        result = load_batch(con, LoadBatch("run", updates=[again]))
        row = con.execute("SELECT updated_at, entry_updated_at FROM articles").fetchone()
        count = con.execute("SELECT count(*) FROM article_revisions").fetchone()[0]
    assert (result.articles_updated, result.articles_new, count) == (0, 0, 0)
    assert row == (first.fetched_at, again.entry_updated_at)


def test_an_update_of_an_unknown_url_is_loaded_as_new(db: Path) -> None:
    article = make(1, pair(SAME_STORY["changed sentence"])["a"])
    with opened(db) as con:
        result = load_batch(con, LoadBatch("run", updates=[article]))
    assert (result.articles_new, result.articles_updated) == (1, 0)
    assert clusters(db) == {article.article_id: (article.article_id, None)}


# -- re-extraction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "indexed"),
    [(timedelta(hours=1), 1), (EXACT_WINDOW + timedelta(hours=1), 0)],
    ids=["recent", "older_than_exact_window"],
)
def test_a_reextracted_text_is_indexed_under_the_articles_cluster(
    db: Path, after: timedelta, indexed: int
) -> None:
    old = pair(APART["different stories"])["a"]
    new = pair(SAME_STORY["changed number"])
    head = make(1, old, source="One")
    stored = make(2, old, source="Two")  # an exact copy: joins head's cluster
    stored.raw_html = "<p>kept</p>"
    with opened(db) as con:
        load_batch(con, LoadBatch("run", articles=[head, stored]))
        # A better extractor finds another text in the stored page (same URL, so same id).
        rebuilt = make(2, new["a"], source="Two")
        result = apply_reextracted(
            con, [Rebuilt(rebuilt, stored.fetched_at)], stored.fetched_at + after
        )
        rows = con.execute(
            "SELECT cluster_id, indexed_at, content_hash FROM article_fingerprints "
            "WHERE article_id = ? ORDER BY content_hash = ?",
            [stored.article_id, rebuilt.content_hash],
        ).fetchall()
        body = con.execute(
            "SELECT body FROM articles WHERE article_id = ?", [stored.article_id]
        ).fetchone()[0]
    assert (result.text_changed, result.indexed) == (1, indexed)
    assert body == new["a"]
    # The new text is a row of the same article, in its cluster, at its page's fetch time.
    assert (
        rows
        == [(head.article_id, stored.fetched_at, stored.content_hash)]
        + [(head.article_id, stored.fetched_at, rebuilt.content_hash)] * indexed
    )
    if not indexed:
        return
    copy = make(3, new["b"], source="Three", minutes=90)  # a near copy of the new text
    with opened(db) as con:
        load_batch(con, LoadBatch("run", articles=[copy]))
    found = clusters(db)
    assert found[stored.article_id] == (head.article_id, head.article_id)
    assert found[copy.article_id] == (head.article_id, head.article_id)


def boilerplate_batch(n: int) -> tuple[list[str], str]:
    """`n` unrelated stories that all open with the same boilerplate paragraph (its lead bands
    are shared by every story), and a near copy of the last one (one word in 20 replaced)."""
    rng = random.Random(8)
    vocabulary = ["".join(rng.choices(LETTERS, k=rng.randint(3, 7))) for _ in range(3000)]
    boilerplate = rng.choices(vocabulary, k=45)
    stories = [" ".join(boilerplate + rng.choices(vocabulary, k=220)) for _ in range(n)]
    copy = stories[-1].split()
    for at in range(50, len(copy), 20):
        copy[at] = rng.choice(vocabulary)
    return stories, " ".join(copy)


@pytest.mark.parametrize("mode", MODES)
def test_a_copy_is_found_among_more_boilerplate_sharers_than_candidates(
    db: Path, mode: str
) -> None:
    # More earlier texts share the boilerplate's bands than are verified (MAX_CANDIDATES): the
    # copy's original must still be among the candidates, as the one sharing the most bands.
    stories, copy = boilerplate_batch(MAX_CANDIDATES + 8)
    texts = [make(n, text) for n, text in enumerate(stories)]
    copied = make(len(texts), copy)
    load_in(db, mode, texts, [copied])
    found = clusters(db)
    assert found[copied.article_id] == (texts[-1].article_id, texts[-1].article_id)
    assert all(found[t.article_id] == (t.article_id, None) for t in texts)


def test_near_copies_throughout_a_batch_all_join_the_first(db: Path) -> None:
    # More copies of one story than a band counts earlier texts for (BATCH_FANOUT).
    stories, _ = boilerplate_batch(1)
    rng = random.Random(9)
    words = stories[0].split()
    texts = []
    for n in range(BATCH_FANOUT + 16):
        copy = list(words)
        copy[rng.randrange(len(copy))] = f"كلمة{n}"  # each copy its own text (no exact copies)
        texts.append(make(n, " ".join(copy)))
    load_in(db, "one_batch", texts, [])
    first = texts[0].article_id
    found = clusters(db)
    assert [found[t.article_id] for t in texts] == [(first, None)] + [(first, first)] * (
        len(texts) - 1
    )
