"""The printable worklist workbook for cadres: one sheet per township, ranked within villages.

In each village, households that meet the criteria now come first (「已符合纳入条件，应纳尽纳，请核实」
with the criteria they meet, no probability), then unmonitored households by risk, then monitored
households."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xlsxwriter

from riskmodel.criteria import STATUSES
from riskmodel.rules import RULES

TIER_ZH = {"red": "红", "amber": "黄", "green": "绿", "verify": "应纳"}
TIER_COLOUR = {"red": "#F4B6B0", "amber": "#FBE3A6", "green": "#CDE8C4", "verify": "#E8B0E0"}
COLUMNS = [  # (header, width)
    ("行政村", 9),
    ("村内排名", 7),
    ("户编号", 11),
    ("监测状态", 14),
    ("风险概率", 8),
    ("等级", 5),
    ("符合的纳入条件", 26),
    ("规则预警", 22),
    ("主要风险原因", 52),
    ("建议帮扶措施", 28),
    ("保护因素", 28),
    ("数据待核实", 22),
]
WRAPPED_FROM = 6
"""Columns from this one on wrap their text."""
PROBABILITY_ZH = {
    "meets_criteria": "未纳入监测农户下年符合纳入条件",
    "persistent": "监测户风险下年仍未消除",
}


def rule_texts(rows: pd.DataFrame) -> list[str]:
    flags = [(rows[f"flag_{k}"].to_numpy(), zh) for k, (zh, _) in RULES.items()]
    return ["、".join(zh for col, zh in flags if col[i]) for i in range(len(rows))]


def write_worklist(rows: pd.DataFrame, path: Path, title: str) -> Path:
    """Households on the worklist, a sheet per township, villages in order, ranked within each."""
    listed = rows[rows["on_worklist"]].sort_values(["township_id", "village_id", "rank_in_village"])
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    head = wb.add_format({"bold": True, "text_wrap": True, "valign": "top", "bottom": 1})
    title_fmt = wb.add_format({"bold": True, "font_size": 13})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    top = wb.add_format({"valign": "top"})
    tiers = {
        t: wb.add_format({"bg_color": c, "valign": "top", "align": "center"})
        for t, c in TIER_COLOUR.items()
    }
    for township, part in listed.groupby("township_id", sort=True):
        ws = wb.add_worksheet(str(township)[:31])
        for c, (_, width) in enumerate(COLUMNS):
            ws.set_column(c, c, width, wrap if c >= WRAPPED_FROM else top)
        ws.write(0, 0, f"{title} — 乡镇 {township}", title_fmt)
        for c, (header, _) in enumerate(COLUMNS):
            ws.write(1, c, header, head)
        cols = [
            part[c].tolist()
            for c in (
                "village_id",
                "rank_in_village",
                "hh_id",
                "status",
                "label",
                "probability",
                "tier",
                "criteria_zh",
                "reasons_zh",
                "measures_zh",
                "protective_zh",
                "data_check",
            )
        ]
        rules = rule_texts(part)
        for i, row in enumerate(zip(*cols, strict=True)):
            (
                village,
                rank,
                hh,
                state,
                label,
                prob,
                tier,
                criteria,
                reasons,
                measures,
                prot,
                check,
            ) = row
            r = i + 2
            ws.write_string(r, 0, village)
            ws.write_number(r, 1, rank)
            ws.write_string(r, 2, hh)
            ws.write_string(r, 3, STATUSES[state][0])
            has_prob = label is not None and prob == prob
            ws.write_string(r, 4, f"{prob:.1%}" if has_prob else "—")
            shown = "verify" if state == "meets_criteria" else tier if has_prob else None
            if shown:
                ws.write_string(r, 5, TIER_ZH[shown], tiers[shown])
            else:
                ws.write_string(r, 5, "—")
            ws.write_string(r, 6, criteria)
            ws.write_string(r, 7, rules[i])
            ws.write_string(r, 8, reasons)
            ws.write_string(r, 9, measures)
            ws.write_string(r, 10, prot)
            ws.write_string(r, 11, check)
        ws.freeze_panes(2, 0)
        ws.repeat_rows(1)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
        ws.set_footer("&L风险概率：" + "；".join(PROBABILITY_ZH.values()) + "&R第 &P 页 / 共 &N 页")
    if not wb.worksheets():
        wb.add_worksheet("无").write(0, 0, "本次没有列入工作清单的农户")
    wb.close()
    return Path(path)
