"""Errors of the report renderer: one root, leaves that say where."""

from __future__ import annotations

from soc_api.errors import PlatformError


class ReportError(PlatformError):
    """Root of the report renderer's errors."""


class ReportModelError(ReportError):
    """A document does not hold together; `where` names the part (`sections[2].blocks[0].rows[3]`)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"report {where}: {problem}")
        self.where = where
        self.problem = problem


class FontUnavailableError(ReportError):
    """No CJK TrueType font was found and the caller asked for one (`require_cjk_font`)."""
