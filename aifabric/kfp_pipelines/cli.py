"""``aifabric pipeline compile|run`` and ``aifabric train run|status|list|stop|add-definition|definitions``.

Two Typer apps for the lead to mount: ``app`` as ``pipeline`` and ``train_app`` as ``train``.
``train run`` records the run in SQL, launches the worker and follows it with a progress bar fed
by the MLflow run's per-epoch metrics (``--detach`` returns at once).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aifabric.config import get_settings
from aifabric.models.registry import DEFAULT_DEFINITION

app = typer.Typer(help="The training pipeline: compile to KFP IR, run it.", no_args_is_help=True)
train_app = typer.Typer(
    help="Training runs: start with a progress bar, status, list, stop.", no_args_is_help=True
)
console = Console(stderr=True)


def _print_json(obj) -> None:
    sys.stdout.write(orjson.dumps(obj.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n")


def _session():
    from aifabric.persistence import open_session

    return open_session(get_settings())


@app.command("compile")
def compile_(out: Path = typer.Argument(Path("aifabric-training.yaml"), help="output YAML file")) -> None:
    """Compile the pipeline to KFP IR YAML for a Kubeflow Pipelines cluster."""
    from aifabric.kfp_pipelines.pipeline import compile_pipeline

    console.print(f"wrote {compile_pipeline(out)}")


@app.command()
def run(
    dataset: str = typer.Option(..., help="dataset version: name, name@N or a version id"),
    definition: str = typer.Option(DEFAULT_DEFINITION, help="model definition (name or module:Class)"),
    model_name: str = typer.Option(None, help="registered model name (default: the definition's)"),
    epochs: int = typer.Option(None, min=1, help="training epochs (default: the definition's)"),
    tenant: str = typer.Option("default"),
) -> None:
    """Run the pipeline in the foreground (kfp.local, or kfp.Client when a KFP host is configured)."""
    from aifabric.kfp_pipelines.config import PipelineConfig
    from aifabric.kfp_pipelines.runner import run_local, submit_cluster

    settings = get_settings()
    config = PipelineConfig(
        dataset=dataset,
        definition=definition,
        model_name=model_name,
        tenant=tenant,
        train_params={"epochs": epochs} if epochs else {},
    )
    if settings.kfp.host:
        console.print(f"submitted KFP run {submit_cluster(settings, config)}")
        return
    _print_json(run_local(settings, config))


@train_app.command("run")
def train_run(
    dataset: str = typer.Option(..., help="dataset version: name, name@N or a version id"),
    definition: str = typer.Option(
        DEFAULT_DEFINITION, help="built-in name, module:Class, or an onboarded definition"
    ),
    model_name: str = typer.Option(None, help="registered model name (default: the definition's)"),
    epochs: int = typer.Option(None, min=1, help="training epochs (default: the definition's)"),
    series: list[str] = typer.Option(None, help="series (squares) to train on; repeat; default all"),
    alias: str = typer.Option("champion", help="alias to move when the evaluation gate passes"),
    tenant: str = typer.Option("default"),
    detach: bool = typer.Option(False, help="return after starting; poll with 'train status'"),
    timeout: float = typer.Option(3600.0, help="seconds to follow the run"),
) -> None:
    """Start a training run and follow it with a progress bar."""
    from aifabric.kfp_pipelines import service

    settings = get_settings()
    create = service.TrainingCreate(
        dataset=dataset,
        definition=definition,
        model_name=model_name,
        series=series or None,
        alias=alias,
        train_params={"epochs": epochs} if epochs else {},
    )
    with _session() as session:
        started = service.start_training(session, settings, tenant=tenant, create=create)
        console.print(f"training run [bold]{started.id}[/] started")
        if detach:
            _print_json(started)
            return
        final = _follow(session, settings, tenant, started.id, timeout)
    _print_json(final)
    if final.status != "succeeded":
        console.print(f"[red]training {final.status}:[/] {final.error}")
        raise typer.Exit(1)


def _follow(session, settings, tenant: str, training_id: str, timeout: float):
    from aifabric.kfp_pipelines import service

    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("queued", total=None, info="")
        while True:
            current = service.get_training(session, settings, tenant=tenant, training_id=training_id)
            p = current.progress
            info = f"loss {p.loss:.4f}" if p and p.loss is not None else ""
            if p and p.val_loss is not None:
                info += f"  val_loss {p.val_loss:.4f}"
            phase = current.status
            if p and p.epochs_total and p.epochs_done >= p.epochs_total:
                phase = "evaluate/register"
            elif p and p.epochs_done:
                phase = "training"
            bar.update(
                task,
                description=phase,
                total=p.epochs_total if p else None,
                completed=p.epochs_done if p else 0,
                info=info + (f"  {current.mlflow_url}" if current.mlflow_url and not info else ""),
            )
            if current.status in service.FINAL:
                return service.wait_training(
                    session, settings, tenant=tenant, training_id=training_id, timeout=30
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"training run {training_id} still {current.status}; see 'train status'")
            time.sleep(1.0)


@train_app.command()
def status(training_id: str, tenant: str = typer.Option("default")) -> None:
    """Status, progress, metrics and MLflow link of a training run."""
    from aifabric.kfp_pipelines import service

    with _session() as session:
        _print_json(service.get_training(session, get_settings(), tenant=tenant, training_id=training_id))


@train_app.command("list")
def list_(tenant: str = typer.Option("default")) -> None:
    """List recent training runs."""
    from aifabric.kfp_pipelines import service

    with _session() as session:
        runs = service.list_trainings(session, tenant=tenant)
    table = Table("id", "status", "dataset", "definition", "model", "created")
    for r in runs:
        model = f"{r.model_name}/{r.model_version}" if r.model_version else "-"
        table.add_row(r.id, r.status, r.dataset, r.definition, model, f"{r.created_at:%Y-%m-%d %H:%M}")
    Console().print(table)


@train_app.command()
def stop(training_id: str, tenant: str = typer.Option("default")) -> None:
    """Stop a running training."""
    from aifabric.kfp_pipelines import service

    with _session() as session:
        _print_json(service.stop_training(session, get_settings(), tenant=tenant, training_id=training_id))


@train_app.command("add-definition")
def add_definition(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Python module with a ModelDefinition"
    ),
    class_name: str = typer.Option(None, help="the class, if the module defines several"),
    tenant: str = typer.Option("default"),
) -> None:
    """Onboard a custom model definition (see aifabric.models.base.ModelDefinition)."""
    from aifabric.models.catalog import onboard_definition
    from aifabric.storage import ObjectStore

    with _session() as session:
        found = onboard_definition(
            session,
            ObjectStore(get_settings()),
            tenant=tenant,
            filename=file.name,
            source=file.read_bytes(),
            class_name=class_name,
            uploaded_by="cli",
        )
    _print_json(found)


@train_app.command()
def definitions(tenant: str = typer.Option("default")) -> None:
    """List built-in and onboarded model definitions."""
    from aifabric.models.catalog import list_definitions
    from aifabric.models.registry import DEFINITION_CLASS_FOR_NAME

    table = Table("name", "class", "features", "window", "source")
    for name, path in DEFINITION_CLASS_FOR_NAME.items():
        from aifabric.models.registry import load_definition

        cls = load_definition(path)
        table.add_row(name, path, ", ".join(cls.features), str(cls.window), "built in")
    with _session() as session:
        for d in list_definitions(session, tenant=tenant):
            table.add_row(d.name, d.class_path, ", ".join(d.features), str(d.window), d.uri)
    Console().print(table)
