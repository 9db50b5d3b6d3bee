"""Model input records: one row per household-year, built for year t from panel rows up to t."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.catalogue import FEATURE_NAMES, RECORD_COLUMNS, RECORD_IDS
from riskmodel.validate import cast_to_catalogue

_INCOME = ["inc_wage", "inc_business", "inc_property", "inc_transfer"]


def _lagged(panel: pd.DataFrame, column: str, lag: int) -> pd.Series:
    """The household's value of `column` in year t-lag (NaN when it had no row then)."""
    src = panel[["hh_id", "year", column]].assign(year=panel["year"] + lag)
    merged = panel[["hh_id", "year"]].merge(src, on=["hh_id", "year"], how="left")
    return pd.Series(merged[column].to_numpy(dtype=float), index=panel.index)


def build_features(panel: pd.DataFrame) -> pd.DataFrame:
    """Model input records for every panel row: identifiers plus FEATURE_NAMES, typed."""
    p = panel
    ratio = p["net_income_pc"] / p["monitor_line"]
    pc = p["net_income_pc"].astype(float)
    pc1, pc2 = _lagged(p, "net_income_pc", 1), _lagged(p, "net_income_pc", 2)
    hist = np.column_stack([pc2, pc1, pc])
    n_hist = np.isfinite(hist).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        filled = np.where(np.isfinite(hist), hist, np.nan)
        mean = np.nansum(filled, axis=1) / n_hist
        sd = np.sqrt(np.nansum((filled - mean[:, None]) ** 2, axis=1) / n_hist)
    first = np.where(np.isfinite(pc2), pc2, pc1)
    span = np.where(np.isfinite(pc2), 2, 1)
    line = p["monitor_line"].to_numpy(dtype=float)
    slope = (pc - first) / (span * np.maximum(np.abs(first), line))
    total = p[_INCOME].sum(axis=1).astype(float)
    labour = p["n_labour_full"] + p["n_labour_weak"]
    shares = p[_INCOME].div(np.maximum(total.abs(), 1), axis=0)
    monitored = p["is_monitored"].astype(float)
    village_share = monitored.groupby([p["village_id"], p["year"]]).transform("mean")
    line_lag1 = _lagged(p, "monitor_line", 1)

    out = p[RECORD_IDS + [n for n in FEATURE_NAMES if n in p.columns]].copy()
    out["income_to_line"] = ratio
    out["income_to_line_lag1"] = pc1 / line_lag1
    out["income_to_line_change"] = ratio - out["income_to_line_lag1"]
    out["income_slope_3y"] = np.where(n_hist >= 2, np.clip(slope, -0.5, 0.5), np.nan)
    out["income_cv_3y"] = np.where(
        n_hist >= 2, np.clip(sd / np.maximum(np.abs(mean), 1), 0, 2), np.nan
    )
    out["years_since_exit"] = (p["year"] - p["exit_year"]).astype("Float64").astype(float)
    out["labour_total"] = labour
    out["dependency_ratio"] = np.clip(
        (p["n_children_u16"] + p["n_elderly_65p"]) / np.maximum(labour, 0.5), 0, 8
    )
    out["oop_to_income"] = np.clip(p["oop_medical"] / np.maximum(total, 1000), 0, 3)
    out["transfer_share"] = np.clip(p["inc_transfer"] / np.maximum(total, 1), 0, 1)
    out["wage_share"] = shares["inc_wage"].clip(-10, 10)
    out["business_share"] = shares["inc_business"].clip(-10, 10)
    out["n_income_sources"] = (shares > 0.1).sum(axis=1)
    out["single_earner"] = ((p["n_migrant_workers"] + p["n_local_workers"]) == 1) & (
        p["inc_wage"] > 0.6 * np.maximum(total, 1)
    )
    out["costly_students"] = p["n_students_senior"] + p["n_students_tertiary"]
    out["new_severe_disability"] = (
        p["n_severe_disabled"] > _lagged(p, "n_severe_disabled", 1)
    ).fillna(False)
    out["village_monitored_share"] = village_share
    return cast_to_catalogue(out, RECORD_COLUMNS)
