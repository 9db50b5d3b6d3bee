"""A folder of the national monitoring system's export files -> the household-year panel.

Headers are recognised through the catalogue (`NATIONAL_HEADERS`, with their aliases), whatever
their order, row or spelling variant; sheets are classified by their headers (person roster, 务工
spells, village table); values go through the catalogue's vocabularies; person rows are aggregated
to the household-year by the rules of `NATIONAL_MAPPING`, the 务工 spells and the village table
joined on 户编号 / (乡, 村) and year. Names, ID numbers and phone numbers are dropped as soon as the
duplicate checks have used them, except the 户主's 姓名: the panel's `head_name` (personal, shown
masked only).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.catalogue import NATIONAL, NATIONAL_HEADERS, VOCATIONAL_SCHOOLING, NationalHeader
from riskmodel.ingest import quality
from riskmodel.ingest.report import ImportReport, SheetSummary, cite
from riskmodel.ingest.tables import (
    Sheet,
    as_text,
    normalise,
    normalise_series,
    read_sheets,
    source_files,
)
from riskmodel.simulate.calibration import monitor_line

log = logging.getLogger(__name__)

ALIASES: dict[str, str] = {
    normalise(a): h.header for h in NATIONAL_HEADERS for a in (h.header, *h.aliases)
}
WORK_MARKERS = {"开始时间", "是否已务工", "结束时间", "务工月收入"}
PERSON_MARKERS = {"姓名", "证件号码", "与户主关系", "出生日期", "劳动技能", "健康状况"}
PERSONAL = {h.header for h in NATIONAL_HEADERS if h.kind == "personal"}
KEYS = ["县(市、区、旗)", "乡(镇)", "行政村"]
VOCATIONAL_VALUES = {normalise(v) for v in VOCATIONAL_SCHOOLING}


def recognised(row: list[str]) -> int:
    return sum(normalise(c) in ALIASES for c in row if c)


@dataclass
class Table:
    kind: str
    summary: SheetSummary
    frame: pd.DataFrame
    """canonical headers as columns (text), `_file`, `_sheet`, `_row`, `_year`"""


def _stripped_categories(s: pd.Series) -> pd.Series:
    """A text column as a categorical with stripped values (each distinct value stripped once)."""
    cat = s.astype("category")
    stripped = cat.cat.categories.astype(str).str.strip()
    if stripped.is_unique:
        return cat.cat.rename_categories(stripped)
    return pd.Series(np.asarray(stripped)[cat.cat.codes.to_numpy()], index=s.index).astype(
        "category"
    )


def year_from_name(*names: str) -> int | None:
    for name in names:
        m = re.search(r"(20\d{2})(?:[01]\d[0-3]\d)?(?!\d)", normalise(name))
        if m:
            return int(m.group(1))
    return None


def classify(headers: set[str]) -> str:
    if "户编号" in headers and headers & WORK_MARKERS:
        return "work"
    if "户编号" in headers:
        return "roster"
    if "行政村" in headers:
        return "village"
    return "unknown"


def map_sheet(sheet: Sheet, report: ImportReport) -> Table | None:
    """Map a sheet's headers to the catalogue's; the first of duplicated headers is used."""
    mapped: dict[str, str] = {}
    columns: dict[str, str] = {}
    unused: list[str] = []
    for i, raw in enumerate(sheet.headers):
        canon = ALIASES.get(normalise(raw)) if raw else None
        if canon is None or canon in columns:
            label = raw or f"(blank header, column {i + 1})"
            if canon in columns:
                label += " (duplicate header)"
            unused.append(label)
            continue
        mapped[raw] = canon
        columns[canon] = f"c{i}"
    kind = classify(set(columns))
    cells = {c: _stripped_categories(sheet.data[c]) for c in sheet.data.columns if c != "_row"}
    blank = np.ones(len(sheet.data), bool)
    for s in cells.values():
        empty = np.flatnonzero(s.cat.categories == "")
        blank &= np.isin(s.cat.codes.to_numpy(), [-1, *empty])
    summary = SheetSummary(
        file=sheet.file,
        sheet=sheet.sheet,
        table=kind,
        year="",
        header_row=sheet.header_row,
        rows=len(sheet.data),
        blank_rows=int(blank.sum()),
        mapped=mapped,
        unused=unused,
        notes=list(sheet.notes),
    )
    report.sheets.append(summary)
    if kind == "unknown":
        summary.notes.append("headers of no known table (no 户编号 or 行政村): not used")
        return None
    keep = ~blank
    df = pd.DataFrame({canon: cells[c][keep] for canon, c in columns.items()})
    df["_file"], df["_sheet"] = sheet.file, sheet.sheet
    df["_row"] = sheet.data["_row"].to_numpy()[keep]
    df = df.reset_index(drop=True)
    raw = pd.DataFrame({c: s[keep] for c, s in cells.items()}).reset_index(drop=True)
    if "年度" in df:
        year = pd.to_numeric(normalise_series(df["年度"]).astype(str), errors="coerce")
        bad = year.isna()
        if bad.any():
            report.quarantine_rows(df[bad], "年度", "year not a number", df.loc[bad, "年度"])
        df["_year"] = year
        df = df[~bad]
        summary.year = "年度 column"
    else:
        y = year_from_name(sheet.file, sheet.sheet)
        if y is None:
            summary.notes.append("no 年度 column and no year in the file or sheet name: not used")
            summary.set_aside = len(df)
            return None
        df["_year"] = y
        summary.year = str(y)
    # totals rows (合计/总计 with no household or village) are not data
    key = "户编号" if kind != "village" else "行政村"
    blank_key = (df[key] == "").to_numpy()
    raw = raw.loc[df.index[blank_key]].astype(str)
    total = pd.Series(False, index=df.index)
    total[df.index[blank_key]] = (
        raw.apply(lambda s: s.str.contains("合计|总计|小计", regex=True)).any(axis=1).to_numpy()
    )
    summary.set_aside += int(total.sum())
    return Table(kind, summary, df[~total].reset_index(drop=True))


# -- value parsing ----------------------------------------------------------------------------


def parse_numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers as the export stores them (text, full-width digits, thousands separators, '.0');
    returns the values and a mask of cells that are not empty yet not numbers."""
    cat = s.astype("category")
    cats = pd.Series(cat.cat.categories)
    clean = normalise_series(cats).str.replace(r"[,，]", "", regex=True).str.removesuffix("元")
    vals = pd.to_numeric(clean, errors="coerce").to_numpy(float)
    codes = cat.cat.codes.to_numpy()
    out = np.where(codes >= 0, vals[codes] if len(vals) else np.nan, np.nan)
    empty = np.where(codes >= 0, (clean == "").to_numpy()[codes] if len(vals) else True, True)
    return pd.Series(out, index=s.index), pd.Series(np.isnan(out) & ~empty, index=s.index)


def parse_codes(
    s: pd.Series, header: NationalHeader, report: ImportReport, frame: pd.DataFrame
) -> pd.Series:
    """Vocabulary values -> codes ('' stays missing); values outside go to the report."""
    vocab = {normalise(k): v for k, v in header.vocabulary.items()}
    cat = s.astype("category")
    cats = list(cat.cat.categories)
    codes = []
    for c in cats:
        n = normalise(c)
        if n.endswith(".0") and n[:-2] in vocab:
            n = n[:-2]
        code = vocab.get(n, header.fallback if n else None)
        codes.append(code)
        if n and code is None:
            hit = np.flatnonzero((s == c).to_numpy())
            for w in cite(frame.iloc[hit[:3]]):
                report.value_outside(header.header, c, w, 0)
            report.out_of_vocabulary[header.header][c] += len(hit)
    arr = np.array([*codes, None], dtype=object)
    return pd.Series(arr[cat.cat.codes.to_numpy()], index=s.index)


def month_index(s: pd.Series) -> pd.Series:
    """'2024年03月', '202403', '2024-3', '202403.0' -> months since year 0 (year*12 + month-1);
    NaN for blank or unparsable cells."""
    cat = s.astype("category")  # a few distinct months: parse each once
    text = normalise_series(pd.Series(cat.cat.categories.astype(str))).str.removesuffix(".0")
    digits = text.str.replace(r"\D", "", regex=True)
    year = pd.to_numeric(digits.str.slice(0, 4), errors="coerce")
    month = pd.to_numeric(digits.str.slice(4, 6), errors="coerce")
    ok = digits.str.len().between(5, 6) & month.between(1, 12)
    values = np.r_[(year * 12 + month - 1).where(ok).to_numpy(float), np.nan]
    return pd.Series(values[cat.cat.codes.to_numpy()], index=s.index)


def months_in_year(start: pd.Series, end: pd.Series, year: int) -> tuple[pd.Series, pd.Series]:
    """Months of `year` a spell covers (blank end: ongoing); and the cells that do not parse."""
    a, b = month_index(start), month_index(end)
    bad = ((start != "") & a.isna()) | ((end != "") & b.isna())
    s_idx = a.fillna(year * 12)
    e_idx = b.where(end != "", year * 12 + 11)
    lo, hi = np.maximum(s_idx, year * 12), np.minimum(e_idx, year * 12 + 11)
    return (hi - lo + 1).clip(lower=0).fillna(0), bad


# -- the import ---------------------------------------------------------------------------------


def read_tables(source: Path, report: ImportReport) -> list[Table]:
    tables = []
    for path in source_files(source):
        for sheet in read_sheets(path, recognised):
            if isinstance(sheet, str):
                report.not_read.append(sheet)
                continue
            t = map_sheet(sheet, report)
            if t is not None:
                tables.append(t)
    return tables


def import_national(
    source: Path, years: tuple[int, int] | None = None
) -> tuple[pd.DataFrame, ImportReport]:
    """The household-year panel of an export folder, and the report of everything read."""
    report = ImportReport(source=str(source), format="national")
    tables = read_tables(Path(source), report)
    roster = [t for t in tables if t.kind == "roster"]
    if not roster:
        raise ValueError(
            f"{source}: no person roster found (a sheet whose header row has 户编号 and "
            "姓名/证件号码/与户主关系); see IMPORT.md's list of sheets"
        )
    all_years = sorted({int(y) for t in roster for y in t.frame["_year"].unique()})
    if years is not None:
        lo, hi = years
        for t in tables:
            out = (t.frame["_year"] < lo) | (t.frame["_year"] > hi)
            t.summary.set_aside += int(out.sum())
        all_years = [y for y in all_years if lo <= y <= hi]
    by_year: dict[int, dict[str, list[pd.DataFrame]]] = {
        y: {"roster": [], "work": [], "village": []} for y in all_years
    }
    for t in tables:
        for y, part in t.frame.groupby("_year", sort=False):
            if int(y) in by_year:
                by_year[int(y)][t.kind].append(part)
        t.frame = t.frame.iloc[:0]  # the year's parts hold the rows now
    frames = []
    for year in all_years:
        parts = by_year.pop(year)
        cat = {
            k: (v[0] if len(v) == 1 else pd.concat(v, ignore_index=True)) if v else None
            for k, v in parts.items()
        }
        hh = household_year(cat["roster"], cat["work"], cat["village"], year, report)
        report.households_per_year[year] = len(hh)
        frames.append(hh)
        log.info("imported %d: %d households", year, len(hh))
    panel = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return panel, report


def household_year(
    p: pd.DataFrame,
    work: pd.DataFrame | None,
    village: pd.DataFrame | None,
    year: int,
    report: ImportReport,
) -> pd.DataFrame:
    """Person rows of one year -> one row per household, with the 务工 and village joins."""
    p = _blank_missing(p)
    missing = p["户编号"] == ""
    report.quarantine_rows(p[missing], "户编号", "missing 户编号")
    p = p[~missing]

    # numbers and dates that do not parse: the row is quarantined, naming the column
    nums: dict[str, pd.Series] = {}
    bad_any = pd.Series(False, index=p.index)
    for col in p.columns:
        h = NATIONAL.get(col)
        if h is None or h.kind not in ("number", "date"):
            continue
        if h.kind == "number":
            vals, bad = parse_numbers(p[col])
        else:
            digits = normalise_series(p[col]).str.replace(r"\D", "", regex=True)
            vals = pd.to_numeric(digits.str.slice(0, 4), errors="coerce")
            bad = (p[col] != "") & (vals.isna() | (digits.str.len() < 6))
        new = bad & ~bad_any
        report.quarantine_rows(p[new], col, "not a number" if h.kind == "number" else
                               "not a date (YYYYMMDD)", p.loc[new, col])  # fmt: skip
        bad_any |= bad
        nums[col] = vals
    p = p[~bad_any]
    nums = {k: v[~bad_any] for k, v in nums.items()}

    # duplicates: the same person twice in a household, or in two households this year
    person = [c for c in ("证件号码", "姓名", "出生日期") if c in p]
    if person:
        dup = p.duplicated(["户编号", *person], keep="first")
        report.quarantine_rows(p[dup], "证件号码", "duplicate person in the household")
        p = p[~dup]
        if "证件号码" in p and "姓名" in p:
            known = p[p["证件号码"] != ""]
            first_hh = known.groupby(person, observed=True, sort=False)["户编号"].transform("first")
            two = known.index[known["户编号"].to_numpy() != first_hh.to_numpy()]
            report.quarantine_rows(
                p.loc[two], "户编号", "person already listed in another household"
            )
            p = p.drop(index=two)
    else:
        report.notes.append(f"{year}: no 证件号码/姓名/出生日期: duplicate persons not checked")
    nums = {k: v.loc[p.index] for k, v in nums.items()}

    codes = {
        col: parse_codes(p[col], NATIONAL[col], report, p)
        for col in p.columns
        if col in NATIONAL and NATIONAL[col].kind in ("vocab", "yesno")
    }
    # the household's row: the 户主's, else its first member's
    is_head = codes["与户主关系"] == "head" if "与户主关系" in codes else pd.Series(False, p.index)
    order = np.lexsort((p["_row"].to_numpy(), ~is_head.to_numpy(), p["户编号"].to_numpy()))
    p = p.iloc[order]
    codes = {k: v.iloc[order] for k, v in codes.items()}
    nums = {k: v.iloc[order] for k, v in nums.items()}
    is_head = is_head.iloc[order]
    g = p["户编号"].to_numpy()
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    hh_ids = g[first]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))

    def head(values: pd.Series) -> pd.Series:
        return pd.Series(values.iloc[starts].to_numpy(), index=hh_ids)

    def count(mask) -> pd.Series:
        m = np.asarray(mask, bool).astype(np.int32)
        n = np.add.reduceat(m, starts) if len(starts) else np.zeros(0, np.int32)
        return pd.Series(n, index=hh_ids).astype(int)

    def any_(mask) -> pd.Series:
        return count(mask) > 0

    for col in p.columns:  # household fields must agree on every member row
        h = NATIONAL.get(col)
        if h is not None and h.level == "household" and h.kind != "personal":
            codes_ = pd.Categorical(p[col]).codes if not isinstance(
                p[col].dtype, pd.CategoricalDtype) else p[col].cat.codes.to_numpy()  # fmt: skip
            differ = np.asarray(codes_) != np.asarray(codes_)[group_start]
            if differ.any():
                report.conflicts[col] += len(np.unique(g[differ]))
    if "与户主关系" in codes:
        heads = count(is_head)
        report.add_quality("3_11_001", "household without a 户主 row", int((heads == 0).sum()))
        report.add_quality("3_11_002", "household with more than one 户主", int((heads > 1).sum()))

    out: dict[str, pd.Series] = {
        "hh_id": pd.Series(hh_ids, index=hh_ids),
        "year": pd.Series(year, index=hh_ids),
    }
    if "乡(镇)" in p:
        out["township_id"] = head(p["乡(镇)"])
    if "行政村" in p:
        town = head(p["乡(镇)"]) if "乡(镇)" in p else pd.Series("", index=hh_ids)
        vill = head(p["行政村"])
        pairs = pd.DataFrame({"t": town, "v": vill}).drop_duplicates()
        twice = set(pairs["v"][pairs["v"].duplicated()])
        out["village_id"] = vill.where(~vill.isin(twice), town + "/" + vill)
    c = codes

    def yes(col: str) -> pd.Series:
        return c[col] == "yes"

    if "户类型" in c:
        out["household_type"] = head(c["户类型"])
    if "脱贫年度" in nums:
        out["exit_year"] = head(nums["脱贫年度"].where(nums["脱贫年度"] > 1900))
    if "搬迁" in p:
        out["relocated"] = head(p["搬迁"] != "")
    if "性别" in c:
        out["head_sex"] = head(c["性别"])
    if "民族" in c:
        out["head_ethnicity"] = head(c["民族"])
    age = None
    if "出生日期" in nums:
        age = year - nums["出生日期"]
        out["head_age"] = head(age.clip(lower=16))
        out["n_children_u16"] = count(age < 16)
        out["n_elderly_65p"] = count(age >= 65)
        out["n_children_15"] = count(age == 15)
    if "文化程度" in c:
        out["head_education"] = head(c["文化程度"])
    if "姓名" in p:  # personal: the 台账 shows it masked only; never in a report or log
        name = head(p["姓名"]).astype(object).fillna("").astype(str).str.strip()
        out["head_name"] = name.where(head(is_head) & (name != ""))
    out["hh_size"] = count(np.ones(len(p), bool))
    if "劳动技能" in c:
        out["n_labour_full"] = count(c["劳动技能"] == "full")
        out["n_labour_weak"] = count(c["劳动技能"] == "weak")
    if "健康状况" in p:
        items = health_codes(p["健康状况"], report, p)
        out["n_chronic_ill"] = count(items.str.contains("chronic", regex=False))
        out["n_serious_ill"] = count(items.str.contains("serious", regex=False))
        out["n_disabled"] = count(items.str.contains("disabled", regex=False))
    if "证件号码" in p:
        number = normalise_series(p["证件号码"])
        cert = number.str.len().isin([20, 22])
        out["n_severe_disabled"] = count(cert & number.str.slice(19, 20).isin(["1", "2"]))
    school = None
    if "在校生状况" in p:
        school = parse_codes(p["在校生状况"], NATIONAL["在校生状况"], report, p)
        out["n_students_compulsory"] = count(school == "compulsory")
        out["n_students_senior"] = count(school == "senior")
        out["n_students_tertiary"] = count(school == "tertiary")
        out["n_students_vocational"] = count(
            normalise_series(p["在校生状况"]).isin(VOCATIONAL_VALUES)
        )
    if "义务教育阶段未上学原因" in p and age is not None:
        in_school = (
            school.isin(["compulsory", "senior", "tertiary"]) if school is not None else False
        )
        out["n_dropout"] = count(
            (age >= 6) & (age <= 15) & ~in_school & (p["义务教育阶段未上学原因"] != "")
        )
    money = {k: head(v) for k, v in nums.items() if NATIONAL[k].level == "household"}
    for col, src in (("inc_wage", "工资性收入"), ("inc_property", "财产性收入"),
                     ("inc_transfer", "转移性收入"), ("net_income_pc", "人均纯收入（元）"),
                     ("oop_medical", "合规自付支出"), ("cultivated_land_mu", "耕地面积（亩）")):  # fmt: skip
        if src in money:
            out[col] = money[src]
    if "生产经营性收入" in money:
        out["inc_business"] = money["生产经营性收入"] - money.get(
            "生产经营性支出", pd.Series(0.0, index=hh_ids)
        ).fillna(0)

    # work: the roster's columns, else the 务工 spells
    work = as_text(work) if work is not None else None
    w = work_by_household(work, year, report, hh_ids) if work is not None else None
    county = head(p["县(市、区、旗)"]) if "县(市、区、旗)" in p else None
    if "务工时间（月）" in nums:
        months = nums["务工时间（月）"].fillna(0).to_numpy(float)
        out["work_months"] = pd.Series(
            np.add.reduceat(months, starts).round().astype(int), index=hh_ids
        )
    elif w is not None:
        out["work_months"] = w["months"]
    if "务工所在地" in p and county is not None:
        place = normalise_series(p["务工所在地"])
        own = normalise_series(county).str.replace(r"(县|市|区|旗)$", "", regex=True)
        own_p = np.asarray(own)[np.cumsum(first) - 1]
        local = np.zeros(len(p), bool)
        for name in set(own_p) - {""}:
            rows = own_p == name
            local[rows] = place[rows].str.contains(name, regex=False).to_numpy(bool)
        works = (place != "").to_numpy()
        out["n_migrant_workers"] = count(works & ~local)
        out["n_local_workers"] = count(works & local)
    elif w is not None:
        out["n_migrant_workers"], out["n_local_workers"] = w["migrant"], w["local"]
    if "公益性岗位" in c:
        out["has_public_welfare_job"] = any_(yes("公益性岗位"))
    elif w is not None:
        out["has_public_welfare_job"] = w["public_welfare"]
    if w is not None:
        out["has_workshop_job"] = w["workshop"]
    if "就业帮扶" in p:
        out["skills_training"] = head(p["就业帮扶"].str.contains("技能培训", regex=False))
    if "主导产业" in c:
        out["main_industry"] = head(c["主导产业"])
    if "产业帮扶" in p:
        out["industry_support"] = head(p["产业帮扶"] != "")
    if "金融帮扶" in p:
        out["microcredit"] = head(p["金融帮扶"].str.contains("小额信贷", regex=False))
    insured = [
        k for k in ("是否参加城乡居民基本医疗保险", "是否参加城镇职工基本医疗保险") if k in c
    ]
    if insured:
        ok = np.logical_or.reduce([yes(k).to_numpy() for k in insured])
        out["all_insured"] = count(~ok) == 0
    elif "是否有家庭成员未参加城乡居民（职工）基本医疗保险" in c:
        out["all_insured"] = head(c["是否有家庭成员未参加城乡居民（职工）基本医疗保险"] == "no")
    if "是否危房户" in c:
        out["housing_safe"] = head(c["是否危房户"] == "no")
    if "是否解决安全饮用水" in c:
        out["water_safe"] = head(yes("是否解决安全饮用水"))
    if "享受低保政策情况" in c:
        out["dibao"] = any_(c["享受低保政策情况"] == "dibao")
    if "监测标准" in money:
        out["monitor_line"] = money["监测标准"].fillna(monitor_line(year))
    else:
        out["monitor_line"] = pd.Series(monitor_line(year), index=hh_ids)
    if "监测对象类别" in c:
        cat = head(c["监测对象类别"])
        done = (
            head(yes("风险是否已消除")) if "风险是否已消除" in c else pd.Series(False, index=hh_ids)
        )
        active = cat.notna() & ~done
        out["is_monitored"] = active
        out["monitor_category"] = cat.where(active, "none")
        if "致贫/返贫风险1" in c:
            out["risk_type"] = head(c["致贫/返贫风险1"]).where(active, "none").fillna("other")
        out["risk_eliminated"] = cat.notna() & done
    hh = pd.DataFrame(out).reset_index(drop=True)
    if village is not None and "行政村" in p:
        hh = join_village(hh, village, head(p["乡(镇)"]) if "乡(镇)" in p else None, report)
    heads = {k: head(v) for k, v in codes.items() if NATIONAL[k].level == "household"}
    facts = quality.Facts(p, codes, nums, heads, hh, work, year)
    quality.check_year(facts, report)
    return hh


def _blank_missing(df: pd.DataFrame) -> pd.DataFrame:
    """'' for cells missing after sheets with different headers were put together."""
    for col in df.columns:
        if df[col].isna().any():
            s = df[col]
            if isinstance(s.dtype, pd.CategoricalDtype) and "" not in s.cat.categories:
                s = s.cat.add_categories([""])
            df[col] = s.fillna("")
    return df


def health_codes(s: pd.Series, report: ImportReport, frame: pd.DataFrame) -> pd.Series:
    """健康状况 cells (comma-joined items) -> the codes of their items, comma-joined."""
    header = NATIONAL["健康状况"]
    vocab = {normalise(k): v for k, v in header.vocabulary.items()}
    cat = s.astype("category")
    mapped = []
    for value in cat.cat.categories:
        items = [x for x in re.split(r"[,，、;；/]", normalise(value)) if x]
        codes = [vocab.get(x) for x in items]
        for x, code in zip(items, codes, strict=True):
            if code is None:
                hit = np.flatnonzero((s == value).to_numpy())
                for w in cite(frame.iloc[hit[:3]]):
                    report.value_outside("健康状况", x, w, 0)
                report.out_of_vocabulary["健康状况"][x] += len(hit)
        mapped.append(",".join(code for code in codes if code))
    arr = np.array([*mapped, ""], dtype=object)
    return pd.Series(arr[cat.cat.codes.to_numpy()], index=s.index).astype(str)


def work_by_household(
    work: pd.DataFrame, year: int, report: ImportReport, hh_ids: np.ndarray
) -> pd.DataFrame:
    """务工 spells -> months worked in the year, workers inside and outside the county, and the
    public-welfare and workshop jobs, per household."""
    if "开始时间" in work:
        start, end = work["开始时间"], work.get("结束时间", pd.Series("", index=work.index))
        months, bad = months_in_year(start, end, year)
    else:
        months, bad = pd.Series(0.0, index=work.index), pd.Series(False, index=work.index)
    report.quarantine_rows(work[bad], "开始时间/结束时间", "not a month (YYYY年MM月)")
    if "是否已务工" in work:
        months = months.where(normalise_series(work["是否已务工"]) != "否", 0)
    work, months = work[~bad], months[~bad]
    channel = work.get("就业渠道", pd.Series("", index=work.index))
    pw = channel.str.contains("公益", regex=False)
    ws = channel.str.contains("帮扶车间", regex=False)
    place = normalise_series(work.get("务工所在县", pd.Series("", index=work.index)))
    county = normalise_series(work.get("县(市、区、旗)", pd.Series("", index=work.index)))
    own = county.str.replace(r"(县|市|区|旗)$", "", regex=True)
    local = [o != "" and o in x for x, o in zip(place, own, strict=True)]
    ordinary = ~pw & ~ws & (place != "")
    person = (
        work.get("证件号码", pd.Series("", index=work.index))
        + "|"
        + work.get("姓名", pd.Series("", index=work.index))
    )
    key = work["户编号"]
    frame = pd.DataFrame(
        {
            "hh": key,
            "person": person,
            "months": months,
            "migrant": ordinary & ~np.asarray(local, bool),
            "local": ordinary & np.asarray(local, bool),
            "pw": pw,
            "ws": ws,
        }
    )
    per_person = frame.groupby(["hh", "person"]).agg(
        migrant=("migrant", "any"), local=("local", "any")
    )
    out = pd.DataFrame(
        {
            "months": frame.groupby("hh")["months"].sum().round().astype(int),
            "migrant": per_person["migrant"].groupby(level=0).sum(),
            "local": per_person["local"].groupby(level=0).sum(),
            "public_welfare": frame.groupby("hh")["pw"].any(),
            "workshop": frame.groupby("hh")["ws"].any(),
        }
    )
    unknown = ~frame["hh"].isin(hh_ids)
    if unknown.any():
        report.quarantine_rows(
            work[unknown.to_numpy()], "户编号", "务工 spell of a household not in the roster"
        )
    out = out.reindex(hh_ids)
    return out.fillna({"months": 0, "migrant": 0, "local": 0, "public_welfare": False,
                       "workshop": False}).astype(
        {"months": int, "migrant": int, "local": int, "public_welfare": bool, "workshop": bool}
    )  # fmt: skip


def join_village(
    hh: pd.DataFrame, village: pd.DataFrame, town: pd.Series | None, report: ImportReport
) -> pd.DataFrame:
    """行政村信息 joined on (乡, 村) names."""
    v = as_text(village)
    cols = {}
    if "是否贫困村" in v:
        cols["is_former_poor_village"] = (
            parse_codes(v["是否贫困村"], NATIONAL["是否贫困村"], report, v) == "yes"
        )
    elif "是否出列" in v:  # only (former) poor villages are 出列 or not
        parse_codes(v["是否出列"], NATIONAL["是否出列"], report, v)
        cols["is_former_poor_village"] = normalise_series(v["是否出列"]) != ""
    if "村级集体经济收入（万元）" in v:
        vals, bad = parse_numbers(v["村级集体经济收入（万元）"])
        report.quarantine_rows(
            v[bad],
            "村级集体经济收入（万元）",
            "not a number",
            v.loc[bad, "村级集体经济收入（万元）"],
        )
        cols["village_collective_income"] = vals.where(~bad)
    if not cols:
        return hh
    table = pd.DataFrame(cols)
    table["_t"] = normalise_series(v.get("乡(镇)", pd.Series("", index=v.index))).to_numpy()
    table["_v"] = normalise_series(v["行政村"]).to_numpy()
    table = table.drop_duplicates(["_t", "_v"])
    left = pd.DataFrame(
        {
            "_t": (normalise_series(town).to_numpy() if town is not None else ""),
            "_v": normalise_series(hh["village_id"].str.split("/").str[-1]).to_numpy(),
        }
    )
    joined = left.merge(table, on=["_t", "_v"], how="left")
    missing = joined[next(iter(cols))].isna()
    if missing.any():
        report.notes.append(
            f"{int(hh['year'].iloc[0])}: {int(missing.sum())} households in villages missing "
            "from 行政村信息 (their village fields are empty)"
        )
    for k in cols:
        hh[k] = joined[k].to_numpy()
    return hh
