"""`/api/v1/tokens`: machine identities (API tokens with scopes, ingest tokens for a source)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from soc_api.identity.actors import Actor
from soc_api.identity.records import TokenRecord
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    """A new token: `api` with scopes (a subset of your permissions), or `ingest` for a source."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    kind: Literal["api", "ingest"] = "api"
    scopes: Annotated[list[Permission], Field(max_length=32)] = []
    source: Annotated[str | None, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")] = None
    parser: Annotated[str | None, Field(max_length=64)] = None
    expires_at: Instant | None = None


class TokenPublic(BaseModel):
    """A token as listed (its secret is never shown again)."""

    id: str
    name: str
    kind: str
    scopes: list[Permission]
    source: str | None
    parser: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenIssued(TokenPublic):
    """A new token with its secret, shown this once."""

    token: str


def public(record: TokenRecord) -> TokenPublic:
    """The API view of a token."""
    return TokenPublic(
        id=record.id,
        name=record.name,
        kind=record.kind,
        scopes=sorted(record.scopes),
        source=record.source,
        parser=record.parser,
        created_at=record.created_at,
        created_by=record.created_by,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        last_used_at=record.last_used_at,
    )


@router.get("", response_model=Page[TokenPublic])
def list_tokens(
    actor: Annotated[Actor, require(Permission.TOKENS_READ)],
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: Literal["api", "ingest"] | None = None,
) -> Page[TokenPublic]:
    """Tokens (令牌), by id."""
    after = decode_cursor(cursor, (str,))
    records = services.identity.store.tokens(limit=limit + 1, after=after[0] if after else None, kind=kind)
    more = len(records) > limit
    records = records[:limit]
    return Page[TokenPublic](
        items=[public(r) for r in records],
        next_cursor=encode_cursor([records[-1].id]) if more and records else None,
    )


@router.post("", status_code=201, response_model=TokenIssued)
def create_token(
    body: TokenCreate, actor: Annotated[Actor, require(Permission.TOKENS_CREATE)], services: Services
) -> TokenIssued:
    """Issue a token (签发令牌); the secret is in this answer only."""
    issued = services.identity.tokens.create(
        actor,
        name=body.name,
        kind=body.kind,
        scopes=body.scopes,
        source=body.source,
        parser=body.parser,
        expires_at=body.expires_at,
        now=services.clock(),
    )
    return TokenIssued(**public(issued.record).model_dump(), token=issued.secret)


@router.delete("/{token_id}", status_code=204)
def revoke_token(
    token_id: str, actor: Annotated[Actor, require(Permission.TOKENS_REVOKE)], services: Services
) -> Response:
    """Revoke a token (吊销); collectors refuse it within about a second."""
    services.identity.tokens.revoke(actor, token_id[:64], now=services.clock())
    return Response(status_code=204)
