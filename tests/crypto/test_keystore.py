"""Key store: encrypted at rest, rotation, file modes, corruption, no secrets in reprs or errors."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto.errors import KeyStoreError, UnknownKeyError
from crypto.primitives.sm2_keys import ScryptParams
from crypto.recipes import KeyStore, SigningKey, open_field, seal_field, verify_signature

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 28, 12, 0, tzinfo=UTC)
FAST = ScryptParams(n=1 << 10)
PASS = b"key store passphrase"


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore.create(tmp_path / "keys", PASS, now=NOW, scrypt_params=FAST)


def test_create_then_open_gives_the_same_keys(store: KeyStore) -> None:
    reopened = KeyStore.open(store.path, PASS)
    assert reopened.signing_key.key_id == store.signing_key.key_id
    assert reopened.sealing_key.key_id == store.sealing_key.key_id
    sig = reopened.signing_key.sign(b"m")
    assert verify_signature(store.signing_key.public_key_pem(), b"m", sig)
    sealed = seal_field(store.sealing_key, "r", "f", b"v")
    assert open_field(reopened.sealing_keys(), "r", "f", sealed) == b"v"


def test_files_are_private_and_hold_no_plaintext_keys(store: KeyStore) -> None:
    files = [p for p in store.path.rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"manifest.json", "0001.key.pem", "0001.pub.pem"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    secret_hex = store.signing_key._private.hex()
    master = store.sealing_key.export_master()
    for path in files:
        data = path.read_bytes()
        assert secret_hex.encode() not in data
        assert master not in data
        assert b"BEGIN PRIVATE KEY" not in data
    assert not list(store.path.rglob(".*.tmp"))


def test_rotation_keeps_old_keys_for_verify_and_open(store: KeyStore) -> None:
    old_signer = store.signing_key
    old_sig = old_signer.sign(b"checkpoint 1")
    old_sealed = seal_field(store.sealing_key, "r", "f", b"old secret")
    info_sign = store.rotate_signing_key(now=LATER)
    info_seal = store.rotate_sealing_key(now=LATER)
    assert info_sign.kind == "signing"
    assert info_sign.created.startswith("2026-12-28T12:00:00")
    assert store.signing_key.key_id == info_sign.kid != old_signer.key_id
    assert store.sealing_key.key_id == info_seal.kid

    reopened = KeyStore.open(store.path, PASS)
    assert reopened.signing_key.key_id == info_sign.kid
    assert reopened.sealing_key.key_id == info_seal.kid
    assert reopened.verifying_key(old_signer.key_id).verify(b"checkpoint 1", old_sig)
    assert open_field(reopened.sealing_keys(), "r", "f", old_sealed) == b"old secret"
    new_sealed = seal_field(reopened.sealing_key, "r", "f", b"new")
    assert new_sealed.kid == info_seal.kid
    assert [i.kind for i in reopened.key_infos()] == ["signing", "signing", "sealing", "sealing"]
    with pytest.raises(UnknownKeyError, match="sm2:0000"):
        reopened.verifying_key("sm2:0000")


def test_wrong_passphrase_is_refused(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        KeyStore.open(store.path, b"guess")


def test_create_refuses_non_empty_dir_and_empty_passphrase(store: KeyStore, tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="not empty"):
        KeyStore.create(store.path, PASS, now=NOW, scrypt_params=FAST)
    with pytest.raises(KeyStoreError, match="empty passphrase"):
        KeyStore.create(tmp_path / "other", b"", now=NOW, scrypt_params=FAST)
    with pytest.raises(KeyStoreError, match="timezone-aware"):
        KeyStore.create(tmp_path / "naive", PASS, now=datetime(2026, 1, 1), scrypt_params=FAST)  # noqa: DTZ001
    assert not (tmp_path / "naive").exists()


def test_missing_store_and_corrupt_manifest(tmp_path: Path, store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match=r"manifest\.json missing"):
        KeyStore.open(tmp_path / "nowhere", PASS)
    manifest = store.path / "manifest.json"
    manifest.write_bytes(b"{not json")
    with pytest.raises(KeyStoreError, match="manifest unreadable"):
        KeyStore.open(store.path, PASS)


def test_relabelled_sealing_key_is_detected(store: KeyStore) -> None:
    manifest_path = store.path / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    manifest["sealing"][0]["kid"] = "seal:forged"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(KeyStoreError, match="seal:forged does not decrypt"):
        KeyStore.open(store.path, PASS)


def test_swapped_signing_key_file_is_detected(store: KeyStore) -> None:
    intruder = SigningKey.generate()
    (store.path / "signing" / "0001.key.pem").write_bytes(intruder.private_key_pem(PASS, params=FAST))
    with pytest.raises(KeyStoreError, match="does not hold key"):
        KeyStore.open(store.path, PASS)


def test_path_traversal_in_manifest_is_refused(store: KeyStore) -> None:
    manifest_path = store.path / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    manifest["signing"][0]["private"] = "../../etc/passwd"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(KeyStoreError, match="bad private key path"):
        KeyStore.open(store.path, PASS)


def test_repr_and_errors_never_show_secrets(store: KeyStore) -> None:
    texts = [
        repr(store),
        str(store),
        repr(store.signing_key),
        repr(store.sealing_key),
        repr(store.key_infos()),
    ]
    with pytest.raises(KeyStoreError) as info:
        KeyStore.open(store.path, b"guess")
    texts += [str(info.value), repr(info.value)]
    secrets = [store.signing_key._private.hex(), store.sealing_key.export_master().hex(), PASS.decode()]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert store.signing_key.key_id in repr(store)


def test_failed_rotation_changes_nothing(store: KeyStore) -> None:
    before = (store.signing_key.key_id, store.sealing_key.key_id, store.key_infos())
    manifest = (store.path / "manifest.json").read_bytes()
    existing = store.sealing_key.key_id.removeprefix("seal:")

    def repeating_rng(n: int) -> bytes:
        # Yields the existing sealing key id again: a broken random source.
        return bytes.fromhex(existing) if n == 8 else bytes(n)

    with pytest.raises(KeyStoreError, match="already exists"):
        store.rotate_sealing_key(now=LATER, rng=repeating_rng)
    assert (store.signing_key.key_id, store.sealing_key.key_id, store.key_infos()) == before
    assert (store.path / "manifest.json").read_bytes() == manifest


def test_duplicate_kids_in_manifest_are_refused(store: KeyStore) -> None:
    store.rotate_sealing_key(now=LATER)
    manifest_path = store.path / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    manifest["sealing"][1]["kid"] = manifest["sealing"][0]["kid"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(KeyStoreError, match="duplicate key ids"):
        KeyStore.open(store.path, PASS)
