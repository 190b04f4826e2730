"""The demo city: its districts and IP plan, departments, datasets, people and approvals.

明州市数据共享交换平台 (Mingzhou city public-data sharing and exchange platform) is fictional;
the departments, grades and habits are those of a real municipal platform. The static tables
below are the reference data; `build_world` draws the people and approvals from a seeded
`random.Random`, so a seed gives the same world every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from collectors.catalog import Catalog
from soc_api.demo.plan import PlannedGrant, catalog_fields, open_fields

CITY: Final = "明州市"
CITY_LEVEL: Final = "市本级"  # city-level departments and the government data centre

# (id, name, government-network range); 市本级 holds the data centre and city departments.
DISTRICTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("shiben", CITY_LEVEL, "10.10.0.0/16"),
    ("donghu", "东湖区", "10.21.0.0/16"),
    ("xishan", "西山区", "10.22.0.0/16"),
    ("nangang", "南港区", "10.23.0.0/16"),
    ("beian", "北岸区", "10.24.0.0/16"),
    ("gaoxin", "高新区", "10.25.0.0/16"),
    ("linjiang", "临江县", "10.26.0.0/16"),
)
# Other cities' ranges (RFC 5737 documentation blocks stand in for real carriers' ranges).
EXTERNAL: Final[tuple[tuple[str, str], ...]] = (
    ("198.51.100.0/24", "上海市"),
    ("203.0.113.0/24", "广州市"),
    ("192.0.2.0/24", "北京市"),
)

# Providers (数据提供者): (id, name, English name, database engine).
PROVIDERS: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("gaj", "市公安局", "Municipal Public Security Bureau", "mysql"),
    ("wjw", "市卫生健康委员会", "Municipal Health Commission", "postgresql"),
    ("rsj", "市人力资源和社会保障局", "Municipal Human Resources and Social Security Bureau", "postgresql"),
    ("scjgj", "市市场监督管理局", "Municipal Administration for Market Regulation", "mysql"),
    ("zrzyj", "市自然资源和规划局", "Municipal Natural Resources and Planning Bureau", "postgresql"),
    ("swj", "市税务局", "Municipal Taxation Bureau", "postgresql"),
    ("jtj", "市交通运输局", "Municipal Transport Bureau", "mysql"),
    ("mzj", "市民政局", "Municipal Civil Affairs Bureau", "mysql"),
    ("jyj", "市教育局", "Municipal Education Bureau", "mysql"),
)
# Users' departments (数据使用者): (id, name, English name, district id).
CONSUMERS: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("dsjj", "市大数据发展管理局", "Municipal Big Data Administration", "shiben"),
    ("fgw", "市发展和改革委员会", "Municipal Development and Reform Commission", "shiben"),
    ("yjj", "市应急管理局", "Municipal Emergency Management Bureau", "shiben"),
    ("sjj", "市审计局", "Municipal Audit Bureau", "shiben"),
    ("zwfw-donghu", "东湖区政务服务中心", "Donghu District Government Service Centre", "donghu"),
    ("zwfw-xishan", "西山区政务服务中心", "Xishan District Government Service Centre", "xishan"),
    ("zwfw-nangang", "南港区政务服务中心", "Nangang District Government Service Centre", "nangang"),
    ("zwfw-beian", "北岸区政务服务中心", "Beian District Government Service Centre", "beian"),
    ("zwfw-gaoxin", "高新区政务服务中心", "Gaoxin District Government Service Centre", "gaoxin"),
    ("zwfw-linjiang", "临江县政务服务中心", "Linjiang County Government Service Centre", "linjiang"),
)
# Datasets (数据资源目录): (id, name, English name, grade, owner, district id, table).
DATASETS: Final[tuple[tuple[str, str, str, str, str, str, str], ...]] = (
    ("ds-gaj-rkjc", "人口基础信息", "Population base records", "core", "gaj", "shiben", "rk_jcxx"),
    (
        "ds-gaj-hjqy",
        "户籍迁移记录",
        "Household registration transfers",
        "important",
        "gaj",
        "shiben",
        "hj_qyjl",
    ),
    ("ds-gaj-jsr", "机动车驾驶人信息", "Licensed drivers", "important", "gaj", "shiben", "jdc_jsr"),
    ("ds-gaj-kktx", "治安卡口通行记录", "Checkpoint passage records", "core", "gaj", "donghu", "ka_kktx"),
    (
        "ds-wjw-dzbl",
        "电子病历摘要",
        "Electronic medical record summaries",
        "core",
        "wjw",
        "shiben",
        "dzbl_zy",
    ),
    ("ds-wjw-ymjz", "疫苗接种记录", "Vaccination records", "important", "wjw", "shiben", "ym_jzjl"),
    ("ds-wjw-yljg", "医疗机构名录", "Medical institutions", "general", "wjw", "shiben", "yl_jgml"),
    (
        "ds-rsj-sbcb",
        "社会保险参保信息",
        "Social insurance enrolment",
        "important",
        "rsj",
        "shiben",
        "sb_cbxx",
    ),
    ("ds-rsj-jydj", "就业登记信息", "Employment registrations", "general", "rsj", "xishan", "jy_djxx"),
    (
        "ds-rsj-jnzs",
        "职业技能等级证书",
        "Vocational skill certificates",
        "general",
        "rsj",
        "shiben",
        "zy_jnzs",
    ),
    ("ds-scjgj-qydj", "企业登记信息", "Company registrations", "general", "scjgj", "shiben", "qy_djxx"),
    ("ds-scjgj-xzcf", "行政处罚信息", "Administrative penalties", "general", "scjgj", "shiben", "xz_cfxx"),
    ("ds-scjgj-spxk", "食品生产许可", "Food production licences", "general", "scjgj", "nangang", "sp_scxk"),
    ("ds-zrzyj-bdc", "不动产登记信息", "Real-estate registrations", "core", "zrzyj", "shiben", "bdc_djxx"),
    ("ds-zrzyj-gtgh", "国土空间规划", "Territorial spatial plans", "important", "zrzyj", "gaoxin", "gt_kjgh"),
    ("ds-swj-nsxy", "纳税信用等级", "Taxpayer credit ratings", "general", "swj", "shiben", "ns_xydj"),
    ("ds-swj-qyns", "企业纳税明细", "Company tax details", "core", "swj", "shiben", "qy_nsmx"),
    ("ds-jtj-gjsk", "公交刷卡记录", "Bus card transactions", "important", "jtj", "beian", "gj_skjl"),
    ("ds-jtj-lkss", "实时路况数据", "Real-time traffic", "general", "jtj", "shiben", "lk_ssxx"),
    (
        "ds-mzj-dbjz",
        "最低生活保障对象",
        "Minimum-subsistence recipients",
        "important",
        "mzj",
        "linjiang",
        "db_jzdx",
    ),
    ("ds-mzj-hydj", "婚姻登记信息", "Marriage registrations", "important", "mzj", "shiben", "hy_djxx"),
    ("ds-jyj-xjxx", "中小学学籍信息", "School enrolment records", "important", "jyj", "shiben", "xj_xsxx"),
    ("ds-jyj-xxml", "学校名录", "Schools", "general", "jyj", "shiben", "xx_xxml"),
)
SURNAMES: Final = tuple(
    zip(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯邓曹彭",
        [
            "wang",
            "li",
            "zhang",
            "liu",
            "chen",
            "yang",
            "huang",
            "zhao",
            "wu",
            "zhou",
            "xu",
            "sun",
            "ma",
            "zhu",
            "hu",
            "guo",
            "he",
            "gao",
            "lin",
            "luo",
            "zheng",
            "liang",
            "xie",
            "song",
            "tang",
            "han",
            "feng",
            "deng",
            "cao",
            "peng",
        ],
        strict=True,
    )
)
GIVEN: Final = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
    ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("涛", "tao"),
    ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"),
    ("建华", "jianhua"), ("文", "wen"), ("海燕", "haiyan"), ("志强", "zhiqiang"), ("建国", "jianguo"),
    ("晓东", "xiaodong"), ("丹", "dan"), ("鹏", "peng"), ("辉", "hui"), ("欣怡", "xinyi"), ("子涵", "zihan"),
    ("浩然", "haoran"), ("宇轩", "yuxuan"), ("思远", "siyuan"), ("雨桐", "yutong"), ("佳怡", "jiayi"),
    ("俊杰", "junjie"), ("婷", "ting"), ("斌", "bin"), ("慧", "hui"),
)  # fmt: skip
# 三员分立 (separation of the three administrators, MLPS 2.0 / GB/T 22239-2019 8.1.4.2).
ADMIN_ROLES: Final = ("sysadmin", "secadmin", "auditadmin")
SERVICE_ACCOUNTS: Final = ("svc_portal", "svc_report")
# Platform hosts in the data centre (市本级).
HOSTS: Final[dict[str, str]] = {
    "bastion-01": "10.10.1.5",
    "apigw-01": "10.10.1.10",
    "portal-01": "10.10.1.11",
    "db-mysql-01": "10.10.2.21",
    "db-pg-01": "10.10.2.22",
}


@dataclass(frozen=True)
class User:
    """A person with a platform account (portal, database or host)."""

    username: str
    display_name: str
    department: str
    district: str  # district id
    region: str  # district name
    roles: tuple[str, ...]
    ip: str  # usual workstation address

    def to_dict(self) -> dict[str, Any]:
        """users.json form."""
        return {
            "username": self.username,
            "display_name": self.display_name,
            "department": self.department,
            "region": self.region,
            "roles": list(self.roles),
            "ip": self.ip,
        }


@dataclass(frozen=True)
class World:
    """Everything the activity and incident generators draw from."""

    catalog: Catalog
    users: tuple[User, ...]
    #: The access plan: each becomes a request, approved through the governance services.
    approvals: tuple[PlannedGrant, ...]

    def by_role(self, role: str) -> list[User]:
        """Users holding `role`, in a stable order."""
        return [u for u in self.users if role in u.roles]

    def user(self, username: str) -> User:
        """The user of that name."""
        return next(u for u in self.users if u.username == username)

    def grants_of(self, username: str, when: datetime) -> list[PlannedGrant]:
        """Approvals of a user in force at `when`."""
        return [a for a in self.approvals if a.user == username and a.valid_at(when)]


_PURPOSES: Final = (
    "政务服务事项办理核验",
    "社会救助资格比对",
    "城市运行监测分析",
    "应急处置人员核查",
    "审计监督数据比对",
    "营商环境评估统计",
)


def build_catalog() -> Catalog:
    """The catalog of the demo city (fixed: it does not depend on the seed)."""
    return Catalog.from_dict(catalog_document())


def catalog_document() -> dict[str, Any]:
    """The demo city's catalog in the catalog file's form, every field of every dataset included."""
    district_names = {d_id: name for d_id, name, _ in DISTRICTS}
    engines = {p[0]: p[3] for p in PROVIDERS}
    return dict(
        {
            "city": CITY,
            "departments": [{"id": p[0], "name": p[1], "name_en": p[2]} for p in PROVIDERS]
            + [{"id": c[0], "name": c[1], "name_en": c[2]} for c in CONSUMERS],
            "districts": [{"id": d_id, "name": name, "cidrs": [cidr]} for d_id, name, cidr in DISTRICTS],
            "external_networks": [{"cidr": cidr, "city": city} for cidr, city in EXTERNAL],
            "datasets": [
                {
                    "id": ds_id,
                    "name": name,
                    "name_en": name_en,
                    "classification": grade,
                    "owner": owner,
                    "region": district_names[district],
                    "table": {"engine": engines[owner], "database": owner, "name": table},
                    "fields": catalog_fields(ds_id),
                }
                for ds_id, name, name_en, grade, owner, district, table in DATASETS
            ],
            "service_accounts": list(SERVICE_ACCOUNTS),
        }
    )


def district_ip(rng: random.Random, district_id: str, subnet: int | None = None) -> str:
    """A host address in a district's range (optionally in a given /24)."""
    second = next(int(cidr.split(".")[1]) for d_id, _, cidr in DISTRICTS if d_id == district_id)
    third = subnet if subnet is not None else rng.randint(30, 250)
    return f"10.{second}.{third}.{rng.randint(10, 250)}"


def _people(rng: random.Random, count: int) -> list[tuple[str, str]]:
    names = [(s + g, sp + gp) for s, sp in SURNAMES for g, gp in GIVEN]
    rng.shuffle(names)
    seen: dict[str, int] = {}
    people: list[tuple[str, str]] = []
    for display, login in names[:count]:
        seen[login] = seen.get(login, 0) + 1
        people.append((display, login if seen[login] == 1 else f"{login}{seen[login]}"))
    return people


def build_world(rng: random.Random, start: datetime, *, users: int = 200) -> World:
    """Draw ~`users` people and their approvals; `start` anchors approval validity windows."""
    catalog = build_catalog()
    region = {d_id: name for d_id, name, _ in DISTRICTS}
    plan: list[tuple[str, str, tuple[str, ...], int | None]] = []  # (department, district, roles, subnet)
    for role in ADMIN_ROLES:
        plan += [("dsjj", "shiben", (role,), 8)] * 2
    plan += [("dsjj", "shiben", ("dba",), 8)] * 4
    for provider in PROVIDERS:
        plan += [(provider[0], "shiben", ("provider",), None)] * 4
    consumers = [(c[0], c[3]) for c in CONSUMERS]
    while len(plan) < users:
        dept, district = consumers[len(plan) % len(consumers)]
        plan.append((dept, district, ("data_user",), None))
    people = _people(rng, len(plan))
    made = [
        User(login, display, dept, district, region[district], roles, district_ip(rng, district, subnet))
        for (display, login), (dept, district, roles, subnet) in zip(people, plan, strict=True)
    ]
    return World(catalog, tuple(made), _approvals(rng, catalog, made, start))


def _approvals(
    rng: random.Random, catalog: Catalog, users: list[User], start: datetime
) -> tuple[PlannedGrant, ...]:
    restricted = [d for d in catalog.datasets if d.classification != "general"]
    providers = {u.department: u.username for u in users if "provider" in u.roles}
    out: list[PlannedGrant] = []
    for user in users:
        if "data_user" not in user.roles or rng.random() < 0.45:
            continue
        for dataset in rng.sample(restricted, rng.randint(1, 3)):
            begins = start - timedelta(days=rng.randint(5, 90))
            # One in eight grants has already run out: access under it would be a finding.
            ends = (
                start - timedelta(days=1)
                if rng.random() < 0.125
                else start + timedelta(days=rng.randint(30, 180))
            )
            out.append(
                PlannedGrant(
                    id=f"SQ-{begins.year}-{len(out) + 1:04d}",
                    user=user.username,
                    dataset=dataset.id,
                    allowed_region=user.region,
                    valid_from=begins,
                    valid_to=ends,
                    purpose=rng.choice(_PURPOSES),
                    approver=providers[dataset.owner],
                    fields=open_fields(dataset.id),
                )
            )
    return tuple(out)
