"""Model definitions, the scoring bundle that serves them, calibration and baselines.

Importing this package is cheap (numpy and pydantic); TensorFlow loads only inside training.
"""

from aifabric.models.base import ModelDefinition, sliding_windows
from aifabric.models.bundle import BUNDLE_FILE, ScoreOutput, Scorer, ScoringBundle
from aifabric.models.calibration import Calibration, fit_calibration

__all__ = [
    "BUNDLE_FILE",
    "Calibration",
    "ModelDefinition",
    "ScoreOutput",
    "Scorer",
    "ScoringBundle",
    "fit_calibration",
    "sliding_windows",
]
