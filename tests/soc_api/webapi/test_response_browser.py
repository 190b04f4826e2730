"""Alerting response in the console beyond the queue (issue 17's "console pages for every operation"):
Debian's Chromium driven by Playwright against `datasoc demo --serve` (the fixtures of
`test_console_browser`, the sign-in and API helpers of `test_governance_browser`).

The security administrator creates a notification route with every routing condition, is refused
an invalid time of day by the API (the problem shows under the field and nothing is saved), edits
the route and deletes it; adds a suppression with two conditions, which then covers an access sent to
the ingest (its alert is stored, counted and shown apart, out of the queue); the analyst, who may
read but not manage suppressions, sees both without the controls. The analyst uploads a file to a
case, is refused one over the 5 MiB limit before it is sent, and downloads the first back byte for
byte, and hands the case to an owner. A receipt that came by phone is recorded on an alert. Each
step is checked on the page and in the API. Screenshots go to `test-output/console/`, and with
`UPDATE_SCREENSHOTS=1` also to `docs/screenshots/`.

Chromium missing skips with the reason, unless `BROWSER_REQUIRED=1` (CI) makes it a failure.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from crypto.recipes import sm3_hex
from tests.soc_api.webapi import test_console_browser as console
from tests.soc_api.webapi.test_console_browser import Browser, Demo
from tests.soc_api.webapi.test_governance_browser import call, doc_shot, sign_in

# The browser test's fixtures (this module gets its own demo platform) and its skip condition.
demo = console.demo
chromium = console.chromium
browser = console.browser
pytestmark = console.pytestmark

ROUTE = "night-red-browser"
SUBMIT = re.compile("提.?交")


def pick(page: Any, label: str, *options: str) -> None:
    """Choose `options` (their shown labels) in the Ant Design select labelled `label`, then close it."""
    page.get_by_label(label, exact=True).click()
    dropdown = page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)")
    for option in options:
        exactly = re.compile(f"^{re.escape(option)}$")
        dropdown.locator(".ant-select-item-option", has_text=exactly).first.click()
    page.locator(".ant-modal-title").click()  # away from the select: its list closes
    dropdown.wait_for(state="hidden")


def type_tags(page: Any, label: str, *values: str) -> None:
    """Type free values into the tags select labelled `label` (Enter after each)."""
    field = page.get_by_label(label, exact=True)
    for value in values:
        field.fill(value)
        field.press("Enter")


def route_row(page: Any) -> Any:
    return page.locator(f"tr[data-route='{ROUTE}']")


def test_a_route_is_created_refused_edited_and_deleted(browser: Browser, demo: Demo) -> None:
    page = browser.page
    sign_in(browser, demo, "demo-security-admin")
    page.goto(demo.console + "routes")
    settings_row = page.locator("tr[data-route='soc-all']")
    settings_row.wait_for()
    assert "配置文件（只读）" in settings_row.inner_text()
    assert settings_row.get_by_test_id("route-edit").count() == 0  # settings routes are read-only
    channels = [c["name"] for c in call(browser, "GET", "/api/v1/notifications/channels")]
    assert "soc-webhook" in channels
    assert "dingtalk-duty" in channels

    page.get_by_test_id("route-new").click()
    form = page.get_by_test_id("route-form")
    form.get_by_label("名称").fill(ROUTE)
    pick(page, "渠道", "soc-webhook · webhook", "dingtalk-duty · dingtalk")
    pick(page, "预警级别", "红色", "橙色")
    pick(page, "数据分级", "重要数据", "核心数据")
    type_tags(page, "标签", "attack.exfiltration", "datasoc.")
    type_tags(page, "来源", "apigw_live")
    form.get_by_label("时段").fill("24:00-06:00")  # no hour 24: the API refuses it
    page.get_by_role("button", name=SUBMIT).click()
    page.get_by_test_id("form-problem").wait_for()
    assert "请求参数无效" in page.get_by_test_id("form-problem").inner_text()
    hours_item = page.locator(".ant-form-item", has=page.get_by_label("时段"))
    hours_item.locator(".ant-form-item-explain-error").wait_for()
    assert "pattern" in hours_item.locator(".ant-form-item-explain-error").inner_text()
    assert ROUTE not in [r["name"] for r in call(browser, "GET", "/api/v1/notifications/routes")]
    # The browser logs the refused request itself; that one, and only that one, is expected.
    refused = [e for e in browser.errors if "status of 422" in e]
    assert len(refused) == 1, browser.errors
    browser.errors.remove(refused[0])
    doc_shot(browser, "response-1-route-refused")

    form.get_by_label("时段").fill("22:00-06:00")
    page.get_by_role("button", name=SUBMIT).click()
    route_row(page).wait_for()
    shown = route_row(page).inner_text()
    expected = ("soc-webhook", "dingtalk-duty", "红色", "橙色", "重要数据", "核心数据", "attack.exfiltration")
    for text in expected:
        assert text in shown, text
    assert "22:00-06:00" in shown
    assert "apigw_live" in shown
    saved = {r["name"]: r for r in call(browser, "GET", "/api/v1/notifications/routes")}[ROUTE]
    assert saved["origin"] == "api"
    assert saved["channels"] == ["soc-webhook", "dingtalk-duty"]
    assert saved["levels"] == ["red", "orange"]
    assert saved["grades"] == ["important", "core"]
    assert saved["tags"] == ["attack.exfiltration", "datasoc."]
    assert saved["sources"] == ["apigw_live"]
    assert saved["hours"] == "22:00-06:00"
    assert saved["kinds"] == ["alert", "escalation"]
    assert saved["enabled"] is True
    doc_shot(browser, "response-2-route-created")

    # Edit: the name is fixed, the rest changes; the page and the API show the new route.
    route_row(page).get_by_test_id("route-edit").click()
    assert form.get_by_label("名称").is_disabled()
    assert form.get_by_label("时段").input_value() == "22:00-06:00"
    form.get_by_label("时段").fill("20:00-08:00")
    pick(page, "通知类型", "简报")
    form.get_by_label("启用").click()  # off
    page.get_by_role("button", name=SUBMIT).click()
    page.get_by_test_id("route-form").wait_for(state="hidden")
    route_row(page).get_by_text("20:00-08:00").wait_for()
    assert "简报" in route_row(page).inner_text()
    edited = {r["name"]: r for r in call(browser, "GET", "/api/v1/notifications/routes")}[ROUTE]
    assert edited["id"] == saved["id"]
    assert (edited["hours"], edited["enabled"]) == ("20:00-08:00", False)
    assert edited["kinds"] == ["alert", "escalation", "bulletin"]
    assert edited["channels"] == saved["channels"]
    assert edited["levels"] == saved["levels"]
    doc_shot(browser, "response-3-route-edited")

    route_row(page).get_by_test_id("route-delete").click()
    page.locator(".ant-popconfirm").get_by_role("button", name=SUBMIT).click()
    route_row(page).wait_for(state="detached")
    assert ROUTE not in [r["name"] for r in call(browser, "GET", "/api/v1/notifications/routes")]


def test_a_suppression_with_two_conditions(browser: Browser, demo: Demo) -> None:
    page = browser.page
    sign_in(browser, demo, "demo-security-admin")
    page.goto(demo.console + "suppressions")
    page.get_by_test_id("suppression-new").click()
    form = page.get_by_test_id("suppression-form")
    reason = "浏览器测试：夜间批量核对 / browser test: nightly reconciliation"
    form.get_by_label("规则（* 为全部）").fill("*")
    form.get_by_label("字段 1").fill("user.name")
    pick(page, "运算 1", "in")  # eq takes one value
    form.get_by_label("取值（逗号分隔） 1").fill("sunhui，lihua")
    page.get_by_test_id("condition-add").click()
    form.get_by_label("字段 2").fill("source.ip")
    pick(page, "运算 2", "cidr")
    form.get_by_label("取值（逗号分隔） 2").fill("10.10.250.0/24")
    form.get_by_label("负责人").fill("demo-security-admin")
    form.get_by_label("理由").fill(reason)
    expires = (datetime.now(UTC) + timedelta(days=30)).astimezone(timezone(timedelta(hours=8)))
    picker = form.get_by_label("到期时间")
    picker.click()
    picker.fill(expires.strftime("%Y-%m-%d %H:%M:%S"))
    picker.press("Enter")
    assert page.get_by_test_id("condition-row").count() == 2
    doc_shot(browser, "response-4-suppression-form")
    page.get_by_role("button", name=SUBMIT).click()
    row = page.locator("tr.ant-table-row", has_text=reason)
    row.wait_for()
    form.wait_for(state="hidden")
    conditions = row.get_by_test_id("suppression-conditions").inner_text()
    assert "user.name in sunhui, lihua" in conditions
    assert "source.ip cidr 10.10.250.0/24" in conditions
    assert "且" in conditions
    made = [s for s in call(browser, "GET", "/api/v1/suppressions") if s["reason"] == reason]
    assert len(made) == 1
    assert made[0]["conditions"] == [
        {"field": "user.name", "op": "in", "values": ["sunhui", "lihua"]},
        {"field": "source.ip", "op": "cidr", "values": ["10.10.250.0/24"]},
    ]
    assert abs(datetime.fromisoformat(made[0]["expires_at"]) - expires) < timedelta(seconds=1)
    doc_shot(browser, "response-5-suppression-two-conditions")

    # sunhui's access from 10.10.250.202 without an approval: both conditions hold, so its alert is
    # stored and counted but suppressed, and shown apart on the page.
    sign_in(browser, demo, "demo-system-admin")
    token = console.ingest_token(browser, demo)
    request = urllib.request.Request(
        demo.ingest,
        method="POST",
        data=console.access_without_approval(datetime.now(UTC)),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read())["accepted"] == 1

    # The analyst reads suppressions but may not manage them: no new or revoke control.
    sign_in(browser, demo, "demo-analyst")
    suppressed: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not any("无授权访问" in a["rule_title"] for a in suppressed) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = call(browser, "GET", "/api/v1/alerts?suppressed=true&limit=200")["items"]
        suppressed = [a for a in found if a["suppressed_by"] == made[0]["id"]]
    # Every rule the access fired (no grant, and maybe off hours) made an alert: each one covered.
    assert any("无授权访问" in a["rule_title"] for a in suppressed), "no covered alert stored as suppressed"
    assert {a["group"].get("user.name") for a in suppressed} == {"sunhui"}
    queue = call(browser, "GET", "/api/v1/alerts?limit=200")["items"]
    assert not {a["id"] for a in suppressed} & {a["id"] for a in queue}  # kept out of the queue
    page.goto(demo.console + "suppressions")
    row = page.locator("tr.ant-table-row", has_text=reason)
    row.wait_for()
    assert page.get_by_test_id("suppression-new").count() == 0
    assert page.get_by_role("button", name=re.compile("撤.?销")).count() == 0
    assert int(row.locator("td").nth(5).inner_text()) >= len(suppressed)  # its hits
    covered = page.get_by_test_id("suppressed-alerts").locator("tr.ant-table-row", has_text=made[0]["id"])
    covered.first.wait_for()
    assert covered.count() >= len(suppressed)
    assert "sunhui" in covered.first.inner_text()
    covered.first.scroll_into_view_if_needed()
    doc_shot(browser, "response-6-suppressed-alert")


def test_an_attachment_is_uploaded_then_downloaded(browser: Browser, demo: Demo, tmp_path: Path) -> None:
    page = browser.page
    sign_in(browser, demo, "demo-analyst")
    case = call(browser, "POST", "/api/v1/cases", {"title": "附件测试 / attachment test", "alert_ids": []})
    page.goto(demo.console + f"cases/{case['id']}")
    attachments = page.get_by_test_id("case-attachments")
    attachments.get_by_text("暂无附件").wait_for()
    page.get_by_test_id("case-owner").click()
    page.get_by_test_id("case-form").get_by_label("负责人").fill("demo-analyst")
    page.get_by_role("button", name=SUBMIT).click()
    page.get_by_test_id("case-timeline").get_by_text("指定负责人").wait_for()
    assert call(browser, "GET", f"/api/v1/cases/{case['id']}")["case"]["owner"] == "demo-analyst"

    too_large = tmp_path / "too-large.bin"
    too_large.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))
    attachments.locator("input[type=file]").set_input_files(str(too_large))
    page.get_by_text("too-large.bin 超过 5 MiB 的附件上限").wait_for()

    content = "处置记录：已联系数据使用方 / disposition notes\n".encode() + bytes(range(256))
    upload = tmp_path / "处置记录.bin"
    upload.write_bytes(content)
    attachments.locator("input[type=file]").set_input_files(str(upload))
    row = attachments.locator("tr.ant-table-row", has_text="处置记录.bin")
    row.wait_for()
    assert sm3_hex(content) in row.inner_text()
    assert str(len(content)) in row.inner_text()
    detail = call(browser, "GET", f"/api/v1/cases/{case['id']}")
    assert [(a["name"], a["size"], a["digest"]) for a in detail["attachments"]] == [
        ("处置记录.bin", len(content), sm3_hex(content))
    ]  # the one too large never reached the API
    assert [e["action"] for e in detail["timeline"]][-1] == "attached"
    page.get_by_test_id("case-timeline").get_by_text("添加附件").wait_for()
    attachments.scroll_into_view_if_needed()
    doc_shot(browser, "response-7-case-attachment")

    with page.expect_download() as got:
        row.get_by_test_id("attachment-download").click()
    saved = tmp_path / "downloaded.bin"
    got.value.save_as(str(saved))
    assert got.value.suggested_filename == "处置记录.bin"
    assert saved.read_bytes() == content


def test_a_receipt_recorded_by_hand_acknowledges_the_notification(browser: Browser, demo: Demo) -> None:
    """An upper platform acknowledged an alert by phone: the security administrator records the
    receipt on the alert, on a channel it was sent to, and its notification there is acknowledged."""
    page = browser.page
    sign_in(browser, demo, "demo-security-admin")
    waiting: tuple[str, str] | None = None
    deadline = time.monotonic() + 60  # the demo's alerts are notified as it runs
    while waiting is None and time.monotonic() < deadline:
        for alert in call(browser, "GET", "/api/v1/alerts?limit=50")["items"]:
            detail = call(browser, "GET", f"/api/v1/alerts/{alert['id']}")
            unacked = [n["channel"] for n in detail["notifications"] if not n["acked_at"]]
            if unacked:
                waiting = (alert["id"], unacked[0])
                break
        else:
            time.sleep(1)
    assert waiting is not None, "no alert has a notification without a receipt"
    alert_id, channel = waiting
    page.goto(demo.console + f"alerts/{alert_id}")
    page.get_by_test_id("action-receipt").click()
    pick(page, "回执来自的渠道", channel)
    page.get_by_role("button", name=SUBMIT).click()
    # 通报 done by the receipt: "notified" from 预警, else the delivery noted in the history.
    receipt = page.get_by_test_id("history").locator("tr", has_text="via: receipt")
    receipt.first.wait_for()
    assert "上级回执" in receipt.first.inner_text()
    detail = call(browser, "GET", f"/api/v1/alerts/{alert_id}")
    assert all(n["acked_at"] for n in detail["notifications"] if n["channel"] == channel)
    assert detail["alert"]["notified_at"] is not None
    assert detail["alert"]["status"] != "new"
    assert detail["history"][-1]["action"] in ("notified", "delivered")
    assert detail["history"][-1]["detail"] == {"channel": channel, "via": "receipt"}
