"""extractors.clean and the boilerplate catalogue in extractors.markers.

Case ids (N01, B06b, ...) are those of the team's research notes on Arabic text (arabic-cases.md).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

import pytest

from extractors import markers
from extractors.clean import (
    clean_body,
    clean_title,
    fold_text,
    html_to_text,
    match_marker,
    normalize_display,
    normalize_key,
    split_dateline,
)

FIXTURES = Path(__file__).parent / "fixtures" / "arabic"

# -- the research notes' synthetic Al Jazeera (AJ) and Baghdad Al-Youm (BT) style texts -------
TEXTS = json.loads((FIXTURES / "research-texts.json").read_text(encoding="utf-8"))
AJ, BT_LEAD, BT_2, BT_3, BT_4 = (TEXTS[k] for k in ("AJ", "BT_LEAD", "BT_2", "BT_3", "BT_4"))
BT = "\n\n".join(("بغداد اليوم - بغداد", BT_LEAD, BT_2, BT_3, BT_4))
GLUED_LEAD = (
    "نفى مصدر مسؤول، اليوم السبت (20 أيلول 2025)، صحة الأنباء المتداولة عن تغيير قيادة العمليات."
)


# -- normalization: N01–N14 ---------------------------------------------------------------------
# fmt: off
FORMS = [  # (case, text, display form, key form)
    ("N01", "وفد أمنى عراقي", "وفد أمنى عراقي", "وفد امني عراقي"),
    ("N02", "وفد أمني عراقي", "وفد أمني عراقي", "وفد امني عراقي"),
    ("N03", "مسئول / مسؤول", "مسئول / مسؤول", "مسءول مسءول"),
    ("N04", "القوات العراقيـــة", "القوات العراقيـــة", "القوات العراقيه"),
    ("N05", "العاصمة دِمَشْقُ", "العاصمة دِمَشْقُ", "العاصمه دمشق"),
    ("N06", "٢٧ شباط ٢٠٢٥ و۲۷ شباط", "٢٧ شباط ٢٠٢٥ و۲۷ شباط", "27 شباط 2025 و27 شباط"),
    ("N07", "محافظة کرکوک والسلیمانیة", "محافظة کرکوک والسلیمانیة", "محافظه كركوك والسليمانيه"),
    ("N08", "\ufeff\u200fبغداد اليوم\u200e\u200b - بغداد", "بغداد اليوم - بغداد",
     "بغداد اليوم بغداد"),
    ("N09", "وفد\u00a0رفيع  \t المستوى", "وفد رفيع المستوى", "وفد رفيع المستوي"),
    ("N10", "ﻻ بديل", "ﻻ بديل", "لا بديل"),
    ("N11", "قال: «نعم»، ثم غادر؟", "قال: «نعم»، ثم غادر؟", "قال نعم ثم غادر"),
    ("N12", "إقرأ أيضاً | اقرأ أيضًا | اقرا ايضا", "إقرأ أيضاً | اقرأ أيضًا | اقرا ايضا",
     "اقرا ايضا اقرا ايضا اقرا ايضا"),
    ("N13", "ا\u0654علن", "أعلن", "اعلن"),
    ("N14", "می\u200cخواهم", "می\u200cخواهم", "ميخواهم"),
]
# fmt: on


@pytest.mark.parametrize(("case", "text", "display", "key"), FORMS)
def test_display_and_key_forms(case: str, text: str, display: str, key: str) -> None:
    assert normalize_display(text) == display
    assert normalize_key(text) == key


def test_every_format_character_is_removed_but_zwnj_and_zwj_stay_for_display() -> None:
    format_chars = "".join(
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
    )
    text = "ا" + format_chars + "ب"
    assert normalize_key(text) == "اب"
    assert normalize_display(text) == "ا\u200c\u200dب"


@pytest.mark.parametrize(
    "space", [" ", "\t", "\u00a0", "\u1680", "\u2002", "\u2009", "\u200a", "\u202f", "\u3000"]
)
def test_space_like_characters_become_one_space(space: str) -> None:
    assert normalize_display(f" وفد{space}{space}رفيع ") == "وفد رفيع"
    assert normalize_key(f"وفد{space}رفيع") == "وفد رفيع"


def test_display_paragraphs_are_separated_by_one_blank_line() -> None:
    text = "  الأولى \r\nالثانية\r\rالثالثة\u2029الرابعة\n\n\n\nالخامسة\u2028\x00"
    assert normalize_display(text) == "الأولى\n\nالثانية\n\nالثالثة\n\nالرابعة\n\nالخامسة"


def test_display_keeps_letters_marks_tatweel_and_digits_as_written() -> None:
    text = "فى الذى «أمنى» ﷺ ﷲ ٢٠٢٥ العراقيـة دِمَشْق"
    assert normalize_display(text) == text


@pytest.mark.parametrize("text", [AJ, BT, "Iraq's PM al-Sudani: «نعم»، ٣٫٥٪", "İstanbul ẞtraße"])
def test_key_is_a_fixed_point(text: str) -> None:
    assert normalize_key(normalize_key(text)) == normalize_key(text)


def orthographic_variant(text: str) -> str:
    """The research notes' transform: the same text with other spelling habits (no hamza on
    alef, final ي as ى, ة as ه, tatweel, diacritics, Eastern digits, ZWNJ, NBSP, RLM, مسئول)."""
    t = text.replace("أ", "ا").replace("إ", "ا")
    t = re.sub(r"ي\b", "ى", t)
    t = t.replace("الحكومة", "الحكومه").replace("المنطقة", "المنطقه")
    t = t.replace("العراقية", "العراقيـــة").replace("دمشق", "دِمَشْق")
    t = t.replace("600", "٦٠٠").replace("2025", "٢٠٢٥").replace("27", "٢٧")
    t = t.replace("وفد", "و\u200cفد").replace(" رفيع", "\u00a0رفيع")
    t = t.replace("بغداد اليوم", "\u200fبغداد اليوم")
    return t.replace("مسؤول", "مسئول")


def test_nd03_nd09_spelling_habits_do_not_change_the_key() -> None:
    original, variant = clean_body(BT), clean_body(orthographic_variant(BT))
    assert original.body != variant.body
    assert variant.dateline == "بغداد اليوم - بغداد"
    assert normalize_key(original.body or "") == normalize_key(variant.body or "")


def test_fold_text_keeps_punctuation_for_date_parsing() -> None:
    assert fold_text("الخميس ٢٧/٢/٢٠٢٥ — الساعة ١٠:٣٠") == "الخميس 27/2/2025 — الساعه 10:30"


# -- the catalogue: one test per entry -------------------------------------------------------
@pytest.mark.parametrize("marker", markers.MARKERS, ids=lambda m: f"{m.kind}:{m.examples[0]}")
def test_catalogue_entry_matches_its_examples_and_not_its_counter_examples(marker) -> None:
    for example in marker.examples:
        hit = match_marker(example)
        assert hit is not None and hit.marker is marker, example
    for content in marker.counter_examples:
        assert match_marker(content) is None, content


@pytest.mark.parametrize("marker", markers.MARKERS, ids=lambda m: f"{m.kind}:{m.examples[0]}")
def test_catalogue_patterns_are_written_in_key_form(marker) -> None:
    for pattern in (marker.pattern, marker.also or ""):
        literal = re.sub(r"\\.", "", pattern)  # regex escapes such as \b and \S are not text
        changed = {c for c in literal if (c.isalpha() or c.isdigit()) and normalize_key(c) != c}
        assert not changed, changed
    # Lines longer than PREFIX_WORDS are matched on their first words only: an entry that needs
    # the end of the line ($ other than "(?: |$)", the end of a word) must not allow them.
    if "$" in marker.pattern.replace("(?: |$)", "") and not marker.anywhere:
        assert marker.max_words <= markers.PREFIX_WORDS


def test_long_paragraphs_are_not_taken_for_boilerplate() -> None:
    assert match_marker(BT_LEAD + " " + BT_2) is None


# -- bodies --------------------------------------------------------------------------------
def test_design_example_aggregator_scrape() -> None:
    """DESIGN.md's dirty text: an Al Jazeera story, with a Baghdad Al-Youm one glued on."""
    text = (FIXTURES / "aggregator-scrape.txt").read_text(encoding="utf-8")
    title = "خطر التصعيد يدفع روسيا وأميركا للتواصل للمرة الثانية في أقل من شهر"
    result = clean_body(text, title=title, known_outlets=["الجزيرة نت"])
    assert result.body is not None
    assert result.body.startswith("أجرى وزير الدفاع الروسي أندريه بيلوسوف")
    assert result.body.endswith("ستشكل الأمن العالمي لعقود من الزمن.")
    assert result.attribution == "الجزيرة"
    assert result.tags == ("حراك", "الجامعات", "حريات")
    assert result.dateline is None
    for glued in ("إقرأ", "بغداد اليوم", "الموسوي", "وفد أمنى", "شباط", "المصدر", "تاريخ النشر"):
        assert glued not in result.body
    assert result.removed[0] == title
    assert "تاريخ النشر: 13th, July 2024 GMT" in result.removed
    assert result.body.count("\n\n") == 9  # ten paragraphs


def test_b01_aggregator_with_credit_tags_read_also_and_footer() -> None:
    title = "إعادة فتح منفذ القائم الحدودي بين العراق وسوريا"
    text = "\n".join((
        title, "تاريخ النشر: 13th, July 2024 GMT", AJ, "المصدر: الجزيرة",
        "كلمات دلالية: العراق سوريا منفذ القائم الأنبار", "إقرأ أيضاً:",
        "للمرة الثانية.. وفد أمنى عراقي رفيع يصل دمشق خلال الأيام المقبلة - عاجل",
        BT.replace("أمني", "أمنى"), "تابعونا على تلغرام", "جميع الحقوق محفوظة © 2024",
    ))  # fmt: skip
    result = clean_body(text, title=title)
    assert result.body == normalize_display(AJ)
    assert result.attribution == "الجزيرة"
    assert result.tags == ("العراق", "سوريا", "منفذ", "القائم", "الأنبار")


def test_b02_credit_line_with_spaced_colon() -> None:
    result = clean_body(BT_LEAD + "\nالمصدر : الجزيرة + وكالات")
    assert result.body == BT_LEAD
    assert result.attribution == "الجزيرة + وكالات"


def test_b03_source_without_colon_is_content() -> None:
    line = "المصدر أكد أن العملية ما زالت مستمرة في أطراف المدينة."
    result = clean_body(f"{BT_LEAD}\n{line}")
    assert result.body == f"{BT_LEAD}\n\n{line}"
    assert result.attribution is None


def test_b04_channel_promotions_are_dropped_mid_body() -> None:
    text = "\n".join(
        (
            BT_LEAD,
            "لمتابعة آخر الأخبار انضموا إلى قناتنا على تيليجرام https://t.me/example",
            "تابعونا على واتساب",
            BT_2,
        )
    )
    assert clean_body(text).body == f"{BT_LEAD}\n\n{BT_2}"


def test_b05_share_word_only_as_a_whole_line() -> None:
    content = "شارك الرئيس في أعمال القمة العربية في بغداد إلى جانب عدد من القادة العرب."
    assert clean_body(f"شارك\n{content}").body == content


def test_b06_early_read_also_block_is_dropped_and_the_article_goes_on() -> None:
    text = "\n".join(
        (
            BT_LEAD,
            "اقرأ أيضا:",
            "الداخلية تعلن ضبط شحنة مخدرات في البصرة",
            "وفد أمني عراقي يصل دمشق",
            BT_2,
            BT_3,
            BT_4,
        )
    )
    result = clean_body(text)
    assert result.body == "\n\n".join((BT_LEAD, BT_2, BT_3, BT_4))
    assert result.removed == (
        "اقرأ أيضا:",
        "الداخلية تعلن ضبط شحنة مخدرات في البصرة",
        "وفد أمني عراقي يصل دمشق",
    )


def test_b06b_second_outlet_dateline_in_the_body_starts_a_glued_article() -> None:
    text = "\n".join((BT, f"بغداد اليوم – بغداد {GLUED_LEAD}", BT_4))
    result = clean_body(text)
    assert result.dateline == "بغداد اليوم - بغداد"
    assert result.body == "\n\n".join((BT_LEAD, BT_2, BT_3, BT_4))
    assert result.removed[0].startswith("بغداد اليوم – بغداد نفى")


def test_glued_dateline_inside_one_line_after_a_sentence_end() -> None:
    text = f"{BT_LEAD}\n{BT_2} بغداد اليوم – بغداد {GLUED_LEAD}"
    result = clean_body(text)
    assert result.body == f"{BT_LEAD}\n\n{BT_2}"
    assert result.removed == (f"بغداد اليوم – بغداد {GLUED_LEAD}",)


def test_configured_outlet_dateline_also_marks_a_glued_article() -> None:
    glued = f"صوت العراق - البصرة {GLUED_LEAD}"
    text = f"{BT_LEAD}\n{BT_2}\n{glued}"
    assert clean_body(text).body == f"{BT_LEAD}\n\n{BT_2}\n\n{glued}"
    assert clean_body(text, known_outlets=["صوت العراق"]).body == f"{BT_LEAD}\n\n{BT_2}"


def test_b15_copyright_line_cuts_the_footer() -> None:
    result = clean_body(f"{BT_LEAD}\n{BT_2}\nجميع الحقوق محفوظة © 2024\nسياسة الخصوصية")
    assert result.body == f"{BT_LEAD}\n\n{BT_2}"
    assert result.removed == ("جميع الحقوق محفوظة © 2024", "سياسة الخصوصية")


def test_tags_listed_one_per_line_after_their_heading() -> None:
    result = clean_body(f"{BT_LEAD}\nالوسوم\nالعراق\nسوريا\nمخيم الهول")
    assert result.body == BT_LEAD
    assert result.tags == ("العراق", "سوريا", "مخيم الهول")


def test_inline_read_more_links_in_english_drop_only_their_line() -> None:
    first = "The deal is set to be the largest share sale in Hong Kong for nine years, people said."
    second = "An Alibaba spokesperson declined to comment on the pricing to Reuters on Tuesday."
    text = f"{first}\nRead more: Alibaba poised to launch record-breaking listing\n{second}"
    result = clean_body(text)
    assert result.body == f"{first}\n\n{second}"


def test_late_read_also_with_one_title_and_an_unmarked_article_cuts() -> None:
    text = "\n".join((AJ, "إقرأ أيضاً:", "وفد أمني عراقي رفيع يصل دمشق", BT_LEAD, BT_2))
    assert clean_body(text).body == normalize_display(AJ)


def test_repeated_title_and_leading_date_line_are_dropped() -> None:
    title = "وفد أمني عراقي يصل دمشق | بغداد اليوم"
    text = f"وفد أمني عراقي يصل دمشق\nآخر تحديث: 27/2/2025 - 10:30\n{BT_LEAD}"
    result = clean_body(text, title=title)
    assert result.body == BT_LEAD
    assert result.removed == ("وفد أمني عراقي يصل دمشق", "آخر تحديث: 27/2/2025 - 10:30")


def test_nothing_left_gives_no_body() -> None:
    assert clean_body("شارك\nطباعة\nجميع الحقوق محفوظة © 2024").body is None
    assert clean_body("").body is None


def test_real_cnn_arabic_page_dateline_and_comment_policy() -> None:
    text = (FIXTURES / "cnn-arabic.txt").read_text(encoding="utf-8")
    result = clean_body(text, title="معارضون يسيطرون على مخازن للصواريخ بريف دمشق")
    assert result.dateline == "دمشق، سوريا (CNN)"
    assert result.body is not None
    assert result.body.startswith("أكدت جهات سورية معارضة")
    assert result.body.endswith("في سوريا بشكل مستقل.")
    assert "التعليقات" not in result.body and "الآراء الواردة" not in result.body


def test_real_jordanian_page_dateline_date_line_and_agency_credit() -> None:
    text = (FIXTURES / "almadenahnews.txt").read_text(encoding="utf-8")
    title = "المدينة نيوز - أميركا :50 الفا حصيلة الوفيات بسبب فيروس كورونا"
    result = clean_body(text, title=title)
    assert result.dateline == "المدينة نيوز"
    assert result.attribution == "بترا"
    assert result.body is not None
    assert result.body.startswith("اصابات بفيروس كورونا في امريكا\n\nبلغت حصيلة الوفيات")
    assert result.body.endswith("الأربع والعشرين الأخيرة إيجابية.")
    assert "تم نشره" not in result.body


# -- datelines: B07–B12 ------------------------------------------------------------------------
# fmt: off
DATELINES = [  # (case, line, dateline, rest of the line); dateline None: not a dateline
    ("B07", "بغداد اليوم - بغداد", "بغداد اليوم - بغداد", ""),
    ("B07b", "بغداد اليوم – المثنى كشف مصدر مطلع، اليوم السبت (26 تموز 2025)، عن تفاصيل",
     "بغداد اليوم – المثنى", "كشف مصدر مطلع، اليوم السبت (26 تموز 2025)، عن تفاصيل"),
    ("B07c", "بغداد اليوم - متابعة كشفت صحيفة تايمز أوف إسرائيل", "بغداد اليوم - متابعة",
     "كشفت صحيفة تايمز أوف إسرائيل"),
    ("B07d", "بغداد اليوم - ذي قار أعلنت الشرطة", "بغداد اليوم - ذي قار", "أعلنت الشرطة"),
    ("B08", "شفق نيوز/ أعلنت وزارة الداخلية العراقية، اليوم الأحد، عن اعتقال", "شفق نيوز",
     "أعلنت وزارة الداخلية العراقية، اليوم الأحد، عن اعتقال"),
    ("B09", "بيروت (رويترز) - قال مسؤولون لبنانيون إن الجيش انتشر في الجنوب", "بيروت (رويترز)",
     "قال مسؤولون لبنانيون إن الجيش انتشر في الجنوب"),
    ("B10", "دمشق - سانا", "دمشق - سانا", ""),
    ("B10b", "دمشق - الجزيرة نت", "دمشق - الجزيرة نت", ""),
    ("B10c", "(رويترز) - قال مسؤولون إن", "(رويترز)", "قال مسؤولون إن"),
    ("B10d", "القاهرة (أ ف ب) - أعلنت الحكومة", "القاهرة (أ ف ب)", "أعلنت الحكومة"),
    ("B10e", "الأنبار - أعادت السلطات العراقية السبت فتح منفذ القائم", "الأنبار",
     "أعادت السلطات العراقية السبت فتح منفذ القائم"),
    ("B11", "أعلنت وزارة الكهرباء - في بيان - عن خطة جديدة للصيف", None, None),
    ("B12", "وزير الخارجية - فؤاد حسين", None, None),
    ("B12b", "ونقلت وكالة (رويترز) - عن مصادر أمنية أن الهجوم وقع فجرا", None, None),
    ("B12c", "The deal – set to be the largest share sale in Hong Kong – represents", None, None),
]
# fmt: on


@pytest.mark.parametrize(("case", "line", "dateline", "rest"), DATELINES)
def test_split_dateline(case: str, line: str, dateline: str | None, rest: str | None) -> None:
    assert split_dateline(line) == (None if dateline is None else (dateline, rest))


@pytest.mark.parametrize("agency", markers.AGENCIES)
def test_every_agency_makes_a_city_dateline(agency: str) -> None:
    assert split_dateline(f"دمشق - {agency}") == (f"دمشق - {agency}", "")


@pytest.mark.parametrize("outlet", markers.OUTLETS)
def test_every_outlet_opens_its_own_dateline(outlet: str) -> None:
    assert split_dateline(f"{outlet} - بغداد {GLUED_LEAD}") == (f"{outlet} - بغداد", GLUED_LEAD)


@pytest.mark.parametrize("place", markers.PLACES)
def test_every_place_is_taken_into_an_outlet_dateline(place: str) -> None:
    assert split_dateline(f"بغداد اليوم – {place} {GLUED_LEAD}") == (
        f"بغداد اليوم – {place}",
        GLUED_LEAD,
    )


# -- titles: B13, B14 -----------------------------------------------------------------------
# fmt: off
TITLES = [  # (title as the feed gives it, site_names, clean title, is_breaking)
    ("للمرة الثانية.. وفد أمنى عراقي رفيع يصل دمشق خلال الأيام المقبلة - عاجل", (),
     "للمرة الثانية.. وفد أمنى عراقي رفيع يصل دمشق خلال الأيام المقبلة", True),
    ("عاجل | وفد أمني عراقي يصل دمشق", (), "وفد أمني عراقي يصل دمشق", True),
    ("عاجل: وفد أمني عراقي يصل دمشق", (), "وفد أمني عراقي يصل دمشق", True),
    ("[عاجل] وفد أمني عراقي يصل دمشق", (), "وفد أمني عراقي يصل دمشق", True),
    ("عاجـل وفد أمني عراقي يصل دمشق", (), "وفد أمني عراقي يصل دمشق", True),
    ("Breaking: Iraqi delegation arrives", (), "Iraqi delegation arrives", True),
    ("Breaking Bad actor visits Baghdad", (), "Breaking Bad actor visits Baghdad", False),
    ("وفد أمني عراقي يصل دمشق - الجزيرة نت", (), "وفد أمني عراقي يصل دمشق", False),
    ("بغداد اليوم | وفد أمني عراقي يصل دمشق", (), "وفد أمني عراقي يصل دمشق", False),
    ("وفد أمني يصل دمشق | Baghdad Today", ("Baghdad Today",), "وفد أمني يصل دمشق", False),
    ("وفد أمني يصل دمشق — صوت العراق", ("صوت العراق",), "وفد أمني يصل دمشق", False),
    ("وفد أمني يصل دمشق - عاجل | بغداد اليوم", (), "وفد أمني يصل دمشق", True),
    ("al-Sudani meets al-Sharaa in Damascus", (), "al-Sudani meets al-Sharaa in Damascus", False),
    ("عاجل", (), None, True),
    ("  ", (), None, False),
    (None, (), None, False),
]
# fmt: on


@pytest.mark.parametrize(("title", "site_names", "clean", "breaking"), TITLES)
def test_clean_title(title, site_names, clean, breaking) -> None:
    cleaned = clean_title(title, site_names=site_names)
    assert (cleaned.title, cleaned.is_breaking) == (clean, breaking)


# -- feed descriptions -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fragment", "text"),
    [
        ("<p>وفد أمني</p><p>يصل &amp; دمشق</p>", "وفد أمني\n\nيصل & دمشق"),
        ("سطر أول<br>سطر&nbsp;ثان", "سطر أول\n\nسطر ثان"),
        ("<div><script>var x = 1;</script><style>p{}</style>نص</div>", "نص"),
        ("&lt;p&gt;مزدوج &lt;b&gt;الترميز&lt;/b&gt;&lt;/p&gt;", "مزدوج الترميز"),
        ("نص بلا وسوم", "نص بلا وسوم"),
        ("<ul><li>أ</li><li>ب</li></ul>", "أ\n\nب"),
        ('<?xml version="1.0" encoding="utf-8"?><p>نص &amp; آخر</p>', "نص & آخر"),
        ("<p>نص\x00\x0b مع محارف تحكم</p>", "نص مع محارف تحكم"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_html_to_text(fragment: str, text: str) -> None:
    assert html_to_text(fragment) == text
