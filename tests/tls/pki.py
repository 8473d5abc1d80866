"""The test PKI: a root, an intermediate for servers and one for devices, server certificates
(ECDSA P-256 and RSA 2048) with their chains, and devices that are good, revoked, expired,
from another CA, for the wrong phone, unknown to the responder, and without an OCSP URL.
Everything is written to a directory, as an operator would give it to the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clients.pki import CertificateAuthority, Issued, certificate_pem

PHONE = "013800000000"
WRONG_PHONE = "013900000000"


@dataclass(frozen=True)
class Files:
    cert: Path
    key: Path


@dataclass
class TestPki:
    __test__ = False  # not a test class

    directory: Path
    root: CertificateAuthority
    server_ca: CertificateAuthority
    device_ca: CertificateAuthority
    other_root: CertificateAuthority
    issued: dict[str, Issued]
    files: dict[str, Files]
    root_pem: Path
    device_ca_pem: Path
    other_root_pem: Path

    def serial(self, name: str) -> int:
        return self.issued[name].serial

    def write(self, name: str, issued: Issued) -> Files:
        self.issued[name] = issued
        cert, key = issued.write(self.directory, name)
        self.files[name] = Files(cert, key)
        return self.files[name]


def make_pki(directory: Path, ocsp_url: str | None) -> TestPki:
    directory.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.root("jt808 test root")
    server_ca = root.intermediate("jt808 test servers CA")
    device_ca = root.intermediate("jt808 test devices CA", ocsp_url=ocsp_url)
    quiet_ca = root.intermediate("jt808 test devices CA without OCSP")
    other_root = CertificateAuthority.root("someone else's root")
    now = datetime.now(UTC)
    pki = TestPki(
        directory, root, server_ca, device_ca, other_root, {}, {},
        directory / "root.pem", directory / "device-ca.pem", directory / "other-root.pem",
    )  # fmt: skip
    pki.root_pem.write_bytes(certificate_pem(root.certificate))
    pki.device_ca_pem.write_bytes(certificate_pem(device_ca.certificate))
    pki.other_root_pem.write_bytes(certificate_pem(other_root.certificate))
    pki.write("server", server_ca.issue_server(["localhost", "127.0.0.1"]))
    pki.write("server_rsa", server_ca.issue_server(["localhost", "127.0.0.1"], key_type="rsa"))
    pki.write("device", device_ca.issue_client(PHONE))
    pki.write("device_rsa", device_ca.issue_client("013800000009", key_type="rsa"))
    pki.write("revoked", device_ca.issue_client("013800000001"))
    pki.write("unknown", device_ca.issue_client("013800000002"))
    pki.write(
        "expired",
        device_ca.issue_client(
            "013800000003", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
        ),
    )
    pki.write("other_ca", other_root.issue_client(PHONE))
    pki.write("wrong_phone", device_ca.issue_client(WRONG_PHONE))
    pki.write("no_aia", quiet_ca.issue_client("013800000004"))
    pki.write("san_device", device_ca.issue_client("fleet device", san_dns=[PHONE]))
    pki.write("control_client", root.issue_client("operator"))
    return pki
