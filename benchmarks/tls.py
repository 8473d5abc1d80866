"""TLS figures of the gateway: the handshake rate of its TLS listener, the throughput of TLS
terminals beside TCP ones, and RSA body encryption.

Run with ``python -m benchmarks.tls [--handshakes N] [--concurrency N] [--terminals N]
[--reports N]``. The gateway is ``jt808 serve`` in a process of its own (uvloop, the compiled
core when ``make native`` was run) with both listeners; the clients run in this process, on the
same machine: the figures are of the whole stack and bound the gateway's cost from above.
A test PKI is made for the run. Nothing here asserts a speed; the figures (one JSON object per
case, then a table) go to docs/benchmarks.md.

Cases, each against a fresh gateway with its TLS listener on one kind of certificate
- handshakes: ``--handshakes`` connections, ``--concurrency`` at a time, each connected (a full
  TLS 1.3 handshake: client tickets off, so nothing is resumed), a 0x0002 sent and its 0x8001
  read, closed; over TCP to the same gateway for comparison.
- throughput: ``--terminals`` simulated terminals log in and send ``--reports`` 0x0200 each as
  fast as acknowledgements allow (window 8): over TCP, then over TLS, to the same gateway.
- RSA body encryption: encrypt and decrypt one 117-byte block (one 0x0200 with items).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from clients.pki import CertificateAuthority, KeyType
from clients.simulator.runner import Simulation, SimulationConfig
from clients.simulator.tls import TlsClientSettings
from gateway.protocol.bodies.general import Heartbeat
from gateway.protocol.encryption import PLAIN_BLOCK, RsaKeyPair
from gateway.protocol.header import Header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import encode
from gateway.server.config import HostPort
from gateway.tls.context import client_context

PHONE_START: Final = 13_800_000_000
#: A 0x0002 from a terminal that has not logged in: accepted and answered 0x8001 (17 bytes).
HEARTBEAT: Final = encode(Header(MessageId.HEARTBEAT, "013800000000", 1), Heartbeat())
START_TIMEOUT: Final = 30.0
RUN_TIMEOUT: Final = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Pki:
    directory: Path
    root: CertificateAuthority
    ca: Path

    @classmethod
    def make(cls, directory: Path) -> Pki:
        root = CertificateAuthority.root("bench root")
        ca = directory / "ca.pem"
        ca.write_bytes(root.as_issued().chain_pem())
        return cls(directory, root, ca)

    def server(self, key_type: KeyType) -> tuple[Path, Path]:
        return self.root.issue_server(key_type=key_type).write(self.directory, f"server-{key_type}")

    def devices(self, count: int) -> TlsClientSettings:
        """One certificate per simulated terminal (CN = its phone, 12 digits as in 2013)."""
        folder = self.directory / "devices"
        for index in range(count):
            phone = f"{PHONE_START + index:012d}"
            self.root.issue_client(phone).write(folder, phone)
        return TlsClientSettings(
            ca=self.ca, cert=str(folder / "{phone}.pem"), key=str(folder / "{phone}.key")
        )


@dataclass(frozen=True)
class Gateway:
    tcp: HostPort
    tls: HostPort


@asynccontextmanager
async def gateway_process(
    data_dir: Path, cert: Path, key: Path, client_ca: Path | None
) -> AsyncIterator[Gateway]:
    """``jt808 serve`` with a TCP and a TLS listener (OCSP off: the responder's cost is the
    network's, and answers are cached), stopped with SIGTERM at the end."""
    gateway = Gateway(HostPort("127.0.0.1", free_port()), HostPort("127.0.0.1", free_port()))
    command = [
        sys.executable, "-m", "clients.cli", "serve", "--auth", "insecure-accept-all",
        "--listen", str(gateway.tcp), "--tls-listen", str(gateway.tls),
        "--grpc-listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data_dir),
        "--tls-cert", str(cert), "--tls-key", str(key), "--log-level", "error",
        "--max-connections", "20000", "--tls-max-handshakes", "4096",
    ]  # fmt: skip
    if client_ca is not None:
        command += ["--tls-client-ca", str(client_ca), "--tls-ocsp", "off"]
    process = await anyio.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None
    )
    try:
        with anyio.fail_after(START_TIMEOUT):
            for address in (gateway.tcp, gateway.tls):
                while True:
                    try:
                        await (await anyio.connect_tcp(address.host, address.port)).aclose()
                        break
                    except OSError:
                        await anyio.sleep(0.05)
        yield gateway
    finally:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
        await process.aclose()


async def one_exchange(address: HostPort, context: ssl.SSLContext | None) -> float:
    """Connect (and handshake), send 0x0002, read its 0x8001, close: seconds taken."""
    started = time.perf_counter()
    stream: anyio.abc.ByteStream = await anyio.connect_tcp(address.host, address.port)
    if context is not None:
        stream = await TLSStream.wrap(
            stream, ssl_context=context, hostname="localhost", standard_compatible=False
        )
    try:
        await stream.send(HEARTBEAT)
        received = b""
        while len(received) < 17:  # 0x8001 to a 12-digit phone, no escapes
            received += await stream.receive()
        return time.perf_counter() - started
    finally:
        with contextlib.suppress(OSError, anyio.BrokenResourceError):
            await stream.aclose()


async def handshakes(
    label: str, address: HostPort, context: ssl.SSLContext | None, count: int, concurrency: int
) -> dict[str, object]:
    latencies: list[float] = []
    failures = 0
    slots = anyio.Semaphore(concurrency)

    async def run_one() -> None:
        nonlocal failures
        async with slots:
            try:
                latencies.append(await one_exchange(address, context))
            except (OSError, ssl.SSLError, anyio.EndOfStream, anyio.BrokenResourceError):
                failures += 1

    started = time.perf_counter()
    with anyio.fail_after(RUN_TIMEOUT):
        async with anyio.create_task_group() as tasks:
            for _ in range(count):
                tasks.start_soon(run_one)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "case": label, "connections": count, "concurrency": concurrency, "failed": failures,
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1e3, 1),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1e3, 1),
    }  # fmt: skip


async def throughput(
    label: str, address: HostPort, tls: TlsClientSettings | None, terminals: int, reports: int
) -> dict[str, object]:
    config = SimulationConfig(
        host=address.host, port=address.port, terminals=terminals, rate=0.0, window=8,
        count=reports, heartbeat=0.0, connect_rate=2000.0, connect_timeout=RUN_TIMEOUT,
        ack_timeout=RUN_TIMEOUT, phone_start=PHONE_START, tls=tls,
    )  # fmt: skip
    with anyio.fail_after(RUN_TIMEOUT * 2):
        summary = await Simulation(config).run()
    latency = summary.stats.latency.summary_ms()
    return {
        "case": label, "terminals": terminals, "reports": reports, "ok": summary.ok,
        "reports_acked": summary.stats.reports_acked, "per_second": round(summary.throughput, 1),
        "p50_ms": round(latency["p50"], 1), "p99_ms": round(latency["p99"], 1),
    }  # fmt: skip


def rsa_figures(rounds: int) -> dict[str, object]:
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
    return {
        "case": "RSA-1024 body block (117 bytes)",
        "encrypt_us": round(encrypt * 1e6), "decrypt_us": round(decrypt * 1e6),
    }  # fmt: skip


async def main(args: argparse.Namespace) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []

    def record(result: dict[str, object]) -> None:
        print(json.dumps(result), flush=True)
        results.append(result)

    with tempfile.TemporaryDirectory() as scratch:
        pki = Pki.make(Path(scratch))
        one_way = client_context(ca=pki.ca)
        devices = pki.devices(args.terminals)
        device_cert, device_key = devices.files_for(f"{PHONE_START:012d}")  # type: ignore[misc]
        mutual = client_context(ca=pki.ca, cert=device_cert, key=device_key)
        for context in (one_way, mutual):
            context.options |= ssl.OP_NO_TICKET  # every connection a full handshake
        cases = [
            ("one-way TLS, ECDSA P-256", pki.server("ec"), None, one_way),
            ("one-way TLS, RSA 2048", pki.server("rsa"), None, one_way),
            ("mutual TLS, ECDSA P-256 both sides", pki.server("ec"), pki.ca, mutual),
        ]
        for number, (label, (cert, key), client_ca, context) in enumerate(cases):
            data = Path(scratch) / f"data-{number}"
            async with gateway_process(data, cert, key, client_ca) as gateway:
                if number == 0:
                    record(await handshakes("TCP (no TLS)", gateway.tcp, None,
                                            args.handshakes, args.concurrency))  # fmt: skip
                record(await handshakes(label, gateway.tls, context, args.handshakes,
                                        args.concurrency))  # fmt: skip
                if number == 0:
                    record(await throughput("TCP terminals", gateway.tcp, None,
                                            args.terminals, args.reports))  # fmt: skip
                    tls = TlsClientSettings(ca=pki.ca)
                    record(await throughput(f"TLS terminals ({label})", gateway.tls, tls,
                                            args.terminals, args.reports))  # fmt: skip
                if client_ca is not None:
                    record(await throughput(f"TLS terminals ({label})", gateway.tls, devices,
                                            args.terminals, args.reports))  # fmt: skip
    record(rsa_figures(args.rsa_rounds))
    return results


def table(results: list[dict[str, object]]) -> str:
    lines = ["| case | per second | p50 / p99 ms | notes |", "|---|---|---|---|"]
    for result in results:
        if "connections" in result:
            notes = f"{result['connections']} connections, {result['concurrency']} at a time"
            notes += f", {result['failed']} failed" if result["failed"] else ""
            lines.append(f"| connections: {result['case']} | {result['per_second']:,} | "
                         f"{result['p50_ms']} / {result['p99_ms']} | {notes} |")  # fmt: skip
        elif "terminals" in result:
            notes = f"{result['terminals']} terminals x {result['reports']} reports, window 8"
            notes += "" if result["ok"] else " (NOT all acknowledged)"
            lines.append(f"| reports: {result['case']} | {result['per_second']:,} | "
                         f"{result['p50_ms']} / {result['p99_ms']} (ack) | {notes} |")  # fmt: skip
        else:
            lines.append(f"| {result['case']} | | | encrypt {result['encrypt_us']} µs, decrypt "
                         f"{result['decrypt_us']} µs |")  # fmt: skip
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--handshakes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--terminals", type=int, default=100)
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--rsa-rounds", type=int, default=500)
    args = parser.parse_args()
    results = anyio.run(main, args, backend="asyncio", backend_options={"use_uvloop": True})
    print(table(results))


if __name__ == "__main__":
    cli()
