"""Near-copy candidates of a batch: found by shared LSH bands, verified on their signatures.

The part of story clustering (warehouse/clusters.py, whose docstring states the rules) that finds,
for each signed article of a batch, its best near copy among the stored texts of the window and
the batch's earlier articles. Kept apart from the choice of cluster because it is the costly
part and is written as array code: texts share sentences (boilerplate lines, agency paragraphs)
and their bands collide, which made Python loops over bands or candidates grow with the square
of the collisions (bench/cluster_cpu.py). DuckDB finds the stored band rows the batch shares (a
semi-join over the window's row groups) and then the candidates' signatures; numpy counts the
bands each pair shares, keeps the best MAX_CANDIDATES of each article (stored, and of the batch),
and verifies every candidate pair at once (`dedupe.same_story_many`).
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

# Verified candidates per article, stored and of the batch, the texts sharing the most bands
# first: bounds the work when a band is common (a template bulletin repeated every day).
MAX_CANDIDATES = 16
# Earlier texts of the batch a band counts for, the latest (see _batch_candidates).
BATCH_FANOUT = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def key_hash(text: str) -> int:
    """A 63-bit integer for a key: the first 8 bytes of its UTF-8 SHA-256 read big-endian,
    shifted right by one (migration 002 computes the same in SQL). Lookups compare the stored
    key as well, so a collision costs one wasted candidate, never a wrong cluster."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def micros(moment: datetime) -> int:
    """`moment` in microseconds since the epoch, as DuckDB's epoch_us reads a TIMESTAMPTZ."""
    if moment.tzinfo is None:  # a naive time is UTC, as DuckDB reads it into TIMESTAMPTZ
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


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


def near_copies(
    con: duckdb.DuckDBPyConnection,
    batch: Sequence[Article],
    probing: Sequence[int],
    since: datetime,
) -> dict[int, str | int]:
    """For each of `probing` (places in `batch`, the signed articles in fetch order) that has
    one, its best near copy (rule 3 of the warehouse.clusters docstring): a stored text's
    cluster_id, or the place of an earlier article of the batch (whose cluster is known only once
    it is clustered)."""
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
            [micros(a.fetched_at) for a in batch],
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
        WHERE indexed_at BETWEEN ? AND ? AND fp_key IN ({integers(sorted(fp_keys))})
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


def integers(values: Iterable[int]) -> str:
    """Integers as the items of an SQL IN list, written into the statement (int() lets nothing
    else through): fewer round trips than registering a probe table for a few hundred keys."""
    return ", ".join(str(int(v)) for v in values)
