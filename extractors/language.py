"""Language of an article's text, offline and fast.

The script decides first: Arabic-script text is Arabic unless the letters only Persian, Urdu and
Kurdish use are frequent; then py3langid (model shipped in its wheel) decides among the languages
of that script only, which keeps it from calling a short English sentence Fulah. Codes are ISO
639-1: Egyptian and Moroccan Arabic labels become 'ar', Sorani Kurdish becomes 'ku'.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

MIN_LETTERS = 3  # fewer letters than this: no language
MIN_MODEL_LETTERS = 12  # the model is not asked about less than this
SCRIPT_CHARS = 600  # the script and letter shares are judged on the text's beginning
MODEL_CHARS = 2000  # and so is the model's verdict

# Runs of each, not single letters: counting the letters of the runs gives the same counts for
# a fifth of the match objects (about half the time of detect_language).
_ARABIC_SCRIPT = re.compile(
    "[\u0620-\u064a\u066e-\u06d3\u06d5\u06ee-\u06ff\u0750-\u077f\u08a0-\u08ff]+"
)
_LATIN = re.compile("[A-Za-z\u00c0-\u024f]+")
_LETTER = re.compile(r"[^\W\d_]+")
# Letters Arabic does not use (or only in foreign names); the share of them tells the language.
_PERSIAN = re.compile("[\u067e\u0686\u0698\u06af\u06cc\u06a9]")  # پ چ ژ گ ی ک
_URDU = re.compile("[\u0679\u0688\u0691\u06ba\u06d2\u06c1]")  # ٹ ڈ ڑ ں ے ہ
_KURDISH = re.compile("[\u0695\u06c6\u06ce\u06b5\u06d5]")  # ڕ ۆ ێ ڵ ە
FOREIGN_LETTER_SHARE = 0.01

# Languages the model may choose for each script (a news pipeline's plausible set).
ARABIC_SCRIPT_LANGUAGES = ("ar", "arz", "ary", "fa", "ur", "ps", "sdh", "ug")
LATIN_LANGUAGES = (
    "en", "fr", "es", "de", "it", "pt", "nl", "tr", "id", "ms", "sv", "da", "no", "fi", "pl",
    "cs", "ro", "hu", "sq", "az", "uz", "sw", "ha", "so", "ku", "mt", "hr", "bs", "sk", "sl",
)  # fmt: skip
TO_ISO_639_1 = {"arz": "ar", "ary": "ar", "acm": "ar", "apc": "ar", "sdh": "ku", "ckb": "ku",
                "uzs": "uz", "wuu": "zh", "yue": "zh", "pes": "fa", "prs": "fa"}  # fmt: skip


def detect_language(text: str | None) -> str | None:
    """ISO 639-1 code of the text's language, or None for empty or too short text (fewer than
    MIN_LETTERS letters, or too few for the model when the script does not decide)."""
    if not text:
        return None
    sample = text[:SCRIPT_CHARS]
    letters = _count(_LETTER, sample)
    if letters < MIN_LETTERS:
        return None
    arabic = _count(_ARABIC_SCRIPT, sample)
    latin = _count(_LATIN, sample)
    if arabic >= 0.3 * letters:  # Arabic headlines quote Latin names; English rarely quotes Arabic
        return _arabic_script_language(text, arabic)
    if letters < MIN_MODEL_LETTERS:
        return None
    allowed = LATIN_LANGUAGES if latin >= 0.5 * letters else None
    return _model_language(text[:MODEL_CHARS], allowed)


def _count(runs: re.Pattern[str], text: str) -> int:
    """How many characters of text are in the class whose runs `runs` matches."""
    return sum(map(len, runs.findall(text)))


def _arabic_script_language(text: str, arabic: int) -> str | None:
    sample = text[:SCRIPT_CHARS]
    kurdish = len(_KURDISH.findall(sample))
    if kurdish >= FOREIGN_LETTER_SHARE * arabic:
        return "ku"
    foreign = len(_PERSIAN.findall(sample)) + len(_URDU.findall(sample))
    if foreign < FOREIGN_LETTER_SHARE * arabic:
        return "ar"
    if arabic < MIN_MODEL_LETTERS:
        return None
    # Some Arabic sites type ی and ک (Persian keyboards): fold them so the model judges the words.
    folded = text[:MODEL_CHARS].replace("\u06cc", "\u064a").replace("\u06a9", "\u0643")
    return _model_language(folded, ARABIC_SCRIPT_LANGUAGES)


def _model_language(sample: str, allowed: tuple[str, ...] | None) -> str | None:
    ranked = _identifier().rank(sample)
    for label, _score in ranked:
        if allowed is None or label in allowed:
            code = TO_ISO_639_1.get(label, label)
            return code if len(code) == 2 else None
    return None


@functools.cache
def _identifier() -> LanguageIdentifier:
    """The py3langid model, loaded once on first use (about 0.7 s)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
