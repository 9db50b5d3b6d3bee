"""Reading export files: every sheet of every xlsx and csv, its header row found, its cells as text.

A sheet comes back as a `Sheet`: the raw header row, the data rows as strings ('' for empty) with
their row numbers in the file (1-based, as a spreadsheet shows them), and the counts of what was set
aside (rows above the header, blank rows). Nothing is interpreted here beyond text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

HEADER_SCAN_ROWS = 10
READABLE = (".csv", ".xlsx", ".xlsm")


class UnreadableFile(ValueError):
    """A source that cannot be read at all (named file, sheet, row where it applies)."""


def normalise(text: object) -> str:
    """Compare headers and values as the system's users type them: NFKC (full-width digits and
    brackets to half-width), no whitespace, no trailing '.0' of numbers stored as floats."""
    s = unicodedata.normalize("NFKC", str(text)).strip()
    return re.sub(r"\s+", "", s)


def normalise_series(s: pd.Series) -> pd.Series:
    """`normalise` for a whole column at once (pyarrow compute: NFKC, whitespace removed);
    a categorical column is normalised once per category. Missing values become ''."""
    import pyarrow.compute as pc

    def norm(values: np.ndarray) -> np.ndarray:
        arr = pa.array(values, pa.string())
        arr = pc.replace_substring_regex(pc.utf8_normalize(arr, "NFKC"), r"\s+", "")
        return np.asarray([*arr.to_pylist(), ""], dtype=object)

    if not isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype("category")
    cats = norm(np.asarray(s.cat.categories.astype(str), dtype=object))
    codes = s.cat.codes.to_numpy()
    if len(set(cats)) == len(cats):  # categories stay distinct: keep it categorical
        codes = np.where(codes < 0, len(cats) - 1, codes)
        return pd.Series(pd.Categorical.from_codes(codes, cats), index=s.index)
    return pd.Series(cats[codes], index=s.index, dtype="str")


def as_text(df: pd.DataFrame) -> pd.DataFrame:
    """Plain text columns ('' for missing), for the small tables worked on row by row."""
    return pd.DataFrame(
        {
            c: (
                df[c].astype(object).where(df[c].notna(), "").astype(str)
                if not c.startswith("_")
                else df[c]
            )
            for c in df.columns
        },
        index=df.index,
    )


@dataclass
class Sheet:
    file: str
    sheet: str
    header_row: int
    """1-based row of the header; rows above it are the preamble"""
    headers: list[str]
    data: pd.DataFrame
    """one column per header position (named c0, c1, ...), text; plus `_row`, the file's row"""
    notes: list[str] = field(default_factory=list)


def source_files(source: Path) -> list[Path]:
    """Every readable file under a folder (or the one file), in name order; others are listed."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {source}")
    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))


def read_sheets(path: Path, is_header: Callable[[list[str]], int]) -> Iterator[Sheet | str]:
    """Each sheet of a file with its header row found by `is_header` (the number of recognised
    headers in a row; the best of the first rows wins, at least 3). Yields a string (the reason)
    for a sheet that has no header row."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield _read_csv(path, is_header)
    elif suffix in (".xlsx", ".xlsm"):
        yield from _read_xlsx(path, is_header)
    else:
        yield f"{path.name}: not a csv or xlsx file, not read"


def _find_header(rows: list[list[str]], is_header: Callable[[list[str]], int]) -> int | None:
    scores = [is_header(r) for r in rows[:HEADER_SCAN_ROWS]]
    if not scores or max(scores) < 3:
        return None
    return scores.index(max(scores))


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("not UTF-8 or GB18030 text")


def utf8_bytes(raw: bytes) -> bytes:
    """The file as UTF-8 without BOM (GB18030 files, common from Excel on Chinese Windows,
    are converted); pyarrow reads the bytes as they are when they are UTF-8 already."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:
        return _decode(raw).encode("utf-8")


def _read_csv(path: Path, is_header: Callable[[list[str]], int]) -> Sheet | str:
    try:
        data = utf8_bytes(path.read_bytes())
    except UnreadableFile as exc:
        return f"{path.name}: {exc}, not read"
    lines = data.split(b"\n", HEADER_SCAN_ROWS + 1)
    rows = list(csv.reader(x.decode("utf-8").rstrip("\r") for x in lines[:HEADER_SCAN_ROWS]))
    at = _find_header(rows, is_header)
    if at is None:
        return f"{path.name}: no header row in the first {HEADER_SCAN_ROWS} rows, not read"
    headers = rows[at]
    n = len(headers)
    names = [f"c{i}" for i in range(n)]
    offset = sum(len(x) + 1 for x in lines[: at + 1])
    body = data[offset:]
    bad: list[int] = []

    def skip(row: pacsv.InvalidRow) -> str:
        bad.append(row.number or 0)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.dictionary(pa.int32(), pa.string())),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        df = table.to_pandas()
        df["_row"] = range(at + 2, at + 2 + len(df))
    except pa.ArrowInvalid:
        bad.append(0)
    notes = []
    if bad:  # rows with the wrong number of cells: read it again row by row, exactly
        rows_all = list(csv.reader(body.decode("utf-8").splitlines()))
        wrong = [i for i, r in enumerate(rows_all) if len(r) != n and any(c.strip() for c in r)]
        df = pd.DataFrame([(r + [""] * n)[:n] for r in rows_all], columns=names, dtype="str")
        df["_row"] = range(at + 2, at + 2 + len(df))
        if wrong:
            shown = ", ".join(str(at + 2 + i) for i in wrong[:10])
            notes.append(
                f"{len(wrong)} rows have a different number of cells than the header "
                f"(rows {shown}{' ...' if len(wrong) > 10 else ''}): padded or cut"
            )
    return Sheet(path.name, "", at + 1, headers, df, notes=notes)


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime | dt.date):
        return v.strftime("%Y%m%d")
    return str(v)


def _read_xlsx(path: Path, is_header: Callable[[list[str]], int]) -> Iterable[Sheet | str]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a corrupt or foreign file: say so, read the others
        yield f"{path.name}: not a readable workbook ({type(exc).__name__}), not read"
        return
    try:
        for ws in wb.worksheets:
            rows = [[_cell(v) for v in r] for r in ws.iter_rows(values_only=True)]
            at = _find_header(rows, is_header)
            if at is None:
                yield (
                    f"{path.name} [{ws.title}]: no header row in the first "
                    f"{HEADER_SCAN_ROWS} rows, not read"
                )
                continue
            headers = rows[at]
            while headers and headers[-1] == "":
                headers = headers[:-1]
            n = len(headers)
            body = [(r + [""] * n)[:n] for r in rows[at + 1 :]]
            extra = sum(1 for r in rows[at + 1 :] if any(c != "" for c in r[n:]))
            df = pd.DataFrame(body, columns=[f"c{i}" for i in range(n)], dtype="str")
            df["_row"] = range(at + 2, at + 2 + len(df))
            sheet = Sheet(path.name, ws.title, at + 1, headers, df)
            if extra:
                sheet.notes.append(f"{extra} rows have values right of the last header (ignored)")
            yield sheet
    finally:
        wb.close()
