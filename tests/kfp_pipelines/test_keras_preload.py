"""Keras imported without its extras, then completed: the usual Keras afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = r"""
import sys
from aifabric.kfp_pipelines.keras_preload import complete_keras, import_keras_deferring_extras

import_keras_deferring_extras()
import keras
assert "sklearn" not in sys.modules and "matplotlib" not in sys.modules, "extras were imported"
try:
    keras.wrappers.SKLearnRegressor(model=None)
except ImportError:
    pass
else:
    raise AssertionError("the stub wrapper should refuse before complete_keras")

complete_keras()
import numpy as np
import matplotlib.pyplot
import sklearn.base
import keras.src.visualization.plot_image_gallery as gallery

assert gallery.plt is matplotlib.pyplot
for name in ("SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"):
    for module in (keras.wrappers, keras.src.wrappers):
        assert issubclass(getattr(module, name), sklearn.base.BaseEstimator), (module, name)

def build(X, y):
    model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model

x = np.random.default_rng(0).random((32, 3)).astype("float32")
regressor = keras.wrappers.SKLearnRegressor(model=build, fit_kwargs={"epochs": 1, "verbose": 0})
assert regressor.fit(x, x.sum(axis=1)).predict(x).shape == (32,)
print("ok")
"""


def test_keras_is_usual_after_completion():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
