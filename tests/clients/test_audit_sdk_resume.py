"""Issue 10's acceptance audit of the SDK: a consumer that kept its last sequence across its own
restart resumes through ``GatewayClient.locations()`` by setting the stream's
``last_sequence`` before iterating (the README's recipe): the stored items after it come
first, none before it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from clients.sdk import GatewayClient
from gateway.store.log import LogStore

# One event loop per module, as for the control-plane tests (grpc.aio completions).
from tests.controlplane.conftest import anyio_backend, one_event_loop  # noqa: F401
from tests.controlplane.harness import running_app
from tests.store.test_log_store import append, position
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio


async def test_a_stream_given_a_kept_sequence_resumes_after_it(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data") as app:
        store = app.gateway.store
        assert isinstance(store, LogStore)
        assert await append(store, *(position(serial=serial) for serial in (1, 2, 3, 4)))
        async with GatewayClient(app.grpc_target) as gateway:
            stream = gateway.locations()
            stream.last_sequence = 2  # kept by the consumer from its last run
            items = aiter(stream)
            with anyio.fail_after(HANG_GUARD):
                resumed = [await anext(items), await anext(items)]
            await items.aclose()  # type: ignore[attr-defined]
    assert [(item.sequence, item.serial) for item in resumed] == [(3, 3), (4, 4)]
    assert stream.last_sequence == 4
