"""Validation of a household-year panel against the catalogue: typed, checked, nothing lost.

`validate_panel` splits a frame into valid rows and quarantined rows, each quarantined row with the
reasons (column, rule, value). A cell that does not parse is a failure like any other, never a crash.
Rows are numbered as a spreadsheet shows the file: the header is row 1, the first data row row 2. Rules come from the catalogue: a generated pandera schema states them
and NumPy runs the same checks (pandera's own run cost a second on a county's three years),
plus the rules a schema cannot state per column: duplicate keys and cross-column consistency.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskmodel.catalogue import KEY, PANEL_COLUMNS, PERSONAL_COLUMNS, REQUIRED_FIELDS, Column
from riskmodel.privacy import mask_names

if TYPE_CHECKING:
    import pandera.pandas as pa

log = logging.getLogger(__name__)

_NUMPY_DTYPE = {"int": "int32", "float": "float64", "bool": "bool"}


class PanelError(ValueError):
    """The panel cannot be used at all (for example a required column is missing)."""


def _pandas_dtype(col: Column) -> object:
    if col.dtype == "category":
        return pd.CategoricalDtype(col.levels)
    if col.dtype == "string":
        return "str"
    if col.dtype == "int" and col.nullable:
        return "Int32"
    return _NUMPY_DTYPE[col.dtype]


def cast_to_catalogue(df: pd.DataFrame, columns: list[Column] | None = None) -> pd.DataFrame:
    """Cast trusted data (already valid) to the catalogue dtypes, in catalogue order."""
    cols = columns or PANEL_COLUMNS
    return pd.DataFrame({c.name: df[c.name].astype(_pandas_dtype(c)) for c in cols})


def panel_schema(columns: list[Column] | None = None) -> pa.DataFrameSchema:
    """The pandera schema of the panel, generated from the catalogue (validation runs the same
    checks with NumPy, `_schema_failures`; tests hold the two to the same failures)."""
    import pandera.pandas as pa

    schema_cols = {}
    for c in columns or PANEL_COLUMNS:
        checks = []
        if c.min is not None:
            checks.append(pa.Check.ge(c.min, error=f"at least {c.min:g}"))
        if c.max is not None:
            checks.append(pa.Check.le(c.max, error=f"at most {c.max:g}"))
        if c.categories:
            checks.append(pa.Check.isin(c.levels, error=f"one of {', '.join(c.levels)}"))
        if c.dtype == "float":
            checks.append(
                pa.Check(
                    lambda s: np.isfinite(s),
                    element_wise=False,
                    ignore_na=True,
                    error="finite number",
                )
            )
        if c.dtype == "string":
            checks.append(pa.Check.str_length(min_value=1, error="not empty"))
        schema_cols[c.name] = pa.Column(None, checks=checks, nullable=c.nullable)
    return pa.DataFrameSchema(schema_cols, strict=False)


FIRST_DATA_ROW = 2
"""The spreadsheet row of the first data row (the header is row 1)."""


def show_value(value: object) -> str:
    """A cell as a person reads it: plain numbers and text, `(missing)` for NaN and None."""
    if (
        value is None
        or value is pd.NA
        or (isinstance(value, float | np.floating) and np.isnan(value))
    ):
        return "(missing)"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class ValidationResult:
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    """The rejected rows as they came in, with `row` (spreadsheet row) and `reasons` columns."""
    errors: pd.DataFrame
    """One row per failure: row (spreadsheet row in the source), hh_id, year, column, rule,
    value (as read)."""
    source: str = ""
    """The file the rows came from, when known."""

    @property
    def ok(self) -> bool:
        return self.errors.empty

    def report(self, limit: int = 20) -> str:
        """A readable report: counts, then the first failures with row key, column, rule, value."""
        where = f"{self.source}: " if self.source else ""
        if self.ok:
            return f"{where}valid: {len(self.valid):,} rows"
        n_bad = len(self.quarantined)
        lines = [
            f"{where}invalid: {n_bad:,} of {n_bad + len(self.valid):,} rows "
            f"({len(self.errors):,} failures)"
        ]
        by_rule = self.errors.groupby(["column", "rule"]).size().sort_values(ascending=False)
        lines += [f"  {col}: {rule} - {n:,} rows" for (col, rule), n in by_rule.items()]
        lines.append(
            "first failures (row as a spreadsheet shows it, hh_id, year, column, rule, value):"
        )
        for r in self.errors.head(limit).itertuples(index=False):
            lines.append(
                f"  {where}row {r.row}: hh_id={r.hh_id} year={r.year} {r.column}: "
                f"{r.rule} (got {show_value(r.value)})"
            )
        if len(self.errors) > limit:
            lines.append(f"  ... and {len(self.errors) - limit:,} more")
        return "\n".join(lines)


def validate_panel(
    df: pd.DataFrame,
    columns: list[Column] | None = None,
    source: str | Path = "",
    file_rows: Sequence[int] | None = None,
) -> ValidationResult:
    """Check a panel row by row; valid rows come back typed, invalid rows with their reasons.
    Without `columns`, the catalogue columns the panel has are checked: only REQUIRED_FIELDS
    must be there (an imported panel may lack the rest).

    `source` names the file in reports; `file_rows` gives each row's spreadsheet row in it (default:
    the frame is the whole file, so position + 2).
    """
    if columns is None:
        missing = [name for name in REQUIRED_FIELDS if name not in df.columns]
        cols = [c for c in PANEL_COLUMNS if c.name in df.columns]
    else:
        cols = columns
        missing = [c.name for c in cols if c.name not in df.columns]
    where = f"{source}: " if source else ""
    if missing:
        raise PanelError(f"{where}missing required columns: {', '.join(missing)}")
    sheet_rows = (
        np.arange(len(df)) + FIRST_DATA_ROW if file_rows is None else np.asarray(file_rows, int)
    )
    extra = [c for c in df.columns if c not in {c.name for c in cols}]
    if extra:
        log.warning("ignoring %d columns not in the catalogue: %s", len(extra), ", ".join(extra))
    raw = df.reset_index(drop=True)
    coerced, errors = _coerce(raw, cols)
    errors += _schema_failures(coerced, cols)
    errors += _duplicate_keys(coerced)
    errors += _consistency(coerced)
    err = pd.DataFrame(errors, columns=["row", "column", "rule", "value"])
    err["row"] = err["row"].astype(int)
    err = err.sort_values(["row", "column"], kind="stable").drop_duplicates(
        ["row", "column", "rule"]
    )
    keys = raw.loc[err["row"], ["hh_id", "year"]].reset_index(drop=True)
    for pos, key in enumerate(["hh_id", "year"], start=1):
        shown = keys[key].astype(object).where(keys[key].notna(), "(missing)").astype(str)
        err.insert(pos, key, shown.to_numpy())
    bad = np.zeros(len(raw), bool)
    bad[err["row"].to_numpy()] = True
    reasons = (
        err.assign(text=err["column"] + ": " + err["rule"]).groupby("row")["text"].agg("; ".join)
    )
    quarantined = _as_text_where_mixed(raw[bad])
    for name in PERSONAL_COLUMNS:  # quarantine files and reports never hold a full name
        if name in quarantined:
            quarantined[name] = mask_names(quarantined[name].to_numpy())
    quarantined.insert(0, "row", sheet_rows[bad])
    quarantined["reasons"] = reasons.reindex(np.flatnonzero(bad)).to_numpy()
    err["row"] = sheet_rows[err["row"].to_numpy()]
    err["value"] = err["value"].map(_plain).astype(object)
    err.loc[err["column"].isin(PERSONAL_COLUMNS), "value"] = "(personal)"
    valid = cast_to_catalogue(coerced[~bad], cols).reset_index(drop=True)
    return ValidationResult(
        valid=valid,
        quarantined=quarantined.reset_index(drop=True),
        errors=err.reset_index(drop=True),
        source=str(source),
    )


def _as_text_where_mixed(df: pd.DataFrame) -> pd.DataFrame:
    """Rows as they came in; an object column holding several types (a number column with a word
    in it) becomes text, so Parquet and CSV can hold it."""
    out = df.copy()
    for name in out.columns:
        s = out[name]
        if s.dtype == object and s.dropna().map(type).nunique() > 1:
            out[name] = s.map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    return out


def _plain(value: object) -> object:
    """NumPy scalars as plain Python values, so reports and files never show `np.float64(...)`."""
    return value.item() if isinstance(value, np.generic) else value


def _coerce(raw: pd.DataFrame, cols: list[Column]) -> tuple[pd.DataFrame, list[tuple]]:
    """Parse each column to its kind; a value that does not parse is a 'wrong type' failure."""
    out, errors = {}, []
    for c in cols:
        s = raw[c.name]
        # text columns (object or pandas' string dtype) parse cell by cell: "" is no numeric kind
        kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else "text"
        if c.dtype in ("int", "float"):
            if kind in ("i", "u", "f"):
                parsed = s.astype("float64")
            else:
                parsed = pd.to_numeric(s, errors="coerce").astype("float64")
            if c.dtype == "int":
                frac = parsed.notna() & np.isfinite(parsed) & (parsed % 1 != 0)
                errors += [(i, c.name, "whole number", s.iloc[i]) for i in np.flatnonzero(frac)]
        elif c.dtype == "bool":
            parsed = s if kind == "b" else s.astype(object).map(_parse_bool)  # typed: as it is
        elif isinstance(s.dtype, pd.CategoricalDtype):  # each category parsed once, not each cell
            text = np.asarray(s.cat.categories.astype("str").str.strip(), dtype=object)
            parsed = pd.Series(np.append(text, None)[s.cat.codes.to_numpy()], index=s.index)
        else:
            text = s.astype("str").str.strip()
            parsed = text.astype(object).where(s.notna(), None)
        wrong = s.notna() & pd.isna(parsed)
        errors += [
            (i, c.name, f"wrong type: expected {c.dtype}", s.iloc[i]) for i in np.flatnonzero(wrong)
        ]
        if not c.nullable:
            errors += [
                (i, c.name, "required: missing or NaN", s.iloc[i]) for i in np.flatnonzero(s.isna())
            ]
        out[c.name] = parsed
    return pd.DataFrame(out), errors


_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}


def _parse_bool(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    text = str(v).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _schema_failures(df: pd.DataFrame, cols: list[Column]) -> list[tuple]:
    """The checks of `panel_schema` (range, levels, finite, not empty; missing values pass, as
    pandera's checks ignore them), run column by column with NumPy: the same failures as the
    pandera schema (tests compare them) at a fraction of its cost."""
    errors: list[tuple] = []
    for c in cols:
        if c.name not in df:
            continue
        s = df[c.name]
        present = s.notna().to_numpy()
        checks: list[tuple[str, np.ndarray]] = []
        if c.min is not None or c.max is not None or c.dtype == "float":
            x = as_float(s)
            with np.errstate(invalid="ignore"):
                if c.min is not None:
                    checks.append((f"at least {c.min:g}", ~(x >= c.min)))
                if c.max is not None:
                    checks.append((f"at most {c.max:g}", ~(x <= c.max)))
        if c.categories:
            checks.append((f"one of {', '.join(c.levels)}", ~s.isin(c.levels).to_numpy()))
        if c.dtype == "float":
            checks.append(("finite number", ~np.isfinite(x)))
        if c.dtype == "string":
            text = s[present].astype(str)
            empty = np.zeros(len(s), bool)
            empty[np.flatnonzero(present)] = (text.str.len() < 1).to_numpy()
            checks.append(("not empty", empty))
        for rule, bad in checks:
            errors += [(i, c.name, rule, s.iloc[i]) for i in np.flatnonzero(bad & present)]
    return errors


def _duplicate_keys(df: pd.DataFrame) -> list[tuple]:
    dup = df.duplicated(KEY, keep=False) & df[KEY].notna().all(axis=1)
    return [
        (i, "hh_id", "duplicate (hh_id, year)", f"{df['hh_id'].iloc[i]}/{df['year'].iloc[i]}")
        for i in np.flatnonzero(dup)
    ]


def as_float(values) -> np.ndarray:
    """A column (Series, list or array) as floats, missing and unparsable values as NaN."""
    if type(values) is np.ndarray and values.dtype == np.float64:
        return values  # what np.asarray returns for it, at half the cost (the API's columns)
    if isinstance(values, np.ndarray | pd.Series) and values.dtype.kind in "fiub":
        return np.asarray(values, dtype=float)
    if isinstance(values, list):  # an API request's column: no Series for None alone
        try:
            return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        except (TypeError, ValueError):
            pass
    if not isinstance(values, pd.Series):
        try:
            return np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            values = pd.Series(values)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _consistency(df) -> list[tuple]:
    """Rules across columns: members cannot exceed the household; income must add up. `df` is a
    DataFrame or a mapping of columns (the API's records, without building a frame)."""
    # one error state for every rule (entering one per rule cost as much as the rules on the
    # API's small batches)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _consistency_rules(df)


def _consistency_rules(df) -> list[tuple]:
    errors: list[tuple] = []
    # an imported panel may lack some columns: their rules do not apply
    col = {name: as_float(df[name]) for name in _CONSISTENCY_COLUMNS if name in df}
    have = col.keys()
    size = col.get("hh_size")
    members = [name for name in _MEMBERS if name in col] if size is not None else []
    if members:  # every member count against the household's size at once, in this order
        over = np.array([col[name] for name in members]) > size
        errors += [
            (i, members[k], "cannot exceed hh_size", col[members[k]][i])
            for k, i in zip(*np.nonzero(over), strict=True)
        ]
    if {"n_severe_disabled", "n_disabled"} <= have:
        bad = col["n_severe_disabled"] > col["n_disabled"]
        errors += [
            (i, "n_severe_disabled", "cannot exceed n_disabled", col["n_severe_disabled"][i])
            for i in np.flatnonzero(bad)
        ]
    if {"n_students_vocational", "n_students_senior", "n_students_tertiary"} <= have:
        bad = col["n_students_vocational"] > col["n_students_senior"] + col["n_students_tertiary"]
        errors += [
            (
                i,
                "n_students_vocational",
                "cannot exceed n_students_senior + n_students_tertiary",
                col["n_students_vocational"][i],
            )
            for i in np.flatnonzero(bad)
        ]
    parts = ["inc_wage", "inc_business", "inc_property", "inc_transfer"]
    if size is None or not set(parts) <= have or "net_income_pc" not in have:
        return errors
    pc = col["net_income_pc"]
    implied = sum(col[p] for p in parts) / np.where(size > 0, size, np.nan)
    bad = np.abs(implied - pc) > np.maximum(1.0, 0.005 * np.abs(pc))
    errors += [
        (i, "net_income_pc", "must equal income components / hh_size", pc[i])
        for i in np.flatnonzero(bad)
    ]
    return errors


_MEMBERS = (
    "n_children_u16",
    "n_elderly_65p",
    "n_labour_full",
    "n_chronic_ill",
    "n_serious_ill",
    "n_disabled",
)
"""Member counts that cannot exceed the household's size."""
_CONSISTENCY_COLUMNS = {
    "hh_size", "n_children_u16", "n_elderly_65p", "n_labour_full", "n_chronic_ill",
    "n_serious_ill", "n_disabled", "n_severe_disabled", "inc_wage", "inc_business",
    "inc_property", "inc_transfer", "net_income_pc", "n_students_vocational", "n_students_senior",
    "n_students_tertiary",
}  # fmt: skip
