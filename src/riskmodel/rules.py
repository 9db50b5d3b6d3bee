"""The single-trigger rules that monitoring platforms fire today, reported beside every score.

Two of them restate criteria (a guarantee failing, medical spending over the hardship line); the
income one is an early-warning band above the line (1.1 × the line), not one of the criteria: it
puts households on the worklist only when `score --early-warning-band` is set, as its own warning
source. Who is listed is decided in `ranking.warning_sources`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from riskmodel.criteria import CriteriaConfig

INCOME_MARGIN = 1.1
"""The rule flag's early-warning band: income below 1.1 times the monitoring line."""
MEDICAL_THRESHOLD = CriteriaConfig.model_fields["hardship_medical_yuan"].default
"""Annual compliant out-of-pocket medical spending above this is pushed by medical insurance (S16):
the same warning line as the hardship criterion's default, defined there."""

RULES: dict[str, tuple[str, str]] = {
    "income_below_line": (
        "人均纯收入低于监测标准1.1倍（预警带，非纳入条件）",
        "income per capita below 1.1 x the line (early-warning band, not a criterion)",
    ),
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


def rule_flags(records: Mapping) -> dict[str, np.ndarray]:
    """One boolean array per rule, plus `any_rule`, for records (a DataFrame or column mapping).
    Records of a partial panel may lack a rule's inputs: that part of the rule cannot fire."""
    n = len(np.asarray(records["year"]))

    def col(name: str, fine: object) -> np.ndarray:
        return np.asarray(records[name]) if name in records else np.full(n, fine)

    guarantee = (
        ~col("all_insured", True).astype(bool)
        | ~col("housing_safe", True).astype(bool)
        | ~col("water_safe", True).astype(bool)
        | (col("n_dropout", 0) > 0)
    )
    flags = {
        "income_below_line": col("income_to_line", np.inf).astype(float) < INCOME_MARGIN,
        "guarantee_failure": guarantee,
        "medical_over_20k": col("oop_medical", 0.0).astype(float) > MEDICAL_THRESHOLD,
        "new_severe_disability": col("new_severe_disability", False).astype(bool),
    }
    flags["any_rule"] = np.logical_or.reduce(list(flags.values()))
    return flags
