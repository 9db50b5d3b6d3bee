"""Unusual households: a record unlike anything the model was trained on, flagged with a reason.

A boosted model answers for every record, also where its training data had none like it; there its
probability is an extrapolation. Three checks, fitted on the training rows (the feature matrix the
booster saw) and kept in the model's meta, tell cadres when a score is only indicative
(「该户情况少见，评分仅供参考」):

1. **range**: a numeric feature far outside the training rows: beyond their 99.5th percentile by
   more than the distance from the median to it (above q99.5 + (q99.5 − q50), below
   q0.5 − (q50 − q0.5)). Quantiles, not the extremes: no single household's value is kept in the
   model or quoted to cadres, and a year's drift that merely passes the maximum is left to
   monitoring. A missing value is not out of range (the booster has a branch for it).
   `CALENDAR` features are left out of every check: they grow by one every year for every
   household, so their range is the calendar's, not the household's; so are `SHARED` ones (the
   village's or county's facts), which describe no household;
2. **unseen combination**: two categorical or yes/no features whose pair of values never occurred
   together in training although independence would have put at least `MIN_EXPECTED` training
   rows there (a pair merely too rare to appear proves nothing); a missing value is a value of
   its own, and a value never seen at all is reported alone;
3. **rare profile**: the household's surprisal under the independence density of the training
   data, the sum over features of -ln(share of training rows in the household's bin), bins being a
   categorical's levels, a yes/no's two values, a numeric's tails and quartiles (cut at the 0.5%,
   2.5%, 10%, 25%, 50%, 75%, 90%, 97.5% and 99.5% quantiles), and missing; flagged above the training
   rows' own 99.5th percentile, so 0.5% of the training rows carry it by construction.

The checks read only the feature matrix, so the batch, the API and a deployed copy flag alike.
"""

from __future__ import annotations

import numpy as np

from riskmodel.catalogue import FEATURES

UNUSUAL_ZH = "该户情况少见，评分仅供参考"
UNUSUAL_EN = "this household is unlike those the model learned from; the score is indicative only"
RARE_QUANTILE = 0.995
"""Surprisal above this quantile of the training rows' is a rare profile."""
CUTS = (0.005, 0.025, 0.10, 0.25, 0.50, 0.75, 0.90, 0.975, 0.995)
"""Quantiles at which a numeric feature's bins are cut."""
CALENDAR = ("years_since_exit",)
"""Features whose range is the calendar's: every household that exited in the first year passes
the training maximum the year after training ends."""
SHARED = (
    "is_former_poor_village",
    "village_flood_prone",
    "village_disaster",
    "village_collective_income",
    "village_monitored_share",
    "sugarcane_price_index",
)
"""Facts of the whole village or county, the same for all its households: they make no household
unusual (a village whose collective income grew past the training years' would flag every one of
its households), and their drift is monitoring's to report."""
MIN_EXPECTED = 5.0
"""A pair of values absent from training is unusual only where independence expects this many."""
_FLOOR = 0.5
"""A bin no training row fell in counts as half a row (its share is 0.5 / n, not zero)."""


def _paired(name: str, levels: dict[str, list[str]]) -> bool:
    return name in levels or FEATURES[name].dtype == "bool"


def _codes(raw: np.ndarray, size) -> np.ndarray:
    """Codes 0..size-1 of categorical or yes/no values (a column, or columns with a size each),
    `size` for missing or unknown."""
    ok = np.isfinite(raw) & (raw >= 0) & (raw < size)
    return np.where(ok, raw, size).astype(np.int64)  # values not ok (NaN among them) never used


def _size(name: str, levels: dict[str, list[str]]) -> int:
    return len(levels[name]) if name in levels else 2


def fit_support(X: np.ndarray, features: list[str], levels: dict[str, list[str]]) -> dict:
    """The three checks' parameters from the training matrix (rows as the booster saw them)."""
    n = len(X)
    spec: dict[str, dict] = {}
    for j, name in enumerate(features):
        if name in SHARED:
            continue
        col = X[:, j]
        finite = col[np.isfinite(col)]
        if _paired(name, levels):
            size = _size(name, levels)
            counts = np.bincount(_codes(col, size), minlength=size + 1)
            spec[name] = {
                "kind": "codes",
                "size": size,
                "shares": _shares(counts, n),
                "seen": (counts > 0).tolist(),
            }
            continue
        if not len(finite) or name in CALENDAR:
            spec[name] = {"kind": "numeric", "edges": [], "shares": []}
            continue
        edges = np.unique(np.quantile(finite, CUTS))
        counts = np.bincount(_bins(col, edges, len(edges) + 1), minlength=len(edges) + 2)
        tail_low, middle, tail_high = np.quantile(finite, [CUTS[0], 0.5, CUTS[-1]])
        spec[name] = {
            "kind": "numeric",
            "below": float(tail_low - (middle - tail_low)),
            "above": float(tail_high + (tail_high - middle)),
            "edges": edges.tolist(),
            "shares": _shares(counts, n),
        }
    pairs = []
    paired = [j for j, name in enumerate(features) if _paired(name, levels) and name in spec]
    codes = {j: _codes(X[:, j], _size(features[j], levels)) for j in paired}
    for a_pos, a in enumerate(paired):
        for b in paired[a_pos + 1 :]:
            sa, sb = _size(features[a], levels) + 1, _size(features[b], levels) + 1
            count = np.bincount(codes[a] * sb + codes[b], minlength=sa * sb)
            share_a = np.bincount(codes[a], minlength=sa) / n
            share_b = np.bincount(codes[b], minlength=sb) / n
            expected = n * np.outer(share_a, share_b).ravel()
            seen = (count > 0) | (expected < MIN_EXPECTED)
            if not seen.all():
                pairs.append({"a": features[a], "b": features[b], "seen": seen.tolist()})
    support = {"features": spec, "pairs": pairs, "n": n, "threshold": None}
    if n:
        surprisal = Support(support, features, levels).surprisal(X)
        support["threshold"] = float(np.quantile(surprisal, RARE_QUANTILE))
    return support


def _shares(counts: np.ndarray, n: int) -> list[float]:
    return (np.maximum(counts, _FLOOR) / max(n, 1)).tolist()


def _bins(raw: np.ndarray, edges: np.ndarray, missing) -> np.ndarray:
    """Bins of numeric values, right-closed at each edge (a column with its edges, or columns
    with a row of edges each, padded with inf); `missing` for missing or infinite values."""
    bins = (edges < raw[..., None]).sum(axis=-1)
    return np.where(~np.isfinite(raw), missing, bins)


class Support:
    """The checks of one model, as arrays: a whole batch is checked in a few array operations,
    and a single record in microseconds (the API's path)."""

    def __init__(self, support: dict, features: list[str], levels: dict[str, list[str]]):
        where = {name: j for j, name in enumerate(features)}
        spec = {k: v for k, v in support.get("features", {}).items() if k in where}
        self.empty = not spec
        codes = [k for k, v in spec.items() if v["kind"] == "codes"]
        numeric = [k for k, v in spec.items() if v["kind"] == "numeric" and v["shares"]]
        self.codes_at = np.array([where[k] for k in codes], dtype=np.int64)
        self.codes_names = codes
        self.size = np.array([spec[k]["size"] for k in codes], dtype=np.int64)
        width = int(self.size.max()) + 1 if codes else 1
        self.code_seen = np.ones((len(codes), width), bool)
        self.code_logs = np.zeros((len(codes), width))
        for r, k in enumerate(codes):
            self.code_seen[r, : len(spec[k]["seen"])] = spec[k]["seen"]
            self.code_logs[r, : len(spec[k]["shares"])] = np.log(spec[k]["shares"])
        self.num_at = np.array([where[k] for k in numeric], dtype=np.int64)
        self.num_names = numeric
        self.lo = np.array([_bound(spec[k].get("below"), -np.inf) for k in numeric])
        self.hi = np.array([_bound(spec[k].get("above"), np.inf) for k in numeric])
        n_edges = max((len(spec[k]["edges"]) for k in numeric), default=0)
        self.edges = np.full((len(numeric), n_edges), np.inf)
        self.missing_bin = np.array([len(spec[k]["edges"]) + 1 for k in numeric], dtype=np.int64)
        self.num_logs = np.zeros((len(numeric), n_edges + 2))
        for r, k in enumerate(numeric):
            self.edges[r, : len(spec[k]["edges"])] = spec[k]["edges"]
            self.num_logs[r, : len(spec[k]["shares"])] = np.log(spec[k]["shares"])
        row = {k: r for r, k in enumerate(codes)}
        pairs = [q for q in support.get("pairs", []) if q["a"] in row and q["b"] in row]
        self.pairs = [(q["a"], q["b"]) for q in pairs]
        self.pair_a = np.array([row[q["a"]] for q in pairs], dtype=np.int64)
        self.pair_b = np.array([row[q["b"]] for q in pairs], dtype=np.int64)
        self.pair_stride = self.size[self.pair_b] + 1 if pairs else np.zeros(0, np.int64)
        seen = [np.asarray(q["seen"], bool) for q in pairs]
        self.pair_offset = np.cumsum([0] + [len(v) for v in seen])[:-1].astype(np.int64)
        self.pair_seen = np.concatenate(seen) if seen else np.zeros(0, bool)
        self.threshold = support.get("threshold")

    def code_matrix(self, X: np.ndarray) -> np.ndarray:
        """Codes of the categorical and yes/no features (their `size` for missing or unknown)."""
        return _codes(X[:, self.codes_at], self.size)

    def bin_matrix(self, X: np.ndarray) -> np.ndarray:
        """Bins of the numeric features (right-closed at each edge; the last for missing)."""
        return _bins(X[:, self.num_at], self.edges, self.missing_bin)

    def surprisal(self, X: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
        """-ln of the independence density of the training data at each row (`codes`: its
        `code_matrix`, when the caller has it)."""
        total = np.zeros(len(X))
        if len(self.codes_at):
            if codes is None:
                codes = self.code_matrix(X)
            total -= self.code_logs[np.arange(len(self.codes_at)), codes].sum(1)
        if len(self.num_at):
            total -= self.num_logs[np.arange(len(self.num_at)), self.bin_matrix(X)].sum(1)
        return total

    def check(self, X: np.ndarray) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        """Each row's flag and its reasons (Chinese, English). Reasons name features and the
        training range, never the household's own values."""
        n = len(X)
        if self.empty or not n:
            return np.zeros(n, bool), [[] for _ in range(n)], [[] for _ in range(n)]
        codes = self.code_matrix(X)
        unseen = ~self.code_seen[np.arange(len(self.codes_at)), codes]
        raw = X[:, self.num_at]
        with np.errstate(invalid="ignore"):
            high, low = raw > self.hi, raw < self.lo
        never = np.zeros((n, len(self.pairs)), bool)
        if self.pairs:
            index = self.pair_offset + codes[:, self.pair_a] * self.pair_stride
            never = ~self.pair_seen[index + codes[:, self.pair_b]]
            never &= ~unseen[:, self.pair_a] & ~unseen[:, self.pair_b]
        rare = np.zeros(n, bool)
        if self.threshold is not None:
            rare = self.surprisal(X, codes) > self.threshold
        flag = unseen.any(1) | high.any(1) | low.any(1) | never.any(1) | rare
        zh: list[list[str]] = [[] for _ in range(n)]
        en: list[list[str]] = [[] for _ in range(n)]
        for i in np.flatnonzero(flag):
            for r in np.flatnonzero(unseen[i]):
                name = self.codes_names[r]
                zh[i].append(f"{_label(name, True)}的取值（或缺失）在训练数据中未出现")
                en[i].append(f"{_label(name, False)}: a value (or missing) never seen in training")
            for r in np.flatnonzero(high[i] | low[i]):
                name = self.num_names[r]
                side_zh, side_en = (
                    ("远高于", "far above") if high[i, r] else ("远低于", "far below")
                )
                zh[i].append(f"{_label(name, True)}{side_zh}训练数据的常见范围")
                en[i].append(f"{_label(name, False)} {side_en} the training data's usual range")
            for r in np.flatnonzero(never[i]):
                a, b = self.pairs[r]
                zh[i].append(f"{_label(a, True)}与{_label(b, True)}的组合在训练数据中未出现")
                en[i].append(f"{_label(a, False)} with {_label(b, False)}: never seen together")
            if rare[i] and not zh[i]:  # else the reasons above already make it rare
                zh[i].append("各项情况的组合在训练数据中少见（罕见程度高于99.5%的训练户）")
                en[i].append("a rare profile (rarer than 99.5% of training households)")
            zh[i], en[i] = _kept(zh[i], "另有{}项"), _kept(en[i], "{} more")
        return flag, zh, en


def _bound(v: float | None, none: float) -> float:
    return none if v is None else float(v)


def _label(name: str, zh: bool) -> str:
    column = FEATURES.get(name)
    if column is None:
        return name
    return column.label_zh if zh else column.label_en


def _kept(reasons: list[str], more: str, keep: int = 3) -> list[str]:
    """At most `keep` reasons, then how many more there are."""
    if len(reasons) <= keep:
        return reasons
    return [*reasons[:keep], more.format(len(reasons) - keep)]
