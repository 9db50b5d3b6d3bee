"""A Ningming-like county simulated household by household, with the exact probability of each label.

Every year t the simulator computes, for each household, a hazard of being below the monitoring line
in t+1 from what the panel shows up to t. It draws that outcome first, together with a household
event (illness, disability, accident, job loss, industry failure) and a village disaster, and then
generates year t+1 so that it agrees with the draws. The oracle is therefore an exact finite sum over
the event and disaster, not an estimate. Calibration targets and their sources live in
`CALIBRATION` and `MECHANISMS`, which also write the data card.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from riskmodel.catalogue import INDUSTRIES, PANEL, PANEL_COLUMNS
from riskmodel.io import write_parquet, write_text

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Calibration: published figures (with sources) and our assumptions (marked as such)

NATIONAL_STANDARD = {2014: 2800, 2015: 2855, 2016: 2952, 2017: 3335, 2018: 3535, 2019: 3747}
"""National rural poverty standard, yuan per person per year (2,300 at 2010 prices, adjusted)."""

MONITOR_LINE_2020_ON = {2020: 6000, 2021: 6000, 2022: 6500, 2023: 7000, 2024: 7400, 2025: 7800}
"""ASSUMPTION for Guangxi: 2020-2021 is 1.5 x the ~4,000 standard (S1, S4); 2022 onward bracketed
by Guizhou 7,300 (2023) and Yunnan 8,050 (2023) / 8,700 (2025). Later years grow 5%/yr."""


def monitor_line(year: int) -> float:
    """The monitoring line for a year: 1.5x the national standard to 2019, then the line series."""
    if year in NATIONAL_STANDARD:
        return round(1.5 * NATIONAL_STANDARD[year], 0)
    if year in MONITOR_LINE_2020_ON:
        return float(MONITOR_LINE_2020_ON[year])
    if year < 2014:
        return round(1.5 * NATIONAL_STANDARD[2014] * 0.95 ** (2014 - year), 0)
    return round(MONITOR_LINE_2020_ON[2025] * 1.05 ** (year - 2025), 0)


RELAPSE_TARGET = {
    2014: 0.050,
    2015: 0.045,
    2016: 0.040,
    2017: 0.035,
    2018: 0.030,
    2019: 0.055,
    2020: 0.035,
    2021: 0.030,
}
"""Share of all household-years at t that fall below the line in t+1 (keyed by t). ASSUMPTION
within the 2-6% range of domain.md B11, falling with the official counts (S30, S31) and higher
into 2020 (COVID). From 2022 on: 2.8%."""

EXIT_YEARS = {2014: 900, 2015: 850, 2016: 4300, 2017: 4600, 2018: 4900, 2019: 3542, 2020: 208}
"""Exits by year for a county of 19,300 exited households: 17,342 in 2016-2019 (Ningming, source
article); 2014-2015 and 2020 fill the 19,000+ monitored since 2014 (ASSUMPTION on the split)."""

TOWNSHIPS = [
    "城中镇",
    "明江镇",
    "海渊镇",
    "亭亮镇",
    "寨安乡",
    "峙浪乡",
    "那堪镇",
    "东安乡",
    "板棍乡",
    "北江乡",
    "桐棉镇",
    "那楠乡",
    "爱店镇",
]
"""Ningming's 13 townships; township_id T01..T13 follows this order."""

SUGARCANE_PRICE = {
    2014: 1.00,
    2015: 0.92,
    2016: 1.05,
    2017: 1.10,
    2018: 1.02,
    2019: 0.95,
    2020: 0.98,
    2021: 1.03,
    2022: 1.08,
    2023: 1.06,
    2024: 1.00,
    2025: 1.02,
}
"""County sugarcane purchase price index (ASSUMPTION; 2014 = 1)."""

CALIBRATION = [
    (
        "mean household size of exited households",
        "about 4.2",
        "72,060 people / 17,342 households (source article)",
    ),
    ("townships / villages / former poor villages", "13 / 162 / 57", "source article"),
    ("exited households", "19,000+; 17,342 exits in 2016-2019", "source article"),
    ("relocated households", "1,176 (6.8% of exited)", "source article"),
    ("public-welfare jobs", "684 (about 3.9% of exited households)", "source article"),
    ("workshop jobs", "332 people in 77 workshops", "source article"),
    ("centralised water supply", "88.6% of households (2020)", "source article"),
    ("industry coverage of poor households", "96.75%", "source article"),
    (
        "income shares of exited households",
        "wage 55-67%, transfer 15-27%",
        "S7, S28 (domain.md C3)",
    ),
    (
        "relapse (below the line next year)",
        "2-6% a year, higher into 2020",
        "S3, S10, S30, S31; B11",
    ),
    ("newly identified monitoring objects", "3-6% a year from 2020", "S3, S10 (Baoshan 2021 ~5%)"),
    ("elimination within a year", "about 50-60%", "S6, S10, S19"),
    ("medical out-of-pocket warning", "over 20,000 yuan a year", "S16"),
]

MECHANISMS = [
    (
        "serious illness",
        "因病",
        "A member with a serious illness, and out-of-pocket spending large "
        "relative to income, raise next year's hazard; a new serious illness (1.5-4% of households a "
        "year, more with older or chronically ill members) strongly raises it, stops that member's work "
        "and costs 8,000-40,000 yuan.",
        "S37-S39, S16; onset rate ASSUMPTION",
    ),
    (
        "new disability",
        "因残",
        "A certificate issued to a member (about 0.8% of households a year, 40% "
        "grade 1-2) removes or weakens their labour; severe disability raises the hazard every year.",
        "domain.md C4 (ASSUMPTION)",
    ),
    (
        "labour loss and ageing",
        "缺劳动力",
        "Heads aged 60+, households with no full labour and high "
        "dependency ratios carry a higher hazard; members age out of work, and an accident (0.4%) can "
        "injure or kill a labourer.",
        "S12, S17, M12",
    ),
    (
        "schooling costs",
        "因学",
        "Each student in senior, vocational or tertiary education, and a "
        "child about to enter senior school, raises the hazard (rigid spending 3,000-15,000 yuan).",
        "domain.md C4 (ASSUMPTION)",
    ),
    (
        "village disasters",
        "因灾",
        "A village disaster (4% a year, 12% in flood-prone villages) cuts "
        "farm business income by 20-70% and damages some houses; a disaster this year also lingers "
        "into next year's hazard.",
        "domain.md C4 (ASSUMPTION)",
    ),
    (
        "unemployment, with a 2020 shock",
        "因务工就业不稳",
        "A migrant worker loses 4-10 months of "
        "work (9% of households with migrants a year; 28% in 2020, 13% in 2021); a single earner "
        "carrying all wage income raises the hazard.",
        "domain.md C4 (ASSUMPTION)",
    ),
    (
        "industry price or project failure",
        "因产业项目失败",
        "A project or price failure (3% of "
        "households with an industry, more when the sugarcane price index is low) wipes out most of "
        "a year's business income.",
        "domain.md C4 (ASSUMPTION)",
    ),
    (
        "dependence on transfers",
        "收入结构/转移依赖",
        "A high transfer share of income and income "
        "near the line (the strongest single factor), a falling or volatile 3-year income trajectory "
        "raise the hazard.",
        "S35, S33",
    ),
    (
        "neighbourhood",
        "其他",
        "The share of the village's households under active monitoring "
        "raises the hazard (common local shocks, weaker networks).",
        "domain.md (d), ASSUMPTION",
    ),
    (
        "protective: public-welfare and workshop jobs, skills, diversified income, motivation, "
        "monitoring support",
        "",
        "A public-welfare job, skills training, three or more income "
        "sources, a higher motivation score and active monitoring (assistance measures) lower the "
        "hazard.",
        "S6, source article; sizes ASSUMPTION",
    ),
]

# ---------------------------------------------------------------------------------------------


class SimulationConfig(BaseModel):
    """What to simulate. The defaults are the Ningming-like county."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 7
    households: int = Field(19_300, ge=50, description="households that left poverty")
    general_share: float = Field(0.42, ge=0, le=2, description="general households per exited one")
    first_year: int = Field(2014, ge=2010, le=2030)
    last_year: int = Field(2025, ge=2011, le=2040)
    townships: int = Field(13, ge=1, le=13)
    villages: int = Field(162, ge=1)
    poor_villages: int = Field(57, ge=0)


@dataclass
class Simulation:
    panel: pd.DataFrame
    oracle: pd.DataFrame
    config: SimulationConfig


EVENTS = ["none", "illness", "disability", "accident", "unemployment", "industry"]
MAX_MEMBERS = 12


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _wage_index(year: int) -> float:
    if year <= 2020:
        return 1.085 ** (year - 2019) * 0.98 if year < 2020 else 1.0
    return 1.055 ** (year - 2020)


def _price_index(year: int) -> float:
    return SUGARCANE_PRICE.get(year, 1.0)


class _County:
    """Mutable state of every household and member, advanced one year at a time."""

    def __init__(self, cfg: SimulationConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        scale = cfg.households / sum(EXIT_YEARS.values())
        exit_years = np.concatenate([np.full(round(n * scale), y) for y, n in EXIT_YEARS.items()])[
            : cfg.households
        ]
        n_exited = len(exit_years)
        n_general = round(n_exited * cfg.general_share)
        H = self.H = n_exited + n_general
        self.exited = np.r_[np.ones(n_exited, bool), np.zeros(n_general, bool)]
        self.exit_year = np.r_[exit_years, np.full(n_general, -1)]
        self.start_year = np.where(
            self.exited, np.maximum(self.exit_year, cfg.first_year), cfg.first_year
        )
        self.alive = np.ones(H, bool)

        # geography: villages spread over townships, former poor villages hold more exited households
        V = cfg.villages
        self.village_township = np.sort(rng.integers(0, cfg.townships, V))
        self.village_township[: cfg.townships] = np.arange(cfg.townships)  # none empty
        self.village_township.sort()
        self.village_poor = np.zeros(V, bool)
        self.village_poor[rng.choice(V, min(cfg.poor_villages, V), replace=False)] = True
        self.village_flood = rng.random(V) < 0.3
        self.village_water_year = np.where(
            rng.random(V) < 0.89, rng.integers(2008, 2021, V), rng.integers(2021, 2030, V)
        )
        w_ex = np.where(self.village_poor, 2.5, 1.0)
        self.village = np.where(
            self.exited,
            rng.choice(V, H, p=w_ex / w_ex.sum()),
            rng.choice(V, H),
        )
        self.coll_income = np.where(
            self.village_poor, rng.uniform(0.2, 1.0, V), rng.uniform(0.5, 3.0, V)
        )

        # household traits
        # relocation served households exiting in 2016-2019 (1,176 of 17,342)
        pool = np.flatnonzero(self.exited & (self.exit_year >= 2016) & (self.exit_year <= 2019))
        self.relocated = np.zeros(H, bool)
        self.relocated[rng.choice(pool, min(round(1176 * scale), len(pool)), replace=False)] = True
        self.ethnicity = rng.choice(4, H, p=[0.70, 0.25, 0.03, 0.02])
        self.head_edu = np.where(
            self.exited,
            rng.choice(5, H, p=[0.12, 0.45, 0.35, 0.07, 0.01]),
            rng.choice(5, H, p=[0.06, 0.35, 0.42, 0.13, 0.04]),
        )
        ind_general = rng.choice(len(INDUSTRIES), H, p=[0.30, 0.18, 0.14, 0.05, 0.04, 0.09, 0.20])
        ind_exited = np.where(
            rng.random(H) < 0.9675, rng.choice(6, H, p=[0.40, 0.24, 0.20, 0.04, 0.03, 0.09]), 6
        )
        self.industry = np.where(self.exited, ind_exited, ind_general)
        self.land = np.clip(rng.lognormal(np.log(5.0), 0.6, H), 0.2, 60)
        self.land[self.relocated] *= 0.25
        self.industry_support = self.exited & (rng.random(H) < 0.9675)
        self.microcredit = self.exited & (rng.random(H) < 0.2)
        self.motivation = np.clip(np.round(rng.normal(3.6, 0.9, H)), 1, 5).astype(int)
        self.skills = rng.random(H) < np.where(self.exited, 0.08, 0.12)
        self.pw_job = np.zeros(H, bool)
        self.workshop = np.zeros(H, bool)
        self.dibao = np.zeros(H, bool)
        self.housing_safe = rng.random(H) > np.where(self.exited, 0.06, 0.03)
        self.water_private_safe = rng.random(H) < 0.8
        self.water_connected = rng.random(H) < 0.995
        self.insured = np.ones(H, bool)
        self.wage_factor = rng.lognormal(0, 0.25, H)
        self.bus_factor = rng.lognormal(0, 0.3, H)

        # monitoring: 0 never, 1 active, 2 eliminated
        self.mon_status = np.zeros(H, np.int8)
        self.mon_category = np.zeros(H, np.int8)  # index into monitor_category levels
        self.mon_risk = np.zeros(H, np.int8)  # index into risk_type levels
        self.mon_since = np.full(H, -1)

        self._init_members()
        self.wage = np.zeros(H)
        self.business = np.zeros(H)
        self.property = np.zeros(H)
        self.transfer = np.zeros(H)
        self.oop = np.zeros(H)
        self.edu_spend = np.zeros(H)
        self.pc_hist: dict[int, np.ndarray] = {}
        self.disaster_now = np.zeros(V, bool)
        self.bus_shock = np.ones(H)
        self.unemp_months = np.zeros(H)
        self.event_oop = np.zeros(H)
        self.initialised = np.zeros(H, bool)

    # -- members -----------------------------------------------------------------------------
    def _init_members(self) -> None:
        rng, H, M = self.rng, self.H, MAX_MEMBERS
        size = rng.choice(np.arange(1, 9), H, p=[0.08, 0.12, 0.16, 0.22, 0.20, 0.13, 0.06, 0.03])
        age = np.full((H, M), -1, np.int16)
        # ages are those in the first simulated year
        head = np.clip(rng.normal(44, 11, H), 22, 80).astype(int)
        single = size == 1
        head[single] = rng.integers(58, 88, single.sum())
        age[:, 0] = head
        has_sp = size >= 2
        age[has_sp, 1] = np.clip(head[has_sp] + rng.integers(-5, 3, has_sp.sum()), 18, 90)
        for m in range(2, 8):
            on = size > m
            lo = np.maximum(head - 42, 0)
            hi = np.maximum(head - 20, lo + 1)
            age[on, m] = rng.integers(lo[on], hi[on])
        grand = (size >= 5) & (rng.random(H) < 0.5)
        last = np.clip(size - 1, 0, M - 1)
        age[grand, last[grand]] = np.clip(head[grand] + rng.integers(22, 32, grand.sum()), 50, 96)
        self.age = age
        self.female = rng.random((H, M)) < 0.5
        self.female[:, 0] = rng.random(H) < 0.12
        self.female[has_sp, 1] = ~self.female[has_sp, 0]
        present = age >= 0
        chronic_p = np.where(self.exited[:, None], 0.02, 0.01) + 0.0025 * np.clip(age - 30, 0, None)
        self.chronic = present & (rng.random((H, M)) < chronic_p)
        self.serious = present & (rng.random((H, M)) < np.where(self.exited[:, None], 0.025, 0.01))
        dis = present & (rng.random((H, M)) < np.where(self.exited[:, None], 0.085, 0.05))
        self.disability = np.where(
            dis, rng.choice([1, 2, 3, 4], (H, M), p=[0.15, 0.25, 0.3, 0.3]), 0
        )
        self.track = rng.choice(3, (H, M), p=[0.25, 0.45, 0.30])
        self.dropout = np.zeros((H, M), bool)
        # work: 0 none/farm, 1 migrant, 2 local, 3 workshop, 4 public-welfare job
        self.work = np.zeros((H, M), np.int8)
        self._assign_new_workers(np.ones((H, M), bool))

    def _student(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = self.age
        comp = (a >= 6) & (a <= 15) & ~self.dropout
        senior = (a >= 16) & (a <= 18) & (self.track >= 1)
        tert = (a >= 19) & (a <= 22) & (self.track == 2)
        return comp, senior, tert

    def _labour(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.age
        _, senior, tert = self._student()
        able = (a >= 16) & ~senior & ~tert & ~self.serious & ~np.isin(self.disability, [1, 2])
        full = able & (a <= 59) & ~((self.chronic | (self.disability > 0)) & (a >= 50))
        weak = able & ~full & (a <= 69)
        return full, weak

    def _assign_new_workers(self, candidates: np.ndarray) -> None:
        full, weak = self._labour()
        r = self.rng.random(self.work.shape)
        young = self.age < 50
        new_full = candidates & full & (self.work == 0)
        self.work[new_full & young & (r < 0.55)] = 1
        self.work[new_full & young & (r >= 0.55) & (r < 0.78)] = 2
        self.work[new_full & ~young & (r < 0.25)] = 1
        self.work[new_full & ~young & (r >= 0.25) & (r < 0.55)] = 2
        new_weak = candidates & weak & (self.work == 0) & (r < 0.15)
        self.work[new_weak] = 2

    def _aggregate(self) -> dict[str, np.ndarray]:
        a, present = self.age, self.age >= 0
        comp, senior, tert = self._student()
        full, weak = self._labour()
        working = self.work > 0
        return {
            "hh_size": present.sum(1),
            "n_children_u16": (present & (a < 16)).sum(1),
            "n_elderly_65p": (a >= 65).sum(1),
            "n_labour_full": full.sum(1),
            "n_labour_weak": weak.sum(1),
            "n_chronic_ill": (present & self.chronic).sum(1),
            "n_serious_ill": (present & self.serious).sum(1),
            "n_disabled": (present & (self.disability > 0)).sum(1),
            "n_severe_disabled": (present & np.isin(self.disability, [1, 2])).sum(1),
            "n_students_compulsory": comp.sum(1),
            "n_students_senior": senior.sum(1),
            "n_students_tertiary": tert.sum(1),
            "n_dropout": (present & self.dropout & (a >= 6) & (a <= 15)).sum(1),
            "n_migrant_workers": (working & (self.work == 1)).sum(1),
            "n_local_workers": (working & (self.work >= 2)).sum(1),
            "n_children_15": (a == 15).sum(1),
            "head_age": np.maximum(a[:, 0], 16),
            "n_wage_workers": working.sum(1),
        }

    # -- income ------------------------------------------------------------------------------
    def _natural_income(self, year: int, agg: dict[str, np.ndarray]) -> None:
        """Income components from the household's state, before agreeing with the drawn outcome."""
        rng, H = self.rng, self.H
        wi = _wage_index(year)
        rate = np.array([0.0, 2600, 1900, 1500, 700]) * wi
        months = np.array([0.0, 10, 9, 10, 12])
        m = months[self.work] * (self.age >= 0)
        m = np.clip(m + rng.integers(-1, 2, m.shape) * (m > 0), 0, 12)
        # an unemployment event takes months from one migrant this year
        mig = self.work == 1
        first_mig = np.argmax(mig, axis=1)
        lost = np.minimum(self.unemp_months, m[np.arange(H), first_mig])
        m[np.arange(H), first_mig] -= lost
        self.months = m.sum(1)
        self.wage = (m * rate[self.work]).sum(1) * self.wage_factor * rng.lognormal(0, 0.1, H)

        ind = self.industry
        price = _price_index(year)
        base = np.select(
            [ind == 0, ind == 1, ind == 2, ind == 3, ind == 4, ind == 5],
            [
                self.land * 1200 * price,
                self.land * 800 + 3200,
                np.full(H, 10000.0),
                np.full(H, 12000.0),
                np.full(H, 12500.0),
                np.full(H, 10500.0),
            ],
            self.land * 500,
        )
        bi = 1.07 ** (year - 2020)
        self.business = base * bi * self.bus_factor * self.bus_shock * rng.lognormal(0, 0.18, H) * (
            agg["n_labour_full"] + agg["n_labour_weak"] > 0
        ) + base * bi * 0.15 * (agg["n_labour_full"] + agg["n_labour_weak"] == 0)
        self.property = (
            np.where(self.village_poor[self.village] & (year >= 2017), 300.0, 80.0)
            * rng.lognormal(0, 0.4, H)
            * 1.04 ** (year - 2020)
        )
        pension = 1400 * 1.04 ** (year - 2020)
        size = np.maximum(agg["hh_size"], 1)
        self.transfer = (
            (self.age >= 60).sum(1) * pension
            + self.dibao * size * 2100 * 1.05 ** (year - 2020)
            + agg["n_severe_disabled"] * 1300
            + (agg["n_disabled"] - agg["n_severe_disabled"]) * 600
            + self.land * 110
            + np.where(self.exited, 6800.0, 1500.0) * rng.lognormal(0, 0.3, H)
            + (agg["n_students_senior"] + agg["n_students_tertiary"]) * 2500 * self.exited
        )
        chronic_cost = (self.chronic & (self.age >= 0)).sum(1) * rng.uniform(1200, 3500, H)
        serious_cost = (self.serious & (self.age >= 0)).sum(1) * rng.lognormal(np.log(7000), 0.5, H)
        self.oop = (
            chronic_cost + serious_cost + self.event_oop + size * rng.exponential(250, H)
        ) * 1.03 ** (year - 2020)
        self.edu_spend = (
            agg["n_students_senior"] * rng.uniform(3000, 6000, H)
            + agg["n_students_tertiary"] * rng.uniform(8000, 15000, H)
            + agg["n_students_compulsory"] * 300.0
        )

    def _rescale(
        self, target_pc: np.ndarray, mask: np.ndarray, size: np.ndarray, persistence: float
    ) -> None:
        """Scale market income so per-capita income equals target_pc where mask is set."""
        if not mask.any():
            return
        need = target_pc * size
        pos_bus = np.maximum(self.business, 0)
        neg_bus = np.minimum(self.business, 0)
        market = self.wage + pos_bus + self.property
        k = (need - self.transfer - neg_bus) / np.where(market > 0, market, 1)
        ok = mask & (market > 1) & (k > 0)
        for arr in (self.wage, self.property):
            arr[ok] *= k[ok]
        self.business[ok] = pos_bus[ok] * k[ok] + neg_bus[ok]
        kk = np.clip(k, 0.2, 5) ** persistence
        w_ok, b_ok = ok & (self.wage > 0), ok & (pos_bus > 0)
        self.wage_factor[w_ok] = np.clip(self.wage_factor[w_ok] * kk[w_ok], 0.25, 4.0)
        self.bus_factor[b_ok] = np.clip(self.bus_factor[b_ok] * kk[b_ok], 0.1, 6.0)
        # no market income to scale (or transfers alone exceed the target): scale everything
        rest = mask & ~ok
        if rest.any():
            total = self.wage + pos_bus + self.property + self.transfer
            k2 = (need - neg_bus) / np.where(total > 0, total, 1)
            for arr in (self.wage, self.property, self.transfer):
                arr[rest] *= k2[rest]
            self.business[rest] = pos_bus[rest] * k2[rest] + neg_bus[rest]

    def pc(self, size: np.ndarray) -> np.ndarray:
        return (self.wage + self.business + self.property + self.transfer) / np.maximum(size, 1)


# ---------------------------------------------------------------------------------------------


def simulate(config: SimulationConfig | None = None) -> Simulation:
    """Simulate the panel and its oracle for the configured county."""
    cfg = config or SimulationConfig()
    if cfg.last_year <= cfg.first_year:
        raise ValueError("last_year must be after first_year")
    if cfg.poor_villages > cfg.villages or cfg.townships > cfg.villages:
        raise ValueError("a county needs at least as many villages as townships and poor villages")
    rng = np.random.default_rng(cfg.seed)
    c = _County(cfg, rng)
    rows: list[pd.DataFrame] = []
    oracle_rows: list[pd.DataFrame] = []
    agg = c._aggregate()
    c._natural_income(cfg.first_year, agg)
    for year in range(cfg.first_year, cfg.last_year + 1):
        line = monitor_line(year)
        active = c.alive & (c.start_year <= year) & (agg["hh_size"] > 0)
        _start_new_households(c, year, active, agg, line)
        _update_village_year(c, year)
        size = agg["hh_size"]
        pc = c.pc(size)
        c.pc_hist[year] = np.where(active, pc, np.nan)
        rows.append(_rows(c, year, active, agg, pc, line))
        if year == cfg.last_year:
            break
        x = _observables(c, year, active, agg, pc, line)
        draw = _hazards(c, year, x, active)
        oracle_rows.append(
            pd.DataFrame(
                {
                    "hh_id": _hh_ids(np.flatnonzero(active)),
                    "year": year,
                    "p_relapse": draw["p_relapse"][active],
                    "p_identified": draw["p_identified"][active],
                }
            )
        )
        agg = _advance(c, year, draw, active, agg)
    panel = pd.concat(rows, ignore_index=True)
    panel = _typed(panel)
    oracle = pd.concat(oracle_rows, ignore_index=True)
    oracle["hh_id"] = oracle["hh_id"].astype("string")
    oracle["year"] = oracle["year"].astype("int16")
    log.info("simulated %d households, %d household-years", c.H, len(panel))
    return Simulation(panel=panel, oracle=oracle, config=cfg)


def _hh_ids(idx: np.ndarray) -> np.ndarray:
    return np.char.add("H", np.char.zfill(idx.astype(str), 6))


def _start_new_households(
    c: _County, year: int, active: np.ndarray, agg: dict, line: float
) -> None:
    """A household enters the panel in its exit year with an income drawn around the line."""
    new = active & ~c.initialised
    if not new.any():
        return
    rng = c.rng
    median = np.where(c.exited, 1.72, 2.6)
    sigma = np.where(c.exited, 0.40, 0.45)
    ratio = rng.lognormal(np.log(median), sigma)
    # the year of exit itself needs income above the national standard
    floor = np.where(c.exited & (c.exit_year == year), 0.72, 0.35)
    ratio = np.maximum(ratio, floor + rng.uniform(0, 0.1, c.H))
    c._rescale(ratio * line, new, agg["hh_size"], persistence=1.0)
    c.initialised |= new


def _update_village_year(c: _County, year: int) -> None:
    grow = np.where(c.village_poor, 0.9 if year <= 2019 else 0.5, 0.25)
    c.coll_income = c.coll_income + c.rng.uniform(0, 1, len(grow)) * grow
    if year == 2019:
        c.coll_income[c.village_poor] = np.maximum(c.coll_income[c.village_poor], 4.0)


def _observables(
    c: _County, year: int, active: np.ndarray, agg: dict, pc: np.ndarray, line: float
) -> dict[str, np.ndarray]:
    """What the panel shows at t, in the form the hazard uses (all derivable from panel rows)."""
    hist = np.stack([c.pc_hist.get(y, np.full(c.H, np.nan)) for y in (year - 2, year - 1, year)])
    n_hist = np.isfinite(hist).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(np.where(np.isfinite(hist), hist, np.nan), axis=0)
        sd = np.nanstd(np.where(np.isfinite(hist), hist, np.nan), axis=0)
        cv = np.where(n_hist >= 2, sd / np.maximum(np.abs(mean), 1), 0.0)
        first = np.where(np.isfinite(hist[0]), hist[0], hist[1])
        span = np.where(np.isfinite(hist[0]), 2, 1)
        slope = np.where(n_hist >= 2, (pc - first) / (span * np.maximum(np.abs(first), line)), 0.0)
    total = pc * agg["hh_size"]
    labour = agg["n_labour_full"] + agg["n_labour_weak"]
    dependants = agg["n_children_u16"] + agg["n_elderly_65p"]
    vil_mon = np.bincount(
        c.village, weights=active & (c.mon_status == 1), minlength=len(c.village_poor)
    )
    vil_n = np.bincount(c.village, weights=active, minlength=len(c.village_poor))
    srcs = np.stack([c.wage, c.business, c.property, c.transfer]) / np.maximum(np.abs(total), 1)
    return {
        "ratio": pc / line,
        "cv": np.clip(np.nan_to_num(cv), 0, 2),
        "slope": np.clip(np.nan_to_num(slope), -0.5, 0.5),
        "oop_share": np.clip(c.oop / np.maximum(total, 1000), 0, 3),
        "transfer_share": np.clip(c.transfer / np.maximum(total, 1), 0, 1),
        "dependency": np.clip(dependants / np.maximum(labour, 0.5), 0, 8),
        "labour": labour,
        "neigh_mon": vil_mon[c.village] / np.maximum(vil_n[c.village], 1),
        "single_earner": (agg["n_wage_workers"] == 1) & (c.wage > 0.6 * np.maximum(total, 1)),
        "diversified": (srcs > 0.1).sum(0) >= 3,
        "years_since_exit": np.where(c.exited, year - c.exit_year, 99),
        **agg,
    }


def _hazards(c: _County, year: int, x: dict, active: np.ndarray) -> dict[str, np.ndarray]:
    """Exact probabilities and the draws of events, village disaster, B and identification."""
    rng, H = c.rng, c.H
    ratio = np.nan_to_num(x["ratio"], nan=1.0)
    at_risk = active & (ratio >= 1)
    total = np.maximum(np.nan_to_num(c.pc_hist[year]) * x["hh_size"], 1)
    eta = (
        -2.8 * np.log(np.maximum(ratio, 1.0))
        + 1.3 * x["cv"]
        - 1.6 * x["slope"]
        + 0.75 * (x["n_serious_ill"] >= 1)
        + 0.25 * np.clip(x["n_serious_ill"] - 1, 0, 2)
        + 0.9 * np.minimum(x["oop_share"], 1.5)
        + 0.2 * np.minimum(x["n_chronic_ill"], 3)
        + 0.55 * (x["n_severe_disabled"] >= 1)
        + 0.45 * (x["head_age"] >= 60)
        + 0.55 * (x["labour"] == 0)
        + 0.18 * np.minimum(x["dependency"], 4)
        + 0.45 * np.minimum(x["n_students_senior"] + x["n_students_tertiary"], 3)
        + 0.3 * np.minimum(x["n_children_15"], 2)
        + 0.9 * x["transfer_share"]
        + 0.5 * c.disaster_now[c.village]
        + 0.35 * x["single_earner"]
        + 2.0 * x["neigh_mon"]
        - 0.55 * c.pw_job
        - 0.35 * c.workshop
        - 0.35 * c.skills
        - 0.4 * x["diversified"]
        - 0.18 * (c.motivation - 3)
        - 0.45 * (c.mon_status == 1)
        + 0.35 * (x["years_since_exit"] <= 2)
        + 0.3 * c.relocated
        + 0.35 * ~c.housing_safe
        + 0.25 * ~_water_safe(c, year)
        - 0.3 * ~c.exited
    )
    # household events next year: probabilities from observables, shifts of the hazard if they occur
    unemp_rate = {2019: 0.28, 2020: 0.13}.get(year, 0.09)
    has_mig = x["n_migrant_workers"] > 0
    pi = np.stack(
        [
            np.zeros(H),
            _sigmoid(-4.0 + 0.035 * (x["head_age"] - 40) + 0.45 * (x["n_chronic_ill"] > 0)),
            np.full(H, 0.008),
            np.where(x["labour"] > 0, 0.004, 0.0),
            np.where(has_mig, unemp_rate, 0.0),
            np.where(c.industry < 6, 0.03 * (1 + 3 * max(0.0, 1.0 - _price_index(year))), 0.0),
        ],
        axis=1,
    )
    pi[:, 0] = 1 - pi[:, 1:].sum(1)
    bus_exposure = np.clip(np.maximum(c.business, 0) / total, 0, 1)
    gamma = np.stack(
        [
            np.zeros(H),
            np.full(H, 1.7),
            np.full(H, 1.3),
            np.full(H, 1.9),
            0.6 + 1.4 * (c.wage / total).clip(0, 1),
            0.4 + 2.2 * bus_exposure,
        ],
        axis=1,
    )
    q = np.where(c.village_flood, 0.12, 0.04)[c.village]
    farm = c.industry != 3
    delta = np.where(farm, 0.3 + 2.0 * bus_exposure, 0.1)

    # below-line households: persistence below the line
    eta_below = (
        -0.9
        + 3.0 * np.log(1 / np.clip(ratio, 0.05, 1.0))
        + 0.5 * (x["labour"] == 0)
        - 0.6 * (c.mon_status == 1)
        + 0.4 * c.dibao
        + 0.5 * x["oop_share"].clip(0, 1)
    )

    def prob_b(a: float, d: int) -> np.ndarray:  # (H, K): P(B | event, disaster)
        base = np.where(at_risk, a + eta, eta_below)[:, None]
        return _sigmoid(base + gamma + d * delta[:, None])

    target = RELAPSE_TARGET.get(year, 0.028)
    lo, hi = -12.0, 4.0
    n_active = max(active.sum(), 1)
    for _ in range(40):
        a = (lo + hi) / 2
        p = (1 - q) * (pi * prob_b(a, 0)).sum(1) + q * (pi * prob_b(a, 1)).sum(1)
        rate = np.where(at_risk, p, 0.0).sum() / n_active
        lo, hi = (a, hi) if rate < target else (lo, a)
    pb = {d: prob_b(a, d) for d in (0, 1)}
    p_b = (1 - q) * (pi * pb[0]).sum(1) + q * (pi * pb[1]).sum(1)

    # identification in t+1 given (B, event, disaster)
    eligible = active & (c.mon_status != 1) & (year + 1 >= 2020)
    g1 = (0.40 if year + 1 == 2020 else 0.52) * np.where(c.exited, 1.0, 0.85)
    ev_id = np.array([0.0, 0.20, 0.15, 0.20, 0.02, 0.03])
    g0_base = 0.003 + 0.03 * (ratio < 1.3)

    def prob_i(d: int) -> np.ndarray:
        g0 = np.clip(g0_base[:, None] + ev_id[None, :] + d * 0.06 * delta[:, None], 0, 0.95)
        return pb[d] * g1[:, None] + (1 - pb[d]) * g0, g0

    (pi0, g00), (pi1, g01) = prob_i(0), prob_i(1)
    p_i = np.where(eligible, (1 - q) * (pi * pi0).sum(1) + q * (pi * pi1).sum(1), 0.0)

    # draws: village disaster, household event, B, identification
    dis_v = rng.random(len(c.village_poor)) < np.where(c.village_flood, 0.12, 0.04)
    d = dis_v[c.village].astype(int)
    cum = np.cumsum(pi, axis=1)
    ev = (rng.random(H)[:, None] > cum).sum(1).clip(0, len(EVENTS) - 1)
    pb_draw = np.where(d == 1, pb[1][np.arange(H), ev], pb[0][np.arange(H), ev])
    b = rng.random(H) < pb_draw
    g0_draw = np.where(d == 1, g01[np.arange(H), ev], g00[np.arange(H), ev])
    ident = eligible & (rng.random(H) < np.where(b, g1, g0_draw))
    return {
        "p_relapse": np.where(at_risk, p_b, 0.0),
        "p_identified": p_i,
        "event": ev,
        "disaster_v": dis_v,
        "below": b,
        "identified": ident,
        "bus_exposure": bus_exposure,
    }


def _water_safe(c: _County, year: int) -> np.ndarray:
    central = (c.village_water_year[c.village] <= year) & c.water_connected
    return central | c.water_private_safe


def _advance(c: _County, year: int, draw: dict, active: np.ndarray, agg: dict) -> dict:
    """Generate year t+1 consistent with the drawn events, disaster, B and identification."""
    rng, H, M = c.rng, c.H, MAX_MEMBERS
    nxt = year + 1
    ev, b = draw["event"], draw["below"]
    present = c.age >= 0
    # demography: ageing, deaths, births, young adults leaving to marry
    c.age[present] += 1
    mort = np.exp(-9.8 + 0.088 * c.age.astype(float)) * (1 + 2 * c.serious)
    in_panel = active[:, None]  # before its exit year a household only ages and grows
    die = present & in_panel & (rng.random((H, M)) < mort)
    leave = (
        present
        & in_panel
        & (c.age >= 22)
        & (c.age <= 32)
        & (np.arange(M) >= 2)
        & (rng.random((H, M)) < 0.04)
    )
    gone = die | leave
    c.age[gone] = -1
    for arr in (c.chronic, c.serious, c.dropout):
        arr[gone] = False
    c.disability[gone] = 0
    c.work[gone] = 0
    _reseat_head(c)
    spouse_young = (c.age[:, 1] >= 20) & (c.age[:, 1] <= 38)
    birth = spouse_young & (rng.random(H) < 0.085) & ((c.age >= 0).sum(1) < M)
    slot = np.argmax(c.age < 0, axis=1)
    c.age[birth, slot[birth]] = 0
    c.female[birth, slot[birth]] = rng.random(birth.sum()) < 0.5
    c.track[birth, slot[birth]] = rng.choice(3, birth.sum(), p=[0.22, 0.45, 0.33])

    # background health
    present = c.age >= 0
    c.chronic |= present & (rng.random((H, M)) < 0.002 + 0.0006 * np.clip(c.age - 30, 0, None))
    recover = c.serious & (rng.random((H, M)) < 0.45)
    c.serious &= ~recover
    c.chronic |= recover
    c.dropout = present & (c.age >= 6) & (c.age <= 15) & (rng.random((H, M)) < 0.002)

    # household events chosen for next year
    c.event_oop = np.zeros(H)
    c.unemp_months = np.zeros(H)
    c.bus_shock = np.ones(H)
    adults = present & (c.age >= 16)
    pick = _pick_member(rng, adults, weight=np.clip(c.age, 1, None).astype(float))
    ill = ev == 1
    c.serious[ill, pick[ill]] = True
    c.work[ill, pick[ill]] = 0
    c.event_oop[ill] = rng.lognormal(np.log(16000), 0.45, ill.sum())
    dis = ev == 2
    c.disability[dis, pick[dis]] = rng.choice([1, 2, 3, 4], dis.sum(), p=[0.15, 0.25, 0.3, 0.3])
    c.work[
        dis & np.isin(c.disability[np.arange(H), pick], [1, 2]),
        pick[dis & np.isin(c.disability[np.arange(H), pick], [1, 2])],
    ] = 0
    full, weak = c._labour()
    workers = full | weak
    wpick = _pick_member(rng, workers, weight=np.ones((H, M)))
    acc = (ev == 3) & workers.any(1)
    dead = acc & (rng.random(H) < 0.3)
    c.age[dead, wpick[dead]] = -1
    c.work[dead, wpick[dead]] = 0
    hurt = acc & ~dead
    c.serious[hurt, wpick[hurt]] = True
    c.work[hurt, wpick[hurt]] = 0
    c.event_oop[acc] = rng.lognormal(np.log(9000), 0.5, acc.sum())
    _reseat_head(c)
    un = ev == 4
    c.unemp_months[un] = rng.integers(4, 11, un.sum())
    c.bus_shock[ev == 5] = rng.uniform(-0.3, 0.3, (ev == 5).sum())
    dis_hh = draw["disaster_v"][c.village] & (c.industry != 3)
    c.bus_shock[dis_hh] *= rng.uniform(0.3, 0.8, dis_hh.sum())
    c.housing_safe[draw["disaster_v"][c.village] & (rng.random(H) < 0.04)] = False
    c.disaster_now = draw["disaster_v"]

    # work transitions: ageing migrants come home, school leavers start work, lost capacity stops
    full, weak = c._labour()
    c.work[~(full | weak)] = 0
    back = (c.work == 1) & (c.age >= 50) & (rng.random((H, M)) < 0.15)
    c.work[back] = 2
    c._assign_new_workers((c.age >= 16) & (c.age <= 23))
    # programmes: housing renovation, water, skills, jobs, dibao, insurance
    renov = rng.random(H) < (0.5 if nxt <= 2020 else 0.3)
    c.housing_safe |= renov
    c.skills |= c.exited & (rng.random(H) < 0.035)
    c.insured = rng.random(H) > 0.006
    if nxt in (2017, 2019):
        _assign_jobs(c, agg, share_pw=0.02 if nxt == 2017 else 0.039, share_ws=0.009 * (nxt - 2016))
    agg2 = c._aggregate()
    labour2 = agg2["n_labour_full"] + agg2["n_labour_weak"]
    c.pw_job &= labour2 > 0
    no_lab = labour2 == 0
    c.dibao = np.where(
        c.dibao,
        rng.random(H) > 0.1,
        (no_lab | (agg2["n_severe_disabled"] > 0)) & (rng.random(H) < 0.35),
    )

    # incomes for t+1, made to agree with B
    c._natural_income(nxt, agg2)
    size = np.maximum(agg2["hh_size"], 1)
    line = monitor_line(nxt)
    pc_nat = c.pc(size)
    alive = active & (agg2["hh_size"] > 0)
    u_below = 1 - 0.45 * rng.beta(1.3, 2.5, H)
    u_above = 1.003 + 0.3 * rng.beta(1.2, 3.0, H)
    force_down = alive & b & (pc_nat >= line)
    force_up = alive & ~b & (pc_nat < line)
    target = np.where(force_down, line * np.minimum(u_below, pc_nat / line * 0.999), line * u_above)
    c._rescale(target, force_down | force_up, size, persistence=0.5)
    fix = alive & ((c.pc(size) < line) != b)  # rescaling could not reach the target exactly
    if fix.any():
        c.transfer[fix] += (np.where(b, line * 0.99, line * 1.01) - c.pc(size))[fix] * size[fix]

    # monitoring in t+1
    ident = draw["identified"] & (agg2["hh_size"] > 0)
    c.mon_status[ident] = 1
    c.mon_since[ident] = nxt
    c.mon_category[ident] = np.where(b & c.exited, 1, np.where(b | (ev == 0), 2, 3))[ident]
    c.mon_risk[ident] = _risk_code(c, ev, agg2)[ident]
    elig_elim = (c.mon_status == 1) & ~ident & ~b & (labour2 > 0) & (c.mon_since <= year)
    elim = elig_elim & (rng.random(H) < 0.55)
    c.mon_status[elim] = 2
    newly = ident & (labour2 > 0) & (rng.random(H) < 0.12)
    c.pw_job |= newly
    c.pw_job &= rng.random(H) > 0.12  # contracts end
    c.alive &= agg2["hh_size"] > 0
    return agg2


RISK_LEVELS = [
    "none",
    "illness",
    "disability",
    "schooling",
    "disaster",
    "accident",
    "labour",
    "employment",
    "industry",
    "housing",
    "water",
    "income",
    "other",
]


def _risk_code(c: _County, ev: np.ndarray, agg: dict) -> np.ndarray:
    idx = {k: i for i, k in enumerate(RISK_LEVELS)}
    by_event = np.array(
        [0, idx["illness"], idx["disability"], idx["accident"], idx["employment"], idx["industry"]]
    )
    labour = agg["n_labour_full"] + agg["n_labour_weak"]
    fallback = np.select(
        [
            labour == 0,
            agg["n_students_senior"] + agg["n_students_tertiary"] > 0,
            c.disaster_now[c.village],
            ~c.housing_safe,
            agg["n_serious_ill"] > 0,
        ],
        [idx["labour"], idx["schooling"], idx["disaster"], idx["housing"], idx["illness"]],
        idx["income"],
    )
    return np.where(ev > 0, by_event[ev], fallback)


def _pick_member(rng: np.random.Generator, ok: np.ndarray, weight: np.ndarray) -> np.ndarray:
    w = np.where(ok, weight, 0.0)
    tot = w.sum(1, keepdims=True)
    cum = np.cumsum(w, 1) / np.where(tot > 0, tot, 1)
    return np.minimum((rng.random((len(ok), 1)) > cum).sum(1), ok.shape[1] - 1)


def _reseat_head(c: _County) -> None:
    """When the head leaves or dies, the oldest remaining member becomes head (slot 0)."""
    no_head = (c.age[:, 0] < 0) & (c.age >= 0).any(1)
    if not no_head.any():
        return
    rows = np.flatnonzero(no_head)
    new = np.argmax(c.age[rows], axis=1)
    for arr in (c.age, c.female, c.chronic, c.serious, c.disability, c.track, c.dropout, c.work):
        tmp = arr[rows, 0].copy()
        arr[rows, 0] = arr[rows, new]
        arr[rows, new] = tmp


def _assign_jobs(c: _County, agg: dict, share_pw: float, share_ws: float) -> None:
    rng = c.rng
    labour = agg["n_labour_full"] + agg["n_labour_weak"]
    n_ex = c.exited.sum()
    cand = c.exited & (labour > 0) & ~c.pw_job
    want_pw = max(0, round(share_pw * n_ex) - c.pw_job.sum())
    if want_pw and cand.any():
        weights = (1 + 3 * (agg["n_labour_weak"] > 0) + 2 * (c.mon_status == 1)) * cand
        chosen = rng.choice(c.H, min(want_pw, cand.sum()), replace=False, p=weights / weights.sum())
        c.pw_job[chosen] = True
    cand = c.exited & (agg["n_labour_full"] > 0) & ~c.workshop
    want_ws = max(0, round(share_ws * n_ex) - c.workshop.sum())
    if want_ws and cand.any():
        weights = (1 + 4 * c.relocated) * cand
        chosen = rng.choice(c.H, min(want_ws, cand.sum()), replace=False, p=weights / weights.sum())
        c.workshop[chosen] = True


def _rows(
    c: _County, year: int, active: np.ndarray, agg: dict, pc: np.ndarray, line: float
) -> pd.DataFrame:
    idx = np.flatnonzero(active)
    v = c.village[idx]
    cats = {col.name: col.levels for col in PANEL_COLUMNS if col.dtype == "category"}
    water_central = (c.village_water_year[c.village] <= year) & c.water_connected
    data = {
        "hh_id": _hh_ids(idx),
        "year": year,
        "township_id": np.char.add("T", np.char.zfill((c.village_township[v] + 1).astype(str), 2)),
        "village_id": np.char.add("V", np.char.zfill((v + 1).astype(str), 3)),
        "household_type": np.where(c.exited[idx], "exited", "general"),
        "exit_year": np.where(c.exited[idx], c.exit_year[idx], -1),
        "relocated": c.relocated[idx],
        "head_sex": np.where(c.female[idx, 0], "female", "male"),
        "head_ethnicity": np.array(cats["head_ethnicity"])[c.ethnicity[idx]],
        "head_education": np.array(cats["head_education"])[c.head_edu[idx]],
        **{k: v[idx] for k, v in agg.items() if k in PANEL},  # household counts
        "inc_wage": c.wage[idx],
        "inc_business": c.business[idx],
        "inc_property": c.property[idx],
        "inc_transfer": c.transfer[idx],
        "net_income_pc": pc[idx],
        "oop_medical": c.oop[idx],
        "edu_spend": c.edu_spend[idx],
        "work_months": c.months[idx].round().astype(int),
        "has_public_welfare_job": c.pw_job[idx],
        "has_workshop_job": c.workshop[idx],
        "skills_training": c.skills[idx],
        "main_industry": np.array(cats["main_industry"])[c.industry[idx]],
        "industry_support": c.industry_support[idx],
        "cultivated_land_mu": c.land[idx].round(1),
        "microcredit": c.microcredit[idx],
        "all_insured": c.insured[idx],
        "housing_safe": c.housing_safe[idx],
        "water_safe": _water_safe(c, year)[idx],
        "water_centralised": water_central[idx],
        "dibao": c.dibao[idx],
        "motivation_score": c.motivation[idx],
        "is_former_poor_village": c.village_poor[v],
        "village_flood_prone": c.village_flood[v],
        "village_disaster": c.disaster_now[v],
        "village_collective_income": c.coll_income[v].round(2),
        "sugarcane_price_index": _price_index(year),
        "monitor_line": line,
        "is_monitored": c.mon_status[idx] == 1,
        "monitor_category": np.array(cats["monitor_category"])[
            np.where(c.mon_status[idx] == 1, c.mon_category[idx], 0)
        ],
        "risk_type": np.array(RISK_LEVELS)[np.where(c.mon_status[idx] == 1, c.mon_risk[idx], 0)],
        "risk_eliminated": c.mon_status[idx] == 2,
    }
    return pd.DataFrame(data)


def _typed(panel: pd.DataFrame) -> pd.DataFrame:
    """Cast to the catalogue's dtypes (one place, used for simulated and loaded data alike)."""
    from riskmodel.validate import cast_to_catalogue

    panel["exit_year"] = panel["exit_year"].where(panel["exit_year"] >= 0)
    return cast_to_catalogue(panel)


# ---------------------------------------------------------------------------------------------


def write_simulation(sim: Simulation, out: Path) -> dict[str, Path]:
    """Write panel, oracle and data card into `out`, each file atomically."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "panel": out / "panel.parquet",
        "oracle": out / "oracle.parquet",
        "datacard": out / "DATACARD.md",
    }
    write_parquet(sim.panel, paths["panel"])
    write_parquet(sim.oracle, paths["oracle"])
    write_text(datacard(sim), paths["datacard"])
    return paths


def datacard(sim: Simulation) -> str:
    """The data card: how the county was generated, every mechanism and calibration target."""
    cfg, panel = sim.config, sim.panel
    lines = [
        "# Data card: simulated Ningming-like county",
        "",
        "Synthetic household-year panel for developing and evaluating relapse-risk models. "
        "No real household is described. Generated by `riskmodel simulate` with "
        f"seed {cfg.seed}, {cfg.households} exited households, years {cfg.first_year}-{cfg.last_year}.",
        "",
        f"- rows: {len(panel):,}; households: {panel['hh_id'].nunique():,}; "
        f"townships: {panel['township_id'].nunique()}; villages: {panel['village_id'].nunique()}",
        "- files: `panel.parquet` (one row per household and year), `oracle.parquet` "
        "(`hh_id, year, p_relapse, p_identified`: the exact probability of each label given the "
        "panel up to that year; never read by training)",
        "",
        "## How it is generated",
        "",
        "Members are simulated individually (age, sex, chronic and serious illness, disability "
        "grade, schooling track, work) and aggregated to the household. Exited households enter "
        "the panel in their exit year; general rural households, from which edge households "
        "arise, are present every year. Each year t, the simulator computes from the observable "
        "state at t a hazard of being below the monitoring line in t+1, draws a household event "
        "and a village disaster, draws the outcome, and then generates t+1 (members, events, "
        "work, incomes) so that it agrees with the draw. Identification as a monitoring object "
        "(from 2020) is drawn given the outcome, the event and the disaster. The oracle is the "
        "exact sum over events and disaster of these probabilities. The yearly intercept of the "
        "hazard is solved from the cross-section at t to hit the yearly relapse target.",
        "",
        "Labels are not stored: `riskmodel.labels` derives them from the panel "
        "(relapse: at or above the line at t and below it at t+1; identified: not monitored at t "
        "and monitored at t+1).",
        "",
        "## Monitoring line (yuan per person per year)",
        "",
        "| year | line | basis |",
        "|---|---|---|",
    ]
    for y in range(cfg.first_year, cfg.last_year + 1):
        basis = (
            "1.5 x national standard " + str(NATIONAL_STANDARD[y])
            if y in NATIONAL_STANDARD
            else "ASSUMPTION (Guangxi not published; see domain.md C1)"
        )
        lines.append(f"| {y} | {monitor_line(y):,.0f} | {basis} |")
    lines += [
        "",
        "## Risk mechanisms",
        "",
        "| mechanism | risk type | how it acts | source |",
        "|---|---|---|---|",
    ]
    lines += [f"| {m} | {rt} | {how} | {src} |" for m, rt, how, src in MECHANISMS]
    lines += ["", "## Calibration targets", "", "| quantity | target | source |", "|---|---|---|"]
    lines += [f"| {q} | {t} | {s} |" for q, t, s in CALIBRATION]
    lines += [
        "",
        "Sources S1-S39 are listed in the project's domain research (domain.md, "
        "section a). Figures marked ASSUMPTION are tunable parameters, not facts.",
        "",
    ]
    return "\n".join(lines)
