"""`/api/v1/bulletins`: daily and weekly bulletins (通报) made on schedule, and on demand; their HTML
and PDF. Making one is audited before it is rendered; the ledger entry names both files' SM3."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from soc_api.alerting import bulletins
from soc_api.alerting.errors import InvalidAlertingRequest
from soc_api.alerting.records import ts
from soc_api.identity.actors import Actor
from soc_api.identity.errors import NotFoundError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor
from soc_api.webapi.routes.alerts import alerting_of

router = APIRouter(prefix=f"{API_PREFIX}/bulletins", tags=["bulletins"])
BulletinId = Annotated[str, Path(pattern=r"^blt-[A-Za-z0-9_-]{1,64}$")]


class BulletinPublic(BaseModel):
    """A bulletin: its period, who made it, the SM3 digests of its files."""

    id: str
    kind: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    generated_by: str
    title: str
    html_digest: str
    pdf_digest: str
    pages: int


class BulletinCreate(BaseModel):
    """A bulletin on demand over `[start, end)` (at most 92 days)."""

    start: Instant
    end: Instant
    kind: Literal["adhoc"] = "adhoc"


@router.get("", response_model=Page[BulletinPublic])
def list_bulletins(
    who: Annotated[Actor, require(Permission.BULLETINS_READ)],
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[BulletinPublic]:
    """Bulletins newest first."""
    service = alerting_of(services)
    before = decode_cursor(cursor, (str, str))
    rows = bulletins.listed(service.state, limit=limit + 1, before=(before[0], before[1]) if before else None)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[BulletinPublic](
        items=[BulletinPublic.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor([ts(rows[-1].generated_at), rows[-1].id]) if more and rows else None,
    )


@router.post("", status_code=201, response_model=BulletinPublic)
def make_bulletin(
    body: BulletinCreate, who: Annotated[Actor, require(Permission.BULLETINS_MANAGE)], services: Services
) -> BulletinPublic:
    """Make a bulletin now over a period (sent through the `bulletin` routes)."""
    if not body.start < body.end or body.end - body.start > timedelta(days=92):
        raise InvalidAlertingRequest("period: start before end, at most 92 days")
    service = alerting_of(services)
    now = services.clock()
    made = bulletins.make(
        service.state,
        service.config,
        bulletins.Period("adhoc", body.start, body.end),
        now=now,
        actor=who.label,
        record=service.audit.record,
        bulletin_id="blt-adhoc-" + service.new_id()[:32],
    )
    row = next(r for r in bulletins.listed(service.state, limit=10) if r.id == made.id)
    return BulletinPublic.model_validate(row, from_attributes=True)


def _file(services: Services, bulletin_id: str, kind: str, media: str) -> Response:
    data = bulletins.file_of(alerting_of(services).state, bulletin_id, kind)
    if data is None:
        raise NotFoundError(f"no bulletin {bulletin_id!r}")
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'inline; filename="{bulletin_id}.{kind}"'}
    )


@router.get(
    "/{bulletin_id}/html",
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "HTML"}},
)
def bulletin_html(
    bulletin_id: BulletinId, who: Annotated[Actor, require(Permission.BULLETINS_READ)], services: Services
) -> Response:
    """The bulletin as one self-contained HTML page."""
    return _file(services, bulletin_id, "html", "text/html; charset=utf-8")


@router.get(
    "/{bulletin_id}/pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "PDF",
        }
    },
)
def bulletin_pdf(
    bulletin_id: BulletinId, who: Annotated[Actor, require(Permission.BULLETINS_READ)], services: Services
) -> Response:
    """The bulletin as PDF."""
    return _file(services, bulletin_id, "pdf", "application/pdf")
