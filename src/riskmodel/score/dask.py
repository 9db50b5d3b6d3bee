"""The Dask driver: the same engine, township by township, on dask.distributed.

Each task takes a few townships in order (about `TASK_ROWS` rows of the panel), reads each
township's rows (a partition of a region written by `simulate --partitioned`, or the township's
rows of one panel file) and checks them, scores them together with the models its worker loaded
once, writes each township's Parquet partition and workbook into a hidden folder of the run, and
stages each township's rows in the store (`staged_scores`, replaced whole when a task is
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
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from riskmodel.calibrate import caseload_table
from riskmodel.io import file_digest, panel_file, write_parquet
from riskmodel.model import RelapseModel
from riskmodel.score.engine import (
    HISTORY_YEARS,
    InvalidShare,
    invalid_shares,
    score_partition,
    validate_window,
)
from riskmodel.score.local import BatchError, check_shares, history_warnings, scored_year
from riskmodel.score.outputs import PREVIEW_FOLDER, parquet_rows, worklist_title
from riskmodel.simulate.region import PARTITION, partitions, read_partition
from riskmodel.store import (
    SERVICE,
    StagedRows,
    commit_staged,
    drop_staged,
    engine_for,
    stage_partition,
    staged_counts,
)
from riskmodel.validate import ValidationResult
from riskmodel.worklist import household_facts, read_places, write_worklist

log = logging.getLogger(__name__)

RETRIES = 3
"""Times a task is run again after it failed (a killed worker's tasks are moved to another
worker by the scheduler and do not count here)."""
TASK_ROWS = 60_000
"""Panel rows a task reads at least (about 20,000 households with three years of history): the
engine's fixed costs per call (validation, features, reasons' set-up, the store's transaction)
are paid once per task. A small region gets smaller tasks: at least TASKS_PER_WORKER a worker."""
TASKS_PER_WORKER = 4
"""Tasks per worker at least (when there are townships enough), so that the workers finish
together."""


@dataclass(frozen=True)
class Township:
    """One partition: a township's files (a region's partition, or the whole panel file whose
    rows of this township are read)."""

    name: str
    files: tuple[str, ...]
    whole_file: bool
    rows: int = 0
    """Rows of the panel the township's files hold (its share of one panel file)."""


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
        return data, [
            Township(
                t, tuple(map(str, f)), False, sum(pq.ParquetFile(x).metadata.num_rows for x in f)
            )
            for t, f in parts.items()
        ]
    source = panel_file(data)
    if source.suffix != ".parquet":
        raise BatchError(f"{source}: the Dask engine reads Parquet (a panel.parquet or a region)")
    column = pq.read_table(source, columns=[PARTITION]).column(PARTITION).to_pandas()
    if column.isna().any():
        raise BatchError(f"{source}: rows without {PARTITION}; score it with --engine local")
    counts = column.astype(str).value_counts()
    return source, [Township(t, (str(source),), True, int(counts[t])) for t in sorted(counts.index)]


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


def score_townships(group: tuple[Township, ...], job: Job) -> list[dict]:
    """One task: read and check each township of `group`, score them together (the engine's
    fixed costs once per task, not once per township), then write each township's files and
    stage its rows. A township's rows do not depend on the others scored with it: every feature,
    score and reason is the household's own, and ranks are within villages."""
    started = time.perf_counter()
    models = worker_models(job.models)
    read = [(t, *read_township(t, job.year)) for t in group]
    parts, together = _checked(read, job.year)
    scored = score_partition(
        together,
        job.year,
        models,
        job.model_version,
        job.run_id,
        job.worklist_share,
        dict(job.versions),
        facts=pd.concat([facts for _, _, facts in read]),
        band=job.band,
    )
    by_township = dict(tuple(scored.groupby(scored[PARTITION].astype(str), sort=False)))
    if job.db_url not in _ENGINES:
        _ENGINES[job.db_url] = engine_for(job.db_url)
    from distributed import get_worker

    worker = get_worker().address
    summaries = []
    for (township, window, _), (checked, shares) in zip(read, parts, strict=True):
        rows = by_township.get(township.name, scored.iloc[:0])
        _write_township(township.name, rows, checked, job)
        stage_partition(_ENGINES[job.db_url], job.id, township.name, rows)
        digests = {f: file_digest(Path(f)) for f in township.files if not township.whole_file}
        summaries.append(
            {
                "township": township.name,
                "features": next(iter(models.values())).features,
                "rows": len(rows),
                "villages": int(rows["village_id"].nunique()),
                "scored_at": _latest(rows),
                "rows_read": len(window),
                "invalid_rows": len(checked.quarantined),
                "shares": {k: (v.invalid, v.rows) for k, v in shares.items()},
                "report": checked.report(limit=2) if len(checked.quarantined) else "",
                "digests": digests,
                "worker": worker,
                "peak_rss": peak_rss(),
            }
        )
    for s in summaries:
        s["seconds"] = (time.perf_counter() - started) / len(summaries)
    return summaries


def _checked(
    read: list[tuple[Township, pd.DataFrame, pd.DataFrame]], year: int
) -> tuple[list[tuple[ValidationResult, dict[str, InvalidShare]]], ValidationResult]:
    """Each township's check and the group's together. The group is checked in one pass; only
    when a row fails is each township checked on its own, so that its quarantine file and
    report name its own file's rows."""
    windows = [window for _, window, _ in read]
    first = Path(read[0][0].files[0])
    together, _ = validate_window(pd.concat(windows), first, year)  # file rows kept in the index
    if together.ok:
        empty = together.quarantined
        return [
            (ValidationResult(together.valid.iloc[:0], empty, together.errors, str(first)),
             invalid_shares(w, empty, year))
            for w in windows
        ], together  # fmt: skip
    parts = [validate_window(w, Path(t.files[0]), year) for t, w, _ in read]
    together = ValidationResult(
        valid=pd.concat([c.valid for c, _ in parts], ignore_index=True),
        quarantined=pd.concat([c.quarantined for c, _ in parts], ignore_index=True),
        errors=pd.concat([c.errors for c, _ in parts], ignore_index=True),
    )
    return parts, together


def peak_rss() -> int:
    """This process's peak resident memory in bytes: the kernel's high-water mark of its own
    memory (VmHWM), which, unlike getrusage's, does not carry over the peak of the process that
    started it (a LocalCluster's workers are started by the driver)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _task_size(townships: list[Township], task_rows: int, client) -> int:
    """`task_rows`, or less where the region would otherwise make fewer than
    TASKS_PER_WORKER tasks for each of the client's workers."""
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    return min(task_rows, sum(t.rows for t in townships) // (TASKS_PER_WORKER * workers))


def _latest(rows: pd.DataFrame) -> datetime | None:
    """The latest time a row of `rows` was scored."""
    latest = pd.to_datetime(rows["scored_at"], utc=True).max() if len(rows) else pd.NaT
    return None if pd.isna(latest) else latest.to_pydatetime()


def _write_township(name: str, rows: pd.DataFrame, checked: ValidationResult, job: Job) -> None:
    """The township's Parquet partition, caseload, quarantined rows and workbook, in the run's
    hidden folder."""
    staging = Path(job.staging)
    part = f"{PARTITION}={name}/part-0.parquet"
    write_parquet(parquet_rows(rows).drop(columns=[PARTITION]), staging / "scores" / part)
    load = caseload_table(rows)
    write_parquet(load.drop(columns=[PARTITION]), staging / "caseload" / part)
    if len(checked.quarantined):
        held = checked.quarantined.drop(columns=[PARTITION], errors="ignore")
        write_parquet(held, staging / "quarantine" / part)  # the folder names the township
    book = staging / "worklists" / f"worklist-{name}.xlsx"
    book.parent.mkdir(parents=True, exist_ok=True)
    write_worklist(rows, book, job.title, dict(job.places), caseload=load)


def tasks(townships: list[Township], rows: int) -> list[tuple[Township, ...]]:
    """Townships grouped in order into tasks of at least `rows` panel rows each (a township is
    never split; 0: a task per township)."""
    groups: list[tuple[Township, ...]] = []
    group: list[Township] = []
    size = 0
    for t in townships:
        group.append(t)
        size += t.rows
        if size >= rows:
            groups.append(tuple(group))
            group, size = [], 0
    if group:
        groups.append(tuple(group))
    return groups


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
    task_rows: int = TASK_ROWS,
) -> DistributedResult:
    """Score every household of `year` (default: latest) township by township on the Dask
    `client`'s workers with the models at `models` (label -> `models:/name/N` or a saved model's
    folder, readable by every worker) and replace the batch of (year, model_version) with them.

    Writes OUT/scores-Y-vN/ (Parquet, a partition per township), OUT/caseload-Y-vN/ (likewise),
    OUT/worklists-Y-vN/ (a workbook per township) and OUT/quarantine-Y/ (invalid rows, when any);
    preview runs write under
    OUT/preview/. `on_township` sees each township's summary as it comes in; `task_rows` sets
    the panel rows a task reads at least (0: a task per township; fewer on a small region, see
    TASKS_PER_WORKER)."""
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
            client.submit(
                score_townships, group, job, key=f"score-{group[0].name}-{job_id}", retries=RETRIES
            )
            for group in tasks(townships, _task_size(townships, task_rows, client))
        ]
        for future in as_completed(futures):
            for summary in future.result():
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
            StagedRows(
                households=sum(s["rows"] for s in summaries),
                villages=sum(s["villages"] for s in summaries),
                scored_at=max((s["scored_at"] for s in summaries if s["scored_at"]), default=None),
            ),
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


ONE_CORE = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
"""A worker's environment: one thread for every library too (TreeSHAP's kernel would otherwise
start a thread per core in every worker), so that N workers use N cores."""


def local_client(workers: int | None = None, scheduler: str | None = None):
    """A client of the scheduler at `scheduler`, or of a LocalCluster of `workers` processes
    (one thread each, for the libraries too: scoring holds the GIL) started for this run.
    Workers of a scheduler of your own should be started with `ONE_CORE`'s environment."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        return Client(scheduler)
    cluster = LocalCluster(
        n_workers=workers or 2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        env=ONE_CORE,
    )
    return Client(cluster)
