"""How marsad's changes to trafilatura (extractors.prune_prefilter, extractors.lean_sequence)
are switched on and off, the same way for each."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


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
