"""Provider events that announce a new or regraded dataset become proposals the owner accepts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.parsers import ProviderPortalParser
from collectors.sink import encode_event
from datasoc.transport import EVENTS, Spool
from soc_api.governance.errors import ConflictError, ForbiddenError
from soc_api.governance.proposals import ProposalConsumer, proposal_of
from soc_api.identity.roles import Role
from tests.soc_api.governance.conftest import GovEnv

GRADE = (
    '{"log_id":"PL-1","time":"2026-12-01T10:15:30+08:00","operator":{"account":"zhangli",'
    '"department":"gaj","role":"provider"},"operation":"grade","dataset":{"id":"ds-hjqy"},'
    '"detail":{"from":"important","to":"core","basis":"含全量户籍迁移"},"result":{"status":"success"}}'
)
PUBLISH = (
    '{"log_id":"PL-2","time":"2026-12-01T11:00:00+08:00","operator":{"account":"zhangli",'
    '"department":"gaj","role":"provider"},"operation":"publish","dataset":{"id":"ds-new","name":"新数据",'
    '"version":"v1","records":500,"bytes":9000},"result":{"status":"success"}}'
)
KNOWN_PUBLISH = PUBLISH.replace("ds-new", "ds-hjqy").replace("PL-2", "PL-3")


def events(gov: GovEnv) -> list[Any]:
    parser = ProviderPortalParser(collector="test")
    now = gov.clock()
    ids = iter(range(100))
    return [
        parser.parse(line, source="portal", now=now, new_id=lambda: f"id-{next(ids)}", position=n)
        for n, line in enumerate((GRADE, PUBLISH, KNOWN_PUBLISH), start=1)
    ]


def test_only_new_datasets_and_regrades_are_proposed(gov: GovEnv) -> None:
    grade, publish, known = (e.to_dict() for e in events(gov))
    now = gov.clock()
    found = gov.gov.catalog.store.find_asset
    proposed = proposal_of(grade, now, lambda a: found(a) is not None)
    assert proposed is not None
    assert (proposed.kind, proposed.asset_id, proposed.document["to"]) == ("grade", "ds-hjqy", "core")
    new = proposal_of(publish, now, lambda a: found(a) is not None)
    assert new is not None
    assert (new.kind, new.document["department"], new.document["record_count"]) == ("new_asset", "gaj", 500)
    assert proposal_of(known, now, lambda a: found(a) is not None) is None


def test_the_consumer_proposes_once_per_event_and_the_owner_decides(gov: GovEnv, tmp_path: Path) -> None:
    owner = gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    other = gov.person("wjw-owner", Role.DATA_OWNER, departments=("wjw",))
    spool = Spool.open(tmp_path / "spool")
    try:
        spool.append(EVENTS, [encode_event(e) for e in events(gov)], now=gov.clock())
        consumer = ProposalConsumer(spool, gov.gov.catalog)
        assert consumer.run(now=gov.clock()).read == 3
        spool.append(EVENTS, [encode_event(e) for e in events(gov)], now=gov.clock())  # replayed
        again = ProposalConsumer(spool, gov.gov.catalog).run(now=gov.clock())
        assert (again.read, again.proposed, again.lag) == (3, 0, 0)
    finally:
        spool.close()
    catalog = gov.gov.catalog
    proposals = {p.kind: p for p in catalog.store.proposals(status="open")}
    assert set(proposals) == {"grade", "new_asset"}
    assert catalog.asset("ds-hjqy").grade == "important"  # nothing changed by the event itself
    with pytest.raises(ForbiddenError):
        catalog.accept(other, proposals["grade"].id, now=gov.clock())
    regraded = catalog.accept(owner, proposals["grade"].id, now=gov.clock() + timedelta(seconds=1))
    assert regraded.grade == "core"
    assert catalog.history("ds-hjqy")[-1].reason.endswith("含全量户籍迁移")
    with pytest.raises(ConflictError):
        catalog.accept(owner, proposals["grade"].id, now=gov.clock())
    catalog.reject(owner, proposals["new_asset"].id, note="测试数据，不入目录", now=gov.clock())
    assert catalog.store.find_asset("ds-new") is None
    kinds = [e["kind"] for e in gov.env.entries("admin.proposal")]
    assert kinds == [
        "admin.proposal_received",
        "admin.proposal_received",
        "admin.proposal_accepted",  # the other department's owner: denied
        "admin.proposal_accepted",
        "admin.proposal_rejected",
    ]


def test_accepting_a_new_dataset_registers_it_with_what_the_owner_adds(gov: GovEnv, tmp_path: Path) -> None:
    owner = gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    spool = Spool.open(tmp_path / "spool")
    try:
        spool.append(EVENTS, [encode_event(e) for e in events(gov)], now=gov.clock())
        ProposalConsumer(spool, gov.gov.catalog).run(now=gov.clock())
    finally:
        spool.close()
    new = next(p for p in gov.gov.catalog.store.proposals() if p.kind == "new_asset")
    asset = gov.gov.catalog.accept(
        owner, new.id, now=gov.clock(), changes={"grade": "general", "region": "东湖区"}
    )
    assert (asset.id, asset.name, asset.owner, asset.record_count) == ("ds-new", "新数据", "gaj", 500)
