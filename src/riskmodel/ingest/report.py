"""What an import read, mapped, set aside and found: the data behind IMPORT.md and the command's
output. Every file, sheet, row, header and value ends up in one of its lists or counts; nothing in
it names a person (no names, ID numbers or phone numbers: rows are cited by file, sheet and row).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pandas as pd

from riskmodel.catalogue import NATIONAL, PANEL, PANEL_COLUMNS

EXAMPLES = 3


def cite(rows: pd.DataFrame) -> list[str]:
    """'file [sheet] row N' for each row (sheet '-' for a csv)."""
    return [
        f"{file} [{sheet or '-'}] row {row}"
        for file, sheet, row in rows[["_file", "_sheet", "_row"]].to_numpy()
    ]


@dataclass
class SheetSummary:
    file: str
    sheet: str
    table: str
    year: str
    header_row: int
    rows: int
    blank_rows: int
    set_aside: int = 0
    """totals rows and rows of other years"""
    mapped: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    source: str
    format: str
    sheets: list[SheetSummary] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)
    out_of_vocabulary: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    vocabulary_examples: dict[tuple[str, str], list[str]] = field(
        default_factory=lambda: defaultdict(list)
    )
    quarantine: list[dict] = field(default_factory=list)
    """one entry per quarantined row: file, sheet, row, column, reason, value (never personal)"""
    conflicts: Counter = field(default_factory=Counter)
    """household field -> households whose member rows disagree (the 户主 row's value is kept)"""
    quality: dict[str, tuple[str, int]] = field(default_factory=dict)
    """rule id -> (description, count), added over the years"""
    fields_present: list[str] = field(default_factory=list)
    households_per_year: dict[int, int] = field(default_factory=dict)
    validation: str = ""
    notes: list[str] = field(default_factory=list)

    def value_outside(self, header: str, value: str, where: str, n: int = 1) -> None:
        self.out_of_vocabulary[header][value] += n
        ex = self.vocabulary_examples[(header, value)]
        if len(ex) < EXAMPLES:
            ex.append(where)

    def quarantine_rows(self, rows: pd.DataFrame, column: str, reason: str, values=None) -> None:
        for i, (file, sheet, row) in enumerate(rows[["_file", "_sheet", "_row"]].to_numpy()):
            self.quarantine.append(
                {
                    "file": file,
                    "sheet": sheet,
                    "row": int(row),
                    "column": column,
                    "reason": reason,
                    "value": "" if values is None else str(values.iloc[i]),
                }
            )

    def add_quality(self, rule: str, description: str, count: int) -> None:
        old = self.quality.get(rule, (description, 0))[1]
        self.quality[rule] = (description, old + int(count))

    @property
    def fields_absent(self) -> list[str]:
        return [c.name for c in PANEL_COLUMNS if c.name not in self.fields_present]

    def quarantine_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.quarantine, columns=["file", "sheet", "row", "column", "reason", "value"]
        )

    def summary_lines(self) -> list[str]:
        """The command's output: the counts a user checks first."""
        q = self.quarantine_frame()
        n_vocab = sum(sum(c.values()) for c in self.out_of_vocabulary.values())
        lines = [
            f"sheets read: {len(self.sheets)}; not read: {len(self.not_read)}",
            f"rows read: {sum(s.rows for s in self.sheets):,} "
            f"(blank {sum(s.blank_rows for s in self.sheets):,}, "
            f"set aside {sum(s.set_aside for s in self.sheets):,}, quarantined {len(q):,})",
            f"fields: {len(self.fields_present)} present, {len(self.fields_absent)} absent",
            f"values outside the vocabulary: {n_vocab:,}",
            "households per year: "
            + ", ".join(f"{y}: {n:,}" for y, n in sorted(self.households_per_year.items())),
            f"data-quality rules with findings: {sum(1 for _, n in self.quality.values() if n)}",
            f"panel validation: {self.validation.splitlines()[0] if self.validation else '-'}",
        ]
        return lines


def render(report: ImportReport) -> str:
    """IMPORT.md: every sheet, header, value and row the import did not take as it came."""
    out = [
        "# Import report",
        "",
        f"Source `{report.source}`, format `{report.format}`. Names, ID numbers and phone "
        "numbers were dropped at read; rows are cited by file, sheet and row (1-based, as a "
        "spreadsheet shows them).",
        "",
        "## Summary",
        "",
        *[f"- {line}" for line in report.summary_lines()],
        *[f"- {n}" for n in report.notes],
        "",
        "## Files and sheets",
        "",
        "| file | sheet | table | year | header row | rows read | blank | set aside |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in report.sheets:
        out.append(
            f"| {s.file} | {s.sheet or '-'} | {s.table} | {s.year} | {s.header_row} | "
            f"{s.rows:,} | {s.blank_rows:,} | {s.set_aside:,} |"
        )
    if report.not_read:
        out += ["", "Not read:", "", *[f"- {n}" for n in report.not_read]]
    notes = [(s, n) for s in report.sheets for n in s.notes]
    if notes:
        out += ["", *[f"- {s.file} {s.sheet}: {n}" for s, n in notes]]
    out += ["", "## Headers", ""]
    seen: set[tuple[str, str]] = set()
    for s in report.sheets:
        key = (s.table, "|".join(f"{k}>{v}" for k, v in s.mapped.items()) + "|".join(s.unused))
        if key in seen:
            continue
        seen.add(key)
        same = [x.file for x in report.sheets if x.table == s.table and x.mapped == s.mapped]
        out.append(f"**{s.table}** ({len(same)} sheet(s) with these headers, first {s.file})")
        out.append("")
        renamed = [f"{k} → {v}" for k, v in s.mapped.items() if k != v]
        personal = [
            v for v in s.mapped.values() if v in NATIONAL and NATIONAL[v].kind == "personal"
        ]
        used = [v for v in s.mapped.values() if v not in personal]
        out.append("- mapped: " + ", ".join(used))
        if personal:
            out.append(
                "- personal, used for duplicate checks and dropped (the 户主's 姓名 is kept as "
                "`head_name`, shown masked only): " + ", ".join(personal)
            )
        if renamed:
            out.append("- recognised under another name: " + ", ".join(renamed))
        out.append("- not used: " + (", ".join(s.unused) or "none"))
        out.append("")
    out += ["## Panel fields", ""]
    out.append("Present: " + ", ".join(f"`{f}`" for f in report.fields_present))
    out.append("")
    out.append("Absent (no input in this source; features that need them are left out):")
    out.append("")
    for name in report.fields_absent:
        c = PANEL[name]
        src = f"needs {c.national_field}" if c.national_field else "no national field"
        out.append(f"- `{name}` {c.label_zh} ({src})")
    out += ["", "## Values outside the vocabulary", ""]
    if not report.out_of_vocabulary:
        out.append("None.")
    else:
        out += ["| header | value | count | first rows |", "|---|---|---|---|"]
        for header, counts in report.out_of_vocabulary.items():
            for value, n in counts.most_common():
                ex = "; ".join(report.vocabulary_examples[(header, value)])
                out.append(f"| {header} | {value} | {n:,} | {ex} |")
    out += ["", "## Quarantined rows", ""]
    q = report.quarantine_frame()
    if q.empty:
        out.append("None.")
    else:
        by = q.groupby(["reason", "column"]).size().sort_values(ascending=False)
        out += ["| reason | column | rows |", "|---|---|---|"]
        out += [f"| {r} | {c} | {n:,} |" for (r, c), n in by.items()]
        out += ["", "First rows (all in `quarantine.csv`):", ""]
        for r in q.head(30).itertuples(index=False):
            val = f" (value {r.value!r})" if r.value else ""
            out.append(f"- {r.file} [{r.sheet or '-'}] row {r.row}, {r.column}: {r.reason}{val}")
    out += ["", "## Household fields that differ between member rows", ""]
    if not report.conflicts:
        out.append("None.")
    else:
        out += [f"- {k}: {n:,} households (the 户主 row's value is used)" for k, n in
                report.conflicts.most_common()]  # fmt: skip
    out += [
        "",
        "## Data-quality rules of the national system",
        "",
        "Counted, never used to drop rows (rule ids are those of research/national-export.md).",
        "",
        "| rule | what | count |",
        "|---|---|---|",
    ]
    out += [f"| {k} | {d} | {n:,} |" for k, (d, n) in report.quality.items()]
    out += ["", "## Households per year", "", "| year | households |", "|---|---|"]
    out += [f"| {y} | {n:,} |" for y, n in sorted(report.households_per_year.items())]
    out += ["", "## Panel validation", "", "```", report.validation or "-", "```", ""]
    return "\n".join(out)
