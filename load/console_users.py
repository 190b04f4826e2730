"""Locust scenario: 200 signed-in people browsing lists of the API (events, sources, their session).

    datasoc demo --data-dir var/load                     # data, and the demo accounts it prints
    DATASOC_DETECTION__ENGINE=inprocess DATASOC_API__COOKIE_SECURE=false \
        datasoc run --data-dir var/load &
    DATASOC_ADMIN_TOTP=<demo-system-admin's TOTP secret> \
        locust -f load/console_users.py --headless -u 200 -r 20 -t 120s --host http://127.0.0.1:8600

Before the run (`test_start`) the demo system administrator signs in (password and TOTP) and
creates the accounts `load-000` ... `load-199` (analysts and viewers) if they do not exist; each
simulated person signs in once as one of them, then browses: event pages (following
`next_cursor`), a text search, source health and its own session. Every event search is a
ledgered read, so the figures include the audit write. Environment: `DATASOC_ADMIN_USER`
(default `demo-system-admin`), `DATASOC_ADMIN_PASSWORD` (default the demo password),
`DATASOC_ADMIN_TOTP` (required), `DATASOC_LOAD_USERS` (default 200).
Imports nothing from datasoc (pyotp for the administrator's code), so it runs from any machine.
"""

from __future__ import annotations

import itertools
import os
import random
import threading

import pyotp
import requests
from locust import HttpUser, between, events, task

PASSWORD = "Load-Test-Pass-42!"
_numbers = itertools.count()
_lock = threading.Lock()


def _accounts() -> int:
    return int(os.environ.get("DATASOC_LOAD_USERS", "200"))


@events.test_start.add_listener
def create_accounts(environment: object, **_kwargs: object) -> None:
    """Sign in as the system administrator and create the load accounts that do not exist yet."""
    host = environment.host  # type: ignore[attr-defined]
    secret = os.environ.get("DATASOC_ADMIN_TOTP")
    if not secret:
        raise RuntimeError("set DATASOC_ADMIN_TOTP to the demo system administrator's TOTP secret")
    admin = requests.Session()
    answer = admin.post(
        f"{host}/api/v1/session",
        json={
            "username": os.environ.get("DATASOC_ADMIN_USER", "demo-system-admin"),
            "password": os.environ.get("DATASOC_ADMIN_PASSWORD", "Demo-Datasoc-2026!"),
        },
        timeout=30,
    )
    answer.raise_for_status()
    answer = admin.post(
        f"{host}/api/v1/session/second-factor", json={"code": pyotp.TOTP(secret).now()}, timeout=30
    )
    answer.raise_for_status()
    admin.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    for number in range(_accounts()):
        role = "analyst" if number % 2 else "viewer"
        body = {"username": f"load-{number:03d}", "password": PASSWORD, "roles": [role]}
        made = admin.post(f"{host}/api/v1/users", json=body, timeout=30)
        if made.status_code not in (201, 409):
            made.raise_for_status()


class ConsoleUser(HttpUser):
    """One person: signs in once, then browses lists with a pause of 1-3 s between clicks."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        with _lock:
            number = next(_numbers) % _accounts()
        answer = self.client.post(
            "/api/v1/session", json={"username": f"load-{number:03d}", "password": PASSWORD}, name="sign in"
        )
        answer.raise_for_status()
        self.client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        self.cursor: str | None = None

    @task(4)
    def events_page(self) -> None:
        params = {"limit": "50", "start": "2000-01-01T00:00:00Z"}
        if self.cursor and random.random() < 0.5:
            params["cursor"] = self.cursor
            name = "GET /api/v1/events (next page)"
        else:
            name = "GET /api/v1/events"
        answer = self.client.get("/api/v1/events", params=params, name=name)
        if answer.ok:
            self.cursor = answer.json().get("next_cursor")

    @task(1)
    def events_text(self) -> None:
        params = {
            "limit": "20",
            "start": "2000-01-01T00:00:00Z",
            "text": random.choice(["export", "人口", "login"]),
        }
        self.client.get("/api/v1/events", params=params, name="GET /api/v1/events?text=")

    @task(2)
    def sources(self) -> None:
        self.client.get("/api/v1/sources")

    @task(1)
    def session(self) -> None:
        self.client.get("/api/v1/session")
