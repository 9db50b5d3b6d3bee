"""The feature catalogue: the single source of truth for every panel column and model feature.

The validation schema, the API request model, the MLflow signature, reason texts and the README's
data tables are all generated from the entries below; nothing downstream retypes a column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Dtype = Literal["int", "float", "bool", "category", "string"]
Role = Literal["identifier", "input", "audit", "context"]

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
    "disaster": ("因灾", "natural disaster"),
    "accident": ("因意外", "accident"),
    "labour": ("缺劳动力", "lack of labour"),
    "employment": ("因务工就业不稳", "unstable employment"),
    "industry": ("因产业项目失败", "industry or project failure"),
    "housing": ("住房安全", "housing safety"),
    "water": ("饮水安全", "drinking-water safety"),
    "income": ("收入结构/转移依赖", "income structure and transfer dependence"),
    "other": ("其他", "other"),
}
"""The official risk types recorded by the national monitoring system, keyed by our codes."""


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
    _c("hh_id", "string", "户编号", "household id", "identifier", national_field="户编号"),
    _c("year", "int", "年度", "year", "identifier", min=2000, max=2100),
    _c("township_id", "string", "乡镇", "township", "identifier", national_field="乡"),
    _c("village_id", "string", "行政村", "village", "identifier", national_field="行政村"),
    # household type and history
    _c("household_type", "category", "户类型", "household type", dimension="FAM",
       defence_line="L7", categories={"exited": "脱贫户", "general": "一般农户"},
       national_field="户类型"),
    _c("exit_year", "int", "脱贫年度", "year the household left poverty", dimension="FAM",
       min=2013, max=2100, nullable=True, national_field="脱贫年度",
       description="empty for general rural households"),
    _c("relocated", "bool", "易地扶贫搬迁户", "relocated household", dimension="HOU",
       defence_line="L4", national_field="搬迁"),
    # audit-only: never model inputs
    _c("head_sex", "category", "户主性别", "sex of household head", "audit",
       categories={"male": "男", "female": "女"}),
    _c("head_ethnicity", "category", "户主民族", "ethnicity of household head", "audit",
       categories={"zhuang": "壮族", "han": "汉族", "yao": "瑶族", "other": "其他民族"}),
    # family
    _c("head_age", "int", "户主年龄", "age of household head", dimension="FAM", defence_line="L7",
       risk_type="labour", unit="years", min=16, max=120),
    _c("head_education", "category", "户主文化程度", "education of household head",
       dimension="FAM", categories={"illiterate": "文盲或半文盲", "primary": "小学",
                                    "junior": "初中", "senior": "高中/中专",
                                    "college": "大专及以上"}, national_field="文化程度"),
    _c("hh_size", "int", "家庭人口", "household size", dimension="FAM", unit="persons",
       min=1, max=20),
    _c("n_children_u16", "int", "16岁以下儿童", "children under 16", dimension="FAM",
       unit="persons", min=0, max=20),
    _c("n_elderly_65p", "int", "65岁及以上老人", "members aged 65 or over", dimension="FAM",
       defence_line="L7", risk_type="labour", unit="persons", min=0, max=20),
    _c("n_labour_full", "int", "普通/技能劳动力", "members with full labour capacity",
       dimension="EMP", risk_type="labour", unit="persons", min=0, max=20,
       national_field="劳动技能"),
    _c("n_labour_weak", "int", "弱劳动力或半劳动力", "members with weak labour capacity",
       dimension="EMP", risk_type="labour", unit="persons", min=0, max=20,
       national_field="劳动技能"),
    # health
    _c("n_chronic_ill", "int", "长期慢性病人数", "members with a chronic illness",
       dimension="MED", defence_line="L2", risk_type="illness", unit="persons", min=0, max=20,
       national_field="健康状况=长期慢性病"),
    _c("n_serious_ill", "int", "患大病人数", "members with a serious illness", dimension="MED",
       defence_line="L2", risk_type="illness", unit="persons", min=0, max=20,
       national_field="健康状况=患有大病"),
    _c("n_disabled", "int", "残疾人数", "members with a disability certificate", dimension="MED",
       defence_line="L7", risk_type="disability", unit="persons", min=0, max=20,
       national_field="健康状况=残疾"),
    _c("n_severe_disabled", "int", "一二级重度残疾人数", "members with a grade 1-2 disability",
       dimension="MED", defence_line="L7", risk_type="disability", unit="persons", min=0, max=20),
    # education
    _c("n_students_compulsory", "int", "义务教育在校生", "students in compulsory education",
       dimension="EDU", defence_line="L2", risk_type="schooling", unit="persons", min=0, max=20,
       national_field="在校生状况"),
    _c("n_students_senior", "int", "高中/中职在校生", "students in senior or vocational school",
       dimension="EDU", defence_line="L2", risk_type="schooling", unit="persons", min=0, max=20,
       national_field="在校生状况"),
    _c("n_students_tertiary", "int", "大专/本科在校生", "students in college or university",
       dimension="EDU", defence_line="L2", risk_type="schooling", unit="persons", min=0, max=20,
       national_field="在校生状况"),
    _c("n_dropout", "int", "义务教育辍学人数", "school-age children out of compulsory school",
       dimension="EDU", defence_line="L2", risk_type="schooling", unit="persons", min=0, max=20,
       actionable=True, national_field="是否义务教育阶段适龄儿童少年失学辍学"),
    # income, yuan per year for the household
    _c("inc_wage", "float", "工资性收入", "wage income", dimension="EMP", defence_line="L3",
       risk_type="employment", unit="yuan/yr", min=0, max=5e6, national_field="工资性收入"),
    _c("inc_business", "float", "生产经营性净收入", "net business income", dimension="INC",
       defence_line="L1", risk_type="industry", unit="yuan/yr", min=-5e6, max=5e6,
       national_field="生产经营性收入-生产经营性支出",
       description="may be negative after a disaster or a failed project"),
    _c("inc_property", "float", "财产性收入", "property income", dimension="INC",
       defence_line="L6", risk_type="income", unit="yuan/yr", min=0, max=5e6,
       national_field="财产性收入"),
    _c("inc_transfer", "float", "转移性收入", "transfer income", dimension="POL",
       defence_line="L7", risk_type="income", unit="yuan/yr", min=0, max=5e6,
       national_field="转移性收入"),
    _c("net_income_pc", "float", "家庭人均纯收入", "net income per capita", dimension="INC",
       defence_line="L1", risk_type="income", unit="yuan/person/yr", min=-1e6, max=1e6,
       national_field="人均纯收入（元）"),
    _c("oop_medical", "float", "合规自付医疗支出", "compliant out-of-pocket medical spending",
       dimension="MED", defence_line="L2", risk_type="illness", unit="yuan/yr", min=0, max=5e6,
       national_field="合规自付支出"),
    _c("edu_spend", "float", "教育刚性支出", "rigid schooling spending", dimension="EDU",
       defence_line="L2", risk_type="schooling", unit="yuan/yr", min=0, max=1e6),
    # employment
    _c("work_months", "int", "务工月数合计", "months worked for wages, all members",
       dimension="EMP", defence_line="L3", risk_type="employment", unit="months", min=0, max=240,
       actionable=True, national_field="务工时间（月）"),
    _c("n_migrant_workers", "int", "县外务工人数", "members working outside the county",
       dimension="EMP", defence_line="L3", risk_type="employment", unit="persons", min=0, max=20,
       national_field="务工所在地"),
    _c("n_local_workers", "int", "县内务工人数", "members working inside the county",
       dimension="EMP", defence_line="L3", risk_type="employment", unit="persons", min=0, max=20),
    _c("has_public_welfare_job", "bool", "公益性岗位", "holds a public-welfare job",
       dimension="EMP", defence_line="L3", risk_type="employment", actionable=True,
       national_field="公益性岗位"),
    _c("has_workshop_job", "bool", "帮扶车间就业", "works in a poverty-alleviation workshop",
       dimension="EMP", defence_line="L3", risk_type="employment", actionable=True,
       national_field="就业渠道=帮扶车间"),
    _c("skills_training", "bool", "参加技能培训", "a member has had skills training",
       dimension="EMP", defence_line="L3", risk_type="employment", actionable=True),
    # industry and assets
    _c("main_industry", "category", "主导产业", "main industry", dimension="INC",
       defence_line="L1", risk_type="industry", categories=INDUSTRIES, national_field="产业帮扶"),
    _c("industry_support", "bool", "享受产业帮扶", "receives industry support", dimension="POL",
       defence_line="L1", risk_type="industry", actionable=True, national_field="产业帮扶"),
    _c("cultivated_land_mu", "float", "耕地面积", "cultivated land", dimension="INC",
       defence_line="L1", risk_type="industry", unit="mu", min=0, max=100,
       national_field="耕地面积（亩）"),
    _c("microcredit", "bool", "小额信贷", "has a poverty-alleviation microcredit loan",
       dimension="POL", risk_type="industry", actionable=True, national_field="金融帮扶"),
    # three guarantees and water
    _c("all_insured", "bool", "全员参加基本医保", "every member has basic medical insurance",
       dimension="MED", defence_line="L2", risk_type="illness", actionable=True,
       national_field="是否参加城乡居民基本医疗保险"),
    _c("housing_safe", "bool", "住房安全", "house is safe (not C/D grade)", dimension="HOU",
       defence_line="L2", risk_type="housing", actionable=True, national_field="是否危房户"),
    _c("water_safe", "bool", "饮水安全", "safe drinking water", dimension="WAT",
       defence_line="L2", risk_type="water", actionable=True,
       national_field="是否解决安全饮用水"),
    _c("water_centralised", "bool", "集中供水", "centralised water supply", dimension="WAT",
       defence_line="L5", risk_type="water"),
    # policy and motivation
    _c("dibao", "bool", "享受低保", "receives minimum living allowance (低保)", dimension="POL",
       defence_line="L7", risk_type="income", national_field="享受低保政策情况"),
    _c("motivation_score", "int", "内生动力评分", "cadre's motivation assessment (1-5)",
       dimension="MOT", defence_line="L8", actionable=True, min=1, max=5),
    # village-year context
    _c("is_former_poor_village", "bool", "原贫困村", "former poor village", dimension="INC",
       defence_line="L5"),
    _c("village_flood_prone", "bool", "村易受灾", "village prone to flood, drought or frost",
       dimension="INC", risk_type="disaster"),
    _c("village_disaster", "bool", "本年村发生自然灾害", "village hit by a disaster this year",
       dimension="INC", defence_line="L1", risk_type="disaster"),
    _c("village_collective_income", "float", "村集体经济收入", "village collective income",
       dimension="INC", defence_line="L6", unit="10k yuan/yr", min=0, max=1e4),
    _c("sugarcane_price_index", "float", "甘蔗收购价格指数", "sugarcane purchase price index",
       dimension="INC", defence_line="L1", risk_type="industry", min=0, max=10),
    # monitoring
    _c("monitor_line", "float", "监测标准", "monitoring income line", "context",
       unit="yuan/person/yr", min=1, max=1e6, national_field="监测范围"),
    _c("is_monitored", "bool", "监测对象(风险未消除)", "active monitoring object", dimension="POL",
       defence_line="L7", national_field="监测对象类别"),
    _c("monitor_category", "category", "监测对象类别", "monitoring category", dimension="POL",
       categories={"none": "非监测对象", "unstable": "脱贫不稳定户", "edge": "边缘易致贫户",
                   "sudden": "突发严重困难户"}, national_field="监测对象类别"),
    _c("risk_type", "category", "主要风险类型", "main recorded risk type", dimension="POL",
       categories={"none": "无", **{k: v[0] for k, v in RISK_TYPES.items()}},
       national_field="致贫/返贫风险1"),
    _c("risk_eliminated", "bool", "风险已消除", "was monitored and the risk was eliminated",
       dimension="POL", national_field="风险是否已消除"),
]

PANEL: dict[str, Column] = {c.name: c for c in PANEL_COLUMNS}
KEY = ["hh_id", "year"]
AUDIT_COLUMNS = [c.name for c in PANEL_COLUMNS if c.role == "audit"]


def column(name: str) -> Column:
    """Look a column up by name, with a message that lists what exists."""
    try:
        return PANEL[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the feature catalogue") from None
