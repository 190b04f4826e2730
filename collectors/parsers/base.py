"""The parser contract: one native record in, one normalized `Event` (or a `ParseError`) out.

A parser subclass only turns the text of a record into native-derived fields (`_fields`); the
base class does what every parser must do the same way: decode and bound the input, set the
fields the contract requires, map the action to its lifecycle stage (`lifecycle.ACTIONS`),
enrich from the asset catalog and the approval register, add the local-time fields, derive a
stable `event.id`, validate through `Event.from_dict`, and turn every kind of bad input into a
`ParseError` naming source, position and reason.

Local time (`datasoc.local_hour`, `datasoc.workday`) is the event time in the parser's `local_tz`
(Asia/Shanghai by default, the platform's zone). `datasoc.workday` is Monday to Friday only: the
State Council holiday calendar (public holidays off, make-up Saturdays and Sundays on) is not
applied, because it is published year by year and no parser should guess it; a rule that needs
it must wait for a calendar enrichment (rules/README.md, "Enrichments the pack expects").
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collectors.approvals import ApprovalRegister
from collectors.catalog import Catalog
from collectors.enrichment import Enrichment, EnrichmentSource, FixedEnrichment
from collectors.errors import ParseError
from collectors.parsers.lifecycle import ACTIONS
from collectors.parsers.logsource import CATEGORIES
from datasoc.errors import EventValidationError
from datasoc.event import Event, format_timestamp, parse_timestamp
from datasoc.logsource import CATEGORY_FIELD, DATASOC_PRODUCT, PRODUCT_FIELD, SERVICE_FIELD

# China Standard Time has had no daylight saving since 1991, so a fixed offset is exact and
# needs no tz database on the host.
CHINA_TZ: Final = timezone(timedelta(hours=8), "Asia/Shanghai")
# The zone `datasoc.local_hour` and `datasoc.workday` are computed in unless a parser is given another.
DEFAULT_LOCAL_ZONE: Final = "Asia/Shanghai"
MAX_RECORD_BYTES: Final = 1 << 20
# Keys a parser may return that the base class consumes instead of copying into the event.
NATIVE_ID: Final = "_native_id"
DATASET_KEYS: Final = "_dataset_keys"


def stable_id(source: str, *parts: str) -> str:
    """Deterministic event id from where a record came from, so a replay deduplicates.

    SHA-256 here is a dedup key, not a security digest (collectors sit below `crypto/`).
    """
    digest = hashlib.sha256("\x1f".join((source, *parts)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"ev-{digest[:32]}"


def outcome_of_status(status: int) -> str:
    """HTTP status to `event.outcome`: 1xx-3xx succeeded, 4xx-5xx failed."""
    if 100 <= status < 400:
        return "success"
    return "failure" if 400 <= status < 600 else "unknown"


def local_time_fields(moment: datetime, zone: tzinfo) -> dict[str, Any]:
    """`datasoc.local_hour` (0-23) and `datasoc.workday` (Monday to Friday) of an aware time in `zone`.

    Weekdays only: public holidays and make-up working days are not known here (module docstring).
    """
    local = moment.astimezone(zone)
    return {"datasoc.local_hour": local.hour, "datasoc.workday": local.weekday() < 5}


def _zone(value: tzinfo | str) -> tzinfo:
    if not isinstance(value, str):
        return value
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        if value == DEFAULT_LOCAL_ZONE:
            return CHINA_TZ  # a host without a tz database: the fixed offset is exact since 1991
        raise ValueError(f"local_tz: unknown time zone {value!r}") from None


class Parser(ABC):
    """Base of all parsers; subclasses set `name` and `service` and implement `_fields`.

    `service` is the Sigma logsource service of every event the parser writes (product `datasoc`,
    one of `datasoc.logsource.DATASOC_SERVICES`); the category follows from the action
    (`collectors.parsers.logsource.CATEGORIES`).
    """

    name: ClassVar[str]
    service: ClassVar[str]

    def __init__(
        self,
        *,
        collector: str,
        catalog: Catalog | None = None,
        approvals: ApprovalRegister | None = None,
        enrichment: EnrichmentSource | None = None,
        local_tz: tzinfo | str = DEFAULT_LOCAL_ZONE,
    ) -> None:
        """Events are enriched from `enrichment` (kept current by the platform) or else from a fixed
        `catalog` and `approvals`; `local_tz` is a tzinfo or an IANA name."""
        self.collector = collector
        self.enrichment: EnrichmentSource = enrichment or FixedEnrichment(Enrichment(catalog, approvals))
        self.local_tz = _zone(local_tz)

    @property
    def catalog(self) -> Catalog | None:
        """The current asset catalog, if any."""
        return self.enrichment.current().catalog

    @property
    def approvals(self) -> ApprovalRegister | None:
        """The current approval register, if any."""
        return self.enrichment.current().approvals

    def parse(
        self,
        raw: bytes | str,
        *,
        source: str,
        now: datetime,
        new_id: Callable[[], str],
        position: int | None = None,
    ) -> Event:
        """Parse one record; `position` is its 1-based line in `source` when read from a file.

        `event.id` is derived from a native record id when the format has one, else from
        (source, position, record text) when the position is known, else it is `new_id()`.
        """
        text = self._decode(raw, source, position)
        try:
            fields = self._fields(text, now)
            values = self._complete(fields, text, source, position, new_id)
            return Event.from_dict(values, now=now, new_id=new_id)
        except EventValidationError as exc:
            raise ParseError(source, position, str(exc)) from None
        except RecursionError:
            raise ParseError(source, position, "record is nested too deeply") from None
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            raise ParseError(source, position, str(exc) or type(exc).__name__) from None

    @abstractmethod
    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        """Native record text to event fields; raise ValueError with a reason on bad input.

        Must set `@timestamp`, `event.action` (a key of `lifecycle.ACTIONS`) and `event.outcome`;
        may set `_native_id` (a record id unique in its source) and `_dataset_keys` (dataset ids
        or table names to look up in the catalog, first match wins).
        """

    # -- shared steps -------------------------------------------------------------------------

    @staticmethod
    def _decode(raw: bytes | str, source: str, position: int | None) -> str:
        size = len(raw)
        if size > MAX_RECORD_BYTES:
            raise ParseError(
                source, position, f"record of {size} bytes exceeds the limit of {MAX_RECORD_BYTES}"
            )
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ParseError(source, position, f"invalid UTF-8 at byte {exc.start}") from None
        text = raw.removesuffix("\n").removesuffix("\r")
        if not text.strip():
            raise ParseError(source, position, "empty record")
        if "\x00" in text:
            raise ParseError(source, position, "NUL character in record")
        return text

    def _complete(
        self,
        fields: dict[str, Any],
        text: str,
        source: str,
        position: int | None,
        new_id: Callable[[], str],
    ) -> dict[str, Any]:
        native_id = fields.pop(NATIVE_ID, None)
        dataset_keys: list[str] = fields.pop(DATASET_KEYS, None) or []
        action = fields["event.action"]
        if action not in ACTIONS:
            raise ValueError(f"parser {self.name} produced unknown action {action!r}")
        if fields.get("@timestamp") is None:
            raise ValueError(f"parser {self.name} produced no @timestamp")
        moment = parse_timestamp(fields["@timestamp"])
        fields["@timestamp"] = format_timestamp(moment)
        fields.update(
            {
                "event.dataset": self.name,
                "observer.collector": self.collector,
                "log.original": text,
                PRODUCT_FIELD: DATASOC_PRODUCT,
                SERVICE_FIELD: self.service,
                CATEGORY_FIELD: CATEGORIES[action],
            }
        )
        stage = ACTIONS[action]
        if stage is not None:
            fields["datasoc.lifecycle"] = stage
        if native_id:
            fields["event.id"] = stable_id(source, "id", str(native_id))
        elif position is not None:
            fields["event.id"] = stable_id(source, "line", str(position), text)
        else:
            fields["event.id"] = new_id()
        self._enrich(fields, dataset_keys)
        fields.update(local_time_fields(moment, self.local_tz))
        if self.approvals is not None:
            fields = self.approvals.enrich(fields, at=moment)
        return {k: v for k, v in fields.items() if v is not None}

    def _enrich(self, fields: dict[str, Any], dataset_keys: list[str]) -> None:
        if self.catalog is None:
            return
        for key in dataset_keys:
            dataset = self.catalog.dataset(key)
            if dataset is None:
                continue
            owner = self.catalog.department(dataset.owner)
            fields.update(
                {
                    "data.asset.id": dataset.id,
                    "data.asset.name": dataset.name,
                    "data.asset.owner": owner.name if owner else dataset.owner,
                    "data.asset.owner_id": dataset.owner,
                    "data.classification": dataset.classification,
                    "data.region": dataset.region,
                }
            )
            break
        address = fields.get("source.ip")
        if isinstance(address, str):
            where = self.catalog.locate(address)
            if where is not None:
                fields["source.geo.city_name"] = where.city
                if where.district:
                    fields["source.geo.name"] = where.district
