"""The report writers on a synthetic outcome: labels, detection counts, every file, paper beside ours."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from PIL import Image

from aifabric.adapters.simulators.traffic import Anomaly
from aifabric.datasets.milan import SLOT_MS
from aifabric.demo.report import PAPER, live_detection, write_report
from aifabric.demo.resources import GroupUsage, PartUsage, UsageSample
from aifabric.demo.runner import DemoOutcome, DeploymentRecord, LivePoint

T0 = 1383289200000


def _outcome() -> DemoOutcome:
    anomaly = Anomaly(
        kind="spike", start_ms=T0 + 20 * SLOT_MS, end_ms=T0 + 22 * SLOT_MS, magnitude=1.6, cell="a"
    )
    live = []
    for cell in ("a", "b"):
        for k in range(11, 40):
            hit = cell == "a" and 20 <= k <= 21 + 11  # windows reaching the spike
            live.append(
                LivePoint(
                    cell=cell,
                    t_ms=T0 + k * SLOT_MS,
                    value=100.0 + (150 if cell == "a" and 20 <= k < 22 else 0),
                    probability=0.995 if hit and k < 24 else 0.3,
                    anomaly=hit and k < 24,
                    error=2.0 if hit else 0.1 + k / 1000,
                )
            )
    usage = [
        UsageSample(
            deployments=n,
            interval_s=2.0,
            parts=[
                PartUsage(
                    name="predictor",
                    label="p",
                    group="mlops",
                    processes=1,
                    rss_mb=90,
                    pss_mb=30,
                    millicores=5,
                )
            ],
            groups={
                "mlops": GroupUsage(rss_mb=1000 + 300 * n, pss_mb=700 + 50 * n, millicores=20 * n),
                "dataops": GroupUsage(rss_mb=250, pss_mb=160, millicores=40),
                "other": GroupUsage(rss_mb=0, pss_mb=0, millicores=0),
            },
        )
        for n in (1, 2, 3)
    ]
    return DemoOutcome(
        mode="quick",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        wall_seconds=120,
        deployments=[
            DeploymentRecord(
                id=str(i),
                name=f"d{i}",
                model_version="1",
                results_topic="r",
                model_ms=m,
                consumer_ms=c,
                combined_ms=m + 100,
            )
            for i, (m, c) in enumerate([(900.0, 800.0), (1100.0, 1000.0), (1000.0, 900.0)])
        ],
        resources=usage,
        live_anomalies=[anomaly],
        live=live,
        scaler={"feature": "value", "mean": 100.0, "scale": 50.0},
        chosen={
            "model": "m",
            "version": "1",
            "metrics": {"eval.roc_auc": 0.97, "baseline.isolation_forest.roc_auc": 0.8},
        },
    )


def test_live_windows_are_labelled_by_overlap_with_injected_anomalies() -> None:
    det = live_detection(_outcome())
    assert det["windows"] == 58
    # windows of cell a ending at slots 20..32 contain a spike slot (20 or 21): 13 windows
    assert det["anomalous_windows"] == 13
    assert det["flagged_windows"] == 4
    assert det["precision"] == 1.0 and det["recall"] == pytest.approx(4 / 13, abs=1e-4)
    assert det["roc_auc"] == 1.0
    assert det["injected_anomalies"] == det["detected_anomalies"] == 1


def test_report_files_hold_our_numbers_beside_the_papers(tmp_path) -> None:
    files = write_report(tmp_path, _outcome())
    names = {f.name for f in files}
    assert names == {
        "fig3_anomaly.png",
        "table1_deployment_times.md",
        "resources.png",
        "resources.md",
        "summary.md",
        "summary.html",
        "report.json",
    }
    for png in ("fig3_anomaly.png", "resources.png"):
        with Image.open(tmp_path / png) as img:
            img.load()
            assert img.width > 500 and img.height > 250
    table = (tmp_path / "table1_deployment_times.md").read_text()
    assert "7,580 (1,471)" in table and "3,350 (1,071)" in table and "8,350 (1,392)" in table
    assert "1,000 (100)" in table and "900 (100)" in table and "1,100 (100)" in table  # ours: mean (sigma)
    data = orjson.loads((tmp_path / "report.json").read_bytes())
    assert data["table1"]["ours"]["model"] == {"mean": 1000.0, "sigma": 100.0, "n": 3}
    assert data["table1"]["paper"] == PAPER["deployment_ms"]
    assert data["detection"]["live"]["roc_auc"] == 1.0
    assert data["detection"]["pipeline"]["LSTM-AE (chosen version)"]["roc_auc"] == 0.97
    resources = (tmp_path / "resources.md").read_text()
    assert "| 3 | 850 | 1,900 | 60 |" in resources and "3,200 → 4,000" in resources
    html = (tmp_path / "summary.html").read_text()
    assert "<table>" in html and 'src="fig3_anomaly.png"' in html
