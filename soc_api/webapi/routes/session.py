"""`/api/v1/session`: sign in (password, then the second factor), look at, and end a session."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from soc_api.identity.errors import AuthenticationError
from soc_api.identity.roles import ROLE_TITLES, permissions_of
from soc_api.identity.signin import SignedIn
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import CurrentUser, Services, peer_of

router = APIRouter(prefix=f"{API_PREFIX}/session", tags=["session"])


class Credentials(BaseModel):
    """User name and password."""

    username: Annotated[str, Field(min_length=1, max_length=128)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class SecondFactor(BaseModel):
    """A TOTP code, or one of the one-time recovery codes."""

    code: Annotated[str | None, Field(max_length=16)] = None
    recovery_code: Annotated[str | None, Field(max_length=32)] = None


class SessionPublic(BaseModel):
    """Who is signed in and what the session may do. `csrf_token` only when a session is created."""

    username: str
    display_name: str
    stage: str = Field(description="`mfa`: send the second factor; `enrol`: enrol one first; `full`")
    roles: list[str]
    role_titles: list[str]
    permissions: list[str]
    csrf_token: str | None = Field(
        default=None, description="Send as `X-CSRF-Token` on state-changing requests"
    )


def _public(signed: SignedIn, *, with_csrf: bool) -> SessionPublic:
    account = signed.account
    roles = sorted(account.roles)
    return SessionPublic(
        username=account.username,
        display_name=account.display_name,
        stage=signed.stage.value,
        roles=[r.value for r in roles],
        role_titles=[ROLE_TITLES[r] for r in roles],
        permissions=sorted(p.value for p in permissions_of(account.roles))
        if signed.stage.value == "full"
        else [],
        csrf_token=signed.csrf if with_csrf else None,
    )


def _set_cookie(response: Response, services: ApiServices, session_id: str) -> None:
    config = services.config
    response.set_cookie(
        config.cookie_name,
        session_id,
        httponly=True,
        secure=config.cookie_secure,
        samesite="strict",
        path="/",
        max_age=int(services.identity.config.sessions.absolute.total_seconds()),
    )


def _slots(request: Request) -> asyncio.Semaphore:
    """Sign-ins waiting for an argon2 slot wait here, on the event loop, not in a worker thread:
    a burst of sign-ins must not take every thread from the people browsing lists."""
    slots: asyncio.Semaphore = request.app.state.signin_slots
    return slots


@router.post("", status_code=201, response_model=SessionPublic)
async def sign_in(
    credentials: Credentials, request: Request, response: Response, services: Services
) -> SessionPublic:
    """Sign in with a password (登录). The session cookie is set; `stage` says what comes next."""
    async with _slots(request):
        signed = await run_in_threadpool(
            services.identity.signin.sign_in,
            credentials.username,
            credentials.password,
            peer=peer_of(request, services),
            now=services.clock(),
        )
    _set_cookie(response, services, signed.session_id)
    return _public(signed, with_csrf=True)


@router.post("/second-factor", response_model=SessionPublic)
def second_factor(
    body: SecondFactor, request: Request, response: Response, services: Services
) -> SessionPublic:
    """Finish sign-in with a TOTP code or a recovery code; the session id and CSRF token are renewed."""
    session_id = request.cookies.get(services.config.cookie_name) or ""
    if not body.code and not body.recovery_code:
        raise AuthenticationError("send `code` or `recovery_code`")
    signed = services.identity.signin.second_factor(
        session_id, code=body.code, recovery_code=body.recovery_code, now=services.clock()
    )
    _set_cookie(response, services, signed.session_id)
    return _public(signed, with_csrf=True)


@router.get("", response_model=SessionPublic)
def current(request: Request, services: Services) -> SessionPublic:
    """The current session, at any stage of sign-in (登录状态)."""
    session_id = request.cookies.get(services.config.cookie_name) or ""
    session, account = services.identity.signin.session_of(session_id, services.clock())
    return _public(SignedIn(session_id, "", session.stage, account), with_csrf=False)


@router.delete("", status_code=204)
def sign_out(actor: CurrentUser, response: Response, services: Services) -> Response:
    """Sign out (退出): the session ends and its cookie is cleared."""
    services.identity.signin.sign_out(actor, now=services.clock())
    answer = Response(status_code=204)
    answer.delete_cookie(
        services.config.cookie_name,
        path="/",
        secure=services.config.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return answer
