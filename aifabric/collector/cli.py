"""``aifabric collections create|list|show|stop|persist`` and ``aifabric topics list|peek|follow``.

The commands call :mod:`aifabric.collector.service` on the configured SQL database and broker;
the collector process (``python -m aifabric.collector``) runs what they create.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from aifabric.collector.process import wake_collector
from aifabric.config import get_settings
from aifabric.errors import InvalidRequest

app = typer.Typer(help="Data collections: create, list, show, stop, persist.", no_args_is_help=True)
topics_app = typer.Typer(help="Collection topics: list, peek, follow.", no_args_is_help=True)
out = Console()

JSON_OPT = typer.Option(False, "--json", help="print JSON")
TENANT_OPT = typer.Option("default", "--tenant", help="tenant the collections belong to")


def _sessions():
    from aifabric.persistence import init_db, make_engine, session_factory

    engine = make_engine(get_settings().resolved().sql.url.get_secret_value())
    init_db(engine)
    return session_factory(engine)


def _json_arg(text: str | None, what: str) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}") from None


def _time(text: str | None, what: str) -> datetime | None:
    if not text:
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{what} {text!r} is not an ISO 8601 time") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _emit(model, as_json: bool) -> bool:
    if as_json:
        sys.stdout.write(
            orjson.dumps(model.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    return as_json


def _show(c) -> None:
    table = Table(show_header=False, title=f"collection {c.id}")
    for key, value in c.model_dump(mode="json").items():
        table.add_row(key, orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value))
    out.print(table)


@app.command()
def create(
    source: str = typer.Argument(..., help="core (NWDAF), ran (FlexRIC) or edge"),
    metric: list[str] = typer.Option(..., "--metric", "-m", help="metric id; repeat for several"),
    period: float = typer.Option(1.0, "--period", "-p", help="extraction period in seconds"),
    cell: list[str] = typer.Option(None, "--cell", help="cell filter; repeat for several"),
    filters: str = typer.Option(None, "--filters", help='filters as JSON, e.g. {"slices": ["1-000001"]}'),
    start: str = typer.Option(None, help="ISO 8601 start (default now)"),
    stop: str = typer.Option(None, help="ISO 8601 stop (default open-ended)"),
    duration: float = typer.Option(None, help="seconds from start to stop (instead of --stop)"),
    name: str = typer.Option(None, help="a name for the collection"),
    adapter: str = typer.Option(
        None, help='adapter config JSON, e.g. {"type": "nwdaf", "api_root": "http://..."}'
    ),
    aggregation: str = typer.Option(
        None, help="if downsampled from a finer running stream: last (default) | mean | sum | max | min"
    ),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Request a collection; it starts on schedule in the collector."""
    from aifabric.collector import service
    from aifabric.collector.models import CollectionCreate

    flt = _json_arg(filters, "--filters") or {}
    if cell:
        flt["cells"] = list(cell)
    begin = _time(start, "--start")
    end = _time(stop, "--stop")
    if duration is not None:
        if end is not None:
            raise InvalidRequest("give --stop or --duration, not both")
        end = (begin or datetime.now(UTC)) + timedelta(seconds=duration)
    body = CollectionCreate(
        name=name, source=source, metrics=metric, filters=flt, period_s=period, start=begin, stop=end,
        adapter=_json_arg(adapter, "--adapter"), aggregation=aggregation,
    )  # fmt: skip
    with _sessions()() as session:
        c = service.create_collection(session, get_settings(), body, tenant=tenant)
    wake_collector(get_settings())
    if not _emit(c, as_json):
        out.print(f"collection [bold]{c.id}[/] {c.state} → topic [bold]{c.topic}[/] ({c.stream_users} users)")
        if c.derived_from is not None:
            d = c.derived_from
            out.print(
                f"downsampled ({d.aggregation}) from {d.topic} (every {d.period_s}s): no new upstream call"
            )


@app.command("list")
def list_(
    state: str = typer.Option(None, help="pending | running | stopped | failed"),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """List collections, newest first."""
    from aifabric.collector import service
    from aifabric.collector.models import JobState

    if state is not None and state not in JobState.__members__:
        raise InvalidRequest(f"unknown state {state!r}: use one of {', '.join(JobState.__members__)}")
    with _sessions()() as session:
        result = service.list_collections(session, tenant=tenant, state=JobState(state) if state else None)
    if _emit(result, as_json):
        return
    table = Table(title=f"collections ({result.count})")
    for col in ("id", "name", "source", "metrics", "period", "state", "records", "topic", "health"):
        table.add_column(col)
    for c in result.data:
        health = f"[red]degraded[/]: {c.degraded_reason}" if c.degraded else (c.reason or "")
        table.add_row(c.id[:12], c.name or "", c.source, ",".join(c.metrics), f"{c.period_s:g}s", c.state,
                      str(c.records_published), c.topic, health)  # fmt: skip
    out.print(table)


@app.command()
def show(collection_id: str, tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
    """Show one collection: state, reason, records published, last record time, health."""
    from aifabric.collector import service

    with _sessions()() as session:
        c = service.get_collection(session, collection_id, tenant=tenant)
    if not _emit(c, as_json):
        _show(c)


@app.command()
def stop(collection_id: str, tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
    """Stop a collection (its stream ends upstream when no other collection uses it)."""
    from aifabric.collector import service

    with _sessions()() as session:
        c = service.stop_collection(session, collection_id, tenant=tenant)
    wake_collector(get_settings())
    if not _emit(c, as_json):
        out.print(f"collection {c.id} {c.state}: {c.records_published} records published")


@app.command()
def persist(
    collection_id: str,
    dataset: str = typer.Option(..., help="dataset name to add a version to"),
    start: str = typer.Option(None, help="ISO 8601 start of the range (default: the job's start)"),
    end: str = typer.Option(None, help="ISO 8601 end of the range (default: the job's stop, or now)"),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Persist a collection's records as a dataset version (Parquet in S3, metadata in SQL)."""
    from aifabric.collector import service
    from aifabric.collector.models import PersistRequest

    body = PersistRequest(dataset=dataset, start=_time(start, "--start"), end=_time(end, "--end"))
    with _sessions()() as session:
        version = service.persist_collection(session, get_settings(), collection_id, body, tenant=tenant)
    if not _emit(version, as_json):
        out.print(f"dataset version [bold]{version.ref}[/]: {version.row_count} rows at {version.uri}")


@topics_app.command("list")
def topics_list(
    all_topics: bool = typer.Option(False, "--all", help="every topic, not only collection topics"),
    as_json: bool = JSON_OPT,
) -> None:
    """List collection topics with partitions and retained messages."""
    from aifabric.collector import service

    result = service.list_topics(get_settings(), prefix="" if all_topics else service.TOPIC_PREFIX)
    if _emit(result, as_json):
        return
    table = Table(title=f"topics ({result.count})")
    for col in ("topic", "partitions", "messages"):
        table.add_column(col)
    for t in result.data:
        table.add_row(t.name, str(t.partitions), str(t.messages))
    out.print(table)


@topics_app.command()
def peek(
    topic: str,
    limit: int = typer.Option(10, help="how many of the latest messages"),
    as_json: bool = JSON_OPT,
) -> None:
    """Show the latest messages of a topic, decoded as records."""
    from aifabric.collector import service

    result = service.peek_topic(get_settings(), topic, limit)
    if _emit(result, as_json):
        return
    for item in result.records:
        out.print(orjson.dumps(item.get("record") or item).decode())


@topics_app.command()
def follow(
    topic: str,
    from_beginning: bool = typer.Option(False, help="start at the oldest retained record"),
    group: str = typer.Option(None, help="consumer group (resume where it left off)"),
) -> None:
    """Print records of a topic as they arrive (Ctrl-C to end)."""
    from aifabric.collector.consume import follow as follow_topic
    from aifabric.records import encode

    try:
        for record in follow_topic(get_settings(), topic, group_id=group, from_beginning=from_beginning):
            sys.stdout.write(encode(record).decode() + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
