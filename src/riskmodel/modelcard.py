"""The model card of a trained version, generated from its run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.catalogue import DIMENSIONS, FEATURES
from riskmodel.evaluate import METRICS, MODEL_NAMES
from riskmodel.labels import POPULATIONS, learns_soft
from riskmodel.stability import LOW_OVERLAP

INTENDED_USE = """\
**Intended use.** Answer one question of the monitoring office for one population (the label
below): for households not yet monitored, the probability of meeting the 纳入条件 (income, rigid
spending, a guarantee or water failure, a sudden severe hardship) by the next sweep, so that village
cadres visit the most at-risk households first; for monitored households, the probability that the
risk is still there in a year, so that 风险消除 is not marked too early. Each score is explained in
the six checks' terms. Households that meet the criteria now get no probability: they are to be
verified and enrolled (应纳尽纳). It supports, and never replaces, the identification procedure
(household check, data comparison, village review, public notice, township and county approval).

**Misuse.** Do not use the score to deny or withdraw support, to set quotas on who may be
monitored (households with any official rule flag are always listed), to judge individual cadres,
or on populations unlike the training county without re-evaluation. Sex and ethnicity of the
household head are audit-only: they are used to check the model, never as inputs."""

LIMITATIONS = """\
**Limitations.** Trained and tested on a simulated county calibrated to published figures; on real
exports it must be re-evaluated before use. The criteria labels are computed from the panel's
columns (riskmodel.criteria), so hardship the export does not record is not seen. Monitoring status and
public-welfare jobs are partly outcomes of earlier assistance (treatment), so their contributions
describe association, not the effect of support. Subgroups with few positives are reported but
cannot be judged reliably."""


def _fmt(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def model_card(result, version: str | None = None, run_id: str | None = None) -> str:
    m, info, cfg = result.evaluation.metrics, result.info, result.config
    T = result.split.test_year
    extra = result.evaluation.extra
    lines = [
        f"# Model card: {cfg.registered_model} (label `{cfg.label}`)"
        + (f", version {version}" if version else ""),
        "",
        f"run `{run_id}`" if run_id else "",
        "",
        INTENDED_USE,
        "",
        f"**Population.** Every figure below covers {POPULATIONS[cfg.label]}: the household-years "
        f"where label `{cfg.label}` is defined (training, validation and test alike); test "
        f"figures cover {extra.get('population', '')}.",
        "",
        "## Data",
        "",
        f"- panel digest `{result.data_digest[:16]}…` ({cfg.data})",
        f"- training years {info['train_years']} ({info['n_train']:,} household-years"
        + (
            f", with {info['n_train_with']:,} of {' and '.join(cfg.train_with)}'s population, "
            "which asks the same of the next year"
            if info.get("n_train_with")
            else ""
        )
        + "); early "
        f"stopping on {T - 1} ({info['n_valid']:,}); test {T} "
        f"({info['n_test']:,}, positive rate {m['test_positive_rate']:.2%})",
        f"- LightGBM, {info['best_iteration']} trees"
        + (
            f" learning soft labels (sd {cfg.soft_label_sd} of the margin at t+1)"
            if learns_soft(cfg.label, cfg.soft_label_sd)
            else ""
        )
        + f", beta calibration on {info.get('calibrated_on', 'the validation year')}; "
        f"label `{cfg.label}`",
        "",
        "## Features by 六看 dimension",
        "",
        "| dimension | features |",
        "|---|---|",
    ]
    by_dim: dict[str, list[str]] = {}
    for name in result.model.features:
        by_dim.setdefault(FEATURES[name].dimension or "—", []).append(
            f"{FEATURES[name].label_zh} ({name})"
        )
    for dim, names in by_dim.items():
        label = f"{DIMENSIONS[dim][0]} {DIMENSIONS[dim][1]}" if dim in DIMENSIONS else dim
        lines.append(f"| {label} | {', '.join(names)} |")
    absent = info.get("features_absent", [])
    if absent:
        lines += [
            "",
            f"Left out because the data lacks their inputs ({len(absent)}): "
            + ", ".join(absent)
            + ". The model scores only records that carry its own features.",
        ]
    lines += [
        "",
        f"## Test-year metrics ({T}) against baselines",
        "",
        f"On {extra.get('population', '')}; every baseline on exactly these rows. "
        f"{extra.get('oracle_note', '')}."
        + (f" Checked against {extra['visits_note']}." if extra.get("visits_note") else ""),
        "",
        "| model | " + " | ".join(METRICS) + " | AUC 95% CI | recall 95% CI |",
        "|---" * (len(METRICS) + 3) + "|",
    ]
    for prefix, name in MODEL_NAMES.items():
        if f"{prefix}test_roc_auc" not in m:
            continue
        vals = " | ".join(_fmt(m.get(f"{prefix}test_{k}")) for k in METRICS)
        ci = [
            f"{_fmt(m.get(f'{prefix}test_{k}_ci_low'))}-{_fmt(m.get(f'{prefix}test_{k}_ci_high'))}"
            for k in ("roc_auc", "recall_at_10pct_village")
        ]
        lines.append(f"| {name} | {vals} | {ci[0]} | {ci[1]} |")
    if "champion_test_roc_auc" in m:
        lines += [
            "",
            f"Champion in service on the same rows: ROC-AUC {m['champion_test_roc_auc']:.3f}.",
        ]
        if "champion_tier_changed_share" in m:
            lines.append(
                f"If this model replaced it: {m['champion_tier_changed_share']:.1%} of the test "
                "year's households would change tier, and each village's worklist (its top "
                f"{cfg.select_share:.0%}) would overlap the champion's by "
                f"{m['champion_worklist_overlap_mean']:.2f} on average (households on both over "
                f"households on either; lowest {m['champion_worklist_overlap_min']:.2f}, "
                f"{m['champion_villages_below_overlap']:.0f} villages below {LOW_OVERLAP})."
            )
    lines += [
        "",
        "Operating point: the top "
        f"{cfg.select_share:.0%} of households by score in every village (cadres' capacity).",
        "",
        "## Calibration",
        "",
        f"ECE {m['test_ece']:.4f} (10 equal-frequency bins), Brier {m['test_brier']:.4f}; "
        f"mean predicted {m['test_mean_probability']:.2%} vs observed "
        f"{m['test_positive_rate']:.2%}. Tiers: red ≥ {cfg.tiers.red:.0%}, amber ≥ "
        f"{cfg.tiers.amber:.0%}.",
        "",
        "Where decisions are made: each tier, the top 1/2/5/10% of the test year by probability "
        "and each township, the mean predicted probability beside the observed rate"
        + (
            " and the oracle's mean (`predicted_vs_oracle`: relative difference)"
            if "oracle" in result.evaluation.scores
            else ""
        )
        + ".",
        "",
        _markdown(extra["calibration"]) if "calibration" in extra else "",
        "",
        _interval_text(result.model.meta.interval, m),
        "",
        "## Subgroups at the operating point",
        "",
        f"Population: {extra.get('population', '')}.",
        "",
    ]
    sg = result.evaluation.subgroups
    lines.append(_markdown(sg.drop(columns="population", errors="ignore")))
    lines += [
        "",
        "Status: `fails` when even the upper end of the 95% recall interval is below "
        f"{cfg.promotion.min_subgroup_recall_ratio} x overall recall; `watch` when only the "
        "point estimate is.",
        "",
        "## Backtest (each year t: fit on years up to t-2, rounds by early stopping on t-1, test on t)",
        "",
        _markdown(result.backtest),
        "",
        LIMITATIONS,
        "",
    ]
    return "\n".join(lines)


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        out.append(
            "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        )
    return "\n".join(out)


def subgroup_markdown(subgroups: pd.DataFrame) -> str:
    """The subgroup table, headed by the population it covers."""
    if "population" not in subgroups or subgroups.empty:
        return _markdown(subgroups)
    head = f"Population: {subgroups['population'].iloc[0]}.\n\n"
    return head + _markdown(subgroups.drop(columns="population"))


def _interval_text(interval: dict, m: dict) -> str:
    """How the 90% interval per household was set and how often it holds the oracle."""
    if not interval:
        return "No interval per household (no oracle to fit its scale on, none configured)."
    scales = ", ".join(f"{k} {v:.1f}" for k, v in interval["scales"].items())
    text = (
        "Each probability carries a 90% interval (riskmodel.interval): its log-odds plus or "
        f"minus a scale per tier ({scales}, fitted on {interval['fitted_on']}) times the "
        "household's own spread."
    )
    covered = [
        f"{k} {m[f'oracle_test_interval_coverage_{k}']:.1%}"
        for k in ("red", "amber", "green", "all")
        if f"oracle_test_interval_coverage_{k}" in m
    ]
    if covered:
        text += (
            f" Share of the test year's households whose oracle lies inside: {', '.join(covered)}."
        )
    return text
