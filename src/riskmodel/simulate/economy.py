"""What a year can bring a household, given its state at the start of the year.

`outlook(county, year)` returns, for every household, the probability of each household event,
demographic change, guarantee failure and village disaster, and the distribution of the money the
year brings (market income, transfers, medical and schooling costs) under each combination. The step
draws from exactly this; the oracle integrates over exactly this. One source, so the oracle is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskmodel.simulate import calibration as cal
from riskmodel.simulate import shocks as sh
from riskmodel.simulate.county import (
    INDUSTRY_NAMES,
    WORK_LOCAL,
    WORK_MIGRANT,
    County,
)

EVENTS = ["none", "illness", "disability", "unemployment", "industry", "setback"]
"""Household events of a year: a new serious illness or injury, a new disability, a migrant's
unemployment, an industry project or price failure. Illness and disability show in the next record
(a member newly 患有大病 or 残疾); unemployment, industry failures and setbacks (a bad year no
record explains) show only through income."""
NONE, ILLNESS, DISABILITY, UNEMPLOYMENT, INDUSTRY, SETBACK = range(6)
UNSEEN = [NONE, UNEMPLOYMENT, INDUSTRY, SETBACK]
"""Events that leave no sign in the record but income."""
FARM = {"sugarcane", "forestry", "cattle", "modern_agri", "none"}


@dataclass
class Outlook:
    year: int
    pi: np.ndarray
    """(H, E) probability of each household event."""
    q: np.ndarray
    """(H,) probability that the household's village is hit by a disaster."""
    wage: np.ndarray
    """(H, E) median wage income by event."""
    business: np.ndarray
    """(H, E, 2) median business income by event and disaster."""
    property: np.ndarray
    """(H,)"""
    transfer: np.ndarray
    """(H,) transfers: policy amounts, recorded exactly."""
    oop: np.ndarray
    """(H, E) median out-of-pocket medical costs by event (times one of `bill_points`)."""
    edu: np.ndarray
    """(H,) schooling costs of the pupils enrolled at the start of the year."""
    p_house: np.ndarray
    """(H, 2) probability the house is unsafe at the year's end, without / with a disaster."""
    p_water: np.ndarray
    """(H, 2) the same for drinking water."""
    p_uninsured: np.ndarray
    p_dropout: np.ndarray
    p_death: np.ndarray
    p_leave: np.ndarray
    p_birth: np.ndarray
    size: np.ndarray
    late_cane: np.ndarray
    """(H,) cane payment this year's crop will be owed into the next year."""
    monitored: np.ndarray

    def take(self, idx: np.ndarray) -> Outlook:
        """The outlook of the households `idx` only."""
        return Outlook(
            **{k: v[idx] if isinstance(v, np.ndarray) else v for k, v in vars(self).items()}
        )

    @property
    def market(self) -> np.ndarray:
        """(H, E, 2) median market income (wage + business + property), never below MIN_MARKET."""
        total = self.wage[:, :, None] + self.business + self.property[:, None, None]
        return np.maximum(total, cal.MIN_MARKET)

    @property
    def p_guarantee(self) -> np.ndarray:
        """(H, 2) probability that any guarantee fails, without / with a village disaster."""
        ok = (1 - self.p_house) * (1 - self.p_water)
        return 1 - ok * ((1 - self.p_uninsured) * (1 - self.p_dropout))[:, None]

    @property
    def p_size(self) -> np.ndarray:
        """(H, 3) probability that the household loses a member, stays, gains one."""
        minus = self.p_death + self.p_leave
        return np.stack([minus, 1 - minus - self.p_birth, self.p_birth], axis=1)


def bill_points() -> tuple[np.ndarray, np.ndarray]:
    """Multipliers of the median medical bill and their probabilities (a discretised lognormal)."""
    x, w = np.polynomial.hermite_e.hermegauss(cal.MEDICAL_POINTS)
    return np.exp(cal.MEDICAL_SIGMA * x), w / w.sum()


def type_params() -> tuple[np.ndarray, np.ndarray]:
    """Shift and total standard deviation of recorded log market income, per hidden type."""
    shift = np.asarray(cal.TYPE_SHIFT)
    sigma = np.sqrt(np.asarray(cal.TYPE_SIGMA) ** 2 + cal.MEASUREMENT_SIGMA**2)
    return shift, sigma


def _index(table: dict[int, float], year: int, default: float = 1.0) -> float:
    return table.get(year, default)


def _step_index(table: dict[int, float], year: int) -> float:
    """A piecewise-constant series given at some years (the latest one at or before `year`)."""
    keys = [y for y in sorted(table) if y <= year]
    return table[keys[-1]] if keys else table[min(table)]


def village_disaster_rate(c: County, year: int) -> np.ndarray:
    """(V,) probability that each village is hit by a disaster in `year`."""
    rate = np.asarray(cal.DISASTER_RATE)[c.village_flood.astype(int)]
    rate = (rate * _index(cal.DISASTER_YEAR, year)).clip(0, 1)
    return sh.disaster_rate(c.cfg.shocks, year, rate, c.village_township)


def migrant_months(c: County, year: int) -> float:
    """Share of usual months migrants can work in `year` (closures, shocks)."""
    return sh.migrant_months(c.cfg.shocks, year, _index(cal.MIGRANT_MONTHS, year))


def price_index(c: County, name: str, year: int) -> float:
    """An industry's price or trade index in `year` (1 for industries without one), after shocks."""
    tables = {
        "sugarcane": cal.SUGARCANE_PRICE,
        "cattle": cal.CATTLE_PRICE,
        "border_trade": cal.BORDER_TRADE,
        "tourism": cal.TOURISM,
    }
    base = _index(tables[name], year) if name in tables else 1.0
    return sh.price_index(c.cfg.shocks, name, year, base)


def detection(c: County, year: int) -> np.ndarray:
    """(H,) probability that the sweep of `year` enrols a household that meets the criteria."""
    if year < cal.MONITORING_STARTED:
        return np.zeros(c.H)
    p = np.where(c.exited, cal.DETECTION["exited"], cal.DETECTION["general"])
    return p * (cal.DETECTION_FIRST_YEAR if year == cal.MONITORING_STARTED else 1.0)


def mortality(c: County) -> np.ndarray:
    return np.where(
        c.age >= 0, np.exp(-9.8 + 0.088 * c.age.astype(float)) * (1 + 2 * c.serious), 0.0
    ).clip(0, 0.5)


def leave_weight(c: County) -> np.ndarray:
    """Young adults (not head or spouse) who may leave to marry or settle elsewhere."""
    slot = np.arange(c.age.shape[1])
    return ((c.age >= 22) & (c.age <= 32) & (slot >= 2)).astype(float) * 0.04


def outlook(c: County, year: int) -> Outlook:
    """The distribution of `year` for every household, from the state at the start of `year`."""
    H = c.H
    present = c.age >= 0
    size = present.sum(1)
    full, weak = c.labour()
    labour = (full | weak).sum(1)
    growth = 1.04 ** (year - 2020)

    # wage income: members' work at the start of the year, household jobs, migrant shocks
    wi = _step_index(cal.WAGE_INDEX, year)
    months = migrant_months(c, year)
    pay = np.zeros(c.work.shape)
    pay[c.work == WORK_MIGRANT] = cal.WAGE_MONTHLY[1] * cal.WORK_MONTHS[1] * months
    pay[c.work == WORK_LOCAL] = cal.WAGE_MONTHLY[2] * cal.WORK_MONTHS[2]
    pay *= wi * (1 + cal.EDUCATION_PREMIUM * (c.head_edu - 1))[:, None]
    base_wage = (
        pay.sum(1)
        + c.workshop * cal.WAGE_MONTHLY[3] * cal.WORK_MONTHS[3] * wi
        + c.pw_job * cal.WAGE_MONTHLY[4] * cal.WORK_MONTHS[4] * wi
    )
    n_workers = (c.work > 0).sum(1)
    per_worker = base_wage / np.maximum(n_workers, 1)
    n_mig = (c.work == WORK_MIGRANT).sum(1)
    per_migrant = pay.sum(1, where=c.work == WORK_MIGRANT) / np.maximum(n_mig, 1)
    wage = np.repeat(base_wage[:, None], len(EVENTS), axis=1)
    wage[:, ILLNESS] -= cal.ILLNESS_WAGE_LOSS * per_worker
    wage[:, DISABILITY] -= cal.DISABILITY_WAGE_LOSS * per_worker
    wage[:, UNEMPLOYMENT] -= cal.UNEMPLOYMENT_LOSS * per_migrant
    wage = np.maximum(wage, 0)

    # business income by main industry, prices and closures
    names = np.array(INDUSTRY_NAMES)[c.industry]
    biz = np.zeros(H)
    cane_price = price_index(c, "sugarcane", year) * _index(cal.SUGARCANE_YIELD, year)
    index = {name: price_index(c, name, year) for name in cal.BUSINESS_BASE}
    index["sugarcane"] = cane_price
    for name, (kind, amount) in cal.BUSINESS_BASE.items():
        on = names == name
        base = amount * (c.land[on] if kind == "land" else 1.0)
        biz[on] = base * index.get(name, 1.0)
    biz *= (1 + cal.BUSINESS_GROWTH) ** (year - 2019)
    biz = np.where(labour > 0, biz, 0.15 * biz)
    late_share = _index(cal.LATE_CANE_PAYMENT, year, 0.0)
    cane = names == "sugarcane"
    late_next = np.where(cane, late_share * biz, 0.0)
    biz = biz - late_next + c.late_cane
    uplift = np.where(c.mon_status == 1, 1 + cal.MONITORED_UPLIFT, 1.0)
    wage = wage * uplift[:, None]
    biz = biz * uplift
    farm = np.isin(names, list(FARM))
    keep = np.where(farm, cal.DISASTER_KEEP["farm"], cal.DISASTER_KEEP["other"])
    business = np.repeat(biz[:, None], len(EVENTS), axis=1)
    business[:, INDUSTRY] *= cal.INDUSTRY_FAILURE_KEEP
    business[:, SETBACK] *= cal.SETBACK_KEEP
    wage[:, SETBACK] *= cal.SETBACK_KEEP
    business = np.stack([business, business * keep[:, None]], axis=2)
    prop = np.where(c.village_poor[c.village] & (year >= 2017), 300.0, 80.0) * growth

    # event probabilities
    oldest = np.where(present & (c.age >= 16), c.age, 0).max(1)
    illness = 1 / (
        1
        + np.exp(
            -(cal.ILLNESS_BASE + 0.035 * np.clip(oldest - 40, 0, None) + 0.5 * c.chronic.any(1))
        )
    )
    rate = _index(cal.UNEMPLOYMENT_RATE_YEAR, year, cal.UNEMPLOYMENT_RATE)
    unemp = np.where(n_mig > 0, sh.unemployment_rate(c.cfg.shocks, year, rate), 0)
    fail_rate = cal.INDUSTRY_FAILURE_RATE * np.where(cane, 1 + 3 * max(0.0, 1.0 - cane_price), 1.0)
    industry = np.where((names != "none") & (labour > 0), fail_rate, 0.0)
    pi = np.stack(
        [np.zeros(H), illness, cal.DISABILITY_RATE * size, unemp, industry,
         np.full(H, cal.SETBACK_RATE)],
        axis=1,
    )  # fmt: skip
    pi[:, NONE] = 1 - pi[:, 1:].sum(1)

    # transfers (policy amounts for the members at the start of the year)
    s = c.students()
    aged = (present & (c.age >= 59)).sum(1)
    severe = (present & np.isin(c.disability, [1, 2])).sum(1)
    mild = (present & np.isin(c.disability, [3, 4])).sum(1)
    taper = _index(cal.EXITED_TAPER, year)
    transfer = (
        aged * cal.PENSION * growth
        + c.dibao
        * size
        * cal.DIBAO_PER_PERSON
        * 1.05 ** (year - 2020)
        * np.where(c.dibao_phaseout, 0.5, 1.0)
        + c.tekun * cal.TEKUN * growth
        + severe * cal.DISABILITY_ALLOWANCE[0]
        + mild * cal.DISABILITY_ALLOWANCE[1]
        + c.land * cal.LAND_SUBSIDY
        + c.exited * cal.EXITED_SUPPORT * taper
        + c.exited * s["vocational"].sum(1) * cal.YULU_GRANT
    )

    # medical and schooling costs
    kind = np.where(c.exited, "exited", "general")
    reimb = np.array([_step_index(cal.REIMBURSEMENT[k], year) for k in ("exited", "general")])
    share = np.where(kind == "exited", 1 - reimb[0], 1 - reimb[1])
    gross = (
        (present & c.chronic).sum(1) * cal.MEDICAL_GROSS["chronic"]
        + (present & c.serious).sum(1) * cal.MEDICAL_GROSS["serious"]
        + size * cal.MEDICAL_GROSS["per_person"]
    ) * 1.04 ** (year - 2019)
    event_gross = np.zeros(len(EVENTS))
    event_gross[ILLNESS] = cal.MEDICAL_GROSS["event"]
    event_gross[DISABILITY] = 0.2 * cal.MEDICAL_GROSS["event"]
    oop = (gross[:, None] + event_gross[None, :] * 1.04 ** (year - 2019)) * share[:, None]
    edu = (
        s["compulsory"].sum(1) * cal.SCHOOL_COST["compulsory"]
        + s["senior"].sum(1) * cal.SCHOOL_COST["senior"]
        + s["vocational"].sum(1) * cal.SCHOOL_COST["vocational"]
        + s["tertiary"].sum(1) * cal.SCHOOL_COST["tertiary"]
    ) * growth

    # guarantees at the year's end, without and with a village disaster
    renov = cal.RENOVATION["to2020" if year <= 2020 else "after"]
    unsafe = ~c.housing_safe
    dmg = np.asarray(cal.HOUSE_DAMAGE)
    p_house = (1 - renov) * (unsafe[:, None] + (~unsafe)[:, None] * dmg[None, :])
    wdmg = np.asarray(cal.WATER_DAMAGE)
    central = c.central_water(year)
    stays_unsafe = np.where(central, 0.0, (~c.water_safe) * (1 - cal.WATER_FIX))
    p_water = stays_unsafe[:, None] + (1 - stays_unsafe)[:, None] * wdmg[None, :]
    p_uninsured = np.where(c.exited, cal.UNINSURED["exited"], cal.UNINSURED["general"])
    pupils = ((c.age >= 5) & (c.age <= 14)).sum(1)
    p_dropout = 1 - (1 - cal.DROPOUT) ** pupils

    # demography: at most one change a year
    p_death = 1 - np.prod(1 - mortality(c), axis=1)
    p_leave = 1 - np.prod(1 - leave_weight(c), axis=1)
    spouse_young = (c.age[:, 1] >= 20) & (c.age[:, 1] <= 38) & (size < c.age.shape[1])
    p_birth = np.where(spouse_young, 0.085, 0.0)

    q = village_disaster_rate(c, year)[c.village]
    return Outlook(
        year=year,
        pi=pi,
        q=q,
        wage=wage,
        business=business,
        property=prop,
        transfer=transfer,
        oop=oop,
        edu=edu,
        p_house=p_house,
        p_water=p_water,
        p_uninsured=p_uninsured,
        p_dropout=p_dropout,
        p_death=p_death,
        p_leave=p_leave,
        p_birth=p_birth,
        size=size,
        late_cane=late_next,
        monitored=c.mon_status == 1,
    )
