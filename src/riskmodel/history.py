"""The rows of the years before that a household sent to the API without its history takes from
the panel the service was started with (RISKMODEL_PANEL, `riskmodel serve --data`).

Why the panel and not the store: the store keeps each batch's scores and a few facts of the
台账 (income, line, household size), not panel rows; the history features need more than that
(`new_severe_disability` reads last year's `n_severe_disabled`), and a row cut down to the store's
facts would give a household other features than the batch gave it. The panel is the batch's own
input, so a household scored with its history from the panel scores as the batch scored it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.catalogue import PERSONAL_COLUMNS
from riskmodel.score.engine import HISTORY_YEARS

log = logging.getLogger(__name__)


class PanelHistory:
    """The panel's valid rows of its last HISTORY_YEARS + 1 years, by household: the history of a
    household scored for the panel's last year or the year after."""

    def __init__(self, rows: pd.DataFrame):
        self.rows = rows.reset_index(drop=True)
        self.columns = frozenset(self.rows.columns)
        ids = self.rows["hh_id"].astype(str).to_numpy()
        order = np.argsort(ids, kind="stable")
        keys, starts = np.unique(ids[order], return_index=True)
        self._positions = dict(zip(keys, np.split(order, starts[1:]), strict=True))

    @classmethod
    def read(cls, data: Path) -> PanelHistory:
        """The panel at `data` (a folder or a file, as `--data` means elsewhere): the rows of its
        last years that pass validation (an invalid row gives no history, as in the batch)."""
        from riskmodel.io import panel_file, read_panel
        from riskmodel.validate import validate_panel

        path = panel_file(data)
        panel = read_panel(path)
        panel = panel.drop(columns=[c for c in PERSONAL_COLUMNS if c in panel])
        years = pd.to_numeric(panel["year"], errors="coerce")
        window = panel[years >= years.max() - HISTORY_YEARS]
        checked = validate_panel(window, source=path)
        log.info(
            "history from %s: %d valid rows of %d-%d (%d invalid left out)",
            path,
            len(checked.valid),
            int(years.max()) - HISTORY_YEARS,
            int(years.max()),
            len(checked.quarantined),
        )
        return cls(checked.valid)

    def before(self, hh_id: str, year: int, columns: Iterable[str]) -> list[dict]:
        """The household's rows of year-1 and year-2 (newest first); none when it has none or
        the panel lacks one of `columns` (the facts the model in service reads)."""
        positions = self._positions.get(hh_id)
        if positions is None or not self.columns.issuperset(columns):
            return []
        rows = self.rows.iloc[positions]
        rows = rows[rows["year"].between(year - HISTORY_YEARS, year - 1)]
        return rows.sort_values("year", ascending=False).to_dict("records")
