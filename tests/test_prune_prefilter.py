"""extractors.prune_prefilter: trafilatura skips raw-page prunes, and a checked prune of the
article node, that cannot select anything, and extracts exactly what it extracts without the
shortcut."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trafilatura
from lxml.etree import XPath
from trafilatura import xpaths
from trafilatura.utils import load_html

from extractors import prune_prefilter
from extractors.article import decode_html, extract_page
from extractors.prune_prefilter import (
    CHECKED,
    CHECKED_NODE,
    CONVERTED_LISTS,
    NODE_ATTRIBUTES,
    NODE_LISTS,
    PRUNE_LISTS,
    FreshPrefiltered,
    NodePrefiltered,
    Prefiltered,
    path_digest,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "arabic"
TZ = ZoneInfo("Asia/Baghdad")
# re:test(@id, '...') and contains(@class, '...') in an expression's text, with re:test's flags
TESTS = re.compile(r"""(re:test|contains)\(@(?:id|class),\s*'([^']*)'(?:,\s*'([^']*)')?\)""")

ARTICLE = "<p>" + " ".join(["نص الخبر الرئيسي عن الاجتماع الوزاري في بغداد اليوم."] * 6) + "</p>"
LATER = "<p>" + " ".join(["خبر لاحق عن مباراة كرة القدم في الدوحة مساء أمس."] * 8) + "</p>"
COMMENT = "<p>" + " ".join(["تعليق القارئ على الخبر وهو طويل بما يكفي ليبدو فقرة."] * 6) + "</p>"
# Pages whose text the prunes of PRUNE_LISTS and CONVERTED_LISTS change (checked: with
# trafilatura's lists emptied, each extracts otherwise), so a shortcut that skipped a prune it
# needed would show.
PRUNED = {
    "scroll box": f'<article><h1>عنوان</h1>{ARTICLE}</article><section id="infinite-scroll">'
    f"<article><h2>خبر آخر</h2>{LATER * 4}</article></section>",
    "appended post": f'<div class="mvp-main"><h1>عنوان</h1>{ARTICLE}</div><div id="mvp-post-add-'
    f'box"><article><h1>خبر آخر</h1>{LATER * 4}</article></div>',
    "comment list": f"<article><h1>عنوان</h1>{ARTICLE}"
    f'<ol id="comol">{f"<li>{COMMENT}</li>" * 3}</ol></article>',
    "comments box": f"<article><h1>عنوان</h1>{ARTICLE}"
    f'<details class="article-comments"><summary>التعليقات</summary>{COMMENT}</details></article>',
    # a <dl> is left by the raw-page prunes; once converted to a <list>, REMOVE_COMMENTS_XPATH
    # takes it
    "comment dl": f"<article><h1>عنوان</h1>{ARTICLE}"
    f'<dl class="comment-list">{f"<dt>قارئ</dt><dd>{COMMENT}</dd>" * 3}</dl></article>',
}
PRUNED_PAGES = {
    name: f"<html><head><title>خبر</title></head><body>{body}</body></html>"
    for name, body in PRUNED.items()
}
PLAIN_PAGE = f"""<html><head><title>خبر</title></head><body>
<div class="main"><article id="story"><h1>عنوان</h1>{ARTICLE}</article></div>
<div class="commentary-box"><p>تحليل: رأي الكاتب في الموضوع مطول بعض الشيء</p></div>
</body></html>"""


def fixture_pages() -> list[tuple[str, str]]:
    pages = [*PRUNED_PAGES.items(), ("plain", PLAIN_PAGE)]
    for path in sorted(FIXTURES.glob("*.html.gz")):
        pages.append((path.name, decode_html(gzip.decompress(path.read_bytes()))))
    for path in sorted((REPO / "flows" / "sample_site").glob("*/news/*.html")):
        pages.append((path.name, decode_html(path.read_bytes())))
    return pages


@pytest.fixture
def restored():
    yield
    prune_prefilter.install()


def expressions() -> list[object]:
    lists = (*PRUNE_LISTS, *CONVERTED_LISTS)
    return [expression for name in lists for expression in getattr(xpaths, name)]


def node_expressions() -> list[object]:
    return [expression for name in NODE_LISTS for expression in getattr(xpaths, name)]


def test_install_wraps_exactly_the_checked_expressions(restored) -> None:
    prune_prefilter.uninstall()
    assert not any(isinstance(e, Prefiltered) for e in expressions())
    wrapped = prune_prefilter.install()
    # a trafilatura release whose texts changed wraps nothing: re-check them (see CHECKED)
    assert wrapped == len(CHECKED) + len(CHECKED_NODE), (
        f"re-check the expressions of trafilatura {trafilatura.__version__}"
    )
    for expression in expressions():
        assert isinstance(expression, Prefiltered) == (path_digest(expression.path) in CHECKED)
    for expression in node_expressions():
        checked = path_digest(expression.path) in CHECKED_NODE
        assert isinstance(expression, NodePrefiltered) == checked
    assert prune_prefilter.install() == wrapped  # twice is once
    prune_prefilter.uninstall()
    prune_prefilter.ensure_installed()  # leaves them out once uninstall() was called
    assert not any(isinstance(e, Prefiltered) for e in expressions())


def assert_needles_cover(test: re.Pattern[str], values: set[str], needles: tuple[str, ...]) -> None:
    """Some of `values` pass `test`, and each that does holds one of `needles`."""
    accepted = [v for v in values if test.search(v)]
    assert accepted, f"no value tries {test.pattern!r}"
    for value in accepted:
        assert any(needle in value for needle in needles), (test.pattern, value)


def test_every_value_the_tests_accept_holds_a_checked_string() -> None:
    """The needles are read off the patterns by hand; this tries them on values that match and
    on every id and class of the fixture pages."""
    values = {
        "comments", "Comment-list", "comment", "commentsWrap", "comol", "comol-list",
        "disqus_thread", "dsq-comments", "article-comments", "post-comments x",
        "x post-comments", "mvp-post-add-box", "mvp-post-add-wrap", "infinitescroll",
        "infinite-scroll-wrap", "elementor-share-buttons", "a elementor-share-buttons--view",
        "commentary", "main", "story",
    }  # fmt: skip
    for _, html in fixture_pages():
        tree = load_html(html)
        values.update(tree.xpath("//@id | //@class"))
    checked_patterns = 0
    for expression in expressions():
        digest = path_digest(expression.path)
        if digest not in CHECKED:
            continue
        tests = TESTS.findall(expression.path)
        assert tests, "a checked expression has re:test() or contains() tests"
        for kind, pattern, flags in tests:
            assert "i" not in (flags or "")  # the needles are case-sensitive
            compiled = re.compile(pattern if kind == "re:test" else re.escape(pattern))
            assert_needles_cover(compiled, values, CHECKED[digest])
            checked_patterns += 1
    assert checked_patterns >= 8


# Every test of the checked article-node expression, with the attributes it reads: re:test(),
# contains(), starts-with() and equality, each turned into a regular expression on a value.
NODE_TESTS = re.compile(
    r"""(re:test|contains|starts-with)\(((?:@[\w-]+\|?)+),\s*'([^']*)'(?:,\s*'([^']*)')?\)"""
    r"""|((?:@[\w-]+)+)='([^']*)'"""
)


def node_tests(path: str) -> list[tuple[tuple[str, ...], re.Pattern[str]]]:
    found = []
    for kind, attributes, pattern, flags, eq_attribute, eq_value in NODE_TESTS.findall(path):
        assert "i" not in (flags or "")  # the needles are case-sensitive
        if eq_attribute:
            found.append(((eq_attribute[1:],), re.compile(f"^{re.escape(eq_value)}$")))
            continue
        text = {"re:test": pattern, "contains": re.escape(pattern)}.get(kind)
        found.append(
            (
                tuple(a[1:] for a in attributes.split("|")),
                re.compile(text or f"^{re.escape(pattern)}"),
            )
        )
    return found


def test_every_value_the_node_tests_accept_holds_a_checked_string() -> None:
    """As for the raw-page expressions: the needles of the article-node expression, tried on
    values that pass each of its tests and on every such value of the fixture pages. Every test
    reads only NODE_ATTRIBUTES."""
    values = {
        "comments-title", "reply-form", "x-hidden", "hidden", "display:none", "a; display: none",
        "reader-comments", "akismet_comment_form", "hide-mobile", "x-hide-y", "hide-print",
        "a hidden", "b hide", "noprint", "notloaded", "nocomments", "x-reply-y", "message-box",
        "suggest-links", "true", "main", "story", "false", "bottom", "page-bottom x",
        "x bottom-bar", "link", "a link b", "links", "border: 1px solid", "unlinked",
    }  # fmt: skip
    for _, html in fixture_pages():
        tree = load_html(html)
        for name in NODE_ATTRIBUTES:
            values.update(tree.xpath(f"//@{name}"))
    checked_tests = 0
    for expression in node_expressions():
        digest = path_digest(expression.path)
        if digest not in CHECKED_NODE:
            continue
        tests = node_tests(expression.path)
        tested = expression.path.rsplit("][", 1)[-1]  # after a predicate on the tag, if any
        conditions = len(re.findall(r"\sor\s", tested)) + 1
        assert len(tests) == conditions, "every condition of the expression is a test found"
        for attributes, compiled in tests:
            assert set(attributes) <= set(NODE_ATTRIBUTES), attributes
            assert_needles_cover(compiled, values, CHECKED_NODE[digest])
            checked_tests += 1
    assert checked_tests >= 11


def test_the_node_expression_runs_only_when_the_node_has_a_needle() -> None:
    (expression,) = xpaths.OVERALL_DISCARD_XPATH[1:]
    assert isinstance(expression, NodePrefiltered)
    plain = load_html(PLAIN_PAGE).find(".//body")
    assert expression(plain) == [] and not expression.could_select(plain)
    hidden = load_html(PLAIN_PAGE.replace("<p>", '<p style="display: none">', 1)).find(".//body")
    assert expression.could_select(hidden) and len(expression(hidden)) == 1


def test_extraction_is_the_same_with_and_without(restored) -> None:
    pages = fixture_pages()
    assert len(pages) >= 6
    outputs = {}
    for mode in ("without", "with"):
        prune_prefilter.uninstall() if mode == "without" else prune_prefilter.install()
        outputs[mode] = [
            (
                extract_page(html, url="https://example.org/a", tz=TZ),
                trafilatura.extract(html, fast=True),
                trafilatura.extract(html, include_comments=True, favor_recall=True),
            )
            for _, html in pages
        ]
    for (name, _), without, with_ in zip(pages, outputs["without"], outputs["with"], strict=True):
        assert with_ == without, name
    # the prunes did run where needed: without them these pages extract otherwise
    emptied = {name: getattr(xpaths, name)[:] for name in (*PRUNE_LISTS, *CONVERTED_LISTS)}
    try:
        for name in emptied:
            getattr(xpaths, name).clear()
        for (name, html), with_ in zip(pages, outputs["with"], strict=False):
            if name in PRUNED_PAGES:
                assert extract_page(html, url="https://example.org/a", tz=TZ).text != with_[0].text
    finally:
        for name, expressions in emptied.items():
            getattr(xpaths, name)[:] = expressions


def test_an_expression_runs_only_when_the_page_has_a_needle() -> None:
    runs = []
    real = XPath(
        ".//*[self::div][re:test(@class, '^[Cc]omment')]", namespaces={"re": xpaths.REGEXP_NS}
    )

    def counted(tree):
        runs.append(tree)
        return real(tree)

    counted.path = real.path  # type: ignore[attr-defined]
    shortcut = Prefiltered(counted, ("omment",))
    no_needle = load_html(PLAIN_PAGE.replace("commentary-box", "analysis-box"))
    assert shortcut(no_needle) == [] and runs == []
    comments_box = load_html(PRUNED_PAGES["comments box"])  # "article-comments": a needle
    assert shortcut(comments_box) == [] and len(runs) == 1  # ... but no class starting so
    page = load_html(PLAIN_PAGE.replace("commentary-box", "Comment-box"))
    assert [e.get("class") for e in shortcut(page)] == ["Comment-box"] and len(runs) == 2


def test_unchecked_expressions_are_not_wrapped() -> None:
    other = XPath(
        ".//*[self::div][re:test(@class, 'comment-x')]", namespaces={"re": xpaths.REGEXP_NS}
    )
    assert path_digest(other.path) not in CHECKED


def test_the_converted_pages_prune_reads_that_trees_own_values() -> None:
    """REMOVE_COMMENTS_XPATH runs on the page once trafilatura has cleaned and converted it,
    maybe the same tree object as the raw page: its check reads the values the tree holds then,
    never the ones kept for the raw page (a change trafilatura made in between cannot hide a
    node from it)."""
    prune_prefilter.ensure_installed()
    assert all(isinstance(e, FreshPrefiltered) for e in xpaths.REMOVE_COMMENTS_XPATH)
    real = XPath(
        ".//*[self::div][re:test(@class, '^[Cc]omment')]", namespaces={"re": xpaths.REGEXP_NS}
    )
    raw, converted = Prefiltered(real, ("omment",)), FreshPrefiltered(real, ("omment",))
    page = load_html(PLAIN_PAGE.replace("commentary-box", "analysis-box"))
    assert not raw.could_select(page)  # the raw page's values, now kept for this tree
    page.find(".//div").set("class", "Comment-box")  # what no trafilatura step does today
    assert not raw.could_select(page)  # the kept values
    assert converted.could_select(page)
    assert [e.get("class") for e in converted(page)] == ["Comment-box"]
