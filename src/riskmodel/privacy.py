"""Personal names as cadres may see them: masked, one function for the 台账, the card and the API.

The household head's name (panel column `head_name`, catalogue role `personal`) is masked where it
leaves the panel for the scoring rows, so the store, the workbook, the web app and the JSON API
only ever hold the masked form; no log line or report prints either form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def mask_name(name: object) -> str | None:
    """张三明 -> 张*明, 张三 -> 张*, 欧阳小明 -> 欧**明: the first character (the surname, or the
    first of a two-character one), a star per hidden character, the last character. A single
    character becomes *; blank or missing gives None."""
    if name is None or name is pd.NA or (isinstance(name, float) and np.isnan(name)):
        return None
    text = "".join(str(name).split())
    if not text:
        return None
    if len(text) == 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_names(names: pd.Series | np.ndarray | list) -> np.ndarray:
    """`mask_name` of each value (object array; None where blank or missing)."""
    out = np.empty(len(names), dtype=object)
    out[:] = [mask_name(v) for v in names]
    return out
