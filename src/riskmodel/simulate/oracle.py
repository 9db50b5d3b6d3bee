"""Exact probabilities of every label, given everything the county's records hold.

For a household at the end of year t, the next year is a finite mixture over its hidden type (with
the exact posterior given its recorded incomes), the village disaster, the household event, the
demographic change and the medical bill (a discretised lognormal), and within each component a
lognormal recorded market income (fresh noise and measurement error). Guarantee failures are
independent given the disaster. So

    P(meets the criteria at t+1) = sum over (type, disaster, event, size change, bill) of
        1 - P(no guarantee fails) * 1{bill <= hardship threshold}
              * P(market income >= size*line + bill + schooling - transfers)

and every term is exact: the only integral, over income, is a normal tail. Households that leave
the panel (a one-person household whose member dies) have no label, so the mixture is conditioned
on the household staying.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr

from riskmodel.criteria import CriteriaConfig
from riskmodel.simulate import calibration as cal
from riskmodel.simulate.economy import EVENTS, Outlook, bill_points, type_params


def _tail(x: np.ndarray, mu: np.ndarray, sigma: float) -> np.ndarray:
    """P(lognormal(mu, sigma) >= x), with x <= 0 always met."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, ndtr((mu - np.log(np.maximum(x, 1e-300))) / sigma), 1.0)


def next_year_probabilities(
    o: Outlook,
    log_post: np.ndarray,
    line_next: float,
    detection: np.ndarray,
    criteria: CriteriaConfig | None = None,
) -> dict[str, np.ndarray]:
    """p_meets (criteria met at t+1), p_relapse (income below the line at t+1), p_identified
    (monitored at t+1 for a household not monitored at t), conditional on a row at t+1."""
    crit = criteria or CriteriaConfig()
    shift, sigma = type_params()
    post = np.exp(log_post - log_post.max(1, keepdims=True))
    post /= post.sum(1, keepdims=True)
    edu = o.edu if crit.rigid_includes_education else 0.0
    mult, prob = bill_points()
    H = len(o.size)
    meets, relapse, stay = np.zeros(H), np.zeros(H), np.zeros(H)
    log_market = np.log(o.market)
    for j, delta in enumerate((-1, 0, 1)):
        size_next = o.size + delta
        w_size = np.where(size_next >= 1, o.p_size[:, j], 0.0)
        stay += w_size
        base = size_next * line_next - o.transfer
        for e in range(len(EVENTS)):
            bills = o.oop[:, e, None] * mult[None, :]  # (H, B)
            ok_bill = (bills <= crit.hardship_medical_yuan) * prob[None, :]
            need = (base + edu)[:, None] + bills
            for d in (0, 1):
                w = w_size * np.where(d, o.q, 1 - o.q) * o.pi[:, e]
                no_fail = 1 - o.p_guarantee[:, d]
                mu = log_market[:, e, d][:, None] + shift[None, :]  # (H, K)
                ok = np.zeros(H)
                below = np.zeros(H)
                for k in range(len(shift)):
                    tail = _tail(need, mu[:, k, None], sigma[k])  # (H, B)
                    ok += post[:, k] * (ok_bill * tail).sum(1)
                    below += post[:, k] * (1 - _tail(base, mu[:, k], sigma[k]))
                meets += w * (1 - no_fail * ok)
                relapse += w * below
    stay = np.maximum(stay, 1e-12)
    meets, relapse = meets / stay, relapse / stay
    identified = detection * meets + cal.FALSE_ALARM * (1 - meets)
    return {
        "p_meets": meets.clip(0, 1),
        "p_relapse": relapse.clip(0, 1),
        "p_identified": identified,
    }


def income_log_likelihood(
    o: Outlook,
    recorded_market: np.ndarray,
    disaster: np.ndarray,
    consistent: np.ndarray,
    truncate_at: np.ndarray | None = None,
) -> np.ndarray:
    """(H, K) log-likelihood of each household's recorded market income under each hidden type.

    `consistent` (H, E) marks the events consistent with the household's record (a new serious
    illness or disability shows; no sign leaves the unseen events). `truncate_at`: a household
    registered only with income above a floor (an exit) has a truncated likelihood. Terms that do
    not depend on the type (the Jacobian) are dropped alike for every type, so the posterior is
    exact."""
    shift, sigma = type_params()
    y = np.log(np.maximum(recorded_market, 1e-9))
    log_market = np.log(o.market)
    rows, d = np.arange(len(y)), disaster.astype(int)
    out = np.empty((len(y), len(shift)))
    for k in range(len(shift)):
        terms = []
        for e in range(len(EVENTS)):
            mu = log_market[rows, e, d] + shift[k]
            z = (y - mu) / sigma[k]
            ll = np.log(np.maximum(o.pi[:, e], 1e-300)) - 0.5 * z**2 - np.log(sigma[k])
            if truncate_at is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ll = ll - np.where(
                        truncate_at > 0,
                        log_ndtr((mu - np.log(np.maximum(truncate_at, 1e-300))) / sigma[k]),
                        0.0,
                    )
            terms.append(np.where(consistent[:, e], ll, -np.inf))
        out[:, k] = np.logaddexp.reduce(np.stack(terms, axis=1), axis=1)
    return out
