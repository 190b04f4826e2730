"""Export bundles: write one from a ledger (open store or read-only snapshot) for a selection.

Layout and encodings are in `audit.bundle_format`; verification is in `audit.bundle_verify`
(re-exported here). The manifest is signed with the ledger's signing key, so a bundle commits to
what was selected (`audit.selection`) and to every member's digest.
"""

from __future__ import annotations

import itertools
import json
import os
import zipfile
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from audit import bundle_format as bf
from audit.bundle_verify import BundleReport, bundled_public_key, check_bundle, verify_bundle
from audit.checkpoint import Checkpoint, SignedCheckpoint
from audit.entry import format_ts
from audit.errors import BundleError
from audit.files import FILE_MODE
from audit.index import MAX_LATENESS, KeyRun, decode_elements
from audit.merkle import NodeRange
from audit.selection import Selection
from audit.snapshot import LedgerView
from audit.tree import MerkleLevels
from crypto.recipes import SigningKey, sm3_hex
from datasoc.canonical import canonical_json

__all__ = [
    "BundleReport",
    "bundled_public_key",
    "check_bundle",
    "export_bundle",
    "proof_nodes",
    "select",
    "verify_bundle",
]


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


def select(
    view: LedgerView, selection: Selection, signed: SignedCheckpoint
) -> tuple[list[int], list[KeyRun]]:
    """Seqs a key selection must export at `signed` (the latest checkpoint), and the runs proving it."""
    cp = signed.checkpoint
    if cp.index_root is None:
        raise BundleError("this checkpoint predates the key index: sign a new checkpoint, then export")
    since, until = selection.window()
    index = view.index
    with index.lock:
        if index.map.root() != cp.index_root:
            raise BundleError("the key index has moved past this checkpoint: export against the latest one")
        runs = [index.run(key, since, until) for key in selection.index_keys()]
    chosen: set[int] | None = None
    for run in runs:
        here = {seq for seq, tau in decode_elements(run.elements) if since <= tau <= until + MAX_LATENESS}
        chosen = here if chosen is None else chosen & here
    return sorted(chosen or ()), runs


def export_bundle(
    view: LedgerView,
    out: Path,
    *,
    signer: SigningKey,
    now: datetime,
    selection: Selection | None = None,
    seqs: Sequence[int] | None = None,
    signed: SignedCheckpoint | None = None,
    known: SignedCheckpoint | None = None,
) -> Path:
    """Write a bundle (0600) of `selection` (or of `seqs`; default: every signed entry).

    Proven against `signed` (default: the latest checkpoint); with `known` (the auditor's last
    checkpoint) a consistency proof from it is included. The manifest is signed by `signer`.
    """
    signed = signed or view.latest_checkpoint()
    if signed is None:
        raise BundleError("the ledger has no signed checkpoint to export against")
    cp = signed.checkpoint
    size = cp.size
    if view.tree.root(size) != cp.root:
        raise BundleError("the checkpoint does not match this ledger")
    runs: list[KeyRun] = []
    if selection is None:
        if seqs is None:
            seqs = range(size)
        if isinstance(seqs, range) and seqs.step == 1:
            selection = Selection.by_range(seqs.start, seqs.stop)
        else:
            selection = Selection.by_list()
    elif selection.kind == "range":
        seqs = range(selection.from_seq or 0, selection.to_seq or 0)
    elif selection.kind == "keys":
        seqs, runs = select(view, selection, signed)
    elif seqs is None:
        raise BundleError("a list selection needs the seqs")
    if any(b <= a for a, b in itertools.pairwise(seqs)) or (seqs and not 0 <= seqs[0] <= seqs[-1] < size):
        raise BundleError(f"entries to export must be ascending, unique and below the checkpoint size {size}")
    lines = _read(view, seqs)
    members: dict[str, bytes] = {
        bf.ENTRIES: b"".join(line + b"\n" for line in lines),
        bf.PROOFS: bf.encode_nodes(proof_nodes(view.tree, seqs, size)),
        bf.CHECKPOINT: cp.to_text(),
        bf.SIGNATURE: signed.signature,
        bf.PUBKEY: signer.public_key_pem(),
    }
    if known is not None:
        proof = view.tree.consistency_proof(known.checkpoint.size, size)
        doc = {"from": known.to_dict(), "proof": ["sm3:" + p.hex() for p in proof]}
        members[bf.CONSISTENCY] = canonical_json(doc)
    if selection.kind == "keys":
        members[bf.INDEX], members[bf.INDEX_BIN] = _encode_runs(runs)
    kinds = Counter(json.loads(line)["kind"] for line in lines[:100_000])
    manifest: dict[str, Any] = {
        "format": bf.FORMAT,
        "hash": "sm3",
        "origin": cp.origin,
        "tree_size": size,
        "bundle": out.name,
        "created": format_ts(now),
        "selection": selection.to_dict(),
        "entries": {
            "count": len(seqs),
            "first_seq": seqs[0] if seqs else None,
            "last_seq": seqs[-1] if seqs else None,
        },
        "consistency_from": known.checkpoint.size if known else None,
        "signer": signer.key_id,
    }
    members[bf.REPORT] = _report(manifest, cp, selection, kinds, known).encode()
    members[bf.VERIFY] = bf.verify_text(manifest).encode()
    manifest["files"] = {name: sm3_hex(data) for name, data in sorted(members.items())}
    members[bf.MANIFEST] = canonical_json(manifest)
    members[bf.MANIFEST_SIG] = signer.sign(members[bf.MANIFEST])
    _write_zip(out, members)
    return out


def _read(view: LedgerView, seqs: Sequence[int]) -> list[bytes]:
    """Entries `seqs`, reading each run of consecutive seqs at once."""
    if isinstance(seqs, range) and seqs.step == 1:
        return view.read_raw_range(seqs.start, seqs.stop)
    out: list[bytes] = []
    for _, group in itertools.groupby(enumerate(seqs), key=lambda pair: pair[1] - pair[0]):
        run = [seq for _, seq in group]
        out += view.read_raw_range(run[0], run[-1] + 1)
    return out


def _encode_runs(runs: Sequence[KeyRun]) -> tuple[bytes, bytes]:
    docs = []
    blob = bytearray()
    for run in runs:
        proof = run.map_proof
        docs.append(
            {
                "key": run.key,
                "first": run.first,
                "end": run.end,
                "chunk_sizes": list(run.chunk_sizes),
                "offset": len(blob),
                "length": len(run.elements),
                "nodes": [[a, b, "sm3:" + h.hex()] for (a, b), h in run.nodes],
                "map": {
                    "siblings": ["sm3:" + h.hex() for h in proof.siblings],
                    "end_path": proof.end_path.hex() if proof.end_path else None,
                    "end_head": None
                    if proof.end_head is None
                    else {
                        "chunks": proof.end_head.chunks,
                        "elements": proof.end_head.elements,
                        "root": "sm3:" + proof.end_head.root.hex(),
                    },
                },
            }
        )
        blob += run.elements
    return canonical_json({"format": "datasoc-index/1", "runs": docs}), bytes(blob)


def _write_zip(out: Path, members: dict[str, bytes]) -> None:
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in (
            bf.MANIFEST,
            bf.MANIFEST_SIG,
            bf.REPORT,
            bf.VERIFY,
            bf.PUBKEY,
            bf.CHECKPOINT,
            bf.SIGNATURE,
        ):
            zf.writestr(name, members[name])
        for name in (bf.CONSISTENCY, bf.INDEX, bf.INDEX_BIN, bf.ENTRIES, bf.PROOFS):
            if name in members:
                zf.writestr(name, members[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    tmp.replace(out)


def _report(
    manifest: dict[str, Any],
    cp: Checkpoint,
    selection: Selection,
    kinds: Counter[str],
    known: SignedCheckpoint | None,
) -> str:
    kind_lines = "\n".join(f"  {k}: {v}" for k, v in sorted(kinds.items()))
    since = (
        f"自您上次确认的检查点（{known.checkpoint.size} 条）以来仅有追加，附一致性证明。\n"
        f"Consistency proof included from your last known checkpoint ({known.checkpoint.size} entries).\n"
        if known
        else ""
    )
    zh, en = selection.describe()
    entries = manifest["entries"]
    return (
        "审计账本导出报告 / Audit ledger export report\n"
        "==========================================\n\n"
        f"账本 / Origin: {cp.origin}\n"
        f"检查点树大小 / Checkpoint tree size: {cp.size}\n"
        f"根哈希 / Root hash: {cp.root_hex()}\n"
        f"检查点时间 / Checkpoint time: {cp.time}\n"
        f"选择 / Selection: {zh} / {en}\n"
        f"导出记录数 / Entries exported: {entries['count']} "
        f"(seq {entries['first_seq']} .. {entries['last_seq']})\n"
        f"导出时间 / Exported at: {manifest['created']}\n\n"
        f"记录类型 / Kinds (first 100,000 entries):\n{kind_lines}\n\n"
        f"{since}"
        "每条记录附有包含证明（RFC 9162，SM3），检查点由 SM2 签名；清单亦由 SM2 签名。\n"
        "校验方法见 VERIFY.txt。\n"
        "Every entry carries an inclusion proof (RFC 9162 with SM3) to an SM2-signed checkpoint; the\n"
        "manifest is SM2-signed too. See VERIFY.txt for how to check them.\n"
    )
