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


@pytest.mark.parametrize("share", [0.01, 0.10, 0.30])
def test_every_rule_flagged_household_is_on_its_worklist(trained, latest, share):
    model, _ = trained

    rows = score_records(latest, model, "7", "run", worklist_share=share)

    assert rows.loc[rows["any_rule"], "on_worklist"].all()
    assert rows["any_rule"].any()
    top = rows[~rows["any_rule"] & rows["on_worklist"]]
    assert len(top) <= np.ceil(share * rows.groupby("village_id").size()).sum()


def test_ranks_follow_probability_within_each_village(trained, latest):
    model, _ = trained

    rows = score_records(latest, model, "7", "run")

    for _, g in rows.groupby("village_id"):
        ordered = g.sort_values("rank_in_village")
        assert list(ordered["rank_in_village"]) == list(range(1, len(g) + 1))
        assert ordered["probability"].is_monotonic_decreasing


def test_rule_flags_agree_with_the_data(trained, latest):
    model, _ = trained

    rows = score_records(latest, model, "7", "run")

    np.testing.assert_array_equal(rows["flag_income_below_line"], latest["income_to_line"] < 1.1)
    np.testing.assert_array_equal(rows["flag_medical_over_20k"], latest["oop_medical"] > 20_000)


def test_probabilities_and_tiers(trained, latest):
    model, _ = trained

    rows = score_records(latest, model, "7", "run")

    assert rows["probability"].between(0, 1).all()
    red = model.meta.tiers.red
    assert (rows.loc[rows["probability"] >= red, "tier"] == "red").all()
    np.testing.assert_allclose(rows["probability"], model.predict_proba(latest), atol=1e-9)


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
    assert (merged["reasons_zh"] == merged["reasons_zh_db"]).all()
    assert (merged["tier"] == merged["tier_db"]).all()
    for col in [
        "hh_id",
        "village_id",
        "township_id",
        "year",
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
