"""The TLS listener over real sockets, on asyncio and uvloop: one-way and mutual TLS, every way a
device is refused (each logged with its reason and counted), the handshake deadline, OCSP
policies, limits, and that no byte reaches the edge before the checks are done."""

from __future__ import annotations

import asyncio
import logging
import ssl

import anyio
import pytest

from gateway.tls.ocsp import OcspPolicy
from gateway.tls.server import RefusalReason

from .harness import GUARD, device_context, echo, open_echo, running_listener, settings_for
from .ocsp_responder import OcspResponder
from .pki import PHONE, TestPki

pytestmark = pytest.mark.anyio
CLOSED_PORT_URL = "http://127.0.0.1:1/ocsp"


def refusal_logged(caplog: pytest.LogCaptureFixture, reason: RefusalReason) -> bool:
    return any(getattr(r, "reason", None) == reason.value for r in caplog.records)


# ---- one-way TLS ---------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["server", "server_rsa"])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_one_way_tls_serves_terminals_with_ecdsa_and_rsa_certificates(
    pki: TestPki, server: str, version: ssl.TLSVersion
) -> None:
    async with running_listener(settings_for(pki, server=server)) as running:
        context = device_context(pki, None, maximum_version=version)
        assert await echo(running.address, context, b"7e000200") == b"7e000200"
        (protocol,) = running.protocols
        assert protocol.peer.certificate is None
        assert protocol.peer.tls_version == {
            ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"
        }[version]  # fmt: skip
        assert protocol.peer.remote_address.startswith("127.0.0.1:")
        assert running.count("jt808_tls_handshakes", outcome="ok") == 1


async def test_plain_jt808_bytes_on_the_tls_port_cost_only_that_connection(
    pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jt808")
    async with running_listener(settings_for(pki)) as running:
        with anyio.fail_after(GUARD):
            reader, writer = await asyncio.open_connection("127.0.0.1", running.address.port)
            writer.write(bytes.fromhex("7e000200000139123456780001337e"))
            assert await reader.read() == b""
            writer.close()
        await running.counted("jt808_tls_handshakes", outcome="not_tls")
        assert refusal_logged(caplog, RefusalReason.NOT_TLS)
        # The listener still serves the next terminal.
        assert await echo(running.address, device_context(pki, None)) == b"ping"


async def test_a_silent_connection_is_closed_at_the_handshake_deadline(pki: TestPki) -> None:
    async with running_listener(settings_for(pki, handshake_timeout=0.3)) as running:
        with anyio.fail_after(GUARD):
            reader, writer = await asyncio.open_connection("127.0.0.1", running.address.port)
            assert await reader.read() == b""  # closed by the server, not by this guard
            writer.close()
        await running.counted("jt808_tls_handshakes", outcome="handshake_timeout")


async def test_the_listener_offers_tls_1_2_and_1_3_only(pki: TestPki) -> None:
    async with running_listener(settings_for(pki)) as running:
        context = running.tls.context_for_new_connection()
        assert context.minimum_version is ssl.TLSVersion.TLSv1_2
        assert context.maximum_version is ssl.TLSVersion.TLSv1_3
        suites = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
        assert suites and all(("ECDHE" in s) and ("GCM" in s or "CHACHA" in s) for s in suites)
        assert context.options & ssl.OP_NO_RENEGOTIATION


# ---- mutual TLS ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_mutual_tls_accepts_a_good_device_with_its_identity(
    pki: TestPki, responder: OcspResponder, version: ssl.TLSVersion
) -> None:
    async with running_listener(settings_for(pki, client_ca=pki.root_pem)) as running:
        context = device_context(pki, "device", maximum_version=version)
        assert await echo(running.address, context) == b"ping"
        (protocol,) = running.protocols
        identity = protocol.peer.certificate
        assert identity is not None
        assert identity.common_names == (PHONE,)
        assert identity.serial_number == f"{pki.serial('device'):X}"
        assert protocol.peer.revocation == "good"
        assert responder.requests == 1


@pytest.mark.parametrize(
    ("device", "reason"),
    [
        (None, RefusalReason.NO_CERTIFICATE),
        ("expired", RefusalReason.CERTIFICATE_EXPIRED),
        ("other_ca", RefusalReason.CERTIFICATE_UNTRUSTED),
        ("revoked", RefusalReason.CERTIFICATE_REVOKED),
        ("unknown", RefusalReason.CERTIFICATE_STATUS_UNKNOWN),
    ],
)
async def test_mutual_tls_refuses_each_bad_device_with_a_logged_reason(
    pki: TestPki,
    caplog: pytest.LogCaptureFixture,
    device: str | None,
    reason: RefusalReason,
) -> None:
    caplog.set_level(logging.INFO, logger="jt808")
    async with running_listener(settings_for(pki, client_ca=pki.root_pem)) as running:
        assert await echo(running.address, device_context(pki, device)) == b""
        metric = "jt808_tls_refused" if reason in _AFTER_HANDSHAKE else "jt808_tls_handshakes"
        label = "reason" if reason in _AFTER_HANDSHAKE else "outcome"
        await running.counted(metric, **{label: reason.value})
        assert refusal_logged(caplog, reason)
        assert running.protocols == []  # the edge never saw the connection


_AFTER_HANDSHAKE = {RefusalReason.CERTIFICATE_REVOKED, RefusalReason.CERTIFICATE_STATUS_UNKNOWN}


async def test_a_client_ca_file_holding_only_the_intermediate_is_enough(pki: TestPki) -> None:
    async with running_listener(settings_for(pki, client_ca=pki.device_ca_pem)) as running:
        assert await echo(running.address, device_context(pki, "device")) == b"ping"


async def test_the_wrong_phone_passes_tls_and_is_caught_at_registration(pki: TestPki) -> None:
    async with running_listener(settings_for(pki, client_ca=pki.root_pem)) as running:
        assert await echo(running.address, device_context(pki, "wrong_phone")) == b"ping"
        peer = running.protocols[0].peer
        mismatch = running.tls.check_registration(
            peer, phone=PHONE, manufacturer_id="M1", terminal_model="X", terminal_id="T1"
        )
        assert mismatch is not None and "013900000000" in mismatch.reason
        assert running.count("jt808_tls_identity_mismatches", msg_id="0x0100") == 1
        assert running.tls.check_authentication(peer, phone="13900000000") is None


# ---- OCSP policies -------------------------------------------------------------------------


async def test_ocsp_answers_are_cached_until_next_update(
    pki: TestPki, responder: OcspResponder
) -> None:
    async with running_listener(settings_for(pki, client_ca=pki.root_pem)) as running:
        for _ in range(3):
            assert await echo(running.address, device_context(pki, "device")) == b"ping"
        assert responder.requests == 1
        assert running.count("jt808_tls_ocsp_checks", outcome="cached") == 2


async def test_responder_down_under_hard_fail_refuses_the_device(
    pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jt808")
    settings = settings_for(pki, client_ca=pki.root_pem, ocsp_url=CLOSED_PORT_URL)
    async with running_listener(settings) as running:
        assert await echo(running.address, device_context(pki, "device")) == b""
        await running.counted("jt808_tls_refused", reason="ocsp_unavailable")
        assert refusal_logged(caplog, RefusalReason.OCSP_UNAVAILABLE)


async def test_responder_down_under_soft_fail_lets_the_device_in(
    pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(
        pki, client_ca=pki.root_pem, ocsp_url=CLOSED_PORT_URL, ocsp_policy=OcspPolicy.SOFT_FAIL
    )
    async with running_listener(settings) as running:
        assert await echo(running.address, device_context(pki, "device")) == b"ping"
        assert running.protocols[0].peer.revocation == "soft_fail"
        assert any("soft-fail" in r.getMessage() for r in caplog.records)


async def test_ocsp_off_asks_no_responder(pki: TestPki, responder: OcspResponder) -> None:
    settings = settings_for(pki, client_ca=pki.root_pem, ocsp_policy=OcspPolicy.OFF)
    async with running_listener(settings) as running:
        # Even the revoked device: revocation is not checked when OCSP is off.
        assert await echo(running.address, device_context(pki, "revoked")) == b"ping"
        assert running.protocols[0].peer.revocation == "not_checked"
        assert responder.requests == 0


async def test_a_device_certificate_naming_no_responder_is_not_checked(
    pki: TestPki, responder: OcspResponder
) -> None:
    async with running_listener(settings_for(pki, client_ca=pki.root_pem)) as running:
        assert await echo(running.address, device_context(pki, "no_aia")) == b"ping"
        assert running.protocols[0].peer.revocation == "no_responder"
        assert responder.requests == 0


async def test_no_terminal_byte_reaches_the_edge_before_the_checks_are_done(
    pki: TestPki, responder: OcspResponder
) -> None:
    """The responder hangs: the device's first bytes wait behind the OCSP deadline, then are
    delivered once (soft-fail lets the device in)."""
    responder.behaviour.hang = True
    settings = settings_for(
        pki, client_ca=pki.root_pem, ocsp_policy=OcspPolicy.SOFT_FAIL, ocsp_timeout=0.5
    )
    async with running_listener(settings) as running:
        async with open_echo(running.address, device_context(pki, "device")) as (reader, writer):
            writer.write(b"early bytes")
            await writer.drain()
            with anyio.fail_after(GUARD):
                assert await reader.readexactly(11) == b"early bytes"
        (protocol,) = running.protocols
        assert protocol.peer.revocation == "soft_fail"
        assert bytes(protocol.received) == b"early bytes"


# ---- limits --------------------------------------------------------------------------------


async def test_handshakes_in_progress_are_bounded(pki: TestPki) -> None:
    async with running_listener(settings_for(pki), max_handshakes=1) as running:
        with anyio.fail_after(GUARD):
            _, silent = await asyncio.open_connection("127.0.0.1", running.address.port)
            while running.listener._in_progress < 1:
                await anyio.sleep(0.01)
            reader, writer = await asyncio.open_connection("127.0.0.1", running.address.port)
            assert await reader.read() == b""  # closed at once
            writer.close()
            silent.close()
        assert running.count("jt808_tls_limit_hits", limit="max_handshakes") == 1


async def test_admit_refuses_connections_before_their_handshake(pki: TestPki) -> None:
    async with running_listener(settings_for(pki), admit=lambda remote: False) as running:
        assert await echo(running.address, device_context(pki, None)) == b""
        assert running.count("jt808_tls_handshakes", outcome="ok") == 0
