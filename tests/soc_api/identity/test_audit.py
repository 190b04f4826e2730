"""The platform audit's search index: derived from the ledger, repaired from it, searched by
actor, action (or family), target, time and outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest

from soc_api.identity.audit import AuditQuery, catch_up_index, search_audit
from soc_api.identity.errors import AuthenticationError
from soc_api.identity.roles import Role
from tests.soc_api.identity_env import Env


def test_the_index_is_rebuilt_from_the_ledger_after_it_lost_rows(env: Env) -> None:
    env.add_user("amy", Role.VIEWER)
    env.clock.advance(minutes=1)
    env.identity.signin.sign_in("amy", "Correct-Horse-42", peer="10.0.0.1", now=env.clock())
    before = search_audit(env.state, AuditQuery(limit=100))
    assert before
    with env.state.write() as conn:
        conn.execute("DELETE FROM audit_index")
    assert search_audit(env.state, AuditQuery(limit=100)) == []
    assert catch_up_index(env.state, env.ledger) == len(before)
    assert search_audit(env.state, AuditQuery(limit=100)) == before
    assert catch_up_index(env.state, env.ledger) == 0  # it resumes where it stopped


def test_search_by_family_actor_outcome_and_time(env: Env) -> None:
    env.add_user("bob", Role.VIEWER)
    start = env.clock()
    env.clock.advance(minutes=5)
    with pytest.raises(AuthenticationError):  # the failure is what is searched for
        env.identity.signin.sign_in("bob", "wrong-password", peer="10.0.0.1", now=env.clock())
    env.identity.signin.sign_in("bob", "Correct-Horse-42", peer="10.0.0.1", now=env.clock())
    logins = search_audit(env.state, AuditQuery(action="login.*", limit=10))
    assert [r.kind for r in logins] == ["login.success", "login.failure"]  # newest first
    denied = search_audit(env.state, AuditQuery(actor="user:bob", outcome="denied", limit=10))
    assert [r.kind for r in denied] == ["login.failure"]
    early = search_audit(env.state, AuditQuery(end=start + timedelta(minutes=1), limit=10))
    assert [r.kind for r in early] == ["admin.user_created"]
    created = search_audit(env.state, AuditQuery(target=early[0].subject, limit=10))
    assert [r.seq for r in created] == [early[0].seq]
    assert search_audit(env.state, AuditQuery(action="login_%", limit=10)) == []  # no LIKE injection
