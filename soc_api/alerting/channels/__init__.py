"""Notification channels: an explicit registry of senders, built from `[[alerting.channel]]`.

    senders = build_senders(settings.alerting.channel, push_signer=key)

`SENDERS` maps a settings `type` to its sender class; nothing is loaded by a name in a file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crypto.recipes import SigningKey
from soc_api.alerting.channels.base import Delivery, Documents, Sender, SendResult, tls_context
from soc_api.alerting.channels.http import DingTalkSender, Sm2PushSender, WebhookSender, WeComSender
from soc_api.alerting.channels.mail import SmtpSender
from soc_api.alerting.channels.syslog import SyslogCefSender

SENDERS: dict[str, type[Sender]] = {
    "webhook": WebhookSender,
    "smtp": SmtpSender,
    "dingtalk": DingTalkSender,
    "wecom": WeComSender,
    "syslog_cef": SyslogCefSender,
    "sm2_push": Sm2PushSender,
}


def build_senders(channels: Iterable[Any], *, push_signer: SigningKey | None) -> dict[str, Sender]:
    """One sender per configured channel (the SM2 push needs `push_signer`)."""
    senders: dict[str, Sender] = {}
    for settings in channels:
        if settings.type == "sm2_push":
            if push_signer is None:
                raise ValueError(f"channel {settings.name}: the SM2 push needs a signing key")
            senders[settings.name] = Sm2PushSender(settings, signer=push_signer)
        else:
            senders[settings.name] = SENDERS[settings.type](settings)
    return senders


__all__ = ["SENDERS", "Delivery", "Documents", "SendResult", "Sender", "build_senders", "tls_context"]
