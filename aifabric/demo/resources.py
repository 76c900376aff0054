"""Memory and CPU of the fabric's processes, split like the paper's Fig. 4-5 (MLOps vs DataOps).

A *part* is a named process with its descendants (the MLflow server's workers count as MLflow).
Memory is RSS and PSS summed per group: forked predictors and consumers share the fork server's
pages copy-on-write, so RSS counts those pages once per process while PSS shares them out (the
fair sum). CPU is the CPU time a group used over a sampling interval, in millicores
(1000 = one core busy), which is what Kubernetes metrics report.
"""

from __future__ import annotations

import time
from typing import Literal

import psutil
from pydantic import BaseModel, Field

__all__ = ["GROUP_OF_PART", "GroupUsage", "Part", "UsageSample", "sample_usage"]

Group = Literal["mlops", "dataops", "other"]

# The paper's split: MLOps = model registry, AI manager, model servers and Data Consumers;
# DataOps = the broker, the data collector (with its adapters) and the dataset store.
GROUP_OF_PART: dict[str, Group] = {
    "mlflow": "mlops",
    "api": "mlops",
    "forkserver": "mlops",
    "predictor": "mlops",
    "consumer": "mlops",
    "broker": "dataops",
    "collector": "dataops",
    "s3": "dataops",
}


class Part(BaseModel):
    name: str = Field(description="kind of part, a key of GROUP_OF_PART (simulators: 'other')")
    pid: int
    label: str = ""


class PartUsage(BaseModel):
    name: str
    label: str
    group: Group
    processes: int
    rss_mb: float
    pss_mb: float
    millicores: float


class GroupUsage(BaseModel):
    rss_mb: float
    pss_mb: float
    millicores: float


class UsageSample(BaseModel):
    deployments: int
    interval_s: float
    parts: list[PartUsage]
    groups: dict[str, GroupUsage]


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def _memory(procs: list[psutil.Process]) -> tuple[float, float]:
    rss = pss = 0
    for p in procs:
        try:
            info = p.memory_full_info()
        except psutil.AccessDenied:
            info = p.memory_info()
        except psutil.NoSuchProcess:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def sample_usage(parts: list[Part], interval_s: float, deployments: int) -> UsageSample:
    """Measure every part's processes over ``interval_s`` seconds (CPU) and at its end (memory).

    A process of a part that also appears in another part's tree (a forked predictor is the fork
    server's child) is counted in the most specific part only.
    """
    full = {i: _tree(p.pid) for i, p in enumerate(parts)}
    pids = {i: {proc.pid for proc in procs} for i, procs in full.items()}
    owner: dict[int, int] = {}
    for i, procs in full.items():
        for proc in procs:
            j = owner.get(proc.pid)
            if j is None or parts[i].pid in pids[j]:  # i's root lies inside j's tree: more specific
                owner[proc.pid] = i
    trees = {i: [proc for proc in procs if owner[proc.pid] == i] for i, procs in full.items()}
    before = {i: _cpu(procs) for i, procs in trees.items()}
    t0 = time.monotonic()
    time.sleep(interval_s)  # the sampling interval itself, not a synchronisation wait
    elapsed = time.monotonic() - t0
    usages = []
    for i, part in enumerate(parts):
        after = _cpu(trees[i])
        used = sum(after[pid] - before[i].get(pid, 0.0) for pid in after)
        rss, pss = _memory(trees[i])
        usages.append(
            PartUsage(
                name=part.name,
                label=part.label or part.name,
                group=GROUP_OF_PART.get(part.name, "other"),
                processes=len(trees[i]),
                rss_mb=round(rss, 1),
                pss_mb=round(pss, 1),
                millicores=round(max(0.0, used) / elapsed * 1000, 1),
            )
        )
    groups = {}
    for group in ("mlops", "dataops", "other"):
        mine = [u for u in usages if u.group == group]
        groups[group] = GroupUsage(
            rss_mb=round(sum(u.rss_mb for u in mine), 1),
            pss_mb=round(sum(u.pss_mb for u in mine), 1),
            millicores=round(sum(u.millicores for u in mine), 1),
        )
    return UsageSample(deployments=deployments, interval_s=round(elapsed, 2), parts=usages, groups=groups)
