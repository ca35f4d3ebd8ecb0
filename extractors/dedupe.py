"""Story fingerprints: exact copies by hash, near copies by MinHash over word shingles.

A body (display text, dateline and attribution already removed) is key-normalized
(`extractors.clean.normalize_key`), split into words, and turned into word K-shingles. From
those come an exact `content_hash`, a MinHash signature of the whole body, a second, smaller
signature of its lead (first LEAD_TOKENS words), and LSH band hashes of both. The warehouse
stores the band hashes and finds candidates with a join; `same_story` then decides from the
signatures. The lead signature exists for teasers: a first paragraph shares almost all of its
shingles with the full article's lead but few with the whole article (Jaccard 0.1-0.2), which
whole-body banding cannot find and whole-body estimates cannot verify. The hashing itself, array
code fixed by its seeds, is in extractors/hashing.py.

The constants were chosen with bench/dedupe_labels.py on the 106 labeled pairs of
tests/fixtures/dedupe/pairs.jsonl: with them, LSH candidates plus signature verification reach
precision 0.986 and recall 1.000 (0.975 and 0.994 expected over MinHash seeds). The one miss is
a template bulletin whose figures changed, which no text similarity can tell apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from extractors.hashing import (
    band_array,
    band_arrays,
    minhash_array,
    shingle_hashes,
    sorted_unique,
)

K = 3  # words per shingle
NUM_PERM = 128  # whole-body MinHash size
BANDS, ROWS = 32, 4  # whole-body LSH: BANDS bands of ROWS signature values (<= NUM_PERM)
LEAD_TOKENS = 40  # words in the lead
LEAD_PERM = 64  # lead MinHash size
LEAD_BANDS, LEAD_ROWS = 21, 3  # lead LSH (63 of the 64 values)
# Below this many key tokens a body is headline-sized (a one-line breaking item): a single shared
# phrase already gives it a high Jaccard/containment with unrelated items, so it gets no
# signature or bands and joins a cluster only as an exact copy with the same title (exact_key).
MIN_TOKENS = 20


@dataclass(frozen=True)
class Thresholds:
    """When two signatures are the same story (see is_near_duplicate)."""

    jaccard: float  # whole-body Jaccard: copies with other boilerplate or light edits
    containment: float  # smaller body inside the larger: truncated and abridged copies
    lead_containment: float  # smaller lead inside the larger lead: teasers, first paragraphs
    # The lead rule only holds for a teaser: a shorter body of at most this many shingles. A
    # longer one that merely opens like the other (a roundup, a follow-up) needs another rule.
    teaser_shingles: int


THRESHOLDS = Thresholds(
    jaccard=0.5,
    containment=0.75,
    lead_containment=0.8,
    teaser_shingles=3 * (LEAD_TOKENS - K + 1),  # three leads: a first paragraph or a summary
)


@dataclass(frozen=True)
class Scheme:
    """The shingling, MinHash and banding parameters; a fingerprint is only comparable with one
    made by the same scheme (see `version`)."""

    k: int = K
    num_perm: int = NUM_PERM
    bands: int = BANDS
    rows: int = ROWS
    lead_tokens: int = LEAD_TOKENS
    lead_perm: int = LEAD_PERM
    lead_bands: int = LEAD_BANDS
    lead_rows: int = LEAD_ROWS
    min_tokens: int = MIN_TOKENS

    @property
    def version(self) -> str:
        """A label to store next to signatures, e.g. 'mh1-k3-p128-32x4-l40p64-21x3-m20'."""
        return (
            f"mh1-k{self.k}-p{self.num_perm}-{self.bands}x{self.rows}-l{self.lead_tokens}"
            f"p{self.lead_perm}-{self.lead_bands}x{self.lead_rows}-m{self.min_tokens}"
        )


SCHEME = Scheme()


@dataclass(frozen=True)
class Fingerprint:
    """What the warehouse keeps of a body for dedupe.

    `minhash`, `lead_minhash` and `bands` are empty for a body under MIN_TOKENS key tokens.
    `bands` holds the whole-body bands, then the lead bands; every value fits a DuckDB BIGINT.
    """

    content_hash: str
    minhash: tuple[int, ...]
    bands: tuple[int, ...]
    n_tokens: int
    shingle_count: int
    lead_minhash: tuple[int, ...] = ()
    lead_shingle_count: int = 0

    @property
    def is_short(self) -> bool:
        """True when the body was too short for a signature (see MIN_TOKENS)."""
        return not self.minhash


def content_hash(key_text: str) -> str:
    """SHA-256 (first 32 hex digits) of key-normalized text with whitespace runs collapsed."""
    return hashlib.sha256(" ".join(key_text.split()).encode("utf-8")).hexdigest()[:32]


def shingles(key_text: str, k: int = K) -> set[int]:
    """The word k-shingles of key-normalized text, each hashed to a stable unsigned 64-bit int.

    A shingle's value is splitmix64(poly + words), where poly is the polynomial hash (base
    0x100000001B3, mod 2**64) of the shingle's UTF-8 bytes, words joined by one space. Unlike
    Python's hash() it is the same in every process. Text of fewer than k words is one shingle.
    """
    return set(shingle_hashes(" ".join(key_text.split()), k).tolist())


def minhash(shingles: set[int], num_perm: int = NUM_PERM) -> tuple[int, ...]:
    """MinHash signature: for each of `num_perm` fixed permutations, the smallest 32-bit image.

    Deterministic across processes and machines (seeds in extractors/hashing.py); the first n
    values of a longer signature equal the n-value signature. Raises ValueError for an empty set.
    """
    values = np.fromiter(shingles, np.uint64, count=len(shingles))
    return tuple(minhash_array(values, num_perm).tolist())


def band_hashes(
    sig: tuple[int, ...], bands: int = BANDS, rows: int | None = None, *, first_band: int = 0
) -> tuple[int, ...]:
    """LSH band hashes: the first bands x rows signature values cut into `bands` runs of `rows`
    (default len(sig) // bands), each hashed with its band index (first_band + i) to a
    non-negative 63-bit int (fits a DuckDB BIGINT). Equal hashes mean an equal band at the same
    index. Raises ValueError when the signature is too short."""
    rows = rows if rows is not None else len(sig) // max(bands, 1)
    return tuple(band_array(np.array(sig, np.uint64), bands, rows, first_band).tolist())


def jaccard(a: set[int], b: set[int]) -> float:
    """|A ∩ B| / |A ∪ B|; 0.0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def containment(small: set[int], big: set[int]) -> float:
    """Share of `small` found in `big`: |small ∩ big| / |small|; 0.0 when `small` is empty."""
    return len(small & big) / len(small) if small else 0.0


def estimate_jaccard(sig_a: tuple[int, ...], sig_b: tuple[int, ...]) -> float:
    """Jaccard estimate from two signatures of one scheme: the share of equal positions."""
    if not sig_a or len(sig_a) != len(sig_b):
        raise ValueError("signatures must be non-empty and of equal length")
    return sum(x == y for x, y in zip(sig_a, sig_b, strict=True)) / len(sig_a)


def estimate_containment(j: float, n_a: int, n_b: int) -> float:
    """Containment of the smaller set in the larger, from their Jaccard and sizes:
    |A ∩ B| = J(|A|+|B|)/(1+J), divided by the smaller size; clipped to [0, 1]."""
    small = min(n_a, n_b)
    if small <= 0:
        return 0.0
    return min(1.0, j * (n_a + n_b) / ((1.0 + j) * small))


def _fingerprint_words(key_text: str, n_tokens: int, scheme: Scheme) -> Fingerprint:
    """The fingerprint of key text whose n_tokens words are joined by single spaces."""
    digest = hashlib.sha256(key_text.encode("utf-8")).hexdigest()[:32]  # = content_hash()
    if n_tokens < scheme.min_tokens:
        return Fingerprint(digest, (), (), n_tokens, 0)
    in_order = shingle_hashes(key_text, scheme.k)
    values = sorted_unique(in_order)
    lead = sorted_unique(in_order[: max(1, scheme.lead_tokens - scheme.k + 1)])
    sig = minhash_array(values, scheme.num_perm)
    lead_sig = minhash_array(lead, scheme.lead_perm)
    bands = band_arrays(
        (
            (sig, scheme.bands, scheme.rows, 0),
            (lead_sig, scheme.lead_bands, scheme.lead_rows, scheme.bands),
        )
    )
    return Fingerprint(
        content_hash=digest,
        minhash=tuple(sig.tolist()),
        bands=tuple(bands.tolist()),
        n_tokens=n_tokens,
        shingle_count=len(values),
        lead_minhash=tuple(lead_sig.tolist()),
        lead_shingle_count=len(lead),
    )


def fingerprint_key(key_text: str, scheme: Scheme = SCHEME) -> Fingerprint | None:
    """fingerprint() for text that is already key-normalized; None when it has no words."""
    tokens = key_text.split()
    return _fingerprint_words(" ".join(tokens), len(tokens), scheme) if tokens else None


def fingerprint(
    body: str | None, scheme: Scheme = SCHEME, *, key: str | None = None
) -> Fingerprint | None:
    """Fingerprint a clean body (dateline and attribution already removed).

    Returns None when the body is missing or has no words after key normalization; a Fingerprint
    with empty signatures and bands when it has fewer than MIN_TOKENS key tokens. `key` is
    normalize_key(body) when the caller already has it (clean_body's CleanBody.key).
    """
    if not body:
        return None
    if key is None:
        from extractors.clean import normalize_key  # lazy: clean.py owns the key normalization

        key = normalize_key(body)
    # a key's words are joined by single spaces already: no need to split it as fingerprint_key
    return _fingerprint_words(key, key.count(" ") + 1, scheme) if key else None


def exact_key(fp: Fingerprint, title: str | None) -> str | None:
    """The key under which exact copies share a cluster.

    For a body of MIN_TOKENS key tokens or more: its content_hash. For a shorter body (a
    one-line breaking item, "details to follow"): a hash of the content_hash and the
    key-normalized title, so short items join only when both line and title are equal; None
    (the item stays alone) when there is no title.
    """
    if not fp.is_short:
        return fp.content_hash
    if not title or not title.strip():
        return None
    from extractors.clean import normalize_key

    return content_hash(f"{fp.content_hash} {normalize_key(title)}")


def is_near_duplicate(
    sig_a: tuple[int, ...],
    n_a: int,
    sig_b: tuple[int, ...],
    n_b: int,
    *,
    lead_a: tuple[tuple[int, ...], int] | None = None,
    lead_b: tuple[tuple[int, ...], int] | None = None,
    thresholds: Thresholds = THRESHOLDS,
) -> bool:
    """Same story, decided from stored signatures alone.

    `n_a`, `n_b` are shingle counts; `lead_a`, `lead_b` optional (lead signature, lead shingle
    count) pairs. True when the estimated Jaccard reaches thresholds.jaccard, or the estimated
    containment of the smaller body in the larger reaches thresholds.containment, or (given
    leads, and the shorter body has at most thresholds.teaser_shingles shingles) the estimated
    containment of the smaller lead in the larger reaches thresholds.lead_containment. False
    when either signature is empty (a short body).
    """
    if not sig_a or not sig_b:
        return False
    j = estimate_jaccard(sig_a, sig_b)
    if j >= thresholds.jaccard or estimate_containment(j, n_a, n_b) >= thresholds.containment:
        return True
    teaser = min(n_a, n_b) <= thresholds.teaser_shingles
    if teaser and lead_a and lead_b and lead_a[0] and lead_b[0]:
        j_lead = estimate_jaccard(lead_a[0], lead_b[0])
        c_lead = estimate_containment(j_lead, lead_a[1], lead_b[1])
        return c_lead >= thresholds.lead_containment
    return False


def same_story(
    a: Fingerprint | set[int],
    b: Fingerprint | set[int],
    thresholds: Thresholds = THRESHOLDS,
) -> bool:
    """The verification rule applied to LSH candidates.

    Two shingle sets: exact Jaccard >= thresholds.jaccard, or exact containment of the smaller
    in the larger >= thresholds.containment (sets under MIN_TOKENS - K + 1 shingles never
    match). Two Fingerprints: equal content_hash, else is_near_duplicate on their whole-body
    and lead signatures; a short fingerprint matches nothing here (see exact_key).
    """
    if isinstance(a, Fingerprint) and isinstance(b, Fingerprint):
        if a.is_short or b.is_short:
            return False
        if a.content_hash == b.content_hash:
            return True
        return is_near_duplicate(
            a.minhash,
            a.shingle_count,
            b.minhash,
            b.shingle_count,
            lead_a=(a.lead_minhash, a.lead_shingle_count),
            lead_b=(b.lead_minhash, b.lead_shingle_count),
            thresholds=thresholds,
        )
    if isinstance(a, set) and isinstance(b, set):
        small, big = (a, b) if len(a) <= len(b) else (b, a)
        if len(small) < MIN_TOKENS - K + 1:
            return False
        if jaccard(a, b) >= thresholds.jaccard:
            return True
        return containment(small, big) >= thresholds.containment
    raise TypeError("same_story compares two Fingerprints or two shingle sets, not a mix")


def same_story_many(
    a: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    thresholds: Thresholds = THRESHOLDS,
) -> tuple[np.ndarray, np.ndarray]:
    """`same_story` on P pairs of signed Fingerprints at once, for clustering a batch without a
    Python loop over its candidates. Each side is (content hash codes, minhash P x NUM_PERM,
    shingle counts, lead minhash P x LEAD_PERM, lead shingle counts); equal codes mean equal
    content hashes. Returns (accepted, estimated Jaccard) per pair: the same decisions and
    floats as same_story and estimate_jaccard (the same IEEE operations, in the same order)."""
    codes_a, sig_a, n_a, lead_a, lead_n_a = a
    codes_b, sig_b, n_b, lead_b, lead_n_b = b
    j = (sig_a == sig_b).sum(axis=1) / sig_a.shape[1]
    accepted = (codes_a == codes_b) | (j >= thresholds.jaccard)
    accepted |= _containment_many(j, n_a, n_b) >= thresholds.containment
    if lead_a.shape[1] and lead_b.shape[1]:
        teaser = np.minimum(n_a, n_b) <= thresholds.teaser_shingles
        j_lead = (lead_a == lead_b).sum(axis=1) / lead_a.shape[1]
        lead = _containment_many(j_lead, lead_n_a, lead_n_b) >= thresholds.lead_containment
        accepted |= teaser & lead
    return accepted, j


def _containment_many(j: np.ndarray, n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """estimate_containment over arrays."""
    small = np.minimum(n_a, n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.minimum(1.0, j * (n_a + n_b) / ((1.0 + j) * small))
    return np.where(small > 0, ratio, 0.0)
