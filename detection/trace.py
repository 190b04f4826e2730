"""The grant trace (事中全留痕): every data access matched to its grant. Pure.

Which accesses: a data user's (`datasoc.actor_role` user) successful use, transmission or disclosure of
data (`datasoc.lifecycle` use, transmit, disclose; `event.outcome` success). Providers' operations on
their own datasets, administrators' sessions and service accounts are judged by the rule pack instead.

How (`trace`): the access names its grant in `approval.id`. Without one, data graded important or core
(`data.classification`, GB/T 43697-2024) is a violation (`no_grant`) and anything else is open data.
With one, the grant's revision in force at the event time must hold for: the grantee (`user.name`), the
asset (`data.asset.id`), the state (not revoked) and window, the region the access came from
(`source.geo.name`, the district of the client address), the fields returned (`data.fields`), export
(`datasoc.lifecycle` transmit needs `export`), and the cumulative records (`data.records` summed over
the grantee's accesses under the grant, in spool order, against `record_cap`). Every broken condition is
listed; the first in `VIOLATIONS` order names the alert.

State: the cumulative records per grant, in a `UsageStore`. The engines keep it where they keep their
other state (the Flink job: keyed state of the lane that owns the grant, checkpointed; the in-process
detector: memory, saved with its consumer offset; the trail: its own ledger entries). Every engine
processes accesses in spool order and counts the same records, so every engine reaches the same
verdicts (`tests/soc_api/test_trace_engines.py` checks the Flink job against the in-process engine).

Lanes: a parallel job's lane owns the accesses of the grants whose id hashes to it (CRC-32 mod lanes),
so one lane sees every access of a grant in order; accesses without a grant go by position.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from datasoc.alert import Alert, highest_classification, warning_level
from datasoc.grants import ACTIVE, GrantBook
from detection.alerts import alert_id, event_time, json_safe

TRACED_ROLE: Final = "user"
TRACED_STAGES: Final = frozenset({"use", "transmit", "disclose"})
EXPORT_STAGES: Final = frozenset({"transmit"})
#: Grades whose access needs a grant (GB/T 43697-2024 important and core data); general data is open.
GRANT_REQUIRED: Final = frozenset({"important", "core"})

ALLOWED: Final = "allowed"
OPEN: Final = "open"
VIOLATION: Final = "violation"

NO_GRANT: Final = "no_grant"
UNKNOWN_GRANT: Final = "unknown_grant"
NOT_GRANTEE: Final = "not_grantee"
ASSET_NOT_GRANTED: Final = "asset_not_granted"
REVOKED: Final = "revoked"
NOT_YET_VALID: Final = "not_yet_valid"
EXPIRED: Final = "expired"
OUTSIDE_REGION: Final = "outside_region"
FIELDS_NOT_GRANTED: Final = "fields_not_granted"
EXPORT_NOT_ALLOWED: Final = "export_not_allowed"
OVER_CAP: Final = "over_cap"
#: Every violation, in the order that picks the one an alert is named for.
VIOLATIONS: Final = (
    NO_GRANT,
    UNKNOWN_GRANT,
    NOT_GRANTEE,
    ASSET_NOT_GRANTED,
    REVOKED,
    NOT_YET_VALID,
    EXPIRED,
    OUTSIDE_REGION,
    FIELDS_NOT_GRANTED,
    EXPORT_NOT_ALLOWED,
    OVER_CAP,
)


@dataclass(frozen=True, slots=True)
class TraceRule:
    """How the alerts of one violation are named (the trace's counterpart of a Sigma rule)."""

    id: str
    title: str
    level: str = "high"
    tags: tuple[str, ...] = ("attack.t1078", "mlps.8.1.4.2", "gbt.43697.important")


def _rule(violation: str, zh: str, en: str, *extra: str) -> TraceRule:
    return TraceRule(
        f"datasoc-grant-{violation.replace('_', '-')}",
        f"{zh} / {en}",
        tags=("attack.t1078", "mlps.8.1.4.2", "gbt.43697.important", *extra),
    )


TRACE_RULES: Final[Mapping[str, TraceRule]] = {
    NO_GRANT: _rule(NO_GRANT, "无授权访问重要或核心数据", "Important or core data accessed without a grant"),
    UNKNOWN_GRANT: _rule(UNKNOWN_GRANT, "出示未知授权", "Access under an unknown grant"),
    NOT_GRANTEE: _rule(NOT_GRANTEE, "使用他人授权", "Grant used by someone other than its grantee"),
    ASSET_NOT_GRANTED: _rule(ASSET_NOT_GRANTED, "访问授权范围外的数据资源", "Asset outside the grant"),
    REVOKED: _rule(REVOKED, "使用已撤销授权", "Access under a revoked grant"),
    NOT_YET_VALID: _rule(NOT_YET_VALID, "授权生效前访问", "Access before the grant's window"),
    EXPIRED: _rule(EXPIRED, "使用已过期授权", "Access under an expired grant"),
    OUTSIDE_REGION: _rule(OUTSIDE_REGION, "超出授权地域访问", "Access from outside the granted region"),
    FIELDS_NOT_GRANTED: _rule(FIELDS_NOT_GRANTED, "访问未授权字段", "Fields returned that were not granted"),
    EXPORT_NOT_ALLOWED: _rule(
        EXPORT_NOT_ALLOWED, "未经授权导出数据", "Export under a grant without export", "attack.t1530"
    ),
    OVER_CAP: _rule(OVER_CAP, "超出授权记录数上限", "Records beyond the grant's cap", "attack.t1530"),
}


#: The event fields the trace judges an access by (what a trace alert shows as its matched fields).
TRACED_FIELDS: Final = (
    "approval.id",
    "user.name",
    "data.asset.id",
    "data.classification",
    "source.geo.name",
    "data.fields",
    "data.records",
    "datasoc.lifecycle",
)
TRACE_RULE_IDS: Final = frozenset(rule.id for rule in TRACE_RULES.values())


class UsageStore(Protocol):
    """Cumulative records per grant (see module docstring)."""

    def get(self, grant_id: str) -> int:
        """Records counted under the grant so far (0 when none)."""
        ...

    def put(self, grant_id: str, used: int) -> None:
        """Record the new cumulative count."""
        ...


@dataclass
class MemoryUsage:
    """A `UsageStore` in a dict (the in-process engine, the trail, tests)."""

    used: dict[str, int] = field(default_factory=dict)

    def get(self, grant_id: str) -> int:
        return self.used.get(grant_id, 0)

    def put(self, grant_id: str, used: int) -> None:
        self.used[grant_id] = used


@dataclass(frozen=True, slots=True)
class TraceResult:
    """The verdict on one access (`allowed`, `open` or `violation`) with what it was judged against."""

    verdict: str
    violations: tuple[str, ...] = ()
    grant: str | None = None
    records: int = 0
    used: int | None = None
    cap: int | None = None
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> TraceRule | None:
        """The rule an alert on this access is named for (None when nothing was violated)."""
        return TRACE_RULES[self.violations[0]] if self.violations else None

    def payload(self) -> dict[str, Any]:
        """The ledger form (flat `trace.*` keys beside the access entry's own)."""
        out: dict[str, Any] = {"trace.verdict": self.verdict}
        if self.violations:
            out["trace.violations"] = list(self.violations)
        if self.used is not None:
            out["trace.used"] = self.used
        if self.cap is not None:
            out["trace.cap"] = self.cap
        return out


def is_traced(event: Mapping[str, Any]) -> bool:
    """Whether the trace judges this event (see module docstring)."""
    return (
        event.get("datasoc.actor_role") == TRACED_ROLE
        and event.get("datasoc.lifecycle") in TRACED_STAGES
        and event.get("event.outcome") == "success"
    )


def claimed_grant(event: Mapping[str, Any]) -> str | None:
    """The grant id an event presents, if any."""
    value = event.get("approval.id")
    return value if isinstance(value, str) and value else None


def owner_lane(position: int, event: Mapping[str, Any], lanes: int) -> int:
    """The lane that traces this event: by grant id (so a grant's accesses stay in one lane), else by
    position."""
    if lanes <= 1:
        return 0
    grant = claimed_grant(event)
    if grant is None:
        return position % lanes
    return zlib.crc32(grant.encode("utf-8")) % lanes


def _records(event: Mapping[str, Any]) -> int:
    value = event.get("data.records")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _fields(event: Mapping[str, Any]) -> list[str]:
    value = event.get("data.fields")
    if isinstance(value, str):
        return [f.strip() for f in value.split(",") if f.strip()]
    if isinstance(value, list):
        return [f for f in value if isinstance(f, str) and f]
    return []


def access_region(event: Mapping[str, Any]) -> str | None:
    """Where the access came from: the district of its client address (None outside the city's plan)."""
    value = event.get("source.geo.name")
    return value if isinstance(value, str) and value else None


def trace(event: Mapping[str, Any], book: GrantBook, usage: UsageStore) -> TraceResult | None:
    """Judge one access against `book`, counting its records in `usage` (None: not a traced access).

    Raises ValueError when the event has no valid `@timestamp` (the engines skip such events first).
    """
    if not is_traced(event):
        return None
    grant_id = claimed_grant(event)
    records = _records(event)
    grade = event.get("data.classification")
    if grant_id is None:
        if grade in GRANT_REQUIRED:
            return TraceResult(VIOLATION, (NO_GRANT,), None, records, context={"classification": grade})
        return TraceResult(OPEN, (), None, records)
    grant = book.get(grant_id)
    if grant is None:
        unknown = {"grant": {"id": grant_id}}
        return TraceResult(VIOLATION, (UNKNOWN_GRANT,), grant_id, records, context=unknown)
    when = event_time(event)
    revision = grant.revision_at(when)
    terms = revision.terms
    found: set[str] = set()
    holder = event.get("user.name") == grant.user
    if not holder:
        found.add(NOT_GRANTEE)
    asset = event.get("data.asset.id")
    if not isinstance(asset, str) or asset not in terms.assets:
        found.add(ASSET_NOT_GRANTED)
    if revision.state != ACTIVE:
        found.add(REVOKED)
    elif when < terms.valid_from:
        found.add(NOT_YET_VALID)
    elif when >= terms.valid_to:
        found.add(EXPIRED)
    region = access_region(event)
    if terms.region is not None and region != terms.region:
        found.add(OUTSIDE_REGION)
    fields = _fields(event)
    outside = sorted(terms.fields_not_granted(asset, fields)) if isinstance(asset, str) and fields else []
    if outside and asset in terms.assets:
        found.add(FIELDS_NOT_GRANTED)
    if event.get("datasoc.lifecycle") in EXPORT_STAGES and not terms.export:
        found.add(EXPORT_NOT_ALLOWED)
    used: int | None = None
    if holder:  # only the grantee's own accesses count against the grant's cap
        used = usage.get(grant.id) + records
        usage.put(grant.id, used)
        if terms.record_cap is not None and used > terms.record_cap:
            found.add(OVER_CAP)
    violations = tuple(v for v in VIOLATIONS if v in found)
    context: dict[str, Any] = {
        "grant": {
            "id": grant.id,
            "user": grant.user,
            "state": revision.state,
            "revision": grant.revisions.index(revision),
            "terms": terms.to_dict(),
        },
        "access": {"region": region, "records": records, "fields": fields, "used": used},
    }
    if outside:
        context["access"]["fields_not_granted"] = outside
    return TraceResult(
        VIOLATION if violations else ALLOWED, violations, grant.id, records, used, terms.record_cap, context
    )


def trace_alert(result: TraceResult, event: Mapping[str, Any]) -> Alert:
    """The alert of a violation: named for its first violation, carrying the grant's context."""
    rule = result.rule
    if rule is None:
        raise ValueError("an access without a violation raises no alert")
    event_id = str(event.get("event.id", ""))
    when = event_time(event)
    context = {"violations": list(result.violations), **result.context}
    return Alert.model_validate(
        {
            "alert.id": alert_id(rule.id, [event_id]),
            "rule.id": rule.id,
            "rule.title": rule.title,
            "rule.level": rule.level,
            "rule.tags": rule.tags,
            "warning_level": warning_level(rule.level, highest_classification([event])),
            "context": json_safe(context),
            "event_ids": (event_id,),
            "events": (json_safe(dict(event)),),
            "first_seen": when,
            "last_seen": when,
            "count": 1,
        }
    )
