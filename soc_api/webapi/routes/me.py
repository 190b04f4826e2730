"""`/api/v1/me`: self-service of the signed-in person: second-factor enrolment and password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import CurrentUser, EnrollingUser, Services

router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["me"])


class EnrolmentPublic(BaseModel):
    """A TOTP secret to add to an authenticator app (scan `qr_svg` or type `secret`)."""

    secret: str
    uri: str
    qr_svg: str


class Code(BaseModel):
    """A 6-digit TOTP code."""

    code: Annotated[str, Field(min_length=6, max_length=16)]


class RecoveryCodes(BaseModel):
    """One-time recovery codes, shown once: keep them offline."""

    recovery_codes: list[str]


class PasswordChange(BaseModel):
    """The current password and the new one."""

    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Annotated[str, Field(min_length=1, max_length=1024)]


@router.post("/second-factor", status_code=201, response_model=EnrolmentPublic)
def begin_enrolment(actor: EnrollingUser, services: Services) -> EnrolmentPublic:
    """Start enrolling a TOTP second factor (绑定动态口令)."""
    enrolment = services.identity.signin.begin_enrolment(actor, now=services.clock())
    return EnrolmentPublic(secret=enrolment.secret, uri=enrolment.uri, qr_svg=enrolment.qr_svg)


@router.post("/second-factor/confirm", response_model=RecoveryCodes)
def confirm_enrolment(body: Code, actor: EnrollingUser, services: Services) -> RecoveryCodes:
    """Confirm the enrolment with a first code; answers the recovery codes (shown once)."""
    codes = services.identity.signin.confirm_enrolment(actor, body.code, now=services.clock())
    return RecoveryCodes(recovery_codes=codes)


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, actor: CurrentUser, services: Services) -> Response:
    """Change one's own password (修改密码): policy and the last passwords apply."""
    services.identity.signin.change_password(
        actor, body.current_password, body.new_password, now=services.clock()
    )
    return Response(status_code=204)
