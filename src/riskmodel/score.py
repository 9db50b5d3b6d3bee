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

from riskmodel.criteria import (
    CriteriaConfig,
    criteria_codes,
    criteria_met,
    describe,
    protective_blocked,
    status,
)
from riskmodel.features import build_features
from riskmodel.io import atomic_path, read_panel, write_parquet
from riskmodel.labels import MAIN_LABEL
from riskmodel.model import RelapseModel
from riskmodel.ranking import gc_paused, on_worklist, worklist_rank
from riskmodel.reasons import Explanations, explain, stated_fields
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


SERVED_BY: dict[str, str] = {"not_monitored": MAIN_LABEL, "monitored": "persistent"}
"""The label whose model gives each status its probability. A household that meets the criteria
now gets none: it is to be verified and enrolled (应纳尽纳), not predicted."""
EXPLAINED_BY: dict[str, str] = {**SERVED_BY, "meets_criteria": MAIN_LABEL}
"""The model whose contributions give each status its reasons (the main model also says why a
household that meets the criteria is at risk)."""

Models = Mapping[str, RelapseModel]
"""The models in service by label: the main one (meets_criteria) and, when it exists, persistent."""


def as_models(models: RelapseModel | Models) -> dict[str, RelapseModel]:
    """Models by label; a model whose label serves no status (relapse, identified) is refused."""
    if isinstance(models, RelapseModel):
        models = {models.meta.label: models}
    models = dict(models)
    for label, model in models.items():
        if model.meta.label != label or label not in SERVED_BY.values():
            raise ValueError(
                f"a model labelled {model.meta.label!r} cannot serve as the {label!r} model; "
                f"served labels: {', '.join(dict.fromkeys(SERVED_BY.values()))}"
            )
    if not models:
        raise ValueError("no model to score with")
    first = next(iter(models.values()))
    for model in models.values():
        if model.features != first.features or model.meta.levels != first.meta.levels:
            raise ValueError("the models in service must read the same features")
        if model.meta.criteria != first.meta.criteria:
            raise ValueError("the models in service must be trained on the same criteria")
    return models


def score_records(
    records: pd.DataFrame,
    models: RelapseModel | Models,
    model_version: str,
    run_id: str,
    worklist_share: float = 0.10,
    versions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Status, criteria met, the population's probability and tier, village ranks, rule flags,
    worklist membership and reasons for records. `versions` gives each label's model version
    (default: `model_version` for the main model)."""
    with gc_paused():
        return _score_records(
            records.reset_index(drop=True),
            as_models(models),
            model_version,
            run_id,
            worklist_share,
            dict(versions or {MAIN_LABEL: model_version}),
        )


@dataclass
class Assessment:
    """Everything the models say about a set of records, in record order."""

    status: np.ndarray
    label: np.ndarray
    """The label of the model that gave the probability (None where there is none)."""
    probability: np.ndarray
    """NaN where the status has no model: meets_criteria, or monitored without a persistent model."""
    tier: np.ndarray
    """None where there is no probability."""
    criteria: dict[str, np.ndarray]
    """criteria_met: one boolean array per criterion, plus `any`."""
    flags: dict[str, np.ndarray]
    explanations: Explanations


def assess(records: Mapping, models: RelapseModel | Models) -> Assessment:
    """Status, criteria, the population's calibrated probability and tier, official rule flags and
    reasons for records given as a DataFrame or a mapping of columns (batch and API come here)."""
    models = as_models(models)
    first = next(iter(models.values()))
    met = criteria_met(records, CriteriaConfig(**first.meta.criteria))
    st = status(records, met["any"])
    X = first.matrix(records)
    n = len(X)
    contrib = np.zeros((n, len(first.features) + 1))
    prob = np.full(n, np.nan)
    tier = np.full(n, None, dtype=object)
    label = np.full(n, None, dtype=object)
    for state, by in EXPLAINED_BY.items():
        rows = np.flatnonzero(st == state)
        model = models.get(by)
        if model is None or not len(rows):
            continue
        contrib[rows] = model.contributions(X[rows])
        if SERVED_BY.get(state) == by:
            p = model.calibrate(contrib[rows].sum(axis=1))
            prob[rows], tier[rows], label[rows] = p, model.meta.tiers.assign(p), by
    blocked = protective_blocked(met, first.features, stated_fields)
    return Assessment(
        st,
        label,
        prob,
        tier,
        met,
        rule_flags(records),
        explain(records, contrib, first.features, blocked=blocked),
    )


def _score_records(
    records: pd.DataFrame,
    models: dict[str, RelapseModel],
    model_version: str,
    run_id: str,
    worklist_share: float,
    versions: dict[str, str],
) -> pd.DataFrame:
    a = assess(records, models)
    prob, flags = a.probability, a.flags
    village = records["village_id"].astype(str).to_numpy()
    texts = a.explanations.columns()
    codes = criteria_codes(a.criteria)
    out = pd.DataFrame(
        {
            "hh_id": records["hh_id"].astype(str),
            "village_id": village,
            "township_id": records["township_id"].astype(str),
            "year": records["year"].astype(int),
            "status": a.status,
            "label": a.label,
            "probability": prob,
            "tier": a.tier,
            "criteria": codes,
            "criteria_zh": [describe(c) for c in codes],
            "rank_in_village": worklist_rank(a.status, prob, village),
            "on_worklist": on_worklist(a.status, prob, village, flags["any_rule"], worklist_share),
            **{f"flag_{k}": flags[k] for k in RULES},
            "any_rule": flags["any_rule"],
        }
    )
    out = pd.concat([out, texts], axis=1)
    out["model_version"] = model_version
    out["label_version"] = [versions.get(lab, "") if lab else "" for lab in a.label]
    out["run_id"] = run_id
    out["scored_at"] = pd.Timestamp(now())
    return out


def run_batch(
    data: Path,
    out: Path,
    db_url: str,
    model: RelapseModel | Models,
    model_version: str,
    run_id: str,
    year: int | None = None,
    max_invalid_share: float = 0.05,
    worklist_share: float = 0.10,
    on_stage: Callable[[str], None] = lambda _: None,
    versions: Mapping[str, str] | None = None,
) -> BatchResult:
    """Score every household's record for `year` (default: latest) with the models in service
    (`model_version` is the main model's; `versions` every label's) and write all outputs."""
    models = as_models(model)
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
    rows = score_records(records, models, model_version, run_id, worklist_share, versions)
    stem = f"{Y}-v{model_version}"
    parquet, workbook = out / f"scores-{stem}.parquet", out / f"worklist-{stem}.xlsx"
    stage("write")
    with atomic_path(parquet) as tmp_parquet, atomic_path(workbook) as tmp_book:
        rows.drop(columns=["reasons_json", "contributions"]).to_parquet(tmp_parquet, index=False)
        write_worklist(rows, tmp_book, f"{Y}年防止返贫监测工作清单（模型 v{model_version}）")
        stage("store")
        features = next(iter(models.values())).features
        replace_batch(engine_for(db_url), rows, Y, model_version, run_id, features)
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
