"""Notification routing (pure): which channels an alert, an escalation or a bulletin goes to.

A `Route` matches by warning level, data grade, rule tags (any; a tag ending in "." is a prefix),
source (`observer.collector` of the alert's events), local time of day (`HH:MM-HH:MM`, may wrap
midnight) and kind (alert, escalation, bulletin); every criterion given must hold, an empty one
holds always. An alert goes to the union of the channels of every enabled route that matches, each
channel once. Routes come from settings (`[[alerting.route]]`, read-only) and from the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from soc_api.alerting.errors import InvalidAlertingRequest
from soc_api.alerting.levels import GRADES, WARNING_LEVELS, tag_matches

Kind = Literal["alert", "escalation", "bulletin"]
KINDS: tuple[Kind, ...] = ("alert", "escalation", "bulletin")
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)\Z")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}\Z")


@dataclass(frozen=True, slots=True)
class RouteQuery:
    """What routing looks at: the kind, and the alert's level, grade, tags and sources."""

    kind: Kind
    level: str | None = None
    grade: str | None = None
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """A routing rule (see module docstring); `origin` is `settings` or `api`."""

    id: str
    name: str
    channels: tuple[str, ...]
    levels: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    hours: str = ""
    kinds: tuple[str, ...] = ("alert", "escalation")
    enabled: bool = True
    origin: str = "api"

    def __post_init__(self) -> None:
        where = f"route {self.name!r}"
        if not _NAME.match(self.name):
            raise InvalidAlertingRequest(f"{where}: name of lowercase letters, digits, '_', '.', '-'")
        if not self.channels:
            raise InvalidAlertingRequest(f"{where}: at least one channel")
        for value, allowed, what in (
            (self.levels, WARNING_LEVELS, "levels"),
            (self.grades, GRADES, "grades"),
            (self.kinds, KINDS, "kinds"),
        ):
            unknown = sorted(set(value) - set(allowed))
            if unknown:
                raise InvalidAlertingRequest(f"{where}: unknown {what} {unknown}; allowed: {list(allowed)}")
        if not self.kinds:
            raise InvalidAlertingRequest(f"{where}: at least one kind")
        if self.hours and not _HOURS.match(self.hours):
            raise InvalidAlertingRequest(f"{where}: hours as HH:MM-HH:MM")

    def in_hours(self, local: time) -> bool:
        """True when `local` lies within the route's hours (start inclusive, end exclusive)."""
        if not self.hours:
            return True
        match = _HOURS.match(self.hours)
        assert match is not None
        start = time(int(match[1]), int(match[2]))
        end = time(int(match[3]), int(match[4]))
        if start == end:
            return True
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def matches(self, query: RouteQuery, local: time) -> bool:
        """Every given criterion holds for `query` at local time `local`."""
        if not self.enabled or query.kind not in self.kinds:
            return False
        if self.levels and query.level not in self.levels:
            return False
        if self.grades and query.grade not in self.grades:
            return False
        if self.tags and not any(tag_matches(p, t) for p in self.tags for t in query.tags):
            return False
        if self.sources and not set(self.sources) & set(query.sources):
            return False
        return self.in_hours(local)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "channels": list(self.channels),
            "levels": list(self.levels),
            "grades": list(self.grades),
            "tags": list(self.tags),
            "sources": list(self.sources),
            "hours": self.hours,
            "kinds": list(self.kinds),
            "enabled": self.enabled,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Route:
        """From the JSON form (the stored one, or the API's)."""

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key, ())
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise InvalidAlertingRequest(f"route {key}: a list of strings expected")
            return tuple(value)

        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            channels=strings("channels"),
            levels=strings("levels"),
            grades=strings("grades"),
            tags=strings("tags"),
            sources=strings("sources"),
            hours=str(data.get("hours", "")),
            kinds=strings("kinds") if "kinds" in data else ("alert", "escalation"),
            enabled=bool(data.get("enabled", True)),
            origin=str(data.get("origin", "api")),
        )


def channels_for(routes: Sequence[Route], query: RouteQuery, now: datetime, zone: ZoneInfo) -> list[str]:
    """The channels `query` goes to at `now` (each once, in route order)."""
    local = now.astimezone(zone).time()
    found: dict[str, None] = {}
    for route in routes:
        if route.matches(query, local):
            for channel in route.channels:
                found.setdefault(channel)
    return list(found)


def check_channels(routes: Iterable[Route], known: Iterable[str]) -> None:
    """Every route names configured channels only."""
    names = set(known)
    for route in routes:
        unknown = sorted(set(route.channels) - names)
        if unknown:
            raise InvalidAlertingRequest(
                f"route {route.name!r}: unknown channels {unknown}; configured: {sorted(names)}"
            )
