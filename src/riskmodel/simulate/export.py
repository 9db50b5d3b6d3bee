"""The county as the national monitoring system exports it (research/national-export.md).

`NationalExport` is the `on_year` hook of `simulate`: after each year's record it writes that year's
files, so the export of a big county streams out and never sits in memory. One file per year and
table: the person roster (household fields repeated on every member row), the 务工 spells and the
village table, each with the system's two preamble rows above the header row, its Chinese headers
and vocabularies (catalogue.NATIONAL_HEADERS) and masked ID numbers. The values are the panel's own
facts, so `riskmodel import` can be checked by round trip; names (simulate.names, the same as the
panel's head_name), ID numbers and phone numbers are generated from a hash of the member and are
stable from year to year.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from riskmodel.catalogue import INDUSTRIES, NATIONAL, RISK_VOCABULARY
from riskmodel.io import atomic_path
from riskmodel.simulate import calibration as cal
from riskmodel.simulate.county import (
    TRACK_SENIOR,
    TRACK_UNIVERSITY,
    TRACK_VOCATIONAL,
    WORK_LOCAL,
    WORK_MIGRANT,
    County,
)
from riskmodel.simulate.economy import migrant_months
from riskmodel.simulate.names import given_names, member_hash, member_key, mix, surnames

ExportFormat = Literal["csv", "xlsx"]
Columns = dict[str, "np.ndarray | pa.Array"]
"""A table as text columns in order (built with numpy, written by pyarrow or xlsxwriter)."""

COUNTY = "宁明县"
AREA_CODE = "451422"
"""Ningming's administrative division code (the first six digits of its residents' ID numbers)."""
REGION = "广西壮族自治区崇左市宁明县"
MIGRANT_PLACES = np.array(
    ["广东省深圳市宝安区", "广东省广州市白云区", "广东省东莞市", "广西南宁市西乡塘区",
     "广西凭祥市", "浙江省宁波市鄞州区", "广东省佛山市南海区", "福建省厦门市集美区"]
)  # fmt: skip
SYLLABLES = list("那板弄峙岜陇渠叫坡百念谷派布洞排北东西南")

TABLE_FILES = {
    "roster": "（自定义）监测对象信息_{year}1231",
    "work": "（务工月监测）已外出务工信息_{year}1231",
    "village": "（自定义）行政村信息_{year}1231",
}
TABLE_TITLES = {
    "roster": "防止返贫监测信息系统（自定义）监测对象信息",
    "work": "防止返贫监测信息系统（务工月监测）已外出务工信息",
    "village": "防止返贫监测信息系统（自定义）行政村信息",
}


def _code_value(header: str) -> dict[str, str]:
    """Our code -> the national value the exporter writes (the first of each code)."""
    out: dict[str, str] = {}
    for value, code in NATIONAL[header].vocabulary.items():
        out.setdefault(code, value)
    return out


RISK_VALUE = {code: value for value, code in reversed(list(RISK_VOCABULARY.items()))}
CATEGORY_VALUE = _code_value("监测对象类别")
EDU_VALUE = _code_value("文化程度")
ETHNIC_VALUE = {"zhuang": "壮族", "han": "汉族", "yao": "瑶族", "other": "苗族"}
INDUSTRY_VALUE = {k: v for k, v in INDUSTRIES.items()}
CN = "一二三四五六"


def village_names(n: int) -> list[str]:
    """Distinct village names from two syllables each (enough for 400 villages), then numbered."""
    pairs = [a + b for a in SYLLABLES for b in SYLLABLES if a != b]
    return [
        (pairs[(i * 37) % len(pairs)] if i < len(pairs) else f"{pairs[i % len(pairs)]}{i}") + "村"
        for i in range(n)
    ]


def household_number(hh_index: np.ndarray) -> np.ndarray:
    """户编号 of the simulator's household index: the county code and a 10-digit serial."""
    return np.char.add(AREA_CODE, np.char.zfill(np.asarray(hh_index).astype(str), 10))


def national_ids(panel: pd.DataFrame) -> pd.DataFrame:
    """The ids an import of this county's export gives each panel row (for round-trip checks):
    户编号 for hh_id, the township's name, the village's name."""
    v = panel["village_id"].str.slice(1).astype(int).to_numpy() - 1
    t = panel["township_id"].str.slice(1).astype(int).to_numpy() - 1
    names = np.array(village_names(int(v.max()) + 1))
    return panel.assign(
        hh_id=household_number(panel["hh_id"].str.slice(1).astype(int).to_numpy()),
        township_id=np.array(cal.TOWNSHIPS)[t],
        village_id=names[v],
    )


def place_names(panel: pd.DataFrame) -> dict[str, str]:
    """Township and village codes of the panel -> the names the export gives them."""
    ids = panel[["township_id", "village_id"]].drop_duplicates()
    named = national_ids(ids.assign(hh_id="H0"))
    return dict(zip(ids["township_id"], named["township_id"], strict=True)) | dict(
        zip(ids["village_id"], named["village_id"], strict=True)
    )


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


def id_numbers(birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """18-character resident ID numbers (GB 11643 check digit) for YYYYMMDD births."""
    body = np.char.add(np.char.add(AREA_CODE, birth), np.char.zfill(seq.astype(str), 3))
    digits = np.frombuffer(body.astype("S17").tobytes(), np.uint8).reshape(-1, 17) - 48
    return np.char.add(body, _ID_CHECK[(digits @ _ID_WEIGHTS) % 11])


def mask_id(number: np.ndarray) -> np.ndarray:
    """First six and last four characters kept, the rest starred, as the system shows them."""
    n = pd.Series(np.asarray(number, dtype=str))
    stars = n.str.len().sub(10).clip(lower=0).map(lambda k: "*" * k)
    return (n.str.slice(0, 6) + stars + n.str.slice(-4)).to_numpy(dtype=str)


class NationalExport:
    """Writes one year of the county as the national system exports it, each time it is called."""

    def __init__(self, out: Path, fmt: ExportFormat = "csv"):
        if fmt not in ("csv", "xlsx"):
            raise ValueError(f"export format must be csv or xlsx, not {fmt!r}")
        self.out, self.fmt = Path(out), fmt
        self.files: list[Path] = []
        self._status: np.ndarray | None = None
        self._eliminated_year: np.ndarray | None = None

    def __call__(self, c: County, year: int, rows: pd.DataFrame) -> None:
        idx = rows["hh_id"].str.slice(1).astype(int).to_numpy()
        if self._status is None:
            self._status = np.zeros(c.H, np.int8)
            self._eliminated_year = np.full(c.H, -1)
        newly_out = (c.mon_status == 2) & (self._status != 2)
        self._eliminated_year[newly_out] = year
        self._status = c.mon_status.copy()
        roster, work = person_tables(c, year, rows, idx, self._eliminated_year)
        self._write("roster", year, roster)
        self._write("work", year, work)
        self._write("village", year, village_table(c, year, rows), fmt="xlsx")

    def _write(self, table: str, year: int, df: Columns, fmt: str | None = None) -> None:
        fmt = fmt or self.fmt
        path = self.out / (TABLE_FILES[table].format(year=year) + f".{fmt}")
        preamble = [
            TABLE_TITLES[table],
            f"导出单位：{REGION}    导出时间：{year}-12-31    共{_length(df)}条",
        ]
        with atomic_path(path) as tmp:
            (write_csv if fmt == "csv" else write_xlsx)(df, preamble, tmp)
        self.files.append(path)


def _length(df: Columns) -> int:
    return len(next(iter(df.values()))) if df else 0


def write_csv(df: Columns, preamble: list[str], path: Path) -> None:
    """UTF-8 with BOM (as the system's CSV opens in Excel), preamble rows, header, rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for line in preamble:
        w.writerow([line])
    with path.open("wb") as fh:
        fh.write(("\ufeff" + buf.getvalue()).encode("utf-8"))
        table = pa.table(
            {k: pa.array(v, pa.string()) if isinstance(v, np.ndarray) else v for k, v in df.items()}
        )
        pacsv.write_csv(table, fh, pacsv.WriteOptions(quoting_style="needed"))


def write_xlsx(df: Columns, preamble: list[str], path: Path) -> None:
    """One sheet: a merged title row, the export line, the header row, the rows (all text)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("Sheet1")
    ncol = max(len(df), 1)
    if ncol > 1:
        ws.merge_range(0, 0, 0, ncol - 1, preamble[0])
    else:
        ws.write_string(0, 0, preamble[0])
    ws.write_string(1, 0, preamble[1])
    for j, name in enumerate(df):
        ws.write_string(2, j, name)
    cols = [v if isinstance(v, np.ndarray) else np.array(v.to_pylist()) for v in df.values()]
    values = np.column_stack([np.asarray(v, dtype=object) for v in cols]) if df else []
    for i, row in enumerate(values, start=3):
        for j, v in enumerate(row):
            if v:
                ws.write_string(i, j, v)
    wb.close()


def _columns(data: dict[str, object]) -> Columns:
    """Text columns of one length: scalars repeated, lists and arrays as str arrays."""
    n = max(len(v) for v in data.values() if not isinstance(v, str))
    return {
        k: np.full(n, v) if isinstance(v, str) else np.asarray(v).astype(str)
        for k, v in data.items()
    }


def _yn(a: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(a, bool), "是", "否")


def _money(a: np.ndarray) -> np.ndarray:
    return np.char.mod("%.2f", np.round(np.asarray(a, float), 2))


def _allocate(total: np.ndarray, group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Whole months per job: each household's total split in proportion to the jobs' usual
    months, the remainder to the largest fractions (largest-remainder rounding)."""
    n_groups = len(total)
    w_sum = np.bincount(group, weight, minlength=n_groups)
    share = total[group] * weight / np.where(w_sum[group] > 0, w_sum[group], 1)
    base = np.floor(share + 1e-9)
    rest = total - np.bincount(group, base, minlength=n_groups)
    order = np.lexsort((-(share - base), group))
    start = np.r_[0, np.cumsum(np.bincount(group, minlength=n_groups))[:-1]]
    rank = np.empty(len(group), int)
    rank[order] = np.arange(len(group)) - start[group[order]]
    return (base + (rank < rest[group])).astype(int)


def person_tables(
    c: County, year: int, rows: pd.DataFrame, idx: np.ndarray, eliminated_year: np.ndarray
) -> tuple[Columns, Columns]:
    """The roster (one row per member) and the 务工 spells (one row per job) of one year."""
    n_h = len(idx)
    age = c.age[idx]
    present = age >= 0
    r, m = np.nonzero(present)  # household row, member slot; the head (slot 0) first
    h = idx[r]
    a = age[r, m]
    female = c.female[idx][r, m]
    track = c.track[idx][r, m]
    chronic, serious = c.chronic[idx][r, m], c.serious[idx][r, m]
    grade = c.disability[idx][r, m]
    work = c.work[idx][r, m]
    dropout = c.dropout[idx][r, m]
    full, weak = c.labour()
    full, weak = full[idx][r, m], weak[idx][r, m]

    # identity: hashed from household, birth year, sex and rank among such members (names.py)
    birth_year = year - a
    key = member_key(h, birth_year, female)
    hsh = member_hash(key, pd.Series(key).groupby(key).cumcount().to_numpy())
    month = (hsh % np.uint64(12)).astype(int) + 1
    day = ((hsh >> np.uint64(8)) % np.uint64(28)).astype(int) + 1
    birth = np.char.add(
        np.char.add(birth_year.astype(str), np.char.zfill(month.astype(str), 2)),
        np.char.zfill(day.astype(str), 2),
    )
    seq = ((hsh >> np.uint64(16)) % np.uint64(500)).astype(int) * 2 + (~female).astype(int)
    ids = id_numbers(birth, seq)
    disabled = grade > 0
    category = ((hsh >> np.uint64(40)) % np.uint64(7)).astype(int) + 1
    cert = np.char.add(np.char.add(ids, category.astype(str)), grade.astype(str))
    number = mask_id(np.where(disabled, cert, ids))
    surname = surnames(hsh)[np.searchsorted(r, r)]  # the head's family name for everyone
    given = given_names(hsh)
    head_age = age[r, 0]
    head_female = c.female[idx][r, 0]
    relation = np.select(
        [
            m == 0,
            (np.abs(a - head_age) < 15) & (female != head_female) & (m == 1),
            (a <= head_age - 15) & female,
            a <= head_age - 15,
            (a >= head_age + 15) & female,
            a >= head_age + 15,
        ],
        ["户主", "配偶", "之女", "之子", "之母", "之父"],
        "其他",
    )

    # schooling, health, labour
    grade_in = np.clip(a - 6, 0, 5)
    school = np.select(
        [
            a < 6,
            (a >= 6) & (a <= 11) & ~dropout,
            (a >= 12) & (a <= 15) & ~dropout,
            (a >= 16) & (a <= 18) & ((track == TRACK_SENIOR) | (track == TRACK_UNIVERSITY)),
            (a >= 16) & (a <= 18) & (track == TRACK_VOCATIONAL),
            (a >= 19) & (a <= 20) & (track == TRACK_VOCATIONAL),
            (a >= 19) & (a <= 22) & (track == TRACK_UNIVERSITY),
        ],
        [
            np.full(len(a), "学龄前儿童"),
            np.char.add(np.char.add("小学", np.array(list(CN))[grade_in]), "年级"),
            np.array(["七年级", "八年级", "九年级", "九年级"])[np.clip(a - 12, 0, 3)],
            np.char.add(np.char.add("普通高中", np.array(list(CN))[np.clip(a - 16, 0, 2)]), "年级"),
            np.char.add(np.char.add("中职", np.array(list(CN))[np.clip(a - 16, 0, 2)]), "年级"),
            np.char.add(np.char.add("高职高专", np.array(list(CN))[np.clip(a - 19, 0, 1)]), "年级"),
            np.char.add(np.char.add("本科", np.array(list(CN))[np.clip(a - 19, 0, 3)]), "年级"),
        ],
        "",
    )
    out_of_school = np.where(dropout & (a >= 6) & (a <= 15), "其他", "")
    health = np.char.strip(
        np.char.add(
            np.char.add(np.where(serious, "患有大病,", ""), np.where(chronic, "长期慢性病,", "")),
            np.where(disabled, "残疾", ""),
        ),
        ",",
    )
    health = np.where(health == "", "健康", health)
    skills_hh = rows["skills_training"].to_numpy(bool)[r]
    labour = np.select(
        [full & skills_hh & (m == 0), full, weak, (a >= 16) & (serious | (grade == 1))],
        ["技能劳动力", "普通劳动力", "弱劳动力或半劳动力", "丧失劳动力"],
        "无劳动力",
    )

    # jobs: each member's own work, the household's workshop job and public-welfare job
    pw = rows["has_public_welfare_job"].to_numpy(bool)
    ws = rows["has_workshop_job"].to_numpy(bool)
    able = full | weak
    first_full = _first(r, full, n_h)
    first_able_idle = _first(r, able & (work == 0), n_h)
    first_able = _first(r, able, n_h)
    head_pos = _first(r, m == 0, n_h)
    pw_holder = np.where(first_able_idle >= 0, first_able_idle,
                         np.where(first_able >= 0, first_able, head_pos))  # fmt: skip
    ws_holder = np.where(first_full >= 0, first_full, head_pos)
    job_person = np.r_[np.flatnonzero(work > 0), ws_holder[ws], pw_holder[pw]]
    job_kind = np.r_[work[work > 0], np.full(ws.sum(), 3), np.full(pw.sum(), 4)].astype(int)
    usual = np.asarray(cal.WORK_MONTHS, float)[job_kind]
    usual[job_kind == WORK_MIGRANT] *= migrant_months(c, year)
    total = rows["work_months"].to_numpy(int)
    no_job = total > 0
    no_job[r[job_person]] = False
    job_person = np.r_[job_person, head_pos[no_job]]
    job_kind = np.r_[job_kind, np.full(no_job.sum(), WORK_LOCAL)]
    usual = np.r_[usual, np.ones(no_job.sum())]
    job_h = r[job_person]
    months = _allocate(total.astype(float), job_h, usual)
    person_months = np.bincount(job_person, months, minlength=len(r)).astype(int)
    place_pick = ((hsh >> np.uint64(20)) % np.uint64(len(MIGRANT_PLACES))).astype(int)
    place = np.select(
        [work == WORK_MIGRANT, work == WORK_LOCAL], [MIGRANT_PLACES[place_pick], COUNTY], ""
    )
    has_pw = np.zeros(len(r), bool)
    has_pw[pw_holder[pw]] = True
    pw_months = np.zeros(len(r), int)
    np.add.at(pw_months, job_person[job_kind == 4], months[job_kind == 4])

    # household fields (formatted once per household, repeated on member rows)
    hh = household_fields(c, year, rows, idx, eliminated_year)
    last_listed = np.r_[r[1:] != r[:-1], True]
    uninsured_member = ~rows["all_insured"].to_numpy(bool)[r] & last_listed
    dibao = rows["dibao"].to_numpy(bool)[r]
    tekun = c.tekun[h]
    ethnic = rows["head_ethnicity"].astype(str)
    person = {
        "姓名": np.char.add(surname, given),
        "证件号码": number,
        "证件类型": np.where(disabled, "残疾人证", "居民身份证"),
        "性别": np.where(female, "女", "男"),
        "出生日期": birth,
        "民族": ethnic.map(ETHNIC_VALUE).to_numpy(dtype=str)[r],
        "与户主关系": relation,
        "文化程度": np.where(
            m == 0, rows["head_education"].astype(str).map(EDU_VALUE).to_numpy(dtype=str)[r], ""
        ),
        "在校生状况": school,
        "义务教育阶段未上学原因": out_of_school,
        "健康状况": health,
        "劳动技能": labour,
        "务工所在地": place,
        "务工时间（月）": person_months.astype(str),
        "公益性岗位": _yn(has_pw),
        "公益性岗位(月数)": pw_months.astype(str),
        "是否参加城乡居民基本医疗保险": _yn(~uninsured_member),
        "是否参加城镇职工基本医疗保险": np.full(len(r), "否"),
        "享受低保政策情况": np.where(dibao, "农村低保", "未享受"),
        "享受特困供养政策情况": np.where(tekun, "农村特困", "不享受"),
    }
    keys = ["县(市、区、旗)", "乡(镇)", "行政村", "户编号"]
    at_r = pa.array(r)  # household fields are converted once per household, then repeated
    roster: Columns = {k: pa.array(hh[k], pa.string()).take(at_r) for k in keys}
    roster.update(person)
    roster.update({k: pa.array(v, pa.string()).take(at_r) for k, v in hh.items() if k not in keys})

    wage_month = rows["inc_wage"].to_numpy(float) / np.maximum(total, 1)
    # a spell lies within the year: more than 12 months of one job become several spells
    n_spells = np.maximum(1, -(-months // 12))
    last = months - 12 * (n_spells - 1)
    spell = np.repeat(np.arange(len(months)), n_spells)
    first = np.r_[0, np.cumsum(n_spells)[:-1]]
    is_last = np.zeros(len(spell), bool)
    is_last[first + n_spells - 1] = True
    months = np.where(is_last, last[spell], 12)
    job_person, job_kind, job_h = job_person[spell], job_kind[spell], job_h[spell]
    jp = job_person
    channel = np.array(["", "劳务输出", "自主就业", "帮扶车间", "公益性岗位"])[job_kind]
    where = np.where(job_kind == WORK_MIGRANT, MIGRANT_PLACES[place_pick[jp]], COUNTY)
    worked = months > 0
    work_tab: Columns = {k: hh[k][job_h] for k in keys}
    work_tab["姓名"] = person["姓名"][jp]
    work_tab["证件号码"] = number[jp]
    work_tab["户类型"] = hh["户类型"][job_h]
    work_tab["是否已务工"] = _yn(worked)
    # one person's spells follow each other through the year (they overlap only past 12 months)
    by_person = np.argsort(jp, kind="stable")
    done_before = np.zeros(len(jp), int)
    m_sorted = months[by_person]
    cum = np.cumsum(m_sorted) - m_sorted
    person_start = np.r_[0, np.flatnonzero(jp[by_person][1:] != jp[by_person][:-1]) + 1]
    first_cum = np.repeat(cum[person_start], np.diff(np.r_[person_start, len(jp)]))
    done_before[by_person] = cum - first_cum
    start = np.where(done_before + months <= 12, done_before + 1, 13 - np.maximum(months, 1))
    end = start + months - 1

    def month_text(m: np.ndarray) -> np.ndarray:
        return np.char.add(f"{year}年", np.char.add(np.char.zfill(m.astype(str), 2), "月"))

    work_tab["开始时间"] = np.where(worked, month_text(start), "")
    work_tab["结束时间"] = np.where(worked, month_text(end), "")
    work_tab["务工所在县"] = where
    work_tab["务工月收入"] = np.where(
        worked, np.round(wage_month[job_h]).astype(int).astype(str), ""
    )
    work_tab["就业渠道"] = channel
    order = np.argsort(job_h, kind="stable")
    return roster, {k: np.asarray(v)[order] for k, v in work_tab.items()}


def _first(group: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Position of the first row of each group where mask holds, -1 where none does."""
    pos = np.full(n, -1)
    hit = np.flatnonzero(mask)[::-1]
    pos[group[hit]] = hit
    return pos


def household_fields(
    c: County, year: int, rows: pd.DataFrame, idx: np.ndarray, eliminated_year: np.ndarray
) -> Columns:
    """One row per household: the household fields of the roster, as text."""
    v = c.village[idx]
    names = np.array(village_names(len(c.village_poor)))
    status = c.mon_status[idx]
    monitored_ever = status > 0
    cat_codes = np.array(["none", "unstable", "edge", "sudden"])[c.mon_category[idx]]
    risk_codes = np.array(
        ["none", "illness", "disability", "schooling", "disaster", "accident", "labour",
         "employment", "industry", "housing", "water", "other"]
    )[c.mon_risk[idx]]  # fmt: skip
    hsh = mix(idx.astype(np.int64) * 131 + 7)
    ident_month = (hsh % np.uint64(12)).astype(int) + 1
    since = c.mon_since[idx]
    elim = eliminated_year[idx]
    business = rows["inc_business"].to_numpy(float)
    expense = np.maximum(-business, 0) + 0.25 * np.maximum(business, 0)
    exited = rows["household_type"].to_numpy() == "exited"
    exit_year = rows["exit_year"].to_numpy()
    rows["hh_size"].to_numpy(float)
    total = (
        rows["inc_wage"].to_numpy(float) + business + rows["inc_property"].to_numpy(float)
        + rows["inc_transfer"].to_numpy(float)
    )  # fmt: skip
    no_labour = (rows["n_labour_full"].to_numpy() + rows["n_labour_weak"].to_numpy()) == 0
    phone = np.char.add(
        "13", np.char.zfill(((hsh >> np.uint64(8)) % np.uint64(10**9)).astype(str), 9)
    )
    return _columns(
        {
            "县(市、区、旗)": COUNTY,
            "乡(镇)": np.array(cal.TOWNSHIPS)[c.village_township[v]],
            "行政村": names[v],
            "户编号": household_number(idx),
            "户类型": np.where(exited, "脱贫户", "一般农户"),
            "脱贫年度": np.where(exited, np.asarray(exit_year).astype(str), ""),
            "监测对象类别": np.where(
                monitored_ever, [CATEGORY_VALUE.get(x, "") for x in cat_codes], ""
            ),
            "识别监测时间": np.where(
                monitored_ever,
                np.char.add(since.astype(str), np.char.zfill(ident_month.astype(str), 2)),
                "",
            ),
            "风险是否已消除": np.where(monitored_ever, _yn(status == 2), ""),
            "消除监测时间": np.where(status == 2, np.char.add(elim.astype(str), "12"), ""),
            "风险消除方式": np.where(status == 2, "帮扶消除", ""),
            "致贫/返贫风险1": np.where(
                monitored_ever, [RISK_VALUE.get(x, "") for x in risk_codes], ""
            ),
            "是否危房户": _yn(~rows["housing_safe"].to_numpy(bool)),
            "是否解决安全饮用水": _yn(rows["water_safe"].to_numpy(bool)),
            "是否义务教育阶段适龄儿童少年失学辍学": _yn(rows["n_dropout"].to_numpy() > 0),
            "是否有家庭成员未参加城乡居民（职工）基本医疗保险": _yn(
                ~rows["all_insured"].to_numpy(bool)
            ),
            "工资性收入": _money(rows["inc_wage"]),
            "生产经营性收入": _money(business + expense),
            "财产性收入": _money(rows["inc_property"]),
            "转移性收入": _money(rows["inc_transfer"]),
            "生产经营性支出": _money(expense),
            "理赔收入": "0.00",
            "合规自付支出": _money(rows["oop_medical"]),
            "家庭纯收入": _money(total),
            "人均纯收入（元）": _money(rows["net_income_pc"]),
            "产业帮扶": np.where(rows["industry_support"].to_numpy(bool), "产业奖补", ""),
            "就业帮扶": np.where(rows["skills_training"].to_numpy(bool), "技能培训", ""),
            "金融帮扶": np.where(rows["microcredit"].to_numpy(bool), "小额信贷", ""),
            "公益岗位帮扶": np.where(
                rows["has_public_welfare_job"].to_numpy(bool), "公益性岗位", ""
            ),
            "综合保障": np.where(rows["dibao"].to_numpy(bool), "低保", ""),
            "搬迁": np.where(rows["relocated"].to_numpy(bool), "易地扶贫搬迁", ""),
            "主导产业": [INDUSTRY_VALUE[x] for x in rows["main_industry"].astype(str)],
            "耕地面积（亩）": np.char.mod("%.1f", rows["cultivated_land_mu"].to_numpy(float)),
            "整户无劳动能力兜底保障户": _yn(no_labour & rows["dibao"].to_numpy(bool)),
            "户联系电话": phone,
        }
    )


def village_table(c: County, year: int, rows: pd.DataFrame) -> Columns:
    """行政村信息: one row per village that has households in the panel this year."""
    per = rows.groupby("village_id", sort=True).agg(
        households=("hh_id", "size"),
        people=("hh_size", "sum"),
        income=("village_collective_income", "first"),
        poor=("is_former_poor_village", "first"),
    )
    v = per.index.str.slice(1).astype(int).to_numpy() - 1
    names = np.array(village_names(len(c.village_poor)))
    poor = per["poor"].to_numpy(bool)
    return _columns(
        {
            "县(市、区、旗)": COUNTY,
            "乡(镇)": np.array(cal.TOWNSHIPS)[c.village_township[v]],
            "行政村": names[v],
            "是否出列": np.where(poor, _yn(np.full(len(v), year >= 2019)), ""),
            "总户数": per["households"].astype(str).to_numpy(),
            "总人口数": per["people"].astype(str).to_numpy(),
            "村级集体经济收入（万元）": np.char.mod("%.2f", per["income"].to_numpy(float)),
        }
    )
