"""The Dask driver: the same engine, township by township, on dask.distributed.

Each task reads one township's rows (a partition of a region written by `simulate --partitioned`,
or the township's rows of one panel file), checks them, scores them with the models its worker
loaded once, writes the township's Parquet partition and workbook into a hidden folder of the run,
and stages the township's rows in the store (`staged_scores`, replaced whole when a task is
retried). When every township is in, the driver moves the staged rows into the batch in one
transaction and then the run's folders into place: a killed run leaves the previous batch and
files as they were, and a killed worker's townships are run again on another worker.
"""

from __future__ import annotations

import hashlib
import logging
import resource
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from riskmodel.calibrate import caseload_table
from riskmodel.io import file_digest, panel_file, write_parquet
from riskmodel.model import RelapseModel
from riskmodel.score.engine import (
    HISTORY_YEARS,
    InvalidShare,
    score_partition,
    validate_window,
)
from riskmodel.score.local import BatchError, check_shares, history_warnings, scored_year
from riskmodel.score.outputs import PREVIEW_FOLDER, parquet_rows, worklist_title
from riskmodel.simulate.region import PARTITION, partitions, read_partition
from riskmodel.store import (
    SERVICE,
    commit_staged,
    drop_staged,
    engine_for,
    stage_partition,
    staged_counts,
)
from riskmodel.worklist import household_facts, read_places, write_worklist

log = logging.getLogger(__name__)

RETRIES = 3
"""Times a township is run again after its task failed (a killed worker's tasks are moved to
another worker by the scheduler and do not count here)."""


@dataclass(frozen=True)
class Township:
    """One partition: a township's files (a region's partition, or the whole panel file whose
    rows of this township are read)."""

    name: str
    files: tuple[str, ...]
    whole_file: bool


@dataclass(frozen=True)
class Job:
    """What every task needs to know, sent once with each township."""

    id: str
    year: int
    models: tuple[tuple[str, str], ...]
    """(label, model source) pairs: a `models:/name/N` URI or a saved model's folder."""
    model_version: str
    run_id: str
    versions: tuple[tuple[str, str], ...]
    worklist_share: float
    db_url: str
    staging: str
    title: str
    places: tuple[tuple[str, str], ...] = ()
    """id -> name of townships and villages (the workbooks' names)."""
    band: float | None = None
    """The early-warning income band (`score --early-warning-band`), when set."""


@dataclass
class DistributedResult:
    year: int
    model_version: str
    scores: Path
    """The Parquet dataset, partitioned by township."""
    worklists: Path
    """One workbook per township."""
    caseload: Path
    """The expected caseload per township and village (Parquet, partitioned by township)."""
    quarantine: Path | None
    households: int
    townships: int
    invalid_rows: int
    rows_read: int
    invalid_scored: InvalidShare
    invalid_history: InvalidShare
    change: dict[str, int]
    seconds: dict[str, float]
    workers: dict[str, dict]
    """Per worker: townships scored and peak resident memory (bytes)."""
    warnings: list[str] = field(default_factory=list)
    area: str = SERVICE


def plan(data: Path) -> tuple[Path, list[Township]]:
    """The townships of a region folder (partitioned) or of one panel file."""
    data = Path(data)
    parts = partitions(data) if data.is_dir() else {}
    if parts:
        return data, [Township(t, tuple(map(str, f)), False) for t, f in parts.items()]
    source = panel_file(data)
    if source.suffix != ".parquet":
        raise BatchError(f"{source}: the Dask engine reads Parquet (a panel.parquet or a region)")
    column = pq.read_table(source, columns=[PARTITION]).column(PARTITION).to_pandas()
    names = sorted(str(t) for t in column.dropna().unique())
    if column.isna().any():
        raise BatchError(f"{source}: rows without {PARTITION}; score it with --engine local")
    return source, [Township(t, (str(source),), True) for t in names]


def years_present(townships: list[Township]) -> list[int]:
    files = dict.fromkeys(f for t in townships for f in t.files)
    years: set[int] = set()
    for f in files:
        col = pq.read_table(f, columns=["year"]).column("year").to_pandas()
        col = pd.to_numeric(col, errors="coerce").dropna()
        years |= {int(y) for y in col.unique() if float(y).is_integer()}
    return sorted(years)


def read_township(township: Township, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The township's rows of `year` and its history, numbered as in their file; and its
    households' facts of `year` from their whole history (the year each was identified)."""
    if township.whole_file:
        panel = pd.read_parquet(township.files[0])
        panel = panel[panel[PARTITION].astype(str) == township.name]
    else:
        panel = read_partition([Path(f) for f in township.files], township.name)
    years = pd.to_numeric(panel["year"], errors="coerce")
    facts = household_facts(panel[years.notna()], year)
    return panel[years.between(year - HISTORY_YEARS, year) | years.isna()], facts


_LOADED: dict[str, RelapseModel] = {}
"""Models this worker process has loaded, by source: each is loaded once per worker."""
_ENGINES: dict = {}
"""This worker's store engines, by URL (a connection pool each)."""


def worker_models(sources: tuple[tuple[str, str], ...]) -> dict[str, RelapseModel]:
    for _, source in sources:
        if source not in _LOADED:
            if source.startswith("models:/"):
                from riskmodel.registry import load_model

                _LOADED[source] = load_model(source)[0]
            else:
                _LOADED[source] = RelapseModel.load(Path(source))
    return {label: _LOADED[source] for label, source in sources}


def score_township(township: Township, job: Job) -> dict:
    """One task: read, check, score, write the partition's files and stage its rows."""
    started = time.perf_counter()
    models = worker_models(job.models)
    window, facts = read_township(township, job.year)
    checked, shares = validate_window(window, Path(township.files[0]), job.year)
    rows = score_partition(
        checked,
        job.year,
        models,
        job.model_version,
        job.run_id,
        job.worklist_share,
        dict(job.versions),
        facts=facts,
        band=job.band,
    )
    staging = Path(job.staging)
    part = f"{PARTITION}={township.name}/part-0.parquet"
    write_parquet(parquet_rows(rows).drop(columns=[PARTITION]), staging / "scores" / part)
    load = caseload_table(rows)
    write_parquet(load.drop(columns=[PARTITION]), staging / "caseload" / part)
    if len(checked.quarantined):
        write_parquet(checked.quarantined, staging / "quarantine" / part)
    book = staging / "worklists" / f"worklist-{township.name}.xlsx"
    book.parent.mkdir(parents=True, exist_ok=True)
    write_worklist(rows, book, job.title, dict(job.places), caseload=load)
    if job.db_url not in _ENGINES:
        _ENGINES[job.db_url] = engine_for(job.db_url)
    stage_partition(_ENGINES[job.db_url], job.id, township.name, rows)
    from distributed import get_worker

    digests = {f: file_digest(Path(f)) for f in township.files if not township.whole_file}
    return {
        "township": township.name,
        "features": next(iter(models.values())).features,
        "rows": len(rows),
        "rows_read": len(window),
        "invalid_rows": len(checked.quarantined),
        "shares": {k: (v.invalid, v.rows) for k, v in shares.items()},
        "report": checked.report(limit=2) if len(checked.quarantined) else "",
        "digests": digests,
        "worker": get_worker().address,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "seconds": time.perf_counter() - started,
    }


def run_distributed(
    data: Path,
    out: Path,
    db_url: str,
    models: Mapping[str, str],
    model_version: str,
    run_id: str,
    client,
    year: int | None = None,
    max_invalid_share: float = 0.05,
    worklist_share: float = 0.10,
    versions: Mapping[str, str] | None = None,
    area: str = SERVICE,
    model_alias: str = "",
    on_township: Callable[[dict], None] = lambda _: None,
    early_warning_band: float | None = None,
) -> DistributedResult:
    """Score every household of `year` (default: latest) township by township on the Dask
    `client`'s workers with the models at `models` (label -> `models:/name/N` or a saved model's
    folder, readable by every worker) and replace the batch of (year, model_version) with them.

    Writes OUT/scores-Y-vN/ (Parquet, a partition per township), OUT/caseload-Y-vN/ (likewise),
    OUT/worklists-Y-vN/ (a workbook per township) and OUT/quarantine-Y/ (invalid rows, when any);
    preview runs write under
    OUT/preview/. `on_township` sees each township's summary as it comes in."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    source, townships = plan(data)
    if not townships:
        raise BatchError(f"{data}: no township partitions")
    present = years_present(townships)
    Y = scored_year(present, year, source)
    warnings = history_warnings(present, Y, source)
    out = Path(out)
    folder = out / PREVIEW_FOLDER if area != SERVICE else out
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".run-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    job_id = uuid.uuid4().hex
    staging = folder / f".run-{job_id}"
    engine = engine_for(db_url)
    drop_staged(engine, Y, model_version)
    job = Job(
        id=job_id,
        year=Y,
        models=tuple(models.items()),
        model_version=model_version,
        run_id=run_id,
        versions=tuple((versions or {}).items()),
        worklist_share=worklist_share,
        db_url=db_url,
        staging=str(staging),
        title=worklist_title(Y, model_version, area),
        places=tuple(read_places(source if source.is_dir() else source.parent).items()),
        band=early_warning_band,
    )
    seconds["plan"] = round(time.perf_counter() - t0, 3)
    from distributed import as_completed

    summaries: list[dict] = []
    try:
        futures = [
            client.submit(score_township, t, job, key=f"score-{t.name}-{job_id}", retries=RETRIES)
            for t in townships
        ]
        for future in as_completed(futures):
            summary = future.result()
            summaries.append(summary)
            on_township(summary)
        seconds["townships"] = round(time.perf_counter() - t0 - seconds["plan"], 3)
        invalid = {
            k: sum((InvalidShare(*s["shares"][k]) for s in summaries), InvalidShare(0, 0))
            for k in ("scored year", "history")
        }
        quarantine = None
        if (staging / "quarantine").exists():
            quarantine = _replace_folder(staging / "quarantine", folder / f"quarantine-{Y}")
        report = "\n".join(s["report"] for s in summaries if s["report"])
        check_shares(invalid, max_invalid_share, quarantine, report)
        counts = staged_counts(engine, job_id)
        missing = [s["township"] for s in summaries if counts.get(s["township"]) != s["rows"]]
        if missing or len(summaries) != len(townships):
            raise BatchError(f"townships not fully staged: {', '.join(missing) or '(lost)'}")
        t1 = time.perf_counter()
        run = {
            "model_alias": model_alias,
            "source": str(source),
            "source_digest": _digest(source, summaries),
        }
        change = commit_staged(
            engine,
            job_id,
            Y,
            model_version,
            run_id,
            summaries[0]["features"],
            area=area,
            run=run,
        )
        stem = f"{Y}-v{model_version}"
        scores = _replace_folder(staging / "scores", folder / f"scores-{stem}")
        worklists = _replace_folder(staging / "worklists", folder / f"worklists-{stem}")
        caseload = _replace_folder(staging / "caseload", folder / f"caseload-{stem}")
        seconds["commit"] = round(time.perf_counter() - t1, 3)
    except BaseException:
        drop_staged(engine, Y, model_version)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    workers: dict[str, dict] = {}
    for s in summaries:
        w = workers.setdefault(s["worker"], {"townships": 0, "peak_rss": 0})
        w["townships"] += 1
        w["peak_rss"] = max(w["peak_rss"], s["peak_rss"])
    return DistributedResult(
        year=Y,
        model_version=model_version,
        scores=scores,
        worklists=worklists,
        caseload=caseload,
        quarantine=quarantine,
        households=sum(s["rows"] for s in summaries),
        townships=len(summaries),
        invalid_rows=sum(s["invalid_rows"] for s in summaries),
        rows_read=sum(s["rows_read"] for s in summaries),
        invalid_scored=invalid["scored year"],
        invalid_history=invalid["history"],
        change=change,
        seconds=seconds,
        workers=workers,
        warnings=warnings,
        area=area,
    )


def _digest(source: Path, summaries: list[dict]) -> str:
    """The panel file's SHA-256, or for a region the SHA-256 of its files' digests in order."""
    if source.is_file():
        return file_digest(source)
    h = hashlib.sha256()
    for name, digest in sorted(d for s in summaries for d in s["digests"].items()):
        h.update(f"{Path(name).relative_to(source)} {digest}\n".encode())
    return h.hexdigest()


def _replace_folder(new: Path, target: Path) -> Path:
    """Move `new` onto `target` (two renames; the old folder is removed afterwards)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def local_client(workers: int | None = None, scheduler: str | None = None):
    """A client of the scheduler at `scheduler`, or of a LocalCluster of `workers` processes
    (one thread each: scoring holds the GIL) started for this run."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        return Client(scheduler)
    cluster = LocalCluster(
        n_workers=workers or 2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
    )
    return Client(cluster)
