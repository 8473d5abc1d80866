"""The dashboard page in a real headless browser: Debian's chromium driven by Playwright.

A gateway runs with simulated terminals, ``jt808 dashboard`` runs as its own process, and the
page must list the terminals, move them as they report, and deliver a text message typed into
it to the terminal. The browser is /usr/bin/chromium (``make test`` installs Debian's package
when it is missing); Playwright never downloads one. The page must load nothing from outside:
every request it makes is checked to go to the dashboard itself.

Set ``DASHBOARD_SCREENSHOT=path.png`` to keep a screenshot of the page (docs/dashboard.png is
made that way).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import pytest
from playwright.async_api import Browser, Page, async_playwright

# One event loop per module, as for the control-plane tests (grpc.aio completions).
from tests.controlplane.conftest import anyio_backend, one_event_loop  # noqa: F401
from tests.controlplane.harness import fleet, running_app
from tests.timeouts import HANG_GUARD

from .cli_process import RunningCli, cli_process

PHONE: Final = "013800000001"
CHROMIUM: Final = "/usr/bin/chromium"
#: Flags for Chromium on a machine without a display, GPU or outside network, as root.
CHROMIUM_FLAGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Hang guard of the browser's launch and of each wait on the page (the machine may be busy:
#: Chromium's first start under load has taken over 30 s).
PAGE_TIMEOUT_MS: Final = int(HANG_GUARD * 1000)
_SERVING: Final = re.compile(r"serving (http://127\.0\.0\.1:[0-9]+)/")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: make test installs Debian's chromium"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=PAGE_TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def dashboard_url(process: RunningCli) -> str:
    assert process.process.stderr is not None
    seen = ""
    with anyio.fail_after(HANG_GUARD):
        while (found := _SERVING.search(seen)) is None:
            seen += (await process.process.stderr.receive()).decode()
    return found.group(1)


async def position_of(page: Page, phone: str) -> str:
    return await page.locator(f"tr[data-phone='{phone}'] td").nth(3).inner_text()


@pytest.mark.anyio
async def test_the_page_shows_terminals_moving_and_sends_a_text_message(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path) as app,
        fleet(app, terminals=3, rate=2.0) as simulation,
        cli_process(
            "dashboard", "--gateway", app.grpc_target, "--listen", "127.0.0.1:0"
        ) as dashboard,
        chromium() as browser,
    ):
        url = await dashboard_url(dashboard)
        page = await browser.new_page(viewport={"width": 1400, "height": 800})
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{url}/")

        # Every terminal is listed, online, with a position.
        await page.wait_for_function("document.querySelectorAll('tr[data-phone]').length === 3")
        phones = await page.locator("tr[data-phone]").evaluate_all(
            "rows => rows.map(row => row.dataset.phone)"
        )
        await page.wait_for_function(
            "phone => !document.querySelector(`tr[data-phone='${phone}']`)"
            ".children[3].textContent.includes('no position')",
            arg=PHONE,
        )
        first = await position_of(page, PHONE)
        # Positions update as the terminals report.
        await page.wait_for_function(
            "([phone, first]) => document.querySelector(`tr[data-phone='${phone}']`)"
            ".children[3].textContent !== first",
            arg=[PHONE, first],
        )
        status = await page.locator("#gateway-status").inner_text()

        # The detail panel, and a text message that reaches the terminal.
        answered_before = simulation.stats.commands_answered
        await page.locator(f"tr[data-phone='{PHONE}']").click()
        await page.wait_for_selector("#detail:not([hidden])")
        detail_phone = await page.locator("#detail-phone").inner_text()
        await page.fill("#text-input", "hello from the dashboard")
        await page.click("#send-text")
        await page.wait_for_function(
            "document.getElementById('command-status').textContent.includes('answered')"
        )
        command_status = await page.locator("#command-status").inner_text()
        answered_after = simulation.stats.commands_answered
        if screenshot := os.environ.get("DASHBOARD_SCREENSHOT"):
            await page.screenshot(path=screenshot)
        await dashboard.interrupt()

    assert sorted(phones) == ["013800000000", PHONE, "013800000002"]
    assert status == "gateway connected"
    assert detail_phone == PHONE
    assert command_status == "terminal answered the text message: success"
    assert answered_after == answered_before + 1
    assert errors == []
    assert all(request.startswith(url) for request in requests), requests
