# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Retrain one question's model
#
# The run config's `label` picks the question and its population: `meets_criteria` (the main
# model, `relapse-risk`: will a household not monitored meet the 纳入条件 by the next sweep?) or
# `persistent` (`relapse-risk-persistent`: will a monitored household's risk still be there in a
# year?). Fits LightGBM out of time (fit on years up to T-2, early stopping on T-1, calibration on
# T-1 and the training years scored out of village, test on T) on exactly the label's population, compares it on the same test rows with the
# official rule, logistic regression, the village's past rate, the carried-forward status and, when
# the data has it, the simulator's oracle, and registers it in MLflow as the **challenger**.
# Making it the champion is a separate, deliberate step: `riskmodel promote [--label L]`.
#
# Settings: `training/configs/default.yaml` (`persistent.yaml` for the persistent model);
# environment `RISKMODEL_LABEL`, `RISKMODEL_DATA` (panel folder) and `MLFLOW_TRACKING_URI`
# (default: `mlflow.db` at the project root).

# %%
import os
from pathlib import Path

from riskmodel import plots
from riskmodel.config import config_path, load_train_config
from riskmodel.evaluate import comparison_table
from riskmodel.registry import train_and_register

ROOT = Path(os.environ.get("RISKMODEL_ROOT", Path.cwd().parent))
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlflow.db'}")
LABEL = os.environ.get("RISKMODEL_LABEL", "meets_criteria")
config = load_train_config(
    ROOT / config_path(LABEL),
    label=LABEL,
    data=Path(os.environ.get("RISKMODEL_DATA", ROOT / "data/county")),
)
config.model_dump()

# %% [markdown]
# ## Train, evaluate and register

# %%
result, logged = train_and_register(config)
print(
    f"{config.registered_model} version {logged.version}, run {logged.run_id}, "
    f"{result.info['total_seconds']:.0f} s"
)
print(result.evaluation.extra["population"])
print(result.evaluation.extra["oracle_note"])
comparison_table(result.evaluation.metrics)

# %% [markdown]
# ## Backtest: train on all earlier years, test on each year

# %%
plots.backtest(result.backtest)

# %% [markdown]
# ## Discrimination and calibration on the test year

# %%
ev = result.evaluation
plots.roc_pr(ev.y, ev.scores)

# %%
plots.reliability(ev.y, ev.scores["ours"])

# %% [markdown]
# ## What drives the score (SHAP, log-odds)

# %%
test = result.split.test
plots.shap_summary(result.model.contributions(result.model.matrix(test)), result.model.features)

# %% [markdown]
# ## Subgroups at the operating point (top 10% per village)

# %%
ev.subgroups[ev.subgroups["judged"]].round(3)

# %% [markdown]
# The new version is aliased `challenger`. Promote it with `riskmodel promote --label <label>`: it
# must answer the registered model's label, beat every baseline on ROC-AUC and recall, stay within
# 0.005 AUC of the champion on the same label, year and rows, and leave no subgroup's recall
# significantly below 0.8 x overall.
