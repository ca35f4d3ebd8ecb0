"""How marsad's changes to trafilatura (extractors.prune_prefilter, extractors.lean_sequence,
extractors.plain_elements, extractors.page_tree) are switched on and off, the same way for
each, and how a change checks that trafilatura's code is still the code it was checked against."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
PREFIX = 16  # hex digits of a source text's sha256 compared


def source_digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()[:PREFIX]


def sources_unchanged(module: Any, checked: Mapping[str, str]) -> bool:
    """Whether each function of `module` named in `checked` has the source digest given there
    (False when one is missing or has no source to read, a frozen install say)."""
    for name, digest in checked.items():
        function = getattr(module, name, None)
        try:
            if function is None or source_digest(function) != digest:
                return False
        except (OSError, TypeError):
            return False
    return True


class Switch(Generic[T]):
    """`install()` puts a change in (`put_in`, whose result it returns) and `uninstall()` takes
    it out; `ensure_installed()` installs it unless either was called before in this process
    (so a measurement or test that took it out keeps it out); `disabled()` takes it out for the
    duration of a block (to time trafilatura as it comes)."""

    def __init__(self, put_in: Callable[[], T], take_out: Callable[[], None]) -> None:
        self._put_in, self._take_out = put_in, take_out
        self.state = "untouched"

    def install(self) -> T:
        self.state = "installed"
        return self._put_in()

    def uninstall(self) -> None:
        self._take_out()
        self.state = "removed"

    def ensure_installed(self) -> None:
        if self.state == "untouched":
            self.install()

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        was = self.state
        self.uninstall()
        try:
            yield
        finally:
            if was == "installed":
                self.install()
            self.state = was
