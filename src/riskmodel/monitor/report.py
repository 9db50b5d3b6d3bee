"""The monitoring report a data scientist reads: Markdown and a self-contained HTML page (plots
inlined), from the JSON the command prints."""

from __future__ import annotations

import html

from riskmodel.catalogue import FEATURES
from riskmodel.monitor import svg

TOP = 12
"""Features shown in the report's drift table and plot (all are in the JSON)."""


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(est: dict, key: str, digits: int = 3) -> str:
    if key not in est:
        return "—"
    lo, hi = est[f"{key}_low"], est[f"{key}_high"]
    return f"{est[key]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _label(feature: str) -> str:
    f = FEATURES.get(feature)
    return f"{feature} ({f.label_zh})" if f is not None and getattr(f, "label_zh", "") else feature


def performance_rows(report: dict) -> list[dict]:
    """Estimated beside realised, per batch year: the past ones and this one."""
    rows = []
    for batch in [*report.get("past", []), report["batch"]]:
        est, real = batch["estimated"], batch.get("realised") or {}
        rows.append(
            {
                "year": batch["year"],
                "households": batch["households"],
                "estimated AUC [95%]": _interval(est, "roc_auc"),
                "realised AUC": _fmt(real.get("roc_auc")),
                "estimated recall [95%]": _interval(est, "recall_at_capacity"),
                "realised recall": _fmt(real.get("recall_at_capacity")),
                "expected positives [95%]": _interval(est, "positives", 0),
                "observed": _fmt(real.get("positives")),
                "alarm": "ALARM" if batch["alarm"] else "no",
            }
        )
    return rows


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(none)\n"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def drift_rows(batch: dict) -> list[dict]:
    return [
        {
            "feature": _label(d["feature"]),
            "PSI": f"{d['psi']:.3f}",
            "largest yearly PSI seen": f"{d['seen_psi']:.3f}",
            "judged by": "range" if d.get("context") else "PSI",
            "missing": f"{d['missing']:.1%}",
            "unseen": f"{d['unseen']:.1%}",
            "outside range": f"{d['out_of_range']:.1%}",
        }
        for d in batch["drift"][:TOP]
    ]


def calibration_rows(batch: dict) -> list[dict]:
    rows = []
    for c in batch["calibration"]:
        rows.append(
            {
                "by": c["by"],
                "group": c["group"],
                "households": c["n"],
                "expected positives": f"{c['expected']:.1f}",
                "observed": f"{c['observed']:.0f}" if "observed" in c else "—",
                "z": f"{c['z']:.2f}" if "z" in c else "—",
            }
        )
    return rows


def markdown(report: dict, figures: dict[str, str] | None = None) -> str:
    """The report as Markdown; `figures` maps a plot's name to the file it was written to."""
    b, m = report["batch"], report["model"]
    verdict = "ALARM" if b["alarm"] else "no alarm"
    out = [
        f"# Monitoring: {m['name']} version {m['version']}, batch {b['year']}",
        "",
        f"**{verdict}: {b['recommendation']}.**",
        "",
        *[f"- {r}" for r in b["reasons"]],
        "",
        f"Model population ({b['label']}): {b['households']:,} households; labels known for "
        f"{b['labelled']:,}. Reference: trained on {report['reference']['train_years']}, "
        f"calibrated on {report['reference']['calibration_year']}, reference year "
        f"{report['reference']['reference_year']}. Score PSI {b['score_psi']:.3f}.",
        "",
        "## Performance: estimated before labels, realised after",
        "",
        "Estimates assume the model's probabilities stay calibrated (confidence-based "
        "estimation, recalibrated on the reference year); the interval is where the realised "
        "figure falls 95% of the time if they do.",
        "",
        _table(performance_rows(report)),
        "## Drift per feature (PSI against the reference year, most drifted first)",
        "",
        _table(drift_rows(b)),
        "## Calibration: expected against observed positives",
        "",
        _table(calibration_rows(b)),
        *_stability(report.get("stability")),
    ]
    for name, path in (figures or {}).items():
        out += [f"![{name}]({path})", ""]
    return "\n".join(out)


def _stability(stable: dict | None) -> list[str]:
    """Tier changes and worklist overlaps against the year before (riskmodel.stability)."""
    if not stable:
        return []
    from riskmodel.stability import summary_line

    line = summary_line(stable, str(stable["against_year"]))
    low = ", ".join(stable["villages_below_ids"])
    return [
        "## Stable ranks: this year's tiers and worklists against last year's",
        "",
        line[0].upper() + line[1:] + ("." if not low else f"; lowest overlaps: {low}."),
        "",
    ]


def figures(report: dict) -> dict[str, str]:
    """The drift, performance and calibration plots as SVG."""
    b = report["batch"]
    top = b["drift"][:TOP]
    out = {
        "drift": svg.bars(
            [d["feature"] for d in top],
            [d["psi"] for d in top],
            [d["seen_psi"] for d in top],
            f"drift, batch {b['year']}",
            "PSI against the reference year",
            "largest yearly PSI in the model's years",
        )
    }
    batches = [*report.get("past", []), b]
    est = [x["estimated"] for x in batches if "roc_auc" in x["estimated"]]
    years = [x["year"] for x in batches if "roc_auc" in x["estimated"]]
    out["performance"] = svg.points(
        years,
        [e["roc_auc"] for e in est],
        [e["roc_auc_low"] for e in est],
        [e["roc_auc_high"] for e in est],
        [(x["year"], x["realised"]["roc_auc"]) for x in batches if x.get("realised")],
        "estimated and realised AUC",
        "ROC-AUC",
    )
    tiers = [c for c in b["calibration"] if c["by"] == "tier"]
    series = {"expected": [c["expected"] for c in tiers]}
    if tiers and "observed" in tiers[0]:
        series["observed"] = [c["observed"] for c in tiers]
    out["calibration"] = svg.grouped(
        [c["group"] for c in tiers], series, "calibration per tier", "positives"
    )
    return out


def render(report: dict, stem: str = "monitor") -> tuple[str, str, dict[str, str]]:
    """Markdown (plots as files beside it), HTML (plots inlined) and the SVG texts."""
    plots = {f"{stem}-{name}.svg": text for name, text in figures(report).items()}
    md = markdown(report, {name: name for name in plots})
    body = [f"<h1>{html.escape(md.splitlines()[0].lstrip('# '))}</h1>"]
    for block in md.split("\n\n")[1:]:
        block = block.strip()
        if not block or block.startswith("!["):
            continue
        if block.startswith("## "):
            body.append(f"<h2>{html.escape(block[3:])}</h2>")
        elif block.startswith("|"):
            lines = [ln for ln in block.splitlines() if not ln.startswith("|---")]
            cells = [[html.escape(c.strip()) for c in ln.strip("|").split("|")] for ln in lines]
            head = "".join(f"<th>{c}</th>" for c in cells[0])
            rows = "".join(
                "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in cells[1:]
            )
            body.append(f"<table><tr>{head}</tr>{rows}</table>")
        elif block.startswith("- "):
            items = "".join(f"<li>{html.escape(ln[2:])}</li>" for ln in block.splitlines())
            body.append(f"<ul>{items}</ul>")
        else:
            body.append(f"<p>{html.escape(block.replace('**', ''))}</p>")
    body += [f"<p>{text}</p>" for text in plots.values()]
    page = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>monitoring</title>'
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 6px}</style><body>" + "\n".join(body) + "</body></html>"
    )
    return md, page, plots
