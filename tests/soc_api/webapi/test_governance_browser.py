"""Data governance in the console, as the people who do it: Debian's Chromium driven by Playwright
against `datasoc demo --serve` (the fixtures and helpers of `test_console_browser`).

The walk (事前 → 事中 → 事后): the security administrator sees the catalog with grades and discovery
results and puts the demo data owner in the police bureau (the owning department); the demo data user
requests core data (ds-gaj-rkjc, two fields, region 东湖区, a cap of 1,000 records); the data owner and
then the security administrator approve it in their inboxes (core data needs two approvers, one a
security administrator, by the default policy); the grant shows under "my grants"; an access under
the grant (400 records) passes and one beyond the cap (700 more) raises the trace's over-cap alert,
the only alert of that user; the audit administrator finds both accesses by the grant, records a
review and exports the trail with its report. Screenshots go to `test-output/console/`, and with
`UPDATE_SCREENSHOTS=1` also to `docs/screenshots/` (the README shows them).

Chromium missing skips with the reason, unless `BROWSER_REQUIRED=1` (CI) makes it a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyotp

from tests.soc_api.webapi import test_console_browser as console
from tests.soc_api.webapi.test_console_browser import OUTPUT, PASSWORD, Browser, Demo, ingest_token, shot

# The browser test's fixtures (this module gets its own demo platform) and its skip condition.
demo = console.demo
chromium = console.chromium
browser = console.browser
pytestmark = console.pytestmark

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
SHANGHAI = timezone(timedelta(hours=8))
ASSET = "ds-gaj-rkjc"
FIELDS = ("xm", "xb")
#: The last TOTP step each administrator used: a step is accepted once, so a second sign-in within
#: the same 30 seconds waits for the next.
_USED_STEPS: dict[str, int] = {}


def doc_shot(b: Browser, name: str) -> None:
    """A screenshot in the test output; also the README's copy with `UPDATE_SCREENSHOTS=1` (so a
    test run never changes tracked files by itself)."""
    path = shot(b, name)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")


def sign_in(b: Browser, demo: Demo, username: str) -> None:
    page = b.page
    page.context.clear_cookies()
    page.goto(demo.console)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("登")).click()
    if username in demo.secrets:
        page.get_by_label("6 位动态口令").wait_for()
        while int(time.time()) // 30 == _USED_STEPS.get(username):
            time.sleep(1)
        _USED_STEPS[username] = int(time.time()) // 30
        page.get_by_label("6 位动态口令").fill(pyotp.TOTP(demo.secrets[username]).now())
        page.get_by_role("button", name=re.compile("验.?证")).click()
    page.get_by_test_id("whoami").wait_for()


def call(b: Browser, method: str, path: str, body: Any = None) -> Any:
    """An API call from the signed-in page (its session cookie and CSRF token)."""
    status, answer = b.page.evaluate(
        """async ([method, path, body]) => {
            const csrf = sessionStorage.getItem('datasoc.csrf');
            const r = await fetch(path, {method, credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf || ''},
              body: body === null ? undefined : JSON.stringify(body)});
            return [r.status, await r.text()];
        }""",
        [method, path, body],
    )
    assert 200 <= status < 300, (method, path, status, answer)
    return json.loads(answer) if answer else None


def working_hour_before(now: datetime) -> datetime:
    """The latest working-day 10:00 in Asia/Shanghai before `now` (office hours: no off-hours rule)."""
    day = now.astimezone(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    while day >= now or day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def access(demo: Demo, token: str, grant: str, at: datetime, records: int) -> None:
    """One gateway record of the demo data user querying the asset under the grant from 东湖区."""
    record = {
        "time": at.astimezone(SHANGHAI).isoformat(timespec="milliseconds"),
        "request_id": f"walk-{records}-{int(at.timestamp())}",
        "client_ip": "10.21.40.17",
        "consumer": "demo-data-user",
        "consumer_group": "data_user",
        "method": "GET",
        "uri": f"/api/v1/datasets/{ASSET}/records?page=1&size={records}",
        "route_id": "datasets-records",
        "status": 200,
        "bytes": records * 120,
        "latency": 41.5,
        "upstream_addr": "10.10.1.11:8080",
        "upstream_records": str(records),
        "upstream_user": "demo-data-user",
        "upstream_fields": ",".join(FIELDS),
        "approval_id": grant,
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; UOS)",
    }
    request = urllib.request.Request(
        demo.ingest,
        method="POST",
        data=json.dumps(record, ensure_ascii=False).encode() + b"\n",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read())["accepted"] == 1


def pick(page: Any, label: str, option: str) -> None:
    """Choose `option` in the Ant Design select labelled `label`: typed to filter, Enter to take."""
    field = page.get_by_label(label, exact=True)
    field.click()
    field.press_sequentially(option)
    page.locator(".ant-select-item-option-active", has_text=option).wait_for()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def test_request_two_approvals_access_within_and_beyond_the_cap(browser: Browser, demo: Demo) -> None:
    page = browser.page
    now = datetime.now(UTC)

    # The security administrator: the catalog with grades, an asset's discovery evidence, and the
    # demo data owner made a member of the owning department (who approves for it).
    sign_in(browser, demo, "demo-security-admin")
    page.goto(demo.console + "catalog")
    page.locator(f"tr[data-asset-id={ASSET}]").wait_for()
    assert "核心数据" in page.locator(f"tr[data-asset-id={ASSET}]").inner_text()
    doc_shot(browser, "console-catalog")
    page.locator(f"tr[data-asset-id={ASSET}]").click()
    page.get_by_test_id("discovery").wait_for()
    page.get_by_text("居民身份证号").first.wait_for()
    doc_shot(browser, "console-discovery")
    department = next(d for d in call(browser, "GET", "/api/v1/catalog/departments") if d["id"] == "gaj")
    members = sorted({*department["members"], "demo-data-owner"})
    call(browser, "PUT", "/api/v1/catalog/departments/gaj/members", {"members": members})
    token = ingest_token_as_system_admin(browser, demo)

    # The data user requests two fields of core data, from 东湖区, up to 1,000 records.
    sign_in(browser, demo, "demo-data-user")
    page.goto(demo.console + "access/request")
    pick(page, "数据资源", ASSET)
    for name in FIELDS:
        pick(page, f"{ASSET} 的字段（留空为全部）", name)
    page.get_by_label("用途").fill("户籍人口核验（浏览器测试）")
    page.get_by_label("法律依据").fill("《政务数据共享管理办法》第十二条")
    page.get_by_label("地域").fill("东湖区")
    start = (now - timedelta(days=8)).astimezone(SHANGHAI).strftime("%Y-%m-%d 00:00:00")
    end = (now + timedelta(days=30)).astimezone(SHANGHAI).strftime("%Y-%m-%d 00:00:00")
    # The window from eight days ago: typed, each end confirmed with the picker's OK button (Enter
    # would submit the form).
    window = page.locator(".ant-picker-range input")
    for index, value in enumerate((start, end)):
        window.nth(index).click()
        window.nth(index).fill(value)
        page.locator(".ant-picker-dropdown:visible .ant-picker-ok button").click()
    assert [window.nth(i).input_value() for i in range(2)] == [start, end]
    page.get_by_label("记录数上限").fill("1000")
    doc_shot(browser, "console-request")
    page.get_by_test_id("request-submit").click()
    page.get_by_text(re.compile(r"申请 \S+ 已提交，状态：待审批")).wait_for()
    mine = call(browser, "GET", "/api/v1/me/access/requests")
    request_id = mine[0]["id"]
    assert (mine[0]["grade"], mine[0]["status"]) == ("core", "pending")
    assert mine[0]["terms"]["assets"] == {ASSET: sorted(FIELDS)}
    assert mine[0]["terms"]["valid_from"].startswith(
        (now - timedelta(days=8))
        .astimezone(SHANGHAI)
        .replace(hour=0, minute=0)
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H")
    )

    # Two approvers: the owning department's data owner, then the security administrator.
    for approver, status in (("demo-data-owner", "待审批"), ("demo-security-admin", "已批准")):
        sign_in(browser, demo, approver)
        page.goto(demo.console + "access/inbox")
        item = page.locator(f"[data-request-id='{request_id}']")
        item.wait_for()
        item.get_by_role("button", name=re.compile("审.?阅")).click()
        page.get_by_test_id("request-review").wait_for()
        page.get_by_label("备注").fill(f"{approver} 同意")
        if approver == "demo-data-owner":
            assert "security_admin" in page.get_by_test_id("policy-needs").inner_text()
            doc_shot(browser, "console-approvals")
        page.get_by_test_id("approve").click()
        page.get_by_text(f"已批准（申请状态：{status}）").wait_for()

    # The grant, under "my grants".
    sign_in(browser, demo, "demo-data-user")
    page.goto(demo.console + "access/grants")
    page.locator(f"tr[data-grant-id='{request_id}']").wait_for()
    assert "有效" in page.locator(f"tr[data-grant-id='{request_id}']").inner_text()

    # An access within the grant, then one beyond its cap (office hours, inside the window).
    at = working_hour_before(now)
    access(demo, token, request_id, at, 400)
    access(demo, token, request_id, at + timedelta(minutes=5), 700)
    sign_in(browser, demo, "demo-analyst")
    deadline = time.monotonic() + 60
    mine_alerts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        alerts = call(browser, "GET", "/api/v1/alerts?limit=200")["items"]
        mine_alerts = [a for a in alerts if "demo-data-user" in a["group"].values()]
        if mine_alerts:
            break
        page.wait_for_timeout(500)
    # Detection reads the spool in order: the over-cap alert means the first access was judged too,
    # and it raised nothing.
    assert [a["rule_id"] for a in mine_alerts] == ["datasoc-grant-over-cap"], mine_alerts
    page.goto(demo.console + "alerts/" + mine_alerts[0]["id"])
    page.get_by_text("超出授权记录数上限").first.wait_for()
    doc_shot(browser, "console-over-cap-alert")

    sign_in(browser, demo, "demo-data-user")
    page.goto(demo.console + "access/grants")
    page.get_by_test_id("grant-used").wait_for()
    assert page.get_by_test_id("grant-used").inner_text().replace(" ", "") == "1100/1000"
    doc_shot(browser, "console-grants")

    # The audit administrator: both accesses by the grant, a review, and the export with its report.
    sign_in(browser, demo, "demo-audit-admin")
    page.goto(demo.console + "audit/trail")
    page.get_by_label("授权编号").fill(request_id)
    page.get_by_label("类型（如 access）").fill("access")
    page.get_by_test_id("trail-search").click()
    page.locator("tr[data-outcome=violation]").wait_for()
    assert page.locator("tr[data-outcome=allowed]").count() == 1
    assert page.locator("tr[data-outcome=violation]").count() == 1
    page.get_by_label("复核意见").fill("授权内访问一次，超限访问一次，已告警")
    page.get_by_label("发现的问题").fill("超出授权记录数上限 300 条")
    page.get_by_text("签署确认").click()
    page.get_by_test_id("record-review").click()
    page.get_by_text(re.compile(r"复核已记入账本（序号 \d+）")).wait_for()
    doc_shot(browser, "console-trail")
    with page.expect_download() as got:
        page.get_by_test_id("trail-export").click()
    saved = browser.downloads / "trail-export.zip"
    got.value.save_as(str(saved))
    with zipfile.ZipFile(saved) as archive:
        names = set(archive.namelist())
        html = archive.read("trail-export/report.html").decode("utf-8")
        pdf = archive.read("trail-export/report.pdf")
    assert {"trail-export/bundle.zip", "trail-export/entries.csv", "trail-export/report.pdf"} <= names
    assert "over_cap" in html
    assert "demo-data-user" in html
    assert pdf.startswith(b"%PDF-")
    (OUTPUT / "trail-report.pdf").write_bytes(pdf)


def ingest_token_as_system_admin(b: Browser, demo: Demo) -> str:
    """An ingest token the system administrator makes (signed in for it, then signed out)."""
    sign_in(b, demo, "demo-system-admin")
    return ingest_token(b, demo)
