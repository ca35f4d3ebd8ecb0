"""extractors.plain_elements: trafilatura's parser looks element classes up in C, and extracts
exactly what it extracts with lxml.html's own lookup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import html as lxml_html

from extractors import plain_elements
from tests.test_lean_sequence import outputs
from tests.test_prune_prefilter import fixture_pages

# An article whose body holds the elements lxml.html gives classes of their own (a form, its
# inputs, a select, a textarea, a label), where their text must come out as before.
FORM_PAGE = (
    "<html><head><title>استطلاع</title></head><body><article><h1>استطلاع رأي القراء</h1>"
    + "".join(f"<p>فقرة رقم {n} من نص الخبر الذي يشرح نتائج الاستطلاع.</p>" for n in range(12))
    + '<form action="/vote"><label for="q">رأيك</label><input id="q" name="q" value="نعم">'
    + '<select name="s"><option>الأول</option><option selected>الثاني</option></select>'
    + '<textarea name="t">تعليق القارئ</textarea></form>'
    + "<p>وختم التقرير بدعوة القراء إلى المشاركة في الاستطلاع القادم.</p></article></body></html>"
)


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    plain_elements.install()


def test_installed_every_element_is_a_plain_html_element(restored: None) -> None:
    plain_elements.install()
    assert plain_elements.element_class("form") is lxml_html.HtmlElement
    assert plain_elements.element_class("input") is lxml_html.HtmlElement
    plain_elements.uninstall()
    assert plain_elements.element_class("form") is lxml_html.FormElement
    assert plain_elements.element_class("p") is lxml_html.HtmlElement


def test_extraction_is_the_same_with_either_lookup(restored: None) -> None:
    pages = [*fixture_pages(), ("form", FORM_PAGE)]
    plain_elements.install()
    plain = outputs(pages)
    plain_elements.uninstall()
    classes = outputs(pages)
    for (name, _), with_, without in zip(pages, plain, classes, strict=True):
        assert with_ == without, name
    form_page = plain[-1][0]
    assert form_page.text and "وختم التقرير" in form_page.text


def test_disabled_puts_lxml_html_lookup_back_for_a_block(restored: None) -> None:
    plain_elements.install()
    with plain_elements.disabled():
        assert plain_elements.element_class("form") is lxml_html.FormElement
    assert plain_elements.element_class("form") is lxml_html.HtmlElement
