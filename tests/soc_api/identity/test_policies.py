"""Pure cores: the permission matrix and 三员 rule, password policy, lockout back-off, session
expiry, TOTP windows and recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest

from soc_api.identity import totp
from soc_api.identity.errors import PasswordPolicyError, SeparationOfDutiesError
from soc_api.identity.lockout import LockoutPolicy, is_locked
from soc_api.identity.passwords import Argon2Params, PasswordPolicy, Passwords
from soc_api.identity.roles import ADMIN_ROLES, MATRIX, Permission, Role, check_separation
from soc_api.identity.sessions import Expiry, SessionPolicy, Stage

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
P = Permission


def test_every_pair_of_administrator_roles_is_refused_and_one_with_others_allowed() -> None:
    for pair in combinations(sorted(ADMIN_ROLES), 2):
        with pytest.raises(SeparationOfDutiesError, match="三员分立"):
            check_separation(pair)
    for admin in ADMIN_ROLES:
        check_separation({admin, Role.ANALYST, Role.VIEWER})


def test_the_matrix_keeps_the_three_administrators_apart() -> None:
    system, security, auditor = (
        MATRIX[Role.SYSTEM_ADMIN],
        MATRIX[Role.SECURITY_ADMIN],
        MATRIX[Role.AUDIT_ADMIN],
    )
    # The system administrator cannot read trails, approve or change rules.
    assert not system & {P.AUDIT_READ, P.AUDIT_EXPORT, P.APPROVALS_DECIDE, P.RULES_MANAGE, P.EVENTS_READ}
    # The security administrator cannot manage accounts or export trails.
    assert not security & {P.USERS_CREATE, P.USERS_ROLES, P.USERS_UPDATE, P.TOKENS_CREATE, P.AUDIT_EXPORT}
    # The audit administrator reads and exports trails and changes nothing else.
    assert {P.AUDIT_READ, P.AUDIT_REVIEW, P.AUDIT_EXPORT} <= auditor
    changes = {
        p
        for p in Permission
        if p.value.split(".")[-1]
        in ("create", "update", "roles", "reset_mfa", "revoke", "manage", "handle", "decide")
    }
    assert not auditor & changes
    assert all(P.INGEST not in perms for perms in MATRIX.values())


def test_password_policy_names_every_broken_rule() -> None:
    policy = PasswordPolicy()
    assert policy.problems("Correct-Horse-42", username="alice") == []
    found = policy.problems("short", username="alice")
    assert any("12" in p for p in found)
    assert any("3" in p for p in found)
    assert any("user name" in p for p in policy.problems("xx-Alice-2026-yy", username="alice"))
    assert policy.problems("数据安全运营平台abc123", username="bob") == []  # Chinese counts as "other"
    passwords = Passwords(Argon2Params(memory_kib=256, time_cost=1))
    history = [passwords.hash(f"Old-Password-{i}x") for i in range(6)]
    reuse = policy.problems("Old-Password-4x", username="bob", previous=history, matches=passwords.verify)
    assert any("last 5" in p for p in reuse)
    # The sixth-newest password is outside the history of 5.
    assert (
        policy.problems("Old-Password-5x", username="bob", previous=history, matches=passwords.verify) == []
    )
    with pytest.raises(PasswordPolicyError) as caught:
        policy.check("aaaaaaaaaaaa", username="bob")
    assert caught.value.problems


def test_argon2id_hashes_verify_and_unknown_users_cost_the_same_and_fail() -> None:
    passwords = Passwords(Argon2Params(memory_kib=256, time_cost=1))
    stored = passwords.hash("Correct-Horse-42")
    assert stored.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    assert passwords.verify(stored, "Correct-Horse-42")
    assert not passwords.verify(stored, "wrong")
    assert not passwords.verify(None, "Correct-Horse-42")
    assert Passwords().needs_rehash(stored)  # the production parameters differ


def test_lockout_backs_off_exponentially_up_to_a_cap() -> None:
    policy = LockoutPolicy(threshold=3, base=timedelta(minutes=1), cap=timedelta(minutes=10))
    spans = [policy.lock_for(n) for n in range(1, 9)]
    assert spans[:2] == [timedelta(0), timedelta(0)]
    assert spans[2:] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 10, 10)]
    failures, until = policy.after_failure(2, T0)
    assert failures == 3
    assert until == T0 + timedelta(minutes=1)
    assert is_locked(until, T0 + timedelta(seconds=59))
    assert not is_locked(until, T0 + timedelta(minutes=1))


def test_session_expiry_idle_and_absolute() -> None:
    policy = SessionPolicy(idle=timedelta(minutes=15), absolute=timedelta(hours=8))
    seen = T0 + timedelta(hours=7, minutes=50)
    assert (
        policy.expiry(created=T0, last_seen=seen, stage=Stage.FULL, now=seen + timedelta(minutes=9))
        is Expiry.VALID
    )
    assert (
        policy.expiry(created=T0, last_seen=seen, stage=Stage.FULL, now=T0 + timedelta(hours=8))
        is Expiry.ABSOLUTE
    )
    assert (
        policy.expiry(created=T0, last_seen=T0, stage=Stage.FULL, now=T0 + timedelta(minutes=15))
        is Expiry.IDLE
    )
    assert (
        policy.expiry(created=T0, last_seen=T0, stage=Stage.MFA, now=T0 + timedelta(minutes=5)) is Expiry.IDLE
    )


@pytest.mark.parametrize(("skew", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_totp_accepts_one_step_of_skew_and_refuses_two(skew: int, accepted: bool) -> None:
    secret = totp.new_secret(lambda n: bytes(range(n)))
    code = totp.code_at(secret, totp.counter_at(T0) + skew)
    matched = totp.match_totp(secret, code, T0, window=1)
    assert (matched is not None) is accepted
    if accepted:
        assert matched == totp.counter_at(T0) + skew


def test_totp_refuses_a_step_already_used_and_malformed_codes() -> None:
    secret = totp.new_secret()
    counter = totp.counter_at(T0)
    code = totp.code_at(secret, counter)
    assert totp.match_totp(secret, code, T0, last_counter=counter) is None
    assert totp.match_totp(secret, "12345", T0) is None
    assert totp.match_totp(secret, "abcdef", T0) is None
    # RFC 6238 Appendix B vector (SHA-1, T = 59 s): 94287082 in 8 digits, so 287082 in 6.
    rfc_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.code_at(rfc_secret, 1) == "287082"


def test_recovery_codes_are_80_bits_and_digest_normalised() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(c) == 19 and c.count("-") == 3 for c in codes)
    assert totp.recovery_digest(codes[0].lower().replace("-", " ")) == totp.recovery_digest(codes[0])
    assert totp.recovery_digest(codes[0]).startswith("sm3:")
