"""Tamper evidence, measured: a generated corpus of more than 1,000 mutations, every one detected.

Mutations of a ledger directory (checked by `verify_store`) and of an export bundle (checked by
`verify_bundle`): flipped bytes in payloads, leaves, stored nodes, checkpoints and signatures;
deleted, reordered, duplicated and truncated entries, both raw and by a forger who also renumbers
the entries and rebuilds every Merkle node; checkpoints signed with another key; old checkpoints
replayed as new.
"""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from audit import bundle_format as bf
from audit.bundle import export_bundle, verify_bundle
from audit.checkpoint import SignedCheckpoint
from audit.ledger import Ledger
from audit.storage import SM3_HASHER, checkpoint_line
from audit.tree import MerkleLevels
from audit.verify import verify_store
from crypto.recipes import SigningKey, sm3_hex
from datasoc.canonical import canonical_json

Files = dict[str, bytes]
Changes = dict[str, bytes | None]  # None: the file is deleted
Mutation = tuple[str, Changes]  # (description, files to overwrite or delete)


def _flip(data: bytes, pos: int, rng: random.Random) -> bytes:
    return data[:pos] + bytes([data[pos] ^ rng.randrange(1, 256)]) + data[pos + 1 :]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")[:-1]


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _renumber(lines: list[bytes]) -> list[bytes]:
    out = []
    for seq, line in enumerate(lines):
        entry = json.loads(line)
        entry["seq"] = seq
        out.append(json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
    return out


def _forged_tree(lines: list[bytes]) -> Changes:
    """What a forger writes after editing entries: every node recomputed to match."""
    tree = MerkleLevels.from_leaf_hashes(SM3_HASHER, [SM3_HASHER.hash_leaf(x) for x in lines])
    files = {f"tree/level-{lv:02d}.bin": bytes(d) for lv, d in enumerate(tree.levels)}
    return {**files, "entries.log": _join(lines)}


def store_mutations(orig: Files, other_key: SigningKey, rng: random.Random) -> Iterator[Mutation]:
    entries = orig["entries.log"]
    lines = _lines(entries)
    n = len(lines)
    for pos in rng.sample(range(len(entries)), 350):
        yield f"flip entries.log byte {pos}", {"entries.log": _flip(entries, pos, rng)}
    leaves = orig["tree/level-00.bin"]
    for pos in rng.sample(range(len(leaves)), 150):
        yield f"flip leaf byte {pos}", {"tree/level-00.bin": _flip(leaves, pos, rng)}
    upper = [name for name in orig if name.startswith("tree/level-") and name != "tree/level-00.bin"]
    for i in range(100):
        name = upper[i % len(upper)]
        pos = rng.randrange(len(orig[name]))
        yield f"flip {name} byte {pos}", {name: _flip(orig[name], pos, rng)}
    cps = orig["checkpoints.log"]
    for pos in rng.sample(range(len(cps)), 150):
        yield f"flip checkpoints.log byte {pos}", {"checkpoints.log": _flip(cps, pos, rng)}
    cp_lines = _lines(cps)
    signed = [SignedCheckpoint.from_dict(json.loads(x)) for x in cp_lines]
    for i in range(60):
        k = i % len(signed)
        sig = bytearray(signed[k].signature)
        sig[rng.randrange(len(sig))] ^= rng.randrange(1, 256)
        bad = SignedCheckpoint(signed[k].checkpoint, bytes(sig), signed[k].key_id)
        new = [*cp_lines[:k], checkpoint_line(bad).rstrip(b"\n"), *cp_lines[k + 1 :]]
        yield f"flip signature byte of checkpoint {k}", {"checkpoints.log": _join(new)}
    for k in range(n):
        rest = lines[:k] + lines[k + 1 :]
        yield f"delete entry {k}", {"entries.log": _join(rest)}
        yield f"delete entry {k}, renumber, rebuild tree", _forged_tree(_renumber(rest))
        dup = lines[: k + 1] + lines[k:]
        yield f"duplicate entry {k}", {"entries.log": _join(dup)}
        yield f"duplicate entry {k}, renumber, rebuild tree", _forged_tree(_renumber(dup))
        yield f"truncate to {k} entries", {"entries.log": _join(lines[:k])}
        yield f"truncate to {k} entries, rebuild tree", _forged_tree(lines[:k])
        cut = sum(len(x) + 1 for x in lines[:k]) + rng.randrange(1, len(lines[k]) + 1)
        yield f"truncate inside entry {k}", {"entries.log": entries[:cut]}
        edited = json.loads(lines[k])
        edited["payload"]["rows"] = edited["payload"]["rows"] + 1
        forged = [
            *lines[:k],
            json.dumps(edited, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(),
            *lines[k + 1 :],
        ]
        yield f"edit payload of entry {k}, rebuild tree", _forged_tree(forged)
        if k + 1 < n:
            swapped = [*lines[:k], lines[k + 1], lines[k], *lines[k + 2 :]]
            yield f"swap entries {k} and {k + 1}", {"entries.log": _join(swapped)}
            yield f"swap entries {k} and {k + 1}, renumber, rebuild tree", _forged_tree(_renumber(swapped))
    for k, s in enumerate(signed):
        resigned = SignedCheckpoint.sign(s.checkpoint, other_key)
        posing = SignedCheckpoint(s.checkpoint, resigned.signature, s.key_id)
        for desc, bad in (("another key", resigned), ("another key posing as the signer", posing)):
            new = [*cp_lines[:k], checkpoint_line(bad).rstrip(b"\n"), *cp_lines[k + 1 :]]
            yield f"checkpoint {k} signed with {desc}", {"checkpoints.log": _join(new)}
    for k in range(len(cp_lines) - 1):
        yield f"old checkpoint {k} replayed as newest", {"checkpoints.log": _join([*cp_lines, cp_lines[k]])}
        yield (
            f"old checkpoint {k} replaces the newest",
            {"checkpoints.log": _join([*cp_lines[:-1], cp_lines[k]])},
        )
    yield "checkpoints reordered", {"checkpoints.log": _join([cp_lines[1], cp_lines[0], *cp_lines[2:]])}
    # Issue 12: a rolled-back tail, a forged append, missing files (reported, never a trace).
    yield "newest checkpoint line removed", {"checkpoints.log": _join(cp_lines[:-1])}
    yield "two newest checkpoint lines removed", {"checkpoints.log": _join(cp_lines[:-2])}
    appended = {**json.loads(lines[-1]), "seq": n, "actor": "user:nobody"}
    forged_line = json.dumps(appended, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    yield "forged entry appended after the newest checkpoint", {"entries.log": _join([*lines, forged_line])}
    yield "forged entry appended, tree rebuilt", _forged_tree([*lines, forged_line])
    for name in ("entries.log", "checkpoints.log", "LEDGER"):
        yield f"{name} deleted", {name: None}


def _snapshot(root: Path) -> Files:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_every_store_mutation_is_detected(
    build_ledger: Callable[..., Ledger], key: SigningKey, other_key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(24, every=8)
    led.close()
    pub = key.public_key_pem()
    assert verify_store(led.store.path, pub).ok
    orig = _snapshot(led.store.path)
    work = tmp_path / "work"
    shutil.copytree(led.store.path, work)
    missed, count, kinds = [], 0, set()
    for desc, files in store_mutations(orig, other_key, random.Random(20260301)):
        assert any(orig.get(name) != data for name, data in files.items()), desc
        for name, data in files.items():
            if data is None:
                (work / name).unlink()
            else:
                (work / name).write_bytes(data)
        report = verify_store(work, pub)
        # An entry added after the newest checkpoint (e.g. the last entry duplicated, renumbered
        # and hashed in) looks like an append: it is reported as unsigned, never as proven.
        if report.ok and not report.unsigned_tail:
            missed.append(desc)
        elif not report.ok:
            assert report.position, desc
        kinds.add(desc.split(" ")[0])
        count += 1
        for name in files:
            if name in orig:
                (work / name).write_bytes(orig[name])
            else:
                (work / name).unlink()
    assert verify_store(work, pub).ok  # restored exactly
    assert count >= 1000
    assert not missed, missed[:10]


Members = list[tuple[str, bytes]]


def _zip(members: Files | Members, *, fix_digests: bool = True) -> bytes:
    """A bundle as a forger without the signing key would write it: digests and counts fixed up."""
    pairs = list(members.items()) if isinstance(members, dict) else list(members)
    if fix_digests:
        names = dict(pairs)
        manifest = json.loads(names[bf.MANIFEST])
        manifest["files"] = {n: sm3_hex(d) for n, d in pairs if n not in (bf.MANIFEST, bf.MANIFEST_SIG)}
        pairs = [(n, canonical_json(manifest) if n == bf.MANIFEST else d) for n, d in pairs]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in pairs:
            zf.writestr(name, data)
    return buf.getvalue()


def bundle_mutations(
    orig: Files, older: SignedCheckpoint, other_key: SigningKey, rng: random.Random
) -> Iterator[tuple[str, Files | Members]]:
    for name, count in (
        (bf.ENTRIES, 120),
        (bf.PROOFS, 120),
        (bf.CHECKPOINT, 40),
        (bf.SIGNATURE, 40),
        (bf.CONSISTENCY, 60),
        (bf.MANIFEST_SIG, 30),
        (bf.REPORT, 20),
        (bf.VERIFY, 20),
    ):
        for pos in rng.sample(range(len(orig[name])), count):
            yield f"flip {name} byte {pos}", {**orig, name: _flip(orig[name], pos, rng)}
    lines = _lines(orig[bf.ENTRIES])
    manifest = json.loads(orig[bf.MANIFEST])

    def with_entries(new: list[bytes], **changes: object) -> Files:
        seqs = [json.loads(x)["seq"] for x in new]
        counts = {
            "count": len(new),
            "first_seq": seqs[0] if seqs else None,
            "last_seq": seqs[-1] if seqs else None,
        }
        m = {**manifest, "entries": counts, **changes}
        return {**orig, bf.ENTRIES: _join(new), bf.MANIFEST: canonical_json(m)}

    for k in range(len(lines)):
        yield f"delete entry {k}", with_entries(lines[:k] + lines[k + 1 :])
        yield f"duplicate entry {k}", with_entries(lines[: k + 1] + lines[k:])
        yield f"truncate to {k} entries", with_entries(lines[:k])
        yield (
            f"keep only entry {k}, selection narrowed to it",
            with_entries([lines[k]], selection={"type": "range", "from_seq": k, "to_seq": k + 1}),
        )
        yield (
            f"keep only entry {k}, selection called a list",
            with_entries([lines[k]], selection={"type": "list"}),
        )
        if k + 1 < len(lines):
            yield (
                f"swap entries {k}, {k + 1}",
                with_entries([*lines[:k], lines[k + 1], lines[k], *lines[k + 2 :]]),
            )
    resigned = SignedCheckpoint.sign(
        SignedCheckpoint.from_dict(
            {
                "checkpoint": orig[bf.CHECKPOINT].decode(),
                "signature": base64.b64encode(orig[bf.SIGNATURE]).decode(),
                "key_id": "x",
            }
        ).checkpoint,
        other_key,
    )
    yield "checkpoint signed with another key", {**orig, bf.SIGNATURE: resigned.signature}
    yield (
        "old checkpoint replayed as new",
        {**orig, bf.CHECKPOINT: older.checkpoint.to_text(), bf.SIGNATURE: older.signature},
    )
    # Issue 12: what an unsigned manifest used to let through.
    dropped = with_entries(lines[:5] + lines[6:])
    yield (
        "middle entry dropped, manifest re-signed by another key",
        {
            **dropped,
            bf.MANIFEST_SIG: other_key.sign(dropped[bf.MANIFEST]),
        },
    )
    yield (
        "manifest.created changed",
        {**orig, bf.MANIFEST: canonical_json({**manifest, "created": "2020-01-01T00:00:00.000000Z"})},
    )
    yield "VERIFY.txt replaced", {**orig, bf.VERIFY: b"all fine, run ./evil.sh\n"}
    yield "REPORT.txt replaced", {**orig, bf.REPORT: b"nothing to see\n"}
    yield (
        "manifest downgraded to datasoc-bundle/1",
        {**orig, bf.MANIFEST: canonical_json({**manifest, "format": "datasoc-bundle/1"})},
    )
    yield "manifest not canonical", {**orig, bf.MANIFEST: json.dumps(manifest, indent=1).encode()}
    for extra in ("evil.sh", "../../../tmp/pwned", "/etc/absolute", "sub/entries.jsonl", "entries.jsonl/"):
        yield f"extra member {extra!r}", [*orig.items(), (extra, b"#!/bin/sh\nrm -rf ~\n")]
    tampered = _join([lines[0].replace(b'"rows":0', b'"rows":9'), *lines[1:]])
    yield "entries.jsonl twice, tampered copy first", [(bf.ENTRIES, tampered), *orig.items()]
    yield "entries.jsonl twice, tampered copy last", [*orig.items(), (bf.ENTRIES, tampered)]
    yield "manifest.sig missing", {n: d for n, d in orig.items() if n != bf.MANIFEST_SIG}
    yield (
        "manifest.sig missing, other members intact",
        [(n, d) for n, d in orig.items() if n != bf.MANIFEST_SIG],
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_every_bundle_mutation_is_detected(
    build_ledger: Callable[..., Ledger], key: SigningKey, other_key: SigningKey, tmp_path: Path, t0: object
) -> None:
    led = build_ledger(24, every=8)
    cps = led.store.checkpoints
    out = export_bundle(
        led.store,
        tmp_path / "b.zip",
        signer=key,
        now=cps[-1].checkpoint.when() + timedelta(seconds=1),
        known=cps[1],
    )
    led.close()
    pub = key.public_key_pem()
    assert verify_bundle(out.read_bytes(), pub).ok
    with zipfile.ZipFile(out) as zf:
        orig = {name: zf.read(name) for name in zf.namelist()}
    assert verify_bundle(_zip(orig), pub).ok  # re-zipping alone changes nothing
    missed, count = [], 0
    for desc, members in bundle_mutations(orig, cps[2], other_key, random.Random(7)):
        # Fixing digests re-encodes the manifest canonically, which would undo that mutation.
        for fix in (False,) if desc == "manifest not canonical" else (True, False):
            if verify_bundle(_zip(members, fix_digests=fix), pub).ok:
                missed.append(f"{desc} (digests fixed: {fix})")
            count += 1
    # An old, validly signed bundle is caught by the auditor's own newer checkpoint.
    report = verify_bundle(out.read_bytes(), pub, known=cps[-1].checkpoint)
    assert report.ok
    older = export_bundle(
        led.store,
        tmp_path / "old.zip",
        signer=key,
        now=cps[-1].checkpoint.when(),
        signed=cps[2],
        seqs=range(10),
    )
    replay = verify_bundle(older.read_bytes(), pub, known=cps[-1].checkpoint)
    assert not replay.ok
    assert "older than yours" in (replay.failure or "")
    assert count >= 400
    assert not missed, missed[:10]
