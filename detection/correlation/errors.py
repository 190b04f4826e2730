"""Errors of the correlation engine, under the detection package's root `DetectionError`."""

from __future__ import annotations

from pathlib import Path

from detection.errors import DetectionError, RuleLoadError


class CorrelationError(DetectionError):
    """Root of the correlation engine's errors."""


class CorrelationLoadError(RuleLoadError, CorrelationError):
    """A correlation rule cannot be compiled; names the rule, its file and line when known, and why.

    A `RuleLoadError`, so `datasoc rules check` reports it like any other rule. Raised (or collected)
    per rule: one broken correlation never stops the others from loading.
    """

    def __init__(self, reason: str, *, rule: str, path: str | None = None, line: int | None = None) -> None:
        self.rule = rule
        self.path = path
        super().__init__(Path(path) if path else None, line, f"correlation rule {rule!r}: {reason}")


class CorrelationInputError(CorrelationError, ValueError):
    """An argument to the engine is invalid (naive datetime, negative event index, ...)."""
