"""Benchmarks that print figures (JSON); tests never time anything."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def bench_train(seed: int = 7) -> dict:
    """Simulate the default county, train, backtest and log to a fresh MLflow store; time it all."""
    from riskmodel.config import DEFAULT_TRAIN_CONFIG, load_train_config
    from riskmodel.registry import train_and_register
    from riskmodel.simulate import SimulationConfig, simulate, write_simulation

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        old = os.environ.get("MLFLOW_TRACKING_URI")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        try:
            t0 = time.perf_counter()
            write_simulation(simulate(SimulationConfig(seed=seed)), root / "county")
            t1 = time.perf_counter()
            cfg = load_train_config(DEFAULT_TRAIN_CONFIG, data=root / "county")
            result, _ = train_and_register(cfg)
            t2 = time.perf_counter()
        finally:
            if old is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = old
    m = result.evaluation.metrics
    figures = {
        k: round(m[k], 4)
        for k in (
            "test_roc_auc",
            "oracle_test_roc_auc",
            "rule_test_roc_auc",
            "test_ece",
            "test_recall_at_10pct_village",
            "oracle_test_recall_at_10pct_village",
        )
    }
    return {
        "simulate_s": round(t1 - t0, 1),
        "train_backtest_log_s": round(t2 - t1, 1),
        "total_s": round(t2 - t0, 1),
        **figures,
        "targets": {
            "auc_within_0.01_of_oracle": m["test_roc_auc"] >= m["oracle_test_roc_auc"] - 0.01,
            "ece_at_most_0.01": m["test_ece"] <= 0.01,
            "recall_at_least_0.95_oracle": m["test_recall_at_10pct_village"]
            >= 0.95 * m["oracle_test_recall_at_10pct_village"],
            "auc_at_least_rule_plus_0.05": m["test_roc_auc"] >= m["rule_test_roc_auc"] + 0.05,
            "under_3_minutes": t2 - t0 < 180,
        },
    }


def _latest_records(data: Path):
    import pandas as pd

    from riskmodel.features import build_features

    panel = pd.read_parquet(Path(data) / "panel.parquet")
    last = int(panel["year"].max())
    records = build_features(panel[panel["year"] >= last - 2])
    return records[records["year"] == last].reset_index(drop=True)


def bench_explain(
    rows: int | None = None,
    data: Path = Path("data/county"),
    model_uri: str = "models:/relapse-risk@champion",
) -> dict:
    """Our TreeSHAP and shap.TreeExplainer on the champion and the latest year, side by side."""
    import numpy as np
    import shap

    from riskmodel.registry import load_model
    from riskmodel.treeshap import TreeShap

    model, meta = load_model(model_uri)
    records = _latest_records(data)
    if rows:
        records = records.iloc[np.arange(rows) % len(records)].reset_index(drop=True)
    X = model.matrix(records)
    booster = model.booster
    t0 = time.perf_counter()
    built = TreeShap(booster)
    t1 = time.perf_counter()
    built.contributions(X[:10])  # compiled code is cached; this only loads it
    shap.TreeExplainer(booster).shap_values(X[:10])
    t2 = time.perf_counter()
    ours = built.contributions(X)
    t3 = time.perf_counter()
    explainer = shap.TreeExplainer(booster)
    theirs = np.asarray(explainer.shap_values(X))
    t4 = time.perf_counter()
    base = np.full((len(X), 1), float(np.ravel(explainer.expected_value)[0]))
    reference = np.hstack([theirs.reshape(len(X), -1), base])
    _ = t2
    return {
        "rows": len(X),
        "model_version": meta["version"],
        "ours_s": round(t3 - t2, 3),
        "shap_s": round(t4 - t3, 3),
        "speedup": round((t4 - t3) / (t3 - t2), 1),
        "max_abs_diff": float(np.abs(ours - reference).max()),
        "ours_table_build_s": round(t1 - t0, 3),
    }


def bench_score(runs: int = 3, data: Path = Path("data/county")) -> dict:
    """`riskmodel score` end to end as a fresh process, several times: wall and peak memory."""
    import resource
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("riskmodel")
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RISKMODEL_DB_URL=f"sqlite:///{Path(tmp) / 'bench.db'}")
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(
                [str(exe), "score", "--data", str(data), "--out", tmp],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            walls.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    walls.sort()
    return {
        "runs": runs,
        "wall_s_min": round(walls[0], 2),
        "wall_s_median": round(walls[len(walls) // 2], 2),
        "peak_mb": round(peak_mb),
        "targets": {"under_10_s": walls[len(walls) // 2] < 10, "under_2_gb": peak_mb < 2048},
    }
