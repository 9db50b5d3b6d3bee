"""A province-size region: townships simulated as independent Ningming-like units, in parallel
processes, and written as Parquet datasets partitioned by township (hive style):

    OUT/panel/township_id=T0001/part-0.parquet    OUT/oracle/township_id=T0001/part-0.parquet
    OUT/REGION.json                               what was simulated, township by township

Each process holds one township at a time, so memory is bounded by the largest township, not the
region. A township's seed is derived from the region's seed and its number, so a region is the
same whatever the number of processes. Identifiers carry the township (`T0001-V003`,
`T0001-H000123`) so they are unique in the region.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from riskmodel.io import write_parquet, write_text

HOUSEHOLDS_PER_VILLAGE = 19_300 / 162
POOR_VILLAGE_SHARE = 57 / 162
"""Villages per exited household and former poor villages among them, as in Ningming."""
PARTITION = "township_id"
MANIFEST = "REGION.json"


class RegionConfig(BaseModel):
    """What to simulate: `households` exited households spread evenly over `townships`."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 7
    households: int = Field(ge=50)
    townships: int = Field(ge=1)
    first_year: int = Field(2014, ge=2010, le=2030)
    last_year: int = Field(2025, ge=2011, le=2040)
    oracle: bool = True


def township_ids(n: int) -> list[str]:
    width = max(4, len(str(n)))
    return [f"T{k + 1:0{width}d}" for k in range(n)]


def township_configs(cfg: RegionConfig) -> dict[str, dict]:
    """Each township's SimulationConfig fields: an even share of the households, villages in
    Ningming's proportion, its own seed."""
    from riskmodel.simulate import SimulationConfig

    base, extra = divmod(cfg.households, cfg.townships)
    if base < 50:
        raise ValueError(
            f"{cfg.households:,} households over {cfg.townships:,} townships is fewer than 50 "
            "per township; use fewer townships"
        )
    out = {}
    for k, tid in enumerate(township_ids(cfg.townships)):
        n = base + (k < extra)
        villages = max(1, round(n / HOUSEHOLDS_PER_VILLAGE))
        seed = int(np.random.SeedSequence([cfg.seed, k]).generate_state(1)[0])
        out[tid] = SimulationConfig(
            seed=seed,
            households=n,
            first_year=cfg.first_year,
            last_year=cfg.last_year,
            townships=1,
            villages=villages,
            poor_villages=round(villages * POOR_VILLAGE_SHARE),
        ).model_dump()
    return out


def simulate_township(township: str, config: dict, out: Path, oracle: bool) -> dict:
    """Simulate one township and write its partitions; return its counts."""
    from riskmodel.simulate import SimulationConfig, simulate

    sim = simulate(SimulationConfig(**config), oracle=oracle)
    panel = sim.panel.drop(columns=[PARTITION])
    prefix = f"{township}-"
    panel["village_id"] = (prefix + panel["village_id"].astype(str)).astype("string")
    panel["hh_id"] = (prefix + panel["hh_id"].astype(str)).astype("string")
    write_parquet(panel, Path(out) / "panel" / f"{PARTITION}={township}" / "part-0.parquet")
    if oracle:
        exact = sim.oracle.assign(hh_id=(prefix + sim.oracle["hh_id"].astype(str)))
        exact["hh_id"] = exact["hh_id"].astype("string")
        write_parquet(exact, Path(out) / "oracle" / f"{PARTITION}={township}" / "part-0.parquet")
    last = panel[panel["year"] == panel["year"].max()]
    return {
        "households": int(panel["hh_id"].nunique()),
        "households_last_year": len(last),
        "household_years": len(panel),
        "villages": int(panel["village_id"].nunique()),
    }


def write_region(cfg: RegionConfig, out: Path, workers: int | None = None) -> dict:
    """Simulate the region into OUT (see the module's docstring) with `workers` processes
    (default: one per core). The datasets are built in hidden folders and moved into place when
    every township is written, replacing an earlier region in OUT."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".region.partial"
    shutil.rmtree(staging, ignore_errors=True)
    configs = township_configs(cfg)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {
            tid: pool.submit(simulate_township, tid, conf, staging, cfg.oracle)
            for tid, conf in configs.items()
        }
        townships = {tid: f.result() for tid, f in futures.items()}
    for name in ("panel", "oracle"):
        shutil.rmtree(out / name, ignore_errors=True)
        if (staging / name).exists():
            (staging / name).rename(out / name)
    shutil.rmtree(staging, ignore_errors=True)
    manifest = {
        "config": cfg.model_dump(),
        "households": sum(t["households"] for t in townships.values()),
        "households_last_year": sum(t["households_last_year"] for t in townships.values()),
        "household_years": sum(t["household_years"] for t in townships.values()),
        "townships": townships,
    }
    write_text(json.dumps(manifest, indent=1), out / MANIFEST)
    return manifest


def partitions(data: Path) -> dict[str, list[Path]]:
    """A partitioned panel's files by township (`data` is the region folder or its panel/)."""
    data = Path(data)
    root = data / "panel" if (data / "panel").is_dir() else data
    found: dict[str, list[Path]] = {}
    for folder in sorted(root.glob(f"{PARTITION}=*")):
        files = sorted(folder.glob("*.parquet"))
        if files:
            found[folder.name.split("=", 1)[1]] = files
    return found


def read_partition(files: list[Path], township: str) -> pd.DataFrame:
    """One township's panel with its township_id column, rows numbered from 0 in file order."""
    panel = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    panel.insert(2, PARTITION, pd.array([township] * len(panel), dtype="string"))
    return panel
