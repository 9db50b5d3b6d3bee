"""`riskmodel bench monitor`: the command's wall time on the full county, and the issue's
targets: estimated against realised AUC on the default county's batches 2021-2024 (each with the
model trained before it) and the alarm on shocked and unshocked batches."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = {
    "flood": "flood:{year}:T01,T02,T03,T04,T05@0.9",
    "border_closure": "border_closure:{year}@1.0",
    "price_collapse": "price_collapse:{year}:sugarcane@0.5",
}


def bench_command(runs: int = 3, data: Path = Path("data/county")) -> dict:
    """`riskmodel monitor --json` as fresh processes (champion, the latest year, MLflow run and
    store rows included; `python -m riskmodel.cli`, the entry point's own code): wall time and
    peak memory."""
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RISKMODEL_DB_URL=f"sqlite:///{Path(tmp) / 'bench.db'}")
        command = [sys.executable, "-m", "riskmodel.cli", "monitor", "--data", str(data)]
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(
                [*command, "--out", tmp, "--json"],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            walls.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    walls.sort()
    median = walls[len(walls) // 2]
    return {
        "runs": runs,
        "wall_s": [round(w, 2) for w in walls],
        "wall_s_median": round(median, 2),
        "peak_mb": round(peak_mb),
        "targets": {"under_5_s": median < 5},
    }


def bench_targets(
    years: tuple[int, ...] = (2021, 2022, 2023, 2024), seed: int = 7, households: int = 19_300
) -> dict:
    """For each batch year Y: the model trained on the county up to Y (fit <= Y-3, calibrated on
    Y-2, reference year Y-1), monitored on the default county's batch Y and on a county with each
    shock in Y."""
    from riskmodel.config import config_path, load_train_config
    from riskmodel.monitor.batch import monitor_batch
    from riskmodel.monitor.stats import build_reference
    from riskmodel.simulate import SimulationConfig, simulate
    from riskmodel.simulate.shocks import parse_shock
    from riskmodel.train import fit_model, split_by_year, training_records

    t0 = time.perf_counter()
    last = max(years) + 1
    county = {"seed": seed, "households": households, "last_year": last}
    panel = simulate(SimulationConfig(**county)).panel
    cfg = load_train_config(config_path())  # the served model's settings
    records = training_records(panel, cfg)  # as the served model learns (soft labels included)
    out: dict = {"years": {}, "seed": seed, "households": households}
    for year in years:
        split = split_by_year(records[records["year"] <= year - 1], None)
        model, _ = fit_model(split, cfg)
        reference = build_reference(model, split.train, split.valid, split.test)
        m = monitor_batch(model, reference, panel, year, cfg.monitor)
        est, real = m.estimated, m.realised or {}
        row = {
            "estimated_auc": round(est["roc_auc"], 4),
            "interval": [round(est["roc_auc_low"], 4), round(est["roc_auc_high"], 4)],
            "realised_auc": round(real.get("roc_auc", float("nan")), 4),
            "abs_error": round(abs(est["roc_auc"] - real.get("roc_auc", float("nan"))), 4),
            "within_interval": est["roc_auc_low"] <= real.get("roc_auc", -1) <= est["roc_auc_high"],
            "alarm": m.judgement.alarm,
            "reasons": m.judgement.reasons,
            "shocked": {},
        }
        for name, text in SCENARIOS.items():
            shock = parse_shock(text.format(year=year))
            shocked = simulate(
                SimulationConfig(**county | {"last_year": year + 1}, shocks=[shock])
            ).panel
            s = monitor_batch(model, reference, shocked, year, cfg.monitor)
            row["shocked"][name] = {
                "alarm": s.judgement.alarm,
                "features": s.judgement.features,
                "recommendation": s.judgement.recommendation,
            }
        out["years"][year] = row
    rows = out["years"].values()
    out["targets"] = {
        "abs_error_at_most_0.02": all(r["abs_error"] <= 0.02 for r in rows),
        "alarm_on_every_shocked_year": all(s["alarm"] for r in rows for s in r["shocked"].values()),
        "no_alarm_unshocked": not any(r["alarm"] for r in rows),
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
