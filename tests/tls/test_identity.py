"""Device identity from a certificate and the rules that match it against 0x0100 / 0x0102."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from clients.pki import CertificateAuthority, new_key
from gateway.tls.identity import (
    CertificateIdentity,
    IdentityClaim,
    IdentityMismatch,
    IdentityRule,
    IdentitySource,
    check_authentication,
    check_registration,
)

CA = CertificateAuthority.root("identity test CA")
PHONE_RULE = IdentityRule()
SAN_PHONE = IdentityRule.parse("san=phone")
CN_DEVICE = IdentityRule.parse("cn=device_name")
SAN_DEVICE = IdentityRule.parse("san=device_name")


def identity(common_name: str, *, san: tuple[str, ...] = ()) -> CertificateIdentity:
    return CertificateIdentity.of(CA.issue_client(common_name, san_dns=san).certificate)


def register(
    rule: IdentityRule, who: CertificateIdentity, phone: str, name: str = "M1_X1_T1"
) -> IdentityMismatch | None:
    manufacturer, model, terminal = name.split("_")
    return check_registration(
        rule, who, phone=phone, manufacturer_id=manufacturer, terminal_model=model,
        terminal_id=terminal,
    )  # fmt: skip


def test_the_identity_value_object_carries_subject_serial_and_fingerprint() -> None:
    issued = CA.issue_client("013800000000", san_dns=("013800000000.fleet.example",))
    who = CertificateIdentity.of(issued.certificate)
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    assert who.subject == "CN=013800000000"
    assert who.issuer == "CN=identity test CA,O=jt808"
    assert who.serial_number == f"{issued.serial:X}"
    assert who.sha256_fingerprint == hashlib.sha256(der).hexdigest()
    assert who.common_names == ("013800000000",)
    assert who.dns_names == ("013800000000.fleet.example",)
    assert who.not_before < who.not_after
    assert who.log_fields()["cert_serial"] == who.serial_number


def test_the_default_rule_is_subject_cn_equals_phone() -> None:
    assert IdentityRule(IdentitySource.COMMON_NAME, IdentityClaim.PHONE) == PHONE_RULE
    assert str(PHONE_RULE) == "cn=phone"
    assert IdentityRule.parse("CN = Phone") == PHONE_RULE
    with pytest.raises(ValueError, match="cn=phone"):
        IdentityRule.parse("subject=phone")


@pytest.mark.parametrize(
    "phone", ["013800000000", "13800000000", "00000000013800000000", "0013800000000"]
)
def test_the_phone_matches_whatever_its_leading_zeros(phone: str) -> None:
    assert register(PHONE_RULE, identity("013800000000"), phone) is None
    assert check_authentication(PHONE_RULE, identity("13800000000"), phone=phone) is None


def test_another_phone_is_a_mismatch_with_a_readable_reason() -> None:
    mismatch = register(PHONE_RULE, identity("013900000000"), "013800000000")
    assert mismatch is not None
    assert mismatch.reason == (
        "the certificate's subject CN '013900000000' is not phone 013800000000"
    )
    assert check_authentication(PHONE_RULE, identity("013900000000"), phone="13800000000")


def test_hex_nibbles_in_a_phone_compare_case_insensitively() -> None:
    assert register(PHONE_RULE, identity("4F07788EF676"), "4f07788ef676") is None


def test_a_certificate_with_two_common_names_is_ambiguous() -> None:
    key = new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "013800000000"),
            x509.NameAttribute(NameOID.COMMON_NAME, "013900000000"),
        ]
    )
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(CA.name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(CA.certificate.not_valid_before_utc)
        .not_valid_after(CA.certificate.not_valid_after_utc)
        .sign(CA.key, hashes.SHA256())
    )  # fmt: skip
    mismatch = register(PHONE_RULE, CertificateIdentity.of(cert), "013800000000")
    assert mismatch is not None and "2 subject CNs" in mismatch.reason


def test_san_phone_looks_at_the_dns_names_only() -> None:
    who = identity("any device", san=("fleet.example", "013800000000"))
    assert register(SAN_PHONE, who, "13800000000") is None
    assert register(PHONE_RULE, who, "13800000000") is not None
    no_san = register(SAN_PHONE, identity("013800000000"), "13800000000")
    assert no_san is not None and no_san.reason == "the certificate has no DNS SAN"


def test_device_name_rules_match_the_registration_exactly() -> None:
    who = identity("M1_X100_T000001")
    assert register(CN_DEVICE, who, "1", "M1_X100_T000001") is None
    mismatch = register(CN_DEVICE, who, "1", "M1_X100_T000002")
    assert mismatch is not None and "M1_X100_T000002" in mismatch.reason
    by_san = identity("x", san=("M1_X100_T000001",))
    assert register(SAN_DEVICE, by_san, "1", "M1_X100_T000001") is None


def test_device_name_rules_check_0x0102_with_the_name_the_backend_gave() -> None:
    who = identity("M1_X100_T000001")
    assert check_authentication(CN_DEVICE, who, phone="1", device_name="M1_X100_T000001") is None
    assert check_authentication(CN_DEVICE, who, phone="1", device_name="M2_X_T") is not None
    unknown = check_authentication(CN_DEVICE, who, phone="1", device_name=None)
    assert unknown is not None and "not known" in unknown.reason


def test_certificate_text_is_bounded() -> None:
    who = identity("9" * 64, san=tuple(f"host{i}.example" for i in range(40)))
    assert len(who.dns_names) == 16
    mismatch = register(SAN_PHONE, who, "1")
    assert mismatch is not None and len(mismatch.reason) < 400
