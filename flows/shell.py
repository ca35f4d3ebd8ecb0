"""`marsad sql` with no query: an interactive read-only SQL shell.

The duckdb CLI (from the duckdb-cli package) is used when it is installed; otherwise a small
line-based shell that runs one statement per `;`-terminated input.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from warehouse.queries import QueryError, query
from warehouse.sql_server import opened_for_reading, running_server


def interactive_shell(db: Path) -> int:
    """Run a read-only shell on the warehouse until EOF (Ctrl-D) or `.quit`."""
    beside = Path(sys.executable).parent / "duckdb"  # the duckdb-cli package's binary
    duckdb_cli = str(beside) if beside.exists() else shutil.which("duckdb")
    server = running_server(db)
    if duckdb_cli and sys.stdin.isatty() and server is None:
        return subprocess.call([duckdb_cli, "-readonly", str(db)])
    from flows.cli import print_rows

    if server is not None:
        print("marsad serve-sql holds the warehouse; SQL clients can attach with:")
        print(server.client_sql())
    print(f"marsad sql on {db} (read-only). End statements with ';'. .quit or Ctrl-D to leave.")
    buffer: list[str] = []
    with opened_for_reading(db) as con:
        while True:
            try:
                line = input("marsad> " if not buffer else "   ...> ")
            except EOFError:
                print()
                break
            if not buffer and line.strip() in (".quit", ".exit", "\\q"):
                break
            buffer.append(line)
            statement = "\n".join(buffer).strip()
            if not statement.endswith(";"):
                continue
            buffer.clear()
            try:
                columns, rows = query(con, statement)
            except QueryError as exc:
                print(f"error: {exc}", file=sys.stderr)
                continue
            if columns:
                print_rows(columns, rows)
    return 0
