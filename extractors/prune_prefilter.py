"""Let trafilatura skip prunes that cannot select anything: its raw-page ones, its comments prune
of the converted page, and two of the article node.

Before it cleans a page, trafilatura (2.3) prunes the whole parsed page with three XPath
expressions (RAW_TREE_PRUNE_XPATH: infinite-scroll boxes and share bars;
REMOVE_COMMENTS_AND_LISTS_XPATH: comment sections). Their re:test() predicates call back into
Python's `re` for every div, section and list of the page: on the pages of the synthetic site
the three took 3.2 ms of a 13 ms extraction, and on most pages they select nothing
(`python bench/extraction.py --speed` times extract_one with and without this module).
Favoring precision, it runs the comments' expression again on the page once cleaned and
converted (REMOVE_COMMENTS_XPATH, where a <dl> has become a <list>): 0.145 ms a page on the
synthetic site, 0.051 with the same check on that tree's own values (FreshPrefiltered).

Every node those expressions select has an id or class value that one of their re:test() or
contains() tests accepts, and every value such a test accepts contains one of a few fixed
strings (CHECKED, read off the patterns; tests/test_prune_prefilter.py checks each pattern's
alternatives against them). So when no id or class value of the page contains one of those
strings, the expression selects nothing and need not run. install() wraps the expressions, in
trafilatura's own lists, with that check: the page's id and class values come from one XPath
without callbacks, once per page. Extraction output is the same by construction (the test also
compares fixture pages extracted with and without it). An expression whose text is not one
this was checked against (another trafilatura release) is left as it is.

The same holds for two of the prunes trafilatura runs on the article node it extracts from
(OVERALL_DISCARD_XPATH[1]: hidden blocks, comment titles and forms; PRECISION_DISCARD_XPATH[1]:
"bottom" and "link" blocks), read against the node's id, class, style and aria-hidden values
(CHECKED_NODE, NodePrefiltered): their re:test() calls cost 0.34 and 0.14 ms a page on the
synthetic site, where they selected nothing on any of 100 pages, and the values are read in
0.06 ms (-3.7% CPU a page for extract_one with the first, interleaved per page).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from extractors.switch import PREFIX, Switch

# Expressions checked by hand, by the sha256 of their text: each selects only nodes whose id or
# class passes one of its re:test()/contains() tests, and every value those tests accept (none
# is a case-insensitive test) contains one of these strings.
CHECKED: dict[str, tuple[str, ...]] = {
    # RAW_TREE_PRUNE_XPATH[0]: 'mvp-post-add-(?:box|wrap)|infinite-?scroll' on id and class,
    # and 'mvp-post-add-(?:box|wrap)'
    "01e7c660fd6406f2": ("mvp-post-add-", "infinite"),
    # RAW_TREE_PRUNE_XPATH[1]: contains(@class, 'elementor-share-buttons')
    "3c7afe92279543d5": ("elementor-share-buttons",),
    # REMOVE_COMMENTS_AND_LISTS_XPATH[0]: '^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)'
    # and '^(?:[Cc]omment(?!ary)|comol)' on id, '^[Cc]omment(?!ary)|(?:article|post)-comments'
    # on class
    "9cc18d34e6e2d258": ("omment", "comol", "disqus_thread"),
    # REMOVE_COMMENTS_XPATH[0]: the same two tests, without the lists' own condition
    "5d97216ca15d0558": ("omment", "comol", "disqus_thread"),
}
# Only the lists run on the raw page: trafilatura applies them to it one after the other.
PRUNE_LISTS = ("RAW_TREE_PRUNE_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH")
# The list run on the page once cleaned and converted (favoring precision): checked against the
# same CHECKED strings, but always on the values that tree holds then (FreshPrefiltered), so
# that nothing depends on what trafilatura's cleaning and conversion do to attributes.
CONVERTED_LISTS = ("REMOVE_COMMENTS_XPATH",)
# Expressions trafilatura runs on the article node (prune_unwanted_sections), checked the same
# way against the node's id, class, style and aria-hidden values (NODE_ATTRIBUTES): each selects
# only nodes one of whose values passes one of its tests, and every value those tests accept
# (none is case-insensitive) contains one of these strings.
CHECKED_NODE: dict[str, tuple[str, ...]] = {
    # OVERALL_DISCARD_XPATH[1]: @class='comments-title'; starts-with(@id|@class, 'reply-');
    # 'hidden' on id and style; 'display:none' and 'display: none' in style;
    # 'reader-comments|akismet' on id; '^hide-|comments-title|nocomments|-reply-|message|
    # akismet|suggest-links|-hide-|hide-print| hidden| hide|noprint|notloaded' on class;
    # @aria-hidden='true'. On the synthetic site it took 0.34 ms a page and selected nothing.
    "c1d5b70b8cd03783": (
        "comments-title", "nocomments", "reply-", "hidden", "hide", "display:none",
        "display: none", "reader-comments", "akismet", "message", "suggest-links", "noprint",
        "notloaded", "true",
    ),
    # PRECISION_DISCARD_XPATH[1]: '(^|\s)bottom|bottom(\s|$)' and '(^|\s)link(\s|$)' on id and
    # class, 'border' in style. 0.14 ms a page on the synthetic site, selecting nothing.
    "53d31ea1df47920a": ("bottom", "link", "border"),
}  # fmt: skip
NODE_LISTS = ("OVERALL_DISCARD_XPATH", "PRECISION_DISCARD_XPATH")
NODE_ATTRIBUTES = ("id", "class", "style", "aria-hidden")
PAGE_ATTRIBUTES = ("id", "class")  # what the CHECKED expressions test, on the whole page


def path_digest(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:PREFIX]


class Prefiltered:
    """An lxml XPath that is run only when an id or class value of the page contains one of
    `needles`."""

    __slots__ = ("needles", "path", "xpath")

    def __init__(self, xpath: Any, needles: tuple[str, ...]) -> None:
        self.xpath, self.needles, self.path = xpath, needles, xpath.path

    def __call__(self, tree: Any, **variables: Any) -> Any:
        if variables or self.could_select(tree):
            return self.xpath(tree, **variables)
        return []

    def could_select(self, tree: Any) -> bool:
        values = self.values(tree)
        return any(needle in values for needle in self.needles)

    @staticmethod
    def values(tree: Any) -> str:
        """The attribute values the needles are looked for in: the raw page's id and class,
        read once for the page (_attribute_values)."""
        return _attribute_values(tree)

    def __repr__(self) -> str:
        return f"Prefiltered({' '.join(self.path.split())[:60]!r}...)"


class FreshPrefiltered(Prefiltered):
    """A Prefiltered expression run on a tree trafilatura has changed since it read the raw
    page's values (cleaned, converted): that tree's own id and class values are read for each
    call, never the ones kept for the raw page."""

    __slots__ = ()

    @staticmethod
    def values(tree: Any) -> str:
        return _values(tree, PAGE_ATTRIBUTES)


class NodePrefiltered(Prefiltered):
    """A Prefiltered expression run on an article node: the node's own NODE_ATTRIBUTES values
    and those under it are read for each call (trafilatura runs it once a node)."""

    __slots__ = ()

    @staticmethod
    def values(tree: Any) -> str:
        return _values(tree, NODE_ATTRIBUTES)


@functools.cache
def _value_paths(names: tuple[str, ...]) -> tuple[Any, ...]:
    """XPaths of the values of these attributes on a node and under it, one for each: their
    union would be sorted in document order, for nothing."""
    from lxml.etree import XPath

    return tuple(XPath(f".//@{name}", smart_strings=False) for name in names)


def _values(tree: Any, names: tuple[str, ...]) -> str:
    """The values of the attributes `names` of `tree` and the nodes under it, one per line."""
    return "\n".join(value for path in _value_paths(names) for value in path(tree))


# The values of the last page searched, kept with the page: trafilatura prunes the raw page with
# its two lists one after the other, and its code never adds an id or class to a page (it only
# removes nodes), so values collected for the first list still cover all the page can match.
_last: tuple[Any, str] | None = None


def _attribute_values(tree: Any) -> str:
    """The id and class values of `tree` and the nodes under it, one per line."""
    global _last
    last = _last  # read once: another thread may set it meanwhile
    if last is not None and last[0] is tree:
        return last[1]
    values = _values(tree, PAGE_ATTRIBUTES)
    _last = (tree, values)
    return values


_wrappers: dict[int, Prefiltered] = {}  # id of trafilatura's expression -> its wrapper


def _install() -> int:
    """Wrap trafilatura's checked prune expressions: the raw page's, the converted page's
    comments prune and two of the article node's (once per process); returns how many are
    wrapped in all."""
    from trafilatura import xpaths

    wrapped = 0
    lists = [(name, CHECKED, Prefiltered) for name in PRUNE_LISTS]
    lists += [(name, CHECKED, FreshPrefiltered) for name in CONVERTED_LISTS]
    lists += [(name, CHECKED_NODE, NodePrefiltered) for name in NODE_LISTS]
    for name, checked, kind in lists:
        expressions = getattr(xpaths, name, None)
        if not isinstance(expressions, list):
            continue
        for i, expression in enumerate(expressions):
            if isinstance(expression, Prefiltered):
                wrapped += 1
                continue
            wrapper = _wrappers.get(id(expression))
            if wrapper is None:
                needles = checked.get(path_digest(getattr(expression, "path", "") or ""))
                if needles is None:
                    continue
                wrapper = _wrappers[id(expression)] = kind(expression, needles)
            expressions[i] = wrapper
            wrapped += 1
    return wrapped


def _uninstall() -> None:
    """Put trafilatura's own expressions back (for measurements and tests)."""
    from trafilatura import xpaths

    for name in (*PRUNE_LISTS, *CONVERTED_LISTS, *NODE_LISTS):
        expressions = getattr(xpaths, name, None)
        if isinstance(expressions, list):
            for i, expression in enumerate(expressions):
                if isinstance(expression, Prefiltered):
                    expressions[i] = expression.xpath


# install() wraps, uninstall() unwraps (ensure_installed() then leaves them until install() is
# called again), disabled() unwraps for a block: see extractors.switch.
_switch = Switch(_install, _uninstall)
install, uninstall = _switch.install, _switch.uninstall
ensure_installed, disabled = _switch.ensure_installed, _switch.disabled
