"""Flattening evtx_dump records into SigmaHQ field names."""

from __future__ import annotations

from datasoc.winevent import clean_key, flatten, is_evtx

RECORD = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "5770385F"}},
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7036},
            "Channel": "System",
            "Computer": "PC01",
            "TimeCreated": {"#attributes": {"SystemTime": "2019-04-27T15:57:25.868863Z"}},
            "Execution": {"#attributes": {"ProcessID": 1912, "ThreadID": 996}},
            "Security": {"#attributes": {"UserID": "S-1-5-18"}},
            "Correlation": None,
        },
        "EventData": {
            "#attributes": {"Name": "ignored"},
            "Source Name": "Windows Defender",
            "Image": "C:\\Windows\\Explorer.EXE",
            "Data": {"#text": ["NewEngineState=Available", "HostApplication=powershell"]},
        },
    }
}


def test_system_fields() -> None:
    flat = flatten(RECORD)
    assert flat["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert flat["Provider_Guid"] == "5770385F"
    assert flat["EventID"] == 7036
    assert flat["EventID_Qualifiers"] == 16384
    assert flat["Channel"] == "System"
    assert flat["TimeCreated_SystemTime"] == "2019-04-27T15:57:25.868863Z"
    assert flat["Execution_ProcessID"] == 1912
    assert flat["Security_UserID"] == "S-1-5-18"
    assert flat["Correlation"] is None


def test_event_data_keys_are_cleaned_and_unnamed_data_is_a_list() -> None:
    flat = flatten(RECORD)
    assert flat["SourceName"] == "Windows Defender"
    assert flat["Image"] == "C:\\Windows\\Explorer.EXE"
    assert flat["Data"] == ["NewEngineState=Available", "HostApplication=powershell"]
    assert "Name" not in flat


def test_user_data_leaves() -> None:
    record = {
        "Event": {
            "System": {"EventID": 1102, "Channel": "Security"},
            "UserData": {
                "LogFileCleared": {
                    "#attributes": {"xmlns:auto-ns2": "x"},
                    "SubjectUserName": "admin",
                    "SubjectDomainName": "CORP",
                }
            },
        }
    }
    assert flatten(record) == {
        "EventID": 1102,
        "Channel": "Security",
        "SubjectUserName": "admin",
        "SubjectDomainName": "CORP",
    }


def test_flat_events_pass_through() -> None:
    flat = {"Image": "x", "Event": "not evtx"}
    assert not is_evtx(flat)
    assert flatten(flat) == flat
    assert flatten(flat) is not flat


def test_clean_key() -> None:
    assert clean_key("Security intelligence Version") == "SecurityintelligenceVersion"
    assert clean_key("Operation_ClientFailure") == "Operation_ClientFailure"
    assert clean_key("xmlns:auto-ns2") == "xmlnsautons2"
