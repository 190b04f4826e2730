"""What the parsers read from the store, and the governance files imported into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.approvals import ApprovalRegisterError
from collectors.errors import CatalogError
from soc_api.governance.enrichment import GovernanceFileImports, StoreEnrichment
from soc_api.identity.roles import Role
from tests.soc_api.governance.conftest import CATALOG, GovEnv

REGISTER = [
    {
        "id": "SQ-2026-0007",
        "user": "wangwei",
        "dataset": "ds-hjqy",
        "allowed_region": "东湖区",
        "valid_from": "2026-01-10T00:00:00+08:00",
        "valid_to": "2027-06-30T00:00:00+08:00",
        "approver": "gaojunjie",
    }
]


def test_the_snapshot_is_rebuilt_only_when_the_store_changed(gov: GovEnv) -> None:
    enrichment = StoreEnrichment(gov.gov.catalog, gov.gov.grants)
    first = enrichment.current()
    assert first.catalog is not None
    assert first.catalog.dataset("ds-hjqy") is not None
    assert first.approvals is not None
    assert len(first.approvals) == 0
    assert not enrichment.refresh()
    user = gov.person("wangwei", Role.DATA_USER)
    owner = gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    request = gov.gov.access.submit(user, gov.terms(), now=gov.clock())
    gov.gov.access.decide(owner, request.id, approve=True, now=gov.clock())
    assert enrichment.refresh()
    register = enrichment.current().approvals
    assert register is not None
    assert register.get(request.id) is not None
    assert enrichment.book.get(request.id) is not None


def test_governance_files_are_imported_on_change_and_a_bad_one_changes_nothing(
    gov: GovEnv, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG, ensure_ascii=False), encoding="utf-8")
    register = tmp_path / "approvals.jsonl"
    register.write_text("\n".join(json.dumps(r) for r in REGISTER) + "\n", encoding="utf-8")
    files = GovernanceFileImports(gov.gov.catalog, gov.gov.grants, catalog, register)
    assert files.refresh(gov.clock()) == 2
    assert files.refresh(gov.clock()) == 0
    imported = gov.gov.grants.grant("SQ-2026-0007")
    assert (imported.source, imported.status, imported.grant.terms.export) == ("import", "active", True)
    assert gov.env.entries("grant.imported")[-1]["payload"]["approval.id"] == "SQ-2026-0007"  # type: ignore[index]
    changed = json.loads(catalog.read_text(encoding="utf-8"))
    changed["datasets"][1]["classification"] = "core"
    catalog.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    assert files.refresh(gov.clock()) == 1
    assert gov.gov.catalog.asset("ds-hjqy").grade == "core"
    catalog.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog\.json"):
        files.refresh(gov.clock())
    assert gov.gov.catalog.asset("ds-hjqy").grade == "core"
    with pytest.raises(CatalogError):  # still bad: it is tried again every round, nothing else changes
        files.refresh(gov.clock())
    catalog.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    register.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(ApprovalRegisterError, match=r"approvals\.jsonl:1"):
        files.refresh(gov.clock())
    assert [g.grant.id for g in gov.gov.grants.grants()] == ["SQ-2026-0007"]
