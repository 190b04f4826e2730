"""Ledger commands: `datasoc ledger verify|export|search|append-demo`, `datasoc verify BUNDLE`.

Heavy imports happen inside each command so `datasoc --help` stays fast. Every read-only command
(verify, export, search) opens the ledger read-only (`audit.snapshot`), so it works while
`datasoc run` holds the ledger for writing. Errors print one line (with what to do), never a trace.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from soc_api.commands.edge import now as _now

PASSPHRASE_ENV = "DATASOC_LEDGER_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
EXIT_UNPROVEN = 2
"""`ledger verify`: everything checked is sound, but entries past the newest checkpoint are unproven."""


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Ledger and crypto errors become one line for the operator (what, where, what to do)."""
    from audit.errors import AuditError
    from crypto.errors import CryptoError

    try:
        yield
    except AuditError as exc:
        raise click.ClickException(f"{exc} ({exc.diagnostics()})") from None
    except CryptoError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or ''}: {exc.strerror or exc}") from None


def _when(value: str | None) -> datetime | None:
    """ISO 8601 time or date from the command line; without an offset it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-03-01T00:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _signer(path: Path) -> Any:
    """The ledger's signing key: a key store directory (newest key) or an encrypted PEM file."""
    from crypto.recipes import KeyStore, SigningKey

    passphrase = os.environ.get(PASSPHRASE_ENV, "").encode()
    if not passphrase:
        raise click.UsageError(f"set ${PASSPHRASE_ENV} to the key's passphrase")
    if path.is_dir():
        return KeyStore.open(path, passphrase).signing_key
    return SigningKey.from_pem(path.read_bytes(), passphrase)


@click.group()
def ledger() -> None:
    """Audit ledger: verify, export, search, demo appends (审计账本)."""


@ledger.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--pubkey",
    "pubkeys",
    required=True,
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signer public key (SPKI PEM); repeat it for keys used before a rotation.",
)
@click.option(
    "--known-checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A checkpoint you already hold (checkpoint.bin of an earlier bundle): a rollback past it fails.",
)
def ledger_verify(path: Path, pubkeys: tuple[Path, ...], known_checkpoint: Path | None) -> None:
    """Re-check every entry, node, checkpoint and index root of the ledger at PATH (read-only).

    Exit 0: everything proven; 2: sound, but entries after the newest checkpoint are unproven
    (a forged append or a removed checkpoint looks like this); 1: tampering found.
    """
    from audit.checkpoint import Checkpoint
    from audit.verify import verify_store

    with _one_line_errors():
        known = Checkpoint.from_text(known_checkpoint.read_bytes()) if known_checkpoint else None
        report = verify_store(path, [p.read_bytes() for p in pubkeys], known=known)
    click.echo(report.summary())
    for note in report.notes:
        click.echo(f"note: {note}")
    sys.exit({"proven": 0, "unproven": EXIT_UNPROVEN}.get(report.status, 1))


@ledger.command("export")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The ledger's key store directory, or an encrypted PEM signing key "
    f"(passphrase: ${PASSPHRASE_ENV}); it signs the bundle's manifest.",
)
@click.option("--from-seq", type=click.IntRange(0), default=None)
@click.option("--to-seq", type=click.IntRange(0), default=None, help="Exclusive.")
@click.option("--actor", default=None, help="Entries of this actor (proven complete).")
@click.option("--subject", default=None, help="Entries on this subject, e.g. an asset (proven complete).")
@click.option("--grant", default=None, help="Entries under this approval id (proven complete).")
@click.option("--kind", "entry_kind", default=None, help="Entries of this kind (proven complete).")
@click.option("--since", default=None, help="ISO 8601 start of the window (inclusive; UTC unless given).")
@click.option("--until", default=None, help="ISO 8601 end of the window (inclusive; UTC unless given).")
@click.option(
    "--since-size",
    type=click.IntRange(1),
    default=None,
    help="Tree size of the auditor's last known checkpoint: include a consistency proof from it.",
)
def ledger_export(
    path: Path,
    out: Path,
    key_path: Path,
    from_seq: int | None,
    to_seq: int | None,
    actor: str | None,
    subject: str | None,
    grant: str | None,
    entry_kind: str | None,
    since: str | None,
    until: str | None,
    since_size: int | None,
) -> None:
    """Export a provable selection of the ledger at PATH to a bundle (zip), read-only.

    By keys (--actor/--subject/--grant/--kind, with --since/--until): proven complete through the
    signed key index. By --from-seq/--to-seq (default: everything): proven complete as a range.
    """
    from audit.bundle import export_bundle
    from audit.selection import Selection
    from audit.snapshot import LedgerSnapshot

    by_keys = any((actor, subject, grant, entry_kind))
    if (since or until) and not by_keys:
        raise click.UsageError(
            "--since/--until select through the key index: add --actor, --subject, --grant or --kind"
        )
    if by_keys and (from_seq is not None or to_seq is not None):
        raise click.UsageError("select either by keys or by sequence range, not both")
    with _one_line_errors():
        signer = _signer(key_path)
        view = LedgerSnapshot.open(path)
        latest = view.latest_checkpoint()
        if latest is None:
            raise click.ClickException("the ledger has no signed checkpoint yet")
        size = latest.checkpoint.size
        if by_keys:
            selection = Selection.by_keys(
                actor=actor,
                subject=subject,
                grant=grant,
                kind=entry_kind,
                since=_when(since),
                until=_when(until),
            )
        else:
            selection = Selection.by_range(from_seq or 0, min(size, to_seq if to_seq is not None else size))
        known = None
        if since_size is not None:
            known = next((c for c in view.checkpoints if c.checkpoint.size == since_size), None)
            if known is None:
                raise click.ClickException(f"no checkpoint of size {since_size} in this ledger")
        export_bundle(view, out, signer=signer, now=_now(), selection=selection, known=known)
        with _zip(out) as manifest:
            count = manifest["entries"]["count"]
    click.echo(f"wrote {out}: {count} entries proven against size {size}")


@contextmanager
def _zip(out: Path) -> Iterator[dict[str, Any]]:
    import zipfile

    with zipfile.ZipFile(out) as zf:
        yield json.loads(zf.read("manifest.json"))


@ledger.command("search")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--actor", default=None)
@click.option("--subject", default=None)
@click.option("--kind", "entry_kind", default=None)
@click.option("--grant", default=None, help="The payload's approval.id.")
@click.option("--since", default=None, help="ISO 8601, inclusive (UTC unless given).")
@click.option("--until", default=None, help="ISO 8601, inclusive (UTC unless given).")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
def ledger_search(
    path: Path,
    actor: str | None,
    subject: str | None,
    entry_kind: str | None,
    grant: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> None:
    """Print matching entries of the ledger at PATH as JSON lines, read-only (检索账本).

    Sealed fields are printed sealed: searching needs no sealing key and reveals nothing sealed.
    """
    from audit.entry import format_ts
    from audit.snapshot import LedgerSnapshot

    t1, t2 = _when(since), _when(until)
    lo, hi = (format_ts(t1) if t1 else None), (format_ts(t2) if t2 else None)
    with _one_line_errors():
        view = LedgerSnapshot.open(path)
        keys = [
            f"{field}:{value}"
            for field, value in (
                ("actor", actor),
                ("subject", subject),
                ("kind", entry_kind),
                ("grant", grant),
            )
            if value is not None
        ]
        seqs: list[int] | range = range(view.size)
        if keys:
            found = [set(view.index.lookup(key)) for key in keys]
            seqs = sorted(set.intersection(*found))
        signed = view.latest_checkpoint().checkpoint.size if view.latest_checkpoint() else 0  # type: ignore[union-attr]
        shown = 0
        for seq in seqs:
            raw = view.read_raw(seq)
            entry = json.loads(raw)
            if (lo and entry["ts"] < lo) or (hi and entry["ts"] > hi):
                continue
            click.echo(raw.decode("utf-8"))
            shown += 1
            if shown >= limit:
                break
    unsigned = (
        f"; entries from seq {signed} on are not yet under a signed checkpoint" if view.size > signed else ""
    )
    click.echo(f"{shown} entries shown (limit {limit}){unsigned} / 共 {shown} 条", err=True)


@ledger.command("append-demo")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Encrypted PKCS#8 signing key; created when absent. Passphrase from ${PASSPHRASE_ENV}.",
)
@click.option("--entries", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--origin", default="datasoc.local/ledger", show_default=True)
def append_demo(path: Path, key_path: Path, entries: int, origin: str) -> None:
    """Append demo entries to the ledger at PATH (created if needed) and sign a checkpoint."""
    from audit.entry import EntryDraft
    from audit.ledger import Ledger
    from crypto.recipes import SigningKey

    passphrase = os.environ.get(PASSPHRASE_ENV, "").encode()
    if not passphrase:
        raise click.UsageError(f"set ${PASSPHRASE_ENV} to the signing key's passphrase")
    if key_path.exists():
        key = SigningKey.from_pem(key_path.read_bytes(), passphrase)
    else:
        key = SigningKey.generate()
        # Created 0600 from the start: the (encrypted) key is never world-readable, even briefly.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_key_pem(passphrase))
        pub_path = key_path.with_name(key_path.stem + ".pub.pem")
        pub_path.write_bytes(key.public_key_pem())
        click.echo(f"new signing key {key.key_id}; public key in {pub_path}")
    now = _now()
    led = Ledger.open(path, key, origin=origin)
    try:
        kinds = ("access", "approval.granted", "grant.used", "export", "login.success")
        drafts = [
            EntryDraft.create(
                now=now,
                kind=kinds[i % 5],
                actor=f"user:demo{i % 7}",
                subject=f"asset:demo-{i % 11}",
                payload={"rows": i},
            )
            for i in range(entries)
        ]
        led.store.append_many(drafts)  # one checkpoint below, whatever the policy says
        signed = led.checkpoint(now=_now())
    finally:
        led.close()
    click.echo(f"ledger size {signed.checkpoint.size}, root {signed.checkpoint.root_hex()}")


@click.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signer's public key (SPKI PEM) obtained through a trusted channel; repeat it for keys "
    "used before a rotation. Without it the bundle's own pubkey.pem is used, which proves the bundle "
    "is intact but not who signed it.",
)
@click.option("--entry", type=click.IntRange(0), default=None, help="Check only this record's proof.")
@click.option(
    "--known-checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Your last known checkpoint text (checkpoint.bin of an earlier bundle).",
)
def verify(bundle: Path, pubkeys: tuple[Path, ...], entry: int | None, known_checkpoint: Path | None) -> None:
    """Verify an export bundle offline and say what it proves (校验导出包).

    Exit 0 only when every record is proven; the output says whether the selection is also proven
    complete (nothing left out) or genuine only.
    """
    from audit.bundle import bundled_public_key, verify_bundle
    from audit.checkpoint import Checkpoint
    from audit.errors import AuditError

    data = bundle.read_bytes()
    if pubkeys:
        key_pems = [p.read_bytes() for p in pubkeys]
    else:
        try:
            key_pem, key_id = bundled_public_key(data)
        except AuditError as exc:
            click.echo(f"verification FAILED / 校验失败: {exc}", err=True)
            sys.exit(1)
        key_pems = [key_pem]
        click.echo(
            f"WARNING: no --pubkey; using the bundle's own key {key_id}. Compare it with the key you trust: "
            "this proves the bundle is intact, not who signed it. / 未指定公钥，仅校验完整性。",
            err=True,
        )
    known = None
    if known_checkpoint is not None:
        try:
            known = Checkpoint.from_text(known_checkpoint.read_bytes())
        except AuditError as exc:
            raise click.ClickException(f"{known_checkpoint}: {exc}") from None
    report = verify_bundle(data, key_pems, known=known, entry=entry)
    if not report.ok:
        click.echo(f"verification FAILED / 校验失败: {report.failure}", err=True)
        sys.exit(1)
    click.echo(report.summary())
    click.echo(report.statement_zh)
    click.echo(report.statement_en)
