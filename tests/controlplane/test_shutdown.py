"""The control plane stops without waiting on its own loop."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import controlplane.server
from tests.controlplane.harness import running_app

pytestmark = pytest.mark.anyio


async def test_synchronous_handlers_are_waited_for_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A registry handler still running at shutdown may need the loop (grpc.aio runs a
    # synchronous handler's context.abort there and waits): had the loop itself waited for
    # the handlers' threads, both would wait forever (seen once in a busy test run).
    loop_thread = threading.get_ident()
    waited_on: list[int] = []

    class Recording(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            if wait:
                waited_on.append(threading.get_ident())
            super().shutdown(wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(controlplane.server, "ThreadPoolExecutor", Recording)
    async with running_app(tmp_path):
        pass
    assert waited_on
    assert loop_thread not in waited_on
