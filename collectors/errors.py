"""Error root of the collectors: every error raised by `collectors.*` is a `CollectorError`."""

from __future__ import annotations

from datasoc.errors import DatasocError


class CollectorError(DatasocError):
    """Root of the collectors' errors."""


class CatalogError(CollectorError, ValueError):
    """The asset catalog is malformed; `where` names the entry (e.g. `datasets[3].classification`)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"catalog {where}: {reason}")


class ParseError(CollectorError, ValueError):
    """A native record could not be turned into an event.

    `source` names the input (file or stream), `position` the 1-based line (or record) where the
    record starts when known, `reason` what is wrong. The raw record is deliberately not part of
    the message: it goes to the dead-letter topic beside the reason, not into log lines.
    """

    def __init__(self, source: str, position: int | None, reason: str) -> None:
        self.source = source
        self.position = position
        self.reason = reason
        where = source if position is None else f"{source}:{position}"
        super().__init__(f"{where}: {reason}")
