"""The monitoring mechanism's 纳入条件, from panel columns: one place for every criterion and status.

A household-year meets the criteria when any of these holds (中农组发〔2021〕7号 and later notices;
../shared/research/national-export.md section 3):
- income:    per-capita net income below the year's monitoring line;
- rigid:     per-capita income after rigid spending (compliant out-of-pocket medical costs and
             education costs) below the line;
- guarantee: a 两不愁三保障 or drinking-water failure (unsafe house, unsafe water, a member
             without basic medical insurance, a child of compulsory-school age out of school);
- hardship:  a sudden severe hardship, recorded as compliant out-of-pocket medical spending over
             the department warning threshold (serious illness or accident).

Each household-year then has one status: `monitored` (under active monitoring), `meets_criteria`
(meets them now but is not monitored: verify and enrol, 应纳尽纳) or `not_monitored`. The same
functions label training data, set the status in the batch and the API, and run on real exports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

CRITERIA: dict[str, tuple[str, str]] = {
    "income": ("人均纯收入低于监测标准", "income per capita below the monitoring line"),
    "rigid": (
        "刚性支出（合规自付医疗、教育）后人均收入低于监测标准",
        "income per capita after rigid medical and education spending below the line",
    ),
    "guarantee": (
        "两不愁三保障或饮水安全未达标",
        "a housing, water, medical-insurance or schooling guarantee fails",
    ),
    "hardship": (
        "突发严重困难（合规自付医疗支出超过预警线）",
        "sudden severe hardship (out-of-pocket medical spending over the warning threshold)",
    ),
}
"""Criterion code -> (Chinese, English), in the order cadres read them."""

STATUSES: dict[str, tuple[str, str]] = {
    "monitored": ("已纳入监测", "monitored"),
    "meets_criteria": (
        "已符合纳入条件，应纳尽纳，请核实",
        "meets the criteria now: verify and enrol",
    ),
    "not_monitored": ("未纳入监测", "not monitored"),
    "data_check": ("数据待核实", "data to be verified"),
}
"""A household whose row for the scored year is invalid gets `data_check` in the batch (no
probability; the rules its data failed) instead of vanishing from the worklist."""
DATA_CHECK = "data_check"

LINE = "monitor_line"
"""Where a record has no `monitor_line` (a model input record), the line is recovered from
`net_income_pc / income_to_line`."""

CRITERIA_INPUTS: dict[str, tuple[str, ...]] = {
    "income": ("net_income_pc", LINE),
    "rigid": ("net_income_pc", LINE, "hh_size", "oop_medical", "edu_spend"),
    "guarantee": ("housing_safe", "water_safe", "all_insured", "n_dropout"),
    "hardship": ("oop_medical",),
}
"""Panel columns each criterion reads; a criterion whose inputs are absent is not evaluated."""

CRITERION_FEATURES: dict[str, tuple[str, ...]] = {
    "income": ("net_income_pc", "income_to_line", "rigid_income_to_line"),
    "rigid": (
        "net_income_pc",
        "income_to_line",
        "rigid_income_to_line",
        "oop_medical",
        "edu_spend",
        "oop_to_income",
    ),
    "guarantee": ("housing_safe", "water_safe", "all_insured", "n_dropout"),
    "hardship": ("oop_medical", "oop_to_income"),
}
"""Model features that state a criterion's value: for a household meeting that criterion they are
never shown as protective (a family below the line is not protected by its income)."""


class CriteriaConfig(BaseModel):
    """Thresholds of the criteria, with their sources (overridable in a training config)."""

    model_config = ConfigDict(extra="forbid")

    hardship_medical_yuan: float = Field(
        20_000,
        gt=0,
        description="annual compliant out-of-pocket medical spending that marks a sudden severe "
        "hardship: the medical-insurance department's warning threshold (domain.md S16)",
    )
    rigid_includes_education: bool = Field(
        True, description="education costs count as rigid spending (Hebei 2023, Linzhou 2023)"
    )


def available_criteria(columns: object) -> list[str]:
    """The criteria whose input columns are all present."""
    have = set(columns)  # type: ignore[arg-type]
    if "income_to_line" in have:
        have.add(LINE)
    return [c for c, needs in CRITERIA_INPUTS.items() if set(needs) <= have]


def _line(records: Mapping) -> np.ndarray:
    """The monitoring line of each record: the column, or income / (income / line).

    A record with zero or negative income is below any line: its recovered line is +inf."""
    if LINE in records:
        return np.asarray(records[LINE], dtype=float)
    income = np.asarray(records["net_income_pc"], dtype=float)
    ratio = np.asarray(records["income_to_line"], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        line = np.where(income > 0, income / ratio, np.inf)
    return np.where(np.isnan(income) | np.isnan(ratio), np.nan, line)


def criteria_met(
    records: Mapping, config: CriteriaConfig | None = None, which: list[str] | None = None
) -> dict[str, np.ndarray]:
    """One boolean array per evaluated criterion, plus `any`, for records (a DataFrame or a
    mapping of columns). Missing values never meet a criterion."""
    cfg = config or CriteriaConfig()
    keys = which if which is not None else available_criteria(records.keys())

    def num(name: str) -> np.ndarray:
        return np.asarray(records[name], dtype=float)

    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore"):
        line = _line(records) if {"income", "rigid"} & set(keys) else None
        if "income" in keys:
            out["income"] = num("net_income_pc") < line
        if "rigid" in keys:
            out["rigid"] = _rigid_income(records, cfg) < line
        if "guarantee" in keys:
            out["guarantee"] = (
                ~_bool(records, "housing_safe", missing=True)
                | ~_bool(records, "water_safe", missing=True)
                | ~_bool(records, "all_insured", missing=True)
                | (zero_if_missing(num("n_dropout")) > 0)
            )
        if "hardship" in keys:
            out["hardship"] = num("oop_medical") > cfg.hardship_medical_yuan
    if out:
        n = len(next(iter(out.values())))
    else:
        n = len(records) if hasattr(records, "columns") else len(next(iter(records.values())))
    out["any"] = np.logical_or.reduce(list(out.values())) if out else np.zeros(n, bool)
    return out


def criteria_margin(
    records: Mapping, config: CriteriaConfig | None = None, which: list[str] | None = None
) -> np.ndarray:
    """How far each record is from meeting the criteria, as a log ratio: the smallest of
    log(income / line), log(income after rigid spending / line) and log(warning threshold /
    out-of-pocket medical spending) over the evaluated criteria; -inf when a guarantee fails or
    income is at or below zero, +inf when no criterion can be read. Negative exactly where
    `criteria_met` says `any` (the training's soft labels read it: riskmodel.labels)."""
    cfg = config or CriteriaConfig()
    keys = which if which is not None else available_criteria(records.keys())
    met = criteria_met(records, cfg, keys)
    n = len(met["any"])

    def log_ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.log(np.maximum(top, 0.0) / bottom)  # income at or below 0: -inf
        return np.where(np.isnan(r), np.inf, r)  # a missing value meets no criterion

    parts = [np.full(n, np.inf)]
    with np.errstate(invalid="ignore"):
        line = _line(records) if {"income", "rigid"} & set(keys) else None
        if "income" in keys:
            parts.append(log_ratio(np.asarray(records["net_income_pc"], dtype=float), line))
        if "rigid" in keys:
            parts.append(log_ratio(_rigid_income(records, cfg), line))
        if "hardship" in keys:
            oop = np.asarray(records["oop_medical"], dtype=float)
            parts.append(log_ratio(np.full(n, cfg.hardship_medical_yuan), oop))
    margin = np.minimum.reduce(parts)
    margin = np.where(met.get("guarantee", np.zeros(n, bool)), -np.inf, margin)
    # a ratio a rounding away from 1 takes its sign from the criteria themselves (a margin just
    # below 0 whose soft label, Phi(-margin / sd), is still above one half)
    return np.where(met["any"], np.minimum(margin, -1e-9), np.maximum(margin, 0.0))


def _rigid_income(records: Mapping, cfg: CriteriaConfig) -> np.ndarray:
    """Per-capita income after rigid spending (the `rigid` criterion's value; missing spending
    counts as 0)."""
    spend = zero_if_missing(np.asarray(records["oop_medical"], dtype=float))
    if cfg.rigid_includes_education:
        spend = spend + zero_if_missing(np.asarray(records["edu_spend"], dtype=float))
    size = np.maximum(np.asarray(records["hh_size"], dtype=float), 1)
    return np.asarray(records["net_income_pc"], dtype=float) - spend / size


def zero_if_missing(values: np.ndarray) -> np.ndarray:
    """Missing values as 0 (`np.nan_to_num` also clips infinities, which compare the same here,
    at several times the cost on small batches)."""
    return np.where(np.isnan(values), 0.0, values)


def _bool(records: Mapping, name: str, missing: bool) -> np.ndarray:
    """A boolean column as a numpy array, with missing values read as `missing`."""
    column = records[name]
    if isinstance(column, list):  # the API's columns: True, False or None
        return np.array([missing if v is None else bool(v) for v in column], dtype=bool)
    if isinstance(column, np.ndarray) and column.dtype.kind in "fb":  # ... or as numbers
        return (
            np.where(np.isnan(column), missing, column != 0) if column.dtype.kind == "f" else column
        )
    import pandas as pd

    v = pd.Series(column).astype("boolean").fillna(missing)
    return v.to_numpy(dtype=bool)


def status(records: Mapping, met_any: np.ndarray) -> np.ndarray:
    """`monitored`, `meets_criteria` or `not_monitored` for every record."""
    monitored = _bool(records, "is_monitored", missing=False)
    return np.where(monitored, "monitored", np.where(met_any, "meets_criteria", "not_monitored"))


def protective_blocked(
    met: dict[str, np.ndarray],
    features: list[str],
    stated: Callable[[str], Iterable[str]] = lambda f: (f,),
) -> np.ndarray:
    """(records, features) True where the feature states a criterion the record meets.

    `stated(feature)` names every value the feature's sentence shows (itself and the other columns
    its template quotes), so a sentence that quotes a criterion's value is blocked too."""
    states = _states(tuple(features), stated)
    blocked = np.zeros((len(met["any"]), len(features)), bool)
    for criterion, columns in states:
        if criterion in met:
            blocked[:, columns] |= met[criterion][:, None]
    return blocked


@cache
def _states(
    features: tuple[str, ...], stated: Callable[[str], Iterable[str]]
) -> list[tuple[str, np.ndarray]]:
    """Per criterion, the features whose sentence states one of its values."""
    out = []
    for criterion, names in CRITERION_FEATURES.items():
        columns = [i for i, f in enumerate(features) if set(stated(f)) & set(names)]
        if columns:
            out.append((criterion, np.array(columns, np.int64)))
    return out


def criteria_codes(met: dict[str, np.ndarray]) -> list[str]:
    """The codes of the criteria each record meets, comma-separated ('' when none)."""
    cols = [(met[k], k) for k in CRITERIA if k in met]
    return [",".join(k for col, k in cols if col[i]) for i in range(len(met["any"]))]


def criteria_texts(met: dict[str, np.ndarray], lang: int = 0) -> list[str]:
    """The criteria each record meets, joined for display ('' when none)."""
    cols = [(met[k], CRITERIA[k][lang]) for k in CRITERIA if k in met]
    n = len(met["any"])
    sep = "；" if lang == 0 else "; "
    return [sep.join(t for col, t in cols if col[i]) for i in range(n)]


def describe(codes: str, lang: int = 0) -> str:
    """Display text for a comma-separated list of criterion codes (as `criteria_codes` gives)."""
    sep = "；" if lang == 0 else "; "
    return sep.join(CRITERIA[c][lang] for c in codes.split(",") if c)
