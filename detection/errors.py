"""Error root of the detection package: every error raised by `detection.*` is a `DetectionError`."""

from __future__ import annotations

from pathlib import Path


class DetectionError(Exception):
    """Root of the detection engine's errors."""


class RuleLoadError(DetectionError):
    """One rule (or one rule file) could not be loaded; the others still load.

    `file` is the rule file, `line` the 1-based line when pySigma (or the YAML parser) gives one,
    `reason` what is wrong, in words an operator can act on.
    """

    def __init__(self, file: Path | None, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(self.location + ": " + reason)

    @property
    def location(self) -> str:
        """`file:line`, `file` or `<input>` when the rule did not come from a file."""
        where = str(self.file) if self.file is not None else "<input>"
        return f"{where}:{self.line}" if self.line is not None else where


class UnknownPipelineError(DetectionError, KeyError):
    """A pipeline name is not in the registry; the message lists the names that exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown pipeline {name!r}; known: {', '.join(known)}")

    def __str__(self) -> str:
        return str(self.args[0])


class EventFormatError(DetectionError, ValueError):
    """An input event is not a JSON object (or not valid JSON); names its position."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"event {index}: {reason}")
