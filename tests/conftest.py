"""Shared fixtures: a small simulated county, built once per session."""

from __future__ import annotations

import pytest

from riskmodel.simulate import Simulation, SimulationConfig, simulate


@pytest.fixture(scope="session")
def small_county() -> Simulation:
    """About 850 households over 2014-2025: fast, yet every mechanism occurs."""
    return simulate(SimulationConfig(seed=3, households=600))


@pytest.fixture(scope="session")
def full_county() -> Simulation:
    """The default Ningming-like county (seed 7)."""
    return simulate(SimulationConfig(seed=7))
