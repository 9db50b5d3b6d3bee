"""Figures logged with each training run (matplotlib, headless)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from riskmodel.catalogue import FEATURES

_NAMES = {
    "ours": "LightGBM (ours)",
    "oracle": "oracle (exact)",
    "rule": "official rule",
    "logreg": "logistic regression",
    "village": "village past rate",
    "carry": "criteria status carried forward",
}


def roc_pr(y: np.ndarray, scores: dict[str, np.ndarray]) -> plt.Figure:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        a.plot(fpr, tpr, label=_NAMES.get(name, name))
        b.plot(rec, prec, label=_NAMES.get(name, name))
    a.plot([0, 1], [0, 1], "k:", lw=0.8)
    a.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test year")
    b.set(xlabel="recall", ylabel="precision", title="precision-recall, test year")
    a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reliability(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> plt.Figure:
    order = np.argsort(prob, kind="stable")
    groups = np.array_split(order, bins)
    pred = [prob[g].mean() for g in groups]
    obs = [y[g].mean() for g in groups]
    fig, ax = plt.subplots(figsize=(5, 5))
    top = max(max(pred), max(obs)) * 1.05
    ax.plot([0, top], [0, top], "k:", lw=0.8)
    ax.plot(pred, obs, "o-")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        title="reliability (10 equal-frequency bins)",
    )
    fig.tight_layout()
    return fig


def shap_summary(contrib: np.ndarray, features: list[str], top: int = 20) -> plt.Figure:
    mean_abs = np.abs(contrib[:, : len(features)]).mean(axis=0)
    order = np.argsort(mean_abs)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(order) + 1))
    ax.barh([FEATURES[features[i]].label_en for i in order], mean_abs[order])
    ax.set(xlabel="mean |SHAP| (log-odds)", title="what drives the score (test year)")
    fig.tight_layout()
    return fig


def backtest(bt: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(bt["year"], bt["roc_auc"], "o-")
    ax.set(
        xlabel="test year (trained on all years before)",
        ylabel="ROC-AUC",
        title="rolling-origin backtest",
    )
    fig.tight_layout()
    return fig
