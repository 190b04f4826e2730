"""The normalized event: the contract between collectors, detection, store and ledger.

An event is a flat JSON object whose keys are ECS-aligned dotted names (`event.action`,
`user.name`, `data.classification`, ...) so pySigma's ECS pipelines and OpenSearch mappings fit.
Host logs keep their native fields (for example flattened Windows EventData such as `Image`
or `CommandLine`) beside the normalized ones, so SigmaHQ rules apply unchanged; those extra
fields are kept as they are, but must be JSON values.

`Event.from_dict` validates in one place and names every field that is wrong. The model is
frozen; `to_dict()` gives the wire form and `canonical()` the RFC 8785 bytes the ledger hashes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from datasoc.canonical import canonical_json, check_json_value
from datasoc.errors import EventValidationError

# Re-exported: every layer has imported the time form from here.
from datasoc.timestamps import format_timestamp as format_timestamp
from datasoc.timestamps import parse_timestamp as parse_timestamp

Outcome = Literal["success", "failure", "unknown"]
# Data Security Law art. 3 (collect ... disclose) plus deletion (PIPL art. 4).
Lifecycle = Literal["collect", "store", "use", "process", "transmit", "provide", "disclose", "delete"]
ActorRole = Literal["provider", "user", "admin", "system"]
# GB/T 43697-2024 grades: general < important < core.
Classification = Literal["general", "important", "core"]

LIFECYCLE_STAGES: tuple[str, ...] = Lifecycle.__args__  # type: ignore[attr-defined]
ACTOR_ROLES: tuple[str, ...] = ActorRole.__args__  # type: ignore[attr-defined]
CLASSIFICATIONS: tuple[str, ...] = Classification.__args__  # type: ignore[attr-defined]

_MAX_FIELD_NAME = 256


class Event(BaseModel):
    """A normalized event (see module docstring and docs/architecture.md)."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        populate_by_name=True,
        str_strip_whitespace=False,
        validate_default=False,
    )

    # Required by the contract.
    timestamp: datetime = Field(alias="@timestamp", description="Event time, UTC RFC 3339.")
    event_id: str = Field(alias="event.id", min_length=1, max_length=128, description="Dedup key.")
    ingested: datetime = Field(alias="event.ingested", description="When datasoc accepted it.")
    action: str = Field(alias="event.action", min_length=1, max_length=256)
    outcome: Outcome = Field(alias="event.outcome")
    collector: str = Field(alias="observer.collector", min_length=1, max_length=128)
    original: str = Field(alias="log.original", description="The raw record, kept as received.")

    # Common optional ECS fields.
    dataset: str | None = Field(default=None, alias="event.dataset", description="Source format.")
    category: str | None = Field(default=None, alias="event.category")
    host_name: str | None = Field(default=None, alias="host.name")
    source_ip: str | None = Field(default=None, alias="source.ip")
    source_city: str | None = Field(default=None, alias="source.geo.city_name")

    # Data-lifecycle extension.
    lifecycle: Lifecycle | None = Field(default=None, alias="datasoc.lifecycle")
    actor_role: ActorRole | None = Field(default=None, alias="datasoc.actor_role")
    # Sigma logsource (datasoc/logsource.py): set by the parser, what detection routes rules by.
    logsource_product: str | None = Field(
        default=None, alias="datasoc.logsource.product", description="Sigma logsource product."
    )
    logsource_service: str | None = Field(
        default=None, alias="datasoc.logsource.service", description="Sigma logsource service."
    )
    logsource_category: str | None = Field(
        default=None, alias="datasoc.logsource.category", description="Sigma logsource category."
    )
    user_id: str | None = Field(default=None, alias="user.id")
    user_name: str | None = Field(default=None, alias="user.name")
    user_roles: tuple[str, ...] | None = Field(default=None, alias="user.roles")
    asset_id: str | None = Field(default=None, alias="data.asset.id")
    asset_name: str | None = Field(default=None, alias="data.asset.name")
    classification: Classification | None = Field(default=None, alias="data.classification")
    region: str | None = Field(default=None, alias="data.region")
    records: int | None = Field(default=None, alias="data.records", ge=0, le=2**53 - 1)
    bytes_: int | None = Field(default=None, alias="data.bytes", ge=0, le=2**53 - 1)
    approval_id: str | None = Field(default=None, alias="approval.id")

    REQUIRED: ClassVar[tuple[str, ...]] = (
        "@timestamp",
        "event.id",
        "event.ingested",
        "event.action",
        "event.outcome",
        "observer.collector",
        "log.original",
    )

    @field_validator("timestamp", "ingested", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> datetime:
        return parse_timestamp(value)

    @field_validator("source_ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"not an IPv4 or IPv6 address: {value!r}") from None

    def model_post_init(self, context: Any, /) -> None:
        for key, value in (self.__pydantic_extra__ or {}).items():
            _check_extra(key, value)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        now: datetime | None = None,
        new_id: Callable[[], str] | None = None,
        where: str = "",
    ) -> Event:
        """Validate a wire-form mapping into an Event.

        At ingest, pass `now` and `new_id`: a missing `event.ingested` becomes `now` and a
        missing `event.id` gets `new_id()`. Raises `EventValidationError` naming each bad field.
        """
        if not isinstance(data, Mapping):
            raise EventValidationError(
                [("<event>", f"expected a JSON object, got {type(data).__name__}")], where=where
            )
        values = dict(data)
        if now is not None and "event.ingested" not in values:
            values["event.ingested"] = now
        if new_id is not None and not values.get("event.id"):
            values["event.id"] = new_id()
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise EventValidationError(_problems(exc), where=where) from None

    # -- views --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Wire form: dotted keys, times as RFC 3339 `Z` strings, unset optionals omitted."""
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            key = field.alias or name
            if isinstance(value, datetime):
                value = format_timestamp(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        if self.__pydantic_extra__:
            for key, value in self.__pydantic_extra__.items():
                out.setdefault(key, value)
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """Field by wire name (`user.name`, `Image`, ...), as in `to_dict()`."""
        attr = _ATTR_BY_ALIAS.get(key)
        if attr is None:
            return (self.__pydantic_extra__ or {}).get(key, default)
        value = getattr(self, attr)
        if value is None:
            return default
        if isinstance(value, datetime):
            return format_timestamp(value)
        return list(value) if isinstance(value, tuple) else value

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON of the wire form (what the ledger hashes)."""
        return canonical_json(self.to_dict())

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """JSON Schema of the wire form (generated into docs/event.schema.json)."""
        schema = cls.model_json_schema(by_alias=True, mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = "https://datasoc.invalid/schemas/event.schema.json"
        schema["title"] = "datasoc normalized event"
        schema["required"] = list(cls.REQUIRED)
        schema["additionalProperties"] = {
            "description": "Native fields kept beside the normalized ones (e.g. Windows EventData)."
        }
        return schema


_ATTR_BY_ALIAS: dict[str, str] = {(field.alias or name): name for name, field in Event.model_fields.items()}


def _check_extra(key: str, value: Any) -> None:
    if not key or len(key) > _MAX_FIELD_NAME:
        raise ValueError(f"{key[:64]!r}: field name must have 1 to {_MAX_FIELD_NAME} characters")
    try:
        check_json_value(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _split_problem(message: str) -> tuple[str, str]:
    field, _, problem = message.partition(": ")
    return (field, problem) if problem else ("<event>", message)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc", ())
        field = ".".join(str(part) for part in loc) if loc else "<event>"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "missing":
            message = "required field is missing"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if field == "<event>":  # raised by the extra-field check, which names its own field
            field, message = _split_problem(message)
        problems.append((field, message))
    return problems
