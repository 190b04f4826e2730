"""Export bundles: write one from a store, and verify one with nothing but its bytes and a key.

Layout and encodings are in `audit.bundle_format`. Verification is pure over the bundle bytes,
the public key the auditor trusts and, optionally, the auditor's last known checkpoint.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from audit import bundle_format as bf
from audit.checkpoint import Checkpoint, SignedCheckpoint, check_successor
from audit.entry import LedgerEntry, format_ts
from audit.errors import AuditError, BundleError, ProofError, VerificationFailed
from audit.merkle import NodeRange, inclusion_path, verify_consistency, verify_inclusion
from audit.storage import SM3_HASHER, LedgerStore
from audit.tree import MerkleLevels
from crypto.errors import CryptoError
from crypto.recipes import public_key_id, sm3_hex
from datasoc.canonical import canonical_json

OPENSSL_VERIFY = (
    "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -digest sm3 "
    "-pkeyopt distid:1234567812345678 -in checkpoint.bin -sigfile checkpoint.sig"
)


# ---------------------------------------------------------------- export


def proof_nodes(tree: MerkleLevels, seqs: Sequence[int], size: int) -> list[tuple[NodeRange, bytes]]:
    """Every node the inclusion proofs of `seqs` (ascending) in the tree of `size` use, once.

    Walks each path bottom-up and stops where it joins the previous entry's path: everything
    above is already collected, so a contiguous export costs about one node per entry.
    """
    out: list[tuple[NodeRange, bytes]] = []
    previous = -1
    for seq in seqs:
        level = 0
        while (size - 1) >> level:
            if previous >= 0 and previous >> level == seq >> level:
                break
            sibling = (seq >> level) ^ 1
            start = sibling << level
            if start < size:
                node = (start, min(start + (1 << level), size))
                out.append((node, tree.node(node)))
            level += 1
        previous = seq
    return out


def export_bundle(
    store: LedgerStore,
    out: Path,
    *,
    public_key_pem: bytes,
    now: datetime,
    seqs: Sequence[int] | None = None,
    signed: SignedCheckpoint | None = None,
    known: SignedCheckpoint | None = None,
) -> Path:
    """Write a bundle of `seqs` (default: all signed entries) proven against `signed` (default: latest).

    With `known` (the auditor's last checkpoint), a consistency proof from it is included.
    """
    signed = signed or store.latest_checkpoint()
    if signed is None:
        raise BundleError("the ledger has no signed checkpoint to export against")
    cp = signed.checkpoint
    size = cp.size
    if seqs is None:
        seqs = range(size)
    if any(b <= a for a, b in itertools.pairwise(seqs)) or (seqs and not 0 <= seqs[0] <= seqs[-1] < size):
        raise BundleError(f"entries to export must be ascending, unique and below the checkpoint size {size}")
    if store.tree.root(size) != cp.root:
        raise BundleError("the checkpoint does not match this ledger")
    if isinstance(seqs, range) and seqs.step == 1:
        lines = store.read_raw_range(seqs.start, seqs.stop)
    else:
        lines = [store.read_raw(s) for s in seqs]
    entries = b"".join(line + b"\n" for line in lines)
    proofs = bf.encode_nodes(proof_nodes(store.tree, seqs, size))
    members: dict[str, bytes] = {
        bf.ENTRIES: entries,
        bf.PROOFS: proofs,
        bf.CHECKPOINT: cp.to_text(),
        bf.SIGNATURE: signed.signature,
        bf.PUBKEY: public_key_pem,
    }
    if known is not None:
        proof = store.tree.consistency_proof(known.checkpoint.size, size)
        doc = {"from": known.to_dict(), "proof": ["sm3:" + p.hex() for p in proof]}
        members[bf.CONSISTENCY] = canonical_json(doc)
    manifest: dict[str, Any] = {
        "format": bf.FORMAT,
        "hash": "sm3",
        "origin": cp.origin,
        "tree_size": size,
        "entries": len(seqs),
        "first_seq": seqs[0] if seqs else None,
        "last_seq": seqs[-1] if seqs else None,
        "contiguous": bool(seqs) and seqs[-1] - seqs[0] + 1 == len(seqs),
        "created": format_ts(now),
        "consistency_from": known.checkpoint.size if known else None,
        "files": {name: sm3_hex(data) for name, data in members.items() if name in bf.HASHED_MEMBERS},
    }
    kinds = Counter(json.loads(line)["kind"] for line in lines[:100_000])
    members[bf.REPORT] = _report(manifest, cp, kinds, known).encode()
    members[bf.VERIFY] = _verify_text(out.name).encode()
    members[bf.MANIFEST] = json.dumps(manifest, sort_keys=True, indent=1).encode()
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in (bf.MANIFEST, bf.REPORT, bf.VERIFY, bf.PUBKEY, bf.CHECKPOINT, bf.SIGNATURE):
            zf.writestr(name, members[name])
        for name in (bf.CONSISTENCY, bf.ENTRIES, bf.PROOFS):
            if name in members:
                zf.writestr(name, members[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    tmp.replace(out)
    return out


def _report(
    manifest: dict[str, Any], cp: Checkpoint, kinds: Counter[str], known: SignedCheckpoint | None
) -> str:
    kind_lines = "\n".join(f"  {k}: {v}" for k, v in sorted(kinds.items()))
    since = (
        f"自您上次确认的检查点（{known.checkpoint.size} 条）以来仅有追加，附一致性证明。\n"
        f"Consistency proof included from your last known checkpoint ({known.checkpoint.size} entries).\n"
        if known
        else ""
    )
    return (
        "审计账本导出报告 / Audit ledger export report\n"
        "==========================================\n\n"
        f"账本 / Origin: {cp.origin}\n"
        f"检查点树大小 / Checkpoint tree size: {cp.size}\n"
        f"根哈希 / Root hash: {cp.root_hex()}\n"
        f"检查点时间 / Checkpoint time: {cp.time}\n"
        f"导出记录数 / Entries exported: {manifest['entries']} "
        f"(seq {manifest['first_seq']} .. {manifest['last_seq']})\n"
        f"导出时间 / Exported at: {manifest['created']}\n\n"
        f"记录类型 / Kinds (first 100,000 entries):\n{kind_lines}\n\n"
        f"{since}"
        "每条记录附有包含证明（RFC 9162，SM3），检查点由 SM2 签名。校验方法见 VERIFY.txt。\n"
        "Every entry carries an inclusion proof (RFC 9162 with SM3) to an SM2-signed checkpoint.\n"
        "See VERIFY.txt for how to check them.\n"
    )


def _verify_text(name: str) -> str:
    return (
        "校验方法 / How to verify\n"
        "========================\n\n"
        "使用您从可信渠道获得的公钥 pub.pem（包内 pubkey.pem 仅为副本）。\n"
        "Use the public key pub.pem you obtained through a trusted channel (pubkey.pem here is a copy).\n\n"
        "1. 检查点签名 / Checkpoint signature (OpenSSL 3):\n"
        f"   unzip -o {name} checkpoint.bin checkpoint.sig\n"
        f"   {OPENSSL_VERIFY}\n\n"
        "2. 全部记录 / Every record (inclusion proofs, signature, optional consistency proof):\n"
        f"   datasoc verify {name} --pubkey pub.pem\n\n"
        "3. 单条记录 / One record on its own:\n"
        f"   datasoc verify {name} --pubkey pub.pem --entry SEQ\n\n"
        "退出码 0 表示每条记录均已证明 / Exit code 0 means every record is proven.\n"
    )


# ---------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class BundleReport:
    """Outcome of `verify_bundle`; `ok` only when every record is proven."""

    ok: bool
    entries: int = 0
    tree_size: int = 0
    origin: str = ""
    root: str = ""
    checkpoint_time: str = ""
    consistency_from: int | None = None
    failure: str | None = None

    def summary(self) -> str:
        """One line for an operator."""
        if not self.ok:
            return f"FAILED: {self.failure}"
        cons = f", consistent with size {self.consistency_from}" if self.consistency_from is not None else ""
        return (
            f"OK: {self.entries} entries proven in {self.origin} at size {self.tree_size} ({self.root}){cons}"
        )


def bundled_public_key(data: bytes) -> tuple[bytes, str]:
    """The bundle's own pubkey.pem and its key id (for display: trust comes from the auditor's key)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            pem = zf.read(bf.PUBKEY)
        return pem, public_key_id(pem)
    except (zipfile.BadZipFile, KeyError, CryptoError) as exc:
        raise BundleError(f"no usable {bf.PUBKEY} in the bundle: {exc}") from None


def check_bundle(data: bytes, public_key_pem: bytes, *, known: Checkpoint | None = None) -> BundleReport:
    """Like `verify_bundle` but for outside callers: raises one opaque `VerificationFailed`."""
    report = verify_bundle(data, public_key_pem, known=known)
    if not report.ok:
        raise VerificationFailed("bundle does not verify")
    return report


def verify_bundle(
    data: bytes, public_key_pem: bytes, *, known: Checkpoint | None = None, entry: int | None = None
) -> BundleReport:
    """Verify a bundle (bytes) under `public_key_pem`; the report names the first failure.

    With `entry`, only that record's inclusion proof is checked (RFC 9162 §2.1.3.2 verifier).
    """
    try:
        return _verify(data, public_key_pem, known, entry)
    except (AuditError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        return BundleReport(False, failure=str(exc) or type(exc).__name__)


def _verify(data: bytes, public_key_pem: bytes, known: Checkpoint | None, only: int | None) -> BundleReport:
    # (1) the container and its manifest.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        for name in (*bf.HASHED_MEMBERS, bf.MANIFEST):
            if name not in names:
                raise BundleError(f"bundle has no {name}")
        manifest = json.loads(zf.read(bf.MANIFEST))
        bf.check_manifest(manifest)
        members = {name: zf.read(name) for name in bf.HASHED_MEMBERS}
        consistency = None
        if bf.CONSISTENCY in names:
            raw_consistency = zf.read(bf.CONSISTENCY)
            consistency = json.loads(raw_consistency)
            if canonical_json(consistency) != raw_consistency:
                raise BundleError(f"{bf.CONSISTENCY} is not canonical JSON")
    # (2) member digests: catches damage early with a clear name (trust comes from step 3).
    for name in bf.HASHED_MEMBERS:
        if manifest["files"].get(name) != sm3_hex(members[name]):
            raise BundleError(f"{name} does not match its digest in {bf.MANIFEST}")
    # (3) the checkpoint: signed by the trusted key, for this origin and size.
    cp = Checkpoint.from_text(members[bf.CHECKPOINT])
    signed = SignedCheckpoint(cp, members[bf.SIGNATURE], "")
    signed.verify(public_key_pem)
    if cp.origin != manifest["origin"] or cp.size != manifest["tree_size"]:
        raise BundleError("manifest origin or tree size differs from the signed checkpoint")
    # (4) append-only since the auditor's last known checkpoint (an old checkpoint replayed fails).
    cons_from = _check_consistency(cp, consistency, public_key_pem, known)
    # (5) entries: valid, strictly ascending, inside the signed tree.
    lines = members[bf.ENTRIES].split(b"\n")
    if lines.pop() != b"":
        raise BundleError(f"{bf.ENTRIES}: last line has no LF")
    if len(lines) != manifest["entries"]:
        raise BundleError(f"{bf.ENTRIES}: {len(lines)} entries, manifest says {manifest['entries']}")
    seqs = _check_entries(lines, cp.size)
    _check_claimed_range(manifest, seqs)
    # (6) inclusion proofs.
    nodes = bf.decode_nodes(members[bf.PROOFS])
    if only is not None:
        if only not in seqs:
            raise BundleError(f"entry {only} is not in this bundle")
        raw = lines[seqs.index(only)]
        proof = [_node(nodes, n, only) for n in inclusion_path(only, cp.size)]
        verify_inclusion(SM3_HASHER, only, cp.size, SM3_HASHER.hash_leaf(raw), proof, cp.root)
        count = 1
    else:
        _check_all_inclusions(seqs, lines, nodes, cp.size, cp.root)
        count = len(seqs)
    return BundleReport(True, count, cp.size, cp.origin, cp.root_hex(), cp.time, cons_from)


def _check_consistency(
    cp: Checkpoint, consistency: Any, public_key_pem: bytes, known: Checkpoint | None
) -> int | None:
    old: Checkpoint | None = None
    if consistency is not None:
        if not isinstance(consistency, dict) or not isinstance(consistency.get("proof"), list):
            raise BundleError(f"{bf.CONSISTENCY}: needs 'from' and 'proof'")
        old_signed = SignedCheckpoint.from_dict(consistency.get("from", {}))
        old_signed.verify(public_key_pem)
        old = old_signed.checkpoint
        check_successor(old, cp)
        proof = [_unhex(p) for p in consistency["proof"]]
        verify_consistency(SM3_HASHER, old.size, cp.size, proof, old.root, cp.root)
    if known is not None:
        if known.origin != cp.origin:
            raise BundleError(f"bundle is for {cp.origin!r}, your checkpoint for {known.origin!r}")
        if known.size > cp.size or known.time > cp.time:
            raise ProofError(f"bundle checkpoint (size {cp.size}) is older than yours (size {known.size})")
        if known.size == cp.size:
            if known.root != cp.root:
                raise ProofError(f"bundle root differs from yours at the same size {cp.size}")
        elif old is None or (old.size, old.root) != (known.size, known.root):
            raise ProofError(f"bundle has no consistency proof from your checkpoint (size {known.size})")
    return old.size if old else None


def _unhex(text: object) -> bytes:
    if not isinstance(text, str) or not text.startswith("sm3:") or len(text) != 68:
        raise BundleError(f"{bf.CONSISTENCY}: proof element is not sm3:<hex>")
    return bytes.fromhex(text[4:])


def _check_claimed_range(manifest: dict[str, Any], seqs: list[int]) -> None:
    """The manifest's claims (first, last, contiguous) must describe the entries actually present."""
    first, last = (seqs[0], seqs[-1]) if seqs else (None, None)
    if manifest.get("first_seq") != first or manifest.get("last_seq") != last:
        raise BundleError(
            f"{bf.MANIFEST}: claims seq {manifest.get('first_seq')}..{manifest.get('last_seq')}, "
            f"entries hold {first}..{last}"
        )
    if manifest.get("contiguous") is True and seqs and len(seqs) != seqs[-1] - seqs[0] + 1:
        raise BundleError(f"{bf.MANIFEST}: claims every entry from {first} to {last}, some are missing")


def _decode_lines(lines: list[bytes]) -> list[Any]:
    """Decode all lines in one C-level call (a million separate json.loads calls cost seconds)."""
    try:
        decoded = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        decoded = None
    if isinstance(decoded, list) and len(decoded) == len(lines):
        return decoded
    # Fall back line by line to name the bad line (a line holding "1,2" would also miscount).
    out: list[Any] = []
    for pos, raw in enumerate(lines):
        try:
            out.append(json.loads(raw))
        except ValueError as exc:
            raise BundleError(f"{bf.ENTRIES} line {pos + 1}: not JSON: {exc}") from None
    return out


def _check_entries(lines: list[bytes], size: int) -> list[int]:
    seqs: list[int] = []
    previous = -1
    for pos, data in enumerate(_decode_lines(lines)):
        try:
            entry = LedgerEntry.from_dict(data)
        except AuditError as exc:
            raise BundleError(f"{bf.ENTRIES} line {pos + 1}: {exc}") from None
        if not previous < entry.seq < size:
            raise BundleError(
                f"{bf.ENTRIES} line {pos + 1}: seq {entry.seq} out of order or beyond size {size}"
            )
        seqs.append(entry.seq)
        previous = entry.seq
    return seqs


def _node(nodes: dict[NodeRange, bytes], node: NodeRange, seq: int) -> bytes:
    try:
        return nodes[node]
    except KeyError:
        raise ProofError(f"entry {seq}: proof node {node} missing from {bf.PROOFS}") from None


def _check_all_inclusions(
    seqs: list[int], lines: list[bytes], nodes: dict[NodeRange, bytes], size: int, root: bytes
) -> None:
    """Verify every entry's inclusion proof, sharing work between neighbours.

    Entry i's proof folds its leaf hash up the path `inclusion_path(i, size)`. Where that path
    joins the previous entry's (same ancestor node), the rest of both proofs is the same nodes
    from proofs.bin, and the previous entry's fold already reached the signed root from there;
    so i's proof verifies exactly when its fold equals the previous fold at that ancestor. Each
    proof is thereby fully checked, with about two hashes per entry instead of log2(size).
    """
    hash_leaf, hash_children = SM3_HASHER.hash_leaf, SM3_HASHER.hash_children
    depth = max(1, (size - 1).bit_length())
    memo: list[bytes] = [b""] * (depth + 1)  # ancestor hash of the previous entry, per level
    previous = -1
    for seq, raw in zip(seqs, lines, strict=True):
        h = hash_leaf(raw)
        level = 0
        joined = False
        while (size - 1) >> level:
            index = seq >> level
            sibling = index ^ 1
            start = sibling << level
            if start < size:
                p = _node(nodes, (start, min(start + (1 << level), size)), seq)
                h = hash_children(p, h) if sibling < index else hash_children(h, p)
            level += 1
            if previous >= 0 and previous >> level == seq >> level:
                if h != memo[level]:
                    raise ProofError(f"entry {seq}: inclusion proof does not reach the signed root")
                joined = True
                break
            memo[level] = h
        if not joined and h != root:
            raise ProofError(f"entry {seq}: inclusion proof does not reach the signed root")
        previous = seq
