"""The county's state: households, their members and villages, as arrays advanced year by year.

Members are simulated one by one (age, sex, health, disability, schooling track, work) and summed
to the household counts the panel shows. Each household also has a hidden type (resilient, ordinary,
vulnerable) that no record holds; `log_post` is the exact posterior over it given the household's
recorded history, kept up to date by the step (riskmodel.simulate.oracle).
"""

from __future__ import annotations

import numpy as np

from riskmodel.catalogue import INDUSTRIES
from riskmodel.simulate import calibration as cal

MAX_MEMBERS = 12
INDUSTRY_NAMES = list(INDUSTRIES)
WORK_NONE, WORK_MIGRANT, WORK_LOCAL = 0, 1, 2
TRACK_NONE, TRACK_SENIOR, TRACK_VOCATIONAL, TRACK_UNIVERSITY = 0, 1, 2, 3


class County:
    """Mutable state of every household and member (the simulator's truth)."""

    def __init__(self, cfg, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        scale = cfg.households / sum(cal.EXIT_YEARS.values())
        exit_years = np.concatenate(
            [np.full(round(n * scale), y) for y, n in cal.EXIT_YEARS.items()]
        )[: cfg.households]
        n_exited = len(exit_years)
        n_general = round(n_exited * cfg.general_share)
        H = self.H = n_exited + n_general
        self.exited = np.r_[np.ones(n_exited, bool), np.zeros(n_general, bool)]
        self.exit_year = np.r_[exit_years, np.full(n_general, -1)]
        self.start_year = np.where(
            self.exited, np.maximum(self.exit_year, cfg.first_year), cfg.first_year
        )
        self.alive = np.ones(H, bool)
        self.entered = np.zeros(H, bool)

        # geography: villages spread over townships, former poor villages hold more exited households
        V = cfg.villages
        self.village_township = np.sort(rng.integers(0, cfg.townships, V))
        self.village_township[: cfg.townships] = np.arange(cfg.townships)  # none empty
        self.village_township.sort()
        self.village_poor = np.zeros(V, bool)
        self.village_poor[rng.choice(V, min(cfg.poor_villages, V), replace=False)] = True
        self.village_flood = rng.random(V) < 0.3
        w_ex = np.where(self.village_poor, 2.5, 1.0)
        self.village = np.where(
            self.exited, rng.choice(V, H, p=w_ex / w_ex.sum()), rng.choice(V, H)
        )
        # 88.6% of households had centralised water by 2020 (source article): villages in a
        # random order get it by 2020 until that share of households is served
        order = rng.permutation(V)
        served = np.cumsum(np.bincount(self.village, minlength=V)[order]) / H
        early = np.zeros(V, bool)
        early[order[served <= 0.89]] = True
        self.village_water_year = np.where(
            early, rng.integers(2008, 2021, V), rng.integers(2021, 2030, V)
        )
        self.coll_income = np.where(
            self.village_poor, rng.uniform(0.2, 1.0, V), rng.uniform(0.5, 3.0, V)
        )
        self.disaster_now = np.zeros(V, bool)

        # household traits; relocation served exits of 2016-2019 (1,176 of 17,342)
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
        self.dibao_phaseout = np.zeros(H, bool)
        self.tekun = np.zeros(H, bool)
        self.housing_safe = rng.random(H) > np.where(self.exited, 0.06, 0.03)
        self.water_connected = rng.random(H) < 0.995
        self.water_safe = self.central_water(cfg.first_year) | (rng.random(H) < 0.8)
        self.insured = np.ones(H, bool)
        self.late_cane = np.zeros(H)
        self.new_serious = np.zeros(H, bool)
        self.new_disability = np.zeros(H, bool)

        # monitoring: 0 never, 1 active, 2 eliminated
        self.mon_status = np.zeros(H, np.int8)
        self.mon_category = np.zeros(H, np.int8)  # index into monitor_category levels
        self.mon_risk = np.zeros(H, np.int8)  # index into risk_type levels
        self.mon_since = np.full(H, -1)

        # the hidden type and the exact posterior over it given the recorded history
        prior = np.where(
            self.exited[:, None],
            np.array(cal.TYPE_PRIOR["exited"])[None, :],
            np.array(cal.TYPE_PRIOR["general"])[None, :],
        )
        self.type = (
            (rng.random(H)[:, None] > np.cumsum(prior, axis=1)).sum(1).clip(0, prior.shape[1] - 1)
        )
        self.log_post = np.log(prior)
        self._init_members()

    def central_water(self, year: int) -> np.ndarray:
        return (self.village_water_year[self.village] <= year) & self.water_connected

    # -- members -----------------------------------------------------------------------------
    def _init_members(self) -> None:
        rng, H, M = self.rng, self.H, MAX_MEMBERS
        size = rng.choice(np.arange(1, 9), H, p=[0.08, 0.12, 0.16, 0.22, 0.20, 0.13, 0.06, 0.03])
        age = np.full((H, M), -1, np.int16)
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
        self.serious = present & (rng.random((H, M)) < np.where(self.exited[:, None], 0.02, 0.008))
        dis = present & (rng.random((H, M)) < np.where(self.exited[:, None], 0.085, 0.05))
        self.disability = np.where(
            dis, rng.choice([1, 2, 3, 4], (H, M), p=[0.15, 0.25, 0.3, 0.3]), 0
        )
        self.track = self.new_tracks((H, M))
        self.dropout = np.zeros((H, M), bool)
        self.work = np.zeros((H, M), np.int8)
        self.assign_workers(np.ones((H, M), bool))

    def new_tracks(self, shape) -> np.ndarray:
        """Schooling path after compulsory school: none, 高中, 中职/高职 (vocational), 高中+本科."""
        return self.rng.choice(4, shape, p=[0.22, 0.20, 0.30, 0.28])

    def students(self) -> dict[str, np.ndarray]:
        a, t = self.age, self.track
        return {
            "compulsory": (a >= 6) & (a <= 15) & ~self.dropout,
            "senior": (a >= 16) & (a <= 18) & ((t == TRACK_SENIOR) | (t == TRACK_UNIVERSITY)),
            "vocational": ((a >= 16) & (a <= 20) & (t == TRACK_VOCATIONAL)),
            "tertiary": (a >= 19) & (a <= 22) & (t == TRACK_UNIVERSITY),
        }

    def labour(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.age
        s = self.students()
        studying = s["senior"] | s["vocational"] | s["tertiary"]
        able = (a >= 16) & ~studying & ~self.serious & ~np.isin(self.disability, [1, 2])
        full = able & (a <= 59) & ~((self.chronic | (self.disability > 0)) & (a >= 50))
        weak = able & ~full & (a <= 69)
        return full, weak

    def assign_workers(self, candidates: np.ndarray) -> None:
        full, weak = self.labour()
        r = self.rng.random(self.work.shape)
        young = self.age < 50
        new_full = candidates & full & (self.work == WORK_NONE)
        self.work[new_full & young & (r < 0.55)] = WORK_MIGRANT
        self.work[new_full & young & (r >= 0.55) & (r < 0.78)] = WORK_LOCAL
        self.work[new_full & ~young & (r < 0.25)] = WORK_MIGRANT
        self.work[new_full & ~young & (r >= 0.25) & (r < 0.55)] = WORK_LOCAL
        new_weak = candidates & weak & (self.work == WORK_NONE) & (r < 0.15)
        self.work[new_weak] = WORK_LOCAL

    def aggregate(self) -> dict[str, np.ndarray]:
        """Household counts as the panel shows them."""
        a, present = self.age, self.age >= 0
        s = self.students()
        full, weak = self.labour()
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
            "n_students_compulsory": s["compulsory"].sum(1),
            "n_students_senior": (s["senior"] | (s["vocational"] & (a <= 18))).sum(1),
            "n_students_tertiary": (s["tertiary"] | (s["vocational"] & (a >= 19))).sum(1),
            "n_students_vocational": s["vocational"].sum(1),
            "n_dropout": (present & self.dropout & (a >= 6) & (a <= 15)).sum(1),
            "n_migrant_workers": (self.work == WORK_MIGRANT).sum(1),
            "n_local_workers": (self.work == WORK_LOCAL).sum(1),
            "n_children_15": (a == 15).sum(1),
            "head_age": np.maximum(a[:, 0], 16),
        }

    def reseat_head(self) -> None:
        """When the head leaves or dies, the oldest remaining member becomes head (slot 0)."""
        no_head = (self.age[:, 0] < 0) & (self.age >= 0).any(1)
        if not no_head.any():
            return
        rows = np.flatnonzero(no_head)
        new = np.argmax(self.age[rows], axis=1)
        for arr in (
            self.age, self.female, self.chronic, self.serious, self.disability, self.track,
            self.dropout, self.work,
        ):  # fmt: skip
            tmp = arr[rows, 0].copy()
            arr[rows, 0] = arr[rows, new]
            arr[rows, new] = tmp

    def remove_member(self, rows: np.ndarray, slots: np.ndarray) -> None:
        self.age[rows, slots] = -1
        for arr in (self.chronic, self.serious, self.dropout):
            arr[rows, slots] = False
        self.disability[rows, slots] = 0
        self.work[rows, slots] = WORK_NONE


def pick_member(rng: np.random.Generator, weight: np.ndarray) -> np.ndarray:
    """One member slot per household, with probability proportional to `weight` (H, M)."""
    tot = weight.sum(1, keepdims=True)
    cum = np.cumsum(weight, 1) / np.where(tot > 0, tot, 1)
    return np.minimum((rng.random((len(weight), 1)) > cum).sum(1), weight.shape[1] - 1)
