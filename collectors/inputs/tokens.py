"""Per-source API tokens for HTTP ingest, stored only as digests.

A token is a random secret handed to one source. Configuration holds `sha256:<hex>` of it and the
source (and optionally the parser) it stands for, so a leaked configuration file grants nothing.
Tokens are high-entropy random strings, not passwords, so a plain SHA-256 digest is enough: there
is nothing to brute-force that a slow KDF would protect.

The presented token's digest is compared with every stored digest by `hmac.compare_digest`,
without stopping at a match, so the time taken says nothing about which or how many digests
nearly matched (sources number in the tens, so the linear scan costs nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from collectors.inputs.errors import AuthError, InputConfigError

_PREFIX = "sha256:"
_MIN_TOKEN_CHARS = 16


def hash_token(token: str) -> str:
    """The stored form of a token: `sha256:<hex>` of its UTF-8 bytes."""
    return _PREFIX + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(nbytes: int = 32) -> str:
    """A fresh random token (URL-safe); store `hash_token(token)`, hand the token to the source."""
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a valid token stands for: the source name and, for native lines, the parser name."""

    source: str
    parser: str | None = None


class TokenAuthority(Protocol):
    """What the HTTP input asks about a request's token: its grant at `now`, else `AuthError`.

    `TokenStore` (a fixed set, e.g. from `collect.tokens_file`) is one; the platform's state store
    (expiry, revocation while running) is another, built by the composition root.
    """

    def authenticate(self, authorization: str | None, now: datetime) -> TokenGrant:
        """The grant of an `Authorization: Bearer <token>` header at `now`, else `AuthError`."""
        ...


@dataclass(frozen=True)
class TokenStore:
    """Digest -> grant. Build with `from_dict` (configuration) or `from_tokens` (tests, bootstrap)."""

    grants: Mapping[str, TokenGrant]

    def __repr__(self) -> str:
        return f"TokenStore({len(self.grants)} tokens)"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenStore:
        """`{"sha256:<hex>": {"source": "gw-1", "parser": "apigw_json"}, ...}`, validated."""
        grants: dict[str, TokenGrant] = {}
        for digest, entry in data.items():
            where = f"tokens[{digest[:16]}...]"
            if not isinstance(digest, str) or not digest.startswith(_PREFIX) or len(digest) != 71:
                raise InputConfigError(where, "a token digest must be 'sha256:' and 64 hex digits")
            if (
                not isinstance(entry, Mapping)
                or not isinstance(entry.get("source"), str)
                or not entry["source"]
            ):
                raise InputConfigError(where, "needs a non-empty 'source'")
            parser = entry.get("parser")
            if parser is not None and not isinstance(parser, str):
                raise InputConfigError(where, "'parser' must be a parser name")
            grants[digest.lower()] = TokenGrant(source=entry["source"], parser=parser)
        return cls(grants)

    @classmethod
    def from_tokens(cls, tokens: Mapping[str, TokenGrant]) -> TokenStore:
        """Hash plain tokens (kept nowhere) into a store."""
        for token in tokens:
            if len(token) < _MIN_TOKEN_CHARS:
                raise InputConfigError("tokens", f"a token must have at least {_MIN_TOKEN_CHARS} characters")
        return cls({hash_token(token): grant for token, grant in tokens.items()})

    def authenticate(self, authorization: str | None, now: datetime | None = None) -> TokenGrant:
        """Grant of an `Authorization: Bearer <token>` header, else `AuthError` with a reason
        (these tokens never expire: `now` is accepted for `TokenAuthority` and not used)."""
        if not authorization:
            raise AuthError("missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("Authorization must be 'Bearer <token>'")
        digest = hash_token(token)
        found: TokenGrant | None = None
        for stored, grant in self.grants.items():
            if hmac.compare_digest(stored, digest):
                found = grant
        if found is None:
            raise AuthError("unknown token")
        return found
