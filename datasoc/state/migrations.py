"""Versioned schema migrations, per component: the plan is pure, the store applies it.

Each component (``identity``, later ``approvals``, ``alerts``...) owns a list of `Migration`s
numbered 1, 2, 3... without gaps. The database records the version each component reached in
`schema_versions`; `plan_migrations` says which migrations remain, and refuses a database that is
newer than the code (a downgrade would run old code over a schema it does not know).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from datasoc.state.errors import MigrationError

_COMPONENT = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step of one component: `sql` runs in a single transaction with the version bump."""

    component: str
    version: int
    description: str
    sql: str

    def __post_init__(self) -> None:
        if not _COMPONENT.match(self.component):
            raise MigrationError(f"migration component {self.component!r}: lowercase name expected")
        if self.version < 1:
            raise MigrationError(f"migration {self.component}/{self.version}: versions start at 1")
        if not self.sql.strip():
            raise MigrationError(f"migration {self.component}/{self.version}: empty SQL")


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """What to apply: the migrations after the recorded version, in order."""

    component: str
    current: int
    target: int
    steps: tuple[Migration, ...]


def plan_migrations(migrations: Sequence[Migration], recorded: Mapping[str, int]) -> list[MigrationPlan]:
    """Plans per component for `migrations` over the `recorded` versions (pure).

    Raises `MigrationError` for gaps, duplicates, or a database newer than the code.
    """
    by_component: dict[str, list[Migration]] = {}
    for migration in migrations:
        by_component.setdefault(migration.component, []).append(migration)
    plans = []
    for component, steps in by_component.items():
        steps = sorted(steps, key=lambda m: m.version)
        versions = [m.version for m in steps]
        if versions != list(range(1, len(steps) + 1)):
            raise MigrationError(f"migrations of {component}: versions {versions} must be 1..{len(steps)}")
        current = recorded.get(component, 0)
        if current > len(steps):
            raise MigrationError(
                f"the database holds {component} schema version {current}, this code knows only "
                f"up to {len(steps)}: refusing to run older code over a newer schema"
            )
        plans.append(MigrationPlan(component, current, len(steps), tuple(steps[current:])))
    return plans
