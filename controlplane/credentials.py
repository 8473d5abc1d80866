"""The control plane over TLS (``--grpc-tls-cert``/``--grpc-tls-key``) and mutual TLS
(``--grpc-tls-client-ca``): gRPC server credentials that follow the files.

The files are read and checked when the control plane is built (a problem is one sentence
naming the setting, exit 2). gRPC asks ``_fetch`` at each new TLS handshake whether the
certificates changed; when the files' inode, size or mtime differ they are read again and
new connections use them (live ones keep theirs). A file that cannot be used keeps the previous
certificates and is logged once per change. With a client CA, gRPC itself refuses every
client that does not present a certificate that CA issued: such a certificate is the
credential that lets the control plane bind a non-loopback address.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast

import grpc

from gateway.server.config import GatewayConfig
from gateway.server.logs import get_logger
from gateway.tls.files import (
    CaBundle,
    KeyPair,
    TlsFilesError,
    file_signature,
    load_ca_bundle,
    load_key_pair,
)

log = get_logger()


class ControlPlaneTls:
    """The TLS material of the control plane, reloaded when its files change."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.cert = cert
        self.key = key
        self.client_ca = client_ca
        self._lock = threading.Lock()  # gRPC calls the fetcher from its own threads
        self._signature = file_signature(cert, key, client_ca)
        self._configuration = self._load()

    @classmethod
    def from_config(cls, config: GatewayConfig) -> ControlPlaneTls | None:
        if config.grpc_tls_cert is None or config.grpc_tls_key is None:
            return None
        return cls(config.grpc_tls_cert, config.grpc_tls_key, config.grpc_tls_client_ca)

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def server_credentials(self) -> grpc.ServerCredentials:
        # gRPC documents None as "no change"; its type stubs do not say so.
        fetch = cast(Callable[[], grpc.ServerCertificateConfiguration], self._fetch)
        return grpc.dynamic_ssl_server_credentials(
            self._configuration, fetch, require_client_authentication=self.mutual
        )

    def _load(self) -> grpc.ServerCertificateConfiguration:
        pair: KeyPair = load_key_pair(
            self.cert, self.key, cert_setting="--grpc-tls-cert", key_setting="--grpc-tls-key"
        )
        bundle: CaBundle | None = None
        if self.client_ca is not None:
            bundle = load_ca_bundle(self.client_ca, "--grpc-tls-client-ca")
        return grpc.ssl_server_certificate_configuration(
            [(pair.key_pem, pair.chain_pem)],
            root_certificates=None if bundle is None else bundle.pem,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's question at each handshake: new certificates? (None: keep the current.)"""
        signature = file_signature(self.cert, self.key, self.client_ca)
        with self._lock:
            if signature == self._signature:
                return None
            self._signature = signature
            try:
                self._configuration = self._load()
            except TlsFilesError as error:
                log.error("control-plane TLS reload failed; the previous certificates stay "
                          "in use", extra={"error": str(error)})  # fmt: skip
                return None
            log.info("control-plane TLS certificates reloaded", extra={"cert": str(self.cert)})
            return self._configuration


__all__ = ["ControlPlaneTls"]
