"""What reading a ledger directory needs, shared by the writer (`storage`), read-only opens
(`snapshot`) and `verify`: the format, the production hasher, line ends, LEDGER, checkpoint lines
and the key index rebuilt from entries.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from audit.checkpoint import SignedCheckpoint
from audit.errors import AuditError, LedgerCorrupt, LedgerMissing
from audit.index import LedgerIndex, grant_of, ts_micros
from audit.merkle import RFC6962Hasher
from crypto.recipes import sm3

FORMAT: Final = "datasoc-ledger/1"
SM3_HASHER: Final = RFC6962Hasher("sm3", 32, sm3)
"""The production hasher: RFC 6962 hashing with SM3 (ARCHITECTURE.md, Ledger contract)."""


def line_ends(data: bytes) -> array[int]:
    """Offsets just past each LF in `data`."""
    ends: array[int] = array("Q")
    pos = data.find(b"\n")
    while pos != -1:
        ends.append(pos + 1)
        pos = data.find(b"\n", pos + 1)
    return ends


def checkpoint_line(signed: SignedCheckpoint) -> bytes:
    """The one spelling of a signed checkpoint in checkpoints.log (sorted keys, LF)."""
    return json.dumps(signed.to_dict(), sort_keys=True).encode("ascii") + b"\n"


def read_meta(path: Path) -> str:
    """Origin of the ledger at `path`; `LedgerMissing` when it is not a ledger directory."""
    marker = path / "LEDGER"
    try:
        meta = json.loads(marker.read_bytes())
    except FileNotFoundError:
        raise LedgerMissing("not a ledger directory (no LEDGER file)", path=str(path)) from None
    except ValueError:
        raise LedgerCorrupt("LEDGER is not JSON", path=str(marker)) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("hash") != "sm3":
        raise LedgerCorrupt(f"unsupported ledger format (want {FORMAT} with sm3)", path=str(marker))
    origin = meta.get("origin")
    if not isinstance(origin, str) or not origin:
        raise LedgerCorrupt("LEDGER has no origin", path=str(marker))
    return origin


def parse_checkpoints(data: bytes, where: Path) -> list[SignedCheckpoint]:
    """Signed checkpoints from the complete lines of checkpoints.log bytes."""
    out: list[SignedCheckpoint] = []
    for lineno, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            out.append(SignedCheckpoint.from_dict(json.loads(line)))
        except (ValueError, AuditError) as exc:
            raise LedgerCorrupt(f"line {lineno}: {exc}", path=str(where)) from None
    return out


def rebuild_index(data: bytes, ends: Sequence[int], sizes: Sequence[int], block: int = 8192) -> LedgerIndex:
    """The key index of entries `data` (line ends `ends`) sealed at every checkpoint size in `sizes`.

    Entry times are not checked here (an old ledger may hold late entries): `verify_store` reports them.
    """
    index = LedgerIndex(SM3_HASHER, sm3)
    todo = sorted(sizes)
    n = len(ends)
    while todo and todo[0] == 0:
        index.seal(todo.pop(0))
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        start = ends[lo - 1] if lo else 0
        try:
            # Canonical entries hold no raw LF: one C-level decode per block instead of per line.
            decoded = json.loads(b"[" + data[start : ends[hi - 1] - 1].replace(b"\n", b",") + b"]")
            rows = [
                (ts_micros(e["ts"]), e["actor"], e["subject"], e["kind"], grant_of(e["payload"]))
                for e in decoded
            ]
            with index.lock:
                index.add_many(lo, rows)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise LedgerCorrupt(
                f"entries {lo}..{hi - 1} cannot be indexed ({exc}); run `datasoc ledger verify`",
                path="entries.log",
            ) from None
        for seq in range(lo, hi):
            while todo and todo[0] == seq + 1:
                index.seal(todo.pop(0))
    for size in todo:
        if size > n:
            raise LedgerCorrupt(
                f"a checkpoint covers {size} entries, the log holds {n}", path="checkpoints.log"
            )
    return index
