"""Shared fixtures: a small simulated county, built once per session."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from riskmodel.simulate import Simulation, SimulationConfig, simulate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_county() -> Simulation:
    """About 850 households over 2014-2025: fast, yet every mechanism occurs."""
    return simulate(SimulationConfig(seed=3, households=600))


@pytest.fixture(scope="session")
def full_county() -> Simulation:
    """The default Ningming-like county (seed 7)."""
    return simulate(SimulationConfig(seed=7))


@pytest.fixture(scope="session")
def training_county(tmp_path_factory) -> Path:
    """A county of ~2,100 households written to disk, as `riskmodel simulate` leaves it."""
    from riskmodel.simulate import write_simulation

    out = tmp_path_factory.mktemp("county")
    write_simulation(simulate(SimulationConfig(seed=11, households=1500)), out)
    return out


@pytest.fixture
def fast_config(training_county):
    """Training settings that keep tests quick without changing what is computed."""
    from riskmodel.config import load_train_config

    return load_train_config(
        ROOT / "training/configs/default.yaml",
        data=training_county,
        bootstrap=20,
        backtest_from=2021,
    )


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh MLflow store in a temporary project root."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@contextmanager
def registered_project(root: Path, data: Path, **overrides):
    """A project root with its own MLflow store and a model trained on `data` and registered
    (the current directory and tracking URI point there while the context is open).
    Yields (config, training result, logged version, MLflow client)."""
    from riskmodel import registry
    from riskmodel.config import load_train_config

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        cfg = load_train_config(ROOT / "training/configs/default.yaml", data=data, **overrides)
        result, logged = registry.train_and_register(cfg)
        yield cfg, result, logged, registry.connect()


@pytest.fixture(scope="session")
def service(tmp_path_factory, training_county):
    """For the API tests: a registered champion, a scored batch in the store and one key per
    role, built once. Tests that load models use `service_env` (or `service_tracking`)."""
    from riskmodel.api.security import create_key
    from riskmodel.config import Settings, load_train_config
    from riskmodel.registry import train_and_register
    from riskmodel.score import run_batch
    from riskmodel.store import engine_for

    root = tmp_path_factory.mktemp("service")
    with registered_project(root, training_county, bootstrap=0, backtest_from=2024) as project:
        _, result, logged, client = project
        client.set_registered_model_alias("relapse-risk", "champion", logged.version)
        persistent_cfg = load_train_config(
            ROOT / "training/configs/persistent.yaml",
            data=training_county,
            bootstrap=0,
            backtest_from=2024,
        )
        p_result, p_logged = train_and_register(persistent_cfg)
        client.set_registered_model_alias("relapse-risk-persistent", "champion", p_logged.version)
        db_url = f"sqlite:///{root / 'store.db'}"
        batch = run_batch(
            training_county,
            root / "scores",
            db_url,
            {"meets_criteria": result.model, "persistent": p_result.model},
            logged.version,
            logged.run_id,
            versions={"meets_criteria": logged.version, "persistent": p_logged.version},
        )
    engine = engine_for(db_url)
    rows = batch.rows
    own = rows["township_id"].iloc[0]
    other = next(t for t in rows["township_id"].unique() if t != own)
    keys = {
        "county": create_key(engine, "county")[0],
        "admin": create_key(engine, "admin")[0],
        "township": create_key(engine, "township", own)[0],
    }
    settings = Settings(db_url=db_url, model_uri="models:/relapse-risk@champion")
    return {
        "settings": settings,
        "keys": keys,
        "rows": rows,
        "own": own,
        "other": other,
        "engine": engine,
        "client": client,
        "logged": logged,
        "persistent": p_logged,
        "root": root,
    }


@contextmanager
def service_tracking(service: dict):
    """The service's MLflow store as the tracking URI (and its root as the working directory)."""
    from riskmodel.registry import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(service["root"])
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{service['root'] / 'mlflow.db'}")
        connect()
        yield


@pytest.fixture
def service_env(service):
    with service_tracking(service):
        yield


PG_URL = os.environ.get(
    "RISKMODEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""The PostgreSQL database the store tests use (its tables are dropped and recreated)."""


@pytest.fixture(scope="session")
def trained(training_county, tmp_path_factory):
    """A model fitted on the training county, saved and loaded back as scoring uses it."""
    from riskmodel.config import load_train_config
    from riskmodel.model import RelapseModel
    from riskmodel.train import fit_model, labelled_records, load_panel, split_by_year

    cfg = load_train_config(ROOT / "training/configs/default.yaml", data=training_county)
    panel, _ = load_panel(training_county)
    model, _ = fit_model(split_by_year(labelled_records(panel, "meets_criteria"), None), cfg)
    folder = model.save(tmp_path_factory.mktemp("model"))
    return RelapseModel.load(folder), panel


@pytest.fixture(scope="session")
def trained_persistent(training_county, tmp_path_factory):
    """The monitored households' model (label persistent) on the training county."""
    from riskmodel.config import load_train_config
    from riskmodel.model import RelapseModel
    from riskmodel.train import fit_model, labelled_records, load_panel, split_by_year

    cfg = load_train_config(
        ROOT / "training/configs/persistent.yaml", data=training_county, label="persistent"
    )
    panel, _ = load_panel(training_county)
    model, _ = fit_model(split_by_year(labelled_records(panel, "persistent"), None), cfg)
    folder = model.save(tmp_path_factory.mktemp("persistent"))
    return RelapseModel.load(folder)


def _postgres_ready() -> bool:
    import sqlalchemy as sa

    try:
        with sa.create_engine(PG_URL).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each store test runs on SQLite and on the PostgreSQL server (required in CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if not _postgres_ready():
        if os.environ.get("RISKMODEL_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_URL}")
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")

    drop_all_tables(PG_URL)
    return PG_URL


def drop_all_tables(url: str) -> None:
    """Every table of the database, the migrations' revision table included."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    existing = sa.MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)
    engine.dispose()
