"""A batch's files: the scores' and the caseload's Parquet and the cadres' workbook, written
beside their targets and renamed into place only when the caller's work inside (the store) has
succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from riskmodel.calibrate import caseload_table
from riskmodel.io import atomic_path
from riskmodel.store import SERVICE
from riskmodel.worklist import write_worklist

PREVIEW_FOLDER = "preview"
"""Preview runs write their files here, inside the output folder."""
STORE_ONLY = ["reasons_json", "contributions"]
"""Columns kept in the store but not in the Parquet file (the API reads them from the store)."""


def output_paths(out: Path, year: int, model_version: str, area: str) -> tuple[Path, Path]:
    """The Parquet file and the workbook of a batch."""
    folder = Path(out) / PREVIEW_FOLDER if area != SERVICE else Path(out)
    stem = f"{year}-v{model_version}"
    return folder / f"scores-{stem}.parquet", folder / f"worklist-{stem}.xlsx"


def worklist_title(year: int, model_version: str, area: str) -> str:
    title = f"{year}年防止返贫监测工作清单（模型 v{model_version}）"
    if area != SERVICE:
        title += "（预览，未投入使用）"
    return title


def parquet_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns=STORE_ONLY)


@contextmanager
def staged_outputs(
    rows: pd.DataFrame,
    parquet: Path,
    workbook: Path,
    title: str,
    places: dict[str, str] | None = None,
    visits: dict[str, dict] | None = None,
) -> Iterator[None]:
    """Write the Parquet file and the workbook (township and village names from `places`) to
    temporary files, run the caller's block, then rename both into place; if anything raises,
    the previous files stay whole."""
    with (
        atomic_path(parquet) as tmp_parquet,
        atomic_path(caseload_path(parquet)) as tmp_caseload,
        atomic_path(workbook) as tmp_book,
    ):
        parquet_rows(rows).to_parquet(tmp_parquet, index=False)
        caseload = caseload_table(rows)
        caseload.to_parquet(tmp_caseload, index=False)
        write_worklist(rows, tmp_book, title, places, visits, caseload)
        yield


def caseload_path(parquet: Path) -> Path:
    """The batch's expected caseload per township and village, beside its scores."""
    return Path(parquet).with_name(Path(parquet).name.replace("scores-", "caseload-", 1))
