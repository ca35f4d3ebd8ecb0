"""The warehouse's exceptions, apart from warehouse.db so that catching them imports no DuckDB.

The `marsad` command catches WarehouseError around every subcommand, and its module (flows.cli)
imports what each subcommand uses only when it runs. An extraction process started while the
main script imported flows.cli -> warehouse.db loaded DuckDB for nothing (+50 MB each), before
extractors.workers.SPAWN_WITHOUT_MAIN kept them from importing the main script at all.
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
