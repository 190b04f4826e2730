"""Syslog senders to sources: certificate first, then the most specific network, then the default."""

from __future__ import annotations

import pytest

from collectors.inputs.envelope import syslog_message
from collectors.inputs.errors import InputConfigError
from collectors.inputs.sourcemap import SourceMap, SourceRule, certificate_identities


def test_longest_prefix_wins_and_unknown_peers_get_the_default() -> None:
    routes = SourceMap(
        [
            SourceRule.from_parts(source="dc", parser="auditd", cidr=["10.0.0.0/8"]),
            SourceRule.from_parts(source="db-01", parser="auditd", peer=["10.1.2.3"]),
            SourceRule.from_parts(source="web", cidr=["10.1.0.0/16", "2001:db8::/32"]),
        ]
    )
    assert routes.for_peer("10.1.2.3").source == "db-01"
    assert routes.for_peer("10.1.9.9").source == "web"
    assert routes.for_peer("10.200.0.1").source == "dc"
    assert routes.for_peer("::ffff:10.1.2.3").source == "db-01"
    assert routes.for_peer("2001:db8::5").source == "web"
    assert (routes.for_peer("192.0.2.1").source, routes.for_peer("192.0.2.1").parser) == (
        "syslog",
        "linux_syslog",
    )
    assert routes.for_peer("garbage").source == "syslog"


def test_certificates_map_by_fingerprint_full_subject_or_common_name() -> None:
    subject = ((("countryName", "CN"),), (("organizationName", "City"),), (("commonName", "web-1"),))
    identities = certificate_identities(b"der", subject)
    assert identities[1:] == ["CN=web-1,O=City,C=CN", "CN=web-1"]
    by_subject = SourceMap([SourceRule.from_parts(source="a", tls_subject=["CN=web-1, O=City, C=CN"])])
    by_cn = SourceMap([SourceRule.from_parts(source="b", tls_subject=["CN=web-1"])])
    by_print = SourceMap([SourceRule.from_parts(source="c", tls_subject=[identities[0].upper()])])
    found = [m.for_certificate(identities) for m in (by_subject, by_cn, by_print)]
    assert [route.source if route else None for route in found] == ["a", "b", "c"]
    assert by_cn.for_certificate(["CN=other"]) is None


def test_rules_are_validated_with_their_key() -> None:
    with pytest.raises(InputConfigError, match="cidr"):
        SourceRule.from_parts(source="x", cidr=["10.0.0.1/8"])  # host bits set
    with pytest.raises(InputConfigError, match="peer"):
        SourceRule.from_parts(source="x", peer=["db-01"])
    with pytest.raises(InputConfigError, match="at least one"):
        SourceRule.from_parts(source="x")
    with pytest.raises(InputConfigError, match="two sources"):
        SourceMap([SourceRule.from_parts(source=s, tls_subject=["CN=a"]) for s in ("x", "y")])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("<13>Nov 28 10:00:00 db-01 audisp-syslog: type=A msg=b", "type=A msg=b"),
        ("<13>2026-11-28T10:00:00+08:00 db-01 audisp[12]: type=A", "type=A"),
        ("<13>1 2026-11-28T10:00:00Z db-01 audisp 12 - - type=A", "type=A"),
        ('<13>1 2026-11-28T10:00:00Z db-01 a - - [x@1 k="v ] \\" ]"][y@1] \ufefftype=A', "type=A"),
        ("type=A without envelope", "type=A without envelope"),
    ],
)
def test_the_syslog_envelope_is_taken_off(record: str, message: str) -> None:
    assert syslog_message(record) == message
