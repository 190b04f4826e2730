"""Export bundle layout (format ``datasoc-bundle/2``): names, limits, encodings, manifest, VERIFY.txt.

A bundle is a zip holding exactly these members, each at most once, nothing else::

    manifest.json      RFC 8785 canonical JSON: format, origin, tree size, the selection (what was
                       asked for), entry count and first/last seq, the bundle's name, and the SM3
                       digest of every other member except manifest.sig
    manifest.sig       SM2 signature (DER, user id 1234567812345678) over manifest.json by the
                       ledger's signing key: the bundle commits to its selection and its contents
    entries.jsonl      the exported entries, exactly the canonical bytes that were hashed, one per
                       line (LF), strictly ascending seq
    proofs.bin         the inclusion proofs: every node hash any exported entry's proof uses, once
    checkpoint.bin     the signed checkpoint text (exact bytes signed; see audit.checkpoint)
    checkpoint.sig     SM2 signature over checkpoint.bin, DER
    consistency.json   optional: the auditor's last known checkpoint and the consistency proof from it
    index.json         with a key selection: per key, the run of its chunk tree, the range proof
                       nodes and the map proof (audit.index, audit.keymap)
    index.bin          with a key selection: the runs' elements (u64 seq, i64 tau, big-endian)
    pubkey.pem         the signer's public key (SPKI PEM); verification uses the key you trust instead
    REPORT.txt         human-readable summary, Chinese first, English alongside
    VERIFY.txt         the exact commands to verify the bundle: generated from the manifest, and
                       checked against it

proofs.bin: records of 48 bytes, sorted by (start, end) and unique: big-endian u64 start,
big-endian u64 end, then the 32-byte SM3 hash of the tree node covering leaves [start, end) of the
tree of `tree_size` entries. The inclusion proof of the entry with seq i is, in order, the hashes
of the nodes `audit.merkle.inclusion_path(i, tree_size)` names (RFC 9162 §2.1.3.1 PATH(i, D[n]):
bottom-up siblings). Storing each node once keeps a million-entry bundle near 100 MB.

``datasoc-bundle/1`` (unsigned manifest) is refused with a message saying to re-export: its
manifest proved nothing about what was selected or left out.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from audit.errors import BundleError
from audit.merkle import NodeRange

FORMAT: Final = "datasoc-bundle/2"
OLD_FORMATS: Final = frozenset({"datasoc-bundle/1"})
ENTRIES: Final = "entries.jsonl"
PROOFS: Final = "proofs.bin"
CHECKPOINT: Final = "checkpoint.bin"
SIGNATURE: Final = "checkpoint.sig"
CONSISTENCY: Final = "consistency.json"
INDEX: Final = "index.json"
INDEX_BIN: Final = "index.bin"
PUBKEY: Final = "pubkey.pem"
REPORT: Final = "REPORT.txt"
VERIFY: Final = "VERIFY.txt"
MANIFEST: Final = "manifest.json"
MANIFEST_SIG: Final = "manifest.sig"
REQUIRED: Final = (ENTRIES, PROOFS, CHECKPOINT, SIGNATURE, PUBKEY, REPORT, VERIFY, MANIFEST, MANIFEST_SIG)
OPTIONAL: Final = (CONSISTENCY, INDEX, INDEX_BIN)
KNOWN: Final = frozenset(REQUIRED + OPTIONAL)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

_RECORD = struct.Struct(">QQ32s")
RECORD_SIZE: Final = _RECORD.size

OPENSSL_VERIFY = (
    "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -digest sm3 "
    "-pkeyopt distid:1234567812345678 -in {msg} -sigfile {sig}"
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What a verifier reads at most: members, and inflated bytes per member and in all.

    Declared sizes are checked before anything is inflated, and inflating streams with a cap, so
    a zip bomb costs at most `max_total_bytes` of work and memory.
    """

    max_members: int = 16
    max_member_bytes: int = 1 << 30
    max_total_bytes: int = 3 << 30


def check_member_name(name: str) -> None:
    """Refuse a member name that is not a plain file name (absolute, `..`, directories, odd bytes)."""
    if not _SAFE_NAME.match(name) or name in (".", ".."):
        raise BundleError(f"unsafe member path {name!r}: bundles hold plain file names only")
    if name not in KNOWN:
        raise BundleError(f"unexpected member {name!r}: not part of {FORMAT}")


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
    if not isinstance(manifest, Mapping):
        raise BundleError(f"{MANIFEST}: not a JSON object")
    fmt = manifest.get("format")
    if fmt in OLD_FORMATS:
        raise BundleError(
            f"{fmt} bundles are no longer accepted: their manifest is unsigned and proves nothing "
            f"about what was selected. Ask for a new export ({FORMAT}). / 旧格式导出包不再受理，请重新导出。"
        )
    if fmt != FORMAT:
        raise BundleError(f"{MANIFEST}: format is not {FORMAT}")
    fields = (
        ("origin", str),
        ("tree_size", int),
        ("entries", Mapping),
        ("files", Mapping),
        ("selection", Mapping),
        ("bundle", str),
        ("created", str),
    )
    for name, kind in fields:
        value = manifest.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BundleError(f"{MANIFEST}: {name!r} missing or not {getattr(kind, '__name__', kind)}")
    if manifest.get("hash") != "sm3":
        raise BundleError(f"{MANIFEST}: hash must be sm3")
    entries = manifest["entries"]
    for name in ("count", "first_seq", "last_seq"):
        value = entries.get(name)
        if not (value is None or (isinstance(value, int) and not isinstance(value, bool))):
            raise BundleError(f"{MANIFEST}: entries.{name} must be an integer or null")
    if not isinstance(entries.get("count"), int):
        raise BundleError(f"{MANIFEST}: entries.count missing")


def verify_text(manifest: Mapping[str, Any]) -> str:
    """VERIFY.txt, a function of the manifest alone (the verifier regenerates and compares it)."""
    name = manifest["bundle"]
    return (
        "校验方法 / How to verify\n"
        "========================\n\n"
        "使用您从可信渠道获得的公钥 pub.pem（包内 pubkey.pem 仅为副本）。\n"
        "Use the public key pub.pem you obtained through a trusted channel (pubkey.pem here is a copy).\n\n"
        "1. 检查点签名 / Checkpoint signature (OpenSSL 3):\n"
        f"   unzip -o {name} {CHECKPOINT} {SIGNATURE} {MANIFEST} {MANIFEST_SIG}\n"
        f"   {OPENSSL_VERIFY.format(msg=CHECKPOINT, sig=SIGNATURE)}\n\n"
        "2. 清单签名（所选范围与全部成员的摘要）\n"
        "   Manifest signature (the selection and every member's digest):\n"
        f"   {OPENSSL_VERIFY.format(msg=MANIFEST, sig=MANIFEST_SIG)}\n\n"
        "3. 全部记录与完整性 / Every record, and completeness of the selection:\n"
        f"   datasoc verify {name} --pubkey pub.pem\n\n"
        "4. 单条记录 / One record on its own:\n"
        f"   datasoc verify {name} --pubkey pub.pem --entry SEQ\n\n"
        "退出码 0 表示每条记录均已证明；输出说明是否证明了所选范围的完整性。\n"
        "Exit code 0 means every record is proven; the output says whether the selection is also\n"
        "proven complete (nothing left out) or only genuine.\n"
    )
