"""The printable worklist workbook for cadres: one sheet per township, ranked within villages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xlsxwriter

from riskmodel.rules import RULES

TIER_ZH = {"red": "红", "amber": "黄", "green": "绿"}
TIER_COLOUR = {"red": "#F4B6B0", "amber": "#FBE3A6", "green": "#CDE8C4"}
COLUMNS = [  # (header, width)
    ("行政村", 9),
    ("村内排名", 7),
    ("户编号", 11),
    ("返贫风险", 8),
    ("等级", 5),
    ("规则预警", 22),
    ("主要风险原因", 58),
    ("建议帮扶措施", 30),
    ("保护因素", 30),
]


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
            ws.set_column(c, c, width, wrap if c >= 5 else top)
        ws.write(0, 0, f"{title} — 乡镇 {township}", title_fmt)
        for c, (header, _) in enumerate(COLUMNS):
            ws.write(1, c, header, head)
        cols = [
            part[c].tolist()
            for c in (
                "village_id",
                "rank_in_village",
                "hh_id",
                "probability",
                "tier",
                "reasons_zh",
                "measures_zh",
                "protective_zh",
            )
        ]
        rules = rule_texts(part)
        for i, (village, rank, hh, prob, tier, reasons, measures, protective) in enumerate(
            zip(*cols, strict=True)
        ):
            r = i + 2
            ws.write_string(r, 0, village)
            ws.write_number(r, 1, rank)
            ws.write_string(r, 2, hh)
            ws.write_string(r, 3, f"{prob:.1%}")
            ws.write_string(r, 4, TIER_ZH[tier], tiers[tier])
            ws.write_string(r, 5, rules[i])
            ws.write_string(r, 6, reasons)
            ws.write_string(r, 7, measures)
            ws.write_string(r, 8, protective)
        ws.freeze_panes(2, 0)
        ws.repeat_rows(1)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
        ws.set_footer("&C第 &P 页 / 共 &N 页")
    if not wb.worksheets():
        wb.add_worksheet("无").write(0, 0, "本次没有列入工作清单的农户")
    wb.close()
    return Path(path)
