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

    @property
    def ok(self) -> bool:
        return self.lo <= self.value <= self.hi


def realism_checks(panel: pd.DataFrame, oracle: pd.DataFrame) -> list[Check]:
    """Compute every realism target from the panel and the oracle alone."""
    labelled = add_labels(panel).merge(oracle, on=["hh_id", "year"], how="left")
    exited = panel[panel["household_type"] == "exited"]
    hh = exited.drop_duplicates("hh_id")
    scale = len(hh) / sum(EXIT_YEARS.values())
    checks = [
        Check("townships", "13", 13, 13, panel["township_id"].nunique(), "{:.0f}"),
        Check("villages", "162", 162, 162, panel["village_id"].nunique(), "{:.0f}"),
        Check(
            "former poor villages",
            "57",
            57,
            57,
            panel.loc[panel["is_former_poor_village"], "village_id"].nunique(),
            "{:.0f}",
        ),
        Check(
            "exited households (scaled to county size)",
            f"{19_300 * scale:,.0f} (19,000+)",
            19_000 * scale,
            19_600 * scale,
            len(hh),
            "{:,.0f}",
        ),
        Check(
            "exits 2016-2019",
            f"{17_342 * scale:,.0f}",
            17_342 * scale * 0.99,
            17_342 * scale * 1.01,
            hh["exit_year"].between(2016, 2019).sum(),
            "{:,.0f}",
        ),
        Check(
            "mean household size, exited", "about 4.2", 4.0, 4.4, exited["hh_size"].mean(), "{:.2f}"
        ),
    ]
    rel = labelled.dropna(subset=["relapse"])
    for year, g in rel.groupby("year"):
        checks.append(
            Check(
                f"relapse rate into {year + 1}",
                "2-6%",
                0.02,
                0.06,
                g["relapse"].astype(float).mean(),
                "{:.1%}",
            )
        )
    by_year = rel.groupby("year")["relapse"].apply(lambda s: s.astype(float).mean())
    if {2018, 2019, 2020} <= set(by_year.index):
        checks.append(
            Check(
                "relapse into 2020 above 2019 and 2021",
                "higher in 2020",
                1,
                1,
                float(by_year[2019] > max(by_year[2018], by_year[2020])),
                "{:.0f}",
            )
        )
    ident = labelled.dropna(subset=["identified"])
    for year, g in ident[ident["year"] >= 2019].groupby("year"):
        checks.append(
            Check(
                f"newly identified in {year + 1}",
                "3-6%",
                0.03,
                0.06,
                g["identified"].astype(float).mean(),
                "{:.1%}",
            )
        )
    total = exited[["inc_wage", "inc_business", "inc_property", "inc_transfer"]].sum()
    checks += [
        Check(
            "wage share of exited households' income",
            "55-67%",
            0.55,
            0.67,
            total["inc_wage"] / total.sum(),
            "{:.1%}",
        ),
        Check(
            "transfer share of exited households' income",
            "15-27%",
            0.15,
            0.27,
            total["inc_transfer"] / total.sum(),
            "{:.1%}",
        ),
    ]
    y2020 = exited[exited["year"] == 2020]
    if len(y2020):
        checks += [
            Check(
                "public-welfare jobs, exited households 2020",
                "about 3.9%",
                0.03,
                0.048,
                y2020["has_public_welfare_job"].mean(),
                "{:.1%}",
            ),
            Check(
                "centralised water, households 2020",
                "88.6%",
                0.86,
                0.91,
                panel.loc[panel["year"] == 2020, "water_centralised"].mean(),
                "{:.1%}",
            ),
            Check(
                "industry coverage, exited households 2020",
                "96.75%",
                0.955,
                0.98,
                (y2020["main_industry"] != "none").mean(),
                "{:.1%}",
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
        )
    )
    last = rel["year"].max()
    g = rel[rel["year"] == last]
    checks += [
        Check(
            f"oracle ROC-AUC for relapse into {last + 1}",
            "0.78-0.90",
            0.78,
            0.90,
            roc_auc_score(g["relapse"].astype(int), g["p_relapse"]),
        ),
        Check(
            f"oracle mean minus observed relapse rate into {last + 1}",
            "within +-0.5 pp",
            -0.005,
            0.005,
            g["p_relapse"].mean() - g["relapse"].astype(float).mean(),
            "{:+.2%}",
        ),
    ]
    return checks


def realism_table(checks: list[Check]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "quantity": [c.quantity for c in checks],
            "target": [c.target for c in checks],
            "realised": [c.fmt.format(c.value) for c in checks],
            "on target": ["yes" if c.ok else "NO" for c in checks],
        }
    )
