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
