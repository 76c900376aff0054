"""Find a model definition class: by short name, by dotted path, or from an uploaded Python file.

As in Feast's ``importer.py`` every dynamic import happens here and the result is checked to be
a :class:`ModelDefinition` subclass. Short names map to dotted paths
(:data:`DEFINITION_CLASS_FOR_NAME`); any other ``"package.module:Class"`` is imported as given,
which is how installed plugins work. An uploaded file is imported under a module name derived from
its content hash, so two uploads with the same file name never shadow each other.

A definition is code and runs with the fabric's privileges: only trusted tenants may upload one.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from aifabric.errors import InvalidRequest
from aifabric.models.base import ModelDefinition

__all__ = [
    "DEFAULT_DEFINITION",
    "DEFINITION_CLASS_FOR_NAME",
    "definition_path",
    "load_definition",
    "load_definition_file",
]

DEFINITION_CLASS_FOR_NAME = {
    "lstm_ae": "aifabric.models.lstm_ae:LSTMAutoencoder",
    "lstm_ae_log": "aifabric.models.lstm_ae:LogLSTMAutoencoder",
    "lstm_ae_cyclic": "aifabric.models.lstm_ae:CyclicLSTMAutoencoder",
    "lstm_ae_seasonal": "aifabric.models.lstm_ae:SeasonalLSTMAutoencoder",
}
DEFAULT_DEFINITION = "lstm_ae_seasonal"
"""What training uses when the request names no definition (docs/training.md says why)."""


def definition_path(name_or_path: str) -> str:
    """A short name (``lstm_ae``) or ``"module:Class"`` -> ``"module:Class"``."""
    path = DEFINITION_CLASS_FOR_NAME.get(name_or_path, name_or_path)
    if ":" not in path:
        raise InvalidRequest(
            f"model definition {name_or_path!r} is neither a known name "
            f"({', '.join(DEFINITION_CLASS_FOR_NAME)}) nor a 'module:Class' path"
        )
    return path


def _check(obj: object, where: str) -> type[ModelDefinition]:
    if not (inspect.isclass(obj) and issubclass(obj, ModelDefinition)):
        raise InvalidRequest(f"{where} is not a subclass of aifabric.models.base.ModelDefinition")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise InvalidRequest(f"{where} does not implement {missing}")
    if not getattr(obj, "name", None):
        raise InvalidRequest(f"{where} must set the class attribute 'name'")
    if not obj.features or obj.window < 1:
        raise InvalidRequest(f"{where} must declare 'features' and a positive 'window'")
    return obj


def load_definition_file(file: Path, class_name: str | None = None) -> type[ModelDefinition]:
    """Import a definition module from ``file``; take ``class_name`` or its only definition class."""
    file = Path(file)
    source = file.read_bytes()
    module_name = f"aifabric_user_models.{file.stem}_{hashlib.sha256(source).hexdigest()[:12]}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise InvalidRequest(f"{file.name} cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # user code: any failure is the user's error
            raise InvalidRequest(f"{file.name} failed to import: {type(exc).__name__}: {exc}") from None
        sys.modules[module_name] = module
    if class_name:
        if not hasattr(module, class_name):
            raise InvalidRequest(f"{file.name} has no class {class_name!r}")
        return _check(getattr(module, class_name), f"{file.name}:{class_name}")
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, ModelDefinition)
        and obj.__module__ == module_name
        and not inspect.isabstract(obj)
    ]
    if len(found) != 1:
        raise InvalidRequest(
            f"{file.name} must define exactly one concrete ModelDefinition subclass (found {len(found)}); "
            "name the class explicitly"
        )
    return _check(found[0], f"{file.name}:{found[0].__name__}")


def load_definition(name_or_path: str, file: Path | None = None) -> type[ModelDefinition]:
    """Resolve a definition class.

    Args:
        name_or_path: a short name, ``"package.module:Class"``, or (with ``file``) ``"module:Class"``,
            ``"module:"`` or a bare name (then the file's only definition class is taken).
        file: an uploaded module; the class is looked up in it.
    """
    if file is not None:
        class_name = name_or_path.rpartition(":")[2] if ":" in name_or_path else ""
        return load_definition_file(file, class_name or None)
    path = definition_path(name_or_path)
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidRequest(f"cannot import model definition module {module_name!r}: {exc}") from None
    if not hasattr(module, class_name):
        raise InvalidRequest(f"module {module_name!r} has no class {class_name!r}")
    return _check(getattr(module, class_name), path)
