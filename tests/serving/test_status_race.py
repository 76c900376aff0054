"""A status check racing a redeploy must not overwrite the new processes with the old ones.

``get_deployment`` reads the row, asks the backend about the recorded processes (which takes a
while) and stores what it saw. If a redeploy records new processes in between, storing the old
view would leave the deployment ``failed`` for good (dead pids are checked again on every read):
the cause of a restart test that once failed on PostgreSQL.
"""

from __future__ import annotations

import uuid

from aifabric.config import Settings
from aifabric.persistence import make_engine, session_factory
from aifabric.persistence.migrate import upgrade
from aifabric.serving import service
from aifabric.serving.backends.base import DeployBackend
from aifabric.serving.models import ComponentStatus, DeploymentSpec, DeployOutcome
from aifabric.serving.tables import ComponentRow, DeploymentRow

OLD_PID, NEW_PID = 999_990, 999_991


def _components(state: str, pid: int) -> list[ComponentStatus]:
    return [
        ComponentStatus(component=c, state=state, reason="" if state == "ready" else "exited", pid=pid)
        for c in ("consumer", "predictor")
    ]


class RacingBackend(DeployBackend):
    """While it checks the old processes, a redeploy elsewhere records new, ready ones."""

    name = "racing"
    sessions = None
    deployment_id = ""

    def status(self, spec: DeploymentSpec) -> list[ComponentStatus]:
        with type(self).sessions() as other:
            row = other.get(DeploymentRow, type(self).deployment_id)
            service._record(row, DeployOutcome(components=_components("ready", NEW_PID)))
            other.commit()
        return _components("failed", OLD_PID)  # what it saw of the processes it was asked about

    def deploy(self, spec: DeploymentSpec) -> DeployOutcome:
        raise NotImplementedError

    def undeploy(self, spec: DeploymentSpec) -> None:
        raise NotImplementedError

    def redeploy(self, old: DeploymentSpec, new: DeploymentSpec) -> DeployOutcome:
        raise NotImplementedError


def test_a_status_check_does_not_overwrite_a_concurrent_redeploy(sql_url, tmp_path):
    engine = make_engine(sql_url)
    upgrade(engine)
    sessions = session_factory(engine)
    settings = Settings(data_dir=tmp_path, serving={"backend": f"{__name__}:RacingBackend"})
    dep_id = uuid.uuid4().hex
    with sessions() as session:
        row = DeploymentRow(
            id=dep_id, tenant="acme", name=f"race-{dep_id[:8]}", backend="racing", state="failed",
            reason="exited", requested="m@1", model_name="acme.m", model_version="1",
            model_uri="models:/acme.m/1", topics=["in"], results_topic="out", group_id="g",
        )  # fmt: skip
        row.components = [
            ComponentRow(component=c, state="failed", reason="exited", pid=OLD_PID)
            for c in ("consumer", "predictor")
        ]
        session.add(row)
        session.commit()
    RacingBackend.sessions, RacingBackend.deployment_id = sessions, dep_id
    try:
        with sessions() as session:
            seen = service.get_deployment(session, settings, "acme", dep_id)
        with sessions() as session:
            stored = session.get(DeploymentRow, dep_id)
            assert stored.state == "ready", stored.reason
            assert {c.pid for c in stored.components} == {NEW_PID}
        assert seen.state == "ready" and {c.pid for c in seen.components} == {NEW_PID}
    finally:
        engine.dispose()
