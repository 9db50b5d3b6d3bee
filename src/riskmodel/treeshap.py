"""Exact path-dependent TreeSHAP for LightGBM, fast for the small trees this model uses.

For one leaf, the reach probability given a coalition S of features factorises over the unique
features on the leaf's path: feature j contributes its one-fraction o_j(x) in {0, 1} (does x satisfy
every condition on j along the path) if j is in S, else its zero-fraction z_j (the product of cover
ratios along the path's edges on j). The leaf's Shapley contribution to a path feature therefore
depends only on which path features x satisfies: a pattern of d bits. We tabulate, for every leaf,
all 2^d patterns once per model; scoring a row is then evaluating each split once, forming each
leaf's pattern and adding table entries. The values equal LightGBM's `pred_contrib` (and
`shap.TreeExplainer`, which calls it) to rounding; tests use shap as the reference.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba as nb
import numpy as np

if TYPE_CHECKING:
    import lightgbm as lgb

MAX_PATH_FEATURES = 16
_ZERO = 1e-35


@dataclass
class _Parsed:
    node_feature: np.ndarray
    node_threshold: np.ndarray
    node_categorical: np.ndarray
    node_default_left: np.ndarray
    node_missing: np.ndarray  # 0 none, 1 zero, 2 NaN
    node_cat_start: np.ndarray
    node_cat_len: np.ndarray
    cat_bits: np.ndarray
    edge_start: np.ndarray  # per leaf, into edge arrays (len leaves + 1)
    edge_node: np.ndarray
    edge_left: np.ndarray
    edge_slot: np.ndarray
    leaf_depth: np.ndarray  # unique path features
    leaf_features: np.ndarray  # (leaves, MAX) feature id per slot
    leaf_zero: np.ndarray  # (leaves, MAX) zero fraction per slot
    leaf_value: np.ndarray
    expected_value: float
    leaf_variance: np.ndarray | None = None
    """Sampling variance of each leaf's value (see `leaf_variances`); None for tables saved
    before it was kept."""


def _arrays(kv: dict[str, str], key: str, dtype) -> np.ndarray:
    return np.array(kv[key].split(), dtype=dtype) if kv.get(key) else np.array([], dtype=dtype)


def _parse(booster: lgb.Booster) -> _Parsed:
    text = booster.model_to_string()
    nodes: dict[str, list] = {k: [] for k in ("f", "t", "c", "dl", "m", "cs", "cl")}
    cat_bits: list[int] = []
    edges_start, e_node, e_left, e_slot = [0], [], [], []
    depth, feats, zeros, values, variances = [], [], [], [], []
    expected = 0.0
    shrinkage, l2 = _parameter(text, "learning_rate"), _parameter(text, "lambda_l2")
    for block in text.split("\nTree=")[1:]:
        body = block.split("\n\n", 1)[0]
        kv = dict(line.split("=", 1) for line in body.splitlines()[1:] if "=" in line)
        leaf_value = _arrays(kv, "leaf_value", np.float64)
        if int(kv["num_leaves"]) == 1:
            expected += float(leaf_value[0])
            continue
        base = len(nodes["f"])
        feature = _arrays(kv, "split_feature", np.int64)
        decision = _arrays(kv, "decision_type", np.int64)
        threshold = _arrays(kv, "threshold", np.float64)
        left, right = _arrays(kv, "left_child", np.int64), _arrays(kv, "right_child", np.int64)
        internal_count = _arrays(kv, "internal_count", np.float64)
        leaf_count = _arrays(kv, "leaf_count", np.float64)
        leaf_var = leaf_variances(_arrays(kv, "leaf_weight", np.float64), shrinkage, l2)
        cat_bound = _arrays(kv, "cat_boundaries", np.int64)
        cat_thr = _arrays(kv, "cat_threshold", np.int64)
        cat_offset = len(cat_bits)
        cat_bits.extend(int(v) for v in cat_thr)
        for i in range(len(feature)):
            categorical = bool(decision[i] & 1)
            nodes["f"].append(feature[i])
            nodes["t"].append(threshold[i])
            nodes["c"].append(categorical)
            nodes["dl"].append(bool(decision[i] & 2))
            nodes["m"].append((decision[i] >> 2) & 3)
            if categorical:
                k = int(threshold[i])
                nodes["cs"].append(cat_offset + cat_bound[k])
                nodes["cl"].append(cat_bound[k + 1] - cat_bound[k])
            else:
                nodes["cs"].append(0)
                nodes["cl"].append(0)

        def count(child: int, leaf_count=leaf_count, internal_count=internal_count) -> float:
            return leaf_count[~child] if child < 0 else internal_count[child]

        root = internal_count[0]
        # depth-first walk: (node, path edges as (node, went_left, feature, ratio))
        stack: list[tuple[int, list]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            for child, went_left in ((left[node], True), (right[node], False)):
                step = [*path, (node, went_left, int(feature[node]), count(child) / count(node))]
                if child >= 0:
                    stack.append((child, step))
                    continue
                slots: dict[int, int] = {}
                zero: list[float] = []
                for n, went, f, ratio in step:
                    if f not in slots:
                        slots[f] = len(slots)
                        zero.append(1.0)
                    zero[slots[f]] *= ratio
                    e_node.append(base + n)
                    e_left.append(went)
                    e_slot.append(slots[f])
                if len(slots) > MAX_PATH_FEATURES:
                    raise ValueError(
                        f"a leaf depends on {len(slots)} features; at most "
                        f"{MAX_PATH_FEATURES} are supported"
                    )
                edges_start.append(len(e_node))
                row_f = np.full(MAX_PATH_FEATURES, -1)
                row_z = np.zeros(MAX_PATH_FEATURES)
                row_f[: len(slots)] = list(slots)
                row_z[: len(zero)] = zero
                depth.append(len(slots))
                feats.append(row_f)
                zeros.append(row_z)
                values.append(leaf_value[~child])
                variances.append(leaf_var[~child] if len(leaf_var) else 0.0)
                expected += leaf_value[~child] * leaf_count[~child] / root
    return _Parsed(
        node_feature=np.array(nodes["f"], np.int64),
        node_threshold=np.array(nodes["t"], np.float64),
        node_categorical=np.array(nodes["c"], np.bool_),
        node_default_left=np.array(nodes["dl"], np.bool_),
        node_missing=np.array(nodes["m"], np.int64),
        node_cat_start=np.array(nodes["cs"], np.int64),
        node_cat_len=np.array(nodes["cl"], np.int64),
        cat_bits=np.array(cat_bits, np.uint32),
        edge_start=np.array(edges_start, np.int64),
        edge_node=np.array(e_node, np.int64),
        edge_left=np.array(e_left, np.bool_),
        edge_slot=np.array(e_slot, np.int64),
        leaf_depth=np.array(depth, np.int64),
        leaf_features=np.array(feats, np.int64).reshape(-1, MAX_PATH_FEATURES),
        leaf_zero=np.array(zeros, np.float64).reshape(-1, MAX_PATH_FEATURES),
        leaf_value=np.array(values, np.float64),
        expected_value=float(expected),
        leaf_variance=np.array(variances, np.float64),
    )


def _parameter(text: str, name: str) -> float:
    """A training parameter from the model text's parameters section ([name: value])."""
    found = re.search(rf"^\[{name}: ([^\]]+)\]$", text, re.MULTILINE)
    if found is None:
        raise ValueError(f"the booster's model text has no [{name}: …] parameter")
    return float(found.group(1))


def leaf_variances(hessian: np.ndarray, shrinkage: float, l2: float) -> np.ndarray:
    """Sampling variance of leaf values: a leaf's value is -shrinkage * G / (H + l2), with G
    and H the sums of the log-loss gradients and hessians of its training rows; for calibrated
    rows a gradient's variance is its hessian, so Var(G) = H and the value's variance is
    shrinkage^2 * H / (H + l2)^2 (the delta method, rows independent)."""
    return shrinkage**2 * hessian / (hessian + l2) ** 2


@nb.njit(cache=True)
def _tables(leaf_depth, leaf_zero, leaf_value):
    """Per leaf and pattern, the contribution of each path slot (flattened, with offsets)."""
    n_leaves = len(leaf_depth)
    offsets = np.zeros(n_leaves + 1, np.int64)
    for leaf in range(n_leaves):
        d = leaf_depth[leaf]
        offsets[leaf + 1] = offsets[leaf] + (1 << d) * d
    table = np.zeros(offsets[-1], np.float64)
    # Shapley weights w(k, d) = k! (d-k-1)! / d!
    weights = np.zeros((MAX_PATH_FEATURES + 1, MAX_PATH_FEATURES + 1))
    fact = np.ones(MAX_PATH_FEATURES + 2)
    for i in range(1, MAX_PATH_FEATURES + 2):
        fact[i] = fact[i - 1] * i
    for d in range(1, MAX_PATH_FEATURES + 1):
        for k in range(d):
            weights[d, k] = fact[k] * fact[d - k - 1] / fact[d]
    e = np.zeros(MAX_PATH_FEATURES + 1)
    for leaf in range(n_leaves):
        d = leaf_depth[leaf]
        z = leaf_zero[leaf]
        for pattern in range(1 << d):
            for i in range(d):
                o_i = (pattern >> i) & 1
                # elementary symmetric polynomials of z over B = on-features except i;
                # off-features other than i always take their zero fraction
                e[:] = 0.0
                e[0] = 1.0
                size_b = 0
                off = 1.0
                for j in range(d):
                    if j == i:
                        continue
                    if (pattern >> j) & 1:
                        size_b += 1
                        for m in range(size_b, 0, -1):
                            e[m] += e[m - 1] * z[j]
                    else:
                        off *= z[j]
                total = 0.0
                for k in range(size_b + 1):
                    total += weights[d, k] * e[size_b - k]
                table[offsets[leaf] + pattern * d + i] = (
                    leaf_value[leaf] * (o_i - z[i]) * off * total
                )
    return table, offsets


@nb.njit(cache=True, nogil=True)
def _directions(
    X,
    lo,
    hi,
    node_feature,
    node_threshold,
    node_categorical,
    node_default_left,
    node_missing,
    node_cat_start,
    node_cat_len,
    cat_bits,
):
    """(nodes, hi - lo): does row r of X[lo:hi] go left at node k, as LightGBM 4 decides.

    Categorical and numeric nodes are decided in separate loops over the rows: with the
    categorical test inside the row loop, the compiled loop took about 60 ns a node
    (measured: 194 against 2 microseconds a row on the main model's 3,258 nodes)."""
    n_nodes = len(node_feature)
    left = np.empty((n_nodes, hi - lo), np.bool_)
    for k in range(n_nodes):
        f = node_feature[k]
        if node_categorical[k]:  # NaN and negative categories always go right
            start, words = node_cat_start[k], node_cat_len[k]
            for r in range(lo, hi):
                value = X[r, f]
                goes = False
                if not np.isnan(value):
                    v = np.int64(value)  # truncated toward zero, as LightGBM casts
                    if v >= 0 and (v >> 5) < words:
                        goes = ((np.int64(cat_bits[start + (v >> 5)]) >> (v & 31)) & 1) == 1
                left[k, r - lo] = goes
            continue
        missing, threshold, default = node_missing[k], node_threshold[k], node_default_left[k]
        for r in range(lo, hi):
            x = X[r, f]
            if missing != 2 and np.isnan(x):
                x = 0.0
            if (missing == 1 and abs(x) <= _ZERO) or (missing == 2 and np.isnan(x)):
                left[k, r - lo] = default
            else:
                left[k, r - lo] = x <= threshold
    return left


BLOCK = 128
"""Rows explained together: each leaf's table is then reused from cache across the block."""


def _contributions_py(
    X,
    n_features,
    expected,
    node_feature,
    node_threshold,
    node_categorical,
    node_default_left,
    node_missing,
    node_cat_start,
    node_cat_len,
    cat_bits,
    edge_start,
    edge_node,
    edge_left,
    edge_slot,
    leaf_depth,
    leaf_features,
    table,
    offsets,
    leaf_variance,
    leaf_value,
):
    n = X.shape[0]
    # contributions, expected value, raw-score variance, and the reached leaves' values summed
    # tree by tree in order, as _predict_py sums them (leaves are stored tree by tree)
    out = np.zeros((n, n_features + 3))
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        lo = blk * BLOCK
        hi = min(n, lo + BLOCK)
        left = _directions(
            X,
            lo,
            hi,
            node_feature,
            node_threshold,
            node_categorical,
            node_default_left,
            node_missing,
            node_cat_start,
            node_cat_len,
            cat_bits,
        )
        failed = np.empty(hi - lo, np.int64)  # per row, the path features it fails
        for leaf in range(len(leaf_depth)):
            d = leaf_depth[leaf]
            full = (1 << d) - 1
            for r in range(hi - lo):
                failed[r] = 0
            for e in range(edge_start[leaf], edge_start[leaf + 1]):
                node, went, bit = edge_node[e], edge_left[e], 1 << edge_slot[e]
                for r in range(hi - lo):
                    if left[node, r] != went:
                        failed[r] |= bit
            off = offsets[leaf]
            for r in range(hi - lo):
                if failed[r] == 0:  # the row reaches this leaf
                    out[lo + r, n_features + 1] += leaf_variance[leaf]
                    out[lo + r, n_features + 2] += leaf_value[leaf]
                base = off + (full & ~failed[r]) * d
                for s in range(d):
                    out[lo + r, leaf_features[leaf, s]] += table[base + s]
        for r in range(lo, hi):
            out[r, n_features] = expected
    return out


def _renamed(fn, name: str):
    """The same code under another name. Numba's on-disk cache is keyed by the function's name
    and line, not by its compile options: compiled twice under one name, the serial kernel
    could load the parallel build from the cache (or the reverse)."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__)
    copy.__qualname__ = name
    return copy


# nogil: the API's scoring thread explains while its event loop parses the next requests
_contributions_serial = nb.njit(cache=True, nogil=True)(
    _renamed(_contributions_py, "_contributions_serial")
)
_contributions_parallel = nb.njit(cache=True, nogil=True, parallel=True)(
    _renamed(_contributions_py, "_contributions_parallel")
)
SERIAL_BELOW = 256
"""Batches smaller than this run on one thread: starting the pool costs more than it saves."""


def _predict_py(
    X,
    constant,
    roots,
    left_child,
    right_child,
    node_feature,
    node_threshold,
    node_categorical,
    node_default_left,
    node_missing,
    node_cat_start,
    node_cat_len,
    cat_bits,
    leaf_value,
):
    n = X.shape[0]
    out = np.full(n, constant)
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in nb.prange(n_blocks):
        lo = blk * BLOCK
        hi = min(n, lo + BLOCK)
        left = _directions(
            X,
            lo,
            hi,
            node_feature,
            node_threshold,
            node_categorical,
            node_default_left,
            node_missing,
            node_cat_start,
            node_cat_len,
            cat_bits,
        )
        for r in range(hi - lo):
            total = 0.0
            for t in range(len(roots)):
                node = roots[t]
                while True:
                    child = left_child[node] if left[node, r] else right_child[node]
                    if child < 0:
                        total += leaf_value[~child]
                        break
                    node = child
            out[lo + r] += total
    return out


_predict_serial = nb.njit(cache=True, nogil=True)(_renamed(_predict_py, "_predict_serial"))
_predict_parallel = nb.njit(cache=True, nogil=True, parallel=True)(
    _renamed(_predict_py, "_predict_parallel")
)


def _trees(p: _Parsed) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Roots and children (a leaf as ~its index) from the leaves' root-first paths, and the
    constant the one-leaf trees add (the expected value less every leaf's value times its
    share of the training rows: the product of its path's cover ratios)."""
    n_nodes = len(p.node_feature)
    left, right = np.zeros(n_nodes, np.int64), np.zeros(n_nodes, np.int64)
    roots = set()
    for leaf in range(len(p.leaf_depth)):
        lo, hi = p.edge_start[leaf], p.edge_start[leaf + 1]
        roots.add(int(p.edge_node[lo]))
        for e in range(lo, hi):
            child = p.edge_node[e + 1] if e + 1 < hi else ~leaf
            (left if p.edge_left[e] else right)[p.edge_node[e]] = child
    slots = np.arange(MAX_PATH_FEATURES)[None, :] < p.leaf_depth[:, None]
    share = np.where(slots, p.leaf_zero, 1.0).prod(axis=1)
    constant = p.expected_value - float((p.leaf_value * share).sum())
    return np.array(sorted(roots), np.int64), left, right, constant


class TreeShap:
    """Exact SHAP contributions of a LightGBM binary booster, in raw log-odds."""

    def __init__(self, booster: lgb.Booster):
        self.n_features = booster.num_feature()
        self._p = _parse(booster)
        self._table, self._offsets = _tables(
            self._p.leaf_depth, self._p.leaf_zero, self._p.leaf_value
        )
        self._walk = None

    def save(self, path) -> None:
        """Store the parsed trees and tables (derived from the booster; saves work at load)."""
        arrays = {k: v for k, v in vars(self._p).items() if isinstance(v, np.ndarray)}
        np.savez(
            path,
            **arrays,
            expected_value=self._p.expected_value,
            table=self._table,
            offsets=self._offsets,
            n_features=self.n_features,
        )

    @classmethod
    def load(cls, path) -> TreeShap:
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        self = cls.__new__(cls)
        self.n_features = int(data.pop("n_features"))
        self._table, self._offsets = data.pop("table"), data.pop("offsets")
        data["expected_value"] = float(data["expected_value"])
        self._p = _Parsed(**data)
        self._walk = None
        return self

    @property
    def expected_value(self) -> float:
        return self._p.expected_value

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """The model's raw score (log-odds) by walking each tree once per row: the sum of the
        contributions, at a fraction of their cost."""
        p = self._p
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got {X.shape}")
        if self._walk is None:
            self._walk = _trees(p)
        roots, left, right, constant = self._walk
        kernel = _predict_serial if len(X) < SERIAL_BELOW else _predict_parallel
        return kernel(
            X,
            constant,
            roots,
            left,
            right,
            p.node_feature,
            p.node_threshold,
            p.node_categorical,
            p.node_default_left,
            p.node_missing,
            p.node_cat_start,
            p.node_cat_len,
            p.cat_bits,
            p.leaf_value,
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, features + 1): one column per feature, the expected value last."""
        return self.contributions_and_variance(X)[0]

    def contributions_and_variance(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`contributions`, and each row's raw-score variance: the sum over trees of the
        sampling variance of the leaf the row reaches (`leaf_variances`; trees taken as
        independent, so it sets the interval's shape, its scale is fitted)."""
        return self.explained(X)[:2]

    def explained(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`contributions_and_variance` and `raw_score`, in one pass: the raw score is the
        reached leaves' values added in the order the tree walk adds them, so it equals
        `raw_score` to the bit (the sum of the contributions differs in the last bits)."""
        p = self._p
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got {X.shape}")
        kernel = _contributions_serial if len(X) < SERIAL_BELOW else _contributions_parallel
        out = kernel(
            X,
            self.n_features,
            p.expected_value,
            p.node_feature,
            p.node_threshold,
            p.node_categorical,
            p.node_default_left,
            p.node_missing,
            p.node_cat_start,
            p.node_cat_len,
            p.cat_bits,
            p.edge_start,
            p.edge_node,
            p.edge_left,
            p.edge_slot,
            p.leaf_depth,
            p.leaf_features,
            self._table,
            self._offsets,
            self._leaf_variance,
            p.leaf_value,
        )
        if self._walk is None:
            self._walk = _trees(p)
        n = self.n_features
        return out[:, : n + 1], out[:, n + 1], self._walk[3] + out[:, n + 2]

    @property
    def _leaf_variance(self) -> np.ndarray:
        v = self._p.leaf_variance
        return np.zeros(len(self._p.leaf_value)) if v is None else v
