"""A local TLS syslog receiver (RFC 5425 octet counting) that parses RFC 5424 and the CEF inside it
back into fields, deduplicating by the idempotency key (`cs3`, also in the structured data)."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field

from soc_api.alerting.cef import CefEvent, SyslogRecord, parse_cef, parse_syslog
from soc_api.alerting.receivers.inbox import Inbox, Received

MAX_FRAME = 64 * 1024


@dataclass
class SyslogReceiver:
    """Accepts TLS connections and reads octet-counted frames until the peer closes."""

    inbox: Inbox
    channel: str = "syslog"
    records: list[tuple[SyslogRecord, CefEvent]] = field(default_factory=list)
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, tls: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port."""
        listener = socket.create_server((host, port))
        listener.settimeout(0.2)
        self._listener = listener
        threading.Thread(target=self._accept, args=(tls,), name="receiver-syslog", daemon=True).start()
        return int(listener.getsockname()[1])

    def stop(self) -> None:
        """Stop accepting."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self, tls: ssl.SSLContext) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                raw, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw, tls), daemon=True).start()

    def _serve(self, raw: socket.socket, tls: ssl.SSLContext) -> None:
        raw.settimeout(30)
        try:
            with tls.wrap_socket(raw, server_side=True) as conn:
                buffer = b""
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    buffer = self._frames(buffer)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.inbox.refuse(self.channel, f"connection: {type(exc).__name__}")

    def _frames(self, buffer: bytes) -> bytes:
        while True:
            space = buffer.find(b" ")
            if space < 0:
                if len(buffer) > 10:
                    raise ValueError("no frame length")
                return buffer
            length = int(buffer[:space])
            if length > MAX_FRAME:
                raise ValueError("frame too long")
            end = space + 1 + length
            if len(buffer) < end:
                return buffer
            self._message(buffer[space + 1 : end])
            buffer = buffer[end:]

    def _message(self, data: bytes) -> None:
        try:
            record = parse_syslog(data)
            cef = parse_cef(record.message)
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            self.inbox.refuse(self.channel, f"unparsable: {exc}")
            return
        ext = cef.ext()
        key = ext.get("cs3", record.params.get("key", ""))
        with self._lock:
            self.records.append((record, cef))
        self.inbox.take(
            Received(
                self.channel,
                key,
                ext.get("externalId"),
                record.msgid,
                {"name": cef.name, "severity": cef.severity},
            )
        )
