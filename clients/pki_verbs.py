"""What ``jt808 pki`` does (clients/pki_command.py is its command line): each verb returns the
lines it prints; a problem is a ``ValueError`` or ``OSError`` the command turns into one line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509

from .pki import CertificateAuthority, Issued, certificate_pem


def _init(args: argparse.Namespace) -> list[str]:
    directory: Path = args.directory
    if (directory / "ca.pem").exists() and not args.force:
        raise ValueError(f"{directory} already holds a PKI (ca.pem); --force replaces it")
    names = args.server_name or ["localhost", "127.0.0.1"]
    root = CertificateAuthority.root("jt808 lab root CA", key_type=args.key_type)
    devices = root.intermediate("jt808 lab devices CA", key_type=args.key_type,
                                ocsp_url=args.ocsp_url)  # fmt: skip
    root.as_issued().write(directory, "ca")
    # devices-ca.pem holds the intermediate alone (what `openssl ocsp -CA/-rsigner` take);
    # devices-ca-chain.pem adds the root, so that `jt808 pki device` can build chains.
    devices.as_issued().write(directory, "devices-ca-chain")
    (directory / "devices-ca-chain.key").rename(directory / "devices-ca.key")
    (directory / "devices-ca.pem").write_bytes(certificate_pem(devices.certificate))
    root.issue_server(names, key_type=args.key_type).write(directory, "server")
    (directory / "index.txt").write_text("")
    (directory / "ocsp-url").write_text(args.ocsp_url or "")
    return [
        f"{directory}/ca.pem            root CA: clients trust it; --tls-client-ca for devices",
        f"{directory}/devices-ca.pem    issues device certificates (jt808 pki device)",
        f"{directory}/server.pem, .key  the gateway's certificate for {', '.join(names)}",
    ]


def _devices_ca(directory: Path) -> CertificateAuthority:
    chain = directory / "devices-ca-chain.pem"
    key = directory / "devices-ca.key"
    if not chain.exists() or not key.exists():
        raise ValueError(f"{directory} holds no PKI: run `jt808 pki init {directory}` first")
    # The responder URL ``init`` was given is kept beside the CA.
    url_file = directory / "ocsp-url"
    url = url_file.read_text().strip() if url_file.exists() else ""
    return CertificateAuthority.from_files(chain, key, ocsp_url=url or None)


def _device(args: argparse.Namespace) -> list[str]:
    directory: Path = args.directory
    ca = _devices_ca(directory)
    phone: str = args.phone
    if not phone.isdigit() or len(phone) > 20:
        raise ValueError(f"--phone {phone!r} is not 1-20 digits")
    if not 1 <= args.count <= 100_000:
        raise ValueError("--count must be 1..100000")
    lines = []
    for offset in range(args.count):
        number = str(int(phone) + offset).zfill(len(phone))
        issued = ca.issue_client(
            args.cn or number, san_dns=args.san or (), days=args.days, key_type=args.key_type
        )
        cert, _ = issued.write(directory / "devices", number)
        _record(directory, issued)
        lines.append(f"{cert}  CN={args.cn or number}  serial {issued.serial:X}")
    return lines


def _client(args: argparse.Namespace) -> list[str]:
    directory: Path = args.directory
    if not (directory / "ca.key").exists():
        raise ValueError(f"{directory} holds no PKI: run `jt808 pki init {directory}` first")
    root = CertificateAuthority.from_files(directory / "ca.pem", directory / "ca.key")
    cert, key = root.issue_client(args.name).write(directory / "clients", args.name)
    return [f"{cert}, {key}  control-plane client CN={args.name}"]


def _revoke(args: argparse.Namespace) -> list[str]:
    directory: Path = args.directory
    path = directory / "devices" / f"{args.phone}.pem"
    if not path.exists():
        raise ValueError(f"no device certificate {path}")
    certificate = x509.load_pem_x509_certificates(path.read_bytes())[0]
    serial = _index_serial(certificate.serial_number)
    index = directory / "index.txt"
    lines = index.read_text().splitlines()
    now = datetime.now(UTC).strftime("%y%m%d%H%M%SZ")
    found = False
    for i, line in enumerate(lines):
        fields = line.split("\t")
        if len(fields) == 6 and fields[3] == serial and fields[0] == "V":
            fields[0], fields[2] = "R", now
            lines[i] = "\t".join(fields)
            found = True
    if not found:
        raise ValueError(f"{path} (serial {serial}) is not a valid certificate in {index}")
    index.write_text("".join(line + "\n" for line in lines))
    return [f"revoked serial {serial} ({path}); an OCSP responder on {index} now says so"]


def _record(directory: Path, issued: Issued) -> None:
    """One line of OpenSSL's CA database (what ``openssl ocsp -index`` reads)."""
    certificate = issued.certificate
    expiry = certificate.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    subject = "".join(
        f"/{a.rfc4514_attribute_name}={a.value if isinstance(a.value, str) else a.value.hex()}"
        for a in certificate.subject
    )
    line = f"V\t{expiry}\t\t{_index_serial(certificate.serial_number)}\tunknown\t{subject}\n"
    with (directory / "index.txt").open("a") as index:
        index.write(line)


def _index_serial(serial: int) -> str:
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


VERBS: Final[dict[str, Callable[[argparse.Namespace], list[str]]]] = {
    "init": _init,
    "device": _device,
    "client": _client,
    "revoke": _revoke,
}

__all__ = ["VERBS"]
