"""The collector and the simulators as the processes ``aifabric up`` runs; the CLI; PostgreSQL."""

from __future__ import annotations

import httpx
import orjson
from typer.testing import CliRunner

from aifabric.adapters.nwdaf import SUBSCRIPTIONS_PATH
from aifabric.adapters.simulators import simulator_specs, simulator_url
from aifabric.collector import service
from aifabric.collector.cli import app, topics_app
from aifabric.collector.models import CollectionCreate, JobState
from aifabric.collector.process import collector_spec
from aifabric.persistence import init_db, make_engine, session_factory
from aifabric.runtime import ManagedProcess
from aifabric.runtime.services import settings_env
from tests.conftest import make_settings, wait_for


def test_simulator_processes_start_answer_and_stop(tmp_path):
    settings = make_settings(tmp_path)
    procs = [ManagedProcess(spec) for spec in simulator_specs(settings)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_ready()
        nwdaf = simulator_url(settings, "nwdaf")
        bad = httpx.post(nwdaf + SUBSCRIPTIONS_PATH, json={})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
        assert "edge_app_requests_total" in httpx.get(simulator_url(settings, "edge") + "/metrics").text
        db = tmp_path / "ran-sim" / "xapp_db.sqlite3"
        wait_for(lambda: db.exists(), what="the RAN simulator's SQLite file")
    finally:
        for p in procs:
            p.stop()
    assert all(not p.alive() for p in procs)
    assert all((settings.log_dir / f"{n}-sim.log").exists() for n in ("nwdaf", "ran", "edge"))


def test_collector_process_with_the_cli(stack, stack_settings, nwdaf):
    proc = ManagedProcess(collector_spec(stack_settings))
    runner = CliRunner(env=settings_env(stack_settings))
    adapter = orjson.dumps({"type": "nwdaf", "api_root": nwdaf.url}).decode()
    proc.start()
    try:
        proc.wait_ready()
        res = runner.invoke(
            app, ["create", "core", "-m", "NUM_OF_UE", "--cell", "000000003", "--adapter", adapter, "--json"]
        )
        assert res.exit_code == 0, res.output
        created = orjson.loads(res.output)

        def show():
            out = runner.invoke(app, ["show", created["id"], "--json"])
            return orjson.loads(out.output)

        # the idle collector polls SQL every 10 s; the CLI wakes it, so the job starts at once
        wait_for(lambda: show()["state"] == JobState.running, timeout=5, what="the woken collector")
        wait_for(
            lambda: show()["records_published"] >= 2, timeout=20, what="records via the collector process"
        )
        listed = runner.invoke(app, ["list", "--state", "running", "--json"])
        assert [c["id"] for c in orjson.loads(listed.output)["data"]] == [created["id"]]
        assert runner.invoke(app, ["list"]).exit_code == 0
        peeked = runner.invoke(topics_app, ["peek", created["topic"], "--limit", "1"])
        assert '"metric_id":"NUM_OF_UE"' in peeked.output
        assert created["topic"] in runner.invoke(topics_app, ["list"]).output
        bad = runner.invoke(app, ["create", "core", "-m", "NOPE", "--adapter", adapter])
        assert bad.exit_code != 0 and "unknown metric" in str(bad.exception)
    finally:
        proc.stop()  # SIGTERM: adapters stop, the subscription is deleted, job states stay
    assert not proc.alive()
    wait_for(lambda: nwdaf.snapshot()["deleted"] == 1, what="graceful shutdown released the subscription")
    assert show()["state"] == JobState.running  # resumes with the next collector
    stopped = runner.invoke(app, ["stop", created["id"]])
    assert stopped.exit_code == 0 and "stopped" in stopped.output


def test_service_on_sqlite_and_postgresql(sql_url, stack):
    engine = make_engine(sql_url)
    init_db(engine)
    sessions = session_factory(engine)
    body = CollectionCreate(
        source="edge", metrics=["edge_app_requests"], period_s=1, filters={"labels": {"app": "ar-render"}},
        adapter={"type": "edge", "targets": ["http://127.0.0.1:9/metrics"]},
    )  # fmt: skip
    try:
        with sessions() as s:
            a = service.create_collection(s, stack, body, tenant="pg")
            b = service.create_collection(s, stack, body, tenant="pg")
            assert a.stream_id == b.stream_id and a.topic.startswith("dataops.edge.")
            service.stop_collection(s, a.id, tenant="pg")
            listed = service.list_collections(s, tenant="pg")
        assert listed.count == 2
        assert {c.state for c in listed.data} == {JobState.stopped, JobState.pending}
        assert listed.data[0].filters == {"labels": {"app": "ar-render"}}
    finally:
        engine.dispose()
