"""The feature catalogue: the single source of truth for every panel column and model feature.

The validation schema, the API request model, the MLflow signature, reason texts and the README's
data tables are all generated from the entries below; nothing downstream retypes a column.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Dtype = Literal["int", "float", "bool", "category", "string"]
Role = Literal["identifier", "input", "audit", "context", "personal"]
"""identifier: keys; input: household facts (model inputs where FEATURE_NAMES lists them); audit:
kept for fairness checks, never a model input; context: the year's setting (the line); personal:
identifies a person (the head's name): never a model input, never in a log, report or MLflow, and
shown to cadres only masked (riskmodel.privacy)."""

DIMENSIONS: dict[str, tuple[str, str]] = {
    "INC": ("收入/产业", "income and industry"),
    "EMP": ("就业", "employment"),
    "EDU": ("义务教育", "education"),
    "MED": ("基本医疗", "medical"),
    "HOU": ("住房安全", "housing"),
    "WAT": ("饮水安全", "drinking water"),
    "FAM": ("家庭情况", "family situation"),
    "MOT": ("内生动力", "motivation"),
    "POL": ("帮扶政策落实", "policy support"),
}
"""六看 dimensions (Ningming's 六看六巩固 plus family, motivation and policy)."""

DEFENCE_LINES: dict[str, str] = {
    "L1": "产业收入防线 industry income",
    "L2": "四大战役防线 education, medical, housing, water",
    "L3": "就业保障防线 employment",
    "L4": "易地搬迁防线 relocation follow-up",
    "L5": "基础设施防线 infrastructure",
    "L6": "集体收入防线 village collective income",
    "L7": "重点群体防线 key groups",
    "L8": "思想防线 motivation",
    "L9": "政策落实防线 policy implementation",
}
"""Ningming's nine defence lines (九大防线)."""

RISK_TYPES: dict[str, tuple[str, str]] = {
    "illness": ("因病", "illness"),
    "disability": ("因残", "disability"),
    "schooling": ("因学", "schooling costs"),
    "disaster": ("因自然灾害", "natural disaster"),
    "accident": ("因意外事故", "accident"),
    "labour": ("缺劳动力", "lack of labour"),
    "employment": ("因务工就业不稳", "unstable employment"),
    "industry": ("因产业项目失败", "industry or project failure"),
    "housing": ("因安全住房", "housing safety"),
    "water": ("因安全饮水", "drinking-water safety"),
    "other": ("其他", "other"),
}
"""The official risk types (致贫/返贫风险) of the national monitoring system, keyed by our codes
(research/national-export.md: G1's values; 因意外事故 and 因产业项目失败 from the policy texts). Income
near or below the monitoring line has no type of its own: the system records it as 其他 and words it
against its 监测标准 (「人均纯收入…，低于/接近监测标准」), as the reason sentences do."""


@dataclass(frozen=True)
class Column:
    """One panel column or model feature, with everything the rest of the code derives from it."""

    name: str
    dtype: Dtype
    label_zh: str
    label_en: str
    role: Role
    dimension: str | None = None
    defence_line: str | None = None
    risk_type: str = "other"
    unit: str = ""
    min: float | None = None
    max: float | None = None
    categories: dict[str, str] = field(default_factory=dict)
    nullable: bool = False
    actionable: bool = False
    national_field: str = ""
    """The national export's header this column comes from ('' = no counterpart in any export);
    filled from NATIONAL_MAPPING below, with the rule that derives the value."""
    national_rule: str = ""
    description: str = ""

    @property
    def levels(self) -> list[str]:
        return list(self.categories)


def _c(name: str, dtype: Dtype, zh: str, en: str, role: Role = "input", **kw: object) -> Column:
    return Column(name, dtype, zh, en, role, **kw)  # type: ignore[arg-type]


INDUSTRIES = {
    "sugarcane": "甘蔗",
    "forestry": "林业(八角/桉树)",
    "cattle": "肉牛养殖",
    "tourism": "乡村旅游",
    "border_trade": "边贸",
    "modern_agri": "现代农业",
    "none": "无主导产业",
}

PANEL_COLUMNS: list[Column] = [
    # identifiers and geography
    _c("hh_id", "string", "户编号", "household id", "identifier"),
    _c("year", "int", "年度", "year", "identifier", min=2000, max=2100),
    _c("township_id", "string", "乡镇", "township", "identifier"),
    _c("village_id", "string", "行政村", "village", "identifier"),
    # household type and history
    _c(
        "household_type",
        "category",
        "户类型",
        "household type",
        dimension="FAM",
        defence_line="L7",
        categories={"exited": "脱贫户", "general": "一般农户"},
    ),
    _c(
        "exit_year",
        "int",
        "脱贫年度",
        "year the household left poverty",
        dimension="FAM",
        min=2013,
        max=2100,
        nullable=True,
        description="empty for general rural households",
    ),
    _c(
        "relocated",
        "bool",
        "易地扶贫搬迁户",
        "relocated household",
        dimension="HOU",
        defence_line="L4",
    ),
    # audit-only: never model inputs
    _c(
        "head_sex",
        "category",
        "户主性别",
        "sex of household head",
        "audit",
        categories={"male": "男", "female": "女"},
    ),
    _c(
        "head_ethnicity",
        "category",
        "户主民族",
        "ethnicity of household head",
        "audit",
        categories={"zhuang": "壮族", "han": "汉族", "yao": "瑶族", "other": "其他民族"},
    ),
    # personal: never a model input; shown masked in the 台账, the card and the API (张*明)
    _c(
        "head_name",
        "string",
        "户主姓名",
        "name of household head",
        "personal",
        nullable=True,
        description="personal: only its masked form (张*明) leaves the panel",
    ),
    # family
    _c(
        "head_age",
        "int",
        "户主年龄",
        "age of household head",
        dimension="FAM",
        defence_line="L7",
        risk_type="labour",
        unit="years",
        min=16,
        max=120,
    ),
    _c(
        "head_education",
        "category",
        "户主文化程度",
        "education of household head",
        dimension="FAM",
        categories={
            "illiterate": "文盲或半文盲",
            "primary": "小学",
            "junior": "初中",
            "senior": "高中/中专",
            "college": "大专及以上",
        },
    ),
    _c(
        "hh_size",
        "int",
        "家庭人口",
        "household size",
        dimension="FAM",
        unit="persons",
        min=1,
        max=20,
    ),
    _c(
        "n_children_u16",
        "int",
        "16岁以下儿童",
        "children under 16",
        dimension="FAM",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_elderly_65p",
        "int",
        "65岁及以上老人",
        "members aged 65 or over",
        dimension="FAM",
        defence_line="L7",
        risk_type="labour",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_labour_full",
        "int",
        "普通/技能劳动力",
        "members with full labour capacity",
        dimension="EMP",
        risk_type="labour",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_labour_weak",
        "int",
        "弱劳动力或半劳动力",
        "members with weak labour capacity",
        dimension="EMP",
        risk_type="labour",
        unit="persons",
        min=0,
        max=20,
    ),
    # health
    _c(
        "n_chronic_ill",
        "int",
        "长期慢性病人数",
        "members with a chronic illness",
        dimension="MED",
        defence_line="L2",
        risk_type="illness",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_serious_ill",
        "int",
        "患大病人数",
        "members with a serious illness",
        dimension="MED",
        defence_line="L2",
        risk_type="illness",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "new_serious_illness",
        "bool",
        "本年新患大病或重伤",
        "a member newly seriously ill or injured this year",
        dimension="MED",
        defence_line="L2",
        risk_type="illness",
        description="a member whose 健康状况 became 患有大病 since last year's record",
    ),
    _c(
        "new_disability",
        "bool",
        "本年新增残疾",
        "a member newly certified disabled this year",
        dimension="MED",
        defence_line="L7",
        risk_type="disability",
        description="a member newly holding a 残疾人证 since last year's record",
    ),
    _c(
        "n_disabled",
        "int",
        "残疾人数",
        "members with a disability certificate",
        dimension="MED",
        defence_line="L7",
        risk_type="disability",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_severe_disabled",
        "int",
        "一二级重度残疾人数",
        "members with a grade 1-2 disability",
        dimension="MED",
        defence_line="L7",
        risk_type="disability",
        unit="persons",
        min=0,
        max=20,
    ),
    # education
    _c(
        "n_students_compulsory",
        "int",
        "义务教育在校生",
        "students in compulsory education",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_students_senior",
        "int",
        "高中/中职在校生",
        "students in senior or vocational school",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_students_tertiary",
        "int",
        "大专/本科在校生",
        "students in college or university",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_students_vocational",
        "int",
        "中职/高职在校生",
        "students in vocational school or college",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="persons",
        min=0,
        max=20,
        nullable=True,
        description="among n_students_senior and n_students_tertiary; not a model input: it "
        "decides 雨露计划 (empty: not known, not suggested)",
    ),
    _c(
        "n_children_15",
        "int",
        "15岁(初中毕业)子女",
        "children aged 15, about to enter senior school",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="persons",
        min=0,
        max=20,
        description="from members' dates of birth",
    ),
    _c(
        "n_dropout",
        "int",
        "义务教育辍学人数",
        "school-age children out of compulsory school",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="persons",
        min=0,
        max=20,
        actionable=True,
    ),
    # income, yuan per year for the household
    _c(
        "inc_wage",
        "float",
        "工资性收入",
        "wage income",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        unit="yuan/yr",
        min=0,
        max=5e6,
    ),
    _c(
        "inc_business",
        "float",
        "生产经营性净收入",
        "net business income",
        dimension="INC",
        defence_line="L1",
        risk_type="industry",
        unit="yuan/yr",
        min=-5e6,
        max=5e6,
        description="may be negative after a disaster or a failed project",
    ),
    _c(
        "inc_property",
        "float",
        "财产性收入",
        "property income",
        dimension="INC",
        defence_line="L6",
        risk_type="other",
        unit="yuan/yr",
        min=0,
        max=5e6,
    ),
    _c(
        "inc_transfer",
        "float",
        "转移性收入",
        "transfer income",
        dimension="POL",
        defence_line="L7",
        risk_type="other",
        unit="yuan/yr",
        min=0,
        max=5e6,
    ),
    _c(
        "net_income_pc",
        "float",
        "家庭人均纯收入",
        "net income per capita",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        unit="yuan/person/yr",
        min=-1e6,
        max=1e6,
    ),
    _c(
        "oop_medical",
        "float",
        "合规自付医疗支出",
        "compliant out-of-pocket medical spending",
        dimension="MED",
        defence_line="L2",
        risk_type="illness",
        unit="yuan/yr",
        min=0,
        max=5e6,
        actionable=True,
    ),
    _c(
        "edu_spend",
        "float",
        "教育刚性支出",
        "rigid schooling spending",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="yuan/yr",
        min=0,
        max=1e6,
    ),
    # employment
    _c(
        "work_months",
        "int",
        "务工月数合计",
        "months worked for wages, all members",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        unit="months",
        min=0,
        max=240,
        actionable=True,
    ),
    _c(
        "n_migrant_workers",
        "int",
        "县外务工人数",
        "members working outside the county",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "n_local_workers",
        "int",
        "县内务工人数",
        "members working inside the county",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        unit="persons",
        min=0,
        max=20,
    ),
    _c(
        "has_public_welfare_job",
        "bool",
        "公益性岗位",
        "holds a public-welfare job",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        actionable=True,
    ),
    _c(
        "has_workshop_job",
        "bool",
        "帮扶车间就业",
        "works in a poverty-alleviation workshop",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        actionable=True,
    ),
    _c(
        "skills_training",
        "bool",
        "参加技能培训",
        "a member has had skills training",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        actionable=True,
    ),
    # industry and assets
    _c(
        "main_industry",
        "category",
        "主导产业",
        "main industry",
        dimension="INC",
        defence_line="L1",
        risk_type="industry",
        categories=INDUSTRIES,
    ),
    _c(
        "industry_support",
        "bool",
        "享受产业帮扶",
        "receives industry support",
        dimension="POL",
        defence_line="L1",
        risk_type="industry",
        actionable=True,
    ),
    _c(
        "cultivated_land_mu",
        "float",
        "耕地面积",
        "cultivated land",
        dimension="INC",
        defence_line="L1",
        risk_type="industry",
        unit="mu",
        min=0,
        max=100,
    ),
    _c(
        "microcredit",
        "bool",
        "小额信贷",
        "has a poverty-alleviation microcredit loan",
        dimension="POL",
        risk_type="industry",
        actionable=True,
    ),
    # three guarantees and water
    _c(
        "all_insured",
        "bool",
        "全员参加基本医保",
        "every member has basic medical insurance",
        dimension="MED",
        defence_line="L2",
        risk_type="illness",
        actionable=True,
    ),
    _c(
        "housing_safe",
        "bool",
        "住房安全",
        "house is safe (not C/D grade)",
        dimension="HOU",
        defence_line="L2",
        risk_type="housing",
        actionable=True,
    ),
    _c(
        "water_safe",
        "bool",
        "饮水安全",
        "safe drinking water",
        dimension="WAT",
        defence_line="L2",
        risk_type="water",
        actionable=True,
    ),
    _c(
        "water_centralised",
        "bool",
        "集中供水",
        "centralised water supply",
        dimension="WAT",
        defence_line="L5",
        risk_type="water",
    ),
    # policy and motivation
    _c(
        "dibao",
        "bool",
        "享受低保",
        "receives minimum living allowance (低保)",
        dimension="POL",
        defence_line="L7",
        risk_type="other",
        actionable=True,
    ),
    _c(
        "motivation_score",
        "int",
        "内生动力评分",
        "cadre's motivation assessment (1-5)",
        dimension="MOT",
        defence_line="L8",
        actionable=True,
        min=1,
        max=5,
    ),
    # village-year context
    _c(
        "is_former_poor_village",
        "bool",
        "原贫困村",
        "former poor village",
        dimension="INC",
        defence_line="L5",
    ),
    _c(
        "village_flood_prone",
        "bool",
        "村易受灾",
        "village prone to flood, drought or frost",
        dimension="INC",
        risk_type="disaster",
    ),
    _c(
        "village_disaster",
        "bool",
        "本年村发生自然灾害",
        "village hit by a disaster this year",
        dimension="INC",
        defence_line="L1",
        risk_type="disaster",
    ),
    _c(
        "village_collective_income",
        "float",
        "村集体经济收入",
        "village collective income",
        dimension="INC",
        defence_line="L6",
        unit="10k yuan/yr",
        min=0,
        max=1e4,
    ),
    _c(
        "sugarcane_price_index",
        "float",
        "甘蔗收购价格指数",
        "sugarcane purchase price index",
        dimension="INC",
        defence_line="L1",
        risk_type="industry",
        min=0,
        max=10,
    ),
    # monitoring
    _c(
        "monitor_line",
        "float",
        "监测标准",
        "monitoring income line",
        "context",
        unit="yuan/person/yr",
        min=1,
        max=1e6,
    ),
    _c(
        "is_monitored",
        "bool",
        "监测对象(风险未消除)",
        "active monitoring object",
        dimension="POL",
        defence_line="L7",
    ),
    _c(
        "monitor_category",
        "category",
        "监测对象类别",
        "monitoring category",
        dimension="POL",
        categories={
            "none": "非监测对象",
            "unstable": "脱贫不稳定户",
            "edge": "边缘易致贫户",
            "sudden": "突发严重困难户",
        },
    ),
    _c(
        "risk_type",
        "category",
        "主要风险类型",
        "main recorded risk type",
        dimension="POL",
        categories={"none": "无", **{k: v[0] for k, v in RISK_TYPES.items()}, "income": "其他"},
        description="`income` is the code panels simulated or imported by earlier releases gave "
        "to 因收入骤减或支出骤增, not an official type: it reads as 其他",
    ),
    _c(
        "risk_eliminated",
        "bool",
        "风险已消除",
        "was monitored and the risk was eliminated",
        dimension="POL",
    ),
]


# ---------------------------------------------------------------------------------------------
# The national monitoring system's export (research/national-export.md): every header an import
# reads, its aliases across provinces and years, what it describes (a person, the household, a
# 务工 spell or a village), its vocabulary, and which panel column it feeds. The exporter writes
# the canonical headers and the first value of each vocabulary code; the importer accepts all.

NationalLevel = Literal["household", "person", "work", "village"]
NationalKind = Literal["text", "number", "yesno", "vocab", "multi", "date", "month", "personal"]


@dataclass(frozen=True)
class NationalHeader:
    """One header of the national export."""

    header: str
    level: NationalLevel
    kind: NationalKind = "text"
    aliases: tuple[str, ...] = ()
    vocabulary: dict[str, str] = field(default_factory=dict)
    """national value -> our code; the first value of each code is the one the exporter writes"""
    fallback: str | None = None
    """code for any other non-empty value (for example 民族: other); None: outside the vocabulary"""
    required: bool = False
    description: str = ""


def _h(header: str, level: NationalLevel, kind: NationalKind = "text", *aliases: str, **kw):
    return NationalHeader(header, level, kind, tuple(aliases), **kw)  # type: ignore[arg-type]


YES_NO = {"是": "yes", "否": "no", "Y": "yes", "N": "no", "1": "yes", "0": "no"}
_CN_NUM = "一二三四五六"
SCHOOLING_LEVELS: dict[str, str] = {
    "学龄前儿童": "preschool",
    "学前教育": "preschool",
    **{f"小学{_CN_NUM[i]}年级": "compulsory" for i in range(6)},
    "小学": "compulsory",
    "七年级": "compulsory",
    "八年级": "compulsory",
    "九年级": "compulsory",
    "初中": "compulsory",
    **{f"普通高中{_CN_NUM[i]}年级": "senior" for i in range(3)},
    **{f"中职{_CN_NUM[i]}年级": "senior" for i in range(3)},
    **{f"技师学院{_CN_NUM[i]}年级": "senior" for i in range(4)},
    "普通高中": "senior",
    "中职": "senior",
    **{f"高职高专{_CN_NUM[i]}年级": "tertiary" for i in range(3)},
    **{f"本科{_CN_NUM[i]}年级": "tertiary" for i in range(5)},
    "高职高专": "tertiary",
    "本科": "tertiary",
    "硕士研究生及以上": "tertiary",
    "非在校生": "none",
}
"""在校生状况 (G5's list): compulsory = 义务教育, senior = 高中/中职/技师学院, tertiary = 高职高专
and above (the simulator's vocational track is 中职 to 18 and 高职 from 19)."""
VOCATIONAL_SCHOOLING = frozenset(
    v for v in SCHOOLING_LEVELS if v.startswith(("中职", "技师学院", "高职高专"))
)
"""The 在校生状况 values of vocational students (中职, 技师学院, 高职高专): those 雨露计划 covers."""

RISK_VOCABULARY = {
    "因病": "illness",
    "因残": "disability",
    "因学": "schooling",
    "因自然灾害": "disaster",
    "因灾": "disaster",
    "因意外事故": "accident",
    "因意外": "accident",
    "缺劳动力": "labour",
    "因务工就业不稳": "employment",
    "因产业项目失败": "industry",
    "因安全住房": "housing",
    "住房安全": "housing",
    "因安全饮水": "water",
    "饮水安全": "water",
    "其他": "other",
    "因收入骤减或支出骤增": "other",
}
"""致贫/返贫风险 (G1's values; 因意外事故 and 因产业项目失败 from the policy texts). 因收入骤减或支出骤增
appears in some later provincial lists, not in the national one: it is read as 其他."""

RELATIONS = ["户主", "配偶", "之子", "之女", "之儿媳", "之女婿", "之孙子", "之孙女", "之外孙子",
             "之外孙女", "之父", "之母", "之岳父", "之岳母", "之公公", "之婆婆", "之祖父", "之祖母",
             "之兄弟姐妹", "之兄弟媳妇", "之曾孙子", "之曾孙女", "之侄儿", "之侄女", "之叔伯", "其他"]  # fmt: skip

NATIONAL_HEADERS: list[NationalHeader] = [
    # keys, on every table
    _h(
        "县(市、区、旗)",
        "household",
        "text",
        "县",
        "县(市、区)",
        "县（市、区）",
        "区县",
        "县名称",
        required=True,
    ),
    _h("乡(镇)", "household", "text", "乡", "乡镇", "乡(镇、街道)", "乡镇(街道)", required=True),
    _h("行政村", "household", "text", "村", "村(社区)", "行政村(社区)", "村名称", required=True),
    _h("户编号", "household", "text", "户号", "家庭户编号", required=True),
    _h("年度", "household", "number", "年份", "统计年度", description="else the file name's date"),
    # household
    _h(
        "户类型",
        "household",
        "vocab",
        "户属性",
        vocabulary={
            "脱贫户": "exited",
            "一般农户": "general",
            "普通农户": "general",
            "脱贫不享受政策户": "exited",
            "100A03A02": "exited",
        },
    ),
    _h("脱贫年度", "household", "number", "脱贫年份", "脱贫时间"),
    _h(
        "监测对象类别",
        "household",
        "vocab",
        "监测类型",
        "监测户类型",
        vocabulary={
            "脱贫不稳定户": "unstable",
            "边缘易致贫户": "edge",
            "突发严重困难户": "sudden",
            "100A03001": "unstable",
            "100A03002": "edge",
            "100A03003": "sudden",
        },
        description="blank: not a monitoring object",
    ),
    _h("识别监测时间", "household", "month", "纳入监测时间"),
    _h("风险是否已消除", "household", "yesno", "是否风险消除", vocabulary=YES_NO),
    _h("消除监测时间", "household", "month", "风险消除时间"),
    _h(
        "风险消除方式",
        "household",
        "vocab",
        vocabulary={"帮扶消除": "aided", "自然消除": "natural"},
    ),
    _h(
        "致贫/返贫风险1",
        "household",
        "vocab",
        "返贫致贫风险1",
        "致贫返贫风险1",
        "风险类型1",
        "主要风险类型",
        vocabulary=RISK_VOCABULARY,
    ),
    _h("是否危房户", "household", "yesno", "是否住房不安全", vocabulary=YES_NO),
    _h(
        "是否解决安全饮用水",
        "household",
        "yesno",
        "是否解决安全饮水",
        "饮水是否安全",
        vocabulary=YES_NO,
    ),
    _h("是否义务教育阶段适龄儿童少年失学辍学", "household", "yesno", vocabulary=YES_NO),
    _h(
        "是否有家庭成员未参加城乡居民（职工）基本医疗保险",
        "household",
        "yesno",
        "是否有家庭成员未参加城乡居民基本医疗保险",
        vocabulary=YES_NO,
    ),
    _h("工资性收入", "household", "number", "工资性收入（元）", "工资性收入(元)"),
    _h("生产经营性收入", "household", "number", "生产经营性收入（元）", "经营性收入"),
    _h("财产性收入", "household", "number", "财产性收入（元）"),
    _h("转移性收入", "household", "number", "转移性收入（元）"),
    _h("生产经营性支出", "household", "number", "生产经营性支出（合计）", "生产经营性支出（元）"),
    _h("理赔收入", "household", "number", "理赔收入（元）"),
    _h("合规自付支出", "household", "number", "合规自付医疗支出", "合规自付医疗费用"),
    _h("家庭纯收入", "household", "number", "纯收入（元）", "年度家庭纯收入"),
    _h(
        "人均纯收入（元）",
        "household",
        "number",
        "人均纯收入",
        "家庭人均纯收入",
        "家庭人均纯收入（元）",
        "年人均纯收入",
        required=True,
    ),
    _h(
        "监测标准",
        "household",
        "number",
        "监测范围",
        "监测收入标准",
        description="else the province's yearly line",
    ),
    _h("产业帮扶", "household", "multi"),
    _h("就业帮扶", "household", "multi"),
    _h("金融帮扶", "household", "multi"),
    _h("公益岗位帮扶", "household", "multi", "公益性岗位帮扶"),
    _h("综合保障", "household", "multi"),
    _h("搬迁", "household", "multi", "易地搬迁", "易地扶贫搬迁"),
    _h(
        "主导产业",
        "household",
        "vocab",
        "家庭主导产业",
        "主要产业",
        vocabulary={
            **{v: k for k, v in INDUSTRIES.items()},
            "甘蔗种植": "sugarcane",
            "林业": "forestry",
            "八角": "forestry",
            "桉树": "forestry",
            "肉牛": "cattle",
            "养牛": "cattle",
            "旅游": "tourism",
            "无": "none",
        },
    ),
    _h("耕地面积（亩）", "household", "number", "耕地面积", "耕地面积(亩)"),
    _h("整户无劳动能力兜底保障户", "household", "yesno", "是否兜底保障户", vocabulary=YES_NO),
    _h("户联系电话", "household", "personal", "联系电话"),
    _h("信息采集人", "household", "personal"),
    _h("信息采集人联系电话", "household", "personal"),
    # person
    _h("姓名", "person", "personal", "成员姓名"),
    _h(
        "证件号码",
        "person",
        "personal",
        "身份证号码",
        "身份证号",
        "证件号码(身份证号)",
        description="masked at read: only a disability certificate's category and grade are kept",
    ),
    _h("证件类型", "person", "text"),
    _h(
        "性别",
        "person",
        "vocab",
        vocabulary={"男": "male", "女": "female", "1": "male", "2": "female"},
    ),
    _h("出生日期", "person", "date", "出生年月"),
    _h(
        "民族",
        "person",
        "vocab",
        fallback="other",
        vocabulary={"壮族": "zhuang", "汉族": "han", "瑶族": "yao", "苗族": "other"},
    ),
    _h(
        "与户主关系",
        "person",
        "vocab",
        "与户主关系(户主本人填户主)",
        fallback="member",
        vocabulary={"户主": "head", "本人": "head", **{r: "member" for r in RELATIONS[1:]}},
    ),
    _h(
        "文化程度",
        "person",
        "vocab",
        vocabulary={
            "文盲或半文盲": "illiterate",
            "文盲": "illiterate",
            "小学": "primary",
            "初中": "junior",
            "高中": "senior",
            "中专": "senior",
            "高中/中专": "senior",
            "中职": "senior",
            "大专": "college",
            "本科及以上": "college",
            "大专及以上": "college",
            "本科": "college",
        },
    ),
    _h("在校生状况", "person", "vocab", "在校生情况", vocabulary=SCHOOLING_LEVELS),
    _h("义务教育阶段未上学原因", "person", "text", "失学或辍学原因"),
    _h(
        "健康状况",
        "person",
        "multi",
        vocabulary={
            "健康": "healthy",
            "长期慢性病": "chronic",
            "患有大病": "serious",
            "大病": "serious",
            "残疾": "disabled",
        },
    ),
    _h(
        "劳动技能",
        "person",
        "vocab",
        "劳动能力",
        vocabulary={
            "普通劳动力": "full",
            "技能劳动力": "full",
            "弱劳动力或半劳动力": "weak",
            "弱劳动力": "weak",
            "半劳动力": "weak",
            "无劳动力": "none",
            "丧失劳动力": "none",
        },
    ),
    _h("务工所在地", "person", "text", "务工地点"),
    _h("务工时间（月）", "person", "number", "务工时间(月)", "务工月数"),
    _h("公益性岗位", "person", "yesno", "是否公益性岗位", vocabulary=YES_NO),
    _h("公益性岗位(月数)", "person", "number", "公益性岗位（月数）"),
    _h(
        "是否参加城乡居民基本医疗保险", "person", "yesno", "城乡居民基本医疗保险", vocabulary=YES_NO
    ),
    _h(
        "是否参加城镇职工基本医疗保险", "person", "yesno", "城镇职工基本医疗保险", vocabulary=YES_NO
    ),
    _h(
        "享受低保政策情况",
        "person",
        "vocab",
        "是否享受低保",
        vocabulary={
            "农村低保": "dibao",
            "城市低保": "dibao",
            "未享受": "none",
            "不享受": "none",
            "是": "dibao",
            "否": "none",
        },
    ),
    _h(
        "享受特困供养政策情况",
        "person",
        "vocab",
        "是否特困供养",
        vocabulary={
            "农村特困": "tekun",
            "城市特困": "tekun",
            "不享受": "none",
            "未享受": "none",
            "是": "tekun",
            "否": "none",
        },
    ),
    _h("家庭成员联系电话", "person", "personal"),
    # 务工 spells (0..n per person)
    _h("是否已务工", "work", "yesno", vocabulary=YES_NO),
    _h("开始时间", "work", "month", "务工开始时间"),
    _h("结束时间", "work", "month", "务工结束时间", description="blank: ongoing"),
    _h("务工所在县", "work", "text", "务工所在县（区）", "务工所在县(区)"),
    _h("务工月收入", "work", "number", "月收入", "务工月收入（元）"),
    _h("就业渠道", "work", "multi"),
    _h("务工企业名称", "work", "text"),
    # village (行政村信息)
    _h("是否贫困村", "village", "yesno", "是否原贫困村", "贫困村", vocabulary=YES_NO),
    _h("是否出列", "village", "yesno", vocabulary=YES_NO),
    _h("总户数", "village", "number"),
    _h("总人口数", "village", "number"),
    _h("村级集体经济收入（万元）", "village", "number", "村集体经济收入（万元）", "村集体经济收入"),
]
NATIONAL: dict[str, NationalHeader] = {h.header: h for h in NATIONAL_HEADERS}

NATIONAL_MAPPING: dict[str, tuple[str, str]] = {
    "hh_id": ("户编号", "as it is"),
    "year": ("年度", "the 年度 column, else the year of the date in the file name"),
    "township_id": ("乡(镇)", "as it is"),
    "village_id": ("行政村", "as it is (乡(镇)/行政村 where a name recurs in two townships)"),
    "household_type": ("户类型", "vocabulary"),
    "exit_year": ("脱贫年度", "first four digits; blank for general households"),
    "relocated": ("搬迁", "搬迁 measure not blank"),
    "head_sex": ("性别", "of the 户主 row"),
    "head_ethnicity": ("民族", "of the 户主 row; nationalities other than 壮/汉/瑶 are other"),
    "head_name": ("姓名", "of the 户主 row (personal: masked wherever it is shown)"),
    "head_age": ("出生日期", "year minus birth year of the 户主 row, at least 16"),
    "head_education": ("文化程度", "of the 户主 row"),
    "hh_size": ("与户主关系", "member rows of the household"),
    "n_children_u16": ("出生日期", "members whose age (year minus birth year) is under 16"),
    "n_elderly_65p": ("出生日期", "members aged 65 or over"),
    "n_labour_full": ("劳动技能", "members 普通劳动力 or 技能劳动力"),
    "n_labour_weak": ("劳动技能", "members 弱劳动力或半劳动力"),
    "n_chronic_ill": ("健康状况", "members whose 健康状况 includes 长期慢性病"),
    "n_serious_ill": ("健康状况", "members whose 健康状况 includes 患有大病"),
    "n_disabled": ("健康状况", "members whose 健康状况 includes 残疾"),
    "n_severe_disabled": (
        "证件号码",
        "members with a 20/22-character 残疾人证 number whose 20th character (grade) is 1 or 2",
    ),
    "n_students_compulsory": ("在校生状况", "members in 小学 or 七-九年级"),
    "n_students_senior": ("在校生状况", "members in 普通高中, 中职 or 技师学院"),
    "n_students_tertiary": ("在校生状况", "members in 高职高专, 本科 or above"),
    "n_students_vocational": ("在校生状况", "members in 中职, 技师学院 or 高职高专"),
    "n_children_15": ("出生日期", "members aged 15"),
    "n_dropout": (
        "义务教育阶段未上学原因",
        "members aged 6-15, not in school, with a reason given",
    ),
    "inc_wage": ("工资性收入", "yuan"),
    "inc_business": ("生产经营性收入", "生产经营性收入 minus 生产经营性支出 (0 when absent)"),
    "inc_property": ("财产性收入", "yuan"),
    "inc_transfer": ("转移性收入", "yuan"),
    "net_income_pc": ("人均纯收入（元）", "yuan per person"),
    "oop_medical": ("合规自付支出", "yuan"),
    "work_months": ("务工时间（月）", "sum over members; else months of the year in 务工 spells"),
    "n_migrant_workers": (
        "务工所在地",
        "members working outside their own 县 (else 务工 spells by 务工所在县, not 公益性岗位/帮扶车间)",
    ),
    "n_local_workers": ("务工所在地", "members working inside their own 县 (same fallback)"),
    "has_public_welfare_job": ("公益性岗位", "any member 是 (else a 务工 spell via 公益性岗位)"),
    "has_workshop_job": ("就业渠道", "any 务工 spell whose 就业渠道 includes 帮扶车间"),
    "skills_training": ("就业帮扶", "就业帮扶 includes 技能培训"),
    "main_industry": ("主导产业", "vocabulary (a custom column; 产业帮扶 is a measure, not this)"),
    "industry_support": ("产业帮扶", "产业帮扶 not blank"),
    "cultivated_land_mu": ("耕地面积（亩）", "mu"),
    "microcredit": ("金融帮扶", "金融帮扶 includes 小额信贷"),
    "all_insured": (
        "是否参加城乡居民基本医疗保险",
        "every member 是 in 城乡居民 or 城镇职工 insurance (else the household question, negated)",
    ),
    "housing_safe": ("是否危房户", "否"),
    "water_safe": ("是否解决安全饮用水", "是"),
    "dibao": ("享受低保政策情况", "any member 农村低保 or 城市低保"),
    "is_former_poor_village": (
        "是否出列",
        "行政村信息 joined on 县, 乡, 村: 是否出列 filled (是 or 否) for a former poor village, "
        "blank for the others; a 是否贫困村 column wins where an export has one",
    ),
    "village_collective_income": ("村级集体经济收入（万元）", "行政村信息, 10k yuan"),
    "monitor_line": ("监测标准", "the column if present, else the province's line for the year"),
    "is_monitored": ("监测对象类别", "category not blank and 风险是否已消除 not 是"),
    "monitor_category": ("监测对象类别", "vocabulary while monitored, else none"),
    "risk_type": ("致贫/返贫风险1", "vocabulary while monitored, else none"),
    "risk_eliminated": ("风险是否已消除", "是"),
}
"""One mapping per panel column that some export carries; the rest have no counterpart in any
export (edu_spend, motivation_score, water_centralised, village disasters and flood-proneness,
the sugarcane price, the year's new illness or disability events) and stay absent from an imported panel."""

REQUIRED_FIELDS = ["hh_id", "year", "township_id", "village_id", "net_income_pc", "monitor_line"]
"""What every imported panel must have; every other column may be absent."""

PANEL_COLUMNS = [
    replace(
        c, national_field=NATIONAL_MAPPING[c.name][0], national_rule=NATIONAL_MAPPING[c.name][1]
    )
    if c.name in NATIONAL_MAPPING
    else c
    for c in PANEL_COLUMNS
]
assert set(NATIONAL_MAPPING) <= {c.name for c in PANEL_COLUMNS}
assert {h for h, _ in NATIONAL_MAPPING.values()} <= set(NATIONAL)

PANEL: dict[str, Column] = {c.name: c for c in PANEL_COLUMNS}
KEY = ["hh_id", "year"]
AUDIT_COLUMNS = [c.name for c in PANEL_COLUMNS if c.role == "audit"]
PERSONAL_COLUMNS = [c.name for c in PANEL_COLUMNS if c.role == "personal"]


def column(name: str) -> Column:
    """Look a column up by name, with a message that lists what exists."""
    try:
        return PANEL[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the feature catalogue") from None


# ---------------------------------------------------------------------------------------------
# Model features: built for year t from panel rows up to t (riskmodel.features).

RAW_FEATURES = [
    "household_type",
    "relocated",
    "head_age",
    "head_education",
    "hh_size",
    "n_children_u16",
    "n_elderly_65p",
    "n_labour_full",
    "n_labour_weak",
    "n_chronic_ill",
    "n_serious_ill",
    "n_disabled",
    "n_severe_disabled",
    "n_students_compulsory",
    "n_students_senior",
    "n_students_tertiary",
    "n_children_15",
    "n_dropout",
    "net_income_pc",
    "oop_medical",
    "edu_spend",
    "work_months",
    "n_migrant_workers",
    "n_local_workers",
    "has_public_welfare_job",
    "has_workshop_job",
    "skills_training",
    "main_industry",
    "industry_support",
    "cultivated_land_mu",
    "microcredit",
    "all_insured",
    "housing_safe",
    "water_safe",
    "water_centralised",
    "dibao",
    "motivation_score",
    "is_former_poor_village",
    "village_flood_prone",
    "village_disaster",
    "village_collective_income",
    "sugarcane_price_index",
    "is_monitored",
    "risk_eliminated",
]
"""Panel columns that enter the model as they are, for the same year."""

DERIVED_FEATURES: list[Column] = [
    _c(
        "income_to_line",
        "float",
        "人均纯收入/监测标准",
        "income per capita relative to the line",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-100,
        max=1000,
        description="net_income_pc / monitor_line",
        actionable=True,
    ),
    _c(
        "income_to_line_lag1",
        "float",
        "上年收入/监测标准",
        "last year's income relative to its line",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-100,
        max=1000,
        nullable=True,
        description="income_to_line of year t-1; empty when the household had no row then",
    ),
    _c(
        "income_to_line_change",
        "float",
        "收入/标准的年变化",
        "change of income relative to the line",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-1000,
        max=1000,
        nullable=True,
        description="income_to_line(t) - income_to_line(t-1)",
    ),
    _c(
        "income_slope_3y",
        "float",
        "三年收入趋势",
        "3-year income trend",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-0.5,
        max=0.5,
        nullable=True,
        description="(pc(t) - pc(first of t-2..t-1)) / (years x max(|pc first|, line)), clipped to +-0.5",
    ),
    _c(
        "income_cv_3y",
        "float",
        "三年收入波动",
        "3-year income volatility",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=0,
        max=2,
        nullable=True,
        description="coefficient of variation of pc over t-2..t (at least two years)",
    ),
    _c(
        "rigid_income_to_line",
        "float",
        "刚性支出后人均收入/监测标准",
        "income per capita after rigid spending relative to the line",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-1000,
        max=1000,
        description="(net_income_pc - (oop_medical + edu_spend) / hh_size) / monitor_line: the "
        "value the rigid-spending criterion compares with 1 (missing spending counts as 0)",
        actionable=True,
    ),
    _c(
        "rigid_income_to_line_lag1",
        "float",
        "上年刚性支出后收入/监测标准",
        "last year's income after rigid spending relative to its line",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-1000,
        max=1000,
        nullable=True,
        description="rigid_income_to_line of year t-1; empty when the household had no row then",
    ),
    _c(
        "rigid_spend_to_line",
        "float",
        "人均刚性支出/监测标准",
        "rigid spending per person relative to the line",
        dimension="INC",
        defence_line="L2",
        risk_type="other",
        min=0,
        max=1000,
        description="(oop_medical + edu_spend) / hh_size / monitor_line (missing spending counts "
        "as 0): income_to_line minus rigid_income_to_line",
    ),
    _c(
        "market_income_to_line",
        "float",
        "不含转移性收入的人均收入/监测标准",
        "income per capita without transfers relative to the line",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-1000,
        max=1000,
        description="(inc_wage + inc_business + inc_property) / hh_size / monitor_line: what the "
        "household earns itself, without pensions, 低保 and other transfers",
        actionable=True,
    ),
    _c(
        "market_income_to_line_lag1",
        "float",
        "上年不含转移性收入的人均收入/监测标准",
        "last year's income without transfers relative to its line",
        dimension="INC",
        defence_line="L1",
        risk_type="other",
        min=-1000,
        max=1000,
        nullable=True,
        description="market_income_to_line of year t-1; empty when the household had no row then",
    ),
    _c(
        "transfer_to_line",
        "float",
        "人均转移性收入/监测标准",
        "transfers per person relative to the line",
        dimension="POL",
        defence_line="L7",
        risk_type="other",
        min=-1000,
        max=1000,
        description="inc_transfer / hh_size / monitor_line: pensions, 低保 and other transfers",
    ),
    _c(
        "years_since_exit",
        "float",
        "脱贫年限",
        "years since leaving poverty",
        dimension="FAM",
        min=0,
        max=100,
        nullable=True,
        description="year - exit_year; empty for general households",
    ),
    _c(
        "labour_total",
        "int",
        "劳动力人数",
        "members able to work",
        dimension="EMP",
        risk_type="labour",
        unit="persons",
        min=0,
        max=40,
        description="n_labour_full + n_labour_weak",
    ),
    _c(
        "dependency_ratio",
        "float",
        "抚养比",
        "dependants per member able to work",
        dimension="FAM",
        defence_line="L7",
        risk_type="labour",
        min=0,
        max=8,
        description="(children under 16 + members 65+) / max(labour, 0.5), capped at 8",
    ),
    _c(
        "oop_to_income",
        "float",
        "医疗自付/家庭收入",
        "medical out-of-pocket relative to income",
        dimension="MED",
        defence_line="L2",
        risk_type="illness",
        min=0,
        max=3,
        description="oop_medical / max(household income, 1000), capped at 3",
        actionable=True,
    ),
    _c(
        "transfer_share",
        "float",
        "转移性收入占比",
        "transfer share of income",
        dimension="POL",
        defence_line="L7",
        risk_type="other",
        min=0,
        max=1,
        description="inc_transfer / household income, within 0-1",
        actionable=True,
    ),
    _c(
        "wage_share",
        "float",
        "工资性收入占比",
        "wage share of income",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        min=-10,
        max=10,
        description="inc_wage / household income",
        actionable=True,
    ),
    _c(
        "business_share",
        "float",
        "经营性收入占比",
        "business share of income",
        dimension="INC",
        defence_line="L1",
        risk_type="industry",
        min=-10,
        max=10,
        description="inc_business / household income",
    ),
    _c(
        "n_income_sources",
        "int",
        "收入来源数",
        "income sources above 10% of income",
        dimension="INC",
        risk_type="other",
        actionable=True,
        min=0,
        max=4,
        description="wage, business, property and transfer each counted when above 10%",
    ),
    _c(
        "single_earner",
        "bool",
        "单一务工收入来源",
        "one worker earns most of the income",
        dimension="EMP",
        defence_line="L3",
        risk_type="employment",
        actionable=True,
        description="exactly one wage worker and wages above 60% of income",
    ),
    _c(
        "costly_students",
        "int",
        "高中及以上在校生",
        "students in senior school or above",
        dimension="EDU",
        defence_line="L2",
        risk_type="schooling",
        unit="persons",
        min=0,
        max=20,
        description="n_students_senior + n_students_tertiary",
    ),
    _c(
        "new_severe_disability",
        "bool",
        "新增重度残疾",
        "a member newly has a grade 1-2 disability",
        dimension="MED",
        defence_line="L7",
        risk_type="disability",
        description="n_severe_disabled rose since last year",
    ),
    _c(
        "village_monitored_share",
        "float",
        "本村监测户占比",
        "share of the village under monitoring",
        dimension="POL",
        defence_line="L5",
        min=0,
        max=1,
        description="share of the village's households that are active monitoring objects at t",
    ),
]

FEATURE_NAMES: list[str] = RAW_FEATURES + [c.name for c in DERIVED_FEATURES]
_INCOME = ("inc_wage", "inc_business", "inc_property", "inc_transfer")
_HISTORY = ("net_income_pc", "monitor_line")
FEATURE_NEEDS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in RAW_FEATURES},
    "income_to_line": _HISTORY,
    "income_to_line_lag1": _HISTORY,
    "income_to_line_change": _HISTORY,
    "income_slope_3y": _HISTORY,
    "income_cv_3y": _HISTORY,
    "rigid_income_to_line": (*_HISTORY, "hh_size", "oop_medical", "edu_spend"),
    "rigid_income_to_line_lag1": (*_HISTORY, "hh_size", "oop_medical", "edu_spend"),
    "rigid_spend_to_line": ("monitor_line", "hh_size", "oop_medical", "edu_spend"),
    "transfer_to_line": ("monitor_line", "hh_size", "inc_transfer"),
    "market_income_to_line": ("monitor_line", "hh_size", *_INCOME[:3]),
    "market_income_to_line_lag1": ("monitor_line", "hh_size", *_INCOME[:3]),
    "years_since_exit": ("exit_year",),
    "labour_total": ("n_labour_full", "n_labour_weak"),
    "dependency_ratio": ("n_children_u16", "n_elderly_65p", "n_labour_full", "n_labour_weak"),
    "oop_to_income": ("oop_medical", *_INCOME),
    "transfer_share": _INCOME,
    "wage_share": _INCOME,
    "business_share": _INCOME,
    "n_income_sources": _INCOME,
    "single_earner": ("n_migrant_workers", "n_local_workers", *_INCOME),
    "costly_students": ("n_students_senior", "n_students_tertiary"),
    "new_severe_disability": ("n_severe_disabled",),
    "village_monitored_share": ("is_monitored", "village_id"),
}
"""The panel columns each model feature is computed from: a feature whose inputs a panel lacks is
left out of the model (never filled with a constant)."""


def available_features(columns: object) -> list[str]:
    """The model features a panel with these columns supports, in catalogue order."""
    have = set(columns)  # type: ignore[arg-type]
    return [f for f in FEATURE_NAMES if set(FEATURE_NEEDS[f]) <= have]


def feature_inputs(features: list[str]) -> list[str]:
    """The panel columns a model with these features reads (the required fields and every
    feature's inputs, catalogue order): the inverse of `available_features`."""
    inputs = set(REQUIRED_FIELDS).union(*(FEATURE_NEEDS[f] for f in features))
    return [c.name for c in PANEL_COLUMNS if c.name in inputs]


FEATURES: dict[str, Column] = {
    **{n: PANEL[n] for n in RAW_FEATURES},
    **{c.name: c for c in DERIVED_FEATURES},
}
RECORD_IDS = ["hh_id", "year", "township_id", "village_id"]
"""Identifiers carried in every model input record beside the features."""
RECORD_COLUMNS: list[Column] = [PANEL[n] for n in RECORD_IDS] + list(FEATURES.values())
assert not set(AUDIT_COLUMNS) & set(FEATURE_NAMES), "audit-only columns are never model inputs"
assert not set(PERSONAL_COLUMNS) & set(FEATURE_NAMES), "personal columns are never model inputs"
assert set(FEATURE_NEEDS) == set(FEATURE_NAMES)


# ---------------------------------------------------------------------------------------------
# Reasons: sentence templates with the household's own values, and the measures that fit.
# Templates are str.format strings over the model input record; "{flag:yes text|no text}" picks a
# text for booleans, category codes are shown with their Chinese or English label, and ":wan"
# shows a value kept in 万 (10,000) as yuan in full (5.5 -> 55,000).

REASON_TEXTS: dict[str, tuple[str, str]] = {
    "income_to_line": (
        "人均纯收入{net_income_pc:,.0f}元，为监测标准的{income_to_line:.2f}倍",
        "income {net_income_pc:,.0f} yuan per person, {income_to_line:.2f} x the line",
    ),
    "net_income_pc": (
        "人均纯收入{net_income_pc:,.0f}元",
        "income {net_income_pc:,.0f} yuan per person",
    ),
    "income_to_line_lag1": (
        "上年收入为监测标准的{income_to_line_lag1:.2f}倍",
        "last year's income was {income_to_line_lag1:.2f} x the line",
    ),
    "income_to_line_change": (
        "收入较上年变化{income_to_line_change:+.2f}倍监测标准",
        "income changed by {income_to_line_change:+.2f} x the line from last year",
    ),
    "income_slope_3y": (
        "近三年收入年均变化{income_slope_3y:+.0%}",
        "3-year income trend {income_slope_3y:+.0%} a year",
    ),
    "income_cv_3y": (
        "近三年收入波动系数{income_cv_3y:.2f}",
        "3-year income volatility {income_cv_3y:.2f}",
    ),
    "rigid_income_to_line": (
        "刚性支出（医疗、教育）后人均收入为监测标准的{rigid_income_to_line:.2f}倍",
        "income after rigid medical and education spending {rigid_income_to_line:.2f} x the line",
    ),
    "rigid_income_to_line_lag1": (
        "上年刚性支出后人均收入为监测标准的{rigid_income_to_line_lag1:.2f}倍",
        "last year's income after rigid spending was {rigid_income_to_line_lag1:.2f} x the line",
    ),
    "rigid_spend_to_line": (
        "人均刚性支出（医疗、教育）为监测标准的{rigid_spend_to_line:.2f}倍",
        "medical and education spending per person {rigid_spend_to_line:.2f} x the line",
    ),
    "transfer_to_line": (
        "人均转移性收入为监测标准的{transfer_to_line:.2f}倍",
        "transfers per person {transfer_to_line:.2f} x the line",
    ),
    "market_income_to_line": (
        "不含转移性收入，人均收入为监测标准的{market_income_to_line:.2f}倍",
        "without transfers, income per person is {market_income_to_line:.2f} x the line",
    ),
    "market_income_to_line_lag1": (
        "上年不含转移性收入，人均收入为监测标准的{market_income_to_line_lag1:.2f}倍",
        "last year, without transfers, income per person was "
        "{market_income_to_line_lag1:.2f} x the line",
    ),
    "n_serious_ill": (
        "家中{n_serious_ill}人患大病",
        "{n_serious_ill} member(s) with a serious illness",
    ),
    "n_chronic_ill": (
        "家中{n_chronic_ill}人患长期慢性病",
        "{n_chronic_ill} member(s) with a chronic illness",
    ),
    "oop_medical": (
        "合规自付医疗支出{oop_medical:,.0f}元",
        "out-of-pocket medical spending {oop_medical:,.0f} yuan",
    ),
    "oop_to_income": (
        "合规自付医疗支出{oop_medical:,.0f}元，占家庭收入{oop_to_income:.0%}",
        "out-of-pocket medical spending {oop_medical:,.0f} yuan, {oop_to_income:.0%} of income",
    ),
    "all_insured": (
        "{all_insured:全员参加基本医保|有成员未参加基本医保}",
        "{all_insured:every member insured|a member lacks basic medical insurance}",
    ),
    "n_disabled": (
        "家中{n_disabled}名持证残疾人",
        "{n_disabled} member(s) with a disability certificate",
    ),
    "n_severe_disabled": (
        "家中{n_severe_disabled}人一二级重度残疾",
        "{n_severe_disabled} member(s) with a grade 1-2 disability",
    ),
    "new_severe_disability": (
        "{new_severe_disability:今年新增重度残疾|无新增重度残疾}",
        "{new_severe_disability:a member newly severely disabled|no new severe disability}",
    ),
    "n_students_senior": (
        "{n_students_senior}名高中/中职在校生",
        "{n_students_senior} student(s) in senior or vocational school",
    ),
    "n_students_tertiary": (
        "{n_students_tertiary}名大专/本科在校生",
        "{n_students_tertiary} student(s) in college",
    ),
    "costly_students": (
        "{costly_students}名高中及以上在校生",
        "{costly_students} student(s) in senior school or above",
    ),
    "edu_spend": ("教育刚性支出{edu_spend:,.0f}元", "schooling costs {edu_spend:,.0f} yuan"),
    "n_children_15": (
        "{n_children_15}名子女即将升入高中",
        "{n_children_15} child(ren) about to enter senior school",
    ),
    "n_students_compulsory": (
        "{n_students_compulsory}名义务教育在校生",
        "{n_students_compulsory} pupil(s) in compulsory school",
    ),
    "n_dropout": (
        "{n_dropout}名适龄子女失学辍学",
        "{n_dropout} school-age child(ren) out of school",
    ),
    "head_age": ("户主{head_age}岁", "head of household aged {head_age}"),
    "n_elderly_65p": ("65岁及以上老人{n_elderly_65p}人", "{n_elderly_65p} member(s) aged 65+"),
    "labour_total": ("家中劳动力{labour_total}人", "{labour_total} member(s) able to work"),
    "n_labour_full": (
        "普通/技能劳动力{n_labour_full}人",
        "{n_labour_full} member(s) with full labour capacity",
    ),
    "n_labour_weak": (
        "弱劳动力{n_labour_weak}人",
        "{n_labour_weak} member(s) with weak labour capacity",
    ),
    "dependency_ratio": (
        "抚养比{dependency_ratio:.1f}（每个劳动力负担的老人和儿童）",
        "dependency ratio {dependency_ratio:.1f} (dependants per member able to work)",
    ),
    "hh_size": ("家庭人口{hh_size}人", "{hh_size} members"),
    "n_children_u16": ("16岁以下儿童{n_children_u16}人", "{n_children_u16} child(ren) under 16"),
    "work_months": (
        "全年务工合计{work_months}个月",
        "{work_months} months of paid work in the year",
    ),
    "n_migrant_workers": (
        "县外务工{n_migrant_workers}人",
        "{n_migrant_workers} member(s) working outside the county",
    ),
    "n_local_workers": (
        "县内务工{n_local_workers}人",
        "{n_local_workers} member(s) working in the county",
    ),
    "single_earner": (
        "{single_earner:仅一人务工且工资占收入六成以上|务工收入不依赖一人}",
        "{single_earner:one worker earns over 60% of income|wages do not rest on one worker}",
    ),
    "wage_share": ("工资性收入占{wage_share:.0%}", "wages are {wage_share:.0%} of income"),
    "transfer_share": (
        "转移性收入占{transfer_share:.0%}",
        "transfers are {transfer_share:.0%} of income",
    ),
    "business_share": (
        "经营性收入占{business_share:.0%}",
        "business is {business_share:.0%} of income",
    ),
    "n_income_sources": (
        "主要收入来源{n_income_sources}项",
        "{n_income_sources} main income source(s)",
    ),
    "has_public_welfare_job": (
        "{has_public_welfare_job:有公益性岗位|无公益性岗位}",
        "{has_public_welfare_job:holds a public-welfare job|no public-welfare job}",
    ),
    "has_workshop_job": (
        "{has_workshop_job:在帮扶车间就业|未在帮扶车间就业}",
        "{has_workshop_job:works in an assistance workshop|no workshop job}",
    ),
    "skills_training": (
        "{skills_training:参加过技能培训|未参加技能培训}",
        "{skills_training:has had skills training|no skills training}",
    ),
    "main_industry": ("主导产业：{main_industry}", "main industry: {main_industry}"),
    "industry_support": (
        "{industry_support:享受产业帮扶|未享受产业帮扶}",
        "{industry_support:receives industry support|no industry support}",
    ),
    "cultivated_land_mu": (
        "耕地{cultivated_land_mu:.1f}亩",
        "{cultivated_land_mu:.1f} mu of cultivated land",
    ),
    "microcredit": (
        "{microcredit:有小额信贷|无小额信贷}",
        "{microcredit:has a microcredit loan|no microcredit loan}",
    ),
    "sugarcane_price_index": (
        "甘蔗收购价格指数{sugarcane_price_index:.2f}",
        "sugarcane price index {sugarcane_price_index:.2f}",
    ),
    "village_disaster": (
        "{village_disaster:本村今年遭受自然灾害|本村今年未受灾}",
        "{village_disaster:the village was hit by a disaster this year|no disaster this year}",
    ),
    "village_flood_prone": (
        "{village_flood_prone:本村易受洪旱霜冻灾害|本村不易受灾}",
        "{village_flood_prone:village prone to flood, drought or frost|village not disaster-prone}",
    ),
    "housing_safe": (
        "{housing_safe:住房安全|住房不安全（危房）}",
        "{housing_safe:the house is safe|the house is unsafe (C/D grade)}",
    ),
    "water_safe": (
        "{water_safe:饮水安全|饮水不安全}",
        "{water_safe:safe drinking water|drinking water is not safe}",
    ),
    "water_centralised": (
        "{water_centralised:集中供水|未通集中供水}",
        "{water_centralised:centralised water supply|no centralised water supply}",
    ),
    "dibao": ("{dibao:享受低保|未享受低保}", "{dibao:receives dibao|no dibao}"),
    "motivation_score": (
        "内生动力评分{motivation_score}/5",
        "motivation assessed {motivation_score}/5",
    ),
    "is_monitored": (
        "{is_monitored:已是监测对象|尚未纳入监测}",
        "{is_monitored:already a monitoring object|not yet monitored}",
    ),
    "risk_eliminated": (
        "{risk_eliminated:曾监测且风险已消除|无风险消除记录}",
        "{risk_eliminated:was monitored, risk eliminated|no eliminated-risk record}",
    ),
    "village_monitored_share": (
        "本村监测户占{village_monitored_share:.0%}",
        "{village_monitored_share:.0%} of the village under monitoring",
    ),
    "years_since_exit": (
        "脱贫{years_since_exit:.0f}年",
        "{years_since_exit:.0f} year(s) since leaving poverty",
    ),
    "relocated": (
        "{relocated:易地扶贫搬迁户|非搬迁户}",
        "{relocated:relocated household|not relocated}",
    ),
    "household_type": ("户类型：{household_type}", "household type: {household_type}"),
    "head_education": ("户主文化程度：{head_education}", "head's education: {head_education}"),
    "is_former_poor_village": (
        "{is_former_poor_village:原贫困村|非原贫困村}",
        "{is_former_poor_village:former poor village|not a former poor village}",
    ),
    "village_collective_income": (
        "村集体经济收入{village_collective_income:.1f}万元",
        "village collective income {village_collective_income:wan} yuan",
    ),
}

VALUE_TEXTS: dict[str, list[tuple[float, float, str, str]]] = {
    "income_to_line": [
        (
            -float("inf"),
            1.0,
            "人均纯收入{net_income_pc:,.0f}元，低于监测标准（为标准的{income_to_line:.2f}倍）",
            "income {net_income_pc:,.0f} yuan per person, below the monitoring line "
            "({income_to_line:.2f} x the line)",
        ),
        (
            1.0,
            1.1,
            "人均纯收入{net_income_pc:,.0f}元，接近监测标准（为标准的{income_to_line:.2f}倍）",
            "income {net_income_pc:,.0f} yuan per person, close to the monitoring line "
            "({income_to_line:.2f} x the line)",
        ),
    ],
    "rigid_income_to_line": [
        (
            -float("inf"),
            1.0,
            "刚性支出（医疗、教育）后人均收入低于监测标准（为标准的{rigid_income_to_line:.2f}倍）",
            "income after rigid medical and education spending below the monitoring line "
            "({rigid_income_to_line:.2f} x the line)",
        ),
        (
            1.0,
            1.1,
            "刚性支出（医疗、教育）后人均收入接近监测标准（为标准的{rigid_income_to_line:.2f}倍）",
            "income after rigid medical and education spending close to the monitoring line "
            "({rigid_income_to_line:.2f} x the line)",
        ),
    ],
    "market_income_to_line": [
        (
            -float("inf"),
            1.0,
            "不含转移性收入，人均收入低于监测标准（为标准的{market_income_to_line:.2f}倍）",
            "without transfers, income per person is below the monitoring line "
            "({market_income_to_line:.2f} x the line)",
        ),
    ],
    "income_to_line_change": [(0, 0, "收入与上年持平", "income unchanged from last year")],
    "income_slope_3y": [(0, 0, "近三年收入没有增长", "no income growth over three years")],
    "labour_total": [(0, 0, "家中无劳动力", "no member able to work")],
    "n_labour_full": [(0, 0, "家中无普通/技能劳动力", "no member with full labour capacity")],
    "work_months": [(0, 0, "全年无人务工", "nobody worked for wages this year")],
    "n_migrant_workers": [(0, 0, "无人外出务工", "nobody works outside the county")],
    "n_local_workers": [(0, 0, "无人在县内务工", "nobody works in the county")],
    "wage_share": [(0, 0, "家中无务工收入", "no wage income")],
    "business_share": [
        (-float("inf"), 0, "生产经营亏损", "the household's farm or business lost money"),
        (0, 0, "无生产经营性收入", "no farm or business income"),
    ],
    "n_income_sources": [
        (0, 0, "无占收入一成以上的收入来源", "no income source above 10% of income"),
        (1, 1, "收入来源单一", "a single income source"),
    ],
    "cultivated_land_mu": [(0, 0, "无耕地", "no cultivated land")],
}
"""Sentences that depend on the feature's own value, checked before its template: (low, high, zh,
en) for values in [low, high), or exactly `low` when low == high. Income is worded against the
monitoring line as the system words its criterion (低于监测标准); a zero count or amount says what
the household lacks (「家中无务工收入」), never 「占0%」."""

HIDDEN_FROM_REASONS: dict[str, str] = {
    "sugarcane_price_index": "county-wide constant: the same for every household of a year",
    "village_monitored_share": "a fact about the village, nothing a household can act on",
    "village_flood_prone": "a fact about the village, nothing a household can act on",
    "village_collective_income": "a fact about the village, nothing a household can act on",
    "is_former_poor_village": "a fact about the village, nothing a household can act on",
    "water_centralised": "village infrastructure; the household's own risk is 饮水安全",
    "motivation_score": "no field in the national system; reads as blaming the family",
    "is_monitored": "the household's monitoring status, shown in its own column",
    "risk_eliminated": "monitoring history, shown with the status",
    "dibao": "a policy the household receives: decides which measures fit, not a risk",
    "household_type": "registration category, nothing a household can act on",
    "years_since_exit": "registration history, nothing a household can act on",
    "relocated": "registration category, nothing a household can act on",
    "head_education": "nothing a household can act on, and no official risk type",
    "hh_size": "no official risk type (dependants and labour say what matters)",
    "n_children_u16": "no official risk type (the dependency ratio says what matters)",
    "n_labour_weak": "the labour total and full labour say it without double counting",
    "main_industry": "what the household grows; the industry risk shows in its income",
    "net_income_pc": "income is stated against the line (income_to_line)",
}
"""Features never shown as reasons or protective factors, with why. They still enter the model and
the 六看 sub-scores; their contributions are simply not turned into sentences."""

RISK_WHEN_LOW: frozenset[str] = frozenset(
    {
        "income_to_line",
        "income_to_line_lag1",
        "income_to_line_change",
        "income_slope_3y",
        "rigid_income_to_line",
        "rigid_income_to_line_lag1",
        "market_income_to_line",
        "market_income_to_line_lag1",
        "labour_total",
        "n_labour_full",
        "work_months",
        "n_migrant_workers",
        "n_local_workers",
        "wage_share",
        "business_share",
        "n_income_sources",
        "cultivated_land_mu",
        "has_public_welfare_job",
        "has_workshop_job",
        "skills_training",
        "industry_support",
        "microcredit",
        "all_insured",
        "housing_safe",
        "water_safe",
    }
)
"""Resources: a risk when missing or small (a flag unset, a value below PROTECTS_FROM). Every other
shown feature states a risk when present (a count or amount above zero, a flag set)."""

PROTECTS_FROM: dict[str, float] = {
    "income_to_line": 1.5,
    "income_to_line_lag1": 1.5,
    "income_to_line_change": 0.2,
    "income_slope_3y": 0.05,
    "rigid_income_to_line": 1.5,
    "rigid_income_to_line_lag1": 1.5,
    "market_income_to_line": 1.5,
    "market_income_to_line_lag1": 1.5,
    "labour_total": 1,
    "n_labour_full": 1,
    "work_months": 6,
    "n_migrant_workers": 1,
    "n_local_workers": 1,
    "wage_share": 0.3,
    "business_share": 0.3,
    "n_income_sources": 2,
    "cultivated_land_mu": 1,
    "has_public_welfare_job": 1,
    "has_workshop_job": 1,
    "skills_training": 1,
    "industry_support": 1,
    "microcredit": 1,
}
"""A resource listed as protective when the household has at least this much of it (flags: set);
below it the same feature can only be a risk. Guarantees met by nearly everyone (insured, safe
house and water) and absences of a risk (no illness, no spending) are never protective."""
RISK_FROM: dict[str, float] = {
    "head_age": 60,
    "dependency_ratio": 1.0,
    "transfer_share": 0.5,
    "transfer_to_line": 0.5,
    "rigid_spend_to_line": 0.1,
}
"""A risk present by degree is a reason only from this value (「户主45岁」 is no reason; an
older head, more dependants than workers, transfers over half of income or of the line, or rigid
spending over a tenth of the line are)."""
PROTECTIVE_MIN = 0.05
"""A protective factor must lower the household's risk by at least this much (log-odds)."""

assert not set(HIDDEN_FROM_REASONS) & (RISK_WHEN_LOW | set(PROTECTS_FROM) | set(RISK_FROM))
assert not set(RISK_FROM) & RISK_WHEN_LOW
assert set(PROTECTS_FROM) <= RISK_WHEN_LOW

MEASURE_CONDITIONS: dict[str, tuple[str, str]] = {
    "labour": ("labour_total", "a member able to work (development measures need one)"),
    "no_labour": ("labour_total", "no member able to work"),
    "no_dibao": ("dibao", "not yet receiving 低保 or 特困供养"),
    "dibao": ("dibao", "already receiving 低保 or 特困供养"),
    "dropout": ("n_dropout", "a child of compulsory-school age out of school"),
    "vocational": (
        "n_students_vocational",
        "a member in 中职, 技师学院 or 高职高专 (known: never assumed where the column is absent)",
    ),
    "untrained": ("skills_training", "no member has had skills training"),
    "no_microcredit": ("microcredit", "no poverty-alleviation microcredit loan yet"),
}
"""When a measure fits a household: the column it reads and why (riskmodel.reasons evaluates them;
a condition whose column a partial panel lacks is not known and does not exclude the measure,
except those reasons.KNOWN_ONLY names)."""
MEASURE_FACTS = sorted({name for name, _ in MEASURE_CONDITIONS.values()} - set(FEATURE_NAMES))
"""Panel columns that choose measures but are no model input: scoring carries them beside the
records (features.with_measure_facts)."""

MEASURES: dict[str, list[tuple[str, str, str | None]]] = {
    "illness": [
        (
            "健康帮扶（医疗救助/大病保险）",
            "health assistance (medical aid, critical-illness insurance)",
            None,
        ),
        ("综合保障（纳入低保）", "comprehensive security (dibao)", "no_labour+no_dibao"),
    ],
    "disability": [
        ("综合保障（残疾人两项补贴）", "comprehensive security (disability allowances)", None),
        ("公益岗位帮扶", "public-welfare job", "labour"),
    ],
    "schooling": [
        (
            "教育帮扶（雨露计划）",
            "education assistance (Yulu Plan grant for vocational students)",
            "vocational",
        ),
        (
            "教育帮扶（助学金/生源地助学贷款）",
            "education assistance (grants, student loans)",
            None,
        ),
        ("义务教育保障（控辍保学）", "compulsory-education guarantee (back to school)", "dropout"),
    ],
    "disaster": [
        ("综合保障（临时救助）", "comprehensive security (temporary assistance)", None),
        (
            "产业帮扶（生产恢复/农业保险）",
            "industry support (restore production, farm insurance)",
            "labour",
        ),
    ],
    "accident": [
        ("综合保障（临时救助）", "comprehensive security (temporary assistance)", None),
        ("就业帮扶", "employment assistance", "labour"),
    ],
    "labour": [
        (
            "综合保障（低保/特困供养）",
            "comprehensive security (dibao or extreme-poverty support)",
            "no_labour+no_dibao",
        ),
        ("社会帮扶（结对帮扶/慈善救助）", "social assistance (paired support, charity)", "dibao"),
        ("公益岗位帮扶", "public-welfare job", "labour"),
    ],
    "employment": [
        ("就业帮扶（稳岗/转移就业）", "employment assistance (keep or find a job)", "labour"),
        ("就业帮扶（技能培训）", "employment assistance (skills training)", "labour+untrained"),
        ("公益岗位帮扶", "public-welfare job", "labour"),
    ],
    "industry": [
        ("产业帮扶", "industry support", "labour"),
        ("金融帮扶（小额信贷）", "financial support (microcredit)", "labour+no_microcredit"),
    ],
    "housing": [("住房安全保障（危房改造）", "housing safety (renovation)", None)],
    "water": [("饮水安全保障", "drinking-water safety works", None)],
    "other": [
        ("就业帮扶", "employment assistance", "labour"),
        ("产业帮扶", "industry support", "labour"),
        ("综合保障（纳入低保）", "comprehensive security (dibao)", "no_labour+no_dibao"),
        (
            "社会帮扶（结对帮扶/慈善救助）",
            "social assistance (paired support, charity)",
            "no_labour+dibao",
        ),
    ],
}
"""Measures for each risk type, named by the system's own 帮扶措施 categories (research/
national-export.md: 产业帮扶, 就业帮扶, 金融帮扶, 公益岗位帮扶, 住房安全保障, 饮水安全保障, 健康帮扶,
义务教育保障, 教育帮扶, 综合保障, 社会帮扶) with the usual item in brackets, and the conditions
(MEASURE_CONDITIONS, joined by +) under which each fits: development measures need a member able to
work; 低保 is suggested only to households not receiving it; the measure-risk rules of the system
(因病 → 健康帮扶; 因学 → 教育帮扶; 因残 → 综合保障; 因安全饮水 → 饮水安全保障) hold. 雨露计划 is 教育帮扶
for students in 中职 (技工院校 included) and 高职 only (research/domain.md B8; national-export.md:
students by level, 中职/高职 → 雨露计划; it pays 脱贫 and monitored households, which a household
listed here becomes once enrolled): it comes first for a household with such a student
(n_students_vocational; 0 or absent: not suggested), never for 高中 or 本科 students."""
FALLBACK_MEASURES = {
    "no_dibao": ("综合保障（纳入低保）", "comprehensive security (dibao)"),
    "dibao": ("社会帮扶（结对帮扶/慈善救助）", "social assistance (paired support, charity)"),
}
"""The measure for a household with reasons none of whose measures fit (by its 低保 status)."""
MAX_MEASURES = 3
"""A household gets 1-3 measures: the first that fits each reason, then the next, in reason order,
one per category (the text before 「（」)."""

assert set(MEASURES) == set(RISK_TYPES)
assert all(
    c in MEASURE_CONDITIONS
    for ms in MEASURES.values()
    for _, _, cond in ms
    if cond
    for c in cond.split("+")
)
assert set(REASON_TEXTS) <= set(FEATURE_NAMES) | set(PANEL)
assert set(VALUE_TEXTS) <= set(REASON_TEXTS)
