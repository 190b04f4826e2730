"""Pre-approval: requests graded by asset and field, decisions under the policy, grants and their steps,
each in the ledger with its grant id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from soc_api.governance.errors import ConflictError, ForbiddenError, InvalidError, SeparationOfDutiesError
from soc_api.identity.roles import Role
from tests.soc_api.governance.conftest import GovEnv


@pytest.fixture
def people(gov: GovEnv) -> GovEnv:
    gov.person("wangwei", Role.DATA_USER, departments=("zwfw-donghu",))
    gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    gov.person("wjw-owner", Role.DATA_OWNER, departments=("wjw",))
    gov.person("sec", Role.SECURITY_ADMIN)
    gov.person("appr", Role.APPROVER)
    return gov


def test_important_data_is_granted_by_its_owning_department(people: GovEnv) -> None:
    access, now = people.gov.access, people.clock()
    request = access.submit(people.people["wangwei"], people.terms(), now=now)
    assert (request.id, request.status, request.grade, request.owners) == (
        "SQ-T-0001",
        "pending",
        "important",
        {"gaj"},
    )
    # Only the owning department's data owner is notified and sees it in the inbox.
    assert [r.id for r in access.inbox(people.people["gaj-owner"], now)] == ["SQ-T-0001"]
    assert access.inbox(people.people["wjw-owner"], now) == []
    assert access.inbox(people.people["appr"], now) == []
    owner_id = people.people["gaj-owner"].id
    assert [n["request_id"] for n in access.store.notifications(owner_id)] == ["SQ-T-0001"]
    with pytest.raises(ForbiddenError, match="does not count"):
        access.decide(people.people["wjw-owner"], request.id, approve=True, now=now)
    done = access.decide(people.people["gaj-owner"], request.id, approve=True, note="同意", now=now)
    assert done.status == "approved"
    grant = people.gov.grants.grant(request.id)
    assert (grant.status, grant.grant.user, grant.grant.approvers) == ("active", "wangwei", ("gaj-owner",))
    assert dict(grant.grant.terms.assets) == {"ds-hjqy": frozenset({"xm"})}
    kinds = [
        (e["kind"], e["payload"]["outcome"]) for e in people.env.entries() if e["payload"].get("approval.id")
    ]  # type: ignore[union-attr]
    assert kinds == [
        ("approval.requested", "success"),
        ("approval.approved", "denied"),  # wjw's owner: ledgered, refused
        ("approval.approved", "success"),
        ("grant.issued", "success"),
    ]
    assert access.store.notifications(owner_id)[0]["read_at"] is not None


def test_core_data_needs_two_approvers_one_a_security_administrator(people: GovEnv) -> None:
    access, now = people.gov.access, people.clock()
    request = access.submit(people.people["wangwei"], people.terms(assets={"ds-rkjc": ["xm"]}), now=now)
    assert request.grade == "core"
    step = access.decide(people.people["appr"], request.id, approve=True, now=now)
    assert step.status == "pending"
    detail = access.detail(request.id, now)
    assert detail["decision"]["satisfied"] is False
    assert any("security_admin" in need for need in detail["decision"]["needs"])
    # The approver cannot count twice; the second must be a security administrator.
    with pytest.raises(SeparationOfDutiesError):
        access.decide(people.people["appr"], request.id, approve=True, now=now)
    assert [r.id for r in access.inbox(people.people["sec"], now)] == [request.id]
    assert access.decide(people.people["sec"], request.id, approve=True, now=now).status == "approved"
    assert set(people.gov.grants.grant(request.id).grant.approvers) == {"appr", "sec"}


def test_one_person_cannot_be_both_approvers_of_core_data(people: GovEnv) -> None:
    both = people.person("both", Role.SECURITY_ADMIN, Role.APPROVER)
    access, now = people.gov.access, people.clock()
    request = access.submit(people.people["wangwei"], people.terms(assets={"ds-rkjc": None}), now=now)
    assert access.decide(both, request.id, approve=True, now=now).status == "pending"
    with pytest.raises(SeparationOfDutiesError, match="one decision per person"):
        access.decide(both, request.id, approve=True, now=now)
    assert access.store.request(request.id).status == "pending"
    denied = [e for e in people.env.entries("approval.approved") if e["payload"]["outcome"] == "denied"]  # type: ignore[index]
    assert len(denied) == 1


def test_a_requester_never_approves_their_own_request(people: GovEnv) -> None:
    owner = people.person("owner-user", Role.DATA_OWNER, Role.DATA_USER, departments=("gaj",))
    access, now = people.gov.access, people.clock()
    request = access.submit(owner, people.terms(), now=now)
    assert access.inbox(owner, now) == []
    with pytest.raises(SeparationOfDutiesError, match="a requester never decides"):
        access.decide(owner, request.id, approve=True, now=now)
    assert access.store.request(request.id).status == "pending"
    entry = people.env.entries("approval.approved")[-1]
    assert entry["payload"]["outcome"] == "denied"  # type: ignore[index]
    assert entry["payload"]["approval.id"] == request.id  # type: ignore[index]


def test_a_field_graded_above_its_asset_decides_the_policy(people: GovEnv) -> None:
    access, now = people.gov.access, people.clock()
    plain = access.submit(people.people["wangwei"], people.terms(assets={"ds-qydj": ["qymc"]}), now=now)
    assert (plain.grade, plain.status) == ("general", "approved")  # within the auto-approval rule
    issued = people.env.entries("grant.issued")[-1]["payload"]
    assert issued["automatic"].startswith("auto_approval")  # type: ignore[index]
    person_id = people.terms(assets={"ds-qydj": ["qymc", "fddbr_sfzh"]})
    assert access.submit(people.people["wangwei"], person_id, now=now).grade == "core"
    every = people.terms(assets={"ds-qydj": None})
    assert access.submit(people.people["wangwei"], every, now=now).grade == "core"


def test_rejection_and_withdrawal_close_a_request(people: GovEnv) -> None:
    access, now = people.gov.access, people.clock()
    first = access.submit(people.people["wangwei"], people.terms(), now=now)
    assert (
        access.decide(people.people["gaj-owner"], first.id, approve=False, note="用途不明", now=now).status
        == "rejected"
    )
    with pytest.raises(ConflictError):
        access.decide(people.people["gaj-owner"], first.id, approve=True, now=now)
    second = access.submit(people.people["wangwei"], people.terms(), now=now)
    with pytest.raises(ForbiddenError, match="only the requester"):
        access.withdraw(people.people["gaj-owner"], second.id, now=now)
    assert access.withdraw(people.people["wangwei"], second.id, now=now).status == "withdrawn"
    with pytest.raises(ConflictError):
        access.withdraw(people.people["wangwei"], second.id, now=now)
    assert {r.status for r in access.requests()} == {"rejected", "withdrawn"}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"assets": {"ds-nope": None}}, "no published asset"),
        ({"assets": {"ds-hjqy": ["sfzh"]}}, "no such fields"),
        ({"region": "北京市"}, "not a district"),
        ({"valid_to": "2020-01-01T00:00:00Z"}, "valid_to"),
        ({"valid_to": "2028-01-01T00:00:00Z"}, "at most 366 days"),
        ({"purpose": ""}, "purpose"),
    ],
)
def test_a_bad_request_names_what_is_wrong(people: GovEnv, changes: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidError, match=problem):
        people.gov.access.submit(people.people["wangwei"], people.terms(**changes), now=people.clock())


def test_a_token_or_the_operator_cannot_request_for_someone(people: GovEnv) -> None:
    from soc_api.identity.actors import Actor

    with pytest.raises(ForbiddenError):
        people.gov.access.submit(Actor.cli("root"), people.terms(), now=people.clock())


def test_policy_versions_apply_to_requests_made_after_them(people: GovEnv) -> None:
    access, now = people.gov.access, people.clock()
    before = access.submit(people.people["wangwei"], people.terms(), now=now)
    stricter = {
        "by_grade": {
            "general": {"quorum": {"n": 1, "roles": ["approver"]}},
            "important": {
                "all_of": [{"owning_department": {}}, {"quorum": {"n": 1, "roles": ["security_admin"]}}]
            },
            "core": {"quorum": {"n": 2, "roles": ["security_admin", "approver"]}},
        }
    }
    with pytest.raises(ForbiddenError):
        access.set_policy(people.people["gaj-owner"], stricter, note="收紧", now=now)
    assert access.set_policy(people.people["sec"], stricter, note="收紧重要数据审批", now=now) == 1
    after = access.submit(people.people["wangwei"], people.terms(), now=now)
    assert (before.policy_version, after.policy_version) == (0, 1)
    assert access.decide(people.people["gaj-owner"], before.id, approve=True, now=now).status == "approved"
    assert access.decide(people.people["gaj-owner"], after.id, approve=True, now=now).status == "pending"
    entry = people.env.entries("approval.policy_changed")[-1]["payload"]
    assert entry["version"] == 1  # type: ignore[index]


def test_revoke_narrow_and_expire_are_ledgered_with_the_grant_id(people: GovEnv) -> None:
    access, grants, now = people.gov.access, people.gov.grants, people.clock()
    request = access.submit(
        people.people["wangwei"], people.terms(assets={"ds-hjqy": ["xm", "qyrq"]}), now=now
    )
    access.decide(people.people["gaj-owner"], request.id, approve=True, now=now)
    with pytest.raises(ForbiddenError):
        grants.revoke(people.people["wjw-owner"], request.id, reason="x", now=now)
    later = people.clock.advance(hours=2)
    with pytest.raises(InvalidError, match="not a narrowing"):
        grants.narrow(people.people["gaj-owner"], request.id, {"export": True}, reason="x", now=later)
    narrowed = grants.narrow(
        people.people["gaj-owner"],
        request.id,
        {"assets": {"ds-hjqy": ["xm"]}, "record_cap": 100},
        reason="最小必要",
        now=later,
    )
    assert narrowed.grant.terms.record_cap == 100
    assert len(narrowed.grant.revisions) == 2
    assert grants.expire_due(later) == []
    revoked = grants.revoke(
        people.people["sec"], request.id, reason="项目结束", now=people.clock.advance(hours=1)
    )
    assert (revoked.status, revoked.grant.current.state) == ("revoked", "revoked")
    other = access.submit(people.people["wangwei"], people.terms(), now=people.clock())
    access.decide(people.people["gaj-owner"], other.id, approve=True, now=people.clock())
    assert grants.expire_due(people.clock() + timedelta(days=31)) == [other.id]
    assert grants.grant(other.id).status == "expired"
    steps = [e["kind"] for e in people.env.entries() if e["payload"].get("approval.id") == request.id]  # type: ignore[union-attr]
    assert steps == [
        "approval.requested",
        "approval.approved",
        "grant.issued",
        "grant.revoked",  # the other department's owner, denied
        "grant.narrowed",
        "grant.revoked",
    ]
    expired = people.env.entries("grant.expired")[-1]
    assert (expired["actor"], expired["payload"]["approval.id"]) == ("system:governance", other.id)  # type: ignore[index]


def test_the_approver_sees_the_requesters_history_and_the_discovery_evidence(people: GovEnv) -> None:
    access, now = people.gov.access, people.clock()
    people.gov.catalog.discover(
        people.people["gaj-owner"], "ds-hjqy", [{"xm": "王伟", "qyrq": "2020-01-01"}], now=now
    )
    first = access.submit(people.people["wangwei"], people.terms(), now=now)
    access.decide(people.people["gaj-owner"], first.id, approve=False, now=now)
    second = access.submit(people.people["wangwei"], people.terms(), now=now)
    detail = access.detail(second.id, now)
    assert detail["requester_history"]["requests"]["rejected"] == 1
    assert detail["evidence"]["ds-hjqy"]["suggested"] == {"grade": "general", "sub_grade": None}
    assert detail["retroactive"] is False
    back = access.submit(
        people.people["wangwei"], people.terms(valid_from=(now - timedelta(days=5)).isoformat()), now=now
    )
    assert access.detail(back.id, now)["retroactive"] is True
