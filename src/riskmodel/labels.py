"""Labels derived from the panel, so a real county export is labelled exactly like simulated data.

Each label has its own population; outside it the label is undefined (NA), never False. Every
label also needs the household's row for t+1 (a gap year or a household that left: NA).

meets_criteria(h, t)  population: not monitored at t and not meeting the criteria at t
                      value:      meets the criteria (riskmodel.criteria) at t+1
                      The service's main question: who will need enrolling by the next sweep.
persistent(h, t)      population: monitored at t
                      value:      still meets the criteria at t+1 (risk not eliminated)
relapse(h, t)         population: income at or above the monitoring line at t
                      value:      income below the line at t+1 (kept to compare with published work)
identified(h, t)      population: not monitored at t (from 2019, the mechanism began in 2020)
                      value:      monitored at t+1. What cadres did, not what households needed:
                      a household that meets the criteria but is missed (应纳未纳) counts as 0.

Labels with a threshold also have a soft value for training (`soft_label`): how clearly the
household crossed it or stayed clear of it at t+1, from the margin of its income (and for the
criteria labels its income after rigid spending and its medical spending) to the threshold. A household 2% above the line at t+1 is
almost as much a warning as one 2% below: learning that, the booster needs fewer households to
find the same risk (README: soft labels). Models are calibrated and judged on the labels
themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from riskmodel.criteria import CriteriaConfig, available_criteria, criteria_margin, criteria_met

if TYPE_CHECKING:
    import pandas as pd

LABELS = ("meets_criteria", "persistent", "relapse", "identified")
MAIN_LABEL = "meets_criteria"

POPULATIONS: dict[str, str] = {
    "meets_criteria": "not monitored and not meeting the criteria at t",
    "persistent": "monitored at t",
    "relapse": "income at or above the monitoring line at t",
    "identified": "not monitored at t, from 2019",
}

LABEL_NEEDS: dict[str, tuple[str, ...]] = {
    "meets_criteria": ("is_monitored", "net_income_pc", "monitor_line"),
    "persistent": ("is_monitored", "net_income_pc", "monitor_line"),
    "relapse": ("net_income_pc", "monitor_line"),
    "identified": ("is_monitored",),
}
"""Columns a label cannot do without (more criteria inputs make the criteria labels fuller)."""

MONITORING_STARTED = 2020

NEXT_YEAR_CRITERIA = ("meets_criteria", "persistent")
"""Labels whose value is the same fact, the criteria met at t+1, each of its own population (the
oracle's p_meets_criteria and p_persistent are one probability). A model of one may also learn
from the other's rows (the run config's `train_with`)."""


def check_label(label: str) -> str:
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    return label


def supported_labels(columns: object) -> list[str]:
    """The labels a panel with these columns can carry."""
    have = set(columns)  # type: ignore[arg-type]
    return [name for name, needs in LABEL_NEEDS.items() if set(needs) <= have]


def registered_model_name(label: str) -> str:
    """`relapse-risk` for the main label, `relapse-risk-<label>` for the others."""
    return "relapse-risk" if check_label(label) == MAIN_LABEL else f"relapse-risk-{label}"


def add_labels(panel: pd.DataFrame, criteria: CriteriaConfig | None = None) -> pd.DataFrame:
    """hh_id, year and every supported label (nullable booleans) for every panel row."""
    import pandas as pd

    which = available_criteria(panel.columns)
    met = criteria_met(panel, criteria, which)["any"]
    cols = [c for c in ("hh_id", "year", "net_income_pc", "monitor_line") if c in panel]
    cur = panel[cols].copy()
    cur["_met"] = met
    if "is_monitored" in panel:
        cur["_mon"] = panel["is_monitored"].astype("boolean").fillna(False).to_numpy(bool)
    nxt = cur.assign(year=cur["year"] - 1)
    m = cur.merge(nxt, on=["hh_id", "year"], how="left", suffixes=("", "_next"), validate="1:1")
    has_next = m["_met_next"].notna()
    out = pd.DataFrame(
        {"hh_id": m["hh_id"].to_numpy(), "year": m["year"].to_numpy()}, index=panel.index
    )
    met_next = m["_met_next"].astype("boolean")

    def within(population: pd.Series, value: pd.Series) -> pd.Series:
        return (
            value.astype("boolean")
            .where(has_next & population.to_numpy(bool))
            .set_axis(panel.index)
        )

    if {"net_income_pc", "monitor_line"} <= set(panel.columns):
        above = m["net_income_pc"] >= m["monitor_line"]
        out["relapse"] = within(above, m["net_income_pc_next"] < m["monitor_line_next"])
    if "_mon" in m:
        unmonitored = ~m["_mon"].astype(bool)
        out["meets_criteria"] = within(unmonitored & ~m["_met"].astype(bool), met_next)
        out["persistent"] = within(m["_mon"].astype(bool), met_next)
        started = m["year"] >= MONITORING_STARTED - 1
        out["identified"] = within(unmonitored & started, m["_mon_next"].astype("boolean"))
    return out[[c for c in ("hh_id", "year", *LABELS) if c in out]]


SOFT_LABELS = ("meets_criteria", "persistent", "relapse")
"""Labels with a soft value: a threshold crossed at t+1 (`identified`, a cadres' decision, has
none)."""


def learns_soft(label: str, sd: float) -> bool:
    """Whether a run with `soft_label_sd` `sd` learns the label's soft value (`soft_label`)."""
    return sd > 0 and label in SOFT_LABELS


def soft_label(
    panel: pd.DataFrame, label: str, sd: float, criteria: CriteriaConfig | None = None
) -> pd.Series:
    """For every panel row, Phi(-margin / sd) of the household's margin at t+1, a log ratio:
    for the criteria labels the criteria margin (riskmodel.criteria.criteria_margin: 1 when a
    guarantee fails or income is at or below zero), for `relapse` log(income / line). Above 0.5
    exactly where the label's event happens at t+1, 0.5 at the threshold, NaN where there is
    no row for t+1. The label's soft value wherever the label is defined."""
    import pandas as pd
    from scipy.special import ndtr

    from riskmodel.features import lagged

    if check_label(label) not in SOFT_LABELS:
        raise ValueError(f"label {label!r} has no soft value (labels that have: {SOFT_LABELS})")
    if sd <= 0:
        raise ValueError(f"the soft labels' sd must be positive, not {sd}")
    if label == "relapse":
        margin = criteria_margin(panel, criteria, ["income"])
    else:
        margin = criteria_margin(panel, criteria, available_criteria(panel.columns))
    following = lagged(panel[["hh_id", "year"]].assign(_m=margin), "_m", -1).to_numpy()
    return pd.Series(ndtr(-following / sd), index=panel.index, name="soft")


def in_population(
    panel: pd.DataFrame, label: str, criteria: CriteriaConfig | None = None
) -> pd.Series:
    """Whether each panel row is in the label's population at t, whether or not t+1 is known
    yet (a batch is scored before its labels arrive). Where t+1 is known, the label is defined
    exactly on these rows."""
    check_label(label)
    if label == "relapse":
        return panel["net_income_pc"] >= panel["monitor_line"]
    monitored = panel["is_monitored"].astype("boolean").fillna(False).astype(bool)
    if label == "persistent":
        return monitored
    if label == "identified":
        return ~monitored & (panel["year"] >= MONITORING_STARTED - 1)
    import pandas as pd

    met = criteria_met(panel, criteria, available_criteria(panel.columns))["any"]
    return ~monitored & ~pd.Series(met, index=panel.index).astype(bool)
