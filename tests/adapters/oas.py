"""Validate JSON against a schema of the official 3GPP OpenAPI files, resolving ``$ref``s lazily.

Files are parsed only when a reference reaches them (one charging file has tabs PyYAML rejects and
is only reached through charging types) and cached. OpenAPI 3.0 ``nullable`` is honoured.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


class OpenApiValidator:
    def __init__(self, spec_dir: Path) -> None:
        self.spec_dir = spec_dir
        self.registry = Registry(retrieve=self._retrieve)

    @cache  # noqa: B019 - one validator per spec dir, lives for the test session
    def _document(self, name: str) -> dict[str, Any]:
        return _nullable(yaml.safe_load((self.spec_dir / name).read_text(encoding="utf-8")))

    def _retrieve(self, uri: str) -> Resource:
        name = uri.split("/")[-1]
        return Resource.from_contents(self._document(name), default_specification=DRAFT202012)

    def errors(self, file: str, schema: str, instance: Any) -> list[str]:
        """Every violation of ``file#/components/schemas/schema`` as 'path: message'."""
        ref = {"$ref": f"{file}#/components/schemas/{schema}"}
        validator = Draft202012Validator(ref, registry=self.registry)
        return [
            f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message[:300]}"
            for err in validator.iter_errors(instance)
        ]

    def validate(self, file: str, schema: str, instance: Any) -> None:
        errs = self.errors(file, schema, instance)
        assert not errs, f"{schema} violations:\n" + "\n".join(errs[:20])


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` → JSON Schema ``anyOf [schema, null]``."""
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False) is True:
            return {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node
