"""The certificate identity of a mutual-TLS terminal in the API: passed to the user's
DeviceAuthService with Register/Authenticate (over a real channel), and shown in Session."""

from __future__ import annotations

import dataclasses
from datetime import UTC

import pytest

from clients.pki import CertificateAuthority
from controlplane.views import add_tls_fields
from gateway.tls.identity import CertificateIdentity
from gateway.tls.server import TlsPeer
from jt808.auth.v1 import auth_pb2
from jt808.gateway.v1 import gateway_service_pb2 as api

from .test_remote_auth import AUTHENTICATION, REGISTRATION, service_and_backend

pytestmark = pytest.mark.anyio

IDENTITY = CertificateIdentity.of(
    CertificateAuthority.root("identity CA").issue_client("013800138000").certificate
)


def expected(message: auth_pb2.CertificateIdentity) -> None:
    assert message.subject == "CN=013800138000"
    assert message.issuer == "CN=identity CA,O=jt808"
    assert message.serial_number == IDENTITY.serial_number
    assert message.sha256_fingerprint == IDENTITY.sha256_fingerprint
    assert message.not_before_time.ToDatetime(UTC) == IDENTITY.not_before.replace(microsecond=0)
    assert message.not_after_time.ToDatetime(UTC) == IDENTITY.not_after.replace(microsecond=0)


async def test_register_and_authenticate_carry_the_certificate_identity() -> None:
    async with service_and_backend() as (service, backend):
        await backend.register(dataclasses.replace(REGISTRATION, certificate=IDENTITY))
        await backend.authenticate(dataclasses.replace(AUTHENTICATION, certificate=IDENTITY))
        await backend.register(REGISTRATION)
    register, authenticate, plain = (call.request for call in service.calls)
    assert isinstance(register, auth_pb2.RegisterRequest)
    assert isinstance(authenticate, auth_pb2.AuthenticateRequest)
    assert isinstance(plain, auth_pb2.RegisterRequest)
    expected(register.certificate)
    expected(authenticate.certificate)
    assert register.phone == "013800138000"  # the existing fields are all still there
    assert not plain.HasField("certificate")  # TCP and one-way TLS: absent


def test_a_session_shows_its_tls_version_and_certificate() -> None:
    peer = TlsPeer("127.0.0.1:4000", "TLSv1.3", "TLS_AES_128_GCM_SHA256", IDENTITY, "good")
    session = add_tls_fields(api.Session(phone="013800138000"), peer)
    assert session.tls_version == "TLSv1.3"
    assert session.certificate.subject == "CN=013800138000"
    assert session.certificate.serial_number == IDENTITY.serial_number
    assert session.certificate.sha256_fingerprint == IDENTITY.sha256_fingerprint
    one_way = add_tls_fields(api.Session(), dataclasses.replace(peer, certificate=None))
    assert one_way.tls_version == "TLSv1.3" and not one_way.HasField("certificate")
    tcp = add_tls_fields(api.Session(), None)
    assert tcp.tls_version == "" and not tcp.HasField("certificate")
