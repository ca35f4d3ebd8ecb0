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
grow with the square of the collisions (bench/cluster_cpu.py). DuckDB counts the bands each
article shares with stored texts and with the batch's earlier articles and keeps the best
candidates (one GROUP BY and QUALIFY each); numpy then verifies every candidate pair of the batch
at once (`dedupe.same_story_many`); only the choice of cluster, which follows fetch order, is a
loop over the articles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from extractors import dedupe
from extractors.dedupe import SCHEME
from extractors.records import Article

# How far back copies are looked for, before the batch's first fetch: a lookup reads the rows of
# its window only, so its cost depends on how many articles a window holds, not on the history
# (bench/dedupe.py, 1M articles at 5,000 a day: 3 days cost 0.49 ms an article, 7 days 0.59).
NEAR_WINDOW = timedelta(days=3)  # LSH candidates: 53 band rows a text to scan
EXACT_WINDOW = timedelta(days=30)  # exact keys: one BIGINT a text, so a longer reach is cheap
# Verified candidates per article, stored and of the batch, the texts sharing the most bands
# first: bounds the work when a band is common (a template bulletin repeated every day).
MAX_CANDIDATES = 16
# Earlier texts of the batch a band counts for, the latest (see _batch_candidates).
BATCH_FANOUT = 64
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


class Signed:
    """The signed texts of a batch or of the store, as arrays for `dedupe.same_story_many`:
    row n is (content hash code, minhash, shingle count, lead minhash, lead shingle count), seen
    at `seen[n]` (microseconds since the epoch). Equal content hashes get equal codes from the
    shared `codes` dictionary."""

    def __init__(self, codes: dict[str, int], hashes: Iterable[str], columns: tuple) -> None:
        sig, counts, lead, lead_counts, seen = columns
        self.codes = np.array([codes.setdefault(h, len(codes)) for h in hashes], np.int64)
        self.sig, self.lead = sig, lead
        self.counts = np.asarray(counts, np.int64)
        self.lead_counts = np.asarray(lead_counts, np.int64)
        self.seen = np.asarray(seen, np.int64)

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, at: np.ndarray) -> tuple:
        return (self.codes[at], self.sig[at], self.counts[at], self.lead[at], self.lead_counts[at])

    def extend(self, other: Signed) -> Signed:
        """Self's rows, then other's."""
        both = Signed({}, (), ((), (), (), (), ()))
        both.codes = np.concatenate((self.codes, other.codes))
        both.sig = np.concatenate((self.sig.reshape(-1, other.sig.shape[1]), other.sig))
        both.lead = np.concatenate((self.lead.reshape(-1, other.lead.shape[1]), other.lead))
        both.counts = np.concatenate((self.counts, other.counts))
        both.lead_counts = np.concatenate((self.lead_counts, other.lead_counts))
        both.seen = np.concatenate((self.seen, other.seen))
        return both


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
    best = _near_copies(con, [articles[i] for i in signed], probing, since)
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
    _insert(con, "article_fingerprints", fingerprints)
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
                np.repeat([_micros(rows[n][0].fetched_at) for n in signed], counts), pa.int64()
            ).cast(TIMESTAMP),
        }
    )
    _insert(con, "article_bands", bands)


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


def _near_copies(
    con: duckdb.DuckDBPyConnection,
    batch: Sequence[Article],
    probing: Sequence[int],
    since: datetime,
) -> dict[int, str | int]:
    """For each of `probing` (places in `batch`, the signed articles in fetch order) that has
    one, its best near copy (module docstring, 3): a stored text's cluster_id, or the place of
    an earlier article of the batch (whose cluster is known only once it is clustered)."""
    if not probing:
        return {}
    codes: dict[str, int] = {}
    own = Signed(
        codes,
        (a.fingerprint.content_hash for a in batch),
        (
            np.array([a.fingerprint.minhash for a in batch], np.uint32),
            [a.fingerprint.shingle_count for a in batch],
            np.array([a.fingerprint.lead_minhash for a in batch], np.uint32),
            [a.fingerprint.lead_shingle_count for a in batch],
            [_micros(a.fetched_at) for a in batch],
        ),
    )
    counts = [len(a.fingerprint.bands) for a in batch]
    bands = np.fromiter((b for a in batch for b in a.fingerprint.bands), np.int64, sum(counts))
    places = np.repeat(np.arange(len(batch), dtype=np.int64), counts)
    by_band = np.lexsort((places, bands))  # by band, then fetch order
    bands, places = bands[by_band], places[by_band]
    keep = np.ones(len(bands), bool)  # a band repeated within one text counts once
    keep[1:] = (bands[1:] != bands[:-1]) | (places[1:] != places[:-1])
    bands, places = bands[keep], places[keep]
    wanted = np.zeros(len(batch), bool)
    wanted[np.asarray(probing, np.int64)] = True
    probe = wanted[places]
    fp_keys = np.array([key_hash(a.article_id) for a in batch], np.int64)
    chosen, span = _stored_candidates(con, bands[probe], places[probe], fp_keys, since)
    pairs = _batch_candidates(bands, places, wanted)
    stored, clusters, text_keys = _stored_texts(con, codes, set(chosen[1].tolist()), span)
    # Candidate pairs (probing place, pool row): the pool holds the stored texts, then the batch.
    by_key = np.argsort(text_keys, kind="stable")
    lo = np.searchsorted(text_keys[by_key], chosen[1], "left")
    per_key = np.searchsorted(text_keys[by_key], chosen[1], "right") - lo
    probe_at = np.concatenate((np.repeat(chosen[0], per_key), pairs[0]))
    pool_at = np.concatenate((by_key[_ranges(lo, per_key)], len(stored) + pairs[1]))
    pool = stored.extend(own)
    accepted, score = dedupe.same_story_many(own.rows(probe_at), pool.rows(pool_at))
    # Best: the highest estimated Jaccard, then the first seen, then the first listed.
    listed = np.flatnonzero(accepted)
    pick = listed[
        np.lexsort((listed, pool.seen[pool_at[listed]], -score[listed], probe_at[listed]))
    ]
    pick = pick[_starts(probe_at[pick])]
    best: dict[int, str | int] = {}
    for p, row in zip(probe_at[pick].tolist(), pool_at[pick].tolist(), strict=True):
        best[p] = clusters[row] if row < len(stored) else row - len(stored)
    return best


def _batch_candidates(
    bands: np.ndarray, places: np.ndarray, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each wanted place, the earlier places of the batch that share the most of its bands
    (at most MAX_CANDIDATES, the most first, then the first fetched), as (places, earlier
    places). `bands` and `places` list each text's distinct bands, sorted by band then place.
    A band counts for at most BATCH_FANOUT earlier texts, the latest: that bounds the pairs
    when one text is repeated throughout a batch (only its exact copies share that many)."""
    at = np.arange(len(bands))
    fan = np.minimum(at - np.maximum.accumulate(np.where(_starts(bands), at, 0)), BATCH_FANOUT)
    fan[~wanted[places]] = 0
    probe, held = np.repeat(places, fan), places[_ranges(at - fan, fan)]
    size = len(wanted)
    pairs, shared = np.unique(probe * size + held, return_counts=True)
    probe, held = pairs // size, pairs % size
    keep = _top(np.lexsort((held, -shared, probe)), probe)
    return probe[keep], held[keep]


def _stored_candidates(
    con: duckdb.DuckDBPyConnection,
    bands: np.ndarray,
    places: np.ndarray,
    fp_keys: np.ndarray,
    since: datetime,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[datetime, datetime] | None]:
    """For each probing place (its distinct `bands` listed with it in `places`, sorted by
    band), the fp_keys of the stored texts indexed since `since`, other than its own (fp_keys
    by place), that share the most LSH bands with it (at most MAX_CANDIDATES, the most first,
    then the first seen) as (places, fp_keys); and the span of the times those texts' bands were
    found at. DuckDB finds the band rows (a semi-join: each stored row once); numpy counts."""
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64)), None
    if not len(bands):
        return none
    con.register("clusters_probe", pa.table({"band": np.unique(bands)}))
    try:
        rows = con.execute(
            "SELECT band, fp_key, epoch_us(indexed_at) AS seen FROM article_bands "
            "WHERE indexed_at >= ? AND band IN (SELECT band FROM clusters_probe)",
            [since],
        ).fetchnumpy()
    finally:
        con.unregister("clusters_probe")
    if not len(rows["band"]):
        return none
    stored_keys, code = np.unique(rows["fp_key"], return_inverse=True)
    seen = rows["seen"].astype(np.int64)
    first_seen = np.full(len(stored_keys), np.iinfo(np.int64).max)
    last_seen = np.full(len(stored_keys), np.iinfo(np.int64).min)
    np.minimum.at(first_seen, code, seen)  # a revised text's key has two times
    np.maximum.at(last_seen, code, seen)
    lo = np.searchsorted(bands, rows["band"], "left")
    n = np.searchsorted(bands, rows["band"], "right") - lo
    probe, code, seen = places[_ranges(lo, n)], np.repeat(code, n), np.repeat(seen, n)
    other = stored_keys[code] != fp_keys[probe]
    probe, code, seen = probe[other], code[other], seen[other]
    size = len(stored_keys)
    pairs, at, shared = np.unique(probe * size + code, return_inverse=True, return_counts=True)
    since_pair = np.full(len(pairs), np.iinfo(np.int64).max)
    np.minimum.at(since_pair, at, seen)
    probe, code = pairs // size, pairs % size
    keep = _top(np.lexsort((stored_keys[code], since_pair, -shared, probe)), probe)
    if not len(keep):
        return none
    probe, code = probe[keep], code[keep]
    wanted = np.unique(code)
    span = (first_seen[wanted].min(), last_seen[wanted].max())
    return (probe, stored_keys[code]), tuple(EPOCH + timedelta(microseconds=int(t)) for t in span)


def _starts(values: np.ndarray) -> np.ndarray:
    """True where a run of equal values begins."""
    starts = np.ones(len(values), bool)
    starts[1:] = values[1:] != values[:-1]
    return starts


def _ranges(lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """lo[0], ..., lo[0] + n[0] - 1, lo[1], ...: the concatenated ranges, as indices."""
    ends = np.cumsum(n)
    return np.repeat(lo - ends + n, n) + np.arange(ends[-1] if len(ends) else 0)


def _top(order: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The first MAX_CANDIDATES of each group, `order` sorting by group then preference."""
    sorted_groups = groups[order]
    at = np.arange(len(order))
    rank = at - np.maximum.accumulate(np.where(_starts(sorted_groups), at, 0))
    return order[rank < MAX_CANDIDATES]


def _stored_texts(
    con: duckdb.DuckDBPyConnection,
    codes: dict[str, int],
    fp_keys: set[int],
    span: tuple[datetime, datetime] | None,
) -> tuple[Signed, list[str], np.ndarray]:
    """Signatures of the current scheme indexed within `span` (the times their bands were
    found at: a text and its bands are indexed together) with fp_key in `fp_keys`: as Signed
    rows, with their cluster_ids and fp_keys."""
    if not fp_keys or span is None:
        empty = np.zeros((0, 0), np.uint32)
        return Signed(codes, (), (empty, (), empty, (), ())), [], np.zeros(0, np.int64)
    rows = con.execute(
        f"""
        SELECT fp_key, cluster_id, content_hash, shingle_count, lead_shingle_count, minhash,
               lead_minhash, epoch_us(indexed_at) AS seen
        FROM article_fingerprints
        WHERE indexed_at BETWEEN ? AND ? AND fp_key IN ({_integers(sorted(fp_keys))})
          AND scheme = ? AND len(minhash) = ? AND len(lead_minhash) = ?
        """,
        [*span, SCHEME.version, SCHEME.num_perm, SCHEME.lead_perm],
    ).to_arrow_table()
    texts = Signed(
        codes,
        rows["content_hash"].to_pylist(),
        (
            _matrix(rows["minhash"], SCHEME.num_perm),
            rows["shingle_count"].to_numpy(),
            _matrix(rows["lead_minhash"], SCHEME.lead_perm),
            rows["lead_shingle_count"].to_numpy(),
            rows["seen"].to_numpy(),
        ),
    )
    return texts, rows["cluster_id"].to_pylist(), rows["fp_key"].to_numpy()


def _matrix(column: pa.ChunkedArray, width: int) -> np.ndarray:
    """A list column whose lists all hold `width` values, as a (rows, width) array."""
    flat = pc.list_flatten(column).to_numpy()
    return flat.astype(np.uint32, copy=False).reshape(-1, width)


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
