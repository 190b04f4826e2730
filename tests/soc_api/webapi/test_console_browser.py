"""The console as a person uses it: Debian's Chromium driven by Playwright against `datasoc demo --serve`.

One demo platform for the module (in-process detection, free ports). The walk: sign in with TOTP;
see an alert arrive live in the queue (an access without approval sent to the HTTP ingest with a
token the system administrator makes in the API); open it and follow its ledger proof; search
events in Chinese and open an original log; export a bundle as the audit administrator and verify
it on the verify page; be refused a page as the wrong role. Each step saves a screenshot under
`test-output/console/`. Throughout, every request that would leave the machine is routed to a
failure and recorded, and the browser's console errors are collected: both must stay empty.

Chromium missing skips with the reason, unless `BROWSER_REQUIRED=1` (CI) makes it a failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyotp
import pytest

from soc_api.webapi.console import STATIC_DIR

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("BROWSER_REQUIRED") == "1"
OUTPUT = Path(__file__).resolve().parents[3] / "test-output" / "console"
DOCS_SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
PASSWORD = "Demo-Datasoc-2026!"
#: What a first visit is expected to log: the session probe before anyone signed in.
_EXPECTED_ERRORS = re.compile(
    r"status of 401 .*|Failed to load resource: the server responded with a status of 401"
)


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (apt-get install chromium fonts-wqy-microhei)"
    if not (STATIC_DIR / "index.html").is_file():
        return "the console is not built (make console)"
    return None


pytestmark = pytest.mark.skipif(
    _missing() is not None and not REQUIRED, reason=_missing() or "browser test prerequisites missing"
)


@dataclass
class Demo:
    """The running `datasoc demo --serve`: its console, ingest URL and TOTP secrets."""

    process: subprocess.Popen[str]
    console: str
    ingest: str
    secrets: dict[str, str]
    output: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if _missing() is not None:
        pytest.fail(f"BROWSER_REQUIRED=1 but {_missing()}")
    data = tmp_path_factory.mktemp("console-demo")
    env = {
        **os.environ,
        "DATASOC_DETECTION__ENGINE": "inprocess",
        "DATASOC_API__PORT": "0",
        "DATASOC_COLLECT__HTTP_PORT": "0",
        "DATASOC_LEDGER__CHECKPOINT_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-c",
        "from soc_api.cli import main; main()",
        "demo",
        "--data-dir",
        str(data),
        "--serve",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 300
    console = ingest = None
    found: dict[str, str] = {}
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if m := re.search(r"HTTP ingest \(经 HTTP 接入\): (\S+)", line):
            ingest = m.group(1)
        m = re.match(r"\s+(\w+)\s+(demo-[\w-]+)\s+password \S+(?:\s+TOTP secret (\w+))?", line)
        if m and m.group(3):
            found[m.group(2)] = m.group(3)
        if m := re.match(r"console \(控制台\): (http\S+)", line):
            console = m.group(1)
        if line.startswith("serving until Ctrl-C") or "serving until" in line:
            break
    if console is None or ingest is None:
        process.kill()
        pytest.fail("datasoc demo --serve did not print its console:\n" + "".join(lines[-40:]))
    # stdout is drained from here on, so the demo never blocks on a full pipe.
    import threading

    def drain() -> None:
        assert process.stdout is not None
        for rest in process.stdout:
            lines.append(rest)

    threading.Thread(target=drain, daemon=True).start()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    yield Demo(process, console, ingest, found, lines)
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Browser:
    """A Chromium page with the machine-only network guard and the console-error collector."""

    page: Any
    left_machine: list[str]
    errors: list[str]
    downloads: Path


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",  # root in CI
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def _local(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost", "::1")


@pytest.fixture
def browser(chromium: Any, tmp_path: Path) -> Iterator[Browser]:
    context = chromium.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1440, "height": 900},
        accept_downloads=True,
    )
    left: list[str] = []

    def guard(route: Any) -> None:
        if _local(route.request.url):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    yield Browser(page, left, errors, tmp_path)
    context.close()
    assert left == [], f"requests left the machine: {left}"
    unexpected = [e for e in errors if not _EXPECTED_ERRORS.search(e)]
    assert unexpected == [], f"console errors: {unexpected}"


def shot(b: Browser, name: str) -> Path:
    path = OUTPUT / f"{name}.png"
    b.page.screenshot(path=str(path), full_page=False)
    return path


def sign_in(b: Browser, demo: Demo, username: str) -> None:
    page = b.page
    page.goto(demo.console)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("登")).click()
    if username in demo.secrets:
        page.get_by_label("6 位动态口令").wait_for()
        # A fresh step: the demo itself may have used the current one.
        totp = pyotp.TOTP(demo.secrets[username])
        code = totp.at(datetime.now(UTC) + timedelta(seconds=0))
        page.get_by_label("6 位动态口令").fill(code)
        page.get_by_role("button", name=re.compile("验.?证")).click()
    page.get_by_test_id("whoami").wait_for()


def api(demo: Demo, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        demo.console.rstrip("/") + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def ingest_token(b: Browser, demo: Demo) -> str:
    """An ingest token made by the system administrator through the API, from the signed-in page."""
    made = b.page.evaluate(
        """async () => {
            const csrf = sessionStorage.getItem('datasoc.csrf');
            const body = {name: 'browser-test', kind: 'ingest', source: 'apigw_live', parser: 'apigw_json'};
            const r = await fetch('/api/v1/tokens', {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
              body: JSON.stringify(body)});
            return [r.status, await r.json()];
        }"""
    )
    assert made[0] == 201, made
    return str(made[1]["token"])


def access_without_approval(now: datetime) -> bytes:
    """An API gateway record of a data user querying important data without an approval."""
    local = now.astimezone(timezone(timedelta(hours=8)))
    record = {
        "time": local.isoformat(timespec="milliseconds"),
        "request_id": secrets.token_hex(16),
        "client_ip": "10.10.250.202",
        "consumer": "sunhui",
        "consumer_group": "data_user",
        "method": "GET",
        "uri": "/api/v1/datasets/ds-gaj-hjqy/records?page=31&size=500",
        "route_id": "datasets-records",
        "status": 200,
        "bytes": 96400,
        "latency": 170.2,
        "upstream_addr": "10.10.1.11:8080",
        "upstream_records": "500",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; UOS)",
    }
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def test_console_loads_and_signs_in_with_totp(browser: Browser, demo: Demo) -> None:
    page = browser.page
    page.goto(demo.console)
    page.get_by_label("用户名").wait_for()
    # The load time (navigation start to the sign-in form, as the browser measured it) is recorded,
    # not asserted: speed is shown by measurements, never by timed assertions on a shared machine.
    loaded = page.evaluate("performance.now()")
    timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
    (OUTPUT / "load-timing.json").write_text(timing, encoding="utf-8")
    print(f"console sign-in page loaded in {loaded:.0f} ms")
    shot(browser, "01-sign-in")
    sign_in(browser, demo, "demo-security-admin")
    page.get_by_text("态势总览").first.wait_for()
    page.get_by_test_id("ledger-card").wait_for()
    page.wait_for_timeout(800)  # charts animate in
    shot(browser, "02-overview")


def test_a_demo_alert_arrives_live_and_its_ledger_proof_holds(browser: Browser, demo: Demo) -> None:
    page = browser.page
    sign_in(browser, demo, "demo-system-admin")
    token = ingest_token(browser, demo)
    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("用户名").wait_for()

    sign_in(browser, demo, "demo-analyst")
    page.goto(demo.console + "alerts")
    page.get_by_text("实时", exact=True).wait_for()
    rows = page.locator("tr[data-alert-id]")
    rows.first.wait_for()
    before = rows.count()
    without_approval = page.locator("tr[data-alert-id]", has_text="无授权访问")
    known = without_approval.count()
    shot(browser, "03-alert-queue")
    request = urllib.request.Request(
        demo.ingest,
        method="POST",
        data=access_without_approval(datetime.now(UTC)),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read())["accepted"] == 1
    # No reload: the new alert is pushed over server-sent events.
    deadline = time.monotonic() + 30
    while without_approval.count() <= known and time.monotonic() < deadline:
        page.wait_for_timeout(250)  # (the page's CSP forbids eval, so no wait_for_function)
    assert without_approval.count() > known, "the new alert did not arrive without a reload"
    assert rows.count() > before
    assert "sunhui" in rows.first.inner_text()  # newest first: this very access
    shot(browser, "04-alert-arrived-live")
    # Keyboard: j/k move the selection, Enter opens the selected alert.
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.get_by_text("命中字段（高亮）").wait_for()
    assert page.locator("[data-matched=true]").count() >= 1
    shot(browser, "05-alert-detail")
    for _attempt in range(10):  # the trail ledgers the access and a checkpoint covers it within seconds
        page.get_by_test_id("show-proof").click()
        page.get_by_test_id("proof").wait_for()
        if page.get_by_text("已证明").count():
            break
        page.wait_for_timeout(1000)
    assert page.get_by_text("已证明").count() >= 1
    assert page.get_by_text("包含证明 (RFC 9162)").count() >= 1
    shot(browser, "06-ledger-proof")


def test_search_events_in_chinese_and_read_an_original_log(browser: Browser, demo: Demo) -> None:
    page = browser.page
    sign_in(browser, demo, "demo-analyst")
    page.goto(demo.console + "events")
    page.get_by_label("全文检索（支持中文）").fill("学籍")
    page.get_by_role("button", name=re.compile("检.?索")).click()
    page.locator("tr.ant-table-row").first.wait_for()
    assert "中小学学籍信息" in page.locator("tbody").inner_text()
    shot(browser, "07-event-search")
    page.get_by_role("button", name="查看原始日志").first.click()
    page.get_by_test_id("original-log").wait_for()
    assert page.get_by_test_id("original-log").inner_text().strip()
    shot(browser, "08-original-log")


def test_audit_admin_exports_a_bundle_and_verifies_it(browser: Browser, demo: Demo) -> None:
    page = browser.page
    sign_in(browser, demo, "demo-audit-admin")
    page.goto(demo.console + "ledger")
    page.get_by_label("动作（如 login.*）").fill("login.*")
    page.get_by_role("button", name=re.compile("检.?索")).click()
    page.locator("tr.ant-table-row").first.wait_for()
    shot(browser, "09-ledger-search")
    with page.expect_download() as got:
        page.get_by_test_id("export").click()
    bundle = browser.downloads / "audit-export.zip"
    got.value.save_as(str(bundle))
    with page.expect_download() as got_key:
        page.get_by_test_id("public-key").click()
    key = browser.downloads / "ledger-pub.pem"
    got_key.value.save_as(str(key))
    page.goto(demo.console + "verify")
    page.locator("input[type=file]").nth(0).set_input_files(str(bundle))
    page.locator("input[type=file]").nth(1).set_input_files(str(key))
    page.wait_for_timeout(300)
    page.get_by_test_id("verify").click()
    page.get_by_test_id("verify-result").wait_for()
    result = page.get_by_test_id("verify-result").inner_text()
    assert "校验通过" in result
    assert "每条记录的包含证明 (RFC 9162)" in result
    shot(browser, "10-verify")
    # The same bundle under another key: refused at the manifest's signature, step 2.
    page.get_by_label("或粘贴 PEM 公钥").fill(_other_key())
    page.get_by_test_id("verify").click()
    page.get_by_text("校验失败").wait_for()
    shot(browser, "11-verify-wrong-key")


def test_a_role_is_refused_a_page_it_may_not_see(browser: Browser, demo: Demo) -> None:
    page = browser.page
    sign_in(browser, demo, "demo-viewer")
    page.goto(demo.console + "accounts")
    page.get_by_text("无权访问").wait_for()
    assert "users.read" in page.locator("main").inner_text()
    # The menu offers only what the role may see.
    assert page.get_by_role("menuitem", name="账户与角色").count() == 0
    shot(browser, "12-denied")
    page.get_by_text("English").click()
    page.get_by_text("Access denied").wait_for()
    shot(browser, "13-denied-english")


def doc_shot(b: Browser, name: str) -> None:
    """A screenshot of the alerting walk in the test output; also the README's copy in
    `docs/screenshots/` with `UPDATE_SCREENSHOTS=1` (a test run never changes tracked files by itself)."""
    path = shot(b, name)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / f"{name}.png")


def test_an_incident_alert_walked_from_the_queue_to_closure(browser: Browser, demo: Demo) -> None:
    """Issue 17's walk: the demo's incident alert (access to graded data without an approval) taken
    in hand from the queue by keyboard, assigned, opened as a case, noted there, and closed (闭环)
    with a required disposition note."""
    page = browser.page
    sign_in(browser, demo, "demo-analyst")
    page.goto(demo.console + "alerts")
    page.get_by_text("实时", exact=True).wait_for()
    page.keyboard.press("/")  # focuses the search
    page.keyboard.type("无授权访问")
    page.keyboard.press("Enter")
    rows = page.locator("tr[data-alert-id]", has_text="无授权访问")
    rows.first.wait_for()
    alert_id = rows.first.get_attribute("data-alert-id")
    page.locator("main").click(position={"x": 5, "y": 5})  # leave the search field: keys act on the list
    page.keyboard.press("a")  # 开始处置 on the selected (first) alert
    rows.first.get_by_text("处置中").wait_for()
    assert "demo-analyst" in rows.first.inner_text()
    doc_shot(browser, "alerting-1-queue-started")
    page.keyboard.press("Enter")
    page.get_by_test_id("lifecycle").wait_for()
    assert page.url.endswith(f"/alerts/{alert_id}")

    page.get_by_test_id("action-assign").click()
    page.get_by_label("分派给（账户名，留空为取消分派）").fill("demo-analyst")
    page.get_by_role("button", name=re.compile("提.?交")).click()
    page.get_by_test_id("history").get_by_text("分派", exact=True).wait_for()
    doc_shot(browser, "alerting-2-assigned")

    page.get_by_test_id("action-case").click()
    page.get_by_role("button", name=re.compile("提.?交")).click()
    page.get_by_test_id("case-status").wait_for()
    assert "/cases/" in page.url
    assert page.get_by_text("处理中").count() >= 1
    page.get_by_test_id("case-note").click()
    note = "已联系数据使用方孙辉，确认为补录审批前的查询 / the query preceded a late approval"
    page.get_by_label("记录内容").fill(note)
    page.get_by_role("button", name=re.compile("提.?交")).click()
    page.get_by_test_id("case-timeline").get_by_text(note, exact=False).wait_for()
    doc_shot(browser, "alerting-3-case-note")

    page.locator(f"a[href='/alerts/{alert_id}']").first.click()
    page.get_by_test_id("lifecycle").wait_for()
    assert page.get_by_test_id("alert-case").count() == 1  # the alert links back to its case
    page.get_by_test_id("action-close").click()
    page.get_by_role("button", name=re.compile("提.?交")).click()  # no note: refused in the form
    page.locator(".ant-form-item-explain-error").first.wait_for()
    doc_shot(browser, "alerting-4-close-needs-a-note")
    page.get_by_label("处置说明（必填）").fill("审批已补录，属流程延迟；已提醒数据使用方先审批后查询")
    page.get_by_role("button", name=re.compile("提.?交")).click()
    page.get_by_test_id("alert-status").get_by_text("已闭环").wait_for()
    page.get_by_test_id("history").get_by_text("闭环", exact=True).wait_for()
    assert page.get_by_test_id("action-reopen").count() == 1
    doc_shot(browser, "alerting-5-closed")


def _other_key() -> str:
    """A public key that did not sign the bundle."""
    from crypto.recipes import SigningKey

    return SigningKey.generate().public_key_pem().decode()
