"""Every constant of the simulated county, with its source or marked ASSUMPTION.

Constants are set once (fitted by hand to the figures in `TARGETS`, which the realism report checks);
no rate is solved per year: yearly rates emerge from the shocks below as they hit incomes.
Sources S1-S39 and G1-G8 are those of ../shared/research/domain.md and national-export.md.
"""

from __future__ import annotations

# --- lines ----------------------------------------------------------------------------------------

NATIONAL_STANDARD = {2014: 2800, 2015: 2855, 2016: 2952, 2017: 3335, 2018: 3535, 2019: 3747}
"""National rural poverty standard, yuan per person per year (2,300 at 2010 prices, adjusted; S4)."""

MONITOR_LINE_2020_ON = {2020: 6000, 2021: 6000, 2022: 6600, 2023: 7300, 2024: 7800, 2025: 8200}
"""Guangxi's line is not published (national-export.md section 3). 2020-2021: 1.5 x the ~4,000
standard (S1, S3, S4). 2022: 6,600, the western provinces' line (S33). 2023: Guizhou's 7,300 (G1
rule 4_11_010), the lowest of the neighbours cited (Yunnan 8,050, Hubei 7,600). 2024-2025: ASSUMPTION,
the national rule's yearly adjustment (about 6%/yr), staying below Yunnan's 8,700 (2025, S25)."""

EXIT_STANDARD_SHARE = 1 / 1.5
"""A household exits only with income above the national standard, 1/1.5 of the monitoring line."""


def monitor_line(year: int) -> float:
    """The monitoring line for a year: 1.5x the national standard to 2019, then the line series."""
    if year in NATIONAL_STANDARD:
        return round(1.5 * NATIONAL_STANDARD[year], 0)
    if year in MONITOR_LINE_2020_ON:
        return float(MONITOR_LINE_2020_ON[year])
    if year < 2014:
        return round(1.5 * NATIONAL_STANDARD[2014] * 0.95 ** (2014 - year), 0)
    return round(MONITOR_LINE_2020_ON[2025] * 1.06 ** (year - 2025), 0)


# --- county ---------------------------------------------------------------------------------------

EXIT_YEARS = {2014: 900, 2015: 850, 2016: 4300, 2017: 4600, 2018: 4900, 2019: 3542, 2020: 208}
"""Exits by year for a county of 19,300 exited households: 17,342 in 2016-2019 (Ningming, source
article); 2014-2015 and 2020 fill the 19,000+ monitored since 2014 (ASSUMPTION on the split)."""

TOWNSHIPS = [
    "城中镇", "明江镇", "海渊镇", "亭亮镇", "寨安乡", "峙浪乡", "那堪镇",
    "东安乡", "板棍乡", "北江乡", "桐棉镇", "那楠乡", "爱店镇",
]  # fmt: skip
"""Ningming's 13 townships; township_id T01..T13 follows this order."""

# --- hidden vulnerability -------------------------------------------------------------------------

TYPE_SHIFT = (0.25, 0.10, 0.0, -0.15, -0.35)
"""Hidden household types (from resilient to vulnerable): shift of log market income. Debt,
house building, 彩礼 and undiagnosed illness are nowhere in the records; their joint effect is this
persistent type (ASSUMPTION, sized so that income relative to the line alone stays well below the
oracle, as on real data: the one published model on administrative data reaches AUC 0.706)."""
TYPE_SIGMA = (0.14, 0.17, 0.20, 0.24, 0.28)
"""Year-to-year volatility of log market income by type (fresh each year; ASSUMPTION)."""
TYPE_PRIOR = {
    "exited": (0.10, 0.20, 0.35, 0.20, 0.15),
    "general": (0.20, 0.25, 0.35, 0.12, 0.08),
}
"""Share of each type among exited and general households (ASSUMPTION)."""
MEASUREMENT_SIGMA = 0.12
"""Recorded market income = true income x exp(N(0, 0.12^2)): 入户核算 misses and rounds income
(ASSUMPTION). Labels are defined on recorded values, as on real data."""

# --- economy (indices: 2019 = 1 unless noted) -----------------------------------------------------

WAGE_INDEX = {2014: 0.70, 2015: 0.76, 2016: 0.82, 2017: 0.88, 2018: 0.94, 2019: 1.0, 2020: 1.02,
              2021: 1.12, 2022: 1.20, 2023: 1.32, 2024: 1.42, 2025: 1.52}  # fmt: skip
"""Rural migrant wages (ASSUMPTION: ~7%/yr to 2019 after national migrant-worker monitoring reports,
~5%/yr after 2020)."""
MIGRANT_MONTHS = {2020: 0.70, 2021: 0.92, 2022: 0.84}
"""Share of usual months migrants could work: COVID closures in 2020 and the 2022 wave (domain.md C4:
20-30% of migrants lost 3+ months in 2020; ASSUMPTION for 2021-2022)."""
SUGARCANE_PRICE = {2014: 1.00, 2015: 0.92, 2016: 1.05, 2017: 1.10, 2018: 1.02, 2019: 0.95,
                   2020: 0.98, 2021: 1.03, 2022: 1.08, 2023: 1.06, 2024: 1.00, 2025: 1.02}  # fmt: skip
"""County sugarcane purchase price index (ASSUMPTION, 2014 = 1; Guangxi's guide price moved little)."""
SUGARCANE_YIELD = {2021: 0.78, 2023: 0.85}
"""Frost (the January 2021 cold wave) and drought (2023) cut cane yields (ASSUMPTION on the sizes)."""
LATE_CANE_PAYMENT = {2015: 0.25, 2016: 0.15}
"""Share of the year's cane payment mills paid only the next year (ASSUMPTION: 2015-2016 arrears)."""
CATTLE_PRICE = {2014: 0.85, 2015: 0.90, 2016: 0.92, 2017: 0.95, 2018: 0.98, 2019: 1.0, 2020: 1.10,
                2021: 1.15, 2022: 1.10, 2023: 0.90, 2024: 0.75, 2025: 0.80}  # fmt: skip
"""Live cattle price cycle: the 2020-2021 peak and the 2023-2024 slump (ASSUMPTION on sizes)."""
BORDER_TRADE = {2020: 0.25, 2021: 0.30, 2022: 0.30, 2023: 0.80, 2024: 0.95}
"""边贸 income: border markets (爱店 and others) closed 2020-2022, reopening 2023 (ASSUMPTION sizes)."""
TOURISM = {2020: 0.40, 2021: 0.60, 2022: 0.50, 2023: 0.95}
"""Rural tourism (花山 area) income in the COVID years (ASSUMPTION)."""

WAGE_MONTHLY = (0.0, 3100.0, 2200.0, 1800.0, 800.0)
"""Monthly pay in 2019 by work: none, migrant, local, workshop (帮扶车间), public-welfare job
(公益性岗位 pay 500-800/month); ASSUMPTION."""
WORK_MONTHS = (0, 10, 9, 10, 12)
EDUCATION_PREMIUM = 0.08
"""Pay rises 8% per level of the head's schooling (illiterate .. college; ASSUMPTION)."""
BUSINESS_BASE = {  # yuan a year in 2019 for an average household with labour
    "sugarcane": ("land", 2600.0),
    "forestry": ("land", 1700.0),
    "cattle": ("flat", 21000.0),
    "tourism": ("flat", 22000.0),
    "border_trade": ("flat", 25000.0),
    "modern_agri": ("flat", 21000.0),
    "none": ("land", 800.0),
}
"""Net business income by main industry (ASSUMPTION), scaled by the indices above."""
BUSINESS_GROWTH = 0.05
"""Yearly real growth of business income besides prices (ASSUMPTION)."""
MONITORED_UPLIFT = 0.12
"""Developmental assistance (industry, employment) raises a monitored household's market income
(S6: every monitored household with labour gets at least one such measure; size ASSUMPTION)."""
MIN_MARKET = 400.0
"""Gathering, odd jobs and gifts: market income never falls to nothing (ASSUMPTION)."""

# --- events (probability per household-year) and their effects ------------------------------------

ILLNESS_BASE = -4.3
"""logit of a new serious illness or injury: + 0.035 per year of the oldest adult over 40 and + 0.5
with a chronically ill member (domain.md C4: 1.5-3% of households a year; accidents 0.3-0.5%)."""
DISABILITY_RATE = 0.004
"""A disability certificate issued to a member (domain.md C4: 0.3-0.6% of persons; ASSUMPTION)."""
UNEMPLOYMENT_RATE = 0.09
"""A migrant loses months of work (domain.md C4: 8-12% of migrant workers a year)."""
UNEMPLOYMENT_RATE_YEAR = {2020: 0.26, 2021: 0.13, 2022: 0.18}
INDUSTRY_FAILURE_RATE = 0.03
"""A project or price failure wipes out most of a year's business income (domain.md C4: 2-4%)."""
ILLNESS_WAGE_LOSS = 0.8
"""Share of one worker's pay lost to a serious illness in the household (patient or carer)."""
DISABILITY_WAGE_LOSS = 0.35
UNEMPLOYMENT_LOSS = 0.8
"""Share of one migrant's yearly pay lost to unemployment (4-10 months)."""
INDUSTRY_FAILURE_KEEP = 0.0
SETBACK_RATE = 0.025
"""A bad year no record explains (a debt called in, a failed venture, a member's undiagnosed
illness, 彩礼 or house building): market income falls to SETBACK_KEEP (ASSUMPTION)."""
SETBACK_KEEP = 0.12

DISASTER_RATE = (0.035, 0.11)
"""A village disaster (flood, typhoon, frost, drought) in a year: other / flood-prone villages
(domain.md C4: 5-10% of villages a year; ASSUMPTION)."""
DISASTER_YEAR = {2017: 1.6, 2022: 1.4}
"""Bad years (ASSUMPTION): more villages hit."""
DISASTER_KEEP = {"farm": 0.4, "other": 0.85}
"""Share of business income a disaster leaves: farms (cane, forestry, cattle, farming) / others."""

# --- money out: medical and schooling -------------------------------------------------------------

MEDICAL_GROSS = {"chronic": 3500.0, "serious": 22000.0, "event": 40000.0, "per_person": 300.0}
"""Yearly gross medical costs (2019 prices): per chronically ill member, per seriously ill member,
for a new serious illness or injury, and routine per person (ASSUMPTION; S37-S39)."""
MEDICAL_SIGMA = 0.55
"""Dispersion of a household's yearly out-of-pocket costs around its median (ASSUMPTION): the bill is
the median times exp(0.55 x), x drawn from the 7-point Gauss-Hermite rule for a standard normal, so
the oracle's sum over bills is finite and exact."""
MEDICAL_POINTS = 7
REIMBURSEMENT = {
    "exited": {2016: 0.80, 2017: 0.85, 2018: 0.88, 2019: 0.90, 2020: 0.90, 2021: 0.86,
               2022: 0.83, 2023: 0.80, 2024: 0.78, 2025: 0.76},
    "general": {2014: 0.60, 2018: 0.66, 2020: 0.70, 2025: 0.72},
}  # fmt: skip
"""Share of medical costs reimbursed (basic insurance, 大病保险 and 医疗救助): 90% for poor and
exited households by 2019 (the "先诊疗后付费" policy), tapering over the 2021-2025 transition period
as special support was folded into the general system; general households 55-68% (ASSUMPTION on
the path; the taper is policy, S1-S3)."""
SCHOOL_COST = {"compulsory": 300.0, "senior": 3000.0, "vocational": 1500.0, "tertiary": 8000.0}
"""Yearly schooling costs per student (ASSUMPTION; compulsory schooling is free of tuition)."""
YULU_GRANT = 3000.0
"""雨露计划: 3,000 yuan a year for students of exited households in 中职/高职 (vocational) only."""

# --- money in: transfers --------------------------------------------------------------------------

PENSION = 1700.0
"""Basic rural pension per member aged 60+ in 2020, +4%/yr (ASSUMPTION)."""
DIBAO_PER_PERSON = 3600.0
"""Rural 低保 paid per person a year in 2020, +5%/yr (ASSUMPTION; below Guangxi's standard since it
tops income up to it)."""
DIBAO_LINE_SHARE = 0.9
"""A household is eligible for 低保 below 0.75 x the monitoring line with no or weak labour or a
severely disabled member; it leaves with 渐退 (half pay for a year) above 1.2 x (ASSUMPTION)."""
DIBAO_TAKE_UP = 0.8
TEKUN = 6500.0
"""特困供养 for a member living alone, 60+ or severely disabled, with no labour (ASSUMPTION)."""
DISABILITY_ALLOWANCE = (1300.0, 600.0)
"""Severe / other disability allowances a year (two subsidies for the disabled; ASSUMPTION)."""
LAND_SUBSIDY = 110.0
"""Farmland and ecological subsidies per mu (ASSUMPTION)."""
EXITED_SUPPORT = 13000.0
"""Other transfers to an exited household (asset-income dividends, subsidies) a year up to 2020;
tapering in the transition period (EXITED_TAPER; ASSUMPTION)."""
EXITED_TAPER = {2021: 0.92, 2022: 0.84, 2023: 0.76, 2024: 0.68, 2025: 0.60}

# --- guarantees (两不愁三保障 and water) ----------------------------------------------------------

RENOVATION = {"to2020": 0.6, "after": 0.35}
"""Share of unsafe houses renovated each year (危房改造; ASSUMPTION)."""
HOUSE_DAMAGE = (0.0005, 0.03)
"""A safe house becomes unsafe in a year: ageing / when a disaster hits the village (ASSUMPTION)."""
WATER_FIX = 0.35
WATER_DAMAGE = (0.0005, 0.03)
UNINSURED = {"exited": 0.001, "general": 0.004}
"""A member is left without basic medical insurance that year (ASSUMPTION)."""
DROPOUT = 0.001
"""A child of compulsory-school age drops out in a year (control-dropout campaigns; ASSUMPTION)."""

# --- monitoring -----------------------------------------------------------------------------------

MONITORING_STARTED = 2020
DETECTION = {"exited": 0.22, "general": 0.16}
"""Share of households meeting the criteria that the yearly sweep enrols (the rest are 应纳未纳;
ASSUMPTION, fitted to about 7% of exited households ever monitored in 2020-2025)."""
DETECTION_FIRST_YEAR = 0.7
"""The mechanism's first sweep (2020) found fewer (multiplier)."""
FALSE_ALARM = 0.002
"""Households enrolled without meeting the recorded criteria (other hardship; ASSUMPTION)."""
ELIMINATION = 0.8
"""A monitored household that no longer meets the criteria is marked 风险消除 (S6: >60% eliminated;
S10: ~50% within the year); never one with no labour (national-export.md section 3)."""
