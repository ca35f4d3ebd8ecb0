"""extractors.lean_sequence: trafilatura skips tree copies nothing reads again, and extracts
exactly what it extracts without the shortcut."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import trafilatura
from trafilatura import core
from trafilatura.utils import load_html

from extractors import lean_sequence
from extractors.article import TRAFILATURA_OPTIONS, extract_page, extractor_options
from tests.test_prune_prefilter import PLAIN_PAGE, TZ, fixture_pages

URL = "https://example.org/a"
# trafilatura.extract with options under which the lean preparation applies, and others.
EXTRACTS = {
    "as a pass extracts": {**TRAFILATURA_OPTIONS, "with_metadata": False},
    "defaults": {},
    "fast": {"fast": True},
    "precision, comments": {"favor_precision": True, "include_comments": True, "fast": True},
    "recall": {"favor_recall": True},
}


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    lean_sequence.install()


def outputs(pages: list[tuple[str, str]]) -> list[tuple]:
    return [
        (
            extract_page(html, url=URL, tz=TZ),
            extract_page(html, url=URL, tz=TZ, find_date_text=False, find_author=False),
            *(trafilatura.extract(html, **options) for options in EXTRACTS.values()),
        )
        for _, html in pages
    ]


def test_extraction_is_the_same_with_and_without(restored: None) -> None:
    """Fixture pages (real Arabic pages, the sample site's, short ones that take the fallback
    extractors, pages without a dated head) extract alike with the lean preparation and without,
    for extract_page (which hands its tree over) and for trafilatura.extract with various
    options."""
    pages = [*fixture_pages(), ("short", PLAIN_PAGE)]
    assert lean_sequence.install(), "the checked trafilatura release is the one installed"
    lean = outputs(pages)
    lean_sequence.uninstall()
    assert not lean_sequence.installed() and core.copy is copy.copy
    plain = outputs(pages)
    for (name, _), with_, without in zip(pages, lean, plain, strict=True):
        assert with_ == without, name
    assert any(page.date_text for page, *_ in lean), "no page took the date-text extraction"
    assert any(len(page.text or "") < 500 for page, *_ in lean), "no page took the fallback"


def test_only_a_handed_over_tree_is_used_in_place(restored: None) -> None:
    """bare_extraction leaves a tree it is given as it was, but a tree handed over is cleaned in
    place (once: the next extraction of it copies it again)."""
    lean_sequence.install()
    html = fixture_pages()[0][1]
    options = extractor_options(URL)
    kept = load_html(html)
    before = len(list(kept.iter()))
    trafilatura.bare_extraction(kept, url=URL, options=options)
    assert len(list(kept.iter())) == before
    given = load_html(html)
    with lean_sequence.handed_over(given) as handed:
        assert handed
        trafilatura.bare_extraction(given, url=URL, options=extractor_options(URL))
        after = len(list(given.iter()))
        assert after < before  # scripts, styles, navigation gone: trafilatura cleaned it
        trafilatura.bare_extraction(given, url=URL, options=extractor_options(URL))
        assert len(list(given.iter())) == after  # taken once only
    lean_sequence.uninstall()
    with lean_sequence.handed_over(kept) as handed:
        assert not handed
        trafilatura.bare_extraction(kept, url=URL, options=options)
    assert len(list(kept.iter())) == before


def test_another_trafilatura_release_is_left_as_it_is(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a function read for the check differs in source, install() changes nothing."""
    lean_sequence.uninstall()
    monkeypatch.setattr(lean_sequence, "_original", None)
    checked = {**lean_sequence.CHECKED_SOURCES, "trafilatura_sequence": "0" * 16}
    monkeypatch.setattr(lean_sequence, "CHECKED_SOURCES", checked)
    assert not lean_sequence.checked()
    assert lean_sequence.install() is False
    assert not lean_sequence.installed() and core.copy is copy.copy
    monkeypatch.undo()


def test_the_lean_preparation_applies_only_where_nothing_reads_the_copies() -> None:
    assert lean_sequence.applies(extractor_options(URL))
    assert not lean_sequence.applies(extractor_options(URL, fast=False))
    assert not lean_sequence.applies(extractor_options(URL, favor_precision=False))
    assert not lean_sequence.applies(extractor_options(URL, include_comments=True))


def test_options_are_those_bare_extraction_builds_from_its_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """extractor_options gives, slot for slot, the Extractor that bare_extraction builds from
    the same keyword arguments, for each set of options extract_page uses."""
    seen: list[object] = []
    real = core.trafilatura_sequence

    def spy(tree: object, options: object, url: object = None) -> object:
        seen.append(options)
        return real(tree, options, url)

    monkeypatch.setattr(core, "trafilatura_sequence", spy)
    html = fixture_pages()[0][1]
    for overrides in ({}, {"fast": False}, {"favor_precision": False, "fast": True}):
        seen.clear()
        trafilatura.bare_extraction(load_html(html), url=URL, **TRAFILATURA_OPTIONS | overrides)
        ours = extractor_options(URL, **overrides)
        for name in type(ours).__slots__:
            assert getattr(ours, name) == getattr(seen[0], name), (overrides, name)
    with pytest.raises(ValueError, match="prune_xpath"):
        extractor_options(URL, prune_xpath="//div")


def test_an_option_that_is_not_the_extractors_goes_to_trafilatura_as_an_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prune_xpath (a knob bench/extraction.py measures) is an argument of bare_extraction, not
    an Extractor option: set, the extraction prunes with it as trafilatura does; None, it is no
    option at all."""
    from extractors import article

    box = "<p>" + " ".join(["فقرة في صندوق جانبي عن أخبار أخرى لا علاقة لها بالخبر."] * 6) + "</p>"
    story = "<p>" + " ".join(["نص الخبر الرئيسي عن الاجتماع الوزاري في بغداد اليوم."] * 8) + "</p>"
    html = f"<html><body><article>{story}<div class='box'>{box}</div></article></body></html>"
    plain = article.bare_extraction(load_html(html), URL)
    assert plain is not None and "صندوق" in plain.text
    monkeypatch.setitem(TRAFILATURA_OPTIONS, "prune_xpath", ["//div[@class='box']"])
    pruned = article.bare_extraction(load_html(html), URL)
    expected = trafilatura.bare_extraction(load_html(html), url=URL, **TRAFILATURA_OPTIONS)
    assert pruned is not None and expected is not None
    assert pruned.text == expected.text and "صندوق" not in pruned.text
    monkeypatch.setitem(TRAFILATURA_OPTIONS, "prune_xpath", None)
    unset = article.bare_extraction(load_html(html), URL)
    assert unset is not None and unset.text == plain.text
