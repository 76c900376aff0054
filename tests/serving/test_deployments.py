"""Deployments end to end on the embedded stack: local backend, real broker, S3, MLflow, SQLite."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

import pytest

from aifabric.broker import BatchConsumer, KafkaAdmin, RecordProducer
from aifabric.persistence import init_db, make_engine, session_factory
from aifabric.records import Record, ScoreResult
from aifabric.runtime.process import pid_alive
from aifabric.serving import service
from aifabric.serving.backends.base import get_backend
from aifabric.serving.models import DeploymentCreate, DeploymentRedeploy
from tests.conftest import register_bundle

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
STEP = 600_000
WINDOW = 12


@pytest.fixture(scope="module")
def session(stack):
    engine = make_engine(stack.sql.url.get_secret_value())
    init_db(engine)
    with session_factory(engine)() as s:
        yield s
    get_backend(stack).close()


def feed(settings, topic: str, cells: int, start: int, stop: int) -> None:
    with RecordProducer(settings) as p:
        for i in range(start, stop):
            for c in range(cells):
                ts = datetime.fromtimestamp((T0 + STEP * i) / 1000, UTC)
                p.send(
                    Record(
                        source="NWDAF",
                        metric_id="UPLINK_VOL",
                        labels={"cell": str(c)},
                        timestamp=ts,
                        value=100 + (i % 7),
                    ),
                    topic,
                )


def collect(settings, topic: str, want: set[tuple[str, str]], timeout: float = 60) -> list[ScoreResult]:
    """Read results until every (series, window end) in ``want`` has been seen."""
    out: list[ScoreResult] = []
    with BatchConsumer(settings, f"check-{time.monotonic_ns()}", [topic]) as c:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want <= {(r.series_key, _iso(r)) for r in out}:
            out += [ScoreResult.model_validate_json(m.value) for m in c.poll_batch(1000, 0.5)]
    return out


def _iso(r: ScoreResult) -> str:
    return r.window_end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def expected(cells: int, start: int, stop: int) -> set[tuple[str, str]]:
    return {
        (
            f"NWDAF/UPLINK_VOL/cell={c}",
            datetime.fromtimestamp((T0 + STEP * i) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        )
        for c in range(cells)
        for i in range(max(start, WINDOW - 1), stop)
    }


def test_deploy_score_kill_redeploy_undeploy(stack, session, registered, bundle_dir):
    name, version = registered
    KafkaAdmin(stack).ensure_topic("cells.in", partitions=2)
    dep = service.deploy(
        session,
        stack,
        "acme",
        DeploymentCreate(
            name="traffic", model=name, alias="champion", topics=["cells.in"], metric_ids=["UPLINK_VOL"]
        ),
    )
    assert dep.state == "ready", dep.reason
    assert dep.model_version == version and dep.model_uri == f"models:/acme.{name}/{version}"
    assert {c.component: c.state for c in dep.components} == {"predictor": "ready", "consumer": "ready"}
    t = service.timings(session, stack, "acme", dep.id)[0]
    assert 0 < t.model_ms <= t.combined_ms and t.consumer_ms > 0
    assert service.list_deployments(session, stack, "other").count == 0  # tenants are apart

    # 1. records -> scores with the right series keys; bad records -> DLQ with the reason
    feed(stack, "cells.in", cells=3, start=0, stop=20)
    with RecordProducer(stack) as p:
        p.send_raw("cells.in", "junk", b'{"source": "x"}')
    results = collect(stack, "traffic.results", expected(3, 0, 20))
    assert expected(3, 0, 20) <= {(r.series_key, _iso(r)) for r in results}
    assert {r.model_version for r in results} == {version}
    with BatchConsumer(stack, f"dlq-{time.monotonic_ns()}", ["cells.in.dlq"]) as c:
        deadline, dlq = time.monotonic() + 30, []
        while not dlq and time.monotonic() < deadline:
            dlq = c.poll_batch(10, 0.5)
    assert dlq and b"required field is missing" in dict(dlq[0].headers)["dlq.reason"]
    latest = service.latest_results(session, stack, "acme", dep.id, limit=5)
    assert len(latest) == 5

    # 2. kill -9 the consumer mid-stream: restarted, resumes from the committed offset, nothing lost
    consumer_pid = next(c.pid for c in dep.components if c.component == "consumer")
    feed(stack, "cells.in", cells=3, start=20, stop=40)
    os.kill(consumer_pid, signal.SIGKILL)
    feed(stack, "cells.in", cells=3, start=40, stop=60)
    results = collect(stack, "traffic.results", expected(3, 20, 60), timeout=90)
    assert expected(3, 20, 60) <= {(r.series_key, _iso(r)) for r in results}
    status = service.get_deployment(session, stack, "acme", dep.id)
    consumer = next(c for c in status.components if c.component == "consumer")
    assert consumer.restarts >= 1 and consumer.pid != consumer_pid

    # 3. predictor down: the consumer retries, commits nothing; predictor back -> everything scored
    predictor_pid = next(c.pid for c in status.components if c.component == "predictor")
    os.kill(predictor_pid, signal.SIGKILL)
    feed(stack, "cells.in", cells=3, start=60, stop=70)
    results = collect(stack, "traffic.results", expected(3, 60, 70), timeout=90)
    assert expected(3, 60, 70) <= {(r.series_key, _iso(r)) for r in results}

    # 4. redeploy a new version: no record lost across the switch, new version afterwards
    v2 = register_bundle(stack, bundle_dir, name, "bundles/traffic-v2", "acme")
    feed(stack, "cells.in", cells=3, start=70, stop=80)
    dep2 = service.redeploy(session, stack, "acme", dep.id, DeploymentRedeploy(model=name, version=v2))
    assert dep2.state == "ready" and dep2.model_version == v2
    feed(stack, "cells.in", cells=3, start=80, stop=90)
    results = collect(stack, "traffic.results", expected(3, 70, 90), timeout=90)
    assert expected(3, 70, 90) <= {(r.series_key, _iso(r)) for r in results}
    assert any(r.model_version == v2 for r in results)
    assert [t.kind for t in service.timings(session, stack, "acme", dep.id)] == ["deploy", "redeploy"]

    # 5. undeploy leaves no process
    pids = [c.pid for c in service.get_deployment(session, stack, "acme", dep.id).components]
    service.undeploy(session, stack, "acme", dep.id)
    assert not [p for p in pids if p and pid_alive(p)]
    assert service.list_deployments(session, stack, "acme").count == 0


def _wait_for_line(path, text: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged {count} time(s) in {path} within {timeout}s")


def test_an_idle_consumer_stops_fetching_and_still_scores_what_comes_next(
    stack, session, registered, monkeypatch
):
    """With no records for AIFABRIC_CONSUMER_IDLE_AFTER_S the consumer pauses its partitions (and
    logs it); records sent while it is paused wake it and are all scored, twice in a row."""
    name, _version = registered
    monkeypatch.setenv("AIFABRIC_CONSUMER_IDLE_AFTER_S", "1")  # the forked consumer's environment
    KafkaAdmin(stack).ensure_topic("idle.in", partitions=2)
    dep = service.deploy(
        session,
        stack,
        "acme",
        DeploymentCreate(name="idler", model=name, alias="champion", topics=["idle.in"]),
    )
    assert dep.state == "ready", dep.reason
    try:
        log_file = stack.log_dir / "serving" / f"acme-idler-{dep.model_version}-consumer.log"
        for n, (start, stop) in enumerate(((0, 15), (15, 20)), start=1):
            _wait_for_line(log_file, "paused fetching", count=n)
            feed(stack, "idle.in", cells=2, start=start, stop=stop)
            want = expected(2, start, stop)
            results = collect(stack, "idler.results", want)
            assert want <= {(r.series_key, _iso(r)) for r in results}
            assert log_file.read_text(errors="replace").count("resumed fetching") >= n
    finally:
        service.undeploy(session, stack, "acme", dep.id)
