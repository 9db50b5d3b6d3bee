"""The `riskmodel` command line: one verb per job, errors as one clear line and a non-zero exit."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Relapse-risk models for households that left poverty.",
)
console = Console()
err_console = Console(stderr=True)


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (
            UserError,
            FileNotFoundError,
            ValueError,
            KeyError,
            RuntimeError,
        ) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            from pydantic import ValidationError  # (a PanelError is a ValueError)

            if isinstance(exc, ValidationError):
                msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            err_console.print(f"[red]error:[/red] {msg}")
            raise typer.Exit(2) from None

    return wrapper


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _print_table(df: Any, title: str) -> None:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col))
    for row in df.itertuples(index=False):
        cells = [str(v) for v in row]
        style = "red" if "NO" in cells else None
        table.add_row(*cells, style=style)
    console.print(table)


@app.command()
@_friendly
def simulate(
    out: Annotated[
        Path, typer.Option(help="folder for panel.parquet, oracle.parquet, DATACARD.md")
    ] = Path("data/county"),
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same county")] = 7,
    households: Annotated[int, typer.Option(help="households that left poverty")] = 19_300,
    first_year: Annotated[int, typer.Option()] = 2014,
    last_year: Annotated[int, typer.Option()] = 2025,
    report: Annotated[bool, typer.Option(help="print the realism table")] = False,
    export: Annotated[
        Path | None,
        typer.Option(help="also write the county as the national monitoring system exports it"),
    ] = None,
    export_format: Annotated[
        str, typer.Option(help="csv (UTF-8 with BOM) or xlsx for the person tables")
    ] = "csv",
    partitioned: Annotated[
        bool,
        typer.Option(
            help="a region of --townships Ningming-like townships, simulated in parallel into "
            "OUT/panel/township_id=…/ (Parquet, hive partitions) and OUT/REGION.json"
        ),
    ] = False,
    townships: Annotated[
        int | None, typer.Option(help="townships of a --partitioned region")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="processes for a --partitioned region (default: cores)")
    ] = None,
    oracle: Annotated[
        bool, typer.Option(help="compute the exact oracle (two thirds of a region's time)")
    ] = True,
    shock: Annotated[
        list[str] | None,
        typer.Option(
            help="a shock in a chosen year, kind:year[:detail][@severity], repeatable: "
            "border_closure:2024, flood:2024:T01,T02,T03@0.9, price_collapse:2024:sugarcane@0.5"
        ),
    ] = None,
) -> None:
    """Simulate a Ningming-like county: household-year panel, exact oracle and data card; or,
    with --partitioned, a province-size region partitioned by township."""
    from riskmodel.simulate import SimulationConfig, write_simulation
    from riskmodel.simulate import simulate as run
    from riskmodel.simulate.shocks import parse_shock

    if partitioned and shock:
        raise UserError("--shock applies to a county, not a --partitioned region")
    if partitioned:
        _simulate_region(out, seed, households, townships, first_year, last_year, workers, oracle)
        return
    if townships is not None or workers is not None:
        raise UserError("--townships and --workers describe a --partitioned region")
    cfg = SimulationConfig(
        seed=seed,
        households=households,
        first_year=first_year,
        last_year=last_year,
        shocks=[parse_shock(s) for s in shock or []],
    )
    exporter = None
    if export is not None:
        from riskmodel.simulate.export import NationalExport

        exporter = NationalExport(export, export_format)  # type: ignore[arg-type]
    with console.status("simulating the county"):
        sim = run(cfg, on_year=exporter)
        paths = write_simulation(sim, out)
    p = sim.panel
    console.print(
        f"{p['hh_id'].nunique():,} households, {len(p):,} household-years "
        f"{p['year'].min()}-{p['year'].max()} -> {paths['panel'].parent}"
    )
    if exporter is not None:
        console.print(f"national export: {len(exporter.files)} files -> {export}")
    if report:
        _report(sim.panel, sim.oracle)


def _score_dask(
    data: Path,
    out: Path,
    db_url: str,
    uri: str,
    extra_uri: str,
    versions: dict[str, str],
    meta: dict[str, str],
    year: int | None,
    max_invalid: float,
    area: str,
    scheduler: str | None,
    workers: int | None,
    started: float,
    loaded: float,
    early_warning_band: float | None = None,
) -> None:
    """`score --engine dask`: the workers load the versions the driver resolved."""
    import time

    from riskmodel.api.lifecycle import pinned_uri
    from riskmodel.labels import MAIN_LABEL
    from riskmodel.score.dask import local_client, run_distributed
    from riskmodel.store import TABLES

    if scheduler and workers:
        raise UserError("--workers starts a LocalCluster; a --scheduler brings its own workers")
    sources = {MAIN_LABEL: pinned_uri(uri, versions[MAIN_LABEL])}
    if extra_uri:
        sources["persistent"] = pinned_uri(extra_uri, versions["persistent"])
    with local_client(workers, scheduler) as client:
        with console.status("scoring townships on Dask") as status:
            done = []

            def progress(summary: dict) -> None:
                done.append(summary)
                status.update(f"scoring townships on Dask: {len(done)} done")

            result = run_distributed(
                data,
                out,
                db_url,
                sources,
                meta["version"],
                meta["run_id"],
                client,
                year,
                max_invalid,
                versions=versions,
                area=area,
                model_alias=uri.partition("@")[2],
                on_township=progress,
                early_warning_band=early_warning_band,
            )
        if not scheduler:
            client.cluster.close()
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if result.quarantine:
        err_console.print(
            f"[yellow]{result.invalid_rows:,} invalid rows quarantined[/yellow] -> "
            f"{result.quarantine}\n  invalid in {result.year}: {result.invalid_scored}; "
            f"in the history years: {result.invalid_history}",
            highlight=False,
        )
    change = result.change
    peak = max(w["peak_rss"] for w in result.workers.values())
    console.print(
        f"scored {result.households:,} households for {result.year} in {result.townships:,} "
        f"townships on {len(result.workers)} Dask workers (peak {peak / 2**20:,.0f} MB per "
        f"worker); batch: {change['added']:,} added, {change['replaced']:,} replaced, "
        f"{change['dropped']:,} dropped\n"
        f"  scores    {result.scores}/\n  caseload  {result.caseload}/\n  worklists {result.worklists}/\n"
        f"  store     {db_url} (table {TABLES[area].name})\n"
        f"  seconds   load model {loaded - started:.2f}, "
        + ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items())
        + f", total {time.perf_counter() - started:.2f}",
        highlight=False,
    )
    from riskmodel.stability import against_previous
    from riskmodel.store import engine_for

    _print_stability(against_previous(engine_for(db_url), result.year, meta["version"], area))


def _print_stability(compared: tuple | None) -> None:
    """The batch summary's line on tiers and worklists against the batch before."""
    if compared is None:
        return
    from riskmodel.stability import summary_line

    (y, v), comparison = compared
    console.print(f"  stability {summary_line(comparison, f'{y} v{v}')}", highlight=False)


def _simulate_region(
    out: Path,
    seed: int,
    households: int,
    townships: int | None,
    first_year: int,
    last_year: int,
    workers: int | None,
    oracle: bool,
) -> None:
    from riskmodel.simulate.region import RegionConfig, write_region

    if townships is None:
        raise UserError("a --partitioned region needs --townships")
    cfg = RegionConfig(
        seed=seed,
        households=households,
        townships=townships,
        first_year=first_year,
        last_year=last_year,
        oracle=oracle,
    )
    try:
        with console.status(f"simulating {townships:,} townships"):
            manifest = write_region(cfg, out, workers)
    except ValueError as e:
        raise UserError(str(e)) from e
    console.print(
        f"{manifest['households']:,} households ({manifest['households_last_year']:,} in "
        f"{last_year}), {manifest['household_years']:,} household-years in {townships:,} "
        f"townships -> {out / 'panel'}"
    )


def _report(panel: Any, oracle: Any) -> None:
    from riskmodel.realism import realism_checks, realism_table

    checks = realism_checks(panel, oracle)
    _print_table(realism_table(checks), "realism: target vs realised")
    missed = [c.quantity for c in checks if not c.ok]
    if missed:
        raise UserError(f"{len(missed)} realism targets missed: {', '.join(missed)}")


@app.command()
@_friendly
def realism(
    data: Annotated[Path, typer.Option(help="folder written by simulate")] = Path("data/county"),
) -> None:
    """Print the realism table for a simulated county already on disk."""
    import pandas as pd

    _report(pd.read_parquet(data / "panel.parquet"), pd.read_parquet(data / "oracle.parquet"))


@app.command("import")
@_friendly
def import_(
    source: Annotated[Path, typer.Argument(help="export folder (national) or table file (spec)")],
    out: Annotated[Path, typer.Option(help="folder for panel.parquet and IMPORT.md")],
    format: Annotated[str, typer.Option("--format", help="national or spec")] = "national",
    spec: Annotated[Path | None, typer.Option(help="dataset spec (YAML) for --format spec")] = None,
    years: Annotated[str | None, typer.Option(help="years to import, e.g. 2020-2025")] = None,
) -> None:
    """Import a county's national-system export, or any household panel through a dataset spec."""
    from riskmodel.ingest import import_source, parse_years

    with console.status("importing"):
        result = import_source(source, out, format, spec, parse_years(years))
    for line in result.report.summary_lines():
        console.print(line)
    console.print(
        f"{len(result.panel):,} household-years -> {result.paths['panel']}; "
        f"report {result.paths['report']}"
    )


@app.command()
@_friendly
def validate(
    file: Annotated[Path, typer.Argument(help="panel as .parquet or .csv")],
    quarantine: Annotated[
        Path | None,
        typer.Option(
            help="write invalid rows here with their reasons and let the valid rows pass on"
        ),
    ] = None,
    valid_out: Annotated[
        Path | None,
        typer.Option(
            help="with --quarantine: where the valid rows go (default: beside the quarantine file)"
        ),
    ] = None,
) -> None:
    """Check a household-year panel against the catalogue; exit 1 when any row is invalid."""
    from riskmodel.io import read_panel, write_csv, write_parquet
    from riskmodel.validate import validate_panel

    result = validate_panel(read_panel(file), source=file)
    if result.ok:
        console.print(result.report(), markup=False, highlight=False)
        return
    err_console.print(result.report(), markup=False, highlight=False, soft_wrap=True)
    if quarantine is None:
        raise typer.Exit(1)
    writer = write_csv if quarantine.suffix == ".csv" else write_parquet
    writer(result.quarantined, quarantine)
    valid_path = valid_out or quarantine.with_name(quarantine.stem + ".valid.parquet")
    write_parquet(result.valid, valid_path)
    console.print(
        f"quarantined {len(result.quarantined):,} rows -> {quarantine}; "
        f"{len(result.valid):,} valid rows -> {valid_path}"
    )


@app.command()
@_friendly
def train(
    config: Annotated[
        Path | None,
        typer.Option(
            help="run config (YAML); default: training/configs/persistent.yaml for --label "
            "persistent, else training/configs/default.yaml"
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="folder with panel.parquet or panel.csv, or a panel file")
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(
            help="meets_criteria (main) | persistent | relapse | identified; default: the config's"
        ),
    ] = None,
) -> None:
    """Train, backtest and evaluate one label's model; log to MLflow; register a version of that
    label's model (relapse-risk, relapse-risk-<label>) aliased challenger."""
    from riskmodel.config import config_path, load_train_config
    from riskmodel.evaluate import comparison_table
    from riskmodel.io import panel_file
    from riskmodel.registry import train_and_register

    cfg = load_train_config(config or config_path(label), data=data, label=label)
    panel_file(cfg.data)  # a clear error before the slow imports and MLflow
    with console.status(f"training the {cfg.label} model on {cfg.data}"):
        result, logged = train_and_register(cfg)
    m = result.evaluation.metrics
    _print_table(
        comparison_table(m),
        f"test year {result.split.test_year}, {result.evaluation.extra['population']}: "
        "ours vs baselines",
    )
    console.print(result.evaluation.extra["oracle_note"])
    console.print(
        "backtest ROC-AUC by year: "
        + ", ".join(f"{r.year}: {r.roc_auc:.3f}" for r in result.backtest.itertuples())
    )
    console.print(
        f"registered {cfg.registered_model} version {logged.version} as challenger "
        f"(run {logged.run_id}); {result.info['total_seconds']:.0f} s"
    )


@app.command()
@_friendly
def promote(
    config: Annotated[
        Path | None,
        typer.Option(help="run config (YAML), for the promotion rules; default as for train"),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(help="the label whose model to promote (default: the config's)"),
    ] = None,
) -> None:
    """Move the champion alias of a label's model to its challenger when it passes every
    promotion condition (a challenger of another label is refused)."""
    from riskmodel.config import config_path, load_train_config
    from riskmodel.registry import promote as run_promotion

    cfg = load_train_config(config or config_path(label), label=label)
    decision = run_promotion(cfg)
    for reason in decision.reasons:
        (console if reason.startswith("ok") else err_console).print(reason)
    for note in decision.notes:
        console.print(f"note {note}", highlight=False)
    if not decision.promoted:
        err_console.print(
            f"[red]not promoted:[/red] {cfg.registered_model} version {decision.version} stays "
            "challenger"
        )
        raise typer.Exit(1)
    console.print(f"{cfg.registered_model} version {decision.version} is now champion")


@app.command()
@_friendly
def score(
    year: Annotated[int | None, typer.Option(help="year to score (default: the latest)")] = None,
    data: Annotated[
        Path, typer.Option(help="folder with panel.parquet or panel.csv, or a panel file")
    ] = Path("data/county"),
    out: Annotated[Path, typer.Option(help="folder for scores, worklist and quarantine")] = Path(
        "data/scores"
    ),
    model_uri: Annotated[str | None, typer.Option(help="default: RISKMODEL_MODEL_URI")] = None,
    persistent_model_uri: Annotated[
        str | None,
        typer.Option(
            help="monitored households' model (default: RISKMODEL_PERSISTENT_MODEL_URI; '' for none)"
        ),
    ] = None,
    max_invalid: Annotated[
        float, typer.Option(help="stop when a larger share of the year or its history is invalid")
    ] = 0.05,
    replace_all: Annotated[
        bool,
        typer.Option(
            help="make the batch exactly the households scored now (default: households of "
            "earlier runs of the same year and model that are not in the data are kept)"
        ),
    ] = False,
    early_warning_band: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="also list every unmonitored household with income below this multiple of the "
            "line (e.g. 1.1), as its own warning source; an early-warning setting, not one of "
            "the criteria (default: off, the list is the criteria plus the model's capacity)",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local (one process) or dask (township partitions on dask.distributed; the "
            "batch becomes exactly the households scored)"
        ),
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="--engine dask: a running scheduler's address")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="--engine dask: worker processes of the LocalCluster (default 2)"),
    ] = None,
) -> None:
    """Score every household of a year: status and criteria met for each; the main champion's
    probability for households not monitored, the persistent champion's (when promoted) for
    monitored ones, none for households that meet the criteria now. Parquet, store, worklist.

    With --model-uri other than the service's model (RISKMODEL_MODEL_URI) the run is a preview:
    its files go to OUT/preview/ and its rows to the store's preview table, which the API never
    serves."""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from riskmodel.config import Settings
    from riskmodel.criteria import DATA_CHECK
    from riskmodel.deploy import load as load_model
    from riskmodel.deploy import load_optional
    from riskmodel.labels import MAIN_LABEL
    from riskmodel.score import run_batch
    from riskmodel.store import PREVIEW, SERVICE, TABLES

    settings = Settings()
    reached: dict[str, float | None] = {}
    stages = ["load model", "read", "validate", "features", "score and explain", "write", "store"]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("load model", total=len(stages))

        def stage(name: str) -> None:
            if name == "read":
                reached["read"] = _since_process_start()
            bar.update(task, description=name, completed=stages.index(name))

        started = time.perf_counter()
        uri = model_uri or settings.model_uri
        area = SERVICE if uri == settings.model_uri else PREVIEW
        model, meta = load_model(uri)
        models, versions = {MAIN_LABEL: model}, {MAIN_LABEL: meta["version"]}
        if model.meta.label != MAIN_LABEL:
            raise UserError(
                f"{uri} answers {model.meta.label!r}; the main model "
                f"must answer {MAIN_LABEL!r} (train with --label {MAIN_LABEL})"
            )
        extra_uri = (
            settings.persistent_model_uri if persistent_model_uri is None else persistent_model_uri
        )
        extra = load_optional(extra_uri)
        if extra is not None:
            models[extra[0].meta.label] = extra[0]
            versions[extra[0].meta.label] = extra[1]["version"]
        loaded = time.perf_counter()
        if engine == "dask":
            bar.stop()
            _score_dask(
                data, out, settings.db_url, uri, extra_uri if extra else "", versions, meta,
                year, max_invalid, area, scheduler, workers, started, loaded, early_warning_band,
            )  # fmt: skip
            return
        if engine != "local" or scheduler or workers:
            raise UserError("--engine is local or dask; --scheduler and --workers go with dask")
        result = run_batch(
            data,
            out,
            settings.db_url,
            models,
            meta["version"],
            meta["run_id"],
            year,
            max_invalid,
            on_stage=stage,
            versions=versions,
            replace_all=replace_all,
            area=area,
            model_alias=uri.partition("@")[2],
            early_warning_band=early_warning_band,
        )
        bar.update(task, completed=len(stages))
    rows = result.rows
    if extra is None:
        err_console.print(
            f"[yellow]no persistent model at {extra_uri or '(none)'}[/yellow]: monitored "
            "households get no probability (train and promote --label persistent)"
        )
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if result.quarantine:
        err_console.print(
            f"[yellow]{result.invalid_rows:,} invalid rows quarantined[/yellow] -> "
            f"{result.quarantine}\n  invalid in {result.year}: {result.invalid_scored}; "
            f"in the history years: {result.invalid_history}",
            highlight=False,
        )
    st = rows["status"].value_counts()
    used = ", ".join(f"{k} v{v}" for k, v in versions.items())
    check = rows["status"] == DATA_CHECK
    history = (rows["data_check"] != "") & ~check
    console.print(
        f"scored {int((~check).sum()):,} households for {result.year} with {used}: "
        f"{st.get('meets_criteria', 0):,} meet the criteria now (verify and enrol), "
        f"{st.get('not_monitored', 0):,} not monitored, {st.get('monitored', 0):,} monitored; "
        f"{(rows['tier'] == 'red').sum():,} red, {(rows['tier'] == 'amber').sum():,} amber; "
        f"{int(rows['on_worklist'].sum()):,} on worklists "
        f"({int(rows['any_rule'].sum()):,} with a rule flag, "
        f"{int(check.sum()):,} listed as 数据待核实 (invalid {result.year} row)); "
        f"{int(history.sum()):,} scored with invalid history rows left out"
    )
    console.print(f"  batch     {result.change}", highlight=False)
    _print_stability(result.stability)
    if area == PREVIEW:
        err_console.print(
            f"[yellow]preview:[/yellow] {uri} (v{result.model_version}) is not the model in "
            f"service ({settings.model_uri}); the API does not serve this batch",
            highlight=False,
        )
    console.print(
        f"  scores    {result.parquet}\n  worklist  {result.workbook}\n"
        f"  store     {settings.db_url} (table {TABLES[area].name})"
    )
    start_up = reached.get("read")
    console.print(
        "  seconds   "
        + (f"start-up {start_up:.2f} (process start to reading rows), " if start_up else "")
        + f"load model {loaded - started:.2f} ({meta['source']}), "
        + ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items())
    )
    if area == SERVICE:
        _quick_monitor(model, meta, result, settings.db_url)


def _quick_monitor(model: Any, meta: dict, result: Any, db_url: str) -> None:
    """The alarm line after a batch (riskmodel monitor gives the full report)."""
    import time

    from riskmodel.monitor.run import MonitorError, alarm_line, quick

    t0 = time.perf_counter()
    try:
        raw = result.raw_scores.get(model.meta.label)
        report = quick(model, meta, result.valid, result.year, db_url, raw)
    except MonitorError as exc:
        err_console.print(f"[yellow]monitor skipped:[/yellow] {exc}", highlight=False)
        return
    style = "red" if report["batch"]["alarm"] else None
    console.print(alarm_line(report), style=style, highlight=False)
    console.print(
        f"  monitor   {time.perf_counter() - t0:.2f} s; full report: riskmodel monitor "
        f"--year {result.year}",
        highlight=False,
    )


def _since_process_start() -> float | None:
    """Seconds since this process started (from /proc; None where there is none)."""
    import os

    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


models_app = typer.Typer(
    no_args_is_help=True, help="Registered model versions: list, show, compare, promote, roll back."
)
app.add_typer(models_app, name="models")
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="run config (YAML): registered model and promotion rules; default as for train",
    ),
]
LabelOption = Annotated[
    str | None, typer.Option("--label", help="the label whose model (default: the config's)")
]


def _models_config(config: Path | None, label: str | None):
    from riskmodel.config import config_path, load_train_config

    return load_train_config(config or config_path(label), label=label)


@app.command()
@_friendly
def monitor(
    year: Annotated[int | None, typer.Option(help="batch year (default: the latest)")] = None,
    model_version: Annotated[
        str | None, typer.Option(help="registered version (default: the champion)")
    ] = None,
    data: Annotated[
        Path, typer.Option(help="folder with panel.parquet or panel.csv, or a panel file")
    ] = Path("data/county"),
    out: Annotated[
        Path, typer.Option(help="folder for the JSON, Markdown and HTML reports")
    ] = Path("data/monitoring"),
    label: LabelOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    log_mlflow: Annotated[
        bool, typer.Option(help="log a monitoring run in MLflow, linked to the version")
    ] = True,
) -> None:
    """Drift, performance estimated before labels and realised after, calibration and the alarm
    for a year's batch, against the reference stored with the model version; every past batch
    whose labels have arrived beside the estimate made for it. Reports, MLflow, the store."""
    import json as _json
    import sys

    from riskmodel.collector import gc_paused
    from riskmodel.monitor.tracking import TrackingProcess

    # started first, before the monitor's own imports: MLflow's imports run alongside them
    tracking = TrackingProcess() if log_mlflow else None
    try:
        # the collector paused over the monitor's imports and frames (about a seventh of its CPU)
        with gc_paused():
            report, files = _monitor_and_log(
                year, model_version, data, out, label, config, tracking
            )
    finally:
        if tracking is not None:
            tracking.close()
    if as_json:
        sys.stdout.write(_json.dumps(report, default=str, ensure_ascii=False) + "\n")
        return
    from riskmodel.monitor.run import alarm_line

    console.print(alarm_line(report), highlight=False)
    for reason in report["batch"]["reasons"]:
        console.print(f"  - {reason}", highlight=False)
    for past in report["past"]:
        real, est = past.get("realised") or {}, past["estimated"]
        console.print(
            f"  {past['year']}: estimated AUC {est['roc_auc']:.3f} "
            f"[{est['roc_auc_low']:.3f}, {est['roc_auc_high']:.3f}] ({past['estimate_made']}), "
            f"realised {real.get('roc_auc', float('nan')):.3f}",
            highlight=False,
        )
    console.print(f"  report    {files['html']}\n  markdown  {files['markdown']}")
    if report["mlflow_run_id"]:
        console.print(f"  mlflow    run {report['mlflow_run_id']}")


def _monitor_and_log(
    year: int | None,
    model_version: str | None,
    data: Path,
    out: Path,
    label: str | None,
    config: Path | None,
    tracking: Any,
) -> tuple[dict, dict]:
    """The monitor's work: the version (its deployed copy when current, without MLflow), the
    panel, the report, its files, the MLflow run (by `tracking`) and the store's rows."""
    from riskmodel.config import Settings
    from riskmodel.deploy import load as load_model
    from riskmodel.monitor.batch import HISTORY_YEARS
    from riskmodel.monitor.run import (
        load_reference,
        read_years,
        record,
        stored_runs,
        write_reports,
    )
    from riskmodel.monitor.run import monitor as run_monitor
    from riskmodel.store import engine_for

    cfg = _models_config(config, label)
    name = cfg.registered_model
    uri = f"models:/{name}/{model_version}" if model_version else f"models:/{name}@champion"
    model, meta = load_model(uri)
    reference = load_reference(model, meta["version"])
    first = min(year or reference["reference_year"] + 1, reference["reference_year"] + 1)
    # the year before the first batch too (stable ranks), with the history its features read
    panel = read_years(data, first - 1 - HISTORY_YEARS)
    engine = engine_for(Settings().db_url)
    report = run_monitor(
        model,
        {"name": name, "version": meta["version"], "run_id": meta["run_id"]},
        panel,
        year,
        cfg.monitor,
        stored=stored_runs(engine, name),
    )
    files = write_reports(report, out)
    run_id = tracking.log(report, files) if tracking is not None else None
    report["mlflow_run_id"] = run_id
    record(engine, report, run_id)
    return report, files


def _print_frame(df: Any, title: str) -> None:
    """A table as aligned plain text (wide tables stay readable in any terminal and in logs)."""
    shown = df.map(
        lambda v: "" if v is None or v != v else f"{v:.4f}" if isinstance(v, float) else v
    )
    console.print(title, highlight=False)
    console.print(shown.to_string(index=False), markup=False, highlight=False, soft_wrap=True)


@models_app.command("list")
@_friendly
def models_list(config: ConfigOption = None, label: LabelOption = None) -> None:
    """Every version: aliases (which one is in service), label, test year, headline figures."""
    from riskmodel.registry import list_versions

    cfg = _models_config(config, label)
    versions = list_versions(cfg)
    if versions.empty:
        raise UserError(f"registered model {cfg.registered_model!r} has no versions yet")
    _print_frame(versions, f"{cfg.registered_model}: versions")


@models_app.command("show")
@_friendly
def models_show(
    version: Annotated[str, typer.Argument(help="version number")],
    config: ConfigOption = None,
    label: LabelOption = None,
) -> None:
    """A version's aliases, tags and model card."""
    from riskmodel.registry import show_version

    console.print(show_version(_models_config(config, label), version), markup=False)


@models_app.command("compare")
@_friendly
def models_compare(
    first: Annotated[str, typer.Argument(help="version")],
    second: Annotated[str, typer.Argument(help="version")],
    config: ConfigOption = None,
    label: LabelOption = None,
) -> None:
    """Two versions' figures side by side, from their runs."""
    from riskmodel.registry import compare_versions

    cfg = _models_config(config, label)
    _print_frame(
        compare_versions(cfg, first, second), f"{cfg.registered_model}: v{first} vs v{second}"
    )


@models_app.command("promote")
@_friendly
def models_promote(
    version: Annotated[
        str | None, typer.Option(help="the version to promote (default: the challenger)")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="promote even when a condition fails (needs --reason)")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="why the conditions are overridden (recorded as a tag)")
    ] = None,
    config: ConfigOption = None,
    label: LabelOption = None,
) -> None:
    """Make a version champion through the promotion conditions (or --force --reason)."""
    from riskmodel.registry import promote as run_promotion

    if force and not (reason and reason.strip()):
        raise UserError('--force needs --reason "why"; the reason is recorded with the version')
    if reason and not force:
        raise UserError("--reason goes with --force")
    decision = run_promotion(
        _models_config(config, label), version=version, force_reason=reason if force else None
    )
    _report_decision(decision, forced=force)


def _report_decision(decision: Any, forced: bool = False) -> None:
    for line in decision.reasons:
        (console if line.startswith("ok") else err_console).print(line, highlight=False)
    for note in decision.notes:
        console.print(f"note {note}", highlight=False)
    if not decision.promoted:
        err_console.print(f"[red]not promoted:[/red] version {decision.version} stays as it was")
        raise typer.Exit(1)
    failed = any(r.startswith("FAIL") for r in decision.reasons)
    how = " (forced; reason recorded)" if forced and failed else ""
    console.print(f"version {decision.version} is now champion{how}")


@models_app.command("rollback")
@_friendly
def models_rollback(config: ConfigOption = None, label: LabelOption = None) -> None:
    """Point champion back at the version it replaced."""
    from riskmodel.registry import rollback

    was, now = rollback(_models_config(config, label))
    console.print(f"champion moved back from version {was} to version {now}")


keys_app = typer.Typer(no_args_is_help=True, help="API keys (stored hashed, shown once).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@_friendly
def keys_create(
    role: Annotated[str, typer.Option(help="county | township | admin")],
    township: Annotated[str | None, typer.Option(help="township id, for township keys")] = None,
    data: Annotated[
        Path, typer.Option(help="panel checked for the township when the store has no batch")
    ] = Path("data/county"),
) -> None:
    """Create an API key; the key is printed alone on the last line and never stored in clear."""
    from riskmodel.api.security import KeyError_, create_key, known_townships
    from riskmodel.config import Settings
    from riskmodel.store import engine_for

    engine = engine_for(Settings().db_url)
    known = None
    if township:
        known = known_townships(engine) or _panel_townships(data)
        if not known:
            raise UserError(
                f"cannot check township {township!r}: the store has no scored batch and there is "
                f"no panel at {data}; run `riskmodel score` or pass --data"
            )
    try:
        key, key_id = create_key(engine, role, township, known)
    except KeyError_ as exc:
        raise UserError(str(exc)) from None
    scope = f" for township {township}" if township else ""
    err_console.print(f"created {role} key {key_id}{scope}; it is shown once, keep it safe:")
    print(key)


def _panel_townships(data: Path) -> set[str]:
    from riskmodel.io import read_panel

    path = data / "panel.parquet" if data.is_dir() else data
    if not path.exists():
        return set()
    return set(read_panel(path)["township_id"].dropna().astype(str))


@keys_app.command("list")
@_friendly
def keys_list() -> None:
    """Every key's id, role, township, creation time and whether it is revoked."""
    from riskmodel.api.security import list_keys
    from riskmodel.config import Settings
    from riskmodel.store import engine_for

    table = Table(title="API keys")
    for col in ("id", "role", "township", "created", "state"):
        table.add_column(col)
    for k in list_keys(engine_for(Settings().db_url)):
        table.add_row(
            k.key_id,
            k.role,
            k.township_id or "",
            k.created_at,
            "revoked" if k.revoked else "active",
        )
    console.print(table)


@keys_app.command("revoke")
@_friendly
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (`keys list`)")]) -> None:
    """Revoke a key; running servers refuse it within RISKMODEL_KEY_CACHE_TTL_S seconds."""
    from riskmodel.api.security import KeyError_, revoke_key
    from riskmodel.config import Settings
    from riskmodel.store import engine_for

    settings = Settings()
    try:
        changed = revoke_key(engine_for(settings.db_url), key_id)
    except KeyError_ as exc:
        raise UserError(str(exc)) from None
    if not changed:
        console.print(f"key {key_id} was already revoked")
        return
    console.print(
        f"revoked key {key_id}; servers refuse it within {settings.key_cache_ttl_s:g} s "
        "(RISKMODEL_KEY_CACHE_TTL_S)"
    )


users_app = typer.Typer(no_args_is_help=True, help="The web app's accounts.")
app.add_typer(users_app, name="users")


@users_app.command("create")
@_friendly
def users_create(
    name: Annotated[str, typer.Option(help="the name to sign in with")],
    role: Annotated[str, typer.Option(help="county | township | village")],
    township: Annotated[str | None, typer.Option(help="township id (township accounts)")] = None,
    village: Annotated[str | None, typer.Option(help="village id (village accounts)")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="RISKMODEL_NEW_PASSWORD",
            help="asked for when not given (or RISKMODEL_NEW_PASSWORD)",
        ),
    ] = ...,
) -> None:
    """Create a web app account (password stored as an argon2 hash); its scope is the county, a
    township or a village, as the scores in the store name them."""
    from riskmodel.api.accounts import AccountError, create_user
    from riskmodel.config import Settings
    from riskmodel.store import engine_for, village_places

    engine = engine_for(Settings().db_url)
    places = village_places(engine) if role != "county" else None
    if places is not None and not places:
        raise UserError("the store has no scored batch to check the place against: run `score`")
    try:
        create_user(engine, name, password, role, township, village, places)
    except AccountError as exc:
        raise UserError(str(exc)) from None
    scope = {"county": "the county", "township": f"township {township}"}.get(
        role, f"village {village}"
    )
    console.print(f"created {role} user {name!r} ({scope})")


visits_app = typer.Typer(no_args_is_help=True, help="Verification visits recorded by cadres.")
app.add_typer(visits_app, name="visits")


@visits_app.command("export")
@_friendly
def visits_export(
    out: Annotated[Path, typer.Option(help="Parquet file")] = Path("data/visits.parquet"),
) -> None:
    """The visits as a table training can read: one row per household and year (its latest
    visit) with `verified_risk`. Visited households are not a random sample (see riskmodel.visits)."""
    from riskmodel.config import Settings
    from riskmodel.io import write_parquet
    from riskmodel.store import engine_for
    from riskmodel.visits import visits_table

    table = visits_table(engine_for(Settings().db_url))
    write_parquet(table, out)
    known = int(table["verified_risk"].notna().sum())
    console.print(
        f"wrote {len(table):,} household-years ({known:,} with verified_risk) to {out}; "
        "visited households are not a random sample"
    )


db_app = typer.Typer(no_args_is_help=True, help="The store's schema (Alembic migrations).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@_friendly
def db_upgrade() -> None:
    """Bring the store (RISKMODEL_DB_URL) to this release's schema; `score` and `serve` do it too."""
    from riskmodel.config import Settings
    from riskmodel.store import open_engine, upgrade_store

    before, after = upgrade_store(open_engine(Settings().db_url))
    if before == after:
        console.print(f"the store is at revision {after}, the newest")
    else:
        console.print(f"upgraded the store from revision {before or 'none'} to {after}")


@app.command()
@_friendly
def serve(
    host: Annotated[str | None, typer.Option(help="default: RISKMODEL_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default: RISKMODEL_PORT or 8000")] = None,
    dev_key: Annotated[
        bool, typer.Option(help="create a county key and print example requests (development)")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes, each with its own model copy")
    ] = 1,
    bare: Annotated[
        bool,
        typer.Option(
            help="serve the bare ceiling instead: the request schema validated, a trivial "
            "answer, no key or model (what `bench api` compares with)"
        ),
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="panel (folder or file) whose last three years give POST /v1/scores the "
            "history of households sent without theirs (default: RISKMODEL_PANEL; none: only "
            "the request's)"
        ),
    ] = None,
) -> None:
    """Serve the scoring API (loads and warms the champion before /ready); prints the URL, and
    a ready line with the model version from each worker."""
    import os

    import uvicorn

    from riskmodel.config import Settings
    from riskmodel.store import engine_for

    if data is not None:  # workers build their settings from the environment
        os.environ["RISKMODEL_PANEL"] = str(data.resolve())
    settings = Settings()
    host, port = host or settings.host, port or settings.port
    if bare:
        print(f"serving the bare ceiling at http://{host}:{port}/v1/scores", flush=True)
        uvicorn.run(
            "riskmodel.api.bare:create_bare_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            access_log=False,
            log_level="warning",
        )
        return
    engine_for(settings.db_url).dispose()  # the store upgraded once, before any worker starts
    if dev_key:
        _print_dev_example(settings, host, port)
    print(
        f"starting the API at http://{host}:{port} ({workers} worker{'s' * (workers > 1)}, "
        f"model {settings.model_uri}"
        + (f", history from {settings.panel}" if settings.panel else "")
        + "); loading and warming the model…",
        flush=True,
    )
    # workers build the app from RISKMODEL_* themselves (they inherit this environment)
    os.environ["RISKMODEL_HOST"], os.environ["RISKMODEL_PORT"] = host, str(port)
    uvicorn.run(
        serve_app() if workers == 1 else "riskmodel.cli:serve_app",
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
    )


def serve_app():
    """The app as `serve` runs it: it prints a ready line (URL, model version, pid) once the model
    is warmed, or why it is not ready."""
    import os

    from riskmodel.api import create_app
    from riskmodel.config import Settings

    settings = Settings()
    url = f"http://{settings.host}:{settings.port}"

    def announce(loaded, error: str | None) -> None:
        if loaded is not None:
            print(
                f"ready: {url} serves model version {loaded.version} (run {loaded.run_id}); "
                f"worker pid {os.getpid()}",
                flush=True,
            )
        else:
            err_console.print(
                f"[red]not ready:[/red] the model did not load ({error}); {url}/ready answers "
                f"503 until a reload succeeds (worker pid {os.getpid()})"
            )

    return create_app(settings, on_ready=announce)


def _print_dev_example(settings, host: str, port: int) -> None:
    """A county key for local development and requests ready to paste."""
    import json

    import sqlalchemy as sa

    from riskmodel.api.schemas import EXAMPLE_HOUSEHOLD
    from riskmodel.api.security import create_key
    from riskmodel.io import write_text
    from riskmodel.store import engine_for, scores

    engine = engine_for(settings.db_url)
    key, key_id = create_key(engine, "county")
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(scores.c.hh_id, scores.c.village_id)
            .order_by(scores.c.year.desc(), scores.c.rank_in_village)
            .limit(1)
        ).first()
    hh, village = tuple(row) if row else ("H000001", "V001")
    base = f"http://{host}:{port}"
    body = write_text(  # one household's facts with its previous year, the API docs' example
        json.dumps({"households": [EXAMPLE_HOUSEHOLD]}, ensure_ascii=False, indent=1),
        Path("data/example-request.json"),
    )
    console.print(
        f"development key {key_id} (county role) created. Once the server is up:", highlight=False
    )
    print(
        f"  export KEY={key}\n"
        f'  curl -s -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" '
        f"-d @{body} {base}/v1/scores\n"
        f'  curl -s -H "Authorization: Bearer $KEY" {base}/v1/households/{hh}\n'
        f'  curl -s -H "Authorization: Bearer $KEY" {base}/v1/villages/{village}/worklist\n'
        f"  interactive docs: {base}/docs (Authorize: paste the key)   readiness: {base}/ready\n"
        f"  web app for cadres: {base}/app (an account first: riskmodel users create --name N "
        "--role county|township|village [--township T] [--village V])",
        flush=True,
    )


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print one JSON line.")
app.add_typer(bench_app, name="bench")


@bench_app.command("train")
@_friendly
def bench_train(
    seed: Annotated[int, typer.Option()] = 7,
    households: Annotated[
        int | None, typer.Option(help="households that left poverty (default: the county's)")
    ] = None,
    labels: Annotated[
        str, typer.Option(help="comma-separated labels to train and promote")
    ] = "meets_criteria,persistent",
    unseen_seeds: Annotated[
        str, typer.Option(help="comma-separated seeds of counties the models never saw")
    ] = "101,202",
) -> None:
    """Simulate, train (with backtests), log and promote each label's model in a fresh store,
    score the latest year; print per-label figures beside the oracle, rule and logistic
    regression, calibration by tier and top share on the test year and on unseen counties,
    the worklist by status and the times."""
    import json

    from riskmodel.bench import bench_train as run
    from riskmodel.labels import check_label

    chosen = tuple(check_label(x.strip()) for x in labels.split(",") if x.strip())
    unseen = tuple(int(x) for x in unseen_seeds.split(",") if x.strip())
    print(json.dumps(run(seed, households, chosen, unseen), ensure_ascii=False))


@bench_app.command("simulate")
@_friendly
def bench_simulate(
    seed: Annotated[int, typer.Option()] = 7,
    households: Annotated[int, typer.Option()] = 19_300,
    export_format: Annotated[str, typer.Option()] = "csv",
) -> None:
    """The default county simulated with its national export, in a fresh process: wall, peak."""
    import json

    from riskmodel.bench import bench_simulate as run

    print(json.dumps(run(seed, households, export_format)))


@bench_app.command("import")
@_friendly
def bench_import(
    seed: Annotated[int, typer.Option()] = 7,
    households: Annotated[int, typer.Option()] = 19_300,
) -> None:
    """Import of the default county's export (all years) in a fresh process: wall, peak."""
    import json

    from riskmodel.bench import bench_import as run

    print(json.dumps(run(seed, households)))


@bench_app.command("explain")
@_friendly
def bench_explain(
    rows: Annotated[int | None, typer.Option(help="rows (default: every household)")] = None,
    data: Annotated[Path, typer.Option()] = Path("data/county"),
) -> None:
    """Our TreeSHAP against shap.TreeExplainer on the champion, one JSON line."""
    import json

    from riskmodel.bench import bench_explain as run

    print(json.dumps(run(rows, data)))


@bench_app.command("score")
@_friendly
def bench_score(
    runs: Annotated[int, typer.Option()] = 3,
    data: Annotated[Path, typer.Option()] = Path("data/county"),
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="a checkout of an earlier release (`git worktree add DIR <commit>`), run "
            "alternately with ours on the same data and models"
        ),
    ] = None,
) -> None:
    """`riskmodel score` end to end as fresh processes: wall time, peak memory, start-up; with
    --baseline, an earlier release side by side."""
    import json

    from riskmodel.bench import bench_score as run

    print(json.dumps(run(runs, data, baseline)))


@bench_app.command("monitor")
@_friendly
def bench_monitor(
    runs: Annotated[int, typer.Option()] = 3,
    data: Annotated[Path, typer.Option()] = Path("data/county"),
    targets: Annotated[
        bool,
        typer.Option(
            help="instead: train before each batch 2021-2024 on a simulated county and check "
            "estimated against realised AUC and the alarm with and without shocks (minutes)"
        ),
    ] = False,
    households: Annotated[int, typer.Option(help="county size for --targets")] = 19_300,
) -> None:
    """`riskmodel monitor` on the county as fresh processes (target: under 5 s), or --targets."""
    import json

    from riskmodel.monitor.bench import bench_command, bench_targets

    result = bench_targets(households=households) if targets else bench_command(runs, data)
    print(json.dumps(result, default=str))


@bench_app.command("scale")
@_friendly
def bench_scale(
    sizes: Annotated[str, typer.Option(help="households in the scored year, comma-separated")] = (
        "27000,250000,1000000"
    ),
    workers: Annotated[str, typer.Option(help="Dask workers to compare, comma-separated")] = "1,2",
    root: Annotated[Path, typer.Option(help="where the regions are simulated once and kept")] = (
        Path("data/scale")
    ),
    db_url: Annotated[
        str | None, typer.Option(help="bench store (default: SQLite in ROOT; not the service's)")
    ] = None,
    cluster_cores: Annotated[int, typer.Option(help="worker cores of the projection")] = 64,
    single_up_to: Annotated[
        int, typer.Option(help="largest size for the single-process engine (it holds it whole)")
    ] = 250_000,
) -> None:
    """Single-process and Dask engines on regions of each size: households per second per core,
    peak memory per worker, end-to-end time, and the projection to 30 million households."""
    import json

    from riskmodel.bench_scale import bench_scale as run

    print(
        json.dumps(
            run(
                tuple(int(s) for s in sizes.split(",")),
                tuple(int(w) for w in workers.split(",")),
                root,
                db_url,
                cluster_cores=cluster_cores,
                single_up_to=single_up_to,
            )
        )
    )


@bench_app.command("api")
@_friendly
def bench_api(
    seconds: Annotated[float, typer.Option(help="load per server and setting")] = 15,
    connections: Annotated[str, typer.Option(help="comma-separated connection counts")] = "8,32",
    records: Annotated[str, typer.Option(help="comma-separated records per request")] = "1,50",
    soak_seconds: Annotated[float, typer.Option(help="soak of our server; 0 skips")] = 60,
    soak_connections: Annotated[int, typer.Option()] = 32,
    mlflow: Annotated[bool, typer.Option(help="also drive `mlflow models serve`")] = True,
    data: Annotated[Path, typer.Option()] = Path("data/county"),
) -> None:
    """Our API beside the bare FastAPI ceiling (same request schema, trivial answer) and
    `mlflow models serve`, same load, same run; one JSON line."""
    import json

    from riskmodel.bench import bench_api as run

    def ints(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split(",") if x.strip())

    figures = run(
        seconds, ints(connections), ints(records), soak_seconds, soak_connections, data, mlflow
    )
    print(json.dumps(figures))


@bench_app.command("web")
@_friendly
def bench_web(
    requests: Annotated[int, typer.Option(help="timed requests per page (after 20 warm-up)")] = 200,
) -> None:
    """Server time of the largest village's worklist page and a household card beside the JSON
    endpoints (store: RISKMODEL_DB_URL); one JSON line. Target: p95 under 100 ms."""
    import json

    from riskmodel.bench import bench_web as run

    print(json.dumps(run(requests)))


@bench_app.command("abuse")
@_friendly
def bench_abuse(
    seconds: Annotated[float, typer.Option(help="length of the attack")] = 60,
    connections: Annotated[int, typer.Option(help="attacking connections (random keys)")] = 16,
    legit_connections: Annotated[int, typer.Option()] = 2,
    legit_rate: Annotated[float, typer.Option(help="requests per second per legit client")] = 20,
    data: Annotated[Path, typer.Option()] = Path("data/county"),
) -> None:
    """Random API keys against our server while legitimate clients score; memory and p99."""
    import json

    from riskmodel.bench import bench_abuse as run

    print(json.dumps(run(seconds, connections, legit_connections, legit_rate, data)))


def main() -> None:
    """Console entry. On the way out the surviving objects are frozen: the command's work is done,
    and without the final collection over them (MLflow alone loads thousands of modules) the
    process exits about a second sooner."""
    import gc

    try:
        app(prog_name="riskmodel")
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
