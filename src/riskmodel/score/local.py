"""The single-process driver: read a panel, check it, score a year on the engine, write the
Parquet file, the workbook and the store's batch.

All results are computed in memory first. The Parquet file and workbook are written to hidden
temporary files beside their targets (the workbook by a forked process while the store is
written), the store's batch is replaced in one transaction, committed only once the workbook is
written, and only then are the files renamed into place: a failure at any point leaves the
previous outputs whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskmodel.coverage import Change, merge_batch
from riskmodel.criteria import describe
from riskmodel.io import file_digest, panel_file, read_panel, write_parquet
from riskmodel.model import RelapseModel
from riskmodel.score.engine import (
    HISTORY_YEARS,
    InvalidShare,
    Models,
    as_models,
    score_partition,
    validate_window,
)
from riskmodel.score.outputs import output_paths, staged_outputs, worklist_title
from riskmodel.stability import against_previous
from riskmodel.store import SERVICE, batch_households, engine_for, read_batch, replace_batch
from riskmodel.visits import latest_visits
from riskmodel.worklist import household_facts, read_places


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
    invalid_scored: InvalidShare | None = None
    """Invalid rows of the scored year (rows whose year cannot be read count here too)."""
    invalid_history: InvalidShare | None = None
    """Invalid rows of the history years, whose lags would otherwise go missing unnoticed."""
    warnings: list[str] = field(default_factory=list)
    change: Change | None = None
    """What this run added, replaced, kept and dropped in its batch."""
    area: str = SERVICE
    valid: pd.DataFrame | None = None
    """The valid panel rows the batch read (the year and its history), for the quick monitor."""
    stability: tuple[tuple[int, str], dict] | None = None
    """The batch it was compared with, (year, model version), and the comparison
    (riskmodel.stability); None for the first batch."""
    raw_scores: dict[str, pd.Series] = field(default_factory=dict)
    """Each model's raw scores of the households it explained, by hh_id, as its `raw_score`
    gives them (score.engine.Assessment.raw_scores): the quick monitor's, without a second
    walk of the trees."""


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
    early_warning_band: float | None = None,
) -> BatchResult:
    """Score every household's record for `year` (default: latest) with the models in service
    (`model_version` is the main model's; `versions` every label's) and write all outputs.

    The batch of (year, model version) keeps the households earlier runs scored that this one did
    not (unless `replace_all`). `area` is `service` (what the API serves) or `preview` (a model
    other than the one in service: its own store table and `preview/` folder).
    `early_warning_band` (say 1.1) also lists every unmonitored household with income below that
    multiple of the line, as its own warning source (never one of the official criteria)."""
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
    present = sorted({int(y) for y in years.dropna().unique() if float(y).is_integer()})
    Y = scored_year(present, year, source)
    warnings = history_warnings(present, Y, source)
    window = panel[years.between(Y - HISTORY_YEARS, Y) | years.isna()]
    stage("validate")
    checked, shares = validate_window(window, source, Y)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    quarantine = None
    if len(checked.quarantined):
        quarantine = write_parquet(checked.quarantined, out / f"quarantine-{Y}.parquet")
    check_shares(shares, max_invalid_share, quarantine, checked.report(limit=5))
    raw_scores: dict[str, pd.Series] = {}
    rows = score_partition(
        checked,
        Y,
        models,
        model_version,
        run_id,
        worklist_share,
        versions,
        on_stage=stage,
        facts=household_facts(panel, Y),
        band=early_warning_band,
        raw_scores=raw_scores,
    )
    engine = engine_for(db_url)
    rows, change = merge_batch(
        rows,
        batch_households(engine, Y, model_version, area),
        lambda: _stored_rows(engine, Y, model_version, area),
        replace_all,
        worklist_share,
        early_warning_band,
    )
    parquet, workbook = output_paths(out, Y, model_version, area)
    run = {
        "model_alias": model_alias,
        "source": str(source),
        "source_digest": file_digest(source),
        **change.record(),
    }
    stage("write")
    title = worklist_title(Y, model_version, area)
    visited = latest_visits(engine, Y)
    places = read_places(source.parent)
    with staged_outputs(rows, parquet, workbook, title, places, visited) as written:
        stage("store")  # while the workbook is written
        features = next(iter(models.values())).features
        replace_batch(
            engine, rows, Y, model_version, run_id, features,
            before_commit=written, area=area, run=run,
        )  # fmt: skip
    stage("")
    against = against_previous(engine, Y, model_version, area, rows)
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
        checked.valid,
        against,
        raw_scores,
    )


def scored_year(present: list[int], year: int | None, source: Path | str) -> int:
    """The year to score: `year`, or the latest present; refused when absent."""
    if not present:
        raise BatchError(f"{source}: no row has a readable year")
    Y = present[-1] if year is None else year
    if Y not in present:
        raise BatchError(f"no rows for year {Y} in {source}; years present: {year_ranges(present)}")
    return Y


def history_warnings(present: list[int], year: int, source: Path | str) -> list[str]:
    absent = [y for y in range(year - HISTORY_YEARS, year) if y not in present]
    if not absent:
        return []
    return [
        f"history years {', '.join(map(str, absent))} are not in {source}: features of {year} "
        "that look back (lags, changes, trend, volatility) are missing for every household"
    ]


def check_shares(
    shares: dict[str, InvalidShare], limit: float, quarantine: Path | None, report: str
) -> None:
    """Stop the batch, before any score is written, when too many rows are invalid."""
    over = {k: v for k, v in shares.items() if v.share > limit}
    if over:
        raise BatchError(
            "; ".join(f"{k}: {v} invalid" for k, v in over.items())
            + f" > {limit:.0%}; see {quarantine}; no scores written.\n"
            + report
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
