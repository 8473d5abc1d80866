"""The open-file limit bounds ``max_connections``: a connection past it is refused by admission
(counted, logged) rather than failing inside the event loop's accept."""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Final

import anyio
import pytest

from gateway.protocol import V2013
from gateway.server import descriptors
from gateway.server.config import HostPort
from tests.timeouts import HANG_GUARD

from .harness import free_port
from .terminal_client import TerminalClient
from .test_serve_command import serving

UNLIMITED: Final = resource.RLIM_INFINITY


@pytest.mark.parametrize(
    ("max_connections", "soft", "hard", "limit", "connections"),
    [
        (10_000, 1024, 20_000, 10_256, 10_000),  # raised as far as needed
        (100_000, 1024, 20_000, 20_000, 19_744),  # raised to the hard limit, the rest bounded
        (100_000, 30_000, 30_000, 30_000, 29_744),  # already as high as it goes
        (500, 100_000, 100_000, 100_000, 500),  # more than enough: left alone
        (100_000, 1024, UNLIMITED, 100_256, 100_000),
        (100_000, UNLIMITED, UNLIMITED, UNLIMITED, 100_000),
        (10, 100, 100, 100, 1),  # nothing left after the reserve: still one, not zero
    ],
)
def test_the_plan_raises_the_soft_limit_and_bounds_connections_by_it(
    max_connections: int, soft: int, hard: int, limit: int, connections: int
) -> None:
    assert descriptors.plan(max_connections, soft, hard) == descriptors.OpenFiles(
        limit, connections
    )


#: ``jt808 serve`` under a hard open-file limit that leaves room for three connections.
UNDER_A_LIMIT: Final = (
    sys.executable,
    "-c",
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({descriptors.RESERVED + 3},) * 2); "
    "sys.argv[0] = 'jt808'; runpy.run_module('clients.cli', run_name='__main__')",
    "serve",
)


@pytest.mark.anyio
async def test_a_gateway_holds_what_its_open_file_limit_allows_and_refuses_the_rest(
    tmp_path: Path,
) -> None:
    address = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with serving(
            "--listen", str(address), "--auth", "insecure-accept-all",
            "--data-dir", str(tmp_path / "data"), command=UNDER_A_LIMIT,
        ) as server:  # fmt: skip
            line = await server.wait_for_line("max_connections lowered")
            assert "level=info" in line  # the default bound is above most limits: no alarm
            assert "connections=3" in line
            phones = [f"01370000000{index}" for index in range(4)]
            async with (
                TerminalClient.connect(address, V2013, phone=phones[0]) as first,
                TerminalClient.connect(address, V2013, phone=phones[1]) as second,
                TerminalClient.connect(address, V2013, phone=phones[2]) as third,
            ):
                for terminal in (first, second, third):
                    await terminal.log_in()
                async with TerminalClient.connect(address, V2013, phone=phones[3]) as fourth:
                    await fourth.closed()  # refused at admission: authenticated are never shed
                await server.wait_for_line("limit=max_connections")
