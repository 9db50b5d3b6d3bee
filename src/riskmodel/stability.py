"""Stable ranks: how much two batches of the same households disagree.

Cadres plan visits from the tiers and each village's worklist; if a new year's batch or a new model
reshuffles them, the office should see by how much before it acts. Between two batches (two years,
or two model versions on the same year), over the households in both:

- the share of households whose tier changed (among those with a tier in both), with the count of
  each change (red -> amber, ...);
- each village's worklist overlap: households on both lists over households on either (Jaccard);
  1 is the same list, 0 two different ones.

The batch summary compares a new batch with the previous one in the store, the monitoring report
each year with the year before, and training the challenger with the champion on the test rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.ranking import flag_top_share

LOW_OVERLAP = 0.5
"""A village whose worklist overlap is below this is counted (and named in reports)."""


def ranks(
    rows: pd.DataFrame, prob: np.ndarray, tiers: np.ndarray, share: float, seed: int = 0
) -> pd.DataFrame:
    """What `compare` reads of scored rows: hh_id, village_id, tier and on_worklist (the top
    `share` of each village, ranking.flag_top_share)."""
    village = rows["village_id"].astype(str).to_numpy()
    return pd.DataFrame(
        {
            "hh_id": rows["hh_id"].astype(str).to_numpy(),
            "village_id": village,
            "tier": tiers,
            "on_worklist": flag_top_share(prob, village, share, seed),
        }
    )


def compare(before: pd.DataFrame, after: pd.DataFrame) -> dict:
    """Tier changes and worklist overlaps between two batches: rows with hh_id, village_id, tier
    (None where there is no probability) and on_worklist."""
    both = before[["hh_id", "tier", "on_worklist"]].merge(
        after[["hh_id", "village_id", "tier", "on_worklist"]],
        on="hh_id",
        suffixes=("_before", "_after"),
    )
    tiered = both[both["tier_before"].notna() & both["tier_after"].notna()]
    changed = tiered[tiered["tier_before"] != tiered["tier_after"]]
    moves = (changed["tier_before"] + "->" + changed["tier_after"]).value_counts()
    villages = overlaps(both)
    low = villages[villages["overlap"] < LOW_OVERLAP]
    return {
        "households": len(both),
        "tiered": len(tiered),
        "tier_changed_share": float(len(changed) / len(tiered)) if len(tiered) else float("nan"),
        "tier_changes": {k: int(v) for k, v in moves.items()},
        "villages": len(villages),
        "worklist_overlap_mean": _mean(villages["overlap"]),
        "worklist_overlap_min": _min(villages["overlap"]),
        "villages_below": len(low),
        "villages_below_ids": low.sort_values("overlap")["village_id"].head(10).tolist(),
    }


def overlaps(both: pd.DataFrame) -> pd.DataFrame:
    """Per village, households on both worklists over households on either (villages with no
    list in either batch are left out)."""
    on_before = both["on_worklist_before"].eq(True)
    on_after = both["on_worklist_after"].eq(True)
    g = (
        pd.DataFrame(
            {
                "village_id": both["village_id"].astype(str),
                "both": on_before & on_after,
                "either": on_before | on_after,
            }
        )
        .groupby("village_id")[["both", "either"]]
        .sum()
    )
    g = g[g["either"] > 0]
    return pd.DataFrame(
        {"village_id": g.index, "overlap": (g["both"] / g["either"]).to_numpy(float)}
    ).reset_index(drop=True)


def _mean(s: pd.Series) -> float:
    return float(s.mean()) if len(s) else float("nan")


def _min(s: pd.Series) -> float:
    return float(s.min()) if len(s) else float("nan")


def summary_line(result: dict, against: str) -> str:
    """One line for a batch summary or a promotion card."""
    if not result["tiered"] or not result["villages"]:
        return f"no household with a tier or a worklist place in common with {against}"
    return (
        f"against {against}: {result['tier_changed_share']:.1%} of {result['tiered']:,} "
        f"households changed tier; worklists overlap {result['worklist_overlap_mean']:.2f} on "
        f"average (lowest {result['worklist_overlap_min']:.2f}; {result['villages_below']} of "
        f"{result['villages']} villages below {LOW_OVERLAP})"
    )


def metrics(result: dict, prefix: str) -> dict[str, float]:
    """The figures as numbers for MLflow or the store."""
    return {
        f"{prefix}tier_changed_share": result["tier_changed_share"],
        f"{prefix}worklist_overlap_mean": result["worklist_overlap_mean"],
        f"{prefix}worklist_overlap_min": result["worklist_overlap_min"],
        f"{prefix}villages_below_overlap": float(result["villages_below"]),
    }


def against_previous(
    engine, year: int, model_version: str, area: str, rows: pd.DataFrame | None = None
) -> tuple | None:
    """A stored batch compared with the one before it (store.previous_batch): ((year, model
    version), comparison), or None when it is the first. `rows`: the batch already in memory
    (else it is read back from the store)."""
    from riskmodel.store import batch_tiers, previous_batch

    before = previous_batch(engine, year, model_version, area)
    if before is None:
        return None
    if rows is None:
        rows = batch_tiers(engine, year, model_version, area)
    return before, compare(batch_tiers(engine, *before), rows)
