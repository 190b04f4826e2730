"""Per-source tokens: stored as digests, checked in constant time, never echoed."""

from __future__ import annotations

import pytest

from collectors.inputs.errors import AuthError, InputConfigError
from collectors.inputs.tokens import TokenGrant, TokenStore, hash_token, new_token

TOKEN = "gw1-secret-token-0123456789"


def test_store_holds_only_digests_and_authenticates_bearer_tokens() -> None:
    store = TokenStore.from_tokens({TOKEN: TokenGrant("gw-1", "apigw_json")})
    assert list(store.grants) == [hash_token(TOKEN)]
    assert TOKEN not in repr(store)
    assert store.authenticate(f"Bearer {TOKEN}") == TokenGrant("gw-1", "apigw_json")
    assert store.authenticate(f"bearer  {TOKEN} ") == TokenGrant("gw-1", "apigw_json")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        (f"Basic {TOKEN}", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer wrong-token-0123456789", "unknown"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_them(header: str | None, reason: str) -> None:
    store = TokenStore.from_tokens({TOKEN: TokenGrant("gw-1")})
    with pytest.raises(AuthError) as caught:
        store.authenticate(header)
    assert reason in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert "wrong-token" not in str(caught.value)
    assert caught.value.status == 401


def test_from_dict_validates_configuration() -> None:
    digest = hash_token(TOKEN)
    store = TokenStore.from_dict({digest: {"source": "gw-1", "parser": None}})
    assert store.authenticate(f"Bearer {TOKEN}").source == "gw-1"
    for bad in (
        {"md5:abc": {"source": "x"}},
        {digest: {"parser": "x"}},
        {digest: {"source": "x", "parser": 3}},
    ):
        with pytest.raises(InputConfigError):
            TokenStore.from_dict(bad)
    with pytest.raises(InputConfigError):
        TokenStore.from_tokens({"short": TokenGrant("x")})


def test_new_tokens_are_random_and_long() -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert len(first) >= 40
