"""The simulator over TLS against a plain ``ssl`` server: what it presents and verifies. Against
the gateway (one-way and mutual TLS, per-terminal certificates, RSA): test_gateway_tls.py."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import anyio
import pytest
from cryptography import x509

from clients.cli import main
from clients.simulator.runner import Simulation, SimulationConfig, SimulationSummary
from clients.simulator.tls import TlsClientSettings
from gateway.server.config import HostPort

from .harness import GUARD
from .pki import PHONE, TestPki

pytestmark = pytest.mark.anyio
PHONE_START = int(PHONE)


def simulation(address: HostPort, **settings: object) -> SimulationConfig:
    defaults: dict[str, object] = {
        "host": address.host, "port": address.port, "rate": 0.0, "count": 5,
        "heartbeat": 0.0, "ack_timeout": 5.0, "connect_timeout": 5.0, "connect_rate": 1000.0,
        "phone_start": PHONE_START, "terminals": 1,
    }  # fmt: skip
    return SimulationConfig(**{**defaults, **settings})  # type: ignore[arg-type]


async def simulate(config: SimulationConfig) -> SimulationSummary:
    with anyio.fail_after(GUARD * 2):
        return await Simulation(config).run()


def device_files(pki: TestPki, directory: Path, phones: list[str]) -> TlsClientSettings:
    """One certificate per phone, named by phone, as ``jt808 pki device`` writes them."""
    for phone in phones:
        pki.device_ca.issue_client(phone).write(directory, phone)
    return TlsClientSettings(
        ca=pki.root_pem, cert=str(directory / "{phone}.pem"), key=str(directory / "{phone}.key")
    )


# ---- against a plain ssl server ------------------------------------------------------------


async def test_the_simulator_presents_its_certificate_and_checks_the_servers_name(
    pki: TestPki, tmp_path: Path
) -> None:
    seen: list[bytes | None] = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki.files["server"].cert, pki.files["server"].key)
    server_context.verify_mode = ssl.CERT_REQUIRED
    server_context.load_verify_locations(pki.root_pem)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        seen.append(ssl_object.getpeercert(binary_form=True))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    address = HostPort("127.0.0.1", port)
    try:
        tls = device_files(pki, tmp_path, [PHONE])
        summary = await simulate(simulation(address, tls=tls, count=1, reconnect=False))
        [der] = seen
        assert der is not None
        assert x509.load_der_x509_certificate(der).subject.rfc4514_string() == f"CN={PHONE}"
        assert "tls_handshake_failed" not in summary.stats.errors
        # A name the server's certificate does not carry fails the handshake.
        wrong_name = TlsClientSettings(ca=pki.root_pem, server_name="gateway.example")
        summary = await simulate(simulation(address, tls=wrong_name, count=1))
        assert summary.stats.errors.get("tls_handshake_failed") == 1
        # So does a CA that did not issue it.
        other = TlsClientSettings(ca=pki.other_root_pem)
        summary = await simulate(simulation(address, tls=other, count=1))
        assert summary.stats.errors.get("tls_handshake_failed") == 1
    finally:
        server.close()
        await server.wait_closed()


def test_jt808_simulate_refuses_tls_files_without_tls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--tls-cert", "a.pem", "--tls-key", "a.key"]) == 2
    assert capsys.readouterr().err == "jt808 simulate: --tls-cert is only used with --tls\n"
    assert main(["simulate", "--tls", "--tls-cert", "a.pem"]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
