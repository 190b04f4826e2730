"""The channel contract: a `Sender` delivers one `Delivery` (one or more notifications under one
idempotency key) or raises `DeliveryError`; it never blocks past its timeout.

Every sender carries the idempotency key to the receiver (a header, and in the body or message),
so a delivery repeated after a crash between sending and recording is recognisable there.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from soc_api.alerting.notices import Notice, check_version


@dataclass(frozen=True, slots=True)
class Documents:
    """A bulletin's rendered files (for channels that attach them: e-mail)."""

    title: str
    html: bytes
    pdf: bytes


@dataclass(frozen=True)
class Delivery:
    """One send: its idempotency key, and the notifications it carries in order, as the outbox
    recorded them (`Notice.to_dict` form, version checked)."""

    key: str
    payloads: tuple[Mapping[str, Any], ...]
    documents: Callable[[str], Documents | None] = field(default=lambda _id: None)

    def __post_init__(self) -> None:
        for payload in self.payloads:
            check_version(payload)

    @property
    def notices(self) -> tuple[Notice, ...]:
        """The payloads, typed (for channels that render them; JSON channels send `payloads`)."""
        return tuple(Notice.from_dict(p) for p in self.payloads)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the receiver answered: alert ids it acknowledged (receipts), if any."""

    acks: tuple[str, ...] = ()


class Sender:
    """Base of the channel senders (an explicit registry in `channels.SENDERS`)."""

    #: The `type` of the settings table this sender reads.
    type: ClassVar[str] = ""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.name: str = settings.name
        self.timeout: float = settings.timeout_seconds
        self.concurrency: int = settings.concurrency
        self.receipt: str = settings.receipt

    #: Notifications per send at most, and whether a burst becomes one digest send.
    @property
    def max_batch(self) -> int:
        """Notifications one send may carry."""
        return 1

    @property
    def digest(self) -> bool:
        """A burst of notifications becomes one send."""
        return False

    @property
    def per_minute(self) -> int | None:
        """Sends per minute at most (None: no limit)."""
        return None

    def send(self, delivery: Delivery) -> SendResult:
        """Deliver, or raise `DeliveryError` (with `retry=False` when retrying cannot help)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context (system roots, or `ca_file` alone), TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
