"""The official single-trigger rules that monitoring platforms fire today.

They are reported beside every model score, and a household with any flag is always on its
village's worklist: policy forbids quotas on who is monitored.
"""

from __future__ import annotations

import pandas as pd

INCOME_MARGIN = 1.1
"""Income below 1.1 times the monitoring line counts as at risk."""
MEDICAL_THRESHOLD = 20_000
"""Annual compliant out-of-pocket medical spending above this is pushed by medical insurance (S16)."""

RULES: dict[str, tuple[str, str]] = {
    "income_below_line": ("人均纯收入低于监测标准1.1倍", "income per capita below 1.1 x the line"),
    "guarantee_failure": (
        "三保障或饮水安全未达标",
        "a three-guarantee or drinking-water check fails",
    ),
    "medical_over_20k": (
        "合规自付医疗支出超过2万元",
        "out-of-pocket medical spending over 20,000 yuan",
    ),
    "new_severe_disability": ("新增重度残疾", "a member newly has a grade 1-2 disability"),
}


def rule_flags(records: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per rule, plus `any_rule`, for each model input record."""
    guarantee = (
        ~records["all_insured"].astype(bool)
        | ~records["housing_safe"].astype(bool)
        | ~records["water_safe"].astype(bool)
        | (records["n_dropout"] > 0)
    )
    flags = pd.DataFrame(
        {
            "income_below_line": records["income_to_line"] < INCOME_MARGIN,
            "guarantee_failure": guarantee,
            "medical_over_20k": records["oop_medical"] > MEDICAL_THRESHOLD,
            "new_severe_disability": records["new_severe_disability"].astype(bool),
        },
        index=records.index,
    )
    flags["any_rule"] = flags.any(axis=1)
    return flags
