"""MLflow: log a training run, register it as a version, move aliases, load models back.

The model is logged once, as a custom pyfunc whose input is the model input record (generated from
the catalogue) and whose output holds probability, tier and one contribution per feature. The same
artefact serves the API, batch scoring and `mlflow models serve`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, Schema

from riskmodel.catalogue import FEATURE_NAMES
from riskmodel.config import TrainConfig
from riskmodel.io import write_text
from riskmodel.model import RelapseModel
from riskmodel.monitor.stats import REFERENCE_FILE
from riskmodel.records import record_columns, records_from_facts
from riskmodel.stability import LOW_OVERLAP
from riskmodel.tracking import (  # the store's side, kept here under the names callers use
    _experiment,
    anchor_artifacts,  # noqa: F401
    artifact_root,  # noqa: F401
    connect,
)

log = logging.getLogger(__name__)

CHALLENGER, CHAMPION = "challenger", "champion"
DESCRIPTION_LIMIT = 4800


class RegistryError(RuntimeError):
    """The registry lacks what was asked for (for example no challenger to promote)."""


def signature(features: list[str]) -> ModelSignature:
    """Output: probability, tier, base value, contributions. The input (the model input record)
    is checked by the model itself (`records.check_records`, as the API checks it), not by MLflow's
    schema enforcement, which refuses the library's own records (category dtype) and integral
    floats for integers; it is documented in `model_input.md` beside the model."""
    outputs = Schema(
        [
            ColSpec("double", "probability"),
            ColSpec("string", "tier"),
            ColSpec("double", "raw_score"),
            ColSpec("double", "base_value"),
        ]
        + [ColSpec("double", f"contrib_{f}") for f in features]
    )
    return ModelSignature(inputs=None, outputs=outputs)


def input_doc(features: list[str] | None = None) -> str:
    """The pyfunc's input (identifiers and the model's features), one line per column,
    generated from the catalogue."""
    lines = [
        "# Input of the relapse-risk pyfunc",
        "",
        "One row per household-year: the model input record (`riskmodel.features.build_features` "
        "output, or `riskmodel.registry.pyfunc_input(panel_rows)` from panel rows). Categoricals "
        "as strings or category dtype; integers as integers or integral floats. Unknown "
        "categories, missing required values, broken cross-column rules and derived fields that "
        "disagree with the facts are refused with the row and column named.",
        "",
        "| column | type | required | values | 中文 | English |",
        "|---|---|---|---|---|---|",
    ]
    for c in record_columns(features):
        if c.levels:
            values = ", ".join(c.levels)
        else:
            bounds = [
                f">= {c.min:g}" if c.min is not None else "",
                f"<= {c.max:g}" if c.max is not None else "",
            ]
            values = " and ".join(b for b in bounds if b)
        lines.append(
            f"| {c.name} | {c.dtype} | {'no' if c.nullable else 'yes'} | {values} | "
            f"{c.label_zh} | {c.label_en} |"
        )
    return "\n".join(lines) + "\n"


def pyfunc_input(
    panel_rows: pd.DataFrame, year: int | None = None, features: list[str] | None = None
) -> pd.DataFrame:
    """The pyfunc's input built from panel rows (the year scored and up to two years before,
    every household of the village for its monitored share) with the library's feature builder;
    with a model's `features`, only what that model reads (a partial panel's model)."""
    records = records_from_facts(panel_rows, year, features)
    return to_wire(records, features or [n for n in FEATURE_NAMES if n in records])


def to_wire(records: pd.DataFrame, features: list[str] | None = None) -> pd.DataFrame:
    """Records as MLflow's schema expects them: categoricals as strings, ints as int64 (the
    model's features only, when given)."""
    columns = record_columns(features)
    out = records[[c.name for c in columns]].copy()
    for c in columns:
        if c.dtype in ("category", "string"):
            out[c.name] = out[c.name].astype(object).where(out[c.name].notna(), None)
        elif c.dtype == "int":
            out[c.name] = out[c.name].astype("int64")
        elif c.dtype == "float":
            out[c.name] = out[c.name].astype("float64")
    return out


class RelapsePyfunc(PythonModel):
    """MLflow wrapper. Input: model input records (see `model_input.md`; `pyfunc_input` builds
    them from panel rows), checked as the API checks them: a bad value raises naming its row and
    column. Output: probability, tier, raw_score, base_value, contrib_<feature>."""

    def load_context(self, context) -> None:
        self.model = RelapseModel.load(Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        from riskmodel.records import check_records

        records = check_records(pd.DataFrame(model_input), self.model.features)
        return self.model.predict_frame(records).reset_index(drop=True)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")]


@dataclass
class LoggedVersion:
    run_id: str
    version: str
    model_uri: str


def log_training(result, client: MlflowClient | None = None) -> LoggedVersion:
    """Log params, metrics, plots, tables and the model; register a version; alias challenger."""
    from riskmodel import plots
    from riskmodel.modelcard import model_card, subgroup_markdown

    client = client or connect()
    cfg: TrainConfig = result.config
    exp_id = _experiment(client, cfg.experiment)
    ev = result.evaluation
    with mlflow.start_run(experiment_id=exp_id) as run, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mlflow.log_params(
            _flat_params(cfg)
            | {
                "test_year": result.split.test_year,
                "best_iteration": result.info["best_iteration"],
                "n_train": result.info["n_train"],
                "n_train_with": result.info.get("n_train_with", 0),
                "n_features": len(result.model.features),
                "features_absent": ",".join(result.info.get("features_absent", [])) or "none",
                "data_digest": result.data_digest,
                "data_path": str(cfg.data),
            }
        )
        mlflow.set_tags({"label": cfg.label, "data_digest": result.data_digest})
        mlflow.log_metrics({k: float(v) for k, v in ev.metrics.items() if np.isfinite(v)})
        for row in result.backtest.itertuples(index=False):
            mlflow.log_metric("backtest_roc_auc", float(row.roc_auc), step=int(row.year))
        contrib = result.model.contributions(result.model.matrix(result.split.test))
        figures = {
            "roc_pr.png": plots.roc_pr(ev.y, ev.scores),
            "reliability.png": plots.reliability(ev.y, ev.scores["ours"]),
            "shap_summary.png": plots.shap_summary(contrib, result.model.features),
            "backtest_auc.png": plots.backtest(result.backtest),
        }
        for name, fig in figures.items():
            mlflow.log_figure(fig, f"plots/{name}")
            plots.plt.close(fig)
        ev.subgroups.to_csv(tmp / "subgroups.csv", index=False)
        ev.extra["calibration"].to_csv(tmp / "calibration.csv", index=False)
        write_text(subgroup_markdown(ev.subgroups), tmp / "subgroups.md")
        result.backtest.to_csv(tmp / "backtest.csv", index=False)
        write_text(json.dumps(ev.metrics, indent=1), tmp / "metrics.json")
        for f in (
            "subgroups.csv",
            "subgroups.md",
            "calibration.csv",
            "backtest.csv",
            "metrics.json",
        ):
            mlflow.log_artifact(str(tmp / f), "evaluation")
        model_dir = result.model.save(tmp / "relapse_model")
        write_text(
            json.dumps(monitoring_reference(result), ensure_ascii=False),
            model_dir / REFERENCE_FILE,
        )
        doc = write_text(input_doc(result.model.features), tmp / "model_input.md")
        example = to_wire(result.split.test.head(5), result.model.features)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RelapsePyfunc(),
            artifacts={"model": str(model_dir), "input_doc": str(doc)},
            signature=signature(result.model.features),
            input_example=example,
            registered_model_name=cfg.registered_model,
            pip_requirements=_requirements(),
        )
        version = str(info.registered_model_version)
        card = model_card(result, version=version, run_id=run.info.run_id)
        write_text(card, tmp / "model_card.md")
        mlflow.log_artifact(str(tmp / "model_card.md"))
    client.set_registered_model_alias(cfg.registered_model, CHALLENGER, version)
    description = (
        card
        if len(card) <= DESCRIPTION_LIMIT
        else (card[:DESCRIPTION_LIMIT] + "\n\n… (full card: run artifact model_card.md)")
    )
    client.update_model_version(cfg.registered_model, version, description=description)
    tags = {
        "label": cfg.label,
        "test_year": str(result.split.test_year),
        "test_rows": str(len(result.split.test)),
        "data_digest": result.data_digest,
        "compared_with_champion": result.info.get("champion_version", ""),
    }
    for key, value in tags.items():
        client.set_model_version_tag(cfg.registered_model, version, key, value)
    if registered_label(client, cfg.registered_model) is None:
        client.set_registered_model_tag(cfg.registered_model, "label", cfg.label)
    log.info("registered %s version %s (run %s)", cfg.registered_model, version, run.info.run_id)
    return LoggedVersion(run.info.run_id, version, f"models:/{cfg.registered_model}/{version}")


def monitoring_reference(result) -> dict:
    """What the version will be monitored against (riskmodel.monitor), stored in its model
    folder: frozen bins and shares, score distribution, calibration, the estimator's calibrator."""
    from riskmodel.monitor.stats import build_reference

    cfg, split = result.config, result.split
    return build_reference(
        result.model, split.train, split.valid, split.test, cfg.select_share, cfg.seed
    )


def _flat_params(cfg: TrainConfig) -> dict[str, object]:
    flat: dict[str, object] = {}

    def walk(prefix: str, obj: object) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}", v)
        else:
            flat[prefix] = obj

    walk("", cfg.model_dump(mode="json"))
    return flat


def resolve_version(uri: str) -> str:
    """The registered version a `models:/name@alias` or `models:/name/N` URI points at now
    ("" for other URIs)."""
    if not uri.startswith("models:/"):
        return ""
    client = connect()
    name, _, alias = uri.removeprefix("models:/").partition("@")
    try:
        if alias:
            return str(client.get_model_version_by_alias(name, alias).version)
        name, _, number = name.partition("/")
        return str(client.get_model_version(name, number).version)
    except MlflowException as exc:
        raise RegistryError(f"cannot resolve {uri}: {exc.message}") from None


def load_model(uri: str) -> tuple[RelapseModel, dict[str, str]]:
    """Load the RelapseModel inside a registered pyfunc, with its version and run id.

    Reads the model's own artefact folder rather than going through the full pyfunc loader, so
    batch jobs and the API start fast; the files are the same ones `mlflow.pyfunc` would load.
    """
    import yaml

    from riskmodel.api.lifecycle import pinned_uri

    connect()
    version = resolve_version(uri)  # resolved once; exactly that version is downloaded
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=pinned_uri(uri, version)))
    spec = yaml.safe_load((local / "MLmodel").read_text())
    rel = spec["flavors"]["python_function"]["artifacts"]["model"]["path"]
    model = RelapseModel.load(local / rel)
    return model, {"version": version, "run_id": spec.get("run_id") or ""}


def load_optional(uri: str) -> tuple[RelapseModel, dict[str, str]] | None:
    """Like `load_model`, but None when the URI's registered model or alias does not exist yet
    (the persistent model before its first promotion); other failures still raise."""
    if not uri:
        return None
    connect()
    try:
        resolve_version(uri)
    except RegistryError as exc:
        log.info("optional model not available: %s", exc)
        return None
    return load_model(uri)


def alias_version(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


@dataclass
class Decision:
    promoted: bool
    version: str
    reasons: list[str]
    """Each condition with its figures; failing ones start with 'FAIL'."""
    notes: list[str] = field(default_factory=list)
    """What the change would do, not a condition: tiers and worklists against the champion."""


def registered_label(client: MlflowClient, name: str) -> str | None:
    """The label a registered model answers (its `label` tag); None when it does not exist yet."""
    try:
        return client.get_registered_model(name).tags.get("label")
    except MlflowException:
        return None


def check_registered_label(client: MlflowClient, cfg: TrainConfig) -> None:
    """Refuse to register a version of one label under a model that answers another."""
    have = registered_label(client, cfg.registered_model)
    if have is not None and have != cfg.label:
        raise RegistryError(
            f"registered model {cfg.registered_model!r} answers label {have!r}, not {cfg.label!r}"
        )


def promote(
    cfg: TrainConfig,
    client: MlflowClient | None = None,
    version: str | None = None,
    force_reason: str | None = None,
) -> Decision:
    """Move champion to the challenger (or a chosen `version`) if it answers the same question
    (label), beats the baselines, holds up against the champion on the same label, year and rows,
    and is fair enough. With `force_reason` it is moved whatever the other conditions say (never
    across labels), and the reason and the failed conditions are recorded as version tags."""
    from riskmodel.evaluate import BASELINES

    client = client or connect()
    name = cfg.registered_model
    if version is None:
        challenger = alias_version(client, name, CHALLENGER)
        if challenger is None:
            raise RegistryError(
                f"registered model {name!r} has no '{CHALLENGER}' alias; run "
                f"`riskmodel train --label {cfg.label}` first"
            )
    else:
        challenger = get_version(client, name, version)
    m = client.get_run(challenger.run_id).data.metrics
    reasons: list[str] = []

    def check(ok: bool, text: str) -> None:
        reasons.append(("ok   " if ok else "FAIL ") + text)

    label = challenger.tags.get("label")
    model_label = registered_label(client, name)
    check(
        label == cfg.label and model_label in (None, cfg.label),
        f"challenger v{challenger.version} label {label!r} is the label of {name!r} "
        f"({model_label or cfg.label!r})",
    )
    if label != cfg.label or model_label not in (None, cfg.label):
        return Decision(False, str(challenger.version), reasons)

    for metric in ("test_roc_auc", "test_recall_at_10pct_village"):
        for base in BASELINES:
            other = m.get(f"{base}_{metric}")
            if other is None:
                check(False, f"{base}_{metric} was not logged")
                continue
            low = m.get(f"{base}_{metric}_ci_low")
            if metric == "test_roc_auc" or low is None:
                check(m[metric] > other, f"{metric} {m[metric]:.4f} > {base} {other:.4f}")
            else:
                # recall at capacity moves with a few households: not significantly below
                check(
                    m[metric] >= low,
                    f"{metric} {m[metric]:.4f} >= {base} {other:.4f}'s 95% lower bound {low:.4f}",
                )
    champion = alias_version(client, name, CHAMPION)
    if champion is not None and champion.version != challenger.version:
        ref = _champion_auc_on_same_rows(client, challenger, champion, m)
        limit = cfg.promotion.max_auc_drop_vs_champion
        if ref is None:
            check(
                False,
                f"champion v{champion.version} was not scored on the challenger's rows (same "
                f"label, year and rows); retrain with `riskmodel train --label {cfg.label}`",
            )
        else:
            check(
                m["test_roc_auc"] >= ref - limit,
                f"test_roc_auc {m['test_roc_auc']:.4f} >= champion v{champion.version} "
                f"{ref:.4f} - {limit} (same label, year and rows)",
            )
    notes = []
    measured_against = challenger.tags.get("compared_with_champion")
    if champion is not None and "champion_tier_changed_share" in m and measured_against:
        notes.append(
            f"against champion v{measured_against} (the champion when it was trained) on the test year: "
            f"{m['champion_tier_changed_share']:.1%} of households would change tier; village "
            f"worklists would overlap {m['champion_worklist_overlap_mean']:.2f} on average "
            f"(lowest {m['champion_worklist_overlap_min']:.2f}, "
            f"{m['champion_villages_below_overlap']:.0f} villages below {LOW_OVERLAP})"
        )
    failures = m.get("subgroup_failures", 0.0)
    check(
        failures == 0,
        f"no subgroup's recall significantly below {cfg.promotion.min_subgroup_recall_ratio} x "
        f"overall ({int(failures)} failing; lowest ratio {m.get('subgroup_min_recall_ratio', 1):.3f})",
    )
    passed = all(r.startswith("ok") for r in reasons)
    if force_reason is not None and not force_reason.strip():
        raise RegistryError("--force needs a --reason saying why the conditions are overridden")
    promoted = passed or force_reason is not None
    if promoted:
        v = str(challenger.version)
        _move_champion(client, name, v, champion)
        client.set_model_version_tag(name, v, "promoted", "true")
        if not passed:
            failed = "; ".join(r[5:] for r in reasons if r.startswith("FAIL"))
            client.set_model_version_tag(name, v, "forced_promotion", force_reason.strip())
            client.set_model_version_tag(name, v, "forced_over", failed[:4900])
        deploy_champion(name)
    return Decision(promoted, str(challenger.version), reasons, notes)


def _champion_auc_on_same_rows(client, challenger, champion, metrics: dict) -> float | None:
    """The champion's test AUC on exactly the challenger's test rows, or None when unknown.

    Training scores the champion in service on its own test rows (`champion_test_roc_auc`); failing
    that, the champion's own figure counts only when it was computed on the same label, test year,
    rows and data."""
    if "champion_test_roc_auc" in metrics and challenger.tags.get("compared_with_champion") == str(
        champion.version
    ):
        return float(metrics["champion_test_roc_auc"])
    same = ("label", "test_year", "test_rows", "data_digest")
    if all(challenger.tags.get(k) and challenger.tags.get(k) == champion.tags.get(k) for k in same):
        return client.get_run(champion.run_id).data.metrics.get("test_roc_auc")
    return None


def _move_champion(client: MlflowClient, name: str, version: str, current) -> None:
    """Point champion at `version`, remembering the one it replaces (for rollback)."""
    if current is not None and str(current.version) != version:
        client.set_model_version_tag(name, version, "previous_champion", str(current.version))
    client.set_registered_model_alias(name, CHAMPION, version)


def get_version(client: MlflowClient, name: str, version: str):
    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        known = ", ".join(str(v.version) for v in _versions(client, name)) or "none"
        raise RegistryError(
            f"registered model {name!r} has no version {version}; versions: {known}"
        ) from None


def _versions(client: MlflowClient, name: str) -> list:
    found = client.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda v: int(v.version))


def rollback(cfg: TrainConfig, client: MlflowClient | None = None) -> tuple[str, str]:
    """Point champion back at the version it replaced; returns (from, to)."""
    client = client or connect()
    name = cfg.registered_model
    champion = alias_version(client, name, CHAMPION)
    if champion is None:
        raise RegistryError(f"registered model {name!r} has no champion to roll back")
    previous = champion.tags.get("previous_champion")
    if not previous:
        raise RegistryError(
            f"champion v{champion.version} replaced no earlier champion; choose one with "
            "`riskmodel models promote --version V`"
        )
    get_version(client, name, previous)
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_model_version_tag(name, previous, "rolled_back_from", str(champion.version))
    deploy_champion(name)
    return str(champion.version), previous


def deploy_champion(name: str) -> None:
    """Write the deployed copy of the champion (`riskmodel.deploy`): batch jobs and the API then
    start without MLflow. A failure is logged; they fall back to MLflow until the next write."""
    from riskmodel.deploy import deploy

    uri = f"models:/{name}@{CHAMPION}"
    try:
        model, meta = load_model(uri)
        deploy(uri, meta["version"], meta["run_id"], model.folder)
    except (OSError, RegistryError) as exc:
        log.warning("could not write the deployed copy of %s: %s", uri, exc)


SUMMARY_METRICS = [
    "test_roc_auc",
    "test_pr_auc",
    "test_ece",
    "test_recall_at_10pct_village",
    "rule_test_roc_auc",
    "logreg_test_roc_auc",
    "oracle_test_roc_auc",
    "subgroup_min_recall_ratio",
]


def list_versions(cfg: TrainConfig, client: MlflowClient | None = None) -> pd.DataFrame:
    """Every version with its aliases, label, test year, headline figures and promotion tags."""
    client = client or connect()
    rows = []
    for found in _versions(client, cfg.registered_model):
        v = client.get_model_version(cfg.registered_model, found.version)  # with its aliases
        m = client.get_run(v.run_id).data.metrics if v.run_id else {}
        rows.append(
            {
                "version": str(v.version),
                "aliases": ",".join(sorted(v.aliases)),
                "label": v.tags.get("label", ""),
                "test_year": v.tags.get("test_year", ""),
                "created": pd.Timestamp(v.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
                "test_roc_auc": m.get("test_roc_auc"),
                "test_recall_at_10pct_village": m.get("test_recall_at_10pct_village"),
                "test_ece": m.get("test_ece"),
                "notes": _notes(v.tags),
            }
        )
    return pd.DataFrame(rows)


def _notes(tags: dict) -> str:
    parts = []
    if "forced_promotion" in tags:
        parts.append(f"forced: {tags['forced_promotion']}")
    if "previous_champion" in tags:
        parts.append(f"replaced v{tags['previous_champion']}")
    if "rolled_back_from" in tags:
        parts.append(f"restored from v{tags['rolled_back_from']}")
    return "; ".join(parts)


def compare_versions(
    cfg: TrainConfig, a: str, b: str, client: MlflowClient | None = None
) -> pd.DataFrame:
    """Two versions' logged figures side by side (from their runs), with the difference."""
    client = client or connect()
    name = cfg.registered_model
    va, vb = get_version(client, name, a), get_version(client, name, b)
    ma, mb = (client.get_run(v.run_id).data.metrics for v in (va, vb))
    rows = []
    for key in SUMMARY_METRICS + sorted((set(ma) | set(mb)) - set(SUMMARY_METRICS)):
        x, y = ma.get(key), mb.get(key)
        rows.append(
            {
                "figure": key,
                f"v{a}": x,
                f"v{b}": y,
                "difference": None if x is None or y is None else y - x,
            }
        )
    info = [
        {"figure": t, f"v{a}": va.tags.get(t, ""), f"v{b}": vb.tags.get(t, ""), "difference": None}
        for t in ("label", "test_year", "data_digest")
        if t in va.tags or t in vb.tags
    ]
    return pd.DataFrame(info + rows)


def show_version(cfg: TrainConfig, version: str, client: MlflowClient | None = None) -> str:
    """A version's aliases, tags and model card."""
    client = client or connect()
    v = get_version(client, cfg.registered_model, version)
    head = [
        f"{cfg.registered_model} version {v.version}"
        + (f" ({', '.join(sorted(v.aliases))})" if v.aliases else ""),
        f"run {v.run_id}",
        *(f"{k}: {val}" for k, val in sorted(v.tags.items())),
        "",
    ]
    return "\n".join(head) + (v.description or "(no model card)")


def train_and_register(cfg: TrainConfig):
    """The whole retraining job: fit, backtest, evaluate (beside the champion), log, register."""
    from riskmodel.train import run_training

    client = connect()
    check_registered_label(client, cfg)
    champion, champion_version = None, ""
    if alias_version(client, cfg.registered_model, CHAMPION) is not None:
        try:
            champion, meta = load_model(f"models:/{cfg.registered_model}@{CHAMPION}")
            champion_version = meta["version"]
            if champion.meta.label != cfg.label:
                champion, champion_version = None, ""
        except Exception as exc:  # an old champion that no longer loads must not block retraining
            log.warning("champion could not be loaded for comparison: %s", exc)
    result = run_training(cfg, champion)
    result.info["champion_version"] = champion_version if champion is not None else ""
    logged = log_training(result, client)
    return result, logged
