"""``aifabric data``: generate Milan-format files, onboard files as dataset versions, list, show."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from aifabric.config import get_settings

app = typer.Typer(help="Datasets: generate, onboard, list, show.", no_args_is_help=True)
console = Console(stderr=True)


@contextmanager
def _session_and_store() -> Iterator[tuple]:
    from aifabric.persistence import init_db, make_engine, session_factory
    from aifabric.storage import ObjectStore

    settings = get_settings().resolved()
    engine = make_engine(settings.sql.url.get_secret_value())
    init_db(engine)
    try:
        with session_factory(engine)() as session:
            yield session, ObjectStore(settings)
    finally:
        engine.dispose()


def _print_json(obj) -> None:
    sys.stdout.write(orjson.dumps(obj.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n")


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", "-o", help="directory for the daily files and labels.csv"),
    squares: int = typer.Option(10, min=1, max=10_000, help="number of grid squares"),
    days: int = typer.Option(7, min=1, max=366, help="number of days"),
    start: str = typer.Option("2013-11-01", help="first day (YYYY-MM-DD, local Milan time)"),
    first_square: int = typer.Option(1, min=1, max=10_000, help="id of the first square"),
    anomalies: float = typer.Option(0.0, min=0.0, help="injected anomalies per square per day (0 = none)"),
    seed: int = typer.Option(0, help="random seed"),
) -> None:
    """Write sms-call-internet-mi-YYYY-MM-DD.txt files in the exact Milan format."""
    from aifabric.datasets.milan_generator import GeneratorConfig, generate

    try:
        day = date.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(f"{start!r} is not a date like 2013-11-01", param_hint="--start") from None
    report = generate(
        out,
        GeneratorConfig(
            squares=squares,
            days=days,
            start=day,
            first_square=first_square,
            anomaly_rate=anomalies,
            seed=seed,
        ),
    )
    console.print(
        f"wrote {len(report.files)} files ({report.rows:,} rows) to {out}"
        + (f"; {report.anomalies} anomalies, labels in {report.labels_file}" if report.labels_file else "")
    )


@app.command()
def onboard(
    name: str = typer.Argument(..., help="dataset name"),
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="files of one format"),
    labels: Path = typer.Option(None, exists=True, dir_okay=False, help="labels.csv of injected anomalies"),
    file_format: str = typer.Option(
        None, "--format", help="milan | csv | parquet | records (default: detect)"
    ),
    description: str = typer.Option("", help="free text"),
    tenant: str = typer.Option("default", help="tenant that owns the dataset"),
) -> None:
    """Validate files and store them as a new, immutable dataset version."""
    from aifabric.datasets import service
    from aifabric.datasets.loader import LoadOptions
    from aifabric.datasets.schemas import DatasetCreate

    create = DatasetCreate(name=name, description=description, options=LoadOptions(format=file_format))
    with _session_and_store() as (session, store):
        version = service.onboard(
            session,
            store,
            tenant=tenant,
            create=create,
            files=[(f.name, f.read_bytes()) for f in files],
            labels=(labels.name, labels.read_bytes()) if labels else None,
            uploaded_by="cli",
        )
    verb = "created" if version.created else "already stored as"
    console.print(
        f"{verb} {version.ref}: {version.row_count:,} rows, {version.series_count} series, "
        f"{version.time_start} .. {version.time_end}, sha256 {version.checksum[:12]}"
    )


@app.command("list")
def list_(tenant: str = typer.Option("default")) -> None:
    """List datasets and their latest version."""
    from aifabric.datasets import service

    with _session_and_store() as (session, _):
        datasets = service.list_datasets(session, tenant=tenant)
    table = Table("name", "latest", "created", "description")
    for d in datasets.data:
        table.add_row(d.name, str(d.latest_version or "-"), f"{d.created_at:%Y-%m-%d %H:%M}", d.description)
    Console().print(table)


@app.command()
def show(
    ref: str = typer.Argument(..., help="name, name@N or a version id"), tenant: str = "default"
) -> None:
    """Print one dataset version's metadata as JSON."""
    from aifabric.datasets import service

    with _session_and_store() as (session, _):
        _print_json(service.get_version(session, tenant=tenant, ref=ref))
