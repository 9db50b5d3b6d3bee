"""One batch monitored: the model's population of a year, its drift, estimated performance,
realised performance once the next year's panel holds its labels, calibration, the alarm."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmodel.criteria import CriteriaConfig, available_criteria, criteria_met
from riskmodel.features import build_features
from riskmodel.labels import add_labels, in_population
from riskmodel.model import RelapseModel
from riskmodel.monitor.stats import (
    Judgement,
    MonitorConfig,
    allowance,
    apply_calibrator,
    calibration_table,
    estimate,
    feature_drift,
    judge,
    realised,
    score_drift,
    widen,
)
from riskmodel.stability import ranks

HISTORY_YEARS = 2
"""Features of year Y read rows back to Y-2."""


def batch_rows(panel: pd.DataFrame, year: int, model: RelapseModel) -> pd.DataFrame:
    """Model input records of `year` in the model's population, with the label where the next
    year's row is known (NA otherwise)."""
    label = model.meta.label
    criteria = CriteriaConfig(**model.meta.criteria) if model.meta.criteria else None
    years = panel["year"].astype(int)
    part = panel[(years >= year - HISTORY_YEARS) & (years <= year + 1)]
    now = part[part["year"].astype(int) == year]
    if now.empty:
        have = sorted(years.unique())
        raise ValueError(f"the panel has no rows for {year}; it has {have[0]}-{have[-1]}")
    records = build_features(part[part["year"].astype(int) <= year])
    records = records[records["year"].astype(int) == year]
    keep = in_population(now, label, criteria).to_numpy(bool)
    ids = now.loc[keep, ["hh_id", "year"]]
    labels = add_labels(part[part["year"].astype(int) >= year], criteria)[["hh_id", "year", label]]
    out = ids.merge(records, on=["hh_id", "year"], how="left", validate="one_to_one")
    out = out.merge(labels, on=["hh_id", "year"], how="left", validate="one_to_one")
    return out.reset_index(drop=True)


def meeting_share(panel: pd.DataFrame, year: int, model: RelapseModel) -> tuple[float, int] | None:
    """Share of the year's households that meet the criteria now and are not monitored (应纳未纳):
    a shock shows here first, before any model input moves far."""
    rows = panel[panel["year"].astype(int) == year]
    if rows.empty or "is_monitored" not in rows:
        return None
    criteria = CriteriaConfig(**model.meta.criteria) if model.meta.criteria else None
    met = criteria_met(rows, criteria, available_criteria(rows.columns))["any"]
    monitored = rows["is_monitored"].astype("boolean").fillna(False).to_numpy(bool)
    return float((np.asarray(met, bool) & ~monitored).mean()), len(rows)


@dataclass
class BatchMonitor:
    year: int
    label: str
    n: int
    drift: pd.DataFrame
    score_psi: float
    estimated: dict
    realised: dict | None
    calibration: pd.DataFrame
    judgement: Judgement
    labelled: int
    meeting: tuple = (None, None)
    """(share, households) meeting the criteria now, the year before and this year."""
    seconds: dict = field(default_factory=dict)
    prob: np.ndarray | None = None
    ranks: pd.DataFrame | None = None
    """hh_id, village_id, tier and on_worklist (the top share of each village), for
    riskmodel.stability."""

    def summary(self) -> dict:
        top = self.drift.iloc[0] if len(self.drift) else None
        return {
            "year": self.year,
            "label": self.label,
            "households": self.n,
            "labelled": self.labelled,
            "psi_max": float(top["psi"]) if top is not None else 0.0,
            "psi_max_feature": str(top["feature"]) if top is not None else "",
            "score_psi": self.score_psi,
            "meeting_criteria_share": {
                "before": self.meeting[0] and self.meeting[0][0],
                "now": self.meeting[1] and self.meeting[1][0],
            },
            "estimated": self.estimated,
            "realised": self.realised,
            "alarm": self.judgement.alarm,
            "recommendation": self.judgement.recommendation,
            "reasons": self.judgement.reasons,
            "alarm_features": self.judgement.features,
        }

    def to_dict(self) -> dict:
        return self.summary() | {
            "drift": self.drift.to_dict(orient="records"),
            "calibration": self.calibration.to_dict(orient="records"),
            "seconds": self.seconds,
        }


def monitor_batch(
    model: RelapseModel,
    reference: dict,
    panel: pd.DataFrame,
    year: int,
    cfg: MonitorConfig | None = None,
    seed: int = 0,
) -> BatchMonitor:
    """Drift, estimated and (when the labels are in the panel) realised performance, calibration
    per tier and township, and the alarm, for the model's population of `year`."""
    cfg = cfg or MonitorConfig()
    t0 = time.perf_counter()
    rows = batch_rows(panel, year, model)
    t1 = time.perf_counter()
    label, share = model.meta.label, reference.get("select_share", 0.10)
    raw = model.raw_score(model.matrix(rows))
    prob = model.calibrate(raw)
    village = rows["village_id"].astype(str).to_numpy()
    t2 = time.perf_counter()
    drift = feature_drift(reference, rows)
    s_psi = score_drift(reference, prob)
    est = estimate(apply_calibrator(reference["calibrator"], raw), village, share, seed)
    est = widen(est, allowance(reference, raw, village, est, seed))
    known = rows[label].notna().to_numpy()
    y = rows.loc[known, label].astype(bool).to_numpy(int) if known.any() else None
    real = realised(y, prob[known], village[known], share, seed) if y is not None else None
    groups = {
        "tier": model.meta.tiers.assign(prob[known] if y is not None else prob),
        "township": rows["township_id"].astype(str).to_numpy()[known if y is not None else ...],
    }
    calib = calibration_table(prob[known] if y is not None else prob, groups, y)
    meeting = (meeting_share(panel, year - 1, model), meeting_share(panel, year, model))
    verdict = judge(reference, drift, s_psi, est, cfg, meeting)
    t3 = time.perf_counter()
    return BatchMonitor(
        year=year,
        label=label,
        n=len(rows),
        drift=drift,
        score_psi=s_psi,
        estimated=est,
        realised=real,
        calibration=calib,
        judgement=verdict,
        labelled=int(known.sum()),
        meeting=meeting,
        seconds={"rows": t1 - t0, "score": t2 - t1, "monitor": t3 - t2},
        prob=prob,
        ranks=ranks(rows, prob, model.meta.tiers.assign(prob), share, seed),
    )


def ranks_of(model: RelapseModel, panel: pd.DataFrame, year: int, share: float) -> pd.DataFrame:
    """`ranks` of the model's population in `year`, scored without the rest of the monitoring."""
    rows = batch_rows(panel, year, model)
    prob = model.calibrate(model.raw_score(model.matrix(rows)))
    return ranks(rows, prob, model.meta.tiers.assign(prob), share)
