"""The demo's alerting: local receivers standing in for the duty robots, the SOC webhook, the
provincial cascade (syslog/CEF over TLS) and the city command system (SM2-signed push), the routes
that send each warning level where it belongs, and the printout of what arrived grouped."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from datasoc.settings import Settings
from datasoc.settings_alerting import RouteSettings
from soc_api.alerting.receivers import LocalReceivers

#: Routes of the demo: red and orange to the duty robots, red up the cascade, everything to the
#: SOC's webhook; bulletins to the webhook and the DingTalk duty group.
DEMO_ROUTES = (
    RouteSettings(name="duty-red-orange", levels=("red", "orange"), channels=("dingtalk-duty", "wecom-duty")),
    RouteSettings(name="cascade-red", levels=("red",), channels=("province-cascade", "city-command")),
    RouteSettings(name="soc-all", channels=("soc-webhook",)),
    RouteSettings(name="bulletins", kinds=("bulletin",), channels=("soc-webhook", "dingtalk-duty")),
)


def with_receivers(settings: Settings, directory: Path, *, now: datetime) -> tuple[Settings, LocalReceivers]:
    """Start the local receivers and point `[alerting]` at them (channels and routes)."""
    from soc_api.alerting.runtime import push_key

    receivers = LocalReceivers.start(
        directory,
        now=now,
        push_public_pem=push_key(settings).public_key_pem(),
        record=directory / "received.jsonl",
    )
    alerting = settings.alerting.model_copy(
        update={"channel": tuple(receivers.channels()), "route": DEMO_ROUTES}
    )
    return settings.model_copy(update={"alerting": alerting}), receivers


def alert_lines(platform: Any, incidents: list[dict[str, Any]]) -> list[str]:
    """The alert store after the demo: alerts by level, grouped, each incident's alerts."""
    from soc_api.alerting import outbox, store
    from soc_api.alerting.levels import WARNING_LEVELS
    from soc_api.alerting.lifecycle import STATUS_NAMES

    names = {"red": "红 red", "orange": "橙 orange", "yellow": "黄 yellow", "blue": "蓝 blue"}
    with platform.state.read() as conn:
        alerts = store.list_alerts(conn, store.AlertQuery(suppressed=None, limit=500))
        counts = outbox.counts(conn)
        per_channel = Counter(
            r[0] for r in conn.execute("SELECT channel FROM notifications WHERE status = 'delivered'")
        )
        receipts = conn.execute("SELECT count(*) FROM notifications WHERE acked_at IS NOT NULL").fetchone()[0]
    detections = sum(a.count for a in alerts)
    levels = Counter(a.warning_level for a in alerts)
    summary = ", ".join(
        f"{names[level]} {levels[level]}" for level in reversed(WARNING_LEVELS) if levels[level]
    )
    out = [
        f"\nalert store (预警, grouped): {len(alerts)} alerts from {detections} detection alerts — {summary}"
    ]
    order = list(reversed(WARNING_LEVELS))
    for alert in sorted(alerts, key=lambda a: (order.index(a.warning_level), -a.count, a.rule_title)):
        who = " ".join(v for _f, v in alert.group)[:60]
        out.append(
            f"  [{names[alert.warning_level]:<9}] ×{alert.count:<3} {alert.rule_title}  {who}  "
            f"({STATUS_NAMES[alert.status]})"
        )
    delivered = ", ".join(f"{name} {n}" for name, n in sorted(per_channel.items()))
    out.append(
        f"notifications (通报): delivered {counts.get('delivered', 0)} ({delivered}), "
        f"pending {counts.get('pending', 0)}, dead-lettered {counts.get('dead', 0)}, receipts {receipts}"
    )
    for incident in incidents:
        actor = incident.get("actor")
        mine = [a for a in alerts if any(v == actor for _f, v in a.group)]
        if mine:
            # The most severe first, so a truncated line still names what matters.
            mine.sort(key=lambda a: (order.index(a.warning_level), -a.count, a.rule_title))
            parts = ", ".join(f"{a.rule_title.split(' / ')[0]} ×{a.count}" for a in mine[:6])
            more = f", … {len(mine) - 6} more" if len(mine) > 6 else ""
            out.append(f"  {incident['id']} ({actor}): {len(mine)} alerts — {parts}{more}")
    return out


def receiver_lines(receivers: LocalReceivers) -> list[str]:
    """What the local receivers processed (each notification once, by idempotency key)."""
    inbox = receivers.inbox
    by_channel = Counter(r.channel for r in inbox.processed.values())
    parts = ", ".join(f"{name} {n}" for name, n in sorted(by_channel.items()))
    return [
        f"local receivers (本地接收端): processed {inbox.count()} ({parts}), "
        f"duplicates {sum(inbox.duplicates.values())}, refused {len(inbox.refused)}"
    ]
