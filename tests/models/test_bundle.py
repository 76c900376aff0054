"""The scoring contract: featurize, bundle, scorer, calibration, definition registry (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aifabric.errors import InvalidRequest
from aifabric.models.base import sliding_windows
from aifabric.models.bundle import Scorer, ScoringBundle
from aifabric.models.calibration import fit_calibration, normal_cdf
from aifabric.models.lstm_ae import CyclicLSTMAutoencoder, LSTMAutoencoder
from aifabric.models.registry import load_definition

HERE = Path(__file__).parent
DEFINITION_FILE = HERE / "mean_window_definition.py"


def test_featurize_uses_local_calendar():
    d = LSTMAutoencoder(timezone="Europe/Rome")
    # 2013-10-31T23:00Z = Friday 2013-11-01 00:00 in Milan; +1 h 50 min
    ts = np.array([1383260400000, 1383260400000 + 110 * 60_000])
    feats = d.featurize(ts, np.array([1.5, 2.5]))
    assert feats.dtype == np.float32 and feats.shape == (2, 4)
    assert feats.tolist() == [[4, 0, 0, 1.5], [4, 1, 50, 2.5]]
    utc = LSTMAutoencoder().featurize(ts[:1], np.array([0.0]))
    assert utc.tolist() == [[3, 23, 0, 0.0]]  # Thursday 23:00 UTC


def test_cyclic_calendar_features_wrap_around():
    d = CyclicLSTMAutoencoder(timezone="Europe/Rome")
    # Sunday 2013-11-03 23:50 and Monday 2013-11-04 00:00 in Milan (UTC+1)
    ts = np.array([1383519000000, 1383519600000])
    feats = d.featurize(ts, np.array([0.0, np.e - 1]))
    assert feats.shape == (2, 7) and d.features[-1] == "log_value"
    sunday, monday = feats
    assert monday[:6].tolist() == pytest.approx([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], abs=1e-6)
    assert sunday[:2].tolist() == pytest.approx([np.sin(2 * np.pi * 6 / 7), np.cos(2 * np.pi * 6 / 7)])
    assert sunday[2:4].tolist() == pytest.approx([np.sin(2 * np.pi * 23 / 24), np.cos(2 * np.pi * 23 / 24)])
    assert sunday[4:6].tolist() == pytest.approx([np.sin(2 * np.pi * 50 / 60), np.cos(2 * np.pi * 50 / 60)])
    assert feats[:, 6].tolist() == pytest.approx([0.0, 1.0])  # log1p
    # neighbours on the clock are neighbours in feature space; the integer codes put them 6 and 23 apart
    assert np.linalg.norm(sunday[:4] - monday[:4]) < 1.2


def test_unknown_feature_needs_featurize_override():
    class Odd(LSTMAutoencoder):
        features = ("weekday", "temperature")

    with pytest.raises(ValueError, match="temperature"):
        Odd().featurize(np.array([0]), np.array([1.0]))


def test_sliding_windows_shape_and_order():
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    w = sliding_windows(x, 3)
    assert w.shape == (3, 3, 2)
    assert w[1].tolist() == [[2, 3], [4, 5], [6, 7]]
    assert sliding_windows(x, 6).shape == (0, 6, 2)
    big = np.array([[1383260400000], [1383261000000]], dtype=np.int64)
    assert sliding_windows(big, 2, None)[0, :, 0].tolist() == [1383260400000, 1383261000000]


def test_calibration_maps_errors_to_probabilities():
    rng = np.random.default_rng(0)
    val = np.exp(rng.normal(-3.0, 0.5, 5000))
    cal = fit_calibration(val)
    assert cal.mu == pytest.approx(-3.0, abs=0.05) and cal.sigma == pytest.approx(0.5, abs=0.05)
    p = cal.probability(np.array([0.0, np.exp(cal.mu), 1.0, 1e9]))
    assert p[0] == pytest.approx(0.0, abs=1e-9) and p[1] == pytest.approx(0.5, abs=1e-6)
    assert 0.99 < p[2] <= 1.0 and p[3] == 1.0
    fresh = cal.probability(np.exp(rng.normal(-3.0, 0.5, 20000)))
    assert np.mean(fresh >= 0.99) == pytest.approx(0.01, abs=0.004)
    assert normal_cdf(np.array([1.959964]))[0] == pytest.approx(0.975, abs=1e-6)
    with pytest.raises(ValueError, match="no validation errors"):
        fit_calibration(np.array([]))


@pytest.fixture
def bundle_dir(tmp_path):
    definition = load_definition("mean_window", file=DEFINITION_FILE)()
    rng = np.random.default_rng(1)
    train = rng.normal(size=(200, 6, 2)).astype(np.float32)
    model = definition.fit(train, train[:50], definition.params(), None)
    definition.export_onnx(model, tmp_path / "model.onnx")
    (tmp_path / DEFINITION_FILE.name).write_bytes(DEFINITION_FILE.read_bytes())
    errors = definition.reconstruction_error(train, definition.reconstruct(model, train))
    ScoringBundle(
        model_name="mean",
        definition="mean_window_definition:MeanWindow",
        definition_file=DEFINITION_FILE.name,
        features=["hour", "value"],
        window=6,
        scaler_mean=[11.5, 10.0],
        scaler_scale=[6.9, 2.0],
        calibration=fit_calibration(errors),
        threshold=0.99,
        input_name="windows",
        output_name="reconstruction",
    ).save(tmp_path)
    return tmp_path


def test_bundle_roundtrip_and_scorer(bundle_dir):
    bundle = ScoringBundle.load(bundle_dir)
    assert bundle.features == ["hour", "value"] and bundle.directory == bundle_dir
    ts = 1383260400000 + np.arange(20, dtype=np.int64) * 600_000
    values = np.full(20, 10.0)
    values[15] = 40.0
    windows = bundle.preprocess(ts, values)
    assert windows.shape == (15, 6, 2) and windows.dtype == np.float32
    assert windows[0, 0, 1] == pytest.approx(0.0)  # (10 - 10) / 2
    scorer = Scorer.from_dir(bundle_dir)
    out = scorer.score(windows)
    assert out.errors.shape == out.probabilities.shape == out.anomalies.shape == (15,)
    assert ((out.probabilities >= 0) & (out.probabilities <= 1)).all()
    spike = np.arange(15) >= 10  # windows 10..14 contain slot 15
    assert out.errors[spike].min() > out.errors[~spike].max()
    assert out.anomalies[spike].all()
    assert scorer.score(np.empty((0, 6, 2), np.float32)).errors.shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        scorer.score(np.zeros((2, 5, 2), np.float32))


def test_importing_the_bundle_does_not_import_tensorflow_or_mlflow():
    code = (
        "import sys; import aifabric.models.bundle, aifabric.models.lstm_ae; "
        "bad = [m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_registry_resolves_names_paths_and_files(tmp_path):
    assert load_definition("lstm_ae") is LSTMAutoencoder
    assert load_definition("lstm_ae_cyclic") is CyclicLSTMAutoencoder
    assert load_definition("aifabric.models.lstm_ae:LSTMAutoencoder") is LSTMAutoencoder
    assert load_definition("x:MeanWindow", file=DEFINITION_FILE).name == "mean_window"
    with pytest.raises(InvalidRequest, match="neither a known name"):
        load_definition("nope")
    with pytest.raises(InvalidRequest, match="cannot import"):
        load_definition("no_such_module_xyz:Model")
    with pytest.raises(InvalidRequest, match="not a subclass"):
        load_definition("aifabric.errors:NotFound")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(InvalidRequest, match="failed to import: RuntimeError: boom"):
        load_definition("broken:X", file=broken)
    abstract = tmp_path / "abstract.py"
    abstract.write_text(
        "from aifabric.models.base import ModelDefinition\n"
        "class Half(ModelDefinition):\n    name = 'half'\n    def fit(self, *a): pass\n"
    )
    with pytest.raises(InvalidRequest, match="does not implement export_onnx"):
        load_definition("abstract:Half", file=abstract)
    with pytest.raises(InvalidRequest, match="exactly one concrete"):
        load_definition("abstract:", file=abstract)


def test_params_refuse_unknown_keys():
    with pytest.raises(ValueError, match="unknown parameters for lstm_ae: \\['epoch'\\]"):
        LSTMAutoencoder().params({"epoch": 3})
    assert LSTMAutoencoder().params({"epochs": 3})["epochs"] == 3
