"""Sign-in over the real store and ledger: lockout and back-off, the second factor, recovery codes,
session expiry with a moved clock; every step ledgered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from soc_api.identity import totp
from soc_api.identity.errors import AuthenticationError, EnrolmentRequiredError, SecondFactorRequiredError
from soc_api.identity.roles import Role
from soc_api.identity.sessions import Stage
from tests.soc_api.identity_env import PASSWORD, Env


def _enrol(env: Env, username: str) -> tuple[str, list[str]]:
    """Sign in, enrol TOTP, return (secret, recovery codes)."""
    signed = env.identity.signin.sign_in(username, PASSWORD, peer="127.0.0.1", now=env.clock())
    assert signed.stage is Stage.ENROL
    actor = env.identity.signin.authenticate(signed.session_id, env.clock(), allow_enrol=True)
    enrolment = env.identity.signin.begin_enrolment(actor, now=env.clock())
    assert enrolment.uri.startswith("otpauth://totp/datasoc:")
    assert "<svg" in enrolment.qr_svg
    code = totp.code_at(enrolment.secret, totp.counter_at(env.clock()))
    codes = env.identity.signin.confirm_enrolment(actor, code, now=env.clock())
    # The enrolling session is now full.
    assert env.identity.signin.authenticate(signed.session_id, env.clock()).can
    return enrolment.secret, codes


def test_lockout_after_five_failures_backs_off_and_is_ledgered(env: Env) -> None:
    env.add_user("alice", Role.VIEWER)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            env.identity.signin.sign_in("alice", "wrong-password", peer="10.0.0.9", now=env.clock())
    account = env.identity.store.by_username("alice")
    assert account is not None
    assert account.failures == 5
    assert account.locked_until == env.clock() + timedelta(minutes=1)
    # Locked: even the right password is refused, without counting another failure.
    with pytest.raises(AuthenticationError):
        env.identity.signin.sign_in(
            "alice", PASSWORD, peer="10.0.0.9", now=env.clock() + timedelta(seconds=30)
        )
    env.clock.advance(minutes=1)
    with pytest.raises(AuthenticationError):  # a sixth failure doubles the lock
        env.identity.signin.sign_in("alice", "wrong-again", peer="10.0.0.9", now=env.clock())
    account = env.identity.store.by_username("alice")
    assert account is not None
    assert account.locked_until == env.clock() + timedelta(minutes=2)
    env.clock.advance(minutes=2)
    signed = env.identity.signin.sign_in("alice", PASSWORD, peer="10.0.0.9", now=env.clock())
    assert signed.stage is Stage.FULL
    assert env.identity.store.get(signed.account.id).failures == 0
    kinds = [e["kind"] for e in env.entries("login.")]
    assert kinds == ["login.failure"] * 4 + ["login.locked", "login.failure", "login.locked", "login.success"]
    denied = env.entries("login.failure")[4]
    assert denied["payload"]["reason"] == "locked"  # type: ignore[index]


def test_unknown_users_are_refused_like_wrong_passwords_and_ledgered(env: Env) -> None:
    with pytest.raises(AuthenticationError) as caught:
        env.identity.signin.sign_in("nobody", PASSWORD, peer="10.0.0.1", now=env.clock())
    assert "sign-in failed" in caught.value.detail
    (entry,) = env.entries("login.")
    assert entry["actor"] == "user:nobody"
    assert entry["payload"]["reason"] == "unknown_user"


def test_administrators_must_enrol_then_sign_in_with_totp_and_recovery_codes_work_once(env: Env) -> None:
    env.add_user("sys", Role.SYSTEM_ADMIN)
    # Before enrolment the session cannot do anything but enrol.
    signed = env.identity.signin.sign_in("sys", PASSWORD, peer="127.0.0.1", now=env.clock())
    with pytest.raises(EnrolmentRequiredError):
        env.identity.signin.authenticate(signed.session_id, env.clock())
    secret, codes = _enrol(env, "sys")
    env.clock.advance(minutes=1)
    pending = env.identity.signin.sign_in("sys", PASSWORD, peer="127.0.0.1", now=env.clock())
    assert pending.stage is Stage.MFA
    with pytest.raises(SecondFactorRequiredError):
        env.identity.signin.authenticate(pending.session_id, env.clock())
    code = totp.code_at(secret, totp.counter_at(env.clock()) - 1)  # one step of skew
    full = env.identity.signin.second_factor(
        pending.session_id, code=code, recovery_code=None, now=env.clock()
    )
    assert full.stage is Stage.FULL
    assert full.session_id != pending.session_id
    with pytest.raises(AuthenticationError):  # the half-signed-in id is gone
        env.identity.signin.session_of(pending.session_id, env.clock())
    # The same code cannot be replayed in another sign-in.
    again = env.identity.signin.sign_in("sys", PASSWORD, peer="127.0.0.1", now=env.clock())
    with pytest.raises(AuthenticationError):
        env.identity.signin.second_factor(again.session_id, code=code, recovery_code=None, now=env.clock())
    # A recovery code works once.
    first = env.identity.signin.second_factor(
        again.session_id, code=None, recovery_code=codes[0], now=env.clock()
    )
    assert first.stage is Stage.FULL
    third = env.identity.signin.sign_in("sys", PASSWORD, peer="127.0.0.1", now=env.clock())
    with pytest.raises(AuthenticationError):
        env.identity.signin.second_factor(
            third.session_id, code=None, recovery_code=codes[0], now=env.clock()
        )
    assert env.identity.store.recovery_codes_left(full.account.id) == 9
    kinds = [e["kind"] for e in env.entries("login.")]
    assert "login.mfa_enrolled" in kinds
    assert "login.mfa_enrolment_started" in kinds
    assert kinds.count("login.success") == 2


def test_totp_secrets_are_sealed_in_the_store(env: Env) -> None:
    env.add_user("sec", Role.SECURITY_ADMIN)
    secret, _ = _enrol(env, "sec")
    with env.state.read() as conn:
        (stored,) = conn.execute("SELECT totp_sealed FROM accounts WHERE username = 'sec'").fetchone()
    assert secret not in stored
    assert '"sealed": "sm4-gcm"' in stored
    dump = (env.root / "state.sqlite3").read_bytes() + (env.root / "state.sqlite3-wal").read_bytes()
    assert secret.encode() not in dump


def test_sessions_expire_idle_and_absolute_with_the_clock(env: Env) -> None:
    env.add_user("viewer", Role.VIEWER)
    signin = env.identity.signin
    idle = signin.sign_in("viewer", PASSWORD, peer="127.0.0.1", now=env.clock())
    env.clock.advance(minutes=14, seconds=59)
    signin.authenticate(idle.session_id, env.clock())  # activity moves the idle clock
    env.clock.advance(minutes=14, seconds=59)
    signin.authenticate(idle.session_id, env.clock())
    env.clock.advance(minutes=15)
    with pytest.raises(AuthenticationError, match="expired"):
        signin.authenticate(idle.session_id, env.clock())
    busy = signin.sign_in("viewer", PASSWORD, peer="127.0.0.1", now=env.clock())
    for _ in range(8 * 6):  # active every 10 minutes for 8 hours
        env.clock.advance(minutes=10)
        try:
            signin.authenticate(busy.session_id, env.clock())
        except AuthenticationError:
            break
    ended = [e for e in env.entries("login.session_expired")]
    assert [e["payload"]["reason"] for e in ended] == ["idle", "absolute"]  # type: ignore[index]
    # Once expired, the session stays revoked.
    with pytest.raises(AuthenticationError, match="ended"):
        signin.authenticate(busy.session_id, env.clock())
