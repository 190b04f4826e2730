"""`/api/v1/catalog`: data assets with their grades, discovery, provider proposals, departments.

Every change goes through `soc_api.governance.catalog` (department scope, ledgered first); handlers only
translate. Grades change only by `PUT .../grade`, never by registering or updating an asset.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from datasoc.event import format_timestamp
from soc_api.governance import Governance
from soc_api.governance.records import Asset, Proposal
from soc_api.identity.actors import Actor
from soc_api.identity.errors import InvalidRequestError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/catalog", tags=["catalog"])

Grade = Literal["general", "important", "core"]
SubGrade = Annotated[int, Field(ge=1, le=4)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Short = Annotated[str, Field(min_length=1, max_length=64)]
AssetId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


def governance(services: ApiServices) -> Governance:
    """The governance services (the composition root always gives them to the served API)."""
    if services.governance is None:
        raise InvalidRequestError("此进程未提供数据治理 / this process serves no data governance")
    return services.governance


class FieldIn(BaseModel):
    """A field of an asset (its grade only when more sensitive than the asset)."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    type: Short = "string"
    description: Annotated[str, Field(max_length=500)] = ""
    grade: Grade | None = None
    sub_grade: SubGrade | None = None


class TableIn(BaseModel):
    """The database table behind an asset."""

    engine: Literal["mysql", "postgresql"]
    database: Annotated[str, Field(min_length=1, max_length=128)]
    name: Annotated[str, Field(min_length=1, max_length=128)]


class AssetCreate(BaseModel):
    """A new asset (数据资源) of the caller's department, or any for a security administrator."""

    id: AssetId
    name: Name
    name_en: Annotated[str, Field(max_length=200)] = ""
    owner: Short
    region: Short
    grade: Grade
    sub_grade: SubGrade | None = None
    lifecycle: Literal["published", "withdrawn", "deleted"] = "published"
    record_count: Annotated[int, Field(ge=0, le=2**53 - 1)] | None = None
    table: TableIn | None = None
    fields: Annotated[list[FieldIn], Field(max_length=500)] = []


class AssetUpdate(BaseModel):
    """Metadata to change (a field's grade is kept; the asset's grade changes only by `PUT .../grade`)."""

    name: Name | None = None
    name_en: Annotated[str, Field(max_length=200)] | None = None
    region: Short | None = None
    lifecycle: Literal["published", "withdrawn", "deleted"] | None = None
    record_count: Annotated[int, Field(ge=0, le=2**53 - 1)] | None = None
    table: TableIn | None = None
    fields: Annotated[list[FieldIn], Field(max_length=500)] | None = None


class FieldPublic(BaseModel):
    """A field as the catalog knows it."""

    name: str
    type: str
    description: str
    grade: Grade | None
    sub_grade: int | None


class AssetPublic(BaseModel):
    """An asset with its grade (GB/T 43697-2024) and fields."""

    id: str
    name: str
    name_en: str
    owner: str
    region: str
    grade: Grade
    sub_grade: int | None
    lifecycle: str
    record_count: int | None
    table: TableIn | None
    fields: list[FieldPublic]
    created_at: str | None
    updated_at: str | None


class GradeChangePublic(BaseModel):
    """One grade change: who, why, before and after."""

    field: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    actor: str
    at: str


class AssetDetail(AssetPublic):
    """An asset with its grade history, latest discovery evidence and open proposals."""

    grade_history: list[GradeChangePublic]
    discovery: dict[str, Any] | None
    proposals: list[dict[str, Any]]


class GradeChange(BaseModel):
    """A new grade, and why (ledgered with who and the grade before)."""

    grade: Grade | None = Field(default=None, description="null clears a field's own grade")
    sub_grade: SubGrade | None = None
    field: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reason: Reason


class DiscoveryRun(BaseModel):
    """Sample records (at most 1,000) to look for sensitive values in; empty: the field names only."""

    samples: Annotated[list[dict[str, Any]], Field(max_length=1000)] = []


class ProposalPublic(BaseModel):
    """A change proposed by a provider event."""

    id: str
    asset_id: str
    kind: str
    source: str
    document: dict[str, Any]
    status: str
    created_at: str
    decided_by: str | None
    decided_at: str | None
    note: str


class ProposalAccept(BaseModel):
    """What the acceptor adds or changes (a new dataset needs `grade` and `region`)."""

    grade: Grade | None = None
    sub_grade: SubGrade | None = None
    region: Short | None = None
    name: Name | None = None


class ProposalReject(BaseModel):
    """Why the proposal is rejected."""

    note: Reason


class DepartmentPublic(BaseModel):
    """A department and its members' user names."""

    id: str
    name: str
    name_en: str
    members: list[str]


class Members(BaseModel):
    """Every member of the department (user names)."""

    members: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=1000)]


class ImportDocument(BaseModel):
    """A catalog document in the catalog file's form (`collectors.catalog`)."""

    document: dict[str, Any]
    source: Annotated[str, Field(min_length=1, max_length=200)] = "api"


class ImportResult(BaseModel):
    """What an import did."""

    departments: int
    added: list[str]
    updated: list[str]
    regraded: list[str]


def asset_public(asset: Asset) -> AssetPublic:
    """The API view of an asset."""
    return AssetPublic.model_validate(asset.to_dict())


def proposal_public(proposal: Proposal) -> ProposalPublic:
    """The API view of a proposal."""
    return ProposalPublic(
        id=proposal.id,
        asset_id=proposal.asset_id,
        kind=proposal.kind,
        source=proposal.source,
        document=dict(proposal.document),
        status=proposal.status,
        created_at=format_timestamp(proposal.created_at),
        decided_by=proposal.decided_by,
        decided_at=format_timestamp(proposal.decided_at) if proposal.decided_at else None,
        note=proposal.note,
    )


@router.get("/assets", response_model=Page[AssetPublic])
def list_assets(
    actor: Annotated[Actor, require(Permission.CATALOG_READ)],
    services: Services,
    grade: Grade | None = None,
    owner: Annotated[str | None, Field(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AssetPublic]:
    """The catalog (数据资源目录) with grades, by id."""
    after = decode_cursor(cursor, (str,))
    assets = governance(services).catalog.store.assets(
        grade=grade, owner=owner, after=after[0] if after else None, limit=limit + 1
    )
    more = len(assets) > limit
    assets = assets[:limit]
    return Page[AssetPublic](
        items=[asset_public(a) for a in assets],
        next_cursor=encode_cursor([assets[-1].id]) if more and assets else None,
    )


@router.post("/assets", status_code=201, response_model=AssetPublic)
def register_asset(
    body: AssetCreate, actor: Annotated[Actor, require(Permission.CATALOG_MANAGE)], services: Services
) -> AssetPublic:
    """Register an asset (登记数据资源)."""
    asset = governance(services).catalog.register(actor, body.model_dump(), now=services.clock())
    return asset_public(asset)


@router.get("/assets/{asset_id}", response_model=AssetDetail)
def get_asset(
    asset_id: AssetId, actor: Annotated[Actor, require(Permission.CATALOG_READ)], services: Services
) -> AssetDetail:
    """An asset with its grade history, latest discovery evidence and open proposals."""
    catalog = governance(services).catalog
    asset = catalog.asset(asset_id)
    history = [
        GradeChangePublic(
            field=h.field,
            before={"grade": h.before[0], "sub_grade": h.before[1]},
            after={"grade": h.after[0], "sub_grade": h.after[1]},
            reason=h.reason,
            actor=h.actor,
            at=format_timestamp(h.at),
        )
        for h in catalog.history(asset_id)
    ]
    proposals = [
        proposal_public(p).model_dump()
        for p in catalog.store.proposals(status="open")
        if p.asset_id == asset_id
    ]
    return AssetDetail(
        **asset_public(asset).model_dump(),
        grade_history=history,
        discovery=catalog.store.latest_discovery(asset_id),
        proposals=proposals,
    )


@router.patch("/assets/{asset_id}", response_model=AssetPublic)
def update_asset(
    asset_id: AssetId,
    body: AssetUpdate,
    actor: Annotated[Actor, require(Permission.CATALOG_MANAGE)],
    services: Services,
) -> AssetPublic:
    """Change an asset's metadata or fields (变更数据资源)."""
    changes = body.model_dump(exclude_none=True)
    return asset_public(governance(services).catalog.update(actor, asset_id, changes, now=services.clock()))


@router.put("/assets/{asset_id}/grade", response_model=AssetPublic)
def set_grade(
    asset_id: AssetId,
    body: GradeChange,
    actor: Annotated[Actor, require(Permission.CLASSIFICATION_MANAGE)],
    services: Services,
) -> AssetPublic:
    """Set the grade of an asset or one of its fields (定级), ledgered with who, why and before."""
    asset = governance(services).catalog.set_grade(
        actor,
        asset_id,
        body.grade,
        body.sub_grade,
        reason=body.reason,
        now=services.clock(),
        field=body.field,
    )
    return asset_public(asset)


@router.post("/assets/{asset_id}/discovery", response_model=dict[str, Any])
def run_discovery(
    asset_id: AssetId,
    body: DiscoveryRun,
    actor: Annotated[Actor, require(Permission.CLASSIFICATION_MANAGE)],
    services: Services,
) -> dict[str, Any]:
    """Look for sensitive values (敏感数据识别): the suggested grade with its evidence, never applied."""
    found = governance(services).catalog.discover(actor, asset_id, body.samples, now=services.clock())
    return found.to_dict()


@router.get("/proposals", response_model=list[ProposalPublic])
def list_proposals(
    actor: Annotated[Actor, require(Permission.CATALOG_READ)],
    services: Services,
    status: Literal["open", "accepted", "rejected"] | None = None,
) -> list[ProposalPublic]:
    """Catalog changes proposed by provider events (newest first, at most 200)."""
    return [proposal_public(p) for p in governance(services).catalog.store.proposals(status=status)]


@router.post("/proposals/{proposal_id}/accept", response_model=AssetPublic)
def accept_proposal(
    proposal_id: Annotated[str, Field(max_length=200)],
    body: ProposalAccept,
    actor: Annotated[Actor, require(Permission.CLASSIFICATION_MANAGE)],
    services: Services,
) -> AssetPublic:
    """Accept a proposal (采纳): a regrade, or a new dataset with what you add."""
    changes = body.model_dump(exclude_none=True)
    asset = governance(services).catalog.accept(actor, proposal_id, now=services.clock(), changes=changes)
    return asset_public(asset)


@router.post("/proposals/{proposal_id}/reject", status_code=204)
def reject_proposal(
    proposal_id: Annotated[str, Field(max_length=200)],
    body: ProposalReject,
    actor: Annotated[Actor, require(Permission.CLASSIFICATION_MANAGE)],
    services: Services,
) -> None:
    """Reject a proposal (驳回)."""
    governance(services).catalog.reject(actor, proposal_id, note=body.note, now=services.clock())


@router.get("/departments", response_model=list[DepartmentPublic])
def list_departments(
    actor: Annotated[Actor, require(Permission.CATALOG_READ)], services: Services
) -> list[DepartmentPublic]:
    """Departments (部门) and their members."""
    gov = governance(services)
    return [
        DepartmentPublic(
            id=d.id,
            name=d.name,
            name_en=d.name_en,
            members=sorted(gov.identity.get(a).username for a in gov.catalog.store.members(d.id)),
        )
        for d in gov.catalog.store.departments()
    ]


@router.put("/departments/{department_id}/members", response_model=DepartmentPublic)
def set_members(
    department_id: Annotated[str, Field(min_length=1, max_length=64)],
    body: Members,
    actor: Annotated[Actor, require(Permission.CATALOG_MANAGE)],
    services: Services,
) -> DepartmentPublic:
    """Set a department's members (a security administrator): who approves for it."""
    gov = governance(services)
    gov.catalog.set_members(actor, department_id, body.members, now=services.clock())
    found = next(d for d in gov.catalog.store.departments() if d.id == department_id)
    members = sorted(gov.identity.get(a).username for a in gov.catalog.store.members(department_id))
    return DepartmentPublic(id=found.id, name=found.name, name_en=found.name_en, members=members)


@router.post("/import", response_model=ImportResult)
def import_catalog(
    body: ImportDocument, actor: Annotated[Actor, require(Permission.CATALOG_MANAGE)], services: Services
) -> ImportResult:
    """Import a catalog document (a security administrator): the network plan, departments, datasets."""
    report = governance(services).catalog.import_document(
        actor, body.document, now=services.clock(), source=body.source
    )
    return ImportResult(
        departments=report.departments,
        added=list(report.added),
        updated=list(report.updated),
        regraded=list(report.regraded),
    )
