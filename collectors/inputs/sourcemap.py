"""Which source and parser a syslog sender is: by TLS client certificate, else by peer address.

Configured as `[[collect.syslog_source]]` tables (`source`, `parser`, and any of `peer`, `cidr`,
`tls_subject`). Resolution, first match wins:

1. TLS client certificate (verified by the listener's client CA): its `sha256:<hex>` fingerprint,
   its full subject in RFC 4514 form (`CN=web-1,O=City,C=CN`) or `CN=<common name>`;
2. the peer address: the most specific network among every rule's `peer` (one address) and
   `cidr` entries (longest prefix wins; ties go to the rule listed first);
3. the default route (source `syslog`, parser `linux_syslog`).

So an auditd host that forwards its `audit.log` over syslog is parsed by the `auditd` parser when
its address (or certificate) is mapped to a source with `parser = "auditd"`, and every other
sender keeps `linux_syslog`.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from collectors.inputs.errors import InputConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_SOURCE: Final = "syslog"
DEFAULT_PARSER: Final = "linux_syslog"
_CACHE: Final = 4096


@dataclass(frozen=True, slots=True)
class SourceRoute:
    """Where a sender's messages go: the source name and the parser that reads them."""

    source: str
    parser: str
    expected_interval_seconds: float | None = None


@dataclass(frozen=True)
class SourceRule:
    """One `[[collect.syslog_source]]` table, validated (`from_parts`)."""

    route: SourceRoute
    networks: tuple[Network, ...] = ()
    tls_subjects: tuple[str, ...] = ()

    @classmethod
    def from_parts(
        cls,
        *,
        source: str,
        parser: str = DEFAULT_PARSER,
        peer: Iterable[str] = (),
        cidr: Iterable[str] = (),
        tls_subject: Iterable[str] = (),
        expected_interval_seconds: float | None = None,
        where: str = "collect.syslog_source",
    ) -> SourceRule:
        """A rule from its settings; `InputConfigError` naming `where` and the bad value."""
        networks: list[Network] = []
        for address in peer:
            try:
                networks.append(ipaddress.ip_network(ipaddress.ip_address(address.strip())))
            except ValueError:
                raise InputConfigError(f"{where}.peer", f"{address!r} is not an IP address") from None
        for text in cidr:
            try:
                networks.append(ipaddress.ip_network(text.strip(), strict=True))
            except ValueError as exc:
                raise InputConfigError(f"{where}.cidr", f"{text!r} is not a network: {exc}") from None
        subjects = tuple(s.strip() for s in tls_subject)
        if any(not s for s in subjects):
            raise InputConfigError(f"{where}.tls_subject", "an entry is empty")
        if not networks and not subjects:
            raise InputConfigError(where, f"source {source!r} needs at least one of peer, cidr, tls_subject")
        route = SourceRoute(source, parser, expected_interval_seconds)
        return cls(route, tuple(networks), subjects)


@dataclass
class SourceMap:
    """The resolution of module docstring over a list of rules."""

    rules: Sequence[SourceRule] = ()
    default: SourceRoute = SourceRoute(DEFAULT_SOURCE, DEFAULT_PARSER)
    _by_subject: dict[str, SourceRoute] = field(init=False, default_factory=dict)
    _networks: list[tuple[Network, int, SourceRoute]] = field(init=False, default_factory=list)
    _cache: OrderedDict[str, SourceRoute] = field(init=False, default_factory=OrderedDict)

    def __post_init__(self) -> None:
        for order, rule in enumerate(self.rules):
            for subject in rule.tls_subjects:
                key = _subject_key(subject)
                if key in self._by_subject and self._by_subject[key] != rule.route:
                    raise InputConfigError(
                        "collect.syslog_source.tls_subject", f"{subject!r} is mapped to two sources"
                    )
                self._by_subject[key] = rule.route
            for network in rule.networks:
                self._networks.append((network, order, rule.route))
        # Longest prefix first; among equal prefixes the rule listed first.
        self._networks.sort(key=lambda item: (-item[0].prefixlen, item[1]))

    def routes(self) -> list[SourceRoute]:
        """Every route a sender can get (the default first)."""
        out = [self.default]
        for rule in self.rules:
            if rule.route not in out:
                out.append(rule.route)
        return out

    def for_certificate(self, identities: Sequence[str]) -> SourceRoute | None:
        """The route of the first identity (fingerprint, RFC 4514 subject, CN) that is mapped."""
        for identity in identities:
            route = self._by_subject.get(_subject_key(identity))
            if route is not None:
                return route
        return None

    def for_peer(self, address: str) -> SourceRoute:
        """The route of the most specific network holding `address`, else the default."""
        route = self._cache.get(address)
        if route is not None:
            return route
        route = self.default
        try:
            ip: Any = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is not None:
            for network, _order, candidate in self._networks:
                if ip.version == network.version and ip in network:
                    route = candidate
                    break
        self._cache[address] = route
        if len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return route


def _subject_key(text: str) -> str:
    # Fingerprints compare case-insensitively; subjects without spaces around separators.
    if text.lower().startswith("sha256:"):
        return text.lower()
    return ",".join(part.strip() for part in text.split(","))


def certificate_identities(der: bytes, subject: Any) -> list[str]:
    """What a client certificate may be mapped by: SHA-256 fingerprint, RFC 4514 subject, CN.

    `subject` is `ssl.SSLSocket.getpeercert()["subject"]`: RDNs in certificate order, which
    RFC 4514 §2.1 writes last first.
    """
    import hashlib

    keys = ["sha256:" + hashlib.sha256(der).hexdigest()]
    names = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "stateOrProvinceName": "ST",
        "localityName": "L",
        "domainComponent": "DC",
    }
    parts: list[str] = []
    common: list[str] = []
    for rdn in subject or ():
        for name, value in rdn:
            parts.append(f"{names.get(name, name)}={value}")
            if name == "commonName":
                common.append(f"CN={value}")
    if parts:
        keys.append(",".join(reversed(parts)))
    keys.extend(common)
    return keys
