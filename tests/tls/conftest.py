"""Fixtures of the TLS tests: a test PKI (tests/tls/pki.py) whose device certificates name a real
OCSP responder on loopback (tests/tls/ocsp_responder.py), shared by a module; the responder's
behaviour is reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .ocsp_responder import Behaviour, OcspResponder
from .pki import TestPki, make_pki


@pytest.fixture(scope="module")
def responder() -> Iterator[OcspResponder]:
    server = OcspResponder().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory, responder: OcspResponder) -> TestPki:
    built = make_pki(tmp_path_factory.mktemp("pki"), responder.url)
    responder.serve_for(built.device_ca)
    return built


@pytest.fixture(autouse=True)
def fresh_responder(request: pytest.FixtureRequest) -> None:
    """Every test starts with a responder that knows the good and revoked devices."""
    if "pki" not in request.fixturenames:
        return
    pki: TestPki = request.getfixturevalue("pki")
    responder: OcspResponder = request.getfixturevalue("responder")
    responder.behaviour = Behaviour(
        good={pki.serial(n) for n in ("device", "device_rsa", "wrong_phone", "san_device")},
        revoked={pki.serial("revoked")},
    )
    responder.requests = 0


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


def copy_files(pki: TestPki, name: str, directory: Path) -> tuple[Path, Path]:
    """The cert and key of ``name`` copied into ``directory`` (files a test may rewrite)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = pki.files[name]
    cert, key = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(files.cert.read_bytes())
    key.write_bytes(files.key.read_bytes())
    return cert, key
