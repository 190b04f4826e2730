"""`datasoc access ...`, `datasoc grants ...`, `datasoc trail ...`: requests and decisions, grants,
and the audit trail's search, review and export (事前审批、授权、事后追溯)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from soc_api.commands.edge import now as _now
from soc_api.commands.governance_common import (
    AS,
    CONFIG,
    DATA_DIR,
    echo_json,
    ledger_view,
    opened,
    read_json,
    when,
)

if TYPE_CHECKING:
    from audit.selection import Selection

F = TypeVar("F", bound=Any)


@click.group()
def access() -> None:
    """Access requests and approvals (数据使用申请与审批)."""


@access.command("request")
@CONFIG
@DATA_DIR
@AS
@click.option(
    "--asset", "assets", multiple=True, required=True, help="ASSET or ASSET:field1,field2 (repeat)."
)
@click.option("--purpose", required=True)
@click.option("--legal-basis", required=True)
@click.option("--region", default=None, help="The district you will access from.")
@click.option("--from", "valid_from", required=True, help="Start of the window (ISO 8601).")
@click.option("--to", "valid_to", required=True, help="End of the window (ISO 8601).")
@click.option("--cap", type=click.IntRange(0), default=None, help="Records at most, over the grant's life.")
@click.option("--export", is_flag=True, help="Ask to download or export, too.")
def request(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    assets: tuple[str, ...],
    purpose: str,
    legal_basis: str,
    region: str | None,
    valid_from: str,
    valid_to: str,
    cap: int | None,
    export: bool,
) -> None:
    """Request access for yourself (--as you)."""
    from soc_api.governance.forms import request_to_dict
    from soc_api.governance.records import RequestTerms

    wanted: dict[str, list[str] | None] = {}
    for item in assets:
        name, _, fields = item.partition(":")
        wanted[name] = [f for f in fields.split(",") if f] if fields else None
    start, end = when(valid_from), when(valid_to)
    assert start is not None
    assert end is not None
    body = {
        "assets": wanted,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "region": region,
        "valid_from": start.isoformat(),
        "valid_to": end.isoformat(),
        "record_cap": cap,
        "export": export,
    }
    with opened(config, data_dir, as_user) as g:
        record = g.governance.access.submit(g.actor, RequestTerms.from_dict(body), now=_now())
        echo_json(request_to_dict(record))


@access.command("list")
@CONFIG
@DATA_DIR
@click.option("--status", type=click.Choice(["pending", "approved", "rejected", "withdrawn"]), default=None)
def list_(config: Path | None, data_dir: Path | None, status: str | None) -> None:
    """Requests, newest first (at most 200)."""
    with opened(config, data_dir) as g:
        for r in g.governance.access.requests(status=status, limit=200):
            assets = ",".join(sorted(r.terms.terms.assets))
            click.echo(f"{r.id:<20} {r.status:<9} {r.grade:<9} {r.requester:<12} {assets}")


@access.command("show")
@CONFIG
@DATA_DIR
@click.argument("request_id")
def show(config: Path | None, data_dir: Path | None, request_id: str) -> None:
    """A request as an approver sees it: what is still needed, history, discovery evidence."""
    with opened(config, data_dir) as g:
        echo_json(g.governance.access.detail(request_id, _now()))


@access.command("inbox")
@CONFIG
@DATA_DIR
@AS
def inbox(config: Path | None, data_dir: Path | None, as_user: str | None) -> None:
    """Pending requests your decision would count toward (--as you)."""
    with opened(config, data_dir, as_user) as g:
        for r in g.governance.access.inbox(g.actor, _now()):
            click.echo(f"{r.id:<20} {r.grade:<9} {r.requester:<12} {','.join(sorted(r.terms.terms.assets))}")


def _decide(
    config: Path | None, data_dir: Path | None, as_user: str | None, request_id: str, note: str, approve: bool
) -> None:
    from soc_api.governance.forms import request_to_dict

    with opened(config, data_dir, as_user) as g:
        record = g.governance.access.decide(g.actor, request_id, approve=approve, note=note, now=_now())
        echo_json(request_to_dict(record))


_DECIDING = [CONFIG, DATA_DIR, AS, click.argument("request_id"), click.option("--note", default="")]


def _deciding(command: F) -> F:
    """The options of `approve` and `reject`: who decides (--as) which request, with what note."""
    for option in reversed(_DECIDING):
        command = option(command)
    return command


@access.command("approve")
@_deciding
def approve(
    config: Path | None, data_dir: Path | None, as_user: str | None, request_id: str, note: str
) -> None:
    """Approve (--as you): refused for the requester, a second decision, or one that does not count."""
    _decide(config, data_dir, as_user, request_id, note, True)


@access.command("reject")
@_deciding
def reject(
    config: Path | None, data_dir: Path | None, as_user: str | None, request_id: str, note: str
) -> None:
    """Reject (--as you)."""
    _decide(config, data_dir, as_user, request_id, note, False)


@access.command("withdraw")
@CONFIG
@DATA_DIR
@AS
@click.argument("request_id")
def withdraw(config: Path | None, data_dir: Path | None, as_user: str | None, request_id: str) -> None:
    """Withdraw your pending request (--as you)."""
    with opened(config, data_dir, as_user) as g:
        click.echo(g.governance.access.withdraw(g.actor, request_id, now=_now()).status)


@access.command("policy")
@CONFIG
@DATA_DIR
@AS
@click.option("--set", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--note", default=None, help="Why the policy changes (with --set).")
def policy(
    config: Path | None, data_dir: Path | None, as_user: str | None, path: Path | None, note: str | None
) -> None:
    """Show the approval policy in force, or --set a new version from a JSON file (the operator or a
    security administrator, with --note)."""
    with opened(config, data_dir, as_user) as g:
        if path is not None:
            if not note:
                raise click.UsageError("--set needs --note (why the policy changes)")
            g.governance.access.set_policy(g.actor, read_json(path), note=note, now=_now())
        version, current = g.governance.access.policy()
        echo_json({"version": version, "document": current.to_dict()})


@click.group()
def grants() -> None:
    """Grants: their history and usage; revoke, narrow, import, expire (授权)."""


@grants.command("list")
@CONFIG
@DATA_DIR
@click.option("--user", default=None)
@click.option("--status", type=click.Choice(["active", "revoked", "expired"]), default=None)
def grants_list(config: Path | None, data_dir: Path | None, user: str | None, status: str | None) -> None:
    """Grants by id, one line each."""
    with opened(config, data_dir) as g:
        for r in g.governance.grants.grants(user=user, status=status):
            terms = r.grant.terms
            cap = terms.record_cap if terms.record_cap is not None else "-"
            click.echo(
                f"{r.grant.id:<20} {r.status:<8} {r.grant.user:<12} {','.join(sorted(terms.assets))} "
                f"until {terms.valid_to:%Y-%m-%d} cap {cap}"
            )


@grants.command("show")
@CONFIG
@DATA_DIR
@click.argument("grant_id")
def grants_show(config: Path | None, data_dir: Path | None, grant_id: str) -> None:
    """One grant with its history and the records used under it (from the ledger)."""
    from soc_api.governance.forms import grant_to_dict
    from soc_api.governance.usage import last_used

    with opened(config, data_dir) as g:
        view, held = ledger_view(g)
        used = last_used(held, grant_id) if held is not None else None
        echo_json(
            {**grant_to_dict(g.governance.grants.grant(grant_id)), "used": used, "ledger_size": view.size}
        )


@grants.command("revoke")
@CONFIG
@DATA_DIR
@AS
@click.argument("grant_id")
@click.option("--reason", required=True)
def revoke(
    config: Path | None, data_dir: Path | None, as_user: str | None, grant_id: str, reason: str
) -> None:
    """Revoke a grant from now on."""
    with opened(config, data_dir, as_user) as g:
        click.echo(g.governance.grants.revoke(g.actor, grant_id, reason=reason, now=_now()).status)


@grants.command("narrow")
@CONFIG
@DATA_DIR
@AS
@click.argument("grant_id")
@click.option(
    "--changes", "changes_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option("--reason", required=True)
def narrow(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    grant_id: str,
    changes_path: Path,
    reason: str,
) -> None:
    """Narrow a grant from now on with the terms in a JSON file (assets, window, region, cap, export)."""
    from soc_api.governance.forms import grant_to_dict

    with opened(config, data_dir, as_user) as g:
        record = g.governance.grants.narrow(
            g.actor, grant_id, read_json(changes_path), reason=reason, now=_now()
        )
        echo_json(grant_to_dict(record))


@grants.command("import")
@CONFIG
@DATA_DIR
@AS
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def grants_import(config: Path | None, data_dir: Path | None, as_user: str | None, path: Path) -> None:
    """Import a legacy approval register (approvals.jsonl): new ids become grants, known ones stay."""
    from collectors.approvals import approvals_of, read_register

    with opened(config, data_dir, as_user) as g:
        report = g.governance.grants.import_register(
            g.actor, approvals_of(read_register(path)), now=_now(), source=str(path)
        )
        echo_json({"added": list(report.added), "skipped": list(report.skipped)})


@grants.command("expire")
@CONFIG
@DATA_DIR
def expire(config: Path | None, data_dir: Path | None) -> None:
    """Record the grants whose window is over as expired now (`datasoc run` does it every second)."""
    with opened(config, data_dir) as g:
        echo_json(g.governance.grants.expire_due(_now()))


@click.group()
def trail() -> None:
    """The audit trail: search, review, export (事后可追溯)."""


_KEYS = [
    click.option("--actor", default=None, help="Who: a user name (accesses) or user:<name> (actions)."),
    click.option("--subject", default=None, help="What: an asset id, a request or grant id."),
    click.option("--grant", default=None, help="Every entry of a grant (approval.id)."),
    click.option("--kind", default=None, help="access, grant.issued, approval.approved, ..."),
    click.option("--since", default=None, help="ISO 8601, inclusive."),
    click.option("--until", default=None, help="ISO 8601, inclusive."),
]


@dataclass(frozen=True)
class TrailKeys:
    """The trail commands' selection keys (`--actor`, `--subject`, `--grant`, `--kind`, `--since`,
    `--until`), the times parsed."""

    actor: str | None
    subject: str | None
    grant: str | None
    kind: str | None
    since: datetime | None
    until: datetime | None

    def selection(self) -> Selection:
        """The ledger selection these keys name."""
        from audit.selection import Selection

        return Selection.by_keys(
            actor=self.actor,
            subject=self.subject,
            grant=self.grant,
            kind=self.kind,
            since=self.since,
            until=self.until,
        )


def _keys(command: Callable[..., None]) -> Callable[..., None]:
    """Add the selection options to a command, which takes them as one `keys: TrailKeys` (a bad
    time is refused before anything opens)."""

    @functools.wraps(command)
    def with_keys(**given: Any) -> None:
        names = ("actor", "subject", "grant", "kind", "since", "until")
        actor, subject, grant, kind, since, until = (given.pop(name) for name in names)
        command(keys=TrailKeys(actor, subject, grant, kind, when(since), when(until)), **given)

    for option in reversed(_KEYS):
        with_keys = option(with_keys)
    return with_keys


@trail.command("search")
@CONFIG
@DATA_DIR
@AS
@_keys
@click.option("--outcome", default=None, help="allowed, open, violation (accesses); success, denied, failed.")
@click.option("--limit", type=click.IntRange(1, 200), default=50)
def search(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    keys: TrailKeys,
    outcome: str | None,
    limit: int,
) -> None:
    """Search the ledger (the search is ledgered); newest first."""
    from soc_api.governance.review import TrailQuery, entry_to_dict, search_trail
    from soc_api.identity.audit import audit_draft, audited

    k = keys
    query = TrailQuery(k.actor, k.subject, k.grant, k.kind, k.since, k.until, outcome, None, limit)
    with opened(config, data_dir, as_user) as g:
        view, _ = ledger_view(g)
        draft = audit_draft(
            now=_now(),
            kind="read.trail_search",
            actor=g.actor.label,
            subject="audit:trail",
            outcome="success",
            criteria=query.criteria(),
        )
        found = audited(g.cli.identity.audit, draft, lambda: search_trail(view, query))
        echo_json([entry_to_dict(e) for e in found])


@trail.command("review")
@CONFIG
@DATA_DIR
@AS
@_keys
@click.option("--note", required=True)
@click.option("--finding", default="")
@click.option("--signoff", is_flag=True)
def review(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    keys: TrailKeys,
    note: str,
    finding: str,
    signoff: bool,
) -> None:
    """Record a review of a selection (note, finding, sign-off) as a ledger entry (--as an auditor)."""
    from soc_api.governance.review import record_review

    selection = keys.selection()
    with opened(config, data_dir, as_user) as g:
        view, _ = ledger_view(g)
        seq = record_review(
            g.cli.identity.audit,
            g.actor,
            selection.to_dict(),
            note=note,
            finding=finding,
            signoff=signoff,
            ledger_size=view.size,
            now=_now(),
        )
        click.echo(f"review recorded{'' if seq is None else f' at seq {seq}'}")


@trail.command("export")
@CONFIG
@DATA_DIR
@AS
@_keys
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def export(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    keys: TrailKeys,
    out_dir: Path,
) -> None:
    """Export a trail proven complete for its selection (--as an audit administrator): bundle.zip
    (`datasoc verify`), entries.csv, summary.json, report.txt, report.html and report.pdf (charts)."""
    from audit.errors import CheckpointError
    from soc_api.governance.review import export_trail
    from soc_api.platform import open_keys

    selection = keys.selection()
    with opened(config, data_dir, as_user) as g:
        view, held = ledger_view(g)
        if held is not None:
            with contextlib.suppress(CheckpointError):
                held.checkpoint_tail(now=_now())
        signer = open_keys(g.settings, _now()).signing_key
        done = export_trail(
            g.cli.identity.audit, view, g.actor, selection, signer=signer, out_dir=out_dir, now=_now()
        )
        click.echo(f"{done.entries} entries: {done.bundle}")
        pem = done.directory / "pubkey.pem"
        click.echo(f"verify offline (离线校验): datasoc verify {done.bundle} --pubkey {pem}")
