"""The ``aifabric demo`` command: parses, builds settings, calls :func:`aifabric.demo.run_demo`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from aifabric.config import get_settings

__all__ = ["demo"]


def demo(
    quick: bool = typer.Option(
        False, "--quick", help="reduced fast mode (CI): 7 days, 3 epochs, one definition, 40 live slots"
    ),
    keep: bool = typer.Option(
        False, "--keep", help="keep the stack, collection and deployments running until Ctrl-C"
    ),
    report_dir: Path = typer.Option(Path("report"), "--report-dir", help="where the report is written"),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="the fabric's data dir (default: AIFABRIC_DATA_DIR or ~/.aifabric)"
    ),
) -> None:
    """Run the paper's section III end to end on the embedded stack and write a report.

    Starts the stack with the simulators (or reuses the running one), onboards a Milan-format
    data set, trains and registers the LSTM-AE, deploys the best version with its Data Consumer,
    streams a live NWDAF collection through it and writes the anomaly figure, the deployment-time
    table, resource use and detection metrics into the report directory.
    """
    from aifabric.demo.runner import DemoConfig, DemoError, run_demo

    console = Console(stderr=True)
    settings = get_settings(data_dir=data_dir) if data_dir else get_settings()
    config = DemoConfig.for_mode(quick, keep=keep, report_dir=report_dir)
    try:
        run_demo(settings, config, console)
    except DemoError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: everything the demo started was stopped")
        raise typer.Exit(130) from None
