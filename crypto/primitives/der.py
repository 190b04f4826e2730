"""Minimal strict DER (ITU-T X.690 §10) encoder and decoder for the few structures SM2 keys need.

LOW-LEVEL: used by the SM2 key glue (SPKI, PKCS#8, SEC1, PBES2). Only definite, minimal lengths and
single-byte tags are accepted; anything else is rejected with `DERError` rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.errors import CryptoError

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
SEQUENCE = 0x30
CONTEXT_0 = 0xA0
CONTEXT_1 = 0xA1


class DERError(CryptoError, ValueError):
    """Malformed DER; the message names the structure being read, never its bytes."""


def _encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """Encode one tag-length-value."""
    return bytes([tag]) + _encode_length(len(content)) + content


def seq(*items: bytes) -> bytes:
    """Encode a SEQUENCE of already encoded items."""
    return tlv(SEQUENCE, b"".join(items))


def integer(value: int) -> bytes:
    """Encode a non-negative INTEGER (two's complement, minimal)."""
    if value < 0:
        raise DERError("negative INTEGER not supported")
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return tlv(INTEGER, body)


def octet_string(value: bytes) -> bytes:
    """Encode an OCTET STRING."""
    return tlv(OCTET_STRING, value)


def bit_string(value: bytes) -> bytes:
    """Encode a BIT STRING with no unused bits."""
    return tlv(BIT_STRING, b"\x00" + value)


def null() -> bytes:
    """Encode NULL."""
    return tlv(NULL, b"")


def oid(dotted: str) -> bytes:
    """Encode an OBJECT IDENTIFIER given in dotted form."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


@dataclass(frozen=True, slots=True)
class Element:
    """One decoded TLV: its tag and content bytes."""

    tag: int
    content: bytes

    def children(self, what: str) -> list[Element]:
        """Decode the content as a list of TLVs (for SEQUENCE and constructed context tags)."""
        if not self.tag & 0x20:
            raise DERError(f"{what}: expected a constructed value")
        return decode_all(self.content, what)

    def as_int(self, what: str) -> int:
        """Read a non-negative minimal INTEGER."""
        self.expect(INTEGER, what)
        c = self.content
        if not c or (len(c) > 1 and c[0] == 0 and c[1] < 0x80) or c[0] & 0x80:
            raise DERError(f"{what}: not a minimal non-negative INTEGER")
        return int.from_bytes(c, "big")

    def as_oid(self, what: str) -> str:
        """Read an OBJECT IDENTIFIER in dotted form."""
        self.expect(OID, what)
        c = self.content
        if not c or c[-1] & 0x80:
            raise DERError(f"{what}: malformed OBJECT IDENTIFIER")
        arcs: list[int] = []
        value = 0
        for i, b in enumerate(c):
            if value == 0 and b == 0x80 and (i == 0 or not c[i - 1] & 0x80):
                raise DERError(f"{what}: non-minimal OBJECT IDENTIFIER arc")
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                arcs.append(value)
                value = 0
        first = arcs[0]
        head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
        return ".".join(str(a) for a in head + arcs[1:])

    def as_octets(self, what: str) -> bytes:
        """Read an OCTET STRING."""
        self.expect(OCTET_STRING, what)
        return self.content

    def as_bits(self, what: str) -> bytes:
        """Read a BIT STRING that has no unused bits."""
        self.expect(BIT_STRING, what)
        if not self.content or self.content[0] != 0:
            raise DERError(f"{what}: BIT STRING with unused bits")
        return self.content[1:]

    def expect(self, tag: int, what: str) -> None:
        """Raise unless the tag is `tag`."""
        if self.tag != tag:
            raise DERError(f"{what}: expected tag 0x{tag:02x}, found 0x{self.tag:02x}")


def decode_one(data: bytes, what: str) -> tuple[Element, bytes]:
    """Decode the first TLV of `data`; return it and the remaining bytes."""
    if len(data) < 2:
        raise DERError(f"{what}: truncated")
    tag = data[0]
    if tag & 0x1F == 0x1F:
        raise DERError(f"{what}: multi-byte tags not supported")
    first = data[1]
    pos = 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DERError(f"{what}: indefinite or oversized length")
        raw = data[pos : pos + count]
        if len(raw) != count or raw[0] == 0:
            raise DERError(f"{what}: truncated or non-minimal length")
        length = int.from_bytes(raw, "big")
        if length < 0x80:
            raise DERError(f"{what}: non-minimal length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DERError(f"{what}: truncated")
    return Element(tag, bytes(data[pos:end])), bytes(data[end:])


def decode(data: bytes, what: str) -> Element:
    """Decode exactly one TLV; trailing bytes are an error."""
    element, rest = decode_one(data, what)
    if rest:
        raise DERError(f"{what}: trailing bytes after DER value")
    return element


def decode_all(data: bytes, what: str) -> list[Element]:
    """Decode a concatenation of TLVs."""
    out: list[Element] = []
    while data:
        element, data = decode_one(data, what)
        out.append(element)
    return out
