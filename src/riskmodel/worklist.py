"""The cadres' 台账: one printable sheet per township, in three sections.

Each sheet lists, by village and rank: first the households that meet the criteria now
(「已符合纳入条件，应纳尽纳，请核实」), then unmonitored households by risk, then monitored households in
their own section (and last those whose data must be verified). Each row carries what a cadre needs
on the visit (names of township and village, the head's name masked, household type and size,
monitoring status, category and the year identified, income against the year's line, official risk
types, why the household is listed, probability and tier, reasons, 1-3 measures) and blank columns
to fill in there.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from riskmodel.catalogue import PANEL, RISK_TYPES
from riskmodel.criteria import STATUSES
from riskmodel.interval import WIDE, WIDE_ZH
from riskmodel.io import atomic_path
from riskmodel.privacy import mask_names
from riskmodel.support import UNUSUAL_ZH

TIER_ZH = {"red": "红", "amber": "黄", "green": "绿", "verify": "应纳"}
TIER_COLOUR = {"red": "#F4B6B0", "amber": "#FBE3A6", "green": "#CDE8C4", "verify": "#E8B0E0"}
SOURCES: dict[str, tuple[str, str]] = {
    "criteria": ("纳入条件", "meets the monitoring criteria now"),
    "criteria+model": (
        "纳入条件＋模型",
        "meets the criteria now, and the model puts it in the red tier",
    ),
    "model": ("模型", "among the village's highest probabilities (cadres' capacity)"),
    "band": ("收入预警带（非纳入条件）", "income within the early-warning band above the line"),
    "model+band": ("模型＋收入预警带", "both the model and the early-warning band"),
    "monitored": ("监测户", "a monitored household: verify whether the risk is eliminated"),
    "data_check": ("数据待核实", "its data failed validation"),
}
"""Why a household is on the worklist (预警来源). The income band is an early-warning setting, never
one of the official criteria (`score --early-warning-band`)."""
SECTIONS = [
    ("meets_criteria", "一、已符合纳入条件（应纳尽纳，请核实）"),
    ("not_monitored", "二、未纳入监测农户（按风险从高到低）"),
    ("monitored", "三、监测户（核实风险是否消除）"),
    ("data_check", "四、数据待核实"),
]
VISIT_COLUMNS = [  # (header, width): filled in on the visit
    ("核实时限", 9),
    ("核实情况", 10),
    ("处置结果", 10),
    ("帮扶措施落实情况", 14),
    ("风险是否消除", 8),
    ("核实人", 8),
    ("日期", 9),
    ("备注", 14),
]
COLUMNS = [  # (header, width)
    ("乡镇", 8),
    ("行政村", 8),
    ("村内排名", 5),
    ("户编号", 11),
    ("户主", 6),
    ("户类型", 7),
    ("家庭人口", 5),
    ("监测状态", 10),
    ("监测对象类别", 9),
    ("识别年度", 6),
    ("人均纯收入（元）", 9),
    ("监测标准（元）", 8),
    ("风险类型", 12),
    ("预警来源", 10),
    ("风险概率", 7),
    ("等级", 5),
    ("符合的纳入条件", 18),
    ("主要风险原因", 40),
    ("建议帮扶措施", 22),
    ("数据待核实", 14),
    *VISIT_COLUMNS,
]
WRAPPED = {
    "监测状态", "风险类型", "预警来源", "风险概率", "符合的纳入条件", "主要风险原因", "建议帮扶措施",
    "数据待核实",
}  # fmt: skip
PROBABILITY_ZH = {
    "meets_criteria": "未纳入监测农户下年符合纳入条件",
    "persistent": "监测户风险下年仍未消除",
}
FACTS = [
    "head_name",
    "household_type",
    "hh_size",
    "monitor_category",
    "identified_year",
    "net_income_pc",
    "monitor_line",
    "recorded_risk_type",
]
"""Panel facts each batch row carries for the 台账 (None where the panel lacks them); the head's
name only masked (privacy.mask_name)."""
SHOWN = [
    *["township_id", "village_id", "rank_in_village", "hh_id", "status", "label", "probability"],
    *["tier", "warning_source", "top_risk_types", "criteria_zh", "reasons_zh", "measures_zh"],
    *["data_check", "unusual", "unusual_zh", "probability_low", "probability_high", *FACTS],
]
"""The batch columns a sheet reads."""
PLACES_FILE = "places.csv"
"""Names of townships and villages beside a panel whose ids are codes (the simulated county);
an imported panel's ids are the names themselves."""


def household_facts(panel: pd.DataFrame, year: int) -> pd.DataFrame:
    """The 台账's facts for every household of `year`, indexed by hh_id: the head's name masked
    (张*明; the full name never leaves the panel), type, size, monitoring category, the year its
    current monitoring began (from its rows' history), income and line, and the risk type
    recorded in the system."""
    rows = panel[pd.to_numeric(panel["year"], errors="coerce") == year].drop_duplicates("hh_id")
    out = pd.DataFrame(index=rows["hh_id"].astype(str).to_numpy())
    for name, source in (
        ("household_type", "household_type"),
        ("hh_size", "hh_size"),
        ("monitor_category", "monitor_category"),
        ("net_income_pc", "net_income_pc"),
        ("monitor_line", "monitor_line"),
        ("recorded_risk_type", "risk_type"),
    ):
        out[name] = rows[source].to_numpy() if source in rows else None
    out["head_name"] = mask_names(rows["head_name"].to_numpy()) if "head_name" in rows else None
    out["identified_year"] = (
        _monitoring_since(panel, year).reindex(out.index).to_numpy()
        if "is_monitored" in panel
        else np.nan
    )
    return out


def _monitoring_since(panel: pd.DataFrame, year: int) -> pd.Series:
    """First year of each household's monitoring spell that runs to `year` (monitored in every year
    from it to `year`), by hh_id; households not monitored in `year` are absent."""
    p = pd.DataFrame(
        {
            "hh": panel["hh_id"].astype(str),
            "year": pd.to_numeric(panel["year"], errors="coerce"),
            "on": panel["is_monitored"].astype("boolean").fillna(False).to_numpy(bool),
        }
    )
    p = p[p["on"] & (p["year"] <= year)].drop_duplicates(["hh", "year"])
    p = p.sort_values(["hh", "year"], ascending=[True, False])
    gap = p["year"] + p.groupby("hh").cumcount()  # constant along an unbroken spell back from year
    spell = p[(gap == year) & p["hh"].isin(p.loc[p["year"] == year, "hh"])]
    return spell.groupby("hh")["year"].min().astype(int)


def read_places(folder: Path) -> dict[str, str]:
    """id -> name for the townships and villages listed in `folder`/places.csv (empty without)."""
    path = Path(folder) / PLACES_FILE
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["id"]: row["name"] for row in csv.DictReader(f)}


def write_places(names: dict[str, str], folder: Path) -> Path:
    """places.csv (id, name) in `folder`, written atomically."""
    path = Path(folder) / PLACES_FILE
    with atomic_path(path) as tmp, Path(tmp).open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name"])
        w.writerows(sorted(names.items()))
    return path


LEGACY_RISK = {"income": "other"}
"""Recorded risk codes of earlier releases and what they read as."""


def risk_types_zh(row: dict) -> str:
    """Official risk types: the one recorded in the system (monitored households) and those of the
    household's reasons, without repeats."""
    recorded = row.get("recorded_risk_type")
    codes = [LEGACY_RISK.get(recorded, recorded)] if row["status"] == "monitored" else []
    codes += [c for c in str(row.get("top_risk_types") or "").split(",") if c]
    return "、".join(dict.fromkeys(RISK_TYPES[c][0] for c in codes if c in RISK_TYPES))


def _text(v, fmt: str = "{}") -> str:
    return "—" if v is None or (isinstance(v, float) and v != v) or v is pd.NA else fmt.format(v)


def _category(name: str, code) -> str:
    if code is None or code != code or code == "none":
        return "—"
    return PANEL[name].categories.get(str(code), str(code))


def probability_cell(row: dict) -> str:
    """The probability, with its 90% interval below it when the model gives one."""
    text = f"{row['probability']:.1%}"
    low, high = row.get("probability_low"), row.get("probability_high")
    if low is None or high is None or low != low or high != high:
        return text
    if high - low > WIDE:
        return f"{text}\n（{WIDE_ZH}）"
    return f"{text}\n（{low:.1%}–{high:.1%}）"


def _checks(row: dict) -> str:
    """The 数据待核实 cell: the rules the household's data failed, and whether it is unlike the
    households the model learned from."""
    notes = [row["data_check"]] if row["data_check"] else []
    if row.get("unusual"):
        notes.append(f"{UNUSUAL_ZH}：{row['unusual_zh']}")
    return "\n".join(notes)


def visit_cells(visit: dict | None) -> list[str]:
    """The visit columns: the household's latest recorded visit of the scored year, else blank
    (核实时限 is the office's to set)."""
    if visit is None:
        return [""] * len(VISIT_COLUMNS)
    from riskmodel.visits import OUTCOMES, VERIFICATION

    eliminated = visit["risk_eliminated"]
    return [
        "",
        VERIFICATION[visit["verification"]][0],
        OUTCOMES[visit["outcome"]][0],
        "、".join(visit["measures"]),
        "" if eliminated is None else ("是" if eliminated else "否"),
        visit["cadre"],
        visit["visited_on"],
        visit["note"],
    ]


def _records(frame: pd.DataFrame) -> list[dict]:
    """`frame.to_dict("records")` (pd.NA as None), column by column: to_dict iterates pyarrow's
    strings one value at a time, tolist converts each column at once (a fifth of the time)."""
    names = list(frame.columns)
    columns = [[None if v is pd.NA else v for v in frame[c].tolist()] for c in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def sheet_rows(
    part: pd.DataFrame, places: dict[str, str], visits: dict[str, dict] | None = None
) -> list[tuple[str | None, list]]:
    """The rows of one township's sheet in order: a section title, then its households' cells
    (with the latest visit in `visits`, by household, when there is one). The shown columns
    become records once and are put in order in Python: sorting and converting each section's
    frame cost more than writing its cells."""
    visits = visits or {}
    records = _records(part[[c for c in SHOWN if c in part.columns]])
    by_status: dict[str, list[dict]] = {status: [] for status, _ in SECTIONS}
    for r in records:
        if r["status"] in by_status:
            by_status[r["status"]].append(r)
    out: list[tuple[str | None, list]] = []
    for status, title in SECTIONS:
        sec = sorted(by_status[status], key=lambda r: (r["village_id"], r["rank_in_village"]))
        if not sec:
            continue
        out.append((title, []))
        for r in sec:
            has_prob = r["label"] is not None and r["probability"] == r["probability"]
            tier = "verify" if status == "meets_criteria" else r["tier"] if has_prob else None
            out.append(
                (
                    tier,
                    [
                        places.get(r["township_id"], r["township_id"]),
                        places.get(r["village_id"], r["village_id"]),
                        int(r["rank_in_village"]),
                        r["hh_id"],
                        _text(r.get("head_name")),
                        _category("household_type", r.get("household_type")),
                        _text(r.get("hh_size"), "{:.0f}"),
                        STATUSES[status][0],
                        _category("monitor_category", r.get("monitor_category")),
                        _text(r.get("identified_year"), "{:.0f}"),
                        _text(r.get("net_income_pc"), "{:,.0f}"),
                        _text(r.get("monitor_line"), "{:,.0f}"),
                        risk_types_zh(r),
                        SOURCES.get(r.get("warning_source"), ("—",))[0],
                        probability_cell(r) if has_prob else "—",
                        TIER_ZH[tier] if tier else "—",
                        r["criteria_zh"],
                        r["reasons_zh"],
                        r["measures_zh"],
                        _checks(r),
                        *visit_cells(visits.get(r["hh_id"])),
                    ],
                )
            )
    return out


def write_worklist(
    rows: pd.DataFrame,
    path: Path,
    title: str,
    places: dict[str, str] | None = None,
    visits: dict[str, dict] | None = None,
    caseload: pd.DataFrame | None = None,
) -> Path:
    """Households on the worklist, a sheet per township in sections, printable on A4 landscape;
    the visit columns carry each household's latest visit of the year (`visits`) when recorded.
    `caseload`: the rows' calibrate.caseload_table when the caller has built it already."""
    places = places or {}
    listed = rows.loc[rows["on_worklist"].to_numpy(bool), [c for c in SHOWN if c in rows.columns]]
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    head = wb.add_format({"bold": True, "text_wrap": True, "valign": "vcenter", "border": 1})
    visit_head = wb.add_format(
        {"bold": True, "text_wrap": True, "valign": "vcenter", "border": 1, "bg_color": "#E7EEF7"}
    )
    title_fmt = wb.add_format({"bold": True, "font_size": 13})
    section_fmt = wb.add_format({"bold": True, "bg_color": "#EDEDED", "border": 1})
    wrap = wb.add_format({"text_wrap": True, "valign": "top", "border": 1})
    cell = wb.add_format({"valign": "top", "border": 1})
    tiers = {
        t: wb.add_format({"bg_color": c, "valign": "top", "align": "center", "border": 1})
        for t, c in TIER_COLOUR.items()
    }
    tier_col = [h for h, _ in COLUMNS].index("等级")
    formats = [wrap if header in WRAPPED else cell for header, _ in COLUMNS]
    for township, part in listed.groupby("township_id", sort=True):
        name = places.get(str(township), str(township))
        ws = wb.add_worksheet(_sheet_name(name))
        for c, (_, width) in enumerate(COLUMNS):
            ws.set_column(c, c, width)
        ws.write(0, 0, f"{title} — {name}", title_fmt)
        visit_from = len(COLUMNS) - len(VISIT_COLUMNS)
        for c, (header, _) in enumerate(COLUMNS):
            ws.write(1, c, header, visit_head if c >= visit_from else head)
        r = 2
        for tier, cells in sheet_rows(part, places, visits):
            if not cells:
                ws.merge_range(r, 0, r, len(COLUMNS) - 1, tier, section_fmt)
            else:
                for c, v in enumerate(cells):
                    if c == tier_col and tier:
                        ws.write_string(r, c, v, tiers[tier])
                    elif isinstance(v, int):
                        ws.write_number(r, c, v, cell)
                    elif v == "":
                        ws.write_blank(r, c, None, cell)
                    else:
                        ws.write_string(r, c, v, formats[c])
            r += 1
        ws.freeze_panes(2, 4)
        ws.repeat_rows(1)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.3, right=0.3, top=0.5, bottom=0.5)
        ws.set_footer("&L风险概率：" + "；".join(PROBABILITY_ZH.values()) + "&R第 &P 页 / 共 &N 页")
    if not wb.worksheets():
        wb.add_worksheet("无").write(0, 0, "本次没有列入工作清单的农户")
    _caseload_sheet(wb, rows, title, places, head, cell, caseload)
    wb.close()
    return Path(path)


CASELOAD_SHEET = "预计需帮扶户数"
"""The workbook's last sheet: the expected caseload of every township and village."""
CASELOAD_COLUMNS = [  # (header, column of calibrate.caseload_table, width)
    ("乡镇", "township_id", 10),
    ("行政村", "village_id", 10),
    ("未监测户（有评分）", "households_new", 9),
    ("预计新纳入户数", "expected_new", 9),
    ("90%区间", "new_interval", 10),
    ("监测户（有评分）", "households_persistent", 9),
    ("预计风险持续户数", "expected_persistent", 9),
    ("90%区间 ", "persistent_interval", 10),
    ("已符合纳入条件（待核实）", "meets_now", 11),
]


def _caseload_sheet(
    wb, rows: pd.DataFrame, title: str, places: dict, head, cell, table: pd.DataFrame | None
) -> None:
    """Expected caseload of every township and village of the batch: the sum of the
    probabilities with the 90% interval of the count (calibrate.caseload_table, or `table`)."""
    from riskmodel.calibrate import caseload_table

    if rows.empty:
        return
    table = caseload_table(rows) if table is None else table.copy()
    table["new_interval"] = [
        f"{a}–{b}" for a, b in table[["expected_new_low", "expected_new_high"]].to_numpy()
    ]
    table["persistent_interval"] = [
        f"{a}–{b}"
        for a, b in table[["expected_persistent_low", "expected_persistent_high"]].to_numpy()
    ]
    ws = wb.add_worksheet(CASELOAD_SHEET)
    ws.write(0, 0, f"{title} — 各乡镇、行政村明年预计符合纳入条件的户数（概率之和，90%区间）")
    for c, (header, _, width) in enumerate(CASELOAD_COLUMNS):
        ws.set_column(c, c, width)
        ws.write(1, c, header, head)
    for r, row in enumerate(table.to_dict("records"), start=2):
        for c, (_, name, _) in enumerate(CASELOAD_COLUMNS):
            v = row[name]
            if name in ("township_id", "village_id"):
                v = "（全乡镇）" if v is None or v != v else places.get(str(v), str(v))
            if isinstance(v, float):
                ws.write_number(r, c, round(v, 1), cell)
            elif isinstance(v, (int, np.integer)):
                ws.write_number(r, c, int(v), cell)
            else:
                ws.write_string(r, c, str(v), cell)
    ws.freeze_panes(2, 2)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)


def _sheet_name(name: str) -> str:
    """A worksheet name Excel accepts (31 characters, none of []:*?/\\)."""
    for ch in "[]:*?/\\":
        name = name.replace(ch, "_")
    return name[:31] or "乡镇"
