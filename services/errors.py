"""Errors of the server launchers: one root, `ServiceError`; each leaf says which server and what to do."""

from __future__ import annotations


class ServiceError(Exception):
    """Root of every error raised by `services`."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ToolMissingError(ServiceError):
    """Java (of a suitable version) or Maven is not installed; tests skip on it outside CI."""

    def __init__(self, tool: str, needed_by: str, *, hint: str = "") -> None:
        self.tool = tool
        self.needed_by = needed_by
        super().__init__(f"{needed_by} needs {tool}, which was not found", hint=hint)


class FetchError(ServiceError):
    """Maven could not fetch or a server home could not be assembled."""

    def __init__(self, server: str, step: str, detail: str) -> None:
        self.server = server
        self.step = step
        super().__init__(f"{server}: fetching failed at {step}: {detail}")


class StartError(ServiceError):
    """A server exited or did not become ready in time; `log_tail` holds its last log lines."""

    def __init__(self, server: str, problem: str, log_tail: str) -> None:
        self.server = server
        self.problem = problem
        self.log_tail = log_tail
        super().__init__(f"{server}: {problem}\n--- last lines of its log ---\n{log_tail}")
