"""How datasets and their versions are named, without the dataset machinery (pandas): the
training API validates references with these before anything is loaded."""

from __future__ import annotations

__all__ = ["NAME_PATTERN", "REF_PATTERN"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
REF_PATTERN = NAME_PATTERN.removesuffix("$") + r"(@[0-9]{1,9})?$"
"""A dataset version reference: ``name`` (latest), ``name@N`` or a version id."""
