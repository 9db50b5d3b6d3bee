"""Labels derived from the panel, so a real county export is labelled exactly like simulated data.

relapse(h, t)    = net_income_pc(t) >= monitor_line(t) and net_income_pc(t+1) < monitor_line(t+1)
identified(h, t) = not is_monitored(t) and is_monitored(t+1)
Both are undefined (NA) where the household has no row for t+1.
"""

from __future__ import annotations

import pandas as pd

LABELS = ("relapse", "identified")


def add_labels(panel: pd.DataFrame) -> pd.DataFrame:
    """Return hh_id, year and both labels (nullable booleans) for every panel row."""
    cur = panel[["hh_id", "year", "net_income_pc", "monitor_line", "is_monitored"]]
    nxt = cur.assign(year=cur["year"] - 1)
    merged = cur.merge(
        nxt, on=["hh_id", "year"], how="left", suffixes=("", "_next"), validate="one_to_one"
    )
    has_next = merged["net_income_pc_next"].notna()
    above_now = merged["net_income_pc"] >= merged["monitor_line"]
    below_next = merged["net_income_pc_next"] < merged["monitor_line_next"]
    relapse = (above_now & below_next).astype("boolean").where(has_next)
    identified = ~merged["is_monitored"].astype(bool) & merged["is_monitored_next"].fillna(
        False
    ).astype(bool)
    identified = identified.astype("boolean").where(has_next)
    return pd.DataFrame(
        {
            "hh_id": merged["hh_id"],
            "year": merged["year"],
            "relapse": relapse,
            "identified": identified,
        },
        index=panel.index,
    )


MONITORING_STARTED = 2020


def first_label_year(label: str) -> int:
    """The first year t for which a label is meaningful (identification began in 2020)."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    return MONITORING_STARTED - 1 if label == "identified" else 0
