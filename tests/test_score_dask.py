"""The Dask engine: the same scores, reasons and worklists as the local engine, township by
township on a LocalCluster of two worker processes; a killed worker's townships run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from riskmodel.score import run_batch
from riskmodel.score.dask import Township, local_client, run_distributed, tasks
from riskmodel.score.outputs import caseload_path
from riskmodel.store import batches, engine_for, read_batch, score_runs, staged

VERSIONS = {"meets_criteria": "7", "persistent": "2"}


@pytest.fixture(scope="module")
def client():
    with local_client(workers=2) as c:
        yield c
        c.cluster.close()


@pytest.fixture(scope="module")
def model_folders(trained, trained_persistent, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "meets_criteria": str(trained[0].save(root / "main")),
        "persistent": str(trained_persistent.save(root / "persistent")),
    }


@pytest.fixture(scope="module")
def local(trained, trained_persistent, training_county, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    models = {"meets_criteria": trained[0], "persistent": trained_persistent}
    return run_batch(
        training_county, out, f"sqlite:///{out / 'store.db'}", models, "7", "run", versions=VERSIONS
    )


def _distributed(client, data, out, db_url, folders, **kw):
    return run_distributed(data, out, db_url, folders, "7", "run", client, versions=VERSIONS, **kw)


@pytest.fixture(scope="module")
def distributed(client, training_county, model_folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("dask")
    db_url = f"sqlite:///{out / 'store.db'}"
    return _distributed(client, training_county, out, db_url, model_folders), db_url


KEY = ["hh_id"]


def test_both_engines_give_the_same_rows(local, distributed):
    result, db_url = distributed
    ours = read_batch(engine_for(db_url), 2025, "7").sort_values(KEY).reset_index(drop=True)
    theirs = read_batch(engine_for(f"sqlite:///{local.parquet.parent / 'store.db'}"), 2025, "7")
    theirs = theirs.sort_values(KEY).reset_index(drop=True)

    assert len(ours) == len(theirs) == result.households == len(local.rows)
    assert result.townships == local.rows["township_id"].nunique() > 1
    np.testing.assert_array_equal(
        ours["probability"].to_numpy(float), theirs["probability"].to_numpy(float)
    )
    assert (ours["contributions"] == theirs["contributions"]).all()
    for column in ours.columns.drop(["scored_at", "id"], errors="ignore"):
        pd.testing.assert_series_equal(ours[column], theirs[column], check_names=False)


def test_townships_scored_alone_or_together_give_the_same_rows(
    client, training_county, model_folders, distributed, tmp_path
):
    grouped, grouped_db = distributed
    alone = _distributed(
        client, training_county, tmp_path, f"sqlite:///{tmp_path / 's.db'}", model_folders,
        task_rows=0,
    )  # fmt: skip
    ours = read_batch(engine_for(f"sqlite:///{tmp_path / 's.db'}"), 2025, "7")
    theirs = read_batch(engine_for(grouped_db), 2025, "7")
    ours, theirs = (f.sort_values(KEY).reset_index(drop=True) for f in (ours, theirs))

    assert alone.townships == grouped.townships and len(ours) == len(theirs) > 0
    for column in ours.columns.drop(["scored_at", "id"], errors="ignore"):
        pd.testing.assert_series_equal(ours[column], theirs[column], check_names=False)


def test_tasks_take_whole_townships_in_order_up_to_the_rows_asked():
    towns = [Township(f"T{i:02d}", (), True, rows) for i, rows in enumerate([5, 30, 10, 10, 50, 1])]

    assert [[t.name for t in g] for g in tasks(towns, 40)] == [
        ["T00", "T01", "T02"],
        ["T03", "T04"],
        ["T05"],
    ]
    assert [len(g) for g in tasks(towns, 0)] == [1] * 6
    assert [len(g) for g in tasks(towns, 10**9)] == [6]


def test_the_worklists_are_the_same(local, distributed):
    result, _ = distributed
    scores = pd.read_parquet(result.scores).sort_values(KEY).reset_index(drop=True)
    listed = local.rows.sort_values(KEY).reset_index(drop=True)

    assert scores["on_worklist"].sum() > 0
    for column in ["on_worklist", "rank_in_village", "status", "reasons_zh"]:
        assert scores[column].tolist() == listed[column].tolist(), column
    books = sorted(p.name for p in result.worklists.glob("*.xlsx"))
    assert books == [f"worklist-{t}.xlsx" for t in sorted(listed["township_id"].unique())]


def test_both_engines_give_the_same_caseload(local, distributed):
    result, _ = distributed
    ours = pd.read_parquet(result.caseload)
    ours["township_id"] = ours["township_id"].astype(str)
    theirs = pd.read_parquet(caseload_path(local.parquet))
    key = ["level", "township_id", "village_id"]
    ours, theirs = (f.sort_values(key).reset_index(drop=True) for f in (ours, theirs))

    assert len(ours) == len(theirs) > 0
    for column in theirs.columns.drop(key):
        np.testing.assert_allclose(ours[column].to_numpy(float), theirs[column].to_numpy(float))


def test_the_batch_is_complete_and_the_run_recorded(distributed, trained):
    result, db_url = distributed
    engine = engine_for(db_url)

    with engine.connect() as conn:
        features = conn.execute(sa.select(batches.c.features)).scalar_one()
    assert features.split(",") == trained[0].features
    runs = score_runs(engine, 2025)
    assert runs["households_scored"].tolist() == [result.households]
    villages = read_batch(engine, 2025, "7")["village_id"].nunique()
    assert runs["villages_scored"].tolist() == runs["batch_villages"].tolist() == [villages]
    assert staged_counts_all(engine) == {}
    assert not list(result.scores.parent.glob(".run-*"))


@pytest.fixture
def own_client():
    """A cluster of its own for the test that kills a worker: whether Dask's nanny brings the
    worker back is Dask's affair (its restarts race, dask/distributed#7312), and the module's
    other tests should not depend on it."""
    with local_client(workers=2) as c:
        yield c
        c.cluster.close()


def test_a_killed_worker_s_townships_run_again(
    own_client, training_county, model_folders, tmp_path, db_url
):
    first = _distributed(own_client, training_county, tmp_path, db_url, model_folders)
    killed = []

    def kill_the_other_worker(summary):
        if killed:
            return
        pids = own_client.run(os.getpid)
        victim = next(a for a in pids if a != summary["worker"])
        os.kill(pids[victim], signal.SIGKILL)
        killed.append(victim)

    again = _distributed(
        own_client,
        training_county,
        tmp_path,
        db_url,
        model_folders,
        on_township=kill_the_other_worker,
        task_rows=0,
    )

    stored = read_batch(engine_for(db_url), 2025, "7")
    assert killed and again.households == first.households == len(stored)
    assert again.change["replaced"] == first.households and again.change["dropped"] == 0
    assert not stored["hh_id"].duplicated().any()
    assert again.townships == first.townships


KILLED_RUN = """
import sys, time
from riskmodel.score.dask import Township, local_client, run_distributed, tasks
data, out, db_url, main, persistent = sys.argv[1:]

def hold(summary):
    print("staged", summary["township"], flush=True)
    time.sleep(600)

with local_client(workers=1) as client:
    run_distributed(data, out, db_url, {"meets_criteria": main, "persistent": persistent}, "7",
                    "killed", client, versions={"meets_criteria": "7", "persistent": "2"},
                    on_township=hold, task_rows=0)
"""


def test_a_killed_run_leaves_the_previous_batch_and_files(
    distributed, training_county, model_folders
):
    """The whole run (driver, scheduler and workers) killed once a township is staged."""
    first, db_url = distributed
    before = {p: p.read_bytes() for p in sorted(first.scores.rglob("*.parquet"))}
    args = [db_url, model_folders["meets_criteria"], model_folders["persistent"]]
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(training_county), str(first.scores.parent), *args],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout.readline().startswith("staged")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    engine = engine_for(db_url)
    stored = read_batch(engine, 2025, "7")
    assert set(stored["run_id"]) == {"run"} and len(stored) == first.households
    assert sum(staged_counts_all(engine).values()) > 0  # staged, never visible
    assert {p: p.read_bytes() for p in sorted(first.scores.rglob("*.parquet"))} == before


def staged_counts_all(engine) -> dict[str, int]:
    with engine.connect() as conn:
        q = sa.select(staged.c.job, sa.func.count()).group_by(staged.c.job)
        return dict(conn.execute(q).all())


def test_an_invalid_row_is_quarantined_in_its_township_and_listed_to_verify(
    client, training_county, model_folders, trained, trained_persistent, tmp_path
):
    panel = pd.read_parquet(training_county / "panel.parquet")
    bad = panel.index[(panel["year"] == 2025)][5]
    panel.loc[bad, "hh_size"] = -3
    data = tmp_path / "county"
    data.mkdir()
    panel.to_parquet(data / "panel.parquet")
    (data / "places.csv").write_bytes((training_county / "places.csv").read_bytes())
    models = {"meets_criteria": trained[0], "persistent": trained_persistent}
    local = run_batch(data, tmp_path / "l", f"sqlite:///{tmp_path / 'l.db'}", models, "7", "run",
                      versions=VERSIONS)  # fmt: skip

    result = _distributed(
        client, data, tmp_path / "d", f"sqlite:///{tmp_path / 'd.db'}", model_folders
    )

    township = str(panel.loc[bad, "township_id"])
    assert result.invalid_rows == local.invalid_rows == 1
    assert [p.name for p in result.quarantine.iterdir()] == [f"township_id={township}"]
    held = pd.read_parquet(result.quarantine)
    assert held["row"].tolist() == [bad + 2] and held["hh_id"].tolist() == [panel.loc[bad, "hh_id"]]
    ours, theirs = (
        read_batch(engine_for(f"sqlite:///{tmp_path / db}"), 2025, "7")
        .sort_values(KEY)
        .reset_index(drop=True)
        for db in ("d.db", "l.db")
    )
    assert (ours["hh_id"] == panel.loc[bad, "hh_id"]).sum() == 1  # listed, to be verified
    for column in ["hh_id", "status", "probability", "rank_in_village", "data_check"]:
        pd.testing.assert_series_equal(ours[column], theirs[column], check_names=False)
