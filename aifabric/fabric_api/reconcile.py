"""Restart reconciliation: after an API (re)start the recorded state is made to match reality.

- Training runs recorded ``queued``/``running`` whose worker process is gone are marked ``failed``
  ("interrupted"); a worker still alive (the API was killed, not stopped) keeps running and records
  its own outcome.
- Deployments recorded ``ready``/``pending`` are checked against their processes: still alive ones
  are left alone; dead ones are restarted on their pinned model version in the background (a
  ``restart`` operation), and marked ``failed`` with the reason when that fails.
- Collections belong to the collector process, which resumes its own jobs.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aifabric.config import Settings
from aifabric.errors import AifabricError
from aifabric.fabric_api.operations import Operations
from aifabric.kfp_pipelines.service import TrainingRunRow
from aifabric.persistence.db import utcnow
from aifabric.runtime.process import pid_alive
from aifabric.serving import service as serving
from aifabric.serving.models import DeploymentRedeploy
from aifabric.serving.tables import DeploymentRow

__all__ = ["reconcile"]

log = logging.getLogger("aifabric.api")


def reconcile_training(session: Session) -> int:
    """Mark runs whose worker died with the previous API as failed; returns how many."""
    rows = session.scalars(
        select(TrainingRunRow).where(TrainingRunRow.status.in_(("queued", "running")))
    ).all()
    marked = 0
    for row in rows:
        if row.pid and pid_alive(row.pid):
            continue
        row.status, row.finished_at = "failed", utcnow()
        row.error = "interrupted: the API restarted while the run was in progress"
        marked += 1
    session.commit()
    return marked


def _restart_body(row: DeploymentRow) -> DeploymentRedeploy:
    """The pinned URI (``models:/<tenant>.<name>/<version>`` or a bundle), exactly as deployed."""
    return DeploymentRedeploy(model_uri=row.model_uri)


def reconcile_deployments(sessions: sessionmaker, settings: Settings, operations: Operations) -> list[str]:
    """Restart deployments whose processes are gone; returns the ids being restarted."""
    with sessions() as session:
        rows = session.scalars(
            select(DeploymentRow).where(DeploymentRow.state.in_(("ready", "pending")))
        ).all()
        targets = [(r.id, r.tenant, r.name) for r in rows]
    restarting = []
    for dep_id, tenant, name in targets:
        with sessions() as session:
            try:
                current = serving.get_deployment(session, settings, tenant, dep_id)
            except AifabricError as exc:
                log.warning("reconcile: cannot check deployment %s: %s", name, exc.detail)
                continue
            if current.state != "failed":
                continue
            row = session.get(DeploymentRow, dep_id)
            body = _restart_body(row)

        def restart(dep_id=dep_id, tenant=tenant, body=body) -> None:
            with sessions() as own:
                serving.redeploy(own, settings, tenant, dep_id, body)

        def failed(reason: str, dep_id=dep_id) -> None:
            with sessions() as own:
                row = own.get(DeploymentRow, dep_id)
                if row is not None:
                    row.state, row.reason = "failed", f"restart after an API restart failed: {reason}"[:2000]
                    own.commit()

        log.info("reconcile: restarting deployment %s (%s)", name, current.reason)
        operations.submit((tenant, name), "restart", restart, failed)
        restarting.append(dep_id)
    return restarting


def reconcile(sessions: sessionmaker, settings: Settings, operations: Operations) -> None:
    with sessions() as session:
        marked = reconcile_training(session)
    if marked:
        log.info("reconcile: %d interrupted training run(s) marked failed", marked)
    reconcile_deployments(sessions, settings, operations)
