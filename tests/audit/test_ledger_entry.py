"""Ledger entries: closed kinds, validation with positions, canonical bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.entry import EntryDraft, LedgerEntry, check_kind, format_ts
from audit.errors import EntryError
from datasoc.canonical import canonical_json

GOOD = {
    "seq": 3,
    "ts": "2026-03-01T08:00:00.000000Z",
    "kind": "approval.granted",
    "actor": "user:alice",
    "subject": "asset:x",
    "payload": {"rows": 3},
}


@pytest.mark.parametrize(
    "kind",
    [
        "access",
        "export",
        "purge",
        "approval.granted",
        "grant.used",
        "admin.role_changed",
        "alert.acknowledged",
        "rule.updated",
        "login.failure",
        "ledger.key_rotated",
        "system.selftest",
    ],
)
def test_known_kinds_accepted(kind: str) -> None:
    assert check_kind(kind) == kind


@pytest.mark.parametrize(
    "kind",
    [
        "",
        "access.read",
        "approval",
        "approval.",
        "Approval.granted",
        "billing.paid",
        "grant.Used",
        "login..x",
        7,
        None,
    ],
)
def test_unknown_kinds_rejected(kind: object) -> None:
    with pytest.raises(EntryError, match="kind"):
        check_kind(kind)


def test_from_dict_round_trips_bytes() -> None:
    entry = LedgerEntry.from_dict(GOOD)
    raw = entry.to_canonical()
    assert raw == canonical_json(GOOD)
    assert LedgerEntry.from_dict(json.loads(raw)).to_canonical() == raw


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seq": -1}, "seq"),
        ({"seq": True}, "seq"),
        ({"seq": "3"}, "seq"),
        ({"ts": "2026-03-01T08:00:00Z"}, "ts"),
        ({"ts": "2026-02-30T08:00:00.000000Z"}, "ts"),
        ({"ts": "2026-03-01T24:00:00.000000Z"}, "ts"),
        ({"kind": "nope"}, "kind"),
        ({"actor": ""}, "actor"),
        ({"subject": 5}, "subject"),
        ({"payload": [1]}, "payload"),
    ],
)
def test_from_dict_names_bad_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(EntryError, match=field) as info:
        LedgerEntry.from_dict({**GOOD, **change})
    if field != "seq":
        assert info.value.seq == 3


def test_from_dict_rejects_missing_and_extra_fields() -> None:
    with pytest.raises(EntryError, match=r"missing \['payload'\], unexpected \['extra'\]"):
        LedgerEntry.from_dict({**{k: v for k, v in GOOD.items() if k != "payload"}, "extra": 1})


def test_format_ts_needs_aware_time_and_normalises_to_utc() -> None:
    with pytest.raises(EntryError, match="timezone"):
        format_ts(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    east8 = timezone(timedelta(hours=8))
    assert format_ts(datetime(2026, 1, 1, 8, tzinfo=east8)) == "2026-01-01T00:00:00.000000Z"


def test_draft_rejects_non_json_payload(t0: datetime) -> None:
    with pytest.raises(EntryError, match="payload"):
        EntryDraft.create(now=t0, kind="access", actor="a", subject="s", payload={"x": {1, 2}})
    with pytest.raises(EntryError, match="payload"):
        EntryDraft.create(now=t0, kind="access", actor="a", subject="s", payload={"x": float("nan")})


def test_draft_refuses_a_lone_surrogate_naming_the_field(t0: datetime) -> None:
    with pytest.raises(EntryError, match="surrogate") as refused:
        EntryDraft.create(now=t0, kind="access", actor="a", subject="用户\udc80", payload={})
    assert refused.value.field == "subject"
    draft = EntryDraft.create(now=t0, kind="access", actor="张三", subject="数据集", payload={})
    assert draft.canonical_at(0) == canonical_json(draft.at(0).to_dict())


def test_draft_payload_is_frozen(draft: Callable[..., EntryDraft]) -> None:
    d = draft(1)
    with pytest.raises(TypeError):
        d.payload["rows"] = 9  # type: ignore[index]


_text = st.text(min_size=1, max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    actor=_text,
    subject=_text,
    payload=st.dictionaries(st.text(max_size=6), _json, max_size=4),
    seq=st.integers(0, 2**40),
)
def test_draft_fast_encoding_equals_canonical_json(
    actor: str, subject: str, payload: dict[str, object], seq: int
) -> None:
    d = EntryDraft.create(
        now=datetime(2026, 1, 1, tzinfo=UTC),
        kind="rule.updated",
        actor=actor,
        subject=subject,
        payload=payload,
    )
    assert d.canonical_at(seq) == d.at(seq).to_canonical() == canonical_json(d.at(seq).to_dict())
