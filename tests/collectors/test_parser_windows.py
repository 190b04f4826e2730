"""Windows event parser: normalized fields beside the native flattened ones, on hand-written records."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from collectors.errors import ParseError
from collectors.parsers import PARSERS
from datasoc.event import Event
from datasoc.winevent import flatten


def win(
    channel: str, event_id: int | str, data: dict[str, Any], *, keywords: str = "0x8020000000000000"
) -> dict[str, Any]:
    return {
        "Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                "EventID": event_id,
                "Keywords": keywords,
                "TimeCreated": {"#attributes": {"SystemTime": "2026-03-02T01:13:22.751156500Z"}},
                "EventRecordID": 1201,
                "Correlation": None,
                "Channel": channel,
                "Computer": "WS-GAJ-017.mz.gov.cn",
                "Security": None,
            },
            "EventData": data,
        }
    }


LOGON = win(
    "Security",
    4624,
    {
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": "WS-GAJ-017$",
        "TargetUserSid": "S-1-5-21-1-2-3-1107",
        "TargetUserName": "王伟",
        "TargetDomainName": "MZGOV",
        "LogonType": 10,
        "IpAddress": "10.21.3.4",
        "IpPort": "51022",
    },
)
FAILED = win(
    "Security",
    4625,
    {
        "TargetUserName": "administrator",
        "TargetDomainName": "MZGOV",
        "IpAddress": "-",
        "Status": "0xc000006d",
    },
    keywords="0x8010000000000000",
)
PROCESS = win(
    "Security",
    4688,
    {
        "SubjectUserName": "liuyan",
        "SubjectDomainName": "MZGOV",
        "SubjectUserSid": "S-1-5-21-1-2-3-1200",
        "NewProcessName": "C:\\Windows\\System32\\wevtutil.exe",
        "CommandLine": "wevtutil cl Security",
        "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
    },
)
CLEARED: dict[str, Any] = win("Security", 1102, {})
del CLEARED["Event"]["EventData"]
CLEARED["Event"]["UserData"] = {
    "LogFileCleared": {
        "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog"},
        "SubjectUserSid": "S-1-5-21-1-2-3-1200",
        "SubjectUserName": "liuyan",
        "SubjectDomainName": "MZGOV",
    }
}
SYSMON = win(
    "Microsoft-Windows-Sysmon/Operational",
    11,
    {"Image": "C:\\Windows\\Explorer.EXE", "TargetFilename": "C:\\数据\\人口.xlsx", "User": "MZGOV\\张丽"},
    keywords="0x8000000000000000",
)


@pytest.fixture
def parse(now: datetime, new_id: Callable[[], str]) -> Callable[[dict[str, Any]], Event]:
    parser = PARSERS["windows_evtx"](collector="file:winlog")
    return lambda record: parser.parse(
        json.dumps(record, ensure_ascii=False), source="ws-gaj-017.json", now=now, new_id=new_id, position=1
    )


def test_logon_success(parse: Callable[[dict[str, Any]], Event]) -> None:
    event = parse(LOGON)
    assert event.get("@timestamp") == "2026-03-02T01:13:22.751156Z"
    assert (event.action, event.outcome, event.category) == ("auth.login", "success", "authentication")
    assert (event.user_name, event.get("user.domain")) == ("王伟", "MZGOV")
    assert event.source_ip == "10.21.3.4"
    assert event.host_name == "WS-GAJ-017.mz.gov.cn"
    assert event.actor_role == "admin"
    assert (event.get("event.code"), event.get("winlog.channel")) == ("4624", "Security")
    assert event.get("winlog.record_id") == "1201"
    # native fields kept as SigmaHQ rules name them
    assert event.get("EventID") == 4624
    assert event.get("LogonType") == 10
    assert event.get("Provider_Name") == "Microsoft-Windows-Security-Auditing"


def test_logon_failure_and_unset_address(parse: Callable[[dict[str, Any]], Event]) -> None:
    event = parse(FAILED)
    assert (event.action, event.outcome) == ("auth.login", "failure")
    assert event.source_ip is None
    assert event.get("IpAddress") == "-"


def test_process_creation_keeps_image_and_command_line(parse: Callable[[dict[str, Any]], Event]) -> None:
    event = parse(PROCESS)
    assert event.action == "process.start"
    assert event.get("CommandLine") == "wevtutil cl Security"
    assert event.get("NewProcessName").endswith("wevtutil.exe")
    assert (event.user_name, event.actor_role) == ("liuyan", "admin")


def test_audit_log_cleared(parse: Callable[[dict[str, Any]], Event]) -> None:
    event = parse(CLEARED)
    assert (event.action, event.outcome) == ("audit.clear", "success")
    assert event.user_name == "liuyan"
    assert event.lifecycle is None


def test_sysmon_unknown_id_and_chinese_user(parse: Callable[[dict[str, Any]], Event]) -> None:
    event = parse(SYSMON)
    assert (event.action, event.outcome) == ("winevent.event", "unknown")
    assert (event.user_name, event.get("user.domain")) == ("张丽", "MZGOV")
    assert event.get("TargetFilename") == "C:\\数据\\人口.xlsx"


def test_machine_account_is_system(parse: Callable[[dict[str, Any]], Event]) -> None:
    record = win("Security", 4624, {"TargetUserName": "WS-GAJ-017$", "TargetUserSid": "S-1-5-21-9"})
    assert parse(record).actor_role == "system"
    record = win("Security", 4624, {"TargetUserName": "SYSTEM", "TargetUserSid": "S-1-5-18"})
    assert parse(record).actor_role == "system"


def test_every_native_field_survives(parse: Callable[[dict[str, Any]], Event]) -> None:
    event = parse(LOGON).to_dict()
    for key, value in flatten(LOGON).items():
        if value is not None:  # the event contract omits nulls
            assert event[key] == value


def test_record_id_is_the_dedup_key(now: datetime, new_id: Callable[[], str]) -> None:
    parser = PARSERS["windows_evtx"](collector="c")
    text = json.dumps(LOGON)
    assert (
        parser.parse(text, source="s", now=now, new_id=new_id, position=1).event_id
        == parser.parse(text, source="s", now=now, new_id=new_id, position=7).event_id
    )


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"Event": {"EventData": {}}}, "expected an evtx_dump record"),
        ([1, 2], "expected an evtx_dump record"),
        (win("Security", "46x", {}), "EventID"),
        (win("Security", 70000, {}), "out of range"),
        (win("Security", 4624, {"!!": "x"}), "empty or would shadow"),
    ],
)
def test_bad_records(parse: Callable[[Any], Event], record: Any, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(record)


def test_missing_time(parse: Callable[[dict[str, Any]], Event]) -> None:
    record = json.loads(json.dumps(LOGON))
    del record["Event"]["System"]["TimeCreated"]
    with pytest.raises(ParseError, match="TimeCreated"):
        parse(record)


def test_dotted_system_name_cannot_shadow_normalized_fields(parse: Callable[[dict[str, Any]], Event]) -> None:
    record = json.loads(json.dumps(LOGON))
    record["Event"]["System"]["datasoc.actor_role"] = "user"
    with pytest.raises(ParseError, match="shadow"):
        parse(record)
