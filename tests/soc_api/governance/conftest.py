"""A governance environment per test: identity and governance over one state store and ledger, a small
catalog (three providers' assets, two consumer departments) and people with the roles they need."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from soc_api.governance import GOVERNANCE_MIGRATIONS, Governance
from soc_api.governance.records import RequestTerms
from soc_api.identity.actors import Actor
from soc_api.identity.audit import LedgerAudit
from soc_api.identity.roles import Role
from tests.soc_api.identity_env import T0, Env, open_env

CATALOG: dict[str, Any] = {
    "city": "明州市",
    "departments": [
        {"id": "gaj", "name": "市公安局"},
        {"id": "wjw", "name": "市卫生健康委员会"},
        {"id": "scjgj", "name": "市市场监督管理局"},
        {"id": "zwfw-donghu", "name": "东湖区政务服务中心"},
        {"id": "zwfw-xishan", "name": "西山区政务服务中心"},
    ],
    "districts": [
        {"id": "donghu", "name": "东湖区", "cidrs": ["10.21.0.0/16"]},
        {"id": "xishan", "name": "西山区", "cidrs": ["10.22.0.0/16"]},
    ],
    "external_networks": [{"cidr": "198.51.100.0/24", "city": "上海市"}],
    "datasets": [
        {
            "id": "ds-rkjc",
            "name": "人口基础信息",
            "classification": "core",
            "owner": "gaj",
            "region": "东湖区",
            "table": {"engine": "mysql", "database": "gaj", "name": "rk_jcxx"},
            "fields": [{"name": "xm", "type": "string"}, {"name": "sfzh", "type": "string"}],
        },
        {
            "id": "ds-hjqy",
            "name": "户籍迁移记录",
            "classification": "important",
            "owner": "gaj",
            "region": "东湖区",
            "fields": [{"name": "xm", "type": "string"}, {"name": "qyrq", "type": "date"}],
        },
        {
            "id": "ds-dzbl",
            "name": "电子病历摘要",
            "classification": "important",
            "owner": "wjw",
            "region": "东湖区",
            "fields": [{"name": "jzrq", "type": "date"}],
        },
        {
            "id": "ds-qydj",
            "name": "企业登记信息",
            "classification": "general",
            "owner": "scjgj",
            "region": "西山区",
            "fields": [
                {"name": "qymc", "type": "string"},
                {"name": "fddbr_sfzh", "type": "string", "grade": "core"},
            ],
        },
    ],
}


@dataclass
class GovEnv:
    """The identity environment with governance on top, and named people."""

    env: Env
    gov: Governance
    people: dict[str, Actor] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def clock(self) -> Any:
        return self.env.clock

    def person(self, username: str, *roles: Role, departments: tuple[str, ...] = ()) -> Actor:
        """An account with `roles`, a member of `departments` (set as the operator would)."""
        self.env.add_user(username, *roles)
        for department in departments:
            members = {self.gov.identity.get(a).username for a in self.gov.catalog.store.members(department)}
            self.gov.catalog.set_members(
                Actor.cli("test"), department, sorted({*members, username}), now=self.env.clock()
            )
        actor = self.gov.person(username)
        self.people[username] = actor
        return actor

    def terms(self, **changes: Any) -> RequestTerms:
        """A request body (for ds-hjqy's xm by default) with `changes`."""
        now = self.env.clock()
        body: dict[str, Any] = {
            "assets": {"ds-hjqy": ["xm"]},
            "purpose": "户籍业务核验",
            "legal_basis": "《政务数据共享管理办法》第十二条",
            "region": "东湖区",
            "valid_from": (now + timedelta(hours=1)).isoformat(),
            "valid_to": (now + timedelta(days=30)).isoformat(),
            "record_cap": 5000,
            "export": False,
        }
        body.update(changes)
        return RequestTerms.from_dict(body)

    def kinds(self, prefix: str) -> list[dict[str, Any]]:
        """Ledger entries whose kind starts with `prefix`."""
        return [e for e in self.env.entries(prefix)]  # type: ignore[misc]


@pytest.fixture
def gov(tmp_path: Path) -> Iterator[GovEnv]:
    env = open_env(tmp_path)
    env.state.migrate(GOVERNANCE_MIGRATIONS, now=env.clock)
    counter = itertools.count(1)
    governance = Governance.build(
        env.state, LedgerAudit(env.ledger, env.state, env.clock), new_id=lambda: f"SQ-T-{next(counter):04d}"
    )
    governance.catalog.import_document(Actor.cli("test"), CATALOG, now=T0, source="test catalog")
    yield GovEnv(env, governance)
    env.close()
