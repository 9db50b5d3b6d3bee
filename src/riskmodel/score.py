"""Batch scoring: every household of a year, with reasons, into Parquet, the store and worklists.

All results are computed in memory first. The Parquet file and workbook are written to hidden
temporary files beside their targets, the store's batch is replaced in one transaction, and only
then are the files renamed into place: a failure at any point leaves the previous outputs whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.features import build_features
from riskmodel.io import atomic_path, read_panel, write_parquet
from riskmodel.model import RelapseModel
from riskmodel.ranking import flag_top_share, gc_paused, rank_in_village
from riskmodel.reasons import Explanations, explain
from riskmodel.rules import RULES, rule_flags
from riskmodel.store import engine_for, now, replace_batch
from riskmodel.validate import validate_panel
from riskmodel.worklist import write_worklist

log = logging.getLogger(__name__)

HISTORY_YEARS = 2
"""Features of year Y use rows back to Y-2."""


class BatchError(RuntimeError):
    """The batch was stopped before writing any output (for example too many invalid rows)."""


@dataclass
class BatchResult:
    rows: pd.DataFrame
    year: int
    model_version: str
    parquet: Path
    workbook: Path
    quarantine: Path | None
    invalid_rows: int
    rows_read: int
    seconds: dict[str, float]
    """Wall time of each stage."""


def score_records(
    records: pd.DataFrame,
    model: RelapseModel,
    model_version: str,
    run_id: str,
    worklist_share: float = 0.10,
) -> pd.DataFrame:
    """Scores, tiers, village ranks, rule flags, worklist membership and reasons for records."""
    with gc_paused():
        return _score_records(
            records.reset_index(drop=True), model, model_version, run_id, worklist_share
        )


@dataclass
class Assessment:
    """Everything the model says about a set of records, in record order."""

    probability: np.ndarray
    tier: np.ndarray
    flags: dict[str, np.ndarray]
    explanations: Explanations


def assess(records: Mapping, model: RelapseModel) -> Assessment:
    """Contributions, calibrated probability, tier, official rule flags and reasons for records
    given as a DataFrame or a mapping of columns (the batch and the API both come here)."""
    contrib = model.contributions(model.matrix(records))
    prob = model.calibrate(contrib.sum(axis=1))
    return Assessment(
        prob,
        model.meta.tiers.assign(prob),
        rule_flags(records),
        explain(records, contrib, model.features),
    )


def _score_records(
    records: pd.DataFrame,
    model: RelapseModel,
    model_version: str,
    run_id: str,
    worklist_share: float,
) -> pd.DataFrame:
    a = assess(records, model)
    prob, flags = a.probability, a.flags
    village = records["village_id"].astype(str).to_numpy()
    top = flag_top_share(prob, village, worklist_share)
    texts = a.explanations.columns()
    out = pd.DataFrame(
        {
            "hh_id": records["hh_id"].astype(str),
            "village_id": village,
            "township_id": records["township_id"].astype(str),
            "year": records["year"].astype(int),
            "probability": prob,
            "tier": a.tier,
            "rank_in_village": rank_in_village(prob, village),
            # policy forbids quotas: a rule-flagged household is always on the worklist
            "on_worklist": top | flags["any_rule"],
            **{f"flag_{k}": flags[k] for k in RULES},
            "any_rule": flags["any_rule"],
        }
    )
    out = pd.concat([out, texts], axis=1)
    out["model_version"] = model_version
    out["run_id"] = run_id
    out["scored_at"] = pd.Timestamp(now())
    return out


def run_batch(
    data: Path,
    out: Path,
    db_url: str,
    model: RelapseModel,
    model_version: str,
    run_id: str,
    year: int | None = None,
    max_invalid_share: float = 0.05,
    worklist_share: float = 0.10,
    on_stage: Callable[[str], None] = lambda _: None,
) -> BatchResult:
    """Score every household's record for `year` (default: latest) and write all outputs."""
    seconds: dict[str, float] = {}
    clock = [time.perf_counter(), ""]

    def stage(name: str) -> None:
        t = time.perf_counter()
        if clock[1]:
            seconds[clock[1]] = round(t - clock[0], 3)
        clock[:] = [t, name]
        if name:
            on_stage(name)

    stage("read")
    panel = read_panel(Path(data) / "panel.parquet" if Path(data).is_dir() else Path(data))
    years = pd.to_numeric(panel["year"], errors="coerce")
    Y = int(years.max()) if year is None else year
    if Y not in set(years.dropna().astype(int)):
        raise BatchError(f"no rows for year {Y} in {data}")
    window = panel[(years >= Y - HISTORY_YEARS) & (years <= Y)]
    stage("validate")
    checked = validate_panel(window)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    quarantine = None
    if len(checked.quarantined):
        quarantine = write_parquet(checked.quarantined, out / f"quarantine-{Y}.parquet")
    share = len(checked.quarantined) / max(len(window), 1)
    if share > max_invalid_share:
        raise BatchError(
            f"{len(checked.quarantined):,} of {len(window):,} rows are invalid "
            f"({share:.1%} > {max_invalid_share:.0%}); see {quarantine}; no scores "
            f"written.\n{checked.report(limit=5)}"
        )
    stage("features")
    records = build_features(checked.valid)
    records = records[records["year"] == Y]
    stage("score and explain")
    rows = score_records(records, model, model_version, run_id, worklist_share)
    stem = f"{Y}-v{model_version}"
    parquet, workbook = out / f"scores-{stem}.parquet", out / f"worklist-{stem}.xlsx"
    stage("write")
    with atomic_path(parquet) as tmp_parquet, atomic_path(workbook) as tmp_book:
        rows.drop(columns=["reasons_json", "contributions"]).to_parquet(tmp_parquet, index=False)
        write_worklist(rows, tmp_book, f"{Y}年返贫风险工作清单（模型 v{model_version}）")
        stage("store")
        replace_batch(engine_for(db_url), rows, Y, model_version, run_id, model.features)
    stage("")
    return BatchResult(
        rows,
        Y,
        model_version,
        parquet,
        workbook,
        quarantine,
        len(checked.quarantined),
        len(window),
        seconds,
    )
