"""Browser tests: a real Motio process (migrated, with demo data) driven by Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from config import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Motio as a newcomer runs it: `flask db upgrade`, `flask demo load`, `flask run` (own SQLite file)."""
    db_path = tmp_path_factory.mktemp("live") / "live.db"
    env = {
        **os.environ,
        "MOTIO_ENV": "testing",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "SECRET_KEY": "browser-tests",
        "RATELIMIT_ENABLED": "false",
    }
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    for command in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([*flask, *command], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    port = _free_port()
    server = subprocess.Popen(
        [*flask, "run", "--port", str(port), "--no-reload"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the Motio server did not start") from None
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI: .ci/run installs the Debian package 'chromium'")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(base_url=live_server, viewport={"width": 1024, "height": 768}, locale="nl-NL")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A form answered with 422 is expected; script errors, CSP violations and missing files are not.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "responded with a status of 422" not in msg.text
            else None
        ),
    )
    yield page
    context.close()
    assert errors == [], f"browser console errors: {errors}"


def log_in(page, email: str = "admin@example.com", password: str = "motio-demo-2026") -> None:
    page.goto("/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url("**/")
