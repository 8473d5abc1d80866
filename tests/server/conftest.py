"""Fixtures of the server tests: a real gateway on 127.0.0.1 (port 0), a tmp data dir with
known devices imported, and a factory for gateways configured per test.

* ``gateway`` — a running gateway (local auth, ``devices`` imported);
  ``@pytest.mark.gateway(idle_timeout=0.5, auth=backend, limits={...})`` changes its
  ``GatewayConfig`` fields, auth backend and extra ``SessionLimits`` for one test.
* ``start_gateway`` — ``async with start_gateway(config, auth=..., limits=...) as gateway``
  for tests that need control over start and stop, or several gateways.
* ``devices`` — the devices imported into the registry under ``data_dir`` (the gateway's local
  auth backend opens the same SQLite file).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from gateway.auth.base import AuthBackend
from gateway.registry import Device, DeviceRegistry
from gateway.server.config import GatewayConfig, HostPort
from gateway.server.gateway import Gateway
from tests.timeouts import HANG_GUARD

from .harness import DEVICES, StartGateway, running, with_limits


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gateway(**changes): GatewayConfig fields (and auth=AuthBackend, limits=dict of "
        "SessionLimits fields) for the ``gateway`` fixture",
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def devices(data_dir: Path) -> tuple[Device, ...]:
    with DeviceRegistry(data_dir) as registry:
        registry.upsert(DEVICES)
    return DEVICES


@pytest.fixture
def gateway_config(data_dir: Path) -> GatewayConfig:
    """Loopback, port 0, the tmp data dir, local auth, a hang-guard auth timeout; everything
    else the defaults."""
    # A busy machine may take seconds for a local decision: only the tests of the timeout
    # itself set a short one.
    return GatewayConfig(
        listen=HostPort("127.0.0.1", 0), data_dir=data_dir, auth="local", auth_timeout=HANG_GUARD
    )


@pytest.fixture
def start_gateway(gateway_config: GatewayConfig) -> StartGateway:
    def start(
        config: GatewayConfig | None = None,
        *,
        auth: AuthBackend | None = None,
        limits: dict[str, Any] | None = None,
        **changes: Any,
    ) -> AbstractAsyncContextManager[Gateway]:
        config = dataclasses.replace(config or gateway_config, **changes)
        if limits:
            config = with_limits(config, **limits)
        return running(Gateway(config, auth=auth))

    return start


@pytest.fixture
async def gateway(
    request: pytest.FixtureRequest, start_gateway: StartGateway, devices: tuple[Device, ...]
) -> AsyncIterator[Gateway]:
    marker = request.node.get_closest_marker("gateway")
    changes: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with start_gateway(**changes) as started:
        yield started
