"""The proof that an event's access trace is in the ledger, checked as an auditor would.

The trail (`soc_api.trail`) writes one `access` entry per data access, with the event's id in
its payload. `find_access` looks it up through the ledger's key index (actor and subject, both
required for an access entry, newest first, at most `scan` candidates read), and `prove` checks it
against the latest signed checkpoint in the steps of RFC 9162 §2.1.3.2 (inclusion) and the SM2
signature over the checkpoint, returning every step with its outcome so the console can show it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from audit.errors import AuditError
from audit.ledger import Ledger
from audit.merkle import verify_inclusion
from audit.reading import SM3_HASHER
from crypto.recipes import public_key_id
from soc_api.trail import ACCESS_KIND


@dataclass(frozen=True, slots=True)
class ProofStep:
    """One step of a check: its name (Chinese / English), whether it held, and what was seen."""

    name_zh: str
    name_en: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class AccessProof:
    """An event's ledger entry and the checked proof of its inclusion under a signed checkpoint."""

    event_id: str
    seq: int | None
    entry: str | None
    leaf_hash: str | None
    path: tuple[str, ...]
    tree_size: int | None
    root: str | None
    checkpoint_time: str | None
    key_id: str | None
    steps: tuple[ProofStep, ...]

    @property
    def ok(self) -> bool:
        """Every step held."""
        return bool(self.steps) and all(s.ok for s in self.steps)


def find_access(ledger: Ledger, event_id: str, actor: str, subject: str, *, scan: int = 5000) -> int | None:
    """The seq of the `access` entry tracing `event_id`, looked up by its actor and subject keys."""
    index = ledger.store.index
    with index.lock:
        by_actor = set(index.lookup(f"actor:{actor}"))
        candidates = [s for s in index.lookup(f"subject:{subject}") if s in by_actor]
    for seq in sorted(candidates, reverse=True)[:scan]:
        data = json.loads(ledger.store.read_raw(seq))
        payload = data.get("payload") or {}
        if data.get("kind") == ACCESS_KIND and payload.get("event.id") == event_id:
            return seq
    return None


def prove(ledger: Ledger, public_key_pem: bytes, event: dict[str, object]) -> AccessProof:
    """Find the event's access entry and check its inclusion under the latest signed checkpoint."""
    event_id = str(event.get("event.id") or "")
    actor = str(event.get("user.name") or event.get("user.id") or "unknown")
    subject = str(event.get("data.asset.id") or event.get("event.action") or "")
    steps: list[ProofStep] = []
    seq = find_access(ledger, event_id, actor, subject)
    steps.append(
        ProofStep(
            "查找留痕记录",
            "find the access entry",
            seq is not None,
            f"seq {seq}" if seq is not None else "no access entry for this event (not a data access?)",
        )
    )
    empty = AccessProof(event_id, seq, None, None, (), None, None, None, None, tuple(steps))
    if seq is None:
        return empty
    latest = ledger.store.latest_checkpoint()
    covered = latest is not None and seq < latest.checkpoint.size
    steps.append(
        ProofStep(
            "已签名检查点覆盖",
            "covered by a signed checkpoint",
            covered,
            f"checkpoint size {latest.checkpoint.size}" if latest else "no checkpoint signed yet",
        )
    )
    raw = ledger.store.read_raw(seq)
    if latest is None or not covered:
        return AccessProof(event_id, seq, raw.decode("utf-8"), None, (), None, None, None, None, tuple(steps))
    cp = latest.checkpoint
    try:
        latest.verify(public_key_pem)
        signed = ProofStep("检查点 SM2 签名", "SM2 signature on the checkpoint", True, latest.key_id)
    except AuditError as exc:
        signed = ProofStep("检查点 SM2 签名", "SM2 signature on the checkpoint", False, str(exc))
    steps.append(signed)
    leaf = SM3_HASHER.hash_leaf(raw)
    path = ledger.inclusion_proof(seq, cp.size)
    try:
        # RFC 9162 §2.1.3.2: recompute the root from the leaf hash and the audit path.
        verify_inclusion(SM3_HASHER, seq, cp.size, leaf, path, cp.root)
        included = ProofStep(
            "包含证明 (RFC 9162)", "inclusion proof (RFC 9162)", True, f"{len(path)} hashes up to the root"
        )
    except AuditError as exc:
        included = ProofStep("包含证明 (RFC 9162)", "inclusion proof (RFC 9162)", False, str(exc))
    steps.append(included)
    return AccessProof(
        event_id=event_id,
        seq=seq,
        entry=raw.decode("utf-8"),
        leaf_hash="sm3:" + leaf.hex(),
        path=tuple("sm3:" + p.hex() for p in path),
        tree_size=cp.size,
        root="sm3:" + cp.root.hex(),
        checkpoint_time=cp.time,
        key_id=public_key_id(public_key_pem),
        steps=tuple(steps),
    )
