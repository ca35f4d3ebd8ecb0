"""`marsad serve-sql`: the warehouse served over DuckDB's Quack protocol, shared with passes.

DuckDB lets one process open a file for writing. While `serve-sql` runs, that process is the
server: it holds the file, serves SQL clients over Quack (token required, 127.0.0.1 unless told
otherwise), and announces itself in a registration file beside the warehouse
(`<warehouse>.serve-sql.json`, readable by its owner only). A pass that finds a live server
there sends its statements through it instead of opening the file: `opened_shared()` gives it
a `ServedConnection`, which runs each statement, transaction and Arrow table on the server, so
warehouse functions such as `load_batch` work unchanged and clients see each batch as soon as
it commits. Arrow tables travel as Parquet files in a directory beside the warehouse (the pass
and the server share the machine: the registration file is found beside the warehouse too).

In DuckDB 1.5.5 a Quack client cannot UPDATE or upsert through an attached catalog, nor call
macros; statements therefore run server-side through the catalog's `query()` function, in the
client's own server session (its transactions, prepared statements and temporary views).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import count
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.db import WarehouseError, connect, opened
from warehouse.extensions import load_extension

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9494
CATALOG = "marsad"  # the name clients attach the served warehouse as


class ServeError(WarehouseError):
    """The SQL server could not start or be reached; the message says why and what to do."""


@dataclass(frozen=True)
class ServerInfo:
    """A running serve-sql: where it listens, its token, and the warehouse it serves."""

    database: str
    pid: int
    host: str
    port: int
    token: str

    @property
    def uri(self) -> str:
        return f"quack:{self.host}:{self.port}"

    def client_sql(self) -> str:
        """The statements a DuckDB client (1.5.5, with the quack and httpfs extensions) runs to
        attach the served warehouse as `marsad`."""
        return (
            "INSTALL quack; LOAD quack; INSTALL httpfs;\n"
            f"ATTACH '{self.uri}' AS {CATALOG} (TOKEN '{self.token}');\n"
            f"USE {CATALOG};"
        )


def registration_path(db: Path | str) -> Path:
    """Where a server announces itself for the warehouse at `db`."""
    db = Path(db)
    return db.with_name(db.name + ".serve-sql.json")


def running_server(db: Path | str) -> ServerInfo | None:
    """The live server registered for `db`, or None (no registration, or its process is gone)."""
    path = registration_path(db)
    try:
        info = ServerInfo(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return info


class SqlServer:
    """Serve the warehouse at `db` over Quack until stopped (a context manager).

    Opening the warehouse waits for a pass that holds it, as every writer does."""

    def __init__(
        self,
        db: Path | str,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        token: str | None = None,
    ) -> None:
        self.db = Path(db)
        self.host, self.port = host, port
        self.token = token or secrets.token_urlsafe(24)
        self.info: ServerInfo | None = None
        self._con: duckdb.DuckDBPyConnection | None = None

    def start(self) -> ServerInfo:
        """Open the warehouse, start listening and register. Raises ServeError."""
        other = running_server(self.db)
        if other is not None:
            raise ServeError(
                f"{self.db}: already served by process {other.pid} at {other.uri}; "
                "stop that one first or attach to it."
            )
        con = connect(self.db)
        try:
            for name in ("quack", "fts"):
                load_extension(con, name)
            options = ", allow_other_hostname => true" if self.host not in _LOCAL else ""
            con.execute(
                f"CALL quack_serve('quack:{self.host}:{self.port}', token => ?{options})",
                [self.token],
            )
        except duckdb.Error as exc:
            con.close()
            raise ServeError(
                f"{self.db}: cannot serve on {self.host}:{self.port} "
                f"({str(exc).splitlines()[0]}); pick another --port."
            ) from None
        except BaseException:
            con.close()
            raise
        self._con = con
        self.info = ServerInfo(
            str(self.db.resolve()), os.getpid(), self.host, self.port, self.token
        )
        path = registration_path(self.db)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(asdict(self.info), handle)
        return self.info

    def stop(self) -> None:
        """Stop listening, unregister and close the warehouse."""
        if self._con is None:
            return
        info = running_server(self.db)
        if info is not None and info.pid == os.getpid():
            registration_path(self.db).unlink(missing_ok=True)
        with suppress(duckdb.Error):  # closing the connection stops it too
            self._con.execute("FROM quack_stop(?)", [f"quack:{self.host}:{self.port}"]).fetchall()
        self._con.close()
        self._con = None

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_LOCAL = ("127.0.0.1", "localhost", "::1")


def attach(info: ServerInfo) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the served warehouse attached as `marsad` and in
    use, so unqualified names (articles, stories, ...) are the warehouse's. Raises ServeError."""
    con = duckdb.connect()
    try:
        for name in ("quack", "httpfs"):
            load_extension(con, name)
        con.execute(f"ATTACH '{info.uri}' AS {CATALOG} (TOKEN '{info.token}')")
        con.execute(f"USE {CATALOG}")
    except duckdb.Error as exc:
        con.close()
        raise ServeError(
            f"{info.database}: cannot reach the SQL server at {info.uri} "
            f"({str(exc).splitlines()[0]}); is `marsad serve-sql` (PID {info.pid}) running?"
        ) from None
    return con


class ServedConnection:
    """The part of a DuckDB connection that warehouse functions use (execute with ? or $name
    parameters, register/unregister of Arrow tables, transactions, close), carried out on the
    server. Results are fetched from the returned local cursor as usual."""

    def __init__(self, info: ServerInfo, *, read_only: bool = False) -> None:
        self.info = info
        self.read_only = read_only
        self._local = attach(info)
        self._names = count()
        self._prepared: dict[str, str] = {}
        database = Path(info.database)
        self._staging = database.with_name(f".{database.name}.staging")
        if read_only:  # everything runs in one transaction, rolled back on close
            self._remote("BEGIN TRANSACTION")

    def execute(
        self, sql: str, parameters: Sequence[object] | Mapping[str, object] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run `sql` on the server and return a cursor over its result."""
        if not parameters:
            return self._remote(sql)
        name = self._prepared.get(sql)
        if name is None:  # prepared once per session, kept until it closes
            name = f"marsad_statement_{next(self._names)}"
            self._remote(f"PREPARE {name} AS {sql}")
            self._prepared[sql] = name
        if isinstance(parameters, Mapping):
            values = ", ".join(f"{k} := {sql_literal(v)}" for k, v in parameters.items())
        else:
            values = ", ".join(sql_literal(v) for v in parameters)
        return self._remote(f"EXECUTE {name}({values})")

    def register(self, name: str, table: pa.Table) -> None:
        """Make the Arrow table `table` readable as `name` by later statements (a temporary
        table of this session on the server, loaded from a Parquet file beside the warehouse,
        which both processes can read)."""
        self._staging.mkdir(mode=0o700, exist_ok=True)
        path = self._staging / f"{name}-{os.getpid()}-{next(self._names)}.parquet"
        pq.write_table(table, path, compression="none")
        try:
            quoted = str(path.resolve()).replace("'", "''")
            self._remote(
                f"CREATE OR REPLACE TEMP TABLE \"{name}\" AS FROM read_parquet('{quoted}')"
            )
        finally:
            path.unlink(missing_ok=True)

    def unregister(self, name: str) -> None:
        self._remote(f'DROP TABLE IF EXISTS temp.main."{name}"')

    def close(self) -> None:
        try:
            if self.read_only:
                self._remote("ROLLBACK")
        except duckdb.Error:
            pass  # the server ended the transaction already
        finally:
            self._local.close()

    def _remote(self, sql: str) -> duckdb.DuckDBPyConnection:
        return self._local.execute(f"FROM {CATALOG}.query(?)", [sql])


def sql_literal(value: object) -> str:
    """`value` written as a DuckDB SQL literal (for EXECUTE on the server)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return f"CAST('{value!r}' AS DOUBLE)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return f"{kind} '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return "[" + ", ".join(sql_literal(v) for v in items) + "]"
    raise TypeError(f"cannot send a {type(value).__name__} parameter to the SQL server")


@contextmanager
def opened_shared(db: Path | str, **kwargs: object) -> Iterator[object]:
    """Like warehouse.db.opened(db, **kwargs), but through the running `marsad serve-sql` when
    one serves `db`: then every statement runs on the server, and the file is never opened
    here. This is what a pass uses, so it can write while SQL clients are attached."""
    info = running_server(db)
    if info is None:
        with opened(db, **kwargs) as con:  # type: ignore[arg-type]
            yield con
        return
    served = ServedConnection(info)
    try:
        yield served
    finally:
        served.close()


@contextmanager
def opened_for_reading(db: Path | str, lock_timeout_s: float = 10.0) -> Iterator[object]:
    """A read-only connection to the warehouse at `db`: through the running `marsad serve-sql`
    when one serves it (inside a transaction that is rolled back, so nothing is written), else
    the file opened read-only."""
    info = running_server(db)
    if info is None:
        with opened(db, read_only=True, lock_timeout_s=lock_timeout_s) as con:
            yield con
        return
    served = ServedConnection(info, read_only=True)
    try:
        yield served
    finally:
        served.close()
