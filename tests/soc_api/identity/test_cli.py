"""`datasoc users` and `datasoc tokens`: 三员 refused and ledgered at the CLI, bootstrap only once,
and the outbox path while another process holds the ledger."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from click.testing import CliRunner

from audit.ledger import Ledger
from datasoc.settings import load_settings
from soc_api.cli import cli
from soc_api.commands.edge import now
from soc_api.identity.audit import drain_outbox
from soc_api.platform import open_keys, open_state

PASSWORD = "Correct-Horse-42\n"


def _run(data_dir: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args[:2], "--data-dir", str(data_dir), *args[2:]], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _ledger_kinds(data_dir: Path) -> list[tuple[str, str, str]]:
    settings = load_settings(None, {"DATASOC_DATA_DIR": str(data_dir)})
    keys = open_keys(settings, now())
    ledger = Ledger.open(settings.resolve(settings.ledger.path), keys.signing_key)
    try:
        return [(e.kind, e.actor, str(e.payload.get("outcome"))) for e in ledger.store.entries()]
    finally:
        ledger.close()


def test_bootstrap_once_and_separation_refused_and_ledgered(tmp_path: Path) -> None:
    code, out, err = _run(
        tmp_path, "users", "bootstrap", "--username", "admin", "--password-stdin", stdin=PASSWORD
    )
    assert code == 0, err
    assert json.loads(out)["roles"] == ["system_admin"]
    assert json.loads(out)["mfa_enrolled"]
    assert "otpauth://totp/datasoc:admin" in err
    assert "recovery codes" in err
    code, _, err = _run(
        tmp_path, "users", "bootstrap", "--username", "admin2", "--password-stdin", stdin=PASSWORD
    )
    assert code != 0
    assert "exists already" in err
    code, _, err = _run(
        tmp_path,
        "users",
        "add",
        "both",
        "--role",
        "security_admin",
        "--role",
        "audit_admin",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert code != 0
    assert "separation-of-duties" in err
    code, _, err = _run(
        tmp_path, "users", "add", "weak", "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert code != 0
    assert "password-policy" in err
    kinds = _ledger_kinds(tmp_path)
    assert ("admin.user_created", "cli:" + kinds[0][1].split(":", 1)[1], "success") in kinds
    assert len([k for k in kinds if k[2] == "denied" and k[0] == "admin.user_created"]) == 2


def test_while_another_process_holds_the_ledger_the_cli_waits_for_the_outbox(tmp_path: Path) -> None:
    settings = load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path)})
    keys = open_keys(settings, now())
    ledger = Ledger.open(
        settings.resolve(settings.ledger.path), keys.signing_key, origin=settings.ledger.origin
    )
    state = open_state(settings, now())
    stop = threading.Event()

    def platform() -> None:  # what `datasoc run` does every second
        while not stop.wait(0.1):
            drain_outbox(state, ledger, now=now())

    mover = threading.Thread(target=platform)
    mover.start()
    try:
        code, out, err = _run(tmp_path, "tokens", "add", "--ingest", "--source", "gw-1", "--expires", "30d")
        assert code == 0, err
        assert out.strip().startswith("dst_")
        assert "ledgered by the running platform" in err
        code, _, err = _run(
            tmp_path,
            "users",
            "add",
            "xavier",
            "--role",
            "system_admin",
            "--role",
            "audit_admin",
            "--password-stdin",
            stdin=PASSWORD,
        )
        assert code != 0
        assert "separation-of-duties" in err
    finally:
        stop.set()
        mover.join()
    entries = [(e.kind, e.payload["outcome"], "outbox_id" in e.payload) for e in ledger.store.entries()]
    assert entries == [("admin.token_created", "success", True), ("admin.user_created", "denied", True)]
    ledger.close()
    state.close()
