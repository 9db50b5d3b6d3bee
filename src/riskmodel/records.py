"""Model input records that come from outside (the API, the MLflow pyfunc): built from a
household's panel facts with the library's own `build_features`, or, when given with their derived
fields already filled in, checked against the facts they carry.

Every failure is (row, field, rule), so callers can answer 422 or raise naming the field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.catalogue import (
    PANEL_COLUMNS,
    RECORD_COLUMNS,
    RECORD_IDS,
    REQUIRED_FIELDS,
    Column,
    feature_inputs,
)
from riskmodel.criteria import zero_if_missing
from riskmodel.features import build_features
from riskmodel.validate import (
    _coerce,
    _consistency,
    _schema_failures,
    as_float,
    cast_to_catalogue,
)

Failure = tuple[int, str, str]
TOLERANCE = 0.011
"""Derived fields may be rounded to two decimals; a larger gap is a disagreement."""


class RecordError(ValueError):
    """Records that cannot be scored; `failures` lists (row, field, rule)."""

    def __init__(self, failures: list[Failure]):
        self.failures = failures
        shown = "; ".join(f"row {r}: {f}: {rule}" for r, f, rule in failures[:20])
        more = f" … and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(f"{len(failures)} invalid value(s): {shown}{more}")


def cross_column_failures(df) -> list[Failure]:
    """The panel's cross-column rules (`validate`): members cannot exceed the household, severe
    disability within disability, income components adding up (where the components are given).
    `df` is a DataFrame or a mapping of columns; absent columns' rules do not fire."""
    return [(int(r), c, rule) for r, c, rule, _ in _consistency(df)]


def _off(given, expected, tol: float = TOLERANCE, rel: float = 0.01) -> np.ndarray:
    """Where a given derived value disagrees with the one the facts imply (NaN must match NaN)."""
    given = np.asarray(given, dtype=float)
    expected = np.asarray(expected, dtype=float)
    both = np.isfinite(given) & np.isfinite(expected)
    gap = np.abs(given - expected) > tol + rel * np.abs(expected)
    return (both & gap) | (np.isfinite(given) != np.isfinite(expected))


def _clip(values: np.ndarray, top: float) -> np.ndarray:
    """`np.clip(values, 0, top)` (NaN stays NaN), without its wrapper's cost on small batches."""
    return np.minimum(np.maximum(values, 0.0), top)


def derived_failures(df) -> list[Failure]:
    """Derived fields of records that disagree with the facts in the same record (formulas of
    `features.build_features`); with `monitor_line`, income relative to the line as well. `df`
    is a DataFrame or a mapping of columns (the API's records, without building a frame)."""
    n = len(df) if isinstance(df, pd.DataFrame) else len(next(iter(df.values())))
    absent = np.full(n, np.nan)  # a column a partial record lacks (its checks are skipped)
    f = {c: as_float(df[c]) if c in df else absent for c in _NUMERIC}
    b = {c: as_float(df[c]) if c in df else absent for c in _BOOL}
    labour = f["n_labour_full"] + f["n_labour_weak"]
    total = f["net_income_pc"] * f["hh_size"]  # = the income components' sum (validate's rule)
    shares = {k: f[k] for k in ("wage_share", "business_share", "transfer_share")}
    known = sum((v > 0.1).astype(int) for v in shares.values())
    # missing spending counts as 0, as in the features and the rigid criterion
    spend = zero_if_missing(f["oop_medical"]) + zero_if_missing(f["edu_spend"])
    spend_pc = spend / np.maximum(f["hh_size"], 1)
    given_line = as_float(df["monitor_line"]) if "monitor_line" in df else absent
    with np.errstate(invalid="ignore", divide="ignore"):
        line = f["net_income_pc"] / f["income_to_line"]  # the line the record implies
        line = np.where(np.isfinite(given_line), given_line, line)
        rigid = np.where(line > 0, f["income_to_line"] - spend_pc / line, np.nan)
    # the transfer share is unclipped (transfers/income) only below 1 and with income of 1 or
    # more; shares rounded to two decimals move a product with the ratio by half a point of it
    plain = (f["transfer_share"] < 1) & (total >= 1)
    rounded = TOLERANCE + 0.005 * np.abs(f["income_to_line"])
    everywhere = np.ones(n, bool)
    # (field, given, what the facts imply, absolute tolerance, where the check applies, rule),
    # compared in one pass (a pass per field was most of the checks' time on the API's batches)
    compared = [
        (
            "labour_total",
            f["labour_total"],
            labour,
            0,
            everywhere,
            "must equal n_labour_full + n_labour_weak",
        ),
        (
            "costly_students",
            f["costly_students"],
            f["n_students_senior"] + f["n_students_tertiary"],
            0,
            everywhere,
            "must equal n_students_senior + n_students_tertiary",
        ),
        (
            "dependency_ratio",
            f["dependency_ratio"],
            _clip((f["n_children_u16"] + f["n_elderly_65p"]) / np.maximum(labour, 0.5), 8),
            TOLERANCE,
            everywhere,
            "must equal (n_children_u16 + n_elderly_65p) / labour_total (at least 0.5), at most 8",
        ),
        (
            "oop_to_income",
            f["oop_to_income"],
            _clip(f["oop_medical"] / np.maximum(total, 1000), 3),
            TOLERANCE,
            everywhere,
            "must equal oop_medical / household income (net_income_pc x hh_size, at least 1,000)",
        ),
        (
            "income_to_line_change",
            f["income_to_line_change"],
            f["income_to_line"] - f["income_to_line_lag1"],
            TOLERANCE,
            everywhere,
            "must equal income_to_line - income_to_line_lag1",
        ),
        (
            "rigid_income_to_line",
            f["rigid_income_to_line"],
            rigid,
            TOLERANCE,
            np.isfinite(rigid),
            "must equal income_to_line - (oop_medical + edu_spend) / hh_size / monitor_line",
        ),
        (
            "rigid_spend_to_line",
            f["rigid_spend_to_line"],
            spend_pc / line,
            TOLERANCE,
            line > 0,
            "must equal (oop_medical + edu_spend) / hh_size / monitor_line",
        ),
        (
            "transfer_to_line",
            f["transfer_to_line"],
            f["income_to_line"] * f["transfer_share"],
            rounded,
            plain,
            "must equal income_to_line x transfer_share",
        ),
        (
            "market_income_to_line",
            f["market_income_to_line"],
            f["income_to_line"] * (1 - f["transfer_share"]),
            rounded,
            plain,
            "must equal income_to_line x (1 - transfer_share)",
        ),
    ]
    if "monitor_line" in df:
        with np.errstate(invalid="ignore", divide="ignore"):
            implied = f["net_income_pc"] / given_line
        compared.append(
            (
                "income_to_line",
                f["income_to_line"],
                implied,
                TOLERANCE,
                np.isfinite(given_line),
                "must equal net_income_pc / monitor_line",
            )
        )
    tolerance = np.empty((len(compared), n))
    for k, c in enumerate(compared):  # a scalar or a row each (np.broadcast_to cost 5 us each)
        tolerance[k] = c[3]
    off = _off(
        np.array([c[1] for c in compared]), np.array([c[2] for c in compared]), tolerance
    ) & np.array([c[4] for c in compared])
    flagged = [
        (
            "n_income_sources",
            (f["n_income_sources"] < known) | (f["n_income_sources"] > known + 1),
            "must count the income shares over 0.1 (wage, business, transfer and property)",
        ),
        (
            "single_earner",
            (b["single_earner"] == 1)
            & ~(
                (f["n_migrant_workers"] + f["n_local_workers"] == 1)
                & (f["wage_share"] > 0.6 - 1e-9)
            ),
            "true only with one worker earning over 60% of the income",
        ),
        (
            "new_severe_disability",
            (b["new_severe_disability"] == 1) & (f["n_severe_disabled"] == 0),
            "cannot be true without a severely disabled member",
        ),
        (
            "rigid_income_to_line_lag1",
            f["rigid_income_to_line_lag1"] > f["income_to_line_lag1"] + TOLERANCE,
            "cannot exceed income_to_line_lag1 (rigid spending is never negative)",
        ),
    ]
    checks = [(c[0], c[5]) for c in compared] + [(c[0], c[2]) for c in flagged]
    bad = np.concatenate([off, np.array([c[1] for c in flagged])])
    return [
        (int(i), checks[k][0], checks[k][1])
        for k, i in zip(*np.nonzero(bad), strict=True)
        if all(c in df for c in _NEEDS.get(checks[k][0], ()))  # a partial record: what it shows
    ]


_NEEDS = {
    "labour_total": ["labour_total", "n_labour_full", "n_labour_weak"],
    "costly_students": ["costly_students", "n_students_senior", "n_students_tertiary"],
    "dependency_ratio": [
        "dependency_ratio",
        "n_children_u16",
        "n_elderly_65p",
        "n_labour_full",
        "n_labour_weak",
    ],
    "oop_to_income": ["oop_to_income", "oop_medical", "net_income_pc", "hh_size"],
    "income_to_line_change": ["income_to_line_change", "income_to_line", "income_to_line_lag1"],
    "n_income_sources": ["n_income_sources", "wage_share", "business_share", "transfer_share"],
    "single_earner": ["single_earner", "n_migrant_workers", "n_local_workers", "wage_share"],
    "new_severe_disability": ["new_severe_disability", "n_severe_disabled"],
    "income_to_line": ["income_to_line", "net_income_pc", "monitor_line"],
    "rigid_income_to_line": [
        "rigid_income_to_line",
        "income_to_line",
        "net_income_pc",
        "hh_size",
        "oop_medical",
        "edu_spend",
    ],
    "rigid_income_to_line_lag1": ["rigid_income_to_line_lag1", "income_to_line_lag1"],
    "rigid_spend_to_line": [
        "rigid_spend_to_line",
        "income_to_line",
        "net_income_pc",
        "hh_size",
        "oop_medical",
        "edu_spend",
    ],
    "transfer_to_line": [
        "transfer_to_line",
        "income_to_line",
        "transfer_share",
        "net_income_pc",
        "hh_size",
    ],
    "market_income_to_line": [
        "market_income_to_line",
        "income_to_line",
        "transfer_share",
        "net_income_pc",
        "hh_size",
    ],
}
"""The columns each derived-field check reads."""


_NUMERIC = [
    "n_labour_full",
    "n_labour_weak",
    "labour_total",
    "hh_size",
    "net_income_pc",
    "costly_students",
    "n_students_senior",
    "n_students_tertiary",
    "dependency_ratio",
    "n_children_u16",
    "n_elderly_65p",
    "oop_to_income",
    "oop_medical",
    "income_to_line",
    "income_to_line_lag1",
    "income_to_line_change",
    "wage_share",
    "business_share",
    "transfer_share",
    "n_income_sources",
    "n_migrant_workers",
    "n_local_workers",
    "n_severe_disabled",
    "edu_spend",
    "rigid_income_to_line",
    "rigid_income_to_line_lag1",
    "market_income_to_line",
    "rigid_spend_to_line",
    "transfer_to_line",
]
_BOOL = ["single_earner", "new_severe_disability"]


NEEDED = "missing: the model reads this field"


def record_columns(features: list[str] | None = None) -> list[Column]:
    """The record's identifiers and the model's features (all of them when not given)."""
    if features is None:
        return list(RECORD_COLUMNS)
    keep = set(RECORD_IDS) | set(features)
    return [c for c in RECORD_COLUMNS if c.name in keep]


def records_from_facts(
    rows: pd.DataFrame, year: int | None = None, features: list[str] | None = None
) -> pd.DataFrame:
    """Model input records for `year` (default: each household's latest) from panel rows of that
    year and optionally up to two years before, with the library's `build_features`.

    Without `features`, the catalogue columns the rows carry are read (the required fields must be
    there); with a model's `features`, exactly the facts they are built from (`feature_inputs`):
    other columns are ignored, and a value they need that cannot be null, absent, is a failure.
    Rows are checked against the catalogue and the cross-column rules first (RecordError)."""
    raw = rows.reset_index(drop=True)
    reads = (
        set(REQUIRED_FIELDS) | set(raw.columns) if features is None else feature_inputs(features)
    )
    panel_cols = [c for c in PANEL_COLUMNS if c.role != "personal" and c.name in reads]
    raw = raw.reindex(columns=[c.name for c in panel_cols])
    coerced, errors = _coerce(raw, panel_cols)  # a value that cannot be null, absent: a failure
    errors += _schema_failures(coerced, panel_cols)
    failures = sorted({(int(r), c, rule) for r, c, rule, _ in errors})
    if not failures:
        failures = cross_column_failures(coerced)
    if failures:
        raise RecordError(failures)
    panel = cast_to_catalogue(coerced, panel_cols)
    records = build_features(panel)
    latest = panel.groupby("hh_id")["year"].transform("max") if year is None else year
    return records[records["year"] == latest].reset_index(drop=True)


def check_records(records: pd.DataFrame, features: list[str] | None = None) -> pd.DataFrame:
    """Records as they come (the API's JSON, `to_wire` output or `build_features` output with
    category dtypes, integral floats for integers): typed to the catalogue, or RecordError naming
    unknown categories, missing required values and derived fields that disagree. With
    `features` (a model trained on partial data), only the identifiers and those are needed."""
    columns = record_columns(features)
    missing = [c.name for c in columns if c.name not in records]
    if missing:
        raise RecordError([(0, name, "required: missing column") for name in missing])
    raw = records.reset_index(drop=True)
    cols = [c.name for c in columns] + (["monitor_line"] if "monitor_line" in raw else [])
    raw = raw[cols]
    for c in columns:  # categoricals as plain values, so unknown levels surface as such
        if isinstance(raw[c.name].dtype, pd.CategoricalDtype):
            raw[c.name] = raw[c.name].astype(object)
    coerced, errors = _coerce(raw, columns)
    errors += _schema_failures(coerced, columns)
    failures = sorted({(int(r), c, rule) for r, c, rule, _ in errors})
    if not failures:
        if "monitor_line" in raw:
            coerced["monitor_line"] = raw["monitor_line"]
        failures = cross_column_failures(coerced) + derived_failures(coerced)
    if failures:
        raise RecordError(sorted(failures))
    return cast_to_catalogue(coerced, columns)


_NUMBERS = frozenset(
    c.name for c in [*PANEL_COLUMNS, *RECORD_COLUMNS] if c.dtype in ("int", "float", "bool")
)


def as_arrays(columns: dict[str, list]) -> dict[str, object]:
    """Records given column-wise as lists (the API's requests), with their number and flag
    columns as float arrays (None as NaN) once per batch: the checks, the criteria, the matrix
    and the reasons each read them as numbers (a batch of 8 records: 227 against 182 us a
    record with the lists converted once)."""
    numbers = [name for name in columns if name in _NUMBERS]
    try:  # one conversion for every number column (a call per column was a tenth of a batch)
        rows = np.array([columns[name] for name in numbers], dtype=float)
    except (TypeError, ValueError):  # columns of unequal length or values numpy will not take
        rows = [np.array(columns[name], dtype=float) for name in numbers]
    out = dict(columns)
    out.update(zip(numbers, rows, strict=True))
    return out
