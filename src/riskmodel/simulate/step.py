"""One year of the county, from causes: draw what the outlook says can happen, then live it.

Nothing is drawn first and explained afterwards: the year's disaster, household event, demographic
change, income noise and medical bill are drawn from `Outlook` (riskmodel.simulate.economy), the
record follows from them, the criteria are read off the record (riskmodel.criteria, the same
function that labels real data), and the monitoring sweep, 低保 and programmes respond to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.criteria import criteria_met
from riskmodel.simulate import calibration as cal
from riskmodel.simulate.county import WORK_LOCAL, WORK_MIGRANT, WORK_NONE, County, pick_member
from riskmodel.simulate.economy import (
    DISABILITY,
    EVENTS,
    ILLNESS,
    INDUSTRY,
    NONE,
    UNEMPLOYMENT,
    UNSEEN,
    Outlook,
    bill_points,
    detection,
    leave_weight,
    migrant_months,
    mortality,
    type_params,
    village_disaster_rate,
)
from riskmodel.simulate.oracle import income_log_likelihood

RISK_LEVELS = [
    "none", "illness", "disability", "schooling", "disaster", "accident", "labour",
    "employment", "industry", "housing", "water", "other",
]  # fmt: skip
CATEGORY = {"none": 0, "unstable": 1, "edge": 2, "sudden": 3}


@dataclass
class Year:
    """What happened to every household in a year (the draws and the money recorded)."""

    disaster_v: np.ndarray
    event: np.ndarray
    demography: np.ndarray
    """0 none, 1 death, 2 a member left, 3 birth."""
    wage: np.ndarray
    business: np.ndarray
    property: np.ndarray
    transfer: np.ndarray
    oop: np.ndarray
    edu: np.ndarray
    house_unsafe: np.ndarray
    water_unsafe: np.ndarray
    uninsured: np.ndarray
    dropout: np.ndarray
    months: np.ndarray


def draw_year(c: County, o: Outlook, live: np.ndarray, entering: np.ndarray) -> Year:
    """Draw the year for households in the panel (`live`); `entering` ones are registered as
    found: no event or demographic change, guarantees met, and exited ones above the exit floor."""
    rng, H = c.rng, c.H
    disaster_v = rng.random(len(c.village_poor)) < village_disaster_rate(c, o.year)
    d = disaster_v[c.village].astype(int)
    event = (rng.random(H)[:, None] > np.cumsum(o.pi, axis=1)).sum(1).clip(0, len(EVENTS) - 1)
    u = rng.random(H)
    demography = np.select(
        [u < o.p_death, u < o.p_death + o.p_leave, u < o.p_death + o.p_leave + o.p_birth],
        [1, 2, 3],
        0,
    )
    event[entering], demography[entering] = NONE, 0
    event[~live], demography[~live] = NONE, 0

    shift, sigma = type_params()
    rows = np.arange(H)
    market_median = o.market[rows, event, d] * np.exp(shift[c.type])
    z = rng.standard_normal(H)
    # a household exits poverty only with income above the national standard
    floor = cal.EXIT_STANDARD_SHARE * cal.monitor_line(o.year) * o.size - o.transfer
    exiting = entering & c.exited & (c.exit_year == o.year)
    for _ in range(200):
        redraw = exiting & (market_median * np.exp(sigma[c.type] * z) < floor)
        if not redraw.any():
            break
        z[redraw] = rng.standard_normal(redraw.sum())
    market = market_median * np.exp(sigma[c.type] * z)
    parts = np.stack([o.wage[rows, event], o.business[rows, event, d], o.property], axis=1)
    total = parts.sum(1)
    shares = np.where(total[:, None] > 0, parts / np.maximum(total, 1e-9)[:, None], [0, 1, 0])
    mult, prob = bill_points()
    oop = o.oop[rows, event] * mult[rng.choice(len(mult), H, p=prob)]

    house = rng.random(H) < o.p_house[rows, d]
    water = rng.random(H) < o.p_water[rows, d]
    uninsured = rng.random(H) < o.p_uninsured
    dropout = rng.random(H) < o.p_dropout
    for arr in (house, water, uninsured, dropout):
        arr[entering & c.exited] = False

    pay_months = np.where(c.work == WORK_MIGRANT, cal.WORK_MONTHS[1], 0) * (
        migrant_months(c, o.year)
    ) + np.where(c.work == WORK_LOCAL, cal.WORK_MONTHS[2], 0)
    months = pay_months.sum(1) + c.workshop * cal.WORK_MONTHS[3] + c.pw_job * cal.WORK_MONTHS[4]
    return Year(
        disaster_v=disaster_v,
        event=event,
        demography=demography,
        wage=market * shares[:, 0],
        business=market * shares[:, 1],
        property=market * shares[:, 2],
        transfer=o.transfer,
        oop=oop,
        edu=o.edu,
        house_unsafe=house,
        water_unsafe=water,
        uninsured=uninsured,
        dropout=dropout,
        months=np.round(months).clip(0, 12 * c.age.shape[1]),
    )


def live_the_year(c: County, o: Outlook, y: Year, live: np.ndarray) -> None:
    """Members, jobs and programmes move on to the year's end (for every household: those not yet
    registered age and change too)."""
    rng, H = c.rng, c.H
    # demography drawn for the year
    died = y.demography == 1
    who = pick_member(rng, mortality(c))
    c.remove_member(np.flatnonzero(died), who[died])
    left = y.demography == 2
    who = pick_member(rng, leave_weight(c))
    c.remove_member(np.flatnonzero(left), who[left])
    born = y.demography == 3
    slot = np.argmax(c.age < 0, axis=1)
    c.age[born, slot[born]] = 0
    c.female[born, slot[born]] = rng.random(born.sum()) < 0.5
    c.track[born, slot[born]] = c.new_tracks(born.sum())
    c.reseat_head()
    # members of households not yet registered: background deaths and births
    off = ~live & c.alive
    mort = mortality(c)
    die = off[:, None] & (rng.random(mort.shape) < mort)
    rr, ss = np.nonzero(die)
    c.remove_member(rr, ss)
    c.reseat_head()

    # background health, then the year's events
    present = c.age >= 0
    c.age[present] += 1
    recover = c.serious & (rng.random(c.serious.shape) < 0.45)
    c.serious &= ~recover
    c.chronic |= recover
    c.chronic |= present & (
        rng.random(c.chronic.shape) < 0.002 + 0.0006 * np.clip(c.age - 30, 0, None)
    )
    adults = np.where(present & (c.age >= 16), c.age, 0).astype(float)
    adults = np.where(adults.sum(1, keepdims=True) > 0, adults, present.astype(float))
    pick = pick_member(rng, adults)
    ill = y.event == ILLNESS
    c.serious[ill, pick[ill]] = True
    c.work[ill, pick[ill]] = WORK_NONE
    dis = y.event == DISABILITY
    pick = pick_member(rng, present.astype(float))
    grade = rng.choice([1, 2, 3, 4], H, p=[0.15, 0.25, 0.3, 0.3])
    current, new = c.disability[dis, pick[dis]], grade[dis]
    c.disability[dis, pick[dis]] = np.where(current > 0, np.minimum(current, new), new)
    severe = dis & np.isin(c.disability[np.arange(H), pick], [1, 2])
    c.work[severe, pick[severe]] = WORK_NONE
    c.new_serious = ill
    c.new_disability = dis

    # schooling: dropouts are returned to school by the next year's campaign (控辍保学)
    c.dropout[:] = False
    pupils = (c.age >= 6) & (c.age <= 15)
    kid = pick_member(rng, pupils.astype(float))
    out = y.dropout & pupils.any(1)
    c.dropout[out, kid[out]] = True

    # work: lost capacity stops work, older migrants come home, school leavers start
    full, weak = c.labour()
    c.work[~(full | weak)] = WORK_NONE
    back = (c.work == WORK_MIGRANT) & (c.age >= 50) & (rng.random(c.work.shape) < 0.15)
    c.work[back] = WORK_LOCAL
    c.assign_workers((c.age >= 16) & (c.age <= 23))

    # programmes
    nxt = o.year
    c.skills |= c.exited & (rng.random(H) < 0.035)
    if nxt in (2017, 2019):
        _assign_jobs(c, share_pw=0.02 if nxt == 2017 else 0.039, share_ws=0.009 * (nxt - 2016))
    full, weak = c.labour()
    c.pw_job &= (full | weak).any(1)
    c.housing_safe = np.where(live, ~y.house_unsafe, c.housing_safe)
    c.water_safe = np.where(live, ~y.water_unsafe, c.water_safe | c.central_water(nxt))
    c.insured = np.where(live, ~y.uninsured, True)
    c.late_cane = np.where(live, o.late_cane, 0.0)
    c.disaster_now = y.disaster_v
    grow = np.where(c.village_poor, 0.9 if nxt <= 2019 else 0.5, 0.25)
    c.coll_income = c.coll_income + rng.uniform(0, 1, len(grow)) * grow
    if nxt == 2019:
        c.coll_income[c.village_poor] = np.maximum(c.coll_income[c.village_poor], 4.0)
    c.alive &= (c.age >= 0).any(1)


def _assign_jobs(c: County, share_pw: float, share_ws: float) -> None:
    rng = c.rng
    full, weak = c.labour()
    n_ex = c.exited.sum()
    cand = c.exited & (full | weak).any(1) & ~c.pw_job
    want = max(0, round(share_pw * n_ex) - c.pw_job.sum())
    if want and cand.any():
        w = (1 + 3 * weak.any(1) + 2 * (c.mon_status == 1)) * cand
        c.pw_job[rng.choice(c.H, min(want, cand.sum()), replace=False, p=w / w.sum())] = True
    cand = c.exited & full.any(1) & ~c.workshop
    want = max(0, round(share_ws * n_ex) - c.workshop.sum())
    if want and cand.any():
        w = (1 + 4 * c.relocated) * cand
        c.workshop[rng.choice(c.H, min(want, cand.sum()), replace=False, p=w / w.sum())] = True


def respond(c: County, o: Outlook, y: Year, row: pd.DataFrame, idx: np.ndarray) -> None:
    """The year's sweep, 低保 and posterior, from the year's record (`row`, households `idx`)."""
    rng, year = c.rng, o.year
    line = cal.monitor_line(year)
    met = criteria_met(row)
    size = row["hh_size"].to_numpy()
    pc = row["net_income_pc"].to_numpy()
    full, weak = c.labour()
    labour = (full | weak).any(1)[idx]
    h_full = full.any(1)[idx]
    severe = np.isin(c.disability, [1, 2]).any(1)[idx]

    # 低保 and 特困: entry below 0.75 x line without full labour (or with a severely disabled
    # member), 渐退 (half pay for a year) above 1.2 x line, then out
    alone_old = (size == 1) & ((c.age[idx, 0] >= 60) | severe) & ~labour
    c.tekun[idx] = c.tekun[idx] | alone_old
    eligible = (pc < cal.DIBAO_LINE_SHARE * line) & (~h_full | severe) & ~c.tekun[idx]
    take = eligible & ~c.dibao[idx] & (rng.random(len(idx)) < cal.DIBAO_TAKE_UP)
    leaving = c.dibao[idx] & (pc > 1.2 * line)
    out = leaving & c.dibao_phaseout[idx]
    c.dibao_phaseout[idx] = np.where(take | ~c.dibao[idx], False, leaving & ~out)
    c.dibao[idx] = (c.dibao[idx] | take) & ~out & ~c.tekun[idx]

    # the monitoring sweep
    newly = np.zeros(len(idx), bool)
    if year >= cal.MONITORING_STARTED:
        status = c.mon_status[idx]
        p_enrol = np.where(met["any"], detection(c, year)[idx], cal.FALSE_ALARM)
        newly = (status != 1) & (rng.random(len(idx)) < p_enrol)
        elim = (status == 1) & ~met["any"] & labour & (rng.random(len(idx)) < cal.ELIMINATION)
        h = idx[newly]
        c.mon_status[h] = 1
        c.mon_since[h] = year
        income_based = met.get("income", np.zeros(len(idx), bool))[newly]
        c.mon_category[h] = np.where(
            income_based,
            np.where(c.exited[h], CATEGORY["unstable"], CATEGORY["edge"]),
            CATEGORY["sudden"],
        )
        c.mon_risk[h] = _risk_code(c, y, h)
        c.mon_status[idx[elim]] = 2
        pw = newly & labour & (rng.random(len(idx)) < 0.12)
        c.pw_job[idx[pw]] = True
    c.pw_job &= rng.random(c.H) > 0.12  # contracts end

    # the posterior over the hidden type, from the recorded market income
    consistent = np.zeros((len(idx), len(EVENTS)), bool)
    ev_code = np.array(RISK_LEVELS)[c.mon_risk[idx]]
    ill, dis = c.new_serious[idx], c.new_disability[idx]
    consistent[ill, ILLNESS] = True
    consistent[dis & ~ill, DISABILITY] = True
    quiet = ~ill & ~dis
    told = quiet & newly & np.isin(ev_code, ["employment", "industry"])
    consistent[told & (ev_code == "employment"), UNEMPLOYMENT] = True
    consistent[told & (ev_code == "industry"), INDUSTRY] = True
    consistent[quiet & newly & ~told, NONE] = True
    consistent[np.ix_(quiet & ~newly, UNSEEN)] = True
    market = (row["inc_wage"] + row["inc_business"] + row["inc_property"]).to_numpy(float)
    sub = o.take(idx)
    entering = ~c.entered[idx]
    truncate = np.where(
        entering & c.exited[idx] & (c.exit_year[idx] == year),
        cal.EXIT_STANDARD_SHARE * line * size - row["inc_transfer"].to_numpy(float),
        0.0,
    )
    ll = income_log_likelihood(
        sub, market, row["village_disaster"].to_numpy(bool), consistent, truncate
    )
    c.log_post[idx] += ll
    c.log_post[idx] -= c.log_post[idx].max(1, keepdims=True)
    c.entered[idx] = True


def _risk_code(c: County, y: Year, h: np.ndarray) -> np.ndarray:
    idx = {k: i for i, k in enumerate(RISK_LEVELS)}
    by_event = np.array(
        [0, idx["illness"], idx["disability"], idx["employment"], idx["industry"], 0]
    )
    full, weak = c.labour()
    ev = y.event[h]
    students = ((c.age[h] >= 16) & (c.age[h] <= 22)).any(1)
    fallback = np.select(
        [
            y.house_unsafe[h],
            y.water_unsafe[h],
            c.disaster_now[c.village[h]],
            ~(full | weak).any(1)[h],
            students,
            (c.serious[h] & (c.age[h] >= 0)).any(1),
        ],
        [
            idx["housing"],
            idx["water"],
            idx["disaster"],
            idx["labour"],
            idx["schooling"],
            idx["illness"],
        ],
        idx["other"],
    )
    return np.where(by_event[ev] > 0, by_event[ev], fallback)
