"""extractors.language. Case ids (L01–L04) are those of the team's research notes on Arabic text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractors.language import detect_language

FIXTURES = Path(__file__).parent / "fixtures" / "arabic"
SAMPLES = json.loads((FIXTURES / "language-samples.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("case", "text", "expected"),
    [
        ("L01", "عاجل", "ar"),
        ("L02", "وزير الخارجية Fuad Hussein يلتقي Antony Blinken", "ar"),
        ("L03", "ئەمڕۆ وەزیری دەرەوەی عێراق گەیشتە دیمەشق", "ku"),  # Sorani: ISO 639-1 has 'ku'
        ("L04", "Iraq's PM al-Sudani met Syria's al-Sharaa in Damascus", "en"),
        ("N07", "محافظة کرکوک والسلیمانیة", "ar"),  # Arabic typed with Persian letters
        ("fr", "Le président irakien a rencontré son homologue syrien à Damas jeudi", "fr"),
        ("ru", "Премьер-министр Ирака встретился с президентом Сирии в Дамаске", "ru"),
    ],
)
def test_detect_language(case: str, text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_pages_arabic_and_persian_are_told_apart(name: str) -> None:
    """Text of real news pages (htmldate's Media Cloud set): 8 Arabic, 3 Persian."""
    sample = SAMPLES[name]
    assert detect_language(sample["text"]) == sample["language"]


@pytest.mark.parametrize("text", [None, "", "   ", "١٢٣ ٤٥٦", "ok", "ab", "— ... —", "https://"])
def test_too_little_text_has_no_language(text: str | None) -> None:
    assert detect_language(text) is None


def test_arabic_dialect_labels_come_out_as_arabic() -> None:
    egyptian = "انا مش عارف ايه اللي حصل امبارح بس الناس كلها بتتكلم عن الموضوع ده"
    assert detect_language(egyptian) == "ar"
