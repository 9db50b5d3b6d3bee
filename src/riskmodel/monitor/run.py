"""`riskmodel monitor`: a registered version's reference, the batch of a year, every past batch
whose labels have since arrived, and where the results go (JSON, reports, MLflow, the store)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from riskmodel.config import MonitorConfig
from riskmodel.io import panel_file, read_panel, write_text
from riskmodel.model import RelapseModel
from riskmodel.monitor.batch import (
    HISTORY_YEARS,
    monitor_batch,
    ranks_of,
    scored_batches,
)
from riskmodel.monitor.stats import REFERENCE_FILE
from riskmodel.stability import compare
from riskmodel.store.schema import monitor_runs

log = logging.getLogger(__name__)


class MonitorError(RuntimeError):
    """The version or the data cannot be monitored (for example no reference stored)."""


def load_reference(model: RelapseModel, version: str = "") -> dict:
    folder = getattr(model, "_folder", None)
    path = Path(folder) / REFERENCE_FILE if folder is not None else None
    if path is None or not path.exists():
        raise MonitorError(
            f"model version {version or '?'} has no monitoring reference ({REFERENCE_FILE}): it "
            "was registered before references were stored; train a new version"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def read_years(data: Path, first: int | None = None) -> pd.DataFrame:
    """The panel's valid rows from `first` on (the batches monitored and their history years):
    monitoring reads what scoring would."""
    from riskmodel.validate import validate_panel

    path = panel_file(data)
    return validate_panel(read_panel(path, first), source=path).valid


def monitor(
    model: RelapseModel,
    meta: dict,
    panel: pd.DataFrame,
    year: int | None = None,
    cfg: MonitorConfig | None = None,
    quick: bool = False,
    stored: pd.DataFrame | None = None,
    raw: pd.Series | None = None,
) -> dict:
    """The report: the batch of `year` (default: the panel's latest) and, unless quick, every
    batch after the reference year whose labels the panel now holds, beside the estimate that
    was stored for it (else the same estimate, recomputed). `raw`: raw scores of `year`'s
    households by hh_id that the caller has already (the batch's), as `model.raw_score`
    gives them."""
    cfg = cfg or MonitorConfig()
    reference = load_reference(model, meta.get("version", ""))
    years = sorted(int(y) for y in panel["year"].unique())
    year = year if year is not None else years[-1]
    if year not in years:
        raise MonitorError(f"the panel has no rows for {year}; it has {years[0]}-{years[-1]}")
    t0 = time.perf_counter()
    labelled = range(reference["reference_year"] + 1, year)
    past_years = [] if quick else [y for y in labelled if y in years and y + 1 in years]
    before_year = year - 1 if not quick and year - 1 in years else None
    # every batch the report reads (the year before for its stable ranks), built in one pass
    wanted = {year, *past_years} | ({before_year} if before_year is not None else set())
    scored = scored_batches(model, panel, sorted(wanted), {year: raw} if raw is not None else None)
    batch = monitor_batch(model, reference, panel, year, cfg, scored=scored[year])
    past = [monitor_batch(model, reference, panel, y, cfg, scored=scored[y]) for y in past_years]
    stable = None
    if before_year is not None:
        before = next((b.ranks for b in past if b.year == before_year), None)
        if before is None:
            before = ranks_of(model, scored[before_year], reference.get("select_share", 0.10))
        stable = {"against_year": before_year, **compare(before, batch.ranks)}
    report = {
        "model": {
            "name": meta.get("name", ""),
            "version": meta.get("version", ""),
            "run_id": meta.get("run_id", ""),
            "label": model.meta.label,
        },
        "reference": {
            k: reference[k]
            for k in ("train_years", "calibration_year", "reference_year", "created")
        }
        | {"estimated": reference["estimated"], "realised": reference["realised"]},
        "batch": batch.to_dict(),
        "past": [_with_stored(b.summary(), stored, meta) for b in past],
        "stability": stable,
        "quick": quick,
        "config": cfg.model_dump(),
        "seconds": time.perf_counter() - t0,
    }
    return report


def _with_stored(summary: dict, stored: pd.DataFrame | None, meta: dict) -> dict:
    """The estimate made when the batch was first monitored, if the store has it."""
    if stored is None or stored.empty:
        summary["estimate_made"] = "recomputed"
        return summary
    rows = stored[
        (stored["model_version"] == str(meta.get("version")))
        & (stored["year"] == summary["year"])
        & stored["estimated_auc"].notna()
    ].sort_values("monitored_at")
    if rows.empty:
        summary["estimate_made"] = "recomputed"
        return summary
    first = rows.iloc[0]
    summary["estimate_made"] = f"stored {pd.Timestamp(first['monitored_at']).date()}"
    summary["estimated"] = summary["estimated"] | {
        "roc_auc": float(first["estimated_auc"]),
        "roc_auc_low": float(first["estimated_auc_low"]),
        "roc_auc_high": float(first["estimated_auc_high"]),
    }
    return summary


# --- where the results go ----------------------------------------------------------------------


def _row(batch: dict, report: dict, run_id: str | None) -> dict:
    est, real = batch["estimated"], batch.get("realised") or {}
    return {
        "monitored_at": datetime.now(UTC),
        "model_name": report["model"]["name"],
        "model_version": str(report["model"]["version"]),
        "label": batch["label"],
        "year": int(batch["year"]),
        "quick": bool(report["quick"]),
        "households": int(batch["households"]),
        "psi_max": float(batch["psi_max"]),
        "psi_max_feature": batch["psi_max_feature"],
        "score_psi": float(batch["score_psi"]),
        "estimated_auc": est.get("roc_auc"),
        "estimated_auc_low": est.get("roc_auc_low"),
        "estimated_auc_high": est.get("roc_auc_high"),
        "estimated_recall": est.get("recall_at_capacity"),
        "expected_positives": est.get("positives"),
        "realised_auc": real.get("roc_auc"),
        "realised_recall": real.get("recall_at_capacity"),
        "observed_positives": real.get("positives"),
        "alarm": bool(batch["alarm"]),
        "recommendation": batch["recommendation"],
        "reasons": "; ".join(batch["reasons"]),
        "mlflow_run_id": run_id,
    }


def stored_runs(engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        q = sa.select(monitor_runs).where(monitor_runs.c.model_name == name)
        return pd.DataFrame(conn.execute(q).mappings().all())


def record(engine, report: dict, run_id: str | None = None) -> int:
    """Rows in the store: this batch, and each past batch with its realised figures."""
    rows = [_row(report["batch"], report, run_id)]
    rows += [_row(b, report, run_id) for b in report["past"]]
    with engine.begin() as conn:
        conn.execute(monitor_runs.insert(), rows)
    return len(rows)


def latest(engine) -> list[dict]:
    """The latest monitoring row per model name (for the API's gauges)."""
    newest = (
        sa.select(monitor_runs.c.model_name, sa.func.max(monitor_runs.c.id).label("id"))
        .group_by(monitor_runs.c.model_name)
        .subquery()
    )
    q = sa.select(monitor_runs).join(newest, monitor_runs.c.id == newest.c.id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


def write_reports(report: dict, out: Path) -> dict[str, Path]:
    """JSON, Markdown (SVG plots beside it) and HTML (plots inlined), each written atomically."""
    from riskmodel.monitor.report import render

    out.mkdir(parents=True, exist_ok=True)
    stem = f"monitor-{report['batch']['year']}-v{report['model']['version']}"
    md, page, plots = render(report, stem)
    paths = {
        "json": write_text(json.dumps(report, indent=1, default=_plain), out / f"{stem}.json"),
        "markdown": write_text(md, out / f"{stem}.md"),
        "html": write_text(page, out / f"{stem}.html"),
    }
    for name, text in plots.items():
        paths[name] = write_text(text, out / name)
    return paths


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def alarm_line(report: dict) -> str:
    b, m = report["batch"], report["model"]
    est = b["estimated"]
    head = "ALARM" if b["alarm"] else "no alarm"
    auc = (
        f"estimated AUC {est['roc_auc']:.3f} [{est['roc_auc_low']:.3f}, {est['roc_auc_high']:.3f}]"
        if "roc_auc" in est
        else "no estimate"
    )
    return (
        f"monitor {head}: {b['recommendation']} (v{m['version']}, {b['year']}: "
        f"{b['households']:,} households, PSI max {b['psi_max']:.2f} {b['psi_max_feature']}, "
        f"score PSI {b['score_psi']:.2f}, {auc})"
    )


def quick(
    model: RelapseModel,
    meta: dict,
    panel: pd.DataFrame,
    year: int,
    db_url: str,
    raw: pd.Series | None = None,
) -> dict:
    """The end of `riskmodel score`: drift, estimates and the alarm for the batch just scored,
    recorded in the store (the API's gauges read it); no past batches, reports or MLflow run.
    `raw`: the batch's raw scores of the model by hh_id (BatchResult.raw_scores), so that the
    trees are not walked again."""
    from riskmodel.labels import registered_model_name
    from riskmodel.store import engine_for

    window = panel[panel["year"].astype(int).between(year - HISTORY_YEARS, year)]
    name = registered_model_name(model.meta.label)
    report = monitor(model, meta | {"name": name}, window, year, quick=True, raw=raw)
    record(engine_for(db_url), report)
    return report
