"""An interval per household: how sure the probability is.

The interval is built on the log-odds of the calibrated probability, centred on the household's
own estimate:

    logit(low), logit(high) = logit(p) -+ scale[tier] * sd

- `sd` is the household's own spread: the booster's raw-score standard deviation (the sum over
  trees of the sampling variance of the leaf the household reaches, `treeshap.leaf_variances`)
  carried through the calibration map's slope. Households in thinly populated leaves (rare
  profiles, small villages) get wider intervals.
- `scale[tier]` turns that spread into a 90% interval. The leaf variances treat trees as
  independent and see only sampling noise, not what the features cannot tell, so the scale is
  fitted where the truth is known: on the calibration year of a simulated county, the 90th
  percentile, in each tier, of |logit(oracle) - logit(p)| / sd. Outcomes alone cannot fit it (a
  calibrated model's squared error against 0/1 outcomes is the same whatever its error against the
  true probabilities), so a panel without an oracle uses the scales measured on the default
  simulated county (`training/configs/*.yaml`, `interval:`): on real data the interval assumes
  the model misses the truth as much as it does on the simulator.
"""

from __future__ import annotations

import numpy as np

LEVEL = 0.90
"""The intervals' nominal coverage."""
TIERS = ("red", "amber", "green")
WIDE = 0.5
"""An interval wider than this (in probability) is shown as 「区间过宽，仅供排序」: the probability
then ranks households but measures little (the persistent model's red tier)."""
WIDE_ZH = "区间过宽，仅供排序"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.minimum(np.maximum(p, 1e-9), 1 - 1e-9)  # np.clip, without its wrapper's cost
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def logit_sd(raw: np.ndarray, variance: np.ndarray, calibration) -> np.ndarray:
    """The standard deviation of logit(p) from the raw score's variance: the raw score's standard
    deviation times the calibration map's slope there (beta calibration's derivative,
    a(1 - s) + b s with s = sigmoid(raw))."""
    a, b, _ = calibration
    s = _sigmoid(np.asarray(raw, dtype=float))
    slope = np.abs(a * (1 - s) + b * s)
    return slope * np.sqrt(np.maximum(np.asarray(variance, dtype=float), 0.0))


def fit_scales(
    prob: np.ndarray, sd: np.ndarray, oracle: np.ndarray, tiers: np.ndarray
) -> dict[str, float]:
    """Per tier, the multiple of `sd` that holds the oracle's log-odds for 90% of households."""
    ratio = np.abs(_logit(oracle) - _logit(prob)) / np.maximum(sd, 1e-12)
    scales = {}
    for tier in TIERS:
        inside = ratio[tiers == tier]
        if len(inside):
            scales[tier] = float(np.quantile(inside, LEVEL))
    return scales


def bounds(
    prob: np.ndarray, sd: np.ndarray, tiers: np.ndarray, scales: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The 90% interval of each probability (NaN where the tier has no fitted scale)."""
    k = np.array([scales.get(str(t), np.nan) for t in tiers], dtype=float)
    centre = _logit(np.asarray(prob, dtype=float))
    return _sigmoid(centre - k * sd), _sigmoid(centre + k * sd)


def coverage(
    low: np.ndarray, high: np.ndarray, oracle: np.ndarray, tiers: np.ndarray
) -> dict[str, float]:
    """Share of households whose oracle probability lies inside their interval, per tier and
    overall."""
    inside = (oracle >= low) & (oracle <= high)
    out = {t: float(inside[tiers == t].mean()) for t in TIERS if (tiers == t).any()}
    out["all"] = float(inside.mean())
    return out
