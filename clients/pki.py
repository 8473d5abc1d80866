"""A small X.509 PKI for labs and tests: a root CA, intermediates, server, device and OCSP
responder certificates, with ``cryptography``.

``jt808 pki`` writes one to a directory; the test suite builds them in memory. Keys are ECDSA
P-256 by default, RSA 2048 on request. Nothing here is meant to run a production CA: keys are
written unencrypted (mode 0600) and there is no revocation database beyond what a caller keeps.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KEY_TYPES: Final = ("ec", "rsa")
#: Certificates are back-dated a little, so a clock slightly behind ours still accepts them.
BACKDATE: Final = timedelta(minutes=5)


def new_key(key_type: KeyType = "ec") -> PrivateKey:
    """An ECDSA P-256 key, or an RSA 2048 one."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _subject_alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate, its key, and the CA certificates between it and the root (root left out,
    as a TLS peer sends it)."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    def chain_pem(self) -> bytes:
        """The certificate followed by its intermediates (what ``--tls-cert`` takes)."""
        return certificate_pem(self.certificate, *self.chain)

    def key_pem(self) -> bytes:
        return key_pem(self.key)

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """``name.pem`` (with the chain) and ``name.key`` (mode 0600) in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path = directory / f"{name}.pem"
        key_path = directory / f"{name}.key"
        cert_path.write_bytes(self.chain_pem())
        write_private(key_path, self.key_pem())
        return cert_path, key_path


def write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (created so, never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@dataclass(slots=True)
class CertificateAuthority:
    """A CA that issues certificates; ``ocsp_url`` goes into the AIA of what it issues."""

    certificate: x509.Certificate
    key: PrivateKey
    parents: tuple[x509.Certificate, ...] = ()
    ocsp_url: str | None = None
    issued: list[x509.Certificate] = field(default_factory=list)

    @classmethod
    def root(
        cls,
        common_name: str = "jt808 test root CA",
        *,
        key_type: KeyType = "ec",
        days: int = 3650,
        now: datetime | None = None,
        ocsp_url: str | None = None,
    ) -> CertificateAuthority:
        key = new_key(key_type)
        start = (now or datetime.now(UTC)) - BACKDATE
        name = _name(common_name, "jt808")
        certificate = (
            _builder(name, name, key, start, start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key, (), ocsp_url)

    @classmethod
    def from_files(
        cls, cert_path: Path, key_path: Path, *, ocsp_url: str | None = None
    ) -> CertificateAuthority:
        """A CA written earlier (``Issued.write``): its certificate first, then its parents
        (the root last, or left out)."""
        certificates = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an ECDSA or RSA key")
        return cls(certificates[0], key, tuple(certificates[1:]), ocsp_url)

    def as_issued(self) -> Issued:
        """This CA with its key and every parent (root last), to write it out and load it
        back with ``from_files``."""
        return Issued(self.certificate, self.key, self.parents)

    @property
    def name(self) -> x509.Name:
        return self.certificate.subject

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """This CA and its parents up to (not including) the root."""
        if not self.parents:
            return ()
        return (self.certificate, *self.parents[:-1])

    @property
    def root_certificate(self) -> x509.Certificate:
        return self.parents[-1] if self.parents else self.certificate

    def intermediate(
        self,
        common_name: str = "jt808 test intermediate CA",
        *,
        key_type: KeyType = "ec",
        days: int = 1825,
        now: datetime | None = None,
        ocsp_url: str | None = None,
    ) -> CertificateAuthority:
        key = new_key(key_type)
        start = (now or datetime.now(UTC)) - BACKDATE
        certificate = self._sign(
            _builder(_name(common_name, "jt808"), self.name, key, start, start + timedelta(days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        return CertificateAuthority(
            certificate, key, (self.certificate, *self.parents), ocsp_url or self.ocsp_url
        )

    def issue_server(
        self,
        hosts: Sequence[str] = ("localhost", "127.0.0.1"),
        *,
        key_type: KeyType = "ec",
        days: int = 825,
        now: datetime | None = None,
    ) -> Issued:
        """A TLS server certificate for ``hosts`` (DNS names or IP addresses)."""
        key = new_key(key_type)
        start = (now or datetime.now(UTC)) - BACKDATE
        builder = (
            _builder(_name(hosts[0]), self.name, key, start, start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(key), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(_subject_alt_names(hosts)), False)
        )
        return Issued(self._sign(builder), key, self._issued_chain())

    def issue_client(
        self,
        common_name: str,
        *,
        san_dns: Sequence[str] = (),
        key_type: KeyType = "ec",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        days: int = 825,
        now: datetime | None = None,
        ocsp_url: str | None = None,
    ) -> Issued:
        """A TLS client certificate: a device (CN = its phone by default) or a control-plane
        client. ``not_before``/``not_after`` override the validity (an expired one for tests)."""
        key = new_key(key_type)
        start = not_before or (now or datetime.now(UTC)) - BACKDATE
        end = not_after or start + timedelta(days=days)
        builder = (
            _builder(_name(common_name), self.name, key, start, end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(key), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        )
        if san_dns:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in san_dns]), False
            )
        url = ocsp_url or self.ocsp_url
        if url:
            where = x509.UniformResourceIdentifier(url)
            access = x509.AccessDescription(AuthorityInformationAccessOID.OCSP, where)
            builder = builder.add_extension(x509.AuthorityInformationAccess([access]), False)
        return Issued(self._sign(builder), key, self._issued_chain())

    def issue_ocsp_responder(
        self, common_name: str = "jt808 test OCSP responder", *, days: int = 365
    ) -> Issued:
        """A delegated OCSP signer for this CA (extended key usage id-kp-OCSPSigning)."""
        key = new_key("ec")
        start = datetime.now(UTC) - BACKDATE
        builder = (
            _builder(_name(common_name), self.name, key, start, start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False)
            .add_extension(x509.OCSPNoCheck(), critical=False)
        )
        return Issued(self._sign(builder), key, self._issued_chain())

    def _issued_chain(self) -> tuple[x509.Certificate, ...]:
        """What a leaf of this CA sends after itself: this CA unless it is the root, and the
        intermediates above it."""
        return self.chain

    def _sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
        )
        certificate = builder.sign(self.key, hashes.SHA256())
        self.issued.append(certificate)
        return certificate


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, start: datetime, end: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _leaf_usage(key: PrivateKey) -> x509.KeyUsage:
    # RSA key exchange needs key encipherment (TLS 1.2 RSA suites); ECDSA only signs.
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey), data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
        decipher_only=False,
    )  # fmt: skip
