"""Hostile containers: a zip bomb (2 MB declaring 2 GiB), lying sizes, too many members.

The bomb is crafted here, block by block (no big file in the repository): the same fully flushed
deflate block of 1 MiB of zeros repeated 2,048 times is a valid stream inflating to 2 GiB.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from audit import bundle_format as bf
from audit.bundle import export_bundle, verify_bundle
from audit.ledger import Ledger
from crypto.recipes import SigningKey

MIB = 1 << 20


def _zip(members: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip written by hand: (name, method, data as stored, crc, declared inflated size) per member."""
    out = io.BytesIO()
    central = b""
    for name, method, data, crc, size in members:
        offset = out.tell()
        raw = name.encode()
        head = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0
        )
        out.write(head + raw + data)
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
        )
    start = out.tell()
    out.write(central)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0))
    return out.getvalue()


def _bomb(blocks: int) -> tuple[bytes, int]:
    """Raw deflate of `blocks` MiB of zeros, and its CRC-32."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(MIB)) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc = 0
    zero = bytes(MIB)
    for _ in range(blocks):
        crc = zlib.crc32(zero, crc)
    return block * blocks + tail, crc


def _real_members(build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path) -> dict[str, bytes]:
    led = build_ledger(5)
    now = led.store.latest_checkpoint().checkpoint.when() + timedelta(seconds=1)  # type: ignore[union-attr]
    out = export_bundle(led.store, tmp_path / "b.zip", signer=key, now=now)
    led.close()
    with zipfile.ZipFile(out) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_zip_bomb_is_refused_before_inflating(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    members = _real_members(build_ledger, key, tmp_path)
    stream, crc = _bomb(2048)
    assert len(stream) < 3 * MIB
    parts = [(n, 0, d, zlib.crc32(d), len(d)) for n, d in members.items() if n != bf.ENTRIES]
    data = _zip([*parts, (bf.ENTRIES, 8, stream, crc, 2048 * MIB)])
    tracemalloc.start()
    report = verify_bundle(data, key.public_key_pem())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not report.ok
    assert "declares 2147483648 bytes, over the limit" in (report.failure or "")
    assert peak < 64 * MIB


def test_lying_sizes_stop_at_the_cap(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    members = _real_members(build_ledger, key, tmp_path)
    stream, crc = _bomb(64)
    parts = [(n, 0, d, zlib.crc32(d), len(d)) for n, d in members.items() if n != bf.ENTRIES]
    small = bf.Limits(max_member_bytes=8 * MIB, max_total_bytes=16 * MIB)
    honest = _zip([*parts, (bf.ENTRIES, 8, stream, crc, 64 * MIB)])
    assert "over the limit" in (verify_bundle(honest, key.public_key_pem(), limits=small).failure or "")
    lying = _zip([*parts, (bf.ENTRIES, 8, stream, crc, 1000)])  # declares 1,000 bytes, inflates to 64 MiB
    tracemalloc.start()
    report = verify_bundle(lying, key.public_key_pem(), limits=small)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not report.ok
    assert peak < 32 * MIB
    many = _zip([*parts, *[(f"x{i}.txt", 0, b"", 0, 0) for i in range(20)]])
    assert "at most 16 are read" in (verify_bundle(many, key.public_key_pem()).failure or "")
