"""Story clusters: which earlier article a new one copies, found through the warehouse.

Each fingerprinted text is kept in `article_fingerprints` (MinHash signatures, shingle counts,
exact key) and its LSH band hashes in `article_bands`, both appended in fetch order (migration
002). A new article joins the cluster of, in this order of preference:

1. the first-seen stored article with its exact key (`dedupe.exact_key`: the content hash, or
   for a short body the content hash with the title) fetched at most EXACT_WINDOW before;
2. the first earlier article of the same batch with its exact key;
3. its best-matching near copy: among the stored articles that share an LSH band with it and
   were fetched at most NEAR_WINDOW before the batch, and the earlier articles of the batch
   that share one (of each kind, the MAX_CANDIDATES sharing the most bands, then the first
   seen; a band counts for at most BATCH_FANOUT earlier articles of the batch, the latest),
   those that `dedupe.same_story` accepts on the stored signatures; best is the highest
   estimated Jaccard, then the first seen.

Otherwise it starts a cluster. cluster_id is the article_id of the cluster's first-seen article,
duplicate_of that id for every later member and NULL for the first. A body under MIN_TOKENS
key tokens has no signature (dedupe's rule): it joins only an exact copy with the same title.

Copies are looked for in a window so that a lookup costs the same at any size of history: both
tables are read only over the row groups of the window (their min/max zone maps on indexed_at
skip the rest). News is copied within days: near copies are sought NEAR_WINDOW back, and exact
copies, which cost one BIGINT a text to find, EXACT_WINDOW back. Older texts stay stored; a copy
that comes later starts a new cluster. (An ART index instead, measured at 1M articles: DuckDB
rewrote most of it at every checkpoint and read most of it back after every open.)

A revised article keeps its cluster: its new text is indexed as another row of the same article
(its old rows stay), so copies of either version join it.

Cost: a batch is clustered with no Python loop over bands or candidates, because texts share
sentences (boilerplate lines, agency paragraphs) and their bands collide, which made such loops
grow with the square of the collisions (bench/cluster_cpu.py). Near copies are found and
verified as arrays in warehouse/candidates.py: DuckDB reads the stored band rows the batch
shares, numpy counts the bands each article shares with stored texts and with the batch's
earlier articles, keeps the best candidates and verifies every candidate pair of the batch at
once (`dedupe.same_story_many`). Only the choice of cluster, here, which follows fetch order, is
a loop over the articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from extractors import dedupe
from extractors.dedupe import SCHEME
from extractors.records import Article
from warehouse.candidates import BATCH_FANOUT as BATCH_FANOUT
from warehouse.candidates import MAX_CANDIDATES as MAX_CANDIDATES
from warehouse.candidates import integers, key_hash, micros, near_copies
from warehouse.rows import insert_table

# How far back copies are looked for, before the batch's first fetch: a lookup reads the rows of
# its window only, so its cost depends on how many articles a window holds, not on the history
# (bench/dedupe.py, 1M articles at 5,000 a day: 3 days cost 0.49 ms an article, 7 days 0.59).
NEAR_WINDOW = timedelta(days=3)  # LSH candidates: 53 band rows a text to scan
EXACT_WINDOW = timedelta(days=30)  # exact keys: one BIGINT a text, so a longer reach is cheap
TIMESTAMP = pa.timestamp("us", tz="UTC")
SIGNATURE = pa.list_(pa.uint32())


def exact_key_of(article: Article) -> str | None:
    """The key under which exact copies of `article` cluster: `dedupe.exact_key` of its
    fingerprint; without a fingerprint (no body, or a record built without one) its content
    hash; None when it has neither, or is a short body without a title."""
    if article.fingerprint is not None:
        return dedupe.exact_key(article.fingerprint, article.title)
    return article.content_hash


def assign_clusters(
    con: duckdb.DuckDBPyConnection,
    articles: Sequence[Article],
    *,
    window: timedelta | None = None,
    exact_window: timedelta | None = None,
) -> int:
    """Set cluster_id and duplicate_of on each of `articles` (new articles, not stored yet),
    taken in order of fetched_at, as the module docstring says; return how many joined an
    earlier article's cluster. `window` and `exact_window` default to NEAR_WINDOW and
    EXACT_WINDOW. Reads only: `index_fingerprints` stores the batch afterwards."""
    if not articles:
        return 0
    keys = [exact_key_of(a) for a in articles]
    first = min(a.fetched_at for a in articles)
    stored_exact = _stored_exact(
        con, {k for k in keys if k}, first - (exact_window or EXACT_WINDOW)
    )
    order = sorted(range(len(articles)), key=lambda n: articles[n].fetched_at)
    signed = [i for i in order if _is_signed(articles[i])]  # a signed article's rank: its place
    rank = {i: r for r, i in enumerate(signed)}
    known, probing = set(stored_exact), []  # an exact copy looks for no near copies
    for i in order:
        if keys[i] not in known and i in rank:
            probing.append(rank[i])
        if keys[i]:
            known.add(keys[i])
    since = first - (window or NEAR_WINDOW)
    best = near_copies(con, [articles[i] for i in signed], probing, since)
    batch_exact: dict[str, str] = {}
    joined = 0
    for i in order:
        article, key = articles[i], keys[i]
        cluster = (stored_exact.get(key) or batch_exact.get(key)) if key else None
        if cluster is None and i in rank:
            found = best.get(rank[i])  # a place: an earlier article of the batch, clustered
            cluster = articles[signed[found]].cluster_id if isinstance(found, int) else found
        if cluster is None:
            article.cluster_id, article.duplicate_of = article.article_id, None
        else:
            article.cluster_id, article.duplicate_of = cluster, cluster
            joined += 1
        if key:
            batch_exact.setdefault(key, article.cluster_id)
    return joined


def index_fingerprints(con: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> None:
    """Append the fingerprint row and band rows of each article's current text, under its
    cluster_id (set by assign_clusters, or kept by an update). An article with neither an exact
    key nor a signature adds nothing."""
    rows = []
    for a in articles:
        key, fp = exact_key_of(a), a.fingerprint
        signed = fp is not None and not fp.is_short
        if key is None and not signed:
            continue
        rows.append((a, key, fp if signed else None))
    if not rows:
        return
    fp_keys = np.array([key_hash(a.article_id) for a, _, _ in rows], np.int64)
    fingerprints = pa.table(
        {
            "article_id": [a.article_id for a, _, _ in rows],
            "fp_key": fp_keys,
            "cluster_id": [a.cluster_id or a.article_id for a, _, _ in rows],
            "scheme": [SCHEME.version if fp else None for _, _, fp in rows],
            "content_hash": [fp.content_hash if fp else a.content_hash for a, _, fp in rows],
            "exact_key": [key for _, key, _ in rows],
            "exact_hash": pa.array([key_hash(k) if k else None for _, k, _ in rows], pa.int64()),
            "n_tokens": pa.array([fp.n_tokens if fp else None for _, _, fp in rows], pa.int32()),
            "shingle_count": pa.array(
                [fp.shingle_count if fp else None for _, _, fp in rows], pa.int32()
            ),
            "lead_shingle_count": pa.array(
                [fp.lead_shingle_count if fp else None for _, _, fp in rows], pa.int32()
            ),
            "minhash": _signatures([fp.minhash if fp else None for _, _, fp in rows]),
            "lead_minhash": _signatures([fp.lead_minhash if fp else None for _, _, fp in rows]),
            "indexed_at": pa.array([a.fetched_at for a, _, _ in rows], TIMESTAMP),
        }
    )
    insert_table(con, "article_fingerprints", fingerprints)
    signed = [n for n, (_, _, fp) in enumerate(rows) if fp is not None]
    if not signed:
        return
    counts = [len(rows[n][2].bands) for n in signed]
    bands = pa.table(
        {
            "band": np.fromiter(
                (b for n in signed for b in rows[n][2].bands), np.int64, sum(counts)
            ),
            "fp_key": np.repeat(fp_keys[signed], counts),
            "indexed_at": pa.array(
                np.repeat([micros(rows[n][0].fetched_at) for n in signed], counts), pa.int64()
            ).cast(TIMESTAMP),
        }
    )
    insert_table(con, "article_bands", bands)


def _is_signed(article: Article) -> bool:
    return article.fingerprint is not None and not article.fingerprint.is_short


def _signatures(values: Sequence[tuple[int, ...] | None]) -> pa.Array:
    """A UINTEGER[] column built from one flat array (None: NULL), not from Python lists."""
    lengths = np.array([len(v) if v is not None else 0 for v in values], np.int32)
    offsets = np.zeros(len(values) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((x for v in values if v is not None for x in v), np.uint32, int(offsets[-1]))
    mask = pa.array([v is None for v in values])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat), mask=mask)


def _stored_exact(
    con: duckdb.DuckDBPyConnection, keys: set[str], since: datetime
) -> dict[str, str]:
    """The cluster of the first-seen text indexed since `since` of each exact key found."""
    if not keys:
        return {}
    hashes = integers(key_hash(k) for k in keys)
    # First the narrow columns, over the window; then the keys and clusters, over the span of
    # the texts found (copies are mostly of recent texts, so few row groups are read).
    first, last = con.execute(
        "SELECT min(indexed_at), max(indexed_at) FROM article_fingerprints "
        f"WHERE indexed_at >= ? AND exact_hash IN ({hashes})",
        [since],
    ).fetchone()
    if first is None:
        return {}
    rows = con.execute(
        "SELECT exact_key, arg_min(cluster_id, indexed_at) FROM article_fingerprints "
        f"WHERE indexed_at BETWEEN ? AND ? AND exact_hash IN ({hashes}) GROUP BY exact_key",
        [first, last],
    ).fetchall()
    return {key: cluster for key, cluster in rows if key in keys}
