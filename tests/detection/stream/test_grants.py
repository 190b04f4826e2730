"""Grant changes on the broadcast stream and the grants version on batch pointers (pure parts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from datasoc.grants import Grant, GrantTerms
from detection.stream.batch import batch_chain, batch_grants_version, encode_batch, encode_heartbeat
from detection.stream.grants import GrantChange, GrantChangeError, book_of, is_grant_change
from detection.stream.rules import RuleChange

T0 = datetime(2026, 3, 1, tzinfo=UTC)
GRANT = Grant.issue(
    "SQ-1", "u", GrantTerms(assets={"ds": None}, valid_from=T0, valid_to=T0 + timedelta(days=1))
)
TEXT = json.dumps(GRANT.to_dict())


def test_a_grant_change_round_trips_and_is_told_from_a_rule_change() -> None:
    change = GrantChange(3, {"SQ-1": TEXT}, ("SQ-0",))
    line = change.to_json()
    assert is_grant_change(line)
    assert not is_grant_change(RuleChange(1, {"a.yml": "title: x"}).to_json())
    assert GrantChange.from_json(line) == change
    book = book_of({"SQ-1": TEXT}, 3)
    assert (book.version, book.get("SQ-1")) == (3, GRANT)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"grants": 0}', "positive integer"),
        ('{"grants": 1, "put": {"SQ-1": 5}}', "put must map"),
        ('{"grants": 1, "remove": "SQ-1"}', "remove must be a list"),
        ('{"grants": 1, "other": 1}', "grants, put and remove only"),
        (json.dumps({"grants": 1, "put": {"SQ-2": TEXT}}), "holds grant 'SQ-1'"),
        (json.dumps({"grants": 1, "put": {"SQ-1": "{}"}}), "grant 'SQ-1'"),
    ],
)
def test_a_bad_grant_change_is_refused_saying_why(line: str, problem: str) -> None:
    with pytest.raises(GrantChangeError, match=problem):
        GrantChange.from_json(line)


def test_pointers_carry_the_grants_version_they_were_exported_after() -> None:
    _, plain = encode_batch([(5, b'{"a":1}')], prev=5, file="f", at=0)
    _, stamped = encode_batch([(5, b'{"a":1}')], prev=5, file="f", at=0, grants_version=12)
    assert batch_grants_version(plain) == 0
    assert batch_grants_version(stamped) == 12
    assert json.loads(stamped)["gv"] == 12
    assert batch_chain(stamped) == batch_chain(plain) == (5, 6, False)
    assert batch_grants_version(encode_heartbeat(6, 1000)) == 0
