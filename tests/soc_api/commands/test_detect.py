"""`datasoc detect`: the documented `--rules A B C`, `--logsource`, worker processes, `--sort` on disk,
the compiled-rule cache and `--stats`."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from soc_api.commands.detect import detect

SYSMON = "Microsoft-Windows-Sysmon/Operational"
CMD = """\
title: cmd
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000e1
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\\\\cmd.exe'
    condition: sel
"""
RDP = """\
title: public RDP listener
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000e2
logsource: {product: zeek, service: rdp}
detection:
    selection:
        id.resp_h|cidr: 10.0.0.0/8
    condition: not selection
"""
BURST = """\
title: failed login
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000e3
name: failed_login
logsource: {product: datasoc, category: authentication}
detection:
    selection:
        event.action: auth.login
        event.outcome: failure
    condition: selection
---
title: burst
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000e4
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [user.name]
    timespan: 1m
    condition: {gte: 3}
"""


def _evtx(event_id: int, image: str, minute: int = 0) -> dict[str, Any]:
    return {
        "Event": {
            "System": {
                "EventID": event_id,
                "Channel": SYSMON,
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "TimeCreated": {"#attributes": {"SystemTime": f"2026-03-02T01:{minute:02d}:00Z"}},
            },
            "EventData": {"Image": image},
        }
    }


def _login(second: int, user: str = "a") -> dict[str, Any]:
    return {
        "@timestamp": f"2026-03-02T01:00:{second:02d}Z",
        "event.action": "auth.login",
        "event.outcome": "failure",
        "user.name": user,
        "datasoc.logsource.product": "datasoc",
        "datasoc.logsource.category": "authentication",
    }


def _write(directory: Path, **rules: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in rules.items():
        (directory / f"{name}.yml").write_text(text, encoding="utf-8")
        paths.append(directory / f"{name}.yml")
    return paths


def _run(args: list[str], events: list[dict[str, Any]] | str, tmp_path: Path) -> Result:
    source = tmp_path / "events.jsonl"
    text = events if isinstance(events, str) else "".join(json.dumps(e) + "\n" for e in events)
    source.write_text(text, encoding="utf-8")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    return CliRunner().invoke(detect, [*args, "--events", str(source), *cache])


def _lines(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_several_paths_after_one_rules_flag(tmp_path: Path) -> None:
    """The README's `--rules PATH...`: before, the documented form failed ("unexpected extra arguments")."""
    cmd, rdp = _write(tmp_path / "a", cmd=CMD)[0], _write(tmp_path / "b", rdp=RDP)[0]
    burst = _write(tmp_path / "c", burst=BURST)[0]
    events = [_evtx(1, "c:\\cmd.exe"), {"id.resp_h": "8.8.8.8"}]
    one_flag = _lines(_run(["--rules", str(cmd), str(rdp), str(burst.parent)], events, tmp_path))
    repeated = _lines(
        _run(["--rules", str(cmd), "--rules", str(rdp), "--rules", str(burst)], events, tmp_path)
    )
    assert one_flag == repeated
    assert [(line["event_index"], line["rule_title"]) for line in one_flag] == [
        (0, "cmd"),
        (1, "public RDP listener"),  # no logsource can be told: tried against every rule
    ]


def test_logsource_keeps_other_products_off_windows_events(tmp_path: Path) -> None:
    rules = _write(tmp_path / "rules", cmd=CMD, rdp=RDP)
    events = [_evtx(1, "c:\\cmd.exe"), _evtx(11, "c:\\cmd.exe")]
    auto = _lines(_run(["--rules", *map(str, rules)], events, tmp_path))
    assert [(line["event_index"], line["rule_title"]) for line in auto] == [(0, "cmd")]
    unrouted = _lines(_run(["--rules", *map(str, rules), "--logsource", "any"], events, tmp_path))
    assert {line["rule_title"] for line in unrouted} == {"cmd", "public RDP listener"}


def test_output_lines_are_what_json_dumps_writes(tmp_path: Path) -> None:
    rules = _write(tmp_path / "rules", cmd=CMD.replace("title: cmd", 'title: cmd 命令 "quoted"'))
    result = _run(["--rules", str(rules[0])], [_evtx(1, "c:\\cmd.exe")], tmp_path)
    assert result.exit_code == 0, result.output
    expected = {
        "event_index": 0,
        "rule_id": "6f1d2a8e-4c1b-4b8e-9d55-0000000000e1",
        "rule_title": 'cmd 命令 "quoted"',
    }
    assert result.stdout == json.dumps(expected, ensure_ascii=False) + "\n"


def _mixed_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for n in range(1500):  # several worker batches
        events.append(_evtx(1, "c:\\cmd.exe" if n % 7 == 0 else "c:\\x.exe", minute=n % 60))
        if n % 100 == 0:
            events.extend(_login(s, "u") for s in (1, 2, 3))
    return events


@pytest.mark.parametrize(
    "options", [["--workers", "2"], ["--workers", "2", "--sort", "--sort-buffer", "0.01"]]
)
def test_workers_and_sort_on_disk_give_the_one_process_output(tmp_path: Path, options: list[str]) -> None:
    rules = _write(tmp_path / "rules", cmd=CMD, burst=BURST)
    events = _mixed_events()
    base = ["--rules", *map(str, rules), "--allowed-lateness", "3600"]
    sorted_too = ["--sort"] if "--sort" in options else []
    expected = _lines(_run([*base, "--workers", "1", *sorted_too], events, tmp_path))
    assert len(expected) > 200
    assert any(isinstance(line["event_index"], list) for line in expected)  # correlations fired
    assert _lines(_run([*base, *options], events, tmp_path)) == expected


def test_workers_take_values_over_several_lines_and_report_bad_json(tmp_path: Path) -> None:
    rules = _write(tmp_path / "rules", cmd=CMD)
    lines = "".join(json.dumps(_evtx(1, "c:\\cmd.exe")) + "\n" for _ in range(600))
    pretty = json.dumps(_evtx(1, "c:\\cmd.exe"), indent=2) + "\n"
    result = _run(["--rules", str(rules[0]), "--workers", "2"], lines + pretty + lines, tmp_path)
    assert [line["event_index"] for line in _lines(result)] == list(range(1201))
    bad = _run(["--rules", str(rules[0]), "--workers", "2"], lines + "{oops}\n" + lines, tmp_path)
    assert bad.exit_code != 0
    assert "event 600: invalid JSON at line 601" in bad.output
    assert len(bad.stdout.splitlines()) == 600  # everything before the bad event was printed


def test_workers_read_what_one_process_reads(tmp_path: Path) -> None:
    rules = _write(tmp_path / "rules", cmd=CMD)
    big = {**_evtx(1, "c:\\cmd.exe"), "Size": 18446744073709551616}  # beyond 64 bits: orjson refuses
    events = [_evtx(1, "c:\\x.exe")] * 700 + [big]
    one = _lines(_run(["--rules", str(rules[0]), "--workers", "1"], events, tmp_path))
    assert one == _lines(_run(["--rules", str(rules[0]), "--workers", "2"], events, tmp_path))
    assert [line["event_index"] for line in one] == [700]


def test_the_cache_is_private_and_used_the_second_time(tmp_path: Path) -> None:
    rules = _write(tmp_path / "rules", cmd=CMD)
    args = ["--rules", str(rules[0]), "--stats"]
    first = _run(args, [_evtx(1, "c:\\cmd.exe")], tmp_path)
    assert "0 files from cache, 1 compiled" in first.stderr
    second = _run(args, [_evtx(1, "c:\\cmd.exe"), {"other": 1}], tmp_path)
    assert "1 files from cache, 0 compiled" in second.stderr
    assert "2 events, 1 matches, 1 rules; 1 event(s) of a logsource that cannot be told" in second.stderr
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    uncached = _run([*args, "--no-cache"], [_evtx(1, "c:\\cmd.exe")], tmp_path)
    assert _lines(uncached) == _lines(second)[:1]
    assert "rule cache" not in uncached.stderr


def test_an_unsafe_cache_is_reported_and_not_used(tmp_path: Path) -> None:
    rules = _write(tmp_path / "rules", cmd=CMD)
    (tmp_path / "cache").mkdir(mode=0o777)
    (tmp_path / "cache").chmod(0o777)
    result = _run(["--rules", str(rules[0])], [_evtx(1, "c:\\cmd.exe")], tmp_path)
    assert result.exit_code == 0
    assert "rule cache not used" in result.stderr
    assert len(_lines(result)) == 1
