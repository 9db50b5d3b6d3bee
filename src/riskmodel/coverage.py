"""What a batch covers: the households scored now merged with those an earlier run of the same
year and model scored, places in each village recomputed over the whole batch, and what changed.

Scoring part of a county (two villages, one township) adds or replaces those households and keeps
every other one; `replace_all` makes the batch exactly the households scored now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.ranking import household_tiebreak, warning_sources, worklist_rank


@dataclass
class Change:
    """What one run did to its batch."""

    households_scored: int
    villages_scored: int
    added: int
    replaced: int
    kept: int
    dropped: int
    batch_households: int
    batch_villages: int
    dropped_examples: list[str]

    def record(self) -> dict:
        """The fields stored with the run."""
        return {k: v for k, v in self.__dict__.items() if k != "dropped_examples"}

    def __str__(self) -> str:
        text = (
            f"{self.added:,} added, {self.replaced:,} replaced, {self.kept:,} kept from earlier "
            f"runs"
        )
        if self.dropped:
            shown = ", ".join(self.dropped_examples)
            more = (
                f" and {self.dropped - len(self.dropped_examples):,} more"
                if self.dropped > len(self.dropped_examples)
                else ""
            )
            text += f", {self.dropped:,} dropped ({shown}{more})"
        return (
            f"{text}; the batch now holds {self.batch_households:,} households in "
            f"{self.batch_villages:,} villages"
        )


def merge_batch(
    new: pd.DataFrame,
    stored_ids: set,
    read_stored: Callable[[], pd.DataFrame],
    replace_all: bool,
    worklist_share: float,
    band: float | None = None,
) -> tuple[pd.DataFrame, Change]:
    """The batch after this run: the new rows (placed in their villages, as score_partition
    returns them) plus the stored rows of households not scored now (none with `replace_all`),
    placed in their villages again when there are any. `read_stored` is called only when some
    stored household is not in the new rows."""
    new_ids = set(new["hh_id"])
    others = stored_ids - new_ids
    kept = new.iloc[:0]
    if others and not replace_all:
        stored = read_stored()
        kept = stored[stored["hh_id"].isin(others)]
    rows = new
    if len(kept):
        rows = pd.concat([new, kept[new.columns]], ignore_index=True)
        rows = place_in_villages(rows, worklist_share, band)
    dropped = sorted(others) if replace_all else []
    change = Change(
        households_scored=len(new_ids),
        villages_scored=int(new["village_id"].nunique()),
        added=len(new_ids - stored_ids),
        replaced=len(new_ids & stored_ids),
        kept=len(kept),
        dropped=len(dropped),
        batch_households=len(rows),
        batch_villages=int(rows["village_id"].nunique()),
        dropped_examples=dropped[:10],
    )
    return rows, change


def place_in_villages(
    rows: pd.DataFrame, worklist_share: float, band: float | None = None
) -> pd.DataFrame:
    """Rank in village, worklist membership and why each household is listed, over the whole batch
    (`ranking.worklist_rank` and `ranking.warning_sources`: status, then probability; criteria,
    monitored households, data checks, each village's top share and the early-warning income
    band, when set, listed). A household meeting the criteria keeps `criteria+model` when the
    model put it in the red tier."""
    rows = rows.reset_index(drop=True).copy()
    prob = rows["probability"].to_numpy(float)
    status = rows["status"].to_numpy(str)
    village = rows["village_id"].astype(str).to_numpy()
    rows["rank_in_village"] = worklist_rank(status, prob, village, rows["hh_id"].to_numpy(str))
    in_band = np.zeros(len(rows), bool)
    if band and {"net_income_pc", "monitor_line"} <= set(rows.columns):
        income = pd.to_numeric(rows["net_income_pc"], errors="coerce").to_numpy(float)
        line = pd.to_numeric(rows["monitor_line"], errors="coerce").to_numpy(float)
        with np.errstate(invalid="ignore"):
            in_band = income < band * line
    sources = warning_sources(
        status, prob, village, in_band, worklist_share, tiebreak=household_tiebreak(rows["hh_id"])
    )
    before = rows["warning_source"] if "warning_source" in rows else pd.Series("", index=rows.index)
    rows["warning_source"] = np.where(
        (before == "criteria+model").to_numpy() & (status == "meets_criteria"),
        "criteria+model",
        sources,
    )
    rows["on_worklist"] = rows["warning_source"] != ""
    return rows
