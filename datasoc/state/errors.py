"""Errors of the state store; each names the database file and what failed."""

from __future__ import annotations

from datasoc.errors import DatasocError


class StateError(DatasocError):
    """Root of the state store's errors."""


class MigrationError(StateError):
    """A migration is malformed, missing, out of order, or the database is newer than the code."""


class StateUnavailableError(StateError):
    """The database cannot be read or written (read-only file, full disk, locked for too long)."""
