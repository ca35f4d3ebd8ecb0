"""Progress events of a pass, for whoever shows them (the CLI's progress display).

The flow calls emit(); a listener registered with listen() receives (event, data). With no
listener (a deployment run), emit() does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]
_listeners: list[Listener] = []


def emit(event: str, **data: Any) -> None:
    for listener in list(_listeners):
        listener(event, data)


@contextmanager
def listen(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
