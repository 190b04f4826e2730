"""Approval policies: grade routing, owning departments, separation of duties, auto-approval, config."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from soc_api.governance.errors import InvalidError
from soc_api.governance.policy import (
    DEFAULT_POLICY,
    Approver,
    PolicyRequest,
    eligible,
    highest_grade,
    policy_from_dict,
)

NOW = datetime(2026, 3, 2, tzinfo=UTC)
POLICY = policy_from_dict(DEFAULT_POLICY)


def person(account: str, *roles: str, departments: tuple[str, ...] = ()) -> Approver:
    return Approver(account, account, frozenset(roles), frozenset(departments), NOW)


def request(grade: str, *approvals: Approver, **changes: Any) -> PolicyRequest:
    values: dict[str, Any] = {
        "id": "SQ-1",
        "requester_id": "req",
        "grade": grade,
        "owners": frozenset({"gaj"}),
        "record_cap": 5000,
        "export": False,
        "approvals": approvals,
    }
    values.update(changes)
    return PolicyRequest(**values)


OWNER = person("owner", "data_owner", departments=("gaj",))
OTHER_OWNER = person("owner2", "data_owner", departments=("wjw",))
SECADMIN = person("sec", "security_admin")
APPROVER = person("appr", "approver")


def test_core_data_needs_two_people_one_of_them_a_security_administrator() -> None:
    assert not POLICY.check(request("core", OWNER), NOW).satisfied
    assert not POLICY.check(request("core", OWNER, APPROVER), NOW).satisfied  # no security admin
    assert not POLICY.check(request("core", SECADMIN), NOW).satisfied  # one person
    decision = POLICY.check(request("core", SECADMIN, APPROVER), NOW)
    assert decision.satisfied
    assert decision.counted == {"sec", "appr"}


def test_one_person_cannot_be_both_approvers_of_a_core_request() -> None:
    both = person("both", "security_admin", "approver")
    decision = POLICY.check(request("core", both, both), NOW)
    assert not decision.satisfied
    assert decision.counted == {"both"}
    assert any("one person counts once" in r for r in decision.refused)
    assert any("1 more approval" in n for n in decision.needs)


def test_the_requesters_own_approval_never_counts() -> None:
    self_approval = person("req", "security_admin", "approver")
    decision = POLICY.check(request("core", self_approval, APPROVER), NOW)
    assert not decision.satisfied
    assert decision.counted == {"appr"}
    assert any("a requester never approves" in r for r in decision.refused)
    general = POLICY.check(request("general", person("req", "approver"), record_cap=None), NOW)
    assert not general.satisfied


def test_important_data_is_approved_by_each_owning_department() -> None:
    assert not POLICY.check(request("important", APPROVER), NOW).satisfied
    assert not POLICY.check(request("important", OTHER_OWNER), NOW).satisfied
    assert POLICY.check(request("important", OWNER), NOW).satisfied
    two = frozenset({"gaj", "wjw"})
    assert not POLICY.check(request("important", OWNER, owners=two), NOW).satisfied
    assert POLICY.check(request("important", OWNER, OTHER_OWNER, owners=two), NOW).satisfied


def test_general_data_within_bounds_is_approved_automatically_and_otherwise_by_one_approver() -> None:
    auto = POLICY.check(request("general", sub_grade=2, record_cap=10_000), NOW)
    assert auto.satisfied
    assert auto.automatic is not None
    assert auto.automatic.startswith("auto_approval")
    for beyond in ({"sub_grade": 3}, {"record_cap": 10_001}, {"record_cap": None}, {"export": True}):
        assert not POLICY.check(request("general", **beyond), NOW).satisfied, beyond
        assert POLICY.check(request("general", APPROVER, **beyond), NOW).satisfied


def test_eligible_says_whose_approval_would_count() -> None:
    pending = request("core", SECADMIN)
    assert eligible(POLICY, pending, APPROVER, NOW)
    assert eligible(POLICY, pending, OWNER, NOW)
    assert not eligible(POLICY, pending, SECADMIN, NOW)  # already counted
    assert not eligible(POLICY, pending, person("req", "approver"), NOW)  # the requester
    assert not eligible(POLICY, request("important"), APPROVER, NOW)  # not of the owning department
    assert eligible(POLICY, request("important"), OWNER, NOW)


def test_the_configuration_form_round_trips() -> None:
    assert POLICY.to_dict() == DEFAULT_POLICY
    assert policy_from_dict(POLICY.to_dict()).to_dict() == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"quorum": {"n": 0, "roles": ["approver"]}}, "policy.quorum.n"),
        ({"quorum": {"n": 1, "roles": ["viewer"]}}, "cannot approve"),
        ({"quorum": {"n": 1}}, "policy.quorum.roles"),
        ({"all_of": []}, "policy.all_of"),
        ({"nobody": {}}, "unknown node"),
        ({"quorum": {}, "any_of": []}, "exactly one key"),
        ({"by_grade": {"general": {"quorum": {"n": 1, "roles": ["approver"]}}}}, "exactly the keys"),
        (
            {
                "by_grade": {
                    "general": {"auto_approval": {}},
                    "important": {"auto_approval": {}},
                    "core": {"quorum": {"n": 2, "roles": ["approver"]}},
                }
            },
            "auto-approval is for general data only",
        ),
    ],
)
def test_a_bad_configuration_names_the_node(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidError, match=problem):
        policy_from_dict(document)


def test_nesting_is_bounded() -> None:
    document: dict[str, Any] = {"quorum": {"n": 1, "roles": ["approver"]}}
    for _ in range(10):
        document = {"any_of": [document]}
    with pytest.raises(InvalidError, match="nested deeper"):
        policy_from_dict(document)


def test_highest_grade() -> None:
    assert highest_grade(["general", "core", "important"]) == "core"
    assert highest_grade([]) == "general"
