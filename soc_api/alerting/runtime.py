"""Assembly of alerting over an open platform (called by the composition root, `soc_api.daemon`,
and by the API and CLI builders in `soc_api.platform`).

- `alerting_steps(platform, ...)`: the supervised steps `alert_store`, `notifier`, `sla` and
  `bulletins`, and a `close` for the notifier's senders.
- `alerting_service(settings, state, audit, ...)`: the service people's actions go through.
- `push_key(settings)`: the SM2 key that signs pushes to national-cryptography receivers.

The push key is a key of its own, not the ledger's: a receiver trusting push signatures must not
thereby trust ledger checkpoints (or the reverse), and it can be rotated on its own. It is made
on first start and kept as encrypted PKCS#8 (`data_dir/alerting/push-sm2.pem`, 0600) under
`ledger.key_passphrase`; `datasoc alerts push-key` and `GET /api/v1/notifications/push-key` give
its public half.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from crypto.recipes import SigningKey
from datasoc.logging import get_logger
from datasoc.settings import Settings
from datasoc.settings_alerting import SmtpChannel, SyslogCefChannel
from datasoc.state import StateStore
from soc_api.alerting.channels import Documents, build_senders
from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.delivery import Deliverer
from soc_api.alerting.intake import AlertIntake, LedgerRecorder
from soc_api.alerting.service import Alerting, ChannelInfo
from soc_api.alerting.steps import DeliveryStep, IntakeStep, SlaStep
from soc_api.identity.audit import AuditSink

log = get_logger("alerting")
PUSH_KEY = Path("alerting") / "push-sm2.pem"


def push_key(settings: Settings) -> SigningKey:
    """The SM2 push key, made on first use (see module docstring)."""
    path = settings.data_dir / PUSH_KEY
    passphrase = settings.ledger.key_passphrase.get_secret_value().encode("utf-8")
    if path.exists():
        return SigningKey.from_pem(path.read_bytes(), passphrase)
    key = SigningKey.generate()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_key_pem(passphrase))
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    log.info("push_key_created", key_id=key.key_id)
    return key


def channel_infos(settings: Settings) -> dict[str, ChannelInfo]:
    """The configured channels as the API lists them: name, type, receipt, target (never a secret;
    robots' URLs carry their tokens, so only their host is shown)."""
    from urllib.parse import urlsplit

    infos = {}
    for c in settings.alerting.channel:
        if isinstance(c, SmtpChannel | SyslogCefChannel):
            target = f"{c.host}:{c.port}"
        else:
            target = urlsplit(c.url).netloc
        infos[c.name] = ChannelInfo(c.name, c.type, c.receipt, target)
    return infos


def alerting_service(
    settings: Settings,
    state: StateStore,
    audit: AuditSink,
    *,
    new_id: Callable[[], str],
    public_key: bytes | None = None,
) -> Alerting:
    """The service over `state`, audited into `audit`."""
    return Alerting(
        state,
        audit,
        AlertingConfig.from_settings(settings.alerting),
        channels=channel_infos(settings),
        new_id=new_id,
        push_public_key=public_key,
    )


def documents(state: StateStore) -> Callable[[str], Documents | None]:
    """A bulletin's rendered files by id (for e-mail attachments)."""

    def lookup(bulletin_id: str) -> Documents | None:
        with state.read() as conn:
            row = conn.execute(
                "SELECT title, html, pdf FROM bulletins WHERE id = ?", (bulletin_id,)
            ).fetchone()
        return None if row is None else Documents(row["title"], bytes(row["html"]), bytes(row["pdf"]))

    return lookup


@dataclass
class AlertingSteps:
    """The alerting steps of one platform process, and how to close them."""

    steps: dict[str, Any]
    deliverer: Deliverer
    intake: AlertIntake

    def close(self) -> None:
        """Release the senders (sends in flight are re-sent after the next start)."""
        self.deliverer.close()


def alerting_steps(
    platform: Any,
    *,
    clock: Callable[[], datetime],
    on_gap: Callable[..., None],
    wake: Callable[[str], None],
    jitter: Callable[[], float] | None = None,
    interval: float = 0.2,
    lag_bound: int = 200_000,
) -> AlertingSteps:
    """The supervised alerting steps over the open platform (see module docstring)."""
    settings: Settings = platform.settings
    state: StateStore = platform.state
    config = AlertingConfig.from_settings(settings.alerting)
    recorder = LedgerRecorder(platform.ledger, clock)
    senders = build_senders(
        settings.alerting.channel, push_signer=push_key(settings) if _needs_push(settings) else None
    )
    deliverer = Deliverer(
        state,
        senders,
        config,
        recorder,
        clock=clock,
        jitter=jitter or random.SystemRandom().random,
        documents=documents(state),
    )
    intake = AlertIntake(
        platform.spool, state, recorder, config, on_gap=on_gap, on_change=lambda: wake("notifier")
    )
    deliverer.wake = lambda: wake("notifier")
    steps: dict[str, Any] = {
        "alert_store": IntakeStep(intake, interval=interval, lag_bound=lag_bound),
        "notifier": DeliveryStep(deliverer, interval=interval),
        "sla": SlaStep(state, config, recorder, on_change=lambda: wake("notifier")),
    }
    from soc_api.alerting.bulletins import BulletinStep

    steps["bulletins"] = BulletinStep(platform, config, recorder, on_change=lambda: wake("notifier"))
    return AlertingSteps(steps, deliverer, intake)


def _needs_push(settings: Settings) -> bool:
    return any(c.type == "sm2_push" for c in settings.alerting.channel)
