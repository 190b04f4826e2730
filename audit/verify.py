"""Re-check a whole ledger directory, read-only, and report the first divergence with its position.

Safe beside a running writer: files are read checkpoints.log, tree levels, entries.log, in that
order (the writer makes each later one durable first), up to their last complete line; a last line
without LF is a write in progress (or a crash the next open cuts) and is noted, not read.

Order of checks (the first failure wins, positions are the earliest in that order):
(1) entries.log: every line is a valid entry in canonical form, with seq equal to its line index,
    and no entry's time more than `audit.index.MAX_LATENESS` before an earlier entry's;
(2) tree/level-00.bin: every stored leaf hash equals SM3(0x00 || line);
(3) tree/level-NN.bin: every stored node equals SM3(0x01 || left || right) of the level below;
(4) checkpoints.log: each checkpoint is for this origin, verifies under the public key, covers
    no more entries than exist, has the root of the recomputed tree at its size, and extends the
    previous one (size never shrinks, time strictly increases: an old one replayed fails), and
    its index line (when present) is the root of the key index re-derived from the entries;
(5) with the auditor's own checkpoint (`known`): the ledger still holds its tree (same root at
    its size) and has a signed checkpoint at least as new; else entries were rolled back.
Entries after the newest checkpoint are verified but unproven: no signature covers them, so a
forger could have appended them. `VerifyReport.status` says so apart from a failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audit.checkpoint import Checkpoint, SignedCheckpoint, check_successor
from audit.entry import LedgerEntry
from audit.errors import AuditError, LedgerUnavailable, TamperDetected
from audit.files import read_file
from audit.index import MAX_LATENESS, ts_micros
from audit.reading import SM3_HASHER, checkpoint_line, line_ends, read_meta, rebuild_index
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

    @property
    def status(self) -> str:
        """``proven``, ``unproven`` (entries past the newest checkpoint) or ``failed``."""
        if not self.ok:
            return "failed"
        return "unproven" if self.unsigned_tail else "proven"

    def summary(self) -> str:
        """One line for an operator."""
        if self.ok and self.unsigned_tail:
            return (
                f"UNPROVEN: {self.entries} entries, {self.checkpoints} checkpoints verified; the last "
                f"{self.unsigned_tail} entries are after the newest signed checkpoint (size "
                f"{self.entries - self.unsigned_tail}): nothing proves they were not forged or that "
                "a later checkpoint was not removed / 最后若干条记录无签名检查点覆盖，未获证明"
            )
        if self.ok:
            return f"OK: {self.entries} entries, {self.checkpoints} checkpoints verified"
        return f"FAILED at {self.position}: {self.failure}"


def verify_store(
    path: Path, public_key_pem: bytes | Sequence[bytes], *, known: Checkpoint | None = None
) -> VerifyReport:
    """Re-check every entry, node, checkpoint and index root of the ledger at `path`.

    `public_key_pem` is the signer's SPKI PEM, or several (after key rotation): each checkpoint
    must be signed by the key whose id it names. `known` is a checkpoint the auditor already holds.
    """
    n = 0
    count_cp = 0
    notes: list[str] = []
    try:
        keys = _keys_by_id(public_key_pem)
        origin = read_meta(path)
        cp_data = read_file(path / "checkpoints.log")
        levels = _read_level_files(path / "tree")
        data = read_file(path / "entries.log")
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            notes.append(
                f"{len(data) - complete} bytes of an unfinished last line ignored "
                "(a write in progress, or a crash that the next open cuts)"
            )
            data = data[:complete]
        lines = data.split(b"\n")[:-1]
        n = len(lines)
        leaves = _check_entries(lines)
        tree = MerkleLevels.from_leaf_hashes(SM3_HASHER, leaves)
        _check_levels(levels, tree)
        checkpoints = _read_checkpoints(cp_data, notes)
        index = rebuild_index(data, line_ends(data), [c.checkpoint.size for c in checkpoints])
        index_roots = dict(index.history)
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
            if cp.index_root is not None and cp.index_root != index_roots.get(cp.size):
                raise TamperDetected(
                    f"index root differs from the key index of the entries at size {cp.size}", position=where
                )
            previous = signed
        if known is not None:
            _check_known(known, origin, tree, previous)
    except TamperDetected as exc:
        return VerifyReport(False, n, count_cp, 0, str(exc).partition(": ")[2], exc.position)
    except LedgerUnavailable as exc:
        return VerifyReport(False, n, count_cp, 0, str(exc).partition(": ")[2], exc.path)
    except AuditError as exc:
        return VerifyReport(False, n, count_cp, 0, str(exc), "ledger")
    signed_size = previous.checkpoint.size if previous else 0
    if previous is None:
        notes.append("no signed checkpoint: entries are hashed but not signed")
    return VerifyReport(True, n, len(checkpoints), n - signed_size, notes=tuple(notes))


def _check_known(known: Checkpoint, origin: str, tree: MerkleLevels, latest: SignedCheckpoint | None) -> None:
    """(5) The auditor's checkpoint is still in this ledger and no newer than its newest checkpoint."""
    where = "your checkpoint"
    if known.origin != origin:
        raise TamperDetected(f"is for {known.origin!r}, this ledger is {origin!r}", position=where)
    if known.size > tree.size:
        raise TamperDetected(
            f"covers {known.size} entries, the ledger holds {tree.size}: entries were rolled back",
            position=where,
        )
    if tree.root(known.size) != known.root:
        raise TamperDetected(
            f"root at size {known.size} differs from the ledger's: history was rewritten", position=where
        )
    if latest is None or latest.checkpoint.size < known.size or latest.checkpoint.time < known.time:
        have = f"size {latest.checkpoint.size} at {latest.checkpoint.time}" if latest else "none"
        raise TamperDetected(
            f"is newer (size {known.size} at {known.time}) than the ledger's newest checkpoint ({have}): "
            "checkpoints were removed",
            position=where,
        )


def _check_entries(lines: list[bytes]) -> list[bytes]:
    hash_leaf = SM3_HASHER.hash_leaf
    leaves: list[bytes] = []
    tau = -(2**62)
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
        micros = ts_micros(entry.ts)
        if micros < tau - MAX_LATENESS:
            raise TamperDetected(
                f"time {entry.ts} is more than {MAX_LATENESS // 1_000_000} s before an earlier entry's "
                "(time-bounded completeness proofs would not cover it)",
                position=where,
            )
        tau = max(tau, micros)
        leaves.append(hash_leaf(raw))
    return leaves


def _read_level_files(tree_dir: Path) -> list[tuple[str, bytes]]:
    out = []
    level = 0
    while (file := tree_dir / f"level-{level:02d}.bin").exists():
        out.append((file.name, file.read_bytes()))
        level += 1
    return out


def _check_levels(files: list[tuple[str, bytes]], tree: MerkleLevels) -> None:
    """Stored nodes may be short (derived data) but every stored node must be right."""
    for level, (name, data) in enumerate(files):
        stored = data[: len(data) - len(data) % 32]  # a node still being written is not read
        want = tree.levels[level] if level < len(tree.levels) else b""
        if len(stored) > len(want):
            raise TamperDetected(f"{(len(stored) - len(want)) // 32} nodes beyond the entries", position=name)
        if stored != want[: len(stored)]:
            index = next(i for i in range(0, len(stored), 32) if stored[i : i + 32] != want[i : i + 32]) // 32
            if level == 0:
                raise TamperDetected(
                    f"hash differs from its stored leaf in {name}", position=f"entry {index}"
                )
            raise TamperDetected(
                "differs from the node recomputed from entries", position=f"{name} node {index}"
            )


def _read_checkpoints(data: bytes, notes: list[str]) -> list[SignedCheckpoint]:
    out: list[SignedCheckpoint] = []
    lines = data.split(b"\n")
    if partial := lines.pop():
        notes.append(f"{len(partial)} bytes of an unfinished last checkpoint line ignored")
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
