"""Account administration: 三员分立 refused (and ledgered) by the service and by the store's trigger,
self-grant and last-administrator guards, fail-closed audit with a ledger that cannot be written."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from soc_api.identity.actors import Actor
from soc_api.identity.audit import OutboxAudit, drain_outbox
from soc_api.identity.errors import (
    AuditUnavailableError,
    ConflictError,
    PasswordPolicyError,
    PermissionDeniedError,
    SeparationOfDutiesError,
)
from soc_api.identity.records import ts
from soc_api.identity.roles import Role, permissions_of
from tests.soc_api.identity_env import PASSWORD, Env, freeze, open_env, thaw

CLI = Actor.cli("root")


def test_create_with_two_administrator_roles_is_refused_and_ledgered(env: Env) -> None:
    with pytest.raises(SeparationOfDutiesError):
        env.add_user("both", Role.SYSTEM_ADMIN, Role.AUDIT_ADMIN)
    assert env.identity.store.by_username("both") is None
    (entry,) = env.entries("admin.")
    assert entry["kind"] == "admin.user_created"
    assert entry["payload"]["outcome"] == "denied"
    assert entry["payload"]["reason"] == "separation-of-duties"  # type: ignore[index]


def test_adding_a_second_administrator_role_is_refused_by_service_and_store(env: Env) -> None:
    admin = env.add_user("sys", Role.SYSTEM_ADMIN)
    other = env.add_user("sec", Role.SECURITY_ADMIN)
    with pytest.raises(SeparationOfDutiesError):
        env.identity.accounts.set_roles(CLI, other, {Role.SECURITY_ADMIN, Role.AUDIT_ADMIN}, now=env.clock())
    # The store's trigger refuses it too, whatever path writes the row.
    with pytest.raises(sqlite3.IntegrityError, match="separation_of_duties"), env.state.write() as conn:
        conn.execute(
            "INSERT INTO account_roles (account_id, role, granted_at) VALUES (?, 'audit_admin', ?)",
            (other, ts(env.clock())),
        )
    with pytest.raises(sqlite3.IntegrityError, match="never updated"), env.state.write() as conn:
        conn.execute("UPDATE account_roles SET role = 'audit_admin' WHERE account_id = ?", (admin,))
    # The store's one write path hits the trigger when the pure check is bypassed.
    with pytest.raises(sqlite3.IntegrityError, match="separation_of_duties"), env.state.write() as conn:
        env.identity.store._write_roles(conn, other, frozenset({Role.SECURITY_ADMIN, Role.AUDIT_ADMIN}), "x")
    assert env.identity.store.get(other).roles == {Role.SECURITY_ADMIN}
    # Switching one administrator role for another is allowed (removal first).
    switched = env.identity.accounts.set_roles(CLI, other, {Role.AUDIT_ADMIN, Role.ANALYST}, now=env.clock())
    assert switched.roles == {Role.AUDIT_ADMIN, Role.ANALYST}
    outcomes = [(e["kind"], e["payload"]["outcome"]) for e in env.entries("admin.roles")]  # type: ignore[index]
    assert outcomes == [("admin.roles_changed", "denied"), ("admin.roles_changed", "success")]


def test_nobody_changes_their_own_roles_and_the_last_system_admin_stays(env: Env) -> None:
    admin_id = env.add_user("sys", Role.SYSTEM_ADMIN)
    admin = env.identity.store.get(admin_id)
    actor = Actor(
        kind="user",
        id=admin.id,
        name=admin.username,
        permissions=permissions_of(admin.roles),
        roles=admin.roles,
    )
    with pytest.raises(PermissionDeniedError):
        env.identity.accounts.set_roles(actor, admin_id, {Role.SYSTEM_ADMIN, Role.ANALYST}, now=env.clock())
    with pytest.raises(ConflictError, match="last enabled system administrator"):
        env.identity.accounts.set_roles(CLI, admin_id, {Role.VIEWER}, now=env.clock())
    with pytest.raises(ConflictError, match="last enabled system administrator"):
        env.identity.accounts.set_disabled(CLI, admin_id, True, now=env.clock())
    env.add_user("sys2", Role.SYSTEM_ADMIN)
    assert env.identity.accounts.set_disabled(CLI, admin_id, True, now=env.clock()).disabled


def test_weak_initial_passwords_are_refused_with_every_rule(env: Env) -> None:
    with pytest.raises(PasswordPolicyError) as caught:
        env.add_user("bob", Role.VIEWER, password="bob")
    assert len(caught.value.problems) == 3


def test_password_change_refuses_the_last_five(env: Env) -> None:
    user = env.add_user("carol", Role.VIEWER)
    account = env.identity.store.get(user)
    actor = Actor(kind="user", id=account.id, name=account.username, permissions=frozenset())
    current = PASSWORD
    for i in range(5):
        new = f"Another-Pass-{i}!"
        env.identity.signin.change_password(actor, current, new, now=env.clock())
        current = new
    with pytest.raises(PasswordPolicyError, match="last 5"):
        env.identity.signin.change_password(actor, current, "Another-Pass-1!", now=env.clock())
    # The initial password is now six changes back: allowed again.
    env.identity.signin.change_password(actor, current, PASSWORD, now=env.clock())


def test_a_ledger_that_cannot_be_written_refuses_the_action(tmp_path: Path) -> None:
    env = open_env(tmp_path)
    entries = tmp_path / "ledger" / "entries.log"
    try:
        env.add_user("dave", Role.VIEWER)
        freeze(entries)  # every append fails (EPERM), and so does the ledger's reopening, while it lasts
        with pytest.raises(AuditUnavailableError):
            env.add_user("erin", Role.VIEWER)
        assert env.identity.store.by_username("erin") is None  # not performed unaudited
        with pytest.raises(AuditUnavailableError):
            env.identity.signin.sign_in("dave", PASSWORD, peer="127.0.0.1", now=env.clock())
        with env.state.read() as conn:
            assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
        with pytest.raises(AuditUnavailableError):  # a failed sign-in is refused too, not just uncounted
            env.identity.signin.sign_in("dave", "wrong", peer="127.0.0.1", now=env.clock())
        assert env.identity.store.by_username("dave").failures == 0  # type: ignore[union-attr]
        thaw(entries)  # writable again: the ledger heals itself and actions resume
        env.identity.signin.sign_in("dave", PASSWORD, peer="127.0.0.1", now=env.clock())
    finally:
        thaw(entries)
        with contextlib.suppress(Exception):
            env.close()


def test_a_closed_ledger_refuses_the_action(env: Env) -> None:
    env.ledger.close()
    with pytest.raises(AuditUnavailableError):
        env.add_user("erin", Role.VIEWER)
    assert env.identity.store.by_username("erin") is None


def test_cli_actions_go_through_the_outbox_while_the_ledger_is_held(env: Env) -> None:
    from soc_api.identity import Identity

    outbox = OutboxAudit(env.state)
    cli = Identity.build(env.state, outbox, env.keys, env.identity.config)
    account = cli.accounts.create(
        CLI, username="frank", display_name="F", password=PASSWORD, roles={Role.ANALYST}, now=env.clock()
    )
    with pytest.raises(SeparationOfDutiesError):
        cli.accounts.set_roles(CLI, account.id, {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN}, now=env.clock())
    assert env.entries("admin.") == []  # not yet in the ledger
    moved = drain_outbox(env.state, env.ledger, now=env.clock())
    assert moved == 2
    entries = env.entries("admin.")
    assert [(e["kind"], e["payload"]["outcome"]) for e in entries] == [  # type: ignore[index]
        ("admin.user_created", "success"),
        ("admin.roles_changed", "denied"),
    ]
    assert all(e["actor"] == "cli:root" for e in entries)
    assert drain_outbox(env.state, env.ledger, now=env.clock()) == 0


def test_an_unwritable_outbox_refuses_the_cli_action(env: Env) -> None:
    from soc_api.identity import Identity

    cli = Identity.build(env.state, OutboxAudit(env.state), env.keys, env.identity.config)
    with env.state.write() as conn:
        conn.execute(
            "CREATE TRIGGER outbox_full BEFORE INSERT ON audit_outbox "
            "BEGIN SELECT RAISE(FAIL, 'disk full'); END"
        )
    with pytest.raises(AuditUnavailableError):
        cli.accounts.create(
            CLI, username="gina", display_name="G", password=PASSWORD, roles=(), now=env.clock()
        )
    assert env.identity.store.by_username("gina") is None
