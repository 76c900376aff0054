"""``aifabric demo``: the paper's section III end to end on the embedded stack, with a report.

Steps (each a progress line):

1. start the stack with the simulators (or reuse the one running for this data dir);
2. write the simulated network's past as a Milan data set (:mod:`aifabric.demo.history`), onboard
   it, and train the LSTM-AE through the KFP pipeline (``kfp.local``), registered in MLflow;
3. pick the best registered version from the catalog and deploy it with its Data Consumer;
4. set the NWDAF simulator's clock to continue the history (08:00 the next morning), one
   10-minute slot per wall-clock second, inject anomalies, start an NWDAF ``NUM_OF_UE``
   collection (one record per cell and slot: the live counterpart of the Milan squares) and let
   the consumer and model score it;
   meanwhile deploy a second and a third copy and measure memory and CPU at 1, 2 and 3;
5. collect the scored windows from the results topic and write the report;
6. print where everything is; stop what the demo started unless ``keep``.

Everything the demo starts is stopped on any failure (and on Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from aifabric.adapters.simulators import simulator_url
from aifabric.adapters.simulators.traffic import Anomaly
from aifabric.config import Settings
from aifabric.datasets.milan import SLOT_MS
from aifabric.demo.history import ANOMALY_SHAPES, HistoryReport, write_history
from aifabric.demo.resources import Part, UsageSample, sample_usage
from aifabric.errors import AifabricError

__all__ = ["DemoConfig", "DemoError", "DemoOutcome", "run_demo"]

log = logging.getLogger("aifabric.demo")

MODEL_NAME = "traffic-anomaly"
METRIC = "NUM_OF_UE"
TIME_SCALE = SLOT_MS / 1000  # one 10-minute slot per wall-clock second
WARMUP_SLOTS = 16  # the first windows need 11 earlier points; anomalies start after that
LIVE_START_MS = 8 * 3600 * 1000  # live time starts at 08:00 local the day after the history


class DemoError(RuntimeError):
    """A step failed; the message says which and why (everything started was stopped)."""


class DemoConfig(BaseModel):
    """What one demo run does; :meth:`for_mode` gives the full and the quick (CI) settings."""

    model_config = ConfigDict(extra="forbid")

    quick: bool = False
    report_dir: Path = Path("report")
    keep: bool = False
    tenant: str = "default"
    history_start: date = Field(date(2013, 11, 1), description="the Milan data set's first day")
    history_days: int = Field(
        14, ge=7, le=62, description="at least a week: every weekday is a feature value"
    )
    definitions: list[str] = Field(["lstm_ae_seasonal", "lstm_ae"], min_length=1)
    epochs: int = Field(8, ge=1, le=200)
    live_slots: int = Field(144, ge=30, description="live 10-minute slots (= seconds of streaming)")
    deployments: int = Field(3, ge=1, le=5)
    measure_s: float = Field(8.0, gt=0)

    @classmethod
    def for_mode(cls, quick: bool, **overrides: Any) -> DemoConfig:
        if quick:
            base = {
                "quick": True,
                "history_days": 7,
                "definitions": ["lstm_ae"],
                "epochs": 3,
                "live_slots": 40,
                "measure_s": 2.0,
            }
            return cls(**(base | overrides))
        return cls(**overrides)


class StepTiming(BaseModel):
    name: str
    seconds: float


class DeploymentRecord(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str
    name: str
    model_version: str
    results_topic: str
    model_ms: float
    consumer_ms: float
    combined_ms: float


class TrainingRecord(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str
    definition: str
    status: str
    model_version: str | None
    mlflow_url: str | None
    metrics: dict[str, float]
    seconds: float


class LivePoint(BaseModel):
    cell: str
    t_ms: int
    value: float
    probability: float
    anomaly: bool
    error: float


class DemoOutcome(BaseModel):
    """Everything the report is made of (``report.json``)."""

    model_config = ConfigDict(protected_namespaces=())

    mode: str
    started_at: datetime
    wall_seconds: float = 0.0
    steps: list[StepTiming] = Field(default_factory=list)
    endpoints: dict[str, str] = Field(default_factory=dict)
    dataset: dict[str, Any] = Field(default_factory=dict)
    trainings: list[TrainingRecord] = Field(default_factory=list)
    chosen: dict[str, Any] = Field(default_factory=dict)
    deployments: list[DeploymentRecord] = Field(default_factory=list)
    resources: list[UsageSample] = Field(default_factory=list)
    collection: dict[str, Any] = Field(default_factory=dict)
    live_anomalies: list[Anomaly] = Field(default_factory=list)
    scaler: dict[str, Any] = Field(default_factory=dict, description="the value feature's mean and scale")
    threshold: float = 0.99
    live: list[LivePoint] = Field(default_factory=list)
    detection: dict[str, Any] = Field(default_factory=dict)


class _Steps:
    """Rich progress: one line per step, with a bar where the step knows its total."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.timings: list[StepTiming] = []

    @contextlib.contextmanager
    def step(self, title: str, total: float | None = None) -> Iterator[Callable[..., None]]:
        task = self.progress.add_task(title, total=total)
        started = time.monotonic()

        def update(completed: float | None = None, description: str | None = None) -> None:
            kw: dict[str, Any] = {}
            if completed is not None:
                kw["completed"] = completed
            if description is not None:
                kw["description"] = f"{title} · {description}"
            self.progress.update(task, **kw)

        try:
            yield update
        except BaseException:
            self.progress.update(task, description=f"[red]✗ {title}[/]")
            raise
        total_done = self.progress.tasks[task].total
        self.progress.update(
            task, description=f"[green]✓[/] {title}", completed=total_done or 1, total=total_done or 1
        )
        self.timings.append(StepTiming(name=title, seconds=round(time.monotonic() - started, 2)))


class DemoRunner:
    """Runs the steps; :meth:`cleanup` stops everything it started (also after a failure)."""

    def __init__(self, settings: Settings, config: DemoConfig) -> None:
        self.settings = settings
        self.config = config
        self.resolved: Settings | None = None
        self.outcome = DemoOutcome(mode="quick" if config.quick else "full", started_at=datetime.now(UTC))
        self.run_id = secrets.token_hex(2)
        self._owns_stack = False
        self._engine = None
        self._session = None
        self._deployment_ids: list[str] = []
        self._serving_started = False
        self._collection_id: str | None = None
        self._history: HistoryReport | None = None
        self._dataset_ref = ""
        self._http = httpx.Client(timeout=10.0)

    # -- steps ------------------------------------------------------------------------------

    def start_stack(self) -> None:
        from aifabric.runtime import Stack

        stack = Stack(self.settings)
        state = stack.running()
        if state is None:
            self._owns_stack = True  # before up(): an interrupted start must still be stopped
            stack.up(simulators=True)
        elif "nwdaf-sim" not in state.parts:
            raise DemoError(
                f"the stack running for {self.settings.data_dir} has no simulators; stop it "
                "('aifabric down') or start it with 'aifabric up --simulators'"
            )
        self.resolved = self.settings.resolved()
        s = self.resolved
        self.outcome.endpoints = {
            "api": s.api_url,
            "api_docs": f"{s.api_url}/docs",
            "mlflow_ui": s.mlflow.tracking_uri,
            "nwdaf_simulator": simulator_url(s, "nwdaf"),
            "kafka": s.kafka.bootstrap_servers,
        }
        if s.kfp.dashboard_url:
            self.outcome.endpoints["kubeflow"] = s.kfp.dashboard_url
        from aifabric.persistence import make_engine, session_factory

        self._engine = make_engine(s.sql.url.get_secret_value())
        self._session = session_factory(self._engine)()

    def _sim(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        url = simulator_url(self.resolved, "nwdaf") + path
        try:
            resp = self._http.request(method, url, content=orjson.dumps(body) if body is not None else None)
        except httpx.HTTPError as exc:
            raise DemoError(f"the NWDAF simulator at {url} does not answer: {exc}") from None
        if resp.status_code >= 300:
            raise DemoError(
                f"the NWDAF simulator refused {method} {path}: {resp.status_code} {resp.text[:200]}"
            )
        return orjson.loads(resp.content)

    def onboard_dataset(self) -> None:
        from aifabric.datasets import service as datasets
        from aifabric.datasets.schemas import DatasetCreate
        from aifabric.storage import ObjectStore

        cfg = self.config
        clock = self._sim("GET", "/sim/clock")
        out = self.settings.data_dir / "demo" / f"milan-{self.run_id}"
        self._history = write_history(out, clock["cells"], clock["seed"], cfg.history_start, cfg.history_days)
        h = self._history
        version = datasets.onboard(
            self._session,
            ObjectStore(self.resolved),
            tenant=cfg.tenant,
            create=DatasetCreate(
                name="demo-milan",
                description="the NWDAF simulator's network history in the Milan format (aifabric demo)",
                lineage={
                    "generator": "aifabric.demo.history",
                    "seed": clock["seed"],
                    "cells": clock["cells"],
                },
            ),
            files=[(f.name, f.read_bytes()) for f in h.files],
            labels=(h.labels_file.name, h.labels_file.read_bytes()),
            uploaded_by="aifabric demo",
        )
        self._dataset_ref = version.ref
        self.outcome.dataset = {
            "ref": version.ref,
            "rows": version.row_count,
            "series": version.series_count,
            "labelled_rows": version.labelled_rows,
            "days": cfg.history_days,
            "start": h.start_ms,
            "end": h.end_ms,
            "files": len(h.files),
            "anomalies": len(h.anomalies),
        }

    def warm_serving(self) -> None:
        """Start the deploy backend now: its fork server imports KServe while the model trains, as
        a cluster's KServe controller is up before the first InferenceService."""
        from aifabric.serving.backends.base import get_backend

        self._serving_started = True
        get_backend(self.resolved)

    def train(self, update: Callable[..., None]) -> None:
        from aifabric.kfp_pipelines import service as training

        cfg = self.config
        done_before = 0
        for definition in cfg.definitions:
            started = time.monotonic()
            run = training.start_training(
                self._session,
                self.resolved,
                tenant=cfg.tenant,
                create=training.TrainingCreate(
                    dataset=self._dataset_ref,
                    definition=definition,
                    model_name=MODEL_NAME,
                    metric="internet",
                    train_params={"epochs": cfg.epochs},
                ),
            )
            deadline = time.monotonic() + 600
            while True:
                cur = training.get_training(
                    self._session, self.resolved, tenant=cfg.tenant, training_id=run.id
                )
                epochs = cur.progress.epochs_done if cur.progress else 0
                update(done_before + min(epochs, cfg.epochs), f"{definition}: {cur.status}")
                if cur.status in training.FINAL:
                    break
                if time.monotonic() > deadline:
                    training.stop_training(
                        self._session, self.resolved, tenant=cfg.tenant, training_id=run.id
                    )
                    raise DemoError(f"training {definition} did not finish within 600 s")
                time.sleep(0.5)
            training.wait_training(  # final already: reaps the worker process
                self._session, self.resolved, tenant=cfg.tenant, training_id=run.id, timeout=30
            )
            if cur.status != "succeeded":
                raise DemoError(
                    f"training {definition} {cur.status}: {cur.error} (log: {self._training_log(run.id)})"
                )
            done_before += cfg.epochs
            self.outcome.trainings.append(
                TrainingRecord(
                    id=cur.id,
                    definition=definition,
                    status=cur.status,
                    model_version=cur.model_version,
                    mlflow_url=cur.mlflow_url,
                    metrics={k: float(v) for k, v in cur.metrics.items()},
                    seconds=round(time.monotonic() - started, 1),
                )
            )

    def _training_log(self, training_id: str) -> str:
        return str(self.settings.log_dir / f"training-{training_id}.log")

    def pick_best(self) -> None:
        from aifabric.fabric_api.catalog import best_version

        best = best_version(self.resolved, tenant=self.config.tenant, name=MODEL_NAME)
        schema = best.input_schema
        self.outcome.chosen = {
            "model": best.name,
            "version": best.version,
            "aliases": best.aliases,
            "definition": best.definition,
            "dataset_version": best.dataset_version,
            "metrics": best.metrics,
            "input_schema": schema.model_dump() if schema else None,
            "mlflow_url": best.links.get("mlflow_ui"),
            "bundle_uri": best.bundle_uri,
        }
        if schema:
            self.outcome.threshold = schema.threshold
        self._load_scaler(best.bundle_uri)

    def _load_scaler(self, bundle_uri: str | None) -> None:
        """The value feature's training scaler: the figure shows traffic scaled as the model sees it."""
        from aifabric.models.bundle import BUNDLE_FILE
        from aifabric.storage import ObjectStore

        if not bundle_uri or not bundle_uri.startswith("s3://"):
            return
        bucket, _, prefix = bundle_uri.removeprefix("s3://").partition("/")
        meta = orjson.loads(ObjectStore(self.resolved, bucket=bucket).get_bytes(f"{prefix}/{BUNDLE_FILE}"))
        idx = len(meta["features"]) - 1
        self.outcome.scaler = {
            "feature": meta["features"][idx],
            "mean": meta["scaler_mean"][idx],
            "scale": meta["scaler_scale"][idx],
        }

    def start_collection(self) -> None:
        """Accelerated clock, live anomalies, then the NWDAF collection the deployments consume."""
        from aifabric.collector import service as collector
        from aifabric.collector.models import CollectionCreate

        epoch = self._history.end_ms + LIVE_START_MS
        self._sim("PUT", "/sim/clock", {"time_scale": TIME_SCALE, "epoch_ms": epoch, "align_ms": SLOT_MS})
        cells = self._sim("GET", "/sim/clock")["cells"]
        for anomaly in live_schedule(cells, epoch, self.config.live_slots):
            self._sim("POST", "/sim/anomalies", anomaly.model_dump())
            self.outcome.live_anomalies.append(anomaly)
        job = collector.create_collection(
            self._session,
            self.resolved,
            CollectionCreate(name=f"demo-{self.run_id}", source="core", metrics=[METRIC], period_s=1),
            tenant=self.config.tenant,
        )
        self._collection_id = job.id
        self.outcome.collection = {"id": job.id, "topic": job.topic, "cells": len(cells), "period_s": 1}

    def deploy(self, index: int) -> None:
        from aifabric.serving import service as serving
        from aifabric.serving.models import DeploymentCreate

        body = DeploymentCreate(
            name=f"demo-{self.run_id}-{index}",
            model=MODEL_NAME,
            version=self.outcome.chosen["version"],
            topics=[self.outcome.collection["topic"]],
            metric_ids=[METRIC],
        )
        self._serving_started = True
        dep = serving.deploy(self._session, self.resolved, self.config.tenant, body)
        self._deployment_ids.append(dep.id)
        if dep.state != "ready" or dep.timings is None:
            raise DemoError(f"deployment {body.name} is {dep.state}: {dep.reason}")
        t = dep.timings
        self.outcome.deployments.append(
            DeploymentRecord(
                id=dep.id,
                name=dep.name,
                model_version=dep.model_version,
                results_topic=dep.results_topic,
                model_ms=round(t.model_ms, 1),
                consumer_ms=round(t.consumer_ms, 1),
                combined_ms=round(t.combined_ms, 1),
            )
        )

    def measure(self) -> None:
        self.outcome.resources.append(
            sample_usage(self._parts(), self.config.measure_s, deployments=len(self._deployment_ids))
        )

    def _parts(self) -> list[Part]:
        from aifabric.runtime import Stack
        from aifabric.serving import service as serving

        parts: list[Part] = []
        state = Stack(self.settings).read_state()
        for name, rec in (state.parts if state else {}).items():
            if rec.pid:
                parts.append(Part(name=name, pid=rec.pid))
        component_pids = set()
        for dep_id in self._deployment_ids:
            dep = serving.get_deployment(self._session, self.resolved, self.config.tenant, dep_id)
            for c in dep.components:
                if c.pid:
                    parts.append(Part(name=c.component, pid=c.pid, label=f"{dep.name} {c.component}"))
                    component_pids.add(c.pid)
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if "aifabric.serving.forkserver" in " ".join(child.cmdline()):
                    parts.append(Part(name="forkserver", pid=child.pid))
        return parts

    def stream(self, update: Callable[..., None]) -> None:
        """Wait until the collection has published ``live_slots`` slots for every cell."""
        from aifabric.collector import service as collector

        cells = self.outcome.collection["cells"]
        target = self.config.live_slots * cells
        deadline = time.monotonic() + self.config.live_slots * 2 + 120
        while True:
            self._session.expire_all()  # the collector process writes the counts
            job = collector.get_collection(self._session, self._collection_id, tenant=self.config.tenant)
            self._session.commit()
            update(min(job.records_published // cells, self.config.live_slots), job.state)
            if job.records_published >= target:
                break
            if job.state in ("failed", "stopped"):
                raise DemoError(f"the collection {job.state}: {job.reason}")
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the NWDAF collection published {job.records_published} of {target} records in time; "
                    f"degraded: {job.degraded_reason}; see {self.settings.log_dir / 'collector.log'}"
                )
            time.sleep(0.5)

    def collect_results(self, update: Callable[..., None]) -> None:
        """Stop the collection (unless kept) and read the first deployment's scored windows."""
        from aifabric.collector import service as collector
        from aifabric.serving.service import read_latest

        if not self.config.keep:
            collector.stop_collection(self._session, self._collection_id, tenant=self.config.tenant)
        self._session.expire_all()
        job = collector.get_collection(self._session, self._collection_id, tenant=self.config.tenant)
        last = job.last_record_at
        topic = self.outcome.deployments[0].results_topic
        deadline = time.monotonic() + 60
        results: list = []
        stable = 0
        while time.monotonic() < deadline and stable < 2:
            count = len(results)
            results = read_latest(self.resolved, topic, 10_000)
            newest = max((r.window_end for r in results), default=None)
            update(len(results))
            caught_up = last is not None and newest is not None and newest >= last
            if caught_up and self.config.keep:
                break  # the stream goes on: what was scored up to ``last`` is the report's
            stable = stable + 1 if caught_up and len(results) == count else 0
            time.sleep(0.5)
        if not results:
            raise DemoError(f"no scored windows on {topic}; see {self.settings.log_dir / 'serving'}")
        seen: dict[tuple[str, int], LivePoint] = {}
        for r in results:
            t_ms = int(r.window_end.timestamp() * 1000)
            seen[(r.series_key, t_ms)] = LivePoint(
                cell=_cell_of(r.series_key),
                t_ms=t_ms,
                value=r.value if r.value is not None else float("nan"),
                probability=r.anomaly_probability,
                anomaly=r.anomaly,
                error=r.reconstruction_error,
            )
        self.outcome.live = sorted(seen.values(), key=lambda p: (p.cell, p.t_ms))
        self.outcome.collection["records"] = job.records_published
        self.outcome.collection["dead_letters"] = job.dead_letters

    # -- teardown --------------------------------------------------------------------------

    def cleanup(self, stop_stack: bool) -> list[str]:
        """Undeploy, stop the collection and the fork server, and the stack if we started it."""
        problems: list[str] = []
        session = self._session
        started = time.monotonic()
        if session is not None:
            session.rollback()
            with ThreadPoolExecutor(
                max(1, len(self._deployment_ids))
            ) as pool:  # consumers commit in parallel
                for problem in pool.map(self._undeploy, self._deployment_ids):
                    if problem:
                        problems.append(problem)
            self._deployment_ids.clear()
            log.info("undeployed in %.1fs", time.monotonic() - started)
            if self._collection_id:
                from aifabric.collector import service as collector

                try:
                    collector.stop_collection(session, self._collection_id, tenant=self.config.tenant)
                except Exception as exc:  # keep going: the rest must still be stopped
                    problems.append(f"stop collection: {exc}")
        if self._serving_started:
            from aifabric.serving.backends.base import get_backend

            close = getattr(get_backend(self.resolved), "close", None)
            if close is not None:  # the local backend's fork server lives in this process
                close()
        if session is not None:
            session.close()
        if self._engine is not None:
            self._engine.dispose()
        self._http.close()
        log.info("demo processes stopped in %.1fs", time.monotonic() - started)
        if stop_stack and self._owns_stack:
            from aifabric.runtime import Stack

            Stack(self.settings).down()
            log.info("stack stopped in %.1fs", time.monotonic() - started)
        return problems

    def _undeploy(self, deployment_id: str) -> str | None:
        """One deployment, in its own session (this runs in a thread); returns a problem or None."""
        from aifabric.persistence import session_factory
        from aifabric.serving import service as serving

        try:
            with session_factory(self._engine)() as session:
                serving.undeploy(session, self.resolved, self.config.tenant, deployment_id)
        except Exception as exc:  # keep going: the rest must still be stopped
            return f"undeploy {deployment_id}: {exc}"
        return None


def _cell_of(series_key: str) -> str:
    """The cell id from a series key such as ``NWDAF/NUM_OF_UE/cell=000000001,event=...``."""
    for part in series_key.split("/", 2)[-1].split(","):
        key, _, value = part.partition("=")
        if key == "cell":
            return value
    return series_key


def live_schedule(cells: list[str], epoch_ms: int, slots: int) -> list[Anomaly]:
    """Anomalies for the live stream: after the warm-up, spread out, cycling kinds and cells."""
    count = max(3, slots // 24)
    span = slots - WARMUP_SLOTS - 10
    out = []
    for i in range(count):
        kind, magnitude, length = ANOMALY_SHAPES[i % len(ANOMALY_SHAPES)]
        at = epoch_ms + (WARMUP_SLOTS + i * span // count) * SLOT_MS
        cell = cells[(1 + 2 * i) % len(cells)]
        out.append(
            Anomaly(kind=kind, start_ms=at, end_ms=at + length * SLOT_MS, magnitude=magnitude, cell=cell)
        )
    return out


def run_demo(settings: Settings, config: DemoConfig, console: Console | None = None) -> DemoOutcome:
    """Run every step, write the report into ``config.report_dir``, print where things are.

    Without ``keep`` everything the demo started is stopped before returning. With ``keep`` the
    stack, the collection and the deployments keep running and this call blocks until Ctrl-C
    (the deployments' processes belong to this process), then stops the deployments and the
    collection and leaves the stack up.

    Raises:
        DemoError: a step failed (its message names the reason and where to look).
    """
    from aifabric.demo.report import write_report

    console = console or Console(stderr=True)
    _log_to_file(settings)
    runner = DemoRunner(settings, config)
    steps = _Steps(console)
    started = time.monotonic()
    kept = False
    try:
        with steps.progress:
            with steps.step("start the embedded stack and the simulators"):
                runner.start_stack()
            with steps.step(f"write and onboard {config.history_days} days of Milan-format history"):
                runner.onboard_dataset()
            epochs = config.epochs * len(config.definitions)
            with steps.step("train the LSTM-AE (KFP pipeline), register in MLflow", epochs) as update:
                runner.warm_serving()
                runner.train(update)
            with steps.step("pick the best version from the catalog"):
                runner.pick_best()
            with steps.step("start the NWDAF collection (600x clock, anomalies injected)"):
                runner.start_collection()
            with steps.step(
                f"deploy 1..{config.deployments} model + consumer, measure", config.deployments
            ) as update:
                for i in range(1, config.deployments + 1):
                    runner.deploy(i)
                    runner.measure()
                    update(i)
            with steps.step("stream live slots through consumer and model", config.live_slots) as update:
                runner.stream(update)
            with steps.step("collect scored windows from the results topic") as update:
                runner.collect_results(update)
        runner.outcome.steps = steps.timings
        runner.outcome.wall_seconds = round(time.monotonic() - started, 1)
        runner.outcome.endpoints["report"] = str(Path(config.report_dir).resolve() / "summary.html")
        write_report(config.report_dir, runner.outcome)
        print_locations(runner.outcome, config.keep)
        kept = config.keep
    except (AifabricError, DemoError, TimeoutError, RuntimeError, OSError) as exc:
        detail = exc.detail if isinstance(exc, AifabricError) else str(exc)
        raise DemoError(detail) from exc
    finally:
        if not kept:
            _stop(console, runner, stop_stack=True)
    if kept:
        try:
            threading.Event().wait()  # until Ctrl-C: the deployments run in this process
        except KeyboardInterrupt:
            pass
        finally:
            _stop(console, runner, stop_stack=False)
            console.print("deployments stopped; the stack keeps running ('aifabric down' stops it)")
    return runner.outcome


def _stop(console: Console, runner: DemoRunner, stop_stack: bool) -> None:
    with console.status("stopping what the demo started…"):
        problems = runner.cleanup(stop_stack=stop_stack)
    for p in problems:
        console.print(f"[yellow]warning:[/] {p}")


def print_locations(outcome: DemoOutcome, keep: bool) -> None:
    """Where to look next, on stdout, one unwrapped line each (easy to copy)."""
    out = Console(soft_wrap=True)
    names = {"api_docs": "API docs", "mlflow_ui": "MLflow UI", "kubeflow": "Kubeflow", "report": "report"}
    out.print(f"[bold]aifabric demo[/] done in {outcome.wall_seconds:.0f} s")
    for key, label in names.items():
        if key in outcome.endpoints:
            out.print(f"  {label:<15} {outcome.endpoints[key]}")
    live = outcome.detection.get("live", {})
    if "roc_auc" in live:
        out.print(
            f"  {'live detection':<15} ROC-AUC {live['roc_auc']:.3f}, F1 {live['f1']:.3f}, "
            f"{live['detected_anomalies']}/{live['injected_anomalies']} injected anomalies flagged"
        )
    out.print(
        f"  {'status':<15} "
        + ("running; Ctrl-C stops the deployments" if keep else "everything the demo started is stopped")
    )


def _log_to_file(settings: Settings) -> None:
    """Library warnings (deploy retries, broker reconnects) go to a log file, not over the progress."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.log_dir / "demo.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
