"""A real identity environment for tests: state store, ledger, key store, a clock the test moves."""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.checkpoint import CheckpointPolicy
from audit.ledger import Ledger
from crypto.primitives.sm2_keys import ScryptParams
from crypto.recipes import KeyStore
from datasoc.state import StateStore
from soc_api.identity import MIGRATIONS, Identity, IdentityConfig
from soc_api.identity.actors import Actor
from soc_api.identity.audit import LedgerAudit
from soc_api.identity.passwords import Argon2Params
from soc_api.identity.roles import Role

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-42"
#: Cheap argon2 for tests (the production parameters are measured by `datasoc bench signin`).
FAST = IdentityConfig(argon2=Argon2Params(memory_kib=256, time_cost=1, parallelism=1))


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Env:
    """Everything a test needs; `close` releases the ledger lock and the database."""

    root: Path
    state: StateStore
    ledger: Ledger
    keys: KeyStore
    identity: Identity
    clock: Clock
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def entries(self, prefix: str = "") -> list[dict[str, object]]:
        """Ledger entries (as dicts) whose kind starts with `prefix`."""
        return [e.to_dict() for e in self.ledger.store.entries() if e.kind.startswith(prefix)]

    def add_user(self, username: str, *roles: Role, password: str = PASSWORD) -> str:
        """Create an account through the service (as the CLI would); its id."""
        account = self.identity.accounts.create(
            Actor.cli("test"),
            username=username,
            display_name=username,
            password=password,
            roles=roles,
            now=self.clock(),
        )
        return account.id

    def close(self) -> None:
        self.ledger.close()
        self.state.close()


def freeze(path: Path) -> None:
    """Make `path` immutable (`chattr +i`): writes fail with EPERM even through descriptors already
    open, and reopening for writing fails too, until `thaw` (a ledger that cannot be written, for
    real). Skips the test where the file system or the user cannot do it."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {done.stderr.strip()}")


def thaw(path: Path) -> None:
    """Undo `freeze`."""
    subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)


def open_env(root: Path, config: IdentityConfig = FAST, *, ledger_dir: Path | None = None) -> Env:
    """Open a fresh environment under `root` (the ledger under `ledger_dir` when given)."""
    clock = Clock()
    keys = KeyStore.create(
        root / "keys", b"test-passphrase", now=T0, scrypt_params=ScryptParams(n=2**10, r=8, p=1)
    )
    ledger = Ledger.open(
        ledger_dir or root / "ledger",
        keys.signing_key,
        origin="datasoc.test/identity",
        policy=CheckpointPolicy(),
    )
    state = StateStore.open(root / "state.sqlite3")
    state.migrate(MIGRATIONS, now=clock)
    counter = itertools.count()
    identity = Identity.build(
        state, LedgerAudit(ledger, state, clock), keys, config, new_id=lambda: f"{next(counter):06d}"
    )
    return Env(root, state, ledger, keys, identity, clock)
