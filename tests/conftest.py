"""Shared fixtures: a small simulated county, built once per session."""

from __future__ import annotations

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
