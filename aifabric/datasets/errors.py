"""The error a refused dataset file raises: which file, which line, why."""

from __future__ import annotations

from aifabric.errors import InvalidRequest

__all__ = ["DatasetFileError"]


class DatasetFileError(InvalidRequest):
    """422: a file cannot become a dataset version; ``line`` is 1-based (0 = the whole file)."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        where = f"{file}: line {line}" if line else file
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason
