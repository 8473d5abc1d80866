"""Device identity from a client certificate, and whether a terminal's 0x0100/0x0102 matches it.

The rule (``--tls-identity``) says where in the certificate the identity is and what it names:

* ``cn=phone`` (the default: subject CN = phone): the subject's common name is the terminal's
  phone number, compared without leading zeros as everywhere (``013800000000`` is
  ``13800000000`` and ``00000000013800000000``);
* ``san=phone``: a DNS name of the subject alternative names is the phone;
* ``cn=device_name`` / ``san=device_name``: the CN (or a DNS SAN) is the device name
  ``${manufacturer}_${model}_${terminalId}`` of the terminal's registration.

A terminal whose registration does not match its certificate gets 0x8100 result 4 (terminal not
in the database: nothing registered under this certificate), one whose authentication does not
match gets 0x8001 result 1; both are logged with the reason and count as failed attempts
(docs/decisions.md, "Mutual TLS"). Everything here is pure: the edge calls it with what it knows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from gateway.auth.base import device_name_of
from gateway.protocol.header import phone_key
from gateway.server.config import identity_rule

#: Certificate text that reaches logs and the API is cut to this many characters.
MAX_TEXT: Final = 256
DEFAULT_RULE: Final = "cn=phone"


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


@dataclass(frozen=True, slots=True)
class CertificateIdentity:
    """What identifies a client certificate, for logs, the API and the auth service."""

    subject: str  # RFC 4514, e.g. "CN=013800000000,O=Fleet"
    issuer: str
    serial_number: str  # hex, upper case, as ``openssl x509 -serial`` prints it
    sha256_fingerprint: str  # hex of SHA-256 over the DER certificate, lower case
    not_before: datetime
    not_after: datetime
    common_names: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateIdentity:
        der = certificate.public_bytes(serialization.Encoding.DER)
        common_names = tuple(
            _bounded(str(attribute.value))
            for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        )
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            dns_names = tuple(_bounded(n) for n in san.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            dns_names = ()
        return cls(
            subject=_bounded(certificate.subject.rfc4514_string()),
            issuer=_bounded(certificate.issuer.rfc4514_string()),
            serial_number=f"{certificate.serial_number:X}",
            sha256_fingerprint=hashlib.sha256(der).hexdigest(),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            common_names=common_names,
            dns_names=dns_names[:16],
        )

    def log_fields(self) -> dict[str, object]:
        return {
            "cert_subject": self.subject,
            "cert_serial": self.serial_number,
            "cert_sha256": self.sha256_fingerprint,
        }


class IdentitySource(StrEnum):
    COMMON_NAME = "cn"
    SUBJECT_ALT_NAME = "san"


class IdentityClaim(StrEnum):
    PHONE = "phone"
    DEVICE_NAME = "device_name"


@dataclass(frozen=True, slots=True)
class IdentityRule:
    """Where a device certificate holds the terminal's identity (``--tls-identity``)."""

    source: IdentitySource = IdentitySource.COMMON_NAME
    claim: IdentityClaim = IdentityClaim.PHONE

    @classmethod
    def parse(cls, text: str) -> IdentityRule:
        """``cn=phone`` and the other ``--tls-identity`` values; ``ValueError`` otherwise."""
        source, _, claim = identity_rule(text).partition("=")
        return cls(IdentitySource(source), IdentityClaim(claim))

    def __str__(self) -> str:
        return f"{self.source.value}={self.claim.value}"

    def candidates(self, identity: CertificateIdentity) -> tuple[str, ...]:
        if self.source is IdentitySource.COMMON_NAME:
            return identity.common_names
        return identity.dns_names

    def _where(self) -> str:
        return "subject CN" if self.source is IdentitySource.COMMON_NAME else "DNS SAN"


@dataclass(frozen=True, slots=True)
class IdentityMismatch:
    """Why a terminal's claim does not match its certificate (a short sentence for the log)."""

    reason: str


def check_phone(
    rule: IdentityRule, identity: CertificateIdentity, phone: str
) -> IdentityMismatch | None:
    """Does the certificate name ``phone`` (leading zeros ignored)? Only for phone rules."""
    candidates = rule.candidates(identity)
    problem = _ambiguity(rule, candidates)
    if problem is not None:
        return problem
    wanted = phone_key(phone.lower())
    if any(phone_key(candidate.strip().lower()) == wanted for candidate in candidates):
        return None
    return IdentityMismatch(
        f"the certificate's {rule._where()} {_shown(candidates)} is not phone {phone}"
    )


def check_device_name(
    rule: IdentityRule, identity: CertificateIdentity, device_name: str | None
) -> IdentityMismatch | None:
    """Does the certificate name ``device_name``? ``None``: the name is not known (a 0x0102
    whose auth backend gave no device name), which cannot match."""
    candidates = rule.candidates(identity)
    problem = _ambiguity(rule, candidates)
    if problem is not None:
        return problem
    if not device_name:
        return IdentityMismatch(
            "the device name of this terminal is not known, so its certificate's "
            f"{rule._where()} {_shown(candidates)} cannot be checked"
        )
    if device_name in candidates:
        return None
    return IdentityMismatch(
        f"the certificate's {rule._where()} {_shown(candidates)} is not device {device_name}"
    )


def check_registration(
    rule: IdentityRule,
    identity: CertificateIdentity,
    *,
    phone: str,
    manufacturer_id: str,
    terminal_model: str,
    terminal_id: str,
) -> IdentityMismatch | None:
    """Does a 0x0100 match the certificate? (Before the auth backend is asked.)"""
    if rule.claim is IdentityClaim.PHONE:
        return check_phone(rule, identity, phone)
    return check_device_name(
        rule, identity, device_name_of(manufacturer_id, terminal_model, terminal_id)
    )


def check_authentication(
    rule: IdentityRule,
    identity: CertificateIdentity,
    *,
    phone: str,
    device_name: str | None = None,
) -> IdentityMismatch | None:
    """Does a 0x0102 match the certificate? A phone rule is checked before the auth backend is
    asked; a device-name rule after it accepted, with the device name it gave (or the one of
    the registration on this connection): 0x0102 itself carries no device name."""
    if rule.claim is IdentityClaim.PHONE:
        return check_phone(rule, identity, phone)
    return check_device_name(rule, identity, device_name)


def _ambiguity(rule: IdentityRule, candidates: tuple[str, ...]) -> IdentityMismatch | None:
    if not candidates:
        return IdentityMismatch(f"the certificate has no {rule._where()}")
    if rule.source is IdentitySource.COMMON_NAME and len(candidates) > 1:
        return IdentityMismatch(
            f"the certificate has {len(candidates)} subject CNs {_shown(candidates)}; one is needed"
        )
    return None


def _shown(candidates: tuple[str, ...]) -> str:
    return _bounded(", ".join(repr(c) for c in candidates[:4]))


__all__ = [
    "DEFAULT_RULE",
    "CertificateIdentity",
    "IdentityClaim",
    "IdentityMismatch",
    "IdentityRule",
    "IdentitySource",
    "check_authentication",
    "check_device_name",
    "check_phone",
    "check_registration",
]
