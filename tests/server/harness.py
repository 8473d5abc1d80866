"""Running gateways in tests: known devices, configs with extra session limits, a task group
that serves a gateway for the duration of an ``async with`` block."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Final, Protocol

import anyio

from gateway.auth.base import AuthBackend
from gateway.hub import Gap, HubEvent, LocationReported, Subscription
from gateway.protocol.session import SessionLimits
from gateway.registry import Device
from gateway.server.config import GatewayConfig, HostPort
from gateway.server.connection import TerminalConnection
from gateway.server.gateway import Gateway
from tests.timeouts import HANG_GUARD

from .terminal_client import MANUFACTURER_ID, TERMINAL_ID, TERMINAL_MODEL

#: Starting a gateway must take less than this.
START_TIMEOUT: Final = HANG_GUARD

#: The device ``Terminal.registration()`` describes (unpinned); one pinned to a phone; another.
KNOWN_DEVICE: Final = Device(MANUFACTURER_ID, TERMINAL_MODEL, TERMINAL_ID)
PINNED_DEVICE: Final = Device(MANUFACTURER_ID, TERMINAL_MODEL, "PINNED1", phone="13800000000")
OTHER_DEVICE: Final = Device("ZEN01", "Z-9", "Z000009", plate="B99999", plate_color=2)
DEVICES: Final = (KNOWN_DEVICE, PINNED_DEVICE, OTHER_DEVICE)
#: ``log_in(**OTHER_IDENTITY)`` registers as ``OTHER_DEVICE`` (a second terminal online beside
#: the first needs a device of its own: a registered device is not registered again).
OTHER_IDENTITY: Final = {
    "manufacturer_id": OTHER_DEVICE.manufacturer_id,
    "terminal_model": OTHER_DEVICE.terminal_model,
    "terminal_id": OTHER_DEVICE.terminal_id,
    "plate": OTHER_DEVICE.plate,
    "plate_color": OTHER_DEVICE.plate_color,
}


@dataclasses.dataclass(frozen=True, slots=True)
class LimitsConfig(GatewayConfig):
    """A ``GatewayConfig`` that also sets ``SessionLimits`` fields it does not expose (such as
    ``reassembly_retransmit_after`` or ``command_retry_timeout``): a test-only seam."""

    limit_overrides: tuple[tuple[str, Any], ...] = ()

    def session_limits(self) -> SessionLimits:
        limits = GatewayConfig.session_limits(self)
        return dataclasses.replace(limits, **dict(self.limit_overrides))


def with_limits(config: GatewayConfig, **limits: Any) -> GatewayConfig:
    """``config`` plus ``SessionLimits`` fields that ``GatewayConfig`` does not carry."""
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(GatewayConfig)}
    return LimitsConfig(**fields, limit_overrides=tuple(limits.items()))


class StartGateway(Protocol):
    """``start_gateway(config=None, *, auth=None, limits=None, **config_changes)``."""

    def __call__(
        self,
        config: GatewayConfig | None = None,
        *,
        auth: AuthBackend | None = None,
        limits: dict[str, Any] | None = None,
        **changes: Any,
    ) -> AbstractAsyncContextManager[Gateway]: ...


@asynccontextmanager
async def running(gateway: Gateway) -> AsyncIterator[Gateway]:
    """Serve ``gateway`` in a task group for the duration of the block, then stop it.

    An exception of the block comes out as itself, not wrapped in an exception group.
    """
    try:
        async with anyio.create_task_group() as tasks:
            with anyio.fail_after(START_TIMEOUT):
                await tasks.start(gateway.serve)
            try:
                yield gateway
            finally:
                tasks.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


def address_of(gateway: Gateway) -> HostPort:
    assert gateway.address is not None, "the gateway is not listening"
    return gateway.address


async def wait_for_event(
    subscription: Subscription,
    predicate: Callable[[HubEvent], bool],
    timeout: float = 5.0,
) -> HubEvent:
    """The first event of ``subscription`` that satisfies ``predicate`` (others are skipped)."""
    with anyio.fail_after(timeout):
        async for event in subscription:
            if not isinstance(event, Gap) and predicate(event):
                return event
    raise AssertionError("the hub closed before the expected event")


async def drain(subscription: Subscription) -> list[HubEvent | Gap]:
    """Everything ``subscription`` holds now (a ``Gap`` always comes with queued events)."""
    events: list[HubEvent | Gap] = []
    while subscription.pending:
        events.append(await subscription.receive())
    return events


def kinds(events: list[HubEvent | Gap]) -> list[str]:
    """The kind of each event: ``EventKind`` values, "location" or "gap"."""
    return [
        "gap" if isinstance(e, Gap) else "location" if isinstance(e, LocationReported) else e.kind
        for e in events
    ]


def metric(gateway: Gateway, name: str, **labels: str) -> float:
    """The value of sample ``name`` with ``labels`` in the gateway's registry (0 if absent)."""
    value = gateway.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def connection_of(gateway: Gateway, phone: str) -> TerminalConnection:
    """The live authenticated connection of ``phone``."""
    connection = gateway.sessions.get(phone)
    assert connection is not None, f"no session for {phone}"
    return connection


def _ports_below_ephemeral() -> range:
    """Ports the kernel does not hand out as the source of outgoing connections: a port picked
    from its ephemeral range (``bind(0)``) can be taken by any test's client connection before
    the server binds it ("address already in use" under a busy parallel suite)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return range(max(1_024, low - 12_000), low)


_FREE_PORTS: Final = _ports_below_ephemeral()
_CHOOSER: Final = random.Random()  # its own: tests that seed ``random`` must not pick alike


def free_port(run: int = 1) -> int:
    """A loopback port nobody listens on, and the ``run - 1`` after it too (bound together and
    released: good enough for a test), outside the ephemeral range (``_ports_below_ephemeral``).
    """
    for _ in range(1_000):
        port = _CHOOSER.randrange(_FREE_PORTS.start, _FREE_PORTS.stop - run + 1)
        with contextlib.ExitStack() as probes:
            try:
                for offset in range(run):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_FREE_PORTS}")
