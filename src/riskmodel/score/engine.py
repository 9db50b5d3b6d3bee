"""One partition (a county, a township): features, status, criteria, the population's model,
contributions, reasons, rule flags and village ranks, from frames to frames.

It never opens a file or the store, so the local and Dask drivers, the API and the tests call the
same code and get the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.collector import gc_paused
from riskmodel.coverage import place_in_villages
from riskmodel.criteria import (
    DATA_CHECK,
    CriteriaConfig,
    criteria_codes,
    criteria_met,
    describe,
    protective_blocked,
    status,
)
from riskmodel.features import build_features, with_measure_facts
from riskmodel.labels import MAIN_LABEL
from riskmodel.model import RelapseModel
from riskmodel.reasons import Explanations, explain, stated_fields
from riskmodel.rules import RULES, rule_flags
from riskmodel.store import now
from riskmodel.validate import FIRST_DATA_ROW, ValidationResult, validate_panel
from riskmodel.worklist import FACTS, household_facts

HISTORY_YEARS = 2
"""Features of year Y use rows back to Y-2."""

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


@dataclass
class InvalidShare:
    invalid: int
    rows: int

    @property
    def share(self) -> float:
        return self.invalid / max(self.rows, 1)

    def __add__(self, other: InvalidShare) -> InvalidShare:
        return InvalidShare(self.invalid + other.invalid, self.rows + other.rows)

    def __str__(self) -> str:
        return f"{self.invalid:,} of {self.rows:,} rows ({self.share:.1%})"


def validate_window(
    window: pd.DataFrame, source: Path, year: int
) -> tuple[ValidationResult, dict[str, InvalidShare]]:
    """Check the rows of `year` and its history (`window`, indexed by file row from 0) and count
    the invalid ones of the scored year (rows whose year cannot be read count here too) and of
    the history years, whose lags would otherwise go missing unnoticed."""
    checked = validate_panel(window, source=source, file_rows=window.index + FIRST_DATA_ROW)
    return checked, invalid_shares(window, checked.quarantined, year)


def invalid_shares(
    window: pd.DataFrame, quarantined: pd.DataFrame, year: int
) -> dict[str, InvalidShare]:
    """The invalid rows of the scored year and of the history years among `window`'s."""
    years = pd.to_numeric(window["year"], errors="coerce")
    scored_year = years.isna() | (years == year)
    bad_year = pd.to_numeric(quarantined["year"], errors="coerce")
    return {
        "scored year": InvalidShare(
            int((bad_year == year).sum() + bad_year.isna().sum()), int(scored_year.sum())
        ),
        "history": InvalidShare(
            int(bad_year.between(year - HISTORY_YEARS, year - 1).sum()), int((~scored_year).sum())
        ),
    }


def score_partition(
    checked: ValidationResult,
    year: int,
    models: RelapseModel | Models,
    model_version: str,
    run_id: str,
    worklist_share: float = 0.10,
    versions: Mapping[str, str] | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
    facts: pd.DataFrame | None = None,
    band: float | None = None,
    raw_scores: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Every household of `year` in a checked window: scored rows, then one 「数据待核实」 row per
    household whose row for `year` is invalid, placed in their villages. `facts`, `band` and
    `raw_scores` as for `score_records` (without `facts`, the window's own rows of `year` give
    them, except the year monitoring began, which needs the households' whole history)."""
    on_stage("features")
    records = build_features(checked.valid)
    records = with_measure_facts(records[records["year"] == year], checked.valid)
    if facts is None:
        facts = household_facts(checked.valid, year).drop(columns="identified_year")
    on_stage("score and explain")
    rows = score_records(
        records, models, model_version, run_id, worklist_share, versions, facts, band, raw_scores
    )
    checked_rows = with_data_checks(rows, checked, year, model_version, run_id)
    if len(checked_rows) == len(rows):  # no household added: the places are those just made
        return checked_rows
    return place_in_villages(checked_rows, worklist_share, band)


def score_records(
    records: pd.DataFrame,
    models: RelapseModel | Models,
    model_version: str,
    run_id: str,
    worklist_share: float = 0.10,
    versions: Mapping[str, str] | None = None,
    facts: pd.DataFrame | None = None,
    band: float | None = None,
    raw_scores: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Status, criteria met, the population's probability and tier, village ranks, rule flags,
    worklist membership and why, reasons, and the 台账's facts for records. `versions` gives each
    label's model version (default: `model_version` for the main model); `facts`
    (worklist.household_facts, by hh_id) the panel facts the records lack; `band` the
    early-warning income band (a multiple of the line; None: off). `raw_scores`, when given,
    receives each model's raw scores of the records it explained, by hh_id
    (Assessment.raw_scores), for the batch's quick monitor."""
    with gc_paused():
        return _score_records(
            records.reset_index(drop=True),
            as_models(models),
            model_version,
            run_id,
            worklist_share,
            dict(versions or {MAIN_LABEL: model_version}),
            facts,
            band,
            raw_scores,
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
    red_screen: np.ndarray | None = None
    """Households meeting the criteria whose main-model probability (not shown: they are to be
    verified, not predicted) is in the red tier: the model would have listed them too."""
    probability_low: np.ndarray | None = None
    probability_high: np.ndarray | None = None
    """The probability's 90% interval (riskmodel.interval); NaN where there is none."""
    unusual: np.ndarray | None = None
    """Records unlike the training data of the model that explains them (riskmodel.support)."""
    unusual_zh: list[list[str]] | None = None
    unusual_en: list[list[str]] | None = None
    """Why each record is unusual (empty lists for the others)."""
    raw_scores: dict[str, np.ndarray] | None = None
    """Per label, each record's raw score as that model's `raw_score` gives it (NaN for the
    records it did not explain; no label where it would ask LightGBM): the batch's quick
    monitor reuses them instead of walking the trees again."""


def _among(values: np.ndarray, options: list[str]) -> np.ndarray:
    """`np.isin` for a few options (isin sorts: it cost more than the comparisons on the API's
    small batches)."""
    out = np.zeros(len(values), bool)
    for option in options:
        out |= values == option
    return out


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
    red_screen = np.zeros(n, bool)
    low, high = np.full(n, np.nan), np.full(n, np.nan)
    unusual = np.zeros(n, bool)
    unusual_zh: list[list[str]] = [[] for _ in range(n)]
    unusual_en: list[list[str]] = [[] for _ in range(n)]
    raw_scores: dict[str, np.ndarray] = {}
    for by, model in models.items():
        states = [state for state, b in EXPLAINED_BY.items() if b == by]
        explained = np.flatnonzero(_among(st, states))
        if not len(explained):
            continue
        # one explanation call per model (each call has a fixed cost a single record feels)
        contrib[explained], variance, walked = model.explained(X[explained])
        if walked is not None:
            raw_scores[by] = np.full(n, np.nan)
            raw_scores[by][explained] = walked
        raw = contrib[explained].sum(axis=1)
        p = model.calibrate(raw)
        served = _among(st[explained], [s for s, b in SERVED_BY.items() if b == by])
        red_screen[explained[~served]] = p[~served] >= model.meta.tiers.red
        rows, p, raw, variance = explained[served], p[served], raw[served], variance[served]
        if not len(rows):
            continue
        tiers = model.meta.tiers.assign(p)
        prob[rows], tier[rows], label[rows] = p, tiers, by
        low[rows], high[rows] = model.bounds(raw, variance, p, tiers)
        flag, zh, en = model.unusual(X[rows])  # only where a probability is shown
        unusual[rows] = flag
        for k in np.flatnonzero(flag):
            unusual_zh[rows[k]], unusual_en[rows[k]] = zh[k], en[k]
    blocked = protective_blocked(met, first.features, stated_fields)
    return Assessment(
        st,
        label,
        prob,
        tier,
        met,
        rule_flags(records),
        explain(records, contrib, first.features, blocked=blocked, values=X),
        red_screen,
        low,
        high,
        unusual,
        unusual_zh,
        unusual_en,
        raw_scores,
    )


def _score_records(
    records: pd.DataFrame,
    models: dict[str, RelapseModel],
    model_version: str,
    run_id: str,
    worklist_share: float,
    versions: dict[str, str],
    facts: pd.DataFrame | None,
    band: float | None,
    raw_scores: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    a = assess(records, models)
    if raw_scores is not None:
        ids = records["hh_id"].astype(str).to_numpy()
        for by, raw in (a.raw_scores or {}).items():
            known = ~np.isnan(raw)
            raw_scores[by] = pd.Series(raw[known], index=ids[known])
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
            "probability_low": a.probability_low,
            "probability_high": a.probability_high,
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
    out["warning_source"] = np.where(a.red_screen, "criteria+model", "")
    out["unusual"] = a.unusual
    out["unusual_zh"] = ["；".join(r) for r in a.unusual_zh]
    out["unusual_en"] = ["; ".join(r) for r in a.unusual_en]
    out = pd.concat([out, _facts(records, facts)], axis=1)
    return place_in_villages(out, worklist_share, band)


def _facts(records: pd.DataFrame, facts: pd.DataFrame | None) -> pd.DataFrame:
    """The 台账's facts per record: from `facts` (by hh_id), else what the records themselves say
    (type, size, income, and the line recovered from income relative to it), else missing."""
    ids = records["hh_id"].astype(str).to_numpy()
    own = pd.DataFrame(index=ids, columns=FACTS, dtype=object)
    for name in ("household_type", "hh_size", "net_income_pc"):
        if name in records:
            own[name] = records[name].astype(object).to_numpy()
    if {"net_income_pc", "income_to_line"} <= set(records.columns):
        with np.errstate(invalid="ignore", divide="ignore"):
            line = records["net_income_pc"].to_numpy(float) / records["income_to_line"].to_numpy(
                float
            )
        own["monitor_line"] = np.where(np.isfinite(line), np.round(line, 2), np.nan)
    if facts is not None:
        given = facts.reindex(index=ids, columns=FACTS)
        own = given.where(given.notna(), own)
    out = own.reset_index(drop=True)
    for name in ("net_income_pc", "monitor_line"):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    for name in ("hh_size", "identified_year"):
        out[name] = pd.to_numeric(out[name], errors="coerce").round().astype("Int64")
    for name in ("household_type", "monitor_category", "recorded_risk_type", "head_name"):
        out[name] = out[name].map(lambda v: None if v is None or v != v else str(v))
    return out


DATA_CHECK_ZH, DATA_CHECK_EN = "数据待核实", "data to be verified"


def with_data_checks(
    rows: pd.DataFrame,
    checked: ValidationResult,
    year: int,
    model_version: str,
    run_id: str,
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
    if now_bad.empty:  # (isin converts every scored id first: a tenth of a second a county)
        return rows
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
            "probability_low": np.nan,
            "probability_high": np.nan,
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
            "warning_source": "data_check",
            "unusual": False,
            "unusual_zh": "",
            "unusual_en": "",
            **dict.fromkeys(FACTS),
        }
    )
    return pd.concat([rows, check[rows.columns]], ignore_index=True)
