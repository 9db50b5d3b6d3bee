"""The national system's own data-quality rules that matter for the model, run on each imported
year and counted in IMPORT.md. They never drop a row: they say where the export contradicts itself
(research/national-export.md section 4; rule ids are G1's, ours where G1 has none)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.ingest.report import ImportReport
from riskmodel.ingest.tables import normalise_series


@dataclass
class Facts:
    """One year of one import: person rows, their parsed codes and numbers, the household rows."""

    p: pd.DataFrame
    codes: dict[str, pd.Series]
    nums: dict[str, pd.Series]
    heads: dict[str, pd.Series]
    """household-level codes from each household's 户主 row, indexed by 户编号"""
    hh: pd.DataFrame
    work: pd.DataFrame | None
    year: int

    def has(self, *columns: str) -> bool:
        return all(c in self.hh for c in columns)


def _income_below_unmonitored(f: Facts) -> int:
    if not f.has("household_type", "net_income_pc", "monitor_line", "is_monitored"):
        return -1
    h = f.hh
    return int(
        ((h["household_type"] == "exited") & (h["net_income_pc"] < h["monitor_line"])
         & ~h["is_monitored"].astype(bool)).sum()
    )  # fmt: skip


def _aided_elimination_below_line(f: Facts) -> int:
    if "风险消除方式" not in f.heads or not f.has(
        "net_income_pc", "monitor_line", "risk_eliminated"
    ):
        return -1
    h = f.hh
    aided = (f.heads["风险消除方式"] == "aided").to_numpy()
    return int((aided & h["risk_eliminated"].astype(bool).to_numpy()
                & (h["net_income_pc"] < h["monitor_line"]).to_numpy()).sum())  # fmt: skip


def _monitored_without_risk(f: Facts) -> int:
    if not f.has("is_monitored") or "致贫/返贫风险1" not in f.p:
        return -1
    first = f.p.drop_duplicates("户编号").set_index("户编号")["致贫/返贫风险1"]
    blank = (first.reindex(f.hh["hh_id"]) == "").to_numpy()
    return int((f.hh["is_monitored"].astype(bool).to_numpy() & blank).sum())


def _eliminated_with_open_guarantee(f: Facts) -> int:
    if not f.has("risk_eliminated"):
        return -1
    bad = np.zeros(len(f.hh), bool)
    for col, ok in (("housing_safe", True), ("water_safe", True)):
        if col in f.hh:
            bad |= (f.hh[col].astype("boolean") != ok).fillna(False).to_numpy()
    if "n_dropout" in f.hh:
        bad |= (f.hh["n_dropout"] > 0).to_numpy()
    return int((bad & f.hh["risk_eliminated"].astype(bool).to_numpy()).sum())


def _able_without_income(f: Facts) -> int:
    if not f.has("n_labour_full", "inc_wage", "inc_business"):
        return -1
    h = f.hh
    return int(
        (
            (h["n_labour_full"] > 0) & (h["inc_wage"].fillna(0) + h["inc_business"].fillna(0) <= 0)
        ).sum()
    )


def _assisted_uninsured(f: Facts) -> int:
    support = [
        f.codes[k].isin(["dibao", "tekun"])
        for k in ("享受低保政策情况", "享受特困供养政策情况")
        if k in f.codes
    ]
    insured = [
        f.codes[k] == "yes"
        for k in ("是否参加城乡居民基本医疗保险", "是否参加城镇职工基本医疗保险")
        if k in f.codes
    ]
    if not support or not insured:
        return -1
    return int((np.logical_or.reduce(support) & ~np.logical_or.reduce(insured)).sum())


def _no_labour_not_flagged(f: Facts) -> int:
    need = ("劳动技能", "整户无劳动能力兜底保障户")
    if any(k not in f.codes for k in need) or "享受低保政策情况" not in f.codes:
        return -1
    g = f.p["户编号"].to_numpy()
    able = f.codes["劳动技能"].isin(["full", "weak"]).groupby(g, sort=False).any()
    assisted = f.codes["享受低保政策情况"].eq("dibao").groupby(g, sort=False).any()
    flagged = f.codes["整户无劳动能力兜底保障户"].eq("yes").groupby(g, sort=False).any()
    return int((~able & assisted & ~flagged).sum())


def _age(f: Facts) -> pd.Series | None:
    return f.year - f.nums["出生日期"] if "出生日期" in f.nums else None


def _child_with_labour(f: Facts) -> int:
    age = _age(f)
    if age is None or "劳动技能" not in f.codes:
        return -1
    return int(((age < 16) & f.codes["劳动技能"].isin(["full", "weak"])).sum())


def _school_age(prefixes: tuple[str, ...], lo: int, hi: int) -> Callable[[Facts], int]:
    def rule(f: Facts) -> int:
        age = _age(f)
        if age is None or "在校生状况" not in f.p:
            return -1
        level = normalise_series(f.p["在校生状况"])
        at = level.str.startswith(prefixes)
        return int((at & ((age < lo) | (age > hi))).sum())

    return rule


def _wage_out_of_range(f: Facts) -> int:
    if f.work is None or "务工月收入" not in f.work:
        return -1
    v = pd.to_numeric(normalise_series(f.work["务工月收入"]).astype(str), errors="coerce")
    return int(((v < 100) | (v > 30000)).sum())


def _overlapping_spells(f: Facts) -> int:
    w = f.work
    if w is None or "开始时间" not in w or "证件号码" not in w:
        return -1
    from riskmodel.ingest.national import month_index

    start = month_index(w["开始时间"])
    end = month_index(w.get("结束时间", pd.Series("", index=w.index))).fillna(f.year * 12 + 11)
    person = w["户编号"] + "|" + w["证件号码"] + "|" + w.get("姓名", "")
    d = pd.DataFrame({"p": person, "s": start, "e": end}).dropna(subset=["s"])
    d = d.sort_values(["p", "s"])
    prev_end = d.groupby("p")["e"].shift()
    return int(d.loc[d["s"] <= prev_end, "p"].nunique())


def _id_length(f: Facts) -> int:
    if "证件号码" not in f.p:
        return -1
    n = normalise_series(f.p["证件号码"]).str.len()
    return int((~n.isin([18, 20, 22]) & (n > 0)).sum())


RULES: dict[str, tuple[str, Callable[[Facts], int]]] = {
    "1_02_006": ("脱贫户 below the monitoring line and not monitored (households)", _income_below_unmonitored),
    "4_11_010": ("帮扶消除 with income below the line (households)", _aided_elimination_below_line),
    "1_11_001": ("monitored with 致贫/返贫风险1 blank (households)", _monitored_without_risk),
    "1_11_005-007": ("risk eliminated while 危房, unsafe water or a dropout (households)", _eliminated_with_open_guarantee),
    "5_11_able": ("members able to work (普通/技能) but no wage or business income (households)", _able_without_income),
    "1_02_008": ("低保/特困 member without basic medical insurance (persons)", _assisted_uninsured),
    "5_11_033": ("no member able to work, on 低保, not flagged 整户无劳动能力兜底保障户 (households)", _no_labour_not_flagged),
    "2_01_011": ("under 16 but recorded able to work (persons)", _child_with_labour),
    "5_12_014": ("小学 pupil outside ages 6-14 (persons)", _school_age(("小学",), 6, 14)),
    "5_12_015": ("七-九年级 pupil outside ages 12-17 (persons)", _school_age(("七年级", "八年级", "九年级"), 12, 17)),
    "5_16_001": ("务工月收入 outside 100-30000 yuan (spells)", _wage_out_of_range),
    "5_12_001": ("overlapping 务工 spells of one person (persons)", _overlapping_spells),
    "1_01_002": ("证件号码 not 18, 20 or 22 characters (persons)", _id_length),
}  # fmt: skip


def check_year(f: Facts, report: ImportReport) -> None:
    """Count each rule's findings for the year; rules whose inputs are absent are marked so."""
    for rule, (what, fn) in RULES.items():
        n = fn(f)
        if n < 0:
            if rule not in report.quality:
                report.quality[rule] = (what + " - not checked: inputs absent", 0)
            continue
        report.add_quality(rule, what, n)
