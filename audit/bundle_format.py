"""Export bundle layout (format ``datasoc-bundle/1``): names, binary encodings, manifest.

A bundle is a zip holding::

    manifest.json      format, origin, tree size, entry count, first/last seq, SM3 of every member
    entries.jsonl      the exported entries, exactly the canonical bytes that were hashed, one per
                       line (LF), strictly ascending seq
    proofs.bin         the inclusion proofs: every node hash any exported entry's proof uses, once
    checkpoint.bin     the signed checkpoint text (exact bytes signed; see audit.checkpoint)
    checkpoint.sig     SM2 signature over checkpoint.bin, DER
    consistency.json   optional: the auditor's last known checkpoint and the consistency proof from it
    pubkey.pem         the signer's public key (SPKI PEM); verification uses the key you trust instead
    REPORT.txt         human-readable summary, Chinese first, English alongside
    VERIFY.txt         the exact commands to verify the bundle

proofs.bin: records of 48 bytes, sorted by (start, end) and unique: big-endian u64 start,
big-endian u64 end, then the 32-byte SM3 hash of the tree node covering leaves [start, end) of the
tree of `tree_size` entries. The inclusion proof of the entry with seq i is, in order, the hashes
of the nodes `audit.merkle.inclusion_path(i, tree_size)` names (RFC 9162 §2.1.3.1 PATH(i, D[n]):
bottom-up siblings). Storing each node once keeps a million-entry bundle near 100 MB instead of
the 640 MB that twenty hashes per entry would take, and every entry's proof is still checkable on
its own (`datasoc verify BUNDLE --entry SEQ`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any, Final

from audit.errors import BundleError
from audit.merkle import NodeRange

FORMAT: Final = "datasoc-bundle/1"
ENTRIES: Final = "entries.jsonl"
PROOFS: Final = "proofs.bin"
CHECKPOINT: Final = "checkpoint.bin"
SIGNATURE: Final = "checkpoint.sig"
CONSISTENCY: Final = "consistency.json"
PUBKEY: Final = "pubkey.pem"
REPORT: Final = "REPORT.txt"
VERIFY: Final = "VERIFY.txt"
MANIFEST: Final = "manifest.json"
HASHED_MEMBERS: Final = (ENTRIES, PROOFS, CHECKPOINT, SIGNATURE, PUBKEY)

_RECORD = struct.Struct(">QQ32s")
RECORD_SIZE: Final = _RECORD.size


def encode_nodes(nodes: Iterable[tuple[NodeRange, bytes]]) -> bytes:
    """proofs.bin bytes from `((start, end), hash)` pairs (sorted here)."""
    unique = dict(nodes)
    return b"".join(_RECORD.pack(start, end, unique[(start, end)]) for start, end in sorted(unique))


def decode_nodes(data: bytes) -> dict[NodeRange, bytes]:
    """Parse proofs.bin; raises `BundleError` on a bad length, order or duplicate."""
    if len(data) % RECORD_SIZE:
        raise BundleError(f"{PROOFS}: length {len(data)} is not a multiple of {RECORD_SIZE}")
    out: dict[NodeRange, bytes] = {}
    previous = (-1, -1)
    for start, end, h in _RECORD.iter_unpack(data):
        key = (start, end)
        if key <= previous:
            raise BundleError(f"{PROOFS}: node {key} out of order or duplicated")
        out[key] = h
        previous = key
    return out


def check_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise `BundleError` unless the manifest has the fields and types this format needs."""
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{MANIFEST}: format is not {FORMAT}")
    for name, kind in (("origin", str), ("tree_size", int), ("entries", int), ("files", dict)):
        if not isinstance(manifest.get(name), kind) or isinstance(manifest.get(name), bool):
            raise BundleError(f"{MANIFEST}: {name!r} missing or not {kind.__name__}")
    if manifest.get("hash") != "sm3":
        raise BundleError(f"{MANIFEST}: hash must be sm3")
