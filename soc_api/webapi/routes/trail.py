"""`/api/v1/audit/trail`: the audit administrator's search of the ledger by actor, asset, grant, kind,
time and outcome; reviews (note, finding, sign-off) as ledger entries; and trail exports that prove
their selection complete (`soc_api.governance.review`). Searches and exports are ledgered first.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from audit.errors import AuditError, CheckpointError
from audit.selection import Selection
from soc_api.governance.review import TrailQuery, entry_to_dict, export_trail, record_review, search_trail
from soc_api.identity.actors import Actor
from soc_api.identity.audit import audit_draft, audited
from soc_api.identity.errors import InvalidRequestError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/audit/trail", tags=["audit"])
Key = Annotated[str | None, Field(min_length=1, max_length=200)]


class TrailEntry(BaseModel):
    """A ledger entry; `seq` is its position (provable in an export). Sealed fields stay sealed."""

    seq: int
    ts: str
    kind: str
    actor: str
    subject: str
    outcome: str
    payload: dict[str, Any]


class SelectionIn(BaseModel):
    """Entries having every key given, with time in [since, until]."""

    actor: Key = None
    subject: Key = None
    grant: Key = None
    kind: Key = None
    since: Instant | None = None
    until: Instant | None = None

    def selection(self) -> Selection:
        """The key selection (`InvalidRequestError` without a key or with the window reversed)."""
        try:
            return Selection.by_keys(
                actor=self.actor,
                subject=self.subject,
                grant=self.grant,
                kind=self.kind,
                since=self.since,
                until=self.until,
            )
        except AuditError as exc:
            raise InvalidRequestError(str(exc)) from None


class ReviewCreate(BaseModel):
    """An auditor's review of a selection (审计复核): a note, a finding, a sign-off."""

    selection: SelectionIn
    note: Annotated[str, Field(min_length=1, max_length=4000)]
    finding: Annotated[str, Field(max_length=4000)] = ""
    signoff: bool = False


class ReviewRecorded(BaseModel):
    """Where the review was recorded in the ledger."""

    seq: int | None


def _ledger(services: ApiServices) -> Any:
    if services.ledger is None or services.signer is None:
        raise InvalidRequestError("此进程不持有审计账本 / this process does not hold the ledger")
    return services.ledger


@router.get("", response_model=Page[TrailEntry])
def search(
    who: Annotated[Actor, require(Permission.AUDIT_READ)],
    services: Services,
    actor: Key = None,
    subject: Key = None,
    grant: Key = None,
    kind: Key = None,
    since: Instant | None = None,
    until: Instant | None = None,
    outcome: Annotated[str | None, Field(max_length=32)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TrailEntry]:
    """Search the ledger (留痕检索) by actor, subject (an asset), grant, kind, time and outcome (the
    trace's verdict of an access: allowed, open, violation; else success, denied, failed); newest first."""
    if since is not None and until is not None and until < since:
        raise InvalidRequestError("until is before since")
    before = decode_cursor(cursor, (int,))
    query = TrailQuery(
        actor, subject, grant, kind, since, until, outcome, before[0] if before else None, limit + 1
    )
    ledger = _ledger(services)
    draft = audit_draft(
        now=services.clock(),
        kind="read.trail_search",
        actor=who.label,
        subject="audit:trail",
        outcome="success",
        criteria=query.criteria(),
    )
    entries = audited(services.identity.audit, draft, lambda: search_trail(ledger.store, query))
    more = len(entries) > limit
    entries = entries[:limit]
    return Page[TrailEntry](
        items=[TrailEntry.model_validate(entry_to_dict(e)) for e in entries],
        next_cursor=encode_cursor([entries[-1].seq]) if more and entries else None,
    )


@router.post("/reviews", status_code=201, response_model=ReviewRecorded)
def review(
    body: ReviewCreate, who: Annotated[Actor, require(Permission.AUDIT_REVIEW)], services: Services
) -> ReviewRecorded:
    """Record a review of a selection (the review itself is a ledger entry)."""
    selection = body.selection.selection()
    ledger = _ledger(services)
    seq = record_review(
        services.identity.audit,
        who,
        selection.to_dict(),
        note=body.note,
        finding=body.finding,
        signoff=body.signoff,
        ledger_size=ledger.store.size,
        now=services.clock(),
    )
    return ReviewRecorded(seq=seq)


@router.post(
    "/export",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "bundle.zip (checked by `datasoc verify`), entries.csv, summary.json, report.txt, "
            "report.html and report.pdf (charts)",
        }
    },
)
def export(
    body: SelectionIn, who: Annotated[Actor, require(Permission.AUDIT_EXPORT)], services: Services
) -> Response:
    """Export a trail (导出留痕), proven complete for its selection; only an audit administrator."""
    selection = body.selection()
    ledger = _ledger(services)
    now = services.clock()
    with contextlib.suppress(CheckpointError):  # one signed at this very instant: export what it covers
        ledger.checkpoint_tail(now=now)
    assert services.signer is not None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = export_trail(
                services.identity.audit,
                ledger.store,
                who,
                selection,
                signer=services.signer,
                out_dir=Path(tmp) / "export",
                now=now,
            )
        except AuditError as exc:
            raise InvalidRequestError(f"export failed: {exc}") from None
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(done.directory.iterdir()):
                archive.write(path, f"trail-export/{path.name}")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="trail-export.zip"'},
    )
