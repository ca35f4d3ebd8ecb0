"""Story clusters: which earlier article a new one copies, found through the warehouse.

Each fingerprinted text is kept in `article_fingerprints` (MinHash signatures, shingle counts,
exact key) and its LSH band hashes in `article_bands`, both appended in fetch order (migration
002). A new article joins the cluster of, in this order of preference:

1. the first-seen stored article with its exact key (`dedupe.exact_key`: the content hash, or
   for a short body the content hash with the title) fetched at most EXACT_WINDOW before;
2. the first earlier article of the same batch with its exact key;
3. its best-matching near copy: among the stored articles that share an LSH band with it and
   were fetched at most NEAR_WINDOW before the batch, and the earlier articles of the batch
   that share one, those that `dedupe.same_story` accepts on Fingerprints rebuilt from the
   stored signatures; best is the highest estimated Jaccard, then the first seen.

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
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from extractors import dedupe
from extractors.dedupe import SCHEME, Fingerprint
from extractors.records import Article

# How far back copies are looked for, before the batch's first fetch: a lookup reads the rows of
# its window only, so its cost depends on how many articles a window holds, not on the history
# (bench/dedupe.py, 1M articles at 5,000 a day: 3 days cost 0.49 ms an article, 7 days 0.59).
NEAR_WINDOW = timedelta(days=3)  # LSH candidates: 53 band rows a text to scan
EXACT_WINDOW = timedelta(days=30)  # exact keys: one BIGINT a text, so a longer reach is cheap
# Verified candidates per article, the stored articles sharing the most bands first: bounds the
# work when a band is common (a template bulletin repeated every day).
MAX_CANDIDATES = 16
TIMESTAMP = pa.timestamp("us", tz="UTC")
SIGNATURE = pa.list_(pa.uint32())
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def key_hash(text: str) -> int:
    """A 63-bit integer for a key: the first 8 bytes of its UTF-8 SHA-256 read big-endian,
    shifted right by one (migration 002 computes the same in SQL). Lookups compare the stored
    key as well, so a collision costs one wasted candidate, never a wrong cluster."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def exact_key_of(article: Article) -> str | None:
    """The key under which exact copies of `article` cluster: `dedupe.exact_key` of its
    fingerprint; without a fingerprint (no body, or a record built without one) its content
    hash; None when it has neither, or is a short body without a title."""
    if article.fingerprint is not None:
        return dedupe.exact_key(article.fingerprint, article.title)
    return article.content_hash


@dataclass(frozen=True)
class EarlierText:
    """A text seen before the one being clustered: a stored fingerprint or an earlier article
    of the batch."""

    article_id: str
    cluster_id: str
    fingerprint: Fingerprint
    seen_at: datetime


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
    unmatched = [a if keys[i] not in stored_exact else None for i, a in enumerate(articles)]
    stored_near = _stored_candidates(con, unmatched, first - (window or NEAR_WINDOW))
    batch_exact: dict[str, str] = {}
    batch_bands: dict[int, list[int]] = defaultdict(list)
    joined = 0
    for i in sorted(range(len(articles)), key=lambda n: articles[n].fetched_at):
        article, key, fp = articles[i], keys[i], articles[i].fingerprint
        cluster = (stored_exact.get(key) or batch_exact.get(key)) if key else None
        if cluster is None and fp is not None and not fp.is_short:
            earlier = stored_near[i] + _batch_candidates(articles, fp, batch_bands)
            best = _best_match(fp, earlier)
            cluster = best.cluster_id if best else None
        if cluster is None:
            article.cluster_id, article.duplicate_of = article.article_id, None
        else:
            article.cluster_id, article.duplicate_of = cluster, cluster
            joined += 1
        if key:
            batch_exact.setdefault(key, article.cluster_id)
        if fp is not None and not fp.is_short:
            for band in set(fp.bands):
                batch_bands[band].append(i)
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
    fingerprints = pa.table(
        {
            "article_id": [a.article_id for a, _, _ in rows],
            "fp_key": pa.array([key_hash(a.article_id) for a, _, _ in rows], pa.int64()),
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
            "minhash": pa.array([list(fp.minhash) if fp else None for _, _, fp in rows], SIGNATURE),
            "lead_minhash": pa.array(
                [list(fp.lead_minhash) if fp else None for _, _, fp in rows], SIGNATURE
            ),
            "indexed_at": pa.array([a.fetched_at for a, _, _ in rows], TIMESTAMP),
        }
    )
    _insert(con, "article_fingerprints", fingerprints)
    signed = [(a, fp) for a, _, fp in rows if fp is not None]
    if not signed:
        return
    counts = [len(fp.bands) for _, fp in signed]
    bands = pa.table(
        {
            "band": np.fromiter((b for _, fp in signed for b in fp.bands), np.int64, sum(counts)),
            "fp_key": np.repeat([key_hash(a.article_id) for a, _ in signed], counts),
            "indexed_at": pa.array(
                np.repeat([_micros(a.fetched_at) for a, _ in signed], counts), pa.int64()
            ).cast(TIMESTAMP),
        }
    )
    _insert(con, "article_bands", bands)


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:  # a naive time is UTC, as DuckDB reads it into TIMESTAMPTZ
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def _stored_exact(
    con: duckdb.DuckDBPyConnection, keys: set[str], since: datetime
) -> dict[str, str]:
    """The cluster of the first-seen text indexed since `since` of each exact key found."""
    if not keys:
        return {}
    hashes = _integers(key_hash(k) for k in keys)
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


def _stored_candidates(
    con: duckdb.DuckDBPyConnection, articles: Sequence[Article | None], since: datetime
) -> list[list[EarlierText]]:
    """For each article (None: none wanted), the stored texts indexed since `since` that share
    the most LSH bands with it (at most MAX_CANDIDATES articles), with their fingerprints."""
    positions: dict[int, list[int]] = defaultdict(list)  # band -> articles of the batch
    own: dict[int, int] = {}
    for i, a in enumerate(articles):
        if a is not None and a.fingerprint is not None and not a.fingerprint.is_short:
            own[i] = key_hash(a.article_id)
            for band in set(a.fingerprint.bands):
                positions[band].append(i)
    found: list[list[EarlierText]] = [[] for _ in articles]
    if not positions:
        return found
    con.register("probe_bands", pa.table({"band": pa.array(list(positions), pa.int64())}))
    try:
        rows = con.execute(
            "SELECT b.band, b.fp_key, b.indexed_at FROM article_bands b "
            "JOIN probe_bands p ON b.band = p.band WHERE b.indexed_at >= ?",
            [since],
        ).fetchall()
    finally:
        con.unregister("probe_bands")
    shared: list[Counter[int]] = [Counter() for _ in articles]
    times: dict[int, list[datetime]] = defaultdict(list)  # a revised text has two
    for band, fp_key, indexed_at in rows:
        times[fp_key].append(indexed_at)
        for i in positions[band]:
            if fp_key != own[i]:
                shared[i][fp_key] += 1
    chosen = [[k for k, _ in counts.most_common(MAX_CANDIDATES)] for counts in shared]
    wanted = {k for keys in chosen for k in keys}
    found_at = [t for k in wanted for t in times[k]]
    span = (min(found_at), max(found_at)) if found_at else None
    texts = _stored_texts(con, wanted, span)
    for i, keys in enumerate(chosen):
        found[i] = [text for k in keys for text in texts.get(k, ())]
    return found


def _stored_texts(
    con: duckdb.DuckDBPyConnection, fp_keys: set[int], span: tuple[datetime, datetime] | None
) -> dict[int, list[EarlierText]]:
    """Fingerprints of the current scheme indexed within `span` (the times their bands were
    found at: a text and its bands are indexed together), by fp_key."""
    if not fp_keys or span is None:
        return {}
    rows = con.execute(
        f"""
        SELECT fp_key, article_id, cluster_id, content_hash, n_tokens, shingle_count,
               lead_shingle_count, minhash, lead_minhash, indexed_at
        FROM article_fingerprints
        WHERE indexed_at BETWEEN ? AND ? AND fp_key IN ({_integers(sorted(fp_keys))})
          AND scheme = ?
        """,
        [*span, SCHEME.version],
    ).fetchall()
    texts: dict[int, list[EarlierText]] = defaultdict(list)
    for key, article_id, cluster_id, chash, n_tokens, count, lead_count, sig, lead, at in rows:
        fp = Fingerprint(chash, tuple(sig), (), n_tokens, count, tuple(lead), lead_count)
        texts[key].append(EarlierText(article_id, cluster_id, fp, at))
    return texts


def _batch_candidates(
    articles: Sequence[Article], fp: Fingerprint, batch_bands: dict[int, list[int]]
) -> list[EarlierText]:
    """Earlier articles of the batch sharing a band with `fp`, the most shared first."""
    shared = Counter(j for band in set(fp.bands) for j in batch_bands.get(band, ()))
    out = []
    for j, _ in shared.most_common(MAX_CANDIDATES):
        a = articles[j]
        if a.fingerprint is not None and a.cluster_id is not None:
            out.append(EarlierText(a.article_id, a.cluster_id, a.fingerprint, a.fetched_at))
    return out


def _best_match(fp: Fingerprint, earlier: Sequence[EarlierText]) -> EarlierText | None:
    """Of the texts `dedupe.same_story` accepts, the highest estimated Jaccard, then the first
    seen."""
    best: EarlierText | None = None
    best_score = -1.0
    for text in earlier:
        if not dedupe.same_story(fp, text.fingerprint):
            continue
        score = dedupe.estimate_jaccard(fp.minhash, text.fingerprint.minhash)
        if (
            best is None
            or score > best_score
            or (score == best_score and text.seen_at < best.seen_at)
        ):
            best, best_score = text, score
    return best


def _integers(values: Iterable[int]) -> str:
    """Integers as the items of an SQL IN list, written into the statement (int() lets nothing
    else through): fewer round trips than registering a probe table for a few hundred keys."""
    return ", ".join(str(int(v)) for v in values)


def _insert(con: duckdb.DuckDBPyConnection, table_name: str, rows: pa.Table) -> None:
    con.register("clusters_rows", rows)
    try:
        names = ", ".join(rows.column_names)
        con.execute(f"INSERT INTO {table_name} ({names}) SELECT {names} FROM clusters_rows")
    finally:
        con.unregister("clusters_rows")
