"""GET /v1/villages/{village_id}/worklist: a village's worklist from the stored batch."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Path

from riskmodel.api.deps import ERRORS, Key, ServiceDep, out_of_scope, rule_flags, service_note
from riskmodel.api.schemas import (
    Identifier,
    Problem,
    Worklist,
    criteria_list,
    interval_of,
    unusual_item,
)
from riskmodel.api.security import write_audit
from riskmodel.calibrate import caseload
from riskmodel.store import village_worklist

router = APIRouter(tags=["households"])


@router.get(
    "/v1/villages/{village_id}/worklist",
    response_model=Worklist,
    responses={**ERRORS, 404: {"model": Problem}},
)
def worklist(who: Key, svc: ServiceDep, village_id: Annotated[Identifier, Path()]) -> dict:
    """A village's worklist from the model in service (else the latest, with a note), as the
    batch decided it (`on_worklist`, one definition in the library, the same list as the
    workbook): households that meet the criteria now first (verify and enrol, with the
    criteria met), every household with a rule flag (policy forbids quotas), every household
    whose data must be verified (数据待核实) and the village's capacity share of the others."""
    version = svc.version_in_service()
    rows = village_worklist(svc.engine, village_id, prefer_version=version)
    if not rows or not who.can_read(rows[0]["township_id"], village_id):
        if who.township_id is not None:
            raise out_of_scope(who, "villages")
        raise HTTPException(404, f"village {village_id!r} has no batch scores")
    write_audit(
        svc.engine,
        who,
        "/v1/villages/{village_id}/worklist",
        village_id=village_id,
        model_version=rows[0]["model_version"],
    )
    listed = [r for r in rows if r["on_worklist"]]
    load = caseload(pd.DataFrame(rows), "village_id").iloc[0].to_dict()
    return {
        "village_id": village_id,
        "township_id": rows[0]["township_id"],
        "year": rows[0]["year"],
        "model_version": rows[0]["model_version"],
        **service_note(rows[0]["model_version"], version),
        "caseload": {k: v for k, v in load.items() if k not in ("village_id", "township_id")},
        "households": [
            {
                "rank_in_village": r["rank_in_village"],
                "hh_id": r["hh_id"],
                "head_name": r["head_name"],
                "status": r["status"],
                "label": r["label"],
                "probability": r["probability"],
                "tier": r["tier"],
                "probability_interval": interval_of(r["probability_low"], r["probability_high"]),
                "criteria": criteria_list(r["criteria"]),
                "data_check": r["data_check"],
                "rule_flags": rule_flags(r),
                **{k: r[k] for k in ("reasons_zh", "reasons_en", "measures_zh", "measures_en")},
                "unusual": unusual_item(r["unusual"], r["unusual_zh"], r["unusual_en"]),
            }
            for r in listed
        ],
    }
