"""Out-of-time training: fit on years <= T-2, early-stop and calibrate on T-1, test on T.

The booster learns the label, or with `soft_label_sd` its soft value (riskmodel.labels.soft_label).
With `calibrate_on: validation_year_and_cross_fit` (both shipped configs) the calibration is
fitted on the training years as well, each row scored by a model fitted without its village
(`cross_fit_scores`). `fit_model` never sees the oracle. `evaluate` compares the fitted model with
the official rule, logistic regression, the village's past rate, the carried-forward status and,
when the data folder has one, the simulator's oracle, all on exactly the same test rows.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from riskmodel import evaluate as ev
from riskmodel import stability
from riskmodel.calibrate import calibration_table, fit_beta, table_metrics
from riskmodel.catalogue import FEATURE_NAMES
from riskmodel.config import TrainConfig
from riskmodel.criteria import CriteriaConfig
from riskmodel.features import build_features
from riskmodel.interval import coverage, fit_scales, logit_sd
from riskmodel.io import panel_file, read_panel
from riskmodel.labels import (
    LABEL_NEEDS,
    POPULATIONS,
    add_labels,
    learns_soft,
    soft_label,
    supported_labels,
)
from riskmodel.model import Meta, RelapseModel, Tiers, categorical_levels, feature_matrix
from riskmodel.support import fit_support
from riskmodel.validate import validate_panel
from riskmodel.visits import VISITS_FILE, check_against_visits

log = logging.getLogger(__name__)

ORACLE_FILE = "oracle.parquet"


class DataError(ValueError):
    """The training data cannot support the requested run."""


def load_panel(data: Path) -> tuple[pd.DataFrame, str]:
    """Read and validate the panel (a folder's panel.parquet or .csv, or a file; the catalogue's
    columns it has: an imported panel may lack all but the required ones); return it with the
    SHA-256 digest of the file."""
    path = panel_file(data)
    panel = read_panel(path)
    result = validate_panel(panel, source=path)
    if not result.ok:
        raise DataError(
            f"{path} has invalid rows; run `riskmodel validate {path} --quarantine "
            f"OUT` first.\n{result.report(limit=5)}"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return result.valid, digest


def labelled_records(
    panel: pd.DataFrame,
    label: str,
    criteria: CriteriaConfig | None = None,
    train_with: Sequence[str] = (),
    soft_sd: float = 0.0,
) -> pd.DataFrame:
    """Model input records with the label attached: exactly the label's population (rows where
    the label is undefined are left out). With `train_with` (labels of NEXT_YEAR_CRITERIA), the
    rows of those labels' populations follow, their own label's value under `label` and
    `POOLED` True: rows the booster may learn from, never early-stopped, calibrated or evaluated
    on (see `split_by_year`). With `soft_sd` > 0 and a label of SOFT_LABELS, column `SOFT`
    holds every row's soft label (riskmodel.labels.soft_label), which the booster learns from
    instead."""
    if label not in supported_labels(panel.columns):
        lacking = [c for c in LABEL_NEEDS[label] if c not in panel.columns]
        raise DataError(
            f"the panel cannot carry label {label!r}: it lacks {', '.join(lacking)}; "
            f"labels it supports: {', '.join(supported_labels(panel.columns)) or 'none'}"
        )
    records = build_features(panel)
    labels = add_labels(panel, criteria)
    soft = learns_soft(label, soft_sd)
    parts = []
    for name in (label, *train_with):
        if name not in labels:
            raise DataError(f"the panel lacks the columns label {name!r} needs")
        value = labels[name]
        part = records[value.notna().to_numpy()].copy()
        part[label] = value[value.notna()].astype(bool).to_numpy()
        if soft:
            part[SOFT] = soft_label(panel, name, soft_sd, criteria)[value.notna()].to_numpy()
        if train_with:
            part[POOLED] = name != label
        parts.append(part)
    return (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )


def training_records(panel: pd.DataFrame, cfg: TrainConfig) -> pd.DataFrame:
    """The run's labelled records: its label's population and the rows `cfg.train_with` draws."""
    records = labelled_records(panel, cfg.label, cfg.criteria, cfg.train_with, cfg.soft_label_sd)
    if cfg.train_with and cfg.train_with_share < 1:
        records = drawn_households(records, cfg.train_with_share, cfg.seed, cfg.draws)
    return records


def drawn_households(
    records: pd.DataFrame, share: float, seed: int, draws: int = 1
) -> pd.DataFrame:
    """The label's own rows and, of the `POOLED` rows, those of `share` of their households
    (drawn with `seed`; every year of a drawn household). With `draws` > 1, draw j is seeded
    `seed + j`, the rows of any draw are kept and column `DRAWS` marks which draws hold each
    row (bit j; own rows hold every bit)."""
    pooled = records[POOLED].to_numpy(bool)
    households = np.sort(records.loc[pooled, "hh_id"].unique())
    bits = np.where(pooled, 0, (1 << draws) - 1)
    for j in range(draws):
        rng = np.random.default_rng(seed + j)
        drawn = rng.permutation(households)[: round(share * len(households))]
        bits |= np.where(pooled & records["hh_id"].isin(drawn).to_numpy(), 1 << j, 0)
    keep = bits > 0
    out = records[keep]
    if draws > 1:
        out = out.assign(**{DRAWS: bits[keep]})
    return out.reset_index(drop=True)


POOLED = "pooled"
"""Column of records from `train_with` populations: True on rows of another population."""
DRAWS = "draws"
"""Bit mask of the draws of `train_with` households a row belongs to (`drawn_households`)."""
SOFT = "soft_label"
"""Column of the soft label the booster learns from when the run config sets `soft_label_sd`."""


@dataclass
class Split:
    test_year: int
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    extra: pd.DataFrame | None = None
    """Rows of the `train_with` populations in the training years: the booster learns from
    them too; nothing else reads them."""

    def fit_rows(self) -> pd.DataFrame:
        """What the booster learns from: the training years, then `extra` when there is any
        (`cross_fit_scores` and the support read the training years' rows first)."""
        if self.extra is None or self.extra.empty:
            return self.train
        return pd.concat([self.train, self.extra], ignore_index=True)


def split_by_year(records: pd.DataFrame, test_year: int | None) -> Split:
    own = records
    extra = None
    if POOLED in records:
        pooled = records[POOLED].to_numpy(bool)
        own, extra = records[~pooled], records[pooled]
    years = sorted(own["year"].unique())
    T = test_year if test_year is not None else int(years[-1])
    if T not in years or T - 1 not in years or not any(y <= T - 2 for y in years):
        raise DataError(
            f"test year {T} needs labelled rows for {T}, {T - 1} and before; "
            f"labelled years are {years[0]}-{years[-1]}"
        )
    y = own["year"]
    return Split(
        T,
        own[y <= T - 2],
        own[y == T - 1],
        own[y == T],
        None if extra is None else extra[extra["year"] <= T - 2],
    )


def _params(cfg: TrainConfig) -> dict:
    p = cfg.lightgbm
    return {
        "objective": "binary",
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "max_depth": p.max_depth,
        "min_child_samples": p.min_child_samples,
        "feature_fraction": p.feature_fraction,
        "bagging_fraction": p.bagging_fraction,
        "bagging_freq": p.bagging_freq,
        "lambda_l2": p.lambda_l2,
        "scale_pos_weight": p.scale_pos_weight,
        "num_threads": p.num_threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def model_features(records: pd.DataFrame) -> list[str]:
    """The catalogue's features the records carry (all of them unless the panel was partial)."""
    return [n for n in FEATURE_NAMES if n in records.columns]


def _dataset(
    rec: pd.DataFrame, label: str, levels: dict, ref: lgb.Dataset | None = None, soft: bool = False
):
    """The rows as a LightGBM dataset of `label`, or of the soft label (`SOFT`) with `soft`."""
    features = model_features(rec)
    X = feature_matrix(rec, features, levels)
    cat_idx = [i for i, n in enumerate(features) if n in levels]
    return lgb.Dataset(
        X,
        rec[SOFT].to_numpy(float) if soft else rec[label].to_numpy(int),
        feature_name=features,
        categorical_feature=cat_idx,
        reference=ref,
        free_raw_data=False,
    )


CROSS_FIT_FOLDS = 10
"""Village folds of `cross_fit_scores`."""


def _booster(train: pd.DataFrame, valid: pd.DataFrame, cfg: TrainConfig, levels: dict):
    """LightGBM on `train`, early-stopped on `valid`, trimmed to the best iteration; with
    `cfg.draws` > 1, the average of one such booster per draw (`averaged_booster`), each on the
    rows of its draw and seeded `cfg.seed + j`. The datasets returned are the first draw's.
    With soft labels (`SOFT` in `train`) the objective is cross-entropy, LightGBM's binary
    log-loss for labels in [0, 1] (the same log-odds link); `valid` keeps its 0/1 labels."""
    members, first = [], None
    soft = SOFT in train
    objective = "cross_entropy" if soft else "binary"
    for j in range(cfg.draws):
        rows = train if DRAWS not in train else train[(train[DRAWS].to_numpy() >> j) & 1 == 1]
        dtrain = _dataset(rows, cfg.label, levels, soft=soft)
        dvalid = _dataset(valid, cfg.label, levels, ref=dtrain)
        booster = lgb.train(
            _params(cfg) | {"seed": cfg.seed + j, "objective": objective},
            dtrain,
            num_boost_round=cfg.lightgbm.max_rounds,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(cfg.lightgbm.early_stopping_rounds, verbose=False)],
        )
        members.append(booster if booster.best_iteration <= 0 else _trim(booster))
        first = first or (dtrain, dvalid)
    booster = members[0] if len(members) == 1 else averaged_booster(members)
    return booster, *first


def averaged_booster(boosters: list[lgb.Booster]) -> lgb.Booster:
    """One booster whose raw score is the mean of `boosters`' (same features): their trees one
    after another, each leaf's value divided by their number, and the learning rate with it, so
    the leaf variances TreeShap reads (η²H/(H+λ)², riskmodel.interval) are those of the mean.
    Everything else that reads a booster (TreeSHAP, saving, the scorer) sees one model."""
    k = len(boosters)
    texts = [b.model_to_string() for b in boosters]
    head = re.sub(r"\ntree_sizes=[^\n]*", "", texts[0].split("\nTree=", 1)[0])
    tail = texts[0][texts[0].index("\nend of trees") :].lstrip("\n")
    tail = re.sub(
        r"\[learning_rate: ([^\]]+)\]", lambda m: f"[learning_rate: {float(m[1]) / k!r}]", tail
    )
    trees = []
    for text in texts:
        for block in text.split("\nend of trees", 1)[0].split("\nTree=")[1:]:
            lines = []
            for line in block.strip("\n").split("\n")[1:]:
                key, eq, value = line.partition("=")
                if eq and key in ("leaf_value", "internal_value", "shrinkage"):
                    value = " ".join(repr(float(v) / k) for v in value.split())
                lines.append(f"{key}{eq}{value}")
            trees.append("\n".join(lines))
    body = "".join(f"\nTree={i}\n{tree}\n\n" for i, tree in enumerate(trees))
    return lgb.Booster(model_str=head + body + tail)


def cross_fit_scores(split: Split, cfg: TrainConfig, levels: dict) -> np.ndarray:
    """Raw scores of the training rows, each from a model fitted as the final one (same
    parameters and rows, early-stopped on T-1) but without the row's village (CROSS_FIT_FOLDS
    folds of villages, seeded by the run's seed): scores of households the model did not learn
    from, so the calibration can be fitted on the training years as well as on T-1. Whole
    villages are held out because a household recurs across years and its neighbours share its
    shocks; a village's `extra` rows are held out with it."""
    fit_rows = split.fit_rows()
    village = fit_rows["village_id"].astype(str)
    names = np.array(sorted(village.unique()))
    np.random.default_rng(cfg.seed).shuffle(names)
    fold = village.map(
        dict(zip(names, np.arange(len(names)) % CROSS_FIT_FOLDS, strict=True))
    ).to_numpy()
    own = fold[: len(split.train)]
    features = model_features(split.train)
    raw = np.zeros(len(split.train))
    for k in range(CROSS_FIT_FOLDS):
        booster, _, _ = _booster(fit_rows[fold != k], split.valid, cfg, levels)
        held = own == k
        raw[held] = booster.predict(
            feature_matrix(split.train[held], features, levels), raw_score=True
        )
    return raw


def fit_model(split: Split, cfg: TrainConfig, cross_fit: bool = True) -> tuple[RelapseModel, dict]:
    """LightGBM on the training years, early-stopped on T-1 and beta-calibrated on the rows
    `cfg.calibrate_on` names. `cross_fit=False` calibrates on T-1 alone whatever the config says
    (a backtest fold needs only the raw score, not the cross-fitted models)."""
    label = cfg.label
    for name, part in (("training", split.train), ("validation", split.valid)):
        if part[label].nunique() < 2:
            raise DataError(
                f"the {name} years have no {'positive' if not part[label].any() else 'negative'} "
                f"'{label}' labels"
            )
    features = model_features(split.train)
    levels = categorical_levels(features)
    t0 = time.perf_counter()
    booster, dtrain, dvalid = _booster(split.fit_rows(), split.valid, cfg, levels)
    fit_s = time.perf_counter() - t0
    raw = booster.predict(dvalid.get_data(), raw_score=True)
    y = split.valid[label].to_numpy(int)
    calibrated_on = f"{len(y):,} rows of the validation year"
    if cross_fit and cfg.calibrate_on == "validation_year_and_cross_fit":
        raw = np.concatenate([cross_fit_scores(split, cfg, levels), raw])
        y = np.concatenate([split.train[label].to_numpy(int), y])
        calibrated_on += (
            f" and {len(split.train):,} of the training years scored by models fitted "
            f"without their village ({CROSS_FIT_FOLDS} folds)"
        )
    meta = Meta(
        features=features,
        levels=levels,
        calibration=fit_beta(raw, y),
        tiers=Tiers(cfg.tiers.red, cfg.tiers.amber),
        label=label,
        criteria=cfg.criteria.model_dump(),
        # the population's own rows (first in `fit_rows`): another's would make it look rare
        support=fit_support(dtrain.get_data()[: len(split.train)], features, levels),
        interval=(
            {"scales": cfg.interval.model_dump(), "fitted_on": "the configuration"}
            if cfg.interval is not None
            else {}
        ),
        calibrated_on=calibrated_on,
    )
    info = {
        "best_iteration": booster.current_iteration(),
        "fit_seconds": fit_s,
        "n_train": len(split.train),
        "n_train_with": 0 if split.extra is None else len(split.extra),
        "n_valid": len(split.valid),
        "n_test": len(split.test),
        "train_years": f"{split.train['year'].min()}-{split.train['year'].max()}",
        "features_absent": [n for n in FEATURE_NAMES if n not in features],
        "calibrated_on": calibrated_on,
    }
    return RelapseModel(booster, meta), info


def _trim(booster: lgb.Booster) -> lgb.Booster:
    """Keep only the trees up to the best iteration, so every consumer scores the same model."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))


def backtest(records: pd.DataFrame, cfg: TrainConfig) -> pd.DataFrame:
    """Rolling origin, each fold built as the model itself is: for each year t from
    backtest_from, fit on years <= t-2, choose the rounds by early stopping on t-1, test on t.
    Nothing from t or later shapes a fold (no rounds carried over from the final model)."""
    label = cfg.label
    rows = []
    start = max(cfg.backtest_from, int(records["year"].min()) + 2)
    for t in range(start, int(records["year"].max()) + 1):
        try:
            fold = split_by_year(records, t)
        except DataError:
            continue
        if any(part[label].nunique() < 2 for part in (fold.train, fold.valid, fold.test)):
            continue
        model, info = fit_model(fold, cfg, cross_fit=False)
        score = model.booster.predict(model.matrix(fold.test), raw_score=True)
        rows.append(
            {
                "year": t,
                "n": len(fold.test),
                "positives": int(fold.test[label].sum()),
                "rounds": info["best_iteration"],
                "roc_auc": roc_auc_score(fold.test[label].astype(int), score),
            }
        )
    return pd.DataFrame(rows, columns=["year", "n", "positives", "rounds", "roc_auc"])


# --- evaluation --------------------------------------------------------------------------------


def oracle_column(label: str) -> str:
    return f"p_{label}"


def _data_folder(data: Path) -> Path:
    return Path(data) if Path(data).is_dir() else Path(data).parent


def load_oracle(data_dir: Path, label: str) -> pd.DataFrame | None:
    """The simulator's exact probability of the label (`p_<label>`), for evaluation only; None
    for real data or an oracle without that column."""
    path = _data_folder(data_dir) / ORACLE_FILE
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    column = oracle_column(label)
    if column not in pq.read_schema(path).names:
        log.warning("%s has no %s column: the oracle comparison is skipped", path, column)
        return None
    return pd.read_parquet(path, columns=["hh_id", "year", column]).rename(columns={column: "p"})


def oracle_note(data_dir: Path, label: str, available: bool) -> str:
    """Why the oracle is or is not in the comparison (for the metrics and the card)."""
    if available:
        return (
            f"oracle: {oracle_column(label)} from {ORACLE_FILE} (the simulator's exact probability)"
        )
    if not (Path(data_dir) / ORACLE_FILE).exists():
        return f"no oracle: {ORACLE_FILE} is absent (real data); the limit is unknown"
    return (
        f"no oracle: {ORACLE_FILE} has no {oracle_column(label)} column (or lacks test rows); "
        "the limit is not measured"
    )


@dataclass
class Evaluation:
    metrics: dict[str, float]
    scores: dict[str, np.ndarray]
    """Test-row scores by model: ours, each baseline, and the oracle when available."""
    subgroups: pd.DataFrame
    y: np.ndarray
    flagged: np.ndarray
    extra: dict = field(default_factory=dict)


def _on_oracle(rows: pd.DataFrame, oracle: pd.DataFrame) -> np.ndarray | None:
    """The oracle's probability of each row (None unless it has every row)."""
    o = rows[["hh_id", "year"]].merge(oracle, on=["hh_id", "year"], how="left")
    return None if o["p"].isna().any() else o["p"].to_numpy()


def _scored(model: RelapseModel, rows: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Raw score, its variance and the calibrated probability of each row."""
    contrib, variance = model.contributions_and_variance(model.matrix(rows))
    raw = contrib.sum(axis=1)
    return raw, variance, model.calibrate(raw)


def fit_interval(model: RelapseModel, rows: pd.DataFrame, oracle: pd.DataFrame) -> dict | None:
    """The interval's scale per tier fitted on the oracle of `rows` (the calibration year):
    see riskmodel.interval. None when the oracle lacks rows."""
    truth = _on_oracle(rows, oracle)
    if truth is None:
        return None
    raw, variance, prob = _scored(model, rows)
    sd = logit_sd(raw, variance, model.meta.calibration)
    scales = fit_scales(prob, sd, truth, model.meta.tiers.assign(prob))
    year = int(rows["year"].max())
    return {"scales": scales, "fitted_on": f"the simulator's oracle, {year}"}


def interval_metrics(model: RelapseModel, rows: pd.DataFrame, truth: np.ndarray) -> dict:
    """Coverage of the oracle by the 90% intervals per tier, and the median width."""
    raw, variance, prob = _scored(model, rows)
    tiers = model.meta.tiers.assign(prob)
    low, high = model.bounds(raw, variance, prob, tiers)
    out = {
        f"oracle_test_interval_coverage_{k}": v
        for k, v in coverage(low, high, truth, tiers).items()
    }
    out["oracle_test_interval_width_median"] = float(np.nanmedian(high - low))
    return out


def evaluate(
    model: RelapseModel,
    split: Split,
    panel: pd.DataFrame,
    cfg: TrainConfig,
    oracle: pd.DataFrame | None = None,
    champion: RelapseModel | None = None,
) -> Evaluation:
    label, test = cfg.label, split.test
    y = test[label].to_numpy(int)
    village = test["village_id"].astype(str).to_numpy()
    scores = {"ours": model.predict_proba(test)}
    scores["rule"] = ev.rule_score(test)
    fit_rows = pd.concat([split.train, split.valid])
    pipe = ev.logistic_baseline(
        split.train, split.train[label].to_numpy(int), model.features, cfg.seed
    )
    scores["logreg"] = ev.logistic_predict(pipe, test, model.features)
    scores["village"] = ev.village_rate_score(fit_rows, label, test)
    scores["carry"] = ev.carry_score(test, cfg.criteria)
    if oracle is not None:
        o = test[["hh_id", "year"]].merge(oracle, on=["hh_id", "year"], how="left")
        if o["p"].notna().all():
            scores["oracle"] = o["p"].to_numpy()
        else:
            log.warning("oracle lacks %d test rows; oracle comparison skipped", o["p"].isna().sum())
    population = population_text(label, split.test_year, len(test))
    out: dict[str, float] = {}
    for name, score in scores.items():
        prefix = "" if name == "ours" else f"{name}_"
        m = ev.metrics(y, score, village, cfg.select_share, cfg.seed)
        out |= {f"{prefix}test_{k}": v for k, v in m.items()}
        for k, (lo, hi) in ev.bootstrap_intervals(
            y, score, village, cfg.select_share, cfg.bootstrap, cfg.seed
        ).items():
            out[f"{prefix}test_{k}_ci_low"], out[f"{prefix}test_{k}_ci_high"] = lo, hi
    if "oracle" in scores and model.meta.interval:
        out |= interval_metrics(model, test, scores["oracle"])
    if champion is not None:
        theirs = champion.predict_proba(test)
        out["champion_test_roc_auc"] = float(roc_auc_score(y, theirs))
        out |= stability.metrics(
            stability.compare(
                stability.ranks(
                    test, theirs, champion.meta.tiers.assign(theirs), cfg.select_share, cfg.seed
                ),
                stability.ranks(
                    test,
                    scores["ours"],
                    model.meta.tiers.assign(scores["ours"]),
                    cfg.select_share,
                    cfg.seed,
                ),
            ),
            "champion_",
        )
    flagged = ev.flag_top_share(scores["ours"], village, cfg.select_share, cfg.seed)
    rows = test[["hh_id", "year"]].merge(panel, on=["hh_id", "year"], how="left")
    subgroups = ev.subgroup_table(
        y,
        scores["ours"],
        flagged,
        ev.subgroup_frame(rows),
        cfg.promotion.min_subgroup_positives,
        cfg.promotion.min_subgroup_recall_ratio,
    )
    subgroups.insert(0, "population", population)
    judged = subgroups[subgroups["judged"]]
    out["subgroup_min_recall_ratio"] = float(judged["recall_ratio"].min()) if len(judged) else 1.0
    out["subgroup_failures"] = float((subgroups["status"] == "fails").sum())
    out["test_positive_rate"] = float(y.mean())
    out["test_mean_probability"] = float(scores["ours"].mean())
    out["test_population_size"] = float(len(test))
    calibration = calibration_table(
        scores["ours"],
        y,
        model.meta.tiers.assign(scores["ours"]),
        test["township_id"].astype(str).to_numpy(),
        scores.get("oracle"),
    )
    out |= table_metrics(calibration, "test_")
    extra = {
        "population": population,
        "oracle_note": oracle_note(cfg.data, label, "oracle" in scores),
        "calibration": calibration,
    }
    visits_path = _data_folder(cfg.data) / VISITS_FILE
    if visits_path.exists():  # cadres' verification visits as an extra label (with its caution)
        checked = check_against_visits(test, scores["ours"], visits_path)
        extra["visits_note"] = checked.pop("visits_note")
        out |= checked
    return Evaluation(
        metrics=out, scores=scores, subgroups=subgroups, y=y, flagged=flagged, extra=extra
    )


def population_text(label: str, year: int, n: int) -> str:
    """Which household-years a figure covers, in words."""
    return f"{label}: {POPULATIONS[label]} ({n:,} household-years of {year})"


@dataclass
class TrainResult:
    model: RelapseModel
    split: Split
    evaluation: Evaluation
    backtest: pd.DataFrame
    info: dict
    data_digest: str
    config: TrainConfig


def run_training(cfg: TrainConfig, champion: RelapseModel | None = None) -> TrainResult:
    """Load, fit, backtest and evaluate; no MLflow here (see riskmodel.registry)."""
    t0 = time.perf_counter()
    panel, digest = load_panel(cfg.data)
    records = training_records(panel, cfg)
    split = split_by_year(records, cfg.test_year)
    model, info = fit_model(split, cfg)
    oracle = load_oracle(cfg.data, cfg.label)
    if oracle is not None:
        fitted = fit_interval(model, split.valid, oracle)
        if fitted is not None:
            model.meta.interval = fitted
    bt = backtest(records[records["year"] <= split.test_year], cfg)
    evaluation = evaluate(model, split, panel, cfg, oracle, champion)
    info["total_seconds"] = time.perf_counter() - t0
    log.info("trained %s model in %.1f s", cfg.label, info["total_seconds"])
    return TrainResult(model, split, evaluation, bt, info, digest, cfg)
