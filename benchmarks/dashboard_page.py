"""Dashboard figures: how a page copes with many terminals moving at once.

Run with ``python -m benchmarks.dashboard_page [--terminals N] [--rate R] [--seconds S]``.
One process holds the gateway and the simulated terminals; ``jt808 dashboard`` runs as its own
process, and Debian's chromium (headless, driven by Playwright) opens the page. Printed: how
long until the page lists every terminal, how long a click on a row takes to show its details,
and the page's long tasks (main-thread work over 50 ms, the browser's own measure of jank)
while the terminals report. Nothing here asserts a speed; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import anyio.abc
from playwright.async_api import async_playwright

from clients.simulator.runner import Simulation, SimulationConfig, raise_open_files_limit
from controlplane.app import Addresses, GatewayApp
from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.server.config import GatewayConfig, HostPort

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: Logins are over when no terminal logged in for this long.
SETTLE_S = 20.0
LONG_TASKS = (
    "window.__long = []; new PerformanceObserver(list => { for (const entry of list.getEntries())"
    " window.__long.push(entry.duration) }).observe({type: 'longtask', buffered: true});"
)


async def measure(terminals: int, rate: float, seconds: float) -> None:
    config = GatewayConfig(
        listen=HostPort("127.0.0.1", 0),
        grpc_listen=HostPort("127.0.0.1", 0),
        data_dir=Path(tempfile.mkdtemp(prefix="jt808-bench-")),
        log_level="warning",
    )
    app = GatewayApp(config, auth=AcceptAllAuthBackend())
    async with anyio.create_task_group() as tasks:
        addresses: Addresses = await tasks.start(app.serve)
        fleet = SimulationConfig(
            host="127.0.0.1",
            port=addresses.terminals.port,
            terminals=terminals,
            rate=rate,
            count=None,
            duration=seconds + 60,
            heartbeat=0,
            connect_timeout=30,
        )
        simulation = Simulation(fleet)
        tasks.start_soon(simulation.run)
        online = await _logged_in(app, terminals)
        dashboard = await anyio.open_process(
            [sys.executable, "-m", "clients.cli", "dashboard", "--gateway", str(addresses.grpc),
             "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = await _dashboard_url(dashboard)
            await _browse(url, online, rate, seconds)
        finally:
            dashboard.terminate()
            await dashboard.wait()
            simulation.stop()
            tasks.cancel_scope.cancel()


async def _logged_in(app: GatewayApp, terminals: int) -> int:
    """Sessions once all terminals logged in, or once no more did for a while (a busy machine
    lets some logins time out; the figures are then of those that made it)."""
    count, since = 0, time.monotonic()
    while count < terminals and time.monotonic() - since < SETTLE_S:
        await anyio.sleep(0.5)
        now = len(app.gateway.sessions)
        if now > count:
            count, since = now, time.monotonic()
    if count < terminals:
        print(f"({terminals - count} of {terminals} terminals did not log in; measuring {count})")
    return count


async def _dashboard_url(process: anyio.abc.Process) -> str:
    assert process.stderr is not None
    seen = ""
    with anyio.fail_after(60):
        while (found := re.search(r"serving (http://[0-9.:]+)/", seen)) is None:
            seen += (await process.stderr.receive()).decode()
    return found.group(1)


async def _browse(url: str, terminals: int, rate: float, seconds: float) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 800})
        await page.add_init_script(LONG_TASKS)
        started = time.perf_counter()
        await page.goto(f"{url}/")
        await page.wait_for_function(
            f"document.getElementById('counts').textContent.startsWith('{terminals} online')",
            timeout=120_000,
        )
        listed = time.perf_counter() - started
        await page.evaluate("window.__long = []")
        await anyio.sleep(seconds)
        clicks = []
        for row in range(5):
            started = time.perf_counter()
            await page.locator("tr[data-phone]").nth(row).click()
            await page.wait_for_function(
                "row => document.getElementById('detail-phone').textContent === "
                "document.querySelectorAll('tr[data-phone]')[row].dataset.phone",
                arg=row,
            )
            clicks.append((time.perf_counter() - started) * 1000)
        long_tasks: list[float] = await page.evaluate("window.__long")
        await browser.close()
    busy = sum(long_tasks) / 1000
    print(f"{terminals} terminals at {rate:g} reports/s each: listed after {listed:.1f} s")
    print(f"  click to details: {', '.join(f'{c:.0f}' for c in clicks)} ms")
    print(
        f"  long tasks over {seconds:g} s of updates: {len(long_tasks)}, "
        f"longest {max(long_tasks, default=0):.0f} ms, main thread busy in them "
        f"{busy:.1f} s ({100 * busy / seconds:.0f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.5, help="reports a second per terminal")
    parser.add_argument("--seconds", type=float, default=30.0, help="updates watched")
    args = parser.parse_args()
    raise_open_files_limit(2 * args.terminals + 256)  # both ends of every connection are here
    anyio.run(measure, args.terminals, args.rate, args.seconds)


if __name__ == "__main__":
    main()
