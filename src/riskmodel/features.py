"""Model input records: one row per household-year, built for year t from panel rows up to t."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.catalogue import (
    MEASURE_FACTS,
    RAW_FEATURES,
    RECORD_COLUMNS,
    RECORD_IDS,
    available_features,
)
from riskmodel.validate import cast_to_catalogue

RECORD_BY_NAME = {c.name: c for c in RECORD_COLUMNS}

_INCOME = ["inc_wage", "inc_business", "inc_property", "inc_transfer"]


def lagged(panel: pd.DataFrame, column: str, lag: int) -> pd.Series:
    """The household's value of `column` in year t-lag (NaN when it had no row then); lag -1
    gives the next year's value (the labels' soft values read it)."""
    src = panel[["hh_id", "year", column]].assign(year=panel["year"] + lag)
    merged = panel[["hh_id", "year"]].merge(src, on=["hh_id", "year"], how="left")
    return pd.Series(merged[column].to_numpy(dtype=float), index=panel.index)


def build_features(panel: pd.DataFrame) -> pd.DataFrame:
    """Model input records for every panel row: identifiers plus the features the panel supports
    (all of FEATURE_NAMES for a full panel; see catalogue.available_features), typed."""
    p = panel
    have = available_features(p.columns)
    out = p[RECORD_IDS + [n for n in RAW_FEATURES if n in have]].copy()
    for name, value in _derived(p, set(have)).items():
        out[name] = value
    return cast_to_catalogue(out[RECORD_IDS + have], [RECORD_BY_NAME[n] for n in RECORD_IDS + have])


def with_measure_facts(records: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """`records` (rows of `build_features(panel)`, which keeps the panel's index) with the panel
    facts that choose measures but are no model input (catalogue.MEASURE_FACTS), where the panel
    has them."""
    have = [name for name in MEASURE_FACTS if name in panel.columns]
    return records.assign(**{name: panel[name].reindex(records.index) for name in have})


def _derived(p: pd.DataFrame, have: set[str]) -> dict[str, object]:
    """The derived features whose inputs the panel has."""
    out: dict[str, object] = {}
    if "income_to_line" in have:
        ratio = p["net_income_pc"] / p["monitor_line"]
        pc = p["net_income_pc"].astype(float)
        pc1, pc2 = lagged(p, "net_income_pc", 1), lagged(p, "net_income_pc", 2)
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
        out["income_to_line"] = ratio
        out["income_to_line_lag1"] = pc1 / lagged(p, "monitor_line", 1)
        out["income_to_line_change"] = ratio - out["income_to_line_lag1"]
        out["income_slope_3y"] = np.where(n_hist >= 2, np.clip(slope, -0.5, 0.5), np.nan)
        out["income_cv_3y"] = np.where(
            n_hist >= 2, np.clip(sd / np.maximum(np.abs(mean), 1), 0, 2), np.nan
        )
    if "rigid_spend_to_line" in have:  # missing spending counts as 0, as in the criterion
        spend = p["oop_medical"].astype(float).fillna(0) + p["edu_spend"].astype(float).fillna(0)
        spend_pc = spend / np.maximum(p["hh_size"], 1)
        out["rigid_spend_to_line"] = spend_pc / p["monitor_line"]
        if "rigid_income_to_line" in have:
            rigid = (p["net_income_pc"] - spend_pc) / p["monitor_line"]
            out["rigid_income_to_line"] = rigid
            out["rigid_income_to_line_lag1"] = lagged(p.assign(_v=rigid), "_v", 1)
    if "transfer_to_line" in have:
        transfer = p["inc_transfer"].astype(float)
        out["transfer_to_line"] = transfer / np.maximum(p["hh_size"], 1) / p["monitor_line"]
    if "market_income_to_line" in have:
        earned = p[list(_INCOME[:3])].astype(float).sum(axis=1, skipna=False)
        market = earned / np.maximum(p["hh_size"], 1) / p["monitor_line"]
        out["market_income_to_line"] = market
        out["market_income_to_line_lag1"] = lagged(p.assign(_v=market), "_v", 1)
    if "years_since_exit" in have:
        out["years_since_exit"] = (p["year"] - p["exit_year"]).astype("Float64").astype(float)
    if "labour_total" in have:
        out["labour_total"] = p["n_labour_full"] + p["n_labour_weak"]
    if "dependency_ratio" in have:
        labour = p["n_labour_full"] + p["n_labour_weak"]
        out["dependency_ratio"] = np.clip(
            (p["n_children_u16"] + p["n_elderly_65p"]) / np.maximum(labour, 0.5), 0, 8
        )
    if "transfer_share" in have:
        total = p[_INCOME].sum(axis=1).astype(float)
        shares = p[_INCOME].div(np.maximum(total.abs(), 1), axis=0)
        out["transfer_share"] = np.clip(p["inc_transfer"] / np.maximum(total, 1), 0, 1)
        out["wage_share"] = shares["inc_wage"].clip(-10, 10)
        out["business_share"] = shares["inc_business"].clip(-10, 10)
        out["n_income_sources"] = (shares > 0.1).sum(axis=1)
        if "oop_to_income" in have:
            out["oop_to_income"] = np.clip(p["oop_medical"] / np.maximum(total, 1000), 0, 3)
        if "single_earner" in have:
            out["single_earner"] = ((p["n_migrant_workers"] + p["n_local_workers"]) == 1) & (
                p["inc_wage"] > 0.6 * np.maximum(total, 1)
            )
    if "costly_students" in have:
        out["costly_students"] = p["n_students_senior"] + p["n_students_tertiary"]
    if "new_severe_disability" in have:
        out["new_severe_disability"] = (
            p["n_severe_disabled"] > lagged(p, "n_severe_disabled", 1)
        ).fillna(False)
    if "village_monitored_share" in have:
        monitored = p["is_monitored"].astype(float)
        out["village_monitored_share"] = monitored.groupby([p["village_id"], p["year"]]).transform(
            "mean"
        )
    return out
