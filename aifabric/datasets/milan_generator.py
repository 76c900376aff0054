"""Synthetic data in the exact Telecom Italia Milan file format, with labelled anomalies.

The real data set cannot be downloaded here, so this writes look-alike daily files
(``sms-call-internet-mi-YYYY-MM-DD.txt``, TAB-separated, no header, 8 columns, empty fields for
zero activity, one row per country code) that the same loader reads. Per square:

* scale: lognormal across squares (``scale_sigma``), as the real per-square totals;
* daily pattern by local hour (night trough, midday and evening peaks, random mix per square) and
  a weekly pattern (a per-square weekend factor);
* noise: multiplicative; a fast AR(1) (phi 0.9 per slot), a slow level drift (AR(1), phi 0.995,
  so levels wander from day to day as in the real data, lag-1-day autocorrelation < 1) and a
  little white noise;
* country codes: Italy (39) carries most activity; a few foreign codes appear at random with
  small shares, so several rows share a (square, interval) and must be summed.

Anomalies (``anomaly_rate`` per square per day, Poisson) are injected into ``internet`` and every
affected slot is written to ``labels.csv`` (``square_id,time_interval,kind``), each relative to
the local level: ``spike`` (1-2 slots at 1.6-2.5x), ``drop`` (3-12 slots at 30-60 %),
``level_shift`` (36-72 slots at 1.3-1.6x or its inverse) and ``dos`` (6-18 slots of on/off
bursts at 1.5-2.2x). They are moderate on purpose: within the day-to-day spread of a slot, but
abrupt compared with the slot-to-slot noise, as network incidents are.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from aifabric.datasets.milan import COLUMNS, SLOT_MS, TIMEZONE
from aifabric.models.base import local_ms

__all__ = ["ANOMALY_KINDS", "GeneratorConfig", "GeneratorReport", "generate", "milan_file_name"]

ANOMALY_KINDS = ("spike", "drop", "level_shift", "dos")
MINOR_CODES = np.array([0, 33, 34, 44, 49, 86, 1, 7, 40, 355])
MINOR_PRESENCE = np.array([0.35, 0.25, 0.2, 0.2, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05])
LABELS_FILE = "labels.csv"


class GeneratorConfig(BaseModel):
    """What to generate."""

    squares: int = Field(10, ge=1, le=10_000)
    days: int = Field(7, ge=1, le=366)
    start: date = date(2013, 11, 1)
    first_square: int = Field(1, ge=1, le=10_000)
    seed: int = 0
    anomaly_rate: float = Field(0.0, ge=0.0, le=24.0, description="expected anomalies per square per day")
    scale_mu: float = Field(3.5, description="mean of ln(per-square mean internet activity)")
    scale_sigma: float = Field(1.0, ge=0.0)
    noise: float = Field(0.05, ge=0.0, description="innovation std-dev of the fast AR(1) log noise")
    drift: float = Field(0.2, ge=0.0, description="std-dev of the slow (about a day) AR(1) log level drift")


class GeneratorReport(BaseModel):
    files: list[Path]
    labels_file: Path | None
    rows: int
    slots: int
    anomalies: int
    labelled_slots: int


def milan_file_name(day: date) -> str:
    return f"sms-call-internet-mi-{day.isoformat()}.txt"


def _day_slots(day: date) -> np.ndarray:
    """Epoch-ms slot starts from local midnight to the next (handles 23 h and 25 h days)."""
    tz = ZoneInfo(TIMEZONE)
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
    return np.arange(int(start.timestamp() * 1000), int(end.timestamp() * 1000), SLOT_MS, dtype=np.int64)


def _local_hours(stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    local = local_ms(stamps, TIMEZONE)
    hour = (local % 86_400_000) / 3_600_000
    weekday = ((local // 86_400_000) + 3) % 7
    return hour, weekday


def _inject(rng: np.random.Generator, series: np.ndarray, kind: str, at: int) -> np.ndarray:
    """Modify ``series`` in place from slot ``at`` (relative to the local level); return the slots."""
    n = series.size
    if kind == "spike":
        idx = np.arange(at, min(n, at + int(rng.integers(1, 3))))
        series[idx] *= rng.uniform(1.6, 2.5)
    elif kind == "drop":
        idx = np.arange(at, min(n, at + int(rng.integers(3, 13))))
        series[idx] *= rng.uniform(0.3, 0.6)
    elif kind == "level_shift":
        idx = np.arange(at, min(n, at + int(rng.integers(36, 73))))
        factor = rng.uniform(1.3, 1.6)
        series[idx] *= factor if rng.random() < 0.5 else 1.0 / factor
    else:  # dos: on/off bursts
        idx = np.arange(at, min(n, at + int(rng.integers(6, 19))))
        on = (np.arange(idx.size) % 2 == 0) | (rng.random(idx.size) < 0.3)
        series[idx] *= np.where(on, rng.uniform(1.5, 2.2), 1.0)
    return idx


def generate(out_dir: Path, config: GeneratorConfig | None = None) -> GeneratorReport:
    """Write ``config.days`` daily files for ``config.squares`` squares into ``out_dir``."""
    cfg = config or GeneratorConfig()
    rng = np.random.default_rng(cfg.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    days = [cfg.start + timedelta(days=i) for i in range(cfg.days)]
    day_stamps = [_day_slots(d) for d in days]
    stamps = np.concatenate(day_stamps)
    hour, weekday = _local_hours(stamps)
    t = stamps.size
    squares = np.arange(cfg.first_square, cfg.first_square + cfg.squares)
    if squares[-1] > 10_000:
        raise ValueError("first_square + squares - 1 must not exceed 10000")

    scale = np.exp(rng.normal(cfg.scale_mu, cfg.scale_sigma, cfg.squares))
    w_day = rng.uniform(0.4, 1.0, cfg.squares)[:, None]
    w_eve = rng.uniform(0.3, 1.0, cfg.squares)[:, None]
    weekend = rng.uniform(0.65, 1.05, cfg.squares)[:, None]
    profile = (
        0.12
        + w_day * np.exp(-(((hour - 11.5) / 3.2) ** 2))
        + w_eve * np.exp(-(((hour - 20.5) / 2.8) ** 2))
        + 0.25 * np.exp(-(((hour - 8.5) / 1.2) ** 2))
    )
    is_weekend = (weekday >= 5)[None, :]
    weekly = np.where(is_weekend, weekend, 1.0)
    innovations = rng.normal(0.0, cfg.noise, (cfg.squares, t))
    slow_phi = 0.995
    slow = rng.normal(0.0, cfg.drift * np.sqrt(1 - slow_phi**2), (cfg.squares, t))
    ar = np.empty_like(innovations)
    ar[:, 0] = innovations[:, 0]
    slow[:, 0] = rng.normal(0.0, cfg.drift, cfg.squares)
    for i in range(1, t):
        ar[:, i] = 0.9 * ar[:, i - 1] + innovations[:, i]
        slow[:, i] += slow_phi * slow[:, i - 1]
    ar += slow
    noise = np.exp(ar + rng.normal(0.0, cfg.noise / 2, (cfg.squares, t)))
    internet = scale[:, None] * profile * weekly * noise

    labels: list[tuple[int, int, str]] = []
    anomalies = 0
    for s in range(cfg.squares):
        count = rng.poisson(cfg.anomaly_rate * cfg.days) if cfg.anomaly_rate else 0
        for _ in range(count):
            kind = ANOMALY_KINDS[int(rng.integers(len(ANOMALY_KINDS)))]
            idx = _inject(rng, internet[s], kind, int(rng.integers(0, t)))
            labels.extend((int(squares[s]), int(stamps[i]), kind) for i in idx)
            anomalies += 1

    base = {
        "smsin": 0.020 * scale[:, None] * profile * noise,
        "smsout": 0.015 * scale[:, None] * profile * noise,
        "callin": 0.018 * scale[:, None] * profile * weekly * noise,
        "callout": 0.020 * scale[:, None] * profile * weekly * noise,
        "internet": internet,
    }

    # split each (square, slot) among country codes: 39 plus present minor codes
    presence = rng.random((cfg.squares, t, MINOR_CODES.size)) < MINOR_PRESENCE
    weights = presence * np.exp(rng.normal(0.0, 1.0, presence.shape))
    minor_total = rng.uniform(0.05, 0.2, (cfg.squares, t, 1))
    w_sum = weights.sum(axis=2, keepdims=True)
    minor_share = np.where(w_sum > 0, weights / np.where(w_sum > 0, w_sum, 1) * minor_total, 0.0)
    main_share = 1.0 - minor_share.sum(axis=2)

    sq_idx, slot_idx = np.meshgrid(np.arange(cfg.squares), np.arange(t), indexing="ij")
    parts = [
        pd.DataFrame(
            {
                "square_id": squares[sq_idx.ravel()],
                "time_interval": stamps[slot_idx.ravel()],
                "country_code": 39,
                **{m: (v * main_share).ravel() for m, v in base.items()},
            }
        )
    ]
    s_i, t_i, c_i = np.nonzero(presence)
    share = minor_share[s_i, t_i, c_i]
    minor = pd.DataFrame(
        {
            "square_id": squares[s_i],
            "time_interval": stamps[t_i],
            "country_code": MINOR_CODES[c_i],
            **{m: v[s_i, t_i] * share for m, v in base.items()},
        }
    )
    for m in ("smsin", "smsout", "callin", "callout"):  # foreign SIMs often show no SMS/call activity
        minor.loc[rng.random(len(minor)) < 0.5, m] = 0.0
    parts.append(minor)
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.sort_values(["time_interval", "square_id", "country_code"], kind="stable")
    for m in ("smsin", "smsout", "callin", "callout", "internet"):
        rows[m] = rows[m].where(rows[m] > 0)  # zero activity is an empty field, as in the real files

    files = []
    day_of_row = (
        np.searchsorted(np.array([d[0] for d in day_stamps]), rows["time_interval"].to_numpy(), "right") - 1
    )
    for i, day in enumerate(days):
        path = out_dir / milan_file_name(day)
        rows.loc[day_of_row == i, list(COLUMNS)].to_csv(
            path, sep="\t", header=False, index=False, float_format="%.10f", na_rep="", lineterminator="\n"
        )
        files.append(path)

    labels_path = None
    if cfg.anomaly_rate:
        labels_path = out_dir / LABELS_FILE
        frame = pd.DataFrame(labels, columns=["square_id", "time_interval", "kind"])
        frame.drop_duplicates(["square_id", "time_interval"]).sort_values(
            ["square_id", "time_interval"]
        ).to_csv(labels_path, index=False)
    return GeneratorReport(
        files=files,
        labels_file=labels_path,
        rows=len(rows),
        slots=t,
        anomalies=anomalies,
        labelled_slots=len({(s, ts) for s, ts, _ in labels}),
    )
