"""``jt808 pki``: a lab PKI in a few commands, usable as is by the TLS listener, the simulator
and ``openssl ocsp`` (its index.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from clients.cli import main
from gateway.tls.context import ServerTlsFiles, client_context
from gateway.tls.ocsp import OcspPolicy
from gateway.tls.server import TlsSettings

from .harness import echo, running_listener

pytestmark = pytest.mark.anyio


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    assert main(["pki", "init", str(directory), "--ocsp-url", "http://127.0.0.1:1/"]) == 0
    assert main(["pki", "device", str(directory), "--phone", "013800000000", "--count", "2"]) == 0
    return directory


def certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_init_and_device_write_what_the_gateway_and_devices_need(lab: Path) -> None:
    for name in ("ca.pem", "ca.key", "devices-ca.pem", "server.pem", "server.key", "index.txt"):
        assert (lab / name).is_file(), name
    assert (lab / "ca.key").stat().st_mode & 0o077 == 0
    leaf, intermediate = certificates(lab / "devices" / "013800000001.pem")
    assert leaf.subject.rfc4514_string() == "CN=013800000001"
    assert leaf.issuer == intermediate.subject
    assert certificates(lab / "devices-ca.pem") == [intermediate]
    lines = (lab / "index.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["V", "V"]
    assert lines[0].endswith("\t/CN=013800000000")


def test_revoke_marks_the_device_in_the_index(lab: Path) -> None:
    assert main(["pki", "revoke", str(lab), "--phone", "013800000001"]) == 0
    states = [line.split("\t")[0] for line in (lab / "index.txt").read_text().splitlines()]
    assert states == ["V", "R"]


def test_mistakes_are_one_line_and_exit_2(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["pki", "init", str(lab)]) == 2
    assert capsys.readouterr().err == (
        f"jt808 pki: {lab} already holds a PKI (ca.pem); --force replaces it\n"
    )
    empty = tmp_path / "empty"
    assert main(["pki", "device", str(empty), "--phone", "1"]) == 2
    assert "run `jt808 pki init" in capsys.readouterr().err
    assert main(["pki", "device", str(lab), "--phone", "13x"]) == 2
    assert capsys.readouterr().err == "jt808 pki: --phone '13x' is not 1-20 digits\n"


async def test_the_lab_pki_serves_mutual_tls(lab: Path) -> None:
    settings = TlsSettings(
        ServerTlsFiles(lab / "server.pem", lab / "server.key", lab / "ca.pem"),
        ocsp_policy=OcspPolicy.OFF,
    )
    device = lab / "devices" / "013800000000"
    context = client_context(
        ca=lab / "ca.pem", cert=device.with_suffix(".pem"), key=device.with_suffix(".key")
    )
    async with running_listener(settings) as running:
        assert await echo(running.address, context) == b"ping"
        assert running.protocols[0].peer.certificate is not None
