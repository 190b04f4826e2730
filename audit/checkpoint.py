"""Checkpoints (signed tree heads): the exact bytes signed, signing and verification, and policy.

Signed bytes (UTF-8, each line ending in LF, no other white space), after the C2SP
tlog-checkpoint note body, with the root spelled ``sm3:<hex>`` and extension lines::

    <origin>\\n
    <tree size, decimal>\\n
    sm3:<64 lowercase hex digits>\\n
    time <UTC RFC 3339, microseconds, Z>\\n
    index datasoc-index/1 sm3:<64 lowercase hex digits>\\n      (since the key index, see audit.index)

The ``index`` line commits to the root of the key map (`audit.keymap`); checkpoints signed before
the index existed have four lines and stay valid, and once a ledger has an indexed checkpoint every
later one must carry the line too (`check_successor`).

The signature is SM2 (DER) over SM3(Z || those bytes) with user id 1234567812345678, so with the
bytes in ``checkpoint.bin`` and the signature in ``checkpoint.sig``::

    openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -digest sm3 \\
        -pkeyopt distid:1234567812345678 -in checkpoint.bin -sigfile checkpoint.sig
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from audit.entry import format_ts
from audit.errors import CheckpointError
from crypto.errors import CryptoError
from crypto.recipes import SigningKey, public_key_id, verify_signature

_ORIGIN = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}\Z")
_ROOT = re.compile(r"sm3:[0-9a-f]{64}\Z")
_TIME = re.compile(r"time (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\Z")
_INDEX = re.compile(r"index datasoc-index/1 sm3:([0-9a-f]{64})\Z")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: which log, how many entries, their root, and when it was taken."""

    origin: str
    size: int
    root: bytes
    time: str
    index_root: bytes | None = None

    @classmethod
    def create(
        cls, *, origin: str, size: int, root: bytes, now: datetime, index_root: bytes | None = None
    ) -> Checkpoint:
        """Build and validate a checkpoint taken at `now` (with the key map root when given)."""
        return cls.from_text(cls(origin, size, root, format_ts(now), index_root).to_text())

    def root_hex(self) -> str:
        """Root as ``sm3:<hex>``."""
        return "sm3:" + self.root.hex()

    def to_text(self) -> bytes:
        """The exact bytes that are signed."""
        text = f"{self.origin}\n{self.size}\n{self.root_hex()}\ntime {self.time}\n"
        if self.index_root is not None:
            text += f"index datasoc-index/1 sm3:{self.index_root.hex()}\n"
        return text.encode("ascii")

    @classmethod
    def from_text(cls, text: bytes) -> Checkpoint:
        """Parse signed bytes; raises `CheckpointError` unless they are exactly in canonical form."""
        try:
            lines = text.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise CheckpointError("checkpoint text is not ASCII") from None
        if len(lines) not in (5, 6) or lines[-1] != "":
            raise CheckpointError("checkpoint text must be 4 or 5 LF-terminated lines")
        origin, size_text, root_text, time_line = lines[:4]
        index_root = None
        if len(lines) == 6:
            index = _INDEX.match(lines[4])
            if not index:
                raise CheckpointError("checkpoint index line must be 'index datasoc-index/1 sm3:<64 hex>'")
            index_root = bytes.fromhex(index.group(1))
        if not _ORIGIN.match(origin):
            raise CheckpointError("checkpoint origin must be 1-255 printable ASCII characters")
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal number")
        if not _ROOT.match(root_text):
            raise CheckpointError("checkpoint root must be sm3:<64 lowercase hex digits>")
        match = _TIME.match(time_line)
        if not match:
            raise CheckpointError("checkpoint time line must be 'time <UTC RFC 3339 with microseconds>Z'")
        cp = cls(origin, int(size_text), bytes.fromhex(root_text[4:]), match.group(1), index_root)
        if cp.to_text() != text:
            raise CheckpointError("checkpoint text is not in canonical form")
        return cp

    def when(self) -> datetime:
        """`time` as an aware datetime (asked after every append batch: fromisoformat, not strptime,
        which took a twentieth of the alert pipeline's interpreter time)."""
        return datetime.fromisoformat(self.time)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with its SM2 signature and the signer's public key id (`crypto.recipes.public_key_id`)."""

    checkpoint: Checkpoint
    signature: bytes
    key_id: str

    @classmethod
    def sign(cls, checkpoint: Checkpoint, key: SigningKey) -> SignedCheckpoint:
        """Sign `checkpoint.to_text()` with `key`; `key_id` is the public key id (SM3 of the SPKI),
        so a verifier holding several keys (rotation) can check which one must verify it."""
        return cls(checkpoint, key.sign(checkpoint.to_text()), public_key_id(key.public_key_pem()))

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored in ``checkpoints.log`` and bundles."""
        return {
            "checkpoint": self.checkpoint.to_text().decode("ascii"),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedCheckpoint:
        """Parse `to_dict` output; raises `CheckpointError`."""
        if not isinstance(data, Mapping) or set(data) != {"checkpoint", "signature", "key_id"}:
            raise CheckpointError("signed checkpoint needs exactly checkpoint, signature and key_id")
        text, sig, kid = data["checkpoint"], data["signature"], data["key_id"]
        if not isinstance(text, str) or not isinstance(sig, str) or not isinstance(kid, str):
            raise CheckpointError("signed checkpoint fields must be strings")
        try:
            signature = base64.b64decode(sig.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise CheckpointError("checkpoint signature is not base64") from None
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise CheckpointError("checkpoint text is not ASCII") from None
        return cls(Checkpoint.from_text(raw), signature, kid)

    def verify(self, public_key_pem: bytes) -> None:
        """Raise `CheckpointError` unless the signature verifies under `public_key_pem`."""
        try:
            ok = verify_signature(public_key_pem, self.checkpoint.to_text(), self.signature)
        except CryptoError as exc:
            raise CheckpointError(f"public key unusable: {exc}") from None
        if not ok:
            raise CheckpointError(f"signature on checkpoint of size {self.checkpoint.size} does not verify")


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """Sign every `every_entries` new entries or every `every_seconds`, whichever comes first; a
    count-triggered checkpoint waits until `min_seconds` have passed since the last one.

    `min_seconds` bounds the signing rate under load: at 2,000 alerts/s (two entries each) a
    checkpoint every 1,000 entries meant four SM2 signatures and key-index seals a second, and a
    key changed twice within a second sealed two chunks instead of one. The unsigned tail then
    stays within `every_entries` entries or `min_seconds`, whichever is more.
    """

    every_entries: int = 1000
    every_seconds: float = 10.0
    min_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.every_entries < 1 or self.every_seconds <= 0:
            raise CheckpointError("checkpoint policy needs every_entries >= 1 and every_seconds > 0")
        if not 0 <= self.min_seconds <= self.every_seconds:
            raise CheckpointError("checkpoint policy needs 0 <= min_seconds <= every_seconds")

    def due(self, last: Checkpoint | None, size: int, now: datetime) -> bool:
        """True when a new checkpoint should be signed for a tree of `size` at `now`."""
        if last is None:
            return size > 0
        if size <= last.size:
            return False
        elapsed = now - last.when()
        if size - last.size >= self.every_entries and elapsed >= timedelta(seconds=self.min_seconds):
            return True
        return elapsed >= timedelta(seconds=self.every_seconds)


def check_successor(previous: Checkpoint, current: Checkpoint) -> None:
    """A later checkpoint must be from the same log, not smaller and not older (no replay)."""
    if current.origin != previous.origin:
        raise CheckpointError(f"origin changed from {previous.origin!r} to {current.origin!r}")
    if current.size < previous.size:
        raise CheckpointError(f"tree size went back from {previous.size} to {current.size}")
    if current.time <= previous.time:
        raise CheckpointError(f"checkpoint time {current.time} is not after {previous.time}")
    if previous.index_root is not None and current.index_root is None:
        raise CheckpointError(f"checkpoint of size {current.size} drops the index line its predecessor has")
