"""CEF escaping per the specification, RFC 5424 framing, and both parsed back."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from soc_api.alerting.cef import CefEvent, octet_frame, parse_cef, parse_syslog, syslog_message

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


def test_escapes_follow_the_specification() -> None:
    event = CefEvent(
        "data|soc", "p\\q", "1", "rule|1", "名称\n换行", 10, (("msg", "a=b\\c|d\r\ne"), ("cs1", "red"))
    )
    line = event.format()
    assert line.startswith("CEF:0|data\\|soc|p\\\\q|1|rule\\|1|名称 换行|10|")
    assert line.endswith("msg=a\\=b\\\\c|d\\ne cs1=red")


@given(
    header=st.lists(text, min_size=5, max_size=5),
    values=st.lists(text, min_size=1, max_size=4),
    severity=st.integers(0, 10),
)
def test_any_text_round_trips(header: list[str], values: list[str], severity: int) -> None:
    keys = ["msg", "cs1", "suser", "src"]
    event = CefEvent(*header, severity, tuple(zip(keys, values, strict=False)))  # type: ignore[call-arg]
    parsed = parse_cef(event.format())
    flat = [h.replace("\r\n", " ").replace("\n", " ").replace("\r", " ") for h in header]
    assert [parsed.vendor, parsed.product, parsed.version, parsed.signature_id, parsed.name] == flat
    assert parsed.severity == severity
    assert parsed.ext() == {k: v.replace("\r\n", "\n") for k, v in zip(keys, values, strict=False)}


def test_syslog_message_parses_back() -> None:
    message = syslog_message(
        at=datetime(2026, 3, 2, 1, 2, 3, tzinfo=UTC),
        hostname="datasoc",
        app_name="datasoc",
        facility=13,
        severity=2,
        msgid="alert",
        params={"key": 'k"]\\1', "alert": "alr-1"},
        message="CEF:0|a|b|c|d|e|10|cs3=k",
    )
    frame = octet_frame(message)
    length, _, body = frame.partition(b" ")
    assert int(length) == len(body) == len(message)
    record = parse_syslog(body)
    assert record.priority == 13 * 8 + 2
    assert record.timestamp == "2026-03-02T01:02:03.000000Z"
    assert record.params == {"key": 'k"]\\1', "alert": "alr-1"}
    assert record.message == "CEF:0|a|b|c|d|e|10|cs3=k"
