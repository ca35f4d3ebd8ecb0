"""Let trafilatura skip the tree copies it makes for stages a pass's extraction never runs.

trafilatura (2.3.1) prepares a parsed page in `core._prepare_tree`: it cleans a *copy* of the
raw tree, because the raw tree is read again by its rescue stages (the baseline, the recall
escalation, the comparison with readability and jusText), and it copies the cleaned tree before
converting its tags, as a backup for that comparison and for comment capture on forum pages.
With the options marsad extracts with (fast, favor_precision, no comments:
extractors.article.TRAFILATURA_OPTIONS) none of those stages runs in `trafilatura_sequence`:
the comparison only without fast, the baseline only without favor_precision, the escalation only
in the balanced focus, comment capture only with comments. Neither copy is then read again.
And `bare_extraction` copies a tree it is given, so that the caller's stays as it was:
extract_page reads the page's metadata before the extraction, and does not need it to.
The three copies were ~7% of extract_one's CPU on the synthetic site's pages (py-spy).

install() replaces `_prepare_tree` with one that, for exactly those options, cleans the raw tree
in place and keeps no backup (trafilatura's own runs otherwise), and core's copy() with one that
returns, once, a tree the caller handed over (`handed_over`) instead of copying it. That the
rest reads none of these was checked by reading the functions in CHECKED_SOURCES; install()
leaves trafilatura as it is when any of their source texts differs (another trafilatura
release). tests/test_lean_sequence.py compares fixture pages extracted with and without it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from extractors.switch import Switch, sources_unchanged

# The functions of trafilatura.core read to check that, with fast, favor_precision and no
# comments, nothing reads the raw tree after _prepare_tree or the backup it returns.
CHECKED_SOURCES = {
    "bare_extraction": "2e57adb3062086f9",
    "trafilatura_sequence": "f03dc4d2946dacbd",
    "_prepare_tree": "9595f0642825c2c7",
    "_extract_and_compare": "f7d056c2118222e8",
}

_original: Any = None  # trafilatura's _prepare_tree, once install() replaced it
_given: Any = None  # the tree a caller handed over (handed_over), until trafilatura takes it


def applies(options: Any) -> bool:
    """Whether an extraction with these trafilatura options reads neither copy."""
    return bool(options.fast) and options.focus == "precision" and not options.comments


def _lean_prepare_tree(tree: Any, options: Any, url: str | None) -> tuple[Any, Any]:
    if not applies(options):
        return _original(tree, options, url)
    from trafilatura.htmlprocessing import convert_tags, tree_cleaning

    return convert_tags(tree_cleaning(tree, options), options, url), None


def _copy(value: Any) -> Any:
    """trafilatura.core's copy(): the handed-over tree itself, once, else a copy."""
    global _given
    if value is _given and value is not None:
        _given = None
        return value
    return copy.copy(value)


@contextlib.contextmanager
def handed_over(tree: Any) -> Iterator[bool]:
    """Within the block, trafilatura's bare_extraction works on `tree` itself instead of the
    copy it makes of a tree it is given (once): for a caller that reads the tree no more.
    Yields whether that is so (the lean preparation is installed); the tree may then have been
    changed whatever the block did."""
    global _given
    if not installed():
        yield False
        return
    _given = tree
    try:
        yield True
    finally:
        _given = None


def checked() -> bool:
    """Whether trafilatura's functions are those this module was checked against."""
    from trafilatura import core

    return sources_unchanged(core, CHECKED_SOURCES)


def _install() -> bool:
    """Replace trafilatura's _prepare_tree and core's copy() (once per process) if its sequence
    is the one checked; returns whether the lean preparation is in place."""
    global _original
    from trafilatura import core

    if _original is None:
        if not checked():
            return False
        _original = core._prepare_tree
    core._prepare_tree = _lean_prepare_tree
    core.copy = _copy
    return True


def _uninstall() -> None:
    """Put trafilatura's own _prepare_tree and copy() back (for measurements and tests)."""
    from trafilatura import core

    if _original is not None:
        core._prepare_tree = _original
        core.copy = copy.copy


def installed() -> bool:
    from trafilatura import core

    return core._prepare_tree is _lean_prepare_tree


# install(), uninstall(), ensure_installed() and disabled() (trafilatura's own preparation for
# a block, to time it as it comes): see extractors.switch.
_switch = Switch(_install, _uninstall)
install, uninstall = _switch.install, _switch.uninstall
ensure_installed, disabled = _switch.ensure_installed, _switch.disabled
