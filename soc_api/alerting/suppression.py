"""Suppression exceptions and allow-lists (pure): which alerts a standing decision covers.

A `Suppression` belongs to one rule (or `*`, every rule), has conditions on the alert's facts
(fields all its events agree on, and its group-by values), an owner, a reason and an expiry. An
alert it covers is still stored, counted and shown (filter `suppressed`), never notified: a
suppression never drops silently. Creating and revoking one is ledgered by the service.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from soc_api.alerting.errors import InvalidAlertingRequest

Operator = Literal["eq", "in", "prefix", "cidr"]
_FIELD = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@-]{0,127}\Z")


@dataclass(frozen=True, slots=True)
class Condition:
    """`field` `op` `values`: eq (one value), in (any of), prefix (starts with any), cidr (an IP in
    any network)."""

    field: str
    op: Operator
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _FIELD.match(self.field):
            raise InvalidAlertingRequest(f"condition field {self.field!r}: a dotted field name expected")
        if self.op not in ("eq", "in", "prefix", "cidr"):
            raise InvalidAlertingRequest(f"condition {self.field}: unknown operator {self.op!r}")
        if not self.values or len(self.values) > 100:
            raise InvalidAlertingRequest(f"condition {self.field}: 1 to 100 values")
        if self.op == "eq" and len(self.values) != 1:
            raise InvalidAlertingRequest(f"condition {self.field}: eq takes exactly one value")
        if self.op == "cidr":
            for value in self.values:
                try:
                    ipaddress.ip_network(value, strict=False)
                except ValueError:
                    raise InvalidAlertingRequest(
                        f"condition {self.field}: {value!r} is not a network"
                    ) from None

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """True when the fact `field` satisfies the condition (a missing fact never does)."""
        value = facts.get(self.field)
        if value is None or isinstance(value, bool):
            return False
        text = str(value)
        if self.op in ("eq", "in"):
            return text in self.values
        if self.op == "prefix":
            return any(text.startswith(v) for v in self.values)
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(v, strict=False) for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"field": self.field, "op": self.op, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """From the JSON form; `InvalidAlertingRequest` names what is wrong."""
        values = data.get("values")
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            raise InvalidAlertingRequest("condition values: a list of strings expected")
        return cls(str(data.get("field", "")), data.get("op", "eq"), tuple(values))


@dataclass(frozen=True, slots=True)
class Suppression:
    """A standing exception (see module docstring)."""

    id: str
    rule_id: str
    conditions: tuple[Condition, ...]
    owner: str
    reason: str
    expires_at: datetime
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.rule_id or len(self.rule_id) > 256:
            raise InvalidAlertingRequest("suppression rule: a rule id or * expected")
        if not self.owner.strip() or not self.reason.strip():
            raise InvalidAlertingRequest("suppression: an owner and a reason are required")
        if self.expires_at <= self.created_at:
            raise InvalidAlertingRequest("suppression: it must expire after it is created")
        if self.rule_id == "*" and not self.conditions:
            raise InvalidAlertingRequest("suppression of every rule needs at least one condition")

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and now < self.expires_at

    def covers(self, rule_id: str, facts: Mapping[str, Any], now: datetime) -> bool:
        """True when active and every condition holds for an alert of `rule_id` with `facts`."""
        if not self.active(now) or self.rule_id not in ("*", rule_id):
            return False
        return all(c.holds(facts) for c in self.conditions)


def covering(
    suppressions: Sequence[Suppression], rule_id: str, facts: Mapping[str, Any], now: datetime
) -> Suppression | None:
    """The first active suppression covering the alert (oldest first), or None."""
    for suppression in suppressions:
        if suppression.covers(rule_id, facts, now):
            return suppression
    return None
