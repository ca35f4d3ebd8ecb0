"""The `marsad` command line. Every subcommand takes --config and --db after its name.

User errors (bad configuration, a file that is not a warehouse, a locked warehouse) end with exit
code 2 and one sentence on stderr; --debug shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from flows.config import Config, ConfigError, default_config_path, load_config
from flows.summary import describe_run
from warehouse.errors import WarehouseError  # not warehouse.db: see warehouse/errors.py

EXIT_USAGE = 2


class UserError(Exception):
    """An error the user can fix; printed as one sentence."""


def main(argv: Sequence[str] | None = None) -> int:
    # Prefect's progress logs go to stdout with the summary; stderr carries only errors.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_STREAM", "ext://sys.stdout")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, WarehouseError, UserError) as exc:
        if args.debug:
            raise
        print(f"marsad: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("marsad: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, help="configuration file (default: $MARSAD_CONFIG or ./marsad.toml)"
    )
    common.add_argument(
        "--db", type=Path, help="warehouse file (default: $MARSAD_DB or warehouse.path)"
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks")

    parser = argparse.ArgumentParser(
        prog="marsad", description="Arabic news monitoring: RSS to DuckDB."
    )
    parser.set_defaults(debug=False)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="one ingest pass over the feeds")
    run.add_argument(
        "--feed", action="append", dest="feeds", metavar="NAME", help="only this feed (repeatable)"
    )
    run.add_argument("--due", action="store_true", help="only feeds whose next poll time has come")
    run.set_defaults(handler=cmd_run)

    serve = sub.add_parser(
        "serve", parents=[common], help="run the scheduled deployments until stopped"
    )
    serve.set_defaults(handler=cmd_serve)

    feeds = sub.add_parser("feeds", help="list and manage feeds")
    feeds_sub = feeds.add_subparsers(title="feeds commands", metavar="COMMAND")
    feeds_list = feeds_sub.add_parser("list", parents=[common], help="each feed with its health")
    feeds_list.set_defaults(handler=cmd_feeds_list)
    feeds_add = feeds_sub.add_parser("add", parents=[common], help="add a feed (or a site's feed)")
    feeds_add.add_argument("url", help="a feed URL, or a site's home page whose feed is discovered")
    feeds_add.add_argument("--name", help="feed name, [a-z0-9_-]+ (default: from the host)")
    feeds_add.add_argument("--source", help="the outlet's name (default: the feed name)")
    feeds_add.set_defaults(handler=cmd_feeds_add)
    feeds_import = feeds_sub.add_parser(
        "import-opml", parents=[common], help="add the feeds of an OPML file"
    )
    feeds_import.add_argument("file", type=Path)
    feeds_import.set_defaults(handler=cmd_feeds_import)
    feeds_export = feeds_sub.add_parser(
        "export-opml", parents=[common], help="print the feeds as OPML"
    )
    feeds_export.set_defaults(handler=cmd_feeds_export)

    sql = sub.add_parser("sql", parents=[common], help="run a read-only query (no query: a shell)")
    sql.add_argument("query", nargs="?", help="SQL to run")
    sql.set_defaults(handler=cmd_sql)

    from flows.analyst_cli import add_analyst_parsers
    from flows.reextract import add_reextract_parser

    add_analyst_parsers(sub, common)
    add_reextract_parser(sub, common)

    demo = sub.add_parser("demo", parents=[common], help="ingest the bundled sample feeds offline")
    demo.add_argument(
        "--port", type=int, default=0, help="port for the sample site (default: any free)"
    )
    demo.set_defaults(handler=cmd_demo)
    return parser


def resolve(args: argparse.Namespace) -> tuple[Config, Path]:
    """The configuration and warehouse path a command uses."""
    config = load_config(args.config or default_config_path())
    return config, warehouse_path(args) or config.warehouse.path


def warehouse_path(args: argparse.Namespace) -> Path | None:
    """--db, else $MARSAD_DB; None when neither is given (the config's warehouse.path then)."""
    return args.db or (Path(os.environ["MARSAD_DB"]) if os.environ.get("MARSAD_DB") else None)


def resolve_db(args: argparse.Namespace) -> Path:
    """The warehouse path for commands that only read it: no configuration needed with --db."""
    return warehouse_path(args) or resolve(args)[1]


def check_warehouse(db: Path, lock_timeout_s: float = 30.0) -> None:
    """Open the warehouse once so a bad --db fails fast, before Prefect starts."""
    from warehouse.sql_server import opened_shared

    with opened_shared(db, lock_timeout_s=lock_timeout_s):
        pass


def cmd_run(args: argparse.Namespace) -> int:
    config, db = resolve(args)
    for name in args.feeds or ():
        config.feed(name)  # unknown names fail here, with the config file named
    check_warehouse(db, config.warehouse.lock_timeout_s)
    record = run_pass(config, db, feeds=args.feeds, due_only=args.due)
    print_summary(record)
    return 0


def run_pass(
    config: Config, db: Path, *, feeds: Sequence[str] | None = None, due_only: bool = False
) -> dict:
    """Run the ingest flow in this process (Prefect's embedded server unless PREFECT_API_URL).
    A pass that could not run raises UserError with the flow's one-sentence message."""
    from flows.ingest import in_the_foreground, ingest

    with in_the_foreground():
        state = ingest(
            config_path=str(config.path) if config.path else None,
            db_path=str(db),
            feeds=list(feeds) if feeds else None,
            due_only=due_only,
            return_state=True,
        )
    if not state.is_completed():
        raise UserError(state.message or f"the pass ended {state.name}")
    return state.result()


def cmd_serve(args: argparse.Namespace) -> int:
    config, db = resolve(args)
    check_warehouse(db)
    from flows.prefect_server import PrefectServerError
    from flows.serve import serve_forever

    try:
        serve_forever(config, db)
    except PrefectServerError as exc:
        raise UserError(str(exc)) from None
    return 0


def print_summary(record: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"marsad pass {record.get('run_id', '')}: {record.get('status', '')}")
    for column in ("feed", "status", "entries", "new", "page errors", "note"):
        table.add_column(
            column, justify="right" if column in ("entries", "new", "page errors") else "left"
        )
    for row in record.get("feeds", []):
        table.add_row(
            row["feed"], row["status"], str(row["entries"]), str(row["new"]),
            str(row["page_errors"]), (row["note"] or "")[:80],
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(describe_run(record), soft_wrap=True)


def cmd_feeds_list(args: argparse.Namespace) -> int:
    config, db = resolve(args)
    from warehouse.feeds import FeedDefinition, sync_feeds
    from warehouse.queries import query
    from warehouse.sql_server import opened_shared as opened

    with opened(db) as con:
        sync_feeds(
            con,
            [
                FeedDefinition(f.name, f.url, f.source, f.language, f.timezone, f.enabled)
                for f in config.feeds
            ],
        )
        columns, rows = query(
            con,
            "SELECT name, source, health, last_polled_at, last_status, "
            "consecutive_failures AS failures, articles, last_error FROM feed_health ORDER BY name",
        )
    print_rows(columns, rows)
    return 0


def cmd_feeds_add(args: argparse.Namespace) -> int:
    from flows.feed_admin import FeedAdminError, NewFeed, add_feeds, resolve_feed_url
    from flows.ingest import fetch_policy

    config, _db = resolve(args)
    try:
        url = resolve_feed_url(args.url, fetch_policy(config), config.fetch.max_feed_bytes)
        added = add_feeds(
            config.path or default_config_path(), [NewFeed(url, args.name, args.source)]
        )
    except FeedAdminError as exc:
        raise UserError(str(exc)) from None
    if not added:
        print(f"{url} is already configured.")
    for feed in added:
        print(f"added feed {feed.name}: {feed.url}")
    return 0


def cmd_feeds_import(args: argparse.Namespace) -> int:
    from flows.feed_admin import FeedAdminError, add_feeds, read_opml

    config, _db = resolve(args)
    try:
        feeds = read_opml(args.file)
        added = add_feeds(config.path or default_config_path(), feeds)
    except FeedAdminError as exc:
        raise UserError(str(exc)) from None
    print(f"{len(added)} feeds added, {len(feeds) - len(added)} already configured.")
    return 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    from flows.feed_admin import write_opml

    config, _db = resolve(args)
    sys.stdout.write(write_opml(config))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    db = resolve_db(args)
    from warehouse.queries import QueryError, query
    from warehouse.sql_server import opened_for_reading

    if not args.query:
        from flows.shell import interactive_shell

        return interactive_shell(db)
    with opened_for_reading(db) as con:
        try:
            columns, rows = query(con, args.query)
        except QueryError as exc:
            raise UserError(str(exc)) from None
    print_rows(columns, rows)
    return 0


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    console = Console()
    console.print(table)
    console.print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    db = args.db or Path("data/demo.duckdb")
    record = run_demo(db, port=args.port)
    print_summary(record)
    query = "select source, count(*) from articles group by 1"
    print(f'\nThe demo warehouse is {db}. Try:\n  marsad sql --db {db} "{query}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
