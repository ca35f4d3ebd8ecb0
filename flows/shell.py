"""`marsad sql` with no query: an interactive read-only SQL shell.

The duckdb CLI (from the duckdb-cli package) is used when it is installed; otherwise a small
line-based shell that runs one statement per `;`-terminated input.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from warehouse.queries import QueryError, open_read_only, query


def interactive_shell(db: Path) -> int:
    """Run a read-only shell on the warehouse until EOF (Ctrl-D) or `.quit`."""
    duckdb_cli = shutil.which("duckdb")
    if duckdb_cli and sys.stdin.isatty():
        return subprocess.call([duckdb_cli, "-readonly", str(db)])
    from flows.cli import print_rows

    con = open_read_only(db)
    print(f"marsad sql on {db} (read-only). End statements with ';'. .quit or Ctrl-D to leave.")
    buffer: list[str] = []
    try:
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
    finally:
        con.close()
    return 0
