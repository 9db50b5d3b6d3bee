"""`riskmodel import` on hand-made exports with two provinces' layouts, and on hostile files.

The fixtures follow the header layouts of research/national-export.md: a Guizhou 2023 xlsx (G1:
merged title rows, header on row 3, 县/乡/村 short headers, a duplicated header, extra columns,
numbers stored as text with thousands separators and full-width digits, a blank row, a totals row)
and a Henan 2022 csv (G2: GB18030, header on row 4, renamed headers, 性别 as 1/2 codes, a 年度
column). Expected values are worked out by hand from the rows below.
"""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.ingest import import_source

GUIZHOU_HEADERS = [
    "序号", "县", "乡", "村", "户编号", "姓名", "证件号码", "性别", "出生日期", "民族", "与户主关系",
    "在校生状况", "健康状况", "劳动技能", "户类型", "监测对象类别", "识别监测时间", "风险是否已消除",
    "风险是否已消除", "致贫/返贫风险1", "人均纯收入", "工资性收入", "生产经营性收入", "财产性收入",
    "转移性收入", "享受低保政策情况", "信息采集人", "其他备注",
]  # fmt: skip
GUIZHOU_ROWS = [
    ["1", "长顺县", "长寨街道", "营盘村", "5227290001", "罗大明", "522729********1234", "男",
     "19700315", "布依族", "户主", "", "长期慢性病", "普通劳动力", "脱贫户", "脱贫不稳定户",
     "202303.0", "否", "否", "因病", "６２００", "12,000", "6,600.00", "0", "０", "未享受", "王五", ""],
    ["2", "长顺县", "长寨街道", "营盘村", "5227290001", "陈小花", "522729**********4142", "女",
     "19720101", "布依族", "配偶", "", "残疾,长期慢性病", "弱劳动力或半劳动力", "脱贫户",
     "脱贫不稳定户", "202303", "否", "否", "因病", "6200", "12000", "6600", "0", "0", "未享受",
     "王五", ""],
    ["3", "长顺县", "长寨街道", "营盘村", "5227290001", "罗小军", "522729********5678", "男",
     "20100601", "布依族", "之子", "七年级", "健康", "无劳动力", "脱贫户", "脱贫不稳定户", "202303",
     "否", "否", "因病", "6200", "12000", "6600", "0", "0", "未享受", "王五", "在读"],
    [""] * 28,
    ["4", "长顺县", "长寨街道", "营盘村", "5227290002", "张阿婆", "522729********0027", "女",
     "19500101", "汉族", "户主", "", "患有大病", "丧失劳动力", "脱贫户", "", "", "", "", "", "7000",
     "0", "2000", "0", "5000", "未享受", "王五", ""],
    ["合计", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
     "", "", "", "", ""],
]  # fmt: skip

HENAN_HEADERS = [
    "县（市、区）", "乡镇", "行政村", "户编号", "成员姓名", "身份证号码", "性别", "出生年月",
    "与户主关系(户主本人填户主)", "劳动能力", "健康状况", "是否享受低保", "家庭人均纯收入（元）",
    "监测类型", "年度", "备注",
]  # fmt: skip
HENAN_ROWS = [
    ["洛宁县", "城郊乡", "东园村", "4103280100", "李一", "410328********3311", "1", "198005",
     "户主", "普通劳动力", "健康", "否", "9800.0", "", "2022", ""],
    ["洛宁县", "城郊乡", "东园村", "4103280100", "王二", "410328********3322", "2", "198207",
     "配偶", "技能劳动力", "健康", "否", "9800.0", "", "2022", ""],
    ["洛宁县", "城郊乡", "西岭村", "4103280101", "赵三", "410328********1942", "2", "194503",
     "户主", "无劳动力", "长期慢性病", "是", "5,500", "突发严重困难户", "2022", "独居"],
]  # fmt: skip


def write_guizhou(folder, rows=GUIZHOU_ROWS, name="（自定义）监测对象信息_20231218.xlsx"):
    import openpyxl

    folder.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "监测对象信息"
    ws.append(["防止返贫监测信息系统 监测对象信息"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(GUIZHOU_HEADERS))
    ws.append(["导出条件：长顺县 2023-12-18"])
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=10)
    ws.append(GUIZHOU_HEADERS)
    for r in rows:
        ws.append(r)
    path = folder / name
    wb.save(path)
    return path


def write_henan(folder, rows=HENAN_ROWS, preamble=3, name="监测对象信息导出.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        lines = [["洛宁县防返贫监测对象信息"], ["导出时间：2022-12-20"], [""]]
        for line in lines[:preamble]:
            w.writerow(line)
        for _ in range(preamble - len(lines)):
            w.writerow(["说明"])
        w.writerow(HENAN_HEADERS)
        w.writerows(rows)
    return path


@pytest.fixture
def guizhou(tmp_path):
    write_guizhou(tmp_path / "gz")
    return import_source(tmp_path / "gz", tmp_path / "gz-out")


def test_guizhou_layout_gives_the_households_worked_out_by_hand(guizhou):
    p = guizhou.panel.set_index("hh_id")
    assert list(p.index) == ["5227290001", "5227290002"]
    a, b = p.loc["5227290001"], p.loc["5227290002"]
    assert a["year"] == 2023 and a["township_id"] == "长寨街道" and a["village_id"] == "营盘村"
    assert (a["hh_size"], a["n_labour_full"], a["n_labour_weak"]) == (3, 1, 1)
    assert (a["n_chronic_ill"], a["n_disabled"], a["n_serious_ill"]) == (2, 1, 0)
    assert (
        a["n_severe_disabled"] == 1
    )  # the 20-character 残疾人证 number ends in category 4, grade 2
    assert (a["n_students_compulsory"], a["n_children_u16"], a["head_age"]) == (1, 1, 53)
    assert a["head_sex"] == "male" and a["head_ethnicity"] == "other"
    assert a["net_income_pc"] == 6200 and a["inc_wage"] == 12000 and a["inc_business"] == 6600
    assert bool(a["is_monitored"]) and a["monitor_category"] == "unstable"
    assert a["risk_type"] == "illness" and not bool(a["risk_eliminated"])
    assert (b["hh_size"], b["n_serious_ill"], b["n_elderly_65p"], b["n_labour_full"]) == (
        1,
        1,
        1,
        0,
    )
    assert b["head_sex"] == "female" and not bool(b["is_monitored"])
    assert b["monitor_category"] == "none" and b["household_type"] == "exited"
    assert b["monitor_line"] == 7300


def test_guizhou_report_accounts_for_every_row_and_header(guizhou):
    r = guizhou.report
    (sheet,) = r.sheets
    assert (sheet.header_row, sheet.rows, sheet.blank_rows, sheet.set_aside) == (3, 6, 1, 1)
    assert sheet.rows - sheet.blank_rows - sheet.set_aside == int(guizhou.panel["hh_size"].sum())
    assert (
        sheet.mapped["人均纯收入"] == "人均纯收入（元）" and sheet.mapped["县"] == "县(市、区、旗)"
    )
    assert {"序号", "其他备注", "风险是否已消除 (duplicate header)"} <= set(sheet.unused)
    assert sheet.mapped["信息采集人"] == "信息采集人"  # personal: read, then dropped
    assert r.quarantine == [] and not r.out_of_vocabulary
    assert r.quality["1_02_006"][1] == 1  # 张阿婆's household: 脱贫户 at 7000 < 7300, not monitored
    assert "monitor_line" in r.fields_present and "n_migrant_workers" in r.fields_absent


def test_the_heads_name_and_vocational_students_by_hand(tmp_path):
    rows = [list(r) for r in GUIZHOU_ROWS]
    rows[1][11] = "高职高专二年级"  # 陈小花
    rows[2][11] = "中职一年级"  # 罗小军
    rows[4][10] = "配偶"  # 张阿婆's household has no 户主 row
    write_guizhou(tmp_path / "gz", rows)

    result = import_source(tmp_path / "gz", tmp_path / "gz-out")

    a, b = result.panel.set_index("hh_id").loc[["5227290001", "5227290002"]].to_dict("records")
    assert a["head_name"] == "罗大明" and pd.isna(b["head_name"])  # no 户主: no head's name
    assert (a["n_students_vocational"], a["n_students_senior"], a["n_students_tertiary"]) == (
        2,
        1,
        1,
    )
    assert b["n_students_vocational"] == 0
    assert result.report.quality["3_11_001"][1] == 1
    report = (tmp_path / "gz-out" / "IMPORT.md").read_text(encoding="utf-8")
    assert "head_name" in report
    assert not any(name in report for name in ("罗大明", "陈小花", "罗小军", "张阿婆"))


def test_henan_layout_with_renamed_headers_and_codes(tmp_path):
    write_henan(tmp_path / "ha")
    result = import_source(tmp_path / "ha", tmp_path / "ha-out")
    p = result.panel.set_index("hh_id")
    assert set(p["year"]) == {2022} and result.report.sheets[0].header_row == 4
    a, b = p.loc["4103280100"], p.loc["4103280101"]
    assert (a["hh_size"], a["n_labour_full"], a["head_sex"], bool(a["dibao"])) == (
        2,
        2,
        "male",
        False,
    )
    assert a["net_income_pc"] == 9800 and a["head_age"] == 42
    assert b["head_sex"] == "female" and bool(b["dibao"]) and b["n_chronic_ill"] == 1
    assert bool(b["is_monitored"]) and b["monitor_category"] == "sudden"
    assert b["net_income_pc"] == 5500 and b["monitor_line"] == 6600
    assert "inc_wage" not in p.columns and "inc_wage" in result.report.fields_absent
    text = (tmp_path / "ha-out" / "IMPORT.md").read_text()
    assert "家庭人均纯收入（元） → 人均纯收入（元）" in text and "备注" in text


def test_wrong_header_row_is_reported_not_guessed(tmp_path):
    write_henan(tmp_path / "bad", preamble=12, name="header_too_low.csv")
    write_guizhou(tmp_path / "bad")
    result = import_source(tmp_path / "bad", tmp_path / "out")
    assert any("header_too_low.csv" in n and "no header row" in n for n in result.report.not_read)
    assert "header_too_low.csv" in (tmp_path / "out" / "IMPORT.md").read_text()
    assert set(result.panel["hh_id"]) == {"5227290001", "5227290002"}


def test_unknown_vocabulary_is_counted_with_file_sheet_and_row(tmp_path):
    rows = [list(r) for r in GUIZHOU_ROWS]
    rows[1][13] = "半劳力X"
    write_guizhou(tmp_path / "v", rows)
    result = import_source(tmp_path / "v", tmp_path / "out")
    assert result.report.out_of_vocabulary["劳动技能"]["半劳力X"] == 1
    where = result.report.vocabulary_examples[("劳动技能", "半劳力X")]
    assert where == ["（自定义）监测对象信息_20231218.xlsx [监测对象信息] row 5"]
    a = result.panel.set_index("hh_id").loc["5227290001"]
    assert (a["n_labour_full"], a["n_labour_weak"]) == (1, 0)
    assert "半劳力X" in (tmp_path / "out" / "IMPORT.md").read_text()


def test_duplicated_person_and_text_in_a_number_column_are_quarantined(tmp_path):
    rows = [list(r) for r in GUIZHOU_ROWS]
    rows.insert(3, list(rows[2]))  # 罗小军 twice (file row 7)
    rows[5][20] = "不详"  # 张阿婆's 人均纯收入 (file row 9)
    write_guizhou(tmp_path / "h", rows)
    result = import_source(tmp_path / "h", tmp_path / "out")
    q = result.report.quarantine_frame().set_index("row")
    assert q.loc[7, "reason"] == "duplicate person in the household"
    assert (q.loc[9, "column"], q.loc[9, "reason"], q.loc[9, "value"]) == (
        "人均纯收入（元）",
        "not a number",
        "不详",
    )
    assert list(result.panel["hh_id"]) == ["5227290001"]
    assert result.panel["hh_size"].iloc[0] == 3
    saved = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert set(saved["row"]) == {7, 9} and set(saved["file"]) == {
        "（自定义）监测对象信息_20231218.xlsx"
    }
    text = (tmp_path / "out" / "IMPORT.md").read_text()
    assert "row 9, 人均纯收入（元）: not a number" in text


def test_person_in_two_households_and_missing_household_number(tmp_path):
    rows = [list(r) for r in HENAN_ROWS]
    moved = list(rows[0])
    moved[3] = "4103280101"
    rows.append(moved)  # 李一 also listed in the other household (file row 8)
    rows.append(["洛宁县", "城郊乡", "西岭村", "", "钱四", "410328********0001", "1", "199001",
                 "之子", "普通劳动力", "健康", "否", "5,500", "", "2022", ""])  # fmt: skip
    write_henan(tmp_path / "x", rows)
    result = import_source(tmp_path / "x", tmp_path / "out")
    q = result.report.quarantine_frame().set_index("row")
    assert q.loc[8, "reason"] == "person already listed in another household"
    assert q.loc[9, "reason"] == "missing 户编号"
    assert result.panel.set_index("hh_id").loc["4103280101", "hh_size"] == 1


def test_years_option_and_cli(tmp_path):
    write_guizhou(tmp_path / "src")
    write_henan(tmp_path / "src")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["import", str(tmp_path / "src"), "--out", str(out),
                                   "--years", "2023-2025"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "households per year: 2023: 2" in res.output
    panel = pd.read_parquet(out / "panel.parquet")
    assert set(panel["year"]) == {2023}
    bad = CliRunner().invoke(app, ["import", str(tmp_path / "src"), "--out", str(out),
                                   "--years", "2025-2020"])  # fmt: skip
    assert bad.exit_code == 2 and "last year is before the first" in bad.output


def test_a_folder_without_a_roster_is_refused_with_a_pointer(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no person roster found"):
        import_source(tmp_path / "empty", tmp_path / "out")


def test_source_without_household_numbers_still_gets_its_report(tmp_path):
    rows = [list(r) for r in GUIZHOU_ROWS]
    for r in rows[:3] + rows[4:5]:
        r[4] = ""
    write_guizhou(tmp_path / "n", rows)
    with pytest.raises(ValueError, match=r"IMPORT\.md"):
        import_source(tmp_path / "n", tmp_path / "out")
    text = (tmp_path / "out" / "IMPORT.md").read_text()
    assert text.count("missing 户编号") >= 1 and "row 4" in text


def test_a_roster_split_over_two_files_of_one_year_joins_up(tmp_path, guizhou):
    """2025 exports come as 监测对象信息-风险未消除 and -风险已消除 files (national-export.md)."""
    write_guizhou(
        tmp_path / "s", GUIZHOU_ROWS[:3], "防止返贫致贫监测对象信息_20231218-风险未消除.xlsx"
    )
    write_guizhou(
        tmp_path / "s", GUIZHOU_ROWS[3:], "防止返贫致贫监测对象信息_20231218-风险已消除.xlsx"
    )
    split = import_source(tmp_path / "s", tmp_path / "out")
    a = split.panel.set_index("hh_id").sort_index()
    b = guizhou.panel.set_index("hh_id").sort_index()
    pd.testing.assert_frame_equal(a, b)
    assert len(split.report.sheets) == 2
