"""Error root of the audit ledger: every error raised by `audit.*` is an `AuditError`.

Leaves carry where the problem is (`position`: a sequence number, a tree level, a file), so an
operator can go straight to it. Verifiers that answer outside callers collapse all of these into
one opaque `VerificationFailed`, so a verifier is never an oracle for which byte to forge next.
"""

from __future__ import annotations


class AuditError(Exception):
    """Root of the audit package's errors."""

    def diagnostics(self) -> str:
        """What an operator should do about this error."""
        return "inspect the ledger directory with `datasoc ledger verify` and restore from backup if it fails"


class EntryError(AuditError, ValueError):
    """A ledger entry is malformed: names the field and, when known, the sequence number."""

    def __init__(self, message: str, *, field: str = "", seq: int | None = None) -> None:
        self.field = field
        self.seq = seq
        where = f"entry {seq}: " if seq is not None else ""
        super().__init__(f"{where}{field + ': ' if field else ''}{message}")


class ProofError(AuditError):
    """A Merkle inclusion or consistency proof does not verify (RFC 9162 §2.1.3.2 / §2.1.4.2)."""


class CheckpointError(AuditError):
    """A checkpoint (signed tree head) is malformed or its signature does not verify."""


class TamperDetected(AuditError):
    """Stored data disagrees with what the tree commits to; `position` says where it first does."""

    def __init__(self, message: str, *, position: str) -> None:
        self.position = position
        super().__init__(f"{position}: {message}")


class LedgerCorrupt(AuditError):
    """The ledger directory cannot be read as a ledger (not a torn tail, which is cut and reported)."""

    def __init__(self, message: str, *, path: str, offset: int | None = None) -> None:
        self.path = path
        self.offset = offset
        at = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}{at}: {message}")


class LedgerUnavailable(AuditError):
    """The ledger directory cannot be opened as asked (locked, missing, already there); nothing is corrupt."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class LedgerLocked(LedgerUnavailable):
    """Another process holds the ledger open for writing (the platform, usually): open it read-only."""

    def diagnostics(self) -> str:
        """What to do: read-only commands work beside the writer; writers wait for it to stop."""
        return "stop the process that holds the ledger (datasoc run) or use a read-only command"


class LedgerMissing(LedgerUnavailable):
    """A file the ledger needs is absent: `path` names it."""


class LedgerExists(LedgerUnavailable):
    """`create` found a ledger already there: it never overwrites one."""


class EntryOutOfOrder(EntryError):
    """An entry's time is earlier than the ledger's latest time by more than the allowed lateness.

    Time-bounded completeness proofs (`audit.index`) rely on entry times never running back by
    more than `audit.index.MAX_LATENESS`; an appender whose clock jumped back gets this error.
    """


class BundleError(AuditError):
    """An export bundle is malformed (missing member, bad manifest, bad encoding)."""


class VerificationFailed(AuditError):
    """Opaque failure returned to outside callers of a verifier; details go to the local report only."""
