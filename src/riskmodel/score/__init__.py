"""Batch scoring: every household of a year, with reasons, into Parquet, the store and worklists.

`engine` scores one partition (a county or a township) from frames to frames; `local` drives it
in one process; `outputs` writes the files atomically.
"""

from riskmodel.score.engine import (
    DATA_CHECK_EN,
    DATA_CHECK_ZH,
    EXPLAINED_BY,
    HISTORY_YEARS,
    SERVED_BY,
    Assessment,
    InvalidShare,
    Models,
    as_models,
    assess,
    score_partition,
    score_records,
    validate_window,
    with_data_checks,
)
from riskmodel.score.local import BatchError, BatchResult, run_batch, year_ranges
from riskmodel.score.outputs import PREVIEW_FOLDER

__all__ = [
    "DATA_CHECK_EN",
    "DATA_CHECK_ZH",
    "EXPLAINED_BY",
    "HISTORY_YEARS",
    "PREVIEW_FOLDER",
    "SERVED_BY",
    "Assessment",
    "BatchError",
    "BatchResult",
    "InvalidShare",
    "Models",
    "as_models",
    "assess",
    "run_batch",
    "score_partition",
    "score_records",
    "validate_window",
    "with_data_checks",
    "year_ranges",
]
