"""Ledger commands: `datasoc ledger ...`, `datasoc verify BUNDLE`, `datasoc bench ledger`.

Heavy imports happen inside each command so `datasoc --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from soc_api.commands.edge import now as _now

PASSPHRASE_ENV = "DATASOC_LEDGER_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret


@click.group()
def ledger() -> None:
    """Audit ledger: verify, export, demo appends (审计账本)."""


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
def ledger_verify(path: Path, pubkeys: tuple[Path, ...]) -> None:
    """Re-check every entry, node and checkpoint of the ledger at PATH; report the first divergence."""
    from audit.verify import verify_store

    report = verify_store(path, [p.read_bytes() for p in pubkeys])
    click.echo(report.summary())
    for note in report.notes:
        click.echo(f"note: {note}")
    sys.exit(0 if report.ok else 1)


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


@ledger.command("export")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--pubkey", "pubkey", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--from-seq", type=click.IntRange(0), default=None)
@click.option("--to-seq", type=click.IntRange(0), default=None, help="Exclusive.")
@click.option(
    "--since-size",
    type=click.IntRange(1),
    default=None,
    help="Tree size of the auditor's last known checkpoint: include a consistency proof from it.",
)
def ledger_export(
    path: Path, out: Path, pubkey: Path, from_seq: int | None, to_seq: int | None, since_size: int | None
) -> None:
    """Export entries of the ledger at PATH, with proofs, to a bundle (zip) against its latest checkpoint."""
    from audit.bundle import export_bundle
    from audit.errors import AuditError
    from audit.storage import LedgerStore

    store = LedgerStore.open(path)
    try:
        latest = store.latest_checkpoint()
        if latest is None:
            raise click.ClickException("the ledger has no signed checkpoint yet")
        size = latest.checkpoint.size
        seqs = range(from_seq or 0, min(size, to_seq if to_seq is not None else size))
        known = None
        if since_size is not None:
            known = next((c for c in store.checkpoints if c.checkpoint.size == since_size), None)
            if known is None:
                raise click.ClickException(f"no checkpoint of size {since_size} in this ledger")
        export_bundle(store, out, public_key_pem=pubkey.read_bytes(), now=_now(), seqs=seqs, known=known)
    except AuditError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"wrote {out}: {len(seqs)} entries proven against size {size}")


@click.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--pubkey",
    "pubkey",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signer's public key (SPKI PEM) obtained through a trusted channel. Without it the "
    "bundle's own pubkey.pem is used, which proves consistency but not who signed.",
)
@click.option("--entry", type=click.IntRange(0), default=None, help="Check only this record's proof.")
@click.option(
    "--known-checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Your last known checkpoint text (checkpoint.bin of an earlier bundle).",
)
def verify(bundle: Path, pubkey: Path | None, entry: int | None, known_checkpoint: Path | None) -> None:
    """Verify an export bundle offline; exit 0 only when every record is proven (校验导出包)."""
    from audit.bundle import bundled_public_key, verify_bundle
    from audit.checkpoint import Checkpoint
    from audit.errors import AuditError

    data = bundle.read_bytes()
    if pubkey is not None:
        key_pem = pubkey.read_bytes()
    else:
        try:
            key_pem, key_id = bundled_public_key(data)
        except AuditError as exc:
            click.echo(f"verification FAILED / 校验失败: {exc}", err=True)
            sys.exit(1)
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
    report = verify_bundle(data, key_pem, known=known, entry=entry)
    if report.ok:
        click.echo(report.summary())
        return
    click.echo(f"verification FAILED / 校验失败: {report.failure}", err=True)
    sys.exit(1)
