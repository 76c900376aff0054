"""The simulated network's history, written as a Telecom Italia Milan data set.

The demo trains on the past of the very network it then watches live: the NWDAF simulator's
:class:`~aifabric.adapters.simulators.traffic.TrafficModel` (same cells, same seed), sampled at the
start of every 10-minute slot of ``days`` days, in the exact Milan file format (one daily
``sms-call-internet-mi-YYYY-MM-DD.txt`` per local day, TAB-separated, no header, country code 39)
so that the datasets loader reads it like the real files. Cell ``i`` (0-based) becomes square
``i + 1``; ``internet`` is what the NWDAF reports as ``NUM_OF_UE`` for that cell and slot, so
live values and training values share their scale, daily and weekly pattern and noise.

Labelled anomalies (spike, drop, level shift, as the simulator injects them live) are scattered
over the history and written to ``labels.csv`` (``square_id,time_interval,kind``), which gives the
pipeline's evaluation its ROC-AUC, PR-AUC and F1.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from aifabric.adapters.simulators.traffic import Anomaly, TrafficModel
from aifabric.datasets.milan import SLOT_MS, TIMEZONE
from aifabric.datasets.milan_generator import LABELS_FILE, milan_file_name

__all__ = ["ANOMALY_SHAPES", "HistoryReport", "num_of_ue", "write_history"]

# (kind, magnitude, slots): moderate on purpose, as in the Milan generator's labels.
ANOMALY_SHAPES: tuple[tuple[str, float, int], ...] = (
    ("spike", 1.6, 2),
    ("drop", 0.65, 6),
    ("shift", 0.7, 9),
)
UES_PER_ACTIVITY = 120  # the NWDAF simulator's NUM_OF_UE = round(120 x activity)


class HistoryReport(BaseModel):
    files: list[Path]
    labels_file: Path
    start_ms: int = Field(description="first slot (epoch ms)")
    end_ms: int = Field(description="local midnight after the last day")
    squares: int
    anomalies: list[Anomaly]
    labelled_slots: int


def num_of_ue(model: TrafficModel, cell: str, t_ms: int) -> int:
    """What the NWDAF simulator reports as ``NUM_OF_UE`` for ``cell`` at ``t_ms``."""
    return round(UES_PER_ACTIVITY * model.activity(cell, t_ms))


def _local_midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(TIMEZONE)).timestamp() * 1000)


def write_history(
    out_dir: Path,
    cells: list[str],
    seed: int,
    start: date,
    days: int,
    anomalies_per_cell_day: float = 0.5,
) -> HistoryReport:
    """Write ``days`` daily Milan files of the traffic model's past and their anomaly labels."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed + 1)
    start_ms = _local_midnight_ms(start)
    end_ms = _local_midnight_ms(start + timedelta(days=days))
    slots = (end_ms - start_ms) // SLOT_MS
    injected: list[Anomaly] = []
    for cell in cells:
        for _ in range(round(anomalies_per_cell_day * days)):
            kind, magnitude, length = rng.choice(ANOMALY_SHAPES)
            at = start_ms + rng.randrange(12, slots - length) * SLOT_MS
            injected.append(
                Anomaly(kind=kind, start_ms=at, end_ms=at + length * SLOT_MS, magnitude=magnitude, cell=cell)
            )
    model = TrafficModel(cells, seed=seed, anomalies=injected)

    files: list[Path] = []
    labels: list[str] = []
    for d in range(days):
        day = start + timedelta(days=d)
        lo, hi = _local_midnight_ms(day), _local_midnight_ms(day + timedelta(days=1))
        lines = []
        for t in range(lo, hi, SLOT_MS):
            for square, cell in enumerate(cells, start=1):
                ues = num_of_ue(model, cell, t)
                # SMS and calls are small shares of the same activity: the Milan files have 8 columns
                sms, calls = 0.02 * ues, 0.015 * ues
                lines.append(
                    f"{square}\t{t}\t39\t{sms:.4f}\t{sms * 0.8:.4f}\t{calls:.4f}\t{calls * 1.1:.4f}\t{ues}\n"
                )
                if model.anomalous(cell, t):
                    kind = next(a.kind for a in injected if a.cell == cell and a.start_ms <= t < a.end_ms)
                    labels.append(f"{square},{t},{kind}\n")
        path = out_dir / milan_file_name(day)
        path.write_text("".join(lines), encoding="ascii")
        files.append(path)
    labels_file = out_dir / LABELS_FILE
    labels_file.write_text("square_id,time_interval,kind\n" + "".join(labels), encoding="ascii")
    return HistoryReport(
        files=files,
        labels_file=labels_file,
        start_ms=start_ms,
        end_ms=end_ms,
        squares=len(cells),
        anomalies=injected,
        labelled_slots=len(labels),
    )
