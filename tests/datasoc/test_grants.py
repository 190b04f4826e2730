"""Grants: validation, the wire form, revisions by event time, narrowing and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datasoc.grants import Grant, GrantBook, GrantError, GrantTerms

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def terms(**changes: object) -> GrantTerms:
    values: dict[str, object] = {
        "assets": {"ds-a": frozenset({"xm", "csrq"}), "ds-b": None},
        "valid_from": T0,
        "valid_to": T0 + timedelta(days=30),
        "region": "东湖区",
        "record_cap": 1000,
        "export": False,
    }
    values.update(changes)
    return GrantTerms(**values)  # type: ignore[arg-type]


def test_wire_form_round_trips_and_digests_are_stable() -> None:
    grant = Grant.issue("SQ-1", "wangwei", terms(), purpose="统计", approvers=("a", "b"))
    revoked = grant.revoke(T0 + timedelta(days=2), "no longer needed")
    again = Grant.from_dict(revoked.to_dict())
    assert again == revoked
    assert again.digest() == revoked.digest() != grant.digest()
    assert revoked.to_dict()["revisions"][0]["terms"]["assets"] == {"ds-a": ["csrq", "xm"], "ds-b": None}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"id": ""}, "grant.id"),
        ({"revisions": []}, "grant.revisions"),
        ({"approvers": [1]}, "grant.approvers"),
    ],
)
def test_bad_grants_name_the_field(change: dict[str, object], where: str) -> None:
    data = {**Grant.issue("SQ-1", "u", terms()).to_dict(), **change}
    with pytest.raises(GrantError) as caught:
        Grant.from_dict(data)
    assert caught.value.where == where


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"valid_to": "2026-02-01T00:00:00Z"}, "grant.revisions[0].terms.valid_to"),
        ({"valid_from": "yesterday"}, "grant.revisions[0].terms.valid_from"),
        ({"assets": {}}, "grant.revisions[0].terms.assets"),
        ({"assets": {"ds-a": "xm"}}, "grant.revisions[0].terms.assets.ds-a"),
        ({"record_cap": "10"}, "grant.revisions[0].terms.record_cap"),
        ({"record_cap": -1}, "grant.revisions[0].terms.record_cap"),
        ({"export": "yes"}, "grant.revisions[0].terms.export"),
    ],
)
def test_bad_terms_name_the_field(change: dict[str, object], where: str) -> None:
    data = Grant.issue("SQ-1", "u", terms()).to_dict()
    data["revisions"][0]["terms"].update(change)
    with pytest.raises(GrantError) as caught:
        Grant.from_dict(data)
    assert caught.value.where == where


def test_status_and_terms_follow_the_revision_in_force_at_the_event_time() -> None:
    grant = Grant.issue("SQ-1", "u", terms())
    narrowed_at = T0 + timedelta(days=5)
    revoked_at = T0 + timedelta(days=10)
    later = grant.narrow(terms(record_cap=100), narrowed_at).revoke(revoked_at)
    assert later.status_at(T0 - timedelta(seconds=1)) == "expired"  # before the window
    assert later.status_at(T0) == "approved"
    assert later.revision_at(narrowed_at - timedelta(microseconds=1)).terms.record_cap == 1000
    assert later.revision_at(narrowed_at).terms.record_cap == 100
    assert later.status_at(revoked_at - timedelta(microseconds=1)) == "approved"
    assert later.status_at(revoked_at) == "revoked"  # revoked from then on, not before
    assert later.status_at(T0 + timedelta(days=40)) == "revoked"
    assert grant.status_at(T0 + timedelta(days=30)) == "expired"  # valid_to is excluded


@pytest.mark.parametrize(
    ("narrower", "problem"),
    [
        ({"assets": {"ds-c": None}}, "asset ds-c is not in the grant"),
        ({"assets": {"ds-a": frozenset({"xm", "zz"})}}, "fields of ds-a beyond those granted"),
        ({"assets": {"ds-a": None}}, "fields of ds-a beyond those granted"),
        ({"valid_to": T0 + timedelta(days=31)}, "the window extends"),
        ({"region": None}, "the region differs"),
        ({"record_cap": None}, "the record cap exceeds 1000"),
        ({"record_cap": 1001}, "the record cap exceeds 1000"),
        ({"export": True}, "export was not granted"),
    ],
)
def test_narrowing_refuses_anything_wider(narrower: dict[str, object], problem: str) -> None:
    grant = Grant.issue("SQ-1", "u", terms())
    with pytest.raises(GrantError, match=problem):
        grant.narrow(terms(**narrower), T0 + timedelta(days=1))


def test_narrowing_and_revoking_keep_times_increasing() -> None:
    grant = Grant.issue("SQ-1", "u", terms()).narrow(
        terms(assets={"ds-b": None}, record_cap=10), T0 + timedelta(days=1)
    )
    assert grant.terms.fields_not_granted("ds-b", ["anything"]) == frozenset()
    assert grant.terms.fields_not_granted("ds-a", ["xm"]) == {"xm"}
    with pytest.raises(GrantError, match="not after the last one"):
        grant.revoke(T0 + timedelta(days=1))
    revoked = grant.revoke(T0 + timedelta(days=2))
    with pytest.raises(GrantError, match="a revoked grant cannot be narrowed"):
        revoked.narrow(terms(assets={"ds-b": None}, record_cap=5), T0 + timedelta(days=3))


def test_a_book_refuses_duplicate_ids() -> None:
    grant = Grant.issue("SQ-1", "u", terms())
    book = GrantBook.of([grant], version=3)
    assert book.get("SQ-1") is grant
    assert book.version == 3
    assert len(book) == 1
    with pytest.raises(GrantError, match="duplicate grant id"):
        GrantBook.of([grant, grant])
