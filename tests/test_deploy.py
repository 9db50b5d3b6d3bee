"""Deployed copies of the champions: written by promotion, rollback and loads through MLflow,
used only while current and intact, and read without importing MLflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from riskmodel import deploy, registry
from riskmodel.config import load_train_config
from tests.conftest import ROOT

URI = "models:/relapse-risk@champion"


@pytest.fixture
def project(service, tmp_path, monkeypatch):
    """A copy of the service's MLflow store (its own artifacts), with no deployed copies yet."""
    shutil.copy(service["root"] / "mlflow.db", tmp_path / "mlflow.db")
    shutil.copytree(service["root"] / "mlartifacts", tmp_path / "mlartifacts")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("RISKMODEL_DEPLOY_DIR", raising=False)
    return registry.connect()


def _second_version(client) -> str:
    """Another registered version of the champion's run (the same files, a new number)."""
    champion = client.get_model_version_by_alias("relapse-risk", "champion")
    return str(
        client.create_model_version(
            "relapse-risk", champion.source, champion.run_id, tags=champion.tags
        ).version
    )


def test_promotion_writes_a_copy_that_scores_as_the_registered_model(project, trained):
    client = project
    _, panel = trained
    version = _second_version(client)
    cfg = load_train_config(ROOT / "training/configs/default.yaml")
    assert registry.promote(cfg, client, version=version, force_reason="test").promoted

    found = deploy.read_deployed(URI)
    assert found is not None
    model, meta = found
    assert meta["version"] == version and meta["source"] == "deployed"
    reference, ref_meta = registry.load_model(URI)  # through MLflow
    assert ref_meta["version"] == version
    from riskmodel.features import build_features

    records = build_features(panel[panel["year"] >= 2023])
    records = records[records["year"] == 2025].head(200)
    np.testing.assert_allclose(model.predict_proba(records), reference.predict_proba(records))
    pointer = json.loads((deploy.deploy_root() / "relapse-risk@champion.json").read_text())
    assert pointer["version"] == version


def test_a_current_copy_is_loaded_without_importing_mlflow(project):
    deploy.load(URI)  # through MLflow: writes the copy
    code = (
        "import sys; from riskmodel.deploy import load; m, meta = load(sys.argv[1]); "
        "print(meta['source'], meta['version'], 'mlflow' in sys.modules)"
    )
    package = str(Path(deploy.__file__).parents[1])  # this checkout's, whatever the directory
    env = {**os.environ, "PYTHONPATH": package}
    out = subprocess.run(
        [sys.executable, "-c", code, URI], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    version = project.get_model_version_by_alias("relapse-risk", "champion").version
    assert out == ["deployed", str(version), "False"]


def test_a_stale_copy_falls_back_to_mlflow_and_is_rewritten(project):
    client = project
    first = deploy.load(URI)[1]["version"]
    assert deploy.read_deployed(URI)[1]["version"] == first
    newer = _second_version(client)
    client.set_registered_model_alias("relapse-risk", "champion", newer)  # moved outside promote

    assert deploy.read_deployed(URI) is None
    _, meta = deploy.load(URI)
    assert (meta["version"], meta["source"]) == (newer, "mlflow")
    assert deploy.read_deployed(URI)[1]["version"] == newer


def test_a_damaged_copy_is_not_used_and_is_replaced(project):
    deploy.load(URI)
    version = deploy.read_deployed(URI)[1]["version"]
    folder = deploy.deploy_root() / "relapse-risk" / f"v{version}"
    victim = next(p for p in sorted(folder.rglob("*")) if p.is_file())
    victim.write_bytes(victim.read_bytes()[:-10])

    assert deploy.read_deployed(URI) is None
    assert deploy.load(URI)[1]["source"] == "mlflow"
    assert deploy.read_deployed(URI)[1]["version"] == version  # whole again


def test_rollback_points_the_copy_back(project):
    client = project
    cfg = load_train_config(ROOT / "training/configs/default.yaml")
    before = str(client.get_model_version_by_alias("relapse-risk", "champion").version)
    registry.promote(cfg, client, version=_second_version(client), force_reason="test")

    registry.rollback(cfg, client)
    assert deploy.read_deployed(URI)[1]["version"] == before


def test_an_absent_optional_model_is_none_without_mlflow(project):
    assert deploy.load_optional("models:/relapse-risk-relapse@champion") is None
    assert deploy.load_optional("") is None
