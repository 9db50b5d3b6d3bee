"""Configuration: training runs from YAML (validated, unknown keys refused); services from env."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from riskmodel.criteria import CriteriaConfig
from riskmodel.labels import MAIN_LABEL, registered_model_name

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


class PromotionConfig(_Strict):
    max_auc_drop_vs_champion: float = Field(0.005, ge=0)
    min_subgroup_recall_ratio: float = Field(0.8, ge=0, le=1)
    min_subgroup_positives: int = Field(
        20, ge=1, description="smaller groups are reported, not judged"
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
    promotion: PromotionConfig = PromotionConfig()
    criteria: CriteriaConfig = CriteriaConfig()
    experiment: str = "relapse-risk"
    registered_model: str | None = Field(
        None, description="follows from the label; may be given only as that same name"
    )

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


def load_train_config(path: Path | None = None, **overrides: object) -> TrainConfig:
    """Read a YAML run config (missing keys take the documented defaults)."""
    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such config: {path}")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of settings")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.model_validate(raw)


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


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or SQLite `mlflow.db` in the working directory (the project root)."""
    import os

    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
