"""Detection quality of the model definitions against the baselines, on generated labelled data.

For each seed: generate one square-month (default 1 square x 31 days) in the Milan format with
injected anomalies, load it with the dataset loader, build windows exactly as the pipeline's
prepare step (70/15/15 chronological split), train each definition, calibrate on validation
errors and score the test split; compare with the seasonal z-score (textbook and robust) and
IsolationForest. Windows are labelled anomalous when any slot in them is (``roc_auc``, ``pr_auc``,
``f1``, ``best_f1``, as the pipeline's evaluate step). ``slot_roc_auc`` is a second view, the same
for every method: each test slot scores the maximum over the windows that cover it and carries its
own label. ``--normal-only`` trains (and calibrates) on windows without labelled anomalies.

So that "above the baseline" is shown rather than read off overlapping means: the default anomaly
rate is 2 per square per day (≈ 10 events in each seed's test split instead of 2-3 at 0.5), and
``paired_difference`` gives, per model and baseline, the per-seed difference (same data, same
split) with its mean, standard deviation, standard error, minimum and the seeds won. Per model it
also reports the F1 at several stored thresholds (``f1_at``), the validation false-positive rate
at ``--threshold``, and the ROC-AUC of other window scores from the same per-step errors
(``roc_auc_by_window_score``: mean, max, last step). A definition that uses the seasonal reference
is also scored as if its series were unknown to it (``unseen_series``: the residual input 0).

    python bench/detection_quality.py [--json] [--seeds 3] [--first-seed 1] [--days 31] [--normal-only]
        [--anomaly-rate 2.0] [--definitions lstm_ae_seasonal,lstm_ae_cyclic,lstm_ae]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def slot_roc_auc(data: dict, slot_labels: dict, scores: np.ndarray) -> float:
    """ROC-AUC per test slot: a slot's score is the max over the windows covering it."""
    from sklearn.metrics import roc_auc_score

    window = data["test_ts"].shape[1]
    keys = np.stack([np.repeat(data["test_series"], window), data["test_ts"].ravel()], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    per_slot = np.full(len(uniq), -np.inf)
    np.maximum.at(per_slot, inverse.ravel(), np.repeat(scores, window))
    labels = [slot_labels.get((int(s), int(t)), 0) for s, t in uniq]  # a filled gap is normal
    return float(roc_auc_score(labels, per_slot))


F1_THRESHOLDS = (0.9, 0.95, 0.99, 0.999)  # anomaly probabilities the F1 is also reported at


def window_score_auc(definition, windows: np.ndarray, reconstructed: np.ndarray, labels: np.ndarray) -> dict:
    """ROC-AUC of other ways to turn the per-step errors of the scored feature into a window score:
    ``mean`` (what the model definitions use), ``max`` over the steps and the ``last`` step only."""
    from sklearn.metrics import roc_auc_score

    idx = [definition.features.index(f) for f in definition.score_features]
    diff = (
        np.asarray(windows, dtype=np.float64)[..., idx]
        - np.asarray(reconstructed, dtype=np.float64)[..., idx]
    )
    per_step = np.mean(diff * diff, axis=2)
    scores = {"mean": per_step.mean(axis=1), "max": per_step.max(axis=1), "last": per_step[:, -1]}
    return {k: float(roc_auc_score(labels, v)) for k, v in scores.items()}


def unseen_series(definition, model, data: dict, scaler: tuple, calibration, threshold: float) -> dict:
    """The same model on series its seasonal reference does not know (expected level unknown, so
    ``seasonal_residual`` = 0): ROC-AUC on the test split and the share of validation windows
    flagged at ``threshold`` (the calibration was fitted with known levels)."""
    from sklearn.metrics import roc_auc_score

    from aifabric.models.base import REFERENCE_FEATURE

    i = definition.features.index(REFERENCE_FEATURE)
    neutral = np.float32((0.0 - scaler[0][i]) / scaler[1][i])

    def errors(windows: np.ndarray) -> np.ndarray:
        blind = windows.copy()
        blind[..., i] = neutral
        return definition.reconstruction_error(blind, definition.reconstruct(model, blind))

    val_p = calibration.probability(errors(data["val_windows"]))
    return {
        "roc_auc": float(roc_auc_score(data["test_labels"].astype(int), errors(data["test_windows"]))),
        "val_flagged_share": float(np.mean(val_p >= threshold)),
    }


def count_events(labels: np.ndarray) -> int:
    """Runs of consecutive anomalous windows: each injected anomaly is one (or two if they touch)."""
    padded = np.concatenate([[0], labels.astype(int), [0]])
    return int((np.diff(padded) == 1).sum())


def run_seed(seed: int, args: argparse.Namespace, definitions: list[str]) -> dict:
    from sklearn.metrics import f1_score, roc_auc_score

    from aifabric.datasets.loader import load_files
    from aifabric.datasets.milan_generator import GeneratorConfig, generate
    from aifabric.kfp_pipelines.steps import _classification, compare_with_baselines, prepare_arrays
    from aifabric.models.baselines import SeasonalZScore
    from aifabric.models.calibration import fit_calibration
    from aifabric.models.registry import load_definition

    with tempfile.TemporaryDirectory() as tmp:
        report = generate(
            Path(tmp),
            GeneratorConfig(squares=args.squares, days=args.days, anomaly_rate=args.anomaly_rate, seed=seed),
        )
        loaded = load_files(
            [(f.name, f.read_bytes()) for f in report.files],
            labels=(report.labels_file.name, report.labels_file.read_bytes()),
        )
        kinds = pd.read_csv(report.labels_file)
    kind_of = {
        (str(s), int(t)): k
        for s, t, k in kinds[["square_id", "time_interval", "kind"]].itertuples(index=False)
    }
    frame = loaded.frame
    series_index = {name: i for i, name in enumerate(sorted(frame["series"].unique()))}
    slot_labels = {
        (series_index[s], int(t)): int(lab)
        for s, t, lab in frame[["series", "timestamp", "label"]].itertuples(index=False)
    }
    out: dict = {"seed": seed, "models": {}, "baselines": {}, "per_kind": {}}
    for name in definitions:
        definition = load_definition(name)(timezone=loaded.summary.dataset_schema.timezone)
        data, mean, scale, _ = prepare_arrays(loaded.frame, definition, "internet", 600_000, 0.15, 0.15)
        if not 0 < data["test_labels"].sum() < data["test_labels"].size:
            # ROC-AUC is undefined with one class: the seed counts, but not in the means
            return out | {
                "skipped": "no anomalous window in the test split",
                "test_windows": len(data["test_labels"]),
            }
        params = definition.params({"epochs": args.epochs} if args.epochs else {})
        train, val = data["train_windows"], data["val_windows"]
        if args.normal_only:
            train, val = train[data["train_labels"] == 0], val[data["val_labels"] == 0]
        started = time.perf_counter()
        model = definition.fit(train, val, params, None)
        fit_s = time.perf_counter() - started
        val_err = definition.reconstruction_error(val, definition.reconstruct(model, val))
        test_rec = definition.reconstruct(model, data["test_windows"])
        test_err = definition.reconstruction_error(data["test_windows"], test_rec)
        calibration = fit_calibration(val_err)
        probability = calibration.probability(test_err)
        flags = probability >= args.threshold
        metrics, baselines, curves = compare_with_baselines(
            data, test_err, flags, definition.window, definition.timezone
        )
        labels = data["test_labels"].astype(int)
        out["models"][name] = metrics | {
            "fit_seconds": fit_s,
            "slot_roc_auc": slot_roc_auc(data, slot_labels, test_err),
            "roc_auc_by_window_score": window_score_auc(definition, data["test_windows"], test_rec, labels),
            "f1_at": {
                str(t): float(f1_score(labels, probability >= t, zero_division=0)) for t in F1_THRESHOLDS
            },
            "val_false_positive_rate": float(np.mean(calibration.probability(val_err) >= args.threshold)),
        }
        if definition.uses_reference:
            out["models"][name]["unseen_series"] = unseen_series(
                definition, model, data, (mean, scale), calibration, args.threshold
            )
        if not out["baselines"]:
            robust = SeasonalZScore(timezone=definition.timezone, robust=True).fit(
                data["train_series"].repeat(definition.window),
                data["train_ts"].ravel(),
                data["train_values"].ravel(),
            )
            zr = robust.score_windows(data["test_series"], data["test_ts"], data["test_values"])
            baselines["seasonal_zscore_robust"] = _classification(labels, zr, zr >= SeasonalZScore.threshold)
            scores = {"seasonal_zscore": curves["seasonal z-score"], "seasonal_zscore_robust": zr}
            scores["isolation_forest"] = curves["IsolationForest"]
            for base, base_scores in scores.items():
                baselines[base]["slot_roc_auc"] = slot_roc_auc(data, slot_labels, base_scores)
            out["baselines"] = baselines
            out["test_windows"] = int(labels.size)
            out["anomalous_windows"] = int(labels.sum())
            out["test_events"] = count_events(labels)
            curves["seasonal_zscore_robust"] = zr
            series_names = sorted(loaded.frame["series"].unique())
            window_kind = np.array(
                [
                    next(
                        (
                            kind_of[(series_names[s], int(t))]
                            for t in row
                            if (series_names[s], int(t)) in kind_of
                        ),
                        "",
                    )
                    for s, row in zip(data["test_series"], data["test_ts"], strict=True)
                ]
            )
            out["_kinds"] = (
                labels,
                window_kind,
                {
                    "seasonal_zscore": curves["seasonal z-score"],
                    "seasonal_zscore_robust": zr,
                    "isolation_forest": curves["IsolationForest"],
                },
            )
        labels, window_kind, base_scores = out["_kinds"]
        for kind in sorted(set(window_kind) - {""}):
            mask = (window_kind == kind) | (labels == 0)
            row = out["per_kind"].setdefault(kind, {"windows": int((window_kind == kind).sum())})
            row[name] = float(roc_auc_score(labels[mask], test_err[mask]))
            for base, scores in base_scores.items():
                row[base] = float(roc_auc_score(labels[mask], scores[mask]))
    out.pop("_kinds", None)
    return out


def aggregate(runs: list[dict], definitions: list[str]) -> dict:
    """Mean and standard deviation over the seeds whose test split has anomalies."""
    runs = [r for r in runs if "skipped" not in r]

    def stats(values: list[float]) -> dict:
        return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}

    result: dict = {}
    methods = [(n, "models") for n in definitions] + [(b, "baselines") for b in runs[0]["baselines"]]
    for name, group in methods:
        result[name] = {
            metric: stats([r[group][name][metric] for r in runs])
            for metric in ("roc_auc", "pr_auc", "f1", "best_f1", "slot_roc_auc")
        }
        if group == "models":
            result[name]["fit_seconds"] = stats([r[group][name]["fit_seconds"] for r in runs])
            result[name]["f1_at"] = {
                t: stats([r[group][name]["f1_at"][t] for r in runs]) for t in runs[0][group][name]["f1_at"]
            }
            result[name]["roc_auc_by_window_score"] = {
                k: stats([r[group][name]["roc_auc_by_window_score"][k] for r in runs])
                for k in runs[0][group][name]["roc_auc_by_window_score"]
            }
    return result


def paired(runs: list[dict], definitions: list[str]) -> dict:
    """Per-seed differences model - baseline (same data, same split): mean, standard deviation,
    the standard error of the mean, the smallest difference and on how many seeds the model won."""
    runs = [r for r in runs if "skipped" not in r]
    result: dict = {}
    for name in definitions:
        for base in runs[0]["baselines"]:
            for metric in ("roc_auc", "pr_auc"):
                diffs = np.array([r["models"][name][metric] - r["baselines"][base][metric] for r in runs])
                result.setdefault(name, {}).setdefault(base, {})[metric] = {
                    "mean": round(float(diffs.mean()), 4),
                    "std": round(float(diffs.std(ddof=1)) if diffs.size > 1 else 0.0, 4),
                    "sem": round(
                        float(diffs.std(ddof=1) / np.sqrt(diffs.size)) if diffs.size > 1 else 0.0, 4
                    ),
                    "min": round(float(diffs.min()), 4),
                    "wins": f"{int((diffs > 0).sum())}/{diffs.size}",
                }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=1,
        help="seeds first-seed .. first-seed + seeds - 1 (held-out checks)",
    )
    parser.add_argument("--squares", type=int, default=1)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--anomaly-rate", type=float, default=2.0, help="anomalies per square per day")
    parser.add_argument("--epochs", type=int, default=0, help="0 = the definition's default")
    parser.add_argument("--threshold", type=float, default=0.99)
    parser.add_argument("--definitions", default="lstm_ae_seasonal,lstm_ae_cyclic,lstm_ae")
    parser.add_argument(
        "--normal-only", action="store_true", help="train on windows without labelled anomalies"
    )
    args = parser.parse_args()
    definitions = [d for d in args.definitions.split(",") if d]
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = [run_seed(seed, args, definitions) for seed in seeds]
    summary = {
        "benchmark": "detection_quality",
        "data": {
            "squares": args.squares,
            "days": args.days,
            "anomaly_rate_per_square_day": args.anomaly_rate,
            "seeds": list(seeds),
            "seeds_skipped": [r["seed"] for r in runs if "skipped" in r],
            "split": "70/15/15 chronological; window label = any labelled slot",
            "training": "normal-only windows" if args.normal_only else "all training windows",
        },
        "mean_over_seeds": aggregate(runs, definitions),
        "paired_difference": paired(runs, definitions),
        "events_per_test_split": round(
            float(np.mean([r.get("test_events", 0) for r in runs if "skipped" not in r])), 1
        ),
        "runs": runs,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0
    print(f"detection quality, {args.seeds} seeds x {args.squares} square(s) x {args.days} days")
    keys = ("roc_auc", "pr_auc", "f1", "slot_roc_auc")
    print(f"{'method':28s} {'ROC-AUC':>15s} {'PR-AUC':>15s} {'F1':>15s} {'slot ROC-AUC':>15s}")
    for name, m in summary["mean_over_seeds"].items():
        cells = [f"{m[k]['mean']:.3f} ± {m[k]['std']:.3f}" for k in keys]
        print(f"{name:28s} " + " ".join(f"{c:>15s}" for c in cells))
    for name, bases in summary["paired_difference"].items():
        for base, m in bases.items():
            d = m["roc_auc"]
            print(
                f"{name} - {base}: ROC-AUC {d['mean']:+.3f} ± {d['sem']:.3f} (s.e.), min {d['min']:+.3f}, "
                f"wins {d['wins']}"
            )
    print(f"wall time {summary['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
