"""What a batch covers: the households scored now merged with those an earlier run of the same
year and model scored, places in each village recomputed over the whole batch, and what changed.

Scoring part of a county (two villages, one township) adds or replaces those households and keeps
every other one; `replace_all` makes the batch exactly the households scored now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from riskmodel.ranking import on_worklist, worklist_rank


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
) -> tuple[pd.DataFrame, Change]:
    """The batch after this run: the new rows plus the stored rows of households not scored now
    (none with `replace_all`), placed in their villages again. `read_stored` is called only when
    some stored household is not in the new rows."""
    new_ids = set(new["hh_id"])
    others = stored_ids - new_ids
    kept = new.iloc[:0]
    if others and not replace_all:
        stored = read_stored()
        kept = stored[stored["hh_id"].isin(others)]
    rows = pd.concat([new, kept[new.columns]], ignore_index=True) if len(kept) else new
    rows = place_in_villages(rows, worklist_share)
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


def place_in_villages(rows: pd.DataFrame, worklist_share: float) -> pd.DataFrame:
    """Rank in village and worklist membership over the whole batch (`ranking.worklist_rank` and
    `ranking.on_worklist`: status, then probability; criteria, rule flags, data checks and each
    village's top share listed)."""
    rows = rows.reset_index(drop=True).copy()
    prob = rows["probability"].to_numpy(float)
    status = rows["status"].to_numpy(str)
    village = rows["village_id"].astype(str).to_numpy()
    rows["rank_in_village"] = worklist_rank(status, prob, village)
    rows["on_worklist"] = on_worklist(
        status, prob, village, rows["any_rule"].to_numpy(bool), worklist_share
    )
    return rows
