"""The upward cascade to the provincial supervision platform and the city's command system:
RFC 5424 syslog over TLS (RFC 5425 octet counting) carrying CEF.

One TLS connection per channel, kept open and re-opened after an error; the CEF record carries the
idempotency key (`cs3`), as does the RFC 5424 structured data (`key`). Syslog has no answers: a
message is delivered when its bytes were written to the TLS connection; receipts come back through
the API (`POST /api/v1/alerts/{id}/receipts`) or from the SM2 push's answers.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any

from soc_api.alerting.cef import octet_frame, syslog_message
from soc_api.alerting.channels.base import Delivery, Sender, SendResult, tls_context
from soc_api.alerting.errors import DeliveryError
from soc_api.alerting.notices import SYSLOG_SEVERITY, cef_event, created


class SyslogCefSender(Sender):
    """RFC 5424 over TLS carrying CEF (see module docstring)."""

    type = "syslog_cef"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._context = tls_context(settings.ca_file)
        if settings.client_cert is not None and settings.client_key is not None:
            self._context.load_cert_chain(str(settings.client_cert), str(settings.client_key))
        self._lock = threading.Lock()
        self._socket: ssl.SSLSocket | None = None

    @property
    def max_batch(self) -> int:
        return 1

    def frame(self, delivery: Delivery) -> bytes:
        """The octet-counted frames of the delivery's notifications."""
        s = self.settings
        frames = b""
        for notice in delivery.notices:
            if notice.alert is None:
                continue  # bulletins are not cascaded as events
            message = syslog_message(
                at=created(notice),
                hostname=s.hostname,
                app_name=s.app_name,
                facility=s.facility,
                severity=SYSLOG_SEVERITY[notice.alert.level],
                msgid=notice.kind,
                params={"key": notice.key, "alert": notice.alert.id},
                message=cef_event(notice).format(),
            )
            frames += octet_frame(message)
        return frames

    def send(self, delivery: Delivery) -> SendResult:
        data = self.frame(delivery)
        if not data:
            return SendResult()
        with self._lock:
            try:
                if self._socket is None:
                    raw = socket.create_connection(
                        (self.settings.host, self.settings.port), timeout=self.timeout
                    )
                    self._socket = self._context.wrap_socket(raw, server_hostname=self.settings.host)
                self._socket.settimeout(self.timeout)
                self._socket.sendall(data)
            except (OSError, ssl.SSLError) as exc:
                self._drop()
                raise DeliveryError(f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}") from None
        return SendResult()

    def _drop(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None

    def close(self) -> None:
        with self._lock:
            self._drop()
