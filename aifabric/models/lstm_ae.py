"""The paper's LSTM autoencoder: the first model definition.

Input: sequences of 12 steps of (weekday, hour, minute, internet volume), standardised by a
StandardScaler fitted on the training points. Encoder LSTM 32 -> LSTM 16 (the code), repeated 12
times, decoder LSTM 16 -> LSTM 32, a per-step Dense back to the 4 features; MSE loss over all
features, Adam.

The anomaly score is the reconstruction MSE of the *volume* feature only. The calendar features
are context: they are known exactly, and the decoder does not learn the minute sawtooth (its
scaled MSE stays near 1.0 while the volume's falls to about 0.04), so counting them would bury
the volume's error under a constant, uninformative term.

``lstm_ae_log`` is the same network on ``log1p(volume)``: errors become relative, so anomalies
at night weigh as much as in the evening peak. ``lstm_ae_cyclic`` (the default) also encodes
weekday, hour and minute as sin/cos pairs.

The ONNX export writes the graph from the weights (:mod:`aifabric.models.onnx_lstm`).

Keras is imported inside the methods only: importing this module costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aifabric.models.base import CALENDAR_FEATURES, REFERENCE_FEATURE, EpochCallback, ModelDefinition

__all__ = ["CyclicLSTMAutoencoder", "LSTMAutoencoder", "LogLSTMAutoencoder", "SeasonalLSTMAutoencoder"]


EAGER_MAX = 8192  # windows reconstructed by one direct call (see LSTMAutoencoder.reconstruct)


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


class LSTMAutoencoder(ModelDefinition):
    """LSTM 32 -> 16 encoder, two-layer LSTM 16 -> 32 decoder, per-step Dense output."""

    name: ClassVar[str] = "lstm_ae"
    features: ClassVar[tuple[str, ...]] = CALENDAR_FEATURES
    window: ClassVar[int] = 12
    score_features: ClassVar[tuple[str, ...]] = ("value",)
    default_params: ClassVar[dict[str, Any]] = {
        "epochs": 10,
        "batch_size": 64,
        "learning_rate": 5e-3,
        "encoder_units": [32, 16],
        "decoder_units": [16, 32],
        "input_noise": 0.0,  # std-dev of Gaussian noise on the scaled inputs while training (denoising)
        "patience": 0,  # early-stopping patience on val_loss; 0 = off
        "seed": 42,
    }

    def build(self, params: dict[str, Any], n_features: int) -> Any:
        """The Keras model, compiled."""
        _quiet_tensorflow()
        import keras

        keras.utils.set_random_seed(int(params["seed"]))
        inputs = keras.Input(shape=(self.window, n_features), name="windows")
        x = inputs
        if float(params["input_noise"]) > 0:
            x = keras.layers.GaussianNoise(float(params["input_noise"]), name="denoise")(x)
        enc = list(params["encoder_units"])
        for i, units in enumerate(enc):
            x = keras.layers.LSTM(units, return_sequences=i < len(enc) - 1, name=f"encoder_{i}")(x)
        x = keras.layers.RepeatVector(self.window, name="repeat")(x)
        for i, units in enumerate(params["decoder_units"]):
            x = keras.layers.LSTM(units, return_sequences=True, name=f"decoder_{i}")(x)
        outputs = keras.layers.TimeDistributed(keras.layers.Dense(n_features), name="reconstruction")(x)
        model = keras.Model(inputs, outputs, name=self.name)
        model.compile(optimizer=keras.optimizers.Adam(float(params["learning_rate"])), loss="mse")
        return model

    def fit(
        self, train: np.ndarray, val: np.ndarray, params: dict[str, Any], on_epoch: EpochCallback | None
    ) -> Any:
        _quiet_tensorflow()
        import keras

        params = self.params(params)
        model = self.build(params, train.shape[2])
        callbacks: list[Any] = []
        if on_epoch is not None:
            callbacks.append(
                keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs: on_epoch(
                        epoch, {k: float(v) for k, v in (logs or {}).items()}
                    )
                )
            )
        if int(params["patience"]) > 0 and len(val):
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    patience=int(params["patience"]), restore_best_weights=True, monitor="val_loss"
                )
            )
        model.fit(
            train,
            train,
            validation_data=(val, val) if len(val) else None,
            epochs=int(params["epochs"]),
            batch_size=int(params["batch_size"]),
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
        return model

    def reconstruction_error(self, windows: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
        """MSE per window over the ``score_features`` channels (the volume)."""
        idx = [self.features.index(f) for f in self.score_features]
        diff = (
            np.asarray(windows, dtype=np.float64)[..., idx]
            - np.asarray(reconstructed, dtype=np.float64)[..., idx]
        )
        return np.mean(diff * diff, axis=(1, 2))

    def reconstruct(self, model: Any, windows: np.ndarray) -> np.ndarray:
        """A direct call for up to ``EAGER_MAX`` windows: ``model.predict`` first builds a graph
        (≈0.3 s, more than a few thousand windows cost eagerly); ``predict`` beyond that."""
        if len(windows) > EAGER_MAX:
            return np.asarray(model.predict(windows, batch_size=1024, verbose=0), dtype=np.float32)
        return np.asarray(model(np.asarray(windows, dtype=np.float32), training=False), dtype=np.float32)

    def export_onnx(self, model: Any, path: Path) -> None:
        """The graph straight from the weights (milliseconds); Keras' tf2onnx export (seconds)
        only for a layer :mod:`aifabric.models.onnx_lstm` does not know."""
        from aifabric.models import onnx_lstm

        if onnx_lstm.export(model, path):
            return
        _quiet_tensorflow()
        import tensorflow as tf

        spec = tf.TensorSpec((None, self.window, model.input_shape[-1]), tf.float32, name="windows")
        model.export(str(path), format="onnx", input_signature=[spec], verbose=False)

    def save_native_model(self, model: Any, directory: Path) -> Path | None:
        """``model.keras`` (``keras.Model.save``, ≈0.05 s): the pipeline logs it as a plain run
        artifact, so the train step needs no ``import mlflow`` (logging the Keras flavour did)."""
        path = Path(directory) / "model.keras"
        model.save(path)
        return path


class LogLSTMAutoencoder(LSTMAutoencoder):
    """The same network on ``log1p(volume)``, so reconstruction errors are relative."""

    name: ClassVar[str] = "lstm_ae_log"
    features: ClassVar[tuple[str, ...]] = ("weekday", "hour", "minute", "log_value")
    score_features: ClassVar[tuple[str, ...]] = ("log_value",)


class CyclicLSTMAutoencoder(LSTMAutoencoder):
    """The paper's network and inputs with weekday, hour and minute encoded as sin/cos pairs, on
    ``log1p(volume)``.

    The integer codes put Sunday (6) far from Monday (0) and 23:00 far from 00:00; on the circle
    neighbours in time are neighbours in input space. Measured on generated data it ranks
    anomalies better than the other encodings and level with the seasonal z-score (better on
    drops, worse on long level shifts; docs/training.md has the numbers); it is the default
    definition for that reason.
    """

    name: ClassVar[str] = "lstm_ae_cyclic"
    features: ClassVar[tuple[str, ...]] = (
        "weekday_sin",
        "weekday_cos",
        "hour_sin",
        "hour_cos",
        "minute_sin",
        "minute_cos",
        "log_value",
    )
    score_features: ClassVar[tuple[str, ...]] = ("log_value",)


class SeasonalLSTMAutoencoder(CyclicLSTMAutoencoder):
    """The cyclic network with one more input, the ``seasonal_residual``: how far ``log1p(volume)``
    is from the series' usual level at that time of day (:mod:`aifabric.models.reference`).

    A 12-slot window cannot see that it sits inside a level shift of several hours; the residual
    can, but an autoencoder copies a residual that stays shifted for the whole window as readily
    as a level, so the reconstruction error alone misses the middle of a long shift. The window's
    error is therefore the reconstruction MSE of volume and residual plus ``residual_weight`` times
    the largest squared (scaled) residual in the window: the network judges the shape, the
    residual the level. On generated data this ranks anomalies above the seasonal z-score on every
    seed (docs/training.md has the numbers, and how the weight was chosen); it is the default
    definition for that reason. A series the reference does not know gets residual 0, so it is
    scored on its window's shape alone.
    """

    name: ClassVar[str] = "lstm_ae_seasonal"
    features: ClassVar[tuple[str, ...]] = (*CyclicLSTMAutoencoder.features, REFERENCE_FEATURE)
    score_features: ClassVar[tuple[str, ...]] = ("log_value", REFERENCE_FEATURE)
    residual_weight: ClassVar[float] = 0.04

    def reconstruction_error(self, windows: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
        """Reconstruction MSE of volume and residual + ``residual_weight`` x max squared residual."""
        residual = np.asarray(windows, dtype=np.float64)[..., self.features.index(REFERENCE_FEATURE)]
        peak = np.max(residual * residual, axis=1)
        return super().reconstruction_error(windows, reconstructed) + self.residual_weight * peak
