"""`riskmodel monitor` end to end on the registered champion: the reference stored with the
version, the JSON and reports, the MLflow run linked to the version, the store's rows and the
API's gauges; `riskmodel score` ends with the alarm line."""

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from riskmodel.api.app import create_app
from riskmodel.cli import app
from riskmodel.criteria import CriteriaConfig
from riskmodel.features import build_features
from riskmodel.labels import in_population
from riskmodel.monitor.run import latest, load_reference
from riskmodel.registry import load_model
from riskmodel.train import labelled_records, load_panel, split_by_year

from .conftest import ROOT, service_tracking


@pytest.fixture(scope="module")
def monitored(service, training_county, tmp_path_factory):
    out = tmp_path_factory.mktemp("monitoring")
    with service_tracking(service), pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKMODEL_DB_URL", service["settings"].db_url)
        result = CliRunner().invoke(
            app,
            [
                *("monitor", "--data", str(training_county), "--out", str(out), "--json"),
                *("--config", str(ROOT / "training/configs/default.yaml")),
            ],
        )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_the_registered_version_carries_its_reference(service, service_env, training_county):
    model, meta = load_model(f"models:/relapse-risk/{service['logged'].version}")
    reference = load_reference(model, meta["version"])
    panel, _ = load_panel(training_county)
    train = split_by_year(labelled_records(panel, "meets_criteria"), None).train
    assert reference["n_train"] == len(train)
    spec = reference["features"]["income_to_line"]
    x = train["income_to_line"].to_numpy(float)
    edges = np.quantile(x[~np.isnan(x)], np.arange(1, 10) / 10)
    assert spec["edges"] == pytest.approx(np.unique(edges).tolist())
    counts = pd.Series(pd.cut(x, [-np.inf, *spec["edges"], np.inf])).value_counts(sort=False)
    assert spec["train"]["bins"] == pytest.approx((counts / len(x)).tolist())
    assert set(reference["features"]) == set(model.features)
    assert reference["reference_year"] == 2024 and reference["calibration_year"] == 2023


def test_monitor_json_reports_and_mlflow_run(monitored, service):
    report, out = monitored
    batch, version = report["batch"], service["logged"].version
    assert report["model"] == {
        "name": "relapse-risk",
        "version": version,
        "run_id": service["logged"].run_id,
        "label": "meets_criteria",
    }
    assert batch["year"] == 2025 and batch["households"] > 1000
    est = batch["estimated"]
    assert est["roc_auc_low"] < est["roc_auc"] < est["roc_auc_high"]
    assert [d["psi"] for d in batch["drift"]] == sorted(
        (d["psi"] for d in batch["drift"]), reverse=True
    )
    assert batch["recommendation"] in ("no action", "retrain") or batch[
        "recommendation"
    ].startswith("investigate")
    page = (out / f"monitor-2025-v{version}.html").read_text()
    assert page.count("<svg") == 3 and "estimated AUC" in page
    drift = (out / f"monitor-2025-v{version}-drift.svg").read_text()
    top = batch["drift"][0]
    assert drift.count("<rect") >= 12 and f"{top['feature']}: {top['psi']:.3f}" in drift
    markdown = (out / f"monitor-2025-v{version}.md").read_text()
    assert f"![monitor-2025-v{version}-performance.svg]" in markdown
    stable = report["stability"]
    assert stable["against_year"] == 2024 and 0 < stable["tier_changed_share"] < 0.5
    assert 0 < stable["worklist_overlap_mean"] <= 1
    assert f"Against 2024: {stable['tier_changed_share']:.1%} of" in markdown
    client = service["client"]
    run = client.get_run(report["mlflow_run_id"])
    assert run.data.tags["model_version"] == version
    assert run.data.metrics["estimated_roc_auc"] == pytest.approx(est["roc_auc"])
    tags = client.get_model_version("relapse-risk", version).tags
    assert tags["last_monitoring_run"] == report["mlflow_run_id"]


def test_store_rows_and_gauges_on_metrics(monitored, service):
    report, _ = monitored
    row = next(r for r in latest(service["engine"]) if r["model_name"] == "relapse-risk")
    assert row["year"] == 2025 and row["estimated_auc"] == pytest.approx(
        report["batch"]["estimated"]["roc_auc"]
    )
    admin = {"Authorization": f"Bearer {service['keys']['admin']}"}
    with service_tracking(service), TestClient(create_app(service["settings"])) as api:
        metrics = api.get("/metrics", headers=admin).text
    labels = f'model="relapse-risk",version="{row["model_version"]}",year="2025"'
    assert f"riskmodel_monitor_estimated_auc{{{labels}}} {row['estimated_auc']}" in metrics
    assert f"riskmodel_monitor_alarm{{{labels}}} {float(row['alarm'])}" in metrics
    assert f"riskmodel_monitor_psi_max{{{labels}}}" in metrics


def test_score_ends_with_the_alarm_line(service, training_county, tmp_path):
    with service_tracking(service), pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKMODEL_DB_URL", f"sqlite:///{tmp_path / 'store.db'}")
        mp.setenv("RISKMODEL_PERSISTENT_MODEL_URI", "")
        result = CliRunner().invoke(
            app, ["score", "--data", str(training_county), "--out", str(tmp_path / "scores")]
        )
    assert result.exit_code == 0, result.output
    assert "monitor " in result.output and "estimated AUC" in result.output
    from riskmodel.store import engine_for

    rows = latest(engine_for(f"sqlite:///{tmp_path / 'store.db'}"))
    assert rows and rows[0]["quick"] and rows[0]["year"] == 2025


def test_stable_ranks_score_the_year_before_with_its_full_history(
    monitored, service, service_env, training_county
):
    # given the version's tiers of 2024 and 2025, each year's features built from the whole panel
    report, _ = monitored
    model, _ = load_model(f"models:/relapse-risk/{service['logged'].version}")
    panel, _ = load_panel(training_county)
    records = build_features(panel).reset_index(drop=True)
    criteria = CriteriaConfig(**model.meta.criteria) if model.meta.criteria else None
    population = in_population(panel, model.meta.label, criteria).to_numpy(bool)
    tiers = {}
    for year in (2024, 2025):
        rows = records[population & (panel["year"] == year).to_numpy()]
        prob = model.calibrate(model.booster.predict(model.matrix(rows), raw_score=True))
        tiers[year] = pd.Series(model.meta.tiers.assign(prob), index=rows["hh_id"].to_numpy())

    # when the tier moves between them are counted
    both = pd.concat(tiers, axis=1, join="inner")
    moved = both[both[2024] != both[2025]]
    moves = (moved[2024] + "->" + moved[2025]).value_counts().to_dict()

    # then the report's stable ranks against 2024 count the same moves
    assert report["stability"]["tiered"] == len(both) > 100
    assert report["stability"]["tier_changes"] == moves


def test_the_command_leaves_the_garbage_collector_running(monitored):
    # given the command run in this process (it pauses the cyclic collector while it works)
    import gc

    # then the collector runs again afterwards
    assert gc.isenabled()
