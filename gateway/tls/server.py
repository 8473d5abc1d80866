"""``TlsServer``: the terminal listener's TLS material and every TLS decision about a terminal.

The I/O edge asks it, in a connection's life cycle:

1. ``generation`` / ``context_for_new_connection()`` at accept: the context of the current
   generation of files (a reload swaps in a new one; connections already up keep theirs);
2. ``handshake_failed(error, remote)`` when the handshake raised: the error classified, logged
   and counted, as a ``TlsRefusedError`` with a reason;
3. ``await verify_peer(ssl_object, remote_address=...)`` once the handshake completed: the
   ``TlsPeer`` (its certificate identity, revocation checked under ``--tls-ocsp``), or
   ``TlsRefusedError`` (revoked, unknown, responder down under hard-fail, expired since);
4. ``check_registration`` / ``check_authentication`` for each 0x0100 / 0x0102 of a mutual-TLS
   terminal: an ``IdentityMismatch`` (logged and counted) means refuse it.

``TlsListener`` (listener.py) runs 1-3 for a listening socket; ``serve_reloads`` (reload.py)
calls ``reload`` on SIGHUP and when the files change.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from prometheus_client import CollectorRegistry

from gateway.server.config import ConfigError, GatewayConfig
from gateway.server.logs import get_logger

from .context import LoadedTls, ServerTlsFiles, load_server_tls
from .files import file_signature
from .identity import (
    CertificateIdentity,
    IdentityMismatch,
    IdentityRule,
    check_authentication,
    check_registration,
)
from .metrics import TlsMetrics
from .ocsp import CertStatus, OcspChecker, OcspPolicy, OcspUnavailableError

log = get_logger()

#: OpenSSL verification results (``X509_V_ERR_*``) and what they mean for a device.
_VERIFY_CODES: Final = {
    9: "certificate_not_yet_valid",
    10: "certificate_expired",
    2: "certificate_untrusted",  # unable to get issuer certificate
    18: "certificate_untrusted",  # self-signed leaf
    19: "certificate_untrusted",  # self-signed certificate in the chain
    20: "certificate_untrusted",  # unable to get local issuer certificate
    21: "certificate_untrusted",  # unable to verify the first certificate
    23: "certificate_revoked",
}
#: OpenSSL error reasons of a handshake, by what they mean.
_SSL_REASONS: Final = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no_certificate",
    "WRONG_VERSION_NUMBER": "not_tls",
    "HTTP_REQUEST": "not_tls",
    "UNKNOWN_PROTOCOL": "not_tls",
    "UNSUPPORTED_PROTOCOL": "no_common_protocol",
    "NO_SHARED_CIPHER": "no_common_protocol",
    "NO_SUITABLE_KEY_SHARE": "no_common_protocol",
    "NO_SHARED_GROUPS": "no_common_protocol",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no_common_protocol",
    "VERSION_TOO_LOW": "no_common_protocol",
}
MAX_DETAIL: Final = 200


class RefusalReason(StrEnum):
    """Why a terminal's TLS connection was refused (a metric label and a log field)."""

    HANDSHAKE_TIMEOUT = "handshake_timeout"
    NOT_TLS = "not_tls"
    NO_COMMON_PROTOCOL = "no_common_protocol"
    NO_CERTIFICATE = "no_certificate"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    CERTIFICATE_UNTRUSTED = "certificate_untrusted"
    CERTIFICATE_INVALID = "certificate_invalid"
    CERTIFICATE_REVOKED = "certificate_revoked"
    CERTIFICATE_STATUS_UNKNOWN = "certificate_status_unknown"
    OCSP_UNAVAILABLE = "ocsp_unavailable"
    PEER_CLOSED = "peer_closed"
    HANDSHAKE_FAILED = "handshake_failed"


class TlsRefusedError(Exception):
    """A terminal's TLS connection is refused; ``reason`` for metrics, ``detail`` for the log."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail[:MAX_DETAIL]


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Everything the TLS listener is told (from ``GatewayConfig``)."""

    files: ServerTlsFiles
    identity_rule: IdentityRule = field(default_factory=IdentityRule)
    ocsp_policy: OcspPolicy = OcspPolicy.HARD_FAIL
    ocsp_url: str | None = None
    ocsp_timeout: float = 5.0
    handshake_timeout: float = 10.0

    @classmethod
    def from_config(cls, config: GatewayConfig) -> TlsSettings | None:
        """None when no TLS listener is configured."""
        if config.tls_listen is None:
            return None
        if config.tls_cert is None or config.tls_key is None:
            raise ConfigError("--tls-listen needs --tls-cert FILE and --tls-key FILE")
        return cls(
            ServerTlsFiles(config.tls_cert, config.tls_key, config.tls_client_ca),
            identity_rule=IdentityRule.parse(config.tls_identity),
            ocsp_policy=OcspPolicy(config.tls_ocsp),
            ocsp_url=config.tls_ocsp_url,
            ocsp_timeout=config.tls_ocsp_timeout,
            handshake_timeout=config.tls_handshake_timeout,
        )


@dataclass(frozen=True, slots=True)
class TlsPeer:
    """A terminal whose TLS connection was accepted: what the edge keeps for the session."""

    remote_address: str
    tls_version: str
    cipher: str
    #: The verified client certificate (mutual TLS), else None.
    certificate: CertificateIdentity | None = None
    #: "good", "not_checked" (OCSP off or one-way TLS), "no_responder", or "soft_fail".
    revocation: str = "not_checked"
    resumed: bool = False

    def log_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"tls": self.tls_version}
        if self.certificate is not None:
            fields.update(self.certificate.log_fields())
        return fields


class TlsServer:
    """See the module docstring. Loading the files happens in the constructor: a problem is a
    ``TlsFilesError`` (a ``ConfigError``) naming the setting, before anything listens."""

    def __init__(
        self,
        settings: TlsSettings,
        *,
        registry: CollectorRegistry | None = None,
        ocsp: OcspChecker | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.metrics = TlsMetrics(registry)
        self.wall_clock = wall_clock
        self._signature = file_signature(*self._paths())
        self._loaded = load_server_tls(settings.files, now=wall_clock())
        uses_ocsp = self._loaded.mutual and settings.ocsp_policy is not OcspPolicy.OFF
        if uses_ocsp and ocsp is None:
            ocsp = OcspChecker(
                timeout=settings.ocsp_timeout, url=settings.ocsp_url, wall_clock=wall_clock
            )
        self.ocsp = ocsp if uses_ocsp else None

    @classmethod
    def from_config(
        cls, config: GatewayConfig, *, registry: CollectorRegistry | None = None
    ) -> TlsServer | None:
        settings = TlsSettings.from_config(config)
        return None if settings is None else cls(settings, registry=registry)

    # ---- the context -----------------------------------------------------------------------

    @property
    def generation(self) -> LoadedTls:
        """The TLS material new connections get now."""
        return self._loaded

    def context_for_new_connection(self) -> ssl.SSLContext:
        return self._loaded.context

    @property
    def mutual(self) -> bool:
        return self._loaded.mutual

    def reload(self, *, only_if_changed: bool = False) -> bool:
        """Build a new generation from the files; True when one was swapped in.

        A file that cannot be used keeps the current generation (logged and counted): a typo
        in a renewed certificate must not take the listener down. Live connections keep the
        generation they were accepted with.
        """
        signature = file_signature(*self._paths())
        if only_if_changed and signature == self._signature:
            return False
        try:
            loaded = load_server_tls(self.settings.files, now=self.wall_clock())
        except ConfigError as error:
            self.metrics.reloads.labels("failed").inc()
            log.error("TLS reload failed; the previous certificates stay in use",
                      extra={"error": str(error)})  # fmt: skip
            self._signature = signature  # do not retry the same broken files every poll
            return False
        if loaded.mutual != self._loaded.mutual:  # pragma: no cover - the paths are fixed
            raise AssertionError("a reload cannot switch mutual TLS on or off")
        self._signature = signature
        self._loaded = loaded
        self.metrics.reloads.labels("ok").inc()
        leaf = loaded.key_pair.leaf
        log.info(
            "TLS certificates reloaded",
            extra={"subject": leaf.subject.rfc4514_string()[:MAX_DETAIL],
                   "not_after": f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
                   "client_cas": len(loaded.client_ca.certificates) if loaded.client_ca else 0},
        )  # fmt: skip
        return True

    def _paths(self) -> tuple[Any, ...]:
        files = self.settings.files
        return (files.cert, files.key, files.client_ca)

    # ---- the handshake ---------------------------------------------------------------------

    def handshake_failed(self, error: BaseException, remote_address: str) -> TlsRefusedError:
        """Classify, log and count a failed handshake (the edge then drops the connection)."""
        refusal = classify_handshake_error(error)
        self.metrics.handshakes.labels(refusal.reason.value).inc()
        log.info(
            "TLS handshake failed",
            extra={"remote": remote_address, "reason": refusal.reason.value,
                   "detail": refusal.detail},
        )  # fmt: skip
        return refusal

    async def verify_peer(
        self,
        ssl_object: ssl.SSLObject,
        *,
        remote_address: str,
        generation: LoadedTls | None = None,
    ) -> TlsPeer:
        """After a completed handshake: who the peer is, and may it stay?

        Raises ``TlsRefusedError`` (logged and counted) for a certificate revoked, of unknown
        status, expired since its session was made (a resumed session is not re-verified by
        the TLS stack), or whose responder cannot be asked under hard-fail. ``generation`` is
        the one the connection was accepted with (its CA bundle finds the issuer).
        """
        loaded = generation or self._loaded
        cipher = ssl_object.cipher()
        base = dict(
            remote_address=remote_address,
            tls_version=ssl_object.version() or "",
            cipher=cipher[0] if cipher else "",
            resumed=ssl_object.session_reused,
        )
        der = ssl_object.getpeercert(binary_form=True)
        if der is None:
            if loaded.mutual:  # the TLS stack requires one; this is a second line of defence
                raise self._refuse(RefusalReason.NO_CERTIFICATE, "no client certificate", base)
            self.metrics.handshakes.labels("ok").inc()
            return TlsPeer(**base)  # type: ignore[arg-type]
        certificate = x509.load_der_x509_certificate(der)
        identity = CertificateIdentity.of(certificate)
        fields = {**base, **identity.log_fields()}
        now = self.wall_clock()
        if now > certificate.not_valid_after_utc:
            raise self._refuse(
                RefusalReason.CERTIFICATE_EXPIRED,
                f"expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                fields,
            )
        revocation = await self._check_revocation(certificate, ssl_object, loaded, fields)
        self.metrics.handshakes.labels("ok").inc()
        return TlsPeer(certificate=identity, revocation=revocation, **base)  # type: ignore[arg-type]

    async def _check_revocation(
        self,
        certificate: x509.Certificate,
        ssl_object: ssl.SSLObject,
        loaded: LoadedTls,
        fields: dict[str, object],
    ) -> str:
        checker = self.ocsp
        if checker is None:
            return "not_checked"
        if checker.responder_for(certificate) is None:
            self.metrics.ocsp.labels("no_responder").inc()
            return "no_responder"
        anchors = loaded.client_ca.certificates if loaded.client_ca is not None else ()
        issuer = issuer_of(certificate, verified_chain(ssl_object), anchors)
        if issuer is None:
            error = OcspUnavailableError("the issuer certificate is not known", "no_issuer")
            return self._ocsp_unavailable(error, fields)
        try:
            result = await checker.check(certificate, issuer)
        except OcspUnavailableError as error:
            return self._ocsp_unavailable(error, fields)
        self.metrics.ocsp.labels("cached" if result.cached else result.status.value).inc()
        if result.status is CertStatus.REVOKED:
            when = result.revocation_time
            raise self._refuse(
                RefusalReason.CERTIFICATE_REVOKED,
                f"revoked{'' if when is None else f' on {when:%Y-%m-%d %H:%M} UTC'}"
                f"{'' if result.revocation_reason is None else f' ({result.revocation_reason})'}"
                f" according to {result.responder}",
                fields,
            )
        if result.status is CertStatus.UNKNOWN:
            raise self._refuse(
                RefusalReason.CERTIFICATE_STATUS_UNKNOWN,
                f"the responder {result.responder} does not know this certificate",
                fields,
            )
        return "good"

    def _ocsp_unavailable(self, error: OcspUnavailableError, fields: dict[str, object]) -> str:
        self.metrics.ocsp.labels(error.kind).inc()
        if self.settings.ocsp_policy is OcspPolicy.HARD_FAIL:
            raise self._refuse(RefusalReason.OCSP_UNAVAILABLE, f"{error} (hard-fail)", fields)
        log.warning(
            "OCSP check failed; device let in (--tls-ocsp soft-fail)",
            extra={**fields, "detail": str(error)[:MAX_DETAIL]},
        )
        return "soft_fail"

    def _refuse(
        self, reason: RefusalReason, detail: str, fields: dict[str, object]
    ) -> TlsRefusedError:
        refusal = TlsRefusedError(reason, detail)
        self.metrics.refused.labels(reason.value).inc()
        log.warning(
            "TLS connection refused",
            extra={"remote": fields.get("remote_address", ""), "reason": reason.value,
                   "detail": refusal.detail,
                   **{k: v for k, v in fields.items() if k.startswith("cert_")}},
        )  # fmt: skip
        return refusal

    # ---- the terminal's claims -------------------------------------------------------------

    def check_registration(
        self,
        peer: TlsPeer,
        *,
        phone: str,
        manufacturer_id: str,
        terminal_model: str,
        terminal_id: str,
    ) -> IdentityMismatch | None:
        """Before the auth backend sees a 0x0100: does it match the device certificate?
        A mismatch (logged, counted) is answered 0x8100 result 4."""
        if peer.certificate is None:
            return None
        mismatch = check_registration(
            self.settings.identity_rule, peer.certificate, phone=phone,
            manufacturer_id=manufacturer_id, terminal_model=terminal_model,
            terminal_id=terminal_id,
        )  # fmt: skip
        return self._mismatch(mismatch, peer, phone, "0x0100")

    def check_authentication(
        self, peer: TlsPeer, *, phone: str, device_name: str | None = None
    ) -> IdentityMismatch | None:
        """Does a 0x0102 match the device certificate? With a phone rule call it before the
        auth backend; with a device-name rule after it accepted, passing the device name it
        gave (or the registration's). A mismatch (logged, counted) is answered 0x8001 result 1.
        """
        if peer.certificate is None:
            return None
        mismatch = check_authentication(
            self.settings.identity_rule, peer.certificate, phone=phone, device_name=device_name
        )
        return self._mismatch(mismatch, peer, phone, "0x0102")

    @property
    def identity_needs_device_name(self) -> bool:
        """True when 0x0102 can only be checked after the auth backend (device-name rules)."""
        return self.settings.identity_rule.claim.value == "device_name"

    def _mismatch(
        self, mismatch: IdentityMismatch | None, peer: TlsPeer, phone: str, msg_id: str
    ) -> IdentityMismatch | None:
        if mismatch is None:
            return None
        self.metrics.identity_mismatches.labels(msg_id).inc()
        log.warning(
            "terminal refused: its message does not match its certificate",
            extra={"phone": phone, "remote": peer.remote_address, "msg_id": msg_id,
                   "reason": mismatch.reason, "rule": str(self.settings.identity_rule),
                   **peer.log_fields()},
        )  # fmt: skip
        return mismatch

    async def aclose(self) -> None:
        if self.ocsp is not None:
            await self.ocsp.aclose()


def classify_handshake_error(error: BaseException) -> TlsRefusedError:
    """What a failed server-side handshake means, from the exception asyncio raised."""
    detail = str(error) or type(error).__name__
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = _VERIFY_CODES.get(error.verify_code, "certificate_invalid")
        return TlsRefusedError(RefusalReason(reason), error.verify_message or detail)
    if isinstance(error, ssl.SSLError):
        label = _SSL_REASONS.get(error.reason or "", "handshake_failed")
        return TlsRefusedError(RefusalReason(label), error.reason or detail)
    if isinstance(error, ConnectionAbortedError) and "handshake" in detail:
        return TlsRefusedError(RefusalReason.HANDSHAKE_TIMEOUT, detail)
    if isinstance(error, TimeoutError):
        return TlsRefusedError(RefusalReason.HANDSHAKE_TIMEOUT, detail)
    if isinstance(error, ConnectionError | EOFError):
        return TlsRefusedError(RefusalReason.PEER_CLOSED, detail)
    return TlsRefusedError(RefusalReason.HANDSHAKE_FAILED, detail)


def verified_chain(ssl_object: ssl.SSLObject) -> list[x509.Certificate]:
    """The chain OpenSSL verified (leaf first): public from Python 3.13, a private method of
    the same object before. Empty when neither exists (the CA bundle is searched instead)."""
    method = getattr(ssl_object, "get_verified_chain", None)
    if method is None:
        method = getattr(getattr(ssl_object, "_sslobj", None), "get_verified_chain", None)
    if method is None:
        return []
    try:
        items = method() or []
    except (ssl.SSLError, ValueError, AttributeError):
        return []
    chain: list[x509.Certificate] = []
    for item in items:
        if isinstance(item, bytes):  # Python 3.13+: DER bytes
            chain.append(x509.load_der_x509_certificate(item))
        else:  # before: _ssl.Certificate objects, PEM by default
            chain.append(x509.load_pem_x509_certificate(item.public_bytes().encode("ascii")))
    return chain


def issuer_of(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> x509.Certificate | None:
    """The certificate that signed ``certificate``, from the verified chain or the CA bundle."""
    for candidate in (*chain, *anchors):
        if candidate.subject != certificate.issuer or candidate == certificate:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


__all__ = [
    "RefusalReason",
    "TlsPeer",
    "TlsRefusedError",
    "TlsServer",
    "TlsSettings",
    "classify_handshake_error",
    "issuer_of",
    "verified_chain",
]
