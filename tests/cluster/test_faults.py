"""Cluster faults and processes: ``--workers`` sharing the terminal port, a node SIGKILLed (the
directory forgets it within the TTL, its terminals carry on elsewhere), NATS restarted (the
nodes recover by themselves)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import grpc
import pytest

from gateway.protocol.versions import V2013
from gateway.server.config import HostPort
from jt808.gateway.v1 import commands_pb2 as pb
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.server.terminal_client import TerminalClient
from tests.server.test_serve_command import ServeProcess, clean_environment, serving
from tests.timeouts import HANG_GUARD
from tests.tls.gateway_harness import tls_terminal
from tests.tls.harness import device_context
from tests.tls.pki import make_pki

from .helpers import PHONE, listed_on, node, status_of
from .nats_server import NatsServer, free_port

TTL: Final = 3.0


async def sessions_on(target: str) -> list[api.Session]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = api_grpc.GatewayServiceStub(channel)
        return list((await stub.ListSessions(api.ListSessionsRequest())).sessions)


async def until_listening(target: str) -> None:
    while True:
        try:
            await sessions_on(target)
            return
        except grpc.aio.AioRpcError:
            await anyio.sleep(0.05)


@asynccontextmanager
async def two_workers(
    nats_server: NatsServer, data_dir: Path, node_id: str, *flags: str
) -> AsyncIterator[tuple[ServeProcess, list[str]]]:
    """``jt808 serve --workers 2`` with ``flags``, once both workers' gRPC ports answer; the
    supervisor, and those ports' targets. At the end SIGTERM stops it cleanly (exit 0)."""
    grpc_port = free_port(run=2)  # worker 2 listens on grpc_port + 1
    async with serving(
        "--workers", "2", "--nats-url", nats_server.url, "--node-id", node_id,
        "--grpc-listen", f"127.0.0.1:{grpc_port}", "--auth", "insecure-accept-all",
        "--data-dir", str(data_dir), *flags, ready='event="starting workers"',
    ) as supervisor:  # fmt: skip
        targets = [f"127.0.0.1:{grpc_port}", f"127.0.0.1:{grpc_port + 1}"]
        for target in targets:
            await until_listening(target)
        yield supervisor, targets
        supervisor.process.send_signal(signal.SIGTERM)
        assert await supervisor.process.wait() == 0


async def passes_sighup(supervisor: ServeProcess, logged: str) -> None:
    """SIGHUP to the supervisor: both workers log ``logged``."""
    supervisor.process.send_signal(signal.SIGHUP)
    while supervisor.log.count(logged) < 2:
        await anyio.sleep(0.05)


async def nodes_serving(
    phones: list[str],
    connect: Callable[[str], AbstractAsyncContextManager[TerminalClient]],
    target: str,
) -> set[str]:
    """Log every phone in (all connected at once); the nodes that hold them, as ListSessions on
    ``target`` shows once it lists every phone."""
    async with AsyncExitStack() as stack:
        for phone in phones:
            client = await stack.enter_async_context(connect(phone))
            await client.log_in()
        while len(listed := await sessions_on(target)) < len(phones):
            await anyio.sleep(0.05)
        assert sorted(s.phone for s in listed) == phones
        return {s.node for s in listed}


@pytest.mark.anyio
async def test_workers_share_the_terminal_port_and_each_grpc_port_sees_the_cluster(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    terminals = HostPort("127.0.0.1", free_port())
    phones = [f"0139000001{i:02d}" for i in range(16)]
    with anyio.fail_after(2 * HANG_GUARD):  # three processes start (slow on a busy machine)
        async with two_workers(nats_server, tmp_path, "w", "--listen", str(terminals)) as (
            supervisor, targets,
        ):  # fmt: skip
            nodes = await nodes_serving(
                phones, lambda phone: TerminalClient.connect(terminals, V2013, phone=phone),
                targets[1],
            )  # fmt: skip
            # The kernel spreads connections over both workers (2 × 2^-16 that not).
            assert nodes == {"w-1", "w-2"}
            # SIGHUP is passed to the workers (no TLS here: each logs so) and stops nothing.
            await passes_sighup(supervisor, "nothing to reload")
            for target in targets:
                await sessions_on(target)
            assert "worker exited" not in supervisor.log


@pytest.mark.anyio
async def test_workers_share_the_tls_terminal_port_too(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """``--tls-listen`` with ``--workers 2``: every worker binds the TLS port (SO_REUSEPORT),
    and terminals over TLS land on both."""
    pki = make_pki(tmp_path / "pki", None)
    tls = HostPort("127.0.0.1", free_port())
    phones = [f"0139000002{i:02d}" for i in range(16)]
    server = pki.files["server"]
    flags = ("--listen", f"127.0.0.1:{free_port()}", "--tls-listen", str(tls),
             "--tls-cert", str(server.cert), "--tls-key", str(server.key))  # fmt: skip
    with anyio.fail_after(2 * HANG_GUARD):
        async with two_workers(nats_server, tmp_path / "data", "t", *flags) as (
            supervisor, targets,
        ):  # fmt: skip
            context = device_context(pki, None)
            nodes = await nodes_serving(
                phones, lambda phone: tls_terminal(tls, context, phone=phone, version=V2013),
                targets[0],
            )  # fmt: skip
            # Both workers accept TLS terminals (2 × 2^-16 that the kernel picks one).
            assert nodes == {"t-1", "t-2"}
            # SIGHUP (reload the TLS files) reaches both workers; the supervisor carries on.
            await passes_sighup(supervisor, "reload TLS")
            assert supervisor.process.returncode is None


@pytest.mark.anyio
async def test_a_killed_node_leaves_the_directory_and_its_terminal_carries_on_elsewhere(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    terminals = HostPort("127.0.0.1", free_port())
    with anyio.fail_after(HANG_GUARD):
        async with (
            node(nats_server, tmp_path, "b", cluster_ttl=TTL) as (b, via_b),
            serving(
                "--nats-url", nats_server.url, "--node-id", "a", "--cluster-ttl", str(TTL),
                "--listen", str(terminals), "--auth", "insecure-accept-all",
                "--data-dir", str(tmp_path / "a"), environment=clean_environment(),
            ) as a,
        ):  # fmt: skip
            async with TerminalClient.connect(terminals, V2013, phone=PHONE) as terminal:
                await terminal.log_in()
                await listed_on(via_b, PHONE, "a")
                a.process.send_signal(signal.SIGKILL)
                await terminal.closed()
            killed_at = anyio.current_time()
            while PHONE in [s.phone for s in await sessions_on(b.grpc_target)]:
                await anyio.sleep(0.1)
            # Forgotten once the TTL ran out since the last refresh (never before the kill).
            assert anyio.current_time() - killed_at <= TTL + 2
            gone = await status_of(via_b.GetSession(api.GetSessionRequest(phone=PHONE)))
            assert gone.code() == grpc.StatusCode.NOT_FOUND
            async with TerminalClient.connect(b.addresses.terminals, V2013, phone=PHONE) as moved:
                await moved.log_in()
                await listed_on(via_b, PHONE, "b")


@pytest.mark.anyio
async def test_after_nats_restarts_the_nodes_route_again(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with (
            node(nats_server, tmp_path, "a", cluster_ttl=TTL) as (a, _),
            node(nats_server, tmp_path, "b", cluster_ttl=TTL) as (b, via_b),
            TerminalClient.connect(a.addresses.terminals, V2013, phone=PHONE) as terminal,
        ):
            await terminal.log_in()
            await listed_on(via_b, PHONE, "a")
            nats_server.stop()
            assert b.app.cluster is not None
            while b.app.cluster.link.up:  # until b noticed
                await anyio.sleep(0.05)
            # Refused at once (never queued to run when NATS is back).
            down = await status_of(via_b.GetSession(api.GetSessionRequest(phone=PHONE)))
            assert down.code() == grpc.StatusCode.UNAVAILABLE
            nats_server.start()
            # Routed calls work again once both nodes are back (the terminal stayed on a).
            query = api.SendCommandRequest(phone=PHONE, query_location=pb.QueryLocation())
            query.timeout.FromMilliseconds(200)
            while True:
                try:
                    await via_b.SendCommand(query)
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                        break  # reached the terminal on a, which does not answer this one
                await anyio.sleep(0.1)
            await listed_on(via_b, PHONE, "a")
