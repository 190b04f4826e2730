"""The ledger's click commands (`datasoc ledger ...`, `datasoc verify`, `datasoc bench ledger`)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from soc_api.cli import cli as datasoc_cli
from soc_api.commands.ledger import PASSPHRASE_ENV


@pytest.fixture
def cli() -> click.Group:
    return datasoc_cli


def test_demo_verify_export_and_offline_verify(cli: click.Group, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {PASSPHRASE_ENV: "correct horse"}
    led, key = tmp_path / "ledger", tmp_path / "signer.pem"
    done = runner.invoke(
        cli, ["ledger", "append-demo", str(led), "--key", str(key), "--entries", "40"], env=env
    )
    assert done.exit_code == 0, done.output
    pub = tmp_path / "signer.pub.pem"
    assert pub.exists()
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    done = runner.invoke(
        cli, ["ledger", "append-demo", str(led), "--key", str(key), "--entries", "5"], env=env
    )
    assert "ledger size 45" in done.output

    done = runner.invoke(cli, ["ledger", "verify", str(led), "--pubkey", str(pub)])
    assert done.exit_code == 0
    assert done.output.startswith("OK: 45 entries, 2 checkpoints")

    bundle = tmp_path / "b.zip"
    done = runner.invoke(
        cli,
        [
            "ledger",
            "export",
            str(led),
            "--out",
            str(bundle),
            "--key",
            str(key),
            "--from-seq",
            "10",
            "--since-size",
            "40",
        ],
        env=env,
    )
    assert done.exit_code == 0, done.output
    done = runner.invoke(cli, ["verify", str(bundle), "--pubkey", str(pub)])
    assert done.exit_code == 0, done.output
    assert "OK: 35 entries proven" in done.output
    assert "consistent with size 40" in done.output
    assert "complete for seq 10 to 45 (exclusive) at checkpoint size 45" in done.output
    assert "完整：序号 10 至 45" in done.output
    done = runner.invoke(cli, ["verify", str(bundle), "--pubkey", str(pub), "--entry", "12"])
    assert done.exit_code == 0
    assert "OK: 1 entries" in done.output

    with zipfile.ZipFile(bundle) as zf:
        (tmp_path / "cp.bin").write_bytes(zf.read("checkpoint.bin"))
    done = runner.invoke(
        cli, ["verify", str(bundle), "--pubkey", str(pub), "--known-checkpoint", str(tmp_path / "cp.bin")]
    )
    assert done.exit_code == 0, done.output


def test_verify_fails_with_first_failure(cli: click.Group, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {PASSPHRASE_ENV: "pw"}
    led, key = tmp_path / "ledger", tmp_path / "k.pem"
    runner.invoke(cli, ["ledger", "append-demo", str(led), "--key", str(key), "--entries", "8"], env=env)
    pub = tmp_path / "k.pub.pem"
    bundle = tmp_path / "b.zip"
    runner.invoke(cli, ["ledger", "export", str(led), "--out", str(bundle), "--key", str(key)], env=env)
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tmp_path / "t.zip", "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data.replace(b'"rows":3', b'"rows":4') if name == "entries.jsonl" else data)
    done = runner.invoke(cli, ["verify", str(tmp_path / "t.zip"), "--pubkey", str(pub)])
    assert done.exit_code == 1
    assert "entries.jsonl does not match its digest" in done.output
    assert "Traceback" not in done.output

    log = led / "entries.log"
    log.write_bytes(log.read_bytes().replace(b'"rows":5', b'"rows":6'))
    done = runner.invoke(cli, ["ledger", "verify", str(led), "--pubkey", str(pub)])
    assert done.exit_code == 1
    assert "FAILED at entry 5" in done.output


def test_demo_needs_passphrase(cli: click.Group, tmp_path: Path) -> None:
    done = CliRunner().invoke(
        cli,
        ["ledger", "append-demo", str(tmp_path / "l"), "--key", str(tmp_path / "k")],
        env={PASSPHRASE_ENV: ""},
    )
    assert done.exit_code != 0
    assert PASSPHRASE_ENV in done.output


def test_bench_runs_small(cli: click.Group, tmp_path: Path) -> None:
    done = CliRunner().invoke(
        cli, ["bench", "ledger", "--entries", "2000", "--batch", "500", "--workdir", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    assert "durable appends (batched)" in done.output
    assert "verification: OK: 2000 entries proven" in done.output
    assert "verified complete: True" in done.output
    assert list(tmp_path.iterdir()) == []  # bench ledger removed


def test_verify_without_pubkey_warns_and_uses_bundle_key(cli: click.Group, tmp_path: Path) -> None:
    runner = CliRunner()
    led, key = tmp_path / "ledger", tmp_path / "k.pem"
    runner.invoke(
        cli,
        ["ledger", "append-demo", str(led), "--key", str(key), "--entries", "3"],
        env={PASSPHRASE_ENV: "pw"},
    )
    assert key.stat().st_mode & 0o777 == 0o600
    bundle = tmp_path / "b.zip"
    runner.invoke(
        cli,
        ["ledger", "export", str(led), "--out", str(bundle), "--key", str(key)],
        env={PASSPHRASE_ENV: "pw"},
    )
    done = runner.invoke(cli, ["verify", str(bundle)])
    assert done.exit_code == 0, done.output
    assert "WARNING: no --pubkey" in done.output
    assert "OK: 3 entries proven" in done.output
    (tmp_path / "junk.zip").write_bytes(b"junk")
    bad = runner.invoke(cli, ["verify", str(tmp_path / "junk.zip")])
    assert bad.exit_code == 1


def test_export_needs_the_signing_key_and_says_so(cli: click.Group, tmp_path: Path) -> None:
    runner = CliRunner()
    led, key = tmp_path / "ledger", tmp_path / "k.pem"
    runner.invoke(
        cli,
        ["ledger", "append-demo", str(led), "--key", str(key), "--entries", "3"],
        env={PASSPHRASE_ENV: "pw"},
    )
    args = ["ledger", "export", str(led), "--out", str(tmp_path / "b.zip"), "--key", str(key)]
    done = runner.invoke(cli, args, env={PASSPHRASE_ENV: "wrong"})
    assert done.exit_code == 1
    assert done.output.startswith("Error: ")
    assert "Traceback" not in done.output
    done = runner.invoke(cli, args, env={PASSPHRASE_ENV: ""})
    assert done.exit_code == 2
    assert PASSPHRASE_ENV in done.output
