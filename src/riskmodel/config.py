"""Configuration: training runs from YAML (validated, unknown keys refused); services from env."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from riskmodel.criteria import CriteriaConfig
from riskmodel.labels import MAIN_LABEL, NEXT_YEAR_CRITERIA, registered_model_name

DEFAULT_TRAIN_CONFIG = Path("training/configs/default.yaml")
LABEL_CONFIGS = {"persistent": Path("training/configs/persistent.yaml")}
"""Run configs of labels whose population needs other settings than the default run's."""


def config_path(label: str | None = None) -> Path:
    """The run config a label trains with by default (relative to the project root)."""
    return LABEL_CONFIGS.get(label or "", DEFAULT_TRAIN_CONFIG)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LightGBMParams(_Strict):
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(7, ge=2, le=1024)
    max_depth: int = Field(-1, ge=-1)
    min_child_samples: int = Field(300, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    max_rounds: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(100, ge=1)
    scale_pos_weight: float = Field(1.0, gt=0, description="weight of positives (imbalance)")
    num_threads: int = Field(0, ge=0, description="0: all cores")


class TierConfig(_Strict):
    red: float = Field(0.25, gt=0, lt=1)
    amber: float = Field(0.08, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> TierConfig:
        if self.amber >= self.red:
            raise ValueError("tiers: amber must be below red")
        return self


class IntervalConfig(_Strict):
    """The 90% interval's scale per tier (riskmodel.interval), used when the panel has no oracle
    to fit it on; measured on the default simulated county."""

    red: float = Field(gt=0)
    amber: float = Field(gt=0)
    green: float = Field(gt=0)


class PromotionConfig(_Strict):
    max_auc_drop_vs_champion: float = Field(0.005, ge=0)
    min_subgroup_recall_ratio: float = Field(0.8, ge=0, le=1)
    min_subgroup_positives: int = Field(
        20, ge=1, description="smaller groups are reported, not judged"
    )


class MonitorConfig(_Strict):
    """Thresholds of the alarm (the `monitor:` section of the run config)."""

    feature_psi: float = Field(
        0.20,
        gt=0,
        description="a feature drifts when its PSI is above this (0.25 is the usual 'large "
        "shift'; 0.20 catches a flood in four of 13 townships, 0.216, while no unshocked batch "
        "2021-2024 of the default county passes 0.14 on a feature judged by PSI)",
    )
    seen_factor: float = Field(
        1.5,
        ge=0,
        description="a feature drifts only beyond this many times the largest year-to-year PSI "
        "of the model's own years (0: the PSI threshold alone)",
    )
    criteria_rise: float = Field(
        0.01,
        gt=0,
        le=1,
        description="rise in the share of households meeting the criteria now (not monitored) "
        "from the year before: a shock shows there first",
    )
    score_psi: float = Field(0.25, gt=0, description="the score's PSI above this: retrain")
    out_of_range: float = Field(
        0.25,
        gt=0,
        le=1,
        description="rise in the share of a feature's values outside the training range "
        "from the reference year (a feature the training years never varied, such as the "
        "share of monitored neighbours before monitoring began, is judged by this rise)",
    )
    missing_increase: float = Field(
        0.05, gt=0, le=1, description="rise in a feature's share of missing values"
    )
    unseen: float = Field(0.01, gt=0, le=1, description="share of categories never trained on")
    auc_drop: float = Field(
        0.03, gt=0, le=1, description="estimated AUC this far below the reference's: retrain"
    )
    recall_drop: float = Field(
        0.05, gt=0, le=1, description="estimated recall at capacity this far below: retrain"
    )
    retrain_features: int = Field(
        3, ge=1, description="this many drifting features: retrain rather than investigate"
    )
    trend_features: list[str] = Field(
        default_factory=lambda: ["years_since_exit"],
        description="features that drift by construction (time since an event): reported, "
        "never an alarm",
    )


class TrainConfig(_Strict):
    """One training run. Every key is documented in training/configs/default.yaml."""

    label: Literal["meets_criteria", "persistent", "relapse", "identified"] = Field(
        MAIN_LABEL, description="the question: picks the target and the registered model"
    )
    data: Path = Path("data/county")
    test_year: int | None = Field(None, description="default: the latest labelled year")
    backtest_from: int = 2017
    select_share: float = Field(0.10, gt=0, lt=1, description="share flagged in each village")
    bootstrap: int = Field(200, ge=0, description="village-cluster bootstrap resamples")
    seed: int = 0
    lightgbm: LightGBMParams = LightGBMParams()
    tiers: TierConfig = TierConfig()
    calibrate_on: Literal["validation_year", "validation_year_and_cross_fit"] = Field(
        "validation_year",
        description="rows the beta calibration is fitted on: the validation year T-1 scored by "
        "the model, and with cross_fit also the training years scored by models fitted without "
        "their village (riskmodel.train.cross_fit_scores)",
    )
    train_with: list[Literal["meets_criteria", "persistent"]] = Field(
        [],
        description="labels whose populations' rows join the training years (only labels that "
        "ask the same of the next year, riskmodel.labels.NEXT_YEAR_CRITERIA); early stopping, "
        "calibration and evaluation stay on the label's own population",
    )
    train_with_share: float = Field(
        1.0,
        gt=0,
        le=1,
        description="share of the train_with populations' households drawn (seeded by `seed`) "
        "into the training rows, all of each drawn household's years",
    )
    draws: int = Field(
        1,
        ge=1,
        le=16,
        description="boosters averaged into the model, each learning from its own draw of "
        "train_with_share of the train_with households and seeded seed, seed+1, ... "
        "(riskmodel.train.averaged_booster)",
    )
    soft_label_sd: float = Field(
        0.0,
        ge=0,
        le=2,
        description="0: the booster learns the label itself; above 0, it learns the soft label "
        "Phi(-margin / sd) of the household's margin to the label's threshold at t+1 "
        "(riskmodel.labels.soft_label; `identified`, which has no threshold, always learns its "
        "0/1); early stopping, calibration and evaluation stay on the label",
    )
    interval: IntervalConfig | None = Field(
        None, description="interval scales without an oracle (none: no interval)"
    )
    promotion: PromotionConfig = PromotionConfig()
    criteria: CriteriaConfig = CriteriaConfig()
    monitor: MonitorConfig = MonitorConfig()
    experiment: str = "relapse-risk"
    registered_model: str | None = Field(
        None, description="follows from the label; may be given only as that same name"
    )

    @model_validator(mode="after")
    def _train_with_asks_the_same(self) -> TrainConfig:
        for other in self.train_with:
            if other == self.label or self.label not in NEXT_YEAR_CRITERIA:
                raise ValueError(
                    f"train_with {other!r} cannot join a {self.label} model: only the labels "
                    f"{' and '.join(NEXT_YEAR_CRITERIA)}, which both ask whether the criteria "
                    "are met at t+1, may learn from each other's rows"
                )
        return self

    @model_validator(mode="after")
    def _soft_labels_are_not_weighted(self) -> TrainConfig:
        if self.soft_label_sd > 0 and self.lightgbm.scale_pos_weight != 1:
            raise ValueError(
                "lightgbm.scale_pos_weight has no effect on soft labels (LightGBM's cross-entropy "
                "objective ignores it): set it to 1, or soft_label_sd to 0"
            )
        return self

    @model_validator(mode="after")
    def _model_name_follows_label(self) -> TrainConfig:
        expected = registered_model_name(self.label)
        if self.registered_model is None:
            self.registered_model = expected
        elif self.registered_model != expected:
            raise ValueError(
                f"registered_model {self.registered_model!r} does not belong to label "
                f"{self.label!r}: a {self.label} model registers as {expected!r} (leave the key "
                "out to follow the label)"
            )
        return self


class ConfigError(ValueError):
    """A run config that cannot be used: each problem with its file, line and a suggestion."""


def load_train_config(path: Path | None = None, **overrides: object) -> TrainConfig:
    """Read a YAML run config (missing keys take the documented defaults)."""
    raw: dict = {}
    node = None
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such config: {path}")
        text = path.read_text(encoding="utf-8")
        try:
            node = yaml.compose(text)
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{where}: not valid YAML: {problem}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        problems = sorted((_explain(e, path, node) for e in exc.errors()), key=lambda p: p[0])
        raise ConfigError("\n".join(msg for _, msg in problems)) from None


def _explain(error: dict, path: Path | None, node: yaml.Node | None) -> tuple[int, str]:
    """One validation error as `file:line: key: message`, with the nearest valid key for a typo."""
    import difflib

    loc = [str(p) for p in error["loc"]]
    line = _line_of(node, loc)
    where = f"{path}:{line}" if path is not None and line else str(path or "config")
    msg = f"{where}: {'.'.join(loc)}: {error['msg']}"
    if error["type"] == "extra_forbidden":
        allowed = list(_model_at(loc[:-1]).model_fields)
        near = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.5)
        msg += f" (did you mean {near[0]!r}?)" if near else f" (known keys: {', '.join(allowed)})"
    return line or 0, msg


def _model_at(loc: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = TrainConfig
    for key in loc:
        field = model.model_fields.get(key)
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            break
        model = field.annotation
    return model


def _line_of(node: yaml.Node | None, loc: list[str]) -> int | None:
    """The 1-based line of the key at `loc` in the composed YAML document."""
    line = None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            return line
        for k, v in node.value:
            if k.value == key:
                line, node = k.start_mark.line + 1, v
                break
        else:
            return line
    return line


class Settings(BaseSettings):
    """Service settings from RISKMODEL_* environment variables (embedded defaults: SQLite)."""

    model_config = SettingsConfigDict(env_prefix="RISKMODEL_", extra="ignore")

    db_url: str = "sqlite:///data/riskmodel.db"
    model_uri: str = "models:/relapse-risk@champion"
    persistent_model_uri: str = Field(
        "models:/relapse-risk-persistent@champion",
        description="monitored households' model; optional ('' turns it off)",
    )
    reload_interval_s: float = Field(0, ge=0, description="poll the alias; 0 turns polling off")
    max_body_bytes: int = Field(2_000_000, ge=1024)
    host: str = "127.0.0.1"
    port: int = 8000
    key_cache_ttl_s: float = Field(
        10.0, ge=0, description="verified keys are re-read after this: the revocation bound"
    )
    key_cache_size: int = Field(10_000, ge=1, description="verified keys held in memory (LRU)")
    rate_per_key: float = Field(100.0, gt=0, description="requests per second per API key")
    rate_per_address: float = Field(
        200.0, gt=0, description="requests per second per client address (before the key check)"
    )
    rate_burst_s: float = Field(
        2.0, gt=0, description="a client may burst this many seconds' worth of requests"
    )
    metrics_token: str | None = Field(
        None,
        description="bearer token that may read /metrics and /ready in full besides admin keys",
    )
    panel: Path | None = Field(
        None,
        description="panel (folder or file) whose last years give history to households sent to "
        "POST /v1/scores without theirs (`serve --data`); none: no history but the request's",
    )
    session_hours: float = Field(8.0, gt=0, description="a web app sign-in lasts this long")
    sign_in_per_minute: float = Field(
        5.0, gt=0, description="sign-in attempts per minute per account name (six per address)"
    )


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or SQLite `mlflow.db` in the working directory (the project root)."""
    import os

    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
