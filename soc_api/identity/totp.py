"""TOTP second factor (RFC 6238 over RFC 4226) with pyotp, and one-time recovery codes (pure).

`match_totp` accepts the code of the current 30-second step or of the steps `window` either side
(clock skew; RFC 6238 §5.2 recommends at most one step), and returns the step it matched so the
caller can refuse a code already used (RFC 6238 §5.2: one-time use within its validity).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

import pyotp

from crypto.recipes import sm3_hex

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "datasoc"
RECOVERY_CODES = 10


def new_secret(rng: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh 160-bit TOTP secret in base32 (RFC 4226 §4 recommends 160 bits)."""
    return base64.b32encode(rng(20)).decode("ascii")


def provisioning_uri(secret: str, username: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def counter_at(now: datetime) -> int:
    """The TOTP time step of `now` (RFC 6238 §4.2: T = floor(unix time / 30))."""
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, counter: int) -> str:
    """The code of step `counter` (for tests and the demo's printed codes)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(counter)


def match_totp(
    secret: str, code: str, now: datetime, *, window: int = 1, last_counter: int = -1
) -> int | None:
    """The step `code` belongs to within `window` steps of `now`, else None.

    Steps at or before `last_counter` (already used) never match. Every candidate is compared in
    constant time, without stopping at a match.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = counter_at(now)
    found: int | None = None
    for counter in range(current - window, current + window + 1):
        if hmac.compare_digest(otp.generate_otp(counter), code) and counter > last_counter:
            found = counter
    return found


def new_recovery_codes(
    rng: Callable[[int], bytes] = secrets.token_bytes, count: int = RECOVERY_CODES
) -> list[str]:
    """`count` one-time recovery codes of 80 random bits, `XXXX-XXXX-XXXX-XXXX` (base32)."""
    codes = []
    for _ in range(count):
        text = base64.b32encode(rng(10)).decode("ascii")
        codes.append("-".join(text[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_digest(code: str) -> str:
    """Stored form of a recovery code: `sm3:<hex>` of its normalised text (80 random bits: a fast
    digest is enough, there is nothing to brute-force that a slow KDF would protect)."""
    normal = code.strip().upper().replace("-", "").replace(" ", "")
    return sm3_hex(normal.encode("ascii", "replace"))
