"""The catalogue's view of the national export: one mapping per field, unambiguous aliases."""

from collections import Counter

from riskmodel.catalogue import NATIONAL, NATIONAL_HEADERS, NATIONAL_MAPPING, PANEL_COLUMNS
from riskmodel.ingest.tables import normalise


def test_every_alias_names_one_header():
    names = Counter(
        normalise(a)
        for h in NATIONAL_HEADERS
        for a in {normalise(x) for x in (h.header, *h.aliases)}
    )
    assert [n for n, k in names.items() if k > 1] == []


def test_each_mapped_panel_column_has_one_known_header_and_rule():
    for c in PANEL_COLUMNS:
        if c.name in NATIONAL_MAPPING:
            assert c.national_field in NATIONAL and c.national_rule, c.name
        else:
            assert c.national_field == "", c.name


def test_the_catalogue_fixes_of_issue_12():
    by_name = {c.name: c for c in PANEL_COLUMNS}
    assert by_name["main_industry"].national_field == "主导产业"  # not the 产业帮扶 measure
    assert by_name["industry_support"].national_field == "产业帮扶"
    for header in ("与户主关系", "出生日期", "识别监测时间", "风险消除方式", "理赔收入",
                   "是否参加城镇职工基本医疗保险", "务工所在县", "务工月收入", "户联系电话"):  # fmt: skip
        assert header in NATIONAL, header
    assert NATIONAL["户联系电话"].kind == "personal" and NATIONAL["出生日期"].level == "person"
    assert NATIONAL["务工月收入"].level == "work"
    required = {h.header for h in NATIONAL_HEADERS if h.required}
    assert required == {"县(市、区、旗)", "乡(镇)", "行政村", "户编号", "人均纯收入（元）"}
