"""`riskmodel bench scale`: households per second per core of the single-process engine and of
the Dask engine with 1 and 2 workers on regions of several sizes, peak memory per worker, the
end-to-end time of the largest, and a projection to a national sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERAL_SHARE = 1.42
"""Households per exited household (the simulator adds 0.42 general households per exited one)."""
HOUSEHOLDS_PER_TOWNSHIP = 2_080
"""Ningming: about 27,000 households in 13 townships."""
NATIONAL = 30_000_000
"""Exited households in the national monitoring system."""


def region(root: Path, households: int, seed: int = 7, single_up_to: int = 250_000) -> Path:
    """A three-year region (2023-2025) of about `households` households in the scored year,
    simulated once and kept in ROOT/N/ (and as one panel file for the single-process engine)."""
    import pandas as pd

    from riskmodel.simulate.region import MANIFEST, RegionConfig, write_region

    cfg = RegionConfig(
        seed=seed,
        households=round(households / GENERAL_SHARE),
        townships=max(1, round(households / HOUSEHOLDS_PER_TOWNSHIP)),
        first_year=2023,
        last_year=2025,
        oracle=False,
    )
    folder = Path(root) / str(households)
    manifest = folder / MANIFEST
    if not manifest.exists() or json.loads(manifest.read_text())["config"] != cfg.model_dump():
        write_region(cfg, folder)
    single = folder / "single" / "panel.parquet"
    if not single.exists() and households <= single_up_to:
        single.parent.mkdir(parents=True, exist_ok=True)
        panel = pd.read_parquet(folder / "panel")
        panel["township_id"] = panel["township_id"].astype(str).astype("string")
        first = ["hh_id", "year", "township_id", "village_id"]
        panel[first + [c for c in panel.columns if c not in first]].to_parquet(single)
    return folder


_LOCAL = """
import json, sys, time
from riskmodel.score import run_batch
from riskmodel.score.dask import peak_rss, worker_models
sources, versions, data, out, db = json.loads(sys.argv[1])
models = worker_models(tuple(sources.items()))
t0, c0 = time.perf_counter(), time.process_time()
result = run_batch(data, out, db, models, versions["meets_criteria"], "bench", versions=versions,
                   replace_all=True)
print(json.dumps({"wall_s": time.perf_counter() - t0, "households": len(result.rows),
                  "cpu_s": time.process_time() - c0,
                  "peak_rss": peak_rss()}))
"""


def _local(sources: dict, versions: dict, data: Path, out: Path, db_url: str) -> dict:
    """The single-process engine on one core (one thread for TreeSHAP's kernel and the numeric
    libraries too, as every Dask worker runs), so that per-core figures compare like for like."""
    from riskmodel.score.dask import ONE_CORE

    args = json.dumps([sources, versions, str(data), str(out), db_url])
    done = subprocess.run(
        [sys.executable, "-c", _LOCAL, args],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | ONE_CORE,
    )
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "households": r["households"],
        "wall_s": round(r["wall_s"], 2),
        "per_core_hh_s": round(r["households"] / r["wall_s"]),
        "cores_used": round(r["cpu_s"] / r["wall_s"], 2),
        "peak_mb": round(r["peak_rss"] / 2**20),
    }


def _dask(sources: dict, versions: dict, data: Path, out: Path, db_url: str, workers: int) -> dict:
    from riskmodel.score.dask import local_client, run_distributed, worker_models

    t0 = time.perf_counter()
    with local_client(workers) as client:
        client.run(worker_models, tuple(sources.items()))  # models loaded once per worker
        cpu = sum(client.run(time.process_time).values()) + time.process_time()
        warm = time.perf_counter()
        result = run_distributed(
            data, out, db_url, sources, versions["meets_criteria"], "bench", client,
            versions=versions,
        )  # fmt: skip
        wall = time.perf_counter() - warm
        cpu = sum(client.run(time.process_time).values()) + time.process_time() - cpu
        client.cluster.close()
    peaks = [w["peak_rss"] for w in result.workers.values()]
    return {
        "workers": workers,
        "households": result.households,
        "townships": result.townships,
        "wall_s": round(wall, 2),
        "end_to_end_s": round(time.perf_counter() - t0, 2),
        "per_core_hh_s": round(result.households / wall / workers),
        "cores_used": round(cpu / wall, 2),
        "peak_mb_per_worker": round(max(peaks) / 2**20),
        "stages_s": result.seconds,
    }


def bench_scale(
    sizes: tuple[int, ...] = (27_000, 250_000, 1_000_000),
    workers: tuple[int, ...] = (1, 2),
    root: Path = Path("data/scale"),
    db_url: str | None = None,
    model_uri: str | None = None,
    persistent_model_uri: str | None = None,
    cluster_cores: int = 64,
    single_up_to: int = 250_000,
) -> dict:
    """Score each size with the single-process engine (up to `single_up_to` households: it holds
    the whole region, about 20 KB per household) and with Dask on each number of workers, against
    the models in service (or the URIs given), into a bench store: by default a new SQLite file
    for every run, so that no run pays for deleting an earlier run's batch; PostgreSQL's URL
    measures the production path (each run then replaces the batch the run before wrote)."""
    from riskmodel.api.lifecycle import pinned_uri
    from riskmodel.config import Settings
    from riskmodel.registry import load_optional, resolve_version

    settings = Settings()
    root = Path(root).resolve()
    uris = {
        "meets_criteria": model_uri or settings.model_uri,
        "persistent": settings.persistent_model_uri
        if persistent_model_uri is None
        else persistent_model_uri,
    }
    versions, sources = {}, {}
    for label, uri in uris.items():
        if label != "meets_criteria" and load_optional(uri) is None:
            continue
        versions[label] = resolve_version(uri)
        sources[label] = pinned_uri(uri, versions[label])
    db = db_url.split(":", 1)[0] if db_url else "sqlite"
    results: dict = {"cores": os.cpu_count(), "db": db, "sizes": {}}
    for n in sizes:
        t0 = time.perf_counter()
        folder = region(root, n, single_up_to=single_up_to)
        row: dict = {"data_s": round(time.perf_counter() - t0, 1)}
        with tempfile.TemporaryDirectory(dir=root) as tmp:

            def store(run: str) -> str:
                return db_url or f"sqlite:///{Path(tmp) / run}.db"

            if n <= single_up_to:
                row["single"] = _local(
                    sources,
                    versions,
                    folder / "single" / "panel.parquet",
                    Path(tmp),
                    store("single"),
                )
            for w in workers:
                row[f"dask_{w}"] = _dask(
                    sources, versions, folder, Path(tmp), store(f"dask_{w}"), w
                )
        if "single" in row:
            single = row["single"]["per_core_hh_s"]
            row["dask_per_core_vs_single"] = {
                f"dask_{w}": round(row[f"dask_{w}"]["per_core_hh_s"] / single, 2) for w in workers
            }
        results["sizes"][str(n)] = row
    results["projection"] = _projection(results, cluster_cores)
    results["targets"] = _targets(results)
    return results


def _projection(results: dict, cores: int) -> dict:
    """30 million households on `cores` worker cores at the largest run's Dask per-core rate
    (townships run in parallel; the store's commit runs once, scaled linearly with rows)."""
    largest = max(results["sizes"], key=int)
    best = max(
        (
            v
            for k, v in results["sizes"][largest].items()
            if k.startswith("dask_") and "workers" in v
        ),
        key=lambda v: v["workers"],
    )
    rate = best["per_core_hh_s"]
    commit = best["stages_s"].get("commit", 0.0) * NATIONAL / best["households"]
    parallel = NATIONAL / (rate * cores)
    return {
        "households": NATIONAL,
        "worker_cores": cores,
        "per_core_hh_s": rate,
        "parallel_s": round(parallel),
        "commit_s": round(commit),
        "total_min": round((parallel + commit) / 60, 1),
        "arithmetic": f"{NATIONAL:,} / ({rate:,} hh/s/core x {cores} cores) = {parallel:,.0f} s"
        f" + commit {commit:,.0f} s",
    }


def _targets(results: dict) -> dict:
    sizes = results["sizes"]
    out = {}
    if "1000000" in sizes and "dask_2" in sizes["1000000"]:
        d = sizes["1000000"]["dask_2"]
        out["1m_under_4_min_2_workers"] = d["end_to_end_s"] < 240
        out["1m_under_3_gb_per_worker"] = d["peak_mb_per_worker"] < 3072
    if "250000" in sizes and "dask_per_core_vs_single" in sizes["250000"]:
        ratios = sizes["250000"]["dask_per_core_vs_single"]
        out["250k_dask_per_core_at_least_0.7"] = min(ratios.values()) >= 0.7
    return out
