"""The simulator's national export: layout, headers, vocabularies, masking, and the round trip."""

from __future__ import annotations

import csv
import re

import numpy as np
import pandas as pd
import pytest

from riskmodel.catalogue import NATIONAL, NATIONAL_MAPPING, PANEL
from riskmodel.ingest import import_source
from riskmodel.simulate import SimulationConfig, simulate
from riskmodel.simulate.export import NationalExport, id_numbers, national_ids


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small county simulated with its export (csv), and the import of that export."""
    root = tmp_path_factory.mktemp("national")
    exporter = NationalExport(root / "export")
    sim = simulate(SimulationConfig(seed=3, households=300), on_year=exporter)
    result = import_source(root / "export", root / "imported")
    return sim, exporter, result, root


def _read(path):
    with path.open(encoding="utf-8-sig") as fh:
        return list(csv.reader(fh))


def test_one_file_per_year_and_table_with_header_on_the_third_row(exported):
    sim, _exporter, _, root = exported
    years = range(sim.config.first_year, sim.config.last_year + 1)
    names = {p.name for p in (root / "export").iterdir()}
    for y in years:
        assert f"（自定义）监测对象信息_{y}1231.csv" in names
        assert f"（务工月监测）已外出务工信息_{y}1231.csv" in names
        assert f"（自定义）行政村信息_{y}1231.xlsx" in names
    rows = _read(root / "export" / "（自定义）监测对象信息_20231231.csv")
    assert rows[0][0].startswith("防止返贫监测信息系统") and len(rows[0]) == 1
    assert rows[1][0].startswith("导出单位")
    header = rows[2]
    assert {"户编号", "姓名", "证件号码", "与户主关系", "出生日期", "劳动技能"} <= set(header)
    assert set(header) <= set(NATIONAL), set(header) - set(NATIONAL)
    assert (root / "export" / "（自定义）监测对象信息_20231231.csv").read_bytes()[
        :3
    ] == b"\xef\xbb\xbf"


def test_person_rows_repeat_household_fields_and_count_the_members(exported):
    sim, _, _, root = exported
    df = pd.read_csv(
        root / "export" / "（自定义）监测对象信息_20221231.csv", skiprows=2, dtype=str
    ).fillna("")
    panel = national_ids(sim.panel[sim.panel["year"] == 2022]).set_index("hh_id")
    sizes = df.groupby("户编号").size()
    assert sizes.sort_index().tolist() == panel["hh_size"].sort_index().tolist()
    per_hh = df.groupby("户编号")[["人均纯收入（元）", "监测对象类别", "户类型"]].nunique()
    assert (per_hh == 1).all().all()
    assert (df.groupby("户编号")["与户主关系"].apply(lambda s: (s == "户主").sum()) == 1).all()


def test_values_use_the_national_vocabularies(exported):
    _, _, _, root = exported
    df = pd.read_csv(
        root / "export" / "（自定义）监测对象信息_20241231.csv", skiprows=2, dtype=str
    ).fillna("")
    for header in ("户类型", "性别", "劳动技能", "在校生状况", "监测对象类别", "风险是否已消除",
                   "致贫/返贫风险1", "享受低保政策情况", "文化程度", "是否危房户"):  # fmt: skip
        used = set(df[header]) - {""}
        assert used <= set(NATIONAL[header].vocabulary), (header, used)
    health = {x for v in df["健康状况"] for x in v.split(",")}
    assert health <= {"健康", "长期慢性病", "患有大病", "残疾"}
    assert {"脱贫不稳定户", "边缘易致贫户"} & set(df["监测对象类别"])
    assert set(df["风险是否已消除"]) >= {"是", "否"}


def test_id_numbers_are_masked_and_birth_dates_full(exported):
    _, _, _, root = exported
    df = pd.read_csv(
        root / "export" / "（自定义）监测对象信息_20201231.csv", skiprows=2, dtype=str
    ).fillna("")
    assert (
        df["证件号码"].str.fullmatch(r"451422\*{8}\d{3}[\dX]|451422\*{10}\d[\dX][1-7][1-4]").all()
    )
    cert = df["证件类型"] == "残疾人证"
    assert (df.loc[cert, "证件号码"].str.len() == 20).all()
    assert (df.loc[cert, "健康状况"].str.contains("残疾")).all()
    assert df["出生日期"].str.fullmatch(r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d)").all()
    assert not df["证件号码"].str.contains(r"\d{7}").any()


def test_id_numbers_carry_the_gb11643_check_digit():
    births = np.array(["19491231", "19800101", "20120615"])
    seqs = np.array([2, 137, 998])
    ids = id_numbers(births, seqs)
    for number in ids:
        total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(number[:17]))
        assert number[17] == "10X98765432"[total % 11]
    assert ids[0][6:14] == "19491231" and ids[1][14:17] == "137"


def test_work_spells_lie_within_the_year_and_add_up_to_work_months(exported):
    sim, _, _, root = exported
    work = pd.read_csv(
        root / "export" / "（务工月监测）已外出务工信息_20211231.csv", skiprows=2, dtype=str
    ).fillna("")
    done = work["是否已务工"] == "是"
    start = work.loc[done, "开始时间"].str.extract(r"(\d{4})年(\d{2})月").astype(int)
    end = work.loc[done, "结束时间"].str.extract(r"(\d{4})年(\d{2})月").astype(int)
    assert (start[0] == 2021).all() and (end[0] == 2021).all() and (end[1] <= 12).all()
    months = (end[1] - start[1] + 1).groupby(work.loc[done, "户编号"]).sum()
    panel = national_ids(sim.panel[sim.panel["year"] == 2021]).set_index("hh_id")
    expected = panel["work_months"][panel["work_months"] > 0]
    assert months.reindex(expected.index).fillna(0).astype(int).equals(expected.astype(int))
    assert work["就业渠道"].isin(["劳务输出", "自主就业", "帮扶车间", "公益性岗位"]).all()


def _plain(s: pd.Series) -> list:
    return [None if pd.isna(v) else str(v) for v in s.astype(object)]


def test_round_trip_reproduces_every_mapped_field(exported):
    sim, _, result, _ = exported
    expected = national_ids(sim.panel).set_index(["hh_id", "year"]).sort_index()
    got = result.panel.set_index(["hh_id", "year"]).sort_index()
    assert got.index.equals(expected.index)
    mapped = [c for c in NATIONAL_MAPPING if c not in ("hh_id", "year")]
    assert sorted(got.columns) == sorted(mapped)
    for name in mapped:
        a, b = expected[name], got[name]
        if PANEL[name].dtype == "float":
            assert np.allclose(a.astype(float), b.astype(float), atol=0.011, equal_nan=True), name
        else:
            assert _plain(a) == _plain(b), name
    assert result.report.quarantine == [] and not result.report.out_of_vocabulary
    assert result.invalid.empty
    # the head's name (户主 row's 姓名) and 中职/高职 students, not only the columns' presence
    assert _plain(got["head_name"]) == _plain(expected["head_name"])
    assert got["head_name"].notna().all()
    vocational = got["n_students_vocational"].astype(int)
    assert vocational.equals(expected["n_students_vocational"].astype(int))
    assert vocational.sum() > 50
    assert (vocational < got["n_students_senior"] + got["n_students_tertiary"]).any()


def test_round_trip_report_lists_absent_fields_and_quality_counts(exported):
    _, _, result, root = exported
    text = (root / "imported" / "IMPORT.md").read_text()
    for name in ("edu_spend", "motivation_score", "sugarcane_price_index"):
        assert f"`{name}`" in text.split("Absent")[1].split("##")[0]
    assert "1_02_006" in text and "households per year" in text.lower()
    assert result.report.quality["3_11_001"][1] == 0
    assert result.report.quality["3_11_002"][1] == 0


def test_the_exports_head_is_the_panels_head_name(exported):
    sim, _, _, root = exported
    for year in (2016, 2025):
        roster = pd.read_csv(
            root / "export" / f"（自定义）监测对象信息_{year}1231.csv", skiprows=2, dtype=str
        ).fillna("")
        heads = roster[roster["与户主关系"] == "户主"].set_index("户编号")["姓名"]
        panel = national_ids(sim.panel[sim.panel["year"] == year]).set_index("hh_id")
        assert heads.sort_index().to_dict() == panel["head_name"].sort_index().to_dict()
        assert heads.str.len().between(3, 3).all()  # surname + two-character given name


def test_names_and_id_numbers_never_reach_the_outputs(exported):
    _, _, result, root = exported
    roster = pd.read_csv(
        root / "export" / "（自定义）监测对象信息_20251231.csv", skiprows=2, dtype=str
    ).fillna("")
    names = set(roster["姓名"])
    ids = set(roster["证件号码"])
    # the panel keeps the 户主's name in head_name only (personal: shown masked downstream)
    others = result.panel.drop(columns="head_name").astype(str)
    assert not others.isin(names | ids).any().any()
    assert result.panel["head_name"].isin(names).sum() > 0
    for path in (root / "imported").iterdir():
        if path.name == "panel.parquet":
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert not any(n in text for n in list(names)[:200]), path.name
        assert not any(i in text for i in list(ids)[:200]), path.name
        assert not re.search(r"451422\*", text), path.name


def test_xlsx_export_imports_the_same(tmp_path):
    exporter = NationalExport(tmp_path / "export", "xlsx")
    sim = simulate(
        SimulationConfig(seed=4, households=60, first_year=2019, last_year=2021), on_year=exporter
    )
    assert all(p.suffix == ".xlsx" for p in exporter.files)
    result = import_source(tmp_path / "export", tmp_path / "imported", years=(2020, 2021))
    expected = national_ids(sim.panel[sim.panel["year"] >= 2020]).set_index(["hh_id", "year"])
    got = result.panel.set_index(["hh_id", "year"])
    assert sorted(got.index) == sorted(expected.index)
    got = got.loc[expected.index]
    assert (got["n_labour_full"].to_numpy() == expected["n_labour_full"].to_numpy()).all()
    assert np.allclose(got["net_income_pc"], expected["net_income_pc"], atol=0.011)
    assert set(result.report.households_per_year) == {2020, 2021}


def test_cli_simulate_export_and_import(tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app,
        ["simulate", "--out", str(tmp_path / "county"), "--seed", "2", "--households", "60",
         "--first-year", "2022", "--last-year", "2024", "--export", str(tmp_path / "export")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "national export: 9 files" in res.output
    res = runner.invoke(app, ["import", str(tmp_path / "export"), "--out", str(tmp_path / "in")])
    assert res.exit_code == 0, res.output
    panel = pd.read_parquet(tmp_path / "county" / "panel.parquet")
    imported = pd.read_parquet(tmp_path / "in" / "panel.parquet")
    assert len(imported) == len(panel)
    assert "households per year: 2022:" in res.output
    bad = runner.invoke(app, ["simulate", "--out", str(tmp_path / "c2"), "--households", "60",
                              "--export", str(tmp_path / "e2"), "--export-format", "ods"])  # fmt: skip
    assert bad.exit_code == 2 and "csv or xlsx" in bad.output
