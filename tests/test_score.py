import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from riskmodel.features import build_features
from riskmodel.model import RelapseModel
from riskmodel.monitor.batch import scored_batches
from riskmodel.score import BatchError, run_batch, score_records
from riskmodel.score.outputs import OutputError
from riskmodel.store import engine_for, read_batch, score_runs
from riskmodel.worklist import CASELOAD_SHEET, read_places


@pytest.fixture(scope="module")
def latest(trained):
    _, panel = trained
    rec = build_features(panel[panel["year"] >= 2023])
    return rec[rec["year"] == 2025].reset_index(drop=True)


def expected_status(panel_rows: pd.DataFrame) -> np.ndarray:
    """Status written out from the panel's own columns (the 纳入条件 in plain arithmetic)."""
    p = panel_rows
    line = p["monitor_line"]
    meets = (
        (p["net_income_pc"] < line)
        | (p["net_income_pc"] - (p["oop_medical"] + p["edu_spend"]) / p["hh_size"] < line)
        | ~p["housing_safe"].astype(bool)
        | ~p["water_safe"].astype(bool)
        | ~p["all_insured"].astype(bool)
        | (p["n_dropout"] > 0)
        | (p["oop_medical"] > 20_000)
    )
    monitored = p["is_monitored"].astype(bool)
    return np.where(monitored, "monitored", np.where(meets, "meets_criteria", "not_monitored"))


@pytest.fixture(scope="module")
def both(trained, trained_persistent):
    return {"meets_criteria": trained[0], "persistent": trained_persistent}


@pytest.fixture(scope="module")
def scored(both, latest):
    return score_records(
        latest, both, "7", "run", versions={"meets_criteria": "7", "persistent": "2"}
    )


def test_every_household_gets_the_status_its_panel_row_implies(trained, latest, scored):
    _, panel = trained
    rows = latest[["hh_id", "year"]].merge(panel, on=["hh_id", "year"])

    expected = expected_status(rows)

    np.testing.assert_array_equal(scored["status"].to_numpy(), expected)
    assert set(expected) == {"monitored", "meets_criteria", "not_monitored"}


def test_each_status_gets_its_own_models_probability(both, latest, scored):
    main, persistent = both["meets_criteria"], both["persistent"]

    for status, model, label, version in (
        ("not_monitored", main, "meets_criteria", "7"),
        ("monitored", persistent, "persistent", "2"),
    ):
        m = (scored["status"] == status).to_numpy()
        np.testing.assert_allclose(
            scored.loc[m, "probability"], model.predict_proba(latest[m]), atol=1e-9
        )
        assert (scored.loc[m, "label"] == label).all()
        assert (scored.loc[m, "label_version"] == version).all()
        red = model.meta.tiers.red
        assert (scored.loc[m & (scored["probability"] >= red), "tier"] == "red").all()
    verify = scored[scored["status"] == "meets_criteria"]
    assert verify["probability"].isna().all() and verify["tier"].isna().all()
    assert verify["label"].isna().all() and (verify["label_version"] == "").all()
    assert (verify["criteria"] != "").all() and (verify["criteria_zh"] != "").all()


def test_monitored_households_get_no_probability_without_a_persistent_model(trained, latest):
    rows = score_records(latest, trained[0], "7", "run")

    monitored = rows[rows["status"] == "monitored"]
    assert len(monitored) and monitored["probability"].isna().all()
    assert monitored["tier"].isna().all() and monitored["reasons_zh"].eq("").all()
    assert rows.loc[rows["status"] == "not_monitored", "probability"].notna().all()


def test_a_model_of_a_label_that_serves_no_status_is_refused(trained, latest):
    model = trained[0]
    with pytest.raises(ValueError, match="cannot serve as the 'relapse' model"):
        score_records(latest, {"relapse": model}, "7", "run")


def test_no_household_below_the_line_or_failing_a_guarantee_is_green_and_unmonitored(
    latest, scored
):
    failing = (latest["income_to_line"] < 1) | ~latest["housing_safe"] | ~latest["water_safe"]
    failing |= ~latest["all_insured"] | (latest["n_dropout"] > 0)

    rows = scored[failing.to_numpy()]

    assert len(rows) > 0
    assert not ((rows["status"] == "not_monitored") | (rows["tier"] == "green")).any()


def test_households_that_meet_the_criteria_head_their_village_worklist(scored):
    for _, g in scored.groupby("village_id"):
        ordered = g.sort_values("rank_in_village")
        assert list(ordered["rank_in_village"]) == list(range(1, len(g) + 1))
        order = ordered["status"].map({"meets_criteria": 0, "not_monitored": 1, "monitored": 2})
        assert order.is_monotonic_increasing
        for _, part in ordered.groupby("status"):
            assert part["probability"].fillna(-1).is_monotonic_decreasing
    assert scored.loc[scored["status"] == "meets_criteria", "on_worklist"].all()


@pytest.mark.parametrize("share", [0.01, 0.10, 0.30])
def test_worklist_is_the_criteria_the_monitored_and_the_top_share_of_unmonitored(
    both, latest, share
):
    rows = score_records(latest, both, "7", "run", worklist_share=share)

    assert rows.loc[rows["status"] != "not_monitored", "on_worklist"].all()
    top = rows[(rows["status"] == "not_monitored") & rows["on_worklist"]]
    unmonitored = rows[rows["status"] == "not_monitored"].groupby("village_id").size()
    assert len(top) == np.maximum(1, np.ceil(share * unmonitored)).sum()
    for _, village in rows[rows["status"] == "not_monitored"].groupby("village_id"):
        listed = village.loc[village["on_worklist"], "probability"]
        left = village.loc[~village["on_worklist"], "probability"]
        assert left.empty or listed.min() >= left.max()
    assert (top["warning_source"] == "model").all()
    assert set(rows.loc[rows["status"] == "meets_criteria", "warning_source"]) <= {
        "criteria",
        "criteria+model",
    }
    assert (rows.loc[rows["status"] == "monitored", "warning_source"] == "monitored").all()
    assert (rows.loc[~rows["on_worklist"], "warning_source"] == "").all()
    assert not rows["warning_source"].str.contains("band").any()  # off unless set


def test_an_early_warning_band_lists_its_households_as_its_own_source(both, latest):
    rows = score_records(latest, both, "7", "run", band=1.1)

    unmonitored = rows[rows["status"] == "not_monitored"]
    in_band = (latest.loc[unmonitored.index, "income_to_line"] < 1.1).to_numpy()
    assert in_band.sum() > 5
    assert unmonitored.loc[in_band, "on_worklist"].all()
    assert set(unmonitored.loc[in_band, "warning_source"]) <= {"band", "model+band"}
    assert (unmonitored.loc[in_band, "warning_source"] == "band").any()
    assert not unmonitored.loc[~in_band, "warning_source"].str.contains("band").any()


def test_households_meeting_the_criteria_are_both_when_the_model_puts_them_in_red(both, latest):
    rows = score_records(latest, both, "7", "run")

    verify = (rows["status"] == "meets_criteria").to_numpy()
    main = both["meets_criteria"]
    p = main.predict_proba(latest[verify])
    want = np.where(p >= main.meta.tiers.red, "criteria+model", "criteria")
    np.testing.assert_array_equal(rows.loc[verify, "warning_source"].to_numpy(), want)
    assert len(set(want)) == 2


def test_no_protective_factor_states_a_criterion_the_household_meets(latest, scored):
    """Below the line, income is never protective; with a failed guarantee, that guarantee never;
    with rigid spending, neither the spending nor a sentence quoting it."""
    import json

    rigid_stated = {"net_income_pc", "income_to_line", "oop_medical", "edu_spend", "oop_to_income"}
    rigid_stated |= {"costly_students"}  # its sentence quotes the education spending
    checked = 0
    for _, row in scored.iterrows():
        codes = set(row["criteria"].split(",")) - {""}
        shown = {f for f, *_ in json.loads(row["reasons_json"])["protective"]}
        banned = set()
        if "income" in codes:
            banned |= {"net_income_pc", "income_to_line"}
        if "rigid" in codes:
            banned |= rigid_stated
        if "guarantee" in codes:
            banned |= {"housing_safe", "water_safe", "all_insured", "n_dropout"}
        if "hardship" in codes:
            banned |= {"oop_medical", "oop_to_income"}
        assert not shown & banned, (row["hh_id"], shown & banned)
        checked += bool(codes)
    assert checked > 20


def test_rule_flags_agree_with_the_data(scored, latest):
    np.testing.assert_array_equal(scored["flag_income_below_line"], latest["income_to_line"] < 1.1)
    np.testing.assert_array_equal(scored["flag_medical_over_20k"], latest["oop_medical"] > 20_000)


def _run(trained, training_county, out, db_url, version="7", **kw):
    model, _ = trained
    return run_batch(training_county, out, db_url, model, version, "run-1", **kw)


def test_the_quick_monitor_reuses_the_raw_scores_its_trees_would_give(
    trained, training_county, tmp_path
):
    # given the model as the batch loads it (its tables, no LightGBM) and a scored batch
    model = RelapseModel.load(trained[0].folder)
    result = run_batch(
        training_county, tmp_path, f"sqlite:///{tmp_path / 'store.db'}", model, "7", "run-1"
    )
    known = result.raw_scores["meets_criteria"]

    # when the monitor's rows of the year are scored with the batch's raw scores and alone
    given = scored_batches(model, result.valid, [2025], {2025: known})[2025]
    alone = scored_batches(model, result.valid, [2025])[2025]

    # then every row was found in the batch, and the scores are equal to the bit
    assert alone.rows["hh_id"].isin(known.index).all() and len(alone.rows) > 100
    np.testing.assert_array_equal(given.raw, alone.raw)
    pd.testing.assert_frame_equal(given.rows, alone.rows)


def test_batch_writes_parquet_store_and_workbook_that_agree(
    trained, training_county, tmp_path, db_url
):
    result = _run(trained, training_county, tmp_path, db_url)

    parquet = pd.read_parquet(result.parquet)
    stored = read_batch(engine_for(db_url), 2025, "7")
    assert len(parquet) == len(stored) == result.rows.shape[0] > 0
    merged = parquet.merge(stored, on="hh_id", suffixes=("", "_db"))
    assert len(merged) == len(parquet)
    np.testing.assert_allclose(merged["probability"], merged["probability_db"])
    assert merged["probability"].isna().sum() > 0  # meets_criteria households: NULL in the store
    for col in ("reasons_zh", "tier", "status", "label", "criteria", "label_version"):
        assert (merged[col].fillna("-") == merged[f"{col}_db"].fillna("-")).all(), col
    for col in [
        "hh_id",
        "village_id",
        "township_id",
        "year",
        "status",
        "label",
        "criteria",
        "criteria_zh",
        "probability",
        "tier",
        "rank_in_village",
        "any_rule",
        "reasons_zh",
        "reasons_en",
        "model_version",
        "run_id",
        "scored_at",
    ]:
        assert col in parquet.columns
    book = load_workbook(result.workbook, read_only=True)
    names = read_places(training_county)
    assert sorted(book.sheetnames) == sorted(
        [
            CASELOAD_SHEET,
            *(names[t] for t in parquet.loc[parquet["on_worklist"], "township_id"].unique()),
        ]
    )
    listed = sum(len(households) for _, households in _sheets(result.workbook).values())
    assert listed == parquet["on_worklist"].sum()


def _sheets(path) -> dict[str, tuple[list[str], list[dict]]]:
    """Each sheet of a workbook: its section titles in order and its household rows (header ->
    value, with the section they are in)."""
    book = load_workbook(path, read_only=True)
    out = {}
    for ws in book.worksheets:
        if ws.title == CASELOAD_SHEET:
            continue
        cells = list(ws.iter_rows(values_only=True))
        header = list(cells[1])
        sections, households = [], []
        for row in cells[2:]:
            if row[0] and row[2] is None and row[3] is None:
                sections.append(row[0])
            else:
                households.append(dict(zip(header, row, strict=True)) | {"section": sections[-1]})
        out[ws.title] = (sections, households)
    return out


def test_workbook_is_a_taizhang_in_sections(both, training_county, tmp_path):
    from riskmodel.catalogue import PANEL
    from riskmodel.criteria import STATUSES
    from riskmodel.privacy import mask_name
    from riskmodel.worklist import COLUMNS, SECTIONS, SOURCES, TIER_ZH, VISIT_COLUMNS

    result = run_batch(
        training_county, tmp_path, f"sqlite:///{tmp_path / 's.db'}", both, "7", "run-1"
    )
    rows = result.rows.set_index("hh_id")
    names = read_places(training_county)
    panel = pd.read_parquet(training_county / "panel.parquet")
    facts = panel[panel["year"] == 2025].set_index("hh_id")
    book = load_workbook(result.workbook, read_only=True)

    titles = dict(SECTIONS)
    seen = set()
    for sheet, (sections, households) in _sheets(result.workbook).items():
        cells = list(book[sheet].iter_rows(max_row=2, values_only=True))
        assert cells[0][0].endswith(f"— {sheet}") and "模型 v7" in cells[0][0]
        assert list(cells[1]) == [h for h, _ in COLUMNS]
        order = [s for s, _ in SECTIONS]
        statuses = [next(k for k, t in titles.items() if t == s) for s in sections]
        assert statuses == sorted(statuses, key=order.index)  # criteria, unmonitored, monitored
        want = rows[rows["on_worklist"] & (rows["township_id"].map(names) == sheet)]
        assert len(households) == len(want)
        for status in statuses:
            part = [h for h in households if h["section"] == titles[status]]
            ids = [h["户编号"] for h in part]
            expected = want[want["status"] == status].sort_values(["village_id", "rank_in_village"])
            assert ids == expected.index.tolist()
        for h in households:
            hh, r, f = h["户编号"], rows.loc[h["户编号"]], facts.loc[h["户编号"]]
            seen.add(hh)
            assert h["乡镇"] == sheet and h["行政村"] == names[r["village_id"]] != r["village_id"]
            assert h["监测状态"] == STATUSES[r["status"]][0]
            assert h["户主"] == mask_name(f["head_name"]) != f["head_name"]
            assert h["户类型"] == PANEL["household_type"].categories[f["household_type"]]
            assert h["家庭人口"] == str(f["hh_size"])
            assert h["人均纯收入（元）"] == f"{f['net_income_pc']:,.0f}"
            assert h["监测标准（元）"] == f"{f['monitor_line']:,.0f}"
            assert h["预警来源"] == SOURCES[r["warning_source"]][0]
            assert (h["主要风险原因"] or "") == r["reasons_zh"]
            assert (h["建议帮扶措施"] or "") == r["measures_zh"]
            assert all(h[c] is None for c, _ in VISIT_COLUMNS)  # to fill in on the visit
            if r["status"] == "meets_criteria":
                assert h["风险概率"] == "—" and h["等级"] == "应纳" and h["符合的纳入条件"]
            elif r["probability"] == r["probability"]:
                low, high = r["probability_low"], r["probability_high"]
                assert h["风险概率"].split("\n")[0] == f"{r['probability']:.1%}"
                shown = "区间过宽，仅供排序" if high - low > 0.5 else f"{low:.1%}–{high:.1%}"
                assert h["风险概率"].endswith(f"（{shown}）") and low <= high
                assert h["等级"] == TIER_ZH[r["tier"]]
            if r["status"] == "monitored":
                category = PANEL["monitor_category"].categories[f["monitor_category"]]
                assert h["监测对象类别"] == category and h["识别年度"] != "—"
                assert PANEL["risk_type"].categories[f["risk_type"]] in (h["风险类型"] or "")
            else:
                assert h["监测对象类别"] == "—" and h["识别年度"] == "—"
    assert seen == set(rows.index[rows["on_worklist"]])
    assert {"meets_criteria", "not_monitored", "monitored"} <= set(rows.loc[list(seen), "status"])
    full = set(panel["head_name"].dropna())  # never a full name: in the workbook, batch or store
    cells = {v for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row}
    assert not full & {str(v) for v in cells}
    assert not any(n in str(v) for v in cells if isinstance(v, str) for n in full)
    stored = read_batch(engine_for(f"sqlite:///{tmp_path / 's.db'}"), 2025, "7")
    assert stored["head_name"].str.fullmatch(r".\*+.?").all()
    assert (rows["head_name"] == facts["head_name"].map(mask_name).reindex(rows.index)).all()


def test_identified_year_is_the_start_of_the_monitoring_spell(training_county):
    from riskmodel.worklist import household_facts

    panel = pd.read_parquet(training_county / "panel.parquet")

    facts = household_facts(panel, 2025)

    monitored = panel[(panel["year"] == 2025) & panel["is_monitored"]]["hh_id"]
    assert len(monitored) > 10
    years = panel.set_index(["hh_id", "year"])["is_monitored"]
    for hh in monitored:
        start = 2025
        while (hh, start - 1) in years.index and years[(hh, start - 1)]:
            start -= 1
        assert facts.loc[hh, "identified_year"] == start
    assert facts.loc[~facts.index.isin(monitored), "identified_year"].isna().all()


def test_rerunning_the_same_version_and_year_replaces(trained, training_county, tmp_path, db_url):
    _run(trained, training_county, tmp_path, db_url)
    again = _run(trained, training_county, tmp_path, db_url)

    stored = read_batch(engine_for(db_url), 2025, "7")
    assert len(stored) == len(again.rows)
    assert not stored["hh_id"].duplicated().any()


@pytest.mark.parametrize(
    ("where", "error", "message"),
    [
        # the workbook is written by a forked process: its failure is reported by the parent
        ("riskmodel.score.outputs.write_worklist", OutputError, "workbook .*OSError: disk full"),
        ("riskmodel.store.queries._bulk_insert", OSError, "disk full"),
        ("riskmodel.score.outputs.caseload_table", OSError, "disk full"),
    ],
)
def test_failure_midway_leaves_previous_outputs_whole(
    trained, training_county, tmp_path, monkeypatch, where, error, message
):
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    first = _run(trained, training_county, tmp_path, db_url)
    before = (first.parquet.read_bytes(), first.workbook.read_bytes())

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(where, boom)
    with pytest.raises(error, match=message):
        run_batch(training_county, tmp_path, db_url, trained[0], "7", "run-2")

    assert (first.parquet.read_bytes(), first.workbook.read_bytes()) == before
    stored = read_batch(engine_for(db_url), 2025, "7")
    assert set(stored["run_id"]) == {"run-1"} and len(stored) == len(first.rows)
    assert not list(tmp_path.glob(".*.tmp"))


def test_killed_run_leaves_previous_outputs_whole(trained, training_county, tmp_path):
    """A real SIGKILL while the store is being written: files and store keep the last batch."""
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    first = _run(trained, training_county, tmp_path, db_url)
    before = (first.parquet.read_bytes(), first.workbook.read_bytes())
    model_dir = tmp_path / "model"
    trained[0].save(model_dir)
    script = f"""
import sys
from riskmodel.model import RelapseModel
from riskmodel.score import run_batch
import riskmodel.store.queries as store
real = store._bulk_insert
def slow(*a, **k):
    real(*a, **k)
    print("inserted", flush=True)
    import time; time.sleep(60)
store._bulk_insert = slow
run_batch({str(training_county)!r}, {str(tmp_path)!r}, {db_url!r},
          RelapseModel.load({str(model_dir)!r}), "7", "run-2")
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "inserted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert (first.parquet.read_bytes(), first.workbook.read_bytes()) == before
    stored = read_batch(engine_for(db_url), 2025, "7")
    assert set(stored["run_id"]) == {"run-1"} and len(stored) == len(first.rows)
    left = sorted(p.name for p in tmp_path.glob(".*.tmp"))
    assert [n.split(".")[1] for n in left] == [
        "caseload-2025-v7",
        "scores-2025-v7",
        "worklist-2025-v7",
    ]
    assert all(f".{proc.pid}." in n for n in left)

    again = _run(trained, training_county, tmp_path, db_url)  # the next run clears them

    assert not list(tmp_path.glob(".*.tmp"))
    assert len(pd.read_parquet(again.parquet)) == len(first.rows)


def test_invalid_scored_year_households_stay_on_the_worklist_for_data_checks(
    trained, training_county, tmp_path
):
    panel = pd.read_parquet(training_county / "panel.parquet")
    bad = panel.copy()
    idx = bad.index[bad["year"] == 2025][:5]
    bad.loc[idx, "head_age"] = 500
    bad["main_industry"] = bad["main_industry"].astype(object)
    bad.loc[idx[0], "main_industry"] = "rubber"
    bad.to_parquet(tmp_path / "panel.parquet")
    out = tmp_path / "out"

    result = _run(trained, tmp_path, out, f"sqlite:///{tmp_path / 's.db'}")

    q = pd.read_parquet(result.quarantine)
    assert set(q["hh_id"]) == set(bad.loc[idx, "hh_id"])
    assert list(q["row"]) == list(idx + 2)  # spreadsheet rows of the file
    assert result.invalid_rows == 5
    check = result.rows[result.rows["hh_id"].isin(bad.loc[idx, "hh_id"])]
    assert len(check) == 5 and len(result.rows) == (panel["year"] == 2025).sum()
    assert (check["status"] == "data_check").all() and check["on_worklist"].all()
    assert check["probability"].isna().all() and check["tier"].isna().all()
    assert check["reasons_zh"].str.startswith("数据待核实：head_age: at most 120").all()
    first = check[check["hh_id"] == bad.loc[idx[0], "hh_id"]]
    assert (
        first["data_check"].iloc[0].startswith("2025 head_age: at most 120; main_industry: one of ")
    )
    for _, r in check.iterrows():  # listed after every scored household of its village
        village = result.rows[result.rows["village_id"] == r["village_id"]]
        assessed = village.loc[village["status"] != "data_check", "rank_in_village"]
        assert r["rank_in_village"] > assessed.max()
    assert (result.invalid_scored.invalid, result.invalid_scored.rows) == (
        5,
        (panel["year"] == 2025).sum(),
    )
    assert result.invalid_history.invalid == 0
    stored = read_batch(engine_for(f"sqlite:///{tmp_path / 's.db'}"), 2025, "7")
    assert stored.set_index("hh_id").loc[list(check["hh_id"]), "probability"].isna().all()
    listed = {h["户编号"]: h for _, hs in _sheets(result.workbook).values() for h in hs}
    for hh in check["hh_id"]:
        h = listed[hh]
        assert h["section"] == "四、数据待核实" and h["监测状态"] == "数据待核实"
        assert h["风险概率"] == "—" and h["等级"] == "—" and h["预警来源"] == "数据待核实"
        assert h["主要风险原因"].startswith("数据待核实：head_age")
        assert h["数据待核实"].startswith("2025 head_age: at most 120")


def test_invalid_history_rows_are_reported_not_silently_missing(trained, training_county, tmp_path):
    panel = pd.read_parquet(training_county / "panel.parquet")
    bad = panel.copy()
    idx = bad.index[bad["year"] == 2024][:4]
    bad.loc[idx, "hh_size"] = 0
    bad.to_parquet(tmp_path / "panel.parquet")

    result = _run(trained, tmp_path, tmp_path / "out", f"sqlite:///{tmp_path / 's.db'}")

    hh = set(bad.loc[idx, "hh_id"])
    noted = result.rows[result.rows["data_check"] != ""]
    assert set(noted["hh_id"]) == hh
    assert (noted["status"] != "data_check").all()
    assert (
        noted["data_check"]
        .str.fullmatch(r"history rows left out: 2024 hh_size: at least 1.*")
        .all()
    )
    n_history = panel["year"].isin([2023, 2024]).sum()
    assert (result.invalid_history.invalid, result.invalid_history.rows) == (4, n_history)
    assert result.invalid_scored.invalid == 0


def test_invalid_share_is_judged_per_part_not_over_the_window(trained, training_county, tmp_path):
    panel = pd.read_parquet(training_county / "panel.parquet")
    n_now = (panel["year"] == 2025).sum()
    bad = panel.copy()
    # 8% of the scored year: over 5% there, yet under 5% of the three-year window
    idx = bad.index[bad["year"] == 2025][: int(0.08 * n_now)]
    bad.loc[idx, "head_age"] = 500
    assert len(idx) / bad["year"].between(2023, 2025).sum() < 0.05
    bad.to_parquet(tmp_path / "panel.parquet")

    with pytest.raises(BatchError, match=r"scored year: .* invalid > 5%"):
        _run(trained, tmp_path, tmp_path / "out", f"sqlite:///{tmp_path / 's.db'}")


@pytest.mark.parametrize(
    ("year", "message"),
    [
        (2031, r"no rows for year 2031 in .*panel.parquet; years present: 2014-2025"),
        (2010, "2014-2025"),
    ],
)
def test_a_year_without_rows_lists_the_years_present(
    trained, training_county, tmp_path, year, message
):
    with pytest.raises(BatchError, match=message):
        _run(trained, training_county, tmp_path, f"sqlite:///{tmp_path / 's.db'}", year=year)


def test_scoring_a_year_without_its_history_years_warns(trained, training_county, tmp_path):
    panel = pd.read_parquet(training_county / "panel.parquet")
    panel[panel["year"] != 2023].to_parquet(tmp_path / "panel.parquet")

    result = _run(trained, tmp_path, tmp_path / "out", f"sqlite:///{tmp_path / 's.db'}", year=2024)

    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("history years 2023 are not in")
    assert "lags" in result.warnings[0]
    first = _run(
        trained, training_county, tmp_path / "o2", f"sqlite:///{tmp_path / 't.db'}", year=2016
    )
    assert first.warnings == [] and len(first.rows) > 0
    earliest = _run(
        trained, training_county, tmp_path / "o3", f"sqlite:///{tmp_path / 'u.db'}", year=2014
    )
    assert "history years 2012, 2013 are not in" in earliest.warnings[0]


def test_too_many_invalid_rows_stop_before_any_output(trained, training_county, tmp_path):
    panel = pd.read_parquet(training_county / "panel.parquet")
    panel.loc[panel["year"] == 2025, "hh_size"] = -1
    panel.to_parquet(tmp_path / "panel.parquet")

    with pytest.raises(BatchError, match="invalid"):
        _run(
            trained,
            tmp_path,
            tmp_path / "out",
            f"sqlite:///{tmp_path / 's.db'}",
            max_invalid_share=0.05,
        )

    assert (tmp_path / "out" / "quarantine-2025.parquet").exists()
    assert not list((tmp_path / "out").glob("scores-*"))


def test_status_uses_the_criteria_the_model_was_trained_with(trained, latest):
    import copy
    import dataclasses

    model = copy.copy(trained[0])
    model.meta = dataclasses.replace(model.meta, criteria={"hardship_medical_yuan": 5_000})
    spent = (latest["oop_medical"] > 5_000) & (latest["oop_medical"] <= 20_000)

    default = score_records(latest, trained[0], "7", "run")
    strict = score_records(latest, model, "7", "run")

    moved = (default["status"] == "not_monitored") & (strict["status"] == "meets_criteria")
    assert moved.sum() > 0
    assert (moved == (spent & (default["status"] == "not_monitored"))).all()


def test_a_year_scored_from_its_window_equals_the_full_panel(trained, training_county, tmp_path):
    model, panel = trained
    full = build_features(panel)
    expected = score_records(full[full["year"] == 2022], model, "7", "run-1")

    result = _run(trained, training_county, tmp_path, f"sqlite:///{tmp_path / 's.db'}", year=2022)

    got = result.rows.sort_values("hh_id").reset_index(drop=True)
    want = expected.sort_values("hh_id").reset_index(drop=True)
    assert len(got) == len(want) == (panel["year"] == 2022).sum()
    np.testing.assert_array_equal(got["probability"], want["probability"])
    for col in ["tier", "rank_in_village", "on_worklist", "reasons_zh", "contributions"]:
        assert got[col].tolist() == want[col].tolist(), col


def test_reads_choose_the_latest_year_then_the_latest_scoring(trained, training_county, tmp_path):
    from riskmodel.store import latest_score, village_worklist

    db_url = f"sqlite:///{tmp_path / 's.db'}"
    _run(trained, training_county, tmp_path / "a", db_url, version="1", year=2024)
    _run(trained, training_county, tmp_path / "b", db_url, version="1", year=2025)
    newest = _run(trained, training_county, tmp_path / "c", db_url, version="2", year=2025)
    _run(trained, training_county, tmp_path / "d", db_url, version="3", year=2023)  # scored last
    engine = engine_for(db_url)
    hh, village = newest.rows[["hh_id", "village_id"]].iloc[0]

    row = latest_score(engine, hh)
    listed = village_worklist(engine, village)

    assert (row["year"], row["model_version"]) == (2025, "2")
    assert {(r["year"], r["model_version"]) for r in listed} == {(2025, "2")}
    assert [r["hh_id"] for r in listed] == list(
        newest.rows[newest.rows["village_id"] == village].sort_values("rank_in_village")["hh_id"]
    )
    assert row["features"] == list(trained[0].features)


# --- coverage: a batch covers what it scored ------------------------------------------------------


def _villages_panel(training_county, folder, villages):
    panel = pd.read_parquet(training_county / "panel.parquet")
    folder.mkdir(parents=True, exist_ok=True)
    panel[panel["village_id"].isin(villages)].to_parquet(folder / "panel.parquet")
    return folder


def _county_villages(training_county):
    return sorted(pd.read_parquet(training_county / "panel.parquet")["village_id"].unique())


def test_subset_after_full_replaces_only_its_households(trained, training_county, tmp_path, db_url):
    villages = _county_villages(training_county)
    full = _run(trained, training_county, tmp_path / "full", db_url)
    part = _villages_panel(training_county, tmp_path / "part", villages[:2])

    sub = _run(trained, part, tmp_path / "out", db_url)

    stored = read_batch(engine_for(db_url), 2025, "7")
    assert len(stored) == len(full.rows)
    assert set(stored["hh_id"]) == set(full.rows["hh_id"])
    in_part = stored["village_id"].isin(villages[:2])
    assert stored.loc[in_part, "scored_at"].min() > stored.loc[~in_part, "scored_at"].max()
    assert sub.change.replaced == in_part.sum() and sub.change.added == 0
    assert sub.change.kept == (~in_part).sum() and sub.change.dropped == 0
    before = full.rows.set_index("hh_id")
    after = stored.set_index("hh_id").loc[before.index]
    np.testing.assert_allclose(after["probability"], before["probability"])
    np.testing.assert_array_equal(after["rank_in_village"], before["rank_in_village"])
    assert len(pd.read_parquet(sub.parquet)) == len(full.rows)
    runs = score_runs(engine_for(db_url))
    last = runs.iloc[-1]
    assert (last["households_scored"], last["villages_scored"]) == (in_part.sum(), 2)
    assert (last["batch_households"], last["batch_villages"]) == (len(full.rows), len(villages))
    assert last["source"].endswith("part/panel.parquet") and len(last["source_digest"]) == 64


def test_full_after_subset_covers_everyone(trained, training_county, tmp_path):
    db_url = f"sqlite:///{tmp_path / 's.db'}"
    villages = _county_villages(training_county)
    part = _villages_panel(training_county, tmp_path / "part", villages[:3])
    first = _run(trained, part, tmp_path / "out", db_url)

    full = _run(trained, training_county, tmp_path / "out", db_url)

    stored = read_batch(engine_for(db_url), 2025, "7")
    assert len(stored) == len(full.rows) > len(first.rows)
    assert full.change.replaced == len(first.rows)
    assert full.change.added == len(full.rows) - len(first.rows) and full.change.kept == 0


def test_two_subsets_add_up_and_ranks_are_per_village(trained, training_county, tmp_path):
    db_url = f"sqlite:///{tmp_path / 's.db'}"
    villages = _county_villages(training_county)
    model, _ = trained
    a = _villages_panel(training_county, tmp_path / "a", villages[:2])
    b = _villages_panel(training_county, tmp_path / "b", villages[2:5])
    _run(trained, a, tmp_path / "out", db_url)

    second = _run(trained, b, tmp_path / "out", db_url)

    stored = read_batch(engine_for(db_url), 2025, "7").set_index("hh_id")
    alone = {}
    for folder in (a, b):
        rec = build_features(pd.read_parquet(folder / "panel.parquet"))
        alone |= (
            score_records(rec[rec["year"] == 2025], model, "7", "x")
            .set_index("hh_id")[["rank_in_village", "on_worklist"]]
            .to_dict("index")
        )
    assert set(stored.index) == set(alone)
    assert second.change.added == len(stored) - second.change.kept
    for hh, want in alone.items():
        assert stored.loc[hh, "rank_in_village"] == want["rank_in_village"]
        assert bool(stored.loc[hh, "on_worklist"]) == want["on_worklist"]


def test_replace_all_drops_what_was_not_scored_and_says_so(trained, training_county, tmp_path):

    db_url = f"sqlite:///{tmp_path / 's.db'}"
    villages = _county_villages(training_county)
    full = _run(trained, training_county, tmp_path / "out", db_url)
    part = _villages_panel(training_county, tmp_path / "part", villages[:1])

    sub = _run(trained, part, tmp_path / "out", db_url, replace_all=True)

    stored = read_batch(engine_for(db_url), 2025, "7")
    assert set(stored["village_id"]) == {villages[0]}
    assert sub.change.dropped == len(full.rows) - len(stored)
    text = str(sub.change)
    assert f"{sub.change.dropped:,} dropped (" in text
    assert sorted(set(full.rows["hh_id"]) - set(stored["hh_id"]))[0] in text


def test_the_next_worklist_carries_each_households_latest_visit(both, training_county, tmp_path):
    """A visit recorded after one batch appears in the visit columns of the next batch's 台账
    (the latest of the year, not an earlier one), and only on its household's row."""
    from datetime import date

    from riskmodel.visits import VisitIn, record_visit

    db_url = f"sqlite:///{tmp_path / 's.db'}"
    first = run_batch(training_county, tmp_path / "a", db_url, both, "7", "r")
    listed = first.rows[first.rows["on_worklist"] & (first.rows["status"] == "not_monitored")]
    household = listed.iloc[0].to_dict()
    engine = engine_for(db_url)
    for day, cadre, outcome in [(1, "甲核实", "not_enrolled"), (9, "乙核实", "enrolled")]:
        visit = VisitIn(
            visited_on=date(2026, 1, day),
            cadre=cadre,
            verification="confirmed",
            outcome=outcome,
            measures=["健康帮扶"],
        )
        record_visit(engine, visit, household)

    again = run_batch(training_county, tmp_path / "b", db_url, both, "7", "r2")
    book = load_workbook(again.workbook, read_only=True)
    sheets = [ws for ws in book.worksheets if ws.title != CASELOAD_SHEET]
    header = next(r for ws in sheets for r in ws.iter_rows(values_only=True) if r[3] == "户编号")
    rows = [r for ws in sheets for r in ws.iter_rows(values_only=True) if r[3] is not None]
    at = {
        name: header.index(name)
        for name in ("核实情况", "处置结果", "帮扶措施落实情况", "核实人", "日期")
    }
    visited = [r for r in rows if r[3] == household["hh_id"]]
    assert len(visited) == 1
    assert [visited[0][at[k]] for k in at] == [
        "风险属实",
        "纳入监测",
        "健康帮扶",
        "乙核实",
        "2026-01-09",
    ]
    others = [r for r in rows if r[3] not in (household["hh_id"], "户编号")]
    assert others and all(r[at["核实人"]] in (None, "") for r in others)
