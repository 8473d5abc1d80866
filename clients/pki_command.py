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
from pathlib import Path
from typing import Final

HELP = "make a test PKI: CA, gateway certificate, device and client certificates"
EXIT_USAGE: Final = 2
#: ``clients.pki.KEY_TYPES``, spelled out: the verbs (clients.pki_verbs) load ``cryptography``,
#: which only this command needs, so the ``jt808`` parser does not import them.
KEY_TYPES: Final = ("ec", "rsa")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else HELP
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
    from . import pki_verbs  # noqa: PLC0415 - see KEY_TYPES

    try:
        for line in pki_verbs.VERBS[args.verb](args):
            print(line)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"jt808 pki: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        print(f"jt808 pki: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


__all__ = ["HELP", "add_arguments", "run"]
