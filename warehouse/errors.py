"""The warehouse's exceptions, apart from warehouse.db so that catching them imports no DuckDB.

The `marsad` command catches WarehouseError around every subcommand. Its module is also what
each extraction process imports first: a process started by "spawn" runs the parent's main
script again, and for `marsad run` and `marsad serve` that script imports flows.cli. With the
exceptions in warehouse.db, every extraction process loaded DuckDB for nothing (+50 MB each).
"""

from __future__ import annotations


class WarehouseError(Exception):
    """The warehouse file cannot be used; the message names the file and what to do."""


class NotAWarehouse(WarehouseError):
    pass


class NewerWarehouse(WarehouseError):
    pass


class WarehouseLocked(WarehouseError):
    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid
