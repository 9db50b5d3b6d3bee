"""Verification visits: what cadres found at a household (risk confirmed or not, enrolled or not,
measures agreed), kept in the store by household and year across re-scoring, and exported as the
label `verified_risk`.

Caution: visited households are not a random sample. Cadres visit the households the worklist and
the official criteria put first, so `verified_risk` over-represents high scores and says nothing
directly about the households nobody visited; use it to check the model on visited households or
as an extra label with that selection stated (the model card says so when it is used).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Engine

from riskmodel.catalogue import MEASURES, RISK_TYPES
from riskmodel.store import now, visits

VERIFICATION: dict[str, tuple[str, str]] = {
    "confirmed": ("风险属实", "risk confirmed"),
    "not_confirmed": ("风险不属实", "risk not confirmed"),
    "unreachable": ("未能联系到户", "could not reach the household"),
}
"""核实情况."""

OUTCOMES: dict[str, tuple[str, str]] = {
    "enrolled": ("纳入监测", "enrolled for monitoring"),
    "not_enrolled": ("不纳入", "not enrolled"),
    "already_monitored": ("已在监测", "already monitored"),
}
"""处置结果."""

NOTE_MAX = 500
FIRST_VISIT = date(2014, 1, 1)

VERIFIED_RISK = {"confirmed": True, "not_confirmed": False}
"""The label a visit gives; a household not reached gives none."""


def measure_names() -> list[str]:
    """The assistance measures the catalogue knows, in its order (offered on the visit form)."""
    return list(dict.fromkeys(option[0] for options in MEASURES.values() for option in options))


class VisitIn(BaseModel):
    """A visit as the API and the form send it; errors name the field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    visited_on: date = Field(description="the visit's date (日期), not in the future")
    cadre: str = Field(min_length=1, max_length=64, description="核实人: the cadre who visited")
    verification: Literal["confirmed", "not_confirmed", "unreachable"] = Field(
        description="核实情况: " + "; ".join(f"{k} {v[0]}" for k, v in VERIFICATION.items())
    )
    outcome: Literal["enrolled", "not_enrolled", "already_monitored"] = Field(
        description="处置结果: " + "; ".join(f"{k} {v[0]}" for k, v in OUTCOMES.items())
    )
    risk_types: list[str] = Field(
        default_factory=list,
        max_length=len(RISK_TYPES),
        description="risk types found (codes): " + ", ".join(RISK_TYPES),
    )
    measures: list[str] = Field(
        default_factory=list, max_length=10, description="帮扶措施 agreed (names, up to 10)"
    )
    risk_eliminated: bool | None = Field(
        None, description="风险是否消除: only for households already monitored"
    )
    note: str = Field("", max_length=NOTE_MAX, description=f"备注, at most {NOTE_MAX} characters")
    year: int | None = Field(
        None,
        ge=FIRST_VISIT.year,
        le=2100,
        description="the scoring year the visit answers (default: the household's latest)",
    )

    @field_validator("visited_on")
    @classmethod
    def _not_future(cls, v: date) -> date:
        if v > date.today():
            raise ValueError("must not be in the future")
        if v < FIRST_VISIT:
            raise ValueError(f"must be on or after {FIRST_VISIT}")
        return v

    @field_validator("risk_types")
    @classmethod
    def _known_risk_types(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t not in RISK_TYPES]
        if unknown:
            raise ValueError(f"unknown risk type {unknown[0]!r}; known: {', '.join(RISK_TYPES)}")
        return list(dict.fromkeys(v))

    @field_validator("measures")
    @classmethod
    def _short_measures(cls, v: list[str]) -> list[str]:
        v = [m.strip() for m in v if m.strip()]
        if any(len(m) > 40 or "," in m for m in v):
            raise ValueError("each measure at most 40 characters, without commas")
        return list(dict.fromkeys(v))


class VisitRefused(ValueError):
    """A visit that does not fit the household; `field` names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def record_visit(
    engine: Engine,
    visit: VisitIn,
    household: dict,
    key_id: str | None = None,
    user_id: int | None = None,
) -> dict:
    """Store a visit to a household (its stored score row gives village, township, year and
    status); return it as `visits_of` lists it."""
    if visit.risk_eliminated is not None and household["status"] != "monitored":
        raise VisitRefused(
            "risk_eliminated", "only for households already monitored (风险是否消除)"
        )
    row = {
        "hh_id": household["hh_id"],
        "year": visit.year if visit.year is not None else int(household["year"]),
        "village_id": household["village_id"],
        "township_id": household["township_id"],
        "visited_on": visit.visited_on,
        "cadre": visit.cadre,
        "verification": visit.verification,
        "outcome": visit.outcome,
        "risk_types": ",".join(visit.risk_types),
        "measures": ",".join(visit.measures),
        "risk_eliminated": visit.risk_eliminated,
        "note": visit.note,
        "key_id": key_id,
        "user_id": user_id,
        "recorded_at": now(),
    }
    with engine.begin() as conn:
        row["id"] = conn.execute(visits.insert().values(**row)).inserted_primary_key[0]
    return _out(row)


def visits_of(engine: Engine, hh_id: str) -> list[dict]:
    """A household's visits, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(visits)
            .where(visits.c.hh_id == hh_id)
            .order_by(visits.c.visited_on.desc(), visits.c.id.desc())
        ).mappings()
        return [_out(dict(r)) for r in rows]


def visits_by_household(
    engine: Engine, village_id: str | None = None, year: int | None = None
) -> dict[str, list[dict]]:
    """Every visit (of one village, answering one year), grouped by household, newest first."""
    q = sa.select(visits).order_by(visits.c.visited_on.desc(), visits.c.id.desc())
    if village_id is not None:
        q = q.where(visits.c.village_id == village_id)
    if year is not None:
        q = q.where(visits.c.year == year)
    out: dict[str, list[dict]] = {}
    with engine.connect() as conn:
        for r in conn.execute(q).mappings():
            out.setdefault(r["hh_id"], []).append(_out(dict(r)))
    return out


def latest_visits(engine: Engine, year: int) -> dict[str, dict]:
    """Each household's latest visit answering `year` (the next 台账's visit columns)."""
    return {hh_id: rows[0] for hh_id, rows in visits_by_household(engine, year=year).items()}


def _out(row: dict) -> dict:
    return {
        "id": row["id"],
        "hh_id": row["hh_id"],
        "year": row["year"],
        "village_id": row["village_id"],
        "township_id": row["township_id"],
        "visited_on": row["visited_on"].isoformat(),
        "cadre": row["cadre"],
        "verification": row["verification"],
        "outcome": row["outcome"],
        "risk_types": [t for t in row["risk_types"].split(",") if t],
        "measures": [m for m in row["measures"].split(",") if m],
        "risk_eliminated": row["risk_eliminated"],
        "note": row["note"],
    }


def visits_table(engine: Engine) -> pd.DataFrame:
    """One row per household and year with its latest visit, and `verified_risk` (True: risk
    confirmed; False: not confirmed; missing: not reached). Not a random sample: see the module's
    caution."""
    with engine.connect() as conn:
        rows = (
            conn.execute(sa.select(visits).order_by(visits.c.visited_on, visits.c.id))
            .mappings()
            .all()
        )
    columns = [
        "hh_id",
        "year",
        "village_id",
        "township_id",
        "visited_on",
        "verification",
        "outcome",
        "risk_types",
        "risk_eliminated",
        "visits",
    ]
    if not rows:
        frame = pd.DataFrame(columns=columns)
        frame["verified_risk"] = pd.Series(dtype="boolean")
        return frame
    frame = pd.DataFrame([dict(r) for r in rows])
    frame["visits"] = frame.groupby(["hh_id", "year"])["id"].transform("size")
    latest = frame.drop_duplicates(["hh_id", "year"], keep="last")[columns].reset_index(drop=True)
    latest["verified_risk"] = pd.array(
        [VERIFIED_RISK.get(v) for v in latest["verification"]], dtype="boolean"
    )
    latest["risk_eliminated"] = latest["risk_eliminated"].astype("boolean")
    return latest


VISITS_FILE = "visits.parquet"
"""Where training looks for the exported visits: beside the panel (`riskmodel visits export`)."""

SELECTION_CAUTION = (
    "visited households are not a random sample (cadres visit those the worklist and the "
    "official criteria put first), so these figures describe the visited households only"
)


def check_against_visits(
    test: pd.DataFrame, probability: np.ndarray, visits_path: Path
) -> dict[str, float | str]:
    """The model's test-year probabilities against `verified_risk` of the households visited
    that year: how many, how many confirmed, ROC-AUC when both answers occur, and the note the
    model card prints (with the selection caution)."""
    table = pd.read_parquet(visits_path, columns=["hh_id", "year", "verified_risk"])
    table = table[table["verified_risk"].notna()]
    rows = test[["hh_id", "year"]].assign(p=probability).merge(table, on=["hh_id", "year"])
    n, confirmed = len(rows), int(rows["verified_risk"].astype(bool).sum())
    out: dict[str, float | str] = {
        "visits_verified": float(n),
        "visits_confirmed": float(confirmed),
    }
    if 0 < confirmed < n:
        from sklearn.metrics import roc_auc_score

        out["visits_roc_auc"] = float(roc_auc_score(rows["verified_risk"].astype(bool), rows["p"]))
    auc = f", ROC-AUC {out['visits_roc_auc']:.3f}" if "visits_roc_auc" in out else ""
    out["visits_note"] = (
        f"verification visits ({visits_path.name}): {n:,} test-year households visited with a "
        f"verified answer, {confirmed:,} with the risk confirmed{auc}; {SELECTION_CAUTION}"
    )
    return out
