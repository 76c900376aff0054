"""The demo's report: the paper's Fig. 3, Table I and Fig. 4-5 with our numbers, and a summary.

Files written into the report directory:

- ``fig3_anomaly.png``: scaled traffic and anomaly probability over (simulated) time for the cells
  that had anomalies injected, injected spans shaded, flagged windows marked;
- ``table1_deployment_times.md``: model / consumer / combined deployment time, ours (mean, sigma, n)
  beside the paper's;
- ``resources.png`` and ``resources.md``: memory and CPU of MLOps and DataOps with 1..n concurrent
  deployments, beside the paper's;
- ``summary.md``, ``summary.html`` and ``report.json`` (every number).

Matplotlib is imported here only, with the Agg backend (no display needed).
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aifabric.datasets.milan import SLOT_MS
from aifabric.demo.runner import DemoOutcome

__all__ = ["PAPER", "live_detection", "write_report"]

# The paper's figures (3-node Kubernetes): Table I and section III-B (Fig. 4-5).
PAPER: dict[str, Any] = {
    "deployment_ms": {
        "model": {"mean": 7580, "sigma": 1471},
        "consumer": {"mean": 3350, "sigma": 1071},
        "combined": {"mean": 8350, "sigma": 1392},
    },
    "memory_mb": {"mlops": {1: 3200, 3: 4000}, "dataops": {1: 180, 3: 250}},
    "millicores": {"mlops": {1: 45, 3: 70}, "dataops": {1: 8, 3: 12}},
}
WINDOW = 12
SIGMA = "\N{GREEK SMALL LETTER SIGMA}"


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 1),
        "sigma": round(statistics.stdev(values), 1) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def deployment_stats(outcome: DemoOutcome) -> dict[str, dict[str, float]]:
    deps = outcome.deployments
    return {
        "model": _stats([d.model_ms for d in deps]),
        "consumer": _stats([d.consumer_ms for d in deps]),
        "combined": _stats([d.combined_ms for d in deps]),
    }


def live_detection(outcome: DemoOutcome, window: int = WINDOW) -> dict[str, Any]:
    """Window-level metrics of the live stream against the injected anomalies.

    A window is anomalous when any of its ``window`` slots lies in an injected anomaly of its cell
    (the pipeline labels windows the same way). An injected anomaly counts as detected when a
    window covering one of its slots was flagged.
    """
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    points = outcome.live
    if not points:
        return {"windows": 0}
    labels = np.zeros(len(points), dtype=int)
    for i, p in enumerate(points):
        first = p.t_ms - (window - 1) * SLOT_MS
        labels[i] = any(
            a.cell == p.cell and a.start_ms <= p.t_ms and a.end_ms > first for a in outcome.live_anomalies
        )
    errors = np.array([p.error for p in points])
    flags = np.array([p.anomaly for p in points], dtype=int)
    out: dict[str, Any] = {
        "windows": len(points),
        "anomalous_windows": int(labels.sum()),
        "flagged_windows": int(flags.sum()),
        "threshold": outcome.threshold,
    }
    if 0 < labels.sum() < labels.size:
        out |= {
            "roc_auc": round(float(roc_auc_score(labels, errors)), 4),
            "pr_auc": round(float(average_precision_score(labels, errors)), 4),
            "f1": round(float(f1_score(labels, flags, zero_division=0)), 4),
            "precision": round(float(precision_score(labels, flags, zero_division=0)), 4),
            "recall": round(float(recall_score(labels, flags, zero_division=0)), 4),
        }
    detected = 0
    for a in outcome.live_anomalies:
        covering = [
            p
            for p in points
            if p.cell == a.cell and p.t_ms >= a.start_ms and p.t_ms - (window - 1) * SLOT_MS < a.end_ms
        ]
        detected += any(p.anomaly for p in covering)
    out["injected_anomalies"] = len(outcome.live_anomalies)
    out["detected_anomalies"] = detected
    return out


def pipeline_detection(outcome: DemoOutcome) -> dict[str, dict[str, float]]:
    """The chosen version's test-split metrics and the baselines', from the pipeline's evaluation."""
    metrics = outcome.chosen.get("metrics", {})
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if key.startswith("eval.") and key.removeprefix("eval.") in ("roc_auc", "pr_auc", "f1", "best_f1"):
            rows.setdefault("LSTM-AE (chosen version)", {})[key.removeprefix("eval.")] = round(value, 4)
        elif key.startswith("baseline."):
            _, name, metric = key.split(".", 2)
            rows.setdefault(name.replace("_", " "), {})[metric] = round(value, 4)
    return rows


# -- figures ----------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def fig3(outcome: DemoOutcome, path: Path) -> None:
    """Like the paper's Fig. 3, one panel per cell with an injected anomaly (at most three)."""
    plt = _plt()
    cells = []
    for a in outcome.live_anomalies:
        if a.cell not in cells and any(p.cell == a.cell for p in outcome.live):
            cells.append(a.cell)
    cells = cells[:3] or sorted({p.cell for p in outcome.live})[:1]
    mean = outcome.scaler.get("mean", 0.0)
    scale = outcome.scaler.get("scale", 1.0) or 1.0
    transform = np.log1p if outcome.scaler.get("feature") == "log_value" else (lambda v: v)
    fig, axes = plt.subplots(len(cells), 1, figsize=(11, 3.2 * len(cells)), squeeze=False)
    for ax, cell in zip(axes[:, 0], cells, strict=True):
        pts = [p for p in outcome.live if p.cell == cell]
        t = [_dt(p.t_ms) for p in pts]
        scaled = [(transform(max(p.value, 0.0)) - mean) / scale for p in pts]
        feature = outcome.scaler.get("feature", "value")
        label = f"scaled traffic (NUM_OF_UE as the model's {feature})"
        ax.plot(t, scaled, color="tab:blue", lw=1.4, drawstyle="steps-post", label=label)
        ax.set_ylabel("scaled traffic")
        for i, a in enumerate(x for x in outcome.live_anomalies if x.cell == cell):
            label = "injected anomaly" if i == 0 else None
            ax.axvspan(_dt(a.start_ms), _dt(a.end_ms), color="tab:red", alpha=0.18, label=label)
        twin = ax.twinx()
        twin.plot(
            t,
            [p.probability for p in pts],
            color="tab:orange",
            lw=1.2,
            drawstyle="steps-post",
            label="anomaly probability (window ending here)",
        )
        flagged = [(ti, p.probability) for ti, p in zip(t, pts, strict=True) if p.anomaly]
        if flagged:
            twin.scatter(*zip(*flagged, strict=True), color="tab:red", s=18, zorder=3, label="flagged window")
        twin.axhline(outcome.threshold, color="grey", ls=":", lw=0.9)
        twin.set_ylim(-0.02, 1.05)
        twin.set_ylabel("anomaly probability")
        ax.set_title(f"cell {cell}")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    axes[-1, 0].set_xlabel("simulated time (UTC; one 10-minute slot per second of the demo)")
    fig.suptitle("Live NWDAF traffic scored by the deployed LSTM-AE (cf. the paper's Fig. 3)")
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.965), ncol=4, fontsize=8, frameon=False
    )
    fig.savefig(path, dpi=90)
    plt.close(fig)


def resources_figure(outcome: DemoOutcome, path: Path) -> None:
    plt = _plt()
    n = [s.deployments for s in outcome.resources]
    fig, (mem, cpu) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"mlops": "tab:purple", "dataops": "tab:green"}
    for group, color in colors.items():
        mem.plot(
            n,
            [s.groups[group].pss_mb for s in outcome.resources],
            "o-",
            color=color,
            label=f"{group} (ours, PSS)",
        )
        mem.plot(
            n,
            [s.groups[group].rss_mb for s in outcome.resources],
            "o:",
            color=color,
            alpha=0.6,
            label=f"{group} (ours, RSS)",
        )
        paper = PAPER["memory_mb"][group]
        mem.plot(list(paper), list(paper.values()), "s--", color=color, alpha=0.4, label=f"{group} (paper)")
        cpu.plot(
            n,
            [s.groups[group].millicores for s in outcome.resources],
            "o-",
            color=color,
            label=f"{group} (ours)",
        )
        paper = PAPER["millicores"][group]
        cpu.plot(list(paper), list(paper.values()), "s--", color=color, alpha=0.4, label=f"{group} (paper)")
    mem.set_yscale("log")
    mem.set_ylabel("memory (MB)")
    cpu.set_ylabel("CPU (millicores)")
    for ax in (mem, cpu):
        ax.set_xlabel("concurrent deployments (model + consumer)")
        ax.set_xticks(sorted(set(n) | {1, 3}))
        ax.legend(fontsize=7)
    fig.suptitle("Resource use with 1..n deployments, MLOps vs DataOps (cf. the paper's Fig. 4-5)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -- tables -----------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def table1(outcome: DemoOutcome) -> str:
    ours = deployment_stats(outcome)
    names = {"model": "model (predictor)", "consumer": "data consumer", "combined": "model + consumer"}
    lines = [
        f"| deployment | paper mean ({SIGMA}) ms | ours mean ({SIGMA}) ms | ours n |",
        "|---|---:|---:|---:|",
    ]
    for key, label in names.items():
        p, o = PAPER["deployment_ms"][key], ours[key]
        paper, ours_ = f"{_fmt(p['mean'])} ({_fmt(p['sigma'])})", f"{_fmt(o['mean'])} ({_fmt(o['sigma'])})"
        lines.append(f"| {label} | {paper} | {ours_} | {o['n']} |")
    return (
        "# Table I: deployment time\n\n"
        + "\n".join(lines)
        + "\n\nPaper: a 3-node Kubernetes cluster (KServe InferenceService and transformer), model and "
        "consumer deployed sequentially. Ours: the embedded local backend on one machine, request to ready "
        "(version pinned, topics created, both processes forked from the pre-imported fork server, "
        "predictor and consumer started together, readiness probed); one sample per deployment.\n"
    )


def resources_table(outcome: DemoOutcome) -> str:
    lines = [
        "| deployments | MLOps PSS MB | MLOps RSS MB | MLOps mcores "
        "| DataOps PSS MB | DataOps RSS MB | DataOps mcores |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in outcome.resources:
        m, d = s.groups["mlops"], s.groups["dataops"]
        lines.append(
            f"| {s.deployments} | {_fmt(m.pss_mb)} | {_fmt(m.rss_mb)} | {m.millicores:.0f} | "
            f"{_fmt(d.pss_mb)} | {_fmt(d.rss_mb)} | {d.millicores:.0f} |"
        )
    pm, pc = PAPER["memory_mb"], PAPER["millicores"]
    lines.append(
        f"| paper 1 → 3 | {_fmt(pm['mlops'][1])} → {_fmt(pm['mlops'][3])} | "
        f"| {pc['mlops'][1]} → {pc['mlops'][3]} | {pm['dataops'][1]} → {pm['dataops'][3]} | "
        f"| {pc['dataops'][1]} → {pc['dataops'][3]} |"
    )
    parts = []
    if outcome.resources:
        last = outcome.resources[-1]
        parts = [
            "",
            f"Per part with {last.deployments} deployments:",
            "",
            "| part | group | processes | PSS MB | RSS MB | mcores |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for u in last.parts:
            cells = (
                u.label,
                u.group,
                u.processes,
                f"{u.pss_mb:.0f}",
                f"{u.rss_mb:.0f}",
                f"{u.millicores:.0f}",
            )
            parts.append("| " + " | ".join(map(str, cells)) + " |")
    return (
        "# Resource use (cf. Fig. 4-5)\n\n"
        + "\n".join(lines)
        + "\n\nMLOps = MLflow server, fabric API, serving fork server, predictors and Data Consumers; "
        "DataOps = broker (Tansu), data collector with its adapters, object store (SeaweedFS). "
        "The simulators stand in for the network and are not counted. CPU is measured while the live "
        f"stream flows, over {outcome.resources[0].interval_s if outcome.resources else 0:.0f} s per level. "
        "RSS counts pages shared with the fork server once per process; PSS divides them (the fair sum).\n"
        + "\n".join(parts)
        + "\n"
    )


def detection_section(outcome: DemoOutcome) -> str:
    rows = pipeline_detection(outcome)
    lines = ["| method (pipeline test split) | ROC-AUC | PR-AUC | F1 |", "|---|---:|---:|---:|"]
    for name, m in rows.items():
        values = " | ".join(f"{m.get(k, math.nan):.3f}" for k in ("roc_auc", "pr_auc", "f1"))
        lines.append(f"| {name} | {values} |")
    live = outcome.detection.get("live", {})
    lines += ["", "| live stream (deployed model) | value |", "|---|---:|"]
    for key in (
        "windows",
        "anomalous_windows",
        "flagged_windows",
        "roc_auc",
        "pr_auc",
        "f1",
        "precision",
        "recall",
        "injected_anomalies",
        "detected_anomalies",
    ):
        if key in live:
            lines.append(f"| {key.replace('_', ' ')} | {live[key]} |")
    return "\n".join(lines) + "\n"


def summary_markdown(outcome: DemoOutcome) -> str:
    ds, chosen, col = outcome.dataset, outcome.chosen, outcome.collection
    steps = "\n".join(f"| {s.name} | {s.seconds:.1f} |" for s in outcome.steps)
    trainings = "\n".join(
        f"| {t.definition} | {t.model_version} | {t.metrics.get('eval.roc_auc', math.nan):.3f} "
        f"| {t.seconds:.0f} |"
        for t in outcome.trainings
    )
    links = "\n".join(
        f"- {k.replace('_', ' ')}: <{v}>" if v.startswith("http") else f"- {k.replace('_', ' ')}: `{v}`"
        for k, v in outcome.endpoints.items()
    )
    return f"""# aifabric demo report ({outcome.mode} mode)

Run {outcome.started_at:%Y-%m-%d %H:%M UTC}, {outcome.wall_seconds:.0f} s end to end: the paper's section III
on the embedded stack. A Milan-format history of the simulated network ({ds.get("days")} days,
{ds.get("series")} squares/cells, {ds.get("labelled_rows")} labelled anomalous slots) was onboarded as
`{ds.get("ref")}`; the LSTM-AE was trained through the KFP pipeline and registered in MLflow; version
{chosen.get("version")} of `{chosen.get("model")}` was chosen from the catalog (best evaluation ROC-AUC) and
deployed with its Data Consumer; an NWDAF collection of `NUM_OF_UE` per cell (topic `{col.get("topic")}`,
{col.get("records", 0)} records, {col.get("dead_letters", 0)} dead letters) streamed through it at one
10-minute slot per second, with {len(outcome.live_anomalies)} anomalies injected into the simulator.

![Fig. 3](fig3_anomaly.png)

## Steps

| step | seconds |
|---|---:|
{steps}

## Training runs

| definition | version | test ROC-AUC | seconds |
|---|---|---:|---:|
{trainings}

## Detection

{detection_section(outcome)}
{table1(outcome).replace("# Table I", "## Table I")}
{resources_table(outcome).replace("# Resource", "## Resource")}
![resources](resources.png)

## Where things are

{links}
"""


def write_report(report_dir: Path, outcome: DemoOutcome) -> list[Path]:
    """Write every report file; returns their paths."""
    from markdown_it import MarkdownIt

    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    outcome.detection = {"live": live_detection(outcome), "pipeline": pipeline_detection(outcome)}
    files = {
        "fig3": report_dir / "fig3_anomaly.png",
        "table1": report_dir / "table1_deployment_times.md",
        "resources_png": report_dir / "resources.png",
        "resources_md": report_dir / "resources.md",
        "summary_md": report_dir / "summary.md",
        "summary_html": report_dir / "summary.html",
        "json": report_dir / "report.json",
    }
    fig3(outcome, files["fig3"])
    resources_figure(outcome, files["resources_png"])
    files["table1"].write_text(table1(outcome), encoding="utf-8")
    files["resources_md"].write_text(resources_table(outcome), encoding="utf-8")
    summary = summary_markdown(outcome)
    files["summary_md"].write_text(summary, encoding="utf-8")
    body = MarkdownIt("commonmark").enable("table").render(summary)
    files["summary_html"].write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>aifabric demo report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .6em}img{max-width:100%}</style></head><body>"
        + body
        + "</body></html>\n",
        encoding="utf-8",
    )
    data = orjson.loads(outcome.model_dump_json())
    data["table1"] = {"paper": PAPER["deployment_ms"], "ours": deployment_stats(outcome)}
    data["paper"] = PAPER
    files["json"].write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    return list(files.values())
