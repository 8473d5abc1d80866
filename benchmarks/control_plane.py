"""Control-plane figures: SendCommand round trips and StreamLocations delivery, over real gRPC.

Run with ``python -m benchmarks.control_plane [--terminals N] [--commands N] [--concurrency N]``.
One process holds the gateway (data plane + control plane on one loop), the simulated terminals
and the gRPC client, so the figures are of the whole stack on this machine's cores; they bound
the gateway's own cost from above. Nothing here asserts a speed; figures go to
docs/benchmarks.md.

Cases
- SendCommand query_location (0x8201 → 0x0201, typed Location back): latency percentiles of
  sequential calls, then throughput with ``--concurrency`` calls in flight spread over the
  terminals.
- StreamLocations: terminals report as fast as acknowledgements allow; positions per second a
  single subscriber receives, and the gaps it was told about.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import grpc

from clients.simulator.runner import Simulation, SimulationConfig
from controlplane.app import Addresses, GatewayApp
from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.server.config import GatewayConfig, HostPort
from jt808.gateway.v1 import commands_pb2, gateway_service_pb2, gateway_service_pb2_grpc


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def wait_for_sessions(app: GatewayApp, count: int) -> list[str]:
    with anyio.fail_after(30):
        while len(app.gateway.sessions) < count:
            await anyio.sleep(0.05)
    return sorted(c.phone for c in app.gateway.sessions.all())


async def commands(stub: gateway_service_pb2_grpc.GatewayServiceAsyncStub, phones: list[str],
                   count: int, concurrency: int) -> None:  # fmt: skip
    def request(index: int) -> gateway_service_pb2.SendCommandRequest:
        return gateway_service_pb2.SendCommandRequest(
            phone=phones[index % len(phones)], query_location=commands_pb2.QueryLocation()
        )

    latencies: list[float] = []
    for index in range(count):
        started = time.perf_counter()
        await stub.SendCommand(request(index))
        latencies.append(time.perf_counter() - started)
    print(
        f"SendCommand query_location, sequential x{count}: "
        f"p50 {percentile(latencies, 0.5) * 1e3:.2f} ms, "
        f"p90 {percentile(latencies, 0.9) * 1e3:.2f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1e3:.2f} ms, "
        f"mean {statistics.fmean(latencies) * 1e3:.2f} ms"
    )
    done = 0

    async def worker(offset: int) -> None:
        nonlocal done
        for index in range(offset, count, concurrency):
            await stub.SendCommand(request(index))
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for offset in range(concurrency):
            tasks.start_soon(worker, offset)
    elapsed = time.perf_counter() - started
    print(
        f"SendCommand query_location, {concurrency} in flight: "
        f"{done / elapsed:,.0f} commands/s ({done} in {elapsed:.2f} s)"
    )


async def stream(app: GatewayApp, stub: gateway_service_pb2_grpc.GatewayServiceAsyncStub,
                 address: HostPort, terminals: int, reports: int) -> None:  # fmt: skip
    received = gaps = 0
    call = stub.StreamLocations(gateway_service_pb2.StreamLocationsRequest())
    config = SimulationConfig(
        host=address.host, port=address.port, terminals=terminals, rate=0.0, window=8,
        count=reports, heartbeat=0.0, connect_rate=1000.0,
    )  # fmt: skip

    async def read() -> None:
        nonlocal received, gaps
        async for item in call:
            if item.HasField("gap"):
                gaps += item.gap.dropped
            else:
                received += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read)
        summary = await Simulation(config).run()
        with anyio.move_on_after(5):
            while received + gaps < summary.stats.reports_acked:
                await anyio.sleep(0.01)
        elapsed = time.perf_counter() - started
        call.cancel()
        tasks.cancel_scope.cancel()
    print(
        f"StreamLocations, one subscriber, {terminals} terminals x {reports} reports: "
        f"{received / elapsed:,.0f} positions/s received, {gaps} dropped (told by gaps), "
        f"{summary.stats.reports_acked} acked by the gateway"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        config = GatewayConfig(
            listen=HostPort("127.0.0.1", 0), grpc_listen=HostPort("127.0.0.1", 0),
            data_dir=Path(data_dir), auth="insecure-accept-all", log_level="warning",
        )  # fmt: skip
        app = GatewayApp(config, auth=AcceptAllAuthBackend())
        async with anyio.create_task_group() as tasks:
            addresses: Addresses = await tasks.start(app.serve)
            fleet = Simulation(SimulationConfig(
                host=addresses.terminals.host, port=addresses.terminals.port,
                terminals=args.terminals, rate=0.2, count=None, duration=600.0, heartbeat=0.0,
                connect_rate=1000.0, phone_start=13_900_000_000,
            ))  # fmt: skip
            tasks.start_soon(fleet.run)
            phones = await wait_for_sessions(app, args.terminals)
            async with grpc.aio.insecure_channel(str(addresses.grpc)) as channel:
                stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
                await commands(stub, phones, args.commands, args.concurrency)
                fleet.stop()
                await stream(app, stub, addresses.terminals, args.terminals, args.reports)
            tasks.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=20)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--reports", type=int, default=200, help="per terminal, stream case")
    arguments = parser.parse_args()
    if not (1 <= arguments.terminals <= 1000 and 1 <= arguments.commands <= 100_000):
        parser.error("--terminals 1..1000 and --commands 1..100000 keep the run bounded")
    anyio.run(main, arguments)
