"""A local SMTP server (aiosmtpd) that requires STARTTLS and records each mail once, by its
`X-Datasoc-Idempotency-Key`."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from soc_api.alerting.receivers.inbox import Inbox, Received


@dataclass
class _Handler:
    inbox: Inbox
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if session.ssl is None:
            self.inbox.refuse("smtp", "mail without STARTTLS")
            return "530 Must issue a STARTTLS command first"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        key = str(message.get("X-Datasoc-Idempotency-Key", ""))
        if not key:
            self.inbox.refuse("smtp", "no idempotency key")
            return "550 no idempotency key"
        attachments = [part.get_filename() for part in message.iter_attachments()]
        self.inbox.take(
            Received(
                "smtp", key, None, "mail", {"subject": str(message["Subject"]), "attachments": attachments}
            )
        )
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on a free port of 127.0.0.1, STARTTLS required (see module docstring)."""

    def __init__(self, inbox: Inbox, tls: ssl.SSLContext) -> None:
        self.handler = _Handler(inbox)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, tls_context=tls, require_starttls=True
        )

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message accepted (duplicates included)."""
        return self.handler.messages

    def start(self) -> int:
        """Serve in aiosmtpd's thread; returns the port."""
        self._controller.start()
        return self.port

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()
