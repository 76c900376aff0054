"""Cold and warm start of the embedded stack: ``aifabric up`` until every part is healthy.

Cold = a new data dir (MLflow creates its schema); warm = the same data dir again.
``python bench/stack_startup.py --json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import stack_env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aifabric.cli", *args], env=env, capture_output=True, text=True
    )


def one_start(env: dict[str, str], data_dir: Path) -> dict:
    t0 = time.perf_counter()
    up = run(env, "up")
    wall = time.perf_counter() - t0
    if up.returncode != 0:
        run(env, "down")
        raise SystemExit(f"aifabric up failed: {up.stderr}")
    state = orjson.loads((data_dir / "stack.json").read_bytes())
    parts = {
        name: round(p["ready_after_s"], 3) for name, p in state["parts"].items() if p.get("ready_after_s")
    }
    t1 = time.perf_counter()
    run(env, "down")
    return {"up_s": round(wall, 3), "down_s": round(time.perf_counter() - t1, 3), "part_ready_s": parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aifabric-bench-") as tmp:
        data_dir = Path(tmp)
        env = stack_env(data_dir)
        cold = one_start(env, data_dir)
        warm = one_start(env, data_dir)
    result = {
        "benchmark": "stack_startup",
        "cold_up_s": cold["up_s"],
        "warm_up_s": warm["up_s"],
        "down_s": warm["down_s"],
        "cold_part_ready_s": cold["part_ready_s"],
        "warm_part_ready_s": warm["part_ready_s"],
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if args.json:
        print(orjson.dumps(result).decode())
    else:
        print(
            f"cold aifabric up: {cold['up_s']:.1f} s, warm: {warm['up_s']:.1f} s, "
            f"down: {warm['down_s']:.1f} s"
        )
        for name, secs in cold["part_ready_s"].items():
            print(
                f"  {name:10s} cold {secs:6.2f} s   "
                f"warm {warm['part_ready_s'].get(name, float('nan')):6.2f} s"
            )


if __name__ == "__main__":
    main()
