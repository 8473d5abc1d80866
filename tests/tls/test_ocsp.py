"""OCSP checks against a real responder on loopback: every answer, every check of the answer,
the cache and its lifetime, the deadline, and what an unreachable responder gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
from cryptography.x509 import ocsp

from gateway.tls.ocsp import (
    CertStatus,
    OcspChecker,
    OcspResponseError,
    OcspResult,
    OcspUnavailableError,
    responder_url,
)

from .ocsp_responder import OcspResponder
from .pki import TestPki

pytestmark = pytest.mark.anyio


class Clock:
    """A wall clock the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def check(pki: TestPki, name: str, checker: OcspChecker | None = None) -> OcspResult:
    checker = checker or OcspChecker(timeout=10)
    issued = pki.issued[name]
    return await checker.check(issued.certificate, pki.device_ca.certificate)


async def failure(
    pki: TestPki, name: str, checker: OcspChecker | None = None
) -> OcspUnavailableError:
    with pytest.raises(OcspUnavailableError) as caught:
        await check(pki, name, checker)
    return caught.value


async def test_a_good_certificate(pki: TestPki, responder: OcspResponder) -> None:
    result = await check(pki, "device")
    assert result.status is CertStatus.GOOD
    assert result.responder == responder.url
    assert result.next_update is not None and result.this_update < result.next_update
    assert not result.cached


async def test_a_revoked_certificate_says_when_and_why(pki: TestPki) -> None:
    result = await check(pki, "revoked")
    assert result.status is CertStatus.REVOKED
    assert result.revocation_reason == "key_compromise"
    assert result.revocation_time is not None


async def test_a_certificate_the_responder_does_not_know(pki: TestPki) -> None:
    assert (await check(pki, "unknown")).status is CertStatus.UNKNOWN


async def test_the_responder_url_comes_from_the_certificate(
    pki: TestPki, responder: OcspResponder
) -> None:
    assert responder_url(pki.issued["device"].certificate) == responder.url
    assert responder_url(pki.issued["no_aia"].certificate) is None
    error = await failure(pki, "no_aia")
    assert error.kind == "no_responder"


async def test_a_configured_url_overrides_the_certificate(
    pki: TestPki, responder: OcspResponder
) -> None:
    checker = OcspChecker(timeout=10, url=responder.url)
    assert (await check(pki, "device", checker)).status is CertStatus.GOOD


async def test_a_delegated_responder_with_the_ocsp_signing_usage_is_accepted(
    pki: TestPki, responder: OcspResponder
) -> None:
    responder.behaviour.signer = "delegated"
    assert (await check(pki, "device")).status is CertStatus.GOOD


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"signer": "delegated_without_eku"}, "lacks the OCSP-signing extended key usage"),
        ({"signer": "stranger"}, "not issued by the device certificate's issuer"),
        ({"wrong_nonce": True}, "nonce is not the one sent"),
        ({"next_update": timedelta(hours=-1)}, "stale answer"),
        ({"garbage": True}, "not DER OCSP"),
    ],
)
async def test_answers_that_prove_nothing_are_refused(
    pki: TestPki, responder: OcspResponder, change: dict[str, object], message: str
) -> None:
    for key, value in change.items():
        setattr(responder.behaviour, key, value)
    error = await failure(pki, "device")
    assert isinstance(error, OcspResponseError)
    assert message in str(error)
    assert error.kind == "invalid_response"


async def test_a_responder_that_does_not_echo_the_nonce_is_accepted(
    pki: TestPki, responder: OcspResponder
) -> None:
    responder.behaviour.echo_nonce = False  # pre-signed answers (RFC 5019) carry none
    assert (await check(pki, "device")).status is CertStatus.GOOD


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"http_status": 500}, "http_error"),
        ({"response_status": ocsp.OCSPResponseStatus.TRY_LATER}, "responder_try_later"),
        ({"response_status": ocsp.OCSPResponseStatus.UNAUTHORIZED}, "responder_unauthorized"),
    ],
)
async def test_a_responder_that_declines_gives_no_answer(
    pki: TestPki, responder: OcspResponder, change: dict[str, object], kind: str
) -> None:
    for key, value in change.items():
        setattr(responder.behaviour, key, value)
    assert (await failure(pki, "device")).kind == kind


async def test_a_slow_responder_runs_into_the_deadline(
    pki: TestPki, responder: OcspResponder
) -> None:
    responder.behaviour.hang = True
    error = await failure(pki, "device", OcspChecker(timeout=0.3))
    assert error.kind == "timeout"
    assert "did not answer within 0.3 s" in str(error)


async def test_a_responder_that_is_down_is_unreachable(pki: TestPki) -> None:
    error = await failure(pki, "device", OcspChecker(timeout=10, url="http://127.0.0.1:1/"))
    assert error.kind == "unreachable"
    assert "cannot be reached" in str(error)


async def test_answers_are_cached_until_next_update(pki: TestPki, responder: OcspResponder) -> None:
    responder.behaviour.next_update = timedelta(minutes=10)
    clock = Clock()
    checker = OcspChecker(timeout=10, wall_clock=clock)
    assert not (await check(pki, "device", checker)).cached
    again = await check(pki, "device", checker)
    assert again.cached and again.status is CertStatus.GOOD
    assert responder.requests == 1
    clock.offset = timedelta(minutes=11)  # past nextUpdate: ask again
    assert not (await check(pki, "device", checker)).cached
    assert responder.requests == 2


async def test_answers_without_next_update_are_reused_for_a_minute(
    pki: TestPki, responder: OcspResponder
) -> None:
    responder.behaviour.next_update = None
    clock = Clock()
    checker = OcspChecker(timeout=10, wall_clock=clock)
    await check(pki, "device", checker)
    clock.offset = timedelta(seconds=50)
    assert (await check(pki, "device", checker)).cached
    clock.offset = timedelta(seconds=61)
    assert not (await check(pki, "device", checker)).cached
    assert responder.requests == 2


async def test_failures_are_not_cached(pki: TestPki, responder: OcspResponder) -> None:
    checker = OcspChecker(timeout=10)
    responder.behaviour.http_status = 503
    await failure(pki, "device", checker)
    responder.behaviour.http_status = 200
    assert (await check(pki, "device", checker)).status is CertStatus.GOOD
    assert responder.requests == 2


async def test_concurrent_checks_of_one_certificate_share_one_request(
    pki: TestPki, responder: OcspResponder
) -> None:
    checker = OcspChecker(timeout=10)
    results: list[OcspResult] = []

    async def one() -> None:
        results.append(await check(pki, "device", checker))

    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(one)
    assert [r.status for r in results] == [CertStatus.GOOD] * 5
    assert responder.requests == 1


async def test_the_cache_is_bounded(pki: TestPki, responder: OcspResponder) -> None:
    checker = OcspChecker(timeout=10, max_entries=1)
    await check(pki, "device", checker)
    await check(pki, "wrong_phone", checker)  # evicts the first
    assert not (await check(pki, "device", checker)).cached
    assert responder.requests == 3
