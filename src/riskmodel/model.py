"""The relapse model: feature matrix, LightGBM booster, calibration and tiers, in one object.

Training, batch scoring, the API and the MLflow pyfunc all go through `RelapseModel`, so a record is
turned into numbers in exactly one way. Contributions are LightGBM's TreeSHAP (`pred_contrib`) in
log-odds of the booster's raw score; the probability is beta-calibrated from that raw score
(`riskmodel.calibrate`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskmodel.calibrate import apply_beta
from riskmodel.catalogue import FEATURES
from riskmodel.interval import bounds, logit_sd
from riskmodel.support import Support
from riskmodel.treeshap import TreeShap

if TYPE_CHECKING:
    import lightgbm as lgb

BOOSTER_FILE = "booster.txt"
META_FILE = "model.json"
TREESHAP_FILE = "treeshap.npz"


@dataclass(frozen=True)
class Tiers:
    """Probability cut-offs for the red / amber / green code shown to cadres."""

    red: float = 0.25
    amber: float = 0.08

    def assign(self, prob: np.ndarray) -> np.ndarray:
        return np.where(prob >= self.red, "red", np.where(prob >= self.amber, "amber", "green"))


@dataclass
class Meta:
    features: list[str]
    levels: dict[str, list[str]]
    """Training levels of each categorical feature; unknown values score as missing."""
    calibration: tuple[float, float, float]
    """(a, b, c) of beta calibration (calibrate.fit_beta); Platt scaling is a = b."""
    tiers: Tiers
    label: str
    criteria: dict = field(default_factory=dict)
    """The thresholds of the 纳入条件 the label was built with (CriteriaConfig): the status of a
    scored household uses the same ones."""
    interval: dict = field(default_factory=dict)
    """The 90% interval's scale per tier and where it was fitted (riskmodel.interval): {"scales":
    {tier: k}, "fitted_on": ...}. Empty: no interval."""
    support: dict = field(default_factory=dict)
    """What the training rows looked like (riskmodel.support): records outside it are flagged as
    unusual. Empty for a model trained before the checks existed (nothing is flagged)."""
    calibrated_on: str = ""
    """The rows the calibration was fitted on, in words (TrainConfig.calibrate_on); empty for a
    model saved before it was recorded (the validation year)."""


def feature_matrix(
    records: Mapping, features: list[str], levels: dict[str, list[str]]
) -> np.ndarray:
    """Numbers LightGBM sees: categoricals as training-level codes, booleans as 0/1, NaN kept.

    `records` is a DataFrame or any mapping of column name to a list of values (the API's path).
    """
    if not isinstance(records, pd.DataFrame):
        cols = []
        for name in features:
            if name in levels:
                index = {level: i for i, level in enumerate(levels[name])}
                cols.append([index.get(v, np.nan) for v in records[name]])
            else:
                cols.append(records[name])
        return np.array(cols, dtype=np.float64).T.reshape(-1, len(features))
    cols = []
    for name in features:
        s = records[name]
        if name in levels:
            codes = pd.Categorical(s.astype("object"), categories=levels[name]).codes
            cols.append(np.where(codes < 0, np.nan, codes).astype(np.float64))
        else:
            cols.append(
                pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            )
    return np.column_stack(cols) if cols else np.empty((len(records), 0))


def categorical_levels(features: list[str]) -> dict[str, list[str]]:
    return {n: FEATURES[n].levels for n in features if FEATURES[n].dtype == "category"}


def _calibration(meta: dict) -> tuple[float, float, float]:
    """Beta calibration's (a, b, c); a model saved with Platt scaling (slope k, intercept c) is
    the same map as (k, k, c)."""
    if "calibration" in meta:
        return tuple(meta["calibration"])
    k, c = meta["platt"]
    return (k, k, c)


class RelapseModel:
    """A fitted booster with its calibration, tiers and feature preparation."""

    def __init__(self, booster: lgb.Booster | None, meta: Meta, folder: Path | None = None):
        self._booster, self.meta, self._folder = booster, meta, folder
        self._shap: TreeShap | None = None
        self._support: Support | None = None

    @property
    def folder(self) -> Path | None:
        """Where the model's files were read from (None for a model built in memory)."""
        return self._folder

    @property
    def booster(self) -> lgb.Booster:
        """The LightGBM booster, read on first use (scoring needs only the SHAP tables)."""
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_file=str(self._folder / BOOSTER_FILE))
        return self._booster

    @property
    def explainer(self) -> TreeShap:
        """The exact TreeSHAP tables, built once per model on first use."""
        if self._shap is None:
            self._shap = TreeShap(self.booster)
        return self._shap

    @property
    def features(self) -> list[str]:
        return self.meta.features

    def matrix(self, records: Mapping) -> np.ndarray:
        missing = [n for n in self.features if n not in records]
        if missing:
            raise KeyError(f"records lack model features: {', '.join(missing)}")
        return feature_matrix(records, self.features, self.meta.levels)

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        if self._booster is None and self._shap is not None:
            return self._shap.raw_score(X)  # the same score, without loading LightGBM
        return self.booster.predict(X, raw_score=True)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return apply_beta(np.asarray(raw, dtype=float).reshape(-1), self.meta.calibration)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP per feature plus the base value in the last column (log-odds, raw score)."""
        return self.explainer.contributions(X)

    def contributions_and_variance(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`contributions` and each row's raw-score variance (riskmodel.interval)."""
        return self.explainer.contributions_and_variance(X)

    def explained(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """`contributions_and_variance`, and what `raw_score(X)` returns when it walks the same
        tables (computed in the same pass, equal to the bit; None when it would ask LightGBM)."""
        contrib, variance, raw = self.explainer.explained(X)
        return contrib, variance, raw if self._booster is None else None

    def bounds(
        self, raw: np.ndarray, variance: np.ndarray, prob: np.ndarray, tiers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The 90% interval of each probability (NaN without fitted scales)."""
        sd = logit_sd(raw, variance, self.meta.calibration)
        return bounds(prob, sd, tiers, self.meta.interval.get("scales", {}))

    def unusual(self, X: np.ndarray) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Each row's unusual-household flag with its reasons (Chinese, English)."""
        if self._support is None:
            self._support = Support(self.meta.support, self.features, self.meta.levels)
        return self._support.check(X)

    def predict_proba(self, records: pd.DataFrame) -> np.ndarray:
        return self.calibrate(self.raw_score(self.matrix(records)))

    def predict_frame(self, records: pd.DataFrame, contributions: bool = True) -> pd.DataFrame:
        """probability, tier, raw_score, base_value and contrib_<feature> for each record."""
        X = self.matrix(records)
        out = {}
        if contributions:
            contrib = self.contributions(X)
            raw = contrib.sum(axis=1)
        else:
            raw = self.raw_score(X)
        prob = self.calibrate(raw)
        out["probability"] = prob
        out["tier"] = self.meta.tiers.assign(prob)
        out["raw_score"] = raw
        if contributions:
            out["base_value"] = contrib[:, -1]
            for i, name in enumerate(self.features):
                out[f"contrib_{name}"] = contrib[:, i]
        return pd.DataFrame(out, index=records.index)

    # -- persistence -------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / BOOSTER_FILE))
        meta = asdict(self.meta)
        (folder / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1))
        self.explainer.save(folder / TREESHAP_FILE)
        return folder

    @classmethod
    def load(cls, folder: Path) -> RelapseModel:
        folder = Path(folder)
        raw = json.loads((folder / META_FILE).read_text())
        meta = Meta(
            features=raw["features"],
            levels=raw["levels"],
            calibration=_calibration(raw),
            tiers=Tiers(**raw["tiers"]),
            label=raw["label"],
            criteria=raw.get("criteria", {}),
            interval=raw.get("interval", {}),
            support=raw.get("support", {}),
            calibrated_on=raw.get("calibrated_on", ""),
        )
        model = cls(None, meta, folder)
        if (folder / TREESHAP_FILE).exists():
            model._shap = TreeShap.load(folder / TREESHAP_FILE)
        return model
