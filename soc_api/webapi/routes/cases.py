"""`/api/v1/cases`: cases over alerts, with tasks, notes, owner, attachments, merging and the case
report (HTML or PDF). Reading needs `alerts.read`; every change `cases.handle` and is audited."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from soc_api.alerting.cases import MAX_ATTACHMENT, Cases
from soc_api.alerting.errors import InvalidAlertingRequest
from soc_api.alerting.records import ts
from soc_api.identity.actors import Actor
from soc_api.identity.errors import NotFoundError
from soc_api.identity.roles import Permission
from soc_api.reports import render_html, render_pdf
from soc_api.webapi.alerting_schemas import (
    AttachmentPublic,
    CaseCreate,
    CaseDetailPublic,
    CasePublic,
    TaskPublic,
)
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/cases", tags=["cases"])
CaseId = Annotated[str, Path(max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class AlertsBody(BaseModel):
    """Alerts to link."""

    alert_ids: Annotated[list[Annotated[str, Field(max_length=128)]], Field(min_length=1, max_length=500)]


class NoteBody(BaseModel):
    """A note."""

    text: Text


class OwnerBody(BaseModel):
    """The case's owner (null: nobody)."""

    owner: Annotated[str | None, Field(max_length=128)]


class CloseCaseBody(BaseModel):
    """Closing note."""

    note: Text


class TaskBody(BaseModel):
    """A task with an owner and a due date."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    owner: Annotated[str | None, Field(max_length=128)] = None
    due_at: Instant | None = None


class AttachmentBody(BaseModel):
    """A file, base64-encoded (at most 5 MiB decoded)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    media_type: Annotated[str, Field(pattern=r"^[a-z]+/[a-z0-9.+-]{1,100}$")] = "application/octet-stream"
    content_b64: Annotated[str, Field(max_length=(MAX_ATTACHMENT * 4) // 3 + 8)]


class MergeBody(BaseModel):
    """The case this one is merged into."""

    into: Annotated[str, Field(min_length=1, max_length=64)]


def cases_of(services: ApiServices) -> Cases:
    """The case service, or 404 when this process serves none."""
    if services.cases is None:
        raise NotFoundError("this process serves no cases")
    return services.cases


@router.get("", response_model=Page[CasePublic])
def list_cases(
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    status: Literal["open", "closed", "merged"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CasePublic]:
    """Cases (案件) newest first."""
    before = decode_cursor(cursor, (str, str))
    found = cases_of(services).find(
        status=status, before=(before[0], before[1]) if before else None, limit=limit + 1
    )
    more = len(found) > limit
    found = found[:limit]
    return Page[CasePublic](
        items=[CasePublic.of(c) for c in found],
        next_cursor=encode_cursor([ts(found[-1].created_at), found[-1].id]) if more and found else None,
    )


@router.post("", status_code=201, response_model=CasePublic)
def create_case(
    body: CaseCreate, who: Annotated[Actor, require(Permission.CASES_HANDLE)], services: Services
) -> CasePublic:
    """Open a case over alerts (立案)."""
    made = cases_of(services).create(
        who,
        title=body.title,
        description=body.description,
        alert_ids=body.alert_ids,
        owner=body.owner,
        now=services.clock(),
    )
    return CasePublic.of(made)


@router.get("/{case_id}", response_model=CaseDetailPublic)
def get_case(
    case_id: CaseId, who: Annotated[Actor, require(Permission.ALERTS_READ)], services: Services
) -> CaseDetailPublic:
    """A case with its alerts, tasks, attachments, timeline and observables' other sightings."""
    return CaseDetailPublic.of(cases_of(services).get(case_id))


@router.post("/{case_id}/alerts", response_model=CasePublic)
def add_alerts(
    case_id: CaseId,
    body: AlertsBody,
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> CasePublic:
    """Link alerts to the case."""
    return CasePublic.of(cases_of(services).add_alerts(who, case_id, body.alert_ids, now=services.clock()))


@router.post("/{case_id}/notes", status_code=204)
def add_note(
    case_id: CaseId,
    body: NoteBody,
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> Response:
    """A note on the timeline."""
    cases_of(services).note(who, case_id, body.text, now=services.clock())
    return Response(status_code=204)


@router.post("/{case_id}/owner", response_model=CasePublic)
def set_owner(
    case_id: CaseId,
    body: OwnerBody,
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> CasePublic:
    """Hand the case to an owner."""
    return CasePublic.of(cases_of(services).set_owner(who, case_id, body.owner, now=services.clock()))


@router.post("/{case_id}/close", response_model=CasePublic)
def close_case(
    case_id: CaseId,
    body: CloseCaseBody,
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> CasePublic:
    """Close the case with a note."""
    return CasePublic.of(cases_of(services).close(who, case_id, body.note, now=services.clock()))


@router.post("/{case_id}/tasks", status_code=201, response_model=TaskPublic)
def add_task(
    case_id: CaseId,
    body: TaskBody,
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> TaskPublic:
    """A task with an owner and a due date."""
    task = cases_of(services).add_task(
        who, case_id, title=body.title, owner=body.owner, due_at=body.due_at, now=services.clock()
    )
    return TaskPublic.of(task)


@router.post("/{case_id}/tasks/{task_id}/done", status_code=204)
def complete_task(
    case_id: CaseId,
    task_id: Annotated[str, Path(max_length=64)],
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> Response:
    """Mark a task done."""
    cases_of(services).complete_task(who, case_id, task_id, now=services.clock())
    return Response(status_code=204)


@router.post("/{case_id}/attachments", status_code=201, response_model=AttachmentPublic)
def attach(
    case_id: CaseId,
    body: AttachmentBody,
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> AttachmentPublic:
    """Attach a file (its SM3 digest goes into the ledger entry)."""
    try:
        content = base64.b64decode(body.content_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAlertingRequest("content_b64: not base64") from None
    made = cases_of(services).attach(
        who, case_id, name=body.name, media_type=body.media_type, content=content, now=services.clock()
    )
    return AttachmentPublic.of(made)


@router.get(
    "/{case_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The file",
        }
    },
)
def get_attachment(
    case_id: CaseId,
    attachment_id: Annotated[str, Path(max_length=64)],
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
) -> Response:
    """An attachment's bytes (always served as a download)."""
    meta, content = cases_of(services).attachment(case_id, attachment_id)
    # Served as an opaque download whatever its declared type: never rendered in the console's origin.
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": "attachment", "X-Digest": meta.digest},
    )


@router.post("/{case_id}/merge", response_model=CasePublic)
def merge_case(
    case_id: CaseId,
    body: MergeBody,
    who: Annotated[Actor, require(Permission.CASES_HANDLE)],
    services: Services,
) -> CasePublic:
    """Merge this case into another (its alerts, tasks and attachments move)."""
    return CasePublic.of(cases_of(services).merge(who, case_id, body.into, now=services.clock()))


@router.get(
    "/{case_id}/report",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
            "description": "The case report",
        }
    },
)
def case_report(
    case_id: CaseId,
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    format: Annotated[Literal["html", "pdf"], Query()] = "html",
) -> Response:
    """The case report (案件报告) as HTML or PDF."""
    document = cases_of(services).report(case_id, now=services.clock())
    if format == "pdf":
        return Response(render_pdf(document).data, media_type="application/pdf")
    return Response(render_html(document), media_type="text/html; charset=utf-8")
