"""Key store: SM2 signing keys and SM4 sealing keys, encrypted at rest under one passphrase.

On-disk format (a directory, mode 0700; every file mode 0600, written atomically: temp file,
fsync, rename, fsync of the directory):

    <root>/manifest.json        the commit point; rewritten last on create and rotate
    <root>/signing/NNNN.key.pem SM2 private key, encrypted PKCS#8 (PBES2: scrypt + SM4-CBC);
                                `openssl pkey -in NNNN.key.pem -passin pass:...` reads it
    <root>/signing/NNNN.pub.pem SM2 public key, SPKI PEM (give this to auditors)

manifest.json (canonical enough to diff; all binary values base64)::

    {"format": "datasoc-keystore/1",
     "kdf": {"name": "scrypt", "salt": b64, "n": 16384, "r": 8, "p": 1},
     "check": b64,                                  # SM4-GCM(KEK, fixed text): passphrase check
     "signing": [{"kid": "sm2:…", "created": "2026-…Z", "private": "signing/0001.key.pem",
                  "public": "signing/0001.pub.pem"}, …],          # oldest first
     "sealing": [{"kid": "seal:…", "created": "…", "iv": b64, "wrapped": b64}, …]}

The KEK is scrypt(passphrase, kdf.salt) (RFC 7914), 16 bytes. Sealing keys (32 bytes each) are
wrapped with SM4-GCM under the KEK, associated data ``datasoc-keystore/1 sealing <kid>``, so a
wrapped key cannot be relabelled. Signing keys use standard encrypted PKCS#8 with their own salt so
that stock OpenSSL can use them.

Rotation: `rotate_signing_key` / `rotate_sealing_key` append a new key; the newest of each kind signs
or seals, all older ones stay loaded to verify and open. Keys are never deleted by this module.
Single writer: rotation is an administrative act; concurrent rotations are not coordinated.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto.errors import DecryptionError, KeyFormatError, KeyStoreError, UnknownKeyError
from crypto.primitives import sm4
from crypto.primitives.sm2_keys import ScryptParams
from crypto.sealing import SealingKey
from crypto.signing import SigningKey, VerifyingKey, public_key_id

FORMAT = "datasoc-keystore/1"
MANIFEST = "manifest.json"
_CHECK_PLAINTEXT = b"datasoc-keystore/1 passphrase check"
_WRAP_CONTEXT = b"datasoc-keystore/1 sealing "
Rng = Callable[[int], bytes]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: object, what: str, where: Path) -> bytes:
    if not isinstance(text, str):
        raise KeyStoreError(f"manifest: {what} is not a string", where=str(where))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyStoreError(f"manifest: {what} is not valid base64", where=str(where)) from None


def _timestamp(now: datetime) -> str:
    if now.tzinfo is None:
        raise KeyStoreError("`now` must be timezone-aware")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # left over from a crash mid-write
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _derive_kek(passphrase: bytes, salt: bytes, params: ScryptParams) -> bytes:
    return Scrypt(salt=salt, length=sm4.KEY_SIZE, n=params.n, r=params.r, p=params.p).derive(passphrase)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public facts about one key: id, kind, creation time. Safe to log and return from APIs."""

    kid: str
    kind: str
    created: str


class KeyStore:
    """Keys loaded from a key-store directory. `repr` lists key ids only."""

    __slots__ = ("_kek", "_manifest", "_passphrase", "_sealing", "_signing", "path", "scrypt_params")

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        signing: list[SigningKey],
        sealing: list[SealingKey],
        *,
        passphrase: bytes,
        kek: bytes,
        scrypt_params: ScryptParams,
    ) -> None:
        self.path = path
        self._manifest = manifest
        self._signing = signing
        self._sealing = sealing
        self._passphrase = passphrase
        self._kek = kek
        self.scrypt_params = scrypt_params

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        passphrase: bytes,
        *,
        now: datetime,
        rng: Rng = os.urandom,
        scrypt_params: ScryptParams | None = None,
    ) -> KeyStore:
        """Create a new key store at `path` (must not exist or be empty) with one key of each kind."""
        if not passphrase:
            raise KeyStoreError("refusing to create a key store with an empty passphrase", where=str(path))
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise KeyStoreError("directory exists and is not empty", where=str(path))
        params = scrypt_params or ScryptParams()
        created = _timestamp(now)  # checked before anything is written
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        (path / "signing").mkdir(mode=0o700, exist_ok=True)
        salt = rng(16)
        kek = _derive_kek(passphrase, salt, params)
        check_iv = rng(sm4.GCM_IV_SIZE)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "kdf": {"name": "scrypt", "salt": _b64(salt), "n": params.n, "r": params.r, "p": params.p},
            "check": _b64(check_iv + sm4.gcm_encrypt(kek, check_iv, _CHECK_PLAINTEXT, FORMAT.encode())),
            "signing": [],
            "sealing": [],
        }
        store = cls(path, manifest, [], [], passphrase=passphrase, kek=kek, scrypt_params=params)
        signer, signing_entry = store._new_signing(created, rng)
        sealer, sealing_entry = store._new_sealing(created, rng)
        store._commit(store._with_entries(signing_entry, sealing_entry))
        store._signing.append(signer)
        store._sealing.append(sealer)
        return store

    @classmethod
    def open(cls, path: Path, passphrase: bytes) -> KeyStore:
        """Load and decrypt every key; raises `KeyStoreError` (wrong passphrase, missing or bad files)."""
        path = Path(path)
        manifest_path = path / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_bytes())
        except FileNotFoundError:
            raise KeyStoreError("no key store here (manifest.json missing)", where=str(path)) from None
        except (OSError, ValueError) as exc:
            raise KeyStoreError(
                f"manifest unreadable: {type(exc).__name__}", where=str(manifest_path)
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise KeyStoreError(f"manifest format is not {FORMAT!r}", where=str(manifest_path))
        kdf = manifest.get("kdf")
        if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
            raise KeyStoreError("manifest: kdf must be scrypt", where=str(manifest_path))
        try:
            params = ScryptParams(n=int(kdf["n"]), r=int(kdf["r"]), p=int(kdf["p"]))
            kek = _derive_kek(passphrase, _unb64(kdf["salt"], "kdf.salt", manifest_path), params)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, KeyStoreError):
                raise
            raise KeyStoreError("manifest: bad kdf parameters", where=str(manifest_path)) from None
        check = _unb64(manifest.get("check"), "check", manifest_path)
        try:
            sm4.gcm_decrypt(kek, check[: sm4.GCM_IV_SIZE], check[sm4.GCM_IV_SIZE :], FORMAT.encode())
        except DecryptionError:
            raise KeyStoreError("wrong passphrase or corrupted manifest", where=str(path)) from None
        signing = [
            cls._load_signing(path, entry, passphrase) for entry in cls._entries(manifest, "signing", path)
        ]
        sealing = [cls._unwrap_sealing(kek, entry, path) for entry in cls._entries(manifest, "sealing", path)]
        if not signing or not sealing:
            raise KeyStoreError("key store has no signing or no sealing key", where=str(path))
        return cls(path, manifest, signing, sealing, passphrase=passphrase, kek=kek, scrypt_params=params)

    @staticmethod
    def _entries(manifest: Mapping[str, Any], kind: str, path: Path) -> list[dict[str, Any]]:
        entries = manifest.get(kind)
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("kid"), str) for e in entries
        ):
            raise KeyStoreError(f"manifest: {kind!r} must be a list of objects with a 'kid'", where=str(path))
        kids = [e["kid"] for e in entries]
        if len(set(kids)) != len(kids):
            raise KeyStoreError(f"manifest: duplicate key ids in {kind!r}", where=str(path))
        return entries

    @staticmethod
    def _load_signing(root: Path, entry: Mapping[str, Any], passphrase: bytes) -> SigningKey:
        rel = entry.get("private")
        if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise KeyStoreError(f"manifest: bad private key path for {entry['kid']}", where=str(root))
        file = root / rel
        try:
            pem = file.read_bytes()
        except OSError as exc:
            raise KeyStoreError(f"cannot read key {entry['kid']}: {exc.strerror}", where=str(file)) from None
        try:
            key = SigningKey.from_pem(pem, passphrase, entry["kid"])
        except KeyFormatError as exc:
            raise KeyStoreError(f"key {entry['kid']}: {exc.detail}", where=str(file)) from None
        # Signing key ids are derived from the public key, so a swapped or replaced file is caught here.
        if public_key_id(key.public_key_pem()) != entry["kid"]:
            raise KeyStoreError(f"key file does not hold key {entry['kid']}", where=str(file))
        return key

    @staticmethod
    def _unwrap_sealing(kek: bytes, entry: Mapping[str, Any], root: Path) -> SealingKey:
        kid = entry["kid"]
        iv = _unb64(entry.get("iv"), f"sealing {kid} iv", root)
        wrapped = _unb64(entry.get("wrapped"), f"sealing {kid} wrapped", root)
        try:
            master = sm4.gcm_decrypt(kek, iv, wrapped, _WRAP_CONTEXT + kid.encode())
        except DecryptionError:
            raise KeyStoreError(
                f"sealing key {kid} does not decrypt (tampered or relabelled)", where=str(root)
            ) from None
        return SealingKey(kid, master)

    # -- rotation ----------------------------------------------------------------------------------
    # Each step writes the new key file(s) first and the manifest last, and only then changes the
    # in-memory key lists: if a write fails, neither disk nor memory has a half-added key that
    # could sign or seal without being recoverable on the next start.

    def _new_signing(self, created: str, rng: Rng) -> tuple[SigningKey, dict[str, str]]:
        key = SigningKey.generate()
        number = len(self._manifest["signing"]) + 1
        private_rel = f"signing/{number:04d}.key.pem"
        public_rel = f"signing/{number:04d}.pub.pem"
        pem = key.private_key_pem(self._passphrase, rng=rng, params=self.scrypt_params)
        write_atomic(self.path / private_rel, pem)
        write_atomic(self.path / public_rel, key.public_key_pem())
        return key, {"kid": key.key_id, "created": created, "private": private_rel, "public": public_rel}

    def _new_sealing(self, created: str, rng: Rng) -> tuple[SealingKey, dict[str, str]]:
        kid = "seal:" + rng(8).hex()
        if any(entry["kid"] == kid for entry in self._manifest["sealing"]):
            raise KeyStoreError(f"sealing key id {kid} already exists (is the random source broken?)")
        key = SealingKey.generate(kid, rng=rng)
        iv = rng(sm4.GCM_IV_SIZE)
        wrapped = sm4.gcm_encrypt(self._kek, iv, key.export_master(), _WRAP_CONTEXT + kid.encode())
        return key, {"kid": kid, "created": created, "iv": _b64(iv), "wrapped": _b64(wrapped)}

    def _commit(self, manifest: dict[str, Any]) -> None:
        write_atomic(self.path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
        self._manifest = manifest

    def _with_entries(self, signing: dict[str, str] | None, sealing: dict[str, str] | None) -> dict[str, Any]:
        manifest = {**self._manifest}
        manifest["signing"] = [*self._manifest["signing"], *([signing] if signing else [])]
        manifest["sealing"] = [*self._manifest["sealing"], *([sealing] if sealing else [])]
        return manifest

    def rotate_signing_key(self, *, now: datetime, rng: Rng = os.urandom) -> KeyInfo:
        """Add a new signing key; it signs from now on, older keys still verify. Returns its public facts."""
        created = _timestamp(now)
        key, entry = self._new_signing(created, rng)
        self._commit(self._with_entries(entry, None))
        self._signing.append(key)
        return KeyInfo(key.key_id, "signing", created)

    def rotate_sealing_key(self, *, now: datetime, rng: Rng = os.urandom) -> KeyInfo:
        """Add a new sealing key; it seals from now on, older keys still open."""
        created = _timestamp(now)
        key, entry = self._new_sealing(created, rng)
        self._commit(self._with_entries(None, entry))
        self._sealing.append(key)
        return KeyInfo(key.key_id, "sealing", created)

    # -- use ---------------------------------------------------------------------------------------

    @property
    def signing_key(self) -> SigningKey:
        """The newest signing key: the one that signs."""
        return self._signing[-1]

    @property
    def sealing_key(self) -> SealingKey:
        """The newest sealing key: the one that seals."""
        return self._sealing[-1]

    def verifying_keys(self) -> dict[str, VerifyingKey]:
        """Every signing key's public half, by key id (old ones included)."""
        return {k.key_id: k.verifying_key() for k in self._signing}

    def verifying_key(self, kid: str) -> VerifyingKey:
        """The public key with id `kid`; raises `UnknownKeyError`."""
        keys = self.verifying_keys()
        if kid not in keys:
            raise UnknownKeyError(f"no signing key with id {kid!r}", where=str(self.path))
        return keys[kid]

    def sealing_keys(self) -> dict[str, SealingKey]:
        """Every sealing key by id, for `open_field` (old ones included)."""
        return {k.key_id: k for k in self._sealing}

    def key_infos(self) -> list[KeyInfo]:
        """Public facts about every key, oldest first per kind."""
        return [
            KeyInfo(e["kid"], kind, e["created"])
            for kind in ("signing", "sealing")
            for e in self._manifest[kind]
        ]

    def __repr__(self) -> str:
        return (
            f"KeyStore(path={str(self.path)!r}, signing={[k.key_id for k in self._signing]}, "
            f"sealing={[k.key_id for k in self._sealing]})"
        )

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("KeyStore cannot be pickled")
