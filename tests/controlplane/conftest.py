"""One event loop per test module for every control-plane test.

grpc.aio hands each completion to the loop that started the operation; one that completes after
its loop closed (a cancelled call's, a stopped server's) raises "Event loop is closed" in
whichever test runs next. Sharing the loop within a module keeps those completions harmless, and
the pause at the end lets the last ones land before the loop goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", autouse=True)
async def one_event_loop(anyio_backend: str) -> AsyncIterator[None]:
    yield
    await anyio.sleep(0.1)
