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
# # Retrain the relapse-risk model
#
# Fits LightGBM on the household panel out of time (fit on years up to T-2, early stopping and
# calibration on T-1, test on T), compares it on the same test rows with the official rule,
# logistic regression, the village's past rate, carried-forward monitoring status and the
# simulator's oracle, and registers it in MLflow as the **challenger**. Making it the champion is a
# separate, deliberate step: `riskmodel promote`.
#
# Settings: `training/configs/default.yaml`; environment `RISKMODEL_DATA` (panel folder) and
# `MLFLOW_TRACKING_URI` (default: `mlflow.db` at the project root).

# %%
import os
from pathlib import Path

from riskmodel import plots
from riskmodel.config import load_train_config
from riskmodel.evaluate import comparison_table
from riskmodel.registry import train_and_register

ROOT = Path(os.environ.get("RISKMODEL_ROOT", Path.cwd().parent))
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlflow.db'}")
config = load_train_config(ROOT / "training/configs/default.yaml",
                           data=Path(os.environ.get("RISKMODEL_DATA", ROOT / "data/county")))
config.model_dump()

# %% [markdown]
# ## Train, evaluate and register

# %%
result, logged = train_and_register(config)
print(f"version {logged.version}, run {logged.run_id}, {result.info['total_seconds']:.0f} s")
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
# The new version is aliased `challenger`. Promote it with `riskmodel promote`: it must beat every
# baseline on ROC-AUC and recall, stay within 0.005 AUC of the champion, and leave no subgroup's
# recall significantly below 0.8 x overall.
