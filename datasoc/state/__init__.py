"""The platform's own state store (service state, not events): one SQLite database, migrated per component.

state = StateStore.open(data_dir / "state.sqlite3")
state.migrate(IDENTITY_MIGRATIONS)      # each component brings its own numbered migrations
with state.write() as conn: ...         # BEGIN IMMEDIATE ... COMMIT, durable when it returns
with state.read() as conn: ...          # a consistent snapshot
"""

from datasoc.state.errors import MigrationError, StateError, StateUnavailableError
from datasoc.state.migrations import Migration, MigrationPlan, plan_migrations
from datasoc.state.store import StateStore

__all__ = [
    "Migration",
    "MigrationError",
    "MigrationPlan",
    "StateError",
    "StateStore",
    "StateUnavailableError",
    "plan_migrations",
]
