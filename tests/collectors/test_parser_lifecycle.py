"""The action-to-lifecycle table and the parser registry stay consistent with the event contract."""

from __future__ import annotations

from collectors.parsers import PARSERS
from collectors.parsers.lifecycle import ACTIONS, lifecycle_of
from datasoc.event import LIFECYCLE_STAGES


def test_every_stage_is_a_contract_stage() -> None:
    assert {stage for stage in ACTIONS.values() if stage is not None} <= set(LIFECYCLE_STAGES)


def test_every_stage_is_reachable() -> None:
    # Each stage of the Data Security Law art. 3 (plus delete) is produced by some action.
    assert {stage for stage in ACTIONS.values() if stage is not None} == set(LIFECYCLE_STAGES)


def test_examples_from_the_mapping() -> None:
    assert lifecycle_of("dataset.query") == "use"
    assert lifecycle_of("dataset.download") == "transmit"
    assert lifecycle_of("dataset.publish") == "collect"
    assert lifecycle_of("dataset.delete") == "delete"
    assert lifecycle_of("privilege.grant") is None


def test_registry_names_match_parsers() -> None:
    assert set(PARSERS) == {
        "apigw_json",
        "mysql_audit_json",
        "pgaudit_csv",
        "linux_syslog",
        "auditd",
        "provider_json",
        "windows_evtx",
    }
    assert all(cls.name == name for name, cls in PARSERS.items())
