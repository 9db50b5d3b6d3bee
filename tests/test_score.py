import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from riskmodel.features import build_features
from riskmodel.score import BatchError, run_batch, score_records
from riskmodel.store import engine_for, read_batch


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
def test_worklist_is_the_criteria_the_rule_flags_and_the_top_share_of_unmonitored(
    both, latest, share
):
    rows = score_records(latest, both, "7", "run", worklist_share=share)

    assert rows.loc[rows["any_rule"] | (rows["status"] == "meets_criteria"), "on_worklist"].all()
    top = rows[~rows["any_rule"] & (rows["status"] != "meets_criteria") & rows["on_worklist"]]
    assert (top["status"] == "not_monitored").all()
    unmonitored = rows[rows["status"] == "not_monitored"].groupby("village_id").size()
    assert 0 < len(top) <= np.maximum(1, np.ceil(share * unmonitored)).sum()


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
    assert sorted(book.sheetnames) == sorted(
        parquet.loc[parquet["on_worklist"], "township_id"].unique()
    )
    listed = sum(ws.max_row - 2 for ws in book.worksheets)
    assert listed == parquet["on_worklist"].sum()


def test_workbook_lists_households_that_meet_the_criteria_first_in_each_village(
    both, training_county, tmp_path
):
    result = run_batch(
        training_county, tmp_path, f"sqlite:///{tmp_path / 's.db'}", both, "7", "run-1"
    )

    book = load_workbook(result.workbook, read_only=True)
    header = [c.value for c in next(book.worksheets[0].iter_rows(min_row=2, max_row=2))]
    col = {h: i for i, h in enumerate(header)}
    seen = 0
    for ws in book.worksheets:
        by_village: dict[str, list[tuple]] = {}
        for row in ws.iter_rows(min_row=3, values_only=True):
            by_village.setdefault(row[col["行政村"]], []).append(row)
        for rows in by_village.values():
            states = [r[col["监测状态"]] for r in rows]
            verify = [s == "已符合纳入条件，应纳尽纳，请核实" for s in states]
            assert verify == sorted(verify, reverse=True)  # all of them before any other
            for r, v in zip(rows, verify, strict=True):
                if v:
                    seen += 1
                    assert r[col["风险概率"]] == "—" and r[col["等级"]] == "应纳"
                    assert r[col["符合的纳入条件"]]
                else:
                    assert r[col["等级"]] in {"红", "黄", "绿", "—"}
    assert seen == (result.rows["status"] == "meets_criteria").sum() > 0


def test_rerunning_the_same_version_and_year_replaces(trained, training_county, tmp_path, db_url):
    _run(trained, training_county, tmp_path, db_url)
    again = _run(trained, training_county, tmp_path, db_url)

    stored = read_batch(engine_for(db_url), 2025, "7")
    assert len(stored) == len(again.rows)
    assert not stored["hh_id"].duplicated().any()


@pytest.mark.parametrize(
    "where", ["riskmodel.score.write_worklist", "riskmodel.store._bulk_insert"]
)
def test_failure_midway_leaves_previous_outputs_whole(
    trained, training_county, tmp_path, monkeypatch, where
):
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    first = _run(trained, training_county, tmp_path, db_url)
    before = (first.parquet.read_bytes(), first.workbook.read_bytes())

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(where, boom)
    with pytest.raises(OSError, match="disk full"):
        _run(trained, training_county, tmp_path, db_url)

    assert (first.parquet.read_bytes(), first.workbook.read_bytes()) == before
    assert len(read_batch(engine_for(db_url), 2025, "7")) == len(first.rows)
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
import riskmodel.store as store
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


def test_invalid_rows_are_quarantined_and_the_run_continues(trained, training_county, tmp_path):
    panel = pd.read_parquet(training_county / "panel.parquet")
    bad = panel.copy()
    idx = bad.index[bad["year"] == 2025][:5]
    bad.loc[idx, "head_age"] = 500
    bad.to_parquet(tmp_path / "panel.parquet")

    result = _run(trained, tmp_path, tmp_path / "out", f"sqlite:///{tmp_path / 's.db'}")

    q = pd.read_parquet(result.quarantine)
    assert set(q["hh_id"]) == set(bad.loc[idx, "hh_id"])
    assert q["reasons"].str.contains("head_age").all()
    assert result.invalid_rows == 5
    assert not set(q["hh_id"]) & set(result.rows["hh_id"])


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
