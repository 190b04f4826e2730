"""`datasoc users ...` and `datasoc tokens ...`: accounts and machine identities from the host.

The operator at the host's command line acts as `cli:<os user>` (the host's file permissions are
the authority). Every action is audited before its effect: into the ledger when this process can
open it, else (while `datasoc run` holds it) into the state store's audit outbox, which the running
platform moves into the ledger within a second or two; the command waits for that before it
reports success. 三员分立 and the password policy hold here exactly as in the API.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from datasoc.errors import DatasocError
from soc_api.commands.edge import now as _now
from soc_api.commands.edge import os_user

_CONFIG = click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file."
)
_DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir."
)
_OUTBOX_WAIT = 15.0


@dataclass
class _Cli:
    settings: Any
    identity: Any
    actor: Any
    outbox: Any = None
    pending: list[int] = field(default_factory=list)

    def settle(self) -> None:
        """Wait until this command's audit entries are in the ledger (outbox mode only)."""
        if self.outbox is None:
            return
        ids = [r for r in self.pending if r is not None]
        deadline = time.monotonic() + _OUTBOX_WAIT
        while any(self.outbox.pending(i) for i in ids):
            if time.monotonic() > deadline:
                raise click.ClickException(
                    "the change is made and its audit entry is in the state store's outbox, but the running "
                    "platform did not move it into the ledger within 15 s (is `datasoc run` serving the API?)"
                )
            time.sleep(0.2)
        click.echo("审计已记录 / ledgered by the running platform", err=True)


class _RecordingOutbox:
    def __init__(self, inner: Any, ids: list[int]) -> None:
        self.inner = inner
        self.ids = ids

    def record(self, draft: Any) -> Any:
        receipt = self.inner.record(draft)
        self.ids.append(receipt.outbox_id)
        return receipt

    def pending(self, outbox_id: int) -> bool:
        return bool(self.inner.pending(outbox_id))


@contextlib.contextmanager
def _opened(config: Path | None, data_dir: Path | None) -> Iterator[_Cli]:
    from audit.errors import AuditError
    from audit.ledger import Ledger
    from soc_api.commands.platform import _settings
    from soc_api.identity import Identity
    from soc_api.identity.actors import Actor
    from soc_api.identity.audit import LedgerAudit, OutboxAudit, drain_outbox
    from soc_api.platform import checkpoint_policy, identity_config, open_keys, open_state

    settings = _settings(config, data_dir)
    now = _now()
    try:
        state = open_state(settings, now)
        keys = open_keys(settings, now)
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    ledger = None
    try:
        try:
            policy = checkpoint_policy(settings)
            ledger = Ledger.open(
                settings.resolve(settings.ledger.path),
                keys.signing_key,
                origin=settings.ledger.origin,
                policy=policy,
            )
        except AuditError as exc:
            if "another process" not in str(exc):
                raise click.ClickException(str(exc)) from None
        cli = _Cli(settings=settings, identity=None, actor=Actor.cli(os_user()))
        if ledger is not None:
            drain_outbox(state, ledger, now=now)
            audit: Any = LedgerAudit(ledger, state, _now)
        else:
            cli.outbox = _RecordingOutbox(OutboxAudit(state), cli.pending)
            audit = cli.outbox
        cli.identity = Identity.build(state, audit, keys, identity_config(settings))
        try:
            yield cli
        except DatasocError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            from soc_api.identity.errors import IdentityError

            if isinstance(exc, IdentityError):
                cli.settle()  # a refusal is audited too: make sure it reached the ledger
                raise click.ClickException(f"{exc.detail} [{exc.problem}]") from None
            raise
        cli.settle()
    finally:
        if ledger is not None:
            ledger.close()
        state.close()


def _password(stdin: bool, prompt: str) -> str:
    if stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


def _roles(names: tuple[str, ...]) -> Any:
    from soc_api.identity.roles import parse_roles

    return parse_roles(names)


def _show_account(account: Any) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "display_name": account.display_name,
        "roles": sorted(r.value for r in account.roles),
        "disabled": account.disabled,
        "mfa_enrolled": account.mfa_enrolled,
        "locked_until": account.locked_until.isoformat() if account.locked_until else None,
    }


def _print_enrolment(enrolment: Any, codes: list[str]) -> None:
    import segno

    click.echo("动态口令 / TOTP (scan with an authenticator app):", err=True)
    segno.make(enrolment.uri, error="m").terminal(out=sys.stderr, compact=True)
    click.echo(f"  secret: {enrolment.secret}\n  uri:    {enrolment.uri}", err=True)
    click.echo("恢复码（只显示一次）/ recovery codes (shown once, keep them offline):", err=True)
    for code in codes:
        click.echo(f"  {code}", err=True)


@click.group()
def users() -> None:
    """Accounts and roles (账户与角色): one account holds at most one administrator role (三员分立)."""


@users.command()
@_CONFIG
@_DATA_DIR
@click.option("--username", required=True)
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of standard input.")
def bootstrap(
    config: Path | None, data_dir: Path | None, username: str, display_name: str, password_stdin: bool
) -> None:
    """Create the first system administrator (首个系统管理员), with a TOTP second factor enrolled now.

    Refused once any enabled system administrator exists: there is no default password.
    """
    from soc_api.identity.roles import Role

    with _opened(config, data_dir) as cli:
        if cli.identity.store.count_with_role(Role.SYSTEM_ADMIN):
            raise click.ClickException("a system administrator exists already; use `datasoc users add`")
        password = _password(password_stdin, "password (密码)")
        account = cli.identity.accounts.create(
            cli.actor,
            username=username,
            display_name=display_name,
            password=password,
            roles={Role.SYSTEM_ADMIN},
            now=_now(),
        )
        enrolment, codes = cli.identity.signin.enrol_now(cli.actor, account.id, now=_now())
        _print_enrolment(enrolment, codes)
        click.echo(json.dumps(_show_account(cli.identity.store.get(account.id)), ensure_ascii=False))


@users.command("add")
@_CONFIG
@_DATA_DIR
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="Repeat for several roles.")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of standard input.")
def add_user(
    config: Path | None,
    data_dir: Path | None,
    username: str,
    roles: tuple[str, ...],
    display_name: str,
    password_stdin: bool,
) -> None:
    """Add an account; an administrator enrols a second factor at first sign-in."""
    with _opened(config, data_dir) as cli:
        password = _password(password_stdin, "password (密码)")
        account = cli.identity.accounts.create(
            cli.actor,
            username=username,
            display_name=display_name,
            password=password,
            roles=_roles(roles),
            now=_now(),
        )
        click.echo(json.dumps(_show_account(account), ensure_ascii=False))


@users.command("list")
@_CONFIG
@_DATA_DIR
def list_users(config: Path | None, data_dir: Path | None) -> None:
    """Accounts as JSON lines."""
    with _opened(config, data_dir) as cli:
        after = None
        while True:
            page = cli.identity.store.page(
                limit=500,
                after=after,
                sort="username",
                descending=False,
                username_prefix=None,
                role=None,
                disabled=None,
            )
            for account in page:
                click.echo(json.dumps(_show_account(account), ensure_ascii=False))
            if len(page) < 500:
                break
            after = (page[-1].username, page[-1].id)


@users.command()
@_CONFIG
@_DATA_DIR
@click.argument("user")
def disable(config: Path | None, data_dir: Path | None, user: str) -> None:
    """Disable an account (by id or user name); its sessions end."""
    with _opened(config, data_dir) as cli:
        click.echo(
            json.dumps(_show_account(cli.identity.accounts.set_disabled(cli.actor, user, True, now=_now())))
        )


@users.command()
@_CONFIG
@_DATA_DIR
@click.argument("user")
def enable(config: Path | None, data_dir: Path | None, user: str) -> None:
    """Enable an account again."""
    with _opened(config, data_dir) as cli:
        click.echo(
            json.dumps(_show_account(cli.identity.accounts.set_disabled(cli.actor, user, False, now=_now())))
        )


@users.command("roles")
@_CONFIG
@_DATA_DIR
@click.argument("user")
@click.option("--role", "roles", multiple=True, help="The complete new set (repeat); none: no roles.")
def set_roles(config: Path | None, data_dir: Path | None, user: str, roles: tuple[str, ...]) -> None:
    """Replace an account's roles (refused, and ledgered, when it would break 三员分立)."""
    with _opened(config, data_dir) as cli:
        account = cli.identity.accounts.set_roles(cli.actor, user, _roles(roles), now=_now())
        click.echo(json.dumps(_show_account(account)))


@users.command("reset-mfa")
@_CONFIG
@_DATA_DIR
@click.argument("user")
def reset_mfa(config: Path | None, data_dir: Path | None, user: str) -> None:
    """Remove an account's second factor; it enrols again at its next sign-in."""
    with _opened(config, data_dir) as cli:
        click.echo(json.dumps(_show_account(cli.identity.accounts.reset_mfa(cli.actor, user, now=_now()))))


_SPAN = re.compile(r"(\d+)([dhm])\Z")


def _expiry(text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    found = _SPAN.match(text.strip())
    if found:
        amount, unit = int(found[1]), found[2]
        unit_name = {"d": "days", "h": "hours", "m": "minutes"}[unit]
        return now + timedelta(**{unit_name: amount})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "a span like 30d, 12h, 90m or an ISO 8601 time with offset", param_hint="--expires"
        ) from None
    if when.tzinfo is None:
        raise click.BadParameter("the time needs an offset (e.g. +08:00 or Z)", param_hint="--expires")
    return when


def _show_token(record: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "kind": record.kind,
        "scopes": sorted(s.value for s in record.scopes),
        "source": record.source,
        "parser": record.parser,
        "created_at": record.created_at.isoformat(),
        "created_by": record.created_by,
        "expires_at": record.expires_at.isoformat() if record.expires_at else None,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
    }


@click.group()
def tokens() -> None:
    """Machine identities (机器身份): API tokens with scopes and ingest tokens for a source."""


@tokens.command("add")
@_CONFIG
@_DATA_DIR
@click.option("--name", default=None, help="What the token is for (default: the source).")
@click.option("--ingest", is_flag=True, help="An ingest token for HTTP bulk ingest (needs --source).")
@click.option("--source", default=None, help="Source name an ingest token stands for.")
@click.option("--parser", default=None, help="Parser of the source's native lines (none: normalized events).")
@click.option("--scope", "scopes", multiple=True, help="Permission of an API token (repeat).")
@click.option("--expires", default=None, help="30d, 12h, 90m or an ISO 8601 time; default: never.")
def add_token(
    config: Path | None,
    data_dir: Path | None,
    name: str | None,
    ingest: bool,
    source: str | None,
    parser: str | None,
    scopes: tuple[str, ...],
    expires: str | None,
) -> None:
    """Issue a token: the secret on stdout, once; its record on stderr."""
    from soc_api.identity.roles import parse_scopes

    now = _now()
    with _opened(config, data_dir) as cli:
        issued = cli.identity.tokens.create(
            cli.actor,
            name=name or source or "",
            kind="ingest" if ingest else "api",
            scopes=parse_scopes(scopes),
            source=source,
            parser=parser,
            expires_at=_expiry(expires, now),
            now=now,
        )
        click.echo(json.dumps(_show_token(issued.record)), err=True)
        click.echo(issued.secret)


@tokens.command("list")
@_CONFIG
@_DATA_DIR
def list_tokens(config: Path | None, data_dir: Path | None) -> None:
    """Tokens as JSON lines (never their secrets)."""
    with _opened(config, data_dir) as cli:
        for record in cli.identity.store.tokens(limit=1_000_000):
            click.echo(json.dumps(_show_token(record)))


@tokens.command()
@_CONFIG
@_DATA_DIR
@click.argument("token_id")
def revoke(config: Path | None, data_dir: Path | None, token_id: str) -> None:
    """Revoke a token; a running platform refuses it within about a second."""
    with _opened(config, data_dir) as cli:
        click.echo(json.dumps(_show_token(cli.identity.tokens.revoke(cli.actor, token_id, now=_now()))))


def print_demo_accounts(platform: Any, now: datetime, console: str | None = None) -> None:
    """`datasoc demo`: create (or reuse) one account per role and print its credentials
    (development mode only; production mode says so and creates none), and where the console is."""
    from soc_api.identity.actors import Actor
    from soc_api.identity.demo import ensure_demo_accounts
    from soc_api.platform import api_services

    if platform.settings.mode != "development":
        click.echo(
            "\ndemo accounts (演示账户): not created in production mode; use `datasoc users bootstrap`"
        )
        return
    identity = api_services(platform, clock=lambda: now, new_id=lambda: "").identity
    accounts = ensure_demo_accounts(identity, Actor.cli("demo"), now=now)
    where = console or f"API on {platform.settings.api.host}:{platform.settings.api.port}"
    click.echo(f"\ndemo accounts (演示账户, development only; {where}):")
    for account in accounts:
        mfa = f"  TOTP secret {account.totp_secret}" if account.totp_secret else ""
        click.echo(f"  {account.role.value:<15}{account.username:<22}password {account.password}{mfa}")
