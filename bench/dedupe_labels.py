"""Choose the dedupe constants by measurement on the labeled pairs.

    python bench/dedupe_labels.py [--pairs FILE] [--top N]

For every setting of the grid (shingle size k, MinHash size, whole-body bands x rows, lead
length and lead bands x rows, thresholds) it fingerprints both texts of every pair in
tests/fixtures/dedupe/pairs.jsonl and predicts "same story" as the pipeline does: equal
exact_key, or an LSH candidate (a shared band) that passes verification. Verification is done
from signatures (what the warehouse can do) and, for comparison, from exact shingle sets.
Positives are the labels duplicate, near and teaser; same_event and different are negatives.

Printed: the best thresholds of each setting, sorted by F1; the shipped setting
(extractors/dedupe.py) with its misses and threshold sweep; the LSH S-curve of the shipped
bands; the time fingerprint() takes on a 500-word body.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from extractors import dedupe
from extractors.clean import normalize_key
from extractors.dedupe import Fingerprint, Scheme, Thresholds

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "tests" / "fixtures" / "dedupe" / "pairs.jsonl"
POSITIVE = {"duplicate", "near", "teaser"}

KS = (2, 3, 4, 5)
PERMS = (64, 128, 256)
LEADS = (30, 40, 60)
ROWS = (2, 3, 4, 5, 8)  # whole-body rows per band; bands = num_perm // rows
LEAD_ROWS = (2, 3, 4)  # lead rows per band; bands = LEAD_PERM // rows
TJ = (0.3, 0.4, 0.5, 0.6, 0.7)
TC = (0.6, 0.7, 0.75, 0.8, 0.9, 2.0)  # 2.0 = rule off
TL = (0.6, 0.7, 0.8, 0.9, 2.0)
TEASER = (1, 2, 3, 4, 1000)  # the lead rule holds for shorter bodies up to this many leads long


@dataclass
class PairScores:
    """What verification needs from one pair under one signature setting."""

    exact: bool  # equal exact_key
    indexed: bool  # both bodies have signatures
    j_est: float
    c_est: float
    cl_est: float
    n_small: int  # shingle count of the shorter body
    j: float  # exact Jaccard of the shingle sets
    c: float  # exact containment of the smaller set in the larger
    j_lead: float  # exact Jaccard of the leads' shingle sets
    a: Fingerprint | None
    b: Fingerprint | None


def load_pairs(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


_KEYS: dict[str, str] = {}


def key_text(text: str) -> str:
    """normalize_key, remembered: the grid fingerprints every text once per setting."""
    if text not in _KEYS:
        _KEYS[text] = normalize_key(text)
    return _KEYS[text]


def score_pairs(pairs: list[dict[str, str]], scheme: Scheme) -> list[PairScores]:
    cache: dict[str, tuple[Fingerprint | None, set[int], set[int]]] = {}

    def get(text: str) -> tuple[Fingerprint | None, set[int], set[int]]:
        if text not in cache:
            key = key_text(text)
            lead = " ".join(key.split()[: scheme.lead_tokens])
            cache[text] = (
                dedupe.fingerprint_key(key, scheme),
                dedupe.shingles(key, scheme.k),
                dedupe.shingles(lead, scheme.k),
            )
        return cache[text]

    out = []
    for pair in pairs:
        (fa, sa, la), (fb, sb, lb) = get(pair["a"]), get(pair["b"])
        ka = dedupe.exact_key(fa, pair.get("title_a")) if fa else None
        kb = dedupe.exact_key(fb, pair.get("title_b")) if fb else None
        j_est = c_est = cl_est = 0.0
        n_small = 0
        if fa and fb and not fa.is_short and not fb.is_short:
            j_est = dedupe.estimate_jaccard(fa.minhash, fb.minhash)
            c_est = dedupe.estimate_containment(j_est, fa.shingle_count, fb.shingle_count)
            jl = dedupe.estimate_jaccard(fa.lead_minhash, fb.lead_minhash)
            cl_est = dedupe.estimate_containment(jl, fa.lead_shingle_count, fb.lead_shingle_count)
            n_small = min(fa.shingle_count, fb.shingle_count)
        small, big = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
        out.append(
            PairScores(
                exact=ka is not None and ka == kb,
                indexed=n_small > 0,
                j_est=j_est,
                c_est=c_est,
                cl_est=cl_est,
                n_small=n_small,
                j=dedupe.jaccard(sa, sb),
                c=dedupe.containment(small, big),
                j_lead=dedupe.jaccard(la, lb),
                a=fa,
                b=fb,
            )
        )
    return out


def verified(s: PairScores, t: Thresholds, exact_sets: bool) -> bool:
    """Verification of an LSH candidate; mirrors dedupe.same_story."""
    if not s.indexed:
        return False
    if exact_sets:
        return s.j >= t.jaccard or s.c >= t.containment
    if s.j_est >= t.jaccard or s.c_est >= t.containment:
        return True
    return s.n_small <= t.teaser_shingles and s.cl_est >= t.lead_containment


def shares_band(s: PairScores, scheme: Scheme) -> bool:
    if not s.indexed or s.a is None or s.b is None:
        return False
    for sig_a, sig_b, bands, rows in (
        (s.a.minhash, s.b.minhash, scheme.bands, scheme.rows),
        (s.a.lead_minhash, s.b.lead_minhash, scheme.lead_bands, scheme.lead_rows),
    ):
        if set(dedupe.band_hashes(sig_a, bands, rows)) & set(
            dedupe.band_hashes(sig_b, bands, rows)
        ):
            return True
    return False


def candidate_probability(s: PairScores, scheme: Scheme) -> float:
    """Chance over random seeds that the pair shares a band, from its exact Jaccards."""
    if s.exact:
        return 1.0
    if not s.indexed:
        return 0.0
    miss_body = (1 - s.j**scheme.rows) ** scheme.bands
    miss_lead = (1 - s.j_lead**scheme.lead_rows) ** scheme.lead_bands
    return 1 - miss_body * miss_lead


def threshold_grid(scheme: Scheme) -> list[Thresholds]:
    lead_shingles = scheme.lead_tokens - scheme.k + 1
    return [
        Thresholds(tj, tc, tl, n * lead_shingles)
        for tj, tc, tl, n in itertools.product(TJ, TC, TL, TEASER)
    ]


@dataclass
class Row:
    scheme: Scheme
    thresholds: Thresholds
    precision: float
    recall: float
    f1: float
    cand_recall: float  # positives sharing a band with these seeds
    exp_precision: float  # expected over seeds: P(candidate) x verified, per pair
    exp_recall: float
    exp_cand_recall: float  # expected over seeds
    exp_cand_negative: float  # expected share of negatives that become candidates
    exact_thresholds: Thresholds
    exact_f1: tuple[float, float, float]


def prf(pred: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Precision, recall, F1 for each row of a (settings x pairs) prediction matrix."""
    tp = (pred & positive).sum(axis=1)
    predicted = pred.sum(axis=1)
    precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 1.0)
    recall = tp / positive.sum()
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-9), 0.0)
    return np.stack([precision, recall, f1], axis=1)


def expected_pr(p_same: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Expected precision and recall when pair i is predicted same with probability p_same[i]."""
    tp = p_same[positive].sum()
    return (tp / p_same.sum() if p_same.sum() else 1.0), tp / positive.sum()


def best_index(scores: np.ndarray, grid: list[Thresholds]) -> int:
    """Highest F1, then recall, then the strictest thresholds (the most margin)."""
    strictness = np.array(
        [
            t.jaccard + min(t.containment, 1) + min(t.lead_containment, 1) - t.teaser_shingles / 1e5
            for t in grid
        ]
    )
    order = np.lexsort((strictness, scores[:, 1].round(4), scores[:, 2].round(4)))
    return int(order[-1])


def grid_rows(pairs: list[dict[str, str]]) -> list[Row]:
    positive = np.array([p["label"] in POSITIVE for p in pairs])
    rows: list[Row] = []
    for k, perm, lead in itertools.product(KS, PERMS, LEADS):
        base = Scheme(
            k=k, num_perm=perm, bands=1, rows=1, lead_tokens=lead, lead_bands=1, lead_rows=1
        )
        scores = score_pairs(pairs, base)
        grid = threshold_grid(base)
        exact = np.array([s.exact for s in scores])
        sig_ok = np.array([[verified(s, t, False) for s in scores] for t in grid])
        set_ok = np.array([[verified(s, t, True) for s in scores] for t in grid])
        for r, lr in itertools.product(ROWS, LEAD_ROWS):
            scheme = Scheme(
                k=k,
                num_perm=perm,
                bands=perm // r,
                rows=r,
                lead_tokens=lead,
                lead_bands=dedupe.LEAD_PERM // lr,
                lead_rows=lr,
            )
            candidate = np.array([s.exact or shares_band(s, scheme) for s in scores])
            expected = np.array([candidate_probability(s, scheme) for s in scores])
            sig = prf(exact | (candidate & sig_ok), positive)
            ex = prf(exact | (candidate & set_ok), positive)
            i, i_ex = best_index(sig, grid), best_index(ex, grid)
            exp_p, exp_r = expected_pr(np.where(exact, 1.0, expected * sig_ok[i]), positive)
            rows.append(
                Row(
                    scheme,
                    grid[i],
                    *sig[i],
                    candidate[positive].mean(),
                    exp_p,
                    exp_r,
                    expected[positive].mean(),
                    expected[~positive].mean(),
                    grid[i_ex],
                    tuple(ex[i_ex]),
                )
            )
    return rows


def fmt(x: float) -> str:
    return "off" if x > 1 else f"{x:.2f}"


def print_grid(rows: list[Row], top: int) -> None:
    print("Best thresholds of each setting with signature verification (what the warehouse runs);")
    print("right: best exact shingle-set verification (Jaccard or containment, no lead rule).")
    print("E[P], E[R]: precision and recall expected over MinHash seeds (each pair counts with its")
    print("chance of sharing a band); candR: positives that shared a band, E[cR] its expectation;")
    print("E[cN]: expected share of negatives (same event, different) that become candidates.")
    head = (
        f"{'k':>2} {'perm':>4} {'body':>5} {'lead':>4} {'lbxr':>5} {'tJ':>4} {'tC':>4} "
        f"{'tL':>4} {'tsh':>4} | {'P':>5} {'R':>5} {'F1':>5} {'E[P]':>5} {'E[R]':>5} "
        f"{'candR':>5} {'E[cR]':>5} {'E[cN]':>5} | {'tJ':>4} {'tC':>4} {'P_ex':>5} {'R_ex':>5} "
        f"{'F1_ex':>5}"
    )
    print(head)
    print("-" * len(head))
    rows = sorted(
        rows,
        key=lambda r: (
            -round(r.f1, 3),
            -round(r.exp_precision + r.exp_recall, 3),
            r.exp_cand_negative,
            r.scheme.num_perm,
        ),
    )
    for i, row in enumerate(rows):
        s, t, tx = row.scheme, row.thresholds, row.exact_thresholds
        mark = "  <- shipped" if s == dedupe.SCHEME else ""
        if i < top or mark:
            print(
                f"{s.k:>2} {s.num_perm:>4} {s.bands:>2}x{s.rows:<2} {s.lead_tokens:>4} "
                f"{s.lead_bands:>2}x{s.lead_rows:<2} {t.jaccard:>4.2f} {fmt(t.containment):>4} "
                f"{fmt(t.lead_containment):>4} {t.teaser_shingles:>4} | {row.precision:>5.3f} "
                f"{row.recall:>5.3f} {row.f1:>5.3f} {row.exp_precision:>5.3f} "
                f"{row.exp_recall:>5.3f} {row.cand_recall:>5.3f} "
                f"{row.exp_cand_recall:>5.3f} {row.exp_cand_negative:>5.3f} | "
                f"{tx.jaccard:>4.2f} {fmt(tx.containment):>4} {row.exact_f1[0]:>5.3f} "
                f"{row.exact_f1[1]:>5.3f} {row.exact_f1[2]:>5.3f}{mark}"
            )


def print_shipped(pairs: list[dict[str, str]]) -> None:
    scheme, t = dedupe.SCHEME, dedupe.THRESHOLDS
    scores = score_pairs(pairs, scheme)
    positive = np.array([p["label"] in POSITIVE for p in pairs])
    candidate = np.array([s.exact or shares_band(s, scheme) for s in scores])
    expected = np.array([candidate_probability(s, scheme) for s in scores])
    print(f"\nShipped: {scheme.version}\n  {t}")
    for name, exact_sets in (("signatures", False), ("exact sets", True)):
        ok = np.array(
            [
                s.exact or (c and verified(s, t, exact_sets))
                for s, c in zip(scores, candidate, strict=True)
            ]
        )
        p, r, f1 = prf(ok[None, :], positive)[0]
        print(f"  verified by {name:<10}: precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}")
    ok = np.array([verified(s, t, False) for s in scores])
    exp_p, exp_r = expected_pr(np.where([s.exact for s in scores], 1.0, expected * ok), positive)
    print(f"  expected over MinHash seeds: precision {exp_p:.3f}  recall {exp_r:.3f}")
    print(
        f"  LSH candidate recall {candidate[positive].mean():.3f} (expected over seeds "
        f"{expected[positive].mean():.3f}); negatives that were candidates "
        f"{candidate[~positive].mean():.3f} (expected {expected[~positive].mean():.3f})"
    )
    by_label: dict[str, list[bool]] = {}
    for pair, s, c in zip(pairs, scores, candidate, strict=True):
        same = s.exact or (c and verified(s, t, False))
        if c and not s.exact and s.a and s.b:  # the bench's rule is the module's rule
            assert dedupe.same_story(s.a, s.b, t) == same, pair["origin"]
        by_label.setdefault(pair["label"], []).append(bool(same))
    print(
        "  predicted same story, by label: "
        + ", ".join(f"{label} {sum(v)}/{len(v)}" for label, v in by_label.items())
    )
    print("  misclassified (label, J, C, J_lead, J_est, C_est, CL_est, P(candidate), origin):")
    for pair, s, c in zip(pairs, scores, candidate, strict=True):
        same = s.exact or (c and verified(s, t, False))
        if same != (pair["label"] in POSITIVE):
            print(
                f"    {pair['label']:<10} {s.j:.2f} {s.c:.2f} {s.j_lead:.2f} {s.j_est:.2f} "
                f"{s.c_est:.2f} {s.cl_est:.2f} {candidate_probability(s, scheme):.2f} "
                f"{pair['origin']}"
            )
    print(f"\n  threshold sweep (signature verification, teaser_shingles {t.teaser_shingles}):")
    print(f"  {'tJ':>4} {'tC':>4} {'tL':>4}  {'P':>5} {'R':>5} {'F1':>5}")
    for tj, tc, tl in itertools.product(TJ, (0.6, 0.75, 0.9, 2.0), (0.7, 0.8, 0.9, 2.0)):
        sweep = Thresholds(tj, tc, tl, t.teaser_shingles)
        ok = np.array(
            [
                s.exact or (c and verified(s, sweep, False))
                for s, c in zip(scores, candidate, strict=True)
            ]
        )
        p, r, f1 = prf(ok[None, :], positive)[0]
        print(f"  {tj:>4.2f} {fmt(tc):>4} {fmt(tl):>4}  {p:>5.3f} {r:>5.3f} {f1:>5.3f}")


def print_s_curve() -> None:
    s = dedupe.SCHEME
    print(
        f"\nLSH S-curve, P(candidate) = 1 - (1 - J^r)^b: body {s.bands}x{s.rows}, lead "
        f"{s.lead_bands}x{s.lead_rows}; in brackets: candidates per 1M stored articles at that J"
    )
    for j in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9):
        p_body = 1 - (1 - j**s.rows) ** s.bands
        p_lead = 1 - (1 - j**s.lead_rows) ** s.lead_bands
        print(
            f"  J={j:<4}  body {p_body:6.4f} ({p_body * 1e6:7.0f})   "
            f"lead {p_lead:6.4f} ({p_lead * 1e6:7.0f})"
        )


def print_timing(pairs: list[dict[str, str]]) -> None:
    text = " ".join(" ".join(p["a"] for p in pairs[:40]).split()[:500])
    key = normalize_key(text)

    def best_and_median(fn, n: int = 200) -> tuple[float, float]:
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples.append((time.perf_counter() - start) / n * 1e6)
        return min(samples), statistics.median(samples)

    print(f"\nTime per call on a {len(text.split())}-word body, best / median of 7 runs:")
    for label, fn in (
        ("fingerprint(body)", lambda: dedupe.fingerprint(text)),
        ("fingerprint_key(key), no normalize_key", lambda: dedupe.fingerprint_key(key)),
        ("normalize_key(body) alone", lambda: normalize_key(text)),
    ):
        best, median = best_and_median(fn)
        print(f"  {label:<40} {best:7.1f} us {median:7.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--top", type=int, default=30, help="grid rows to print")
    args = parser.parse_args()
    pairs = load_pairs(args.pairs)
    n_pos = sum(p["label"] in POSITIVE for p in pairs)
    print(f"{len(pairs)} labeled pairs: {n_pos} positive, {len(pairs) - n_pos} negative\n")
    print_grid(grid_rows(pairs), args.top)
    print_shipped(pairs)
    print_s_curve()
    print_timing(pairs)


if __name__ == "__main__":
    main()
