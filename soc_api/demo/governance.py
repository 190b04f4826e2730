"""`datasoc demo`'s catalog, people and approvals, made through the governance services by the right
people, as a deployment's would be through the API.

- Accounts for the people the demo needs (its data users who request access, the data owners who
  approve for their departments, a security administrator, an audit administrator), with the demo's
  password in development mode and an unknown random one in production mode.
- The security administrator imports the network plan and the departments and sets who belongs where;
  each dataset is registered by its department's data owner (grades, and the grades of fields more
  sensitive than their dataset); the owners run discovery over sample records of their personal data.
- Each request of the access plan (`requests.json`) is made by its requester under its planned number,
  approved by the owning department's data owner and, for core data, by the security administrator too.

Running it again changes nothing: existing accounts, assets, discoveries and requests are kept.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from soc_api.demo.generator import CATALOG, REQUESTS, USERS
from soc_api.demo.plan import DATASET_FIELDS, read_plan
from soc_api.governance import Governance
from soc_api.governance.records import RequestTerms
from soc_api.governance.samples import address, credit_code, mobile, person_name, resident_id
from soc_api.identity import Identity
from soc_api.identity.actors import Actor
from soc_api.identity.demo import DEMO_PASSWORD
from soc_api.identity.roles import Role

#: The demo world's roles as platform roles.
ROLES: dict[str, Role] = {
    "secadmin": Role.SECURITY_ADMIN,
    "auditadmin": Role.AUDIT_ADMIN,
    "provider": Role.DATA_OWNER,
    "data_user": Role.DATA_USER,
}
SAMPLES = 20
_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "resident_id": resident_id,
    "mobile": mobile,
    "credit_code": credit_code,
    "address": address,
    "name": person_name,
}


@dataclass(frozen=True)
class DemoGovernance:
    """What the setup made, and the people the rest of the demo acts as."""

    accounts: int
    assets: int
    discoveries: int
    requests: int
    granted: int
    security_admin: str
    audit_admin: str


def _sample_rows(dataset: str, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for _ in range(SAMPLES):
        row: dict[str, Any] = {}
        for name, _type, _grade, kind in DATASET_FIELDS.get(dataset, ()):
            maker = _MAKERS.get(kind)
            row[name] = maker(rng) if maker else f"{name}-{rng.randint(1, 9999)}"
        rows.append(row)
    return rows


class _Setup:
    def __init__(self, governance: Governance, identity: Identity, now: datetime, password: str) -> None:
        self.gov = governance
        self.identity = identity
        self.now = now
        self.password = password
        self.operator = Actor.cli("demo")
        self.created = 0

    def account(self, user: Mapping[str, Any], role: Role) -> Actor:
        if self.identity.store.by_username(user["username"]) is None:
            self.identity.accounts.create(
                self.operator,
                username=user["username"],
                display_name=user["display_name"],
                password=self.password,
                roles={role},
                now=self.now,
            )
            self.created += 1
        return self.gov.person(user["username"])


def setup_governance(
    governance: Governance, identity: Identity, demo_dir: Path, *, now: datetime, development: bool, seed: int
) -> DemoGovernance:
    """Make the demo's governance through the services (see module docstring)."""
    users = {u["username"]: u for u in json.loads((demo_dir / USERS).read_text(encoding="utf-8"))}
    catalog = json.loads((demo_dir / CATALOG).read_text(encoding="utf-8"))
    plan = read_plan(json.loads((demo_dir / REQUESTS).read_text(encoding="utf-8")))
    run = _Setup(governance, identity, now, DEMO_PASSWORD if development else secrets.token_urlsafe(24))

    def first(role: str) -> Mapping[str, Any]:
        return next(u for u in users.values() if role in u["roles"])

    security = run.account(first("secadmin"), Role.SECURITY_ADMIN)
    auditor = run.account(first("auditadmin"), Role.AUDIT_ADMIN)
    owners = {p.approver for p in plan} | {
        next(
            u["username"]
            for u in users.values()
            if "provider" in u["roles"] and u["department"] == d["owner"]
        )
        for d in catalog["datasets"]
    }
    people: dict[str, Actor] = {}
    for name in sorted(owners | {p.user for p in plan}):
        user = users[name]
        role = Role.DATA_OWNER if "provider" in user["roles"] else Role.DATA_USER
        people[name] = run.account(user, role)

    # The security administrator: the network plan and departments, then who belongs where.
    meta = {k: v for k, v in catalog.items() if k != "datasets"}
    governance.catalog.import_document(
        security, {**meta, "datasets": []}, now=now, source="demo catalog.json"
    )
    by_department: dict[str, set[str]] = {}
    for name in people:
        by_department.setdefault(users[name]["department"], set()).add(name)
    store = governance.catalog.store
    for department, names in sorted(by_department.items()):
        current = {governance.identity.get(a).username for a in store.members(department)}
        if names - current:
            governance.catalog.set_members(security, department, sorted(names | current), now=now)

    # Each department's data owner registers its datasets and reads samples of its personal data.
    rng = random.Random(seed)  # noqa: S311 - generated demo samples, not secrets
    assets = discoveries = 0
    for dataset in catalog["datasets"]:
        owner_name = next(
            n for n in sorted(people) if users[n]["department"] == dataset["owner"] and n in owners
        )
        owner = people[owner_name]
        form = {**dataset, "grade": dataset["classification"]}
        form["fields"] = [
            {"name": f["name"], "type": f.get("type", "string"), "grade": f.get("classification")}
            for f in dataset.get("fields", [])
        ]
        del form["classification"]
        if store.find_asset(dataset["id"]) is None:
            governance.catalog.register(owner, form, now=now)
            assets += 1
        samples = _sample_rows(dataset["id"], rng)
        personal = any(
            kind in ("resident_id", "mobile") for *_, kind in DATASET_FIELDS.get(dataset["id"], ())
        )
        if personal and store.latest_discovery(dataset["id"]) is None:
            governance.catalog.discover(owner, dataset["id"], samples, now=now)
            discoveries += 1

    # The access plan: each request by its requester, approved by the owning department (and the
    # security administrator for core data).
    made = granted = 0
    for planned in plan:
        if governance.access.store.find_request(planned.id) is not None:
            continue
        requester = people[planned.user]
        record = governance.access.submit(
            requester, RequestTerms.from_dict(planned.request_body()), now=now, request_id=planned.id
        )
        made += 1
        record = governance.access.decide(people[planned.approver], record.id, approve=True, now=now)
        if record.status == "pending":
            record = governance.access.decide(security, record.id, approve=True, now=now)
        granted += record.status == "approved"
    return DemoGovernance(run.created, assets, discoveries, made, granted, security.name, auditor.name)
