"""Reconstruction error -> anomaly probability.

Method ``lognormal`` (the default): reconstruction errors of normal windows are close to
lognormal, so we fit ``ln(error)`` on the *validation* windows with robust estimates
(``mu`` = median, ``sigma`` = 1.4826 x MAD, which ignore the few anomalies that unlabelled
validation data contains) and map an error ``e`` to

    p(e) = Phi((ln e - mu) / sigma)

the share of normal windows expected to reconstruct better than this one. ``p`` is monotone in
the error (so ROC-AUC is that of the raw error), lies in [0, 1], and is 0.5 at the median
validation error; a threshold of 0.99 flags about 1 % of normal windows. numpy only: the
predictor uses it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Calibration", "fit_calibration", "normal_cdf"]

_EPS = 1e-12
_MAD_TO_SIGMA = 1.4826


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorised (erf by Abramowitz & Stegun 7.1.26, |error| < 1.5e-7)."""
    x = np.asarray(z, dtype=np.float64) / np.sqrt(2.0)
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return 0.5 * (1.0 + erf)


class Calibration(BaseModel):
    """Parameters that turn reconstruction errors into probabilities (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["lognormal"] = "lognormal"
    mu: float = Field(description="median of ln(error) on validation windows")
    sigma: float = Field(gt=0, description="1.4826 x MAD of ln(error) on validation windows")
    n: int = Field(ge=1, description="number of validation windows it was fitted on")

    def probability(self, errors: np.ndarray) -> np.ndarray:
        """Anomaly probability in [0, 1] for each reconstruction error."""
        log_err = np.log(np.maximum(np.asarray(errors, dtype=np.float64), _EPS))
        return np.clip(normal_cdf((log_err - self.mu) / self.sigma), 0.0, 1.0)


def fit_calibration(val_errors: np.ndarray) -> Calibration:
    """Fit the lognormal calibration on validation reconstruction errors."""
    errors = np.asarray(val_errors, dtype=np.float64)
    errors = errors[np.isfinite(errors)]
    if errors.size == 0:
        raise ValueError("no validation errors to calibrate on (is the validation split empty?)")
    log_err = np.log(np.maximum(errors, _EPS))
    mu = float(np.median(log_err))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(log_err - mu)))
    if sigma <= 0:
        sigma = float(np.std(log_err)) or 1.0
    return Calibration(mu=mu, sigma=sigma, n=int(errors.size))
