"""The pre-warmed step server: kfp.local steps run as forked children with the same contract.

These steps need no TensorFlow, so the servers skip the later preloads; the pipeline tests
(test_pipeline.py) train through a fully preloaded one.

No ``from __future__ import annotations``: KFP reads the real annotation objects.
"""

import contextlib
import json
import os
import signal
import threading
from pathlib import Path

import pytest
from kfp import dsl, local

from aifabric.config import Settings
from aifabric.kfp_pipelines.stepserver import shared_socket_path, step_server, step_server_spec
from aifabric.runtime.process import ManagedProcess, pid_alive
from aifabric.runtime.supervisor import default_stages
from tests.conftest import wait_for


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def whoami(marker: str) -> str:
    """Report where the step ran: the server's child, with the runner's environment and argument."""
    import json
    import os

    return json.dumps(
        {"pid": os.getpid(), "ppid": os.getppid(), "marker": marker, "env": os.environ.get("STEP_TEST_MARK")}
    )


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def failing(message: str) -> str:
    raise ValueError(message)


def test_steps_fork_from_the_server_with_the_runner_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STEP_TEST_MARK", "from-the-runner")
    with step_server(tmp_path / "steps.log", preload_later=False) as server:
        assert server.use_for_kfp_steps()
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
        first = json.loads(whoami(marker="m1").output)
        second = json.loads(whoami(marker="m2").output)
        server_pid = server.proc.pid
    assert first["ppid"] == second["ppid"] == server_pid  # forked by the server, not started by sh
    assert first["pid"] != second["pid"]  # one process per step
    assert (first["marker"], second["marker"]) == ("m1", "m2")
    assert first["env"] == "from-the-runner"
    assert not pid_alive(server_pid)
    assert not any(pid_alive(p) for p in (first["pid"], second["pid"]))
    assert "forked step" in (tmp_path / "steps.log").read_text()


def test_a_failing_step_fails_the_run_with_its_error(tmp_path, capfd):
    with step_server(tmp_path / "steps.log", preload_later=False) as server:
        assert server.use_for_kfp_steps()
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(tmp_path / "root"),
            raise_on_error=True,
        )
        with pytest.raises(RuntimeError, match="FAILURE"):
            failing(message="step-broke-417")
    out = capfd.readouterr()
    assert "ValueError: step-broke-417" in out.out + out.err  # the step's traceback, streamed


def test_kfp_is_restored_and_steps_start_cold_after_the_block(tmp_path):
    with step_server(tmp_path / "steps.log", preload_later=False) as server:
        assert server.use_for_kfp_steps()
        server_pid = server.proc.pid
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    after = json.loads(whoami(marker="cold").output)
    assert after["ppid"] not in (server_pid, os.getpid())  # started by kfp's sh, as without the server


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def blocking(pid_file: str) -> str:
    import os
    import time

    with open(pid_file + ".tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.rename(pid_file + ".tmp", pid_file)
    time.sleep(600)  # the work this step would do; the test kills its client long before
    return "unreachable"


def _client_pid(socket_path: str) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(part.endswith(b"stepclient.py") for part in cmdline) and socket_path.encode() in cmdline:
                return int(entry)
    return None


def test_a_step_whose_client_dies_is_stopped(tmp_path):
    pid_file = tmp_path / "step.pid"
    with step_server(tmp_path / "steps.log", preload_later=False) as server:
        assert server.use_for_kfp_steps()
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
        task = threading.Thread(target=lambda: _run_quietly(blocking, pid_file=str(pid_file)), daemon=True)
        task.start()
        step_pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the step to start"))
        client = _client_pid(str(server.socket))
        assert client is not None
        os.kill(client, signal.SIGKILL)  # kfp.local's task killed
        wait_for(lambda: not pid_alive(step_pid), 15, "the step to be stopped")
        task.join(timeout=30)
        assert not task.is_alive()
        assert "went away; stopping the step" in (tmp_path / "steps.log").read_text()


def _run_quietly(component, **kwargs) -> None:
    """Run a task whose failure is the point of the test."""
    with contextlib.suppress(Exception):
        component(**kwargs)


def test_a_warm_stack_server_is_used_and_outlives_the_run(tmp_path):
    """``settings.kfp.warm_step_server``: the supervisor's server serves the run and keeps running."""
    settings = Settings(data_dir=tmp_path / "data", kfp={"warm_step_server": True})
    spec = step_server_spec(settings)
    spec.argv.append("--no-later")  # these steps need no TensorFlow
    stack_server = ManagedProcess(spec)
    stack_server.start()
    try:
        stack_server.wait_ready()
        with step_server(tmp_path / "run.log", shared=shared_socket_path(settings)) as server:
            assert server.proc is None  # nothing started for the run
            assert server.use_for_kfp_steps()
            local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
            step = json.loads(whoami(marker="warm").output)
        assert step["ppid"] == stack_server.pid
        assert stack_server.alive()
        assert not (tmp_path / "run.log").exists()
    finally:
        stack_server.stop()
    assert not pid_alive(stack_server.pid)


def test_the_supervisor_runs_a_warm_server_only_when_configured(tmp_path):
    def names(settings: Settings) -> list[str]:
        return [spec.name for stage in default_stages(settings) for spec in stage]

    assert "step-server" not in names(Settings(data_dir=tmp_path))
    assert "step-server" in names(Settings(data_dir=tmp_path, kfp={"warm_step_server": True}))
