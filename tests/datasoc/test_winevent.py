"""The kernel's Windows-event flattening, on hand-written records."""

from __future__ import annotations

from typing import Any

from datasoc.winevent import clean_key, flatten, is_evtx

RECORD: dict[str, Any] = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {
                "#attributes": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "{54849625}"}
            },
            "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 4688},
            "TimeCreated": {"#attributes": {"SystemTime": "2026-03-02T01:13:22.123456Z"}},
            "EventRecordID": 99,
            "Correlation": None,
            "Channel": "Security",
            "Computer": "WS-GAJ-017.mz.gov",
        },
        "EventData": {
            "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
            "Source Name": "x",
            "Data": {"#text": ["a", "b"]},
            "Nested": {"Inner-Key": "v", "#attributes": {"xmlns": "n"}},
        },
        "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "http://x"}, "SubjectUserName": "王伟"}},
    }
}


def test_system_elements_and_attributes() -> None:
    flat = flatten(RECORD)
    assert flat["EventID"] == 4688
    assert flat["EventID_Qualifiers"] == 0
    assert flat["Provider_Name"] == "Microsoft-Windows-Security-Auditing"
    assert flat["TimeCreated_SystemTime"] == "2026-03-02T01:13:22.123456Z"
    assert flat["Channel"] == "Security"
    assert flat["Computer"] == "WS-GAJ-017.mz.gov"
    assert flat["Correlation"] is None


def test_event_data_and_user_data() -> None:
    flat = flatten(RECORD)
    assert flat["NewProcessName"].endswith("cmd.exe")
    assert flat["SourceName"] == "x"
    assert flat["Data"] == ["a", "b"]
    assert flat["InnerKey"] == "v"
    assert flat["SubjectUserName"] == "王伟"
    assert "xmlns" not in flat


def test_not_evtx_is_returned_as_is() -> None:
    assert not is_evtx({"Event": {"EventData": {}}})
    assert flatten({"a": 1}) == {"a": 1}
    assert clean_key("Source Name-1.x") == "SourceName1x"
