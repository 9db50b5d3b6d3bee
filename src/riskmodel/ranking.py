"""Cadres' capacity: the households flagged first in each village."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd


def flag_top_share(
    score: np.ndarray, village: np.ndarray, share: float, seed: int = 0
) -> np.ndarray:
    """Flag the top `share` of households by score in every village (at least one per village).

    Ties are broken at random with a fixed seed, so a binary score is not favoured by row order.
    """
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"v": village, "s": score, "r": rng.random(len(score))})
    df = df.sort_values(["v", "s", "r"], ascending=[True, False, True])
    rank = df.groupby("v", sort=False).cumcount().to_numpy()
    size = df.groupby("v", sort=False)["s"].transform("size").to_numpy()
    flagged = np.zeros(len(score), bool)
    flagged[df.index.to_numpy()] = rank < np.maximum(1, np.ceil(share * size))
    return flagged


def rank_in_village(score: np.ndarray, village: np.ndarray) -> np.ndarray:
    """1 for the highest score in each village."""
    return pd.Series(-score).groupby(village).rank(method="first").astype(int).to_numpy()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small containers (a batch of
    reasons): full collections over a large live heap otherwise dominate the run time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
