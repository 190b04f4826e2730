"""Multi-chunk `.evtx` files made from a real one-record file (test helper).

The SigmaHQ regression samples hold one record each; a growing event log is simulated by
repeating the sample's chunk (templates are per chunk, so a copied chunk is self-contained) with
record numbers and ids 1..n in the chunk and record headers, checksums recomputed
([MS-EVEN6] file header and chunk header layouts; CRC-32 over bytes 0..120 of the file header,
over bytes 0..120 and 128..512 of a chunk header, and over a chunk's records for its data checksum).
The XML inside every copy still says EventRecordID 1; readers see the header ids 1..n.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

FILE_HEADER = 4096
CHUNK = 65536


def grown(sample: Path, records: int) -> bytes:
    """The sample's first chunk repeated `records` times, record ids 1..records."""
    data = sample.read_bytes()
    header = bytearray(data[:FILE_HEADER])
    base = data[FILE_HEADER : FILE_HEADER + CHUNK]
    free = struct.unpack_from("<I", base, 48)[0]
    chunks = []
    for number in range(1, records + 1):
        chunk = bytearray(base)
        struct.pack_into("<QQQQ", chunk, 8, number, number, number, number)
        struct.pack_into("<Q", chunk, 520, number)  # the record header's id
        struct.pack_into("<I", chunk, 52, zlib.crc32(chunk[512:free]))
        struct.pack_into("<I", chunk, 124, zlib.crc32(bytes(chunk[:120]) + bytes(chunk[128:512])))
        chunks.append(bytes(chunk))
    struct.pack_into("<QQQ", header, 8, 0, records - 1, records + 1)
    struct.pack_into("<H", header, 42, records)
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header) + b"".join(chunks)
