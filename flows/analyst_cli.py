"""The analysts' commands: `marsad search`, `marsad export` and `marsad serve-sql`.

`add_analyst_parsers(sub, common)` registers them on the `marsad` parser (flows/cli.py). Each
reads the warehouse through `opened_for_reading`, so it works while `marsad serve-sql` holds
the file.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import warnings
from datetime import date
from pathlib import Path
from types import FrameType

JSON_KEYS = ("article_id", "url", "title", "source", "published_at", "score", "snippet")


def add_analyst_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `search`, `export` and `serve-sql` on the subcommand parser `sub`."""
    from warehouse.export import FORMATS
    from warehouse.sql_server import DEFAULT_HOST, DEFAULT_PORT

    search = sub.add_parser(
        "search", parents=[common], help="full-text search (Arabic-aware) in titles and bodies"
    )
    search.add_argument("text", help="words to find (every word must occur, in any inflection)")
    search.add_argument("--limit", type=_positive, default=20, help="results (default: 20)")
    search.add_argument("--json", action="store_true", help="one JSON object per line")
    search.set_defaults(handler=cmd_search)

    export = sub.add_parser("export", parents=[common], help="export articles to files")
    export.add_argument("--out", type=Path, required=True, help="directory to write into")
    export.add_argument("--format", choices=FORMATS, default="parquet", dest="fmt")
    export.add_argument(
        "--since", type=_day, help="only articles of this day (YYYY-MM-DD) or later"
    )
    export.set_defaults(handler=cmd_export)

    serve = sub.add_parser(
        "serve-sql", parents=[common], help="serve the warehouse to SQL clients (Quack)"
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"(default: {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"(default: {DEFAULT_PORT})")
    serve.add_argument("--token", help="the token clients must give (default: a random one)")
    serve.set_defaults(handler=cmd_serve_sql)


def cmd_search(args: argparse.Namespace) -> int:
    from flows.cli import UserError, resolve_db
    from warehouse.search import SearchError, search
    from warehouse.sql_server import opened_for_reading

    with (
        warnings.catch_warnings(record=True) as caught,
        opened_for_reading(resolve_db(args)) as con,
    ):
        warnings.simplefilter("always", RuntimeWarning)
        try:
            hits = search(con, args.text, args.limit)  # type: ignore[arg-type]
        except SearchError as exc:
            raise UserError(str(exc)) from None
    for warning in caught:
        print(f"marsad: warning: {warning.message}", file=sys.stderr)
    for rank, hit in enumerate(hits, 1):
        if args.json:
            record = {key: getattr(hit, key) for key in JSON_KEYS}
            when = hit.published_at
            record["published_at"] = when.isoformat() if when else None
            print(json.dumps(record, ensure_ascii=False))
            continue
        when = hit.published_at.strftime("%Y-%m-%d %H:%M UTC") if hit.published_at else "no date"
        print(f"{rank}. {hit.title or '(no title)'}")
        print(f"   {hit.source or '?'} · {when} · score {hit.score:.2f}")
        if hit.snippet:
            print(f"   {hit.snippet}")
        print(f"   {hit.url}")
    if not args.json:
        print(f"({len(hits)} result{'s' if len(hits) != 1 else ''})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from flows.cli import UserError, resolve_db
    from warehouse.export import ExportError, export_articles
    from warehouse.sql_server import opened_for_reading

    with opened_for_reading(resolve_db(args)) as con:
        try:
            result = export_articles(con, args.out, args.fmt, args.since)  # type: ignore[arg-type]
        except ExportError as exc:
            raise UserError(str(exc)) from None
    print(f"{result.articles} articles exported to {result.path} ({result.format})")
    return 0


def cmd_serve_sql(args: argparse.Namespace) -> int:
    from flows.cli import resolve_db
    from warehouse.sql_server import SqlServer

    db = resolve_db(args)
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with SqlServer(db, host=args.host, port=args.port, token=args.token) as info:
            print(f"Serving {db} on {info.uri} (PID {info.pid}). Token: {info.token}")
            print("Attach from DuckDB 1.5.5 (the quack and httpfs extensions are needed):\n")
            print(info.client_sql())
            print(
                "\nPasses (`marsad run`) write through this server while it runs. Ctrl-C stops it.",
                flush=True,
            )
            try:
                while not stopped.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("Stopped.")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date of the form YYYY-MM-DD") from None
