"""Knowing when a model goes stale: the reference a version is monitored against, a batch's drift
from it, performance estimated from the calibrated probabilities before labels arrive, realised
performance once they do, calibration per tier and township, and an alarm with a recommendation.

Estimated performance follows NannyML's confidence-based performance estimation (CBPE): if the
probabilities are calibrated, each household is a positive with its probability, so the expected
ROC curve, recall and number of positives follow from the probabilities alone. The interval is
where the realised figure falls (95%) when calibration holds: the labels are independent
Bernoulli draws, and the AUC, a function of two sums over households (the ranks of the
positives and their number), gets its spread by the delta method. Drift is the population
stability index on bins frozen at training (quantiles of the training rows; the categories with
their levels), with missing values, unseen categories and values outside the training range
counted apart.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from riskmodel.catalogue import FEATURES
from riskmodel.config import MonitorConfig
from riskmodel.ranking import flag_top_share
from riskmodel.validate import as_float

REFERENCE_FILE = "reference.json"
BINS = 10
EMPTY_SHARE = 1e-4
"""Share an empty bin counts for in the PSI (Evidently's choice too): keeps the log finite."""
Z95 = 1.959964


# --- reference ---------------------------------------------------------------------------------


def _is_category(name: str) -> bool:
    return FEATURES[name].dtype in ("category", "bool")


def _levels(name: str, levels: dict[str, list[str]]) -> list[str]:
    return levels.get(name) or ["False", "True"]


def _level_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Each value's index in `levels`, -1 for an unseen category and -2 for a missing value
    (booleans read as False/True): each distinct value is looked up once, not each row."""
    codes, uniques = pd.factorize(pd.Series(values).astype("object"), use_na_sentinel=True)
    index = {level: i for i, level in enumerate(levels)}
    texts = (str(bool(v)) if isinstance(v, (bool, np.bool_)) else str(v) for v in uniques)
    lookup = np.array([*(index.get(t, -1) for t in texts), -2], dtype=np.int64)
    return lookup[codes]  # code -1 (missing) reads the last: -2


def shares(values: pd.Series, spec: dict) -> dict:
    """A column's share in each frozen bin (missing apart), its unseen categories and the share
    outside the training range."""
    n = max(len(values), 1)
    if spec["kind"] == "category":
        codes = _level_codes(values, spec["levels"])
        missing = codes == -2
        counts = np.bincount(codes[codes >= 0], minlength=len(spec["levels"]))
        unseen = int((codes == -1).sum())
        outside = 0
    else:
        x = as_float(values)
        missing = np.isnan(x)
        edges = np.asarray(spec["edges"], dtype=float)
        bins = np.searchsorted(edges, x[~missing], side="left")
        counts = np.bincount(bins, minlength=len(edges) + 1)
        unseen = 0
        low, high = spec.get("low"), spec.get("high")
        seen = x[~missing]
        outside = int(((seen < low) | (seen > high)).sum()) if low is not None else 0
    return {
        "bins": (counts / n).tolist(),
        "missing": float(missing.sum() / n),
        "unseen": unseen / n,
        "out_of_range": outside / n,
    }


def feature_spec(values: pd.Series, name: str, levels: dict[str, list[str]]) -> dict:
    """Frozen bins of one feature from the training rows: deciles (tied ones merged) for numbers,
    the levels for categories and yes/no."""
    if _is_category(name):
        return {"kind": "category", "levels": _levels(name, levels)}
    x = as_float(values)
    x = x[~np.isnan(x)]
    if not len(x):
        return {"kind": "numeric", "edges": [], "low": None, "high": None}
    edges = np.unique(np.quantile(x, np.arange(1, BINS) / BINS))
    return {"kind": "numeric", "edges": edges.tolist(), "low": float(x.min()),
            "high": float(x.max())}  # fmt: skip


def score_spec(prob: np.ndarray) -> dict:
    edges = np.unique(np.quantile(prob, np.arange(1, BINS) / BINS)) if len(prob) else []
    return {"kind": "numeric", "edges": list(map(float, edges)), "low": None, "high": None}


def build_reference(
    model,
    train: pd.DataFrame,
    calibration: pd.DataFrame,
    test: pd.DataFrame,
    select_share: float = 0.10,
    seed: int = 0,
) -> dict:
    """What a version is monitored against: per feature the bins frozen on the training rows with
    their shares there, on the calibration year and on the test year (the reference period: the
    latest labelled year, closest to the batches to come); the score's distribution; calibration
    per tier and township on the calibration year; as NannyML does, a calibrator of the raw score
    fitted on the reference period (isotonic), which the estimates read; and the same calibrator
    fitted a year earlier (the calibration year) with the estimate it gives for the reference
    year beside the realised figures there: the estimator's error one year out, which widens
    the intervals (`allowance`)."""
    label = model.meta.label
    features = {}
    for name in model.features:
        spec = feature_spec(train[name], name, model.meta.levels)
        spec["context"] = _one_value_per_year(train, name)
        for part, rows in (("train", train), ("calibration", calibration), ("reference", test)):
            spec[part] = shares(rows[name], spec)
        spec["seen_psi"] = seen_psi(pd.concat([train, calibration, test])[["year", name]], spec)
        features[name] = spec
    raw = model.raw_score(model.matrix(test))
    y = test[label].to_numpy(int)
    calibrator = fit_calibrator(raw, y)
    prob = apply_calibrator(calibrator, raw)
    village = test["village_id"].astype(str).to_numpy()
    served = model.predict_proba(test)
    previous = fit_calibrator(
        model.raw_score(model.matrix(calibration)), calibration[label].to_numpy(int)
    )
    realised_reference = realised(y, served, village, select_share, seed)
    score = score_spec(served)
    score["reference"] = shares(pd.Series(served), score)
    cal_prob = model.predict_proba(calibration)
    groups = {
        "tier": model.meta.tiers.assign(cal_prob),
        "township": calibration["township_id"].astype(str).to_numpy(),
    }
    return {
        "label": label,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_years": _years(train),
        "calibration_year": int(calibration["year"].max()),
        "reference_year": int(test["year"].max()),
        "n_train": len(train),
        "n_calibration": len(calibration),
        "n_reference": len(test),
        "select_share": select_share,
        "features": features,
        "score": score,
        "calibrator": calibrator,
        "calibrator_previous": previous,
        "estimator_check": {
            "year": int(test["year"].max()),
            "estimated": estimate(apply_calibrator(previous, raw), village, select_share, seed),
            "realised": realised_reference,
        },
        "estimated": estimate(prob, village, select_share, seed),
        "realised": realised_reference,
        "calibration": calibration_table(
            cal_prob, groups, calibration[label].to_numpy(int)
        ).to_dict(orient="records"),
    }


def _one_value_per_year(rows: pd.DataFrame, name: str) -> bool:
    """A feature that takes one value a year (a county price index): its PSI only says that the
    year changed; it is judged by its range instead."""
    counts = rows.groupby(rows["year"].astype(int))[name].nunique(dropna=True)
    return bool(len(counts) > 1 and (counts <= 1).all())


def seen_psi(rows: pd.DataFrame, spec: dict) -> float:
    """The largest PSI between consecutive years of the model's own data: how much this feature
    moved from one year to the next in the years the model was built on (2020's closures
    included). A batch that moves no more than that is within what the model has seen."""
    name = next(c for c in rows.columns if c != "year")
    years = rows["year"].astype(int)
    by_year = [
        _with_missing(shares(rows.loc[years == y, name], spec)) for y in sorted(years.unique())
    ]
    return max((psi(a, b) for a, b in itertools.pairwise(by_year)), default=0.0)


def fit_calibrator(raw: np.ndarray, y: np.ndarray) -> dict:
    """Isotonic regression of the label on the raw score, as step points (JSON-friendly)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
    iso.fit(raw, y)
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def apply_calibrator(calibrator: dict, raw: np.ndarray) -> np.ndarray:
    return np.interp(raw, calibrator["x"], calibrator["y"])


def _years(rows: pd.DataFrame) -> str:
    return f"{int(rows['year'].min())}-{int(rows['year'].max())}"


# --- drift -------------------------------------------------------------------------------------


def psi(expected: list[float] | np.ndarray, actual: list[float] | np.ndarray) -> float:
    """Population stability index: sum of (actual - expected) * ln(actual / expected) over bins,
    an empty bin counting as EMPTY_SHARE."""
    e = np.maximum(np.asarray(expected, dtype=float), EMPTY_SHARE)
    a = np.maximum(np.asarray(actual, dtype=float), EMPTY_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


def _with_missing(s: dict) -> list[float]:
    return [*s["bins"], s["missing"], s["unseen"]]


def feature_drift(
    reference: dict, records: pd.DataFrame, against: str = "reference"
) -> pd.DataFrame:
    """Per feature: PSI on the frozen bins (missing and unseen values as bins of their own),
    shares missing, unseen and outside the training range; the most drifted first."""
    rows = []
    for name, spec in reference["features"].items():
        ref = spec[against]
        cur = shares(records[name], spec)
        rows.append(
            {
                "feature": name,
                "psi": psi(_with_missing(ref), _with_missing(cur)),
                "missing": cur["missing"],
                "missing_reference": ref["missing"],
                "unseen": cur["unseen"],
                "out_of_range": cur["out_of_range"],
                "out_of_range_reference": ref.get("out_of_range", 0.0),
                "seen_psi": spec.get("seen_psi", 0.0),
                "context": spec.get("context", False),
            }
        )
    out = pd.DataFrame(rows).sort_values("psi", ascending=False, kind="stable")
    return out.reset_index(drop=True)


def score_drift(reference: dict, prob: np.ndarray) -> float:
    spec = reference["score"]
    return psi(spec["reference"]["bins"], shares(pd.Series(prob), spec)["bins"])


# --- performance -------------------------------------------------------------------------------


def _auc_parts(ranks: np.ndarray, n1: float, s: float) -> float:
    n0 = len(ranks) - n1
    return (s - n1 * (n1 + 1) / 2) / (n1 * n0)


def estimate(prob: np.ndarray, village: np.ndarray, share: float, seed: int = 0) -> dict:
    """ROC-AUC, recall at the village capacity and the number of positives expected if the
    probabilities are calibrated, each with the 95% interval of its realised value."""
    p = np.asarray(prob, dtype=float)
    n = len(p)
    if n < 2:
        return {"n": n}
    v = p * (1 - p)
    r = (
        pd.Series(p).rank(method="average").to_numpy()
    )  # midranks: the realised AUC is (sum of positives' ranks - n1(n1+1)/2)/(n1 n0)
    n1, s = p.sum(), (r * p).sum()
    n0 = n - n1
    auc = _auc_parts(r, n1, s)
    # delta method on AUC = f(S, N1); S = sum r y, N1 = sum y, y independent Bernoulli(p)
    d_s = 1 / (n1 * n0)
    d_n1 = (-(n1 + 0.5) * n1 * n0 - (s - n1 * (n1 + 1) / 2) * (n0 - n1)) / (n1 * n0) ** 2
    var_s, var_n1, cov = (r * r * v).sum(), v.sum(), (r * v).sum()
    sd_auc = math.sqrt(max(d_s**2 * var_s + d_n1**2 * var_n1 + 2 * d_s * d_n1 * cov, 0.0))
    flagged = flag_top_share(p, village, share, seed)
    a = p[flagged].sum()
    recall = a / n1
    # recall = A / N1 with A = sum over flagged of y: dR/dA = 1/N1 - A/N1^2 (A is part of N1)
    var_a, var_rest = v[flagged].sum(), v[~flagged].sum()
    sd_recall = math.sqrt((1 / n1 - a / n1**2) ** 2 * var_a + (a / n1**2) ** 2 * var_rest)
    sd_pos = math.sqrt(var_n1)
    return {
        "n": n,
        "roc_auc": auc,
        "roc_auc_low": auc - Z95 * sd_auc,
        "roc_auc_high": auc + Z95 * sd_auc,
        "recall_at_capacity": recall,
        "recall_at_capacity_low": recall - Z95 * sd_recall,
        "recall_at_capacity_high": recall + Z95 * sd_recall,
        "positives": n1,
        "positives_low": n1 - Z95 * sd_pos,
        "positives_high": n1 + Z95 * sd_pos,
        "flagged": int(flagged.sum()),
    }


FIGURES = ("roc_auc", "recall_at_capacity", "positives")


def allowance(
    reference: dict, raw: np.ndarray, village: np.ndarray, est: dict, seed: int = 0
) -> dict:
    """Per figure, how far one year's change in calibration moves the estimate, which the
    estimate cannot see (it assumes the reference year's calibration still holds): the larger
    of the estimator's own error on the reference year when calibrated a year earlier, and the
    change in this batch's estimate with that year-older calibrator. Positives scale with the
    batch. Empty for a reference stored before these were (the interval is sampling only)."""
    if "calibrator_previous" not in reference or est.get("n", 0) < 2:
        return {}
    share = reference.get("select_share", 0.10)
    older = estimate(apply_calibrator(reference["calibrator_previous"], raw), village, share, seed)
    check = reference["estimator_check"]
    seen = {k: abs(check["estimated"][k] - check["realised"][k]) for k in FIGURES}
    seen["positives"] *= est["n"] / check["realised"]["n"]
    return {k: max(seen[k], abs(older[k] - est[k])) for k in FIGURES}


def widen(est: dict, extra: dict) -> dict:
    """The estimate with each interval's half-width Z95 * sqrt(sd^2 + allowance^2): the spread
    of labels drawn from calibrated probabilities and one year's change in calibration (within
    the figure's range)."""
    out = dict(est)
    for key, tau in extra.items():
        sd = (est[f"{key}_high"] - est[f"{key}_low"]) / (2 * Z95)
        half = Z95 * math.hypot(sd, tau)
        top = est["n"] if key == "positives" else 1.0
        out[f"{key}_low"] = max(est[key] - half, 0.0)
        out[f"{key}_high"] = min(est[key] + half, top)
        out[f"{key}_sampling_sd"] = sd
    out["allowance"] = extra
    return out


def realised(
    y: np.ndarray | None, prob: np.ndarray, village: np.ndarray, share: float, seed: int = 0
) -> dict | None:
    """The same figures once the labels are known (sklearn's AUC)."""
    from sklearn.metrics import roc_auc_score  # imported here: scipy.stats costs a second

    if y is None or len(y) == 0 or np.unique(y).size < 2:
        return None
    y = np.asarray(y, dtype=int)
    flagged = flag_top_share(np.asarray(prob, float), village, share, seed)
    return {
        "n": len(y),
        "roc_auc": float(roc_auc_score(y, prob)),
        "recall_at_capacity": float(y[flagged].sum() / y.sum()),
        "positives": int(y.sum()),
    }


def calibration_table(
    prob: np.ndarray, groups: dict[str, np.ndarray], y: np.ndarray | None = None
) -> pd.DataFrame:
    """Expected positives (sum of probabilities) per group, beside the observed ones when the
    labels are known, with z = (observed - expected) / sd under calibration."""
    rows = []
    for by, values in groups.items():
        df = pd.DataFrame({"g": values, "p": prob, "v": prob * (1 - prob)})
        if y is not None:
            df["y"] = np.asarray(y, dtype=float)
        for g, part in df.groupby("g", sort=True):
            row = {"by": by, "group": str(g), "n": len(part), "expected": float(part["p"].sum())}
            if y is not None:
                sd = math.sqrt(max(part["v"].sum(), 1e-12))
                row["observed"] = float(part["y"].sum())
                row["z"] = (row["observed"] - row["expected"]) / sd
            rows.append(row)
    return pd.DataFrame(rows)


# --- the alarm ---------------------------------------------------------------------------------


def rise_is_significant(
    before: tuple[float, int] | None, now: tuple[float, int] | None, rise: float, z: float = 3.0
) -> bool:
    """A share that rose by more than `rise` and by more than `z` standard errors."""
    if before is None or now is None:
        return False
    (p0, n0), (p1, n1) = before, now
    se = math.sqrt(p0 * (1 - p0) / max(n0, 1) + p1 * (1 - p1) / max(n1, 1))
    return p1 - p0 > rise and p1 - p0 > z * se


@dataclass
class Judgement:
    alarm: bool
    recommendation: str
    reasons: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    """The drifting features that set the alarm, most drifted first."""


def judge(
    reference: dict,
    drift: pd.DataFrame,
    score_psi: float,
    estimated: dict,
    cfg: MonitorConfig,
    meeting: tuple = (None, None),
) -> Judgement:
    """Alarm and recommendation from the thresholds: a drop in estimated performance or a
    shifted score means retrain; a few drifting features, investigate them; else no action."""
    reasons, flagged = [], []
    for row in drift.itertuples(index=False):
        why = []
        bar = max(cfg.feature_psi, cfg.seen_factor * row.seen_psi)
        if row.psi > bar and not row.context:
            why.append(f"PSI {row.psi:.2f} > {bar:.2f}")
        if row.out_of_range - row.out_of_range_reference > cfg.out_of_range:
            why.append(
                f"{row.out_of_range:.0%} outside the training range "
                f"({row.out_of_range_reference:.0%} in the reference year)"
            )
        if row.missing - row.missing_reference > cfg.missing_increase:
            why.append(f"missing {row.missing_reference:.0%} -> {row.missing:.0%}")
        if row.unseen > cfg.unseen:
            why.append(f"{row.unseen:.1%} unseen categories")
        if why and row.feature not in cfg.trend_features:
            flagged.append(row.feature)
            reasons.append(f"{row.feature}: {', '.join(why)}")
    if rise_is_significant(*meeting, cfg.criteria_rise):
        (before, _), (now, _) = meeting
        flagged.append("criteria met now")
        reasons.append(
            f"households meeting the criteria now (not monitored): {before:.1%} the year before, "
            f"{now:.1%} now"
        )
    retrain = []
    if score_psi > cfg.score_psi:
        retrain.append(f"score PSI {score_psi:.2f} > {cfg.score_psi}")
    ref = reference["estimated"]
    for key, limit, name in (
        ("roc_auc", cfg.auc_drop, "AUC"),
        ("recall_at_capacity", cfg.recall_drop, "recall at capacity"),
    ):
        if key in estimated and ref.get(key) is not None and estimated[key] < ref[key] - limit:
            retrain.append(
                f"estimated {name} {estimated[key]:.3f} < reference {ref[key]:.3f} - {limit}"
            )
    if len([f for f in flagged if f != "criteria met now"]) >= cfg.retrain_features:
        retrain.append(f"{len(flagged)} features drift")
    if retrain:
        recommendation = "retrain"
    elif flagged:
        recommendation = f"investigate {', '.join(flagged)}"
    else:
        recommendation = "no action"
    return Judgement(bool(retrain or flagged), recommendation, retrain + reasons, flagged)
