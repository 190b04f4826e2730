"""Logsource routing: which rules an event's logsource admits (Sigma specification, "Log Source"). Pure.

An event's logsource is read from its view (`datasoc.logsource` defines the fields and tables):

- `datasoc.logsource.product|service|category` when the product is present (normalized events:
  the parser sets them), one `Source` per product; an absent service or category means the event
  has none;
- a Windows event (an `EventID` and a `Channel`) is also product `windows`, with the services and
  categories pySigma's Windows pipelines map to that channel and event id (possibly none); an
  `EventID` with a `Provider_Name` but no channel (ETW trace records, `Channel: null` in evtx) is
  product `windows` of services and categories not known, which exclude no Windows rule;
- an event with neither cannot be told: every rule is tried on it (today's behaviour, and what a
  user gets for foreign JSON; `datasoc detect` counts such events on stderr).

A rule (its logsource after the processing pipeline, lower-cased) is admitted by an event when one
of the event's sources admits it:

1. a rule naming a product needs a source of that product;
2. a rule naming a service (category) needs it among the source's services (categories), unless
   the source does not know its services (categories);
3. a rule of a product whose taxonomy (`datasoc.logsource.TAXONOMIES`) does not list the service or
   category it names (SigmaHQ's `file_access`, `iis-configuration`, ...: no Windows channel says
   it) is routed by its product alone, and its own conditions decide: the pipelines add no
   condition for it either, so this keeps the engine equal to pySigma's backends on it;
4. a rule naming no product (SigmaHQ's `category: proxy`, `webserver`, `antivirus`) needs a source
   with that category or service (rule 2), with no such leniency.

`--logsource any` (`Engine(rules, logsource=False)`) turns routing off: every rule on every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasoc.logsource import (
    CATEGORY_FIELD,
    CHANNEL_FIELD,
    EVENT_ID_FIELD,
    PRODUCT_FIELD,
    PROVIDER_FIELD,
    SERVICE_FIELD,
    TAXONOMIES,
    WINDOWS_PRODUCT,
    windows_categories,
    windows_services,
)
from detection.view import FieldValue, View


@dataclass(frozen=True)
class RuleLogsource:
    """A rule's logsource, lower-cased (None: the rule does not name it).

    Same attribute names as pySigma's `SigmaLogSource`, so `rule.logsource.product` reads alike.
    """

    product: str | None = None
    service: str | None = None
    category: str | None = None

    @classmethod
    def of(cls, logsource: Any) -> RuleLogsource:
        """From anything with `product`, `service`, `category` attributes (a `SigmaLogSource`)."""

        def norm(value: Any) -> str | None:
            return str(value).strip().lower() or None if value is not None else None

        return cls(
            norm(getattr(logsource, "product", None)),
            norm(getattr(logsource, "service", None)),
            norm(getattr(logsource, "category", None)),
        )


@dataclass(frozen=True)
class Source:
    """One logsource an event belongs to: its product, and every service and category it is
    (None: not known, so no rule is excluded by it)."""

    product: str
    services: frozenset[str] | None
    categories: frozenset[str] | None

    def admits(self, rule: RuleLogsource) -> bool:
        """Whether a rule of logsource `rule` applies to events of this source (module rules 1-4)."""
        if rule.product is not None and rule.product != self.product:
            return False
        taxonomy = TAXONOMIES.get(rule.product) if rule.product is not None else None
        for wanted, have, index in ((rule.service, self.services, 0), (rule.category, self.categories, 1)):
            if wanted is None or have is None or wanted in have:
                continue
            if taxonomy is not None and wanted not in taxonomy[index]:
                continue  # rule 3: the product never says it, so it cannot narrow the rule
            return False
        return True


#: The event fields a logsource is read from, in the order of `route_key` (the provider's presence only).
ROUTE_FIELDS = (CHANNEL_FIELD, EVENT_ID_FIELD, PROVIDER_FIELD, PRODUCT_FIELD, SERVICE_FIELD, CATEGORY_FIELD)
RouteKey = tuple[FieldValue | bool | None, ...]


def route_key(low: View) -> RouteKey:
    """The values of the routing fields (lower-cased view): what an event's sources depend on."""
    get = low.get
    return (
        get(CHANNEL_FIELD),
        get(EVENT_ID_FIELD),
        PROVIDER_FIELD in low,
        get(PRODUCT_FIELD),
        get(SERVICE_FIELD),
        get(CATEGORY_FIELD),
    )


def _set(value: FieldValue | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    return frozenset((value,) if value.__class__ is str else value)


def _event_ids(value: FieldValue) -> list[int]:
    ids = []
    for text in (value,) if value.__class__ is str else value:
        try:
            number = float(text)
        except ValueError:
            continue
        if number.is_integer():
            ids.append(int(number))
    return ids


def sources(key: RouteKey) -> tuple[Source, ...] | None:
    """The sources of an event with this route key; None when its logsource cannot be told."""
    channel, event_id, provider, product, service, category = key
    found: list[Source] = []
    for name in _set(product):  # type: ignore[arg-type]
        found.append(Source(name, _set(service), _set(category)))  # type: ignore[arg-type]
    if event_id is not None and channel is not None:
        channels = (channel,) if channel.__class__ is str else channel
        services = frozenset().union(*(windows_services(c) for c in channels))  # type: ignore[union-attr]
        categories = frozenset().union(
            *(windows_categories(c, i) for c in channels for i in _event_ids(event_id))  # type: ignore[union-attr, arg-type]
        )
        found.append(Source(WINDOWS_PRODUCT, services, categories))
    elif event_id is not None and provider:
        found.append(Source(WINDOWS_PRODUCT, None, None))
    return tuple(found) or None


def admitted(event_sources: tuple[Source, ...] | None, rule: RuleLogsource) -> bool:
    """Whether a rule applies to an event of these sources (None: cannot be told, so it does)."""
    if event_sources is None:
        return True
    return any(source.admits(rule) for source in event_sources)
