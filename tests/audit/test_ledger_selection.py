"""Key selections: exported by actor, subject, grant, kind and time, proven complete, and every way
an exporter holding the key could leave an entry out is caught."""

from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audit import bundle_format as bf
from audit.bundle import export_bundle, verify_bundle
from audit.checkpoint import CheckpointPolicy
from audit.entry import EntryDraft, LedgerEntry
from audit.errors import BundleError
from audit.index import MAX_LATENESS, encode_elements
from audit.ledger import Ledger
from audit.selection import Selection
from crypto.recipes import SigningKey, sm3_hex
from datasoc.canonical import canonical_json

ACTORS = ("user:alice", "user:bob", "user:carol", "svc:etl")
SUBJECTS = ("asset:人口库", "asset:社保", "asset:公积金")


def _ledger(tmp_path: Path, key: SigningKey, t0: datetime, n: int = 160) -> tuple[Ledger, list[LedgerEntry]]:
    """Entries over a few hours, some late by up to 4 minutes, checkpoints every 7 entries."""
    rng = random.Random(2026)
    led = Ledger.open(
        tmp_path / "l", key, origin="o", policy=CheckpointPolicy(every_entries=7, every_seconds=1e6)
    )
    clock = t0
    for i in range(n):
        clock += timedelta(seconds=rng.randrange(0, 240))
        when = clock - timedelta(seconds=rng.randrange(0, 240)) if rng.random() < 0.2 else clock
        payload: dict[str, object] = {"rows": i}
        if rng.random() < 0.4:
            payload["approval.id"] = f"apr-{rng.randrange(5)}"
        draft = EntryDraft.create(
            now=when,
            kind=rng.choice(("access", "export", "approval.granted")),
            actor=rng.choice(ACTORS),
            subject=rng.choice(SUBJECTS),
            payload=payload,
        )
        led.append(draft, now=clock)
    led.checkpoint(now=clock + timedelta(seconds=1))
    return led, list(led.store.entries())


def _export(led: Ledger, key: SigningKey, out: Path, selection: Selection) -> bytes:
    now = led.store.latest_checkpoint().checkpoint.when()  # type: ignore[union-attr]
    return export_bundle(led.store, out, signer=key, now=now, selection=selection).read_bytes()


def test_random_selections_match_brute_force(key: SigningKey, tmp_path: Path, t0: datetime) -> None:
    led, entries = _ledger(tmp_path, key, t0)
    end = datetime.strptime(entries[-1].ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=t0.tzinfo)
    rng = random.Random(7)
    pub = key.public_key_pem()
    for case in range(40):
        fields = {
            "actor": rng.choice((None, *ACTORS)),
            "subject": rng.choice((None, *SUBJECTS)),
            "grant": rng.choice((None, None, "apr-1", "apr-3", "apr-none")),
            "kind": rng.choice((None, None, "access", "export")),
        }
        if not any(fields.values()):
            fields["actor"] = "user:bob"
        span = (end - t0).total_seconds()
        since = t0 + timedelta(seconds=rng.uniform(-600, span)) if rng.random() < 0.8 else None
        until = (since or t0) + timedelta(seconds=rng.uniform(0, span / 2)) if rng.random() < 0.8 else None
        selection = Selection.by_keys(**fields, since=since, until=until)
        data = _export(led, key, tmp_path / f"s{case}.zip", selection)
        report = verify_bundle(data, pub)
        assert report.ok, (case, report.failure)
        assert report.complete
        want = [e for e in entries if selection.matches(e) and selection.in_window(e)]
        assert report.selected == len(want), case
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            got = [LedgerEntry.from_dict(json.loads(x)) for x in zf.read(bf.ENTRIES).splitlines()]
        assert [e.seq for e in got if selection.in_window(e)] == [e.seq for e in want]
        assert report.statement_en.startswith("complete for ")
    led.close()


def test_statement_and_absent_key(key: SigningKey, tmp_path: Path, t0: datetime) -> None:
    led, _ = _ledger(tmp_path, key, t0, n=30)
    since, until = t0, t0 + timedelta(hours=1)
    data = _export(
        led, key, tmp_path / "a.zip", Selection.by_keys(actor="user:alice", since=since, until=until)
    )
    report = verify_bundle(data, key.public_key_pem())
    assert report.statement_en.startswith(
        "complete for actor user:alice from 2026-03-01T08:00:00.000000Z to 2026-03-01T09:00:00.000000Z "
        "at checkpoint size 30"
    )
    assert report.statement_zh.startswith("完整：操作者 user:alice，时间 2026-03-01T08:00:00.000000Z 至")
    # A key that never occurs: the map proves its absence, so "no entries" is itself proven.
    none = verify_bundle(
        _export(led, key, tmp_path / "n.zip", Selection.by_keys(actor="user:mallory")), key.public_key_pem()
    )
    assert none.ok
    assert none.complete
    assert none.entries == 0
    led.close()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _resign(members: dict[str, bytes], key: SigningKey) -> bytes:
    """What an exporter holding the signing key can do: any manifest, re-signed."""
    manifest = json.loads(members[bf.MANIFEST])
    lines = members[bf.ENTRIES].splitlines()
    seqs = [json.loads(x)["seq"] for x in lines]
    manifest["entries"] = {
        "count": len(seqs),
        "first_seq": seqs[0] if seqs else None,
        "last_seq": seqs[-1] if seqs else None,
    }
    manifest["files"] = {n: sm3_hex(d) for n, d in members.items() if n not in (bf.MANIFEST, bf.MANIFEST_SIG)}
    members = {**members, bf.MANIFEST: canonical_json(manifest)}
    members[bf.MANIFEST_SIG] = key.sign(members[bf.MANIFEST])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def test_an_exporter_with_the_key_cannot_leave_an_entry_out(
    key: SigningKey, tmp_path: Path, t0: datetime
) -> None:
    led, entries = _ledger(tmp_path, key, t0)
    pub = key.public_key_pem()
    since = datetime.strptime(entries[40].ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=t0.tzinfo)
    until = datetime.strptime(entries[120].ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=t0.tzinfo)
    selection = Selection.by_keys(actor="user:alice", kind="access", since=since, until=until)
    orig = _members(_export(led, key, tmp_path / "b.zip", selection))
    assert verify_bundle(_resign(orig, key), pub).complete  # re-signing alone changes nothing
    lines = orig[bf.ENTRIES].splitlines(keepends=True)
    assert len(lines) >= 3
    index = json.loads(orig[bf.INDEX])
    blob = orig[bf.INDEX_BIN]

    def with_index(runs: list[dict[str, object]], new_blob: bytes = blob) -> dict[str, bytes]:
        return {**orig, bf.INDEX: canonical_json({**index, "runs": runs}), bf.INDEX_BIN: new_blob}

    run0 = index["runs"][0]
    attacks: dict[str, dict[str, bytes]] = {
        "drop a middle entry": {**orig, bf.ENTRIES: b"".join(lines[:1] + lines[2:])},
        "drop the last entry": {**orig, bf.ENTRIES: b"".join(lines[:-1])},
        "keep one entry": {**orig, bf.ENTRIES: lines[0]},
        "narrow the window in the manifest": orig,  # (manifest edited below)
        "drop the actor run": with_index(index["runs"][1:]),
        "shorten the run by its last chunk": with_index(
            [
                {
                    **run0,
                    "end": run0["end"] - 1,
                    "chunk_sizes": run0["chunk_sizes"][:-1],
                    "length": run0["length"] - 16 * run0["chunk_sizes"][-1],
                },
                *index["runs"][1:],
            ]
        ),
        "drop an element from index.bin": with_index(
            [
                {
                    **run0,
                    "chunk_sizes": [run0["chunk_sizes"][0] - 1, *run0["chunk_sizes"][1:]],
                    "length": run0["length"] - 16,
                },
                *[{**r, "offset": r["offset"] - 16} for r in index["runs"][1:]],
            ],
            blob[: run0["offset"]] + blob[run0["offset"] + 16 :],
        ),
        "claim the key is absent": with_index(
            [
                {
                    **run0,
                    "first": 0,
                    "end": 0,
                    "chunk_sizes": [],
                    "length": 0,
                    "map": {**run0["map"], "end_path": None, "end_head": None},
                },
                *index["runs"][1:],
            ]
        ),
        "move an element's time outside the window": with_index(
            index["runs"],
            blob[: run0["offset"]]
            + encode_elements([int.from_bytes(blob[run0["offset"] : run0["offset"] + 8], "big"), -(2**60)])
            + blob[run0["offset"] + 16 :],
        ),
    }
    for name, members in attacks.items():
        if name == "narrow the window in the manifest":
            manifest = json.loads(orig[bf.MANIFEST])
            manifest["selection"]["since"] = entries[119].ts
            members = {**orig, bf.MANIFEST: canonical_json(manifest)}
        report = verify_bundle(_resign(members, key), pub)
        assert not (
            report.ok
            and report.complete
            and report.selected == verify_bundle(_resign(orig, key), pub).selected
        ), name
    led.close()


def test_key_selections_need_an_indexed_checkpoint(key: SigningKey, tmp_path: Path, t0: datetime) -> None:
    """A checkpoint signed before the index existed (four lines) still verifies, but proves no selection."""
    from audit.checkpoint import Checkpoint, SignedCheckpoint
    from audit.storage import LedgerStore

    store = LedgerStore.create(tmp_path / "l", "o")
    store.append(EntryDraft.create(now=t0, kind="access", actor="a", subject="s", payload={}))
    legacy = Checkpoint.create(origin="o", size=1, root=store.tree.root(), now=t0)
    assert legacy.to_text().count(b"\n") == 4
    store.add_checkpoint(SignedCheckpoint.sign(legacy, key))
    with pytest.raises(BundleError, match="predates the key index"):
        export_bundle(store, tmp_path / "x.zip", signer=key, now=t0, selection=Selection.by_keys(actor="a"))
    data = export_bundle(store, tmp_path / "y.zip", signer=key, now=t0).read_bytes()
    assert verify_bundle(data, key.public_key_pem()).complete  # a range needs no index
    store.close()
    led = Ledger.open(tmp_path / "l", key)
    assert led.checkpoint_tail(now=t0 + timedelta(seconds=1)) is not None  # signs the index in
    assert led.store.latest_checkpoint().checkpoint.index_root is not None  # type: ignore[union-attr]
    led.close()
    assert MAX_LATENESS == 300_000_000


def test_cli_export_by_actor_and_verify(
    key: SigningKey, tmp_path: Path, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from soc_api.commands.ledger import ledger as ledger_cli
    from soc_api.commands.ledger import verify

    led, entries = _ledger(tmp_path, key, t0, n=50)
    led.close()
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(key.private_key_pem(b"pw"))
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key_pem())
    monkeypatch.setenv("DATASOC_LEDGER_PASSPHRASE", "pw")
    out = tmp_path / "bob.zip"
    args = [
        "export",
        str(tmp_path / "l"),
        "--out",
        str(out),
        "--key",
        str(key_file),
        "--actor",
        "user:bob",
        "--since",
        "2026-03-01T08:30:00Z",
        "--until",
        "2026-03-01T10:00:00+00:00",
    ]
    result = CliRunner().invoke(ledger_cli, args)
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    result = CliRunner().invoke(verify, [str(out), "--pubkey", str(pub)])
    assert result.exit_code == 0, result.output
    assert (
        "complete for actor user:bob from 2026-03-01T08:30:00.000000Z to 2026-03-01T10:00:00.000000Z"
        in result.output
    )
    assert "完整：操作者 user:bob" in result.output
    bad = CliRunner().invoke(ledger_cli, [*args[:6], "--since", "2026-03-01"])
    assert bad.exit_code == 2
    assert "add --actor" in bad.output
    search = CliRunner().invoke(
        ledger_cli, ["search", str(tmp_path / "l"), "--actor", "user:bob", "--kind", "access"]
    )
    assert search.exit_code == 0, search.output
    shown = [json.loads(x) for x in search.output.splitlines() if x.startswith("{")]
    assert shown
    assert [e["seq"] for e in shown] == [
        e.seq for e in entries if e.actor == "user:bob" and e.kind == "access"
    ]
