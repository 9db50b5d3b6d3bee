"""Request and response models. The model input record is generated from the catalogue."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)

from riskmodel.catalogue import (
    DIMENSIONS,
    FEATURES,
    PANEL,
    PANEL_COLUMNS,
    RECORD_COLUMNS,
    RECORD_IDS,
    REQUIRED_FIELDS,
    Column,
)
from riskmodel.criteria import CRITERIA
from riskmodel.rules import RULES
from riskmodel.support import UNUSUAL_ZH
from riskmodel.visits import VisitIn

MAX_RECORDS = 1000


def _integral(value):
    """JSON Schema counts 3.0 as an integer: accept it as 3 (3.5 and "3" are still refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


_HIDDEN = (
    "\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2028\\u2029"
    "\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb"
)
IDENTIFIER_PATTERN = f"^[^{_HIDDEN}]+$"
"""No control characters (NUL, newlines), bidi overrides and isolates, zero-width or invisible
formatting characters: they make one id look like another in logs, lists and workbooks."""
_HIDDEN_RE = re.compile(f"[{_HIDDEN}]")


def clean_identifier(value: str) -> str:
    """Refuse control and formatting characters (IDENTIFIER_PATTERN) in identifiers."""
    bad = _HIDDEN_RE.findall(value)
    if bad:
        codes = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in bad}))
        raise ValueError(
            f"identifiers may not contain control or formatting characters (found {codes})"
        )
    return value


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": IDENTIFIER_PATTERN}),
    AfterValidator(clean_identifier),
]


def _no_default(schema: dict) -> None:
    """A field that may be left out but never sent as null shows no `default: null`."""
    schema.pop("default", None)


def _annotation(col: Column, optional: bool = False, omittable: bool = False):
    """The field of a catalogue column: required; nullable (or `optional`: null allowed, may be
    left out); or `omittable`: may be left out (whether the model in service needs it is checked
    per request), never null."""
    constraints: dict = {}
    if col.min is not None:
        constraints["ge"] = col.min
    if col.max is not None:
        constraints["le"] = col.max
    description = f"{col.label_zh} / {col.label_en}" + (f" ({col.unit})" if col.unit else "")
    if col.dtype == "category":
        base = Literal[tuple(col.levels)]
    elif col.dtype == "string":
        base = Identifier
        constraints = {}
    elif col.dtype == "bool":
        base = bool
    elif col.dtype == "int":
        base = int
    else:
        base = float
    if col.dtype == "int":  # bounds on the integer itself, then accept 3.0 as 3
        base = Annotated[Annotated[int, Field(**constraints)], BeforeValidator(_integral)]
        constraints = {}
    if col.nullable or optional:
        return Annotated[base | None, Field(description=description, **constraints)], None
    if omittable:
        extra = Field(description=description, json_schema_extra=_no_default, **constraints)
        return Annotated[base, extra], None
    return Annotated[base, Field(description=description, **constraints)], ...


EXAMPLE_RECORD = {
    "hh_id": "H000123",
    "year": 2025,
    "township_id": "T03",
    "village_id": "V027",
    "household_type": "exited",
    "relocated": False,
    "head_age": 58,
    "head_education": "primary",
    "hh_size": 4,
    "n_children_u16": 1,
    "n_elderly_65p": 1,
    "n_labour_full": 1,
    "n_labour_weak": 1,
    "n_chronic_ill": 1,
    "n_serious_ill": 1,
    "n_disabled": 0,
    "n_severe_disabled": 0,
    "n_students_compulsory": 1,
    "n_students_senior": 0,
    "n_students_tertiary": 0,
    "n_children_15": 0,
    "n_dropout": 0,
    "net_income_pc": 8400.0,
    "oop_medical": 6000.0,
    "edu_spend": 300.0,
    "work_months": 10,
    "n_migrant_workers": 1,
    "n_local_workers": 0,
    "has_public_welfare_job": False,
    "has_workshop_job": False,
    "skills_training": False,
    "main_industry": "sugarcane",
    "industry_support": True,
    "cultivated_land_mu": 5.5,
    "microcredit": False,
    "all_insured": True,
    "housing_safe": True,
    "water_safe": True,
    "water_centralised": True,
    "dibao": False,
    "motivation_score": 3,
    "is_former_poor_village": True,
    "village_flood_prone": False,
    "village_disaster": False,
    "village_collective_income": 5.2,
    "sugarcane_price_index": 1.02,
    "is_monitored": False,
    "risk_eliminated": False,
    "income_to_line": 1.35,
    "income_to_line_lag1": 1.6,
    "income_to_line_change": -0.25,
    "income_slope_3y": -0.12,
    "income_cv_3y": 0.07,
    "rigid_income_to_line": 1.1,
    "rigid_income_to_line_lag1": 1.45,
    "rigid_spend_to_line": 0.25,
    "market_income_to_line": 0.93,
    "market_income_to_line_lag1": 1.1,
    "transfer_to_line": 0.42,
    "years_since_exit": 8.0,
    "labour_total": 2,
    "dependency_ratio": 1.0,
    "oop_to_income": 0.18,
    "transfer_share": 0.31,
    "wage_share": 0.52,
    "business_share": 0.15,
    "n_income_sources": 3,
    "single_earner": False,
    "costly_students": 0,
    "new_severe_disability": False,
    "village_monitored_share": 0.08,
}
"""A household not monitored, one year after its income fell towards the line, with a serious
illness: it meets no criterion yet, so it gets the main model's probability."""

_STRICT = {"extra": "forbid", "strict": True, "allow_inf_nan": False}

RECORD_REQUIRED = RECORD_IDS + [n for n in REQUIRED_FIELDS if n in FEATURES]
"""Record fields every model reads; the others are needed when the model in service reads them."""
NEEDED_DOC = (
    "The schema requires only the fields every model reads; each other field is needed when the "
    "model in service reads it (a model trained on a panel without some fields does not: its "
    "features and `features_absent` are in its MLflow run and model card). A needed field left "
    "out gets 422 naming it; a field the model does not read may be left out and is ignored "
    "when sent. Fields that may be left out are never null."
)

ModelInputRecord = create_model(
    "ModelInputRecord",
    __config__=ConfigDict(**_STRICT, json_schema_extra={"examples": [EXAMPLE_RECORD]}),
    __doc__="One household-year as the model reads it (columns of the feature builder), with its "
    "derived fields filled in by the caller: they are checked against the facts in the record "
    "(422 naming the field). With `monitor_line`, income relative to the line is checked too. "
    "Prefer `households` (facts in, derived fields computed here). " + NEEDED_DOC,
    **{c.name: _annotation(c, omittable=c.name not in RECORD_REQUIRED) for c in RECORD_COLUMNS},
    monitor_line=_annotation(PANEL["monitor_line"], optional=True),
)
RECORD_NAMES = [c.name for c in RECORD_COLUMNS]
assert set(EXAMPLE_RECORD) == set(RECORD_NAMES)

EXAMPLE_FACTS = {
    **{k: v for k, v in EXAMPLE_RECORD.items() if k in PANEL},
    "exit_year": 2017,
    "new_serious_illness": True,
    "new_disability": False,
    "head_sex": "male",
    "head_ethnicity": "zhuang",
    "inc_wage": 17472.0,
    "inc_business": 5040.0,
    "inc_property": 672.0,
    "inc_transfer": 10416.0,
    "monitor_line": 6200.0,
    "monitor_category": "none",
    "risk_type": "none",
}
"""The panel row of the example household for 2025 (income components add up to 8,400 x 4;
8,400 is 1.35 x the line)."""
EXAMPLE_HISTORY = [
    {
        **EXAMPLE_FACTS,
        "year": 2024,
        "net_income_pc": 9600.0,
        "inc_wage": 20000.0,
        "inc_business": 5760.0,
        "inc_property": 768.0,
        "inc_transfer": 11872.0,
        "monitor_line": 6000.0,
        "oop_medical": 2000.0,
        "n_serious_ill": 0,
        "new_serious_illness": False,
    }
]

PanelFacts = create_model(
    "PanelFacts",
    __config__=ConfigDict(**_STRICT, json_schema_extra={"examples": [EXAMPLE_FACTS]}),
    __doc__="One household-year of the panel, as the national monitoring system exports it "
    "(audit-only columns may be left out; personal ones, the head's name, are never sent). "
    f"Always required: {', '.join(REQUIRED_FIELDS)}. " + NEEDED_DOC,
    **{
        c.name: _annotation(c, optional=c.role == "audit", omittable=c.name not in REQUIRED_FIELDS)
        for c in PANEL_COLUMNS
        if c.role != "personal"
    },
)


class HouseholdFacts(BaseModel):
    """A household's facts for the year scored, optionally with its rows for the two years
    before. Without them, the rows of the panel the service was started with are used when it
    has them (`history_source` says which); else lags and trends are missing, as for a household
    new to the panel."""

    model_config = ConfigDict(extra="forbid")
    facts: PanelFacts  # type: ignore[valid-type]
    history: list[PanelFacts] = Field(  # type: ignore[valid-type]
        default_factory=list,
        max_length=2,
        description="the same household's rows for year-1 and year-2",
    )
    village_monitored_share: Annotated[float, Field(ge=0, le=1, strict=False)] | None = Field(
        None,
        description="本村监测户占比 / share of the village's households under monitoring in the "
        "year (a village fact: the only derived feature one household's rows cannot give); "
        "needed when the model in service reads it",
    )


EXAMPLE_HOUSEHOLD = {
    "facts": EXAMPLE_FACTS,
    "history": EXAMPLE_HISTORY,
    "village_monitored_share": 0.08,
}


class ScoreRequest(BaseModel):
    """Either `households` (panel facts; every derived feature is computed here with the
    library's feature builder) or `records` (derived fields filled in, checked)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"households": [EXAMPLE_HOUSEHOLD]}, {"records": [EXAMPLE_RECORD]}]
        },
    )
    households: list[HouseholdFacts] | None = Field(None, min_length=1, max_length=MAX_RECORDS)
    records: list[ModelInputRecord] | None = Field(  # type: ignore[valid-type]
        None, min_length=1, max_length=MAX_RECORDS
    )

    @model_validator(mode="after")
    def _one_form(self) -> ScoreRequest:
        if (self.households is None) == (self.records is None):
            raise ValueError("send either 'households' (facts) or 'records' (derived), not both")
        return self


class Measure(BaseModel):
    zh: str
    en: str


class Reason(BaseModel):
    risk_type: str
    label_zh: str
    label_en: str
    contribution: float = Field(description="log-odds added to the score by this risk type")
    text_zh: str
    text_en: str
    actionable: bool
    measures: list[Measure]
    features: list[str]


class Protective(BaseModel):
    feature: str
    contribution: float
    text_zh: str
    text_en: str


RuleFlags = create_model(
    "RuleFlags",
    **{k: (bool, Field(description=f"{zh} / {en}")) for k, (zh, en) in RULES.items()},
    any_rule=(bool, Field(description="any official rule fired: always on the worklist")),
)

Dimensions = create_model(
    "Dimensions",
    **{k: (float, Field(description=f"{zh} / {en}")) for k, (zh, en) in DIMENSIONS.items()},
)


Tier = Literal["red", "amber", "green"]
Status = Literal["monitored", "meets_criteria", "not_monitored"]
StoredStatus = Literal["monitored", "meets_criteria", "not_monitored", "data_check"]
ServedLabel = Literal["meets_criteria", "persistent"]

STATUS_DOC = (
    "monitored (已纳入监测); meets_criteria (meets the 纳入条件 now but is not monitored: "
    "verify and enrol, no probability); not_monitored; in stored batches also data_check "
    "(数据待核实: the household's row was invalid, no probability, the failed rules in "
    "data_check)"
)
LABEL_DOC = (
    "the model that gave the probability: meets_criteria (will a household not monitored meet "
    "the criteria by the next sweep) or persistent (will a monitored household's risk still be "
    "there in a year); null when there is no probability"
)


class Unusual(BaseModel):
    """Whether the household is unlike those the model learned from (values outside the training
    range, a combination never seen, a rare profile): its score is then indicative only."""

    flagged: bool
    note_zh: str = Field(description="「该户情况少见，评分仅供参考」 when flagged, else empty")
    reasons_zh: list[str]
    reasons_en: list[str]


def interval_of(low, high) -> list[float] | None:
    """[low, high] of a probability's interval, None where there is none (NaN or NULL)."""
    if low is None or high is None or low != low or high != high:
        return None
    return [float(low), float(high)]


def unusual_item(flagged: bool, zh: str | list[str], en: str | list[str]) -> dict:
    """The `unusual` object from a score's flag and reasons (lists, or text as stored)."""
    if isinstance(zh, str):
        zh, en = [r for r in zh.split("；") if r], [r for r in en.split("; ") if r]
    flagged = bool(flagged)
    return {
        "flagged": flagged,
        "note_zh": UNUSUAL_ZH if flagged else "",
        "reasons_zh": list(zh),
        "reasons_en": list(en),
    }


class Criterion(BaseModel):
    code: Literal[tuple(CRITERIA)]  # type: ignore[valid-type]
    zh: str
    en: str


def criteria_list(codes: str) -> list[dict]:
    """The criteria met, from the comma-separated codes stored with each score."""
    return [{"code": c, "zh": CRITERIA[c][0], "en": CRITERIA[c][1]} for c in codes.split(",") if c]


class HouseholdScore(BaseModel):
    hh_id: str
    year: int
    village_id: str
    township_id: str
    status: Status = Field(description=STATUS_DOC)
    label: ServedLabel | None = Field(description=LABEL_DOC)
    probability: float | None = Field(
        ge=0, le=1, description="probability of the label's event next year; null when none"
    )
    tier: Tier | None = Field(description="null when there is no probability")
    probability_interval: list[float] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="90% interval [low, high] of the probability (riskmodel.interval); null "
        "when there is no probability or the model has no interval",
    )
    criteria: list[Criterion] = Field(description="the 纳入条件 the household meets now")
    rule_flags: RuleFlags  # type: ignore[valid-type]
    reasons: list[Reason]
    protective: list[Protective]
    dimensions: Dimensions  # type: ignore[valid-type]
    unusual: Unusual
    model_version: str = Field(
        description="version of the label's model (the main model's when there is no label)"
    )
    run_id: str


HistorySource = Literal["request", "panel", "none"]


class RequestScore(HouseholdScore):
    """A household scored from the request, and where its history came from."""

    history_source: HistorySource | None = Field(
        None,
        description="households form: where the rows of the years before came from: request "
        "(`history`), panel (the service's panel, RISKMODEL_PANEL, when the request sent none) "
        "or none (lags and trends missing); null for `records` (derived fields sent)",
    )
    history_years: list[int] | None = Field(
        None, description="households form: the years of the history rows used"
    )


class ScoreResponse(BaseModel):
    model_version: str
    run_id: str
    results: list[RequestScore]


class StoredHousehold(HouseholdScore):
    """A household's latest batch score: what /v1/scores returns, plus its place in the batch.
    A household whose row for the year was invalid has status `data_check` (「数据待核实」), no
    probability and the failed rules in `data_check`."""

    status: StoredStatus = Field(description=STATUS_DOC)  # type: ignore[assignment]
    data_check: str = Field("", description="rules its data failed (history rows or this year)")
    head_name: str | None = Field(
        None, description="户主, masked (张*明; never the full name); null where not recorded"
    )
    rank_in_village: int
    on_worklist: bool
    contributions: dict[str, float] | None = Field(
        None, description="every feature's contribution (with ?explain=full)"
    )
    scored_at: str
    service_model_version: str | None = Field(
        None, description="the model version the service runs"
    )
    note: str | None = Field(
        None, description="set when the stored score comes from another model version"
    )


class WorklistEntry(BaseModel):
    rank_in_village: int
    hh_id: str
    head_name: str | None = Field(
        None, description="户主, masked (张*明; never the full name); null where not recorded"
    )
    status: StoredStatus = Field(description=STATUS_DOC)
    label: ServedLabel | None = Field(description=LABEL_DOC)
    probability: float | None = Field(ge=0, le=1)
    probability_interval: list[float] | None = Field(None, min_length=2, max_length=2)
    tier: Tier | None
    criteria: list[Criterion]
    data_check: str = ""
    rule_flags: RuleFlags  # type: ignore[valid-type]
    reasons_zh: str
    reasons_en: str
    measures_zh: str
    measures_en: str
    unusual: Unusual


class Caseload(BaseModel):
    """The households expected to meet the criteria next year: the sum of the probabilities,
    with the 90% interval of that count (Poisson-binomial: each household an independent trial)."""

    households_new: int = Field(description="not monitored households with a probability")
    expected_new: float = Field(description="expected among them (sum of probabilities)")
    expected_new_low: int
    expected_new_high: int
    households_persistent: int = Field(description="monitored households with a probability")
    expected_persistent: float = Field(description="expected still to meet the criteria")
    expected_persistent_low: int
    expected_persistent_high: int
    meets_now: int = Field(description="households meeting the criteria now (verify and enrol)")


class Worklist(BaseModel):
    village_id: str
    township_id: str
    year: int
    model_version: str
    service_model_version: str | None = None
    note: str | None = None
    caseload: Caseload
    households: list[WorklistEntry]


class Problem(BaseModel):
    detail: str


class Ready(BaseModel):
    """Without an admin key (or the metrics token) only `ready` is shown."""

    ready: bool
    model_version: str | None = None
    persistent_model_version: str | None = Field(
        None,
        description="the persistent model in service (optional: monitored households get "
        "no probability without it)",
    )
    run_id: str | None = None
    store: bool | None = None
    last_reload_error: str | None = None


class ReloadResult(BaseModel):
    status: Literal["swapped", "unchanged"]
    model_version: str
    previous_version: str | None
    persistent_status: Literal["swapped", "unchanged", "absent"] = "absent"
    persistent_model_version: str | None = None


class Visit(VisitIn):
    """A stored visit."""

    model_config = ConfigDict(extra="forbid")

    id: int
    hh_id: str
    year: int
    village_id: str
    township_id: str


class Visits(BaseModel):
    hh_id: str
    visits: list[Visit]
