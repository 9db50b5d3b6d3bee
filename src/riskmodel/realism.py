"""The realism report: each calibration target beside the value the simulated county realises."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.metrics import roc_auc_score

from riskmodel.labels import add_labels
from riskmodel.simulate import EXIT_YEARS


@dataclass(frozen=True)
class Check:
    quantity: str
    target: str
    lo: float
    hi: float
    value: float
    fmt: str = "{:.3f}"
    source: str = ""

    @property
    def ok(self) -> bool:
        return self.lo <= self.value <= self.hi


def _rate(s: pd.Series) -> float:
    return float(s.astype(float).mean())


def realism_checks(panel: pd.DataFrame, oracle: pd.DataFrame) -> list[Check]:
    """Compute every calibration target from the panel and the oracle alone."""
    labelled = add_labels(panel).merge(oracle, on=["hh_id", "year"], how="left")
    labelled["ratio"] = (panel["net_income_pc"] / panel["monitor_line"]).to_numpy()
    exited = panel[panel["household_type"] == "exited"]
    hh = exited.drop_duplicates("hh_id")
    scale = len(hh) / sum(EXIT_YEARS.values())
    art = "source article (Ningming 2020)"
    checks = [
        Check("townships", "13", 13, 13, panel["township_id"].nunique(), "{:.0f}", art),
        Check("villages", "162", 162, 162, panel["village_id"].nunique(), "{:.0f}", art),
        Check(
            "former poor villages",
            "57",
            57,
            57,
            panel.loc[panel["is_former_poor_village"], "village_id"].nunique(),
            "{:.0f}",
            art,
        ),
        Check(
            "exited households (scaled to county size)",
            f"{19_300 * scale:,.0f} (19,000+)",
            19_000 * scale,
            19_600 * scale,
            len(hh),
            "{:,.0f}",
            art,
        ),
        Check(
            "exits 2016-2019",
            f"{17_342 * scale:,.0f}",
            17_342 * scale * 0.99,
            17_342 * scale * 1.01,
            hh["exit_year"].between(2016, 2019).sum(),
            "{:,.0f}",
            art,
        ),
        Check(
            "mean household size, exited",
            "about 4.2",
            4.0,
            4.4,
            exited["hh_size"].mean(),
            "{:.2f}",
            "72,060 people / 17,342 households (source article)",
        ),
    ]
    checks += _income_checks(panel, exited, labelled)
    checks += _label_checks(panel, exited, labelled)
    checks += _programme_checks(panel, exited, hh)
    return checks


def _income_checks(panel: pd.DataFrame, exited: pd.DataFrame, lab: pd.DataFrame) -> list[Check]:
    total = exited[["inc_wage", "inc_business", "inc_property", "inc_transfer"]].sum()
    ratio = lab["ratio"]
    above = ((ratio > 1.0) & (ratio <= 1.05)).sum()
    below = ((ratio > 0.95) & (ratio <= 1.0)).sum()
    mean_pc = exited.groupby("year")["net_income_pc"].mean()
    growth = mean_pc.pct_change().loc[2021:2025]
    return [
        Check(
            "wage share of exited households' income",
            "55-67%",
            0.55,
            0.67,
            total["inc_wage"] / total.sum(),
            "{:.1%}",
            "S7 (2/3 from work), S28",
        ),
        Check(
            "transfer share of exited households' income",
            "15-27%",
            0.15,
            0.27,
            total["inc_transfer"] / total.sum(),
            "{:.1%}",
            "S28 (poor areas 2019: 27%)",
        ),
        Check(
            "heaping: household-years in (1.00, 1.05] over (0.95, 1.00] x line",
            "at most 1.3",
            0.0,
            1.3,
            above / max(below, 1),
            "{:.2f}",
            "no rescaling: a smooth income distribution has a ratio near 1",
        ),
        Check(
            "yearly income growth of exited households, mean 2021-2025",
            "6-15%",
            0.06,
            0.15,
            float(growth.mean()) if len(growth) else float("nan"),
            "{:.1%}",
            "S5 (+6.5% in 2024, delisted counties); about 14% in 2022-2023 (national 脱贫人口)",
        ),
    ]


def _label_checks(panel: pd.DataFrame, exited: pd.DataFrame, lab: pd.DataFrame) -> list[Check]:
    checks = []
    rel = lab.dropna(subset=["relapse"])
    by_year = rel.groupby("year")["relapse"].apply(_rate)
    for year, rate in by_year.items():
        checks.append(
            Check(
                f"relapse rate into {year + 1}",
                "2-6%",
                0.02,
                0.06,
                rate,
                "{:.1%}",
                "domain.md B11 (ASSUMPTION from S3, S10, S30, S31)",
            )
        )
    if {2018, 2019, 2020} <= set(by_year.index):
        checks.append(
            Check(
                "relapse into 2020 above 2019 and 2021 (COVID hits incomes)",
                "higher in 2020",
                1,
                1,
                float(by_year[2019] > max(by_year[2018], by_year[2020])),
                "{:.0f}",
                "emerges from the 2020 shocks; not set",
            )
        )
    ident = lab.dropna(subset=["identified"])
    for year, g in ident[ident["year"] >= 2019].groupby("year"):
        checks.append(
            Check(
                f"newly identified in {year + 1}",
                "1-3%",
                0.01,
                0.03,
                _rate(g["identified"]),
                "{:.1%}",
                "consistent with about 7% ever monitored (S5, S7)",
            )
        )
    recent = exited[exited["year"] >= 2020]
    checks.append(
        Check(
            "share of exited households ever monitored 2020-2025",
            "about 7% (5-10%)",
            0.05,
            0.10,
            recent.groupby("hh_id")["is_monitored"].any().mean(),
            "{:.1%}",
            "national: >7 million monitored objects of ~98 million registered (S7)",
        )
    )
    pers = lab.dropna(subset=["persistent"])
    checks.append(
        Check(
            "monitored households whose risk is eliminated within a year",
            "50-70%",
            0.50,
            0.70,
            1 - _rate(pers["persistent"]),
            "{:.1%}",
            "S6 (>60%), S10 (~50%), S19 (56%)",
        )
    )
    for label, prob, band in (
        ("meets_criteria", "p_meets_criteria", (0.74, 0.82)),
        ("relapse", "p_relapse", (0.72, 0.82)),
    ):
        g = lab.dropna(subset=[label])
        g = g[g["year"] == g["year"].max()]
        y = g[label].astype(int)
        oracle_auc = roc_auc_score(y, g[prob])
        checks += [
            Check(
                f"oracle ROC-AUC, {label} into {g['year'].max() + 1}",
                f"{band[0]:.2f}-{band[1]:.2f}",
                *band,
                oracle_auc,
                "{:.3f}",
                "published model on real administrative data: 0.706 (domain.md e)",
            ),
            Check(
                f"oracle minus income-to-line alone, {label}",
                "at least 0.06",
                0.06,
                1.0,
                oracle_auc - roc_auc_score(y, -g["ratio"]),
                "{:.3f}",
                "hidden causes: income alone must not nearly suffice",
            ),
            Check(
                f"oracle mean minus observed rate, {label}",
                "within +-0.5 pp",
                -0.005,
                0.005,
                g[prob].mean() - _rate(g[label]),
                "{:+.2%}",
                "the oracle is exact (Monte Carlo test)",
            ),
        ]
    return checks


def _programme_checks(panel: pd.DataFrame, exited: pd.DataFrame, hh: pd.DataFrame) -> list[Check]:
    checks = []
    y2020 = exited[exited["year"] == 2020]
    art = "source article (Ningming 2020)"
    if len(y2020):
        checks += [
            Check(
                "public-welfare jobs, exited households 2020",
                "about 3.9%",
                0.03,
                0.048,
                y2020["has_public_welfare_job"].mean(),
                "{:.1%}",
                "684 jobs; " + art,
            ),
            Check(
                "centralised water, households 2020",
                "88.6%",
                0.86,
                0.91,
                panel.loc[panel["year"] == 2020, "water_centralised"].mean(),
                "{:.1%}",
                art,
            ),
            Check(
                "industry coverage, exited households 2020",
                "96.75%",
                0.955,
                0.98,
                (y2020["main_industry"] != "none").mean(),
                "{:.1%}",
                art,
            ),
        ]
    exits_1619 = hh[hh["exit_year"].between(2016, 2019)]
    checks.append(
        Check(
            "relocated, share of 2016-2019 exits",
            "about 6.8% (1,176 households)",
            0.063,
            0.073,
            exits_1619["relocated"].mean(),
            "{:.1%}",
            art,
        )
    )
    return checks


def realism_table(checks: list[Check]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "quantity": [c.quantity for c in checks],
            "target": [c.target for c in checks],
            "realised": [c.fmt.format(c.value) for c in checks],
            "on target": ["yes" if c.ok else "NO" for c in checks],
            "source": [c.source for c in checks],
        }
    )
