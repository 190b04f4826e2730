"""Machine identities: ingest tokens from the state store (expiry, revocation seen within the refresh
interval, batched last use) and from `collect.tokens_file` (re-read on change, a broken edit keeps
the previous tokens)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from collectors.inputs.errors import AuthError
from collectors.inputs.tokens import hash_token
from soc_api.identity.actors import Actor
from soc_api.identity.errors import InvalidRequestError
from soc_api.identity.machine import IngestTokens
from tests.soc_api.identity_env import Env

CLI = Actor.cli("root")


def test_revocation_takes_effect_within_the_refresh_interval(env: Env) -> None:
    issued = env.identity.tokens.create(
        CLI, name="gw", kind="ingest", source="gw-1", parser="apigw_json", now=env.clock()
    )
    tokens = IngestTokens(env.identity.store, refresh=timedelta(seconds=1))
    header = f"Bearer {issued.secret}"
    grant = tokens.authenticate(header, env.clock())
    assert (grant.source, grant.parser) == ("gw-1", "apigw_json")
    env.identity.tokens.revoke(CLI, issued.record.id, now=env.clock())
    # Within the refresh interval the cached set may still answer; one interval later it cannot.
    tokens.authenticate(header, env.clock() + timedelta(milliseconds=500))
    with pytest.raises(AuthError, match="revoked"):
        tokens.authenticate(header, env.clock() + timedelta(seconds=1))
    assert tokens.reloads == 2
    assert [e["kind"] for e in env.entries("admin.token")] == ["admin.token_created", "admin.token_revoked"]


def test_expired_and_unknown_tokens_are_refused(env: Env) -> None:
    issued = env.identity.tokens.create(
        CLI,
        name="short",
        kind="ingest",
        source="gw-1",
        expires_at=env.clock() + timedelta(hours=1),
        now=env.clock(),
    )
    tokens = IngestTokens(env.identity.store)
    tokens.authenticate(f"Bearer {issued.secret}", env.clock())
    with pytest.raises(AuthError, match="expired"):
        tokens.authenticate(f"Bearer {issued.secret}", env.clock() + timedelta(hours=1))
    with pytest.raises(AuthError, match="unknown"):
        tokens.authenticate("Bearer not-a-token-0123456789", env.clock())
    with pytest.raises(AuthError, match="Bearer"):
        tokens.authenticate("Basic abc", env.clock())


def test_last_use_is_written_in_batches(env: Env) -> None:
    issued = env.identity.tokens.create(CLI, name="gw", kind="ingest", source="gw-1", now=env.clock())
    tokens = IngestTokens(env.identity.store, flush_every=timedelta(seconds=30))
    for second in range(0, 61, 5):
        tokens.authenticate(f"Bearer {issued.secret}", env.clock() + timedelta(seconds=second))
    used = env.identity.store.token(issued.record.id).last_used_at
    # Flushed at 0 s and 30 s and 60 s only: never once per request.
    assert used == env.clock() + timedelta(seconds=60)


def test_ingest_tokens_are_checked_when_made(env: Env) -> None:
    with pytest.raises(InvalidRequestError, match="unknown parser"):
        env.identity.tokens.create(CLI, name="x", kind="ingest", source="s", parser="nope", now=env.clock())
    with pytest.raises(InvalidRequestError, match="needs a source"):
        env.identity.tokens.create(CLI, name="x", kind="ingest", now=env.clock())
    with pytest.raises(InvalidRequestError, match="future"):
        env.identity.tokens.create(
            CLI, name="x", kind="ingest", source="s", expires_at=env.clock(), now=env.clock()
        )
    denied = env.entries("admin.token_created")
    assert len(denied) == 3
    assert all(e["payload"]["outcome"] == "denied" for e in denied)  # type: ignore[index]


def test_the_tokens_file_is_reread_on_change_and_a_broken_edit_keeps_the_old_tokens(tmp_path: Path) -> None:
    from tests.soc_api.identity_env import T0

    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({hash_token("file-token-0123456789"): {"source": "host-1"}}))
    tokens = IngestTokens(None, tokens_file=path, refresh=timedelta(seconds=1))
    assert tokens.authenticate("Bearer file-token-0123456789", T0).source == "host-1"
    path.write_text(json.dumps({hash_token("other-token-0123456789"): {"source": "host-2"}}))
    later = T0 + timedelta(seconds=2)
    assert tokens.authenticate("Bearer other-token-0123456789", later).source == "host-2"
    with pytest.raises(AuthError):
        tokens.authenticate("Bearer file-token-0123456789", later)
    path.write_text("{broken")
    assert (
        tokens.authenticate("Bearer other-token-0123456789", later + timedelta(seconds=2)).source == "host-2"
    )
