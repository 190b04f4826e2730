"""What parsers enrich events from: the asset catalog and the approval register, kept current.

Every parser of every input reads its enrichment through an `EnrichmentSource`, whose `current()`
snapshot the platform replaces when the configured files change (`GovernanceFiles.refresh`, run by
a supervised step): loaded once at start, reloaded on change, and a file that turns bad keeps the
previous snapshot in force (the refresh raises, so the step reports the error) instead of leaving
events ungraded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from collectors.approvals import ApprovalRegister
from collectors.catalog import Catalog
from collectors.errors import CollectorError


class GovernanceFileError(CollectorError):
    """A configured governance file cannot be read (the last good version stays in force)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Enrichment:
    """One consistent snapshot: the catalog (grades, owners, regions) and the approval register."""

    catalog: Catalog | None = None
    approvals: ApprovalRegister | None = None


class EnrichmentSource(Protocol):
    """Gives the current snapshot; cheap enough to ask once per record."""

    def current(self) -> Enrichment: ...


@dataclass(frozen=True)
class FixedEnrichment:
    """A snapshot that never changes (tests, offline tools)."""

    enrichment: Enrichment = Enrichment()

    def current(self) -> Enrichment:
        return self.enrichment


def _stamp(path: Path) -> tuple[int, int, int]:
    info = os.stat(path)
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def _stamp_or_none(path: Path) -> tuple[int, int, int] | None:
    try:
        return _stamp(path)
    except OSError:
        return None


class GovernanceFiles:
    """The `governance.catalog` JSON and `governance.approvals` JSON-lines files, reloaded on change.

    A file is re-read only when its (mtime, size, inode) changed since the last read, so a refresh
    of unchanged files costs two `stat` calls.
    """

    def __init__(self, catalog: Path | None, approvals: Path | None) -> None:
        """Load both files now; a missing or invalid file raises (`CatalogError`, `ApprovalRegisterError`)."""
        self.catalog_path = catalog
        self.approvals_path = approvals
        self._stamps: dict[Path, tuple[int, int, int]] = {}
        self._snapshot = Enrichment()
        self.reloads = 0
        self.refresh()

    def current(self) -> Enrichment:
        return self._snapshot

    def refresh(self) -> bool:
        """Re-read the files that changed; True when the snapshot was replaced.

        Raises the file's error when a changed file does not load; the previous snapshot stays.
        """
        catalog, approvals = self._snapshot.catalog, self._snapshot.approvals
        changed = False
        if self.catalog_path is not None and self._changed(self.catalog_path):
            stamp = _stamp_or_none(self.catalog_path)  # before reading: a later change is seen next time
            catalog = Catalog.from_file(self.catalog_path)  # names the file when missing or invalid
            self._remember(self.catalog_path, stamp)
            changed = True
        if self.approvals_path is not None and self._changed(self.approvals_path):
            stamp = _stamp_or_none(self.approvals_path)
            approvals = ApprovalRegister.from_file(self.approvals_path)
            self._remember(self.approvals_path, stamp)
            changed = True
        if changed:
            self._snapshot = Enrichment(catalog=catalog, approvals=approvals)
            self.reloads += 1
        return changed

    def _remember(self, path: Path, stamp: tuple[int, int, int] | None) -> None:
        if stamp is not None:
            self._stamps[path] = stamp

    def _changed(self, path: Path) -> bool:
        try:
            return self._stamps.get(path) != _stamp(path)
        except OSError as exc:
            if path not in self._stamps:
                return True  # let the loader name the problem
            raise GovernanceFileError(
                str(path), f"{exc.strerror}; the version loaded last stays in force"
            ) from None
