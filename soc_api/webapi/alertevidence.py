"""What an alert's detail shows beside the store's record: the rule that raised it (from the rule
files), the events it carries (read from the event store by the ids its detection alerts keep),
the fields the rule tests that those events carry, and the ledger proof of each event's trace.

The alert store keeps event ids, not events: the events are read here, at most `SHOWN_EVENTS`
of them, newest detection alerts' ids first, and the read is ledgered (`read.alert_events`) like
any other read of people's activity. Someone who may not read events gets the ids only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from audit.ledger import Ledger
from detection.trace import TRACE_RULE_IDS, TRACED_FIELDS
from soc_api.alerting.records import AlertRecord, Member
from soc_api.identity.actors import Actor
from soc_api.identity.audit import audit_draft, audited
from soc_api.identity.roles import Permission
from soc_api.webapi.app import ApiServices
from soc_api.webapi.ledgerproof import prove

#: Events read for one alert's detail and proof (the rest are listed by id).
SHOWN_EVENTS = 10
#: Event ids listed for one alert.
LISTED_IDS = 500


class AlertRulePublic(BaseModel):
    """The rule that raised an alert, as found in the rule files (`key` None when it is gone)."""

    key: str | None
    title: str
    level: str
    description: str
    tags: list[str]
    fields: list[str]


class AlertEvidencePublic(BaseModel):
    """The rule, the fields it tests that the events carry, and the events (at most 10)."""

    rule: AlertRulePublic
    matched_fields: list[str]
    event_ids: list[str]
    events: list[dict[str, Any]]


class ProofStepPublic(BaseModel):
    """One step of a check and its outcome."""

    name_zh: str
    name_en: str
    ok: bool
    detail: str


class EventProof(BaseModel):
    """The ledger entry tracing one event, and its checked inclusion proof."""

    event_id: str
    ok: bool
    seq: int | None
    entry: str | None
    leaf_hash: str | None
    path: list[str]
    tree_size: int | None
    root: str | None
    checkpoint_time: str | None
    key_id: str | None
    steps: list[ProofStepPublic]


class AlertProof(BaseModel):
    """Proofs for the alert's events (at most 10)."""

    alert_id: str
    proofs: list[EventProof]


def event_ids(members: tuple[Member, ...] | list[Member], limit: int = LISTED_IDS) -> list[str]:
    """The alert's event ids, newest detection alert first, each once, at most `limit`."""
    seen: dict[str, None] = {}
    for member in sorted(members, key=lambda m: m.last_seen, reverse=True):
        for event_id in member.event_ids:
            seen.setdefault(event_id, None)
            if len(seen) >= limit:
                return list(seen)
    return list(seen)


def rule_of(services: ApiServices, alert: AlertRecord) -> AlertRulePublic:
    """The rule file's metadata, or what the alert recorded of its rule when the file is gone."""
    info = None
    if services.rules is not None:
        info = next((r for r in services.rules.rules() if r.ref == alert.rule_id), None)
    if info is None:
        return AlertRulePublic(
            key=None,
            title=alert.rule_title,
            level=alert.rule_level,
            description="",
            tags=list(alert.tags),
            # A trace alert has no rule file: its fields are those the grant trace judges an access by.
            fields=list(TRACED_FIELDS) if alert.rule_id in TRACE_RULE_IDS else [],
        )
    return AlertRulePublic(
        key=info.key,
        title=info.title,
        level=info.level,
        description=info.description,
        tags=list(info.tags),
        fields=list(info.fields),
    )


def read_events(services: ApiServices, who: Actor, alert_id: str, ids: list[str]) -> list[dict[str, Any]]:
    """The first `SHOWN_EVENTS` of `ids` from the event store (original logs left out), ledgered;
    empty when `who` may not read events or this process serves no event store."""
    store = services.events
    if store is None or not who.can(Permission.EVENTS_READ) or not ids:
        return []
    wanted = ids[:SHOWN_EVENTS]
    draft = audit_draft(
        now=services.clock(),
        kind="read.alert_events",
        actor=who.label,
        subject=f"alert:{alert_id}",
        outcome="success",
        events=len(wanted),
    )
    found = audited(services.identity.audit, draft, lambda: [store.get(i) for i in wanted])
    return [
        {k: v for k, v in event.to_dict().items() if k != "log.original"}
        for event in found
        if event is not None
    ]


def evidence(
    services: ApiServices, who: Actor, alert: AlertRecord, members: tuple[Member, ...]
) -> AlertEvidencePublic:
    """The detail's evidence part (see the module docstring)."""
    rule = rule_of(services, alert)
    ids = event_ids(members)
    events = read_events(services, who, alert.id, ids)
    carried = {k for e in events for k in e}
    return AlertEvidencePublic(
        rule=rule,
        matched_fields=[f for f in rule.fields if f in carried],
        event_ids=ids,
        events=events,
    )


def proofs(ledger: Ledger, public_key_pem: bytes, alert_id: str, events: list[dict[str, Any]]) -> AlertProof:
    """The ledger proof of each event's access trace, under the latest checkpoint signed by the key."""
    out = []
    for event in events[:SHOWN_EVENTS]:
        p = prove(ledger, public_key_pem, event)
        out.append(
            EventProof(
                event_id=p.event_id,
                ok=p.ok,
                seq=p.seq,
                entry=p.entry,
                leaf_hash=p.leaf_hash,
                path=list(p.path),
                tree_size=p.tree_size,
                root=p.root,
                checkpoint_time=p.checkpoint_time,
                key_id=p.key_id,
                steps=[
                    ProofStepPublic(name_zh=s.name_zh, name_en=s.name_en, ok=s.ok, detail=s.detail)
                    for s in p.steps
                ],
            )
        )
    return AlertProof(alert_id=alert_id, proofs=out)
