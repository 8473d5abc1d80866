"""``jt808 pki``: a test PKI in a few commands, for labs and for trying TLS and mutual TLS.

    jt808 pki init pki --server-name localhost --server-name 127.0.0.1
    jt808 pki device pki --phone 013800000000 --count 10
    jt808 pki client pki --name operator
    jt808 pki revoke pki --phone 013800000003

``init`` writes a root CA (``ca.pem``: what clients and ``--tls-client-ca`` trust), an
intermediate for devices (``devices-ca.pem``), and the gateway's certificate (``server.pem``,
``server.key``). ``device`` issues device certificates (subject CN = the phone, the gateway's
default identity rule) as ``devices/PHONE.pem``/``.key``, with the intermediate in the chain, as
``jt808 simulate --tls-cert 'pki/devices/{phone}.pem'`` expects. ``client`` issues control-plane
client certificates. Every device certificate is recorded in ``index.txt`` in OpenSSL's CA
database format, so ``openssl ocsp -index pki/index.txt ...`` can answer for it, and ``revoke``
marks one revoked there.

Not a production CA: keys are written unencrypted (mode 0600).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509

from .pki import KEY_TYPES, CertificateAuthority, Issued, certificate_pem

EXIT_USAGE: Final = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if __doc__:  # the usage lines above, under the help the command line gives
        parser.description = __doc__.split("\n\n")[0]
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    init = verbs.add_parser("init", help="create the CAs and the gateway's certificate in DIR")
    init.add_argument("directory", type=Path, metavar="DIR")
    init.add_argument(
        "--server-name",
        action="append",
        metavar="NAME",
        help="DNS name or IP address of the gateway (repeatable; default localhost and 127.0.0.1)",
    )
    init.add_argument(
        "--key-type",
        choices=KEY_TYPES,
        default="ec",
        help="ec (ECDSA P-256, default) or rsa (2048)",
    )
    init.add_argument(
        "--ocsp-url", metavar="URL", help="OCSP responder named in every device certificate (AIA)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing PKI in DIR")
    device = verbs.add_parser("device", help="issue device certificates (CN = phone)")
    device.add_argument("directory", type=Path, metavar="DIR")
    device.add_argument(
        "--phone",
        required=True,
        metavar="PHONE",
        help="the terminal's phone as it sends it (12 digits, 20 in 2019)",
    )
    device.add_argument(
        "--count",
        type=int,
        default=1,
        metavar="N",
        help="issue N certificates for PHONE, PHONE+1, ... (default 1)",
    )
    device.add_argument("--cn", metavar="TEXT", help="subject CN instead of the phone")
    device.add_argument(
        "--san", action="append", metavar="NAME", help="a DNS subject alternative name (repeatable)"
    )
    device.add_argument("--days", type=int, default=825, metavar="N", help="validity (825)")
    device.add_argument("--key-type", choices=KEY_TYPES, default="ec")
    client = verbs.add_parser("client", help="issue a control-plane client certificate")
    client.add_argument("directory", type=Path, metavar="DIR")
    client.add_argument("--name", required=True, metavar="NAME", help="subject CN")
    revoke = verbs.add_parser("revoke", help="mark a device certificate revoked in index.txt")
    revoke.add_argument("directory", type=Path, metavar="DIR")
    revoke.add_argument("--phone", required=True, metavar="PHONE")


def run(args: argparse.Namespace) -> int:
    try:
        verb = {"init": _init, "device": _device, "client": _client, "revoke": _revoke}
        for line in verb[args.verb](args):
            print(line)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"jt808 pki: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        print(f"jt808 pki: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


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


__all__ = ["add_arguments", "run"]
