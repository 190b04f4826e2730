"""What the parsers and the engines read from the governance store, kept current; and the governance
files of existing deployments, imported into the store when they change.

`StoreEnrichment` is the parsers' `EnrichmentSource`: `current()` hands out the last snapshot (the
catalog and the grants) without any I/O; `refresh()` rebuilds it when a change counter moved, and the
platform's `governance` step calls it every second (so a change reaches the parsers within about a
second, as a token revocation reaches the collector). A snapshot that fails to build keeps the previous
one in force and raises (the step reports it).

`GovernanceFileImports`: the `governance.catalog` (JSON) and `governance.approvals` (JSON lines) files
are imported into the store at start and again whenever one changes (its mtime, size or inode): the
file is the authority for what it holds. A file that does not load refuses the start, or later fails
the step with the store left as it was.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from collectors.approvals import ApprovalRegister, approvals_of, read_register
from collectors.catalog import Catalog
from collectors.enrichment import Enrichment
from datasoc.grants import GrantBook
from datasoc.logging import get_logger
from soc_api.governance.catalog import CatalogService
from soc_api.governance.grants import GrantService
from soc_api.identity.actors import Actor

log = get_logger("governance")


class StoreEnrichment:
    """The catalog and grants of the store as the parsers enrich from them (see module docstring)."""

    def __init__(self, catalog: CatalogService, grants: GrantService) -> None:
        self._catalog = catalog
        self._grants = grants
        self._lock = threading.Lock()
        self._versions: tuple[int, int] | None = None
        self._snapshot = Enrichment()
        self._book = GrantBook()
        self.reloads = 0
        self.refresh()

    def current(self) -> Enrichment:
        """The last snapshot (no I/O: cheap enough for every record)."""
        return self._snapshot

    @property
    def book(self) -> GrantBook:
        """The grants of the last snapshot."""
        return self._book

    def refresh(self) -> bool:
        """Rebuild the snapshot when the catalog or the grants changed; True when it was replaced."""
        with self._lock:
            versions = (self._catalog.version(), self._grants.version())
            if versions == self._versions:
                return False
            catalog = self._catalog.snapshot()
            book = self._grants.book()
            self._snapshot = Enrichment(catalog=catalog, approvals=ApprovalRegister.from_grants(book))
            self._book = book
            self._versions = versions
            self.reloads += 1
            return True


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


@dataclass
class GovernanceFileImports:
    """The governance files of `[governance]`, imported into the store on change (see module docstring)."""

    catalog_service: CatalogService
    grant_service: GrantService
    catalog: Path | None = None
    approvals: Path | None = None

    def __post_init__(self) -> None:
        self._stamps: dict[Path, tuple[int, int, int] | None] = {}
        self._actor = Actor(
            kind="system", id="governance-files", name="governance-files", permissions=frozenset()
        )

    def refresh(self, now: datetime) -> int:
        """Import each configured file that changed since its last import; how many were imported.

        Raises `CatalogError` or `ApprovalRegisterError` naming the file when one
        does not load (what was imported before stays)."""
        done = 0
        for path, load in ((self.catalog, self._import_catalog), (self.approvals, self._import_register)):
            if path is None:
                continue
            stamp = _stamp(path)
            if path in self._stamps and stamp == self._stamps[path]:
                continue
            load(path, now)  # a missing or bad file raises naming it; what was imported stays
            self._stamps[path] = stamp
            done += 1
        return done

    def _import_catalog(self, path: Path, now: datetime) -> None:
        Catalog.from_file(path)  # a `CatalogError` naming the file when it cannot be read or is invalid
        data = json.loads(path.read_text(encoding="utf-8"))
        report = self.catalog_service.import_document(self._actor, data, now=now, source=str(path))
        log.info(
            "catalog_file_imported",
            path=str(path),
            added=len(report.added),
            updated=len(report.updated),
            regraded=len(report.regraded),
        )

    def _import_register(self, path: Path, now: datetime) -> None:
        approvals = approvals_of(read_register(path))
        report = self.grant_service.import_register(self._actor, approvals, now=now, source=str(path))
        log.info(
            "approvals_file_imported", path=str(path), added=len(report.added), skipped=len(report.skipped)
        )
