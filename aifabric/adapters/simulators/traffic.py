"""A Milan-like traffic model: the values every simulator reports, deterministic for a seed.

Activity per cell = cell scale (lognormal) x daily profile (night trough, midday plateau, evening
peak, as in the Telecom Italia Milan data) x weekly factor (quieter weekends) x small noise,
optionally changed by injected anomalies (spike, drop, level shift, DoS-like burst). The noise
is a hash of (seed, cell, metric, 10-minute slot) plus a smaller per-second jitter, so the same
question always gets the same answer, in any process, in any order.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

SLOT_MS = 10 * 60 * 1000

# Relative activity per hour of the day (local time), shaped like Milan's internet activity.
HOURLY = (
    0.34, 0.24, 0.18, 0.14, 0.12, 0.13, 0.19, 0.33, 0.52, 0.70, 0.80, 0.86,
    0.89, 0.87, 0.84, 0.84, 0.86, 0.90, 0.95, 1.00, 0.97, 0.88, 0.70, 0.50,
)  # fmt: skip
WEEKDAY = (1.0, 1.0, 1.0, 1.02, 1.04, 0.86, 0.76)  # Monday .. Sunday


class Anomaly(BaseModel):
    """An injected deviation; ``cell=None`` hits every cell (a network-wide event)."""

    kind: Literal["spike", "drop", "shift", "burst"]
    start_ms: int
    end_ms: int
    magnitude: float = Field(2.0, gt=0)
    cell: str | None = None

    def factor(self, t_ms: int) -> float:
        if self.kind == "drop":
            return max(0.0, 1.0 - min(self.magnitude, 1.0))
        if self.kind == "burst":  # on/off every 30 s: a DoS-like pattern
            return 1.0 + self.magnitude if (t_ms // 30000) % 2 == 0 else 1.0
        return 1.0 + self.magnitude


class SimClock(BaseModel):
    """Wall-clock to simulated time, so that a demo plays days of traffic in minutes.

    The default is the identity. With ``epoch_ms`` set, simulated time starts there at ``wall_ms``
    and runs ``time_scale`` times faster; ``align_ms`` rounds it down (e.g. to 10-minute slots,
    the Milan data's grid, so one report per wall second covers exactly one slot at 600x).
    """

    time_scale: float = Field(1.0, ge=1.0, le=1_000_000)
    epoch_ms: int | None = None
    align_ms: int = Field(0, ge=0)
    wall_ms: int = 0

    def sim_ms(self, wall_ms: int) -> int:
        if self.epoch_ms is None and self.time_scale == 1.0:
            return wall_ms
        base = self.wall_ms if self.epoch_ms is None else self.epoch_ms
        t = base + int((wall_ms - self.wall_ms) * self.time_scale)
        return t - t % self.align_ms if self.align_ms else t


def cell_ids(n: int) -> list[str]:
    """``n`` NR cell identities (36 bits, 9 hex digits)."""
    return [f"{i + 1:09x}" for i in range(n)]


class TrafficModel:
    def __init__(
        self,
        cells: list[str],
        seed: int = 0,
        utc_offset_h: float = 1.0,
        noise: float = 0.05,
        anomalies: list[Anomaly] | None = None,
    ) -> None:
        self.cells = list(cells)
        self.seed = seed
        self.offset_ms = int(utc_offset_h * 3600 * 1000)
        self.noise = noise
        self._anomalies: list[Anomaly] = list(anomalies or [])
        self._lock = threading.Lock()
        rng = random.Random(seed)
        self.scale = {c: math.exp(rng.gauss(0.0, 0.6)) for c in self.cells}

    # -- anomalies ---------------------------------------------------------------------------

    def inject(self, anomaly: Anomaly) -> None:
        with self._lock:
            self._anomalies.append(anomaly)

    def anomalies(self) -> list[Anomaly]:
        with self._lock:
            return list(self._anomalies)

    def anomalous(self, cell: str, t_ms: int) -> bool:
        return any(a.start_ms <= t_ms < a.end_ms and a.cell in (None, cell) for a in self.anomalies())

    # -- values ------------------------------------------------------------------------------

    def _gauss(self, cell: str, metric: str, t_ms: int, bucket_ms: int = SLOT_MS) -> float:
        """A standard normal draw fixed by (seed, cell, metric, time bucket)."""
        key = f"{self.seed}|{cell}|{metric}|{bucket_ms}|{t_ms // bucket_ms}".encode()
        digest = hashlib.blake2b(key, digest_size=8).digest()
        u1, u2 = (int.from_bytes(digest[:4]) + 1) / 2**32, int.from_bytes(digest[4:]) / 2**32
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)

    def seasonal(self, t_ms: int) -> float:
        """Daily x weekly shape at ``t_ms`` (local time), linear between hours."""
        local = t_ms + self.offset_ms
        hour_f = (local % 86_400_000) / 3_600_000
        h = int(hour_f)
        frac = hour_f - h
        daily = HOURLY[h] * (1 - frac) + HOURLY[(h + 1) % 24] * frac
        weekday = datetime.fromtimestamp(local / 1000, UTC).weekday()
        return daily * WEEKDAY[weekday]

    def activity(self, cell: str, t_ms: int, metric: str = "activity") -> float:
        """Non-negative activity of ``cell`` at ``t_ms`` (about 0.1 .. 3)."""
        noise = self.noise * (self._gauss(cell, metric, t_ms) + 0.4 * self._gauss(cell, metric, t_ms, 1000))
        value = self.scale.get(cell, 1.0) * self.seasonal(t_ms) * (1.0 + noise)
        for a in self.anomalies():
            if a.start_ms <= t_ms < a.end_ms and a.cell in (None, cell):
                value *= a.factor(t_ms)
        return max(0.0, value)

    def ratio(self, cell: str, t_ms: int, metric: str, base: float, spread: float) -> int:
        """A percentage (1..100) around ``base``, lower when the cell is anomalous."""
        value = base + spread * self._gauss(cell, metric, t_ms)
        if self.anomalous(cell, t_ms):
            value -= 25
        return int(min(100, max(1, round(value))))
