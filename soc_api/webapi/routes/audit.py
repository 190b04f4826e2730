"""`/api/v1/audit`: the platform's own audit entries, for the audit administrator.

Searching the audit trail is itself a sensitive read: the search is ledgered (`read.audit_search`)
before its results are returned; an export is ledgered (`export`) before the bundle is built.
"""

from __future__ import annotations

import contextlib
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from audit.errors import AuditError, CheckpointError
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditQuery, audit_draft, audited, search_audit
from soc_api.identity.errors import InvalidRequestError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])

_Text = Annotated[str | None, Query(max_length=200)]
Outcome = Literal["success", "denied", "failed"]


class AuditEntryPublic(BaseModel):
    """One platform-audit entry; `seq` is its position in the ledger (provable in an export)."""

    seq: int
    ts: str
    action: str
    actor: str
    target: str
    outcome: str
    payload: dict[str, Any]


class Review(BaseModel):
    """An audit administrator's review of the entries up to `through_seq` (审计复核记录)."""

    through_seq: Annotated[int, Field(ge=0, le=2**53 - 1)]
    conclusion: Annotated[str, Field(min_length=1, max_length=2000)]


class ReviewRecorded(BaseModel):
    """Where the review was recorded."""

    seq: int | None


def _query(
    actor: str | None,
    action: str | None,
    target: str | None,
    outcome: str | None,
    start: datetime | None,
    end: datetime | None,
    before: int | None,
    limit: int,
) -> AuditQuery:
    if start is not None and end is not None and end < start:
        raise InvalidRequestError("end is before start")
    return AuditQuery(
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        start=start,
        end=end,
        before_seq=before,
        limit=limit,
    )


def _criteria(query: AuditQuery) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in (
            ("actor", query.actor),
            ("action", query.action),
            ("target", query.target),
            ("outcome", query.outcome),
            ("start", query.start),
            ("end", query.end),
        )
        if v is not None
    }


@router.get("/entries", response_model=Page[AuditEntryPublic])
def search_entries(
    who: Annotated[Actor, require(Permission.AUDIT_READ)],
    services: Services,
    actor: _Text = None,
    action: _Text = None,
    target: _Text = None,
    outcome: Outcome | None = None,
    start: Instant | None = None,
    end: Instant | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditEntryPublic]:
    """Search the platform's audit entries (审计检索) by actor, action (`login.*` for a family),
    target, time and outcome; newest first."""
    after = decode_cursor(cursor, (int,))
    query = _query(actor, action, target, outcome, start, end, after[0] if after else None, limit + 1)
    draft = audit_draft(
        now=services.clock(),
        kind="read.audit_search",
        actor=who.label,
        subject="audit:entries",
        outcome="success",
        criteria=_criteria(query),
    )
    rows = audited(services.identity.audit, draft, lambda: search_audit(services.identity.store.state, query))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[AuditEntryPublic](
        items=[
            AuditEntryPublic(
                seq=r.seq,
                ts=r.ts,
                action=r.kind,
                actor=r.actor,
                target=r.subject,
                outcome=r.outcome,
                payload=r.payload,
            )
            for r in rows
        ],
        next_cursor=encode_cursor([rows[-1].seq]) if more and rows else None,
    )


@router.post("/reviews", status_code=201, response_model=ReviewRecorded)
def record_review(
    body: Review, who: Annotated[Actor, require(Permission.AUDIT_REVIEW)], services: Services
) -> ReviewRecorded:
    """Record a review of the audit trail (the review itself is the ledger entry)."""
    receipt = services.identity.audit.record(
        audit_draft(
            now=services.clock(),
            kind="admin.audit_reviewed",
            actor=who.label,
            subject="audit:entries",
            outcome="success",
            through_seq=body.through_seq,
            conclusion=body.conclusion,
        )
    )
    return ReviewRecorded(seq=receipt.seq)


def _export(services: ApiServices, seqs: list[int]) -> bytes:
    from audit.bundle import export_bundle

    ledger = services.ledger
    if ledger is None or services.signer is None:
        raise InvalidRequestError("this process does not hold the ledger")
    now = services.clock()
    with contextlib.suppress(CheckpointError):  # one signed at this very instant: export what it covers
        ledger.checkpoint_tail(now=now)
    latest = ledger.store.latest_checkpoint()
    covered = latest.checkpoint.size if latest else 0
    seqs = [s for s in seqs if s < covered]
    with tempfile.TemporaryDirectory() as tmp:
        out = export_bundle(
            ledger.store, Path(tmp) / "export.zip", signer=services.signer, now=now, seqs=seqs
        )
        return out.read_bytes()


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A bundle that `datasoc verify` checks offline",
        }
    },
)
def export_entries(
    who: Annotated[Actor, require(Permission.AUDIT_EXPORT)],
    services: Services,
    actor: _Text = None,
    action: _Text = None,
    target: _Text = None,
    outcome: Outcome | None = None,
    start: Instant | None = None,
    end: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """Export matching entries as a verifiable bundle (导出, SM3 proofs and an SM2-signed checkpoint)."""
    query = _query(actor, action, target, outcome, start, end, None, limit)
    rows = search_audit(services.identity.store.state, query)
    seqs = sorted(r.seq for r in rows)
    draft = audit_draft(
        now=services.clock(),
        kind="export",
        actor=who.label,
        subject="audit:entries",
        outcome="success",
        criteria=_criteria(query),
        entries=len(seqs),
    )
    try:
        data = audited(services.identity.audit, draft, lambda: _export(services, seqs))
    except AuditError as exc:
        raise InvalidRequestError(f"export failed: {exc}") from None
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="audit-export.zip"'},
    )
