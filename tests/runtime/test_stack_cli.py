"""``aifabric up`` / ``status --json`` / ``down`` end to end, as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import psutil
import pytest

from aifabric.config import Settings
from tests.conftest import stack_env, wait_for

pytestmark = pytest.mark.integration


def aifabric(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aifabric.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def status(env: dict[str, str]) -> dict:
    out = aifabric(env, "status", "--json")
    return orjson.loads(out.stdout)


def stack_pids(data_dir: Path) -> set[int]:
    """Every live process whose command line or environment points at this data dir."""
    found = set()
    for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + str(
                (proc.info["environ"] or {}).get("AIFABRIC_DATA_DIR")
            )
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(data_dir) in text and proc.pid != os.getpid():
            found.add(proc.pid)
    return found


def test_up_status_down_leaves_nothing_behind(tmp_path) -> None:
    env = stack_env(tmp_path)
    try:
        up = aifabric(env, "up")
        assert up.returncode == 0, up.stderr + up.stdout
        st = status(env)
        parts = {p["name"]: p for p in st["parts"]}
        assert {"broker", "s3", "mlflow", "api", "collector"} <= set(parts)
        assert all(p["healthy"] and p["pid"] for p in parts.values()), parts
        assert all(p["endpoint"].replace("http://", "").startswith("127.0.0.1") for p in parts.values())
        for name in ("broker", "s3", "mlflow", "api", "collector"):
            assert (tmp_path / "logs" / f"{name}.log").exists()

        again = aifabric(env, "up")
        assert again.returncode == 2 and "already running" in again.stderr

        # the supervisor restarts a part that dies
        os.kill(parts["broker"]["pid"], signal.SIGKILL)
        restarted = wait_for(
            lambda: (
                (p := {x["name"]: x for x in status(env)["parts"]}["broker"])["restarts"] >= 1
                and p["healthy"]
            ),
            60,
            "the broker to be restarted",
        )
        assert restarted
        secret = Settings(data_dir=tmp_path).resolved().s3.secret_key.get_secret_value()
        for log in (tmp_path / "logs").iterdir():
            assert secret not in log.read_text(errors="replace"), f"secret leaked into {log.name}"
    finally:
        down = aifabric(env, "down")
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stderr
    wait_for(lambda: not stack_pids(tmp_path), 30, "every stack process to exit")
    after = aifabric(env, "status", "--json")
    assert after.returncode == 1 and orjson.loads(after.stdout)["running"] is False


def test_configured_parts_are_used_instead_of_embedded_ones(tmp_path, broker: Settings, pg_url: str) -> None:
    env = stack_env(
        tmp_path,
        AIFABRIC_KAFKA__BOOTSTRAP_SERVERS=broker.kafka.bootstrap_servers,
        AIFABRIC_SQL__URL=pg_url,
    )
    try:
        up = aifabric(env, "up")
        assert up.returncode == 0, up.stderr + up.stdout
        parts = {p["name"]: p for p in status(env)["parts"]}
        assert parts["broker"]["embedded"] is False and parts["broker"]["pid"] is None
        assert parts["broker"]["endpoint"] == broker.kafka.bootstrap_servers
        assert all(p["healthy"] for p in parts.values()), parts
        assert not (tmp_path / "aifabric.db").exists() and not (tmp_path / "mlflow.db").exists()
    finally:
        aifabric(env, "down")
    wait_for(lambda: not stack_pids(tmp_path), 30, "every stack process to exit")
