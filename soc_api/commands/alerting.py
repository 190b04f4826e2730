"""`datasoc alerts ...` and `datasoc cases ...`: the alert queue, its lifecycle, suppressions, routes,
the outbox's dead letters, bulletins and cases, from the host's command line.

The operator acts as `cli:<os user>`; every action is audited before its effect exactly as in the
API (into the ledger, or into the state store's outbox while `datasoc run` holds the ledger; the
command then waits until the running platform moved it into the ledger). Output is JSON lines.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from soc_api.commands.edge import new_id
from soc_api.commands.edge import now as _now

_CONFIG = click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file."
)
_DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir."
)


@contextlib.contextmanager
def _service(config: Path | None, data_dir: Path | None) -> Iterator[tuple[Any, Any, Any]]:
    """(alerting service, cases service, the CLI actor), audited as `datasoc users` is."""
    from soc_api.alerting.cases import Cases
    from soc_api.alerting.errors import AlertingError
    from soc_api.alerting.runtime import alerting_service
    from soc_api.commands.identity import _opened

    with _opened(config, data_dir) as cli:
        audit = cli.identity.audit
        service = alerting_service(cli.settings, cli.identity.store.state, audit, new_id=new_id)
        try:
            yield service, Cases(cli.identity.store.state, audit, new_id=new_id), cli.actor
        except AlertingError as exc:
            cli.settle()
            raise click.ClickException(f"{exc.detail} [{exc.problem}]") from None


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return str(value)


def _alert_row(alert: Any) -> dict[str, Any]:
    return {
        "id": alert.id,
        "level": alert.warning_level,
        "status": alert.status,
        "count": alert.count,
        "rule": alert.rule_title,
        "group": dict(alert.group),
        "assignee": alert.assignee,
        "case": alert.case_id,
        "raised_at": alert.raised_at,
    }


@click.group()
def alerts() -> None:
    """Alerts and response (预警 → 通报 → 处置 → 闭环)."""


@alerts.command("list")
@_CONFIG
@_DATA_DIR
@click.option("--status", multiple=True, type=click.Choice(["new", "notified", "in_progress", "closed"]))
@click.option("--level", multiple=True, type=click.Choice(["red", "orange", "yellow", "blue"]))
@click.option("--suppressed", is_flag=True, help="Only alerts a suppression covers.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def list_alerts(
    config: Path | None,
    data_dir: Path | None,
    status: tuple[str, ...],
    level: tuple[str, ...],
    suppressed: bool,
    limit: int,
) -> None:
    """The alert queue, newest first (one JSON line per alert)."""
    from soc_api.alerting.store import AlertQuery

    with _service(config, data_dir) as (service, _cases, _actor):
        for alert in service.find(
            AlertQuery(status=status, levels=level, suppressed=suppressed, limit=limit)
        ):
            _emit(_alert_row(alert))


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("alert_id")
def show(config: Path | None, data_dir: Path | None, alert_id: str) -> None:
    """One alert with its detection alerts, history and notifications."""
    with _service(config, data_dir) as (service, _cases, _actor):
        detail = service.get(alert_id)
        _emit(
            {
                **_alert_row(detail.alert),
                "members": [m.detection_id for m in detail.members],
                "history": [
                    {"at": c.at, "actor": c.actor, "action": c.action, "detail": c.detail}
                    for c in detail.changes
                ],
                "notifications": [
                    {"channel": n.channel, "status": n.status, "key": n.key} for n in detail.notifications
                ],
            }
        )


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("alert_id")
@click.option("--note", default=None)
def start(config: Path | None, data_dir: Path | None, alert_id: str, note: str | None) -> None:
    """处置: take an alert in hand."""
    with _service(config, data_dir) as (service, _cases, actor):
        _emit(_alert_row(service.start(actor, alert_id, note=note, now=_now())))


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("alert_id")
@click.argument("assignee")
def assign(config: Path | None, data_dir: Path | None, alert_id: str, assignee: str) -> None:
    """Assign an alert to an account."""
    with _service(config, data_dir) as (service, _cases, actor):
        _emit(_alert_row(service.assign(actor, alert_id, assignee, now=_now())))


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("alert_id")
@click.argument("text")
def comment(config: Path | None, data_dir: Path | None, alert_id: str, text: str) -> None:
    """Comment on an alert."""
    with _service(config, data_dir) as (service, _cases, actor):
        _emit(_alert_row(service.comment(actor, alert_id, text, now=_now())))


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("alert_id")
@click.option(
    "--resolution", required=True, type=click.Choice(["resolved", "false_positive", "accepted_risk"])
)
@click.option("--note", required=True, help="Disposition note (处置说明), required.")
def close(config: Path | None, data_dir: Path | None, alert_id: str, resolution: str, note: str) -> None:
    """闭环: close an alert with a resolution and a note."""
    with _service(config, data_dir) as (service, _cases, actor):
        _emit(_alert_row(service.close(actor, alert_id, resolution=resolution, note=note, now=_now())))


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("alert_id")
@click.option("--note", required=True)
def reopen(config: Path | None, data_dir: Path | None, alert_id: str, note: str) -> None:
    """Reopen a closed alert (its history is kept)."""
    with _service(config, data_dir) as (service, _cases, actor):
        _emit(_alert_row(service.reopen(actor, alert_id, note=note, now=_now())))


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.option("--rule", "rule_id", required=True, help="A rule id, or * for every rule.")
@click.option("--where", "conditions", multiple=True, help="FIELD=VALUE (several: all must hold).")
@click.option("--owner", required=True)
@click.option("--reason", required=True)
@click.option("--expires", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), required=True)
def suppress(
    config: Path | None,
    data_dir: Path | None,
    rule_id: str,
    conditions: tuple[str, ...],
    owner: str,
    reason: str,
    expires: datetime,
) -> None:
    """A suppression exception or allow-list entry (owner, reason and expiry required)."""
    from datetime import UTC

    from soc_api.alerting.suppression import Condition

    parsed = []
    for text in conditions:
        field, sep, value = text.partition("=")
        if not sep:
            raise click.BadParameter(f"{text!r}: FIELD=VALUE expected", param_hint="--where")
        parsed.append(Condition(field.strip(), "eq", (value.strip(),)))
    with _service(config, data_dir) as (service, _cases, actor):
        made = service.add_suppression(
            actor,
            rule_id=rule_id,
            conditions=parsed,
            owner=owner,
            reason=reason,
            expires_at=expires.replace(tzinfo=UTC),
            now=_now(),
        )
        _emit({"id": made.id, "rule_id": made.rule_id, "expires_at": made.expires_at})


@alerts.command()
@_CONFIG
@_DATA_DIR
def suppressions(config: Path | None, data_dir: Path | None) -> None:
    """Suppressions with their hit counts."""
    with _service(config, data_dir) as (service, _cases, _actor):
        for suppression, hits in service.suppressions():
            _emit(
                {
                    **_default(suppression),
                    "conditions": [c.to_dict() for c in suppression.conditions],
                    "hits": hits,
                }
            )


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("suppression_id")
def unsuppress(config: Path | None, data_dir: Path | None, suppression_id: str) -> None:
    """End a suppression now."""
    with _service(config, data_dir) as (service, _cases, actor):
        service.revoke_suppression(actor, suppression_id, now=_now())
        _emit({"revoked": suppression_id})


@alerts.command()
@_CONFIG
@_DATA_DIR
def routes(config: Path | None, data_dir: Path | None) -> None:
    """Routing rules (settings first, then those made through the API or `route`)."""
    with _service(config, data_dir) as (service, _cases, _actor):
        for route in service.routes():
            _emit(route.to_dict())


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("name")
@click.option("--channel", "channels", multiple=True, required=True)
@click.option("--level", "levels", multiple=True, type=click.Choice(["red", "orange", "yellow", "blue"]))
@click.option("--grade", "grades", multiple=True, type=click.Choice(["general", "important", "core"]))
@click.option("--tag", "tags", multiple=True)
@click.option("--source", "sources", multiple=True)
@click.option("--hours", default="", help="HH:MM-HH:MM local time (may wrap midnight).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["alert", "escalation", "bulletin"]))
@click.option("--delete", is_flag=True, help="Remove the route instead.")
def route(config: Path | None, data_dir: Path | None, name: str, delete: bool, **fields: Any) -> None:
    """Create, replace or (--delete) remove a routing rule by name."""
    from soc_api.alerting.routing import Route

    with _service(config, data_dir) as (service, _cases, actor):
        if delete:
            service.delete_route(actor, name, now=_now())
            _emit({"deleted": name})
            return
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
        if not body["kinds"]:
            body["kinds"] = ["alert", "escalation"]
        _emit(
            service.put_route(actor, Route.from_dict({**body, "id": "", "name": name}), now=_now()).to_dict()
        )


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.option(
    "--status", type=click.Choice(["pending", "delivered", "dead"]), default="dead", show_default=True
)
def notifications(config: Path | None, data_dir: Path | None, status: str) -> None:
    """The outbox (dead letters by default)."""
    with _service(config, data_dir) as (service, _cases, _actor):
        for row in service.notifications(status=status, limit=500):
            _emit(
                {
                    "id": row.id,
                    "key": row.key,
                    "channel": row.channel,
                    "alert": row.alert_id,
                    "attempts": row.attempts,
                    "error": row.last_error,
                }
            )


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.argument("notification_id", type=int)
def resend(config: Path | None, data_dir: Path | None, notification_id: int) -> None:
    """Send a dead-lettered notification again (same idempotency key)."""
    with _service(config, data_dir) as (service, _cases, actor):
        row = service.resend(actor, notification_id, now=_now())
        _emit({"resent": row.id, "key": row.key, "channel": row.channel})


@alerts.command("push-key")
@_CONFIG
@_DATA_DIR
def push_key_command(config: Path | None, data_dir: Path | None) -> None:
    """Print the SM2 public key that verifies pushes (PEM), made on first use."""
    from soc_api.alerting.runtime import push_key
    from soc_api.commands.platform import _settings

    click.echo(push_key(_settings(config, data_dir)).public_key_pem().decode("ascii"), nl=False)


@alerts.command()
@_CONFIG
@_DATA_DIR
@click.option("--start", "start_day", type=click.DateTime(formats=["%Y-%m-%d"]), required=True)
@click.option("--end", "end_day", type=click.DateTime(formats=["%Y-%m-%d"]), required=True)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Also write the HTML and PDF here."
)
def bulletin(
    config: Path | None, data_dir: Path | None, start_day: datetime, end_day: datetime, out: Path | None
) -> None:
    """A bulletin (通报) now, over local days START to END (exclusive); routed like scheduled ones."""
    from soc_api.alerting import bulletins

    with _service(config, data_dir) as (service, _cases, actor):
        zone = service.config.zone
        period = bulletins.Period("adhoc", start_day.replace(tzinfo=zone), end_day.replace(tzinfo=zone))
        made = bulletins.make(
            service.state,
            service.config,
            period,
            now=_now(),
            actor=actor.label,
            record=service.audit.record,
            bulletin_id="blt-adhoc-" + new_id()[:24],
        )
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for kind in ("html", "pdf"):
                data = bulletins.file_of(service.state, made.id, kind)
                assert data is not None
                (out / f"{made.id}.{kind}").write_bytes(data)
        _emit({"id": made.id, "pages": made.pages, "html": made.html_digest, "pdf": made.pdf_digest})


@click.group()
def cases() -> None:
    """Cases (案件): alerts investigated together, tasks, notes, attachments, merging, reports."""


@cases.command("open")
@_CONFIG
@_DATA_DIR
@click.option("--title", required=True)
@click.option("--description", default="")
@click.option("--alert", "alert_ids", multiple=True)
@click.option("--owner", default=None)
def open_case(
    config: Path | None,
    data_dir: Path | None,
    title: str,
    description: str,
    alert_ids: tuple[str, ...],
    owner: str | None,
) -> None:
    """Open a case over alerts."""
    with _service(config, data_dir) as (_alerting, case_service, actor):
        made = case_service.create(
            actor, title=title, description=description, alert_ids=alert_ids, owner=owner, now=_now()
        )
        _emit({"id": made.id, "level": made.warning_level})


@cases.command("note")
@_CONFIG
@_DATA_DIR
@click.argument("case_id")
@click.argument("text")
def note_case(config: Path | None, data_dir: Path | None, case_id: str, text: str) -> None:
    """A note on a case's timeline."""
    with _service(config, data_dir) as (_alerting, case_service, actor):
        case_service.note(actor, case_id, text, now=_now())
        _emit({"noted": case_id})


@cases.command("merge")
@_CONFIG
@_DATA_DIR
@click.argument("case_id")
@click.argument("into")
def merge_case(config: Path | None, data_dir: Path | None, case_id: str, into: str) -> None:
    """Merge CASE_ID into INTO."""
    with _service(config, data_dir) as (_alerting, case_service, actor):
        _emit({"merged": case_id, "into": case_service.merge(actor, case_id, into, now=_now()).id})


@cases.command("report")
@_CONFIG
@_DATA_DIR
@click.argument("case_id")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="FILE.html or FILE.pdf"
)
def report_case(config: Path | None, data_dir: Path | None, case_id: str, out: Path) -> None:
    """Write the case report as HTML or PDF (by the file's suffix)."""
    from soc_api.reports import render_html, render_pdf

    with _service(config, data_dir) as (_alerting, case_service, _actor):
        document = case_service.report(case_id, now=_now())
        if out.suffix == ".pdf":
            out.write_bytes(render_pdf(document).data)
        else:
            out.write_text(render_html(document), encoding="utf-8")
        _emit({"report": str(out)})
