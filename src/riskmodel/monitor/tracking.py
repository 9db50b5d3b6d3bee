"""The monitoring run logged in MLflow by a second process, started when `riskmodel monitor`
starts: importing MLflow and opening its tracking store take about two seconds, which then
overlap with the monitoring itself on the machine's other core instead of following it.

The process imports MLflow, opens the store and finds (or creates) the monitoring experiment,
then waits for the report on its standard input, logs the run (`log_run`) and prints the
run's id; it imports MLflow and the tracking store's helpers only (`riskmodel.tracking`), not
pandas, the model or the store. A failure is raised in the command, with the process's last error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXPERIMENT = "relapse-risk-monitoring"
TIMEOUT_S = 600


class TrackingError(RuntimeError):
    """The monitoring run could not be logged in MLflow."""


class TrackingProcess:
    """The second process; `log` hands it the report, `close` ends it if it was not used."""

    def __init__(self) -> None:
        import riskmodel

        env = dict(os.environ)
        src = str(Path(riskmodel.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "riskmodel.monitor.tracking"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def log(self, report: dict, files: dict[str, Path]) -> str:
        from riskmodel.monitor.run import _plain

        payload = json.dumps(
            {"report": report, "files": {k: str(v) for k, v in files.items()}}, default=_plain
        )
        try:
            out, err = self._proc.communicate(payload, timeout=TIMEOUT_S)
        except BrokenPipeError:  # it failed before reading the report
            out, err = self._proc.communicate(timeout=TIMEOUT_S)
        lines = out.strip().splitlines()
        if self._proc.returncode != 0 or not lines:
            last = (err.strip().splitlines() or ["no output"])[-1]
            raise TrackingError(f"logging the monitoring run in MLflow failed: {last}")
        return lines[-1]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def log_run(report: dict, files: dict[str, Path]) -> str:
    """A monitoring run in MLflow, tagged with the version it monitored; the version is tagged
    with its latest monitoring run and alarm."""
    import mlflow

    from riskmodel.tracking import _experiment, connect

    client = connect()
    exp = _experiment(client, EXPERIMENT)
    b, m = report["batch"], report["model"]
    est, real = b["estimated"], b.get("realised") or {}
    metrics = {
        "psi_max": b["psi_max"],
        "score_psi": b["score_psi"],
        "alarm": float(b["alarm"]),
        **{f"estimated_{k}": v for k, v in est.items() if isinstance(v, (int, float))},
        **{f"realised_{k}": v for k, v in real.items() if isinstance(v, (int, float))},
    }
    for past in report["past"]:
        if past.get("realised"):
            metrics[f"past_{past['year']}_realised_roc_auc"] = past["realised"]["roc_auc"]
            metrics[f"past_{past['year']}_estimated_roc_auc"] = past["estimated"]["roc_auc"]
    tags = {
        "model_name": m["name"],
        "model_version": m["version"],
        "model_run_id": m["run_id"],
        "batch_year": b["year"],
        "alarm": str(b["alarm"]).lower(),
        "recommendation": b["recommendation"],
    }
    with mlflow.start_run(
        experiment_id=exp, run_name=f"monitor {b['year']} v{m['version']}", tags=tags
    ) as run:  # the tags written with the run, in one transaction
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        for path in files.values():
            mlflow.log_artifact(str(path), "monitoring")
    if m["name"] and m["version"]:
        client.set_model_version_tag(
            m["name"], m["version"], "last_monitoring_run", run.info.run_id
        )
        client.set_model_version_tag(
            m["name"], m["version"], "last_monitoring", f"{b['year']}: {b['recommendation']}"
        )
    return run.info.run_id


def main() -> None:
    import gc

    # a short life of imports: the cyclic collector would walk MLflow's thousands of modules
    # again at each collection they trigger (a fifth of this process's CPU)
    gc.disable()
    from mlflow.tracking.context.registry import resolve_tags

    from riskmodel.tracking import _experiment, connect

    # the slow part, done before the report arrives: MLflow's imports, the store, and the tags a
    # run starts with (their providers keep what they found, the git commit among them)
    _experiment(connect(), EXPERIMENT)
    resolve_tags()
    payload = json.loads(sys.stdin.read())
    files = {k: Path(v) for k, v in payload["files"].items()}
    sys.stdout.write(log_run(payload["report"], files) + "\n")


if __name__ == "__main__":
    main()
