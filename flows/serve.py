"""`marsad serve`: run the scheduled deployments (ingest and daily maintenance) until stopped.

Uses the Prefect server named by PREFECT_API_URL when set; otherwise starts a local one (SQLite
under the warehouse's directory, 127.0.0.1) for as long as serve runs, because Prefect's embedded
mode cannot schedule. Stopping (Ctrl-C) leaves the schedules active, so a restart picks up where
it left off, and passes of one deployment never overlap (concurrency limit 1, newer run cancelled).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flows.config import Config
from flows.schedule import parse_schedule

INGEST_DEPLOYMENT = "scheduled"
MAINTENANCE_DEPLOYMENT = "daily"
MAINTENANCE_CRON = "30 3 * * *"
HEARTBEAT_SECONDS = "60"  # flow-run heartbeats feed the zombie-run automation below
ZOMBIE_AUTOMATION = "marsad: crash unresponsive runs"


@contextmanager
def prefect_api(data_dir: Path) -> Iterator[str]:
    """The Prefect API to serve against: $PREFECT_API_URL, else a local server started here."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        yield url
        return
    from flows.prefect_server import local_prefect_server

    with local_prefect_server(data_dir / "prefect") as url:
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)


def build_deployments(config: Config, db: Path) -> list:
    """The two deployments marsad serves, with their schedules, parameters and no-overlap limit."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from flows.ingest import ingest
    from flows.maintenance import maintenance

    config_path = str(Path(config.path).resolve()) if config.path else None
    parameters = {"config_path": config_path, "db_path": str(db.resolve())}
    schedule = parse_schedule(config.schedule.ingest)
    timing: dict = {"cron": schedule.cron} if schedule.cron else {"interval": schedule.interval}
    no_overlap = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
    )
    return [
        ingest.to_deployment(
            name=INGEST_DEPLOYMENT,
            parameters={**parameters, "due_only": True},
            concurrency_limit=no_overlap,
            description="One ingest pass over the feeds that are due.",
            tags=["marsad"],
            **timing,
        ),
        maintenance.to_deployment(
            name=MAINTENANCE_DEPLOYMENT,
            cron=MAINTENANCE_CRON,
            parameters=parameters,
            concurrency_limit=no_overlap,
            description="Checkpoint, search-index refresh and failing-feed report.",
            tags=["marsad"],
        ),
    ]


def ensure_zombie_automation() -> None:
    """Install (once) the automation that marks runs Crashed when their heartbeats stop, so a
    crashed run never keeps holding its deployment's concurrency slot."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    try:
        Automation.read(name=ZOMBIE_AUTOMATION)
        return
    except ValueError:
        pass
    Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=int(HEARTBEAT_SECONDS) * 3 + 30),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message="No heartbeat for three intervals: marked Crashed by marsad serve.",
            )
        ],
    ).create()


def serve_forever(config: Config, db: Path) -> None:
    """Register and serve the deployments until interrupted."""
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", HEARTBEAT_SECONDS)
    with prefect_api(db.resolve().parent) as url:
        print(f"marsad serve: Prefect API at {url}; UI at {url.removesuffix('/api')}")
        from prefect import serve

        deployments = build_deployments(config, db)
        ensure_zombie_automation()
        serve(*deployments, pause_on_shutdown=False)
