"""``aifabric demo --quick`` as a user runs it: the report is written and nothing is left running."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import orjson
import psutil
import pytest
from PIL import Image

from tests.conftest import free_port_block, wait_for
from tests.conftest import stack_env as cli_env
from tests.runtime.test_stack_cli import stack_pids

pytestmark = pytest.mark.integration

DEMO_TIMEOUT_S = 330


def demo_argv() -> list[str]:
    """The real CLI path once the root app mounts ``demo``; the command function until then."""
    from aifabric.cli import app

    mounted = any((c.name or c.callback.__name__) == "demo" for c in app.registered_commands)
    if mounted:
        return [sys.executable, "-m", "aifabric.cli", "demo"]
    return [sys.executable, "-c", "import typer; from aifabric.demo.cli import demo; typer.run(demo)"]


def test_quick_demo_writes_the_report_and_stops_everything(tmp_path) -> None:
    data_dir, report = tmp_path / "data", tmp_path / "report"
    env = cli_env(data_dir, AIFABRIC_SERVING__PORT_RANGE_START=str(free_port_block(8)))
    try:
        run = subprocess.run(
            [*demo_argv(), "--quick", "--report-dir", str(report), "--data-dir", str(data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
        )
    finally:
        leftover = stack_pids(data_dir)
        if leftover:  # a failure must not leak processes into the rest of the session
            subprocess.run([sys.executable, "-m", "aifabric.cli", "down"], env=env, timeout=60)
    assert run.returncode == 0, run.stderr[-4000:]
    assert not leftover, f"processes left running: {leftover}"
    wait_for(lambda: not stack_pids(data_dir), 10, "no process of the demo's data dir")

    api_port = env["AIFABRIC_API__PORT"]
    assert f"http://127.0.0.1:{api_port}/docs" in run.stdout
    assert f"http://127.0.0.1:{env['AIFABRIC_MLFLOW__PORT']}" in run.stdout
    assert str(report) in run.stdout.replace("\n", "")

    for png in ("fig3_anomaly.png", "resources.png"):
        with Image.open(report / png) as img:
            img.load()
            assert img.width > 500 and img.height > 250

    data = orjson.loads((report / "report.json").read_bytes())
    deployments = data["deployments"]
    assert len(deployments) == 3
    for dep in deployments:
        assert 0 < dep["model_ms"] <= dep["combined_ms"] and 0 < dep["consumer_ms"] <= dep["combined_ms"]
    assert [s["deployments"] for s in data["resources"]] == [1, 2, 3]
    assert all(
        s["groups"]["mlops"]["rss_mb"] > 0 and s["groups"]["dataops"]["rss_mb"] > 0 for s in data["resources"]
    )
    # more deployments, more MLOps memory: each adds a predictor and a consumer process
    assert (
        data["resources"][2]["groups"]["mlops"]["rss_mb"] > data["resources"][0]["groups"]["mlops"]["rss_mb"]
    )

    live = data["detection"]["live"]
    assert live["windows"] >= 8 * 20  # every cell scored for most of the live slots
    assert 0.0 <= live["roc_auc"] <= 1.0 and live["anomalous_windows"] > 0
    assert 0.5 < data["detection"]["pipeline"]["LSTM-AE (chosen version)"]["roc_auc"] <= 1.0
    assert data["collection"]["records"] >= 8 * data["live_anomalies"].__len__()
    assert data["chosen"]["model"] == "traffic-anomaly" and data["chosen"]["dataset_version"]

    table = (report / "table1_deployment_times.md").read_text()
    ours = data["table1"]["ours"]
    assert "7,580 (1,471)" in table and "3,350 (1,071)" in table and "8,350 (1,392)" in table
    assert f"{ours['combined']['mean']:,.0f} ({ours['combined']['sigma']:,.0f})" in table
    summary = (report / "summary.md").read_text()
    assert "fig3_anomaly.png" in summary and "Table I" in summary
    assert "<table>" in (report / "summary.html").read_text()


def test_keep_serves_until_ctrl_c_then_leaves_only_the_stack(tmp_path) -> None:
    """``--keep``: after the report the deployments go on scoring the live collection; Ctrl-C stops
    them and the collection, and the stack stays up until ``aifabric down``."""
    data_dir, report = tmp_path / "data", tmp_path / "report"
    env = cli_env(data_dir, AIFABRIC_SERVING__PORT_RANGE_START=str(free_port_block(8)))
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    argv = [*demo_argv(), "--quick", "--keep", "--report-dir", str(report), "--data-dir", str(data_dir)]
    api = f"http://127.0.0.1:{env['AIFABRIC_API__PORT']}/api/v1"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr)
    try:

        def kept() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited {proc.returncode}: {err.read_text()[-4000:]}")
            return "Ctrl-C stops the deployments" in out.read_text()

        wait_for(kept, DEMO_TIMEOUT_S, "the demo to report and keep running")
        assert (report / "report.json").exists()
        headers = {"Authorization": f"Bearer {(data_dir / 'token').read_text().strip()}"}
        with httpx.Client(base_url=api, headers=headers, timeout=30) as c:
            deployments = c.get("/deployments").json()["data"]
            assert len(deployments) == 3 and {d["state"] for d in deployments} == {"ready"}
            pids = {x["pid"] for d in deployments for x in d["components"]}
            assert len(pids) == 6 and all(psutil.pid_exists(p) for p in pids)
            first = deployments[0]["id"]
            scored = wait_for(
                lambda: c.get(f"/deployments/{first}/results", params={"limit": 5}).json(),
                60,
                "scores from the kept deployment",
            )
            assert scored[0]["model_name"] == "traffic-anomaly"
            (collection,) = c.get("/collections").json()["data"]
            assert collection["state"] == "running"

            proc.send_signal(signal.SIGINT)
            assert proc.wait(120) == 0, err.read_text()[-4000:]
            assert "deployments stopped; the stack keeps running" in err.read_text()
            wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), 30, "the deployments to stop")
            assert c.get("/deployments").json()["count"] == 0
            assert c.get(f"/collections/{collection['id']}").json()["state"] == "stopped"
            assert c.get("/health").status_code == 200  # the stack is still up
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        subprocess.run([sys.executable, "-m", "aifabric.cli", "down"], env=env, timeout=120)
    wait_for(lambda: not stack_pids(data_dir), 30, "no process of the demo's data dir")
