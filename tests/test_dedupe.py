"""Dedupe fingerprints: hashes, shingles, MinHash, bands, the decision rules, the labeled set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest

from extractors import dedupe
from extractors.clean import normalize_key
from extractors.dedupe import (
    MIN_TOKENS,
    NUM_PERM,
    THRESHOLDS,
    Fingerprint,
    K,
    band_hashes,
    containment,
    content_hash,
    estimate_containment,
    estimate_jaccard,
    exact_key,
    fingerprint,
    fingerprint_key,
    is_near_duplicate,
    jaccard,
    minhash,
    same_story,
    shingles,
)

PAIRS_FILE = Path(__file__).parent / "fixtures" / "dedupe" / "pairs.jsonl"
PAIRS = [json.loads(line) for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines()]
POSITIVE = {"duplicate", "near", "teaser"}
# Measured with bench/dedupe_labels.py for the shipped constants: precision 0.986, recall 1.000.
MEASURED_PRECISION, MEASURED_RECALL, MARGIN = 0.986, 1.000, 0.03


def pair(tag: str) -> dict[str, str]:
    (found,) = [p for p in PAIRS if tag in p["origin"]]
    return found


AJ = pair("[ND04]")["a"]  # the appendix AJ text of arabic-cases.md
WORDS = [f"w{i}" for i in range(400)]


def text_of(words: list[str]) -> str:
    return " ".join(words)


# -- hashes and shingles ---------------------------------------------------------------------


def test_content_hash_ignores_whitespace_layout_only():
    assert content_hash("a  b\n\nc ") == content_hash("a b c")
    assert content_hash("a b c") != content_hash("a b d")
    assert len(content_hash("a")) == 32
    int(content_hash("a"), 16)


def test_shingles_are_word_k_grams_hashed_to_64_bits():
    values = shingles("a b c d e", k=3)
    assert len(values) == 3
    assert all(0 <= v < 2**64 for v in values)
    assert shingles("a b c d e", k=3) == shingles(" a  b c d\ne ", k=3)


def test_shingles_depend_on_word_order_and_k():
    assert shingles("a b c", k=3) != shingles("c b a", k=3)
    assert shingles("a b c d", k=2) != shingles("a b c d", k=3)
    assert shingles("a b c d", k=2) & shingles("x a b y", k=2)  # "a b" is shared


def test_text_shorter_than_k_is_one_shingle_and_empty_text_none():
    assert len(shingles("one two", k=3)) == 1
    assert shingles("", k=3) == set()


def test_shingles_of_arabic_text_distinguish_words():
    key = normalize_key(AJ)
    values = shingles(key)
    assert len(values) == len(key.split()) - K + 1 - _repeats(key.split())


def _repeats(tokens: list[str]) -> int:
    grams = [tuple(tokens[i : i + K]) for i in range(len(tokens) - K + 1)]
    return len(grams) - len(set(grams))


# -- MinHash and bands -----------------------------------------------------------------------


def test_minhash_has_num_perm_32_bit_values_and_longer_signatures_extend_shorter_ones():
    sig = minhash(shingles(text_of(WORDS[:100])), 128)
    assert len(sig) == 128
    assert all(0 <= v < 2**32 for v in sig)
    assert minhash(shingles(text_of(WORDS[:100])), 64) == sig[:64]


def test_minhash_of_an_empty_set_or_bad_size_is_an_error():
    with pytest.raises(ValueError):
        minhash(set())
    with pytest.raises(ValueError):
        minhash({1, 2}, num_perm=0)
    with pytest.raises(ValueError):
        minhash({1, 2}, num_perm=100_000)


@pytest.mark.parametrize("shift", [0, 20, 60, 100, 150, 200])
def test_estimated_jaccard_tracks_exact_jaccard(shift):
    a, b = shingles(text_of(WORDS[:200])), shingles(text_of(WORDS[shift : shift + 200]))
    exact = jaccard(a, b)
    estimate = estimate_jaccard(minhash(a), minhash(b))
    assert abs(estimate - exact) < 0.13  # 3 standard deviations at J=0.5 with 128 values


def test_estimated_jaccard_is_unbiased_over_many_independent_pairs():
    errors = []
    for trial in range(60):  # J = 0.5 each time; standard error of the mean about 0.006
        words = [f"t{trial}w{i}" for i in range(400)]
        a, b = shingles(text_of(words[:300])), shingles(text_of(words[100:400]))
        errors.append(estimate_jaccard(minhash(a), minhash(b)) - jaccard(a, b))
    assert abs(sum(errors) / len(errors)) < 0.025


def test_estimated_containment_from_jaccard_and_sizes():
    assert estimate_containment(0.25, 25, 100) == pytest.approx(1.0)  # A inside B
    assert estimate_containment(0.0, 10, 10) == 0.0
    assert estimate_containment(1.0, 50, 50) == 1.0
    assert estimate_containment(0.5, 0, 10) == 0.0


def test_band_hashes_fit_a_signed_bigint_and_equal_bands_give_equal_hashes():
    sig = minhash(shingles(text_of(WORDS[:100])))
    other = list(sig)
    other[5] += 1  # row 5 lies in band 1 (rows 4..7) with 32 bands of 4
    bands, changed = band_hashes(sig, 32), band_hashes(tuple(other), 32)
    assert len(bands) == 32
    assert all(0 <= h < 2**63 for h in bands)
    assert [i for i in range(32) if bands[i] != changed[i]] == [1]


def test_band_index_is_part_of_the_hash():
    sig = (7, 7, 7, 7) * 4
    assert len(set(band_hashes(sig, 4))) == 4
    assert band_hashes(sig, 4, first_band=4) != band_hashes(sig, 4)


def test_band_hashes_use_the_first_bands_times_rows_values():
    sig = tuple(range(64))
    assert len(band_hashes(sig, 21, 3)) == 21
    assert band_hashes(sig, 21, 3) == band_hashes((*sig[:63], 999), 21, 3)
    with pytest.raises(ValueError):
        band_hashes(sig, 33, 2)


def test_jaccard_and_containment_on_sets():
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 0.0
    assert containment({1, 2}, {1, 2, 3, 4}) == 1.0
    assert containment(set(), {1}) == 0.0


# -- fingerprints ----------------------------------------------------------------------------


def test_fingerprint_of_a_body():
    fp = fingerprint(AJ)
    assert fp is not None and not fp.is_short
    key = normalize_key(AJ)
    assert fp.content_hash == content_hash(key)
    assert fp.n_tokens == len(key.split())
    assert fp.shingle_count == len(shingles(key))
    assert fp.minhash == minhash(shingles(key), NUM_PERM)
    assert len(fp.minhash) == NUM_PERM and len(fp.lead_minhash) == dedupe.LEAD_PERM
    assert len(fp.bands) == dedupe.BANDS + dedupe.LEAD_BANDS
    assert fp.lead_shingle_count == dedupe.LEAD_TOKENS - K + 1


def test_fingerprint_of_nothing_is_none():
    assert fingerprint(None) is None
    assert fingerprint("") is None
    assert fingerprint("« » ، ؟ ...") is None


def test_spelling_variants_give_the_same_fingerprint():
    nd03 = pair("[ND03]")  # BT vs the same text with other spelling habits
    a, b = fingerprint(nd03["a"]), fingerprint(nd03["b"])
    assert a is not None and b is not None
    assert a.content_hash == b.content_hash
    assert a.minhash == b.minhash and a.bands == b.bands


DETERMINISM_SCRIPT = """
import json, sys
from extractors.dedupe import fingerprint_key
fp = fingerprint_key(sys.stdin.read())
print(json.dumps([fp.content_hash, fp.minhash, fp.bands, fp.lead_minhash]))
"""


@pytest.mark.integration
def test_fingerprints_are_the_same_in_another_process():
    key = normalize_key(AJ)
    here = fingerprint_key(key)
    assert here is not None
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", DETERMINISM_SCRIPT],
        input=key,
        capture_output=True,
        check=True,
        env=env,
        encoding="utf-8",
    )
    there = json.loads(result.stdout)
    assert there == [
        here.content_hash,
        list(here.minhash),
        list(here.bands),
        list(here.lead_minhash),
    ]


# -- the short-body rule ---------------------------------------------------------------------

FLASHES = [
    "عاجل | وفد أمني عراقي رفيع يصل دمشق خلال الأيام المقبلة",
    "عاجل | وفد أمني سوري رفيع يصل بغداد خلال الأيام المقبلة",
    "عاجل | انفجار يهز العاصمة بغداد خلال الساعات المقبلة",
    "التفاصيل لاحقاً",
    "التفاصيل لاحقاً",
]


def test_min_tokens_boundary():
    assert fingerprint(text_of(WORDS[: MIN_TOKENS - 1])).is_short
    long_enough = fingerprint(text_of(WORDS[:MIN_TOKENS]))
    assert not long_enough.is_short and long_enough.bands


def test_a_short_body_has_no_signature_or_bands_and_never_matches_by_signature():
    short = fingerprint(FLASHES[0])
    assert short is not None and short.is_short
    assert short.minhash == () and short.bands == () and short.shingle_count == 0
    assert not same_story(short, short)
    assert not is_near_duplicate(short.minhash, 0, short.minhash, 0)


def test_one_line_breaking_items_do_not_fall_into_one_cluster():
    titles = [
        "وفد عراقي يصل دمشق",
        "وفد سوري يصل بغداد",
        "انفجار في بغداد",
        "انفجار في البصرة",
        "استقالة محافظ نينوى",
    ]
    keys = [
        exact_key(fingerprint(body), title) for body, title in zip(FLASHES, titles, strict=True)
    ]
    assert len(set(keys)) == len(keys)  # same placeholder line, different titles: apart
    assert all(not fingerprint(body).bands for body in FLASHES)  # nothing for LSH to join


def test_a_short_item_repeated_with_its_title_is_one_story():
    title = "وفد عراقي يصل دمشق"
    a, b = fingerprint(FLASHES[0]), fingerprint(FLASHES[0] + " ")
    assert exact_key(a, title) == exact_key(b, "وفد عراقيّ يصل دمشق")  # title key-normalized
    assert exact_key(a, title) != a.content_hash


def test_a_short_item_without_title_stays_alone():
    assert exact_key(fingerprint(FLASHES[3]), None) is None
    assert exact_key(fingerprint(FLASHES[3]), "  ") is None


def test_a_long_body_is_keyed_by_its_content_hash_whatever_the_title():
    fp = fingerprint(AJ)
    assert exact_key(fp, "any title") == exact_key(fp, None) == fp.content_hash


# -- decision rules --------------------------------------------------------------------------


def test_same_story_on_sets_uses_jaccard_or_containment():
    article = shingles(text_of(WORDS[:300]))
    teaser = shingles(text_of(WORDS[:40]))
    other = shingles(text_of(WORDS[150:450]))
    assert same_story(article, teaser)  # containment 1.0, Jaccard 0.13
    assert not same_story(article, other)  # Jaccard 0.33, containment 0.5
    tiny = shingles(text_of(WORDS[:5]))
    assert not same_story(article, tiny)  # too few shingles to say


def test_same_story_refuses_to_mix_sets_and_fingerprints():
    with pytest.raises(TypeError):
        same_story(fingerprint(AJ), shingles(normalize_key(AJ)))


def test_a_teaser_is_found_through_the_lead():
    article = fingerprint(text_of(WORDS))  # 400 words
    teaser = fingerprint(text_of(WORDS[:30]))  # its first 30
    assert same_story(article, teaser)
    lead_bands = dedupe.BANDS  # bands after the whole-body ones are the lead's
    assert set(article.bands[lead_bands:]) & set(teaser.bands[lead_bands:])
    lead_rule_only = dedupe.Thresholds(2.0, 2.0, THRESHOLDS.lead_containment, 10_000)
    assert same_story(article, teaser, lead_rule_only)


def test_the_lead_rule_does_not_hold_for_long_bodies_that_only_open_alike():
    article = fingerprint(text_of(WORDS[:200]))
    roundup = fingerprint(text_of(WORDS[:40] + [f"r{i}" for i in range(160)]))
    assert roundup.shingle_count > THRESHOLDS.teaser_shingles
    assert not same_story(article, roundup)
    lead_a = (article.lead_minhash, article.lead_shingle_count)
    lead_b = (roundup.lead_minhash, roundup.lead_shingle_count)
    as_teaser = dedupe.Thresholds(0.5, 0.75, 0.8, teaser_shingles=10_000)
    assert is_near_duplicate(
        article.minhash,
        article.shingle_count,
        roundup.minhash,
        roundup.shingle_count,
        lead_a=lead_a,
        lead_b=lead_b,
        thresholds=as_teaser,
    )


def test_is_near_duplicate_from_signatures_and_counts():
    a = fingerprint(text_of(WORDS[:300]))
    b = fingerprint(text_of(WORDS[:280] + [f"n{i}" for i in range(20)]))  # last lines rewritten
    c = fingerprint(text_of(WORDS[100:400]))
    assert is_near_duplicate(a.minhash, a.shingle_count, b.minhash, b.shingle_count)
    assert not is_near_duplicate(a.minhash, a.shingle_count, c.minhash, c.shingle_count)


def test_equal_content_hash_is_the_same_story():
    fp = fingerprint(AJ)
    twin = Fingerprint(fp.content_hash, (0,) * NUM_PERM, fp.bands, fp.n_tokens, fp.shingle_count)
    assert same_story(fp, twin)


# -- the labeled set -------------------------------------------------------------------------


def predicted_same(p: dict[str, str]) -> bool:
    """The pipeline's decision: equal exact_key, or an LSH candidate that passes same_story."""
    a, b = fingerprint(p["a"]), fingerprint(p["b"])
    if a is None or b is None:
        return False
    key_a, key_b = exact_key(a, p.get("title_a")), exact_key(b, p.get("title_b"))
    if key_a is not None and key_a == key_b:
        return True
    return bool(set(a.bands) & set(b.bands)) and same_story(a, b)


def test_labeled_set_is_big_enough_and_covers_every_label():
    labels = [p["label"] for p in PAIRS]
    assert len(PAIRS) >= 60
    assert set(labels) == {"duplicate", "near", "teaser", "same_event", "different"}
    assert all(p["origin"] for p in PAIRS)


def test_shipped_constants_keep_their_measured_precision_and_recall():
    predictions = [(p["label"] in POSITIVE, predicted_same(p)) for p in PAIRS]
    tp = sum(truth and same for truth, same in predictions)
    precision = tp / sum(same for _, same in predictions)
    recall = tp / sum(truth for truth, _ in predictions)
    assert precision >= MEASURED_PRECISION - MARGIN
    assert recall >= MEASURED_RECALL - MARGIN


@pytest.mark.parametrize("tag", ["[ND01]", "[ND02]", "[ND03]", "[ND04]"])
def test_research_cases_that_are_one_story(tag):
    assert predicted_same(pair(tag))


@pytest.mark.parametrize("tag", ["[ND06]", "[ND07]", "[ND08]"])
def test_research_cases_that_are_different_texts(tag):
    assert not predicted_same(pair(tag))


def _sides(fps: list[Fingerprint], codes: dict[str, int]) -> tuple:
    """The array form same_story_many takes, one row per fingerprint."""
    return (
        np.array([codes.setdefault(fp.content_hash, len(codes)) for fp in fps]),
        np.array([fp.minhash for fp in fps], np.uint32),
        np.array([fp.shingle_count for fp in fps]),
        np.array([fp.lead_minhash for fp in fps], np.uint32),
        np.array([fp.lead_shingle_count for fp in fps]),
    )


def test_same_story_many_decides_as_same_story_and_estimates_as_estimate_jaccard():
    # Every labeled pair, every text against the next ones (mostly different stories), and one
    # text under another's content hash (equal hashes accept whatever the signatures say).
    fps = [fp for p in PAIRS for fp in (fingerprint(p["a"]), fingerprint(p["b"]))]
    fps = [fp for fp in fps if fp is not None and not fp.is_short]
    pairs = [(fps[i], fps[i + 1]) for i in range(0, len(fps) - 1, 2)]
    pairs += [(fps[i], fps[(i + step) % len(fps)]) for i in range(len(fps)) for step in (3, 7)]
    pairs.append((fps[0], Fingerprint(fps[0].content_hash, *astuple(fps[5])[1:])))
    codes: dict[str, int] = {}
    accepted, score = dedupe.same_story_many(
        _sides([a for a, _ in pairs], codes), _sides([b for _, b in pairs], codes)
    )
    assert accepted.tolist() == [same_story(a, b) for a, b in pairs]
    assert score.tolist() == [estimate_jaccard(a.minhash, b.minhash) for a, b in pairs]
    assert 0 < accepted.sum() < len(pairs)  # both outcomes are exercised
