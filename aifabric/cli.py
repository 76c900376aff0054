"""The ``aifabric`` command line: parses, builds settings, calls a facade."""

from __future__ import annotations

import sys

import orjson
import typer
from rich.console import Console
from rich.table import Table

from aifabric.config import get_settings
from aifabric.errors import AifabricError

app = typer.Typer(help="aifabric: an AI Fabric for 5G/6G networks (DataOps + MLOps).", no_args_is_help=True)
console = Console(stderr=True)


def _mount() -> None:
    """Each subsystem owns its sub-commands; the root only mounts them."""
    from aifabric.collector.cli import app as collections_app
    from aifabric.collector.cli import topics_app
    from aifabric.datasets.cli import app as data_app
    from aifabric.demo.cli import demo
    from aifabric.fabric_api.cli import app as tenants_app
    from aifabric.fabric_api.cli import tokens_app
    from aifabric.k8s.cli import app as k8s_app
    from aifabric.kfp_pipelines.cli import app as pipeline_app
    from aifabric.kfp_pipelines.cli import train_app
    from aifabric.serving.cli import app as deployments_app

    app.add_typer(collections_app, name="collections")
    app.add_typer(topics_app, name="topics")
    app.add_typer(data_app, name="data")
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(train_app, name="train")
    app.add_typer(deployments_app, name="deployments")
    app.add_typer(k8s_app, name="k8s")
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(tokens_app, name="tokens")
    app.command(name="demo")(demo)


_mount()


@app.command()
def up(
    simulators: bool = typer.Option(False, help="also start the NWDAF, RAN and edge simulators"),
    timeout: float = typer.Option(180.0, help="seconds to wait for every part to be healthy"),
) -> None:
    """Start the embedded stack (broker, S3, MLflow, API) on loopback and wait until healthy."""
    from aifabric.fabric_api.security import token_file
    from aifabric.runtime import Stack

    settings = get_settings()
    with console.status("starting the embedded stack…"):
        status = Stack(settings).up(timeout=timeout, simulators=simulators)
    _print_status(status)
    console.print(f"API docs: {settings.api_url}/docs   admin token: {token_file(settings)} (mode 0600)")


@app.command()
def down() -> None:
    """Stop everything ``aifabric up`` started."""
    from aifabric.runtime import Stack

    stopped = Stack(get_settings()).down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Report each part: endpoint, pid, healthy."""
    from aifabric.runtime import Stack

    st = Stack(get_settings()).status()
    if json:
        sys.stdout.write(orjson.dumps(st.model_dump(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_status(st)
    raise typer.Exit(0 if st.healthy else 1)


@app.command()
def api(
    host: str = typer.Option(None, help="bind address (default from settings: 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default from settings)"),
) -> None:
    """Serve the fabric API in the foreground."""
    import logging

    import uvicorn

    from aifabric.fabric_api import create_app

    # our own INFO lines (reconciliation, operations) belong in the API's log file too
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level="info",
        access_log=False,
    )


@app.command()
def config() -> None:
    """Print the effective configuration (secrets masked)."""
    settings = get_settings()
    sys.stdout.write(
        orjson.dumps(settings.resolved().public_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
    )


def _print_status(st) -> None:
    table = Table(title="aifabric stack")
    for col in ("part", "endpoint", "pid", "embedded", "healthy"):
        table.add_column(col)
    for p in st.parts:
        table.add_row(
            p.name,
            p.endpoint,
            str(p.pid or "-"),
            "yes" if p.embedded else "external",
            "[green]yes[/]" if p.healthy else "[red]no[/]",
        )
    Console().print(table)


def main() -> None:
    try:
        app()
    except AifabricError as exc:
        console.print(f"[red]error:[/] {exc.detail}")
        sys.exit(2)
    except (TimeoutError, RuntimeError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
