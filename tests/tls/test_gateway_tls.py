"""The gateway's terminals over TLS, end to end: ``GatewayApp`` with its TCP and TLS listeners,
the test PKI and OCSP responder (conftest), the simulator and scripted terminals over TLS, the
control plane over gRPC.

The TLS layer's own cases (each refusal reason, handshake deadline, responder policies, cache)
are in test_listener.py and test_ocsp.py; here the same stack runs behind the real edge.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.tls import TLSAttribute
from cryptography.hazmat.primitives import serialization

from clients.simulator.runner import Simulation, SimulationConfig
from clients.simulator.tls import TlsClientSettings
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.errors import ResultCode
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2019
from gateway.server.config import HostPort
from gateway.server.logs import LOGGER_NAME
from jt808.auth.v1 import auth_pb2
from jt808.gateway.v1 import commands_pb2 as pb
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.controlplane.harness import RunningApp, api_channel, read_items, wait_for_subscribers
from tests.controlplane.test_remote_auth import FakeAuthService, serving
from tests.server.terminal_client import DEVICE_NAME, TerminalClient
from tests.timeouts import HANG_GUARD

from .conftest import copy_files
from .gateway_harness import (
    RecordingBackend,
    answers_before_close,
    device,
    running_tls_app,
    tls_address,
    tls_terminal,
)
from .pki import PHONE, WRONG_PHONE, TestPki
from .test_simulator_tls import device_files

pytestmark = pytest.mark.anyio
PHONE_START = int(PHONE)


def simulation(address: HostPort, **settings: Any) -> SimulationConfig:
    """Terminals that log in and then report once a second until stopped."""
    defaults: dict[str, Any] = {
        "host": address.host, "port": address.port, "terminals": 1, "rate": 1.0, "count": None,
        "duration": HANG_GUARD, "heartbeat": 0.0, "ack_timeout": HANG_GUARD,
        "connect_timeout": HANG_GUARD, "connect_rate": 1000.0, "phone_start": PHONE_START,
    }  # fmt: skip
    return SimulationConfig(**{**defaults, **settings})


async def until(condition: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        while not condition():
            await anyio.sleep(0.01)


def sessions_of(app: RunningApp) -> dict[str, Any]:
    return {c.phone.lstrip("0"): c for c in app.gateway.sessions.all()}


def counted(app: RunningApp, metric: str, **labels: str) -> float:
    return app.gateway.metrics.registry.get_sample_value(f"{metric}_total", labels) or 0.0


# ---- one-way TLS ---------------------------------------------------------------------------


async def test_one_way_tls_terminals_get_what_tcp_terminals_get(
    tmp_path: Path, pki: TestPki
) -> None:
    """Register, authenticate, positions on StreamLocations, a command answered: over TLS and
    over TCP at once, one gateway."""
    async with running_tls_app(tmp_path, pki) as app, api_channel(app) as channel:
        stub = api_grpc.GatewayServiceStub(channel)
        call = stub.StreamLocations(api.StreamLocationsRequest())
        await wait_for_subscribers(app, 1)
        over_tls = Simulation(
            simulation(tls_address(app), terminals=2, tls=TlsClientSettings(ca=pki.root_pem))
        )
        over_tcp = Simulation(
            simulation(app.addresses.terminals, phone_start=PHONE_START + 100)
        )  # fmt: skip
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(over_tls.run)
            tasks.start_soon(over_tcp.run)
            await until(lambda: len(app.gateway.sessions) == 3)
            tls_phones = {str(PHONE_START), str(PHONE_START + 1)}
            seen: set[str] = set()
            with anyio.fail_after(HANG_GUARD):
                while not tls_phones <= seen:
                    [item] = await read_items(call, 1)
                    seen.add(item.location.phone.lstrip("0"))
            reply = await stub.SendCommand(
                api.SendCommandRequest(phone=PHONE, query_location=pb.QueryLocation()),
                timeout=HANG_GUARD,
            )
            listed = await stub.ListSessions(api.ListSessionsRequest(), timeout=HANG_GUARD)
            over_tls.stop()
            over_tcp.stop()
            tasks.cancel_scope.cancel()
        call.cancel()
    assert reply.reply_msg_id == 0x0201 and reply.HasField("location")
    versions = {s.phone.lstrip("0"): s.tls_version for s in listed.sessions}
    assert versions == {
        str(PHONE_START): "TLSv1.3", str(PHONE_START + 1): "TLSv1.3", str(PHONE_START + 100): "",
    }  # fmt: skip
    assert not any(s.HasField("certificate") for s in listed.sessions)  # one-way: none


@pytest.mark.parametrize("server", ["server_rsa"])
async def test_an_rsa_server_certificate_serves_terminals_too(
    tmp_path: Path, pki: TestPki, server: str
) -> None:
    async with running_tls_app(tmp_path, pki, server=server) as app:
        async with tls_terminal(tls_address(app), device(pki, None), phone=PHONE) as terminal:
            await terminal.log_in()
        assert counted(app, "jt808_tls_handshakes", outcome="ok") == 1


async def test_plain_bytes_on_the_tls_port_cost_only_that_connection(
    tmp_path: Path, pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    async with running_tls_app(tmp_path, pki) as app:
        async with TerminalClient.connect(tls_address(app), V2019) as plain:
            await plain.send(plain.terminal.registration())
            assert await plain.closed() == []
        async with tls_terminal(tls_address(app), device(pki, None), phone=PHONE) as terminal:
            await terminal.log_in()
        assert counted(app, "jt808_tls_handshakes", outcome="not_tls") == 1
    assert any(getattr(r, "reason", None) == "not_tls" for r in caplog.records)


# ---- mutual TLS ----------------------------------------------------------------------------


async def test_mutual_tls_identity_shows_in_sessions_and_goes_to_the_auth_service(
    tmp_path: Path, pki: TestPki
) -> None:
    backend = RecordingBackend()
    async with (
        running_tls_app(tmp_path, pki, mutual=True, backend=backend) as app,
        api_channel(app) as channel,
    ):
        stub = api_grpc.GatewayServiceStub(channel)
        async with tls_terminal(tls_address(app), device(pki, "device"), phone=PHONE) as terminal:
            await terminal.log_in()
            got = await stub.GetSession(api.GetSessionRequest(phone=PHONE), timeout=HANG_GUARD)
            listed = await stub.ListSessions(api.ListSessionsRequest(), timeout=HANG_GUARD)
    issued = pki.issued["device"].certificate
    certificate = got.session.certificate
    assert certificate.subject == f"CN={PHONE}"
    assert certificate.serial_number == f"{issued.serial_number:X}"
    assert len(certificate.sha256_fingerprint) == 64
    assert certificate.issuer == pki.device_ca.certificate.subject.rfc4514_string()
    assert listed.sessions[0].certificate == certificate
    [registration] = backend.registrations
    [authentication] = backend.authentications
    for request in (registration, authentication):
        assert request.certificate is not None
        assert request.certificate.serial_number == certificate.serial_number
        assert request.certificate.sha256_fingerprint == certificate.sha256_fingerprint


async def test_a_device_auth_service_gets_the_certificate_over_grpc(
    tmp_path: Path, pki: TestPki
) -> None:
    """``--auth remote``: Register and Authenticate carry ``certificate`` (jt808.auth.v1)."""
    service = FakeAuthService()
    async with (
        serving(service) as auth_service,
        running_tls_app(
            tmp_path,
            pki,
            mutual=True,
            auth="remote",
            auth_endpoint=HostPort("127.0.0.1", auth_service.port),
        ) as app,
        tls_terminal(tls_address(app), device(pki, "device"), phone=PHONE) as terminal,
    ):
        await terminal.log_in()
    register, authenticate = (call.request for call in service.calls[:2])
    serial = f"{pki.serial('device'):X}"
    assert isinstance(register, auth_pb2.RegisterRequest)
    assert isinstance(authenticate, auth_pb2.AuthenticateRequest)
    for request in (register, authenticate):
        assert request.certificate.subject == f"CN={PHONE}"
        assert request.certificate.serial_number == serial
    assert register.phone.lstrip("0") == PHONE.lstrip("0")  # the existing fields as before


async def test_simulated_terminals_present_their_own_certificates(
    tmp_path: Path, pki: TestPki
) -> None:
    """``jt808 simulate --tls-cert 'dir/{phone}.pem'``: each terminal its certificate."""
    phones = [f"0{PHONE_START + i}" for i in range(3)]
    client = device_files(pki, tmp_path / "devices", phones)
    async with running_tls_app(tmp_path, pki, mutual=True, tls_ocsp="off") as app:
        run = Simulation(simulation(tls_address(app), terminals=3, tls=client))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run.run)
            await until(lambda: len(app.gateway.sessions) == 3)
            subjects = {
                c.tls_peer.certificate.subject
                for c in app.gateway.sessions.all()
                if c.tls_peer is not None and c.tls_peer.certificate is not None
            }
            run.stop()
            tasks.cancel_scope.cancel()
    assert subjects == {f"CN={phone}" for phone in phones}


async def test_a_registration_for_another_phone_is_refused_and_logged(
    tmp_path: Path, pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    backend = RecordingBackend()
    async with running_tls_app(tmp_path, pki, mutual=True, backend=backend) as app:
        context = device(pki, "wrong_phone")  # its certificate says WRONG_PHONE
        async with tls_terminal(tls_address(app), context, phone=PHONE) as terminal:
            answer = await terminal.register()
            assert answer.result == RegisterResult.TERMINAL_NOT_FOUND  # 0x8100 result 4
            assert not answer.auth_code
        assert counted(app, "jt808_tls_identity_mismatches", msg_id="0x0100") == 1
    assert backend.registrations == []  # the auth service is not asked
    [record] = [r for r in caplog.records if getattr(r, "msg_id", None) == "0x0100"]
    reason: str = record.reason  # type: ignore[attr-defined]
    assert "'013900000000' is not phone 00000000013800000000" in reason
    assert any(getattr(r, "result", None) == "CERTIFICATE_MISMATCH" for r in caplog.records)


async def test_an_authentication_for_another_phone_is_refused(tmp_path: Path, pki: TestPki) -> None:
    backend = RecordingBackend()
    async with running_tls_app(tmp_path, pki, mutual=True, backend=backend) as app:
        # Authenticating straight away (a code remembered from before) as a phone the
        # certificate does not name: 0x8001 result 1.
        context = device(pki, "device")
        async with tls_terminal(tls_address(app), context, phone=WRONG_PHONE) as terminal:
            assert await terminal.authenticate("remembered") is ResultCode.FAILURE
        assert counted(app, "jt808_tls_identity_mismatches", msg_id="0x0102") == 1
        assert len(app.gateway.sessions) == 0
    assert backend.authentications == []


async def test_leading_zeros_do_not_matter_to_the_identity(tmp_path: Path, pki: TestPki) -> None:
    async with running_tls_app(tmp_path, pki, mutual=True) as app:
        context = device(pki, "device")  # CN=013800000000
        async with tls_terminal(
            tls_address(app), context, phone=PHONE.lstrip("0").zfill(20)
        ) as terminal:
            await terminal.log_in()
        assert counted(app, "jt808_tls_identity_mismatches", msg_id="0x0100") == 0


async def test_the_device_name_rule_checks_the_registration(tmp_path: Path, pki: TestPki) -> None:
    named = pki.device_ca.issue_client(DEVICE_NAME).write(tmp_path, "named")
    context = device(pki, None)
    context.load_cert_chain(*named)
    async with running_tls_app(
        tmp_path, pki, mutual=True, tls_identity="cn=device_name", tls_ocsp="off"
    ) as app:
        async with tls_terminal(tls_address(app), context, phone=PHONE) as terminal:
            await terminal.log_in()  # the scripted terminal registers as DEVICE_NAME
        async with tls_terminal(tls_address(app), context, phone=PHONE) as terminal:
            answer = await terminal.register(terminal_id="T999999")
            assert answer.result == RegisterResult.TERMINAL_NOT_FOUND


async def test_the_san_rule_reads_the_phone_from_a_dns_name(tmp_path: Path, pki: TestPki) -> None:
    # "san_device": subject CN "fleet device", DNS SAN = PHONE.
    async with running_tls_app(tmp_path, pki, mutual=True, tls_identity="san=phone") as app:
        context = device(pki, "san_device")
        async with tls_terminal(tls_address(app), context, phone=PHONE) as terminal:
            await terminal.log_in()
        async with tls_terminal(tls_address(app), context, phone=WRONG_PHONE) as terminal:
            answer = await terminal.register()
            assert answer.result == RegisterResult.TERMINAL_NOT_FOUND
        assert counted(app, "jt808_tls_identity_mismatches", msg_id="0x0100") == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (None, "no_certificate"),
        ("expired", "certificate_expired"),
        ("other_ca", "certificate_untrusted"),
        ("revoked", "certificate_revoked"),
    ],
)
async def test_mutual_tls_refuses_a_bad_device_before_it_says_anything(
    tmp_path: Path, pki: TestPki, name: str | None, reason: str
) -> None:
    async with running_tls_app(tmp_path, pki, mutual=True) as app:
        assert await answers_before_close(tls_address(app), device(pki, name), PHONE) == []
        await until(lambda: counted(app, "jt808_tls_refused", reason=reason)
                    + counted(app, "jt808_tls_handshakes", outcome=reason))  # fmt: skip
        assert len(app.gateway.connections) == 0
        # The listener goes on: the good device gets in.
        async with tls_terminal(tls_address(app), device(pki, "device"), phone=PHONE) as good:
            await good.log_in()


# ---- reload and RSA ------------------------------------------------------------------------


async def test_sighup_reloads_the_certificate_and_live_sessions_keep_running(
    tmp_path: Path, pki: TestPki
) -> None:
    cert, key = copy_files(pki, "server", tmp_path / "tls")
    async with running_tls_app(tmp_path, pki, tls_cert=cert, tls_key=key) as app:
        address = tls_address(app)
        async with tls_terminal(address, device(pki, None), phone=PHONE) as live:
            await live.log_in()
            served_before = live.stream.extra(TLSAttribute.peer_certificate_binary)
            renewed = pki.files["server_rsa"]
            cert.write_bytes(renewed.cert.read_bytes())
            key.write_bytes(renewed.key.read_bytes())
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: counted(app, "jt808_tls_reloads", outcome="ok") == 1)
            async with tls_terminal(address, device(pki, None), phone=WRONG_PHONE) as new:
                await new.log_in()
                served_after = new.stream.extra(TLSAttribute.peer_certificate_binary)
            # The live session was not touched: it still reports and is answered.
            await live.send(live.terminal.location())
            await live.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.SUCCESS)
    leaf = pki.issued["server_rsa"].certificate.public_bytes(serialization.Encoding.DER)
    assert served_before != leaf
    assert served_after == leaf


async def test_rsa_round_trip_through_the_gateway(tmp_path: Path, pki: TestPki) -> None:
    """Terminals that exchange keys (0x0A00/0x8A00) and encrypt: their encrypted positions
    reach StreamLocations, and a command to them goes out encrypted and is answered."""
    async with running_tls_app(tmp_path, pki) as app, api_channel(app) as channel:
        stub = api_grpc.GatewayServiceStub(channel)
        call = stub.StreamLocations(api.StreamLocationsRequest())
        await wait_for_subscribers(app, 1)
        client = TlsClientSettings(ca=pki.root_pem)
        run = Simulation(simulation(tls_address(app), rsa=True, tls=client))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run.run)
            await until(lambda: (c := app.gateway.sessions.get(PHONE)) is not None
                        and c.session.terminal_rsa_key is not None)  # fmt: skip
            [item] = await read_items(call, 1)
            reply = await stub.SendCommand(
                api.SendCommandRequest(
                    phone=PHONE, query_parameters=pb.QueryParameters(ids=[0x0001])
                ),
                timeout=HANG_GUARD,
            )
            run.stop()
            tasks.cancel_scope.cancel()
        call.cancel()
    assert item.location.phone.lstrip("0") == PHONE.lstrip("0")
    assert [p.id for p in reply.parameters.parameters] == [0x0001]
    terminal = run.terminals[0]
    assert terminal.stats.encrypted_received >= 1  # the command came encrypted
    assert terminal.encrypting
