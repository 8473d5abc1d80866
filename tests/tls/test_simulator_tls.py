"""The simulator over TLS: against a plain ``ssl`` server (what it presents and verifies), and
against a JT/T 808 platform behind ``TlsListener`` (tests/tls/platform.py): one-way TLS, mutual
TLS with per-terminal certificates and the identity rule, and the RSA round trip with
terminals that encrypt."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import anyio
import pytest
from cryptography import x509

from clients.cli import main
from clients.simulator.runner import Simulation, SimulationConfig, SimulationSummary
from clients.simulator.tls import TlsClientSettings
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.bodies.parameters import QueryParameters, QueryParametersResponse
from gateway.protocol.encryption import RsaKeyPair
from gateway.protocol.header import RSA_ENCRYPTION
from gateway.server.config import HostPort
from gateway.tls.ocsp import OcspPolicy
from gateway.tls.server import TlsServer

from .harness import GUARD, settings_for
from .pki import PHONE, TestPki
from .platform import running_platform

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


# ---- against a JT/T 808 platform over TLS --------------------------------------------------


@pytest.mark.parametrize("server", ["server", "server_rsa"])
async def test_terminals_register_and_report_over_one_way_tls(pki: TestPki, server: str) -> None:
    tls = TlsServer(settings_for(pki, server=server))
    async with running_platform(tls) as platform:
        summary = await simulate(
            simulation(platform.address, terminals=3, tls=TlsClientSettings(ca=pki.root_pem))
        )
    assert summary.ok, summary.text()
    assert summary.stats.reports_acked == 15
    assert len([m for m in platform.delivered() if isinstance(m.body, LocationReport)]) == 15


async def test_mutual_tls_lets_in_terminals_whose_certificate_names_their_phone(
    pki: TestPki, tmp_path: Path
) -> None:
    phones = [f"0{PHONE_START + i}" for i in range(3)]
    tls_client = device_files(pki, tmp_path, phones)
    tls = TlsServer(settings_for(pki, client_ca=pki.root_pem, ocsp_policy=OcspPolicy.OFF))
    async with running_platform(tls) as platform:
        summary = await simulate(simulation(platform.address, terminals=3, tls=tls_client))
    assert summary.ok, summary.text()
    assert {c.peer.certificate.common_names[0] for c in platform.connections  # type: ignore[union-attr]
            } == set(phones)  # fmt: skip


async def test_a_terminal_whose_certificate_names_another_phone_is_refused(
    pki: TestPki, tmp_path: Path
) -> None:
    # The certificate under this terminal's name is the one issued for WRONG_PHONE.
    (tmp_path / f"{PHONE}.pem").write_bytes(pki.files["wrong_phone"].cert.read_bytes())
    (tmp_path / f"{PHONE}.key").write_bytes(pki.files["wrong_phone"].key.read_bytes())
    tls_client = TlsClientSettings(
        ca=pki.root_pem, cert=str(tmp_path / "{phone}.pem"), key=str(tmp_path / "{phone}.key")
    )
    tls = TlsServer(settings_for(pki, client_ca=pki.root_pem, ocsp_policy=OcspPolicy.OFF))
    async with running_platform(tls) as platform:
        summary = await simulate(simulation(platform.address, tls=tls_client, count=1))
    assert not summary.ok
    assert summary.stats.authenticated == 0
    assert platform.refusals() and "is not phone 013800000000" in platform.refusals()[0]
    assert tls.metrics.registry.get_sample_value(
        "jt808_tls_identity_mismatches_total", {"msg_id": "0x0100"}
    )


async def test_rsa_round_trip_with_terminals_that_encrypt(pki: TestPki) -> None:
    platform_key = RsaKeyPair.generate()
    tls = TlsServer(settings_for(pki))
    client = TlsClientSettings(ca=pki.root_pem)
    async with running_platform(tls, rsa=platform_key) as platform:
        config = simulation(platform.address, terminals=2, count=8, rsa=True, tls=client)
        summary = await simulate(config)
        sessions = [c.session for c in platform.connections]
    assert summary.ok, summary.text()
    assert all(s.terminal_rsa_key is not None for s in sessions)
    reports = [m for m in platform.delivered() if isinstance(m.body, LocationReport)]
    # Reporting starts once keys are exchanged: every report was encrypted, and decrypted.
    assert len(reports) == 16
    assert all(m.header.encryption == RSA_ENCRYPTION for m in reports)


async def test_an_encrypted_command_is_answered_by_a_terminal_that_encrypts(pki: TestPki) -> None:
    tls = TlsServer(settings_for(pki))
    config_changes = {"rate": 1.0, "count": None, "duration": 30.0, "rsa": True}
    async with running_platform(tls, rsa=RsaKeyPair.generate()) as platform:
        run = Simulation(simulation(platform.address, tls=TlsClientSettings(ca=pki.root_pem),
                                    **config_changes))  # fmt: skip
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run.run)
            with anyio.fail_after(GUARD):
                while not (connections := platform.connections) or not (
                    connections[0].session.terminal_rsa_key
                ):
                    await anyio.sleep(0.01)
                connection = connections[0]
                query = QueryParameters(ids=[0x0001, 0x0013])
                command = connection.session.send_command(query, time.monotonic(), timeout=10)
                connection.flush()
                while not connection.answers:
                    await anyio.sleep(0.01)
            run.stop()
            tasks.cancel_scope.cancel()
    [answer] = connection.answers
    assert answer.command_id == command.command_id
    assert isinstance(answer.reply.body, QueryParametersResponse)
    assert {p.id for p in answer.reply.body.parameters} == {0x0001, 0x0013}
    assert answer.reply.header.encryption == RSA_ENCRYPTION  # the reply came encrypted too
    assert run.terminals[0].stats.encrypted_received == 1  # and so did the command


def test_jt808_simulate_refuses_tls_files_without_tls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--tls-cert", "a.pem", "--tls-key", "a.key"]) == 2
    assert capsys.readouterr().err == "jt808 simulate: --tls-cert is only used with --tls\n"
    assert main(["simulate", "--tls", "--tls-cert", "a.pem"]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
