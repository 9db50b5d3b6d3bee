"""Reasons cadres can act on: SHAP contributions grouped into risk types and the 六看 dimensions.

The top risk-raising risk types of a household become short sentences with its own values, each
marked actionable or static and paired with the assistance measures that fit the household; protective
factors are listed separately. Sentence templates, measures and which features may be shown come from
the catalogue. Everything is computed column-wise, so a county is explained in about a second.

What a cadre is shown (each rule is tested on a county's whole worklist):
- reasons are official risk types (catalogue.RISK_TYPES), built only from features the catalogue does
  not hide (HIDDEN_FROM_REASONS: county-wide constants, village facts, the motivation score, ...);
- a feature is a reason only in its risk direction (a count or flag present; a resource missing or
  below PROTECTS_FROM) and never by a zero (「家中无务工收入」 comes from VALUE_TEXTS, never 「占0%」);
- a protective factor is a resource the household has (at least PROTECTS_FROM) that lowers its risk
  by at least PROTECTIVE_MIN, quotes no value one of its reasons quotes and no criterion it meets;
- measures: 1-3 per household from the system's own categories, only those whose conditions
  (labour capacity, 低保 status, a dropout, a vocational student for 雨露计划, ...) the household
  meets (catalogue.MEASURES).
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import orjson
import pandas as pd

from riskmodel.catalogue import (
    DIMENSIONS,
    FALLBACK_MEASURES,
    FEATURES,
    HIDDEN_FROM_REASONS,
    MAX_MEASURES,
    MEASURE_CONDITIONS,
    MEASURES,
    PROTECTIVE_MIN,
    PROTECTS_FROM,
    REASON_TEXTS,
    RISK_FROM,
    RISK_TYPES,
    RISK_WHEN_LOW,
    VALUE_TEXTS,
)
from riskmodel.validate import as_float

TOP_REASONS = 3
FEATURES_PER_REASON = 2
TOP_PROTECTIVE = 3
SMALL_BATCH = 512
"""Below this many rows sentences are rendered row by row (the API's requests and merged
batches): column-wise formatting pays for its pandas calls only on larger batches (50 rows:
11 ms row by row against 41 ms column-wise; 250: 39 against 80; 1,000: 295 against 213)."""
LANGS = ("zh", "en")
_MISSING = {"zh": "{label}：无记录", "en": "{label}: not recorded"}
_UNDER_ONE_PERCENT = {"zh": "不足1%", "en": "under 1%"}


Pieces = list[tuple[str, str | None, str]]


def _parse(text: str) -> Pieces:
    """A template as (literal, field or None, format spec) pieces."""
    return [(lit, field, spec or "") for lit, field, spec, _ in string.Formatter().parse(text)]


@cache
def _template(feature: str, lang: str) -> Pieces:
    """The feature's default sentence, parsed."""
    zh, en = REASON_TEXTS[feature]
    return _parse(zh if lang == "zh" else en)


@cache
def _cases(feature: str, lang: str) -> list[tuple[float, float, Pieces]]:
    """Value-dependent sentences (catalogue.VALUE_TEXTS), parsed, in the order they are tried."""
    return [
        (lo, hi, _parse(zh if lang == "zh" else en))
        for lo, hi, zh, en in VALUE_TEXTS.get(feature, [])
    ]


def _in_case(v, lo: float, hi: float):
    return v == lo if lo == hi else (v >= lo) & (v < hi)


@cache
def stated_fields(feature: str) -> frozenset[str]:
    """Every value a feature's sentence shows: the feature and the columns its templates quote."""
    if feature not in REASON_TEXTS:
        return frozenset({feature})
    pieces = [
        p
        for lang in LANGS
        for p in [_template(feature, lang), *(c[2] for c in _cases(feature, lang))]
    ]
    return frozenset({feature, *(f for ps in pieces for _, f, _ in ps if f)})


def _format(v, name: str, spec: str, lang: str) -> str:
    """One value as it appears in a sentence (the single formatting rule for every path)."""
    if spec == "wan":
        return format(float(v) * 10_000, ",.0f")
    if "|" in spec:
        yes, _, no = spec.partition("|")
        return yes if bool(v) else no
    col = FEATURES.get(name)
    if col is not None and col.categories:
        return col.categories.get(str(v), str(v)) if lang == "zh" else str(v).replace("_", " ")
    v = float(v)
    if not spec and v.is_integer():
        return str(int(v))
    text = format(v, spec)
    if v and spec.endswith("%") and text.lstrip("+-") == "0%":
        return _UNDER_ONE_PERCENT[lang]  # a small share is not a zero
    return text


def _values(column: np.ndarray, name: str, spec: str, lang: str) -> list[str]:
    """Each value formatted; distinct values are formatted once (counts and flags repeat a lot).
    Missing values give "" (their rows get the missing-value note instead)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = np.array([_format(v, name, spec, lang) for v in uniques] + [""], dtype=object)
    return texts[codes].tolist()  # code -1 picks the trailing ""


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _case_of(feature: str, lang: str, value) -> int:
    """Which sentence fits the value: the first matching case's index, else -1 (the template)."""
    if not _is_missing(value) and not isinstance(value, str):
        v = float(value)
        for k, (lo, hi, _) in enumerate(_cases(feature, lang)):
            if _in_case(v, lo, hi):
                return k
    return -1


def _formatter(name: str, spec: str, lang: str):
    """`_format` for one (field, spec, language), its branches decided once: sentences rendered
    one record at a time (the API) call it for every value."""
    if spec == "wan" or "|" in spec:
        return lambda v: _format(v, name, spec, lang)
    col = FEATURES.get(name)
    if col is not None and col.categories:
        return lambda v: _format(v, name, spec, lang)
    if not spec:

        def plain(v) -> str:
            v = float(v)
            return str(int(v)) if v.is_integer() else format(v, "")

        return plain
    if spec.endswith("%"):
        return lambda v: _format(v, name, spec, lang)
    return lambda v: format(float(v), spec)


@cache
def _compiled(feature: str, lang: str, case: int) -> tuple[tuple[str, ...], tuple]:
    """A sentence's fields and its (literal, field, formatter) parts."""
    pieces = _template(feature, lang) if case < 0 else _cases(feature, lang)[case][2]
    fields = tuple(f for _, f, _ in pieces if f)
    parts = tuple((lit, f, _formatter(f, spec, lang) if f else None) for lit, f, spec in pieces)
    return fields, parts


def render_one(feature: str, lang: str, row: Mapping) -> str:
    """The feature's sentence for one record (`row` maps column name to value)."""
    return _fill(feature, lang, _case_of(feature, lang, row.get(feature)), row)


def render_pair(feature: str, row: Mapping) -> tuple[str, str]:
    """The Chinese and English sentences for one record: both languages' cases share their
    bounds (VALUE_TEXTS), so the case is found once."""
    case = _case_of(feature, "zh", row.get(feature))
    return _fill(feature, "zh", case, row), _fill(feature, "en", case, row)


def _fill(feature: str, lang: str, case: int, row: Mapping) -> str:
    fields, parts = _compiled(feature, lang, case)
    for f in fields:
        if _is_missing(row[f]):
            label = FEATURES[feature].label_zh if lang == "zh" else FEATURES[feature].label_en
            return _MISSING[lang].format(label=label)
    return "".join([lit + fmt(row[f]) if f else lit for lit, f, fmt in parts])


def render(feature: str, lang: str, columns: dict[str, np.ndarray], rows: np.ndarray) -> list[str]:
    """The feature's sentence for each of `rows`, with the household's own values."""
    rows = np.asarray(rows)
    cases = _cases(feature, lang)
    if not cases:
        return _render(_template(feature, lang), feature, lang, columns, rows)
    v = as_float(columns[feature][rows])
    which = np.full(len(rows), -1)
    with np.errstate(invalid="ignore"):
        for k, (lo, hi, _) in enumerate(cases):
            which[(which < 0) & _in_case(v, lo, hi)] = k
    out = np.empty(len(rows), dtype=object)
    for k in np.unique(which):
        at = np.flatnonzero(which == k)
        pieces = _template(feature, lang) if k < 0 else cases[k][2]
        out[at] = _render(pieces, feature, lang, columns, rows[at])
    return out.tolist()


def _render(
    pieces: Pieces, feature: str, lang: str, columns: dict[str, np.ndarray], rows: np.ndarray
) -> list[str]:
    fields = [f for _, f, _ in pieces if f]
    missing = np.zeros(len(rows), bool)
    for f in fields:
        missing |= pd.isna(columns[f][rows])
    parts = []
    for literal, field, spec in pieces:
        parts.append([literal] * len(rows))
        if field:
            vals = columns[field][rows]
            safe = np.where(missing, 0, vals) if vals.dtype.kind in "fiub" else vals
            parts.append(_values(safe, field, spec, lang))
    out = ["".join(p) for p in zip(*parts, strict=True)] if parts else [""] * len(rows)
    if missing.any():
        label = FEATURES[feature].label_zh if lang == "zh" else FEATURES[feature].label_en
        note = _MISSING[lang].format(label=label)
        out = [note if m else t for m, t in zip(missing, out, strict=True)]
    return out


def group_matrix(features: list[str], key: str) -> tuple[np.ndarray, list[str]]:
    """(features, groups) indicator matrix for key 'risk_type' (features that may be shown as
    reasons only) or 'dimension' (every feature)."""
    return _group_matrix(tuple(features), key)


@cache
def _group_matrix(features: tuple[str, ...], key: str) -> tuple[np.ndarray, list[str]]:
    names = list(RISK_TYPES) if key == "risk_type" else list(DIMENSIONS)
    matrix = np.zeros((len(features), len(names)))
    for i, f in enumerate(features):
        if key == "risk_type" and not shown(f):
            continue
        g = getattr(FEATURES[f], key)
        if g in names:
            matrix[i, names.index(g)] = 1.0
    return matrix, names


def shown(feature: str) -> bool:
    """Whether a feature may ever be shown as a reason or protective factor."""
    return feature in REASON_TEXTS and feature not in HIDDEN_FROM_REASONS


assert not [f for f in FEATURES if shown(f) and FEATURES[f].dtype == "category"], (
    "eligibility reads shown features from the model's matrix, where a category is a code"
)


@cache
def _overlap(features: tuple[str, ...]) -> np.ndarray:
    """(features, features) 1.0 where two features' sentences quote a common value, else 0.0
    (as floats: a matrix product with it finds conflicts)."""
    stated = [stated_fields(f) for f in features]
    return np.array([[float(bool(a & b)) for b in stated] for a in stated])


@dataclass(frozen=True)
class _Rules:
    """The eligibility rules of a model's features as arrays (one entry per feature)."""

    shown: np.ndarray
    flag: np.ndarray
    zero_said: np.ndarray
    when_low: np.ndarray
    protects: np.ndarray  # has a PROTECTS_FROM level
    low_below: np.ndarray  # a low-risk feature is a risk below this
    protects_from: np.ndarray
    risk_from: np.ndarray


@cache
def _rules(features: tuple[str, ...]) -> _Rules:
    flag = np.array([FEATURES[f].dtype == "bool" for f in features], bool)
    return _Rules(
        shown=np.array([shown(f) for f in features], bool),
        flag=flag,
        zero_said=np.array(
            [any(lo == hi == 0 for lo, hi, *_ in VALUE_TEXTS.get(f, [])) for f in features], bool
        ),
        when_low=np.array([f in RISK_WHEN_LOW for f in features], bool),
        protects=np.array([f in PROTECTS_FROM for f in features], bool),
        low_below=np.array(
            [
                PROTECTS_FROM.get(f, 1 if fl else np.inf)
                for f, fl in zip(features, flag, strict=True)
            ],
            float,
        ),
        protects_from=np.array([PROTECTS_FROM.get(f, np.inf) for f in features], float),
        risk_from=np.array([RISK_FROM.get(f, -np.inf) for f in features], float),
    )


def eligibility(
    records: Mapping, features: list[str], values: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, features) masks: where a feature's value may be called a risk, and where a resource
    the household has may be called protective (the rules in the module docstring).

    `values`: the model's matrix of these records (its numbers are the records' own: no shown
    feature is categorical), so that the columns are not converted again."""
    n = len(next(iter(records.values()))) if not isinstance(records, pd.DataFrame) else len(records)
    r = _rules(tuple(features))
    if values is not None:
        v = np.where(r.shown, values, np.nan)
    else:
        present = np.array([f in records for f in features], bool)
        v = np.full((n, len(features)), np.nan)
        for j in np.flatnonzero(r.shown & present):
            v[:, j] = as_float(records[features[j]])
    known = ~np.isnan(v)
    with np.errstate(invalid="ignore"):
        has_sentence = known & (r.flag | (v != 0) | r.zero_said)
        risk = np.where(
            r.when_low,
            has_sentence & (v < r.low_below),
            known & (v > 0) & (v >= r.risk_from),
        )
        protect = r.when_low & r.protects & known & (v >= r.protects_from)
    return risk, protect


_CONDITIONS = list(MEASURE_CONDITIONS)


KNOWN_ONLY = frozenset({"vocational"})
"""Conditions met only where known: a measure for one kind of member (雨露计划 for a vocational
student) is never suggested on a guess. The others, unknown, count as met."""


def measure_conditions(records: Mapping) -> np.ndarray:
    """Per row, a bitmask of the MEASURE_CONDITIONS it meets (unknown conditions count as met,
    except those of KNOWN_ONLY). All conditions are tested at once: a few operations on a
    (conditions, rows) matrix rather than a handful per condition."""
    n = len(next(iter(records.values()))) if not isinstance(records, pd.DataFrame) else len(records)
    v = np.full((len(_CONDITIONS), n), np.nan)
    for k, name in enumerate(_CONDITION_COLUMNS):
        if name in records:
            v[k] = as_float(records[name])
    with np.errstate(invalid="ignore"):
        ok = np.where(_ABOVE_ZERO[:, None], v > 0, v == 0)
    met = ok | (np.isnan(v) & _GUESSED[:, None])
    return (met.astype(np.int64) << np.arange(len(_CONDITIONS))[:, None]).sum(axis=0)


_CONDITION_COLUMNS = [MEASURE_CONDITIONS[c][0] for c in _CONDITIONS]
_ABOVE_ZERO = np.array([c in ("labour", "dibao", "dropout", "vocational") for c in _CONDITIONS])
"""Conditions met where their column is above 0 (a member able to work, 低保, a dropout, a
vocational student); the others where it is 0 (none of those, no training, no microcredit)."""
_GUESSED = np.array([c not in KNOWN_ONLY for c in _CONDITIONS])


@cache
def fitting_measures(code: str, bits: int) -> tuple[tuple[str, str], ...]:
    """The measures of a risk type whose conditions a household (its bitmask) meets."""
    met = {name for k, name in enumerate(_CONDITIONS) if bits >> k & 1}
    return tuple(
        (zh, en) for zh, en, cond in MEASURES[code] if not cond or set(cond.split("+")) <= met
    )


@cache
def household_measures(codes: tuple[str, ...], bits: int) -> tuple[tuple[str, str], ...]:
    """1-3 measures for a household with these reasons: the first that fits each reason, then the
    next, in reason order, without repeats; a fallback by 低保 status when none fits."""
    lists = [fitting_measures(c, bits) for c in codes]
    out: dict[tuple[str, str], None] = {}
    categories: set[str] = set()
    for depth in range(max((len(x) for x in lists), default=0)):
        for ms in lists:
            if depth < len(ms) and len(out) < MAX_MEASURES:
                category = ms[depth][0].split("（")[0]
                if category not in categories:
                    categories.add(category)
                    out[ms[depth]] = None
    if codes and not out:
        dibao = (
            bits >> _CONDITIONS.index("dibao") & 1 and not bits >> _CONDITIONS.index("no_dibao") & 1
        )
        out[FALLBACK_MEASURES["dibao" if dibao else "no_dibao"]] = None
    return tuple(out)


@cache
def _reason_measures(codes: tuple[str, ...], bits: int) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each reason's measures: those of the household's 1-3 that fit the reason's type."""
    chosen = household_measures(codes, bits)
    return tuple(
        tuple(m for m in chosen if m in fitting_measures(c, bits)) or chosen[:1] for c in codes
    )


_MEASURE_EN = {zh: en for ms in MEASURES.values() for zh, en, _ in ms} | dict(
    FALLBACK_MEASURES.values()
)


def _merge(a: str, b: str, sep: str) -> str:
    """Join two fragments, keeping one when it already says what the other says."""
    if not b or b in a:
        return a
    if not a or a in b:
        return b
    return a + sep + b


@dataclass
class Explanations:
    """Reasons for a batch of records, held column-wise; rows follow the records' order."""

    features: list[str]
    contrib: np.ndarray  # (n, features)
    by_dimension: np.ndarray  # (n, dimensions)
    reason_groups: np.ndarray  # (n, top) risk-type index, -1 none
    reason_values: np.ndarray  # (n, top) summed contribution
    reason_features: np.ndarray  # (n, top, FEATURES_PER_REASON) feature index, -1 none
    reason_texts: dict[str, list[list[str]]]  # lang -> slot -> row text ("" when none)
    protective: np.ndarray  # (n, TOP_PROTECTIVE) feature index, -1 none or repeated
    protective_texts: dict[str, list[list[str]]]  # lang -> slot -> row text
    measure_bits: np.ndarray  # (n,) MEASURE_CONDITIONS met

    def __len__(self) -> int:
        return len(self.contrib)

    def items(self, full: bool = False) -> list[dict]:
        """Everything about each record, as the API returns it (and as `item_from_stored`
        rebuilds it from the store: the same values, the same rounding). Rounded and summed for
        the whole batch at once: per record, numpy's call overhead cost more than the work."""
        codes = list(RISK_TYPES)
        names = self.features
        values = np.round(self.reason_values, DECIMALS).tolist()
        contrib = np.round(self.contrib, DECIMALS).tolist()
        stored = as_stored(self.contrib)
        dim_m, dims = group_matrix(names, "dimension")
        by_dim = np.round(stored @ dim_m, DECIMALS).tolist()
        every = np.round(stored, FULL_DECIMALS).tolist() if full else None
        groups, feats = self.reason_groups.tolist(), self.reason_features.tolist()
        prot, bits = self.protective.tolist(), self.measure_bits.tolist()
        rz, re_ = self.reason_texts["zh"], self.reason_texts["en"]
        pz, pe = self.protective_texts["zh"], self.protective_texts["en"]
        out = []
        for i in range(len(groups)):
            row_codes = tuple(codes[g] for g in groups[i] if g >= 0)
            reasons = []
            for k, (code, measures) in enumerate(
                zip(row_codes, _reason_measures(row_codes, bits[i]), strict=True)
            ):
                shown_ = [names[f] for f in feats[i][k] if f >= 0]
                reasons.append(
                    {
                        "risk_type": code,
                        "label_zh": RISK_TYPES[code][0],
                        "label_en": RISK_TYPES[code][1],
                        "contribution": values[i][k],
                        "text_zh": rz[k][i],
                        "text_en": re_[k][i],
                        "actionable": any(FEATURES[f].actionable for f in shown_),
                        "measures": [{"zh": zh, "en": en} for zh, en in measures],
                        "features": shown_,
                    }
                )
            item = {
                "reasons": reasons,
                "protective": [
                    {
                        "feature": names[f],
                        "contribution": contrib[i][f],
                        "text_zh": pz[j][i],
                        "text_en": pe[j][i],
                    }
                    for j, f in enumerate(prot[i])
                    if f >= 0
                ],
                "dimensions": dict(zip(dims, by_dim[i], strict=True)),
            }
            if full:
                item["contributions"] = dict(zip(names, every[i], strict=True))
            out.append(item)
        return out

    def columns(self) -> pd.DataFrame:
        """Flat text columns for files, the store and worklists, plus reasons as compact JSON."""
        codes = list(RISK_TYPES)
        n, top = self.reason_groups.shape
        groups = self.reason_groups.tolist()
        labelled = {}
        for lang, col, sep in (("zh", 0, "："), ("en", 1, ": ")):
            labels = [RISK_TYPES[c][col] for c in codes]
            labelled[lang] = [
                [
                    labels[g[k]] + sep + t if g[k] >= 0 else ""
                    for g, t in zip(groups, self.reason_texts[lang][k], strict=True)
                ]
                for k in range(top)
            ]
        bits = self.measure_bits.tolist()
        keys = [
            (tuple(codes[g] for g in key if g >= 0), b) for key, b in zip(groups, bits, strict=True)
        ]
        measures: dict[tuple, tuple[str, str, list]] = {}
        for key in set(keys):
            ms = household_measures(*key)
            per_reason = [[zh for zh, _ in m] for m in _reason_measures(*key)]
            measures[key] = ("、".join(a for a, _ in ms), ", ".join(b for _, b in ms), per_reason)
        values = np.round(self.reason_values, DECIMALS).tolist()
        feats = self.reason_features.tolist()
        prot = self.protective.tolist()
        pv = np.round(
            np.take_along_axis(self.contrib, np.maximum(self.protective, 0), axis=1), DECIMALS
        ).tolist()
        rz, re_ = self.reason_texts["zh"], self.reason_texts["en"]
        pz, pe = self.protective_texts["zh"], self.protective_texts["en"]
        names = self.features
        js = [
            orjson.dumps(
                {
                    "reasons": [
                        [
                            codes[groups[i][k]],
                            values[i][k],
                            rz[k][i],
                            re_[k][i],
                            [names[f] for f in feats[i][k] if f >= 0],
                            measures[keys[i]][2][k],
                        ]
                        for k in range(top)
                        if groups[i][k] >= 0
                    ],
                    "protective": [
                        [names[f], pv[i][j], pz[j][i], pe[j][i]]
                        for j, f in enumerate(prot[i])
                        if f >= 0
                    ],
                }
            ).decode()
            for i in range(n)
        ]
        return pd.DataFrame(
            {
                "top_risk_types": [",".join(key[0]) for key in keys],
                "reasons_zh": [
                    "；".join(x for x in parts if x) for parts in zip(*labelled["zh"], strict=True)
                ],
                "reasons_en": [
                    "; ".join(x for x in parts if x) for parts in zip(*labelled["en"], strict=True)
                ],
                "measures_zh": [measures[k][0] for k in keys],
                "measures_en": [measures[k][1] for k in keys],
                "protective_zh": [
                    "；".join(x for x in parts if x) for parts in zip(*pz, strict=True)
                ],
                "protective_en": [
                    "; ".join(x for x in parts if x) for parts in zip(*pe, strict=True)
                ],
                "reasons_json": js,
                "contributions": pack(self.contrib),
            }
        )


def _slot_texts(ids: np.ndarray, features: list[str], columns: dict, lang: str) -> list[str]:
    """Render, for each row, the sentence of the feature id in `ids` ("" where -1)."""
    out = np.full(len(ids), "", dtype=object)
    for f in np.unique(ids):
        if f >= 0:
            rows = np.flatnonzero(ids == f)
            out[rows] = render(features[f], lang, columns, rows)
    return out.tolist()


def explain(
    records: Mapping,
    contributions: np.ndarray,
    features: list[str],
    top: int = TOP_REASONS,
    blocked: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> Explanations:
    """Group contributions (rows, features [+ base]) into reasons and protective factors.

    `blocked` (rows, features) marks values that may never be called protective: those stating a
    criterion the household meets (riskmodel.criteria.protective_blocked). `values`: the
    model's matrix of the records, when the caller has it (see `eligibility`)."""
    contrib = np.asarray(contributions, dtype=float)[:, : len(features)]
    n = len(contrib)
    risk_m, _ = group_matrix(features, "risk_type")
    dim_m, _ = group_matrix(features, "dimension")
    risk_ok, protect_ok = eligibility(records, features, values)
    raising = risk_ok & (contrib > 0)
    by_risk = np.where(raising @ risk_m > 0, contrib @ risk_m, -np.inf)
    groups = np.argsort(-by_risk, axis=1, kind="stable")[:, :top]
    at = np.arange(n)[:, None]  # rows, for picking one column per row (np.take_along_axis)
    values = by_risk[at, groups]
    groups = np.where(values > 0, groups, -1)
    values = np.where(groups >= 0, values, 0.0)
    # the strongest risk-raising features of each chosen group
    members = risk_m.T.astype(bool)  # (groups, features)
    chosen = np.full((n, top, FEATURES_PER_REASON), -1)
    quoted = np.zeros((n, len(features)), bool)
    for k in range(top):
        g = groups[:, k]
        masked = np.where(members[np.maximum(g, 0)] & raising & (g >= 0)[:, None], contrib, -np.inf)
        best = np.argsort(-masked, axis=1, kind="stable")[:, :FEATURES_PER_REASON]
        ok = masked[at, best] > -np.inf
        chosen[:, k, :] = np.where(ok, best, -1)
        for j in range(FEATURES_PER_REASON):
            rows = np.flatnonzero(ok[:, j])
            quoted[rows, best[rows, j]] = True
    conflict = (quoted.astype(float) @ _overlap(tuple(features))) > 0
    eligible = protect_ok & ~conflict & (contrib <= -PROTECTIVE_MIN)
    if blocked is not None:
        eligible &= ~blocked
    lowered = np.where(eligible, contrib, np.inf)
    prot = np.argsort(lowered, axis=1, kind="stable")[:, :TOP_PROTECTIVE]
    prot = np.where(lowered[at, prot] < np.inf, prot, -1)
    bits = measure_conditions(records)

    if n < SMALL_BATCH:
        reason_texts, protective_texts = _texts_by_row(records, features, groups, chosen, prot)
        return _assemble(
            features,
            contrib,
            dim_m,
            groups,
            values,
            chosen,
            prot,
            reason_texts,
            protective_texts,
            bits,
        )
    columns = {c: np.asarray(records[c]) for c in records}
    reason_texts: dict[str, list[list[str]]] = {}
    protective_texts: dict[str, list[list[str]]] = {}
    sep = {"zh": "，", "en": "; "}
    for lang in LANGS:
        reason_texts[lang] = []
        for k in range(top):
            a, b = (_slot_texts(chosen[:, k, j], features, columns, lang) for j in range(2))
            reason_texts[lang].append([_merge(x, y, sep[lang]) for x, y in zip(a, b, strict=True)])
        slots = [_slot_texts(prot[:, j], features, columns, lang) for j in range(TOP_PROTECTIVE)]
        protective_texts[lang] = slots
    return _assemble(
        features, contrib, dim_m, groups, values, chosen, prot, reason_texts, protective_texts, bits
    )


DECIMALS = 4
"""Reason, protective and sub-score values are reported to 4 decimals of log-odds."""
FULL_DECIMALS = 6
"""Every feature's contribution (`explain=full`) to 6 decimals."""
_STORED = "<f4"


def pack(contrib: np.ndarray) -> list[bytes]:
    """Contributions per row as float32 bytes (compact storage; `unpack` reverses it)."""
    rows = np.ascontiguousarray(contrib, dtype=_STORED)
    return [r.tobytes() for r in rows]


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=_STORED).astype(float)


def as_stored(contrib: np.ndarray) -> np.ndarray:
    """Contributions at the precision the store keeps (what a stored row's reader sees)."""
    return np.asarray(contrib, dtype=_STORED).astype(float)


def _contribution_views(values: np.ndarray, features: list[str], full: bool) -> dict:
    """六看 sub-scores (and with `full` every contribution) from one row's stored-precision
    contributions: the one computation behind fresh and stored explanations."""
    dim_m, dims = group_matrix(features, "dimension")
    out: dict = {
        "dimensions": dict(zip(dims, np.round(values @ dim_m, DECIMALS).tolist(), strict=True))
    }
    if full:
        out["contributions"] = dict(
            zip(features, np.round(values, FULL_DECIMALS).tolist(), strict=True)
        )
    return out


def item_from_stored(
    reasons_json: str, contributions: bytes | None, features: list[str], full: bool = False
) -> dict:
    """Rebuild the API's explanation of a stored batch row (labels and measures from the catalogue)."""
    raw = json.loads(reasons_json)
    raw["reasons"] = [[c if c in RISK_TYPES else "other", *r] for c, *r in raw["reasons"]]
    reasons = [
        {
            "risk_type": c,
            "label_zh": RISK_TYPES[c][0],
            "label_en": RISK_TYPES[c][1],
            "contribution": v,
            "text_zh": z,
            "text_en": e,
            "actionable": any(FEATURES[f].actionable for f in fs),
            "measures": [{"zh": m, "en": _MEASURE_EN.get(m, m)} for m in rest[0]]
            if rest
            else [{"zh": a, "en": b} for a, b, _ in MEASURES.get(c, [])],
            "features": fs,
        }
        for c, v, z, e, fs, *rest in raw["reasons"]
    ]
    protective = [
        {"feature": f, "contribution": v, "text_zh": z, "text_en": e}
        for f, v, z, e in raw["protective"]
    ]
    out: dict = {"reasons": reasons, "protective": protective}
    if contributions:  # empty for a household listed for data checks, not scored
        out |= _contribution_views(unpack(contributions), features, full)
    return out


def _texts_by_row(
    records: Mapping, features: list[str], groups: np.ndarray, chosen: np.ndarray, prot: np.ndarray
) -> tuple[dict, dict]:
    """The same sentences as the column-wise path, rendered one record at a time."""
    n, top = groups.shape
    reason_texts = {lang: [[""] * n for _ in range(top)] for lang in LANGS}
    protective_texts = {lang: [[""] * n for _ in range(TOP_PROTECTIVE)] for lang in LANGS}
    rz, re_ = reason_texts["zh"], reason_texts["en"]
    pz, pe = protective_texts["zh"], protective_texts["en"]
    chosen_l, groups_l, prot_l = chosen.tolist(), groups.tolist(), prot.tolist()
    # the quoted columns as lists once: a numpy scalar per value and record cost more
    quoted = {
        c: v.tolist() if isinstance(v, np.ndarray) else v
        for c in _quoted_columns(tuple(features))
        if c in records
        for v in (records[c],)
    }
    row = _Row(quoted)
    for i in range(n):
        row.i = i
        for k in range(top):
            if groups_l[i][k] < 0:
                continue
            first, second = chosen_l[i][k]
            a = render_pair(features[first], row) if first >= 0 else ("", "")
            b = render_pair(features[second], row) if second >= 0 else ("", "")
            rz[k][i] = _merge(a[0], b[0], "，")
            re_[k][i] = _merge(a[1], b[1], "; ")
        for j, f in enumerate(prot_l[i]):
            if f >= 0:
                pz[j][i], pe[j][i] = render_pair(features[f], row)
    return reason_texts, protective_texts


class _Row:
    """Record `i` of columns, read as a mapping (a sentence reads two or three of its values:
    building a dict of every quoted column per record cost more)."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: dict[str, list]):
        self.columns, self.i = columns, 0

    def __getitem__(self, name: str):
        return self.columns[name][self.i]

    def get(self, name: str, default=None):
        column = self.columns.get(name)
        return default if column is None else column[self.i]


@cache
def _quoted_columns(features: tuple[str, ...]) -> tuple[str, ...]:
    """Every column a sentence of these features may quote."""
    return tuple(sorted({c for f in features for c in stated_fields(f)}))


def _drop_repeated_protective(prot: np.ndarray, texts: dict[str, list[list[str]]]) -> None:
    """A protective sentence that repeats an earlier one for the same household is dropped."""
    zh = texts["zh"]
    for j in range(1, prot.shape[1]):
        for i in range(prot.shape[0]):
            t = zh[j][i]
            if t and any(zh[m][i] and (t in zh[m][i] or zh[m][i] in t) for m in range(j)):
                prot[i, j] = -1
                for lang in LANGS:
                    texts[lang][j][i] = ""


def _assemble(
    features, contrib, dim_m, groups, values, chosen, prot, reason_texts, protective_texts, bits
) -> Explanations:
    _drop_repeated_protective(prot, protective_texts)
    return Explanations(
        features=list(features),
        contrib=contrib,
        by_dimension=contrib @ dim_m,
        reason_groups=groups,
        reason_values=values,
        reason_features=chosen,
        reason_texts=reason_texts,
        protective=prot,
        protective_texts=protective_texts,
        measure_bits=bits,
    )
