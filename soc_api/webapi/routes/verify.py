"""`POST /api/v1/audit/verify`: check an uploaded export bundle against a public key (校验导出包).

The upload is the bundle's bytes as the request body (`application/zip`), streamed into a private
temporary file and refused past `ApiServices.verify_max_bytes` (413) before it is read whole;
the public key is the PEM the auditor trusts, base64 in the `public_key` query parameter. The
check is `audit.bundle_verify.verify_bundle` over those bytes alone: the live ledger is never read
or written. The answer lists every step of the verification (`audit.bundle_verify.STEPS`) with
its outcome: passed, failed (with the reason), or not reached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from audit.bundle_verify import STEPS, BundleReport, bundled_public_key, verify_bundle
from audit.errors import BundleError
from crypto.errors import CryptoError
from crypto.recipes import public_key_id
from soc_api.identity.actors import Actor
from soc_api.identity.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import Services, require

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])
_CHUNK = 1 << 16


class VerifyStep(BaseModel):
    """One step of the bundle verification and its outcome."""

    number: int
    name_zh: str
    name_en: str
    outcome: Literal["passed", "failed", "not_reached"]
    detail: str | None = None


class VerifyResult(BaseModel):
    """The outcome of verifying a bundle under the given key."""

    ok: bool
    trusted_key_id: str
    bundle_key_id: str | None
    entries: int
    tree_size: int
    origin: str
    root: str
    checkpoint_time: str
    complete: bool
    statement_zh: str
    statement_en: str
    failure: str | None
    steps: list[VerifyStep]


def steps_of(report: BundleReport) -> list[VerifyStep]:
    """Each step with its outcome: all passed when the report is ok, else up to the failed one."""
    out = []
    for number, (zh, en) in enumerate(STEPS, start=1):
        if report.ok or report.failed_step is None or number < report.failed_step:
            out.append(VerifyStep(number=number, name_zh=zh, name_en=en, outcome="passed"))
        elif number == report.failed_step:
            out.append(
                VerifyStep(number=number, name_zh=zh, name_en=en, outcome="failed", detail=report.failure)
            )
        else:
            out.append(VerifyStep(number=number, name_zh=zh, name_en=en, outcome="not_reached"))
    return out


def _trusted_key(public_key: str) -> tuple[bytes, str]:
    try:
        pem = base64.b64decode(public_key, validate=True)
        return pem, public_key_id(pem)
    except (binascii.Error, ValueError, CryptoError):
        raise InvalidRequestError(
            "public_key 须为 PEM 公钥的 base64 / public_key must be the base64 of a PEM public key"
        ) from None


@router.post(
    "/verify",
    response_model=VerifyResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def verify_upload(
    request: Request,
    who: Annotated[Actor, require(Permission.AUDIT_READ)],
    services: Services,
    public_key: Annotated[str, Query(min_length=1, max_length=8192, description="base64 of the PEM")],
) -> VerifyResult:
    """Verify an uploaded export bundle under the trusted public key, step by step (离线校验)."""
    pem, trusted_id = _trusted_key(public_key)
    cap = services.verify_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLargeError(f"上传超过 {cap} 字节 / the upload is over {cap} bytes")
    with tempfile.TemporaryFile(prefix="datasoc-verify-") as spill:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise PayloadTooLargeError(f"上传超过 {cap} 字节 / the upload is over {cap} bytes")
            spill.write(chunk)
        if size == 0:
            raise InvalidRequestError("请求体为空：请上传导出包 / the body is empty: upload a bundle")
        spill.seek(0)
        data = spill.read()
    report = await asyncio.to_thread(verify_bundle, data, pem)
    try:
        bundle_key: str | None = bundled_public_key(data)[1]
    except BundleError:
        bundle_key = None
    return VerifyResult(
        ok=report.ok,
        trusted_key_id=trusted_id,
        bundle_key_id=bundle_key,
        entries=report.entries,
        tree_size=report.tree_size,
        origin=report.origin,
        root=report.root,
        checkpoint_time=report.checkpoint_time,
        complete=report.complete,
        statement_zh=report.statement_zh,
        statement_en=report.statement_en,
        failure=report.failure,
        steps=steps_of(report),
    )


@router.get(
    "/public-key",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}}}}},
)
def ledger_public_key(who: Annotated[Actor, require(Permission.AUDIT_READ)], services: Services) -> Response:
    """The ledger's SM2 public key (PEM) that its checkpoints and exports verify under (账本公钥).

    An auditor should compare its key id with one obtained out of band before trusting it."""
    if services.signer is None:
        raise NotFoundError("this process does not hold the ledger key")
    pem = services.signer.public_key_pem()
    return Response(
        pem,
        media_type="application/x-pem-file",
        headers={
            "Content-Disposition": 'attachment; filename="ledger-pub.pem"',
            "X-Key-Id": public_key_id(pem),
        },
    )
