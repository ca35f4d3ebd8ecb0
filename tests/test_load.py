"""Loading through the IN-list lookups of warehouse/rows.py, with a real DuckDB file.

Lookups and updates by URL or id are cut into IN lists of LOOKUP_CHUNK values; with the chunk
made tiny, every statement of a batch spans several lists, and values holding a quote or NUL
(which a statement's text cannot carry) go through the same paths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from extractors.records import Article
from warehouse.db import opened
from warehouse.load import LoadBatch, known_urls, load_batch, start_run, stored_entry_times

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ODD = ("http://127.0.0.1:9/news/it's", "http://127.0.0.1:9/news/nul\x00")  # quote, NUL


def article(n: int, *, url: str | None = None, body: str | None = None) -> Article:
    url = url or f"http://127.0.0.1:9/news/{n}"
    body = body or f"نص الخبر رقم {n}"
    return Article(
        article_id=f"id{n:04d}",
        url=url,
        canonical_url=url,
        feed_name="one",
        source="One",
        title=f"عنوان {n}",
        body=body,
        summary=None,
        author=None,
        published_at=T0,
        published_at_source="feed",
        fetched_at=T0 + timedelta(minutes=n),
        language="ar",
        dateline=None,
        attribution=None,
        is_breaking=False,
        tags=[],
        word_count=len(body.split()),
        content_hash=f"hash-{body}",
        extraction="page",
        entry_updated_at=T0,
    )


@pytest.mark.parametrize("chunk", [2, 1000], ids=["lists_of_2", "one_list"])
def test_lookups_and_updates_span_several_in_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr("warehouse.rows.LOOKUP_CHUNK", chunk)
    first = [article(n) for n in range(1, 6)] + [article(6, url=ODD[0]), article(7, url=ODD[1])]
    later = [article(n) for n in range(8, 11)]
    with opened(tmp_path / "w.duckdb") as con:
        start_run(con, "run", None, T0)
        load_batch(con, LoadBatch("run", articles=first))
        again = [article(n, url=a.url) for n, a in enumerate(first, 1)]  # the same URLs
        result = load_batch(con, LoadBatch("run", articles=again + later))
        urls = [a.url for a in first + later] + ["http://127.0.0.1:9/unknown"]
        known = known_urls(con, [(u, u) for u in urls])
        edited = [article(n, url=a.url, body="نص مصحح") for n, a in enumerate(first, 1)]
        for update in edited:
            update.fetched_at += timedelta(hours=1)
            update.entry_updated_at = T0 + timedelta(hours=1)
        updated = load_batch(con, LoadBatch("run", updates=edited))
        times = stored_entry_times(con, urls)
        bodies = dict(con.execute("SELECT url, body FROM articles").fetchall())
        revisions = con.execute("SELECT count(*) FROM article_revisions").fetchone()[0]
    assert (result.articles_new, updated.articles_updated, revisions) == (3, 7, 7)
    assert known == set(urls[:-1])
    assert times == {a.url: T0 + timedelta(hours=1) for a in first} | {a.url: T0 for a in later}
    assert bodies == {a.url: "نص مصحح" for a in first} | {a.url: a.body for a in later}
