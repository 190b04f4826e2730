"""Public schemas of the alerting API (alerts, history, notifications, suppressions, routes, cases,
bulletins): what the console and machines read and send. Secrets never appear here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from soc_api.alerting.case_records import Attachment, Case, CaseDetail, Task, TimelineEntry
from soc_api.alerting.records import AlertRecord, Change, Member, NotificationRecord
from soc_api.alerting.routing import Route
from soc_api.alerting.suppression import Suppression
from soc_api.webapi.alertevidence import AlertEvidencePublic
from soc_api.webapi.pagination import Instant

Level = Literal["red", "orange", "yellow", "blue"]
Note = Annotated[str, Field(min_length=1, max_length=4000)]


class AlertPublic(BaseModel):
    """A handled alert (a roll-up of detection alerts of one rule and group key)."""

    id: str
    rule_id: str
    rule_title: str
    rule_level: str
    tags: list[str]
    warning_level: Level
    event_class: str
    grade: str | None
    group: dict[str, str]
    sources: list[str]
    first_seen: datetime
    last_seen: datetime
    count: int = Field(description="Detection alerts rolled up into this one")
    events: int
    status: Literal["new", "notified", "in_progress", "closed"]
    resolution: str | None
    suppressed_by: str | None
    assignee: str | None
    case_id: str | None
    raised_at: datetime
    updated_at: datetime
    notified_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    sla_stage: str
    sla_due_at: datetime | None
    sla_breaches: int

    @classmethod
    def of(cls, a: AlertRecord) -> AlertPublic:
        """From the store's record."""
        return cls(
            id=a.id,
            rule_id=a.rule_id,
            rule_title=a.rule_title,
            rule_level=a.rule_level,
            tags=list(a.tags),
            warning_level=a.warning_level,
            event_class=a.event_class,
            grade=a.grade,
            group=dict(a.group),
            sources=list(a.sources),
            first_seen=a.first_seen,
            last_seen=a.last_seen,
            count=a.count,
            events=a.events,
            status=a.status,
            resolution=a.resolution,
            suppressed_by=a.suppressed_by,
            assignee=a.assignee,
            case_id=a.case_id,
            raised_at=a.raised_at,
            updated_at=a.updated_at,
            notified_at=a.notified_at,
            responded_at=a.responded_at,
            closed_at=a.closed_at,
            sla_stage=a.sla_stage,
            sla_due_at=a.sla_due_at,
            sla_breaches=a.sla_breaches,
        )


class ChangePublic(BaseModel):
    """One entry of an alert's history (also an SSE event's data)."""

    seq: int
    alert_id: str
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, c: Change) -> ChangePublic:
        """From the store's record."""
        return cls(seq=c.seq, alert_id=c.alert_id, at=c.at, actor=c.actor, action=c.action, detail=c.detail)


class MemberPublic(BaseModel):
    """A detection alert rolled into the alert."""

    detection_id: str
    first_seen: datetime
    last_seen: datetime
    events: int
    event_ids: list[str]

    @classmethod
    def of(cls, m: Member) -> MemberPublic:
        """From the store's record."""
        return cls.model_validate(m, from_attributes=True)


class NotificationPublic(BaseModel):
    """A notification of the outbox (its payload as recorded)."""

    id: int
    key: str
    channel: str
    kind: str
    alert_id: str | None
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    acked_at: datetime | None

    @classmethod
    def of(cls, n: NotificationRecord) -> NotificationPublic:
        """From the store's record."""
        return cls.model_validate(n, from_attributes=True)


class ChangeEventPublic(ChangePublic):
    """An SSE event's data: the change and the alert as it stands (None: gone since)."""

    alert: AlertPublic | None


class AlertDetailPublic(BaseModel):
    """An alert with its detection alerts, history, notifications, and its evidence (the rule,
    the events, the fields the rule tests that they carry)."""

    alert: AlertPublic
    members: list[MemberPublic]
    history: list[ChangePublic]
    notifications: list[NotificationPublic]
    evidence: AlertEvidencePublic


class StartBody(BaseModel):
    """处置: take the alert in hand."""

    note: Annotated[str | None, Field(max_length=4000)] = None


class AssignBody(BaseModel):
    """Hand the alert to an account (null: to nobody)."""

    assignee: Annotated[str | None, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")]


class CommentBody(BaseModel):
    """A comment."""

    text: Note


class CloseBody(BaseModel):
    """闭环 with a resolution and a disposition note."""

    resolution: Literal["resolved", "false_positive", "accepted_risk"]
    note: Note


class ReopenBody(BaseModel):
    """Reopen with a note."""

    note: Note


class ReceiptBody(BaseModel):
    """An upper platform's acknowledgement of an alert's notification."""

    channel: Annotated[str, Field(min_length=1, max_length=64)]


class ConditionModel(BaseModel):
    """`field` `op` `values` on the alert's facts."""

    field: Annotated[str, Field(min_length=1, max_length=128)]
    op: Literal["eq", "in", "prefix", "cidr"] = "eq"
    values: Annotated[list[Annotated[str, Field(max_length=256)]], Field(min_length=1, max_length=100)]


class SuppressionCreate(BaseModel):
    """A suppression exception or allow-list entry."""

    rule_id: Annotated[str, Field(min_length=1, max_length=256, description="A rule id, or * for every rule")]
    conditions: Annotated[list[ConditionModel], Field(max_length=20)] = []
    owner: Annotated[str, Field(min_length=1, max_length=128)]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    expires_at: Instant


class SuppressionPublic(BaseModel):
    """A suppression with how many alerts it covered."""

    id: str
    rule_id: str
    conditions: list[ConditionModel]
    owner: str
    reason: str
    expires_at: datetime
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    hits: int

    @classmethod
    def of(cls, s: Suppression, hits: int) -> SuppressionPublic:
        """From the service's record."""
        return cls(
            id=s.id,
            rule_id=s.rule_id,
            conditions=[ConditionModel(field=c.field, op=c.op, values=list(c.values)) for c in s.conditions],
            owner=s.owner,
            reason=s.reason,
            expires_at=s.expires_at,
            created_by=s.created_by,
            created_at=s.created_at,
            revoked_at=s.revoked_at,
            hits=hits,
        )


class RouteBody(BaseModel):
    """A routing rule: every given criterion must hold."""

    channels: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=20)]
    levels: Annotated[list[Level], Field(max_length=4)] = []
    grades: Annotated[list[Literal["general", "important", "core"]], Field(max_length=3)] = []
    tags: Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=50)] = []
    sources: Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=50)] = []
    hours: Annotated[str, Field(pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")] = ""
    kinds: Annotated[list[Literal["alert", "escalation", "bulletin"]], Field(min_length=1, max_length=3)] = [
        "alert",
        "escalation",
    ]
    enabled: bool = True


class RoutePublic(RouteBody):
    """A routing rule as stored; `origin` is `settings` (read-only) or `api`."""

    id: str
    name: str
    origin: str

    @classmethod
    def of(cls, r: Route) -> RoutePublic:
        """From the service's record."""
        return cls.model_validate(r.to_dict())


class ChannelPublic(BaseModel):
    """A configured channel (never its secret; robots' URLs show their host only)."""

    name: str
    type: str
    receipt: str
    target: str


class CaseCreate(BaseModel):
    """A new case over alerts."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=4000)] = ""
    alert_ids: Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=500)] = []
    owner: Annotated[str | None, Field(max_length=128)] = None


class CasePublic(BaseModel):
    """A case."""

    id: str
    title: str
    description: str
    status: str
    warning_level: Level
    owner: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_into: str | None

    @classmethod
    def of(cls, c: Case) -> CasePublic:
        """From the service's record."""
        return cls.model_validate(c, from_attributes=True)


class TaskPublic(BaseModel):
    """A case's task."""

    id: str
    title: str
    owner: str | None
    due_at: datetime | None
    done_at: datetime | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, t: Task) -> TaskPublic:
        """From the service's record."""
        return cls.model_validate(t, from_attributes=True)


class AttachmentPublic(BaseModel):
    """An attachment's description."""

    id: str
    name: str
    media_type: str
    size: int
    digest: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, a: Attachment) -> AttachmentPublic:
        """From the service's record."""
        return cls.model_validate(a, from_attributes=True)


class TimelinePublic(BaseModel):
    """A line of a case's timeline."""

    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: TimelineEntry) -> TimelinePublic:
        """From the service's record."""
        return cls.model_validate(e, from_attributes=True)


class SightingPublic(BaseModel):
    """An observable of the case and its other alerts in the store."""

    kind: str
    value: str
    other_alerts: list[str]


class CaseDetailPublic(BaseModel):
    """A case in full."""

    case: CasePublic
    alerts: list[AlertPublic]
    tasks: list[TaskPublic]
    attachments: list[AttachmentPublic]
    timeline: list[TimelinePublic]
    observables: list[SightingPublic]

    @classmethod
    def of(cls, d: CaseDetail) -> CaseDetailPublic:
        """From the service's record."""
        return cls(
            case=CasePublic.of(d.case),
            alerts=[AlertPublic.of(a) for a in d.alerts],
            tasks=[TaskPublic.of(t) for t in d.tasks],
            attachments=[AttachmentPublic.of(a) for a in d.attachments],
            timeline=[TimelinePublic.of(e) for e in d.timeline],
            observables=[
                SightingPublic(kind=s.kind, value=s.value, other_alerts=list(s.other_alerts))
                for s in d.observables
            ],
        )
