"""Cadres' capacity: the households flagged first in each village."""

from __future__ import annotations

import numpy as np
import pandas as pd


def flag_top_share(
    score: np.ndarray,
    village: np.ndarray,
    share: float,
    seed: int = 0,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Flag the top `share` of households by score in every village (at least one per village).

    Ties are broken at random with a fixed seed, so a binary score is not favoured by row order;
    or by `tiebreak` (one number per household, the same whatever else is scored with it)."""
    if tiebreak is None:
        tiebreak = np.random.default_rng(seed).random(len(score))
    df = pd.DataFrame({"v": village, "s": score, "r": tiebreak})
    df = df.sort_values(["v", "s", "r"], ascending=[True, False, True])
    rank = df.groupby("v", sort=False).cumcount().to_numpy()
    size = df.groupby("v", sort=False)["s"].transform("size").to_numpy()
    flagged = np.zeros(len(score), bool)
    flagged[df.index.to_numpy()] = rank < np.maximum(1, np.ceil(share * size))
    return flagged


def rank_in_village(score: np.ndarray, village: np.ndarray) -> np.ndarray:
    """1 for the highest score in each village."""
    return pd.Series(-score).groupby(village).rank(method="first").astype(int).to_numpy()


STATUS_ORDER = {"meets_criteria": 0, "not_monitored": 1, "monitored": 2, "data_check": 3}
"""Worklist order within a village: households that meet the criteria now head it (verify and
enrol), then unmonitored households by risk, then monitored ones, then those whose data must be
verified before they can be assessed."""


def worklist_rank(
    status: np.ndarray, prob: np.ndarray, village: np.ndarray, ids: np.ndarray | None = None
) -> np.ndarray:
    """1 for the household that heads its village's worklist: by status, then probability (the
    households without one last within their status), ties by `ids` (else record order), so a
    batch read back from the store in any order ranks the same."""
    order_key = pd.Series(status).map(STATUS_ORDER).to_numpy(dtype=float)
    p = np.where(np.isnan(prob), -1.0, prob)
    tie = np.arange(len(p)) if ids is None else np.asarray(ids, dtype=str)
    df = pd.DataFrame({"v": village, "k": order_key, "p": -p, "t": tie, "i": np.arange(len(p))})
    df = df.sort_values(["v", "k", "p", "t"])
    rank = np.empty(len(p), int)
    rank[df["i"].to_numpy()] = df.groupby("v", sort=False).cumcount().to_numpy() + 1
    return rank


def on_worklist(
    status: np.ndarray,
    prob: np.ndarray,
    village: np.ndarray,
    early_warning: np.ndarray,
    share: float,
    seed: int = 0,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Who is listed: every household that meets the criteria now (policy forbids quotas), every
    monitored household (its own section: is the risk eliminated?), every household whose data must
    be verified, the top `share` of each village's unmonitored households by probability (cadres'
    capacity) and, when an early-warning income band is set, the unmonitored households in it."""
    sources = warning_sources(status, prob, village, early_warning, share, seed, tiebreak)
    return np.asarray(sources) != ""


def warning_sources(
    status: np.ndarray,
    prob: np.ndarray,
    village: np.ndarray,
    early_warning: np.ndarray,
    share: float,
    seed: int = 0,
    tiebreak: np.ndarray | None = None,
) -> list[str]:
    """Why each household is listed (worklist.SOURCES codes; '' when it is not): criteria,
    monitored, data_check, or for an unmonitored household model, band or model+band."""
    status = np.asarray(status)
    model = np.zeros(len(status), bool)
    pool = np.flatnonzero((status == "not_monitored") & ~np.isnan(prob))
    if len(pool):
        ties = None if tiebreak is None else np.asarray(tiebreak)[pool]
        model[pool] = flag_top_share(prob[pool], np.asarray(village)[pool], share, seed, ties)
    band = np.asarray(early_warning, bool) & (status == "not_monitored")
    unmonitored = np.where(
        model & band, "model+band", np.where(model, "model", np.where(band, "band", ""))
    )
    return np.select(
        [status == "meets_criteria", status == "monitored", status == "data_check"],
        ["criteria", "monitored", "data_check"],
        unmonitored,
    ).tolist()


def household_tiebreak(hh_id: pd.Series) -> np.ndarray:
    """A fixed pseudo-random number per household id: ties in a village are broken the same way
    whether the county is scored whole or township by township."""
    return pd.util.hash_array(hh_id.astype(str).to_numpy(object)).astype(np.float64)
