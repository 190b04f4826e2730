"""`datasoc catalog|access|grants|trail`: the operator imports, people act `--as` themselves (signed in
here), refusals are ledgered, and an audit administrator's export verifies with `datasoc verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from audit.ledger import Ledger
from datasoc.settings import load_settings
from soc_api.cli import cli
from soc_api.commands.edge import now
from soc_api.identity import Identity
from soc_api.identity.actors import Actor
from soc_api.identity.audit import LedgerAudit
from soc_api.platform import identity_config, open_keys, open_state
from tests.soc_api.governance.conftest import CATALOG

PASSWORD = "Correct-Horse-42"


def run(
    data_dir: Path, *args: str, password: str = PASSWORD, totp: str | None = None
) -> tuple[int, str, str]:
    env = {"SOC_PASSWORD": password, "SOC_TOTP": totp}
    result = CliRunner().invoke(cli, [*args[:2], "--data-dir", str(data_dir), *args[2:]], env=env)
    return result.exit_code, result.stdout, result.stderr


def add(data_dir: Path, username: str, role: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["users", "add", "--data-dir", str(data_dir), username, "--role", role, "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.stderr


def enrol(data_dir: Path, username: str) -> str:
    """Enrol a second factor as an operator would (the CLI's own enrolment is interactive)."""
    settings = load_settings(None, {"DATASOC_DATA_DIR": str(data_dir)})
    at = now()
    state, keys = open_state(settings, at), open_keys(settings, at)
    ledger = Ledger.open(settings.resolve(settings.ledger.path), keys.signing_key)
    try:
        identity = Identity.build(state, LedgerAudit(ledger, state, now), keys, identity_config(settings))
        account = identity.store.by_username(username)
        assert account is not None
        enrolment, _codes = identity.signin.enrol_now(Actor.cli("test"), account.id, now=at)
        return enrolment.secret
    finally:
        ledger.close()
        state.close()


@pytest.mark.slow
def test_the_governance_commands_walk_a_request_to_a_verified_export(tmp_path: Path) -> None:
    data = tmp_path / "var"
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG, ensure_ascii=False), encoding="utf-8")
    code, out, err = run(data, "catalog", "import", str(catalog))
    assert code == 0, err
    assert sorted(json.loads(out)["added"]) == ["ds-dzbl", "ds-hjqy", "ds-qydj", "ds-rkjc"]
    for username, role in (("wangwei", "data_user"), ("owner1", "data_owner"), ("auditor", "audit_admin")):
        add(data, username, role)
    assert run(data, "catalog", "members", "gaj", "owner1")[0] == 0
    code, out, _ = run(data, "catalog", "list", "--grade", "core")
    assert out.split()[0] == "ds-rkjc"

    code, out, err = run(
        data,
        "access",
        "request",
        "--as",
        "wangwei",
        "--asset",
        "ds-hjqy:xm",
        "--purpose",
        "户籍核验",
        "--legal-basis",
        "政务数据共享管理办法",
        "--region",
        "东湖区",
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-12-31T00:00:00Z",
        "--cap",
        "1000",
    )
    assert code == 0, err
    request = json.loads(out)
    assert (request["grade"], request["status"]) == ("important", "pending")
    assert run(data, "access", "inbox", "--as", "owner1")[1].split()[0] == request["id"]
    code, _, err = run(data, "access", "approve", request["id"], "--as", "wangwei")
    assert code != 0
    assert "a requester never decides" in err
    code, out, err = run(data, "access", "approve", request["id"], "--as", "owner1", "--note", "同意")
    assert code == 0, err
    assert json.loads(out)["status"] == "approved"
    code, _, err = run(data, "access", "approve", request["id"], "--as", "owner1", password="wrong")
    assert code != 0
    code, out, _ = run(data, "grants", "list", "--user", "wangwei")
    assert out.startswith(request["id"])
    code, out, err = run(data, "trail", "search", "--grant", request["id"])
    assert code == 0, err
    assert [e["kind"] for e in reversed(json.loads(out))] == [
        "approval.requested",
        "approval.approved",  # the data user's try: denied
        "approval.approved",
        "grant.issued",
    ]

    secret = enrol(data, "auditor")
    out_dir = tmp_path / "export"
    code, _, err = run(data, "trail", "export", str(out_dir), "--grant", request["id"], "--as", "wangwei")
    assert code != 0
    assert "only an audit administrator" in err
    code, out, err = run(
        data,
        "trail",
        "export",
        str(out_dir),
        "--grant",
        request["id"],
        "--as",
        "auditor",
        totp=pyotp.TOTP(secret).now(),
    )
    assert code == 0, err
    assert "4 entries" in out
    verify = CliRunner().invoke(
        cli, ["verify", str(out_dir / "bundle.zip"), "--pubkey", str(out_dir / "pubkey.pem")]
    )
    assert verify.exit_code == 0, verify.output
    assert "complete" in verify.output
    assert (out_dir / "entries.csv").read_text(encoding="utf-8-sig").count("\n") == 5


def test_trail_keys_reach_the_recorded_selection_and_a_bad_time_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "var"
    add(data, "auditor", "audit_admin")
    code, _, err = run(data, "trail", "review", "--note", "n", "--kind", "k", "--until", "yesterday")
    assert code == 2
    assert "'yesterday' is not an ISO 8601 time" in err
    secret = enrol(data, "auditor")
    code, out, err = run(
        data,
        "trail",
        "review",
        "--note",
        "月度抽查",
        "--kind",
        "access",
        "--grant",
        "g-1",
        "--since",
        "2026-03-01T00:00:00",  # no offset: UTC
        "--as",
        "auditor",
        totp=pyotp.TOTP(secret).now(),
    )
    assert code == 0, err
    code, out, err = run(data, "trail", "search", "--kind", "admin.audit_reviewed", "--actor", "user:auditor")
    assert code == 0, err
    (entry,) = json.loads(out)
    selection = entry["payload"]["selection"]
    assert (selection["kind"], selection["grant"], selection["actor"]) == ("access", "g-1", None)
    assert selection["since"] == "2026-03-01T00:00:00.000000Z"
    assert selection["until"] is None
    assert entry["payload"]["note"] == "月度抽查"
