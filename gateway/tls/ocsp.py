"""OCSP (RFC 6960) for device certificates: ask the responder, check its answer, cache it.

``OcspChecker.check(certificate, issuer)`` finds the responder (``--tls-ocsp-url``, else the
OCSP URL in the certificate's Authority Information Access), POSTs a request with a fresh nonce,
and accepts the answer only when

* the response is ``successful`` and holds a SingleResponse for exactly this certificate
  (serial, issuer name hash and issuer key hash);
* it is signed by the issuer itself, or by a delegated responder whose certificate the issuer
  signed, that carries the id-kp-OCSPSigning extended key usage and is valid now;
* ``thisUpdate`` is not in the future and ``nextUpdate`` (when given) not in the past, both
  with a little clock skew allowed;
* the nonce, when the responder echoes one, is ours (responders that pre-sign their answers
  send none, RFC 5019; that is accepted).

Verified answers are cached until their ``nextUpdate`` (answers without one for a minute, to
absorb a reconnect storm), concurrent checks of one certificate share one request, and the whole
check has a deadline. Anything short of a verified answer is ``OcspUnavailableError``: what it
means for the terminal is the policy's call (``--tls-ocsp``), made by ``TlsServer``.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

import anyio
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

#: Clock difference tolerated between us and the responder.
CLOCK_SKEW: Final = timedelta(minutes=5)
#: How long an answer without nextUpdate is reused.
NO_NEXT_UPDATE_TTL: Final = timedelta(minutes=1)
#: Largest OCSP response read (a real one is 1-4 KiB).
MAX_RESPONSE_BYTES: Final = 64 * 1024
#: Certificates whose status is remembered; the least recently used go first.
MAX_CACHE_ENTRIES: Final = 100_000
NONCE_BYTES: Final = 16
OCSP_REQUEST: Final = "application/ocsp-request"
OCSP_RESPONSE: Final = "application/ocsp-response"


class OcspPolicy(StrEnum):
    """What an unanswerable OCSP check means (``--tls-ocsp``)."""

    OFF = "off"  # never ask
    SOFT_FAIL = "soft-fail"  # responder down or answer unusable: let the device in (logged)
    HARD_FAIL = "hard-fail"  # responder down or answer unusable: refuse the device


class CertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OcspResult:
    status: CertStatus
    this_update: datetime
    next_update: datetime | None
    responder: str
    revocation_time: datetime | None = None
    revocation_reason: str | None = None
    cached: bool = False


class OcspUnavailableError(Exception):
    """No verified answer: the responder is unreachable, too slow, refused, or its answer failed
    a check. ``kind`` is a short label for metrics."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


class OcspResponseError(OcspUnavailableError):
    """The responder answered, but the answer does not prove anything (a failed check)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "invalid_response")


def responder_url(certificate: x509.Certificate) -> str | None:
    """The first http(s) OCSP URL of the certificate's Authority Information Access."""
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return None
    for description in aia.value:
        if description.access_method != AuthorityInformationAccessOID.OCSP:
            continue
        location = description.access_location
        if isinstance(
            location, x509.UniformResourceIdentifier
        ) and location.value.lower().startswith(("http://", "https://")):
            return location.value
    return None


def build_request(
    certificate: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None
) -> ocsp.OCSPRequest:
    """An OCSP request for ``certificate`` (SHA-1 CertID, as RFC 5019 responders require)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build()


def validate_response(
    der: bytes,
    *,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes | None,
    now: datetime,
    responder: str = "",
) -> OcspResult:
    """Check an OCSP response for ``certificate`` (see the module docstring); raises
    ``OcspResponseError`` naming the failed check, or ``OcspUnavailableError`` for a responder
    that declined to answer."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as error:
        raise OcspResponseError(f"the response is not DER OCSP ({_short(error)})") from None
    status = response.response_status
    if status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspUnavailableError(
            f"the responder answered {status.name.lower()}", "responder_" + status.name.lower()
        )
    single = _single_response_for(response, certificate, issuer)
    signer = _signer(response, issuer, now)
    _check_signature(response, signer)
    this_update = single.this_update_utc
    next_update = single.next_update_utc
    if this_update > now + CLOCK_SKEW:
        raise OcspResponseError(f"thisUpdate {this_update:%Y-%m-%d %H:%M:%S} is in the future")
    if next_update is not None and next_update < now - CLOCK_SKEW:
        raise OcspResponseError(f"stale answer: nextUpdate was {next_update:%Y-%m-%d %H:%M:%S}")
    if nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None  # a pre-signed answer (RFC 5019): acceptable
        if echoed is not None and echoed != nonce:
            raise OcspResponseError("the nonce is not the one sent (a replayed answer?)")
    cert_status = single.certificate_status
    if cert_status is ocsp.OCSPCertStatus.GOOD:
        return OcspResult(CertStatus.GOOD, this_update, next_update, responder)
    if cert_status is ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason
        return OcspResult(
            CertStatus.REVOKED, this_update, next_update, responder,
            single.revocation_time_utc, None if reason is None else reason.name,
        )  # fmt: skip
    return OcspResult(CertStatus.UNKNOWN, this_update, next_update, responder)


def _single_response_for(
    response: ocsp.OCSPResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    expected_by_hash: dict[str, ocsp.OCSPRequest] = {}
    for single in response.responses:
        algorithm = single.hash_algorithm
        expected = expected_by_hash.get(algorithm.name)
        if expected is None:
            expected = expected_by_hash[algorithm.name] = _request_with(
                certificate, issuer, algorithm
            )
        if (
            single.serial_number == certificate.serial_number
            and single.issuer_key_hash == expected.issuer_key_hash
            and single.issuer_name_hash == expected.issuer_name_hash
        ):
            return single
    raise OcspResponseError("the response holds no answer for this certificate")


def _request_with(
    certificate: x509.Certificate, issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> ocsp.OCSPRequest:
    try:
        return ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, algorithm).build()
    except ValueError:
        raise OcspResponseError(f"unsupported CertID hash {algorithm.name}") from None


def _signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime
) -> x509.Certificate:
    """The certificate that signed the response: the issuer, or a responder it delegated to."""
    if _is_responder(response, issuer):
        return issuer
    for candidate in response.certificates:
        if not _is_responder(response, candidate):
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise OcspResponseError(
                "the responder's certificate is not issued by the device certificate's issuer"
            ) from None
        try:
            usage = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is None or ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
            raise OcspResponseError(
                "the responder's certificate lacks the OCSP-signing extended key usage"
            )
        if (
            not candidate.not_valid_before_utc - CLOCK_SKEW
            <= now
            <= (candidate.not_valid_after_utc + CLOCK_SKEW)
        ):
            raise OcspResponseError("the responder's certificate is outside its validity period")
        return candidate
    raise OcspResponseError(
        "the response is signed neither by the issuer nor by a responder certificate it carries"
    )


def _is_responder(response: ocsp.OCSPResponse, certificate: x509.Certificate) -> bool:
    name = response.responder_name
    if name is not None:
        return name == certificate.subject
    key_hash = response.responder_key_hash
    return key_hash == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _check_signature(response: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    key = signer.public_key()
    data = response.tbs_response_bytes
    signature = response.signature
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            raise OcspResponseError(f"unsupported response signature ({type(key).__name__})")
    except InvalidSignature:
        raise OcspResponseError("the response signature does not verify") from None


# --------------------------------------------------------------------------------------------
# The checker


@dataclass(slots=True)
class _Entry:
    result: OcspResult
    until: datetime


class _Flight:
    """One request in progress that later checks of the same certificate wait for."""

    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: OcspResult | None = None
        self.error: OcspUnavailableError | None = None


class OcspChecker:
    """Revocation checks of device certificates; one per gateway (the cache is shared)."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        url: str | None = None,
        use_nonce: bool = True,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_entries: int = MAX_CACHE_ENTRIES,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self.url = url
        self.use_nonce = use_nonce
        self.wall_clock = wall_clock
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[bytes, int], _Entry] = OrderedDict()
        self._flights: dict[tuple[bytes, int], _Flight] = {}
        self._client: httpx.AsyncClient | None = None
        #: Requests sent to responders (the cache saves the others).
        self.requests_sent = 0

    def responder_for(self, certificate: x509.Certificate) -> str | None:
        return self.url or responder_url(certificate)

    async def check(self, certificate: x509.Certificate, issuer: x509.Certificate) -> OcspResult:
        """The certificate's status, from the cache or its responder, within ``timeout``.

        Raises ``OcspUnavailableError`` when no verified answer could be had (including a
        certificate that names no responder: ``kind`` "no_responder").
        """
        key = (x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest,
               certificate.serial_number)  # fmt: skip
        cached = self._cached(key)
        if cached is not None:
            return cached
        flight = self._flights.get(key)
        if flight is not None:
            await flight.done.wait()
            if flight.result is not None:
                return _as_cached(flight.result)
            assert flight.error is not None
            raise flight.error
        flight = self._flights[key] = _Flight()
        try:
            result = await self._ask(certificate, issuer)
        except OcspUnavailableError as error:
            flight.error = error
            raise
        else:
            flight.result = result
            self._store(key, result)
            return result
        finally:
            del self._flights[key]
            flight.done.set()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _cached(self, key: tuple[bytes, int]) -> OcspResult | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        if self.wall_clock() >= entry.until:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return _as_cached(entry.result)

    def _store(self, key: tuple[bytes, int], result: OcspResult) -> None:
        until = result.next_update or self.wall_clock() + NO_NEXT_UPDATE_TTL
        self._cache[key] = _Entry(result, until)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _ask(self, certificate: x509.Certificate, issuer: x509.Certificate) -> OcspResult:
        url = self.responder_for(certificate)
        if url is None:
            raise OcspUnavailableError(
                "the certificate names no OCSP responder and --tls-ocsp-url is not set",
                "no_responder",
            )
        nonce = secrets.token_bytes(NONCE_BYTES) if self.use_nonce else None
        request = build_request(certificate, issuer, nonce)
        body = request.public_bytes(serialization.Encoding.DER)
        self.requests_sent += 1
        try:
            with anyio.fail_after(self.timeout):
                der = await self._post(url, body)
        except TimeoutError:
            raise OcspUnavailableError(
                f"the responder {url} did not answer within {self.timeout:g} s", "timeout"
            ) from None
        return validate_response(
            der, certificate=certificate, issuer=issuer, nonce=nonce, now=self.wall_clock(),
            responder=url,
        )  # fmt: skip

    async def _post(self, url: str, body: bytes) -> bytes:
        if self._client is None:
            # No retries, no redirects: OCSP is one request, and the deadline is ours.
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        try:
            async with self._client.stream(
                "POST", url, content=body,
                headers={"Content-Type": OCSP_REQUEST, "Accept": OCSP_RESPONSE},
                timeout=self.timeout,
            ) as reply:  # fmt: skip
                if reply.status_code != 200:
                    raise OcspUnavailableError(
                        f"the responder {url} answered HTTP {reply.status_code}", "http_error"
                    )
                data = bytearray()
                async for chunk in reply.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_RESPONSE_BYTES:
                        raise OcspResponseError(
                            f"the response from {url} is larger than {MAX_RESPONSE_BYTES} bytes"
                        )
                return bytes(data)
        except httpx.HTTPError as error:
            raise OcspUnavailableError(
                f"the responder {url} cannot be reached ({_short(error)})"
            ) from None


def _as_cached(result: OcspResult) -> OcspResult:
    return dataclasses.replace(result, cached=True)


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


__all__ = [
    "CertStatus",
    "OcspChecker",
    "OcspPolicy",
    "OcspResponseError",
    "OcspResult",
    "OcspUnavailableError",
    "build_request",
    "responder_url",
    "validate_response",
]
