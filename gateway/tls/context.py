"""The terminal listener's ``ssl.SSLContext``: TLS 1.2 and 1.3 only, forward-secret AEAD cipher
suites, the configured chain and key, and (for mutual TLS) the client CA bundle.

A context is built whole from the files and never changed afterwards: a reload builds a new
one (``TlsServer.reload``), so a connection always sees one consistent set of certificate, key
and trust anchors, and TLS sessions cannot be resumed across a reload (each context has its own
session cache and ticket keys).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from .files import CaBundle, KeyPair, TlsFilesError, load_ca_bundle, load_key_pair

#: TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only, ECDSA and RSA
#: certificates (Mozilla's "intermediate" list without the finite-field DHE suites). TLS 1.3
#: suites are all AEAD and keep OpenSSL's defaults.
TLS12_CIPHERS: Final = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)


@dataclass(frozen=True, slots=True)
class ServerTlsFiles:
    """Where the listener's certificate chain, key and (optional) client CA bundle live, and
    the setting names to blame in error messages."""

    cert: Path
    key: Path
    client_ca: Path | None = None
    cert_setting: str = "--tls-cert"
    key_setting: str = "--tls-key"
    client_ca_setting: str = "--tls-client-ca"


@dataclass(frozen=True, slots=True)
class LoadedTls:
    """One generation of TLS material: the context and what it was built from."""

    context: ssl.SSLContext
    key_pair: KeyPair
    client_ca: CaBundle | None

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None


def load_server_tls(files: ServerTlsFiles, *, now: datetime | None = None) -> LoadedTls:
    """Read and check the files, then build the context; ``TlsFilesError`` names the setting."""
    pair = load_key_pair(
        files.cert, files.key, cert_setting=files.cert_setting, key_setting=files.key_setting,
        now=now,
    )  # fmt: skip
    client_ca = (
        None
        if files.client_ca is None
        else load_ca_bundle(files.client_ca, files.client_ca_setting)
    )
    return LoadedTls(server_context(files, client_ca), pair, client_ca)


def server_context(files: ServerTlsFiles, client_ca: CaBundle | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ciphers(TLS12_CIPHERS)
    # Renegotiation is a DoS lever and pointless here; compression leaks (CRIME).
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    try:
        context.load_cert_chain(files.cert, files.key)
    except (ssl.SSLError, OSError) as error:
        # The files were checked a moment ago: they changed underneath, or OpenSSL disagrees.
        raise TlsFilesError(
            f"{files.cert_setting} {files.cert} / {files.key_setting} {files.key}: the TLS stack "
            f"refused them ({getattr(error, 'reason', None) or error})"
        ) from None
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_verify_locations(cadata=client_ca.pem.decode("ascii", "replace"))
        except ssl.SSLError as error:
            raise TlsFilesError(
                f"{files.client_ca_setting} {files.client_ca}: the TLS stack refused the CA "
                f"bundle ({error.reason or error})"
            ) from None
        # Any certificate in the bundle is a trust anchor, an intermediate alone included:
        # trusting one sub-CA of a larger PKI is a common, deliberate setup.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def client_context(
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client context with the same floor (TLS 1.2+) trusting ``ca`` (the system's trust
    store when None), presenting ``cert``/``key`` when given: for the simulator and tests."""
    context = ssl.create_default_context(cafile=None if ca is None else str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


__all__ = [
    "TLS12_CIPHERS",
    "LoadedTls",
    "ServerTlsFiles",
    "TlsFilesError",
    "client_context",
    "load_server_tls",
    "server_context",
]
