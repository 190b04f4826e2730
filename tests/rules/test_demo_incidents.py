"""Every incident injected into the demo is found by the rule pack; normal activity raises almost nothing.

The demo (seed 7, two days from 2026-03-02 Asia/Shanghai) is written to disk and replayed through the
collectors' parsers, exactly as `datasoc demo` does, then run through the pack (single-event engine and
correlations). An incident is found when an alert's events include one of its ground-truth evidence
events. `EXPECTED` is the incident -> rules table of rules/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from soc_api.commands.detect import detect
from soc_api.demo import generate, write_demo
from tests.rules.conftest import DEMO_START, PACK, Alert, Demo, Pack, replay_demo

# Incident kind -> ids of the rules that must catch it (others may too).
EXPECTED: dict[str, set[str]] = {
    "night_core_export": {
        "a4638687-55eb-44bc-92b4-fdb3cf559a72",  # bulk export of core or important data
        "f82481c9-4354-4342-8327-e9b19da4987a",  # core or important data accessed at night
        "d9831cac-de8c-42bc-8dc7-d9db93044d8e",  # data-volume spike per user (event_count)
    },
    "access_without_approval": {
        "datasoc-grant-no-grant",  # the grant trace: important or core data accessed without a grant
    },
    "audit_disabled": {
        "cde38ef8-3d3c-491b-a143-a7a3e809e017",  # auditing switched off
    },
    "credential_stuffing": {
        "82c26baf-7e11-45f7-9809-cb058f12d5c4",  # many usernames from one address (value_count)
        "26e10bdb-0427-4954-9401-6d7d74d382ef",  # burst of failed logins (event_count)
        "1fb5f8de-6a3e-4cb0-b101-b14e7a5541d9",  # success after many failures (temporal_ordered)
    },
    "dataset_deleted": {
        "faa6b571-50a6-4a92-8692-aeb3acd00609",  # shared dataset deleted by its provider
        "59a41fcc-f256-489f-a430-f9eb903547a8",  # core or important table dropped
    },
    "access_outside_approved_region": {
        "datasoc-grant-outside-region",  # the grant trace: access from outside the granted region
    },
    "privilege_self_grant": {
        "f936d979-c7cb-46c4-86c8-ab5434c0e3df",  # privilege granted to oneself (fieldref)
        "12a114a9-3c3d-48a3-8b86-51dc87f53d44",  # privilege granted on a core data table
        "7b5fa935-2daa-4e51-b000-50eabd4b4a4c",  # administrator bulk-reads graded data
    },
    "impossible_travel": {
        "817e0014-e81d-4f29-8482-f0355572187a",  # one account from two cities (value_count)
        "9a5a1cb4-7dd8-4535-b6ad-3464a14ca0ba",  # internal and internet logins (temporal)
    },
}
# Alerts on normal (non-incident) events allowed over the two demo days (about 2,550 normal events):
# the one expected is the PostgreSQL postmaster logging `pgaudit.log` set back to its class list 45
# minutes after INC-03, a real audit configuration change the audit administrator reviews (level
# low). Nothing normal may raise a medium or higher alert.
MAX_NORMAL_ALERTS = 2
QUIET_LEVELS = {"informational", "low"}


def _incident(demo: Demo, kind: str) -> Mapping[str, Any]:
    return next(i for i in demo.truth["incidents"] if i["kind"] == kind)


def _catchers(alerts: Sequence[Alert], evidence: set[int]) -> set[str]:
    return {a.rule_id for a in alerts if evidence & set(a.event_indexes)}


def _normal_alerts(alerts: Sequence[Alert], demo: Demo) -> list[Alert]:
    """Alerts on normal events, but for the follow-ons of an incident: an access under a grant whose
    cap an incident's export used up is beyond the cap too (INC-01's holder queries again the next day)."""
    evidence = demo.all_evidence()
    exhausted = {demo.events[i].get("approval.id") for i in evidence} - {None}
    return [
        a
        for a in alerts
        if not evidence & set(a.event_indexes)
        and not (
            a.rule_id == "datasoc-grant-over-cap"
            and demo.events[a.event_indexes[0]].get("approval.id") in exhausted
        )
    ]


def test_ground_truth_lists_the_known_incidents(demo: Demo) -> None:
    assert sorted(i["kind"] for i in demo.truth["incidents"]) == sorted(EXPECTED)
    assert demo.truth["seed"] == 7


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_incident_is_found_by_its_rules(kind: str, demo: Demo, demo_alerts: list[Alert]) -> None:
    evidence = demo.evidence(_incident(demo, kind))
    caught = _catchers(demo_alerts, evidence)
    assert EXPECTED[kind] <= caught, f"missing {EXPECTED[kind] - caught}"


def test_every_audit_switch_raises_its_own_alert(demo: Demo, demo_alerts: list[Alert]) -> None:
    """auditctl -e 0, service auditd stop, MySQL audit_log_policy NONE and pgaudit.log none (INC-03)."""
    evidence = demo.evidence(_incident(demo, "audit_disabled"))
    switches = {i for i in evidence if demo.events[i]["event.action"] == "audit.disable"}
    assert len(switches) == 5  # two on the host, one in MySQL, pgaudit's statement and its reload
    alerted = {a.event_indexes[0] for a in demo_alerts if a.rule_id in EXPECTED["audit_disabled"]}
    assert switches <= alerted


def test_night_export_is_found_on_each_bulk_download(demo: Demo, demo_alerts: list[Alert]) -> None:
    evidence = demo.evidence(_incident(demo, "night_core_export"))
    downloads = {i for i in evidence if demo.events[i]["event.action"] == "dataset.download"}
    bulk = {a.event_indexes[0] for a in demo_alerts if a.rule_id == "a4638687-55eb-44bc-92b4-fdb3cf559a72"}
    # Eleven downloads of 50,000 records are bulk; the last one (23,871 records) is too.
    assert len(downloads) == 12
    assert downloads <= bulk


def test_normal_activity_raises_few_alerts(demo: Demo, demo_alerts: list[Alert]) -> None:
    normal = _normal_alerts(demo_alerts, demo)
    assert len(normal) <= MAX_NORMAL_ALERTS, [(a.title, a.event_indexes) for a in normal]
    assert {a.level for a in normal} <= QUIET_LEVELS, [(a.title, a.level) for a in normal]
    assert len(demo.events) - len(demo.all_evidence()) > 2000  # the bound is over real volume


def test_outside_region_is_found_by_the_grant_trace(demo: Demo, demo_alerts: list[Alert]) -> None:
    """INC-06: the three queries under the grant, from another district than the grant's region."""
    kind = "access_outside_approved_region"
    evidence = demo.evidence(_incident(demo, kind))
    claimed = {i for i in evidence if "approval.id" in demo.events[i]}
    assert len(claimed) == 3
    for index in claimed:
        event = demo.events[index]
        grant = demo.grants.get(event["approval.id"])
        assert grant is not None
        assert grant.terms.region != event["source.geo.name"]
    region = {a.event_indexes[0] for a in demo_alerts if a.rule_id in EXPECTED[kind]}
    assert region == claimed


def test_the_grant_trace_stays_quiet_on_normal_granted_accesses(demo: Demo, demo_alerts: list[Alert]) -> None:
    """Normal queries and downloads under a grant in force, by its grantee, from its region, of the
    fields granted, within its cap, raise no trace alert; and there are many of them."""
    normal = _normal_alerts(demo_alerts, demo)
    assert not [a.title for a in normal if a.kind == "trace"]
    evidence = demo.all_evidence()
    claimed = [e for i, e in enumerate(demo.events) if "approval.id" in e and i not in evidence]
    assert len(claimed) > 20
    assert all(e.get("data.fields") for e in claimed)  # the gateway logs the fields returned


def test_incident_table(demo: Demo, demo_alerts: list[Alert]) -> None:
    """Every incident has a catcher, and the table in the README agrees."""
    readme = (PACK / "README.md").read_text(encoding="utf-8")
    for incident in demo.truth["incidents"]:
        caught = _catchers(demo_alerts, demo.evidence(incident))
        assert caught, incident["kind"]
        assert incident["kind"] in readme
        for rule_id in EXPECTED[incident["kind"]]:
            assert rule_id in readme


def test_default_pipeline_raises_the_same_alerts(demo: Demo, demo_alerts: list[Alert]) -> None:
    """`datasoc detect` without `--pipeline` (sysmon + datasoc) treats the pack as `datasoc` does."""
    assert Pack.load([PACK], pipeline="default").run(demo.events, demo.grants) == demo_alerts


@pytest.mark.parametrize(("seed", "days", "scale"), [(11, 7, 1.0), (3, 2, 3.0)])
def test_other_demos_give_the_same_result(
    seed: int, days: int, scale: float, pack: Pack, tmp_path: Path
) -> None:
    """Another seed, a week, three times the volume: the same incidents found, the same one low alert."""
    write_demo(generate(seed, DEMO_START, days=days, scale=scale), tmp_path)
    demo = replay_demo(tmp_path)
    alerts = pack.run(demo.events, demo.grants)
    missed = {i["kind"] for i in demo.truth["incidents"] if not _catchers(alerts, demo.evidence(i))}
    assert missed == set()
    normal = _normal_alerts(alerts, demo)
    assert len(normal) <= MAX_NORMAL_ALERTS
    assert {a.level for a in normal} <= QUIET_LEVELS


def test_datasoc_detect_raises_the_same_alerts(pack: Pack, demo: Demo, tmp_path: Path) -> None:
    """`datasoc detect --rules rules/` over the demo's events (in time order) agrees with the engines."""
    events = sorted(demo.events, key=lambda e: str(e["@timestamp"]))
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    result = CliRunner().invoke(detect, ["--rules", str(PACK), "--events", str(source)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    cli = sorted(
        (d["rule_id"], tuple(d["event_index"]) if isinstance(d["event_index"], list) else (d["event_index"],))
        for d in lines
    )
    assert cli == sorted((a.rule_id, a.event_indexes) for a in pack.run(events))
    assert len(cli) > 40


def test_datasoc_detect_sort_handles_file_order(demo: Demo, demo_alerts: list[Alert], tmp_path: Path) -> None:
    """The replay is file by file, not in time order: `--sort` still gives the engines' alerts, and
    the indexes printed are positions in the input file."""
    source = tmp_path / "events.jsonl"
    source.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in demo.events), encoding="utf-8"
    )
    args = ["--rules", str(PACK), "--events", str(source)]
    result = CliRunner().invoke(detect, [*args, "--sort"])
    assert result.exit_code == 0, result.output
    cli = sorted(
        (d["rule_id"], tuple(d["event_index"]) if isinstance(d["event_index"], list) else (d["event_index"],))
        for d in map(json.loads, result.stdout.splitlines())
    )
    rules_only = [a for a in demo_alerts if a.kind != "trace"]  # `datasoc detect` runs the rules only
    assert cli == sorted((a.rule_id, a.event_indexes) for a in rules_only)
    assert "late" not in result.stderr
    unsorted = CliRunner().invoke(detect, args)
    assert "late" in unsorted.stderr  # in file order, correlations lose events
