"""Benchmarks that print figures (JSON); tests never time anything."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SERVED_LABELS = ("meets_criteria", "persistent")


UNSEEN_SEEDS = (101, 202)
TIER_TOLERANCE = 0.10
"""Red and amber tiers: mean predicted probability within ±10% (relative) of the oracle's mean."""
INTERVAL_COVERAGE = (0.85, 0.95)
"""The 90% intervals should hold the oracle for 85-95% of households in every tier."""


def bench_train(
    seed: int = 7,
    households: int | None = None,
    labels=SERVED_LABELS,
    unseen_seeds: tuple[int, ...] = UNSEEN_SEEDS,
) -> dict:
    """Simulate a county, train (with backtests), log and promote each label's model in a fresh
    MLflow store, score the latest year with the served models; time it all and print, per label,
    the population, base rate and our figures beside the oracle, the rule and logistic regression,
    the calibration of each tier and top share beside the oracle on the test year and on counties
    simulated with `unseen_seeds` (scored on the same year), and the share of the worklist each
    status fills."""
    from riskmodel.config import config_path, load_train_config
    from riskmodel.registry import promote, train_and_register
    from riskmodel.simulate import SimulationConfig, simulate, write_simulation

    sim_cfg = SimulationConfig(seed=seed, **({"households": households} if households else {}))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        old = os.environ.get("MLFLOW_TRACKING_URI")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        try:
            t0 = time.perf_counter()
            write_simulation(simulate(sim_cfg), root / "county")
            t1 = time.perf_counter()
            results, seconds, promoted = {}, {}, {}
            for label in labels:
                start = time.perf_counter()
                cfg = load_train_config(config_path(label), data=root / "county", label=label)
                results[label], _ = train_and_register(cfg)
                seconds[label] = round(time.perf_counter() - start, 1)
                promoted[label] = promote(cfg).promoted
            t2 = time.perf_counter()
            shares = _worklist_shares(results, root / "county")
            unseen = _unseen_calibration(results, unseen_seeds, households)
        finally:
            if old is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = old
    figures = {
        label: _label_figures(r.evaluation, r.config.label)
        | {"promoted": promoted[label], "unseen_seeds": unseen.get(label, {})}
        for label, r in results.items()
    }
    for f in figures.values():
        for s, tiers in f["unseen_seeds"].items():
            f["targets"][f"seed_{s}_tiers_within_10pct_of_oracle"] = _within(tiers)
            if "interval_coverage" in tiers:
                f["targets"][f"seed_{s}_interval_covers_85_95pct_per_tier"] = _covers(
                    tiers["interval_coverage"]
                )
    return {
        "seed": seed,
        "simulate_s": round(t1 - t0, 1),
        "train_backtest_log_s": seconds,
        "total_s": round(t2 - t0, 1),
        "labels": figures,
        "worklist_by_status": shares,
        "targets": {label: f.pop("targets") for label, f in figures.items()}
        | {"under_4_minutes": t2 - t0 < 240},
    }


def _tier_rows(table) -> dict:
    """The tier and top-share rows of a calibration table, rounded for printing."""
    out = {}
    for r in table[table["group"].isin(["tier", "top"])].to_dict("records"):
        key = r["value"] if r["group"] == "tier" else f"top {r['value']}"
        out[key] = {
            k: (round(r[k], 4) if k != "households" else int(r[k]))
            for k in ("households", "predicted", "observed", "oracle", "predicted_vs_oracle")
            if k in r
        }
    return out


def _within(tiers: dict) -> bool:
    return all(
        abs(tiers[t].get("predicted_vs_oracle", float("inf"))) <= TIER_TOLERANCE
        for t in ("red", "amber")
        if tiers.get(t, {}).get("households")
    )


def _unseen_calibration(results: dict, seeds: tuple[int, ...], households: int | None) -> dict:
    """Each model scores the test year of counties simulated with seeds it never saw: its tier
    and top-share calibration beside the oracle, by label and seed."""
    from riskmodel.calibrate import calibration_table
    from riskmodel.simulate import SimulationConfig, simulate
    from riskmodel.train import interval_metrics, labelled_records

    out: dict = {label: {} for label in results}
    for s in seeds:
        sim = simulate(
            SimulationConfig(seed=s, **({"households": households} if households else {}))
        )
        for label, r in results.items():
            rec = labelled_records(sim.panel, label, r.config.criteria)
            rec = rec[rec["year"] == r.split.test_year]
            column = f"p_{label}"
            if column not in sim.oracle:
                continue
            o = rec[["hh_id", "year"]].merge(sim.oracle, on=["hh_id", "year"], how="left")
            prob = r.model.predict_proba(rec)
            table = calibration_table(
                prob,
                rec[label].to_numpy(int),
                r.model.meta.tiers.assign(prob),
                rec["township_id"].astype(str).to_numpy(),
                o[column].to_numpy(),
            )
            out[label][s] = _tier_rows(table)
            if r.model.meta.interval:
                coverage = interval_metrics(r.model, rec, o[column].to_numpy())
                out[label][s]["interval_coverage"] = _coverage(coverage)
    return out


def _coverage(metrics: dict) -> dict:
    """The interval's coverage of the oracle per tier (interval_metrics' keys, shortened)."""
    prefix = "oracle_test_interval_coverage_"
    return {k[len(prefix) :]: round(v, 3) for k, v in metrics.items() if k.startswith(prefix)}


def _covers(coverage: dict) -> bool:
    """Coverage of the oracle between 85% and 95% in every tier."""
    return all(
        INTERVAL_COVERAGE[0] <= coverage.get(tier, -1) <= INTERVAL_COVERAGE[1]
        for tier in ("red", "amber", "green")
    )


def _label_figures(evaluation, label: str) -> dict:
    """One label's figures on its own test rows, ours beside the oracle, the rule and logreg."""
    m = evaluation.metrics
    keys = ("roc_auc", "pr_auc", "ece", "recall_at_10pct_village")
    out: dict = {
        "population": evaluation.extra["population"],
        "test_rows": int(m["test_population_size"]),
        "base_rate": round(m["test_positive_rate"], 4),
        "oracle_note": evaluation.extra["oracle_note"],
        "calibration": _tier_rows(evaluation.extra["calibration"]),
        "interval_coverage": _coverage(m),
    }
    for prefix, name in (
        ("", "ours"),
        ("oracle_", "oracle"),
        ("rule_", "rule"),
        ("logreg_", "logreg"),
    ):
        if f"{prefix}test_roc_auc" in m:
            out[name] = {k: round(m[f"{prefix}test_{k}"], 4) for k in keys}
    ours, oracle, rule = out["ours"], out.get("oracle"), out["rule"]
    targets = {"ece_at_most_0.01": ours["ece"] <= 0.01}
    if oracle:
        targets["test_tiers_within_10pct_of_oracle"] = _within(out["calibration"])
        targets["test_interval_covers_85_95pct_per_tier"] = _covers(out["interval_coverage"])
        targets["auc_within_0.01_of_oracle"] = ours["roc_auc"] >= oracle["roc_auc"] - 0.01
        targets["recall_at_least_0.95_oracle"] = (
            ours["recall_at_10pct_village"] >= 0.95 * oracle["recall_at_10pct_village"]
        )
    if label == "meets_criteria":
        targets["auc_at_least_rule_plus_0.05"] = ours["roc_auc"] >= rule["roc_auc"] + 0.05
    out["targets"] = targets
    return out


def _worklist_shares(results: dict, data: Path) -> dict:
    """Score the latest year with the served models; the share of the worklist each status fills
    (and how many households of each status are listed)."""
    from riskmodel.score import SERVED_BY, score_records

    served = {k: r.model for k, r in results.items() if k in SERVED_BY.values()}
    if "meets_criteria" not in served:
        return {}
    rows = score_records(_latest_records(data), served, "bench", "bench")
    listed = rows[rows["on_worklist"]]
    counts = listed["status"].value_counts()
    return {
        "households": len(rows),
        "listed": len(listed),
        **{
            status: {
                "listed": int(counts.get(status, 0)),
                "share": round(counts.get(status, 0) / len(listed), 4),
            }
            for status in ("meets_criteria", "not_monitored", "monitored")
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
    _shap(booster, X[:10])
    t2 = time.perf_counter()
    ours = built.contributions(X)
    t3 = time.perf_counter()
    explainer, theirs = _shap(booster, X)
    t4 = time.perf_counter()
    base = np.full((len(X), 1), float(np.ravel(explainer.expected_value)[0]))
    reference = np.hstack([theirs.reshape(len(X), -1), base])
    return {
        "rows": len(X),
        "model_version": meta["version"],
        "ours_s": round(t3 - t2, 3),
        "shap_s": round(t4 - t3, 3),
        "speedup": round((t4 - t3) / (t3 - t2), 1),
        "max_abs_diff": float(np.abs(ours - reference).max()),
        "ours_table_build_s": round(t1 - t0, 3),
    }


def _shap(booster, X):
    """shap.TreeExplainer and its values for X (shap's note that its LightGBM output format
    changed is silenced: the comparison handles both formats)."""
    import warnings

    import numpy as np
    import shap

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LightGBM binary classifier with TreeExplainer")
        explainer = shap.TreeExplainer(booster)
        return explainer, np.asarray(explainer.shap_values(X))


def bench_score(
    runs: int = 3, data: Path = Path("data/county"), baseline: Path | None = None
) -> dict:
    """`riskmodel score` end to end as a fresh process, several times: wall time, peak memory
    and start-up (process start to reading rows, from its stage timings). With `baseline` (a
    checkout of an earlier release) that release's `score` runs too, alternating with ours on
    the same data and models, after one untimed run of each."""
    import re
    import sys

    sides = {"ours": None} | ({"baseline": Path(baseline) / "src"} if baseline else {})
    figures: dict[str, dict] = {name: {"walls": [], "peaks": [], "start_up": []} for name in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs + 1):
            for name, src in sides.items():
                env = dict(os.environ, RISKMODEL_DB_URL=f"sqlite:///{Path(tmp) / f'{name}.db'}")
                if src is not None:
                    env["PYTHONPATH"] = str(src)
                cmd = [sys.executable, "-c", "from riskmodel.cli import main; main()", "score",
                       "--data", str(data), "--out", f"{tmp}/{name}"]  # fmt: skip
                wall, peak, out = _measured(cmd, env)
                if i == 0:
                    continue  # first run: files cached, deployed copies written
                f = figures[name]
                f["walls"].append(wall)
                f["peaks"].append(peak)
                found = re.search(r"start-up ([0-9.]+)", out)
                if found:
                    f["start_up"].append(float(found.group(1)))
    result: dict = {"runs": runs}
    for name, f in figures.items():
        walls = sorted(f["walls"])
        result[name] = {
            "wall_s_min": round(walls[0], 2),
            "wall_s_median": round(walls[len(walls) // 2], 2),
            "peak_mb": round(max(f["peaks"])),
        }
        if f["start_up"]:
            result[name]["start_up_s_median"] = sorted(f["start_up"])[len(f["start_up"]) // 2]
    ours = result["ours"]
    targets = {"under_10_s": ours["wall_s_median"] < 10, "under_2_gb": ours["peak_mb"] < 2048}
    if "start_up_s_median" in ours:
        targets["start_up_under_1_s"] = ours["start_up_s_median"] < 1
    if "baseline" in result:
        result["ratio_to_baseline"] = round(
            ours["wall_s_median"] / result["baseline"]["wall_s_median"], 3
        )
        targets["at_most_half_of_baseline"] = result["ratio_to_baseline"] <= 0.5
    result["targets"] = targets
    return result


def _measured(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Run a command as a fresh process: wall time (s), peak resident memory (MB), stdout."""
    import subprocess

    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            tail = err.read().decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"{' '.join(cmd[3:5])} failed: {tail}")
        out.seek(0)
        return wall, rusage.ru_maxrss / 1024, out.read().decode(errors="replace")


def _timed_run(args: list[str]) -> tuple[float, float]:
    """Run `riskmodel ARGS` as a fresh process; its wall time (s) and peak resident memory (MB)."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("riskmodel")
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([str(exe), *args], stdout=subprocess.DEVNULL, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"riskmodel {args[0]} failed: {tail}")
    return wall, rusage.ru_maxrss / 1024


def bench_simulate(seed: int = 7, households: int = 19_300, export_format: str = "csv") -> dict:
    """`riskmodel simulate --export` of the default county as a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["simulate", "--out", f"{tmp}/county", "--seed", str(seed), "--households",
                str(households), "--export", f"{tmp}/export", "--export-format", export_format]  # fmt: skip
        wall, peak = _timed_run(args)
        files = list(Path(tmp, "export").iterdir())
        size = sum(f.stat().st_size for f in files)
    return {
        "households": households,
        "wall_s": round(wall, 2),
        "peak_mb": round(peak),
        "export_files": len(files),
        "export_mb": round(size / 2**20, 1),
        "targets": {"under_60_s": wall < 60, "under_4_gb": peak < 4096},
    }


def bench_import(seed: int = 7, households: int = 19_300) -> dict:
    """`riskmodel import` of the default county's export (all years) as a fresh process; the
    export is made first (not timed)."""
    from riskmodel.simulate import SimulationConfig, simulate
    from riskmodel.simulate.export import NationalExport

    with tempfile.TemporaryDirectory() as tmp:
        exporter = NationalExport(Path(tmp, "export"))
        sim = simulate(SimulationConfig(seed=seed, households=households), on_year=exporter)
        wall, peak = _timed_run(["import", f"{tmp}/export", "--out", f"{tmp}/imported"])
        import pandas as pd

        imported = pd.read_parquet(Path(tmp, "imported", "panel.parquet"))
    return {
        "households": households,
        "household_years": len(imported),
        "simulated_household_years": len(sim.panel),
        "wall_s": round(wall, 2),
        "peak_mb": round(peak),
        "targets": {"under_30_s": wall < 30, "under_3_gb": peak < 3072},
    }


# --- API load -----------------------------------------------------------------------------------


def _request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


async def _drive(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    seconds: float,
    make: Callable[[], bytes] | None = None,
    source: str | None = None,
    interval: float = 0.0,
) -> dict:
    """Keep-alive HTTP/1.1 clients sending the same request (or `make()`'s) as fast as answers
    come back, or one every `interval` seconds; from the address `source` when given."""
    import asyncio
    from collections import Counter

    request = _request(path, body, headers)
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors = 0
    stop = time.perf_counter() + seconds

    async def read_response(reader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in fields:
            await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding") == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        return status

    async def client() -> None:
        nonlocal errors
        reader = writer = None
        while time.perf_counter() < stop:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", port, local_addr=(source, 0) if source else None
                    )
                t0 = time.perf_counter()
                writer.write(make() if make else request)
                await writer.drain()
                status = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1
                errors += status != 200
                if interval:
                    await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    t_start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - t_start
    lat = sorted(latencies)

    def pct(q: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else float("nan")

    return {
        "rps": round(len(lat) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors,
        "requests": len(lat),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ok(url: str, seconds: float, proc) -> None:
    """Poll `url` until it answers 200; fail when the server process `proc` exits first."""
    import urllib.error
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def _wrk_load(
    port: int, path: str, body: bytes, headers: dict[str, str], connections: int, seconds: float
) -> dict:
    """wrk (2 threads, keep-alive) posting the same body for `seconds`; the figures `_drive`
    gives, from wrk's own counters (latency percentiles from its histogram)."""
    import json
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "body.json").write_bytes(body)
        sets = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        Path(tmp, "post.lua").write_text(
            f'local f = io.open("{tmp}/body.json", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
            f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n{sets}'
            "done = function(s, latency, requests)\n"
            "  local e = s.errors\n"
            '  io.write(string.format("WRK_JSON {\\"requests\\": %d, \\"duration_us\\": %d, '
            '\\"p50_us\\": %d, \\"p99_us\\": %d, \\"socket_errors\\": %d, '
            '\\"non2xx\\": %d}\\n", s.requests, s.duration, latency:percentile(50), '
            "latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))\n"
            "end\n"
        )
        out = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s",
             "-s", f"{tmp}/post.lua", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    w = json.loads(line.removeprefix("WRK_JSON "))
    return {
        "rps": round(w["requests"] / (w["duration_us"] / 1e6), 1),
        "p50_ms": round(w["p50_us"] / 1000, 2),
        "p99_ms": round(w["p99_us"] / 1000, 2),
        "errors": w["socket_errors"] + w["non2xx"],
        "requests": w["requests"],
    }


def _batches(port: int, token: str) -> tuple[float, float]:
    """Records scored and scoring calls so far, from the server's metrics (what concurrent
    requests merged into)."""
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found = dict.fromkeys(("sum", "count"), 0.0)
    for line in text.splitlines():
        for part in found:
            if line.startswith(f"riskmodel_scoring_batch_records_{part} "):
                found[part] = float(line.split()[1])
    return found["sum"], found["count"]


def _load(port, path, body, headers, connections, seconds) -> dict:
    """wrk when it is installed (Debian's `wrk`), else the asyncio clients of `_drive` (which
    cost more CPU per request on the same machine: the ceiling then reads lower)."""
    import asyncio
    import shutil

    if shutil.which("wrk"):
        return _wrk_load(port, path, body, headers, connections, seconds)
    return asyncio.run(_drive(port, path, body, headers, connections, seconds))


def _serve(args: list[str], env: dict):
    import subprocess

    return subprocess.Popen(
        args, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _stop(servers) -> None:
    import signal
    import subprocess

    for proc in servers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in servers:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def bench_api(
    seconds: float = 15,
    connections: tuple[int, ...] = (8, 32),
    sizes: tuple[int, ...] = (1, 50),
    soak_seconds: float = 60,
    soak_connections: int = 32,
    data: Path = Path("data/county"),
    mlflow: bool = True,
) -> dict:
    """Our API beside the bare ceiling (`riskmodel serve --bare`: the same request schema, a
    trivial answer), one worker each, driven in turn with the same load for every number of
    records per request and of connections; our throughput and p99 as a share of the ceiling's.
    Then `mlflow models serve` on the champion (one record, the first connection count) and a
    soak of ours. Loopback only; wrk when installed."""
    import json
    import shutil
    import sys

    from riskmodel.api.security import create_key
    from riskmodel.config import tracking_uri
    from riskmodel.registry import to_wire
    from riskmodel.store import engine_for

    wire = to_wire(_latest_records(data).head(max(sizes))).to_dict("records")
    wire = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in wire
    ]
    bin_dir = Path(sys.executable).parent
    results: dict = {
        "load_generator": "wrk, 2 threads" if shutil.which("wrk") else "python asyncio clients",
        "seconds": seconds,
    }
    metrics_token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        key, _ = create_key(engine_for(db_url), "county")
        env = dict(
            os.environ,
            RISKMODEL_DB_URL=db_url,
            MLFLOW_TRACKING_URI=tracking_uri(),
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            # throughput is measured from one address with one key: the limits (still checked
            # on every request) are lifted above what the machine can serve
            RISKMODEL_RATE_PER_KEY="1e9",
            RISKMODEL_RATE_PER_ADDRESS="1e9",
            RISKMODEL_METRICS_TOKEN=metrics_token,
        )  # mlflow runs uvicorn
        ports = {"ours": free_port(), "bare": free_port(), "mlflow": free_port()}
        exe = str(bin_dir / "riskmodel")
        servers = {
            "ours": _serve([exe, "serve", "--port", str(ports["ours"])], env),
            "bare": _serve([exe, "serve", "--bare", "--port", str(ports["bare"])], env),
        }
        if mlflow:
            servers["mlflow"] = _serve(
                [str(bin_dir / "mlflow"), "models", "serve", "-m", "models:/relapse-risk@champion",
                 "--env-manager", "local", "-p", str(ports["mlflow"]), "-w", "1"],
                env,
            )  # fmt: skip
        auth = {"Authorization": f"Bearer {key}"}
        try:
            wait_until_ok(f"http://127.0.0.1:{ports['ours']}/ready", 180, servers["ours"])
            wait_until_ok(f"http://127.0.0.1:{ports['bare']}/openapi.json", 60, servers["bare"])
            runs = []
            for n in sizes:
                body = json.dumps({"records": wire[:n]}).encode()
                for name in ("bare", "ours"):  # warm-up, not counted
                    _load(ports[name], "/v1/scores", body, auth, 2, 3)
                for c in connections:
                    bare = _load(ports["bare"], "/v1/scores", body, auth, c, seconds)
                    before = _batches(ports["ours"], metrics_token)
                    ours = _load(ports["ours"], "/v1/scores", body, auth, c, seconds)
                    after = _batches(ports["ours"], metrics_token)
                    calls = after[1] - before[1]
                    ours["records_per_batch"] = round((after[0] - before[0]) / max(calls, 1), 1)
                    runs.append(
                        {
                            "records": n,
                            "connections": c,
                            "bare": bare,
                            "ours": ours,
                            "rps_share": round(ours["rps"] / max(bare["rps"], 1e-9), 3),
                            "p99_ratio": round(ours["p99_ms"] / max(bare["p99_ms"], 1e-9), 2),
                            "households_per_s": round(ours["rps"] * n),
                        }
                    )
            results["runs"] = runs
            one = {"records": [wire[0]]}
            if mlflow:
                wait_until_ok(f"http://127.0.0.1:{ports['mlflow']}/ping", 180, servers["mlflow"])
                body = json.dumps({"dataframe_records": [wire[0]]}).encode()
                _load(ports["mlflow"], "/invocations", body, {}, 2, 3)
                results["mlflow"] = _load(
                    ports["mlflow"], "/invocations", body, {}, connections[0], seconds
                )
                ours = next(r["ours"] for r in runs if r["records"] == min(sizes))
                results["ratio_vs_mlflow"] = round(
                    ours["rps"] / max(results["mlflow"]["rps"], 1e-9), 1
                )
            if soak_seconds > 0:
                body = json.dumps(one).encode()
                before = _rss_mb(servers["ours"].pid)
                soak = _load(
                    ports["ours"], "/v1/scores", body, auth, soak_connections, soak_seconds
                )
                after = _rss_mb(servers["ours"].pid)
                results["soak"] = {
                    **soak,
                    "connections": soak_connections,
                    "seconds": soak_seconds,
                    "rss_mb_before": round(before, 1),
                    "rss_mb_after": round(after, 1),
                    "rss_growth": round(after / before - 1, 4),
                }
        finally:
            _stop(servers.values())
    results["targets"] = _api_targets(results)
    return results


def _api_targets(results: dict) -> dict:
    """Issue targets on the runs that exist: one record at 8 connections at least half the
    ceiling's throughput with p99 at most 10 ms; 50 records per request at least 10,000
    households per second; no errors anywhere; the soak's memory growth under 10%."""
    runs = {(r["records"], r["connections"]): r for r in results["runs"]}
    targets: dict = {}
    if (1, 8) in runs:
        targets["one_record_8c_rps_share_at_least_0.5"] = runs[1, 8]["rps_share"] >= 0.5
        targets["one_record_8c_p99_at_most_10_ms"] = runs[1, 8]["ours"]["p99_ms"] <= 10
    fifty = [r["households_per_s"] for (n, _), r in runs.items() if n == 50]
    if fifty:
        targets["fifty_records_at_least_10000_households_per_s"] = max(fifty) >= 10_000
    targets["no_errors"] = all(r["ours"]["errors"] == 0 for r in runs.values())
    if "ratio_vs_mlflow" in results:
        targets["ratio_vs_mlflow_at_least_10"] = results["ratio_vs_mlflow"] >= 10
    if "soak" in results:
        targets["soak_no_errors"] = results["soak"]["errors"] == 0
        targets["soak_rss_growth_under_10pct"] = results["soak"]["rss_growth"] < 0.10
    return targets


def bench_abuse(
    seconds: float = 60,
    connections: int = 16,
    legit_connections: int = 2,
    legit_rate: float = 20.0,
    data: Path = Path("data/county"),
) -> dict:
    """Random API keys at `connections` concurrency from one address (127.0.0.2) against our
    server, while legitimate clients (127.0.0.1, `legit_rate` requests per second each) score one
    household; resident memory growth of the server and the legitimate requests' latency."""
    import asyncio
    import json
    import secrets
    import signal
    import subprocess
    import sys

    from riskmodel.api.security import create_key
    from riskmodel.config import tracking_uri
    from riskmodel.registry import to_wire
    from riskmodel.store import engine_for

    record = to_wire(_latest_records(data).head(1)).to_dict("records")[0]
    record = {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}
    body = json.dumps({"records": [record]}).encode()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        key, _ = create_key(engine_for(db_url), "county")
        env = dict(os.environ, RISKMODEL_DB_URL=db_url, MLFLOW_TRACKING_URI=tracking_uri())
        port = free_port()
        server = subprocess.Popen(
            [str(bin_dir / "riskmodel"), "serve", "--port", str(port)],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ok(f"http://127.0.0.1:{port}/ready", 180, server)
            legit = ("/v1/scores", body, {"Authorization": f"Bearer {key}"})
            asyncio.run(_drive(port, *legit, 2, 2, interval=1 / legit_rate))  # warm-up

            def attack() -> bytes:
                fake = f"rk_{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
                return _request("/v1/scores", body, {"Authorization": f"Bearer {fake}"})

            async def both():
                return await asyncio.gather(
                    _drive(port, *legit, legit_connections, seconds, interval=1 / legit_rate),
                    _drive(port, *legit, connections, seconds, make=attack, source="127.0.0.2"),
                )

            before = _rss_mb(server.pid)
            ours, abuse = asyncio.run(both())
            after = _rss_mb(server.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    growth = after - before
    return {
        "seconds": seconds,
        "abuse": {**abuse, "connections": connections},
        "legitimate": {**ours, "connections": legit_connections, "rate_each": legit_rate},
        "rss_mb_before": round(before, 1),
        "rss_mb_after": round(after, 1),
        "rss_growth_mb": round(growth, 1),
        "targets": {
            "rss_growth_under_20_mb": growth < 20,
            "legitimate_p99_under_50_ms": ours["p99_ms"] < 50,
            "legitimate_no_errors": ours["errors"] == 0,
        },
    }


def bench_web(requests: int = 200, db_url: str | None = None) -> dict:
    """Server time (in process, through the whole ASGI app: session or key, scope, store reads,
    audit row, rendering) of the largest village's worklist page and one of its household cards,
    beside the JSON endpoints for the same village and household; p50/p95/max in ms.

    A SQLite store is copied first (the reads write audit rows, which a benchmark must not add to
    the real trail); on PostgreSQL a temporary account and key are used and removed afterwards."""
    import shutil
    import statistics
    import time

    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from riskmodel.api import create_app
    from riskmodel.api.accounts import create_user, start_session
    from riskmodel.api.security import create_key
    from riskmodel.config import Settings
    from riskmodel.store import api_keys, engine_for, scores, users

    settings = Settings() if db_url is None else Settings(db_url=db_url)
    with tempfile.TemporaryDirectory() as tmp:
        url = settings.db_url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            source = Path(url.removeprefix("sqlite:///"))
            if not source.exists():
                raise FileNotFoundError(f"no store at {source}: run `riskmodel score` first")
            copy = Path(tmp) / "store.db"
            shutil.copyfile(source, copy)
            url = f"sqlite:///{copy}"
        engine = engine_for(url)
        with engine.connect() as conn:
            latest = conn.execute(sa.select(sa.func.max(scores.c.year))).scalar()
            if latest is None:
                raise ValueError("the store has no scores: run `riskmodel score` first")
            village, households = conn.execute(
                sa.select(scores.c.village_id, sa.func.count().label("n"))
                .where(scores.c.year == latest)
                .group_by(scores.c.village_id)
                .order_by(sa.text("n DESC"), scores.c.village_id)
                .limit(1)
            ).one()
            hh = conn.execute(
                sa.select(scores.c.hh_id)
                .where(scores.c.village_id == village, scores.c.year == latest)
                .order_by(scores.c.rank_in_village)
                .limit(1)
            ).scalar()
        name = f"bench-web-{os.getpid()}"
        user_id = create_user(engine, name, "bench-" + os.urandom(8).hex(), "county")
        token = start_session(engine, user_id, 1)
        key, key_id = create_key(engine, "county")
        app = create_app(
            settings.model_copy(
                update={"db_url": url, "rate_per_key": 1e9, "rate_per_address": 1e9}
            )
        )
        client = TestClient(app)  # no lifespan: pages and stored reads need no model
        client.cookies.set("rm_session", token, path="/app")
        bearer = {"Authorization": f"Bearer {key}"}
        paths = {
            "worklist_page": (f"/app/villages/{village}", {}),
            "household_page": (f"/app/households/{hh}", {}),
            "worklist_json": (f"/v1/villages/{village}/worklist", bearer),
            "household_json": (f"/v1/households/{hh}", bearer),
        }
        out: dict = {"village": village, "village_households": households, "requests": requests}
        try:
            for label, (path, headers) in paths.items():
                times = []
                for i in range(requests + 20):
                    t = time.perf_counter()
                    r = client.get(path, headers=headers)
                    elapsed = (time.perf_counter() - t) * 1000
                    if r.status_code != 200:
                        raise RuntimeError(f"{path} answered {r.status_code}")
                    if i >= 20:  # warm-up excluded
                        times.append(elapsed)
                q = statistics.quantiles(times, n=100)
                out[label] = {
                    "p50_ms": round(q[49], 2),
                    "p95_ms": round(q[94], 2),
                    "max_ms": round(max(times), 2),
                    "bytes": len(r.content),
                }
        finally:
            with engine.begin() as conn:  # the temporary account and key (PostgreSQL case)
                conn.execute(users.delete().where(users.c.id == user_id))
                conn.execute(api_keys.delete().where(api_keys.c.key_id == key_id))
            engine.dispose()
            app.state.service.close()
    out["target_p95_ms"] = 100
    out["met"] = all(out[k]["p95_ms"] < 100 for k in ("worklist_page", "household_page"))
    return out
