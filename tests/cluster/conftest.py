"""Cluster tests: a real nats-server with JetStream per test, gateway nodes on loopback, one
event loop per module (as the control-plane tests: grpc.aio completions need their loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from .nats_server import NatsServer


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", autouse=True)
async def one_event_loop(anyio_backend: str) -> AsyncIterator[None]:
    yield
    await anyio.sleep(0.1)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    store = tmp_path / "nats"
    store.mkdir()
    server = NatsServer(store)
    server.start()
    try:
        yield server
    finally:
        server.stop()
