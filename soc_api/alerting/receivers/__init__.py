"""Local receivers for tests and the demo: real servers on 127.0.0.1 that verify what real
receivers verify and deduplicate by idempotency key (never mocks).

    receivers = LocalReceivers.start(directory, now=now, push_public_pem=pem, smtp=True)
    settings = receivers.channels()          # [[alerting.channel]] tables pointing at them
    receivers.inbox.processed                # what was processed, once per key
    receivers.stop()

SMTP needs `aiosmtpd` (a development dependency): `smtp=True` only where it is installed.
"""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from datasoc.settings_alerting import (
    DingTalkChannel,
    Sm2PushChannel,
    SmtpChannel,
    SyslogCefChannel,
    WebhookChannel,
    WeComChannel,
)
from soc_api.alerting.receivers.inbox import Inbox, Received
from soc_api.alerting.receivers.pki import LocalPki, make_local_pki
from soc_api.alerting.receivers.syslogd import SyslogReceiver
from soc_api.alerting.receivers.web import WebReceiver, WebSecrets

__all__ = ["Inbox", "LocalReceivers", "Received"]


def _server_context(pki: LocalPki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(pki.cert), str(pki.key))
    return context


@dataclass
class LocalReceivers:
    """The web (webhook, DingTalk, WeCom, SM2 push), syslog-TLS and optionally SMTP receivers."""

    pki: LocalPki
    inbox: Inbox
    web: WebReceiver
    web_url: str
    syslog: SyslogReceiver
    syslog_port: int
    smtp: Any = None
    _settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        directory: Path,
        *,
        now: datetime,
        push_public_pem: bytes | None = None,
        smtp: bool = False,
        record: Path | None = None,
    ) -> LocalReceivers:
        """Start every receiver (TLS certificates made under `directory`)."""
        pki = make_local_pki(directory / "pki", now=now)
        inbox = Inbox(path=record)
        web_secrets = WebSecrets(
            webhook_secret=secrets.token_urlsafe(24),
            dingtalk_token=secrets.token_hex(16),
            dingtalk_secret="SEC" + secrets.token_hex(24),
            wecom_key=secrets.token_hex(16),
            sm2_public_pem=push_public_pem,
        )
        web = WebReceiver(inbox, web_secrets)
        tls = _server_context(pki)
        web_url = web.start(tls=tls)
        syslog = SyslogReceiver(inbox)
        syslog_port = syslog.start(tls)
        mail = None
        if smtp:
            from soc_api.alerting.receivers.mail import SmtpReceiver

            mail = SmtpReceiver(inbox, tls)
            mail.start()
        return cls(pki, inbox, web, web_url, syslog, syslog_port, mail)

    def channels(self, *, timeout: float = 5.0) -> list[Any]:
        """`[[alerting.channel]]` settings pointing at these receivers (names as the demo's)."""
        s = self.web.secrets
        ca = self.pki.ca
        out: list[Any] = [
            WebhookChannel(
                type="webhook",
                name="soc-webhook",
                url=f"{self.web_url}/webhook",
                secret=SecretStr(s.webhook_secret),
                ca_file=ca,
                timeout_seconds=timeout,
            ),
            DingTalkChannel(
                type="dingtalk",
                name="dingtalk-duty",
                url=f"{self.web_url}/dingtalk/robot/send?access_token={s.dingtalk_token}",
                secret=SecretStr(s.dingtalk_secret),
                ca_file=ca,
                timeout_seconds=timeout,
            ),
            WeComChannel(
                type="wecom",
                name="wecom-duty",
                url=f"{self.web_url}/wecom/webhook/send?key={s.wecom_key}",
                ca_file=ca,
                timeout_seconds=timeout,
            ),
            SyslogCefChannel(
                type="syslog_cef",
                name="province-cascade",
                host="127.0.0.1",
                port=self.syslog_port,
                ca_file=ca,
                timeout_seconds=timeout,
            ),
        ]
        if s.sm2_public_pem is not None:
            out.append(
                Sm2PushChannel(
                    type="sm2_push",
                    name="city-command",
                    url=f"{self.web_url}/sm2/push",
                    ca_file=ca,
                    receipt="ack",
                    timeout_seconds=timeout,
                )
            )
        if self.smtp is not None:
            out.append(
                SmtpChannel(
                    type="smtp",
                    name="mail-duty",
                    host="127.0.0.1",
                    port=self.smtp.port,
                    sender="datasoc@mingzhou.example",
                    to=("soc-duty@mingzhou.example",),
                    ca_file=ca,
                    timeout_seconds=timeout,
                )
            )
        return out

    def stop(self) -> None:
        """Stop every receiver."""
        self.web.stop()
        self.syslog.stop()
        if self.smtp is not None:
            self.smtp.stop()
