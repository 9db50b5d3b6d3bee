"""A Ningming-like county simulated household by household, with the exact probability of each label.

Read in the order the year runs: `calibration` (every constant and its source), `county` (the
state), `economy` (what a year can bring each household), `step` (the year drawn and lived from
causes), `oracle` (the exact probabilities of the next year's labels), `datacard`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from riskmodel.catalogue import PANEL_COLUMNS
from riskmodel.io import write_parquet, write_text
from riskmodel.simulate import calibration as cal
from riskmodel.simulate.calibration import EXIT_YEARS, TOWNSHIPS, monitor_line
from riskmodel.simulate.county import County
from riskmodel.simulate.economy import detection, outlook, price_index
from riskmodel.simulate.names import head_names
from riskmodel.simulate.oracle import next_year_probabilities
from riskmodel.simulate.shocks import Shock
from riskmodel.simulate.step import RISK_LEVELS, Year, draw_year, live_the_year, respond

__all__ = [
    "EXIT_YEARS",
    "TOWNSHIPS",
    "Simulation",
    "SimulationConfig",
    "advance",
    "monitor_line",
    "simulate",
    "write_simulation",
]

log = logging.getLogger(__name__)

ORACLE_COLUMNS = ["p_meets_criteria", "p_persistent", "p_relapse", "p_identified"]


class SimulationConfig(BaseModel):
    """What to simulate. The defaults are the Ningming-like county."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 7
    households: int = Field(19_300, ge=50, description="households that left poverty")
    general_share: float = Field(0.42, ge=0, le=2, description="general households per exited one")
    first_year: int = Field(2014, ge=2010, le=2030)
    last_year: int = Field(2025, ge=2011, le=2040)
    townships: int = Field(13, ge=1, le=13)
    villages: int = Field(162, ge=1)
    poor_villages: int = Field(57, ge=0)
    shocks: list[Shock] = Field(
        default_factory=list, description="shocks in chosen years (none: the default county)"
    )


@dataclass
class Simulation:
    panel: pd.DataFrame
    oracle: pd.DataFrame
    config: SimulationConfig


def simulate(
    config: SimulationConfig | None = None,
    on_year: Callable[[County, int, pd.DataFrame], None] | None = None,
    oracle: bool = True,
) -> Simulation:
    """Simulate the panel and its oracle for the configured county. `on_year(county, year, rows)`
    sees the county's full state (members included) after each year's record, for exports.
    Without `oracle` the panel is the same and the oracle frame empty (two thirds of the time)."""
    cfg = config or SimulationConfig()
    if cfg.last_year <= cfg.first_year:
        raise ValueError("last_year must be after first_year")
    if cfg.poor_villages > cfg.villages or cfg.townships > cfg.villages:
        raise ValueError("a county needs at least as many villages as townships and poor villages")
    c = County(cfg, np.random.default_rng(cfg.seed))
    rows: list[pd.DataFrame] = []
    oracle_rows: list[pd.DataFrame] = []
    for year in range(cfg.first_year, cfg.last_year + 1):
        row, probabilities = advance(c, year, oracle)
        if on_year is not None:
            on_year(c, year, row)
        rows.append(row)
        if probabilities is not None:
            oracle_rows.append(probabilities)
    panel = cast(pd.concat(rows, ignore_index=True))
    if oracle_rows:
        exact = pd.concat(oracle_rows, ignore_index=True)
    else:
        exact = pd.DataFrame(
            {c: pd.Series(dtype=float) for c in ["hh_id", "year", *ORACLE_COLUMNS]}
        )
    exact["hh_id"] = exact["hh_id"].astype("string")
    exact["year"] = exact["year"].astype("int16")
    log.info("simulated %d households, %d household-years", c.H, len(panel))
    return Simulation(panel=panel, oracle=exact, config=cfg)


def advance(c: County, year: int, oracle: bool = True) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run `year` for the county: the oracle for the households registered at the end of the
    previous year (computed before anything is drawn; it draws nothing), then the year itself and
    its record."""
    o = outlook(c, year)
    before = c.entered & c.alive
    probabilities = None
    if oracle and before.any():
        probabilities = _oracle_rows(c, o, np.flatnonzero(before), year)
    entering = c.alive & ~c.entered & (c.start_year <= year)
    live = before | entering
    y = draw_year(c, o, live, entering)
    dibao = c.dibao.copy()
    live_the_year(c, o, y, live)
    idx = np.flatnonzero(live & c.alive)
    row = record(c, y, year, idx, dibao)
    respond(c, o, y, row, idx)
    return _with_monitoring(row, c, idx), probabilities


def _oracle_rows(c: County, o, idx: np.ndarray, year: int) -> pd.DataFrame:
    """Exact probabilities, for the households registered at the end of year-1, of their labels."""
    p = next_year_probabilities(
        o.take(idx), c.log_post[idx], monitor_line(year), detection(c, year)[idx]
    )
    if year < cal.MONITORING_STARTED:
        p["p_identified"] = np.zeros(len(idx))
    return pd.DataFrame(
        {
            "hh_id": hh_ids(idx),
            "year": year - 1,
            "p_meets_criteria": p["p_meets"],
            "p_persistent": p["p_meets"],
            "p_relapse": p["p_relapse"],
            "p_identified": p["p_identified"],
        }
    )


def hh_ids(idx: np.ndarray) -> np.ndarray:
    return np.char.add("H", np.char.zfill(idx.astype(str), 6))


def record(c: County, y: Year, year: int, idx: np.ndarray, dibao: np.ndarray) -> pd.DataFrame:
    """The household-year rows as the national system records them (before the year's sweep)."""
    agg = {k: v[idx] for k, v in c.aggregate().items()}
    v = c.village[idx]
    cats = {col.name: col.levels for col in PANEL_COLUMNS if col.dtype == "category"}
    total = y.wage[idx] + y.business[idx] + y.property[idx] + y.transfer[idx]
    data = {
        "hh_id": hh_ids(idx),
        "year": year,
        "township_id": np.char.add("T", np.char.zfill((c.village_township[v] + 1).astype(str), 2)),
        "village_id": np.char.add("V", np.char.zfill((v + 1).astype(str), 3)),
        "household_type": np.where(c.exited[idx], "exited", "general"),
        "exit_year": np.where(c.exited[idx], c.exit_year[idx], -1),
        "relocated": c.relocated[idx],
        "head_sex": np.where(c.female[idx, 0], "female", "male"),
        "head_ethnicity": np.array(cats["head_ethnicity"])[c.ethnicity[idx]],
        "head_name": head_names(c.age[idx, 0], c.female[idx, 0], idx, year),
        "head_education": np.array(cats["head_education"])[c.head_edu[idx]],
        **agg,
        "new_serious_illness": c.new_serious[idx],
        "new_disability": c.new_disability[idx],
        "inc_wage": y.wage[idx],
        "inc_business": y.business[idx],
        "inc_property": y.property[idx],
        "inc_transfer": y.transfer[idx],
        "net_income_pc": total / np.maximum(agg["hh_size"], 1),
        "oop_medical": y.oop[idx],
        "edu_spend": y.edu[idx],
        "work_months": y.months[idx].astype(int),
        "has_public_welfare_job": c.pw_job[idx],
        "has_workshop_job": c.workshop[idx],
        "skills_training": c.skills[idx],
        "main_industry": np.array(cats["main_industry"])[c.industry[idx]],
        "industry_support": c.industry_support[idx],
        "cultivated_land_mu": c.land[idx].round(1),
        "microcredit": c.microcredit[idx],
        "all_insured": c.insured[idx],
        "housing_safe": c.housing_safe[idx],
        "water_safe": c.water_safe[idx],
        "water_centralised": c.central_water(year)[idx],
        "dibao": dibao[idx],
        "motivation_score": c.motivation[idx],
        "is_former_poor_village": c.village_poor[v],
        "village_flood_prone": c.village_flood[v],
        "village_disaster": c.disaster_now[v],
        "village_collective_income": c.coll_income[v].round(2),
        "sugarcane_price_index": price_index(c, "sugarcane", year),
        "monitor_line": monitor_line(year),
    }
    return pd.DataFrame(data)


def _with_monitoring(row: pd.DataFrame, c: County, idx: np.ndarray) -> pd.DataFrame:
    cats = {col.name: col.levels for col in PANEL_COLUMNS if col.dtype == "category"}
    active = c.mon_status[idx] == 1
    return row.assign(
        is_monitored=active,
        monitor_category=np.array(cats["monitor_category"])[
            np.where(active, c.mon_category[idx], 0)
        ],
        risk_type=np.array(RISK_LEVELS)[np.where(active, c.mon_risk[idx], 0)],
        risk_eliminated=c.mon_status[idx] == 2,
    )


def cast(panel: pd.DataFrame) -> pd.DataFrame:
    """Cast to the catalogue's dtypes (one place, used for simulated and loaded data alike)."""
    from riskmodel.validate import cast_to_catalogue

    panel["exit_year"] = panel["exit_year"].where(panel["exit_year"] >= 0)
    return cast_to_catalogue(panel)


def write_simulation(sim: Simulation, out: Path) -> dict[str, Path]:
    """Write panel, oracle, data card and the names of townships and villages (places.csv, for
    the 台账) into `out`, each file atomically."""
    from riskmodel.simulate.datacard import datacard
    from riskmodel.simulate.export import place_names
    from riskmodel.worklist import write_places

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "panel": out / "panel.parquet",
        "oracle": out / "oracle.parquet",
        "datacard": out / "DATACARD.md",
    }
    write_parquet(sim.panel, paths["panel"])
    write_parquet(sim.oracle, paths["oracle"])
    write_text(datacard(sim), paths["datacard"])
    paths["places"] = write_places(place_names(sim.panel), out)
    return paths
