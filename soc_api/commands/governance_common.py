"""What the governance commands share: the opened services, and acting as a person (`--as`).

The host's operator acts as `cli:<os user>` for what the host's file permissions are the authority for
(imports, reading the catalog). What needs a person (a request, a decision, a grade, a review, an
export) is done `--as USER`: the command signs that person in, as the console would (password, and the
TOTP code when their roles need one; from `SOC_PASSWORD` / `SOC_TOTP` or a prompt: `DATASOC_*` names are
settings), ledgered as
their sign-in, and signs them out afterwards. Every action is audited before its effect, into the ledger
or, while `datasoc run` holds it, into the outbox the platform moves into the ledger (the command waits).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from soc_api.commands.edge import now as _now

CONFIG = click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir."
)
AS = click.option("--as", "as_user", default=None, help="Act as this person (signed in here; see above).")
PASSWORD_ENV = "SOC_PASSWORD"  # noqa: S105 - the variable's name, not a secret
TOTP_ENV = "SOC_TOTP"


@dataclass
class GovCli:
    """The opened governance services and who acts."""

    cli: Any
    governance: Any
    actor: Any

    @property
    def settings(self) -> Any:
        return self.cli.settings


def _sign_in(cli: Any, username: str) -> tuple[Any, str]:
    """Sign `username` in as the console would; (actor, session id)."""
    from soc_api.identity.sessions import Stage

    signin = cli.identity.signin
    password = os.environ.get(PASSWORD_ENV) or click.prompt(f"{username} 的密码 / password", hide_input=True)
    done = signin.sign_in(username, password, peer="cli", now=_now())
    if done.stage is Stage.MFA:
        code = os.environ.get(TOTP_ENV) or click.prompt("动态口令 / TOTP code")
        done = signin.second_factor(done.session_id, code=code, recovery_code=None, now=_now())
    if done.stage is not Stage.FULL:
        raise click.ClickException(f"{username} must enrol a second factor first (sign in at the console)")
    return signin.authenticate(done.session_id, _now()), done.session_id


@contextlib.contextmanager
def opened(config: Path | None, data_dir: Path | None, as_user: str | None = None) -> Iterator[GovCli]:
    """The governance services over the state store, acting as the operator or `as_user`."""
    from soc_api.commands.identity import _opened
    from soc_api.governance import Governance

    with _opened(config, data_dir) as cli:
        governance = Governance.build(cli.identity.store.state, cli.identity.audit)
        actor = cli.actor
        session = None
        if as_user:
            actor, session = _sign_in(cli, as_user)
        try:
            yield GovCli(cli, governance, actor)
        finally:
            if session is not None:
                cli.identity.signin.sign_out(actor, now=_now())


def echo_json(value: Any) -> None:
    """Print one JSON document, UTF-8, indented."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=1, default=str))


def read_json(path: Path) -> Any:
    """A JSON file's value (a one-line error naming the file otherwise)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def when(value: str | None) -> datetime | None:
    """An ISO 8601 time from the command line (UTC without an offset)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-03-01T00:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ledger_view(g: GovCli) -> Any:
    """The ledger to read: this process's when it holds it, else a read-only snapshot."""
    from audit.snapshot import LedgerSnapshot

    held = getattr(g.cli.identity.audit, "ledger", None)
    if held is not None:
        return held.store, held
    return LedgerSnapshot.open(g.settings.resolve(g.settings.ledger.path)), None
