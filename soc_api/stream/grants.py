"""Grants to the job's broadcast input: numbered grant-change files, written only when grants changed.

`GrantSync.sync()` compares the store's grant book (`soc_api.governance.usage.StoreGrants`) with what
was sent (a manifest of grant id -> digest, so a restart sends only the difference) and writes
`grants-<version>.jsonl` (one `detection.stream.grants.GrantChange`) into the job's grants directory.
The first sync always writes a change, empty or not, so the job knows it has the grants. `version` is
the newest change written: the exporter stamps it on every batch pointer (`gv`), and the job evaluates a
batch only once it has applied that version.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Protocol

from datasoc.grants import GrantBook
from datasoc.transport.offsets import write_durably
from detection.stream.grants import GrantChange
from soc_api.stream.exporter import write_atomically

_GRANT_FILE = re.compile(r"grants-(\d{12})\.jsonl")


class GrantSource(Protocol):
    """Where the grants come from (the governance store)."""

    def book(self) -> GrantBook:
        """The current grant book."""
        ...


class GrantSync:
    """Feeds the broadcast stream from the grant book (see module docstring)."""

    def __init__(self, source: GrantSource, directory: Path, manifest: Path) -> None:
        self.source = source
        self._dir = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        versions = [int(m.group(1)) for p in directory.iterdir() if (m := _GRANT_FILE.fullmatch(p.name))]
        self.version = max(versions, default=0)
        self._manifest = manifest
        self._sent: dict[str, str] = (
            json.loads(manifest.read_text()) if manifest.exists() and self.version else {}
        )

    def sync(self) -> GrantChange | None:
        """Write one change with every difference (the first always); None when nothing changed."""
        book = self.source.book()
        digests = {grant_id: grant.digest() for grant_id, grant in book.grants.items()}
        changed = sorted(k for k, d in digests.items() if self._sent.get(k) != d)
        removed = sorted(set(self._sent) - set(digests))
        if not changed and not removed and self.version:
            return None
        put = {
            k: json.dumps(book.grants[k].to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            for k in changed
        }
        change = GrantChange(self.version + 1, put, tuple(removed))
        write_atomically(self._dir, f"grants-{change.version:012d}.jsonl", (change.to_json() + "\n").encode())
        self.version = change.version
        self._sent = digests
        write_durably(self._manifest, json.dumps(self._sent, sort_keys=True).encode(), os.fsync)
        return change
