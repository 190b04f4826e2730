"""The approval register (数据共享审批台账) the parsers join gateway events against.

A data user claims a grant by sending its id (`X-Approval-Id`, `approval.id` in the event); the
gateway logs the id but knows nothing else about the grant. The register holds what was granted
(who, which dataset, from which region, for how long, in which state), so `enrich` can copy that
onto the event and the rule pack can compare it with what happened (rules/README.md, "Enrichments
the pack expects"):

    approval.region   allowed_region of the approval
    approval.user     the user it was granted to
    approval.dataset  the dataset it covers
    approval.status   unknown  - the id is not in the register
                      <status> - the register's own status when it is not `approved` (revoked, ...)
                      expired  - the event time is outside [valid_from, valid_to)
                      approved - otherwise

The register is read from JSON lines, one approval per line, as the demo writes `approvals.jsonl`:

    {"id": "SQ-2026-0007", "user": "wangwei", "dataset": "ds-gaj-rkjc", "allowed_region": "东湖区",
     "valid_from": "2026-01-10T00:00:00+08:00", "valid_to": "2026-06-30T00:00:00+08:00",
     "purpose": "...", "approver": "...", "status": "approved"}

`purpose` and `approver` are optional (empty when absent); other fields are ignored. `Approval` is the
one model of a grant: the demo builds its register from it and writes it with `to_dict`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from collectors.errors import CollectorError
from datasoc.event import parse_timestamp

APPROVED: Final = "approved"
EXPIRED: Final = "expired"
UNKNOWN: Final = "unknown"


class ApprovalRegisterError(CollectorError, ValueError):
    """The approval register is malformed; `where` names the record (e.g. `approvals.jsonl:3.valid_to`)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"approval register {where}: {reason}")


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApprovalRegisterError(f"{where}.{key}", f"expected a non-empty string, got {value!r}")
    return value


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ApprovalRegisterError(f"{where}.{key}", f"expected a string, got {type(value).__name__}")
    return value


def _time(data: Mapping[str, Any], key: str, where: str) -> datetime:
    try:
        return parse_timestamp(data.get(key))
    except ValueError as exc:
        raise ApprovalRegisterError(f"{where}.{key}", str(exc)) from None


@dataclass(frozen=True)
class Approval:
    """One grant: `user` may use `dataset` from `allowed_region` during [valid_from, valid_to)."""

    id: str
    user: str
    dataset: str
    allowed_region: str
    valid_from: datetime
    valid_to: datetime
    status: str = APPROVED
    purpose: str = ""
    approver: str = ""

    @classmethod
    def from_dict(cls, data: Any, where: str = "approval") -> Approval:
        """Validate one register record; `status` defaults to `approved` when absent."""
        if not isinstance(data, Mapping):
            raise ApprovalRegisterError(where, f"expected an object, got {type(data).__name__}")
        status = data.get("status", APPROVED)
        if not isinstance(status, str) or not status.strip():
            raise ApprovalRegisterError(f"{where}.status", f"expected a non-empty string, got {status!r}")
        approval = cls(
            id=_text(data, "id", where),
            user=_text(data, "user", where),
            dataset=_text(data, "dataset", where),
            allowed_region=_text(data, "allowed_region", where),
            valid_from=_time(data, "valid_from", where),
            valid_to=_time(data, "valid_to", where),
            status=status,
            purpose=_optional_text(data, "purpose", where),
            approver=_optional_text(data, "approver", where),
        )
        if approval.valid_to <= approval.valid_from:
            raise ApprovalRegisterError(f"{where}.valid_to", "must be later than valid_from")
        return approval

    def valid_at(self, when: datetime) -> bool:
        """True while the grant is in force (by its validity window; the status is not consulted)."""
        return self.valid_from <= when < self.valid_to

    def to_dict(self) -> dict[str, Any]:
        """The register's JSON-lines form (read back by `from_dict`)."""
        return {
            "id": self.id,
            "user": self.user,
            "dataset": self.dataset,
            "allowed_region": self.allowed_region,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "purpose": self.purpose,
            "approver": self.approver,
            "status": self.status,
        }

    def status_at(self, at: datetime) -> str:
        """The approval's state for an event at `at` (aware): the register's status, expired or approved."""
        if self.status != APPROVED:
            return self.status
        return APPROVED if self.valid_from <= at < self.valid_to else EXPIRED


@dataclass(frozen=True)
class ApprovalRegister:
    """Approvals by id; build it with `from_records` or `from_file`, then call `enrich` per event."""

    approvals: Mapping[str, Approval]

    @classmethod
    def from_records(cls, records: Iterable[Any], *, source: str = "approvals") -> ApprovalRegister:
        """Validate records (dicts in the approvals.jsonl form); a repeated id is an error."""
        return cls._build((f"{source}:{number}", record) for number, record in enumerate(records, start=1))

    @classmethod
    def from_file(cls, path: Path) -> ApprovalRegister:
        """Read a UTF-8 JSON-lines register; blank lines are skipped, errors name the file line."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ApprovalRegisterError(str(path), f"cannot read the register: {exc}") from None
        records: list[tuple[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                records.append((where, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ApprovalRegisterError(where, f"invalid JSON: {exc.msg}") from None
        return cls._build(records)

    @classmethod
    def _build(cls, records: Iterable[tuple[str, Any]]) -> ApprovalRegister:
        by_id: dict[str, Approval] = {}
        for where, record in records:
            approval = Approval.from_dict(record, where)
            if approval.id in by_id:
                raise ApprovalRegisterError(f"{where}.id", f"duplicate approval id {approval.id!r}")
            by_id[approval.id] = approval
        return cls(MappingProxyType(by_id))

    def __len__(self) -> int:
        return len(self.approvals)

    def get(self, approval_id: str) -> Approval | None:
        """The approval with that id, if registered."""
        return self.approvals.get(approval_id)

    def enrich(self, event_fields: Mapping[str, Any], *, at: datetime) -> dict[str, Any]:
        """`event_fields` plus the `approval.*` fields above when it names an `approval.id`.

        `at` is the event time (aware). An event without an approval id comes back unchanged (as a
        new dict); one whose id is not registered gets only `approval.status: unknown`.
        """
        fields = dict(event_fields)
        approval_id = fields.get("approval.id")
        if not isinstance(approval_id, str) or not approval_id:
            return fields
        approval = self.approvals.get(approval_id)
        if approval is None:
            fields["approval.status"] = UNKNOWN
            return fields
        fields.update(
            {
                "approval.region": approval.allowed_region,
                "approval.user": approval.user,
                "approval.dataset": approval.dataset,
                "approval.status": approval.status_at(at),
            }
        )
        return fields
