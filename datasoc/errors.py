"""Error root of the shared kernel: every error raised by `datasoc.*` is a `DatasocError`."""

from __future__ import annotations


class DatasocError(Exception):
    """Root of the kernel's errors."""


class ConfigError(DatasocError):
    """A setting is invalid; the message names the key, the value and what is allowed."""


class CanonicalJSONError(DatasocError, ValueError):
    """A value cannot be encoded as canonical JSON (RFC 8785)."""


class EventValidationError(DatasocError, ValueError):
    """An event does not satisfy the normalized-event contract.

    `problems` lists `(field, problem)` pairs; the message names each field.
    """

    def __init__(self, problems: list[tuple[str, str]], *, where: str = "") -> None:
        self.problems = problems
        self.where = where
        prefix = f"{where}: " if where else ""
        detail = "; ".join(f"{field}: {problem}" for field, problem in problems)
        super().__init__(f"{prefix}invalid event: {detail}")
