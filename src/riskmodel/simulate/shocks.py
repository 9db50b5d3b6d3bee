"""Shocks a county can be run through in a chosen year: a border closure, a flood in some
townships, a price collapse for one crop.

A shock changes the year's outlook (prices, migrants' months, unemployment, village disasters), so
the step draws from it and the oracle integrates over it: the oracle stays exact. Without shocks
every value here is the calibration's own, untouched, and the county is the default one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["border_closure", "flood", "price_collapse"]
CROPS = ("sugarcane", "cattle", "forestry", "modern_agri", "tourism", "border_trade")


class Shock(BaseModel):
    """One shock in one year. `severity` is the share of the price or trade lost (border
    closure, price collapse) or the probability that a village of the flooded townships is hit."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    year: int = Field(ge=2010, le=2040)
    severity: float = Field(0.7, gt=0, le=1)
    townships: list[str] = Field(
        default_factory=list, description="flood: the townships hit (T01 …); empty: all"
    )
    crop: Literal[CROPS] = "sugarcane"  # type: ignore[valid-type]

    def hits(self, year: int, kind: str) -> bool:
        return self.year == year and self.kind == kind


def parse_shock(text: str) -> Shock:
    """`kind:year[:detail][@severity]`: `border_closure:2023`, `flood:2023:T01,T02,T03`,
    `price_collapse:2023:sugarcane@0.6`."""
    body, _, severity = text.partition("@")
    parts = body.split(":")
    if len(parts) < 2 or not parts[1].strip().isdigit():
        raise ValueError(
            f"shock {text!r}: expected kind:year[:detail][@severity], for example "
            "flood:2023:T01,T02 or price_collapse:2023:sugarcane@0.6"
        )
    fields: dict = {"kind": parts[0].strip(), "year": int(parts[1])}
    if len(parts) > 2 and parts[2].strip():
        detail = parts[2].strip()
        if fields["kind"] == "flood":
            fields["townships"] = [t.strip() for t in detail.split(",") if t.strip()]
        else:
            fields["crop"] = detail
    if severity:
        fields["severity"] = float(severity)
    return Shock(**fields)


def price_index(shocks: list[Shock], name: str, year: int, base: float) -> float:
    """The year's price or trade index of an industry after any shock."""
    for s in shocks:
        if s.hits(year, "price_collapse") and s.crop == name:
            base *= 1 - s.severity
        if s.hits(year, "border_closure") and name == "border_trade":
            base *= 1 - s.severity
        if s.hits(year, "border_closure") and name == "tourism":
            base *= 1 - s.severity / 2
    return base


def migrant_months(shocks: list[Shock], year: int, base: float) -> float:
    """Share of usual months migrants can work: a border closure keeps some at home."""
    for s in shocks:
        if s.hits(year, "border_closure"):
            base *= 1 - 0.3 * s.severity
    return base


def unemployment_rate(shocks: list[Shock], year: int, base: float) -> float:
    for s in shocks:
        if s.hits(year, "border_closure"):
            base = min(1.0, base + 0.2 * s.severity)
    return base


def disaster_rate(
    shocks: list[Shock], year: int, rate: np.ndarray, township_of_village: np.ndarray
) -> np.ndarray:
    """(V,) village disaster probability: a flood hits the villages of its townships."""
    for s in shocks:
        if s.hits(year, "flood"):
            names = np.char.add("T", np.char.zfill((township_of_village + 1).astype(str), 2))
            hit = np.isin(names, s.townships) if s.townships else np.ones(len(rate), bool)
            rate = np.where(hit, np.maximum(rate, s.severity), rate)
    return rate
