"""GET /v1/households/{hh_id}: a household's stored batch score."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from riskmodel.api.deps import ERRORS, Key, ServiceDep, out_of_scope, rule_flags, service_note
from riskmodel.api.schemas import (
    Identifier,
    Problem,
    StoredHousehold,
    criteria_list,
    interval_of,
    unusual_item,
)
from riskmodel.api.security import write_audit
from riskmodel.catalogue import DIMENSIONS
from riskmodel.reasons import item_from_stored
from riskmodel.store import latest_score

router = APIRouter(tags=["households"])

STORED_FIELDS = (
    "hh_id",
    "year",
    "village_id",
    "township_id",
    "status",
    "label",
    "probability",
    "tier",
    "rank_in_village",
    "on_worklist",
    "run_id",
    "data_check",
    "head_name",
)


@router.get(
    "/v1/households/{hh_id}",
    response_model=StoredHousehold,
    responses={**ERRORS, 404: {"model": Problem}},
)
def household(
    who: Key,
    svc: ServiceDep,
    hh_id: Annotated[Identifier, Path()],
    explain_: Annotated[str | None, Query(alias="explain", pattern="^full$")] = None,
) -> dict:
    """The batch score of a household from the model in service (else the latest, with a note
    naming its version): status, criteria met, the population's probability with its label,
    reasons; `?explain=full` adds every feature's contribution."""
    version = svc.version_in_service()
    row = latest_score(svc.engine, hh_id, prefer_version=version)
    if row is None or not who.can_read(row["township_id"], row["village_id"]):
        if who.township_id is not None:
            raise out_of_scope(who, "households")
        raise HTTPException(
            404, f"household {hh_id!r} has no batch score; run `riskmodel score` or check the id"
        )
    write_audit(
        svc.engine, who, "/v1/households/{hh_id}", hh_id=hh_id, model_version=row["model_version"]
    )
    item = item_from_stored(
        row["reasons_json"], row["contributions"], row["features"], full=explain_ == "full"
    )
    return {
        **{k: row[k] for k in STORED_FIELDS},
        "model_version": row["label_version"] or row["model_version"],
        "criteria": criteria_list(row["criteria"]),
        "rule_flags": rule_flags(row),
        "reasons": item["reasons"],
        "protective": item["protective"],
        "dimensions": item.get("dimensions", dict.fromkeys(DIMENSIONS, 0.0)),
        "contributions": item.get("contributions"),
        "unusual": unusual_item(row["unusual"], row["unusual_zh"], row["unusual_en"]),
        "probability_interval": interval_of(row["probability_low"], row["probability_high"]),
        "scored_at": row["scored_at"].isoformat(),
        **service_note(row["model_version"], version),
    }
