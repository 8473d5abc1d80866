"""A real OCSP responder on loopback for the tests: ``cryptography``'s OCSPResponseBuilder behind
a threaded HTTP server, with switches for every way a responder can go wrong.

It answers for certificates of one issuing CA, by serial: good, revoked or (any serial it was
not told about) unknown. It signs as the issuer itself or as a delegated responder, echoes the
request's nonce, and counts the requests it served, so a test can see the cache at work.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from clients.pki import CertificateAuthority, Issued, PrivateKey

Signer = Literal["issuer", "delegated", "delegated_without_eku", "stranger"]


@dataclass
class Behaviour:
    """What the responder does; tests change it between connections."""

    revoked: set[int] = field(default_factory=set)
    good: set[int] = field(default_factory=set)
    signer: Signer = "issuer"
    echo_nonce: bool = True
    wrong_nonce: bool = False
    #: nextUpdate = now + this; None leaves nextUpdate out. Negative: a stale answer.
    next_update: timedelta | None = timedelta(hours=1)
    http_status: int = 200
    response_status: ocsp.OCSPResponseStatus = ocsp.OCSPResponseStatus.SUCCESSFUL
    #: Never answer (until the responder stops): a deadline test.
    hang: bool = False
    garbage: bool = False


class OcspResponder:
    def __init__(self, ca: CertificateAuthority | None = None) -> None:
        self.behaviour = Behaviour()
        self.requests = 0
        self._ca = ca
        self._delegate: Issued | None = None
        self._without_eku: Issued | None = None
        self._stranger: Issued | None = None
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/ocsp"

    def serve_for(self, ca: CertificateAuthority) -> None:
        """Answer for certificates ``ca`` issued (set once the CA exists: its certificates
        carry this responder's URL)."""
        self._ca = ca
        self._delegate = ca.issue_ocsp_responder()
        self._without_eku = ca.issue_client("not an OCSP signer")
        self._stranger = CertificateAuthority.root("stranger CA").issue_ocsp_responder()

    def start(self) -> OcspResponder:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port is closed, connections are refused."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def answer(self, request_der: bytes) -> bytes:
        behaviour = self.behaviour
        if behaviour.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            refusal = ocsp.OCSPResponseBuilder.build_unsuccessful(behaviour.response_status)
            return refusal.public_bytes(serialization.Encoding.DER)
        ca = self._ca
        assert ca is not None, "serve_for(ca) first"
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        now = datetime.now(UTC)
        if serial in behaviour.revoked:
            status, revoked_at = ocsp.OCSPCertStatus.REVOKED, now - timedelta(hours=1)
            reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise
        elif serial in behaviour.good:
            status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
        else:
            status, revoked_at, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        next_update = None if behaviour.next_update is None else now + behaviour.next_update
        this_update = now - timedelta(minutes=1)
        if next_update is not None and next_update < this_update:
            this_update = next_update - timedelta(hours=1)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            request.issuer_name_hash, request.issuer_key_hash, serial, request.hash_algorithm,
            status, this_update, next_update, revoked_at, reason,
        )  # fmt: skip
        signer_cert, signer_key = self._signer()
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        if signer_cert is not ca.certificate:
            builder = builder.certificates([signer_cert])
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        if nonce is not None and behaviour.echo_nonce:
            sent = bytes(reversed(nonce)) if behaviour.wrong_nonce else nonce
            builder = builder.add_extension(x509.OCSPNonce(sent), critical=False)
        response = builder.sign(signer_key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)

    def _signer(self) -> tuple[x509.Certificate, PrivateKey]:
        ca = self._ca
        assert ca is not None
        chosen = {
            "delegated": self._delegate,
            "delegated_without_eku": self._without_eku,
            "stranger": self._stranger,
        }.get(self.behaviour.signer)
        if chosen is None:
            return ca.certificate, ca.key
        return chosen.certificate, chosen.key

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(min(length, 65536))
                responder.requests += 1
                behaviour = responder.behaviour
                if behaviour.hang:
                    responder._release.wait(timeout=60)
                    return
                if behaviour.http_status != 200:
                    self.send_error(behaviour.http_status)
                    return
                payload = b"not OCSP at all" if behaviour.garbage else responder.answer(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet tests

        return Handler
