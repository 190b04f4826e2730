"""Verify an export bundle with nothing but its bytes and the key(s) the auditor trusts.

Pure over the bundle bytes, the trusted public keys and, optionally, the auditor's last known
checkpoint. Steps, in order (the first failure wins and is named in the report):
(1) container: plain member names, each once, only the members of the format, declared and
    inflated sizes within `Limits` (streamed, so a zip bomb stops at the cap);
(2) manifest.json: canonical JSON of format datasoc-bundle/2, signed (manifest.sig) by a trusted key;
(3) every other member is listed in the manifest with its SM3 digest, and nothing else is;
(4) VERIFY.txt is exactly the text generated from the manifest;
(5) the checkpoint is signed by a trusted key and matches the manifest's origin and size;
(6) consistency from the auditor's last known checkpoint (an old checkpoint replayed fails);
(7) entries: valid, strictly ascending, inside the signed tree, as the manifest counts them;
(8) every entry's inclusion proof (RFC 9162 §2.1.3.2);
(9) the selection: a key selection's runs prove completeness through the signed key index; a
    sequence range is complete when every seq in it is present; a list proves genuineness only.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from audit import bundle_format as bf
from audit.checkpoint import Checkpoint, SignedCheckpoint, check_successor
from audit.entry import LedgerEntry
from audit.errors import AuditError, BundleError, ProofError, VerificationFailed
from audit.index import RunClaim, verify_run
from audit.keymap import KeyHead, MapProof
from audit.merkle import NodeRange, inclusion_path, verify_consistency, verify_inclusion
from audit.reading import SM3_HASHER
from audit.selection import Selection
from crypto.errors import CryptoError
from crypto.recipes import public_key_id, sm3, sm3_hex, verify_signature
from datasoc.canonical import canonical_json

Keys = bytes | Sequence[bytes]

#: The steps above, (Chinese, English), in order; `BundleReport.failed_step` is a 1-based index.
STEPS: tuple[tuple[str, str], ...] = (
    ("容器：成员名称与大小", "container: member names and sizes"),
    ("清单：规范 JSON 且签名可信", "manifest: canonical and signed by the trusted key"),
    ("清单列出每个成员及其 SM3 摘要", "every member listed with its SM3 digest"),
    ("VERIFY.txt 与清单一致", "VERIFY.txt is the one the manifest implies"),
    ("检查点 SM2 签名、来源与大小", "checkpoint: SM2 signature, origin and size"),
    ("与已知检查点一致（仅追加）", "consistency with the known checkpoint (append-only)"),
    ("记录有效、递增且在签名树内", "entries valid, ascending, inside the signed tree"),
    ("每条记录的包含证明 (RFC 9162)", "every entry's inclusion proof (RFC 9162)"),
    ("选择范围的完整性", "what the selection proves (completeness)"),
)


@dataclass
class _Progress:
    step: int = 1


@dataclass(frozen=True, slots=True)
class BundleReport:
    """Outcome of `verify_bundle`; `ok` only when every record is proven.

    `complete` says whether the selection is also proven complete; `statement_zh` /
    `statement_en` say exactly what was proven, in words an auditor can quote.
    """

    ok: bool
    entries: int = 0
    tree_size: int = 0
    origin: str = ""
    root: str = ""
    checkpoint_time: str = ""
    consistency_from: int | None = None
    failure: str | None = None
    complete: bool = False
    selected: int = 0
    context: int = 0
    statement_zh: str = ""
    statement_en: str = ""
    #: The step (1-based, see `STEPS`) that failed; None when the bundle verifies.
    failed_step: int | None = None

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
        pem = _read_members(data, bf.Limits(), require=False)[bf.PUBKEY]
        return pem, public_key_id(pem)
    except (zipfile.BadZipFile, KeyError, CryptoError, AuditError) as exc:
        raise BundleError(f"no usable {bf.PUBKEY} in the bundle: {exc}") from None


def check_bundle(data: bytes, public_keys: Keys, *, known: Checkpoint | None = None) -> BundleReport:
    """Like `verify_bundle` but for outside callers: raises one opaque `VerificationFailed`."""
    report = verify_bundle(data, public_keys, known=known)
    if not report.ok:
        raise VerificationFailed("bundle does not verify")
    return report


def verify_bundle(
    data: bytes,
    public_keys: Keys,
    *,
    known: Checkpoint | None = None,
    entry: int | None = None,
    limits: bf.Limits | None = None,
) -> BundleReport:
    """Verify a bundle (bytes) under the trusted key(s); the report names the first failure.

    With `entry`, only that record's inclusion proof is checked (RFC 9162 §2.1.3.2 verifier).
    """
    keys = [public_keys] if isinstance(public_keys, bytes) else list(public_keys)
    progress = _Progress()
    try:
        return _verify(data, keys, known, entry, limits or bf.Limits(), progress)
    except (AuditError, zipfile.BadZipFile, KeyError, ValueError, TypeError, EOFError) as exc:
        return BundleReport(False, failure=str(exc) or type(exc).__name__, failed_step=progress.step)


def _read_members(data: bytes, limits: bf.Limits, *, require: bool = True) -> dict[str, bytes]:
    # (1) the container, before inflating anything.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise BundleError(f"bundle has {len(infos)} members, at most {limits.max_members} are read")
        twice = sorted(name for name, n in Counter(i.filename for i in infos).items() if n > 1)
        if twice:
            raise BundleError(f"duplicate member names: {', '.join(map(repr, twice))}")
        for info in infos:
            bf.check_member_name(info.filename)
            if info.file_size > limits.max_member_bytes:
                raise BundleError(f"{info.filename} declares {info.file_size} bytes, over the limit")
        if sum(i.file_size for i in infos) > limits.max_total_bytes:
            raise BundleError("members declare more bytes in all than the limit")
        out: dict[str, bytes] = {}
        total = 0
        for info in infos:
            parts: list[bytes] = []
            got = 0
            with zf.open(info) as fh:
                while block := fh.read(1 << 20):
                    got += len(block)
                    total += len(block)
                    if got > limits.max_member_bytes or total > limits.max_total_bytes:
                        raise BundleError(
                            f"{info.filename} inflates past the limit (declared {info.file_size})"
                        )
                    parts.append(block)
            out[info.filename] = b"".join(parts)
    if require:
        missing = [name for name in bf.REQUIRED if name not in out]
        if missing:
            raise BundleError(f"bundle has no {', '.join(missing)}")
    return out


def _verify(
    data: bytes,
    keys: list[bytes],
    known: Checkpoint | None,
    only: int | None,
    limits: bf.Limits,
    progress: _Progress,
) -> BundleReport:
    members = _read_members(data, limits, require=False)
    progress.step = 2
    # (2) the manifest: this format (an old one is named before anything else), canonical, signed
    # by a key the auditor trusts.
    if bf.MANIFEST not in members:
        raise BundleError(f"bundle has no {bf.MANIFEST}")
    raw_manifest = members[bf.MANIFEST]
    manifest = json.loads(raw_manifest)
    bf.check_manifest(manifest)
    missing = [name for name in bf.REQUIRED if name not in members]
    if missing:
        raise BundleError(f"bundle has no {', '.join(missing)}")
    if canonical_json(manifest) != raw_manifest:
        raise BundleError(f"{bf.MANIFEST} is not canonical JSON")
    if not any(verify_signature(k, raw_manifest, members[bf.MANIFEST_SIG]) for k in keys):
        raise BundleError(f"{bf.MANIFEST_SIG} does not verify under the trusted key")
    progress.step = 3
    # (3) the manifest lists every other member, with its digest, and nothing else.
    present = set(members) - {bf.MANIFEST, bf.MANIFEST_SIG}
    listed = set(manifest["files"])
    if present != listed:
        extra, absent = sorted(present - listed), sorted(listed - present)
        raise BundleError(f"members not in the manifest: {extra}; listed but absent: {absent}")
    for name in sorted(present):
        if manifest["files"][name] != sm3_hex(members[name]):
            raise BundleError(f"{name} does not match its digest in {bf.MANIFEST}")
    progress.step = 4
    # (4) the instructions are the ones this manifest implies.
    if members[bf.VERIFY] != bf.verify_text(manifest).encode():
        raise BundleError(f"{bf.VERIFY} differs from the text generated from the manifest")
    progress.step = 5
    # (5) the checkpoint: signed by a trusted key, for this origin and size.
    cp = Checkpoint.from_text(members[bf.CHECKPOINT])
    _check_signed(cp, members[bf.SIGNATURE], keys)
    if cp.origin != manifest["origin"] or cp.size != manifest["tree_size"]:
        raise BundleError("manifest origin or tree size differs from the signed checkpoint")
    progress.step = 6
    # (6) append-only since the auditor's last known checkpoint.
    consistency = None
    if bf.CONSISTENCY in members:
        consistency = json.loads(members[bf.CONSISTENCY])
        if canonical_json(consistency) != members[bf.CONSISTENCY]:
            raise BundleError(f"{bf.CONSISTENCY} is not canonical JSON")
    cons_from = _check_consistency(cp, consistency, keys, known)
    progress.step = 7
    # (7) entries: valid, strictly ascending, inside the signed tree, as counted.
    lines = members[bf.ENTRIES].split(b"\n")
    if lines.pop() != b"":
        raise BundleError(f"{bf.ENTRIES}: last line has no LF")
    seqs = _check_entries(lines, cp.size)
    _check_claimed_range(manifest["entries"], seqs)
    progress.step = 8
    # (8) inclusion proofs.
    nodes = bf.decode_nodes(members[bf.PROOFS])
    base = (cp.size, cp.origin, cp.root_hex(), cp.time, cons_from)
    if only is not None:
        if only not in seqs:
            raise BundleError(f"entry {only} is not in this bundle")
        raw = lines[seqs.index(only)]
        proof = [_node(nodes, n, only) for n in inclusion_path(only, cp.size)]
        verify_inclusion(SM3_HASHER, only, cp.size, SM3_HASHER.hash_leaf(raw), proof, cp.root)
        return BundleReport(
            True, 1, *base, statement_zh="单条记录已证明", statement_en=f"entry {only} proven"
        )
    _check_all_inclusions(seqs, lines, nodes, cp.size, cp.root)
    progress.step = 9
    # (9) what the selection proves.
    selection = Selection.from_dict(manifest["selection"])
    complete, selected, zh, en = _check_selection(selection, lines, seqs, members, cp)
    return BundleReport(
        True,
        len(seqs),
        *base,
        complete=complete,
        selected=selected,
        context=len(seqs) - selected,
        statement_zh=zh,
        statement_en=en,
    )


def _check_signed(cp: Checkpoint, signature: bytes, keys: list[bytes]) -> None:
    for pem in keys:
        try:
            SignedCheckpoint(cp, signature, "").verify(pem)
            return
        except AuditError:
            continue
    raise BundleError(f"signature on checkpoint of size {cp.size} does not verify under the trusted key")


def _check_consistency(
    cp: Checkpoint, consistency: Any, keys: list[bytes], known: Checkpoint | None
) -> int | None:
    old: Checkpoint | None = None
    if consistency is not None:
        if not isinstance(consistency, dict) or not isinstance(consistency.get("proof"), list):
            raise BundleError(f"{bf.CONSISTENCY}: needs 'from' and 'proof'")
        old_signed = SignedCheckpoint.from_dict(consistency.get("from", {}))
        _check_signed(old_signed.checkpoint, old_signed.signature, keys)
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
        raise BundleError("a proof element is not sm3:<64 hex>")
    return bytes.fromhex(text[4:])


def _check_claimed_range(claims: Mapping[str, Any], seqs: list[int]) -> None:
    """The manifest's counts (count, first, last) must describe the entries actually present."""
    first, last = (seqs[0], seqs[-1]) if seqs else (None, None)
    if (claims.get("count"), claims.get("first_seq"), claims.get("last_seq")) != (len(seqs), first, last):
        raise BundleError(
            f"{bf.MANIFEST}: claims {claims.get('count')} entries, seq {claims.get('first_seq')}.."
            f"{claims.get('last_seq')}; {bf.ENTRIES} holds {len(seqs)}, seq {first}..{last}"
        )


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


def _check_selection(
    selection: Selection, lines: list[bytes], seqs: list[int], members: Mapping[str, bytes], cp: Checkpoint
) -> tuple[bool, int, str, str]:
    """(complete, entries selected, statement zh, statement en) after checking the selection's proof."""
    zh, en = selection.describe()
    n = cp.size
    if selection.kind == "list":
        return (
            False,
            len(seqs),
            f"仅真实性：本包 {len(seqs)} 条记录均在检查点大小 {n} 的签名账本中，但不证明没有遗漏。",
            f"genuine only: all {len(seqs)} entries here are in the signed ledger at checkpoint size {n}; "
            "nothing proves that no other entry was left out.",
        )
    if selection.kind == "range":
        a, b = selection.from_seq or 0, selection.to_seq or 0
        if b > n:
            raise BundleError(f"selection range ends at {b}, beyond the checkpoint size {n}")
        if seqs != list(range(a, b)):
            raise BundleError(
                f"selection is every entry from seq {a} to {b}, the bundle does not hold them all"
            )
        return (
            True,
            len(seqs),
            f"完整：{zh}的全部 {len(seqs)} 条记录均在此包中，检查点大小 {n}。",
            f"complete for {en} at checkpoint size {n}: all {len(seqs)} entries are here.",
        )
    if cp.index_root is None:
        raise BundleError("a key selection needs a checkpoint with an index line")
    candidates = _check_runs(selection, members, cp.index_root)
    if seqs != candidates:
        missing = sorted(set(candidates) - set(seqs))[:5]
        extra = sorted(set(seqs) - set(candidates))[:5]
        raise BundleError(
            f"entries differ from what the index proves: missing {missing}, not selected {extra}"
        )
    selected = 0
    for raw in lines:
        entry = LedgerEntry.from_dict(json.loads(raw))
        if not selection.matches(entry):
            raise BundleError(
                f"entry {entry.seq} is listed under the selection's keys but does not match them"
            )
        selected += selection.in_window(entry)
    context = len(seqs) - selected
    return (
        True,
        selected,
        f"完整：{zh}的全部记录均在此包中（{selected} 条；"
        f"另含 {context} 条窗口外记录作为证明），检查点大小 {n}。",
        f"complete for {en} at checkpoint size {n}: all {selected} matching entries are here "
        f"({context} more, outside the window, are included as proof).",
    )


def _check_runs(selection: Selection, members: Mapping[str, bytes], index_root: bytes) -> list[int]:
    """Candidate seqs the signed index proves for the selection (intersection over its keys)."""
    if bf.INDEX not in members or bf.INDEX_BIN not in members:
        raise BundleError(f"a key selection needs {bf.INDEX} and {bf.INDEX_BIN}")
    doc = json.loads(members[bf.INDEX])
    if canonical_json(doc) != members[bf.INDEX] or doc.get("format") != "datasoc-index/1":
        raise BundleError(f"{bf.INDEX} is not canonical datasoc-index/1 JSON")
    runs = doc.get("runs")
    keys = selection.index_keys()
    if not isinstance(runs, list) or [r.get("key") for r in runs if isinstance(r, dict)] != keys:
        raise BundleError(f"{bf.INDEX} must hold one run per selection key: {keys}")
    since, until = selection.window()
    blob = members[bf.INDEX_BIN]
    chosen: set[int] | None = None
    for run in runs:
        try:
            claim = _claim(run, blob)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{bf.INDEX}: run for {run.get('key')!r} is malformed: {exc}") from None
        _head, found = verify_run(SM3_HASHER, sm3, index_root, claim, since, until)
        chosen = set(found) if chosen is None else chosen & set(found)
    return sorted(chosen or ())


def _claim(run: Mapping[str, Any], blob: bytes) -> RunClaim:
    offset, length = run["offset"], run["length"]
    if not (type(offset) is int and type(length) is int and 0 <= offset <= offset + length <= len(blob)):
        raise ValueError("offset/length outside index.bin")
    mp = run["map"]
    end_head = mp["end_head"]
    head = None
    if end_head is not None:
        head = KeyHead(int(end_head["chunks"]), int(end_head["elements"]), _unhex(end_head["root"]))
    proof = MapProof(
        tuple(_unhex(h) for h in mp["siblings"]),
        bytes.fromhex(mp["end_path"]) if mp["end_path"] is not None else None,
        head,
    )
    nodes: dict[NodeRange, bytes] = {(int(a), int(b)): _unhex(h) for a, b, h in run["nodes"]}
    sizes = tuple(int(s) for s in run["chunk_sizes"])
    return RunClaim(
        str(run["key"]),
        int(run["first"]),
        int(run["end"]),
        sizes,
        blob[offset : offset + length],
        nodes,
        proof,
    )
