"""Loader for the Telecom Italia "SMS, Call, Internet - MI" daily files.

Format (``sms-call-internet-mi-YYYY-MM-DD.txt``): UTF-8/ASCII, TAB-separated, no header, 8
columns: square id (1..10000), interval start (epoch ms, 10-minute slots), country code, smsin,
smsout, callin, callout, internet. Any activity field may be empty (= no activity); several rows
per (square, interval), one per country code, which are summed. Days follow local midnight in
Europe/Rome. The same loader reads the real files and the generator's.

Validation is vectorised (tab counts via numpy, parsing via pandas' C reader); only a file that
fails is re-read slowly to name the first bad line and the reason.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from aifabric.datasets.errors import DatasetFileError
from aifabric.datasets.frame import LABEL, SERIES, TIMESTAMP

__all__ = [
    "COLUMNS",
    "FILE_PATTERN",
    "METRICS",
    "SLOT_MS",
    "TIMEZONE",
    "load_labels",
    "load_milan_file",
    "parse_labels_bytes",
    "parse_milan_bytes",
]

COLUMNS = ("square_id", "time_interval", "country_code", "smsin", "smsout", "callin", "callout", "internet")
METRICS = ["smsin", "smsout", "callin", "callout", "internet"]
FILE_PATTERN = re.compile(r"^sms-call-internet-mi-(\d{4}-\d{2}-\d{2})\.txt$")
SLOT_MS = 600_000
TIMEZONE = "Europe/Rome"
MAX_SQUARE = 10_000


def _decode_check(name: str, data: bytes) -> None:
    if not data.strip():
        raise DatasetFileError(name, 0, "file is empty")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetFileError(
            name, line, f"unreadable encoding: byte 0x{data[exc.start]:02x} is not valid UTF-8"
        ) from None


def _check_columns(name: str, data: bytes) -> int:
    """Every line must have exactly 7 TABs; returns the number of lines."""
    body = data if data.endswith(b"\n") else data + b"\n"
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    tabs = np.cumsum(raw == ord("\t"))
    per_line = np.diff(np.concatenate([[0], tabs[newlines]]))
    bad = np.flatnonzero(per_line != len(COLUMNS) - 1)
    if bad.size:
        line = int(bad[0]) + 1
        found = int(per_line[bad[0]]) + 1
        start = 0 if bad[0] == 0 else int(newlines[bad[0] - 1]) + 1
        if newlines[bad[0]] - start <= 1:
            raise DatasetFileError(name, line, "empty line")
        raise DatasetFileError(name, line, f"expected {len(COLUMNS)} TAB-separated columns, found {found}")
    return int(newlines.size)


def _first_bad_cell(name: str, data: bytes) -> DatasetFileError:
    text = pd.read_csv(
        io.BytesIO(data), sep="\t", header=None, names=COLUMNS, dtype=str, keep_default_na=False
    )
    for col in COLUMNS:
        values = text[col]
        parsed = pd.to_numeric(values.where(values != ""), errors="coerce")
        bad = parsed.isna() & (values != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            return DatasetFileError(name, row + 1, f"{col} is not a number: {values.iloc[row][:40]!r}")
    return DatasetFileError(name, 0, "cannot be parsed as the Milan format")


def parse_milan_bytes(name: str, data: bytes) -> pd.DataFrame:
    """Validate and parse one file's bytes -> canonical rows (not yet summed over country codes).

    Raises:
        DatasetFileError: empty file, bad encoding, wrong column count, non-numeric field, a
            missing square id or interval, a square outside 1..10000, an interval off the 10-minute grid.
    """
    _decode_check(name, data)
    _check_columns(name, data)
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep="\t",
            header=None,
            names=COLUMNS,
            dtype=dict.fromkeys(COLUMNS, np.float64),
            na_values=[""],
            keep_default_na=False,
            engine="c",
        )
    except ValueError:
        raise _first_bad_cell(name, data) from None
    for col in ("square_id", "time_interval"):
        missing = frame[col].isna().to_numpy()
        if missing.any():
            raise DatasetFileError(name, int(np.flatnonzero(missing)[0]) + 1, f"{col} is empty")
    square = frame["square_id"].to_numpy()
    bad = (square != np.floor(square)) | (square < 1) | (square > MAX_SQUARE)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetFileError(
            name, row + 1, f"square_id {square[row]:g} is not an integer in 1..{MAX_SQUARE}"
        )
    stamp = frame["time_interval"].to_numpy()
    bad = (stamp != np.floor(stamp)) | (np.mod(stamp, SLOT_MS) != 0) | (stamp < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetFileError(name, row + 1, f"time_interval {stamp[row]:.0f} is not on the 10-minute grid")
    for col in METRICS:
        values = frame[col].to_numpy()
        bad = ~np.isfinite(values) & ~np.isnan(values) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DatasetFileError(name, row + 1, f"{col} must be a finite, non-negative number")
    out = pd.DataFrame(
        {
            SERIES: square.astype(np.int64).astype(str),
            TIMESTAMP: stamp.astype(np.int64),
            **{m: frame[m].fillna(0.0).to_numpy() for m in METRICS},
        }
    )
    return out


def load_milan_file(path: Path) -> pd.DataFrame:
    """Read one ``sms-call-internet-mi-*.txt`` file (see :func:`parse_milan_bytes`)."""
    path = Path(path)
    return parse_milan_bytes(path.name, path.read_bytes())


def load_labels(path: Path) -> pd.DataFrame:
    """Read the generator's ``labels.csv`` (see :func:`parse_labels_bytes`)."""
    path = Path(path)
    return parse_labels_bytes(path.name, path.read_bytes())


def parse_labels_bytes(name: str, data: bytes) -> pd.DataFrame:
    """``square_id,time_interval[,kind]`` CSV (header required) -> unique ``series, timestamp, label``."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={"square_id": np.int64, "time_interval": np.int64})
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetFileError(name, 0, f"not a labels file (square_id,time_interval,kind): {exc}") from None
    missing = {"square_id", "time_interval"} - set(frame.columns)
    if missing:
        raise DatasetFileError(name, 1, f"labels file lacks columns {sorted(missing)}")
    out = pd.DataFrame(
        {
            SERIES: frame["square_id"].astype(str),
            TIMESTAMP: frame["time_interval"].astype(np.int64),
            LABEL: np.ones(len(frame), dtype=np.int8),
        }
    )
    return out.drop_duplicates([SERIES, TIMESTAMP]).reset_index(drop=True)
