"""Real data in: a county's export from the national monitoring system (`national`), or any
household-year table described by a dataset spec (`spec`), to `panel.parquet` and `IMPORT.md`.

Read in the order the data flows: `tables` (files, sheets, header rows, cells as text), `national`
or `spec` (headers to catalogue fields, values to codes, persons to households), `quality` (the
national system's data-quality rules, counted), `report` (IMPORT.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskmodel.catalogue import PANEL, PANEL_COLUMNS, REQUIRED_FIELDS
from riskmodel.ingest.report import ImportReport, render
from riskmodel.io import write_csv, write_parquet, write_text

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    panel: pd.DataFrame
    """the valid household-years, typed by the catalogue, only the fields the source has"""
    invalid: pd.DataFrame
    report: ImportReport
    paths: dict[str, Path]


def parse_years(text: str | None) -> tuple[int, int] | None:
    """'2020-2025' or '2023' -> (first, last)."""
    if not text:
        return None
    try:
        lo, _, hi = text.partition("-")
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise ValueError(f"--years must look like 2020-2025 or 2023, not {text!r}") from None
    if last < first:
        raise ValueError(f"--years {text}: the last year is before the first")
    return first, last


def import_source(
    source: Path,
    out: Path,
    fmt: str = "national",
    spec: Path | None = None,
    years: tuple[int, int] | None = None,
) -> ImportResult:
    """Import, validate against the catalogue (only the fields present), write the outputs."""
    from riskmodel.validate import validate_panel

    if fmt == "national":
        from riskmodel.ingest.national import import_national

        panel, report = import_national(Path(source), years)
    elif fmt == "spec":
        from riskmodel.ingest.spec import import_spec, load_spec

        if spec is None:
            raise ValueError("--format spec needs --spec SPEC.yaml")
        panel, report = import_spec(Path(source), load_spec(spec), years)
    else:
        raise ValueError(f"--format must be national or spec, not {fmt!r}")

    missing = [f for f in REQUIRED_FIELDS if f not in panel.columns]
    if missing:
        message = (
            f"required fields missing from the source: {', '.join(missing)} "
            f"({'; '.join(f'{m} <- {PANEL[m].national_field or m}' for m in missing)})"
        )
        report.notes.append(message)
        report.validation = "not validated: " + message
        empty = pd.DataFrame(columns=[f for f in REQUIRED_FIELDS if f in panel.columns])
        paths = write_import(empty, empty, report, Path(out))
        raise ValueError(f"{source}: {message}; see {paths['report']}")
    columns = [c for c in PANEL_COLUMNS if c.name in panel.columns]
    report.fields_present = [c.name for c in columns]
    panel = panel[[c.name for c in columns]]
    result = validate_panel(panel, columns) if len(panel) else None
    valid = result.valid if result else panel
    invalid = result.quarantined if result else panel.iloc[:0]
    report.validation = result.report() if result else "no rows"
    paths = write_import(valid, invalid, report, Path(out))
    if valid.empty:
        raise ValueError(f"{source}: no valid household-years; see {paths['report']}")
    log.info("imported %d household-years (%d invalid)", len(valid), len(invalid))
    return ImportResult(valid, invalid, report, paths)


def write_import(
    valid: pd.DataFrame, invalid: pd.DataFrame, report: ImportReport, out: Path
) -> dict[str, Path]:
    """panel.parquet, IMPORT.md, quarantine.csv (rows set aside at read, by file/sheet/row) and
    invalid.parquet (household-years that fail validation, with reasons); each atomically."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "panel": write_parquet(valid, out / "panel.parquet"),
        "quarantine": write_csv(report.quarantine_frame(), out / "quarantine.csv"),
        "invalid": write_parquet(invalid.astype(str), out / "invalid.parquet"),
    }
    paths["report"] = write_text(render(report), out / "IMPORT.md")
    return paths
