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


def batch_rows(
    panel: pd.DataFrame, year: int, model: RelapseModel, first: int | None = None
) -> pd.DataFrame:
    """Model input records of `year` (and of each year from `first` on, when given) in the
    model's population, with the label where the next year's row is known (NA otherwise).
    A year's features read only the two years before it, so consecutive batches are built in
    one pass with the same values as one by one."""
    label = model.meta.label
    criteria = CriteriaConfig(**model.meta.criteria) if model.meta.criteria else None
    first = year if first is None else first
    years = panel["year"].astype(int)
    part = panel[(years >= first - HISTORY_YEARS) & (years <= year + 1)]
    part_years = part["year"].astype(int)
    if not (part_years == year).any():
        have = sorted(years.unique())
        raise ValueError(f"the panel has no rows for {year}; it has {have[0]}-{have[-1]}")
    now = part[part_years.between(first, year)]
    records = build_features(part[part_years <= year])
    records = records[records["year"].astype(int).between(first, year)]
    keep = in_population(now, label, criteria).to_numpy(bool)
    ids = now.loc[keep, ["hh_id", "year"]]
    labels = add_labels(part[part_years >= first], criteria)[["hh_id", "year", label]]
    out = ids.merge(records, on=["hh_id", "year"], how="left", validate="one_to_one")
    out = out.merge(labels, on=["hh_id", "year"], how="left", validate="one_to_one")
    return out.reset_index(drop=True)


@dataclass
class Scored:
    """A batch's rows (`batch_rows`), the model's raw scores of them, and the seconds the pass
    that built them took (shared by the batches built together)."""

    rows: pd.DataFrame
    raw: np.ndarray
    seconds: dict


def scored_batches(
    model: RelapseModel,
    panel: pd.DataFrame,
    years: list[int],
    known: dict[int, pd.Series] | None = None,
) -> dict[int, Scored]:
    """Each year's `Scored`: the features built and the trees walked once for all the years
    (each row's score is its own, so the values are those of one year at a time). `known`: raw
    scores by year and hh_id that the caller has already (the batch just scored); the trees
    are walked only for the rows they lack."""
    t0 = time.perf_counter()
    rows = batch_rows(panel, max(years), model, first=min(years))
    t1 = time.perf_counter()
    raw = np.full(len(rows), np.nan)
    for year, scores in (known or {}).items():
        at = np.flatnonzero(rows["year"].astype(int).to_numpy() == year)
        raw[at] = scores.reindex(rows["hh_id"].astype(str).to_numpy()[at]).to_numpy(float)
    todo = np.flatnonzero(np.isnan(raw))
    if len(todo):
        raw[todo] = model.raw_score(model.matrix(rows.iloc[todo]))
    seconds = {"rows": t1 - t0, "score": time.perf_counter() - t1}
    of = rows["year"].astype(int).to_numpy()
    return {y: Scored(rows[of == y].reset_index(drop=True), raw[of == y], seconds) for y in years}


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
    scored: Scored | None = None,
) -> BatchMonitor:
    """Drift, estimated and (when the labels are in the panel) realised performance, calibration
    per tier and township, and the alarm, for the model's population of `year` (its rows and
    raw scores from `scored_batches`, when given)."""
    cfg = cfg or MonitorConfig()
    scored = scored if scored is not None else scored_batches(model, panel, [year])[year]
    rows, raw = scored.rows, scored.raw
    t2 = time.perf_counter()
    label, share = model.meta.label, reference.get("select_share", 0.10)
    prob = model.calibrate(raw)
    village = rows["village_id"].astype(str).to_numpy()
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
        seconds=scored.seconds | {"monitor": t3 - t2},
        prob=prob,
        ranks=ranks(rows, prob, model.meta.tiers.assign(prob), share, seed),
    )


def ranks_of(model: RelapseModel, scored: Scored, share: float, seed: int = 0) -> pd.DataFrame:
    """`ranks` of a scored batch (the year before's needs no more of the monitoring)."""
    prob = model.calibrate(scored.raw)
    return ranks(scored.rows, prob, model.meta.tiers.assign(prob), share, seed)
