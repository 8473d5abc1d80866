"""TLS and RSA figures: handshake rate of the terminal TLS listener, and RSA body encryption.

Run with ``python -m benchmarks.tls [--connections N] [--concurrency N] [--loop asyncio|uvloop]``.
One process holds the listener (``gateway.tls.TlsListener`` in front of a one-byte echo) and the
clients on one event loop, on loopback, with a test PKI made for the run; the figures therefore
bound the listener's cost from above (the clients' half of each handshake is on the same core).
The throughput of TLS terminals beside TCP ones needs the gateway's I/O edge and is measured
with it. Nothing here asserts a speed; figures go to docs/benchmarks.md.

Cases
- handshakes: ``--connections`` connections, ``--concurrency`` at a time, each a full handshake
  (TLS 1.3, no resumption), one byte echoed, closed: one-way TLS with an ECDSA P-256 and an RSA
  2048 certificate, and mutual TLS with a device certificate (OCSP off: the responder is the
  network's cost, and answers are cached).
- RSA body encryption: encrypt and decrypt one 117-byte block (one 0x0200 with items).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import cast

import anyio

from clients.pki import CertificateAuthority
from gateway.protocol.encryption import PLAIN_BLOCK, RsaKeyPair
from gateway.server.config import HostPort
from gateway.tls.context import ServerTlsFiles, client_context
from gateway.tls.listener import TlsListener
from gateway.tls.ocsp import OcspPolicy
from gateway.tls.server import TlsPeer, TlsServer, TlsSettings


class Echo(asyncio.Protocol):
    def __init__(self, peer: TlsPeer) -> None:
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


async def one_connection(address: HostPort, context: ssl.SSLContext) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(
        address.host, address.port, ssl=context, server_hostname="localhost"
    )
    writer.write(b"x")
    await reader.readexactly(1)
    elapsed = time.perf_counter() - started
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()
    return elapsed


async def handshakes(
    label: str, settings: TlsSettings, client: ssl.SSLContext, count: int, concurrency: int
) -> None:
    tls = TlsServer(settings)
    listener = TlsListener(tls, HostPort("127.0.0.1", 0), Echo, max_handshakes=concurrency * 2)
    latencies: list[float] = []
    async with anyio.create_task_group() as tasks:
        address = await tasks.start(listener.serve)
        slots = anyio.Semaphore(concurrency)

        async def run_one() -> None:
            async with slots:
                latencies.append(await one_connection(address, client))

        started = time.perf_counter()
        async with anyio.create_task_group() as clients:
            for _ in range(count):
                clients.start_soon(run_one)
        elapsed = time.perf_counter() - started
        tasks.cancel_scope.cancel()
    ok = tls.metrics.registry.get_sample_value("jt808_tls_handshakes_total", {"outcome": "ok"})
    latencies.sort()
    print(
        f"{label}: {count / elapsed:,.0f} handshakes/s ({count} connections, {concurrency} at a "
        f"time, {int(ok or 0)} accepted), connect+echo p50 {statistics.median(latencies) * 1e3:.1f}"
        f" ms, p99 {latencies[int(0.99 * (len(latencies) - 1))] * 1e3:.1f} ms"
    )


def rsa_figures(rounds: int) -> None:
    pair = RsaKeyPair.generate()
    block = bytes(range(PLAIN_BLOCK))
    started = time.perf_counter()
    for _ in range(rounds):
        cipher = pair.public.encrypt(block)
    encrypt = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        pair.decrypt(cipher)
    decrypt = (time.perf_counter() - started) / rounds
    print(
        f"RSA-1024 body block (117 bytes): encrypt {encrypt * 1e6:.0f} µs "
        f"({1 / encrypt:,.0f}/s), decrypt with the padding check {decrypt * 1e6:.0f} µs "
        f"({1 / decrypt:,.0f}/s)"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        root = CertificateAuthority.root("bench root")
        ec_cert, ec_key = root.issue_server().write(directory, "server-ec")
        rsa_cert, rsa_key = root.issue_server(key_type="rsa").write(directory, "server-rsa")
        device_cert, device_key = root.issue_client("013800000000").write(directory, "device")
        ca = directory / "ca.pem"
        ca.write_bytes(root.as_issued().chain_pem())
        one_way = client_context(ca=ca)
        mutual = client_context(ca=ca, cert=device_cert, key=device_key)
        for context in (one_way, mutual):
            context.options |= ssl.OP_NO_TICKET  # every connection a full handshake
        cases = [
            ("one-way TLS, ECDSA P-256", TlsSettings(ServerTlsFiles(ec_cert, ec_key)), one_way),
            ("one-way TLS, RSA 2048", TlsSettings(ServerTlsFiles(rsa_cert, rsa_key)), one_way),
            (
                "mutual TLS, ECDSA P-256 both sides",
                TlsSettings(ServerTlsFiles(ec_cert, ec_key, ca), ocsp_policy=OcspPolicy.OFF),
                mutual,
            ),
        ]
        for label, settings, client in cases:
            await handshakes(label, settings, client, args.connections, args.concurrency)
    rsa_figures(args.rsa_rounds)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rsa-rounds", type=int, default=500)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    args = parser.parse_args()
    options = {"use_uvloop": True} if args.loop == "uvloop" else {}
    print(f"event loop: {args.loop}")
    anyio.run(main, args, backend="asyncio", backend_options=options)


if __name__ == "__main__":
    cli()
