"""Batch scoring: every household of a year, with reasons, into Parquet, the store and worklists.

All results are computed in memory first. The Parquet file and workbook are written to hidden
temporary files beside their targets, the store's batch is replaced in one transaction, and only
then are the files renamed into place: a failure at any point leaves the previous outputs whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.coverage import Change, merge_batch, place_in_villages
from riskmodel.criteria import (
    DATA_CHECK,
    CriteriaConfig,
    criteria_codes,
    criteria_met,
    describe,
    protective_blocked,
    status,
)
from riskmodel.features import build_features
from riskmodel.io import atomic_path, file_digest, panel_file, read_panel, write_parquet
from riskmodel.labels import MAIN_LABEL
from riskmodel.model import RelapseModel
from riskmodel.ranking import gc_paused
from riskmodel.reasons import Explanations, explain, stated_fields
from riskmodel.rules import RULES, rule_flags
from riskmodel.store import (
    SERVICE,
    batch_households,
    engine_for,
    now,
    read_batch,
    replace_batch,
)
from riskmodel.validate import FIRST_DATA_ROW, ValidationResult, validate_panel
from riskmodel.worklist import write_worklist

log = logging.getLogger(__name__)

HISTORY_YEARS = 2
"""Features of year Y use rows back to Y-2."""
PREVIEW_FOLDER = "preview"
"""Preview runs write their files here, inside the output folder."""


class BatchError(RuntimeError):
    """The batch was stopped before writing any output (for example too many invalid rows)."""


@dataclass
class InvalidShare:
    invalid: int
    rows: int

    @property
    def share(self) -> float:
        return self.invalid / max(self.rows, 1)

    def __str__(self) -> str:
        return f"{self.invalid:,} of {self.rows:,} rows ({self.share:.1%})"


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
    invalid_scored: InvalidShare | None = None
    """Invalid rows of the scored year (rows whose year cannot be read count here too)."""
    invalid_history: InvalidShare | None = None
    """Invalid rows of the history years, whose lags would otherwise go missing unnoticed."""
    warnings: list[str] = field(default_factory=list)
    change: Change | None = None
    """What this run added, replaced, kept and dropped in its batch."""
    area: str = SERVICE


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
            "rank_in_village": 0,  # placed by place_in_villages
            "on_worklist": False,
            **{f"flag_{k}": flags[k] for k in RULES},
            "any_rule": flags["any_rule"],
        }
    )
    out = pd.concat([out, texts], axis=1)
    out["model_version"] = model_version
    out["label_version"] = [versions.get(lab, "") if lab else "" for lab in a.label]
    out["run_id"] = run_id
    out["scored_at"] = pd.Timestamp(now())
    out["data_check"] = ""
    return place_in_villages(out, worklist_share)


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
    replace_all: bool = False,
    area: str = SERVICE,
    model_alias: str = "",
) -> BatchResult:
    """Score every household's record for `year` (default: latest) with the models in service
    (`model_version` is the main model's; `versions` every label's) and write all outputs.

    The batch of (year, model version) keeps the households earlier runs scored that this one did
    not (unless `replace_all`). `area` is `service` (what the API serves) or `preview` (a model
    other than the one in service: its own store table and `preview/` folder)."""
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
    source = panel_file(data)
    panel = read_panel(source)
    years = pd.to_numeric(panel["year"], errors="coerce")
    present = sorted({int(y) for y in years.dropna() if float(y).is_integer()})
    if not present:
        raise BatchError(f"{source}: no row has a readable year")
    Y = present[-1] if year is None else year
    if Y not in present:
        raise BatchError(f"no rows for year {Y} in {source}; years present: {year_ranges(present)}")
    warnings = []
    absent = [y for y in range(Y - HISTORY_YEARS, Y) if y not in present]
    if absent:
        warnings.append(
            f"history years {', '.join(map(str, absent))} are not in {source}: features of {Y} "
            "that look back (lags, changes, trend, volatility) are missing for every household"
        )
    in_window = years.between(Y - HISTORY_YEARS, Y) | years.isna()
    window = panel[in_window]
    stage("validate")
    checked = validate_panel(window, source=source, file_rows=window.index + FIRST_DATA_ROW)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    quarantine = None
    if len(checked.quarantined):
        quarantine = write_parquet(checked.quarantined, out / f"quarantine-{Y}.parquet")
    scored_year = years[in_window].isna() | (years[in_window] == Y)
    bad_year = pd.to_numeric(checked.quarantined["year"], errors="coerce")
    shares = {
        "scored year": InvalidShare(
            int((bad_year == Y).sum() + bad_year.isna().sum()), int(scored_year.sum())
        ),
        "history": InvalidShare(
            int(bad_year.between(Y - HISTORY_YEARS, Y - 1).sum()), int((~scored_year).sum())
        ),
    }
    over = {k: v for k, v in shares.items() if v.share > max_invalid_share}
    if over:
        raise BatchError(
            "; ".join(f"{k}: {v} invalid" for k, v in over.items())
            + f" > {max_invalid_share:.0%}; see {quarantine}; no scores written.\n"
            + checked.report(limit=5)
        )
    stage("features")
    records = build_features(checked.valid)
    records = records[records["year"] == Y]
    stage("score and explain")
    rows = score_records(records, models, model_version, run_id, worklist_share, versions)
    rows = _with_data_checks(rows, checked, Y, model_version, run_id)
    engine = engine_for(db_url)
    rows, change = merge_batch(
        rows,
        batch_households(engine, Y, model_version, area),
        lambda: _stored_rows(engine, Y, model_version, area),
        replace_all,
        worklist_share,
    )
    folder = out / PREVIEW_FOLDER if area != SERVICE else out
    stem = f"{Y}-v{model_version}"
    parquet, workbook = folder / f"scores-{stem}.parquet", folder / f"worklist-{stem}.xlsx"
    title = f"{Y}年防止返贫监测工作清单（模型 v{model_version}）"
    if area != SERVICE:
        title += "（预览，未投入使用）"
    run = {
        "model_alias": model_alias,
        "source": str(source),
        "source_digest": file_digest(source),
        **change.record(),
    }
    stage("write")
    with atomic_path(parquet) as tmp_parquet, atomic_path(workbook) as tmp_book:
        rows.drop(columns=["reasons_json", "contributions"]).to_parquet(tmp_parquet, index=False)
        write_worklist(rows, tmp_book, title)
        stage("store")
        features = next(iter(models.values())).features
        replace_batch(engine, rows, Y, model_version, run_id, features, area=area, run=run)
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
        shares["scored year"],
        shares["history"],
        warnings,
        change,
        area,
    )


def _stored_rows(engine, year: int, model_version: str, area: str) -> pd.DataFrame:
    """A stored batch with the columns the store derives rather than keeps."""
    rows = read_batch(engine, year, model_version, area)
    rows["criteria_zh"] = [describe(c) for c in rows["criteria"]]
    return rows


def year_ranges(years: list[int]) -> str:
    """2014-2019, 2021, 2023-2025."""
    parts, start = [], None
    for i, y in enumerate(years):
        start = y if start is None else start
        if i + 1 == len(years) or years[i + 1] != y + 1:
            parts.append(str(y) if y == start else f"{start}-{y}")
            start = None
    return ", ".join(parts)


DATA_CHECK_ZH, DATA_CHECK_EN = "数据待核实", "data to be verified"


def _with_data_checks(
    rows: pd.DataFrame, checked: ValidationResult, year: int, model_version: str, run_id: str
) -> pd.DataFrame:
    """Scored rows plus one row per household whose row for `year` is invalid: never silently
    absent, it is listed on its village's worklist as 「数据待核实」 with the failed rules, after the
    scored households. Scored households with an invalid history row keep their score and say
    which history rows were left out (their look-back features are missing).

    Reasons name columns and rules, never values (they may be personal)."""
    q = checked.quarantined
    q_year = pd.to_numeric(q["year"], errors="coerce")
    rows = rows.copy()
    history = q[q_year.notna() & (q_year != year) & q["hh_id"].notna()]
    notes = (
        history.assign(text=history["year"].astype(str) + " " + history["reasons"])
        .groupby(history["hh_id"].astype(str))["text"]
        .agg("; ".join)
    )
    left_out = rows["hh_id"].map(notes).astype(object)
    rows["data_check"] = [
        f"history rows left out: {t}" if isinstance(t, str) else "" for t in left_out
    ]
    now_bad = q[(q_year == year) & q["hh_id"].notna() & q["village_id"].notna()]
    now_bad = now_bad.assign(hh_id=now_bad["hh_id"].astype(str))
    now_bad = now_bad[~now_bad["hh_id"].isin(rows["hh_id"])]
    if now_bad.empty:
        return rows
    grouped = now_bad.groupby("hh_id", sort=True).agg(
        village_id=("village_id", "first"),
        township_id=("township_id", "first"),
        reasons=("reasons", lambda r: "; ".join(dict.fromkeys(r))),
    )
    n = len(grouped)
    reasons = grouped["reasons"].to_numpy()
    check = pd.DataFrame(
        {
            "hh_id": grouped.index.to_numpy(),
            "village_id": grouped["village_id"].astype(str).to_numpy(),
            "township_id": grouped["township_id"].astype(str).to_numpy(),
            "year": year,
            "status": DATA_CHECK,
            "label": None,
            "probability": np.nan,
            "tier": None,
            "criteria": "",
            "criteria_zh": "",
            "rank_in_village": 0,  # placed by place_in_villages
            "on_worklist": True,
            **{f"flag_{k}": False for k in RULES},
            "any_rule": False,
            "top_risk_types": "",
            "reasons_zh": [f"{DATA_CHECK_ZH}：{r}" for r in reasons],
            "reasons_en": [f"{DATA_CHECK_EN}: {r}" for r in reasons],
            "measures_zh": "核实并更正数据后重新评分",
            "measures_en": "verify and correct the data, then score again",
            "protective_zh": "",
            "protective_en": "",
            "reasons_json": '{"reasons":[],"protective":[]}',
            "contributions": [b""] * n,
            "model_version": model_version,
            "label_version": "",
            "run_id": run_id,
            "scored_at": rows["scored_at"].iloc[0] if len(rows) else pd.Timestamp(now()),
            "data_check": [f"{year} {r}" for r in reasons],
        }
    )
    return pd.concat([rows, check[rows.columns]], ignore_index=True)
