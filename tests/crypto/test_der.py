"""The strict DER subset used for SM2 keys."""

from __future__ import annotations

import pytest

from crypto.primitives import der


def test_round_trip_of_nested_structure() -> None:
    encoded = der.seq(
        der.integer(0), der.integer(255), der.oid("1.2.156.10197.1.301"), der.octet_string(b"x" * 200)
    )
    items = der.decode(encoded, "t").children("t")
    assert items[0].as_int("t") == 0
    assert items[1].as_int("t") == 255
    assert items[2].as_oid("t") == "1.2.156.10197.1.301"
    assert items[3].as_octets("t") == b"x" * 200


@pytest.mark.parametrize(
    "dotted", ["1.2.840.10045.2.1", "2.16.840.1.101.3.4.1.42", "1.3.6.1.4.1.11591.4.11", "2.999.3"]
)
def test_oid_round_trip(dotted: str) -> None:
    assert der.decode(der.oid(dotted), "t").as_oid("t") == dotted


def test_known_encodings() -> None:
    assert der.oid("1.2.840.10045.2.1").hex() == "06072a8648ce3d0201"
    assert der.integer(128).hex() == "02020080"
    assert der.tlv(0x04, bytes(200))[:3].hex() == "0481c8"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"\x30", "truncated"),
        (b"\x30\x05\x02\x01", "truncated"),
        (b"\x30\x80\x00\x00", "indefinite"),
        (b"\x04\x81\x05hello", "non-minimal length"),
        (b"\x04\x01a\x00", "trailing"),
        (b"\x1f\x01\x00", "multi-byte tags"),
    ],
)
def test_malformed_inputs_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(der.DERError, match=message):
        der.decode(data, "thing")


def test_non_minimal_integer_and_negative_are_rejected() -> None:
    with pytest.raises(der.DERError, match="minimal"):
        der.decode(b"\x02\x02\x00\x01", "t").as_int("t")
    with pytest.raises(der.DERError, match="minimal"):
        der.decode(b"\x02\x01\x80", "t").as_int("t")
    with pytest.raises(der.DERError, match="expected tag"):
        der.decode(b"\x04\x00", "t").as_int("t")
