"""Honest evaluation: metrics at cadres' capacity, baselines on the same rows, subgroups, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from riskmodel.catalogue import FEATURES
from riskmodel.criteria import CriteriaConfig, criteria_met
from riskmodel.ranking import flag_top_share
from riskmodel.rules import rule_flags

METRICS = [
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "recall_at_10pct_village",
    "precision_at_10pct_village",
]
BASELINES = ["rule", "logreg", "village", "carry"]
MODEL_NAMES = {
    "": "LightGBM",
    "oracle_": "oracle (exact)",
    "rule_": "official rule",
    "logreg_": "logistic regression",
    "village_": "village past rate",
    "carry_": "criteria status carried forward",
}


def comparison_table(logged: dict[str, float]) -> pd.DataFrame:
    """Ours and every baseline side by side on the test year, one row per model."""
    rows = []
    for prefix, name in MODEL_NAMES.items():
        if f"{prefix}test_roc_auc" in logged:
            rows.append(
                {"model": name} | {m: round(logged[f"{prefix}test_{m}"], 4) for m in METRICS}
            )
    return pd.DataFrame(rows)


def expected_calibration_error(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-frequency bins: size-weighted |mean predicted - observed rate|."""
    order = np.argsort(prob, kind="stable")
    groups = np.array_split(order, bins)
    n = len(prob)
    return float(sum(len(g) / n * abs(prob[g].mean() - y[g].mean()) for g in groups if len(g)))


def metrics(
    y: np.ndarray, score: np.ndarray, village: np.ndarray, share: float = 0.10, seed: int = 0
) -> dict[str, float]:
    """Every metric for one score on the same rows; the score is read as a probability."""
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    flagged = flag_top_share(score, village, share, seed)
    hits = (flagged & (y == 1)).sum()
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "brier": float(brier_score_loss(y, np.clip(score, 0, 1))),
        "ece": expected_calibration_error(y, np.clip(score, 0, 1)),
        "recall_at_10pct_village": float(hits / max(y.sum(), 1)),
        "precision_at_10pct_village": float(hits / max(flagged.sum(), 1)),
    }


def bootstrap_intervals(
    y: np.ndarray,
    score: np.ndarray,
    village: np.ndarray,
    share: float,
    resamples: int,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95% intervals for ROC-AUC and recall at the operating point, resampling whole villages."""
    if resamples == 0:
        return {}
    y = np.asarray(y, dtype=int)
    flagged = flag_top_share(score, village, share, seed)
    codes, uniq = pd.factorize(village)
    rows_of = [np.flatnonzero(codes == i) for i in range(len(uniq))]
    rng = np.random.default_rng(seed)
    aucs, recalls = [], []
    for _ in range(resamples):
        idx = np.concatenate([rows_of[i] for i in rng.integers(0, len(uniq), len(uniq))])
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        aucs.append(roc_auc_score(yy, score[idx]))
        recalls.append((flagged[idx] & (yy == 1)).sum() / yy.sum())
    q = [2.5, 97.5]
    return {
        "roc_auc": tuple(np.percentile(aucs, q)),
        "recall_at_10pct_village": tuple(np.percentile(recalls, q)),
    }


# --- baselines ---------------------------------------------------------------------------------


def rule_score(records: pd.DataFrame) -> np.ndarray:
    """The official single-trigger rule as a 0/1 score (income, three guarantees/water, medical)."""
    flags = rule_flags(records)
    return (
        flags["income_below_line"] | flags["guarantee_failure"] | flags["medical_over_20k"]
    ).astype(float)


def logistic_baseline(train: pd.DataFrame, y_train: np.ndarray, features: list[str], seed: int = 0):
    """Logistic regression on the same features: impute, scale, one-hot; returns a fitted pipe."""
    cats = [f for f in features if FEATURES[f].dtype == "category"]
    nums = [f for f in features if f not in cats]
    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                nums,
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
        ]
    )
    pipe = make_pipeline(pre, LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    return pipe.fit(_as_numeric(train, nums, cats), y_train)


def _as_numeric(df: pd.DataFrame, nums: list[str], cats: list[str]) -> pd.DataFrame:
    out = df[nums].astype(float)
    for c in cats:
        out[c] = df[c].astype("object").fillna("missing")
    return out


def logistic_predict(pipe, records: pd.DataFrame, features: list[str]) -> np.ndarray:
    cats = [f for f in features if FEATURES[f].dtype == "category"]
    nums = [f for f in features if f not in cats]
    return pipe.predict_proba(_as_numeric(records, nums, cats))[:, 1]


def village_rate_score(history: pd.DataFrame, label: str, test: pd.DataFrame) -> np.ndarray:
    """Each village's past rate of the label (rows before the test year), county rate if none."""
    rates = history.groupby("village_id", observed=True)[label].mean()
    county = history[label].mean()
    return test["village_id"].map(rates).astype(float).fillna(county).to_numpy()


def carry_score(records: pd.DataFrame, criteria: CriteriaConfig | None = None) -> np.ndarray:
    """Status at t carried forward: 1 when the household is monitored or meets the criteria now.

    Within one label's population this is the informative part of the status (every row of the
    meets_criteria population is 0 by definition; in the persistent one it is the criteria)."""
    met = criteria_met(records, criteria)["any"]
    if "is_monitored" not in records:  # a partial panel without monitoring status
        return met.astype(float)
    monitored = pd.Series(records["is_monitored"]).astype("boolean").fillna(False).to_numpy(bool)
    if monitored.all():
        return met.astype(float)
    return (met | monitored).astype(float)


# --- subgroups -----------------------------------------------------------------------------------


def subgroup_frame(panel_rows: pd.DataFrame) -> dict[str, pd.Series]:
    """Group memberships by row (audit columns are used here, never in the model)."""
    p = panel_rows
    yes_no = {True: "yes", False: "no"}
    groups = {
        "township": (("township_id",), lambda: p["township_id"].astype(str)),
        "female-headed": (("head_sex",), lambda: (p["head_sex"] == "female").map(yes_no)),
        "disabled or chronically ill member": (
            ("n_disabled", "n_chronic_ill"),
            lambda: ((p["n_disabled"] + p["n_chronic_ill"]) > 0).map(yes_no),
        ),
        "elderly-only": (
            ("n_elderly_65p", "hh_size"),
            lambda: (p["n_elderly_65p"] == p["hh_size"]).map(yes_no),
        ),
        "relocated": (("relocated",), lambda: p["relocated"].map(yes_no)),
        "ethnic minority": (
            ("head_ethnicity",),
            lambda: (p["head_ethnicity"] != "han").map(yes_no),
        ),
    }
    # a partial panel judges only the groups its columns define
    return {k: make() for k, (needs, make) in groups.items() if set(needs) <= set(p.columns)}


def wilson_upper(hits: int, n: int, z: float = 1.96) -> float:
    """Upper end of the 95% Wilson interval for a proportion."""
    if n == 0:
        return float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre + half)


NAMED_VALUE = "yes"
"""Groups other than township are judged on their named side (female-headed = yes, ...)."""


def subgroup_table(
    y: np.ndarray,
    prob: np.ndarray,
    flagged: np.ndarray,
    groups: dict[str, pd.Series],
    min_positives: int,
    min_recall_ratio: float,
) -> pd.DataFrame:
    """Recall, selection rate, precision, observed and predicted rate by group at the operating point.

    A named group (each township; female-headed, with a disabled or chronically ill member,
    elderly-only, relocated, ethnic minority) with at least `min_positives` positives *fails* when
    even the upper end of its 95% recall interval is below `min_recall_ratio` x overall recall: a
    gap that sampling noise cannot explain. Point estimates below the ratio are marked `watch`.
    """
    y = np.asarray(y, dtype=int)
    overall = (flagged & (y == 1)).sum() / max(y.sum(), 1)
    rows = []
    for group, member in groups.items():
        for value in sorted(pd.unique(member.astype(str))):
            m = (member.astype(str) == value).to_numpy()
            pos = int(y[m].sum())
            hit = int((flagged[m] & (y[m] == 1)).sum())
            recall = hit / pos if pos else np.nan
            named = group == "township" or value == NAMED_VALUE
            judged = named and pos >= min_positives
            upper = wilson_upper(hit, pos)
            bar = min_recall_ratio * overall
            rows.append(
                {
                    "group": group,
                    "value": value,
                    "households": int(m.sum()),
                    "positives": pos,
                    "recall": recall,
                    "recall_upper95": upper,
                    "selection_rate": float(flagged[m].mean()),
                    "precision": hit / max(int(flagged[m].sum()), 1),
                    "observed_rate": float(y[m].mean()),
                    "predicted_rate": float(prob[m].mean()),
                    "recall_ratio": recall / overall if overall else np.nan,
                    "judged": judged,
                    "status": (
                        "fails"
                        if judged and upper < bar
                        else "watch"
                        if judged and recall < bar
                        else "ok"
                        if judged
                        else "not judged"
                    ),
                }
            )
    return pd.DataFrame(rows)
