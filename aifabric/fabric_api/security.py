"""Bearer tokens: generated from 32 random bytes, stored only as a SHA-256 digest.

A token is high-entropy, so a plain (unsalted) SHA-256 is enough to make a leaked table useless
and lets the API find a token by its digest in one indexed lookup.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from aifabric.config import Settings

__all__ = ["TOKEN_PREFIX", "client_token", "generate_token", "hash_token", "token_file"]

TOKEN_PREFIX = "afb_"


def generate_token() -> str:
    """A new bearer token (shown once, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_file(settings: Settings) -> Path:
    """Where the embedded admin token is written on first start (mode 0600)."""
    return settings.data_dir / "token"


def client_token(settings: Settings) -> str | None:
    """The token CLIs send: ``AIFABRIC_TOKEN``, else the embedded token file, else None."""
    if token := os.environ.get("AIFABRIC_TOKEN", "").strip():
        return token
    try:
        return token_file(settings).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
