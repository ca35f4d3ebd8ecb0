"""Wording of a pass's summary, shared by the flow's log and artifact and the CLI."""

from __future__ import annotations


def describe_run(record: dict) -> str:
    """One line that sums up an ingest_runs record."""
    r = record
    return (
        f"{r.get('feeds_total', 0)} feeds polled ({r.get('feeds_ok', 0)} ok, "
        f"{r.get('feeds_not_modified', 0)} not modified, {r.get('feeds_failed', 0)} failed); "
        f"{r.get('entries_seen', 0)} entries, {r.get('articles_new', 0)} new articles "
        f"({r.get('articles_duplicate', 0)} copies of known stories), "
        f"{r.get('articles_updated', 0)} updated, "
        f"{r.get('pages_fetched', 0)} pages fetched, {r.get('errors', 0)} errors"
    )
