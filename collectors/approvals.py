"""The approval register (数据共享审批台账) the parsers join events against: grants by id.

A data user claims a grant by sending its id (`X-Approval-Id`, `approval.id` in the event); the
gateway logs the id but knows nothing else about the grant. The register holds the grants
(`datasoc.grants.Grant`: the one model of a grant, kept by the governance store), so `enrich` can copy
what was granted onto the event for search and for rules:

    approval.region   the grant's region at the event time (absent when it has none)
    approval.user     the grantee
    approval.dataset  the event's asset when the grant covers it, else the granted assets (comma-joined)
    approval.status   unknown  - the id is not in the register
                      <state>  - the revision in force is not active (revoked, ...)
                      expired  - the event time is outside [valid_from, valid_to)
                      approved - otherwise

Whether an access keeps to its grant (fields, region, cumulative records, export) is decided by the
grant trace (`detection.trace`), not here.

Import path for existing deployments: a register in JSON lines, one approval per line, as earlier
versions of the demo wrote `approvals.jsonl` (`Approval`, converted with `to_grant`):

    {"id": "SQ-2026-0007", "user": "wangwei", "dataset": "ds-gaj-rkjc", "allowed_region": "东湖区",
     "valid_from": "2026-01-10T00:00:00+08:00", "valid_to": "2026-06-30T00:00:00+08:00",
     "purpose": "...", "approver": "...", "status": "approved"}

`purpose` and `approver` are optional (empty when absent); other fields are ignored. Such a grant covers
every field of its dataset, has no record cap and allows export (the register never said otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from collectors.errors import CollectorError
from datasoc.event import parse_timestamp
from datasoc.grants import ACTIVE, Grant, GrantBook, GrantRevision, GrantTerms

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
    """One record of a legacy register file: `user` may use `dataset` from `allowed_region` during
    [valid_from, valid_to). `to_grant` gives the grant it stands for."""

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

    def to_grant(self) -> Grant:
        """The grant this record stands for: its dataset (every field), region and window, no cap,
        export allowed; a status other than `approved` is the state of its only revision."""
        terms = GrantTerms(
            assets={self.dataset: None},
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            region=self.allowed_region,
            record_cap=None,
            export=True,
        )
        state = ACTIVE if self.status == APPROVED else self.status
        return Grant(
            self.id,
            self.user,
            (GrantRevision(None, terms, state),),
            self.purpose,
            (self.approver,) if self.approver else (),
        )


@dataclass(frozen=True)
class ApprovalRegister:
    """Grants by id; build it with `from_grants`, `from_records` or `from_file`, then `enrich` per event."""

    book: GrantBook

    @classmethod
    def from_grants(cls, grants: Iterable[Grant] | GrantBook) -> ApprovalRegister:
        """A register over grants (the governance store's snapshot)."""
        return cls(grants if isinstance(grants, GrantBook) else GrantBook.of(grants))

    @classmethod
    def from_records(cls, records: Iterable[Any], *, source: str = "approvals") -> ApprovalRegister:
        """Validate records (dicts in the approvals.jsonl form); a repeated id is an error."""
        return cls._build((f"{source}:{number}", record) for number, record in enumerate(records, start=1))

    @classmethod
    def from_file(cls, path: Path) -> ApprovalRegister:
        """Read a UTF-8 JSON-lines register; blank lines are skipped, errors name the file line."""
        return cls._build(read_register(path))

    @classmethod
    def _build(cls, records: Iterable[tuple[str, Any]]) -> ApprovalRegister:
        return cls.from_grants(a.to_grant() for a in approvals_of(records))

    def __len__(self) -> int:
        return len(self.book)

    def get(self, approval_id: str) -> Grant | None:
        """The grant with that id, if registered."""
        return self.book.get(approval_id)

    def enrich(self, event_fields: Mapping[str, Any], *, at: datetime) -> dict[str, Any]:
        """`event_fields` plus the `approval.*` fields above when it names an `approval.id`.

        `at` is the event time (aware). An event without an approval id comes back unchanged (as a
        new dict); one whose id is not registered gets only `approval.status: unknown`.
        """
        fields = dict(event_fields)
        approval_id = fields.get("approval.id")
        if not isinstance(approval_id, str) or not approval_id:
            return fields
        grant = self.book.get(approval_id)
        if grant is None:
            fields["approval.status"] = UNKNOWN
            return fields
        terms = grant.revision_at(at).terms
        asset = fields.get("data.asset.id")
        fields["approval.user"] = grant.user
        fields["approval.dataset"] = asset if asset in terms.assets else ",".join(sorted(terms.assets))
        fields["approval.status"] = grant.status_at(at)
        if terms.region is not None:
            fields["approval.region"] = terms.region
        return fields


def read_register(path: Path) -> list[tuple[str, Any]]:
    """The records of a JSON-lines register file with where each is (`name:line`)."""
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
    return records


def approvals_of(records: Iterable[tuple[str, Any]]) -> list[Approval]:
    """Validated records in order; a repeated id is an error naming its record."""
    seen: set[str] = set()
    out: list[Approval] = []
    for where, record in records:
        approval = Approval.from_dict(record, where)
        if approval.id in seen:
            raise ApprovalRegisterError(f"{where}.id", f"duplicate approval id {approval.id!r}")
        seen.add(approval.id)
        out.append(approval)
    return out
