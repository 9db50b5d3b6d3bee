"""Probabilities a county can plan with: calibration where decisions are made, caseloads.

`fit_beta` maps the booster's raw score to a probability by beta calibration (Kull, Silva Filho
and Flach 2017): with p = sigmoid(raw), probability = sigmoid(a·ln p − b·ln(1 − p) + c), fitted by
logistic regression on the validation year. Platt scaling is the special case a = b; the extra
degree of freedom lets the top of the scale bend differently from the bulk, which is where Platt
overstated the risk (README: the comparison of methods on the test year and unseen seeds).

`calibration_table` puts the mean predicted probability beside the observed rate and the oracle's
mean for each tier, the top 1/2/5/10% and each township: overall calibration (ECE) is dominated by
the many households below 5%, while visits are decided at the top. `caseload` sums probabilities
per village or township into the expected number of households meeting the criteria next year,
with a 90% interval from the Poisson-binomial distribution of that count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TOP_SHARES = (0.01, 0.02, 0.05, 0.10)
INTERVAL = 0.90


def _beta_terms(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln p and −ln(1 − p) of p = sigmoid(raw), computed stably from the raw score."""
    raw = np.asarray(raw, dtype=float)
    return -np.logaddexp(0.0, -raw), np.logaddexp(0.0, raw)


def _beta_features(raw: np.ndarray) -> np.ndarray:
    """`_beta_terms` as two columns (the fit's design matrix)."""
    return np.column_stack(_beta_terms(raw))


def fit_beta(raw: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(a, b, c) of beta calibration; a coefficient that comes out negative (the map would not
    be monotone) is fixed at 0 and the other refitted, as Kull et al. prescribe."""
    from sklearn.linear_model import LogisticRegression

    F, y = _beta_features(raw), np.asarray(y, dtype=int)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(F, y)
    a, b = fit.coef_[0]
    c = fit.intercept_[0]
    if a < 0 or b < 0:
        keep = 1 if a < 0 else 0
        fit = LogisticRegression(C=1e6, max_iter=1000).fit(F[:, [keep]], y)
        coef = [0.0, 0.0]
        coef[keep] = max(float(fit.coef_[0, 0]), 0.0)
        a, b, c = coef[0], coef[1], fit.intercept_[0]
    return float(a), float(b), float(c)


def apply_beta(raw: np.ndarray, abc: tuple[float, float, float]) -> np.ndarray:
    """The calibrated probability of raw scores (see `fit_beta`)."""
    a, b, c = abc
    ln_p, ln_not_p = _beta_terms(raw)  # not stacked: applied to the API's small batches
    return 1.0 / (1.0 + np.exp(-(a * ln_p + b * ln_not_p + c)))


def calibration_table(
    prob: np.ndarray,
    y: np.ndarray,
    tier: np.ndarray,
    township: np.ndarray,
    oracle: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per group (each tier, top 1/2/5/10% of the county by probability, each township):
    households, mean predicted probability, observed rate and, when the oracle is known, its mean
    and the relative difference of the prediction from it (`predicted / oracle - 1`)."""
    prob = np.asarray(prob, dtype=float)
    y = np.asarray(y, dtype=float)
    tier = np.asarray(tier).astype(str)
    township = np.asarray(township).astype(str)
    groups: list[tuple[str, str, np.ndarray]] = []
    for name in ("red", "amber", "green"):
        groups.append(("tier", name, tier == name))
    order = np.argsort(-prob, kind="stable")
    for share in TOP_SHARES:
        m = np.zeros(len(prob), bool)
        m[order[: max(1, round(share * len(prob)))]] = True
        groups.append(("top", f"{share:.0%}", m))
    for name in sorted(set(township)):
        groups.append(("township", name, township == name))
    rows = []
    for group, value, m in groups:
        n = int(m.sum())
        row = {
            "group": group,
            "value": value,
            "households": n,
            "predicted": float(prob[m].mean()) if n else np.nan,
            "observed": float(y[m].mean()) if n else np.nan,
        }
        if oracle is not None:
            o = np.asarray(oracle, dtype=float)
            row["oracle"] = float(o[m].mean()) if n else np.nan
            row["predicted_vs_oracle"] = row["predicted"] / row["oracle"] - 1 if n else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def table_metrics(table: pd.DataFrame, prefix: str = "") -> dict[str, float]:
    """The table's tier and top-share rows as flat metrics: `<prefix>calib_red_predicted` and
    `_observed`; the oracle's figures under `oracle_<prefix>calib_red_mean` and
    `oracle_<prefix>calib_red_ours_vs_oracle` (the relative difference)."""
    out = {}
    names = {
        "predicted": prefix + "calib_{}_predicted",
        "observed": prefix + "calib_{}_observed",
        "oracle": "oracle_" + prefix + "calib_{}_mean",
        "predicted_vs_oracle": "oracle_" + prefix + "calib_{}_ours_vs_oracle",
    }
    for r in table[table["group"].isin(["tier", "top"])].to_dict("records"):
        key = r["value"] if r["group"] == "tier" else f"top{r['value'].rstrip('%')}pct"
        for col, name in names.items():
            if col in r and not pd.isna(r[col]):
                out[name.format(key)] = float(r[col])
    return out


def poisson_binomial_pmf(prob: np.ndarray) -> np.ndarray:
    """P(count = k) for k = 0..n, the count of successes of independent trials with `prob`
    (exact, by convolution one trial at a time)."""
    return _pmfs([np.asarray(prob, dtype=float)])[0]


CHUNK = 256
"""Trials per block of the padded convolution; a larger group's blocks are then convolved."""


def _pmfs(groups: list[np.ndarray]) -> np.ndarray:
    """The Poisson-binomial pmf of each group, as rows padded with zeros. Groups are cut into
    blocks of CHUNK trials whose pmfs are built together (padded with p = 0 trials, which leave a
    count unchanged), then each group's blocks are convolved: a township costs little more than
    its villages."""
    blocks = [g[s : s + CHUNK] for g in groups for s in range(0, max(len(g), 1), CHUNK)]
    owner = [i for i, g in enumerate(groups) for _ in range(0, max(len(g), 1), CHUNK)]
    P = np.zeros((len(blocks), max((len(b) for b in blocks), default=0)))
    for i, b in enumerate(blocks):
        P[i, : len(b)] = b
    pmf = np.zeros((len(blocks), P.shape[1] + 1))
    pmf[:, 0] = 1.0
    for i in range(P.shape[1]):
        p = P[:, i : i + 1]
        pmf[:, 1 : i + 2] = pmf[:, 1 : i + 2] * (1 - p) + pmf[:, : i + 1] * p
        pmf[:, 0] *= 1 - P[:, i]
    out = np.zeros((len(groups), max((len(g) for g in groups), default=0) + 1))
    done: dict[int, np.ndarray] = {}
    for i, b in zip(owner, range(len(blocks)), strict=True):
        part = pmf[b, : len(blocks[b]) + 1]
        done[i] = part if i not in done else np.convolve(done[i], part)
    for i, dist in done.items():
        out[i, : len(dist)] = dist
    return out


def count_intervals(groups: list[np.ndarray], level: float = INTERVAL) -> np.ndarray:
    """Central `level` interval of each group's Poisson-binomial count, as rows (low, high): the
    smallest k with P(count <= k) >= (1-level)/2 and the smallest with >= (1+level)/2."""
    if not groups:
        return np.zeros((0, 2), dtype=int)
    cdf = np.cumsum(_pmfs(groups), axis=1)
    tail = (1 - level) / 2
    low = (cdf < tail - 1e-12).sum(axis=1)
    high = (cdf < 1 - tail - 1e-12).sum(axis=1)
    sizes = np.array([len(g) for g in groups])
    return np.column_stack([np.minimum(low, sizes), np.minimum(high, sizes)])


def count_interval(prob: np.ndarray, level: float = INTERVAL) -> tuple[int, int]:
    """`count_intervals` of one group."""
    low, high = count_intervals([np.asarray(prob, dtype=float)], level)[0]
    return int(low), int(high)


def caseload(rows: pd.DataFrame, by: str) -> pd.DataFrame:
    """Expected households meeting the criteria next year per `by` (village_id or township_id),
    from the rows' probabilities, by the label that gave them: `expected_new` and its 90%
    interval from households not monitored (the main question), `expected_persistent` from
    monitored ones (still meeting the criteria), and the households that meet them now
    (`meets_now`: to verify and enrol, no probability)."""
    keys = sorted(rows[by].unique())
    out = pd.DataFrame({by: keys})
    if by == "village_id":
        out["township_id"] = rows.groupby(by)["township_id"].first().reindex(keys).to_numpy()
    prob = pd.to_numeric(rows["probability"], errors="coerce")
    for name, label in (("new", "meets_criteria"), ("persistent", "persistent")):
        part = rows.loc[(rows["label"] == label) & prob.notna(), [by]].assign(p=prob)
        grouped = dict(tuple(part.groupby(by)["p"]))
        groups = [grouped[k].to_numpy(dtype=float) if k in grouped else np.zeros(0) for k in keys]
        bounds = count_intervals(groups)
        out[f"households_{name}"] = [len(g) for g in groups]
        out[f"expected_{name}"] = [round(float(g.sum()), 2) for g in groups]
        out[f"expected_{name}_low"] = bounds[:, 0]
        out[f"expected_{name}_high"] = bounds[:, 1]
    meets = (rows["status"] == "meets_criteria").groupby(rows[by]).sum()
    out["meets_now"] = meets.reindex(keys).fillna(0).astype(int).to_numpy()
    return out


def caseload_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The caseload of every village and every township of a batch (`level` says which; a
    township's row has no village_id)."""
    villages = caseload(rows, "village_id").assign(level="village")
    townships = caseload(rows, "township_id").assign(level="township", village_id=None)
    return pd.concat([townships, villages], ignore_index=True)[
        [
            "level",
            "township_id",
            "village_id",
            *villages.columns.drop(["village_id", "township_id", "level"]),
        ]
    ]
