"""The array hashing behind dedupe's fingerprints: shingle hashes, MinHash, LSH band hashes.

extractors/dedupe.py states what a fingerprint is and decides when two are the same story; the
functions here compute its parts from bytes with numpy, on whole arrays, because fingerprinting
runs once per fetched page in every extraction worker. Every value is fixed by the constants and
seeds below, so fingerprints are equal in every process and on every machine: the warehouse
compares them with signatures stored by earlier runs. Changing any of them changes every
fingerprint, which `dedupe.Scheme.version` ("mh1-...") does not see: it needs a new label.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK63 = np.uint64((1 << 63) - 1)
# Polynomial string hash over UTF-8 bytes, mod 2**64 (an odd base is invertible mod 2**64).
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 1 << 64)
MAX_PERM = 256
_BLOCK = 1 << 16  # uint64 values in minhash_array's work array (512 KB)
_TABLE_BYTES = 1 << 15  # precomputed powers cover bodies up to 32 KB of key text


def _power_table(base: int, size: int) -> np.ndarray:
    table = np.full(size, base, np.uint64)
    table[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(table)


_POWERS = _power_table(_BASE, _TABLE_BYTES + 1)
_INVERSES = _power_table(_BASE_INV, _TABLE_BYTES + 1)


def _seed(label: str) -> int:
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")


# Permutation i is x -> (A[i] * x + B[i]) mod 2**64, keeping the top 32 bits (multiply-add-shift,
# Dietzfelbinger 1996): exact in numpy's wrapping uint64 arithmetic, where (a*x+b) mod (2**61-1)
# would need 128-bit products. Seeds: A[i] = blake2b("marsad/minhash/a/<i>") | 1,
# B[i] = blake2b("marsad/minhash/b/<i>"), 8-byte digests read little-endian.
_PERM_A = np.array([_seed(f"marsad/minhash/a/{i}") | 1 for i in range(MAX_PERM)], np.uint64)
_PERM_B = np.array([_seed(f"marsad/minhash/b/{i}") for i in range(MAX_PERM)], np.uint64)


_SPLITMIX = tuple(map(np.uint64, (30, 0xBF58476D1CE4E5B9, 27, 0x94D049BB133111EB, 31)))


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a bijection on uint64 that spreads every bit over all bits."""
    s1, m1, s2, m2, s3 = _SPLITMIX
    x = x ^ (x >> s1)
    x *= m1
    x ^= x >> s2
    x *= m2
    x ^= x >> s3
    return x


def shingle_hashes(key_text: str, k: int) -> np.ndarray:
    """64-bit hashes of the word k-shingles of single-spaced key text, in text order (one
    shingle when there are fewer than k words)."""
    data = np.frombuffer(key_text.encode("utf-8"), np.uint8)
    n = len(data)
    if n == 0:
        return np.zeros(0, np.uint64)
    ends = np.append(np.flatnonzero(data == 32), n)  # tokens hold no spaces: ends are spaces
    starts = np.concatenate(([0], ends[:-1] + 1))
    width = min(k, len(ends))
    first, last = starts[: len(ends) - width + 1], ends[width - 1 :]
    fits = n <= _TABLE_BYTES
    powers = _POWERS if fits else _power_table(_BASE, n + 1)
    inverse = _INVERSES if fits else _power_table(_BASE_INV, n + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, np.uint64)
        np.cumsum(data * powers[:n], out=prefix[1:])
        # hash of bytes [first, last) = (prefix[last] - prefix[first]) / BASE**first
        return _splitmix((prefix[last] - prefix[first]) * inverse[first] + np.uint64(width))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (np.unique without its extra work)."""
    values = np.sort(values)
    return values[np.append(True, values[1:] != values[:-1])] if len(values) else values


def minhash_array(values: np.ndarray, num_perm: int) -> np.ndarray:
    """`dedupe.minhash` of distinct uint64 shingle hashes, as a uint64 array of 32-bit values."""
    if not 0 < num_perm <= MAX_PERM:
        raise ValueError(f"num_perm must be between 1 and {MAX_PERM}, not {num_perm}")
    if values.size == 0:
        raise ValueError("cannot compute a MinHash signature of an empty shingle set")
    out = np.empty(num_perm, np.uint64)
    # permutations per block: keeps the work array (at most _BLOCK values) in the CPU cache, and
    # a body of a few hundred shingles in one block
    step = max(1, _BLOCK // values.size)
    with np.errstate(over="ignore"):
        for lo in range(0, num_perm, step):
            hi = min(lo + step, num_perm)
            block = _PERM_A[lo:hi, None] * values[None, :]
            block += _PERM_B[lo:hi, None]
            out[lo:hi] = block.min(axis=1)
    # the top 32 bits are monotone in the 64-bit value, so shifting the minimum is enough
    return out >> np.uint64(32)


def band_array(sig: np.ndarray, bands: int, rows: int, first_band: int) -> np.ndarray:
    """`dedupe.band_hashes` of a signature array, as a uint64 array of 63-bit values."""
    return band_arrays(((sig, bands, rows, first_band),))


def band_arrays(parts: tuple[tuple[np.ndarray, int, int, int], ...]) -> np.ndarray:
    """band_array of several (signature, bands, rows, first_band), concatenated: computed in one
    pass over all their bands (a fingerprint's whole-body and lead bands), a band that has fewer
    rows than others leaving the pass after its last."""
    for sig, bands, rows, _ in parts:
        if bands <= 0 or rows <= 0 or bands * rows > len(sig):
            raise ValueError(f"{bands} bands of {rows} rows need more than {len(sig)} values")
    order = sorted(range(len(parts)), key=lambda i: -parts[i][2])  # most rows first
    width = parts[order[0]][2]
    table = np.zeros((sum(p[1] for p in parts), width), np.uint64)
    acc = np.empty(len(table), np.uint64)
    lanes, at = [0] * width, 0  # lanes[c]: how many bands, first in `order`, have a row c
    for i in order:
        sig, bands, rows, first_band = parts[i]
        table[at : at + bands, :rows] = sig[: bands * rows].reshape(bands, rows)
        acc[at : at + bands] = np.arange(first_band + 1, first_band + bands + 1, dtype=np.uint64)
        at += bands
        lanes[:rows] = [at] * rows
    base, shift = np.uint64(_BASE), np.uint64(29)
    for column, n in enumerate(lanes):  # each step is a bijection of acc for a given column value
        live = acc[:n]
        live ^= table[:n, column]
        live *= base
        live ^= live >> shift
    acc = _splitmix(acc) & _MASK63
    if order == sorted(order):
        return acc
    starts = np.cumsum([0] + [parts[i][1] for i in order])
    return np.concatenate([acc[starts[k] : starts[k + 1]] for k in np.argsort(order)])
