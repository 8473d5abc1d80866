"""TLS settings in all four forms, the combinations refused at startup, and ``jt808 serve``
refusing a bad certificate or key with one sentence naming the setting and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.server.config import ConfigError, GatewayConfig, HostPort, load
from gateway.tls.server import TlsSettings
from tests.tls.pki import TestPki, make_pki

from .test_config import parse, toml
from .test_serve_command import run_serve


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"), ocsp_url=None)


def test_tls_is_off_by_default_and_the_identity_rule_is_subject_cn_equals_phone() -> None:
    config = GatewayConfig()
    assert config.tls_listen is None and TlsSettings.from_config(config) is None
    assert config.tls_identity == "cn=phone"
    assert config.tls_ocsp == "hard-fail"
    assert config.grpc_tls_cert is None


def test_every_tls_setting_from_flags() -> None:
    config = load(
        parse(
            "--tls-listen", "127.0.0.1:8443", "--tls-cert", "s.pem", "--tls-key", "s.key",
            "--tls-client-ca", "ca.pem", "--tls-identity", "SAN=Phone", "--tls-ocsp", "soft-fail",
            "--tls-ocsp-url", "http://ocsp.example/", "--tls-ocsp-timeout", "2",
            "--tls-handshake-timeout", "4", "--tls-reload-interval", "0",
            "--tls-max-handshakes", "10",
        ),
        {},
    )  # fmt: skip
    assert config.tls_listen == HostPort("127.0.0.1", 8443)
    assert (config.tls_cert, config.tls_key) == (Path("s.pem"), Path("s.key"))
    assert config.tls_client_ca == Path("ca.pem")
    assert config.tls_identity == "san=phone"
    assert (config.tls_ocsp, config.tls_ocsp_url) == ("soft-fail", "http://ocsp.example/")
    assert (config.tls_ocsp_timeout, config.tls_handshake_timeout) == (2.0, 4.0)
    assert (config.tls_reload_interval, config.tls_max_handshakes) == (0.0, 10)


def test_tls_settings_from_the_environment_and_toml(tmp_path: Path) -> None:
    path = toml(tmp_path, 'tls_listen = "127.0.0.1:8443"\ntls_cert = "a.pem"\n')
    config = load(parse("--config", str(path)), {"JT808_TLS_KEY": "a.key"})
    assert (config.tls_listen, config.tls_cert, config.tls_key) == (
        HostPort("127.0.0.1", 8443), Path("a.pem"), Path("a.key"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-listen", "127.0.0.1:8443"],
         "--tls-listen 127.0.0.1:8443 needs --tls-cert and --tls-key"),
        (["--tls-cert", "a.pem"], "--tls-cert is only used with --tls-listen HOST:PORT"),
        (["--tls-client-ca", "a.pem"], "--tls-client-ca is only used with --tls-listen"),
        (["--tls-ocsp", "sometimes"],
         "--tls-ocsp: 'sometimes' is not one of off, soft-fail, hard-fail"),
        (["--tls-identity", "o=phone"], "--tls-identity: 'o=phone' is not one of cn=phone"),
        (["--tls-ocsp-url", "ftp://x"],
         "--tls-ocsp-url: 'ftp://x' is not an http:// or https:// URL"),
        (["--listen", "127.0.0.1:8443", "--tls-listen", "127.0.0.1:8443", "--tls-cert", "a",
          "--tls-key", "b"], "give TLS its own port"),
        (["--tls-handshake-timeout", "0"], "--tls-handshake-timeout: 0 is not positive"),
    ],
)  # fmt: skip
def test_settings_that_cannot_work_are_refused(flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(parse(*flags), {})
    assert message in str(caught.value)


def test_serve_refuses_a_missing_certificate_with_exit_code_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    result = run_serve(
        "--data-dir", str(tmp_path), "--tls-listen", "127.0.0.1:8443",
        "--tls-cert", str(missing), "--tls-key", str(missing),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == f"jt808 serve: --tls-cert: {missing} does not exist\n"


def test_serve_refuses_a_key_of_another_certificate_with_exit_code_2(
    tmp_path: Path, pki: TestPki
) -> None:
    result = run_serve(
        "--data-dir", str(tmp_path), "--tls-listen", "127.0.0.1:8443",
        "--tls-cert", str(pki.files["server"].cert), "--tls-key", str(pki.files["server_rsa"].key),
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jt808 serve: --tls-key: ")
    assert "is not the key of the first certificate in --tls-cert" in lines[0]


def test_serve_refuses_an_unreadable_client_ca_with_exit_code_2(
    tmp_path: Path, pki: TestPki
) -> None:
    result = run_serve(
        "--data-dir", str(tmp_path), "--tls-listen", "127.0.0.1:8443",
        "--tls-cert", str(pki.files["server"].cert), "--tls-key", str(pki.files["server"].key),
        "--tls-client-ca", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"jt808 serve: --tls-client-ca: {tmp_path} is a directory")
