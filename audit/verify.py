"""Re-check a whole ledger directory, read-only, and report the first divergence with its position.

Order of checks (the first failure wins, positions are the earliest in that order):
(1) entries.log: every line is a valid entry in canonical form, with seq equal to its line index;
    a last line without LF is reported as a torn tail;
(2) tree/level-00.bin: every stored leaf hash equals SM3(0x00 || line);
(3) tree/level-NN.bin: every stored node equals SM3(0x01 || left || right) of the level below;
(4) checkpoints.log: each checkpoint is for this origin, verifies under the public key, covers
    no more entries than exist, has the root of the recomputed tree at its size, and extends the
    previous one (size never shrinks, time strictly increases: an old one replayed fails).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audit.checkpoint import SignedCheckpoint, check_successor
from audit.entry import LedgerEntry
from audit.errors import AuditError, TamperDetected
from audit.storage import SM3_HASHER, checkpoint_line, read_meta
from audit.tree import MerkleLevels
from crypto.errors import CryptoError
from crypto.recipes import public_key_id

__all__ = ["VerifyReport", "verify_store"]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of `verify_store`; `ok` only when every check passed."""

    ok: bool
    entries: int
    checkpoints: int
    unsigned_tail: int
    failure: str | None = None
    position: str | None = None
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """One line for an operator."""
        if self.ok:
            tail = f"; {self.unsigned_tail} entries after the last checkpoint" if self.unsigned_tail else ""
            return f"OK: {self.entries} entries, {self.checkpoints} checkpoints verified{tail}"
        return f"FAILED at {self.position}: {self.failure}"


def verify_store(path: Path, public_key_pem: bytes | Sequence[bytes]) -> VerifyReport:
    """Re-check every entry, node and checkpoint of the ledger at `path`.

    `public_key_pem` is the signer's SPKI PEM, or several (after key rotation): each checkpoint
    must be signed by the key whose id it names.
    """
    n = 0
    count_cp = 0
    try:
        keys = _keys_by_id(public_key_pem)
        origin = read_meta(path)
        data = (path / "entries.log").read_bytes()
        lines = data.split(b"\n")
        torn = lines.pop()
        n = len(lines)
        leaves = _check_entries(lines)
        if torn:
            raise TamperDetected(f"{len(torn)} bytes after the last complete line", position=f"entry {n}")
        tree = MerkleLevels.from_leaf_hashes(SM3_HASHER, leaves)
        _check_levels(path / "tree", tree)
        checkpoints = _read_checkpoints(path / "checkpoints.log")
        previous: SignedCheckpoint | None = None
        for count_cp, signed in enumerate(checkpoints, 1):
            where = f"checkpoints.log line {count_cp}"
            cp = signed.checkpoint
            if cp.origin != origin:
                raise TamperDetected(f"origin {cp.origin!r} is not this ledger's {origin!r}", position=where)
            pem = keys.get(signed.key_id)
            if pem is None:
                raise TamperDetected(f"signed by unknown key {signed.key_id!r}", position=where)
            try:
                signed.verify(pem)
                if previous is not None:
                    check_successor(previous.checkpoint, cp)
            except AuditError as exc:
                raise TamperDetected(str(exc), position=where) from None
            if cp.size > n:
                raise TamperDetected(f"signed for {cp.size} entries but only {n} exist", position=where)
            if cp.root != tree.root(cp.size):
                raise TamperDetected(f"root does not match the entries at size {cp.size}", position=where)
            previous = signed
    except TamperDetected as exc:
        return VerifyReport(False, n, count_cp, 0, str(exc).partition(": ")[2], exc.position)
    except AuditError as exc:
        return VerifyReport(False, n, count_cp, 0, str(exc), "ledger")
    signed_size = previous.checkpoint.size if previous else 0
    notes = () if previous else ("no signed checkpoint: entries are hashed but not signed",)
    return VerifyReport(True, n, len(checkpoints), n - signed_size, notes=notes)


def _check_entries(lines: list[bytes]) -> list[bytes]:
    hash_leaf = SM3_HASHER.hash_leaf
    leaves: list[bytes] = []
    for seq, raw in enumerate(lines):
        where = f"entry {seq}"
        try:
            entry = LedgerEntry.from_dict(json.loads(raw))
        except (ValueError, AuditError) as exc:
            raise TamperDetected(f"not a valid entry: {exc}", position=where) from None
        if entry.seq != seq:
            raise TamperDetected(f"line holds seq {entry.seq}", position=where)
        if entry.to_canonical() != raw:
            raise TamperDetected("not in canonical form", position=where)
        leaves.append(hash_leaf(raw))
    return leaves


def _check_levels(tree_dir: Path, tree: MerkleLevels) -> None:
    """Stored nodes may be short (derived data) but every stored node must be right."""
    level = 0
    while (file := tree_dir / f"level-{level:02d}.bin").exists():
        stored = file.read_bytes()
        want = tree.levels[level] if level < len(tree.levels) else b""
        if len(stored) > len(want):
            raise TamperDetected(
                f"{(len(stored) - len(want)) // 32} nodes beyond the entries", position=file.name
            )
        if stored != want[: len(stored)]:
            index = next(i for i in range(0, len(stored), 32) if stored[i : i + 32] != want[i : i + 32]) // 32
            if level == 0:
                raise TamperDetected(
                    f"hash differs from its stored leaf in {file.name}", position=f"entry {index}"
                )
            raise TamperDetected(
                "differs from the node recomputed from entries", position=f"{file.name} node {index}"
            )
        level += 1


def _read_checkpoints(path: Path) -> list[SignedCheckpoint]:
    out: list[SignedCheckpoint] = []
    lines = path.read_bytes().split(b"\n")
    if lines.pop():
        raise TamperDetected("last line has no LF", position=f"checkpoints.log line {len(lines) + 1}")
    for lineno, line in enumerate(lines, 1):
        try:
            signed = SignedCheckpoint.from_dict(json.loads(line))
        except (ValueError, AuditError) as exc:
            raise TamperDetected(
                f"unreadable checkpoint: {exc}", position=f"checkpoints.log line {lineno}"
            ) from None
        if checkpoint_line(signed) != line + b"\n":
            raise TamperDetected("line is not in canonical form", position=f"checkpoints.log line {lineno}")
        out.append(signed)
    return out


def _keys_by_id(pems: bytes | Sequence[bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for pem in [pems] if isinstance(pems, bytes) else pems:
        try:
            out[public_key_id(pem)] = pem
        except CryptoError as exc:
            raise AuditError(f"public key unusable: {exc}") from None
    return out
