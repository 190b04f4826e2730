"""Frozen records of cases: the case, its tasks, attachments, timeline, observables' sightings."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc_api.alerting.records import AlertRecord, need_ts, parse_ts


@dataclass(frozen=True, slots=True)
class Case:
    """A case as stored."""

    id: str
    title: str
    description: str
    status: str
    warning_level: str
    owner: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_into: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Case:
        """From a row of `cases`."""
        return cls(
            id=row["id"],
            title=row["title"],
            description=row["description"],
            status=row["status"],
            warning_level=row["warning_level"],
            owner=row["owner"],
            created_by=row["created_by"],
            created_at=need_ts(row["created_at"]),
            updated_at=need_ts(row["updated_at"]),
            closed_at=parse_ts(row["closed_at"]),
            merged_into=row["merged_into"],
        )


@dataclass(frozen=True, slots=True)
class Task:
    """A task of a case."""

    id: str
    case_id: str
    title: str
    owner: str | None
    due_at: datetime | None
    done_at: datetime | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment's description (its bytes are fetched on their own)."""

    id: str
    case_id: str
    name: str
    media_type: str
    size: int
    digest: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a case's timeline."""

    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sighting:
    """An observable of the case and the other alerts in the store that involve it."""

    kind: str
    value: str
    other_alerts: tuple[str, ...]


@dataclass(frozen=True)
class CaseDetail:
    """A case with its alerts, tasks, attachments, timeline and observables."""

    case: Case
    alerts: tuple[AlertRecord, ...]
    tasks: tuple[Task, ...]
    attachments: tuple[Attachment, ...]
    timeline: tuple[TimelineEntry, ...]
    observables: tuple[Sighting, ...]
