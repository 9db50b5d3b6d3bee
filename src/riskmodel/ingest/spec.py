"""Any household-year table (Parquet, CSV, xlsx) plus a YAML dataset spec -> the panel.

The spec names, per catalogue field, its source column (with a value map for categories and
yes/no fields, and a scale for units) or a constant. It is validated by pydantic with unknown keys
refused, and every field name is checked against the catalogue. Example (README, "Importing"):

    table: households.csv        # relative to the spec; else the SOURCE argument
    header_row: 1
    line_table: guangxi          # monitor_line from the province's yearly line when not given
    fields:
      hh_id: {column: household}
      year: {column: survey_year}
      township_id: {column: town}
      village_id: {column: village}
      net_income_pc: {column: income_per_person, scale: 1}
      dibao: {column: low_income_support, values: {Y: true, N: false}}
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from riskmodel.catalogue import PANEL, REQUIRED_FIELDS
from riskmodel.ingest import quality
from riskmodel.ingest.national import parse_numbers
from riskmodel.ingest.report import ImportReport, SheetSummary, cite
from riskmodel.ingest.tables import normalise, normalise_series, utf8_bytes
from riskmodel.simulate.calibration import monitor_line

Scalar = str | int | float | bool


class FieldSpec(BaseModel):
    """Where one catalogue field comes from: a column of the table, or a constant."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    constant: Scalar | None = None
    values: dict[str, Scalar] | None = None
    """source value -> catalogue value (category code, true/false); others are reported"""
    scale: float = 1.0
    """numbers are multiplied by it (for example 10000 for 万元 to yuan)"""
    unit: str | None = None
    """the source's unit, for the reader (documentation only)"""

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of column or constant")
        return self


class DatasetSpec(BaseModel):
    """A household-year table described for import."""

    model_config = ConfigDict(extra="forbid")

    table: str | None = None
    sheet: str | None = None
    header_row: int = 1
    line_table: Literal["guangxi"] | None = None
    fields: dict[str, FieldSpec]

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        unknown = [f for f in fields if f not in PANEL]
        if unknown:
            raise ValueError(f"not catalogue fields: {', '.join(unknown)}")
        for name, spec in fields.items():
            col = PANEL[name]
            if spec.values and col.dtype == "category":
                bad = [v for v in spec.values.values() if str(v) not in col.categories]
                if bad:
                    raise ValueError(
                        f"{name}: values map to {bad}, not among {', '.join(col.levels)}"
                    )
        return fields

    @model_validator(mode="after")
    def _required(self) -> DatasetSpec:
        need = [f for f in REQUIRED_FIELDS if f not in self.fields]
        if "monitor_line" in need and self.line_table:
            need.remove("monitor_line")
        if need:
            raise ValueError(
                f"required fields missing: {', '.join(need)} (monitor_line may come from "
                "line_table: guangxi)"
            )
        return self


def load_spec(path: Path) -> DatasetSpec:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such spec: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    spec = DatasetSpec.model_validate(data)
    if spec.table and not Path(spec.table).is_absolute():
        spec.table = str(path.parent / spec.table)
    return spec


def read_table(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """The table as text (Parquet values too), with `_row`, the row number a user would see."""
    suffix = path.suffix.lower()
    skip = spec.header_row - 1
    if suffix == ".parquet":
        df = pd.read_parquet(path)
        df = df.astype(object).where(df.notna(), "").astype(str)
        first = 1
    elif suffix == ".csv":
        text = io.BytesIO(utf8_bytes(path.read_bytes()))  # UTF-8 (with or without BOM) or GB18030
        df = pd.read_csv(text, dtype=str, skiprows=skip, keep_default_na=False)
        first = spec.header_row + 1
    elif suffix in (".xlsx", ".xlsm"):
        df = pd.read_excel(path, sheet_name=spec.sheet or 0, header=skip, dtype=str)
        df = df.fillna("")
        first = spec.header_row + 1
    else:
        raise ValueError(f"{path}: expected a .parquet, .csv or .xlsx table")
    df.columns = [str(c).strip() for c in df.columns]
    df["_row"] = np.arange(first, first + len(df))
    return df


def import_spec(
    source: Path, spec: DatasetSpec, years: tuple[int, int] | None = None
) -> tuple[pd.DataFrame, ImportReport]:
    path = Path(spec.table) if spec.table else Path(source)
    if path.is_dir():
        raise ValueError(f"{path}: --format spec reads one table file, not a folder")
    if not path.exists():
        raise FileNotFoundError(f"no such table: {path}")
    report = ImportReport(source=str(path), format="spec")
    raw = read_table(path, spec)
    raw["_file"], raw["_sheet"] = path.name, spec.sheet or ""
    used = {f.column for f in spec.fields.values() if f.column}
    missing = sorted(used - set(raw.columns))
    if missing:
        raise ValueError(
            f"{path.name}: the spec names columns the table lacks: {', '.join(missing)}"
        )
    summary = SheetSummary(
        file=path.name,
        sheet=spec.sheet or "",
        table="household-year",
        year="column",
        header_row=spec.header_row if path.suffix.lower() != ".parquet" else 0,
        rows=len(raw),
        blank_rows=0,
        mapped={f.column: name for name, f in spec.fields.items() if f.column},
        unused=[c for c in raw.columns if c not in used and not c.startswith("_")],
    )
    report.sheets.append(summary)
    blank = (
        raw.drop(columns=["_row", "_file", "_sheet"]).apply(lambda s: s.str.strip()) == ""
    ).all(axis=1)
    summary.blank_rows = int(blank.sum())
    raw = raw[~blank]

    out: dict[str, pd.Series] = {}
    bad_any = pd.Series(False, index=raw.index)
    for name, f in spec.fields.items():
        col = PANEL[name]
        if f.constant is not None:
            out[name] = pd.Series([f.constant] * len(raw), index=raw.index, dtype=object)
            continue
        s = raw[f.column].astype(str).str.strip()
        if col.dtype in ("int", "float"):
            vals, bad = parse_numbers(s)
            report.quarantine_rows(raw[bad], f.column, f"not a number ({name})", s[bad])
            bad_any |= bad
            out[name] = vals * f.scale
        elif f.values is not None or col.dtype == "category":
            # without a value map, a category field takes our codes or the catalogue's labels
            given = f.values or {
                **{zh: code for code, zh in col.categories.items()},
                **{code: code for code in col.categories},
            }
            table = {normalise(k): v for k, v in given.items()}
            norm = normalise_series(s)
            mapped = norm.map(table)
            outside = mapped.isna() & (norm != "")
            for value, n in s[outside].value_counts().items():
                rows = raw.loc[s[outside][s[outside] == value].index[:3]]
                for w in cite(rows):
                    report.value_outside(f"{f.column} ({name})", value, w, 0)
                report.out_of_vocabulary[f"{f.column} ({name})"][value] += int(n)
            out[name] = mapped.where(~outside, s).where(norm != "", None)
        else:
            out[name] = s.where(s != "", None)
    panel = pd.DataFrame(out)[~bad_any.to_numpy()].reset_index(drop=True)
    if "monitor_line" not in panel:
        years_col = pd.to_numeric(panel["year"], errors="coerce")
        panel["monitor_line"] = years_col.map(lambda y: monitor_line(int(y)) if y == y else np.nan)
        report.notes.append("monitor_line from the Guangxi yearly line (line_table: guangxi)")
    year = pd.to_numeric(panel["year"], errors="coerce")
    if years is not None:
        keep = year.between(*years) | year.isna()
        summary.set_aside = int((~keep).sum())
        panel, year = panel[keep].reset_index(drop=True), year[keep].reset_index(drop=True)
    for y, n in panel.groupby(year)["hh_id"].nunique().items():
        report.households_per_year[int(y)] = int(n)
    typed = _typed(panel)
    for y in sorted(report.households_per_year):
        f = quality.Facts(pd.DataFrame({"户编号": []}), {}, {}, {}, typed[year == y], None, y)
        quality.check_year(f, report)
    return panel, report


def _typed(panel: pd.DataFrame) -> pd.DataFrame:
    """Numbers and booleans parsed for the quality rules (validation types the panel itself)."""
    from riskmodel.validate import _parse_bool

    out = panel.copy()
    for name in out.columns:
        col = PANEL[name]
        if col.dtype in ("int", "float"):
            out[name] = pd.to_numeric(out[name], errors="coerce")
        elif col.dtype == "bool":
            out[name] = out[name].map(_parse_bool).astype("boolean")
    return out
