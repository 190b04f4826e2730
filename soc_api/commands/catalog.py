"""`datasoc catalog ...`: the asset catalog with grades, discovery and provider proposals (数据资源目录)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from soc_api.commands.edge import now as _now
from soc_api.commands.governance_common import AS, CONFIG, DATA_DIR, echo_json, opened, read_json


@click.group()
def catalog() -> None:
    """Data assets, their grades (GB/T 43697-2024), discovery and proposals (数据资源与分级)."""


@catalog.command("import")
@CONFIG
@DATA_DIR
@AS
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(config: Path | None, data_dir: Path | None, as_user: str | None, path: Path) -> None:
    """Import a catalog file (the network plan, departments, datasets): the operator or a security
    administrator; grade differences are ledgered as classification changes naming the file."""
    with opened(config, data_dir, as_user) as g:
        report = g.governance.catalog.import_document(g.actor, read_json(path), now=_now(), source=str(path))
        echo_json(
            {
                "departments": report.departments,
                "added": list(report.added),
                "updated": list(report.updated),
                "regraded": list(report.regraded),
            }
        )


@catalog.command("list")
@CONFIG
@DATA_DIR
@click.option("--grade", type=click.Choice(["general", "important", "core"]), default=None)
@click.option("--owner", default=None, help="Owning department id.")
def list_(config: Path | None, data_dir: Path | None, grade: str | None, owner: str | None) -> None:
    """Assets with their grades, one line each."""
    with opened(config, data_dir) as g:
        for asset in g.governance.catalog.store.assets(grade=grade, owner=owner):
            sub = f"-{asset.sub_grade}" if asset.sub_grade else ""
            raised = [f.name for f in asset.fields if f.grade]
            extra = f"  fields graded apart: {','.join(raised)}" if raised else ""
            click.echo(f"{asset.id:<20} {asset.grade + sub:<10} {asset.owner:<8} {asset.name}{extra}")


@catalog.command("show")
@CONFIG
@DATA_DIR
@click.argument("asset_id")
def show(config: Path | None, data_dir: Path | None, asset_id: str) -> None:
    """One asset with its fields, grade history and latest discovery evidence."""
    with opened(config, data_dir) as g:
        catalog_ = g.governance.catalog
        asset = catalog_.asset(asset_id)
        history = [
            {
                "field": h.field,
                "before": h.before,
                "after": h.after,
                "reason": h.reason,
                "actor": h.actor,
                "at": h.at,
            }
            for h in catalog_.history(asset_id)
        ]
        echo_json(
            {
                **asset.to_dict(),
                "grade_history": history,
                "discovery": catalog_.store.latest_discovery(asset_id),
            }
        )


@catalog.command("register")
@CONFIG
@DATA_DIR
@AS
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def register(config: Path | None, data_dir: Path | None, as_user: str | None, path: Path) -> None:
    """Register an asset from a JSON file (its department's data owner or a security administrator)."""
    with opened(config, data_dir, as_user) as g:
        echo_json(g.governance.catalog.register(g.actor, read_json(path), now=_now()).to_dict())


@catalog.command("grade")
@CONFIG
@DATA_DIR
@AS
@click.argument("asset_id")
@click.argument("grade", type=click.Choice(["general", "important", "core", "none"]))
@click.option("--sub-grade", type=click.IntRange(1, 4), default=None, help="General data: 1 to 4.")
@click.option("--field", default=None, help="Grade this field apart from its asset ('none' clears it).")
@click.option("--reason", required=True, help="Why (ledgered with who and the grade before).")
def grade(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    asset_id: str,
    grade: str,
    sub_grade: int | None,
    field: str | None,
    reason: str,
) -> None:
    """Set the grade of an asset or of one field (定级): a data owner or a security administrator, --as."""
    with opened(config, data_dir, as_user) as g:
        asset = g.governance.catalog.set_grade(
            g.actor,
            asset_id,
            None if grade == "none" else grade,
            sub_grade,
            reason=reason,
            now=_now(),
            field=field,
        )
        echo_json(asset.to_dict())


@catalog.command("discover")
@CONFIG
@DATA_DIR
@AS
@click.argument("asset_id")
@click.option(
    "--samples",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sample records, JSON lines (at most 1,000); without it the field names alone are read.",
)
def discover(
    config: Path | None, data_dir: Path | None, as_user: str | None, asset_id: str, samples: Path | None
) -> None:
    """Look for sensitive values (敏感数据识别): the grade it suggests with its evidence; nothing changes."""
    rows = []
    if samples is not None:
        for number, line in enumerate(samples.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise click.ClickException(f"{samples}:{number}: {exc.msg}") from None
    with opened(config, data_dir, as_user) as g:
        echo_json(g.governance.catalog.discover(g.actor, asset_id, rows, now=_now()).to_dict())


@catalog.command("proposals")
@CONFIG
@DATA_DIR
@click.option("--status", type=click.Choice(["open", "accepted", "rejected"]), default="open")
def proposals(config: Path | None, data_dir: Path | None, status: str) -> None:
    """Changes proposed by provider events, for the owners to accept or reject."""
    with opened(config, data_dir) as g:
        echo_json(
            [
                {
                    "id": p.id,
                    "asset": p.asset_id,
                    "kind": p.kind,
                    "document": dict(p.document),
                    "status": p.status,
                }
                for p in g.governance.catalog.store.proposals(status=status)
            ]
        )


@catalog.command("accept")
@CONFIG
@DATA_DIR
@AS
@click.argument("proposal_id")
@click.option("--grade", type=click.Choice(["general", "important", "core"]), default=None)
@click.option("--region", default=None, help="A new dataset's region.")
def accept(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    proposal_id: str,
    grade: str | None,
    region: str | None,
) -> None:
    """Accept a proposal: a regrade, or a new dataset (give its --grade and --region)."""
    changes = {k: v for k, v in (("grade", grade), ("region", region)) if v is not None}
    with opened(config, data_dir, as_user) as g:
        echo_json(g.governance.catalog.accept(g.actor, proposal_id, now=_now(), changes=changes).to_dict())


@catalog.command("reject")
@CONFIG
@DATA_DIR
@AS
@click.argument("proposal_id")
@click.option("--note", required=True)
def reject(
    config: Path | None, data_dir: Path | None, as_user: str | None, proposal_id: str, note: str
) -> None:
    """Reject a proposal."""
    with opened(config, data_dir, as_user) as g:
        g.governance.catalog.reject(g.actor, proposal_id, note=note, now=_now())
        click.echo(f"rejected {proposal_id}")


@catalog.command("members")
@CONFIG
@DATA_DIR
@AS
@click.argument("department")
@click.argument("usernames", nargs=-1)
def members(
    config: Path | None,
    data_dir: Path | None,
    as_user: str | None,
    department: str,
    usernames: tuple[str, ...],
) -> None:
    """Set a department's members (the operator or a security administrator): who approves for it."""
    with opened(config, data_dir, as_user) as g:
        g.governance.catalog.set_members(g.actor, department, list(usernames), now=_now())
        click.echo(f"{department}: {' '.join(sorted(usernames)) or '(none)'}")
