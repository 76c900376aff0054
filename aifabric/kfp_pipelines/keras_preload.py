"""Import Keras in the step server without the optional packages it only needs for extras.

``import keras`` also imports scikit-learn (for ``keras.wrappers.SKLearn*``) and matplotlib (for
``keras.visualization``) when they are installed: ≈0.4 s each here, on the critical path of every
local run, because the train step waits for the step server's Keras import. Neither is used by
training. The server therefore imports Keras with both hidden (:func:`import_keras_deferring_extras`:
Keras falls back to the stubs it has for their absence), forks train as soon as that is done,
imports them among evaluate's preloads while train fits, and then gives them to Keras
(:func:`complete_keras`): the wrapper modules are reloaded and every Keras module that held the
stub classes or ``plt = None`` is pointed at the real ones, so later steps see the usual Keras.

A train step forked before :func:`complete_keras` keeps the stubs, so Keras' scikit-learn wrappers
are the one thing a model definition cannot use in ``fit`` during a local run (they raise Keras'
"scikit-learn is not installed"); no built-in definition uses them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys

__all__ = ["DEFERRED", "complete_keras", "import_keras_deferring_extras"]

DEFERRED = ("sklearn", "matplotlib")
_WRAPPER_MODULES = (
    "keras.src.wrappers.utils",
    "keras.src.wrappers.fixes",
    "keras.src.wrappers.sklearn_wrapper",
)
_WRAPPERS = ("SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer")


class _Hidden(importlib.abc.MetaPathFinder):
    """Makes ``import`` of the deferred packages fail while Keras is imported."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in DEFERRED:
            raise ImportError(f"{name} is imported later by the step server")
        return None


def import_keras_deferring_extras() -> None:
    """``import keras`` without scikit-learn and matplotlib (unless they are imported already)."""
    if "keras" in sys.modules or any(p in sys.modules for p in DEFERRED):
        importlib.import_module("keras")
        return
    hidden = _Hidden()
    sys.meta_path.insert(0, hidden)
    try:
        importlib.import_module("keras")
    finally:
        sys.meta_path.remove(hidden)


def complete_keras() -> None:
    """Import the deferred packages and point Keras at them (nothing to do if it has them)."""
    if "keras" not in sys.modules:
        return
    pyplot = importlib.import_module("matplotlib.pyplot")
    keras_modules = [m for n, m in list(sys.modules.items()) if n == "keras" or n.startswith("keras.")]
    for module in keras_modules:
        if "plt" in vars(module) and module.plt is None:
            module.plt = pyplot
    wrapper = sys.modules.get(_WRAPPER_MODULES[-1])
    if wrapper is None or getattr(wrapper, "sklearn", None) is not None:
        return
    importlib.import_module("sklearn.base")
    stubs = {name: getattr(wrapper, name) for name in _WRAPPERS}
    for name in _WRAPPER_MODULES:
        importlib.reload(sys.modules[name])
    real = {name: getattr(sys.modules[_WRAPPER_MODULES[-1]], name) for name in _WRAPPERS}
    for module in keras_modules:
        for name, stub in stubs.items():
            if vars(module).get(name) is stub:
                setattr(module, name, real[name])
