"""Export bundles: layout, every record proven, single records, consistency, replays, bad input."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from audit import bundle_format as bf
from audit.bundle import check_bundle, export_bundle, proof_nodes, verify_bundle
from audit.errors import BundleError, VerificationFailed
from audit.ledger import Ledger
from audit.merkle import inclusion_path, verify_inclusion
from audit.storage import SM3_HASHER
from crypto.recipes import SigningKey


def _export(led: Ledger, path: Path, key: SigningKey, **kw: object) -> bytes:
    now = led.store.latest_checkpoint().checkpoint.when() + timedelta(seconds=1)  # type: ignore[union-attr]
    return export_bundle(led.store, path, signer=key, now=now, **kw).read_bytes()  # type: ignore[arg-type]


def test_full_export_layout_and_verification(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(37, every=10)
    data = _export(led, tmp_path / "b.zip", key, known=led.store.checkpoints[1])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read(bf.MANIFEST))
        report_text = zf.read(bf.REPORT).decode()
        verify_text = zf.read(bf.VERIFY).decode()
        entries = zf.read(bf.ENTRIES)
    assert names == {
        bf.MANIFEST,
        bf.MANIFEST_SIG,
        bf.REPORT,
        bf.VERIFY,
        bf.PUBKEY,
        bf.CHECKPOINT,
        bf.SIGNATURE,
        bf.CONSISTENCY,
        bf.ENTRIES,
        bf.PROOFS,
    }
    assert manifest["entries"] == {"count": 37, "first_seq": 0, "last_seq": 36}
    assert manifest["tree_size"] == 37
    assert manifest["selection"] == {"type": "range", "from_seq": 0, "to_seq": 37}
    assert report_text.startswith("审计账本导出报告")
    assert "Audit ledger export report" in report_text
    assert "-pkeyopt distid:1234567812345678 -in checkpoint.bin -sigfile checkpoint.sig" in verify_text
    assert "datasoc verify b.zip --pubkey pub.pem" in verify_text
    assert entries.splitlines() == led.store.read_raw_range(0, 37)
    report = verify_bundle(data, key.public_key_pem())
    assert report.ok, report.failure
    assert (report.entries, report.tree_size, report.consistency_from) == (37, 37, 11)
    assert report.complete
    assert (
        report.statement_en
        == "complete for seq 0 to 37 (exclusive) at checkpoint size 37: all 37 entries are here."
    )
    assert check_bundle(data, key.public_key_pem()).ok
    led.close()


def test_each_entry_proof_is_checkable_alone(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(21, every=50)
    data = _export(led, tmp_path / "b.zip", key)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        nodes = bf.decode_nodes(zf.read(bf.PROOFS))
        lines = zf.read(bf.ENTRIES).splitlines()
    root = led.store.tree.root()
    for seq, raw in enumerate(lines):
        proof = [nodes[n] for n in inclusion_path(seq, 21)]
        assert proof == led.inclusion_proof(seq)
        verify_inclusion(SM3_HASHER, seq, 21, SM3_HASHER.hash_leaf(raw), proof, root)
        assert verify_bundle(data, key.public_key_pem(), entry=seq).entries == 1
    assert not verify_bundle(data, key.public_key_pem(), entry=99).ok
    led.close()


def test_sparse_export_and_proof_node_dedup(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(70, every=100)
    seqs = [0, 3, 4, 31, 32, 63, 64, 69]
    data = _export(led, tmp_path / "b.zip", key, seqs=seqs)
    report = verify_bundle(data, key.public_key_pem())
    assert report.ok
    assert report.entries == len(seqs)
    assert not report.complete
    assert report.statement_en.startswith("genuine only")
    planned = proof_nodes(led.store.tree, seqs, 70)
    union = {n for s in seqs for n in inclusion_path(s, 70)}
    assert {n for n, _ in planned} == union
    assert len(planned) == len(union)
    with pytest.raises(BundleError, match="ascending"):
        _export(led, tmp_path / "c.zip", key, seqs=[4, 3])
    with pytest.raises(BundleError, match="ascending"):
        _export(led, tmp_path / "c.zip", key, seqs=[70])
    led.close()


def test_known_checkpoint_rules(build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path) -> None:
    led = build_ledger(30, every=10)
    cps = led.store.checkpoints
    pub = key.public_key_pem()
    with_proof = _export(led, tmp_path / "a.zip", key, known=cps[1])
    without = _export(led, tmp_path / "b.zip", key)
    assert verify_bundle(with_proof, pub, known=cps[1].checkpoint).ok
    assert verify_bundle(without, pub, known=cps[-1].checkpoint).ok  # same tree head
    missing = verify_bundle(without, pub, known=cps[1].checkpoint)
    assert not missing.ok
    assert "no consistency proof" in (missing.failure or "")
    wrong = verify_bundle(with_proof, pub, known=cps[2].checkpoint)
    assert not wrong.ok
    led.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"not a zip", "zip"), (b"", "zip")],
)
def test_garbage_is_a_clear_failure(data: bytes, message: str, key: SigningKey) -> None:
    report = verify_bundle(data, key.public_key_pem())
    assert not report.ok
    assert message in (report.failure or "").lower()
    with pytest.raises(VerificationFailed, match=r"^bundle does not verify$"):
        check_bundle(data, key.public_key_pem())


def test_missing_member_and_wrong_key(
    build_ledger: Callable[..., Ledger], key: SigningKey, other_key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(5)
    data = _export(led, tmp_path / "b.zip", key)
    led.close()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            if name != bf.PROOFS:
                dst.writestr(name, src.read(name))
    assert "no proofs.bin" in (verify_bundle(buf.getvalue(), key.public_key_pem()).failure or "")
    wrong = verify_bundle(data, other_key.public_key_pem())
    assert not wrong.ok
    assert "does not verify" in (wrong.failure or "")
    # After a rotation the auditor trusts both keys: the old one still verifies.
    assert verify_bundle(data, [other_key.public_key_pem(), key.public_key_pem()]).ok


@pytest.mark.skipif(shutil.which("openssl") is None, reason="system openssl not installed")
def test_verify_txt_openssl_command_works(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(9)
    data = _export(led, tmp_path / "b.zip", key)
    led.close()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path / "x")
        commands = [
            line.strip()
            for line in zf.read(bf.VERIFY).decode().splitlines()
            if line.strip().startswith("openssl")
        ]
    (tmp_path / "x" / "pub.pem").write_bytes(key.public_key_pem())
    assert len(commands) == 2  # the checkpoint and the manifest
    for command in commands:
        done = subprocess.run(
            command.split(), cwd=tmp_path / "x", capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr


def test_a_v1_bundle_is_refused_with_a_clear_message(key: SigningKey) -> None:
    manifest = {"format": "datasoc-bundle/1", "hash": "sm3", "origin": "o", "tree_size": 1, "entries": 1}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(bf.MANIFEST, json.dumps(manifest))
        zf.writestr(bf.ENTRIES, b"{}\n")
    report = verify_bundle(buf.getvalue(), key.public_key_pem())
    assert not report.ok
    assert "datasoc-bundle/1 bundles are no longer accepted" in (report.failure or "")
    assert "datasoc-bundle/2" in (report.failure or "")
