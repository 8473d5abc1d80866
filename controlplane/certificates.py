"""A verified client certificate as the APIs show it: ``CertificateIdentity`` exists in
``jt808.auth.v1`` (sent to the DeviceAuthService) and ``jt808.gateway.v1`` (Session), with the
same fields; one function fills either."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jt808.auth.v1 import auth_pb2
from jt808.gateway.v1 import gateway_service_pb2

from .locations import proto_text

if TYPE_CHECKING:  # the TLS modules are imported only by a gateway that serves TLS
    from gateway.tls.identity import CertificateIdentity

CertificateMessage = auth_pb2.CertificateIdentity | gateway_service_pb2.CertificateIdentity


def fill_certificate(message: CertificateMessage, identity: CertificateIdentity) -> None:
    message.subject = proto_text(identity.subject)
    message.issuer = proto_text(identity.issuer)
    message.serial_number = identity.serial_number
    message.sha256_fingerprint = identity.sha256_fingerprint
    message.not_before_time.FromDatetime(identity.not_before)
    message.not_after_time.FromDatetime(identity.not_after)
